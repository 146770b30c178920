/**
 * Who is calling: users (operator, tenant admin, tenant user) with BCrypt passwords for the browser, API tokens
 * for tools (shown once, stored as SHA-256 hashes, expiring, revocable), and the {@link dev.periscope.account.Caller}
 * every controller scopes its queries by.
 */
package dev.periscope.account;
