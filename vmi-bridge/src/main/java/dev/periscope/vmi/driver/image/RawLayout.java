package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.driver.qemu.QemuRamLayout;
import dev.periscope.vmi.memory.RamLayout;

/**
 * How a raw RAM file maps to guest physical addresses. A RAM backing file holds RAM without the holes the machine
 * puts in front of it, so a PC guest of more than 2816 MiB (q35) has its file split around the hole below 4 GiB; a
 * dump made by reading guest physical memory from 0 ({@code pmemsave}) is flat, holes included.
 */
public enum RawLayout {
    /** File offset == guest physical address. */
    FLAT,
    /** A q35 guest's RAM file: all of it from 0 up to 2816 MiB, else 2 GiB at 0 and the rest from 4 GiB. */
    Q35,
    /** An i440fx ("pc") guest's RAM file: all of it from 0 up to 3584 MiB, else 3 GiB at 0 and the rest from 4 GiB. */
    I440FX;

    /** The layout of a raw file of {@code bytes} bytes (one RAM block named after the file). */
    RamLayout layout(String block, long bytes) {
        return switch (this) {
            case FLAT -> RamLayout.linear(block, bytes);
            case Q35 -> QemuRamLayout.Machine.Q35.layout(block, bytes);
            case I440FX -> QemuRamLayout.Machine.I440FX.layout(block, bytes);
        };
    }

    /** A name as typed on a command line: flat, q35, i440fx (any case). */
    public static RawLayout parse(String name) {
        for (RawLayout l : values()) {
            if (l.name().equalsIgnoreCase(name)) {
                return l;
            }
        }
        throw new IllegalArgumentException("unknown RAM layout '" + name + "' (flat, q35 or i440fx)");
    }
}
