package dev.periscope.vmi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Another process's memory, read through /proc/PID/mem: this JVM's own, and a process that exits. */
class ProcessMemoryTest {

    private static final long SELF = ProcessHandle.current().pid();

    @TempDir
    Path dir;

    @Test
    void readsAnotherMappingsBytesAtItsHostAddress() {
        try (Arena arena = Arena.ofConfined();
             ProcessMemory process = ProcessMemory.open(SELF, ProcessMemory.startTicks(SELF))) {
            MemorySegment native8k = arena.allocate(8192, 4096);
            native8k.set(ValueLayout.JAVA_LONG_UNALIGNED, 4000, 0x1122334455667788L);
            byte[] banner = "Linux version 6.1".getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(banner, 0, native8k, ValueLayout.JAVA_BYTE, 6000, banner.length);
            PhysicalMemory block = process.region(native8k.address(), 8192, "test");
            assertThat(block.size()).isEqualTo(8192);
            assertThat(block.readLong(4000)).as("a value across a page edge").isEqualTo(0x1122334455667788L);
            assertThat(block.indexOf(banner, 0, 8192)).isEqualTo(6000);
            assertThat(block.indexOf(banner, 6001, 8192)).isEqualTo(-1);
            assertThatThrownBy(() -> block.readLong(8190)).isInstanceOf(PageNotPresentException.class);
            assertThat(process.alive()).isTrue();
        }
    }

    @Test
    void aProcessThatExitsIsGoneAndAClosedOneIsClosed() throws Exception {
        Process sleeper = new ProcessBuilder("sleep", "60").start();
        try {
            long pid = sleeper.pid();
            ProcessMemory memory = ProcessMemory.open(pid, ProcessMemory.startTicks(pid));
            // The stack is always mapped: read a little of it while the process lives.
            long stack = stackAddress(pid);
            PhysicalMemory region = memory.region(stack, 4096, "stack");
            region.read(0, new byte[64], 0, 64);
            sleeper.destroyForcibly();
            assertThat(sleeper.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThatThrownBy(() -> region.read(0, new byte[64], 0, 64)).isInstanceOf(VmGoneException.class);
            assertThat(memory.alive()).isFalse();
            memory.close();
            assertThatThrownBy(() -> region.read(0, new byte[8], 0, 8)).isInstanceOf(SessionClosedException.class);
        } finally {
            sleeper.destroyForcibly();
        }
        assertThatThrownBy(() -> ProcessMemory.open(sleeper.pid(), 1)).isInstanceOf(VmGoneException.class);
    }

    @Test
    void aRecycledPidIsNotTheProcessOpened() {
        assertThatThrownBy(() -> ProcessMemory.open(SELF, ProcessMemory.startTicks(SELF) + 1))
                .isInstanceOf(VmGoneException.class);
    }

    @Test
    void findsTheFileBehindASharedMappingAndNothingBehindAnonymousMemory() throws IOException {
        Path file = dir.resolve("ram");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            channel.write(ByteBuffer.allocate(16 * 4096), 0);
            MemorySegment shared = channel.map(FileChannel.MapMode.READ_WRITE, 4 * 4096, 8 * 4096, arena);
            var found = ProcessMemory.sharedFileAt(SELF, shared.address() + 4096, 4 * 4096);
            assertThat(found).isPresent();
            assertThat(found.get().file()).isEqualTo(file);
            assertThat(found.get().offset()).isEqualTo(5 * 4096);
            assertThat(ProcessMemory.sharedFileAt(SELF, shared.address(), 9 * 4096)).as("past its end").isEmpty();
            MemorySegment anonymous = arena.allocate(8192, 4096);
            assertThat(ProcessMemory.sharedFileAt(SELF, anonymous.address(), 4096)).isEmpty();
        }
    }

    private static long stackAddress(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/maps"))) {
            if (line.endsWith("[stack]")) {
                return Long.parseUnsignedLong(line.substring(0, line.indexOf('-')), 16);
            }
        }
        throw new IllegalStateException("no stack mapping in " + pid);
    }
}
