package dev.periscope.vmi.driver.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ps --image} without a guest: bad usage and files that are no image. ImageLabTest lists a real one. */
class ImageCommandTest {

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return new ImageCommand(new PrintStream(out, true, UTF_8), new PrintStream(err, true, UTF_8))
                .run(List.of(args), dir.resolve("profiles"));
    }

    @Test
    void badUsageSaysWhatIsWrongAndExitsTwo() {
        assertThat(run()).isEqualTo(2);
        assertThat(err.toString(UTF_8)).contains("name an image file with --image").contains("usage: ps --image FILE");
        err.reset();
        assertThat(run("--image")).isEqualTo(2);
        assertThat(err.toString(UTF_8)).contains("--image needs a value");
        err.reset();
        assertThat(run("--image", "x.raw", "--layout", "pc")).isEqualTo(2);
        assertThat(err.toString(UTF_8)).contains("unknown RAM layout 'pc'");
        err.reset();
        assertThat(run("--image", "x.raw", "--mode", "live")).isEqualTo(2);
        assertThat(err.toString(UTF_8)).contains("unexpected argument '--mode'");
        assertThat(out.size()).isZero();
    }

    @Test
    void aFileThatIsNoImageExitsOneWithTheReason() throws IOException {
        assertThat(run("--image", dir.resolve("missing.raw").toString())).isEqualTo(1);
        assertThat(err.toString(UTF_8)).startsWith("periscope: ").contains("missing.raw");
        err.reset();
        Path odd = Files.write(dir.resolve("odd.raw"), new byte[4097]);
        assertThat(run("--image", odd.toString())).isEqualTo(1);
        assertThat(err.toString(UTF_8)).contains("not a whole number of 4 KiB pages");
        assertThat(out.size()).isZero();
    }

    @Test
    void ramWithoutAKernelIsAnErrorNotAnEmptyList() throws IOException {
        Path zeros = Files.write(dir.resolve("zeros.raw"), new byte[16 << 20]);
        assertThat(run("--image", zeros.toString(), "--layout", "flat")).isEqualTo(1);
        assertThat(err.toString(UTF_8)).startsWith("periscope: ");
        assertThat(out.size()).isZero();
        assertThat(dir.resolve("profiles")).as("nothing stored").isEmptyDirectory();
    }
}
