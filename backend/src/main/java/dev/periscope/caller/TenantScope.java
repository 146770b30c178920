package dev.periscope.caller;

import java.util.Objects;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.r2dbc.core.DatabaseClient.GenericExecuteSpec;

/**
 * The rows of a table a caller may see, as the one WHERE clause every store uses: an operator sees every row, anyone
 * else the rows of their tenant, and where the table names an owner, a tenant user only their own rows.
 *
 * @param caller       who is asking
 * @param tenantColumn the column holding a row's tenant (qualified when the query joins)
 * @param ownerColumn  the column holding a row's user, or null when tenant users see their whole tenant
 */
public record TenantScope(Caller caller, String tenantColumn, String ownerColumn) {

    public TenantScope {
        Objects.requireNonNull(caller);
        Objects.requireNonNull(tenantColumn);
    }

    /** Rows of the caller's tenant (all for operators). */
    public static TenantScope byTenant(Caller caller, String tenantColumn) {
        return new TenantScope(caller, tenantColumn, null);
    }

    /** Rows of the caller's tenant for tenant admins, the caller's own rows for tenant users, all for operators. */
    public static TenantScope byTenantAndOwner(Caller caller, String tenantColumn, String ownerColumn) {
        return new TenantScope(caller, tenantColumn, Objects.requireNonNull(ownerColumn));
    }

    /** {@code selectFrom WHERE <scope> tail}, bound. */
    public GenericExecuteSpec select(DatabaseClient db, String selectFrom, String tail) {
        return bind(db.sql(selectFrom + " WHERE " + condition() + " " + tail));
    }

    /** {@code selectFrom WHERE <scope> AND column = value tail}, bound; without the filter when value is null. */
    public GenericExecuteSpec select(DatabaseClient db, String selectFrom, String column, Object value, String tail) {
        if (value == null) {
            return select(db, selectFrom, tail);
        }
        return bind(db.sql(selectFrom + " WHERE " + condition() + " AND " + column + " = :scope_filter " + tail))
                .bind("scope_filter", value);
    }

    private String condition() {
        return switch (restriction()) {
            case NONE -> "1 = 1";
            case TENANT -> tenantColumn + " = :scope_tenant";
            case OWNER -> ownerColumn + " = :scope_owner";
        };
    }

    private GenericExecuteSpec bind(GenericExecuteSpec spec) {
        return switch (restriction()) {
            case NONE -> spec;
            case TENANT -> spec.bind("scope_tenant", caller.tenantId());
            case OWNER -> spec.bind("scope_owner", caller.username());
        };
    }

    private Restriction restriction() {
        if (caller.isOperator()) {
            return Restriction.NONE;
        }
        return ownerColumn != null && caller.role() == Role.TENANT_USER ? Restriction.OWNER : Restriction.TENANT;
    }

    private enum Restriction { NONE, TENANT, OWNER }
}
