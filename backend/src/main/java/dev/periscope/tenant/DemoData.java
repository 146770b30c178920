package dev.periscope.tenant;

import dev.periscope.account.Accounts;
import dev.periscope.caller.Role;
import dev.periscope.system.PeriscopeProperties;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;

/**
 * On first start with no tenants: the lab's tenants {@code acme} (self-service without approval) and
 * {@code globex} (every request needs an operator), an admin and a user for each, their generated passwords in
 * {@code var/demo-users.txt} (owner-only).
 */
@Component
@Order(10)
class DemoData implements ApplicationRunner {

    private static final Logger log = LoggerFactory.getLogger(DemoData.class);

    private final Tenants tenants;
    private final Accounts accounts;
    private final PeriscopeProperties properties;

    DemoData(Tenants tenants, Accounts accounts, PeriscopeProperties properties) {
        this.tenants = tenants;
        this.accounts = accounts;
        this.properties = properties;
    }

    @Override
    public void run(ApplicationArguments args) {
        if (!properties.demoData() || tenants.count().blockOptional().orElse(0L) > 0) {
            return;
        }
        List<String> lines = new ArrayList<>();
        lines.add("# Demo users created on first start: username password role tenant");
        Flux.just(Tenants.newTenant("acme", "Acme Corporation", false, 4, 120),
                        Tenants.newTenant("globex", "Globex Corporation", true, 2, 60))
                .concatMap(tenants::insert)
                .concatMap(t -> Flux.just(Role.TENANT_ADMIN, Role.TENANT_USER).concatMap(role -> {
                    String name = t.id() + (role == Role.TENANT_ADMIN ? "-admin" : "-user");
                    String password = Accounts.randomPassword();
                    lines.add(name + " " + password + " " + role.name().toLowerCase() + " " + t.id());
                    return accounts.createUser(name, password, role, t.id());
                }))
                .blockLast();
        write(properties.varDir().resolve("demo-users.txt"), String.join("\n", lines) + "\n");
        log.info("created demo tenants acme and globex; their users' passwords are in {}",
                properties.varDir().resolve("demo-users.txt"));
    }

    private static void write(Path file, String content) {
        try {
            Files.createDirectories(file.getParent());
            Files.deleteIfExists(file);
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
