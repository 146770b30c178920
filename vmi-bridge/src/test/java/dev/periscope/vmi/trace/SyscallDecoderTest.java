package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.linux.SyntheticGuest;
import dev.periscope.vmi.paging.X86AddressSpace;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingRecord;
import dev.periscope.vmi.ring.RingTestProducer;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Decoding against hand-made cases, each written as strace writes it: records go through the real ring (the test
 * producer writes them as the plugin does, pre-read data included) and the decoder renders them. Guest memory read
 * while a vCPU waits comes from a synthetic guest's page tables.
 */
class SyscallDecoderTest {

    /** Where the synthetic guest maps each process's user page (its argv lives at the start). */
    static final long USER_PAGE = 0x7ffc00001000L;
    static final long CR3 = 0x12_3000L;
    static final long KEY = 0xffffc90000a13000L;

    private Path dir;
    private EventRing ring;
    private RingTestProducer producer;
    private SyntheticGuest guest;
    private SyscallDecoder decoder;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("periscope-decoder");
        ring = EventRing.create(dir.resolve("d.ring"), 1, 64, RingToken.random());
        producer = new RingTestProducer(ring.path(), 0);
        guest = new SyntheticGuest(8 << 20);
        decoder = new SyscallDecoder(SyscallTable.builtin(), guest.memory, false);
    }

    @AfterEach
    void tearDown() throws IOException {
        producer.close();
        ring.close();
        Files.deleteIfExists(dir);
    }

    // ---------------------------------------------------------------- helpers

    private TraceEvent.Syscall entry(String name, long... args) {
        return entry(name, -1, null, args);
    }

    /** The entry of {@code name} with {@code data} pre-read from argument {@code dataArg} (M5). */
    private TraceEvent.Syscall entry(String name, int dataArg, byte[] data, long... args) {
        producer.syscall(CR3, nr(name), Arrays.copyOf(args, 6), false, KEY, dataArg, data);
        return single(r -> decoder.entry(r, 42, "sh", true, r.synchronous()));
    }

    /** {@code entry} returning {@code ret} with {@code data} pre-read from output argument {@code dataArg}. */
    private TraceEvent.Syscall exit(TraceEvent.Syscall entry, long ret, int dataArg, byte[] data) {
        producer.syscallExit(CR3, KEY, entry.number(), ret, false, dataArg, data);
        return single(r -> decoder.exit(entry, r, true, r.synchronous()));
    }

    private TraceEvent.Syscall call(String name, long ret, long... args) {
        return exit(entry(name, args), ret, -1, null);
    }

    private interface Decode {
        TraceEvent.Syscall decode(RingRecord r);
    }

    private TraceEvent.Syscall single(Decode d) {
        List<TraceEvent.Syscall> out = new ArrayList<>();
        ring.poll(r -> out.add(d.decode(r)), 16);
        assertThat(out).hasSize(1);
        return out.getFirst();
    }

    private static long nr(String name) {
        int n = SyscallTable.builtin().number(name);
        assertThat(n).as(name).isNotNegative();
        return n;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] le(long... words) {
        ByteBuffer b = ByteBuffer.allocate(8 * words.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long w : words) {
            b.putLong(w);
        }
        return b.array();
    }

    /** How strace writes the call, without the duration. */
    private static String line(TraceEvent.Syscall s) {
        return s.toString().replaceFirst(" <[0-9.]+>$", "");
    }

    // ---------------------------------------------------------------- files

    @Test
    void openatShowsTheDirectoryFdThePathAndTheFlagsByName() {
        TraceEvent.Syscall e = entry("openat", 1, bytes("/etc/passwd\0garbage"), -100, 0x7ffd0000L, 02000000, 0);
        assertThat(e.call()).isEqualTo("openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC)");
        assertThat(e.result().status()).isEqualTo(TraceEvent.Status.NOT_TRACED);
        TraceEvent.Syscall done = exit(e, 3, -1, null);
        assertThat(line(done)).isEqualTo("42 openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3");
        assertThat(done.result()).extracting(TraceEvent.Result::value, TraceEvent.Result::errno).containsExactly(3L, null);
        assertThat(done.toString()).matches(".* = 3 <\\d+\\.\\d{6}>");
    }

    @Test
    void theModeShowsOnlyWhenTheCallCreates() {
        TraceEvent.Syscall e = entry("openat", 1, bytes("/tmp/x\0"), -100, 0x7ffd0000L, 01101, 0600);
        assertThat(e.call()).isEqualTo("openat(AT_FDCWD, \"/tmp/x\", O_WRONLY|O_CREAT|O_TRUNC, 0600)");
        assertThat(entry("open", 0, bytes("/x\0"), 0x7ffd0000L, 2, 0777).call()).isEqualTo("open(\"/x\", O_RDWR)");
    }

    @Test
    void failuresShowMinusOneTheErrnoNameAndItsText() {
        TraceEvent.Syscall done = exit(entry("openat", 1, bytes("/nonexistent\0"), -100, 0x7ffd0000L, 0, 0), -2,
                -1, null);
        assertThat(line(done)).isEqualTo("42 openat(AT_FDCWD, \"/nonexistent\", O_RDONLY) = -1 ENOENT (No such file or directory)");
        assertThat(done.result().errno()).isEqualTo("ENOENT");
        assertThat(done.result().value()).isEqualTo(-2);
        assertThat(line(call("close", -9, 3))).isEqualTo("42 close(3) = -1 EBADF (Bad file descriptor)");
        assertThat(call("read", -512, 0, 0x1000, 10).result().text())
                .isEqualTo("? ERESTARTSYS (To be restarted if SA_RESTART is set)");
    }

    @Test
    void signedIntegersStaySigned() {
        // a 32-bit -1 in a 64-bit register (as a C int argument arrives) is -1, not 0xffffffff
        TraceEvent.Syscall w = call("wait4", -10, 0xffffffffL, 0, 1, 0);
        assertThat(line(w)).isEqualTo("42 wait4(-1, NULL, WNOHANG, NULL) = -1 ECHILD (No child processes)");
        assertThat(call("kill", 0, 0xffffffffL, 15).call()).isEqualTo("kill(-1, SIGTERM)");
        assertThat(call("lseek", 0, 3, -5, 2).call()).isEqualTo("lseek(3, -5, SEEK_END)");
    }

    @Test
    void callsWithoutArgumentsShowNone() {
        assertThat(line(call("getpid", 1234, 7, 8, 9, 10, 11, 12))).isEqualTo("42 getpid() = 1234");
        assertThat(call("rt_sigreturn", 0, 0xdead, 0xbeef).call()).isEqualTo("rt_sigreturn()");
        assertThat(entry("sched_yield").args()).isEmpty();
    }

    @Test
    void readShowsWhatWasReadAtItsReturnAndAPointerBefore() {
        TraceEvent.Syscall e = entry("read", 3, 0x7ffd1000L, 4096);
        assertThat(e.call()).isEqualTo("read(3, 0x7ffd1000, 4096)");
        TraceEvent.Syscall done = exit(e, 30, 1, bytes("root:x:0:0:root:/root:/bin/sh\n"));
        assertThat(line(done)).isEqualTo("42 read(3, \"root:x:0:0:root:/root:/bin/sh\\n\", 4096) = 30");
        // a failed read shows the pointer: the kernel wrote nothing
        assertThat(call("read", -9, 99, 0x7ffd1000L, 10).call()).isEqualTo("read(99, 0x7ffd1000, 10)");
    }

    @Test
    void buffersBeyondThePreReadAreMarkedTruncated() {
        byte[] a = new byte[64];
        Arrays.fill(a, (byte) 'a');
        assertThat(entry("write", 1, a, 1, 0x7ffd2000L, 100).call())
                .isEqualTo("write(1, \"" + "a".repeat(64) + "\"..., 100)");
        assertThat(entry("write", 1, bytes("hello\nworld"), 1, 0x7ffd2000L, 6).call())
                .isEqualTo("write(1, \"hello\\n\", 6)");
        // a path with no NUL in the pre-read copy is cut short
        byte[] longPath = new byte[64];
        Arrays.fill(longPath, (byte) 'p');
        assertThat(entry("unlink", 0, longPath, 0x7ffd3000L).call()).isEqualTo("unlink(\"" + "p".repeat(64) + "\"...)");
    }

    @Test
    void stringsAreQuotedAsStraceQuotesThem() {
        byte[] b = {'a', '"', '\\', '\n', '\t', 0x1b, '[', 0, '1', 0x7f, (byte) 0xff};
        assertThat(StraceFormat.quote(b, b.length, false)).isEqualTo("\"a\\\"\\\\\\n\\t\\33[\\0001\\177\\377\"");
        assertThat(StraceFormat.quote(b, 1, true)).isEqualTo("\"a\"...");
    }

    @Test
    void fstatShowsTheStatBufferAtItsReturn() {
        byte[] st = new byte[64];
        ByteBuffer w = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN);
        w.putInt(24, 0100644);
        w.putLong(48, 30);
        TraceEvent.Syscall done = exit(entry("fstat", 3, 0x7ffd4000L), 0, 1, st);
        assertThat(line(done)).isEqualTo("42 fstat(3, {st_mode=S_IFREG|0644, st_size=30, ...}) = 0");
        w.putInt(24, 041777);
        assertThat(exit(entry("newfstatat", 1, bytes("/tmp\0"), -100, 0x7ffd0000L, 0x7ffd4000L, 0), 0, 2, st).call())
                .isEqualTo("newfstatat(AT_FDCWD, \"/tmp\", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=30, ...}, 0)");
        w.putInt(24, 020620);
        w.putLong(40, 0x8801);
        assertThat(exit(entry("fstat", 0, 0x7ffd4000L), 0, 1, st).call())
                .isEqualTo("fstat(0, {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 1), ...})");
    }

    @Test
    void memoryCallsShowProtectionAndMappingFlagsAndAddressesInHex() {
        TraceEvent.Syscall m = call("mmap", 0x7f3a1c000000L, 0, 8192, 3, 0x22, 0xffffffffL, 0);
        assertThat(line(m)).isEqualTo("42 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3a1c000000");
        assertThat(call("mprotect", 0, 0x7f3a1c000000L, 4096, 0).call()).isEqualTo("mprotect(0x7f3a1c000000, 4096, PROT_NONE)");
        assertThat(line(call("brk", 0x55d0c4a21000L, 0))).isEqualTo("42 brk(NULL) = 0x55d0c4a21000");
        assertThat(call("mmap", -12, 0, 1L << 40, 1, 0x802, 3, 0x2000).result().text())
                .isEqualTo("-1 ENOMEM (Cannot allocate memory)");
        assertThat(call("mmap", 0x7f00L, 0, 4096, 1, 0x802, 3, 0x2000).call())
                .isEqualTo("mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0x2000)");
    }

    @Test
    void processCallsShowCloneFlagsSignalsAndWaitStatuses() {
        assertThat(call("clone", 1234, 0x1200011, 0, 0, 0x7f0012340a10L, 0).call())
                .isEqualTo("clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x7f0012340a10, NULL)");
        assertThat(call("kill", 0, 123, 0).call()).isEqualTo("kill(123, 0)");
        assertThat(call("tgkill", 0, 1, 2, 34).call()).isEqualTo("tgkill(1, 2, SIGRT_2)");
        TraceEvent.Syscall w = exit(entry("wait4", 0xffffffffL, 0x7ffd5000L, 0, 0), 77, 1, le(0x0900L));
        assertThat(line(w)).isEqualTo("42 wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 9}], 0, NULL) = 77");
        assertThat(exit(entry("wait4", 5, 0x7ffd5000L, 0, 0), 5, 1, le(0x89L)).call())
                .contains("[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL && WCOREDUMP(s)}]");
        assertThat(line(call("exit_group", 0, 0))).startsWith("42 exit_group(0)");
    }

    @Test
    void signalMasksAndActionsShowAsStraceWritesThem() {
        TraceEvent.Syscall mask = exit(entry("rt_sigprocmask", 1, le(1L << 16), 0, 0x7ffd6000L, 0x7ffd6008L, 8), 0,
                2, le(0));
        assertThat(mask.call()).isEqualTo("rt_sigprocmask(SIG_BLOCK, [CHLD], [], 8)");
        byte[] act = le(1, 0x04000000L, 0x401000, 0);
        TraceEvent.Syscall sa = exit(entry("rt_sigaction", 1, act, 10, 0x7ffd6000L, 0x7ffd6100L, 8), 0, 2,
                le(0, 0, 0, 0));
        assertThat(sa.call()).isEqualTo("rt_sigaction(SIGUSR1, {sa_handler=SIG_IGN, sa_mask=[], "
                + "sa_flags=SA_RESTORER, sa_restorer=0x401000}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8)");
        assertThat(StraceFormat.sigset(~((1L << 8) | (1L << 18)))).isEqualTo("~[KILL STOP]");
        assertThat(StraceFormat.sigset((1L << 31) | (1L << 32))).isEqualTo("[RTMIN RT_1]");
    }

    @Test
    void pipesSocketsAndTimesShowTheirStructs() {
        assertThat(exit(entry("pipe2", 0x7ffd7000L, 02000000), 0, 0, new byte[] {3, 0, 0, 0, 4, 0, 0, 0}).call())
                .isEqualTo("pipe2([3, 4], O_CLOEXEC)");
        assertThat(call("socket", 3, 1, 0x80801, 0).call())
                .isEqualTo("socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)");
        byte[] un = new byte[110];
        un[0] = 1;
        System.arraycopy(bytes("/dev/log"), 0, un, 2, 8);
        assertThat(entry("connect", 1, Arrays.copyOf(un, 64), 3, 0x7ffd8000L, 110).call())
                .isEqualTo("connect(3, {sa_family=AF_UNIX, sun_path=\"/dev/log\"}, 110)");
        byte[] in = {2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
        assertThat(entry("connect", 1, in, 3, 0x7ffd8000L, 16).call())
                .isEqualTo("connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"127.0.0.1\")}, 16)");
        assertThat(entry("nanosleep", 0, le(1, 500), 0x7ffd9000L, 0).call())
                .isEqualTo("nanosleep({tv_sec=1, tv_nsec=500}, NULL)");
        assertThat(exit(entry("prlimit64", 0, 3, 0, 0x7ffd9000L), 0, 3, le(8192 * 1024, -1)).call())
                .isEqualTo("prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY})");
    }

    @Test
    void commandsDecideWhatFollowsThem() {
        assertThat(call("fcntl", 0x8002, 3, 3, 0xdead).call()).isEqualTo("fcntl(3, F_GETFL)");
        assertThat(call("fcntl", 0, 3, 2, 1).call()).isEqualTo("fcntl(3, F_SETFD, FD_CLOEXEC)");
        assertThat(call("fcntl", 10, 3, 1030, 10).call()).isEqualTo("fcntl(3, F_DUPFD_CLOEXEC, 10)");
        assertThat(call("futex", 1, 0x7f00L, 129, 1, 0, 0, 0).call()).isEqualTo("futex(0x7f00, FUTEX_WAKE_PRIVATE, 1)");
        assertThat(call("arch_prctl", 0, 0x1002, 0x7f00L).call()).isEqualTo("arch_prctl(ARCH_SET_FS, 0x7f00)");
        assertThat(line(call("umask", 022, 077))).isEqualTo("42 umask(077) = 022");
        assertThat(call("ioctl", 0, 0, 0x5401, 0x7ffdL).call()).isEqualTo("ioctl(0, TCGETS, 0x7ffd)");
    }

    @Test
    void callsWithoutASignatureShowTheirSixRegisters() {
        TraceEvent.Syscall e = exit(entry("pkey_alloc", 1, 2), 0, -1, null);
        assertThat(e.call()).isEqualTo("pkey_alloc(0x1, 0x2, 0, 0, 0, 0)");
        producer.syscall(CR3, 999, new long[6], false, KEY, -1, null);
        assertThat(single(r -> decoder.entry(r, 42, "sh", true, false)).call()).startsWith("syscall_999(0, ");
    }

    @Test
    void synchronousMethodsReadStringsAndArgvFromTheCallersMemory() {
        // the user page of a synthetic process holds: "/bin/ls\0", "ls\0", "-l\0", then argv and envp arrays
        long dtb = guest.dtbOf(guest.task(7, "sh", 0, false, "x"));
        long pa = new X86AddressSpace(guest.memory, dtb, false).translate(USER_PAGE);
        byte[] page = new byte[256];
        System.arraycopy(bytes("/bin/ls\0ls\0-l\0"), 0, page, 0, 14);
        ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN).putLong(64, USER_PAGE + 8).putLong(72, USER_PAGE + 11)
                .putLong(80, 0).putLong(96, USER_PAGE + 8).putLong(104, 0);
        guest.memory.write(pa, page);
        producer.syscall(dtb, nr("execve"), new long[] {USER_PAGE, USER_PAGE + 64, USER_PAGE + 96, 0, 0, 0}, true,
                KEY, -1, null);
        TraceEvent.Syscall e = single(r -> decoder.entry(r, 7, "sh", true, r.synchronous()));
        assertThat(e.call()).isEqualTo("execve(\"/bin/ls\", [\"ls\", \"-l\"], 0x7ffc00001060 /* 1 var */)");
        // asynchronous: no guest reads, pointers stay pointers
        producer.syscall(dtb, nr("execve"), new long[] {USER_PAGE, USER_PAGE + 64, USER_PAGE + 96, 0, 0, 0}, false,
                KEY, -1, null);
        assertThat(single(r -> decoder.entry(r, 7, "sh", true, r.synchronous())).call())
                .isEqualTo("execve(0x7ffc00001000, 0x7ffc00001040, 0x7ffc00001060)");
        // an unmapped pointer stays a pointer even when the vCPU waits
        producer.syscall(dtb, nr("unlink"), new long[] {0x10000, 0, 0, 0, 0, 0}, true, KEY, -1, null);
        assertThat(single(r -> decoder.entry(r, 7, "sh", true, r.synchronous())).call()).isEqualTo("unlink(0x10000)");
    }

    @Test
    void theTableNamesCallsAsUserSpaceDoes() {
        SyscallTable t = SyscallTable.builtin();
        assertThat(t.source()).isEqualTo(SyscallTable.Source.BUILTIN_FALLBACK);
        assertThat(t.name(0)).isEqualTo("read");
        assertThat(t.name(5)).isEqualTo("fstat");
        assertThat(t.name(262)).isEqualTo("newfstatat");
        assertThat(t.name(462)).isEqualTo("mseal");
        assertThat(t.name(100000)).isEqualTo("syscall_100000");
        assertThat(t.number("exit_group")).isEqualTo(231);
        assertThat(t.disagreements(t)).isEmpty();
    }
}
