package dev.periscope.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Process-list latency over REST, as a client sees it: {@code GET /api/v1/vms/{vm}/processes?mode=...} with the
 * operator token, one request at a time on a kept-alive HTTP/1.1 connection, after a warm-up. Reports
 * p50/p95/p99 of the round trip and of the guest downtime the server reports. Target: LIVE <= 20 ms warm.
 * Usage: {@code java -cp benchmarks.jar dev.periscope.bench.RestLatency --url http://localhost:18080
 * --token-file var/operator.token --vm bench-1 --n 200 --warmup 50 --modes live,pause,snapshot
 * --snapshot-n 20 --out FILE.json}
 */
public final class RestLatency {

    private static final Pattern DOWNTIME = Pattern.compile("\"guestDowntimeMicros\"\\s*:\\s*(\\d+)");
    private static final Pattern PID = Pattern.compile("\"pid\"\\s*:");

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Stats.args(argv);
        String url = a.getOrDefault("url", "http://localhost:18080");
        String token = Files.readString(Path.of(a.getOrDefault("token-file",
                Guest.varDir().resolve("operator.token").toString()))).strip();
        String vm = a.getOrDefault("vm", Guest.vm());
        int n = Integer.parseInt(a.getOrDefault("n", "200"));
        int warmup = Integer.parseInt(a.getOrDefault("warmup", "50"));
        int snapshotN = Integer.parseInt(a.getOrDefault("snapshot-n", "20"));
        String[] modes = a.getOrDefault("modes", "live,pause,snapshot").split(",");
        Path out = Path.of(a.getOrDefault("out", Guest.varDir().resolve("bench/rest-latency.json").toString()));

        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("url", url);
        result.put("vm", vm);
        for (String mode : modes) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/api/v1/vms/" + vm + "/processes?mode="
                            + mode)).header("Authorization", "Bearer " + token).header("Accept", "application/json")
                    .timeout(Duration.ofSeconds(60)).GET().build();
            boolean snapshot = mode.equals("snapshot");
            int count = snapshot ? snapshotN : n;
            int warm = snapshot ? Math.min(3, warmup) : warmup;
            for (int i = 0; i < warm; i++) {
                send(client, request);
            }
            List<Double> latency = new ArrayList<>(), downtime = new ArrayList<>();
            int processes = 0;
            long bytes = 0;
            for (int i = 0; i < count; i++) {
                long t0 = System.nanoTime();
                String body = send(client, request);
                latency.add(Stats.ms(System.nanoTime() - t0));
                Matcher m = DOWNTIME.matcher(body);
                downtime.add(m.find() ? Long.parseLong(m.group(1)) / 1000.0 : Double.NaN);
                processes = (int) PID.matcher(body).results().count();
                bytes = body.length();
            }
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("latencyMs", Stats.summary(latency));
            r.put("guestDowntimeMs", Stats.summary(downtime));
            r.put("processes", processes);
            r.put("responseChars", bytes);
            result.put(mode, r);
            System.out.println(Stats.line("REST " + mode + " round trip (" + processes + " processes)",
                    Stats.summary(latency)));
            System.out.println(Stats.line("REST " + mode + " guest downtime", Stats.summary(downtime)));
        }
        Stats.writeJson(out, result);
        System.out.println("wrote " + out);
    }

    private static String send(HttpClient client, HttpRequest request) throws Exception {
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException(request.uri() + " -> " + response.statusCode() + ": " + response.body());
        }
        return response.body();
    }
}
