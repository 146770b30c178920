package dev.periscope.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.system.Sql;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.r2dbc.core.DatabaseClient;

/**
 * API tokens are bounded: a lifetime of 1 to 365 days, refused once expired or revoked (the revoked one is a principal
 * of the isolation matrix), and their secret is never in a list.
 */
class TokenLimitsTest extends TwoTenantServer {

    @Autowired
    DatabaseClient db;

    @Test
    void lifetimesAreBoundedAndAnExpiredTokenIsRefused() {
        String user = principal("globex-user").token();
        for (int days : new int[] {0, 366}) {
            Http.Response refused = http().post("/api/v1/tokens").bearer(user)
                    .json(Map.of("name", "too long", "ttlDays", days)).send();
            assertThat(refused.status()).as(days + " days").isEqualTo(400);
            assertThat(refused.body()).contains("ttlDays");
        }
        Map<String, Object> issued = http().post("/api/v1/tokens").bearer(user)
                .json(Map.of("name", "short-lived", "ttlDays", 1)).send().json();
        String secret = SECRETS.add("api token", (String) issued.get("token"));
        assertThat(http().get("/api/v1/vms").bearer(secret).send().status()).isEqualTo(200);
        assertThat(http().get("/api/v1/tokens").bearer(user).send().body()).contains((String) issued.get("id"))
                .doesNotContain(secret);

        db.sql("UPDATE api_token SET expires_at = :past WHERE id = :id")
                .bind("past", Sql.utc(Instant.now().minus(Duration.ofMinutes(1)))).bind("id", issued.get("id"))
                .then().block(Duration.ofSeconds(10));
        assertThat(http().get("/api/v1/vms").bearer(secret).send().status()).as("expired").isEqualTo(401);
        assertThat(http().get("/api/v1/tokens").bearer(user).send().jsonList())
                .filteredOn(t -> t.get("id").equals(issued.get("id")))
                .singleElement().satisfies(t -> assertThat(t).containsEntry("active", false));
    }
}
