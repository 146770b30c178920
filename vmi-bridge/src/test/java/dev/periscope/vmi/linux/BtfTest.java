package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.GuestDataException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class BtfTest {

    /** Builds a BTF blob: types are appended in id order starting at 1. */
    static final class Builder {
        final ByteArrayOutputStream types = new ByteArrayOutputStream();
        final ByteArrayOutputStream strings = new ByteArrayOutputStream();

        Builder() {
            strings.write(0);
        }

        int str(String s) {
            if (s == null) {
                return 0;
            }
            int off = strings.size();
            strings.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
            strings.write(0);
            return off;
        }

        Builder type(String name, int kind, int vlen, boolean kindFlag, int sizeOrType, int... extra) {
            u32(types, str(name));
            u32(types, vlen | kind << 24 | (kindFlag ? 1 << 31 : 0));
            u32(types, sizeOrType);
            for (int e : extra) {
                u32(types, e);
            }
            return this;
        }

        /** members as (name, type, offset) triples. */
        Builder struct(String name, int kind, boolean kindFlag, int size, Object... members) {
            int[] extra = new int[members.length];
            for (int i = 0; i < members.length; i += 3) {
                extra[i] = str((String) members[i]);
                extra[i + 1] = (Integer) members[i + 1];
                extra[i + 2] = (Integer) members[i + 2];
            }
            return type(name, kind, members.length / 3, kindFlag, size, extra);
        }

        byte[] build() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(0x9f);
            out.write(0xeb);
            out.write(1);
            out.write(0);
            u32(out, 24);
            u32(out, 0);
            u32(out, types.size());
            u32(out, types.size());
            u32(out, strings.size());
            out.writeBytes(types.toByteArray());
            out.writeBytes(strings.toByteArray());
            return out.toByteArray();
        }

        static void u32(ByteArrayOutputStream o, int v) {
            o.write(v);
            o.write(v >>> 8);
            o.write(v >>> 16);
            o.write(v >>> 24);
        }
    }

    static byte[] sample() {
        return new Builder()
                .type("int", Btf.KIND_INT, 0, false, 4, 32)                                  // 1
                .struct("inner", Btf.KIND_STRUCT, false, 8, "a", 1, 0, "b", 1, 32)        // 2
                .struct(null, Btf.KIND_UNION, false, 8, "x", 1, 0, null, 4, 0)            // 3 anon union
                .struct(null, Btf.KIND_STRUCT, false, 8, "y", 1, 0, "z", 1, 32)           // 4 anon struct
                .struct("outer", Btf.KIND_STRUCT, false, 24, "first", 1, 0, null, 3, 64, "in", 6, 128) // 5
                .type("inner_t", Btf.KIND_TYPEDEF, 0, false, 7)                           // 6
                .type(null, Btf.KIND_CONST, 0, false, 2)                                  // 7
                .struct("bits", Btf.KIND_STRUCT, true, 8, "f1", 1, 3 << 24, "f2", 1, 5 << 24 | 3, "f3", 1, 32) // 8
                .type("p", Btf.KIND_PTR, 0, false, 5)                                     // 9
                .type("arr", Btf.KIND_ARRAY, 0, false, 0, 1, 1, 16)                       // 10
                .type("fwd", Btf.KIND_FWD, 0, false, 0)                                   // 11
                .build();
    }

    @Test
    void resolvesThroughAnonymousMembersAndTypedefChains() {
        Btf btf = Btf.parse(sample());
        assertThat(btf.typeCount()).isEqualTo(11);
        assertThat(btf.offsetOf("outer", "x")).hasValue(8);
        assertThat(btf.offsetOf("outer", "y")).hasValue(8);
        assertThat(btf.offsetOf("outer", "z")).hasValue(12);
        assertThat(btf.offsetOf("outer", "in.b")).hasValue(20);
        assertThat(btf.memberSize("outer", "in")).isEqualTo(8);
        assertThat(btf.offsetOf("outer", "nope")).isEmpty();
        assertThat(btf.offsetOf("missing", "x")).isEmpty();
        assertThat(btf.structSize("outer")).isEqualTo(24);
        assertThat(btf.sizeOf(10)).isEqualTo(64);
        assertThat(btf.sizeOf(9)).isEqualTo(8);
    }

    @Test
    void bitfieldOffsetsUseKindFlag() {
        Btf btf = Btf.parse(sample());
        Btf.Member f2 = btf.member(btf.composite("bits"), "f2");
        assertThat(f2.bitOffset()).isEqualTo(3);
        assertThat(f2.bitfieldSize()).isEqualTo(5);
        assertThat(btf.offsetOf("bits", "f2")).as("not byte aligned").isEmpty();
        assertThat(btf.offsetOf("bits", "f3")).hasValue(4);
    }

    @Test
    void rejectsBadHeadersAndTruncation() {
        byte[] blob = sample();
        assertThatThrownBy(() -> Btf.parse(new byte[10])).isInstanceOf(GuestDataException.class);
        byte[] wrongMagic = blob.clone();
        wrongMagic[0] = 0;
        assertThatThrownBy(() -> Btf.parse(wrongMagic)).isInstanceOf(GuestDataException.class);
        byte[] truncated = java.util.Arrays.copyOf(blob, blob.length - 40);
        assertThatThrownBy(() -> Btf.parse(truncated)).isInstanceOf(GuestDataException.class);
    }

    @Test
    void typedefCycleTerminates() {
        byte[] blob = new Builder().type("a", Btf.KIND_TYPEDEF, 0, false, 2).type("b", Btf.KIND_TYPEDEF, 0, false, 1)
                .build();
        Btf btf = Btf.parse(blob);
        assertThat(btf.sizeOf(1)).isEqualTo(-1);
    }

    @Test
    void anArrayOfItselfHasNoSize() {
        // element type 1 is the array itself, and a chain of arrays of arrays that multiplies past any blob
        byte[] blob = new Builder().type("loop", Btf.KIND_ARRAY, 0, false, 0, 1, 1, 4)
                .type("big", Btf.KIND_ARRAY, 0, false, 0, 3, 1, 1 << 30)
                .type("bigger", Btf.KIND_ARRAY, 0, false, 0, 4, 1, 1 << 30)
                .type("int", Btf.KIND_INT, 0, false, 4, 32).build();
        Btf btf = Btf.parse(blob);
        assertThat(btf.sizeOf(1)).isEqualTo(-1);
        assertThat(btf.sizeOf(2)).isEqualTo(-1);
    }

    @Property(tries = 300)
    void randomBytesNeverEscapeAsAnotherException(@ForAll @Size(max = 400) byte[] tail) {
        byte[] blob = sample();
        byte[] corrupt = java.util.Arrays.copyOf(blob, blob.length + tail.length);
        System.arraycopy(tail, 0, corrupt, Math.max(24, blob.length - tail.length), Math.min(tail.length,
                blob.length - 24));
        try {
            Btf btf = Btf.parse(corrupt);
            btf.offsetOf("outer", "in.b");
            btf.offsetOf("bits", "f3");
        } catch (GuestDataException expected) {
            // fine
        }
    }
}
