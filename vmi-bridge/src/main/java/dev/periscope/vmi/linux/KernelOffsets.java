package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Byte offsets of the kernel structure members Periscope reads, resolved by name from the guest's BTF. A member
 * a kernel does not have is -1 (e.g. {@code task_struct.thread_group}, gone in 6.7+).
 *
 * @param names    where the names /proc shows are kept (kthread full names, workqueue workers)
 * @param pidTable the PID table ({@code init_pid_ns.idr}), the second way to every task
 */
public record KernelOffsets(long taskTasks, long taskPid, long taskTgid, long taskRealParent, long taskGroupLeader,
                            long taskComm, long taskCred, long taskRealCred, long taskMm, long taskActiveMm,
                            long taskState, long taskFlags, long taskExitState, long taskStartTime,
                            long taskSignal, long taskThreadNode, long taskThreadGroup, long taskStack,
                            long taskStructSize, long signalThreadHead, long credUid, long credGid, long mmPgd,
                            long mmArgStart, long mmArgEnd, long mmEnvStart, long mmEnvEnd, long listNext,
                            long listPrev, Names names, PidTable pidTable) {

    /**
     * Members behind {@code /proc/PID/comm} for kernel threads ({@code fs/proc/array.c} proc_task_name): the
     * task's {@code struct kthread} ({@code worker_private} since 5.17, {@code set_child_tid} before) and its
     * {@code full_name}; for workqueue workers the {@code struct worker} ({@code kthread->data}), its pool and
     * description, as {@code wq_worker_comm} reads them. -1 (size 0) where the kernel has no such member.
     */
    public record Names(long taskKthread, long kthreadFullName, long kthreadData, long workerCurrentWork,
                        long workerPool, long workerDesc, int workerDescSize, long workerId, long workerRescueWq,
                        long poolCpu, long poolId, long poolAttrs, long attrsNice, long wqName, int wqNameSize) {

        /** A kernel without kthread full names or worker descriptions (comm is all /proc shows). */
        public static final Names NONE = new Names(-1, -1, -1, -1, -1, -1, 0, -1, -1, -1, -1, -1, -1, -1, 0);

        static Names from(Btf btf) {
            long kthread = btf.offsetOf("task_struct", "worker_private").orElse(
                    btf.offsetOf("task_struct", "set_child_tid").orElse(-1));
            return new Names(kthread, opt(btf, "kthread", "full_name"), opt(btf, "kthread", "data"),
                    opt(btf, "worker", "current_work"), opt(btf, "worker", "pool"), opt(btf, "worker", "desc"),
                    size(btf, "worker", "desc"), opt(btf, "worker", "id"), opt(btf, "worker", "rescue_wq"),
                    opt(btf, "worker_pool", "cpu"), opt(btf, "worker_pool", "id"), opt(btf, "worker_pool", "attrs"),
                    opt(btf, "workqueue_attrs", "nice"), opt(btf, "workqueue_struct", "name"),
                    size(btf, "workqueue_struct", "name"));
        }

        /** Whether a kernel thread's full name can be read ({@code kthread.full_name}, 6.0+). */
        boolean kthreadNames() {
            return taskKthread >= 0 && kthreadFullName >= 0;
        }

        /** Whether a workqueue worker's description can be built. */
        boolean workerNames() {
            return taskKthread >= 0 && kthreadData >= 0 && workerPool >= 0 && workerDesc >= 0 && workerDescSize > 0
                    && workerCurrentWork >= 0;
        }

        /** Whether the worker id can be formatted as 6.10+ does ({@code format_worker_id}). */
        boolean workerIds() {
            return workerNames() && workerId >= 0 && workerRescueWq >= 0 && poolCpu >= 0 && poolId >= 0
                    && poolAttrs >= 0 && attrsNice >= 0 && wqName >= 0 && wqNameSize > 0;
        }
    }

    /**
     * Members of the PID table: {@code init_pid_ns.idr}, an xarray (radix tree) of {@code struct pid}, each naming
     * its task through {@code pid->tasks[PIDTYPE_PID]}, an hlist of {@code task_struct.pid_links[PIDTYPE_PID]}.
     *
     * @param nsXaHead     offset of {@code idr.idr_rt.xa_head} in {@code struct pid_namespace}
     * @param nodeShift    {@code xa_node.shift} (a byte)
     * @param nodeSlots    {@code xa_node.slots}
     * @param nodeSlotCount number of slots per node ({@code XA_CHUNK_SIZE})
     * @param pidTasks     {@code pid.tasks} (PIDTYPE_PID is its first element, an hlist_head)
     * @param pidNumber    {@code pid.numbers[0].nr}, the pid in the initial namespace
     * @param taskPidLinks {@code task_struct.pid_links} (its first element is linked into {@code pid.tasks[0]})
     */
    public record PidTable(long nsXaHead, long nodeShift, long nodeSlots, int nodeSlotCount, long pidTasks,
                           long pidNumber, long taskPidLinks) {

        /** A kernel whose BTF does not describe the PID table: no cross-check. */
        public static final PidTable NONE = new PidTable(-1, -1, -1, 0, -1, -1, -1);

        static PidTable from(Btf btf) {
            long idr = btf.offsetOf("pid_namespace", "idr").orElse(-1);
            long rt = btf.offsetOf("idr", "idr_rt").orElse(-1);
            long head = btf.offsetOf("xarray", "xa_head").orElse(-1);
            long numbers = btf.offsetOf("pid", "numbers").orElse(-1);
            long nr = btf.offsetOf("upid", "nr").orElse(-1);
            long slots = btf.memberSize("xa_node", "slots");
            if (idr < 0 || rt < 0 || head < 0 || numbers < 0 || nr < 0 || slots <= 0 || slots % 8 != 0) {
                return NONE;
            }
            PidTable t = new PidTable(idr + rt + head, opt(btf, "xa_node", "shift"), opt(btf, "xa_node", "slots"),
                    (int) (slots / 8), opt(btf, "pid", "tasks"), numbers + nr, opt(btf, "task_struct", "pid_links"));
            return t.present() ? t : NONE;
        }

        boolean present() {
            return nsXaHead >= 0 && nodeShift >= 0 && nodeSlots >= 0 && Integer.bitCount(nodeSlotCount) == 1
                    && pidTasks >= 0 && pidNumber >= 0 && taskPidLinks >= 0;
        }
    }

    private static long opt(Btf btf, String struct, String path) {
        return btf.offsetOf(struct, path).orElse(-1);
    }

    private static int size(Btf btf, String struct, String path) {
        long size = btf.memberSize(struct, path);
        return size > 0 && size <= 256 ? (int) size : 0;
    }

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
                r.req("list_head", "prev"), Names.from(btf), PidTable.from(btf));
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
