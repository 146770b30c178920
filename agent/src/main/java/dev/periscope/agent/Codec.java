package dev.periscope.agent;

import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.Arg;
import dev.periscope.agent.api.Capability;
import dev.periscope.agent.api.Change;
import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.DropSite;
import dev.periscope.agent.api.Dropped;
import dev.periscope.agent.api.EndReason;
import dev.periscope.agent.api.KernelProfile;
import dev.periscope.agent.api.OverheadSample;
import dev.periscope.agent.api.Process;
import dev.periscope.agent.api.ProcessChange;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.Syscall;
import dev.periscope.agent.api.SyscallResult;
import dev.periscope.agent.api.SyscallStatus;
import dev.periscope.agent.api.TraceMethod;
import dev.periscope.agent.api.Visibility;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEnd;
import dev.periscope.vmi.trace.TraceEvent;
import java.time.Instant;
import java.util.Set;

/**
 * The engine's results as agent API messages (the agent side of the API; the control plane reads them back into its
 * own types). Pure functions; engine timestamps (host monotonic nanoseconds) become wall-clock times here, on the host
 * whose clock they were read from. Public for agents built around other engines' results (the control plane's test
 * agent).
 */
public final class Codec {

    private Codec() {
    }

    public static Timestamp timestamp(Instant at) {
        return Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()).build();
    }

    static Duration duration(java.time.Duration d) {
        return Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
    }

    static java.time.Duration duration(Duration d) {
        return java.time.Duration.ofSeconds(d.getSeconds(), d.getNanos());
    }

    static Domain domain(DomainInfo info, Set<dev.periscope.vmi.driver.Capability> capabilities) {
        Domain.Builder b = Domain.newBuilder().setName(info.name()).setTenant(nonNull(info.tenant()))
                .setPlatform(info.platform()).setRunning(info.running()).setMemoryBytes(info.memoryBytes())
                .setKernelVersion(nonNull(info.kernelVersion())).setWorkload(nonNull(info.workload()));
        if (info.startedAt() != null) {
            b.setStartedAt(timestamp(info.startedAt()));
        }
        capabilities.stream().sorted().forEach(c -> b.addCapabilities(Capability.valueOf(c.name())));
        return b.build();
    }

    static dev.periscope.vmi.AcquisitionMode mode(AcquisitionMode mode) {
        return switch (mode) {
            case SNAPSHOT -> dev.periscope.vmi.AcquisitionMode.SNAPSHOT;
            case PAUSE -> dev.periscope.vmi.AcquisitionMode.PAUSE;
            case LIVE -> dev.periscope.vmi.AcquisitionMode.LIVE;
            case ACQUISITION_MODE_UNSPECIFIED, UNRECOGNIZED ->
                    throw new IllegalArgumentException("an acquisition mode is required (SNAPSHOT, PAUSE or LIVE)");
        };
    }

    static dev.periscope.vmi.trace.TraceMethod method(TraceMethod method) {
        if (method == TraceMethod.TRACE_METHOD_UNSPECIFIED || method == TraceMethod.UNRECOGNIZED) {
            throw new IllegalArgumentException("a trace method is required (M1 to M5)");
        }
        return dev.periscope.vmi.trace.TraceMethod.valueOf(method.name());
    }

    static TraceMethod method(dev.periscope.vmi.trace.TraceMethod method) {
        return TraceMethod.valueOf(method.name());
    }

    public static ProcessList processList(dev.periscope.vmi.linux.ProcessList list,
                                   dev.periscope.vmi.linux.KernelProfile profile) {
        ProcessList.Builder b = ProcessList.newBuilder().setVm(list.vm()).setKernelVersion(list.kernelVersion())
                .setMode(AcquisitionMode.valueOf(list.mode().name())).setConsistent(list.consistent())
                .setTakenAt(timestamp(list.takenAt())).setGuestDowntime(duration(list.guestDowntime()))
                .setSnapshotAge(duration(list.snapshotAge())).setReadTime(duration(list.readTime()))
                .addAllWarnings(list.warnings())
                .setProfile(KernelProfile.newBuilder().setBanner(profile.banner()).setRelease(profile.release())
                        .setKaslrSlide(profile.kaslrSlide()).setSymbols(profile.symbols().size())
                        .setBtfTypes(profile.btfTypes()));
        for (GuestProcess p : list.processes()) {
            b.addProcesses(Process.newBuilder().setPid(p.pid()).setPpid(p.ppid()).setName(p.name())
                    .addAllArgv(p.argv()).setUid(p.uid()).setGid(p.gid()).setState(p.state())
                    .setStartTimeNs(p.startTimeNs()).setCr3(p.cr3()).setKernelThread(p.kernelThread())
                    .addAllThreads(p.threads()).setTaskAddress(p.taskAddress()).setComm(p.comm())
                    .setVisibility(Visibility.valueOf(p.visibility().name())));
        }
        return b.build();
    }

    /** A trace event as a message body, its engine time (monotonic) mapped through {@code clock}. */
    public static SessionMessage.Builder message(TraceEvent event, MonotonicClock clock) {
        SessionMessage.Builder m = SessionMessage.newBuilder().setAt(timestamp(clock.at(event.timestampNs())));
        switch (event) {
            case TraceEvent.Syscall s -> {
                Syscall.Builder b = Syscall.newBuilder().setTime(m.getAt()).setVcpu(s.vcpu()).setPid(s.pid())
                        .setProcess(s.process()).setNumber(s.number()).setName(s.name());
                for (TraceEvent.Arg a : s.args()) {
                    Arg.Builder arg = Arg.newBuilder().setName(a.name()).setValue(a.value());
                    if (a.text() != null) {
                        arg.setText(a.text());
                    }
                    b.addArgs(arg);
                }
                TraceEvent.Result r = s.result();
                SyscallResult.Builder result = SyscallResult.newBuilder()
                        .setStatus(SyscallStatus.valueOf(r.status().name())).setValue(r.value())
                        .setDuration(duration(java.time.Duration.ofNanos(r.durationNs()))).setText(r.text());
                if (r.errno() != null) {
                    result.setErrno(r.errno());
                }
                m.setSyscall(b.setResult(result));
            }
            case TraceEvent.ProcessChange c -> m.setProcessChange(ProcessChange.newBuilder()
                    .setChange(Change.valueOf(c.change().name())).setPid(c.pid()).setProcess(c.process())
                    .setDetail(c.detail()));
            case TraceEvent.Dropped d -> m.setDropped(Dropped.newBuilder().setCount(d.count())
                    .setSite(DropSite.valueOf(d.site().name())));
            case TraceEvent.Ended e -> m.setEnded(ended(e.end()));
        }
        return m;
    }

    static SessionEnded ended(TraceEnd end) {
        return SessionEnded.newBuilder().setReason(EndReason.valueOf(end.reason().name())).setDetail(end.detail())
                .build();
    }

    public static OverheadSample overhead(OverheadSnapshot o) {
        return OverheadSample.newBuilder().setElapsed(duration(o.elapsed())).setHypervisorSeen(o.hypervisorSeen())
                .setHypervisorFiltered(o.hypervisorFiltered()).setCr3Seen(o.cr3Seen()).setCr3Filtered(o.cr3Filtered())
                .setCr3Delivered(o.cr3Delivered()).setSyscallsDelivered(o.syscallsDelivered())
                .setRingDropped(o.ringDropped()).setSyscallsMatched(o.syscallsMatched())
                .setSessionEmitted(o.sessionEmitted()).setSessionDropped(o.sessionDropped())
                .setVcpuWait(duration(o.vcpuWait())).setSyncTimeouts(o.syncTimeouts())
                .setEstimatedSlowdown(o.estimatedSlowdown()).setTranslationFlushes(o.translationFlushes())
                .setProcessRefreshes(o.processRefreshes()).setProcessRefreshTime(duration(o.processRefreshTime()))
                .setExitsDelivered(o.exitsDelivered()).setExitsPaired(o.exitsPaired())
                .setExitsUnmatched(o.exitsUnmatched()).setExitsLost(o.exitsLost())
                .build();
    }

    private static String nonNull(String s) {
        return s == null ? "" : s;
    }

    /** Host monotonic nanoseconds (the engine's event times) to wall-clock instants. */
    public record MonotonicClock(Instant wall, long mono) {
        public static MonotonicClock now() {
            return new MonotonicClock(Instant.now(), System.nanoTime());
        }

        public Instant at(long monotonicNs) {
            return wall.plusNanos(monotonicNs - mono);
        }
    }
}
