package dev.periscope.system;

import java.nio.file.Path;
import java.util.Set;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.PropertySource;

/**
 * The default database: an H2 file under the var directory, {@code <var>/db/periscope.mv.db}, opened by R2DBC for
 * the application and by JDBC for Flyway's migrations at start-up. The URLs are computed when they are looked
 * up, so that a var directory set late (a test's dynamic property) still applies; explicit
 * {@code spring.r2dbc.url} / {@code spring.flyway.url} (the {@code postgres} profile) win, this source is last.
 */
class DatabaseUrls implements EnvironmentPostProcessor {

    /**
     * Open until the JVM ends, and each commit written to the file at once: H2 otherwise writes commits up to half a
     * second late, and a killed server lost its last ones (a session created, or stopped, just before a SIGKILL was
     * gone after the restart: the fault suite's server-restart).
     */
    private static final String SETTINGS = ";DB_CLOSE_DELAY=-1;WRITE_DELAY=0";

    private static final Set<String> NAMES = Set.of("spring.r2dbc.url", "spring.flyway.url", "spring.flyway.user",
            "spring.flyway.password", "spring.r2dbc.username", "spring.r2dbc.password");

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        environment.getPropertySources().addLast(new PropertySource<Object>("periscopeDatabaseUrls", new Object()) {
            @Override
            public Object getProperty(String name) {
                if (!NAMES.contains(name)) {
                    return null;
                }
                if (name.endsWith(".user") || name.endsWith(".username")) {
                    return "sa";
                }
                if (name.endsWith(".password")) {
                    return "";
                }
                String db = databasePath(varDir(environment, this)) + SETTINGS;
                return name.equals("spring.r2dbc.url") ? "r2dbc:h2:file:///" + db : "jdbc:h2:file:" + db;
            }
        });
    }

    /**
     * The var directory as the other property sources give it. Read source by source (not through the
     * environment, whose attached configuration-property view would consult this source again).
     */
    private static String varDir(ConfigurableEnvironment environment, PropertySource<?> self) {
        for (PropertySource<?> source : environment.getPropertySources()) {
            if (source == self || source.getName().equals("configurationProperties")) {
                continue;
            }
            for (String name : new String[] {"periscope.var-dir", "periscope.varDir", "PERISCOPE_VARDIR",
                    "PERISCOPE_VAR_DIR"}) {
                Object value = source.getProperty(name);
                if (value != null) {
                    return environment.resolvePlaceholders(value.toString());
                }
            }
        }
        return "var";
    }

    /** Absolute path of the H2 database (without H2's {@code .mv.db} suffix). */
    static String databasePath(String varDir) {
        return Path.of(varDir).toAbsolutePath().normalize().resolve("db").resolve("periscope").toString();
    }
}
