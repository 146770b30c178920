package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_domain_info;

import java.lang.foreign.MemorySegment;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One line of the shim's domain list, copied out of native memory. The domain's tenant is the one its FLASK label
 * names ({@code <tenant>_domU_t}, the type Periscope's policy module gives a tenant's guests): Xen enforces that
 * label, so it is the platform's own word on the owner; any other label (a monitoring domain's, domU_t) names none.
 */
record XenDomainEntry(int domid, boolean hvm, boolean dying, int vcpus, long maxGfn, DomainInfo info) {

    /** A tenant guest's security context: any user and role, the type {@code <tenant>_domU_t}, an optional MLS level. */
    private static final Pattern TENANT_GUEST = Pattern.compile("[^:]+:[^:]+:([a-z][a-z0-9]{1,30})_domU_t(?::.*)?");

    static XenDomainEntry of(MemorySegment s) {
        int domid = periscope_xen_domain_info.domid(s);
        int flags = periscope_xen_domain_info.flags(s);
        String name = periscope_xen_domain_info.name(s).getString(0);
        if (name.isEmpty()) {
            name = "domain-" + domid;
        }
        boolean dying = (flags & PeriscopeXen.PERISCOPE_XEN_DOMAIN_DYING()) != 0;
        DomainInfo info = new DomainInfo(name, tenantOf(periscope_xen_domain_info.label(s).getString(0)),
                XenDriver.PLATFORM, !dying,
                periscope_xen_domain_info.memory_bytes(s), "", "", null);
        return new XenDomainEntry(domid, (flags & PeriscopeXen.PERISCOPE_XEN_DOMAIN_HVM()) != 0, dying,
                periscope_xen_domain_info.vcpus(s), periscope_xen_domain_info.max_gfn(s), info);
    }

    /** Guest types of Xen's own policy modules, which name no tenant (the policy module cannot declare them again). */
    private static final Set<String> XEN_GUEST_TYPES = Set.of("isolated", "prot");

    /** The tenant a FLASK security context names, "" when it names none. */
    static String tenantOf(String label) {
        Matcher m = TENANT_GUEST.matcher(label);
        return m.matches() && !XEN_GUEST_TYPES.contains(m.group(1)) ? m.group(1) : "";
    }
}
