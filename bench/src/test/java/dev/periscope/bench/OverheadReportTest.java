package dev.periscope.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.trace.TraceMethod;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The experiment's targets from its rows: the M3/M4 ratio whatever the sign of M4's overhead. */
class OverheadReportTest {

    private static OverheadReport.Summary row(TraceMethod method, double meanMs, double overheadPct, double cr3) {
        return new OverheadReport.Summary(method, 1, meanMs, 0, (long) meanMs, (long) meanMs, overheadPct, overheadPct,
                overheadPct, 0, 0, 0, cr3, cr3, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    @Test
    void anM4SlowerThanM1GivesTheRatioOfOverheads() {
        var targets = OverheadReport.targets("xen", List.of(row(TraceMethod.M1, 10_000, 0, 0),
                row(TraceMethod.M3, 300_000, 2900, 100_000), row(TraceMethod.M4, 20_000, 100, 50)));

        assertThat(targets.getFirst().what()).isEqualTo("M3 overhead / M4 overhead");
        assertThat(targets.getFirst().value()).isEqualTo(29.0);
        assertThat(targets.getFirst().met()).isTrue();
        assertThat(targets).filteredOn(t -> t.what().startsWith("M3 time / M4 time"))
                .singleElement().satisfies(t -> assertThat(t.value()).isEqualTo(15.0));
    }

    @Test
    void anM4NoSlowerThanM1IsNotANegativeRatio() {
        // one round on the Xen lab: M4 ran faster than that round's M1 (-25.9 %), M3 3,914 % slower
        var targets = OverheadReport.targets("xen", List.of(row(TraceMethod.M1, 10_702, 0, 0),
                row(TraceMethod.M3, 429_552, 3913.8, 173_029), row(TraceMethod.M4, 7_928, -25.9, 51)));

        OverheadReport.Target overheads = targets.getFirst();
        assertThat(overheads.what()).startsWith("M3 overhead / M4 overhead (M4 no slower than M1");
        assertThat(overheads.value()).isEqualTo(3913.8);
        assertThat(overheads.met()).isTrue();
        assertThat(targets).filteredOn(t -> t.what().startsWith("M4's CR3 events"))
                .singleElement().satisfies(t -> assertThat(t.value()).isLessThan(0.03));
    }
}
