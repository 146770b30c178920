package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Locale;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/** The strace-like line of a syscall event, its duration as strace prints it. */
class TraceEventTest {

    private static TraceEvent.Syscall returned(long durationNs) {
        return new TraceEvent.Syscall(0, 0, 300, "cat", 257, "openat",
                List.of(new TraceEvent.Arg("dfd", -100, "AT_FDCWD"), new TraceEvent.Arg("filename", 0x1000,
                        "\"/etc/passwd\"")),
                new TraceEvent.Result(TraceEvent.Status.RETURNED, 3, null, durationNs, "3"));
    }

    @Test
    void aReturnedCallShowsItsDurationInSecondsToTheMicrosecond() {
        assertThat(returned(21_400).toString()).isEqualTo("300 openat(AT_FDCWD, \"/etc/passwd\") = 3 <0.000021>");
        assertThat(returned(21_500).toString()).endsWith("<0.000022>");
        assertThat(returned(0).toString()).endsWith("<0.000000>");
        assertThat(returned(3_999_999_600L).toString()).endsWith("<4.000000>");
        assertThat(returned(125_000_000_000L).toString()).endsWith("<125.000000>");
    }

    /** The same digits as the formatter the line used before, away from the half microsecond where doubles differ. */
    @Property(tries = 2000)
    void theDurationMatchesTheFormatter(@ForAll @LongRange(min = 0, max = 10_000_000_000_000L) long ns) {
        long belowMicro = ns % 1000;
        if (belowMicro >= 490 && belowMicro <= 510) {
            return;
        }
        String expected = String.format(Locale.ROOT, "%.6f", ns / 1e9);
        assertThat(TraceEvent.Syscall.appendSeconds(new StringBuilder(), ns).toString()).isEqualTo(expected);
    }
}
