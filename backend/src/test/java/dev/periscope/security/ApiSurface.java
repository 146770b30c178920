package dev.periscope.security;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.boot.actuate.endpoint.web.ExposableWebEndpoint;
import org.springframework.boot.actuate.endpoint.web.WebEndpointsSupplier;
import org.springframework.boot.actuate.endpoint.web.WebOperation;
import org.springframework.boot.actuate.endpoint.web.WebOperationRequestPredicate;
import org.springframework.web.bind.annotation.RequestMethod;
import org.springframework.web.method.HandlerMethod;
import org.springframework.web.reactive.result.method.RequestMappingInfo;
import org.springframework.web.util.pattern.PathPattern;

/**
 * What the server exposes, read from the server itself: the operations of the OpenAPI document it serves (one
 * endpoint per operation and per media type of its success response, so that an SSE and an NDJSON stream of one path
 * are two endpoints), the dashboard's pages from the router's mappings (every mapped handler of Periscope that is
 * not under {@code /api}), and the actuator's operations on the same port (as exposed by the configuration). Request
 * bodies are generated from the document's schemas.
 */
final class ApiSurface {

    private static final Pattern VARIABLE = Pattern.compile("\\{([^}]+)}");

    private ApiSurface() {
    }

    /** Where an endpoint comes from; anonymous callers of the API get statuses, of the others the login form. */
    enum Surface { API, PAGE, ACTUATOR }

    /**
     * One thing a client can call.
     *
     * @param method   HTTP method
     * @param path     path template, {@code {name}} for each variable
     * @param accept   the media type asked for: the document's for its success response (text/html for pages)
     * @param variant  whether the operation offers several media types (each is an endpoint of its own)
     * @param body     the request body's JSON schema, or null
     * @param okStatus the status the document (or, for pages and the actuator, HTTP) gives for success
     * @param surface  an API operation, a dashboard page (HTML) or an actuator operation
     */
    record Endpoint(String method, String path, String accept, boolean variant, Map<String, Object> body, int okStatus,
                    Surface surface) {

        /** The operation as the rules name it: method and path. */
        String operation() {
            return method + " " + path;
        }

        String key() {
            return operation() + (variant ? " (" + accept + ")" : "");
        }

        boolean safe() {
            return method.equals("GET");
        }

        /** A response that does not end by itself (an event stream). */
        boolean stream() {
            return accept.equals("text/event-stream") || accept.equals("application/x-ndjson");
        }

        List<String> variables() {
            List<String> names = new ArrayList<>();
            Matcher m = VARIABLE.matcher(path);
            while (m.find()) {
                names.add(m.group(1));
            }
            return names;
        }

        /** The path with each variable replaced by what {@code value} gives for {segment before it, its name}. */
        String fill(Function<String[], String> value) {
            StringBuilder out = new StringBuilder();
            String[] segments = path.substring(1).split("/");
            for (int i = 0; i < segments.length; i++) {
                Matcher m = VARIABLE.matcher(segments[i]);
                out.append('/').append(m.matches() ? value.apply(new String[] {segments[i - 1], m.group(1)})
                        : segments[i]);
            }
            return out.toString();
        }

        /** The collection the path's last variable names an object of ({@code sessions} for /sessions/{id}/stop). */
        String collection() {
            String[] segments = path.substring(1).split("/");
            String found = null;
            for (int i = 1; i < segments.length; i++) {
                if (VARIABLE.matcher(segments[i]).matches()) {
                    found = segments[i - 1];
                }
            }
            return found;
        }
    }

    /** Every operation of the OpenAPI document {@code doc}. */
    @SuppressWarnings("unchecked")
    static List<Endpoint> operations(Map<String, Object> doc) {
        Map<String, Object> components = (Map<String, Object>) doc.get("components");
        Map<String, Object> schemas = (Map<String, Object>) components.get("schemas");
        List<Endpoint> out = new ArrayList<>();
        ((Map<String, Object>) doc.get("paths")).forEach((path, item) ->
                ((Map<String, Object>) item).forEach((method, op) -> {
                    Map<String, Object> operation = (Map<String, Object>) op;
                    Map<String, Object> body = null;
                    if (operation.get("requestBody") instanceof Map<?, ?> requestBody) {
                        Map<String, Object> content = (Map<String, Object>) requestBody.get("content");
                        Map<String, Object> json = (Map<String, Object>) content.get("application/json");
                        body = resolve((Map<String, Object>) json.get("schema"), schemas);
                    }
                    Map<String, Object> responses = (Map<String, Object>) operation.get("responses");
                    String success = responses.keySet().stream().filter(s -> s.startsWith("2")).sorted(
                            Comparator.comparing((String s) -> !s.equals("201")).thenComparing(s -> s)).findFirst()
                            .orElseThrow(() -> new AssertionError(method + " " + path + " documents no success"));
                    Map<String, Object> content = (Map<String, Object>) ((Map<String, Object>) responses.get(success))
                            .getOrDefault("content", Map.of());
                    Set<String> types = content.isEmpty() ? Set.of("application/json")
                            : new TreeSet<>(content.keySet());
                    for (String type : types) {
                        out.add(new Endpoint(method.toUpperCase(), path, type, types.size() > 1, body,
                                Integer.parseInt(success), Surface.API));
                    }
                }));
        out.sort(Comparator.comparing(Endpoint::path).thenComparing(Endpoint::method).thenComparing(Endpoint::accept));
        return out;
    }

