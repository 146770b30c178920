package dev.periscope.security;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Every secret a test run handled (passwords, API tokens, session cookies, CSRF tokens, private keys), by kind, so that
 * whatever the server wrote (its log, its audit trail) can be searched for them afterwards. Findings name the kind and
 * a short prefix, never the whole secret.
 */
final class Secrets {

    private final Map<String, String> byValue = new ConcurrentHashMap<>();

    /** Remembers {@code secret} as one of {@code kind} (blank or very short values are ignored: they match anything). */
    String add(String kind, String secret) {
        if (secret != null && secret.strip().length() >= 8) {
            byValue.putIfAbsent(secret.strip(), kind);
        }
        return secret;
    }

    int size() {
        return byValue.size();
    }

    /** How many of each kind, e.g. "api token: 40, demo password: 4". */
    String kinds() {
        return new TreeMap<>(byValue.values().stream().collect(Collectors.groupingBy(k -> k, Collectors.counting())))
                .toString();
    }

    /** The secrets found in {@code text}, as "kind (prefix...)" lines. */
    List<String> foundIn(String where, String text) {
        List<String> found = new ArrayList<>();
        byValue.forEach((secret, kind) -> {
            if (text.contains(secret)) {
                found.add(kind + " (" + secret.substring(0, 4) + "...) in " + where);
            }
        });
        return found;
    }
}
