package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short form of the hostile guest corpus that runs in every build: every case on the synthetic guest and on
 * Debian's 6.1 and 6.12 kernel images (when lab.sh can fetch them), each within its bounds and with an accepted
 * outcome. The lab-image cases run in {@link HostileLabTest}. With {@code -Dperiscope.hostile.all=true}
 * ({@code bench/hostile.sh}) every case runs on every base here, lab dumps in the cache included, and the table
 * is written to {@code target/hostile-corpus.md}.
 */
class HostileCorpusTest {

    @Test
    void everyCaseEndsAsAcceptedWithinItsBounds() {
        List<HostileCorpus.BaseImage> bases = new ArrayList<>();
        bases.add(HostileCorpus.synthetic());
        bases.add(HostileCorpus.syntheticFlood());
        HostileCorpus.kernelImage("img61", RealKernels.DEFAULT).ifPresent(bases::add);
        HostileCorpus.kernelImage("img612", RealKernels.K612).ifPresent(bases::add);
        HostileCorpus.relocatedKernelImage("img61far", 128).ifPresent(bases::add);
        List<HostileCorpus.Result> results = HostileCorpus.runAll(bases);
        assertThat(results).hasSizeGreaterThanOrEqualTo(30);
        assertThat(results).filteredOn(r -> !r.acceptable())
                .as("cases not ended as accepted:%n%s", HostileCorpus.runs(results)).isEmpty();
    }

    @Test
    void everyBaseHereWithTheTable() throws Exception {
        assumeTrue(Boolean.getBoolean("periscope.hostile.all"), "the long form: -Dperiscope.hostile.all=true");
        List<HostileCorpus.BaseImage> bases = HostileCorpus.availableBases();
        long t0 = System.nanoTime();
        List<HostileCorpus.Result> results = HostileCorpus.runAll(bases);
        Path table = Path.of("target/hostile-corpus.md");
        Files.writeString(table, HostileCorpus.table(results));
        Files.writeString(Path.of("target/hostile-corpus-runs.md"), HostileCorpus.runs(results));
        System.out.printf("hostile corpus: %d cases on %s in %.1f s, %d not accepted; table in %s%n", results.size(),
                bases.stream().map(HostileCorpus.BaseImage::id).toList(), (System.nanoTime() - t0) / 1e9,
                results.stream().filter(r -> !r.acceptable()).count(), table.toAbsolutePath());
        assertThat(results).filteredOn(r -> !r.acceptable()).isEmpty();
    }
}
