package dev.periscope.vmi.linux;

import dev.periscope.vmi.paging.AddressSpace;
import java.nio.charset.StandardCharsets;

/**
 * The name {@code /proc/PID/comm} shows for a task, built as the guest kernel builds it ({@code fs/proc/array.c}
 * proc_task_name): a workqueue worker's id and current workqueue ({@code kernel/workqueue.c} wq_worker_comm), a
 * kernel thread's full name ({@code kernel/kthread.c} get_kthread_comm), else the comm. Every pointer is checked;
 * an unreadable structure fails with a {@link dev.periscope.vmi.VmiException} and the caller falls back to comm.
 *
 * <p>Two generations of wq_worker_comm exist: up to 6.9 it starts from the comm (15 characters, so a rescuer of a
 * long-named workqueue shows truncated); from 6.10 (and 6.9.11 stable) it formats the worker id again in full
 * ({@code format_worker_id}: {@code kworker/R-<workqueue>}, {@code kworker/<cpu>:<id>[H]},
 * {@code kworker/u<pool>:<id>}, {@code kworker/dying}).
 */
final class TaskNames {

    static final int PF_WQ_WORKER = 0x20;
    /** proc_task_name's buffer is 64 bytes: at most 63 characters and the NUL. */
    static final int MAX_NAME = 63;

    private final AddressSpace kernel;
    private final KernelPointers pointers;
    private final KernelOffsets.Names o;
    private final boolean formatWorkerIds;

    /**
     * @param formatWorkerIds whether the kernel formats worker ids in full (6.10+: kallsyms has
     *                        {@code format_worker_id}, or the release says 6.10 or later)
     */
    TaskNames(KernelPointers pointers, KernelOffsets.Names offsets, boolean formatWorkerIds) {
        this.kernel = pointers.space();
        this.pointers = pointers;
        this.o = offsets;
        this.formatWorkerIds = formatWorkerIds && offsets.workerIds();
    }

    /** Whether this kernel formats worker ids in full: its own symbol, or its release, says so. */
    static boolean formatsWorkerIds(SymbolTable symbols, String release) {
        if (symbols != null && symbols.address("format_worker_id").isPresent()) {
            return true;
        }
        String[] parts = release == null ? new String[0] : release.split("[.-]", 3);
        try {
            return parts.length >= 2 && (Integer.parseInt(parts[0]) > 6
                    || Integer.parseInt(parts[0]) == 6 && Integer.parseInt(parts[1]) >= 10);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** What /proc shows for the task with these flags and raw comm bytes ({@code task_struct.comm}). */
    String procName(long task, int flags, byte[] comm) {
        if ((flags & PF_WQ_WORKER) != 0 && o.workerNames()) {
            return workerName(task, comm);
        }
        if ((flags & TaskWalker.PF_KTHREAD) != 0 && o.kthreadNames()) {
            return kthreadName(task, comm);
        }
        return GuestStrings.comm(comm);
    }

    private String kthreadName(long task, byte[] comm) {
        long kthread = kernel.readLong(task + o.taskKthread());
        if (kthread == 0) {
            return GuestStrings.comm(comm);
        }
        pointers.check(kthread, "kthread");
        long fullName = kernel.readLong(kthread + o.kthreadFullName());
        if (fullName == 0) {
            return GuestStrings.comm(comm);
        }
        pointers.check(fullName, "kthread full_name");
        return finish(string(fullName, MAX_NAME));
    }

    private String workerName(long task, byte[] comm) {
        long kthread = kernel.readLong(task + o.taskKthread());
        pointers.check(kthread, "kthread of a workqueue worker");
        long worker = kernel.readLong(kthread + o.kthreadData());
        pointers.check(worker, "worker");
        long pool = kernel.readLong(worker + o.workerPool());
        if (pool != 0) {
            pointers.check(pool, "worker pool");
        }
        StringBuilder name = new StringBuilder(formatWorkerIds ? workerId(worker, pool) : latin1(comm));
        if (pool != 0) {
            String desc = string(worker + o.workerDesc(), o.workerDescSize());
            if (!desc.isEmpty()) {
                name.append(kernel.readLong(worker + o.workerCurrentWork()) != 0 ? '+' : '-').append(desc);
            }
        }
        return finish(name.toString());
    }

    /** kernel/workqueue.c format_worker_id. */
    private String workerId(long worker, long pool) {
        long rescueWq = kernel.readLong(worker + o.workerRescueWq());
        if (rescueWq != 0) {
            pointers.check(rescueWq, "rescuer's workqueue");
            return "kworker/R-" + string(rescueWq + o.wqName(), o.wqNameSize());
        }
        if (pool == 0) {
            return "kworker/dying";
        }
        int id = kernel.readInt(worker + o.workerId());
        int cpu = kernel.readInt(pool + o.poolCpu());
        if (cpu < 0) {
            return "kworker/u" + kernel.readInt(pool + o.poolId()) + ":" + id;
        }
        long attrs = kernel.readLong(pool + o.poolAttrs());
        pointers.check(attrs, "worker pool attrs");
        return "kworker/" + cpu + ":" + id + (kernel.readInt(attrs + o.attrsNice()) < 0 ? "H" : "");
    }

    /** Up to {@code max} bytes of a NUL-terminated kernel string, as ISO-8859-1 (one char per byte). */
    private String string(long address, int max) {
        byte[] bytes = new byte[max];
        int length = 0;
        while (length < max) {
            long at = address + length;
            int chunk = (int) Math.min(max - length, 4096 - (at & 4095));
            kernel.read(at, bytes, length, chunk);
            for (int i = length; i < length + chunk; i++) {
                if (bytes[i] == 0) {
                    return new String(bytes, 0, i, StandardCharsets.ISO_8859_1);
                }
            }
            length += chunk;
        }
        return new String(bytes, 0, max, StandardCharsets.ISO_8859_1);
    }

    /** The comm's bytes up to its NUL, one char per byte (sanitised once, with the rest of the name). */
    private static String latin1(byte[] comm) {
        int end = 0;
        while (end < comm.length && end < GuestStrings.COMM_LEN && comm[end] != 0) {
            end++;
        }
        return new String(comm, 0, end, StandardCharsets.ISO_8859_1);
    }

    /** Truncates to what the kernel's 64-byte buffer holds and sanitises the guest's bytes. */
    private static String finish(String latin1) {
        byte[] bytes = latin1.getBytes(StandardCharsets.ISO_8859_1);
        return GuestStrings.sanitize(bytes, 0, Math.min(bytes.length, MAX_NAME));
    }

}
