package dev.periscope.system;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.springframework.stereotype.Component;

/**
 * In-memory token buckets: failed logins per client address and per user name, requests per principal. Bounded: when
 * a table grows past {@link #MAX_KEYS} the full buckets (idle keys) are forgotten.
 */
@Component
public class RateLimiter {

    static final int MAX_KEYS = 10_000;

    private final PeriscopeProperties.Limits limits;
    private final Map<String, Bucket> failures = new ConcurrentHashMap<>();
    private final Map<String, Bucket> userFailures = new ConcurrentHashMap<>();
    private final Map<String, Bucket> use = new ConcurrentHashMap<>();

    RateLimiter(PeriscopeProperties properties) {
        this.limits = properties.limits();
    }

    /** Seconds until {@code client} may try to log in again, 0 when it may now. */
    public long loginBlockedFor(String client) {
        Bucket bucket = failures.get(client);
        return bucket == null ? 0 : bucket.waitSeconds();
    }

    /** Counts one failed login (or bad token) from {@code client}. */
    public void loginFailed(String client) {
        failed(failures, client, limits.loginFailures());
    }

    /** Seconds until anyone may try to log in as {@code username} again, 0 when they may now. */
    public long userBlockedFor(String username) {
        Bucket bucket = userFailures.get(username);
        return bucket == null ? 0 : bucket.waitSeconds();
    }

    /** Counts one failed form login as {@code username}, from whatever address. */
    public void userLoginFailed(String username) {
        failed(userFailures, username, limits.loginFailuresPerUser());
    }

    private void failed(Map<String, Bucket> buckets, String key, int capacity) {
        trim(buckets);
        double perSecond = 1.0 / Math.max(0.001, limits.loginFailureRefill().toMillis() / 1000.0);
        buckets.computeIfAbsent(key, k -> new Bucket(capacity, perSecond)).tryTake();
    }

    /** Takes one request from {@code principal}'s bucket; returns the seconds to wait when it is empty, else 0. */
    public long use(String principal) {
        trim(use);
        Bucket bucket = use.computeIfAbsent(principal, k -> new Bucket(limits.tokenBurst(), limits.tokenPerSecond()));
        return bucket.tryTake() ? 0 : bucket.waitSeconds();
    }

    private static void trim(Map<String, Bucket> buckets) {
        if (buckets.size() > MAX_KEYS) {
            buckets.values().removeIf(Bucket::full);
            if (buckets.size() > MAX_KEYS) {
                buckets.clear();
            }
        }
    }

    /** A token bucket refilled continuously. */
    static final class Bucket {
        private final double capacity;
        private final double perSecond;
        private double tokens;
        private long last = System.nanoTime();

        Bucket(double capacity, double perSecond) {
            this.capacity = capacity;
            this.perSecond = perSecond;
            this.tokens = capacity;
        }

        synchronized boolean tryTake() {
            refill();
            if (tokens >= 1) {
                tokens -= 1;
                return true;
            }
            return false;
        }

        synchronized long waitSeconds() {
            refill();
            if (tokens >= 1) {
                return 0;
            }
            return Math.max(1, (long) Math.ceil(Duration.ofNanos((long) ((1 - tokens) / perSecond * 1e9)).toMillis()
                    / 1000.0));
        }

        synchronized boolean full() {
            refill();
            return tokens >= capacity;
        }

        private void refill() {
            long now = System.nanoTime();
            tokens = Math.min(capacity, tokens + (now - last) / 1e9 * perSecond);
            last = now;
        }
    }
}
