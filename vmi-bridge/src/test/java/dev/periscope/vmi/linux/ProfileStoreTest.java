package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The persisted kernel profile: a stored build makes a new cache warm; stored files are hostile input (corrupt,
 * truncated, forged with a valid checksum, of another layout, renamed, unsafe permissions, a symlink) and every such
 * file is skipped, the kernel decoded from memory instead and the file replaced.
 */
class ProfileStoreTest {

    private static ByteArrayPhysicalMemory ram;
    private static KernelProfile cold;

    @TempDir
    Path dir;

    @BeforeAll
    static void kernel() {
        Optional<byte[]> vmlinux = RealKernels.vmlinux(RealKernels.DEFAULT);
        assumeTrue(vmlinux.isPresent(), "the lab's default kernel is not obtainable here");
        ram = RealKernels.asPhysicalMemory(vmlinux.get(), 1 << 20);
        cold = LinuxModel.profile(ram, new KernelProfileCache());
    }

    private ProfileStore store() {
        return ProfileStore.in(dir.resolve("profiles"));
    }

    /** Decodes the kernel with a store behind the cache: the store then holds one file, returned. */
    private Path stored() throws IOException {
        ProfileStore store = store();
        KernelProfile p = LinuxModel.profile(ram, new KernelProfileCache(store));
        assertThat(p.fromCache()).isFalse();
        return onlyFile(store);
    }

    private static Path onlyFile(ProfileStore store) throws IOException {
        try (Stream<Path> files = Files.list(store.directory())) {
            List<Path> list = files.toList();
            assertThat(list).hasSize(1);
            return list.getFirst();
        }
    }

    /** A profile read through a fresh cache over the store: what the next process would get. */
    private KernelProfile nextProcess() {
        return LinuxModel.profile(ram, new KernelProfileCache(store()));
    }

    private static void assertSameKernel(KernelProfile p) {
        assertThat(p.banner()).isEqualTo(cold.banner());
        assertThat(p.offsets()).isEqualTo(cold.offsets());
        assertThat(p.symbols()).isEqualTo(cold.symbols());
        assertThat(p.initTask()).isEqualTo(cold.initTask());
        assertThat(p.kernelDtb()).isEqualTo(cold.kernelDtb());
    }

    @Test
    void aStoredBuildMakesTheNextProcessWarm() throws IOException {
        Path file = stored();
        assertThat(file.getFileName().toString()).startsWith(cold.release() + "-").endsWith(".kprofile");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        KernelProfile warm = nextProcess();
        assertThat(warm.fromCache()).isTrue();
        assertSameKernel(warm);
        assertThat(warm.symbols().symbolAt(cold.initTask() + 8)).contains("init_task+0x8");
    }

    @Test
    void encodingRoundTripsEveryPart() {
        KernelProfileCache cache = new KernelProfileCache();
        LinuxModel.profile(ram, cache);
        KernelProfileCache.Build build = cache.all().getFirst();
        KernelProfileCache.Build back = ProfileStore.decode(ProfileStore.encode(build));
        assertThat(back.sameBuildAs(build)).isTrue();
        assertThat(back.linkSymbols()).isEqualTo(build.linkSymbols());
        assertThat(back.offsets()).isEqualTo(build.offsets());
        assertThat(back).usingRecursiveComparison().ignoringFields("linkSymbols").isEqualTo(build);
    }

