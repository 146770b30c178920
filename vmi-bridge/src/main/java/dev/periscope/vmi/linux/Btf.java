package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * A parsed BPF Type Format blob (the kernel's {@code .BTF} section, between {@code __start_BTF} and
 * {@code __stop_BTF}). Only what Periscope needs is kept: every type's kind, name, size or referenced type and
 * the position of its members, so struct member offsets can be resolved by name path.
 *
 * <p>The blob is guest data: every offset is bounds-checked and every chain (typedefs, anonymous members) is
 * bounded, so a corrupt blob yields a {@link GuestDataException} or a missing member, never a hang.
 * Immutable after parsing, thread-safe.
 */
final class Btf {

    static final int MAGIC = 0xeB9F;
    static final int KIND_INT = 1, KIND_PTR = 2, KIND_ARRAY = 3, KIND_STRUCT = 4, KIND_UNION = 5, KIND_ENUM = 6,
            KIND_FWD = 7, KIND_TYPEDEF = 8, KIND_VOLATILE = 9, KIND_CONST = 10, KIND_RESTRICT = 11, KIND_FUNC = 12,
            KIND_FUNC_PROTO = 13, KIND_VAR = 14, KIND_DATASEC = 15, KIND_FLOAT = 16, KIND_DECL_TAG = 17,
            KIND_TYPE_TAG = 18, KIND_ENUM64 = 19;
    static final int MAX_TYPES = 4_000_000;
    static final int MAX_BYTES = 256 << 20;
    private static final int MAX_CHAIN = 64;
    private static final int MAX_ANON_DEPTH = 16;

    private final byte[] data;
    private final int typeStart;
    private final int strStart;
    private final int strLen;
    /** Per type id (index 0 is void): info word, size-or-type word, offset of its trailing data in {@link #data}. */
    private final int[] info;
    private final int[] sizeOrType;
    private final int[] nameOff;
    private final int[] extra;
    private final Map<String, Integer> compositeByName = new HashMap<>();

    private Btf(byte[] data, int typeStart, int strStart, int strLen, int count, int[] info, int[] sizeOrType,
                int[] nameOff, int[] extra) {
        this.data = data;
        this.typeStart = typeStart;
        this.strStart = strStart;
        this.strLen = strLen;
        this.info = info;
        this.sizeOrType = sizeOrType;
        this.nameOff = nameOff;
        this.extra = extra;
        for (int id = 1; id <= count; id++) {
            int kind = kind(id);
            if ((kind == KIND_STRUCT || kind == KIND_UNION) && nameOff[id] != 0) {
                compositeByName.putIfAbsent(name(id), id);
            }
        }
    }

    /** Parses a little-endian BTF blob. */
    static Btf parse(byte[] data) {
        if (data.length < 24 || data.length > MAX_BYTES) {
            throw new GuestDataException("BTF blob has an implausible size " + data.length);
        }
        int magic = u16(data, 0);
        if (magic != MAGIC) {
            throw new GuestDataException("BTF magic 0x" + Integer.toHexString(magic) + " (big-endian or not BTF)");
        }
        long hdrLen = u32(data, 4);
        long typeOff = u32(data, 8), typeLen = u32(data, 12), strOff = u32(data, 16), strLen = u32(data, 20);
        if (hdrLen < 24 || hdrLen > 256 || hdrLen + typeOff + typeLen > data.length
                || hdrLen + strOff + strLen > data.length) {
            throw new GuestDataException("BTF header sections exceed the blob (" + data.length + " bytes)");
        }
        int typeStart = (int) (hdrLen + typeOff);
        int typeEnd = (int) (typeStart + typeLen);
        int strStart = (int) (hdrLen + strOff);
        // First pass: count types (each is at least 12 bytes) so the arrays are sized exactly.
        int capacity = (int) Math.min(MAX_TYPES, typeLen / 12 + 1);
        int[] info = new int[capacity + 1];
        int[] sizeOrType = new int[capacity + 1];
        int[] nameOff = new int[capacity + 1];
        int[] extra = new int[capacity + 1];
        int pos = typeStart;
        int id = 0;
        while (pos < typeEnd) {
            if (pos + 12 > typeEnd) {
                throw new GuestDataException("BTF type " + (id + 1) + " truncated");
            }
            if (id >= capacity) {
                throw new GuestDataException("BTF has more than " + capacity + " types");
            }
            id++;
            nameOff[id] = (int) u32(data, pos);
            info[id] = (int) u32(data, pos + 4);
            sizeOrType[id] = (int) u32(data, pos + 8);
            pos += 12;
            extra[id] = pos;
            int kind = (info[id] >>> 24) & 0x1f;
            int vlen = info[id] & 0xffff;
            long more = switch (kind) {
                case KIND_INT, KIND_VAR, KIND_DECL_TAG -> 4;
                case KIND_PTR, KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_FUNC,
                     KIND_FLOAT, KIND_TYPE_TAG -> 0;
                case KIND_ARRAY -> 12;
                case KIND_STRUCT, KIND_UNION, KIND_DATASEC, KIND_ENUM64 -> 12L * vlen;
                case KIND_ENUM, KIND_FUNC_PROTO -> 8L * vlen;
                default -> throw new GuestDataException("BTF type " + id + " has unknown kind " + kind);
            };
            if (pos + more > typeEnd) {
                throw new GuestDataException("BTF type " + id + " data runs past the type section");
            }
            pos += (int) more;
        }
        return new Btf(data, typeStart, strStart, (int) strLen, id, info, sizeOrType, nameOff, extra);
    }

