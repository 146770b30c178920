package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class KallsymsTest {

    static final long BASE = 0xffffffff81000000L;

    /** Synthetic kallsyms tables; {@code layout612} emits the 6.12 order, otherwise the Debian 6.1 order. */
    static final class Tables {
        final String[] names;
        final long[] addresses;
        final boolean[] absolute;
        int tokenTablePos;
        int hit;

        Tables(int n) {
            names = new String[n];
            addresses = new long[n];
            absolute = new boolean[n];
            names[0] = "fixed_percpu_data";
            addresses[0] = 0;
            absolute[0] = true;
            names[1] = "_text";
            addresses[1] = BASE;
            for (int i = 2; i < n; i++) {
                // Long names (> 127 bytes) use the two-byte length form.
                names[i] = i % 97 == 0 ? "long_" + "x".repeat(150) + i : "sym_" + i;
                addresses[i] = BASE + 0x10L * i;
            }
        }

        /** Identity tokens: byte b is the character b; byte 0 is the token "zz". */
        static byte[] tokenTable() {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            o.writeBytes("zz".getBytes(StandardCharsets.US_ASCII));
            o.write(0);
            for (int b = 1; b < 256; b++) {
                o.write(b);
                o.write(0);
            }
            return o.toByteArray();
        }

        static int[] tokenIndex() {
            int[] idx = new int[256];
            idx[0] = 0;
            idx[1] = 3;
            for (int b = 2; b < 256; b++) {
                idx[b] = idx[b - 1] + 2;
            }
            return idx;
        }

        byte[] build(boolean layout612) {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            int n = names.length;
            if (!layout612) {
                offsets(o);
            }
            align(o);
            if (!layout612) {
                u64(o, BASE);
            }
            u32(o, n);
            align(o);
            int namesStart = o.size();
            int[] markers = new int[(n + 255) / 256];
            for (int i = 0; i < n; i++) {
                if ((i & 255) == 0) {
                    markers[i >>> 8] = o.size() - namesStart;
                }
                byte[] s = ("T" + names[i]).getBytes(StandardCharsets.US_ASCII);
                if (s.length > 127) {
                    o.write(0x80 | (s.length & 0x7f));
                    o.write(s.length >>> 7);
                } else {
                    o.write(s.length);
                }
                o.writeBytes(s);
            }
            align(o);
            for (int m : markers) {
                u32(o, m);
            }
            align(o);
            if (!layout612) {
                o.writeBytes(new byte[3 * n]); // seqs_of_names (content not used)
                align(o);
            }
            tokenTablePos = o.size();
            hit = tokenTablePos + tokenIndex()['0'];
            o.writeBytes(tokenTable());
            align(o);
            for (int v : tokenIndex()) {
                o.write(v);
                o.write(v >>> 8);
            }
            align(o);
            if (layout612) {
                offsets(o);
                align(o);
                u64(o, BASE);
                o.writeBytes(new byte[3 * n]);
            }
            return o.toByteArray();
        }

        private void offsets(ByteArrayOutputStream o) {
            align(o);
            for (int i = 0; i < names.length; i++) {
                u32(o, absolute[i] ? (int) addresses[i] : (int) (BASE - 1 - addresses[i]));
            }
        }

        static void align(ByteArrayOutputStream o) {
            while (o.size() % 8 != 0) {
                o.write(0);
            }
        }

        static void u32(ByteArrayOutputStream o, int v) {
            o.write(v);
            o.write(v >>> 8);
            o.write(v >>> 16);
            o.write(v >>> 24);
        }

        static void u64(ByteArrayOutputStream o, long v) {
            u32(o, (int) v);
            u32(o, (int) (v >>> 32));
        }
    }

    @Test
    void decodes61And612Layouts() {
        for (boolean layout612 : new boolean[] {false, true}) {
            Tables t = new Tables(700);
            byte[] w = t.build(layout612);
            Kallsyms.Decoded d = Kallsyms.decode(w, t.hit);
            assertThat(d).as("layout612=%s", layout612).isNotNull();
            assertThat(d.names()).containsExactly(t.names);
            assertThat(d.addresses()).containsExactly(t.addresses);
            assertThat(d.absolute()).containsExactly(t.absolute);
            assertThat(d.relativeBase()).isEqualTo(BASE);
            assertThat(d.tablesAfterTokenIndex()).isEqualTo(layout612);
        }
    }

    @Test
    void symbolTableLooksUpByNameAndAddress() {
        Tables t = new Tables(300);
        Kallsyms.Decoded d = Kallsyms.decode(t.build(true), t.hit);
        SymbolTable s = new SymbolTable(d.names(), d.addresses(), d.absolute(), 0).rebased(0x200000);
        assertThat(s.address("_text")).hasValue(BASE + 0x200000);
        assertThat(s.address("fixed_percpu_data")).as("absolute: not slid").hasValue(0);
        assertThat(s.symbolAt(BASE + 0x200000 + 0x10 * 5 + 3)).contains("sym_5+0x3");
        assertThat(s.symbolAt(0x1000)).isEmpty();
    }

    @Property(tries = 60)
    void truncatedTablesYieldNull(@ForAll @IntRange(min = 1, max = 99) int percent, @ForAll boolean layout612) {
        Tables t = new Tables(600);
        byte[] w = t.build(layout612);
        byte[] cut = Arrays.copyOf(w, (int) ((long) w.length * percent / 100));
        Kallsyms.Decoded d = Kallsyms.decode(cut, t.hit);
        if (d != null) {
            // Only the 6.1 layout keeps everything it needs before the token index end.
            assertThat(cut.length).isGreaterThan(t.tokenTablePos);
        }
    }

    @Test
    void nameRunningPastTheMarkersIsRejected() {
        Tables t = new Tables(600);
        byte[] w = t.build(true);
        int firstName = 8; // after num_syms and padding
        w[firstName] = (byte) 0xff;
        w[firstName + 1] = 0x7f; // 16383-byte name: beyond MAX_NAME and past the end
        assertThat(Kallsyms.decode(w, t.hit)).isNull();
    }

    @Property(tries = 200)
    void randomBytesAroundDigitTokensNeverThrow(@ForAll byte[] noise, @ForAll @IntRange(min = 0, max = 64) int at) {
        byte[] w = new byte[noise.length + 64 + Kallsyms.DIGIT_TOKENS.length];
        System.arraycopy(noise, 0, w, 0, noise.length);
        int hit = Math.min(at, noise.length);
        System.arraycopy(Kallsyms.DIGIT_TOKENS, 0, w, hit, Kallsyms.DIGIT_TOKENS.length);
        Kallsyms.decode(w, hit);
        Kallsyms.decode(w, -5);
        Kallsyms.decode(w, w.length - 3);
    }
}
