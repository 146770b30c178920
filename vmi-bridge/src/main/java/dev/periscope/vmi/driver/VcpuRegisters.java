package dev.periscope.vmi.driver;

/** The control registers introspection needs, read from one vCPU. */
public record VcpuRegisters(int vcpu, long cr3, long cr4, long efer, long rip, long gsBase, long kernelGsBase) {

    private static final long CR4_LA57 = 1L << 12;

    /** True when the guest runs with 5-level paging. */
    public boolean fiveLevelPaging() {
        return (cr4 & CR4_LA57) != 0;
    }
}
