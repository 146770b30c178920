package dev.periscope.system;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * When a test fails because something did not answer in time, prints what every thread of the JVM was doing
 * ({@code jcmd Thread.print}, or the JVM's own view when jcmd cannot run): a hang on a shared CI host is otherwise a
 * bare "timeout" with nothing to go on. Registered for every test class through the service loader
 * ({@code junit.jupiter.extensions.autodetection.enabled} in junit-platform.properties).
 */
public class HangDiagnostics implements TestExecutionExceptionHandler {

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        if (timedOut(failure)) {
            System.err.println("---- threads when " + context.getDisplayName() + " timed out\n" + threadDump());
        }
        throw failure;
    }

    /**
     * What every thread of this JVM is doing, as {@code jcmd Thread.print} shows it. jcmd writes to a file, not to a
     * pipe this JVM reads: the dump is written while every thread of this JVM, the reader too, is held at a safepoint,
     * and a dump larger than the pipe's buffer then waited for ever.
     */
    public static String threadDump() {
        try {
            Path out = Files.createTempFile("periscope-threads-", ".txt");
            try {
                Process jcmd = new ProcessBuilder(System.getProperty("java.home") + "/bin/jcmd",
                        Long.toString(ProcessHandle.current().pid()), "Thread.print", "-l")
                        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
                if (!jcmd.waitFor(60, TimeUnit.SECONDS)) {
                    jcmd.destroyForcibly();
                }
                return Files.readString(out);
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            return "(jcmd: " + e + ")\n" + ownDump();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)\n" + ownDump();
        }
    }

    private static String ownDump() {
        StringBuilder dump = new StringBuilder();
        for (ThreadInfo thread : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
            dump.append('"').append(thread.getThreadName()).append("\" ").append(thread.getThreadState()).append('\n');
            for (StackTraceElement frame : thread.getStackTrace()) {
                dump.append("\tat ").append(frame).append('\n');
            }
        }
        return dump.toString();
    }

    private static boolean timedOut(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException) {
                return true;
            }
        }
        return false;
    }
}