    @Test
    void aCorruptFileIsSkippedAndReplaced() throws IOException {
        Path file = stored();
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length / 2] ^= 0x40;
        Files.write(file, bytes);
        assertThatThrownBy(() -> ProfileStore.decode(bytes)).isInstanceOf(GuestDataException.class)
                .hasMessageContaining("checksum");
        KernelProfile p = nextProcess();
        assertThat(p.fromCache()).isFalse();
        assertSameKernel(p);
        assertThat(nextProcess().fromCache()).as("the decoded build replaced the corrupt file").isTrue();
    }

    @Test
    void truncatedAndEmptyFilesAreSkipped() throws IOException {
        Path file = stored();
        byte[] bytes = Files.readAllBytes(file);
        for (int length : new int[] {0, 3, 8, 100, bytes.length / 3, bytes.length - 1}) {
            Files.write(file, java.util.Arrays.copyOf(bytes, length));
            assertThat(store().read(file)).as("%d bytes", length).isEmpty();
        }
        Files.write(file, java.util.Arrays.copyOf(bytes, 7));
        KernelProfile p = nextProcess();
        assertThat(p.fromCache()).isFalse();
        assertSameKernel(p);
    }

    @Test
    void forgedFilesWithValidChecksumsAreRejected() throws IOException {
        Path file = stored();
        byte[] good = Files.readAllBytes(file);
        ProfileStore store = store();
        // another format version, another magic
        assertRejected(store, file, resealed(good, b -> b.putInt(4, ProfileStore.VERSION + 1)), "format version");
        assertRejected(store, file, resealed(good, b -> b.putInt(0, 0x7f454c46)), "not a kernel profile");
        // struct offsets of another layout: one letter of the schema changed
        int schema = indexOf(good, "taskTasks:J".getBytes(StandardCharsets.US_ASCII));
        assertRejected(store, file, resealed(good, b -> b.put(schema, (byte) 'X')), "another layout");
        // a struct offset far outside any struct
        int firstOffset = schema + schemaLength(good, schema);
        assertRejected(store, file, resealed(good, b -> b.putLong(firstOffset + 4, 1L << 40)), "out of range");
        // trailing bytes before the checksum
        byte[] longer = java.util.Arrays.copyOf(good, good.length + 8);
        System.arraycopy(good, good.length - 4, longer, longer.length - 4, 4);
        assertRejected(store, file, reseal(longer), "after the symbol table");
        // a valid file under another build's name
        Path renamed = file.resolveSibling(cold.release() + "-0123456789abcdef.kprofile");
        Files.write(renamed, good);
        assertThat(store.read(renamed)).isEmpty();
        Files.delete(renamed);
    }

    @Test
    void forgedSymbolTablesFailTheirChecks() {
        byte[] names = "abc".getBytes(StandardCharsets.ISO_8859_1);
        long[] addresses = {0x1000, 0x2000, 0x3000};
        boolean[] absolute = new boolean[3];
        int[] starts = {0, 1, 2, 3};
        int[] slots = new int[8];
        int[] order = {0, 1, 2};
        assertThat(SymbolTable.packed(names, starts, addresses, absolute, slots, order).address("a")).isEmpty();
        assertThatThrownBy(() -> SymbolTable.packed(names, new int[] {0, 2, 1, 3}, addresses, absolute, slots, order))
                .hasMessageContaining("out of order");
        assertThatThrownBy(() -> SymbolTable.packed(names, new int[] {0, 1, 2, 4}, addresses, absolute, slots, order))
                .hasMessageContaining("lengths");
        assertThatThrownBy(() -> SymbolTable.packed(names, starts, addresses, absolute, new int[] {1, 2, 3}, order))
                .as("no empty slot: a probe could run forever").hasMessageContaining("hash index");
        assertThatThrownBy(() -> SymbolTable.packed(names, starts, addresses, absolute, new int[] {0, 9, 0, 0}, order))
                .hasMessageContaining("hash index");
        assertThatThrownBy(() -> SymbolTable.packed(names, starts, addresses, absolute, slots, new int[] {2, 1, 0}))
                .hasMessageContaining("address order");
        assertThatThrownBy(() -> SymbolTable.packed(names, starts, addresses, absolute, slots, new int[] {0, 5}))
                .hasMessageContaining("address order");
        // a hash index pointing every name at another symbol is structurally fine; lookups just miss
        SymbolTable wrong = SymbolTable.packed(names, starts, addresses, absolute, new int[] {3, 3, 3, 3, 0, 0, 0, 0},
                order);
        assertThat(wrong.address("a")).isEmpty();
    }

    @Test
    void randomDamageIsAlwaysACleanRejection() throws IOException {
        byte[] good = Files.readAllBytes(stored());
        Random random = new Random(19);
        int accepted = 0;
        for (int i = 0; i < 300; i++) {
            byte[] bad = good.clone();
            // damage the header and the small tables more often than the bulk of the names
            int at = random.nextInt(4) == 0 ? random.nextInt(bad.length - 4) : random.nextInt(Math.min(4096, bad.length - 4));
            bad[at] = (byte) random.nextInt(256);
            try {
                ProfileStore.decode(reseal(bad));
                accepted++;
            } catch (GuestDataException | IllegalArgumentException e) {
                // rejected cleanly: what a hostile file must come to
            }
        }
        // some single-byte changes are harmless (a name's letter): those decode; nothing else escapes
        assertThat(accepted).isLessThan(300);
    }

    @Test
    void aStoredBuildThatMemoryContradictsIsNotUsed() throws IOException {
        Path file = stored();
        KernelProfileCache.Build build = ProfileStore.decode(Files.readAllBytes(file));
        KernelOffsets lying = withComponent(build.offsets(), "taskComm", build.offsets().taskComm() + 8);
        KernelProfileCache.Build forged = new KernelProfileCache.Build(build.banner(), build.linkSymbols(), lying,
                build.btfTypes(), build.relativeBaseLink(), build.relativeBaseDelta(), build.tokenTableDelta(),
                build.tokenTable(), build.symbolCount(), build.btfSize());
        Files.write(file, ProfileStore.encode(forged)); // same identity, valid checksum, wrong comm offset
        assertThat(store().read(file)).isPresent();
        KernelProfile p = nextProcess();
        assertThat(p.fromCache()).as("init_task's comm did not read swapper/0: decoded again").isFalse();
        assertSameKernel(p);
    }

    @Test
    void filesOthersMayWriteAreNotRead() throws IOException {
        Path file = stored();
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw-rw-"));
        assertThat(store().read(file)).isEmpty();
        assertThat(nextProcess().fromCache()).isFalse();
    }

    @Test
    void symlinksAreNotFollowed() throws IOException {
        Path file = stored();
        Path elsewhere = dir.resolve("elsewhere");
        Files.move(file, elsewhere);
        Files.createSymbolicLink(file, elsewhere);
        assertThat(store().read(file)).isEmpty();
    }

    @Test
    void anUnsafeDirectoryIsRefused() throws IOException {
        Path open = dir.resolve("open");
        Files.createDirectory(open);
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> ProfileStore.in(open)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("writable by others");
        Path file = dir.resolve("file");
        Files.writeString(file, "x");
        assertThatThrownBy(() -> ProfileStore.in(file)).hasMessageContaining("not a directory");
        ProfileStore made = ProfileStore.in(dir.resolve("new/profiles"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(made.directory())))
                .isEqualTo("rwx------");
    }

    @Test
    void anOversizedFileIsNotRead() throws IOException {
        Path file = stored();
        try (var channel = java.nio.channels.FileChannel.open(file, Set.of(java.nio.file.StandardOpenOption.WRITE))) {
            channel.write(ByteBuffer.wrap(new byte[1]), ProfileStore.MAX_FILE + 1); // sparse: no real disk used
        }
        assertThat(store().read(file)).isEmpty();
    }

    @Test
    void theStoreKeepsABoundedNumberOfFiles() throws IOException {
        ProfileStore store = store();
        KernelProfileCache cache = new KernelProfileCache();
        LinuxModel.profile(ram, cache);
        KernelProfileCache.Build build = cache.all().getFirst();
        for (int i = 0; i < ProfileStore.MAX_FILES + 3; i++) {
            byte[] tokens = build.tokenTable().clone();
            tokens[0] = (byte) i; // another identity per file
            store.save(new KernelProfileCache.Build(build.banner(), build.linkSymbols(), build.offsets(),
                    build.btfTypes(), build.relativeBaseLink(), build.relativeBaseDelta(), build.tokenTableDelta(),
                    tokens, build.symbolCount(), build.btfSize()));
        }
        try (Stream<Path> files = Files.list(store.directory())) {
            assertThat(files.count()).isEqualTo(ProfileStore.MAX_FILES);
        }
    }

    // ---------------------------------------------------------------- helpers

    /** A copy of a record with one long component changed (whatever else the record holds). */
    private static <R extends Record> R withComponent(R record, String name, long value) {
        try {
            RecordComponent[] components = record.getClass().getRecordComponents();
            Object[] args = new Object[components.length];
            Class<?>[] types = new Class<?>[components.length];
            for (int i = 0; i < components.length; i++) {
                types[i] = components[i].getType();
                args[i] = components[i].getName().equals(name) ? value : components[i].getAccessor().invoke(record);
            }
            @SuppressWarnings("unchecked")
            R copy = (R) record.getClass().getDeclaredConstructor(types).newInstance(args);
            return copy;
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static void assertRejected(ProfileStore store, Path file, byte[] bytes, String why) throws IOException {
        assertThatThrownBy(() -> ProfileStore.decode(bytes)).isInstanceOf(GuestDataException.class)
                .hasMessageContaining(why);
        Files.write(file, bytes);
        assertThat(store.read(file)).as(why).isEmpty();
    }

    private interface Edit {
        void apply(ByteBuffer b);
    }

    private static byte[] resealed(byte[] good, Edit edit) {
        byte[] copy = good.clone();
        edit.apply(ByteBuffer.wrap(copy));
        return reseal(copy);
    }

    /** Recomputes the trailing CRC-32C, as a forger would. */
    private static byte[] reseal(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer.wrap(bytes).putInt(bytes.length - 4, (int) crc.getValue());
        return bytes;
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int k = 0; k < needle.length; k++) {
                if (haystack[i + k] != needle[k]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    /** The schema string's length (its u16 prefix sits just before it). */
    private static int schemaLength(byte[] bytes, int schemaStart) {
        return ByteBuffer.wrap(bytes).getShort(schemaStart - 2) & 0xffff;
    }
}
