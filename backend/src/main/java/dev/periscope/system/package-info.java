/**
 * The server's plumbing, which no feature package is above: validated configuration
 * ({@link dev.periscope.system.PeriscopeProperties}), the database (H2 file by default, its statements on threads of
 * its own, never on Netty's event loops; PostgreSQL by profile, pooled) and helpers for its hand-written SQL, the
 * bounded scheduler for blocking calls, rate limiting, the mapping of failures to problem details (API) and the error
 * page (dashboard), and the OpenAPI description.
 */
package dev.periscope.system;
