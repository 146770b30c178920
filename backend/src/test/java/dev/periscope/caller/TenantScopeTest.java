package dev.periscope.caller;

import static org.assertj.core.api.Assertions.assertThat;

import io.r2dbc.spi.ConnectionFactories;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.r2dbc.core.DatabaseClient;

/** The scope every store queries through, against a real (in-memory H2) database with rows of two tenants. */
class TenantScopeTest {

    private DatabaseClient db;

    @BeforeEach
    void rows() {
        db = DatabaseClient.create(ConnectionFactories.get("r2dbc:h2:mem:///scope-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1"));
        db.sql("CREATE TABLE item (name VARCHAR(20), tenant_id VARCHAR(20), owner VARCHAR(20), state VARCHAR(10))")
                .then().block();
        for (String row : List.of("a1,acme,ann,OPEN", "a2,acme,bob,DONE", "a3,acme,ann,DONE", "g1,globex,gus,OPEN")) {
            String[] v = row.split(",");
            db.sql("INSERT INTO item VALUES (:n, :t, :o, :s)").bind("n", v[0]).bind("t", v[1]).bind("o", v[2])
                    .bind("s", v[3]).then().block();
        }
    }

    @Test
    void operatorsSeeEveryTenantsRows() {
        assertThat(names(TenantScope.byTenant(Caller.operator("op"), "tenant_id"), null))
                .containsExactly("a1", "a2", "a3", "g1");
    }

    @Test
    void anyoneElseSeesOnlyTheirTenantsRows() {
        var admin = new Caller("ann", Role.TENANT_ADMIN, "acme");
        var user = new Caller("gus", Role.TENANT_USER, "globex");
        assertThat(names(TenantScope.byTenant(admin, "tenant_id"), null)).containsExactly("a1", "a2", "a3");
        assertThat(names(TenantScope.byTenant(user, "tenant_id"), null)).containsExactly("g1");
    }

    @Test
    void tenantUsersSeeOnlyTheirOwnRowsWhereRowsHaveOwners() {
        var ann = new Caller("ann", Role.TENANT_USER, "acme");
        var admin = new Caller("bob", Role.TENANT_ADMIN, "acme");
        assertThat(names(TenantScope.byTenantAndOwner(ann, "tenant_id", "owner"), null)).containsExactly("a1", "a3");
        assertThat(names(TenantScope.byTenantAndOwner(admin, "tenant_id", "owner"), null))
                .containsExactly("a1", "a2", "a3");
    }

    @Test
    void aFilterNarrowsTheScopeAndNeverWidensIt() {
        var acme = new Caller("ann", Role.TENANT_ADMIN, "acme");
        assertThat(names(TenantScope.byTenant(acme, "tenant_id"), "OPEN")).containsExactly("a1");
        assertThat(names(TenantScope.byTenant(Caller.operator("op"), "tenant_id"), "OPEN")).containsExactly("a1", "g1");
    }

    private List<String> names(TenantScope scope, String state) {
        return scope.select(db, "SELECT name FROM item", "state", state, "ORDER BY name")
                .map(row -> row.get("name", String.class)).all().collectList().block();
    }
}
