package dev.periscope.session;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.process.ProcessListView;
import dev.periscope.process.ProcessView;
import dev.periscope.vmi.linux.Visibility;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Every event type's wire form: its name, and a payload that reads back as the same record. */
class SessionEventJsonTest {

    private static final Instant AT = Instant.parse("2026-01-01T00:00:00.123456Z");
    private final JsonMapper json = JsonMapper.builder().build();

    static List<SessionEvent.Payload> oneOfEach() {
        return List.of(
                new SessionEvent.StateChange(SessionState.LOST, SessionEnd.VM_GONE, "VM acme-1 went away"),
                new SessionEvent.Processes(new ProcessListView("acme-1", "6.1.0-28-amd64", "snapshot", true, AT, 12, 3,
                        400, List.of(new ProcessView(1, 0, "init", "init", "/sbin/init", List.of("/sbin/init"), 0, 0,
                        "S", 1_000_000L, 0x1234000L, false, List.of(1), Visibility.HIDDEN)), List.of("1 further warnings suppressed"))),
                new SessionEvent.Notice("process list failed, retrying: page not present"),
                new SessionEvent.TraceStarted(42, "sh", TraceMethod.M4, TraceMethod.M4.description(),
                        List.of("openat"), "guest sys_call_table"),
                SessionEvent.Syscall.of(new TraceEvent.Syscall(7, 0, 42, "sh", 257, "openat",
                        List.of(new TraceEvent.Arg("dfd", -100, "AT_FDCWD"), new TraceEvent.Arg("flags", 0x241, null)),
                        new TraceEvent.Result(TraceEvent.Status.RETURNED, -2, "ENOENT", 21_000,
                                "-1 ENOENT (No such file or directory)")), AT),
                new SessionEvent.ProcessChange(TraceEvent.Change.EXEC, 42, "make", "make -j2"),
                new SessionEvent.Dropped(17, SessionEvent.DropSite.SESSION_BUFFER));
    }

    @Test
    void everyTypeHasOnePayloadRecord() {
        assertThat(oneOfEach()).extracting(SessionEvent.Payload::type)
                .containsExactlyInAnyOrder(SessionEvent.Type.values());
        assertThat(Arrays.stream(SessionEvent.Type.values()).map(SessionEvent.Type::payload).distinct())
                .hasSize(SessionEvent.Type.values().length);
    }

    @Test
    void eachPayloadReadsBackAsTheSameRecordUnderItsWireName() {
        for (SessionEvent.Payload p : oneOfEach()) {
            String text = json.writeValueAsString(new SessionEvent(5, "s1", p.type(), AT, p));
            JsonNode tree = json.readTree(text);
            assertThat(tree.get("type").asString()).isEqualTo(p.type().name().toLowerCase());
            assertThat(SessionEvent.Type.of(tree.get("type").asString())).isEqualTo(p.type());
            assertThat(json.treeToValue(tree.get("data"), p.type().payload())).as(text).isEqualTo(p);
        }
    }

    @Test
    void aProcessListIsTheListItselfNotAWrapper() {
        SessionEvent.Payload p = oneOfEach().get(1);
        JsonNode data = json.readTree(json.writeValueAsString(p));
        assertThat(data.get("mode").asString()).isEqualTo("snapshot");
        assertThat(data.get("processes").get(0).get("name").asString()).isEqualTo("init");
    }
}
