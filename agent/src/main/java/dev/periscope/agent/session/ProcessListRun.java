package dev.periscope.agent.session;

import dev.periscope.agent.api.EndReason;
import dev.periscope.agent.api.Notice;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * A process-list run: one list every interval, read on the engine's scheduler. A list the guest's memory does not
 * allow (hostile or changing structures) becomes a notice and the next tick tries again; a VM that went away ends the
 * run.
 */
final class ProcessListRun implements AgentSession.Run {

    private final SessionStream stream;
    private final Disposable work;
    private final AtomicBoolean ended = new AtomicBoolean();

    ProcessListRun(SessionStream stream, Duration interval, Scheduler engineCalls, Callable<ProcessList> read) {
        this.stream = stream;
        // the ticks on Reactor's timer (the engine's executor schedules no periodic work), the reads on the engine's
        this.work = Flux.interval(Duration.ZERO, interval)
                .onBackpressureDrop()
                .concatMap(tick -> Mono.fromCallable(read).subscribeOn(engineCalls)
                        .map(list -> Optional.of(SessionMessage.newBuilder().setProcesses(list)))
                        .onErrorResume(e -> e instanceof GuestDataException || e instanceof PageNotPresentException,
                                e -> Mono.just(Optional.of(SessionMessage.newBuilder().setNotice(Notice.newBuilder()
                                        .setMessage("process list failed, retrying: " + e.getMessage()))))), 1)
                .subscribe(m -> m.ifPresent(stream::append),
                        e -> end(SessionEnded.newBuilder().setReason(e instanceof VmGoneException
                                ? EndReason.VM_GONE : EndReason.FAILED).setDetail(String.valueOf(e.getMessage()))
                                .build()));
    }

    @Override
    public void stop(SessionEnded why) {
        work.dispose();
        end(why);
    }

    private void end(SessionEnded why) {
        if (ended.compareAndSet(false, true)) {
            stream.append(SessionMessage.newBuilder().setEnded(why));
        }
    }

    @Override
    public SessionInfo.Builder info() {
        return SessionInfo.newBuilder();
    }
}