    /** The router's mappings of Periscope's own handlers: method and path template. */
    static Set<String> mapped(Map<RequestMappingInfo, HandlerMethod> handlers) {
        Set<String> out = new TreeSet<>();
        handlers.forEach((info, handler) -> {
            if (!handler.getBeanType().getPackageName().startsWith("dev.periscope")) {
                return;
            }
            Set<RequestMethod> methods = info.getMethodsCondition().getMethods();
            for (PathPattern pattern : info.getPatternsCondition().getPatterns()) {
                for (RequestMethod method : methods.isEmpty() ? Set.of(RequestMethod.GET) : methods) {
                    out.add(method.name() + " " + pattern.getPatternString());
                }
            }
        });
        return out;
    }

    /** The dashboard's pages: Periscope's mappings outside {@code /api}. */
    static List<Endpoint> pages(Map<RequestMappingInfo, HandlerMethod> handlers) {
        return mapped(handlers).stream().filter(m -> !m.split(" ")[1].startsWith("/api/"))
                .map(m -> new Endpoint(m.split(" ")[0], m.split(" ")[1], "text/html", false, null, 200, Surface.PAGE))
                .toList();
    }

    /**
     * The actuator's operations as the server exposes them under {@code basePath}: its links page, every operation of
     * every exposed endpoint, and a catch-all path (the health groups') once for each name {@code subpaths} gives for
     * its endpoint.
     */
    static List<Endpoint> actuator(WebEndpointsSupplier endpoints, String basePath,
                                   Function<String, List<String>> subpaths) {
        List<Endpoint> out = new ArrayList<>();
        out.add(new Endpoint("GET", basePath, "*/*", false, null, 200, Surface.ACTUATOR));
        for (ExposableWebEndpoint endpoint : endpoints.getEndpoints()) {
            for (WebOperation operation : endpoint.getOperations()) {
                WebOperationRequestPredicate predicate = operation.getRequestPredicate();
                String path = basePath + "/" + predicate.getPath();
                List<String> paths = predicate.getMatchAllRemainingPathSegmentsVariable() == null ? List.of(path)
                        : subpaths.apply(endpoint.getEndpointId().toString()).stream()
                        .map(name -> path.substring(0, path.indexOf("/{")) + "/" + name).toList();
                for (String p : paths) {
                    out.add(new Endpoint(predicate.getHttpMethod().name(), p, "*/*", false, null, 200,
                            Surface.ACTUATOR));
                }
            }
        }
        out.sort(Comparator.comparing(Endpoint::path).thenComparing(Endpoint::method));
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> resolve(Map<String, Object> schema, Map<String, Object> schemas) {
        if (schema.get("$ref") instanceof String ref) {
            return resolve((Map<String, Object>) schemas.get(ref.substring(ref.lastIndexOf('/') + 1)), schemas);
        }
        if (schema.get("properties") instanceof Map<?, ?> properties) {
            Map<String, Object> resolved = new LinkedHashMap<>(schema);
            Map<String, Object> props = new LinkedHashMap<>();
            ((Map<String, Object>) properties).forEach((name, p) -> props.put(name,
                    resolve((Map<String, Object>) p, schemas)));
            resolved.put("properties", props);
            return resolved;
        }
        return schema;
    }

    /**
     * A request body for {@code schema}: its required properties and those {@code hints} knows, each from its hint
     * when there is one, else the first enum value, the minimum, false, an empty list or "x".
     */
    @SuppressWarnings("unchecked")
    static Map<String, Object> example(Map<String, Object> schema, Map<String, Object> hints) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<String> required = (List<String>) schema.getOrDefault("required", List.of());
        ((Map<String, Object>) schema.getOrDefault("properties", Map.of())).forEach((name, p) -> {
            Map<String, Object> property = (Map<String, Object>) p;
            if (hints.containsKey(name)) {
                out.put(name, hints.get(name));
            } else if (required.contains(name)) {
                out.put(name, value(property, hints));
            }
        });
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Object value(Map<String, Object> property, Map<String, Object> hints) {
        if (property.get("enum") instanceof List<?> values) {
            return values.getFirst();
        }
        return switch (String.valueOf(property.get("type"))) {
            case "object" -> example(property, hints);
            case "integer", "number" -> Math.max(1, ((Number) property.getOrDefault("minimum", 1)).longValue());
            case "boolean" -> false;
            case "array" -> List.of();
            default -> property.containsKey("properties") ? example(property, hints) : "x";
        };
    }
}