    int typeCount() {
        int n = 0;
        for (int i = 1; i < info.length && extra[i] != 0; i++) {
            n++;
        }
        return n;
    }

    int kind(int id) {
        return (info[id] >>> 24) & 0x1f;
    }

    int vlen(int id) {
        return info[id] & 0xffff;
    }

    boolean kindFlag(int id) {
        return info[id] < 0;
    }

    String name(int id) {
        return string(nameOff[id]);
    }

    /** A NUL-terminated string from the string section; bounded and never throwing for bad offsets. */
    String string(int offset) {
        if (offset < 0 || offset >= strLen) {
            return "";
        }
        int start = strStart + offset;
        int end = start;
        int limit = Math.min(strStart + strLen, start + 512);
        while (end < limit && data[end] != 0) {
            end++;
        }
        return new String(data, start, end - start, StandardCharsets.ISO_8859_1);
    }

    private boolean valid(int id) {
        return id > 0 && id < extra.length && extra[id] != 0;
    }

    /** Follows typedef, const, volatile, restrict and type-tag links to the underlying type (0 for void). */
    int resolve(int id) {
        int current = id;
        for (int i = 0; i < MAX_CHAIN && valid(current); i++) {
            int k = kind(current);
            if (k == KIND_TYPEDEF || k == KIND_CONST || k == KIND_VOLATILE || k == KIND_RESTRICT
                    || k == KIND_TYPE_TAG) {
                current = sizeOrType[current];
            } else {
                return current;
            }
        }
        return valid(current) ? current : 0;
    }

    /** Struct or union type id by name (the first complete definition), or -1. */
    int composite(String name) {
        return compositeByName.getOrDefault(name, -1);
    }

    /** Byte size of a type after resolving qualifiers; -1 when unknown (or a chain of arrays that does not end). */
    long sizeOf(int id) {
        long count = 1;
        int t = resolve(id);
        // Arrays of arrays multiply; a hostile blob may make an array its own element, so the chain is bounded.
        for (int depth = 0; valid(t) && kind(t) == KIND_ARRAY; depth++) {
            if (depth >= MAX_CHAIN) {
                return -1;
            }
            count *= u32(data, extra[t] + 8);
            if (count > MAX_BYTES) {
                return -1;
            }
            t = resolve((int) u32(data, extra[t]));
        }
        if (!valid(t)) {
            return -1;
        }
        long element = switch (kind(t)) {
            case KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_DATASEC ->
                    u32(data, extra[t] - 4);
            case KIND_PTR -> 8;
            default -> -1;
        };
        return element < 0 ? -1 : element * count;
    }

    /** A resolved struct member: bit offset from the start of the outer struct, bitfield size (0 if none), type. */
    record Member(long bitOffset, int bitfieldSize, int type) {
        long byteOffset() {
            return bitOffset >>> 3;
        }
    }

    /**
     * Finds {@code member} in struct/union {@code id}, looking through anonymous struct and union members (whose
     * offsets are added), as C name lookup does.
     */
    Member member(int id, String member) {
        return member(resolve(id), member, 0);
    }

    private Member member(int id, String member, int depth) {
        if (!valid(id) || depth > MAX_ANON_DEPTH || (kind(id) != KIND_STRUCT && kind(id) != KIND_UNION)) {
            return null;
        }
        boolean bitfields = kindFlag(id);
        int n = vlen(id);
        int base = extra[id];
        for (int i = 0; i < n; i++) {
            int m = base + 12 * i;
            int mName = (int) u32(data, m);
            int mType = (int) u32(data, m + 4);
            long raw = u32(data, m + 8);
            long bitOffset = bitfields ? raw & 0xffffff : raw;
            int bitfieldSize = bitfields ? (int) (raw >>> 24) : 0;
            if (mName == 0) {
                int inner = resolve(mType);
                Member found = member(inner, member, depth + 1);
                if (found != null) {
                    return new Member(bitOffset + found.bitOffset(), found.bitfieldSize(), found.type());
                }
            } else if (member.equals(string(mName))) {
                return new Member(bitOffset, bitfieldSize, mType);
            }
        }
        return null;
    }

    /**
     * Byte offset of a dotted member path in a struct, e.g. {@code offsetOf("cred", "uid.val")}; each step but
     * the last must be an embedded struct or union (not a pointer).
     */
    OptionalLong offsetOf(String struct, String path) {
        int id = composite(struct);
        if (id < 0) {
            return OptionalLong.empty();
        }
        long bits = 0;
        int current = id;
        for (String part : path.split("\\.")) {
            Member m = member(current, part);
            if (m == null) {
                return OptionalLong.empty();
            }
            bits += m.bitOffset();
            current = m.type();
        }
        return (bits & 7) == 0 ? OptionalLong.of(bits >>> 3) : OptionalLong.empty();
    }

    /** Size in bytes of the member at the end of {@code path}, or -1. */
    long memberSize(String struct, String path) {
        int id = composite(struct);
        if (id < 0) {
            return -1;
        }
        int current = id;
        for (String part : path.split("\\.")) {
            Member m = member(current, part);
            if (m == null) {
                return -1;
            }
            current = m.type();
        }
        return sizeOf(current);
    }

    long structSize(String struct) {
        int id = composite(struct);
        return id < 0 ? -1 : sizeOf(id);
    }

    static int u16(byte[] b, int p) {
        return (b[p] & 0xff) | (b[p + 1] & 0xff) << 8;
    }

    static long u32(byte[] b, int p) {
        return ((b[p] & 0xff) | (b[p + 1] & 0xff) << 8 | (b[p + 2] & 0xff) << 16 | (long) (b[p + 3] & 0xff) << 24);
    }
}
