package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The real BTF and kallsyms of Debian's kernels, from their vmlinux (obtained through lab.sh kernel-path). */
class RealKernelTest {

    private static byte[] vmlinux(String pkg) {
        Optional<byte[]> v = RealKernels.vmlinux(pkg);
        assumeTrue(v.isPresent(), "kernel package " + (pkg.isEmpty() ? "default" : pkg) + " not obtainable here");
        return v.get();
    }

    @Test
    void btfOfTheDefaultKernelHasThe61Offsets() {
        Btf btf = Btf.parse(RealKernels.btf(vmlinux(RealKernels.DEFAULT)));
        KernelOffsets o = KernelOffsets.from(btf);
        assertThat(btf.typeCount()).isGreaterThan(50_000);
        assertThat(o.taskTasks()).isEqualTo(2192);
        assertThat(o.taskPid()).isEqualTo(2416);
        assertThat(o.taskTgid()).isEqualTo(2420);
        assertThat(o.taskMm()).isEqualTo(2272);
        assertThat(o.taskComm()).isEqualTo(2976);
        assertThat(o.taskCred()).isEqualTo(2960);
        assertThat(o.mmPgd()).isEqualTo(72);
        assertThat(o.listNext()).isZero();
        assertThat(o.listPrev()).isEqualTo(8);
        assertThat(o.hasThreadHead()).isTrue();
        assertThat(o.taskThreadGroup()).as("6.1 still has task_struct.thread_group").isPositive();
        assertThat(btf.memberSize("task_struct", "comm")).isEqualTo(16);
        assertThat(btf.memberSize("task_struct", "__state")).isEqualTo(4);
    }

    @Test
    void btfOf612() {
        Btf btf = Btf.parse(RealKernels.btf(vmlinux(RealKernels.K612)));
        KernelOffsets o = KernelOffsets.from(btf);
        System.out.println("6.12 offsets: " + o);
        assertThat(o.hasThreadHead()).isTrue();
        assertThat(o.taskThreadGroup()).as("thread_group was removed in 6.7").isEqualTo(-1);
        assertThat(btf.memberSize("task_struct", "comm")).isEqualTo(16);
    }

    @Test
    void discoversTheDefaultKernelFromItsImage() {
        checkImage(vmlinux(RealKernels.DEFAULT), "6.1.0-");
    }

    @Test
    void discovers612FromItsImage() {
        checkImage(vmlinux(RealKernels.K612), "6.12.");
    }

    private static void checkImage(byte[] elf, String releasePrefix) {
        ByteArrayPhysicalMemory ram = RealKernels.asPhysicalMemory(elf, 1 << 20);
        KernelProfileCache cache = new KernelProfileCache();
        long t0 = System.nanoTime();
        KernelProfile p = LinuxModel.profile(ram, cache);
        long cold = System.nanoTime() - t0;
        t0 = System.nanoTime();
        KernelProfile warm = LinuxModel.profile(ram, cache);
        long warmNs = System.nanoTime() - t0;
        System.out.printf("%s: %s cold %.1f ms, warm %.2f ms%n", releasePrefix, p.summary(), cold / 1e6,
                warmNs / 1e6);
        assertThat(p.release()).startsWith(releasePrefix);
        assertThat(p.kaslrSlide()).isZero();
        assertThat(p.physBase()).isZero();
        assertThat(p.symbols().size()).isGreaterThan(90_000);
        SymbolTable s = p.symbols();
        for (String name : new String[] {"init_task", "init_stack", "__start_BTF", "__stop_BTF", "init_top_pgt",
                "linux_banner", "_text", "page_offset_base", "phys_base"}) {
            assertThat(s.address(name)).as(name).isPresent();
        }
        assertThat(s.address("_text").getAsLong()).isEqualTo(0xffffffff81000000L);
        assertThat(s.symbolAt(s.address("init_task").getAsLong() + 8)).contains("init_task+0x8");
        assertThat(p.kernelDtb()).isEqualTo(s.address("init_top_pgt").getAsLong() - KernelProfile.START_KERNEL_MAP);
        assertThat(warm.fromCache()).isTrue();
        assertThat(warm.symbols().address("init_task")).isEqualTo(s.address("init_task"));
        assertThat(warm.offsets()).isEqualTo(p.offsets());
    }
}
