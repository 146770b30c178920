package dev.periscope.vmi.linux;

import java.nio.charset.StandardCharsets;

/** Targeted edits of a real BTF blob for the hostile corpus. */
final class BtfEdits {

    private BtfEdits() {
    }

    /**
     * Position in {@code blob} of the member record (name offset, type, bit offset: three u32) that gives
     * {@code struct.member} its offset: the record whose name is {@code member} and whose bit offset is the one the
     * parsed blob reports. Fails unless exactly one record matches.
     */
    static int memberRecord(byte[] blob, String struct, String member) {
        Btf btf = Btf.parse(blob);
        long bits = btf.offsetOf(struct, member).orElseThrow() * 8;
        int strStart = (int) (Btf.u32(blob, 4) + Btf.u32(blob, 16));
        int strLen = (int) Btf.u32(blob, 20);
        int typeStart = (int) (Btf.u32(blob, 4) + Btf.u32(blob, 8));
        int typeEnd = typeStart + (int) Btf.u32(blob, 12);
        byte[] name = ("\0" + member + "\0").getBytes(StandardCharsets.US_ASCII);
        int found = -1;
        for (int at = Kallsyms.indexOf(blob, name, strStart); at >= 0 && at < strStart + strLen;
             at = Kallsyms.indexOf(blob, name, at + 1)) {
            long nameOff = at + 1 - strStart;
            for (int p = typeStart; p + 12 <= typeEnd; p += 4) {
                if (Btf.u32(blob, p) == nameOff && Btf.u32(blob, p + 8) == bits) {
                    if (found >= 0) {
                        throw new IllegalStateException("more than one record for " + struct + "." + member);
                    }
                    found = p;
                }
            }
        }
        if (found < 0) {
            throw new IllegalStateException("no record for " + struct + "." + member);
        }
        return found;
    }
}
