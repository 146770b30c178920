package dev.periscope.account;

import dev.periscope.caller.Caller;
import dev.periscope.caller.Role;
import dev.periscope.caller.TenantScope;
import dev.periscope.system.Sql;
import io.r2dbc.spi.Readable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.UUID;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.security.core.userdetails.ReactiveUserDetailsService;
import org.springframework.security.core.userdetails.UserDetails;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Users and API tokens in the database. Passwords are stored with the delegating encoder (BCrypt); a token is
 * 32 random bytes shown once, stored as its SHA-256 (enough for a high-entropy secret), found by that hash.
 */
@Component
public class Accounts implements ReactiveUserDetailsService {

    static final String TOKEN_PREFIX = "psc_";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final DatabaseClient db;
    private final PasswordEncoder encoder;

    Accounts(DatabaseClient db, PasswordEncoder encoder) {
        this.db = db;
        this.encoder = encoder;
    }

    @Override
    public Mono<UserDetails> findByUsername(String username) {
        return db.sql("SELECT * FROM app_user WHERE username = :u").bind("u", username)
                .map(row -> (UserDetails) new PeriscopeUser(caller(row), row.get("password_hash", String.class),
                        Boolean.TRUE.equals(row.get("enabled", Boolean.class))))
                .one();
    }

    /** Creates the user, or (for the bootstrap operator) brings its password in line with the var file. */
    public Mono<Void> ensureOperator(String username, String password) {
        return findByUsername(username)
                .map(existing -> encoder.matches(password, existing.getPassword()))
                .flatMap(same -> same ? Mono.just(true) : db.sql("UPDATE app_user SET password_hash = :h WHERE username = :u")
                        .bind("h", encoder.encode(password)).bind("u", username).then().thenReturn(true))
                .switchIfEmpty(Mono.defer(() -> createUser(username, password, Role.OPERATOR, null).thenReturn(true)))
                .then();
    }

    /** A new user; fails with a DuplicateKeyException when the name is taken. */
    public Mono<UserView> createUser(String username, String password, Role role, String tenantId) {
        Instant now = Instant.now();
        return db.sql("""
                        INSERT INTO app_user (username, password_hash, user_role, tenant_id, enabled, created_at)
                        VALUES (:u, :h, :r, :t, TRUE, :at)""")
                .bindValues(Map.of("u", username, "h", encoder.encode(password), "r", role.name(),
                        "t", Sql.value(tenantId, String.class), "at", Sql.utc(now)))
                .then()
                .thenReturn(new UserView(username, role, tenantId, true, now));
    }

    public Mono<Long> userCount() {
        return db.sql("SELECT COUNT(*) AS n FROM app_user").map(row -> Sql.longValue(row, "n")).one();
    }

    Flux<UserView> users(Caller caller) {
        return TenantScope.byTenantAndOwner(caller, "tenant_id", "username")
                .select(db, "SELECT * FROM app_user", "ORDER BY username").map(row -> new UserView(row.get("username", String.class),
                Role.valueOf(row.get("user_role", String.class)), row.get("tenant_id", String.class),
                Boolean.TRUE.equals(row.get("enabled", Boolean.class)), Sql.instant(row, "created_at"))).all();
    }

    /** Issues a token for {@code owner}; the secret is in the result and nowhere else. */
    Mono<NewToken> issueToken(Caller owner, String name, Duration ttl) {
        byte[] random = new byte[32];
        RANDOM.nextBytes(random);
        String secret = TOKEN_PREFIX + HexFormat.of().formatHex(random);
        String id = UUID.randomUUID().toString();
        Instant now = Instant.now();
        Instant expires = now.plus(ttl);
        return db.sql("""
                        INSERT INTO api_token (id, username, name, token_hash, created_at, expires_at)
                        VALUES (:id, :u, :n, :h, :at, :exp)""")
                .bindValues(Map.of("id", id, "u", owner.username(), "n", name, "h", sha256Hex(secret),
                        "at", Sql.utc(now), "exp", Sql.utc(expires)))
                .then()
                .thenReturn(new NewToken(id, name, owner.username(), secret, now, expires));
    }

    /** Tokens {@code caller} may see: its own; a tenant admin's tenant's; all for operators. Never the secrets. */
    Flux<TokenView> tokens(Caller caller) {
        return TenantScope.byTenantAndOwner(caller, "u.tenant_id", "t.username")
                .select(db, "SELECT t.*, u.tenant_id FROM api_token t JOIN app_user u ON u.username = t.username",
                        "ORDER BY t.created_at")
                .map(Accounts::tokenView).all();
    }

    /** Revokes a token {@code caller} may see; empty when there is none such (404 for the caller). */
    Mono<TokenView> revoke(Caller caller, String id) {
        return tokens(caller).filter(t -> t.id().equals(id)).next()
                .flatMap(t -> db.sql("UPDATE api_token SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL")
                        .bind("at", Sql.utc(Instant.now())).bind("id", id).then()
                        .then(tokens(caller).filter(v -> v.id().equals(id)).next()));
    }

    /** The caller a presented token stands for, if it is known, unexpired, unrevoked and its user enabled. */
    public Mono<Caller> authenticateToken(String presented) {
        if (!presented.startsWith(TOKEN_PREFIX)) {
            return Mono.empty();
        }
        String hash = sha256Hex(presented);
        Instant now = Instant.now();
        return db.sql("""
                        SELECT u.*, t.id AS token_id FROM api_token t JOIN app_user u ON u.username = t.username
                        WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > :now AND u.enabled""")
                .bind("h", hash).bind("now", Sql.utc(now))
                .map(row -> Map.entry(row.get("token_id", String.class), caller(row)))
                .one()
                .flatMap(found -> db.sql("UPDATE api_token SET last_used_at = :at WHERE id = :id")
                        .bind("at", Sql.utc(now)).bind("id", found.getKey()).then()
                        .thenReturn(found.getValue()));
    }

    private static Caller caller(Readable row) {
        return new Caller(row.get("username", String.class), Role.valueOf(row.get("user_role", String.class)),
                row.get("tenant_id", String.class));
    }

    private static TokenView tokenView(Readable row) {
        Instant expires = Sql.instant(row, "expires_at");
        Instant revoked = Sql.instant(row, "revoked_at");
        return new TokenView(row.get("id", String.class), row.get("name", String.class),
                row.get("username", String.class), row.get("tenant_id", String.class), Sql.instant(row, "created_at"),
                expires, revoked, Sql.instant(row, "last_used_at"),
                revoked == null && expires.isAfter(Instant.now()));
    }

    public static String sha256Hex(String value) {
        try {
            return HexFormat.of().formatHex(
                    MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** A random password for generated accounts. */
    public static String randomPassword() {
        byte[] random = new byte[12];
        RANDOM.nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    /** A user as the API shows it (never the password hash). */
    public record UserView(String username, Role role, String tenant, boolean enabled, Instant createdAt) {
    }

    /** A token as lists show it: no secret. */
    record TokenView(String id, String name, String username, String tenant, Instant createdAt, Instant expiresAt,
                     Instant revokedAt, Instant lastUsedAt, boolean active) {
    }

    /** A token just issued: the only time its secret is shown (its text form, which codecs log, hides it). */
    record NewToken(String id, String name, String username, String token, Instant createdAt, Instant expiresAt) {

        @Override
        public String toString() {
            return "NewToken[id=" + id + ", name=" + name + ", username=" + username + ", token=(hidden), createdAt="
                    + createdAt + ", expiresAt=" + expiresAt + "]";
        }
    }
}
