package dev.periscope.bench.faults;

import dev.periscope.vmi.driver.lab.LabVm;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;

/**
 * A guest's QEMU killed (SIGKILL) in the middle of something the control plane asked of its agent: a process list
 * (pause mode, the first on a fresh guest, so the kill lands anywhere from attaching and deriving the kernel profile to
 * resuming the guest), a copy-on-write snapshot (QEMU's background migration into a file), or a trace (M5 with an SSE
 * client following it). Each repetition has a guest of its own (booted while the one before ran) and kills it after a
 * random delay. Expected: an answer that says the VM is not running (or the list, when it was read before the kill),
 * never an error of the server or no answer; a trace's stream ends LOST with VM_GONE; no snapshot file left; and the
 * agent holds nothing of the dead guest (its RAM file and ring unmapped) once the lab cleaned up after it.
 */
final class QemuKill implements Fault {

    /** What the guest's agent was doing when QEMU died. */
    enum During {
        PROCESS_LIST("pl", 2500), SNAPSHOT("sn", 1200), TRACE("tr", 1000);

        final String tag;
        final int maxDelayMs;

        During(String tag, int maxDelayMs) {
            this.tag = tag;
            this.maxDelayMs = maxDelayMs;
        }
    }

    private static final Duration ANSWER = Duration.ofSeconds(90);
    private final During during;
    /** The guest of the next repetition, booting while this one runs. */
    private CompletableFuture<LabVm> next;

    QemuKill(During during) {
        this.during = during;
    }

    @Override
    public String name() {
        return "qemu-kill-" + during.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    @Override
    public String description() {
        return switch (during) {
            case PROCESS_LIST -> "QEMU killed in the middle of a process list (pause mode, cold engine)";
            case SNAPSHOT -> "QEMU killed in the middle of a copy-on-write snapshot";
            case TRACE -> "QEMU killed in the middle of a trace (M5, SSE client)";
        };
    }

    @Override
    public String lostUnit() {
        return during == During.TRACE ? "syscall events" : "answers";
    }

    @Override
    public Optional<String> unavailable(Stage stage) {
        return stage.labUnavailable();
    }

    @Override
    public void prepare(Stage stage) {
        stage.server();
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("agent", stage.agent().pid()), new Watched("server", stage.server().pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) throws Exception {
        Observation o = new Observation();
        LabVm vm = next != null ? next.join() : stage.boot(guest(repetition));
        next = repetition < stage.repetitions
                ? CompletableFuture.supplyAsync(() -> stage.boot(guest(repetition + 1))) : null;
        try {
            switch (during) {
                case PROCESS_LIST -> processList(stage, vm, o);
                case SNAPSHOT -> snapshot(stage, vm, o);
                case TRACE -> trace(stage, vm, o);
            }
        } finally {
            vm.stop();
        }
        boolean released = Api.await(Duration.ofSeconds(15),
                () -> Resources.of(stage.agent().pid(), stage.shmPrefix()).shmMappings(), n -> n == 0);
        o.expect(released, "the agent still maps the dead guest's RAM or ring 15 s after the lab removed them");
        return o;
    }

    private String guest(int repetition) {
        return "flt-" + during.tag + "-" + repetition;
    }

    @Override
    public void finish(Stage stage) {
        if (next != null) { // a repetition failed before using it
            next.thenAccept(LabVm::stop).exceptionally(e -> null).join();
            next = null;
        }
    }

    private void processList(Stage stage, LabVm vm, Observation o) throws Exception {
        Api api = stage.api();
        String path = "/api/v1/vms/" + Stage.vmId(vm) + "/processes?mode=pause";
        CompletableFuture<Api.Reply> list = CompletableFuture.supplyAsync(() -> api.get(path, ANSWER));
        long delay = stage.random.nextInt(during.maxDelayMs);
        Commands.sleep(Duration.ofMillis(delay));
        vm.killQemu();
        long killed = System.nanoTime();
        Api.Reply r = list.get(ANSWER.toSeconds() + 10, TimeUnit.SECONDS);
        o.figure("answer after the kill (ms)", Math.max(0, (System.nanoTime() - killed) / 1e6));
        answered(o, r, 200, "the list, read before the kill");
        Api.Reply again = api.get(path, ANSWER);
        o.expect(again.status() == 409 || again.status() == 404, "a list of the dead guest answered "
                + again.summary());
    }

    private void snapshot(Stage stage, LabVm vm, Observation o) throws Exception {
        Api api = stage.api();
        Api.Reply warm = api.get("/api/v1/vms/" + Stage.vmId(vm) + "/processes?mode=live", ANSWER);
        o.expect(warm.status() == 200, "the warm-up list failed: " + warm.summary());
        CompletableFuture<Api.Reply> snap = CompletableFuture.supplyAsync(() -> api.post("/api/v1/vms/"
                + Stage.vmId(vm) + "/snapshots", "", ANSWER));
        Commands.sleep(Duration.ofMillis(stage.random.nextInt(during.maxDelayMs)));
        vm.killQemu();
        long killed = System.nanoTime();
        Api.Reply r = snap.get(ANSWER.toSeconds() + 10, TimeUnit.SECONDS);
        o.figure("answer after the kill (ms)", Math.max(0, (System.nanoTime() - killed) / 1e6));
        answered(o, r, 201, "the list, from a snapshot finished before the kill");
        boolean gone = Api.await(Duration.ofSeconds(5), () -> Resources.files(vm.runDir(), "snap-*"), List::isEmpty);
        o.expect(gone, "snapshot files left: " + Resources.files(vm.runDir(), "snap-*"));
    }

    /** The answer of a call QEMU died under: {@code ok} (done before the kill) or 409, never anything else. */
    private static void answered(Observation o, Api.Reply r, int ok, String okMeans) {
        if (r.status() == ok) {
            o.sees(ok + ": " + okMeans).lost(0, 0);
            return;
        }
        o.sees(r.summary()).example(r.detail()).lost(1, r.status() > 0 ? 1 : 0);
        o.expect(r.status() == 409, "answered " + r.summary() + " " + r.detail());
    }

    private void trace(Stage stage, LabVm vm, Observation o) {
        Api api = stage.api();
        String id = api.trace(Stage.vmId(vm), "busy-writer", "M5");
        try (SseClient sse = SseClient.follow(api, id, 0)) {
            o.expect(sse.awaitSyscalls(5, Duration.ofSeconds(60)), "no syscalls before the kill");
            Commands.sleep(Duration.ofMillis(stage.random.nextInt(during.maxDelayMs)));
            vm.killQemu();
            long killed = System.nanoTime();
            boolean ended = sse.awaitEnd(Duration.ofSeconds(30));
            o.figure("stream end after the kill (ms)", (System.nanoTime() - killed) / 1e6);
            JsonNode state = sse.state();
            o.sees(ended ? "SSE ends: " + state.path("state").asString("?") + " (" + state.path("end").asString("?")
                    + ")" : "SSE still open 30 s after the kill").example(state.path("reason").asString(""));
            o.lost(sse.droppedTotal(), sse.droppedTotal());
            o.expect(ended, "the stream did not end within 30 s of the kill");
            o.expect("VM_GONE".equals(state.path("end").asString("")), "the stream's last state is " + state);
            JsonNode s = api.session(id);
            o.expect("LOST".equals(s.path("state").asString("")) && "VM_GONE".equals(s.path("end").asString("")),
                    "the session is " + s.path("state").asString("?") + "/" + s.path("end").asString("?"));
        } finally {
            if (!api.session(id).path("state").asString("").matches("ENDED|LOST")) {
                api.stop(id);
            }
        }
    }
}
