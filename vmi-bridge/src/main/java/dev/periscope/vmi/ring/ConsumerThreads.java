package dev.periscope.vmi.ring;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tuning for a ring's consumer thread. A vCPU waiting for a synchronous answer is woken only as fast as the
 * consumer notices the record: a consumer that parks for 20 us sleeps ~70 us under Linux's default 50 us timer
 * slack. {@link #lowTimerSlack()} sets the calling thread's slack to 1 us ({@code prctl(PR_SET_TIMERSLACK)});
 * it is a no-op (false) where that is unavailable, never a failure.
 */
public final class ConsumerThreads {

    private static final Logger log = LoggerFactory.getLogger(ConsumerThreads.class);
    private static final int PR_SET_TIMERSLACK = 29;
    private static final Optional<MethodHandle> PRCTL = lookup();

    private ConsumerThreads() {
    }

    private static Optional<MethodHandle> lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("prctl").map(addr -> linker.downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG)));
        } catch (RuntimeException | LinkageError e) {
            log.info("prctl unavailable ({}): ring consumer threads keep the default timer slack", e.toString());
            return Optional.empty();
        }
    }

    /** Sets the calling thread's timer slack to 1 us; true if it worked. */
    public static boolean lowTimerSlack() {
        if (PRCTL.isEmpty()) {
            return false;
        }
        try {
            return (int) PRCTL.get().invokeExact(PR_SET_TIMERSLACK, 1000L, 0L, 0L, 0L) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
