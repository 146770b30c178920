package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Byte offsets of the kernel structure members Periscope reads, resolved by name from the guest's BTF. A member
 * a kernel does not have is -1 (e.g. {@code task_struct.thread_group}, gone in 6.7+).
 */
public record KernelOffsets(long taskTasks, long taskPid, long taskTgid, long taskRealParent, long taskGroupLeader,
                            long taskComm, long taskCred, long taskRealCred, long taskMm, long taskActiveMm,
                            long taskState, long taskFlags, long taskExitState, long taskStartTime,
                            long taskSignal, long taskThreadNode, long taskThreadGroup, long taskStack,
                            long taskStructSize, long signalThreadHead, long credUid, long credGid, long mmPgd,
                            long mmArgStart, long mmArgEnd, long mmEnvStart, long mmEnvEnd, long listNext,
                            long listPrev) {

    /** Resolves every offset; fails when one the process walk cannot do without is missing. */
    static KernelOffsets from(Btf btf) {
        List<String> missing = new ArrayList<>();
        R r = new R(btf, missing);
        long state = r.optional("task_struct", "__state");
        if (state < 0) {
            state = r.optional("task_struct", "state");
        }
        if (state < 0) {
            missing.add("task_struct.__state");
        }
        KernelOffsets o = new KernelOffsets(
                r.req("task_struct", "tasks"), r.req("task_struct", "pid"), r.req("task_struct", "tgid"),
                r.req("task_struct", "real_parent"), r.req("task_struct", "group_leader"),
                r.req("task_struct", "comm"), r.req("task_struct", "cred"), r.req("task_struct", "real_cred"),
                r.req("task_struct", "mm"), r.req("task_struct", "active_mm"), state,
                r.req("task_struct", "flags"), r.req("task_struct", "exit_state"),
                r.req("task_struct", "start_time"), r.req("task_struct", "signal"),
                r.optional("task_struct", "thread_node"), r.optional("task_struct", "thread_group"),
                r.req("task_struct", "stack"), btf.structSize("task_struct"),
                r.optional("signal_struct", "thread_head"), r.req("cred", "uid.val"), r.req("cred", "gid.val"),
                r.req("mm_struct", "pgd"), r.req("mm_struct", "arg_start"), r.req("mm_struct", "arg_end"),
                r.req("mm_struct", "env_start"), r.req("mm_struct", "env_end"), r.req("list_head", "next"),
                r.req("list_head", "prev"));
        if (!missing.isEmpty()) {
            throw new GuestDataException("BTF lacks " + String.join(", ", missing));
        }
        return o;
    }

    /** True when threads can be listed through signal->thread_head (every kernel since 2.6.x has it). */
    boolean hasThreadHead() {
        return signalThreadHead >= 0 && taskThreadNode >= 0;
    }

    private record R(Btf btf, List<String> missing) {
        long req(String struct, String path) {
            OptionalLong o = btf.offsetOf(struct, path);
            if (o.isEmpty()) {
                missing.add(struct + "." + path);
                return -1;
            }
            return o.getAsLong();
        }

        long optional(String struct, String path) {
            return btf.offsetOf(struct, path).orElse(-1);
        }
    }
}
