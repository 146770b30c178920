package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.AddressSpace;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One case's guest memory while it is being corrupted: an {@link OverlayMemory} over the clean base, with what is
 * known about the base (its profile and process list) and helpers to write kernel objects by virtual address.
 * Translations use the clean base's page tables, so a case that corrupts page tables still writes where it means.
 */
final class HostileImage {

    static final long P = 1, RW = 2, US = 4, PS = 1 << 7;
    private static final long FRAME = 0x000F_FFFF_FFFF_F000L;

    final HostileCase.Base base;
    final OverlayMemory memory;
    final KernelProfile profile;
    final LinuxModel.Processes truth;
    /** The synthetic guest the base was built from, or null. */
    final SyntheticGuest synthetic;
    /** Pids whose values the case changes on purpose: their check is the case's own. */
    final Set<Integer> changed = new HashSet<>();
    /** Pids the case turns into something that is no process: they must not appear. */
    final Set<Integer> removed = new HashSet<>();
    private final PhysicalMemory clean;
    private final AddressSpace kernel;
    private long freeTop = -1;

    HostileImage(HostileCase.Base base, PhysicalMemory clean, KernelProfile profile, LinuxModel.Processes truth,
                 SyntheticGuest synthetic) {
        this.base = base;
        this.clean = clean;
        this.memory = new OverlayMemory(clean);
        this.profile = profile;
        this.truth = truth;
        this.synthetic = synthetic;
        this.kernel = new X86AddressSpace(clean, profile.kernelDtb(), profile.fiveLevel());
    }

    KernelOffsets o() {
        return profile.offsets();
    }

    long pa(long va) {
        return kernel.translate(va);
    }

    /** Physical address of a kernel-image symbol (text, data: the image is contiguous). */
    long symbolPa(String name) {
        return profile.imagePhysical(profile.symbols().address(name).orElseThrow(
                () -> new IllegalStateException("no symbol " + name)));
    }

    void write(long va, byte[] data) {
        for (int done = 0; done < data.length; ) {
            long at = va + done;
            int chunk = (int) Math.min(data.length - done, 4096 - (at & 4095));
            byte[] part = new byte[chunk];
            System.arraycopy(data, done, part, 0, chunk);
            memory.write(pa(at), part);
            done += chunk;
        }
    }

    void writeLong(long va, long value) {
        memory.writeLong(pa(va), value);
    }

    void writeInt(long va, int value) {
        memory.writeInt(pa(va), value);
    }

    long readLong(long va) {
        return memory.readLong(pa(va));
    }

    int readInt(long va) {
        return memory.readInt(pa(va));
    }

    byte[] read(long va, int length) {
        byte[] out = new byte[length];
        for (int done = 0; done < length; ) {
            long at = va + done;
            int chunk = (int) Math.min(length - done, 4096 - (at & 4095));
            memory.read(pa(at), out, done, chunk);
            done += chunk;
        }
        return out;
    }

    /** Marks the process changed on purpose, with its children (their ppid is read from its tgid). */
    void changes(GuestProcess p) {
        changed.add(p.pid());
        truth.processes().stream().filter(c -> c.ppid() == p.pid()).forEach(c -> changed.add(c.pid()));
    }


    /** The {@code index}-th user process of the base (by pid, init excluded) that has argv. */
    GuestProcess userProcess(int index) {
        List<GuestProcess> user = truth.processes().stream()
                .filter(p -> !p.kernelThread() && p.pid() > 1 && !p.argv().isEmpty()).toList();
        return user.get(index % user.size());
    }

    /** The base's task list in list order (task addresses, init_task excluded). */
    List<Long> listOrder() {
        List<Long> tasks = new ArrayList<>();
        long head = profile.initTask() + o().taskTasks();
        long node = kernel.readLong(head + o().listNext());
        while (node != head && tasks.size() < TaskWalker.MAX_TASKS) {
            tasks.add(node - o().taskTasks());
            node = kernel.readLong(node + o().listNext());
        }
        return tasks;
    }

    /** The task_struct of the {@code index}-th task on the list (counting from 0 after init_task). */
    long listed(int index) {
        List<Long> order = listOrder();
        return order.get(Math.min(index, order.size() - 1));
    }


    /**
     * {@code bytes} of memory no guest object uses (all-zero pages of the direct map, taken from the top of RAM
     * down), as a kernel direct-map address, for forged structures.
     */
    long free(int bytes) {
        int pages = (bytes + 4095) / 4096;
        if (freeTop < 0) {
            freeTop = clean.size();
        }
        long run = 0;
        long page = freeTop - 4096;
        byte[] buffer = new byte[4096];
        while (page >= 0) {
            clean.read(page, buffer, 0, 4096);
            if (allZero(buffer) && !isPageTable(page) && kernel.isMapped(profile.pageOffsetBase() + page)) {
                run++;
                if (run == pages) {
                    freeTop = page;
                    return profile.pageOffsetBase() + page;
                }
            } else {
                run = 0;
            }
            page -= 4096;
        }
        throw new IllegalStateException("no free memory for " + bytes + " bytes");
    }

    private boolean isPageTable(long page) {
        return page == profile.kernelDtb();
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** Physical address of the 4-level paging entry at {@code level} (4 = PML4 .. 1 = PTE) mapping {@code va}. */
    long entryAddress(long dtb, long va, int level) {
        long table = dtb & FRAME;
        for (int l = 4; l > level; l--) {
            long entry = memory.readLong(table + 8 * index(va, l));
            if ((entry & P) == 0 || l <= 3 && (entry & PS) != 0) {
                throw new IllegalStateException("no table below level " + l + " for 0x" + Long.toHexString(va));
            }
            table = entry & FRAME;
        }
        return table + 8 * index(va, level);
    }

    static long index(long va, int level) {
        return (va >>> (12 + 9 * (level - 1))) & 0x1ff;
    }

    /** The first argv address of a process (mm->arg_start). */
    long argStart(GuestProcess p) {
        long mm = readLong(p.taskAddress() + o().taskMm());
        return readLong(mm + o().mmArgStart());
    }
}
