package dev.periscope.bench.faults;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one repetition of a fault showed: what the user saw (an API status and problem title, how a stream ended, its
 * markers), one example of the detail, what was lost and how much of it was counted where the user can see it,
 * figures (latencies, rates) and every broken expectation.
 */
final class Observation {

    private String userSees = "";
    private String example = "";
    private long lost;
    private long counted;
    private final Map<String, Double> figures = new LinkedHashMap<>();
    private final List<String> violations = new ArrayList<>();

    /** What the user saw, in words that are the same for alike outcomes (they are counted together). */
    Observation sees(String what) {
        this.userSees = what;
        return this;
    }

    /** One concrete detail of it (a problem's detail, a state's reason). */
    Observation example(String detail) {
        this.example = detail;
        return this;
    }

    /** {@code lost} units lost, of which {@code counted} were reported to the user (markers, counters, errors). */
    Observation lost(long lost, long counted) {
        this.lost = lost;
        this.counted = counted;
        return this;
    }

    Observation figure(String name, double value) {
        figures.put(name, value);
        return this;
    }

    /** Records a broken expectation unless {@code ok}. */
    Observation expect(boolean ok, String violation) {
        if (!ok) {
            violations.add(violation);
        }
        return this;
    }

    String userSees() {
        return userSees;
    }

    String example() {
        return example;
    }

    long lost() {
        return lost;
    }

    long counted() {
        return counted;
    }

    Map<String, Double> figures() {
        return figures;
    }

    List<String> violations() {
        return violations;
    }
}
