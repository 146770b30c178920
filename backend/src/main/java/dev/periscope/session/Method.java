package dev.periscope.session;

/** The monitoring methods of the experiment (DESIGN.md): M1 traps nothing, M5 filters and decodes in the hypervisor. */
public enum Method {
    M1, M2, M3, M4, M5
}
