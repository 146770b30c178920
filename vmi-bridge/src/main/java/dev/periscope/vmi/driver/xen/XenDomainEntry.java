package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_domain_info;

import java.lang.foreign.MemorySegment;

/** One line of the shim's domain list, copied out of native memory. */
record XenDomainEntry(int domid, boolean hvm, boolean dying, int vcpus, long maxGfn, DomainInfo info) {

    static XenDomainEntry of(MemorySegment s) {
        int domid = periscope_xen_domain_info.domid(s);
        int flags = periscope_xen_domain_info.flags(s);
        String name = periscope_xen_domain_info.name(s).getString(0);
        if (name.isEmpty()) {
            name = "domain-" + domid;
        }
        boolean dying = (flags & PeriscopeXen.PERISCOPE_XEN_DOMAIN_DYING()) != 0;
        DomainInfo info = new DomainInfo(name, "", XenDriver.PLATFORM, !dying,
                periscope_xen_domain_info.memory_bytes(s), "", "", null);
        return new XenDomainEntry(domid, (flags & PeriscopeXen.PERISCOPE_XEN_DOMAIN_HVM()) != 0, dying,
                periscope_xen_domain_info.vcpus(s), periscope_xen_domain_info.max_gfn(s), info);
    }
}
