package dev.periscope.fleet;

import com.google.protobuf.Timestamp;
import dev.periscope.agent.AgentErrors;
import dev.periscope.agent.api.AgentError;
import dev.periscope.agent.api.Arg;
import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.OverheadSample;
import dev.periscope.agent.api.Process;
import dev.periscope.agent.api.ProcessListSpec;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SyscallResult;
import dev.periscope.agent.api.TraceSpec;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.linux.Visibility;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * Agent API messages read back into the engine's records (the control plane's side of the API's one codec; the
 * agent's side writes them from the same records), and agent failures into the engine's exceptions, so that the
 * rest of the control plane neither knows nor cares whether an engine runs in-process or on another host.
 */
final class Wire {

    private Wire() {
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    static Duration duration(com.google.protobuf.Duration d) {
        return Duration.ofSeconds(d.getSeconds(), d.getNanos());
    }

    static HostedVm vm(String host, Domain d, boolean reachable, AgentBinding binding) {
        Set<Capability> capabilities = EnumSet.noneOf(Capability.class);
        for (dev.periscope.agent.api.Capability c : d.getCapabilitiesList()) {
            if (c != dev.periscope.agent.api.Capability.UNRECOGNIZED
                    && c != dev.periscope.agent.api.Capability.CAPABILITY_UNSPECIFIED) {
                capabilities.add(Capability.valueOf(c.name()));
            }
        }
        DomainInfo info = new DomainInfo(d.getName(), d.getTenant(), d.getPlatform(), d.getRunning(),
                d.getMemoryBytes(), d.getKernelVersion(), d.getWorkload(),
                d.hasStartedAt() ? instant(d.getStartedAt()) : null);
        return new HostedVm(new VmId(d.getName(), host), info, Set.copyOf(capabilities), reachable, binding);
    }

    static dev.periscope.agent.api.AcquisitionMode mode(AcquisitionMode mode) {
        return dev.periscope.agent.api.AcquisitionMode.valueOf(mode.name());
    }

    static dev.periscope.agent.api.TraceMethod method(TraceMethod method) {
        return dev.periscope.agent.api.TraceMethod.valueOf(method.name());
    }

    static OpenSessionRequest open(String id, String vm, long resumeAfter, AgentSessionSpec spec) {
        OpenSessionRequest.Builder r = OpenSessionRequest.newBuilder().setId(id).setVm(vm).setResumeAfter(resumeAfter);
        switch (spec) {
            case AgentSessionSpec.Trace t -> {
                TraceSpec.Builder b = TraceSpec.newBuilder().setMethod(method(t.method()))
                        .setFollowChildren(t.followChildren()).setReadStrings(t.readStrings());
                if (t.pid() != null) {
                    b.setPid(t.pid());
                } else {
                    b.setProcessName(t.processName());
                }
                r.setTrace(b);
            }
            case AgentSessionSpec.ProcessLists p -> r.setProcessLists(ProcessListSpec.newBuilder().setMode(mode(p.mode()))
                    .setInterval(com.google.protobuf.Duration.newBuilder().setSeconds(p.interval().getSeconds())
                            .setNanos(p.interval().getNano())));
        }
        return r.build();
    }

    static ProcessList processList(dev.periscope.agent.api.ProcessList p) {
        return new ProcessList(p.getVm(), p.getKernelVersion(), AcquisitionMode.valueOf(p.getMode().name()),
                p.getConsistent(), instant(p.getTakenAt()), duration(p.getGuestDowntime()),
                duration(p.getSnapshotAge()), duration(p.getReadTime()),
                p.getProcessesList().stream().map(Wire::process).toList(), p.getWarningsList());
    }

    static KernelSeen kernel(dev.periscope.agent.api.ProcessList p) {
        var k = p.getProfile();
        return new KernelSeen(k.getBanner(), k.getRelease(), k.getKaslrSlide(), k.getSymbols(), k.getBtfTypes());
    }

    /** Per-thread details stay on the agent: the control plane lists processes, not threads. */
    private static GuestProcess process(Process p) {
        String comm = p.getComm().isEmpty() ? p.getName() : p.getComm(); // an agent from before comm was sent
        return new GuestProcess(p.getPid(), p.getPpid(), p.getName(), comm, p.getArgvList(), p.getUid(), p.getGid(),
                p.getState(), p.getStartTimeNs(), p.getCr3(), p.getKernelThread(), p.getThreadsList(),
                p.getTaskAddress(), visibility(p), List.of());
    }

    /** An agent that does not cross-check the PID table sends no visibility: its processes are the listed ones. */
    private static Visibility visibility(Process p) {
        return switch (p.getVisibility()) {
            case LISTED, VISIBILITY_UNSPECIFIED -> Visibility.LISTED;
            case HIDDEN -> Visibility.HIDDEN;
            case UNHASHED -> Visibility.UNHASHED;
            case UNRECOGNIZED -> throw new IllegalArgumentException("pid " + p.getPid() + ": visibility "
                    + p.getVisibilityValue() + " is not one this control plane knows");
        };
    }

    /** A session message of the agent on {@code vm}, in the control plane's terms. */
    static AgentMessage message(String vm, SessionMessage m, TraceMethod method) {
        Instant at = instant(m.getAt());
        AgentMessage.Body body = switch (m.getBodyCase()) {
            case SYSCALL -> {
                var s = m.getSyscall();
                yield new AgentMessage.Syscall(new TraceEvent.Syscall(0, s.getVcpu(), s.getPid(), s.getProcess(),
                        s.getNumber(), s.getName(), s.getArgsList().stream().map(Wire::arg).toList(),
                        result(s.getResult())));
            }
            case PROCESS_CHANGE -> {
                var c = m.getProcessChange();
                yield new AgentMessage.ProcessChange(new TraceEvent.ProcessChange(0,
                        TraceEvent.Change.valueOf(c.getChange().name()), c.getPid(), c.getProcess(), c.getDetail()));
            }
            case DROPPED -> new AgentMessage.Dropped(m.getDropped().getCount(),
                    AgentMessage.DropSite.valueOf(m.getDropped().getSite().name()));
            case OVERHEAD -> new AgentMessage.Overhead(overhead(vm, at, method, m.getOverhead()));
            case PROCESSES -> new AgentMessage.Processes(processList(m.getProcesses()), kernel(m.getProcesses()));
            case NOTICE -> new AgentMessage.Notice(m.getNotice().getMessage());
            case ENDED -> new AgentMessage.Ended(AgentMessage.EndReason.valueOf(m.getEnded().getReason().name()),
                    m.getEnded().getDetail());
            case BODY_NOT_SET -> throw new IllegalArgumentException("a session message without a body");
        };
        return new AgentMessage(m.getSeq(), at, body);
    }

    /** A syscall's result; an older agent's (no result) is not traced. */
    private static TraceEvent.Result result(SyscallResult r) {
        TraceEvent.Status status = switch (r.getStatus()) {
            case RETURNED -> TraceEvent.Status.RETURNED;
            case UNFINISHED -> TraceEvent.Status.UNFINISHED;
            case NO_RETURN -> TraceEvent.Status.NO_RETURN;
            case NOT_TRACED, SYSCALL_STATUS_UNSPECIFIED, UNRECOGNIZED -> TraceEvent.Status.NOT_TRACED;
        };
        return new TraceEvent.Result(status, r.getValue(), r.getErrno().isEmpty() ? null : r.getErrno(),
                duration(r.getDuration()).toNanos(), r.getText());
    }

    private static TraceEvent.Arg arg(Arg a) {
        return new TraceEvent.Arg(a.getName(), a.getValue(), a.hasText() ? a.getText() : null);
    }

    private static OverheadSnapshot overhead(String vm, Instant at, TraceMethod method, OverheadSample o) {
        return new OverheadSnapshot(at, vm, method, duration(o.getElapsed()), o.getHypervisorSeen(),
                o.getHypervisorFiltered(), o.getCr3Seen(), o.getCr3Filtered(), o.getCr3Delivered(),
                o.getSyscallsDelivered(), o.getRingDropped(), o.getSyscallsMatched(), o.getSessionEmitted(),
                o.getSessionDropped(), duration(o.getVcpuWait()), o.getSyncTimeouts(), o.getEstimatedSlowdown(),
                o.getTranslationFlushes(), o.getProcessRefreshes(), duration(o.getProcessRefreshTime()),
                o.getExitsDelivered(), o.getExitsPaired(), o.getExitsUnmatched(), o.getExitsLost());
    }

    /**
     * What a failed agent call means here: the engine's own exception when the agent says what failed, an unreachable
     * agent when the transport failed.
     */
    static RuntimeException failure(String host, Throwable t) {
        Status status = Status.fromThrowable(t);
        Metadata trailers = Status.trailersFromThrowable(t);
        AgentError error = trailers == null ? null : trailers.get(AgentErrors.TRAILER);
        if (error != null) {
            String message = error.getMessage();
            return switch (error.getKind()) {
                case ERROR_VM_GONE -> new VmGoneException(message);
                case ERROR_PAGE_NOT_PRESENT -> new PageNotPresentException(
                        message.replaceFirst(" \\(address 0x[0-9a-f]+\\)$", ""), error.getAddress());
                case ERROR_GUEST_DATA -> new GuestDataException(message);
                case ERROR_PLATFORM_UNAVAILABLE -> new PlatformUnavailableException(message);
                case ERROR_SESSION_CLOSED -> new SessionClosedException(message);
                case ERROR_NO_SUCH_PROCESS, ERROR_NO_SUCH_SESSION -> new NoSuchElementException(message);
                case ERROR_INVALID_REQUEST -> new IllegalArgumentException(message);
                case ERROR_KIND_UNSPECIFIED, UNRECOGNIZED -> new IllegalStateException("the agent of host " + host
                        + " failed: " + message, t);
            };
        }
        return switch (status.getCode()) {
            // PERMISSION_DENIED: the answer came from an agent the link does not accept (AgentCertificateCheck)
            case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, PERMISSION_DENIED -> new AgentUnreachableException(
                    host, status.getDescription(), t);
            case RESOURCE_EXHAUSTED -> new PlatformUnavailableException("the agent of host " + host
                    + " is too busy: " + status.getDescription());
            default -> new IllegalStateException("the agent of host " + host + " failed: " + status, t);
        };
    }
}
