package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short form of the hostile guest corpus that runs in every build: every case on the synthetic guest and on
 * Debian's 6.1 and 6.12 kernel images (when lab.sh can fetch them), each within its bounds and with an accepted
 * outcome. The lab-image cases run in {@link HostileLabTest}; everything at once with {@link HostileCorpus#main}.
 */
class HostileCorpusTest {

    @Test
    void everyCaseEndsAsAcceptedWithinItsBounds() {
        List<HostileCorpus.BaseImage> bases = new ArrayList<>();
        bases.add(HostileCorpus.synthetic());
        bases.add(HostileCorpus.syntheticFlood());
        HostileCorpus.kernelImage("img61", RealKernels.DEFAULT).ifPresent(bases::add);
        HostileCorpus.kernelImage("img612", RealKernels.K612).ifPresent(bases::add);
        List<HostileCorpus.Result> results = HostileCorpus.runAll(bases);
        assertThat(results).hasSizeGreaterThanOrEqualTo(30);
        assertThat(results).filteredOn(r -> !r.acceptable())
                .as("cases not ended as accepted:%n%s", HostileCorpus.table(results)).isEmpty();
    }
}
