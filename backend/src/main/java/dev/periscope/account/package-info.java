/**
 * Accounts and how callers prove who they are: users (operator, tenant admin, tenant user) with BCrypt passwords for
 * the browser, API tokens for tools (shown once, stored as SHA-256 hashes, expiring, revocable), the bootstrap
 * operator written on first start, the security filter chain (form login with CSRF for the dashboard, bearer tokens
 * for the API, rate limits on failures) and the login page, and the resolver that hands every controller its
 * {@link dev.periscope.caller.Caller}.
 */
package dev.periscope.account;
