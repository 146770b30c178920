package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kernel builds decoded before, kept in a directory so that a new process (the CLI, an agent after a restart,
 * another machine the files were copied to) reads a known kernel without decoding kallsyms and BTF again. One file
 * per build ({@code RELEASE-IDENTITY.kprofile}), the identity a hash of the banner, symbol count, BTF size and
 * kallsyms token table: what {@link KernelProfileCache} matches builds by.
 *
 * <p>The files are hostile input. The directory and every file must belong to this user and be writable by no one
 * else, or the store reads nothing from them; a file is read whole (at most {@link #MAX_FILE} bytes) and accepted only
 * when its CRC-32C, format version, layout of {@link KernelOffsets}, every length and index, and its name (the hash of
 * its own contents) agree. Even then a stored build is only a claim: discovery uses it for a guest only after that
 * guest's memory holds the build's kallsyms token table where the build says, {@code phys_base} where its symbols
 * say and an {@code init_task} that passes its self-check. Anything that fails is skipped (logged) and the kernel is
 * decoded from memory as if the file were not there; a decoded build replaces it.
 *
 * <p>Writes go to a temporary file renamed into place, so readers never see half a file. At most {@link #MAX_FILES}
 * files are kept: the least recently written go first. Thread-safe (no state but the directory).
 */
public final class ProfileStore {

    static final int MAGIC = 0x50534b50; // "PSKP"
    static final int VERSION = 1;
    static final long MAX_FILE = 64L << 20;
    static final int MAX_FILES = 32;
    private static final int HEADER_READ = 4096;
    private static final int MAX_SYMBOLS = 4_000_000;
    private static final String SUFFIX = ".kprofile";
    /** Largest struct member offset (or size) accepted from a file: task_struct is about 10 KiB. */
    private static final long MAX_OFFSET = 1L << 20;
    private static final Set<PosixFilePermission> FOREIGN_WRITE =
            Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);
    private static final Logger log = LoggerFactory.getLogger(ProfileStore.class);

    private final Path directory;

    private ProfileStore(Path directory) {
        this.directory = directory;
    }

    /**
     * A store in {@code directory}, created (mode 0700) when missing.
     *
     * @throws IllegalArgumentException the directory cannot be created, or is not one this user alone may write
     */
    public static ProfileStore in(Path directory) {
        Path dir = directory.toAbsolutePath().normalize();
        try {
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalArgumentException("cannot create the kernel profile directory " + dir + ": " + e.getMessage(), e);
        }
        Optional<String> unsafe = unsafe(dir, true);
        if (unsafe.isPresent()) {
            throw new IllegalArgumentException("kernel profile directory " + dir + " " + unsafe.get());
        }
        return new ProfileStore(dir);
    }

    /**
     * The directory a user's tools share when none is configured: {@code $PERISCOPE_PROFILE_CACHE}, else
     * {@code $XDG_CACHE_HOME/periscope/kernel-profiles}, else {@code ~/.cache/periscope/kernel-profiles}.
     */
    public static Path defaultDirectory() {
        String configured = System.getenv("PERISCOPE_PROFILE_CACHE");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("periscope").resolve("kernel-profiles");
    }

    public Path directory() {
        return directory;
    }

    /** Why a path may not be trusted (another owner, writable by others, not the kind expected), or empty. */
    private static Optional<String> unsafe(Path path, boolean directory) {
        try {
            PosixFileAttributes a = Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (directory ? !a.isDirectory() : !a.isRegularFile()) {
                return Optional.of(directory ? "is not a directory" : "is not a regular file");
            }
            String me = System.getProperty("user.name");
            if (!a.owner().getName().equals(me)) {
                return Optional.of("belongs to " + a.owner().getName() + ", not to " + me);
            }
            if (a.permissions().stream().anyMatch(FOREIGN_WRITE::contains)) {
                return Optional.of("is writable by others (" + PosixFilePermissions.toString(a.permissions()) + ")");
            }
            return Optional.empty();
        } catch (IOException | UnsupportedOperationException e) {
            return Optional.of("cannot be checked: " + e.getMessage());
        }
    }

    /** The stored builds whose banner is {@code banner}, each validated; files that fail are skipped. */
    List<KernelProfileCache.Build> load(String banner) {
        List<KernelProfileCache.Build> builds = new ArrayList<>();
        for (Path file : files()) {
            Header h = header(file);
            if (h != null && h.banner().equals(banner)) {
                read(file).ifPresent(builds::add);
            }
        }
        return builds;
    }

    /**
     * The stored builds whose {@code linux_banner} the guest holds where that build would have it, wherever KASLR
     * placed the kernel (2 MiB aligned: one place per aligned block). Reads only file headers and a few bytes per
     * block before a build matches, so probing a guest of an unknown kernel costs next to nothing. Files named in
     * {@code skip} (builds the caller holds already) are not read.
     */
    List<KernelProfileCache.Build> matching(PhysicalMemory memory, Set<String> skip) {
        List<KernelProfileCache.Build> builds = new ArrayList<>();
        for (Path file : files()) {
            if (skip.contains(file.getFileName().toString())) {
                continue;
            }
            Header h = header(file);
            if (h != null && holdsBanner(memory, h)) {
                read(file).ifPresent(builds::add);
            }
        }
        return builds;
    }

    private static boolean holdsBanner(PhysicalMemory memory, Header h) {
        byte[] expected = h.banner().getBytes(StandardCharsets.ISO_8859_1);
        byte[] seen = new byte[expected.length];
        long offset = (h.bannerLink() - KernelProfile.START_KERNEL_MAP) & (KernelDiscovery.PHYSICAL_ALIGN - 1);
        for (long at = offset; at + expected.length <= memory.size(); at += KernelDiscovery.PHYSICAL_ALIGN) {
            try {
                memory.read(at, seen, 0, seen.length);
                if (Arrays.equals(seen, expected)) {
                    return true;
                }
            } catch (PageNotPresentException e) {
                // a hole in guest RAM: no kernel here
            }
        }
        return false;
    }

    /** Writes a decoded build (replacing a file of the same identity); failures are logged, never thrown. */
    void save(KernelProfileCache.Build build) {
        Path target = directory.resolve(fileName(build));
        Path temporary = null;
        try {
            byte[] bytes = encode(build);
            temporary = Files.createTempFile(directory, ".writing-", SUFFIX,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.write(temporary, bytes);
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
            temporary = null;
            evict();
        } catch (IOException | RuntimeException e) {
            log.warn("cannot store the kernel profile of {} in {}: {}", KernelDiscovery.release(build.banner()),
                    directory, e.getMessage());
        } finally {
            if (temporary != null) {
                try {
                    Files.deleteIfExists(temporary);
                } catch (IOException ignored) {
                    // a stray temporary file is ignored by readers (wrong suffix prefix) and overwritten never
                }
            }
        }
    }

    /** Keeps the {@link #MAX_FILES} most recently written files. */
    private void evict() throws IOException {
        List<Path> files = files();
        if (files.size() <= MAX_FILES) {
            return;
        }
        List<Path> byAge = new ArrayList<>(files);
        byAge.sort(Comparator.comparing(ProfileStore::modified));
        for (Path old : byAge.subList(0, files.size() - MAX_FILES)) {
            Files.deleteIfExists(old);
        }
    }

    private static FileTime modified(Path file) {
        try {
            return Files.getLastModifiedTime(file, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }

    /** Profile files in the directory, by name (at most a bounded number are looked at). */
    private List<Path> files() {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(directory, "*" + SUFFIX)) {
            for (Path file : dir) {
                if (!file.getFileName().toString().startsWith(".")) {
                    files.add(file);
                }
                if (files.size() > 4 * MAX_FILES) {
                    break; // someone else's files: look at no more than a bounded number
                }
            }
        } catch (IOException e) {
            log.warn("cannot list kernel profiles in {}: {}", directory, e.getMessage());
        }
        files.sort(Comparator.naturalOrder());
        return files;
    }

    /** The name a build is stored under: its release (made safe) and its identity. */
    static String fileName(KernelProfileCache.Build build) {
        String release = KernelDiscovery.release(build.banner()).replaceAll("[^A-Za-z0-9._+-]", "_");
        if (release.length() > 64) {
            release = release.substring(0, 64);
        }
        return release + "-" + identity(build) + SUFFIX;
    }

    /** 16 hex digits of SHA-256 over what makes a build this build (as KernelProfileCache tells builds apart). */
    static String identity(KernelProfileCache.Build build) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(build.banner().getBytes(StandardCharsets.ISO_8859_1));
            sha.update(ByteBuffer.allocate(12).putInt(build.symbolCount()).putLong(build.btfSize()).array());
            sha.update(build.tokenTable());
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JDK", e);
        }
    }

    /** What a file claims in its first bytes, read before deciding to load it whole. */
    record Header(String banner, long bannerLink) {
    }

    private Header header(Path file) {
        Optional<String> unsafe = unsafe(file, false);
        if (unsafe.isPresent()) {
            log.warn("ignoring kernel profile {}: {}", file, unsafe.get());
            return null;
        }
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            ByteBuffer b = ByteBuffer.wrap(in.readNBytes(HEADER_READ));
            return readHeader(b);
        } catch (IOException | BufferUnderflowException | GuestDataException e) {
            log.warn("ignoring kernel profile {}: {}", file,
                    e instanceof BufferUnderflowException ? "truncated" : e.getMessage());
            return null;
        }
    }

    private static Header readHeader(ByteBuffer b) {
        if (b.getInt() != MAGIC) {
            throw new GuestDataException("not a kernel profile");
        }
        int version = b.getInt();
        if (version != VERSION) {
            throw new GuestDataException("format version " + version + ", this build reads " + VERSION);
        }
        String banner = string(b, 1024);
        if (!banner.startsWith("Linux version ") || banner.length() <= KernelDiscovery.BANNER.length) {
            throw new GuestDataException("no kernel banner");
        }
        return new Header(banner, b.getLong());
    }

    /** Reads and validates one file whole; empty (logged) when it is unsafe, corrupt or from another layout. */
    Optional<KernelProfileCache.Build> read(Path file) {
        Optional<String> unsafe = unsafe(file, false);
        if (unsafe.isPresent()) {
            log.warn("ignoring kernel profile {}: {}", file, unsafe.get());
            return Optional.empty();
        }
        try {
            long size = Files.size(file);
            if (size > MAX_FILE) {
                throw new GuestDataException(size + " bytes, more than " + MAX_FILE);
            }
            KernelProfileCache.Build build = decode(Files.readAllBytes(file));
            if (!file.getFileName().toString().equals(fileName(build))) {
                throw new GuestDataException("its contents are another build's (" + fileName(build) + ")");
            }
            return Optional.of(build);
        } catch (IOException | VmiException | IllegalArgumentException | BufferUnderflowException e) {
            log.warn("ignoring kernel profile {}: {}", file,
                    e instanceof BufferUnderflowException ? "truncated" : e.getMessage());
            return Optional.empty();
        }
    }

    // ---------------------------------------------------------------- the format
    // Big-endian. MAGIC, VERSION, banner, linux_banner's link address (the header), offsets schema and values, BTF
    // type count, kallsyms deltas and token table, symbol count, BTF size, the packed symbol table, then CRC-32C of
    // everything before it.

    static byte[] encode(KernelProfileCache.Build build) {
        SymbolTable s = build.linkSymbols();
        byte[] banner = build.banner().getBytes(StandardCharsets.ISO_8859_1);
        String schema = schema(KernelOffsets.class);
        List<Long> offsets = new ArrayList<>();
        values(build.offsets(), offsets);
        int n = s.size();
        long size = 4L + 4 + 2 + banner.length + 8 + 2 + schema.length() + 4 + 8L * offsets.size() + 4 + 8 + 8 + 8
                + 4 + build.tokenTable().length + 4 + 8 + 4 + 4 + s.nameBytes().length + 4L * (n + 1) + 8L * n + n + 4
                + 4L * s.slots().length + 4 + 4L * s.byAddress().length + 4;
        if (size > MAX_FILE) {
            throw new IllegalArgumentException("profile of " + size + " bytes is too large to store");
        }
        ByteBuffer b = ByteBuffer.allocate((int) size);
        b.putInt(MAGIC).putInt(VERSION);
        b.putShort((short) banner.length).put(banner);
        b.putLong(s.address("linux_banner").orElse(0));
        b.putShort((short) schema.length()).put(schema.getBytes(StandardCharsets.US_ASCII));
        b.putInt(offsets.size());
        offsets.forEach(b::putLong);
        b.putInt(build.btfTypes()).putLong(build.relativeBaseLink()).putLong(build.relativeBaseDelta())
                .putLong(build.tokenTableDelta());
        b.putInt(build.tokenTable().length).put(build.tokenTable());
        b.putInt(build.symbolCount()).putLong(build.btfSize());
        b.putInt(n);
        b.putInt(s.nameBytes().length).put(s.nameBytes());
        b.asIntBuffer().put(s.nameStarts());
        b.position(b.position() + 4 * (n + 1));
        b.asLongBuffer().put(s.linkAddresses());
        b.position(b.position() + 8 * n);
        for (boolean a : s.absolute()) {
            b.put((byte) (a ? 1 : 0));
        }
        b.putInt(s.slots().length);
        b.asIntBuffer().put(s.slots());
        b.position(b.position() + 4 * s.slots().length);
        b.putInt(s.byAddress().length);
        b.asIntBuffer().put(s.byAddress());
        b.position(b.position() + 4 * s.byAddress().length);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    static KernelProfileCache.Build decode(byte[] bytes) {
        if (bytes.length < 8) {
            throw new GuestDataException("truncated");
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer b = ByteBuffer.wrap(bytes);
        if (b.getInt(bytes.length - 4) != (int) crc.getValue()) {
            throw new GuestDataException("checksum mismatch (corrupt or truncated)");
        }
        b.limit(bytes.length - 4);
        Header header = readHeader(b);
        String schema = string(b, 8192);
        if (!schema.equals(schema(KernelOffsets.class))) {
            throw new GuestDataException("struct offsets of another layout (written by another Periscope build)");
        }
        long[] offsetValues = new long[count(b, 4096)];
        for (int i = 0; i < offsetValues.length; i++) {
            offsetValues[i] = b.getLong();
        }
        KernelOffsets offsets = build(KernelOffsets.class, offsetValues, new int[] {0});
        int btfTypes = b.getInt();
        long relativeBaseLink = b.getLong();
        long relativeBaseDelta = b.getLong();
        long tokenTableDelta = b.getLong();
        byte[] tokenTable = new byte[count(b, 64 * 1024)];
        b.get(tokenTable);
        int symbolCount = b.getInt();
        long btfSize = b.getLong();
        int n = count(b, MAX_SYMBOLS);
        byte[] names = new byte[count(b, Integer.MAX_VALUE)];
        b.get(names);
        int[] starts = ints(b, n + 1);
        long[] addresses = new long[n];
        need(b, 8L * n);
        b.asLongBuffer().get(addresses);
        b.position(b.position() + 8 * n);
        boolean[] absolute = new boolean[n];
        need(b, n);
        for (int i = 0; i < n; i++) {
            absolute[i] = b.get() != 0;
        }
        int[] slots = ints(b, count(b, 4 * MAX_SYMBOLS));
        int[] byAddress = ints(b, count(b, MAX_SYMBOLS));
        if (b.hasRemaining()) {
            throw new GuestDataException(b.remaining() + " bytes after the symbol table");
        }
        SymbolTable symbols = SymbolTable.packed(names, starts, addresses, absolute, slots, byAddress);
        if (symbols.address("linux_banner").orElse(0) != header.bannerLink()) {
            throw new GuestDataException("header and symbols disagree on linux_banner");
        }
        if (symbolCount != n || btfTypes < 0 || btfSize <= 0 || tokenTable.length == 0) {
            throw new GuestDataException("implausible counts");
        }
        return new KernelProfileCache.Build(header.banner(), symbols, offsets, btfTypes, relativeBaseLink,
                relativeBaseDelta, tokenTableDelta, tokenTable, symbolCount, btfSize);
    }

    private static String string(ByteBuffer b, int max) {
        int length = b.getShort() & 0xffff;
        if (length > max) {
            throw new GuestDataException("string of " + length + " bytes");
        }
        byte[] bytes = new byte[length];
        b.get(bytes);
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static int count(ByteBuffer b, int max) {
        int n = b.getInt();
        if (n < 0 || n > max || n > b.remaining()) {
            throw new GuestDataException("count " + n + " out of range");
        }
        return n;
    }

    private static void need(ByteBuffer b, long bytes) {
        if (bytes > b.remaining()) {
            throw new GuestDataException("truncated");
        }
    }

    private static int[] ints(ByteBuffer b, int n) {
        need(b, 4L * n);
        int[] values = new int[n];
        b.asIntBuffer().get(values);
        b.position(b.position() + 4 * n);
        return values;
    }

    // Struct offsets as the record's components, in order, so that members added to KernelOffsets (or its nested
    // records) change the schema and older files are simply not used.

    static String schema(Class<?> type) {
        StringBuilder s = new StringBuilder();
        for (RecordComponent c : type.getRecordComponents()) {
            s.append(c.getName());
            Class<?> t = c.getType();
            if (t == long.class || t == int.class) {
                s.append(t == long.class ? ":J;" : ":I;");
            } else if (t.isRecord()) {
                s.append("{").append(schema(t)).append("};");
            } else {
                throw new IllegalStateException("cannot store " + type.getSimpleName() + "." + c.getName());
            }
        }
        return s.toString();
    }

    private static void values(Record r, List<Long> out) {
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            Object v = accessor(c, r);
            if (v instanceof Record nested) {
                values(nested, out);
            } else {
                out.add(((Number) v).longValue());
            }
        }
    }

    private static Object accessor(RecordComponent c, Record r) {
        try {
            return c.getAccessor().invoke(r);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(e);
        }
    }

    private static <R> R build(Class<R> type, long[] values, int[] next) {
        RecordComponent[] components = type.getRecordComponents();
        Object[] args = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            Class<?> t = components[i].getType();
            types[i] = t;
            if (t.isRecord()) {
                args[i] = build(t, values, next);
            } else {
                if (next[0] >= values.length) {
                    throw new GuestDataException("fewer struct offsets than the layout has");
                }
                long v = values[next[0]++];
                if (v < -1 || v > MAX_OFFSET) {
                    throw new GuestDataException("struct offset " + components[i].getName() + " out of range");
                }
                args[i] = t == int.class ? (Object) (int) v : (Object) v;
            }
        }
        if (type == KernelOffsets.class && next[0] != values.length) {
            throw new GuestDataException("more struct offsets than the layout has");
        }
        try {
            Constructor<R> constructor = type.getDeclaredConstructor(types);
            return constructor.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new GuestDataException("struct offsets rejected: " + e.getCause().getMessage());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "ProfileStore[" + directory + "]";
    }
}
