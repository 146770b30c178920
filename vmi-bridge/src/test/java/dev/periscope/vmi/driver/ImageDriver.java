package dev.periscope.vmi.driver;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A driver over in-memory guest images, for tests of code that sits on any driver (the remote transport, the
 * combined driver): each guest is a byte image whose odd pages past the first 16 are absent (reads fail), with fixed
 * registers. Counts what its callers did. Not a hypervisor: the real drivers have their own tests.
 */
public final class ImageDriver implements HypervisorDriver {

    public static final int IMAGE_BYTES = 64 * 4096;

    /** One guest image and what was done to it. */
    public static final class Image {
        public final String name;
        public final byte[] bytes = new byte[IMAGE_BYTES];
        public final AtomicInteger pages = new AtomicInteger();
        public final AtomicInteger pauses = new AtomicInteger();
        public final AtomicInteger opened = new AtomicInteger();
        public final AtomicInteger closed = new AtomicInteger();
        public volatile boolean running = true;

        Image(String name) {
            this.name = name;
            new Random(name.hashCode()).nextBytes(bytes); // no repeating pattern: a search has one answer
        }

        /** Whether the page holding this address is backed (a hole in guest RAM otherwise, as Xen has them). */
        public static boolean present(long address) {
            long page = address >>> 12;
            return page < 16 || page % 2 == 0;
        }
    }

    private final String platform;
    private final List<Image> images;

    public ImageDriver(String platform, String... names) {
        this.platform = platform;
        this.images = List.of(names).stream().map(Image::new).toList();
    }

    public Image image(String name) {
        return images.stream().filter(i -> i.name.equals(name)).findFirst().orElseThrow();
    }

    @Override
    public String platform() {
        return platform;
    }

    @Override
    public List<DomainInfo> domains() {
        return images.stream().map(this::info).toList();
    }

    private DomainInfo info(Image i) {
        return new DomainInfo(i.name, "acme", platform, i.running, IMAGE_BYTES, "6.1.0-test", "idle",
                Instant.ofEpochSecond(1_700_000_000L, 5));
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return images.stream().filter(i -> i.name.equals(name)).findFirst().map(this::info);
    }

    @Override
    public Set<Capability> capabilities(String name) {
        return domain(name).filter(DomainInfo::running).map(d -> (Set<Capability>) EnumSet.allOf(Capability.class))
                .orElse(Set.of());
    }

    @Override
    public Domain open(String name) {
        Image image = images.stream().filter(i -> i.name.equals(name) && i.running).findFirst()
                .orElseThrow(() -> new VmGoneException(name + " is not running"));
        image.opened.incrementAndGet();
        return new ImageDomain(image);
    }

    @Override
    public void close() {
    }

    private final class ImageDomain implements Domain {
        private final Image image;
        private final PhysicalMemory memory;

        ImageDomain(Image image) {
            this.image = image;
            this.memory = counting(new ByteArrayPhysicalMemory(image.bytes), image);
        }

        @Override
        public DomainInfo info() {
            return ImageDriver.this.info(image);
        }

        @Override
        public Set<Capability> capabilities() {
            return EnumSet.allOf(Capability.class);
        }

        @Override
        public PhysicalMemory memory() {
            return memory;
        }

        @Override
        public VcpuRegisters registers(int vcpu) {
            if (vcpu < 0 || vcpu >= vcpuCount()) {
                throw new IllegalArgumentException("no vCPU " + vcpu);
            }
            return new VcpuRegisters(vcpu, 0x1000L * (vcpu + 1), 0x20L, 0xd01L, 0xffffffff81000000L + vcpu, 7, 8);
        }

        @Override
        public int vcpuCount() {
            return 2;
        }

        @Override
        public void pause() {
            image.pauses.incrementAndGet();
        }

        @Override
        public void resume() {
        }

        @Override
        public Duration lastPauseDuration() {
            return Duration.ofMillis(3);
        }

        @Override
        public MemorySnapshot snapshot() {
            byte[] copy = image.bytes.clone();
            Instant at = Instant.now();
            PhysicalMemory frozen = counting(new ByteArrayPhysicalMemory(copy), image);
            return new MemorySnapshot() {
                @Override
                public PhysicalMemory memory() {
                    return frozen;
                }

                @Override
                public VcpuRegisters registers(int vcpu) {
                    return ImageDomain.this.registers(vcpu);
                }

                @Override
                public Instant takenAt() {
                    return at;
                }

                @Override
                public Duration guestDowntime() {
                    return Duration.ofMillis(1);
                }

                @Override
                public Duration totalTime() {
                    return Duration.ofMillis(2);
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public void close() {
            image.closed.incrementAndGet();
        }
    }

    /** Fails reads of absent pages like a driver does, and counts page-sized reads (how the transport reads). */
    private static PhysicalMemory counting(PhysicalMemory m, Image image) {
        return new PhysicalMemory() {
            private void check(long a, int n) {
                for (long p = a >>> 12; p <= (a + Math.max(n, 1) - 1) >>> 12; p++) {
                    if (!Image.present(p << 12)) {
                        throw new PageNotPresentException("hole at page " + p, Math.max(a, p << 12));
                    }
                }
            }

            @Override
            public long size() {
                return m.size();
            }

            @Override
            public void read(long a, byte[] t, int o, int n) {
                if (n == 4096) {
                    image.pages.incrementAndGet();
                }
                check(a, n);
                m.read(a, t, o, n);
            }

            @Override
            public long indexOf(byte[] needle, long from, long to) {
                return m.indexOf(needle, from, to);
            }
        };
    }
}
