package dev.periscope.vmi.linux;

import static dev.periscope.vmi.linux.HostileCase.CORRECT_ONLY;
import static dev.periscope.vmi.linux.HostileCase.PARTIAL_ONLY;
import static dev.periscope.vmi.linux.HostileCase.PARTIAL_OR_TYPED;
import static dev.periscope.vmi.linux.HostileCase.TYPED_ONLY;

import dev.periscope.vmi.linux.HostileCase.Base;
import dev.periscope.vmi.linux.HostileCase.Check;
import dev.periscope.vmi.linux.HostileCase.Outcome;
import dev.periscope.vmi.linux.HostileCorpus.BaseImage;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * The named cases of the hostile guest corpus, per base image: task lists that loop or lead nowhere, page tables
 * that loop or map holes, unterminated and huge strings, inconsistent ids, hidden and forged tasks, a corrupt PID
 * table, corrupt kallsyms and BTF, fake banners and a second init_task. Each says what it corrupts and which
 * outcomes are correct; {@link HostileCorpus} runs them.
 */
final class HostileCases {

    private static final long MIB = 1 << 20;
    /** A pointer no kernel would hold: kernel half, aligned, in no mapping. */
    private static final long WILD = 0xffffc90ffff00000L;
    private static final long USER = 0x00007ffc00001000L;
    private static final long NON_CANONICAL = 0x8000_0000_0000_0000L;

    private HostileCases() {
    }

    static List<HostileCase> forBase(BaseImage b) {
        return switch (b.kind()) {
            case SYNTHETIC -> b.id().equals("synflood") ? flood(b) : synthetic(b);
            case KERNEL_IMAGE -> b.id().endsWith("far") ? far(b) : discovery(b);
            case LAB_IMAGE -> {
                List<HostileCase> cases = new ArrayList<>();
                cases.add(d(b, "clean", "nothing (the dump as taken)", "correct: the list the guest's /proc showed",
                        CORRECT_ONLY, img -> { }));
                cases.addAll(walk(b));
                cases.addAll(discovery(b));
                yield cases;
            }
        };
    }

    // ------------------------------------------------------------------------------------------ builders

    private static Duration timeBound(Base base) {
        return switch (base) {
            case SYNTHETIC -> Duration.ofSeconds(2);
            case KERNEL_IMAGE, LAB_IMAGE -> Duration.ofSeconds(10);
        };
    }

    private static long memoryBound(Base base) {
        return switch (base) {
            case SYNTHETIC -> 64 * MIB;
            case KERNEL_IMAGE, LAB_IMAGE -> 256 * MIB;
        };
    }

    /** A case on an engine already attached to the guest: the walk uses the clean base's profile. */
    private static HostileCase c(BaseImage b, String what, String corrupts, String expected, Set<Outcome> accepted,
                                 Consumer<HostileImage> corrupt, Check check) {
        return new HostileCase(b.id() + "/" + what, b.kind(), corrupts, expected, accepted, false, corrupt, check,
                timeBound(b.kind()), memoryBound(b.kind()));
    }

    /** A case on a first attach: the profile is derived from the corrupted memory. */
    private static HostileCase d(BaseImage b, String what, String corrupts, String expected, Set<Outcome> accepted,
                                 Consumer<HostileImage> corrupt) {
        return new HostileCase(b.id() + "/" + what, b.kind(), corrupts, expected, accepted, true, corrupt, null,
                timeBound(b.kind()), memoryBound(b.kind()));
    }

    private static HostileCase bounded(HostileCase c, Duration time, long memory) {
        return new HostileCase(c.name(), c.base(), c.corrupts(), c.expected(), c.accepted(), c.discover(),
                c.corrupt(), c.check(), time, memory);
    }

    // ------------------------------------------------------------------------------------------ checks

    /** Every process of the base is in the result (possibly flagged). */
    private static final Check ALL_PRESENT = (img, r) -> {
        List<Integer> missing = img.truth.processes().stream().map(GuestProcess::pid)
                .filter(pid -> !img.removed.contains(pid))
                .filter(pid -> r.processes().stream().noneMatch(p -> p.pid() == pid)).toList();
        return missing.isEmpty() ? null : "processes not recovered: " + missing;
    };

    private static final Check NONE_FLAGGED = (img, r) -> r.processes().stream()
            .filter(p -> p.visibility() != Visibility.LISTED).findFirst()
            .map(p -> "pid " + p.pid() + " flagged " + p.visibility()).orElse(null);

    private static Check both(Check a, Check b) {
        return (img, r) -> {
            String p = a.problem(img, r);
            return p != null ? p : b.problem(img, r);
        };
    }

    private static GuestProcess find(LinuxModel.Processes r, int pid) {
        return r.processes().stream().filter(p -> p.pid() == pid).findFirst().orElse(null);
    }


    private static Check warned(String fragment) {
        return (img, r) -> r.warnings().stream().anyMatch(w -> w.contains(fragment)) ? null
                : "no warning containing '" + fragment + "'";
    }

