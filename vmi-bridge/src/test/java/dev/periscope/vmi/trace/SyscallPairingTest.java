package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The bounded table of calls waiting for their return: what leaves it unpaired is returned and counted. */
class SyscallPairingTest {

    private static TraceEvent.Syscall call(int pid, String name, int nr) {
        return new TraceEvent.Syscall(0, 0, pid, "sh", nr, name, List.of());
    }

    @Test
    void aReturnPairsWithItsThreadsEntryOnce() {
        SyscallPairing p = new SyscallPairing(4);
        p.enter(0x1000, call(1, "read", 0), List.of());
        p.enter(0x2000, call(1, "write", 1), List.of());
        assertThat(p.exit(0x2000, 1, true).entry().name()).isEqualTo("write");
        assertThat(p.exit(0x2000, 1, true)).as("its second return").isNull();
        assertThat(p.exit(0x3000, 0, false)).as("an untraced thread").isNull();
        assertThat(p.paired()).isEqualTo(1);
        assertThat(p.unmatched()).as("only returns in traced address spaces count").isEqualTo(1);
        assertThat(p.size()).isEqualTo(1);
    }

    @Test
    void aThreadsNewEntryGivesUpItsPreviousCallWhoseReturnWasLost() {
        SyscallPairing p = new SyscallPairing(4);
        p.enter(0x1000, call(1, "read", 0), List.of());
        List<SyscallPairing.Pending> gone = p.enter(0x1000, call(1, "close", 3), List.of());
        assertThat(gone).extracting(g -> g.entry().name()).containsExactly("read");
        assertThat(p.lost()).isEqualTo(1);
        assertThat(p.exit(0x1000, 3, true).entry().name()).isEqualTo("close");
    }

    @Test
    void theTableStaysBoundedAndGivesUpTheOldestFirst() {
        SyscallPairing p = new SyscallPairing(4);
        for (int i = 0; i < 4; i++) {
            assertThat(p.enter(0x1000L * (i + 1), call(1, "read" + i, 0), List.of())).isEmpty();
        }
        List<SyscallPairing.Pending> gone = p.enter(0x9000, call(1, "read4", 0), List.of());
        assertThat(gone).extracting(g -> g.entry().name()).containsExactly("read0");
        for (int i = 0; i < 1000; i++) { // a hostile guest inventing threads: memory stays bounded
            p.enter(0x100000L + 0x1000L * i, call(1, "x", 0), List.of());
        }
        assertThat(p.size()).isEqualTo(4);
        assertThat(p.lost()).isEqualTo(1001);
    }

    @Test
    void numbersThatDoNotMatchAreCountedExceptForSigreturn() {
        SyscallPairing p = new SyscallPairing(4);
        p.enter(0x1000, call(1, "read", 0), List.of());
        p.enter(0x2000, call(1, "rt_sigreturn", 15), List.of());
        p.exit(0x1000, 1, true);
        p.exit(0x2000, -1, true); // rt_sigreturn restores orig_ax to -1
        assertThat(p.mismatched()).isEqualTo(1);
        assertThat(p.paired()).isEqualTo(2);
    }

    @Test
    void processesThatExitTakeTheirCallsAlong() {
        SyscallPairing p = new SyscallPairing(8);
        p.enter(0x1000, call(1, "read", 0), List.of());
        p.enter(0x2000, call(2, "read", 0), List.of());
        assertThat(p.abandonIf(c -> c.entry().pid() == 2)).extracting(c -> c.key()).containsExactly(0x2000L);
        assertThat(p.size()).isEqualTo(1);
    }
}
