package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.linux.ProfileStore;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code ps --image FILE [--json] [--layout q35|flat|i440fx]}: an image file's process list, printed as the server's
 * {@code ps} prints a VM's, with no server, no agent and no Spring: the whole command is this class over the engine,
 * so that a cold process lists a kernel it has seen before in a fraction of a second. Kernel profiles are kept in
 * {@link ProfileStore#defaultDirectory()} ({@code PERISCOPE_PROFILE_CACHE} overrides it), shared with the agents of
 * this user. What could not be read is listed after the table as warnings (on standard error with {@code --json}).
 * Exit codes: 0 listed (completely or with warnings), 1 the image could not be read, 2 bad usage.
 */
public final class ImageCommand {

    private static final String USAGE = "usage: ps --image FILE [--json] [--layout q35|flat|i440fx]";

    private final PrintStream out;
    private final PrintStream err;

    ImageCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        // The engine logs through SLF4J; a command prints what went wrong itself, so only warnings get through.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.exit(new ImageCommand(System.out, System.err).run(List.of(args), ProfileStore.defaultDirectory()));
    }

    /** Runs the command with kernel profiles stored in {@code profiles}; returns the exit code. */
    int run(List<String> args, Path profiles) {
        Path file = null;
        RawLayout layout = RawLayout.Q35;
        boolean json = false;
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            switch (arg) {
                case "--json" -> json = true;
                case "--image", "--layout" -> {
                    if (++i == args.size()) {
                        return usage(arg + " needs a value");
                    }
                    if (arg.equals("--image")) {
                        file = Path.of(args.get(i));
                    } else {
                        try {
                            layout = RawLayout.parse(args.get(i));
                        } catch (IllegalArgumentException e) {
                            return usage(e.getMessage());
                        }
                    }
                }
                default -> {
                    return usage("unexpected argument '" + arg + "'");
                }
            }
        }
        if (file == null) {
            return usage("name an image file with --image");
        }
        ProcessList list;
        try (MemoryImage image = MemoryImage.open(file, layout)) {
            list = image.processes(new KernelProfileCache(ProfileStore.in(profiles)));
        } catch (VmiException e) {
            err.println("periscope: " + e.getMessage());
            return 1;
        }
        if (json) {
            out.println(JsonMapper.builder().build().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(list.processes()));
            list.warnings().forEach(w -> err.println("# warning: " + w)); // what was skipped, beside the JSON
        } else {
            printTable(file, list);
        }
        return 0;
    }

    private void printTable(Path file, ProcessList list) {
        out.printf("# %s  kernel %s  mode %s  read %.3f ms%n", file, list.kernelVersion(),
                list.mode().name().toLowerCase(), list.readTime().toNanos() / 1e6);
        out.printf("%7s %7s %6s %-5s %-16s %s%n", "PID", "PPID", "UID", "STATE", "NAME", "ARGV");
        for (GuestProcess p : list.processes()) {
            out.printf("%7d %7d %6d %-5s %-16s %s%n", p.pid(), p.ppid(), p.uid(), p.state(), p.name(), p.cmdline());
        }
        list.warnings().forEach(w -> out.println("# warning: " + w));
    }

    private int usage(String problem) {
        err.println("periscope: " + problem);
        err.println(USAGE);
        return 2;
    }
}