    // ------------------------------------------------------------------------------------------ victims

    /** The user process a case corrupts: a stable choice per base. */
    private static GuestProcess victim(HostileImage img) {
        return img.userProcess(2);
    }

    private static GuestProcess kernelThreadWithFullName(HostileImage img) {
        return img.truth.processes().stream().filter(p -> p.kernelThread() && !p.name().equals(p.comm())
                && !p.name().startsWith(p.comm() + "-") && !p.name().startsWith(p.comm() + "+")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no kernel thread with a full name"));
    }

    private static GuestProcess workqueueWorker(HostileImage img) {
        return img.truth.processes().stream().filter(p -> p.kernelThread() && p.comm().startsWith("kworker/")
                && !p.name().equals(p.comm())).findFirst()
                .orElseThrow(() -> new IllegalStateException("no busy workqueue worker"));
    }

    private static long next(HostileImage img, long task) {
        return task + img.o().taskTasks() + img.o().listNext();
    }

    private static long prev(HostileImage img, long task) {
        return task + img.o().taskTasks() + img.o().listPrev();
    }

    /** A kernel address whose page is mapped and whose next page is not: an 8-byte read at its last 4 bytes straddles. */
    private static long straddling(HostileImage img) {
        X86AddressSpace space = new X86AddressSpace(img.memory, img.profile.kernelDtb(), img.profile.fiveLevel());
        long page = img.profile.pageOffsetBase() + (img.memory.size() & ~0xfffL) - 4096;
        // the direct map ends near the top of RAM: walk to its last mapped page
        for (int steps = 0; steps < (1 << 20); steps++) {
            boolean here = space.isMapped(page), next = space.isMapped(page + 4096);
            if (here && !next) {
                return page + 4092;
            }
            page += here ? 4096 : -4096;
        }
        throw new IllegalStateException("no end of the direct map found");
    }

    private static Check victimCheck(BiFunction<HostileImage, GuestProcess, String> problem) {
        return (img, r) -> {
            GuestProcess p = find(r, victim(img).pid());
            return p == null ? "pid " + victim(img).pid() + " missing" : problem.apply(img, p);
        };
    }

    /** The victim's mm (a kernel address). */
    private static long mm(HostileImage img, GuestProcess p) {
        return img.readLong(p.taskAddress() + img.o().taskMm());
    }

    /** Inserts a copy of {@code template}'s task_struct right after init_task, with another comm and pid. */
    private static long forge(HostileImage img, GuestProcess template, String comm, int pid) {
        int size = (int) img.o().taskStructSize();
        long copy = img.free(size + 64);
        img.write(copy, img.read(template.taskAddress(), size));
        img.write(copy + img.o().taskComm(), Arrays.copyOf(comm.getBytes(StandardCharsets.US_ASCII), 16));
        img.writeInt(copy + img.o().taskPid(), pid);
        img.writeInt(copy + img.o().taskTgid(), pid);
        img.writeLong(copy + img.o().taskGroupLeader(), copy);
        long head = img.profile.initTask() + img.o().taskTasks();
        long first = img.readLong(head + img.o().listNext());
        long node = copy + img.o().taskTasks();
        img.writeLong(node + img.o().listNext(), first);
        img.writeLong(node + img.o().listPrev(), head);
        img.writeLong(first + img.o().listPrev(), node);
        img.writeLong(head + img.o().listNext(), node);
        return copy;
    }

    /** A 2 MiB frame whose pages at {@code offset} (two of them) hold nothing: a hole can be punched there safely. */
    private static long freeTarget(HostileImage img, long offset) {
        byte[] pages = new byte[8192];
        for (long frame = img.memory.size() - 2 * MIB; frame > 0; frame -= 2 * MIB) {
            long at = (frame + offset) & ~0xfffL;
            if (at + pages.length > img.memory.size()) {
                continue;
            }
            img.memory.read(at, pages, 0, pages.length);
            boolean zero = true;
            for (byte x : pages) {
                zero &= x == 0;
            }
            if (zero) {
                return frame;
            }
        }
        throw new IllegalStateException("no free 2 MiB frame");
    }

    // ------------------------------------------------------------------------------------------ the task list walk

    /** Cases about the task list, names, ids, the PID table and page tables: synthetic and lab bases. */
    private static List<HostileCase> walk(BaseImage b) {
        List<HostileCase> cases = new ArrayList<>();
        cases.add(c(b, "list-cycle", "task 5's tasks.next points back to task 2 (a cycle that never returns to init_task)",
                "partial: cycle warning, every process recovered (backwards and from the PID table)", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), img.listed(2) + img.o().taskTasks()),
                both(ALL_PRESENT, warned("cycle"))));
        cases.add(c(b, "list-self-loop", "task 5's tasks.next points at itself",
                "partial: cycle warning, every process recovered", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), img.listed(5) + img.o().taskTasks()),
                both(ALL_PRESENT, warned("cycle"))));
        cases.add(c(b, "list-head-self", "init_task.tasks points at itself both ways (an empty list)",
                "partial: every process found in the PID table and flagged hidden", PARTIAL_ONLY, img -> {
                    long head = img.profile.initTask() + img.o().taskTasks();
                    img.writeLong(head + img.o().listNext(), head);
                    img.writeLong(head + img.o().listPrev(), head);
                }, both(ALL_PRESENT, (img, r) -> r.processes().stream().allMatch(GuestProcess::hidden) ? null
                        : "a process not flagged hidden")));
        cases.add(c(b, "next-unmapped", "task 5's tasks.next points into unmapped kernel memory",
                "partial: broken-list warning, the rest recovered backwards", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), WILD), both(ALL_PRESENT, warned("broken"))));
        cases.add(c(b, "next-user", "task 5's tasks.next points into user memory",
                "partial: broken-list warning, the rest recovered backwards", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), USER), both(ALL_PRESENT, warned("broken"))));
        cases.add(c(b, "next-non-canonical", "task 5's tasks.next is a non-canonical address",
                "partial: broken-list warning, the rest recovered backwards", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), NON_CANONICAL), both(ALL_PRESENT, warned("broken"))));
        cases.add(c(b, "next-straddling", "task 5's tasks.next is unaligned, 4 bytes before the end of mapped kernel memory",
                "partial: broken-list warning (an 8-byte read there crosses into an unmapped page)", PARTIAL_ONLY,
                img -> img.writeLong(next(img, img.listed(5)), straddling(img)), both(ALL_PRESENT, warned("broken"))));
        cases.add(c(b, "list-broken-both-ways", "task 5's next and task 9's prev point into unmapped memory",
                "partial: both breaks reported; the tasks between found in the PID table, flagged", PARTIAL_ONLY,
                img -> {
                    img.writeLong(next(img, img.listed(5)), WILD);
                    img.writeLong(prev(img, img.listed(9)), WILD);
                }, both(ALL_PRESENT, warned("broken"))));
        cases.add(bounded(c(b, "list-huge", "init_task.tasks leads into a chain of 70,000 list nodes ending in a self-loop",
                "partial: stopped at 65,536 entries with a warning; nothing presented as real", PARTIAL_ONLY, img -> {
                    int n = 70_000;
                    long nodes = img.free(n * 64);
                    long head = img.profile.initTask() + img.o().taskTasks();
                    img.writeLong(head + img.o().listNext(), nodes);
                    for (int i = 0; i < n; i++) {
                        long node = nodes + 64L * i;
                        img.writeLong(node + img.o().listNext(), i == n - 1 ? node : node + 64);
                    }
                }, warned("longer than")), Duration.ofSeconds(10), 256 * MIB));
        cases.add(c(b, "comm-unterminated", "a process's comm is 16 bytes with no NUL",
                "its name is the 16 bytes, nothing read beyond", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL), img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.write(v.taskAddress() + img.o().taskComm(), "A".repeat(16).getBytes(StandardCharsets.US_ASCII));
                }, victimCheck((img, p) -> p.comm().equals("A".repeat(16)) && p.name().equals(p.comm()) ? null
                        : "comm read as " + p.comm())));
        cases.add(c(b, "comm-control-bytes", "a process's comm holds an escape sequence, a bell, DEL and invalid UTF-8",
                "its name with every control byte replaced by '?'", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL),
                img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.write(v.taskAddress() + img.o().taskComm(), new byte[] {0x1b, '[', '3', '1', 'm', 'x', 7,
                            (byte) 0xff, (byte) 0xc3, 0x28, 0x7f, 0, 0, 0, 0, 0});
                }, victimCheck((img, p) -> p.name().chars().noneMatch(ch -> ch < 0x20 || ch == 0x7f) ? null
                        : "control characters in " + p.name())));
        cases.add(c(b, "argv-huge", "a process's mm->arg_end is 1 TiB past arg_start",
                "its argv cut at 4096 bytes", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL), img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.writeLong(mm(img, v) + img.o().mmArgEnd(), img.argStart(v) + (1L << 40));
                }, victimCheck((img, p) -> p.argv().stream().mapToInt(a -> a.length() + 1).sum() <= TaskWalker.MAX_ARGV + 1
                        ? null : "argv longer than " + TaskWalker.MAX_ARGV)));
        cases.add(c(b, "argv-reversed", "a process's mm->arg_end is below arg_start",
                "partial: its argv empty, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.writeLong(mm(img, v) + img.o().mmArgEnd(), img.argStart(v) - 1);
                }, both(victimCheck((img, p) -> p.argv().isEmpty() ? null : "argv read"), warned("implausible argv"))));
        cases.add(c(b, "argv-unterminated", "a process's argv range is filled with 4096 bytes without a NUL",
                "its argv is one string of at most 4096 characters", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL),
                img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    long start = img.argStart(v);
                    long pgd = v.cr3();
                    long pte = img.entryAddress(pgd, start, 1);
                    long page = img.memory.readLong(pte) & 0x000F_FFFF_FFFF_F000L;
                    img.memory.write(page, "Z".repeat(4096).getBytes(StandardCharsets.US_ASCII));
                    img.writeLong(mm(img, v) + img.o().mmArgStart(), start & ~0xfffL);
                    img.writeLong(mm(img, v) + img.o().mmArgEnd(), (start & ~0xfffL) + 4096);
                }, victimCheck((img, p) -> p.argv().equals(List.of("Z".repeat(4096))) ? null
                        : "argv read as " + p.argv().size() + " strings")));
        cases.add(c(b, "pid-negative", "a process's pid and tgid are -5",
                "partial: it is not listed, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changes(v);
                    img.changed.remove(v.pid());
                    img.removed.add(v.pid());
                    img.writeInt(v.taskAddress() + img.o().taskPid(), -5);
                    img.writeInt(v.taskAddress() + img.o().taskTgid(), -5);
                }, warned("not a process")));
        cases.add(c(b, "tgid-mismatch", "a listed task's tgid names another group (a thread on the task list)",
                "partial: it is not listed as a process, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changes(v);
                    img.changed.remove(v.pid());
                    img.removed.add(v.pid());
                    img.writeInt(v.taskAddress() + img.o().taskTgid(), 1);
                }, warned("is not its leader")));
        cases.add(c(b, "pid-duplicate-forged", "a copy of a process's task_struct, renamed sshd, linked first on the task list",
                "partial: the copy flagged unhashed, the real process listed, a duplicate-pid warning", PARTIAL_ONLY,
                img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    forge(img, v, "sshd", v.pid());
                }, (img, r) -> {
                    GuestProcess v = victim(img);
                    List<GuestProcess> same = r.processes().stream().filter(p -> p.pid() == v.pid()).toList();
                    boolean real = same.stream().anyMatch(p -> p.taskAddress() == v.taskAddress()
                            && p.visibility() == Visibility.LISTED && p.name().equals(v.name()));
                    boolean fake = same.stream().anyMatch(p -> p.name().equals("sshd")
                            && p.visibility() == Visibility.UNHASHED);
                    return real && fake ? null : "pid " + v.pid() + " read as " + same;
                }));
        cases.add(c(b, "forged-task", "a forged task (pid 4242, comm sshd) linked into the task list, in no PID table",
                "partial: listed but flagged unhashed, with a warning", PARTIAL_ONLY, img -> {
                    img.removed.add(4242);
                    forge(img, victim(img), "sshd", 4242);
                }, (img, r) -> {
                    GuestProcess p = find(r, 4242);
                    return p != null && p.visibility() == Visibility.UNHASHED ? null : "pid 4242 read as " + p;
                }));
        cases.add(c(b, "dkom-unlink", "a process unlinked from the task list (list_del_init), as a rootkit hides one",
                "partial: found in the PID table, flagged hidden, named in a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    long node = v.taskAddress() + img.o().taskTasks();
                    long nx = img.readLong(node + img.o().listNext()), pv = img.readLong(node + img.o().listPrev());
                    img.writeLong(pv + img.o().listNext(), nx);
                    img.writeLong(nx + img.o().listPrev(), pv);
                    img.writeLong(node + img.o().listNext(), node);
                    img.writeLong(node + img.o().listPrev(), node);
                }, (img, r) -> {
                    GuestProcess v = victim(img);
                    List<Integer> flagged = r.processes().stream().filter(p -> p.visibility() != Visibility.LISTED)
                            .map(GuestProcess::pid).toList();
                    return flagged.equals(List.of(v.pid())) && find(r, v.pid()).hidden() ? null
                            : "flagged " + flagged + ", expected only " + v.pid();
                }));
        cases.add(c(b, "parent-wild", "a process's real_parent points into unmapped memory",
                "partial: its ppid 0, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.writeLong(v.taskAddress() + img.o().taskRealParent(), WILD);
                }, both(victimCheck((img, p) -> p.ppid() == 0 ? null : "ppid " + p.ppid()), warned("real_parent"))));
        cases.add(c(b, "parent-cycle", "two processes are each other's real_parent",
                "correct list with the two ppids as the guest holds them (no tree is walked)",
                EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL), img -> {
                    GuestProcess a = img.userProcess(0), z = img.userProcess(1);
                    img.changed.add(a.pid());
                    img.changed.add(z.pid());
                    img.writeLong(a.taskAddress() + img.o().taskRealParent(), z.taskAddress());
                    img.writeLong(z.taskAddress() + img.o().taskRealParent(), a.taskAddress());
                }, (img, r) -> {
                    GuestProcess a = find(r, img.userProcess(0).pid()), z = find(r, img.userProcess(1).pid());
                    return a != null && z != null && a.ppid() == z.pid() && z.ppid() == a.pid() ? null
                            : "ppids " + a + " " + z;
                }));
        cases.add(c(b, "threads-cycle", "a process's thread list loops on its leader without returning to the head",
                "partial: a thread-list warning, the process listed", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    long node = v.taskAddress() + img.o().taskThreadNode();
                    img.writeLong(node + img.o().listNext(), node);
                }, both(victimCheck((img, p) -> p.threads().contains(p.pid()) ? null : "threads " + p.threads()),
                        warned("thread list"))));
        cases.add(bounded(c(b, "threads-huge", "a process's thread list leads into a chain of 300,000 nodes",
                "partial: the thread list cut at its bound with a warning, the process listed", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    int n = 300_000;
                    long nodes = img.free(n * 16);
                    long signal = img.readLong(v.taskAddress() + img.o().taskSignal());
                    img.writeLong(signal + img.o().signalThreadHead() + img.o().listNext(), nodes);
                    for (int i = 0; i < n; i++) {
                        long node = nodes + 16L * i;
                        img.writeLong(node + img.o().listNext(), i == n - 1 ? node : node + 16);
                    }
                }, both(victimCheck((img, p) -> p.threads().size() <= TaskWalker.MAX_THREADS_PER_GROUP + 1 ? null
                        : p.threads().size() + " threads"), warned("thread list too long"))), Duration.ofSeconds(10),
                256 * MIB));
        cases.add(c(b, "cred-wild", "a process's real_cred points into unmapped memory",
                "partial: its uid -1, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.writeLong(v.taskAddress() + img.o().taskRealCred(), WILD);
                }, both(victimCheck((img, p) -> p.uid() == -1 ? null : "uid " + p.uid()), warned("real_cred"))));
        cases.add(c(b, "mm-pgd-wild", "a process's mm->pgd points into unmapped memory",
                "partial: no argv, no cr3, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.writeLong(mm(img, v) + img.o().mmPgd(), WILD);
                }, both(victimCheck((img, p) -> p.argv().isEmpty() && p.cr3() == 0 ? null : "argv " + p.argv()),
                        warned("mm unreadable"))));
        cases.add(c(b, "user-pgtable-outside-ram", "the page directory entry mapping a process's argv names a table beyond RAM",
                "partial: its argv empty, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.memory.writeLong(img.entryAddress(v.cr3(), img.argStart(v), 2),
                            0x7f_ffff_f000L | HostileImage.P | HostileImage.RW | HostileImage.US);
                }, both(victimCheck((img, p) -> p.argv().isEmpty() ? null : "argv " + p.argv()),
                        warned("argv partly not present"))));
        cases.add(c(b, "user-1g-page-over-hole", "a process's argv is mapped by a 1 GiB page at 3 GiB: the PCI hole, no RAM there",
                "partial: its argv empty, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    img.memory.writeLong(img.entryAddress(v.cr3(), img.argStart(v), 3), (3L << 30) | HostileImage.P
                            | HostileImage.RW | HostileImage.US | HostileImage.PS);
                }, both(victimCheck((img, p) -> p.argv().isEmpty() ? null : "argv " + p.argv()),
                        warned("argv partly not present"))));
        cases.add(c(b, "user-2m-page-over-hole", "a process's argv is mapped by a 2 MiB page whose target page is a hole in RAM",
                "partial: its argv empty, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess v = victim(img);
                    img.changed.add(v.pid());
                    long start = img.argStart(v);
                    long frame = freeTarget(img, start & 0x1f_ffffL);
                    img.memory.writeLong(img.entryAddress(v.cr3(), start, 2),
                            frame | HostileImage.P | HostileImage.RW | HostileImage.US | HostileImage.PS);
                    img.memory.punch((frame + (start & 0x1f_ffffL)) & ~0xfffL, 8192);
                }, both(victimCheck((img, p) -> p.argv().isEmpty() ? null : "argv " + p.argv()),
                        warned("argv partly not present"))));
        cases.add(c(b, "kernel-pgtable-loop", "the kernel PML4 entry of the direct map points at the PML4 itself",
                "partial or a typed error: what can be read, nothing invented", PARTIAL_OR_TYPED, img -> {
                    long dtb = img.profile.kernelDtb();
                    img.memory.writeLong(dtb + 8 * HostileImage.index(img.profile.pageOffsetBase(), 4),
                            dtb | HostileImage.P | HostileImage.RW);
                }, null));
        cases.add(c(b, "pid-table-loop", "the PID table's root node has a slot pointing back at the root",
                "partial: a PID-table warning; the list itself complete, nothing flagged", PARTIAL_ONLY, img -> {
                    long headVa = img.profile.symbols().address("init_pid_ns").orElseThrow()
                            + img.o().pidTable().nsXaHead();
                    long root = img.readLong(headVa) - 2;
                    img.writeLong(root + img.o().pidTable().nodeSlots() + 8L * 63, root | 2);
                }, both(ALL_PRESENT, both(NONE_FLAGGED, warned("PID table")))));
        cases.add(c(b, "pid-table-noise", "every slot of the PID table's first leaf holds a random kernel address",
                "partial: list complete; the table reported corrupt (or, when it misses only a few, those few "
                        + "flagged unhashed); no hidden process invented", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL),
                img -> {
                    long headVa = img.profile.symbols().address("init_pid_ns").orElseThrow()
                            + img.o().pidTable().nsXaHead();
                    long node = img.readLong(headVa) - 2;
                    for (int depth = 0; depth < 8 && img.readInt(node + img.o().pidTable().nodeShift()) % 256 != 0;
                         depth++) {
                        long child = 0;
                        for (int i = 0; i < 64 && child == 0; i++) {
                            long slot = img.readLong(node + img.o().pidTable().nodeSlots() + 8L * i);
                            child = (slot & 3) == 2 && Long.compareUnsigned(slot, 4096) > 0 ? slot - 2 : 0;
                        }
                        node = child;
                    }
                    Random random = new Random(17);
                    for (int i = 0; i < 64; i++) {
                        long noise = img.profile.pageOffsetBase() + (random.nextLong(img.memory.size()) & ~7L);
                        img.writeLong(node + img.o().pidTable().nodeSlots() + 8L * i, noise);
                    }
                }, both(ALL_PRESENT, (img, r) -> r.processes().stream()
                        .filter(p -> p.visibility() == Visibility.HIDDEN).findFirst()
                        .map(p -> "noise made pid " + p.pid() + " hidden").orElse(null))));
        cases.add(c(b, "kthread-wild", "a kernel thread's kthread pointer (worker_private) points into unmapped memory",
                "partial: its comm shown instead of its full name, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess k = kernelThreadWithFullName(img);
                    img.changed.add(k.pid());
                    img.writeLong(k.taskAddress() + img.o().names().taskKthread(), WILD);
                }, both((img, r) -> {
                    GuestProcess k = find(r, kernelThreadWithFullName(img).pid());
                    return k != null && k.name().equals(k.comm()) ? null : "name " + (k == null ? null : k.name());
                }, warned("name unreadable"))));
        cases.add(c(b, "kthread-name-unterminated", "a kernel thread's full_name is 4 KiB without a NUL",
                "its name cut at 63 characters, as /proc does", EnumSet.of(Outcome.CORRECT, Outcome.PARTIAL), img -> {
                    GuestProcess k = kernelThreadWithFullName(img);
                    img.changed.add(k.pid());
                    long name = img.free(8192);
                    img.write(name, "k".repeat(8192).getBytes(StandardCharsets.US_ASCII));
                    long kthread = img.readLong(k.taskAddress() + img.o().names().taskKthread());
                    img.writeLong(kthread + img.o().names().kthreadFullName(), name);
                }, (img, r) -> {
                    GuestProcess k = find(r, kernelThreadWithFullName(img).pid());
                    return k != null && k.name().equals("k".repeat(63)) ? null : "name " + (k == null ? null : k.name());
                }));
        cases.add(c(b, "worker-wild", "a workqueue worker's struct worker pointer (kthread->data) points into unmapped memory",
                "partial: its comm shown, with a warning", PARTIAL_ONLY, img -> {
                    GuestProcess w = workqueueWorker(img);
                    img.changed.add(w.pid());
                    long kthread = img.readLong(w.taskAddress() + img.o().names().taskKthread());
                    img.writeLong(kthread + img.o().names().kthreadData(), WILD);
                }, both((img, r) -> {
                    GuestProcess w = find(r, workqueueWorker(img).pid());
                    return w != null && w.name().equals(w.comm()) ? null : "name " + (w == null ? null : w.name());
                }, warned("name unreadable"))));
        return cases;
    }

    /** The synthetic base: every walk case. */
    private static List<HostileCase> synthetic(BaseImage b) {
        return walk(b);
    }

    /** A synthetic guest whose processes hold more argv than a walk reads. */
    private static List<HostileCase> flood(BaseImage b) {
        return List.of(bounded(c(b, "argv-flood", "5,000 processes each with 4 KiB of argv (20 MiB in all)",
                "the walk reads 16 MiB of argv and says how many processes it skipped", EnumSet.of(Outcome.CORRECT,
                        Outcome.PARTIAL), img -> { }, warned("argv not read for")), Duration.ofSeconds(10),
                256 * MIB));
    }

    // ------------------------------------------------------------------------------------------ kernel discovery

    /** Where kallsyms is in the clean image: the window it was decoded from and what was found. */
    private record KallsymsAt(long window, Kallsyms.Decoded decoded) {
        long pa(int position) {
            return window + position;
        }
    }

    private static KallsymsAt kallsyms(HostileImage img) {
        long at = img.profile.physBase();
        for (int hits = 0; hits < 64; hits++) {
            long hit = img.memory.indexOf(Kallsyms.DIGIT_TOKENS, at, img.memory.size());
            if (hit < 0) {
                break;
            }
            at = hit + 1;
            long window = Math.max(0, hit - 40 * MIB) & ~0xfffL;
            int length = (int) Math.min(img.memory.size() - window, hit - window + 8 * MIB);
            byte[] w = new byte[length];
            img.memory.read(window, w, 0, length);
            Kallsyms.Decoded d = Kallsyms.decode(w, (int) (hit - window));
            if (d != null) {
                return new KallsymsAt(window, d);
            }
        }
        throw new IllegalStateException("no kallsyms in the base");
    }

    /**
     * {@code pages} physical pages below the kernel image that no kernel object uses: x86 Linux reserves the first
     * MiB of RAM (5.13 and later), and the kernel is loaded at 16 MiB or above, so pages from 64 KiB on are met by
     * a scan before the kernel and writing them disturbs nothing the engine reads.
     */
    private static long lowFree(HostileImage img, int pages) {
        if (pages * 4096L > 0x9f000 - 0x10000) {
            throw new IllegalArgumentException(pages + " pages do not fit below 640 KiB");
        }
        return 0x10000;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static void noise(HostileImage img, long pa, int length, long seed) {
        byte[] junk = new byte[length];
        new Random(seed).nextBytes(junk);
        img.memory.write(pa, junk);
    }

    /** A kernel loaded high: copies of its banner, or of the whole kernel, far below it. */
    private static List<HostileCase> far(BaseImage b) {
        return List.of(d(b, "banner-spray-far", "200 copies of the kernel's banner 80-130 MiB below it (an "
                        + "unprivileged process can fill its own pages with them)", "correct: the real kernel",
                EnumSet.of(Outcome.CORRECT), img -> {
                    for (int i = 0; i < 200; i++) {
                        img.memory.write(MIB + (256L << 10) * i, bytes(img.profile.banner() + "\n\0"));
                    }
                }), d(b, "kernel-copy-below", "a complete copy of the kernel image (banner, kallsyms, BTF, init_task, "
                        + "its own page tables and phys_base) 128 MiB below the running one",
                "correct: the kernel the vCPU's CR3 maps, never the copy", EnumSet.of(Outcome.CORRECT), img -> {
                    long offset = img.profile.physBase();
                    long size = img.memory.size() - offset;
                    byte[] copy = new byte[(int) size];
                    img.memory.read(offset, copy, 0, copy.length);
                    ByteArrayPhysicalMemory below = new ByteArrayPhysicalMemory(new byte[(int) size]);
                    below.write(0, copy);
                    HostileCorpus.relocate(below, img.profile, 0, offset, size, -offset);
                    byte[] relinked = new byte[(int) size];
                    below.read(0, relinked, 0, relinked.length);
                    img.memory.write(0, relinked);
                }));
    }

    /** Cases about finding the kernel: banners, kallsyms, BTF, init_task, phys_base. */
    private static List<HostileCase> discovery(BaseImage b) {
        List<HostileCase> cases = new ArrayList<>();
        Set<Outcome> same = EnumSet.of(Outcome.CORRECT);
        cases.add(d(b, "fake-banner-first", "a 'Linux version 9.9.9-evil' banner below the kernel, found first by the scan",
                "correct: the real kernel", same,
                img -> img.memory.write(lowFree(img, 1), bytes("Linux version 9.9.9-evil (root@attacker) #1 SMP\n\0"))));
        cases.add(d(b, "copied-banner-first", "an exact copy of the kernel's banner below the kernel",
                "correct: the real kernel", same,
                img -> img.memory.write(lowFree(img, 1), bytes(img.profile.banner() + "\n\0"))));
        cases.add(d(b, "banner-spray", "300 copies of the kernel's banner below it, 512 bytes apart",
                "correct: the real kernel", same, img -> {
                    long first = lowFree(img, 38);
                    for (int i = 0; i < 300; i++) {
                        img.memory.write(first + 512L * i, bytes(img.profile.banner() + "\n\0"));
                    }
                }));
        cases.add(d(b, "fake-kallsyms-first", "a copy of the kallsyms token table and index after a fake banner below the kernel",
                "correct: the real kernel", same, img -> {
                    KallsymsAt k = kallsyms(img);
                    int length = k.decoded().tokenIndex() + 512 - k.decoded().tokenTable();
                    byte[] tables = new byte[length];
                    img.memory.read(k.pa(k.decoded().tokenTable()), tables, 0, length);
                    long at = lowFree(img, 4);
                    img.memory.write(at, bytes(img.profile.banner() + "\n\0"));
                    img.memory.write(at + 4096, tables);
                }));
        cases.add(d(b, "kallsyms-decoys", "a fake banner followed by 24 copies of the kallsyms token table and index "
                        + "below the kernel (each must be decoded to be refuted)", "correct: the real kernel", same,
                img -> {
                    KallsymsAt k = kallsyms(img);
                    int length = k.decoded().tokenIndex() + 512 - k.decoded().tokenTable();
                    byte[] tables = new byte[length];
                    img.memory.read(k.pa(k.decoded().tokenTable()), tables, 0, length);
                    long at = lowFree(img, 120);
                    img.memory.write(at, bytes(img.profile.banner() + "\n\0"));
                    for (int i = 0; i < 24; i++) {
                        img.memory.write(at + 4096 + 20480L * i, tables);
                    }
                }));
        cases.add(d(b, "second-init-task", "a copy of init_task (comm swapper/0) below the kernel",
                "correct: the real init_task, found by its symbol", same, img -> {
                    int size = (int) img.o().taskStructSize();
                    byte[] init = new byte[size];
                    img.memory.read(img.symbolPa("init_task"), init, 0, size);
                    img.memory.write(lowFree(img, size / 4096 + 1), init);
                }));
        cases.add(d(b, "kallsyms-names-zeroed", "the first 64 KiB of kallsyms_names zeroed",
                "typed error: no consistent kallsyms, no kernel", TYPED_ONLY, img -> {
                    KallsymsAt k = kallsyms(img);
                    img.memory.write(k.pa(k.decoded().namesPos()), new byte[64 << 10]);
                }));
        cases.add(d(b, "kallsyms-markers-noise", "kallsyms_markers overwritten with random bytes",
                "typed error: no consistent kallsyms", TYPED_ONLY, img -> {
                    KallsymsAt k = kallsyms(img);
                    int markers = (k.decoded().names().length + 255) / 256 * 4;
                    noise(img, k.pa(k.decoded().markersPos()), markers, 1);
                }));
        cases.add(d(b, "kallsyms-offsets-noise", "every kallsyms_offsets entry random",
                "typed error: the symbols fail the image's own checks", TYPED_ONLY, img -> {
                    KallsymsAt k = kallsyms(img);
                    noise(img, k.pa(k.decoded().offsetsPos()), 4 * k.decoded().names().length, 2);
                }));
        cases.add(d(b, "kallsyms-base-shifted", "kallsyms_relative_base moved by 2 MiB (every symbol shifted)",
                "typed error: phys_base disagrees with the banner's position", TYPED_ONLY, img -> {
                    KallsymsAt k = kallsyms(img);
                    long at = k.pa(k.decoded().relativeBasePos());
                    img.memory.writeLong(at, img.memory.readLong(at) + 2 * MIB);
                }));
        cases.add(d(b, "btf-truncated", "the second half of the BTF blob zeroed",
                "typed error: BTF unreadable", TYPED_ONLY, img -> {
                    long start = img.symbolPa("__start_BTF"), stop = img.symbolPa("__stop_BTF");
                    long half = start + (stop - start) / 2;
                    img.memory.write(half, new byte[(int) (stop - half)]);
                }));
        cases.add(d(b, "btf-magic", "the BTF magic zeroed", "typed error: not BTF", TYPED_ONLY,
                img -> img.memory.write(img.symbolPa("__start_BTF"), new byte[2])));
        cases.add(d(b, "btf-type-noise", "64 KiB of random bytes in the middle of the BTF type section",
                "a typed error, or the real kernel if the types the engine reads survive",
                EnumSet.of(Outcome.TYPED_ERROR, Outcome.CORRECT), img -> {
                    long start = img.symbolPa("__start_BTF"), stop = img.symbolPa("__stop_BTF");
                    noise(img, start + (stop - start) / 3, 64 << 10, 3);
                }));
        if (b.kind() == Base.LAB_IMAGE) { // in an image that never ran, the fields around pid are zero like it
            cases.add(d(b, "btf-pid-offset-moved", "BTF says task_struct.pid is 8 bytes further than it is",
                    "typed error: init_task fails its self-check (a pid of 0)", TYPED_ONLY, img -> {
                        long start = img.symbolPa("__start_BTF"), stop = img.symbolPa("__stop_BTF");
                        byte[] blob = new byte[(int) (stop - start)];
                        img.memory.read(start, blob, 0, blob.length);
                        int at = BtfEdits.memberRecord(blob, "task_struct", "pid");
                        long bits = Btf.u32(blob, at + 8);
                        img.memory.writeInt(start + at + 8, (int) (bits + 64));
                    }));
        }
        cases.add(d(b, "pgtable-l5-lie", "__pgtable_l5_enabled set on a guest that runs 4-level paging",
                "correct: the paging mode the page tables have", same,
                img -> img.memory.writeInt(img.symbolPa("__pgtable_l5_enabled"), 1)));
        cases.add(d(b, "init-task-comm", "init_task.comm overwritten with 'evil'",
                "typed error: no image whose init_task is swapper", TYPED_ONLY, img -> img.memory.write(
                        img.symbolPa("init_task") + img.o().taskComm(), bytes("evil\0"))));
        cases.add(d(b, "init-task-pid", "init_task.pid set to 1", "typed error: init_task fails its self-check",
                TYPED_ONLY, img -> img.memory.writeInt(img.symbolPa("init_task") + img.o().taskPid(), 1)));
        cases.add(d(b, "phys-base-wrong", "the phys_base variable moved by 2 MiB",
                "typed error: phys_base disagrees with the banner's position", TYPED_ONLY, img -> {
                    long at = img.symbolPa("phys_base");
                    img.memory.writeLong(at, img.memory.readLong(at) + 2 * MIB);
                }));
        return cases;
    }
}
