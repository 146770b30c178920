package dev.periscope.caller;

/** What a user may do: operators see every tenant; tenant admins manage their tenant's users; tenant users read. */
public enum Role {
    OPERATOR, TENANT_ADMIN, TENANT_USER
}
