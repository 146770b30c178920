package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.PlatformUnavailableException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The kinds of memory image file Periscope reads, told apart by their first bytes. */
public enum ImageFormat {
    /** Guest RAM byte for byte (a copy of a RAM backing file, {@code pmemsave}), laid out as a {@link RawLayout} says. */
    RAW("raw RAM"),
    /** An ELF core ({@code dump-guest-memory}, {@code virsh dump --memory-only}): PT_LOADs at guest physical addresses. */
    ELF_CORE("ELF core"),
    /** A QEMU migration file written with the mapped-ram capability (the lab's copy-on-write snapshots). */
    QEMU_MAPPED_RAM("QEMU mapped-ram snapshot");

    private static final byte[] ELF = {0x7f, 'E', 'L', 'F'};
    private static final byte[] QEVM = {'Q', 'E', 'V', 'M'};
    private static final byte[] KDUMP = "KDUMP   ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] FLATTENED = "makedumpfile".getBytes(StandardCharsets.US_ASCII);

    private final String description;

    ImageFormat(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }

    /**
     * The format of {@code file}: ELF and QEMU streams by their magic, anything else is raw RAM.
     *
     * @throws PlatformUnavailableException unreadable, or a dump format Periscope does not read (kdump-compressed)
     */
    public static ImageFormat of(Path file) {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(16);
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot read memory image " + file + ": " + e.getMessage(), e);
        }
        if (startsWith(head, ELF)) {
            return ELF_CORE;
        }
        if (startsWith(head, QEVM)) {
            return QEMU_MAPPED_RAM;
        }
        if (startsWith(head, KDUMP) || startsWith(head, FLATTENED)) {
            throw new PlatformUnavailableException(file + " is a kdump-compressed dump, which Periscope does not read:"
                    + " dump in ELF format (dump-guest-memory's default, virsh dump --memory-only --format elf)");
        }
        return RAW;
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        return bytes.length >= prefix.length && Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
    }
}
