package dev.periscope.caller;

import java.util.Objects;

/**
 * The authenticated principal of a request, as every query sees it: an operator sees everything, anyone else
 * only their tenant's objects (and another tenant's objects do not exist for them: 404, never 403).
 *
 * @param username the user
 * @param role     the user's role
 * @param tenantId the user's tenant, null for operators
 */
public record Caller(String username, Role role, String tenantId) {

    public Caller {
        Objects.requireNonNull(username);
        Objects.requireNonNull(role);
        if (role != Role.OPERATOR && tenantId == null) {
            throw new IllegalArgumentException(username + ": a " + role + " belongs to a tenant");
        }
    }

    public static Caller operator(String username) {
        return new Caller(username, Role.OPERATOR, null);
    }

    public boolean isOperator() {
        return role == Role.OPERATOR;
    }

    /** Whether this caller may see objects of {@code tenant}. */
    public boolean sees(String tenant) {
        return isOperator() || Objects.equals(tenantId, tenant);
    }
}
