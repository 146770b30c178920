package dev.periscope.vmi.linux;

import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Real Debian kernels for tests: the vmlinuz comes from {@code lab/lab.sh kernel-path} (which downloads and
 * caches the package); vmlinux is extracted from it (xz or zstd payload, decompressed with the host tool) and
 * laid out as the physical memory of a guest booted with nokaslr that never ran.
 */
public final class RealKernels {

    static final String DEFAULT = "";
    public static final String K612 = "linux-image-6.12.95+deb12-amd64-unsigned";
    private static final Map<String, Optional<byte[]>> VMLINUX = new ConcurrentHashMap<>();

    private RealKernels() {
    }

    /** vmlinux of a Debian kernel package ("" = the lab default), or empty when it cannot be obtained here. */
    static Optional<byte[]> vmlinux(String kernelPackage) {
        return VMLINUX.computeIfAbsent(kernelPackage, RealKernels::load);
    }

    private static Optional<byte[]> load(String kernelPackage) {
        try {
            Path lab = LabVm.repo().resolve("lab/lab.sh");
            if (!Files.isExecutable(lab)) {
                return Optional.empty();
            }
            ProcessBuilder pb = kernelPackage.isEmpty() ? new ProcessBuilder(lab.toString(), "kernel-path")
                    : new ProcessBuilder(lab.toString(), "kernel-path", "--kernel-package", kernelPackage);
            Process p = pb.redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0 || out.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(extract(Files.readAllBytes(Path.of(out))));
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** vmlinux from a bzImage: payload at (setup_sects+1)*512 + payload_offset(0x248), length at 0x24c. */
    static byte[] extract(byte[] vmlinuz) throws IOException, InterruptedException {
        ByteBuffer b = ByteBuffer.wrap(vmlinuz).order(ByteOrder.LITTLE_ENDIAN);
        int setupSects = vmlinuz[0x1f1] & 0xff;
        if (setupSects == 0) {
            setupSects = 4;
        }
        int payload = (setupSects + 1) * 512 + b.getInt(0x248);
        int length = b.getInt(0x24c);
        byte[] compressed = java.util.Arrays.copyOfRange(vmlinuz, payload, payload + length);
        String tool;
        if ((compressed[0] & 0xff) == 0xfd && compressed[1] == '7') {
            tool = "xz";
        } else if ((compressed[0] & 0xff) == 0x28 && (compressed[1] & 0xff) == 0xb5) {
            tool = "zstd";
            compressed = java.util.Arrays.copyOf(compressed, compressed.length - 4); // appended size
        } else {
            throw new IOException("unsupported vmlinuz compression");
        }
        Path tmp = Files.createTempFile("vmlinux", ".payload");
        try {
            Files.write(tmp, compressed);
            Process p = new ProcessBuilder(tool, "-dc", tmp.toString()).redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            ByteArrayOutputStream out = new ByteArrayOutputStream(80 << 20);
            try (InputStream in = p.getInputStream()) {
                in.transferTo(out);
            }
            p.waitFor();
            return out.toByteArray();
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** ELF64 section headers of vmlinux: name to {address, file offset, size, type}. */
    static Map<String, long[]> sections(byte[] elf) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        long shoff = b.getLong(0x28);
        int shentsize = b.getShort(0x3a) & 0xffff, shnum = b.getShort(0x3c) & 0xffff, shstrndx = b.getShort(0x3e);
        long strOff = b.getLong((int) (shoff + (long) shstrndx * shentsize + 0x18));
        Map<String, long[]> out = new LinkedHashMap<>();
        for (int i = 0; i < shnum; i++) {
            int h = (int) (shoff + (long) i * shentsize);
            int nameOff = b.getInt(h);
            int n = (int) strOff + nameOff, e = n;
            while (elf[e] != 0) {
                e++;
            }
            out.put(new String(elf, n, e - n, StandardCharsets.US_ASCII),
                    new long[] {b.getLong(h + 0x10), b.getLong(h + 0x18), b.getLong(h + 0x20), b.getInt(h + 4)});
        }
        return out;
    }

    /** The .BTF section bytes. */
    static byte[] btf(byte[] elf) {
        long[] s = sections(elf).get(".BTF");
        return java.util.Arrays.copyOfRange(elf, (int) s[1], (int) (s[1] + s[2]));
    }

    /**
     * Physical memory of a never-booted nokaslr guest: every allocated PROGBITS section of the kernel mapping
     * at pa = va - 0xffffffff80000000 (phys_base 0), plus {@code extra} bytes of RAM above the image.
     */
    static ByteArrayPhysicalMemory asPhysicalMemory(byte[] elf, int extra) {
        long top = 0;
        Map<String, long[]> sections = sections(elf);
        for (long[] s : sections.values()) {
            if (Long.compareUnsigned(s[0], KernelProfile.START_KERNEL_MAP) >= 0) {
                top = Math.max(top, s[0] - KernelProfile.START_KERNEL_MAP + s[2]);
            }
        }
        int size = (int) ((top + extra + 0xfffff) & ~0xfffffL);
        byte[] ram = new byte[size];
        for (long[] s : sections.values()) {
            if (Long.compareUnsigned(s[0], KernelProfile.START_KERNEL_MAP) >= 0 && s[3] == 1 /* PROGBITS */) {
                System.arraycopy(elf, (int) s[1], ram, (int) (s[0] - KernelProfile.START_KERNEL_MAP), (int) s[2]);
            }
        }
        return new ByteArrayPhysicalMemory(ram);
    }
}
