package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SyscallDecoderTest {

    @Test
    void theBuiltinFallbackKnowsTheCommonX8664Numbers() {
        SyscallTable t = SyscallTable.builtin();
        assertThat(t.source()).isEqualTo(SyscallTable.Source.BUILTIN_FALLBACK);
        assertThat(t.name(0)).isEqualTo("read");
        assertThat(t.name(1)).isEqualTo("write");
        assertThat(t.name(59)).isEqualTo("execve");
        assertThat(t.name(257)).isEqualTo("openat");
        assertThat(t.name(100000)).isEqualTo("syscall_100000");
        assertThat(t.number("exit_group")).isEqualTo(231);
    }

    @Test
    void prereadArgumentsMatchThePlugin() {
        SyscallTable t = SyscallTable.builtin();
        assertThat(SyscallDecoder.prereadArg(t.number("openat"))).isEqualTo(1);
        assertThat(SyscallDecoder.prereadArg(t.number("write"))).isEqualTo(1);
        assertThat(SyscallDecoder.prereadArg(t.number("execve"))).isZero();
        assertThat(SyscallDecoder.prereadArg(t.number("read"))).isEqualTo(-1);
    }

    @Test
    void stringsAreQuotedAndEscaped() {
        byte[] b = "a\"b\n\u0001".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(SyscallDecoder.quote(b, b.length, false)).isEqualTo("\"a\\\"b\\n\\x01\"");
        assertThat(SyscallDecoder.quote(b, 1, true)).isEqualTo("\"a\"...");
    }
}
