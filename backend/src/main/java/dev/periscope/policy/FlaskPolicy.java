package dev.periscope.policy;

import dev.periscope.tenant.Tenant;
import dev.periscope.vm.VmView;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Renders the FLASK policy module. The template (packaged as {@code flask/periscope.te.template}) has a header
 * and a block between {@code # BEGIN TENANT} and {@code # END TENANT} repeated for every tenant, with
 * {@code ${tenant}}, {@code ${tenant_id}} and {@code ${vms}} replaced; the header takes {@code ${generated}} and
 * {@code ${tenant_count}}.
 */
final class FlaskPolicy {

    static final String TEMPLATE = "/flask/periscope.te.template";
    private static final String BEGIN = "# BEGIN TENANT\n";
    private static final String END = "# END TENANT\n";

    private final String header;
    private final String block;
    private final String footer;

    FlaskPolicy(String template) {
        int begin = template.indexOf(BEGIN);
        int end = template.indexOf(END);
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException("FLASK template lacks '# BEGIN TENANT' ... '# END TENANT'");
        }
        header = template.substring(0, begin);
        block = template.substring(begin + BEGIN.length(), end);
        footer = template.substring(end + END.length());
    }

    static FlaskPolicy fromClasspath() {
        try (InputStream in = FlaskPolicy.class.getResourceAsStream(TEMPLATE)) {
            if (in == null) {
                throw new IllegalStateException(TEMPLATE + " is not on the classpath");
            }
            return new FlaskPolicy(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String render(List<Tenant> tenants, List<VmView> vms, Instant generated) {
        Map<String, List<String>> vmsByTenant = vms.stream().collect(Collectors.groupingBy(VmView::tenant,
                Collectors.mapping(VmView::name, Collectors.toList())));
        StringBuilder out = new StringBuilder(header.replace("${generated}", generated.toString())
                .replace("${tenant_count}", Integer.toString(tenants.size())));
        for (Tenant tenant : tenants) {
            List<String> names = vmsByTenant.getOrDefault(tenant.id(), List.of());
            out.append(block.replace("${tenant}", typeName(tenant.id())).replace("${tenant_id}", tenant.id())
                    .replace("${vms}", names.isEmpty() ? "(none yet)" : String.join(" ", names)));
        }
        return out.append(footer).toString();
    }

    /** A tenant id as a policy identifier: lower-case letters, digits and underscores. */
    static String typeName(String tenantId) {
        return tenantId.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
    }
}
