package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.driver.VcpuRegisters;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of an x86-64 ELF core that hold guest memory: its PT_LOAD segments (guest physical address in
 * {@code p_paddr}, bytes at {@code p_offset}) and, from QEMU's {@code dump-guest-memory}, one "QEMU" note per vCPU
 * ({@code QEMUCPUState}, target/i386/arch_dump.c: general registers, segments, CR0-CR4, then optional fields that
 * {@code size} says are there). The file is untrusted: counts are bounded and every segment must lie inside it.
 */
record ElfCore(List<Segment> segments, List<VcpuRegisters> registers) {

    /** Guest physical {@code [physical, physical + length)} is file bytes from {@code offset}. */
    record Segment(long physical, long offset, long length) {
    }

    private static final int PT_LOAD = 1;
    private static final int PT_NOTE = 4;
    private static final int PN_XNUM = 0xffff;
    private static final int MAX_SEGMENTS = 4096;
    private static final long MAX_NOTES = 16L << 20;
    private static final int MAX_VCPUS = 4096;
    /** x86-64's widest guest physical address space (52 bits). */
    private static final long MAX_PHYSICAL = 1L << 52;
    // QEMUCPUState: u32 version, u32 size, 18 u64 (rax..r15, rip, rflags), 10 segments of 24 bytes, cr[5], then
    // kernel_gs_base when size says so.
    private static final int CPU_RIP = 8 + 16 * 8;
    private static final int CPU_GS_BASE = 8 + 18 * 8 + 4 * 24 + 16;
    private static final int CPU_CR3 = 8 + 18 * 8 + 10 * 24 + 3 * 8;
    private static final int CPU_CR4 = CPU_CR3 + 8;
    private static final int CPU_KERNEL_GS_BASE = CPU_CR4 + 8;

    static ElfCore read(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            ByteBuffer h = read(channel, 0, 64);
            if (h.get(4) != 2 || h.get(5) != 1) {
                throw bad(file, "not a 64-bit little-endian ELF file");
            }
            if ((h.getShort(16) & 0xffff) != 4 || (h.getShort(18) & 0xffff) != 62) {
                throw bad(file, "not an x86-64 ELF core (e_type " + (h.getShort(16) & 0xffff) + ", e_machine "
                        + (h.getShort(18) & 0xffff) + ")");
            }
            long phoff = h.getLong(0x20);
            int phentsize = h.getShort(0x36) & 0xffff;
            long phnum = h.getShort(0x38) & 0xffff;
            if (phnum == PN_XNUM) { // more segments than fit: the count is section 0's sh_info
                long shoff = h.getLong(0x28);
                if (shoff <= 0 || shoff > size - 64) {
                    throw bad(file, "extended segment count without a section header");
                }
                phnum = read(channel, shoff, 64).getInt(0x2c) & 0xffffffffL;
            }
            if (phentsize != 56 || phnum == 0 || phnum > MAX_SEGMENTS || phoff < 64 || phoff > size - phnum * 56) {
                throw bad(file, phnum + " program headers of " + phentsize + " bytes at " + phoff
                        + " do not fit (at most " + MAX_SEGMENTS + ")");
            }
            ByteBuffer ph = read(channel, phoff, (int) (phnum * 56));
            List<Segment> segments = new ArrayList<>();
            List<VcpuRegisters> registers = new ArrayList<>();
            long notes = 0;
            for (int i = 0; i < phnum; i++) {
                int at = i * 56;
                int type = ph.getInt(at);
                long offset = ph.getLong(at + 8);
                long physical = ph.getLong(at + 24);
                long fileSize = ph.getLong(at + 32);
                if (fileSize == 0 || (type != PT_LOAD && type != PT_NOTE)) {
                    continue;
                }
                if (offset < 0 || fileSize < 0 || offset > size || fileSize > size - offset) {
                    throw bad(file, "segment " + i + " (0x" + Long.toHexString(fileSize) + " bytes at 0x"
                            + Long.toHexString(offset) + ") lies outside the file's " + size + " bytes");
                }
                if (type == PT_LOAD) {
                    if (physical < 0 || physical > MAX_PHYSICAL - fileSize) {
                        throw bad(file, "segment " + i + " at guest physical 0x" + Long.toHexString(physical)
                                + " (0x" + Long.toHexString(fileSize) + " bytes) lies past x86-64's 52-bit"
                                + " address space");
                    }
                    segments.add(new Segment(physical, offset, fileSize));
                } else {
                    notes += fileSize;
                    if (notes > MAX_NOTES) {
                        throw bad(file, "more than " + MAX_NOTES + " bytes of notes");
                    }
                    qemuCpuStates(read(channel, offset, (int) fileSize), registers);
                }
            }
            if (segments.isEmpty()) {
                throw bad(file, "no PT_LOAD segment: no guest memory");
            }
            return new ElfCore(List.copyOf(segments), List.copyOf(registers));
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot read ELF core " + file + ": " + e.getMessage(), e);
        }
    }

    /** Registers from each "QEMU" note, in note order (QEMU writes one per vCPU, in vCPU order). */
    private static void qemuCpuStates(ByteBuffer notes, List<VcpuRegisters> out) {
        int at = 0;
        while (at + 12 <= notes.limit() && out.size() < MAX_VCPUS) {
            long nameSize = notes.getInt(at) & 0xffffffffL;
            long descSize = notes.getInt(at + 4) & 0xffffffffL;
            long name = at + 12L;
            long desc = name + align4(nameSize);
            long next = desc + align4(descSize);
            if (next > notes.limit()) {
                return; // a damaged note ends the list
            }
            if (nameSize == 5 && notes.get((int) name) == 'Q' && notes.get((int) name + 1) == 'E'
                    && notes.get((int) name + 2) == 'M' && notes.get((int) name + 3) == 'U' && descSize >= CPU_CR4 + 8) {
                int d = (int) desc;
                int stateSize = notes.getInt(d + 4);
                long kernelGs = stateSize >= CPU_KERNEL_GS_BASE + 8 && descSize >= CPU_KERNEL_GS_BASE + 8
                        ? notes.getLong(d + CPU_KERNEL_GS_BASE) : 0;
                out.add(new VcpuRegisters(out.size(), notes.getLong(d + CPU_CR3), notes.getLong(d + CPU_CR4), 0,
                        notes.getLong(d + CPU_RIP), notes.getLong(d + CPU_GS_BASE), kernelGs));
            }
            at = (int) next;
        }
    }

    private static long align4(long n) {
        return (n + 3) & ~3L;
    }

    private static ByteBuffer read(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                break;
            }
        }
        return buffer.rewind();
    }

    private static PlatformUnavailableException bad(Path file, String why) {
        return new PlatformUnavailableException("ELF core " + file + ": " + why);
    }
}
