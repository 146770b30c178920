/**
 * Security tests of the whole application over the fake agent (two tenants, acme and globex, each with a VM): the
 * tenant-isolation matrix generated from the served OpenAPI document and the router's page mappings, audit
 * completeness, CSRF, security headers and the content security policy in headless Chromium, session fixation, HSTS
 * over TLS, and a scan of everything logged for the secrets the run used.
 */
package dev.periscope.security;
