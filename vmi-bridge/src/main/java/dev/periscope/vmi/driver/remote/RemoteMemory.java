package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Physical memory of a remote domain (live) or snapshot, fetched by whole pages and kept in a bounded LRU. Live
 * pages expire after {@link #LIVE_PAGE_TTL_NANOS}: within that a walk re-reads what it already has instead of
 * crossing the wire per field, and a reader sees the guest at most that stale, which a live read racing the
 * guest is anyway. A snapshot's pages never change, so they never expire.
 */
final class RemoteMemory implements PhysicalMemory {

    static final long LIVE_PAGE_TTL_NANOS = 250_000_000L;
    static final int CACHED_PAGES = 2048; // 8 MiB

    /** A fetched page: its bytes, or null when the server reported it not present. */
    private record Page(byte[] bytes, long fetchedAt) {
    }

    private final RemoteConnection connection;
    private final int space;
    private final long size;
    private final boolean live;
    private final boolean machineFrames;
    private final String description;
    private final Map<Long, Page> pages = lru();

    /** A machine frame's guest frame address, as the server translated it. */
    private record Translation(long address, long fetchedAt) {
    }

    /** A PV guest's page-table frames, translated (expiring like live pages: the guest may remap them). */
    private final Map<Long, Translation> frames = lru();

    /** At most {@link #CACHED_PAGES} entries, the least recently used going first. */
    private static <V> Map<Long, V> lru() {
        return new LinkedHashMap<>(256, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, V> eldest) {
                return size() > CACHED_PAGES;
            }
        };
    }

    RemoteMemory(RemoteConnection connection, int space, long size, boolean machineFrames, String description) {
        this.connection = connection;
        this.space = space;
        this.size = size;
        this.machineFrames = machineFrames;
        this.live = space == Wire.LIVE;
        this.description = description;
    }

    /** Forgets every live page (after a pause or resume the guest's state is a new one). */
    synchronized void invalidate() {
        pages.clear();
        frames.clear();
    }

    @Override
    public boolean pageTablesHoldMachineFrames() {
        return machineFrames;
    }

    @Override
    public synchronized long pageTableFrame(long frameAddress) {
        if (!machineFrames) {
            return frameAddress;
        }
        long now = System.nanoTime();
        Translation known = frames.get(frameAddress);
        if (known != null && fresh(known.fetchedAt(), now)) {
            return known.address();
        }
        long at = connection.callFor(description, out -> {
            out.writeByte(Wire.PAGE_TABLE_FRAME);
            out.writeInt(space);
            out.writeLong(frameAddress);
        }, in -> in.readLong());
        frames.put(frameAddress, new Translation(at, now));
        return at;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long physicalAddress, byte[] target, int offset, int length) {
        if (offset < 0 || length < 0 || offset > target.length - length) {
            throw new IndexOutOfBoundsException("target range " + offset + "+" + length + " of " + target.length);
        }
        if (physicalAddress < 0 || physicalAddress > size - length) {
            throw new PageNotPresentException("physical address 0x" + Long.toHexString(physicalAddress) + "+" + length
                    + " is outside " + description + " (" + size + " bytes)", physicalAddress);
        }
        if (length == 0) {
            return;
        }
        long first = physicalAddress >>> 12;
        long last = (physicalAddress + length - 1) >>> 12;
        synchronized (this) {
            fetchMissing(first, last);
            int done = 0;
            for (long p = first; p <= last; p++) {
                Page page = pages.get(p);
                long pageStart = p << 12;
                int from = (int) Math.max(0, physicalAddress - pageStart);
                int n = (int) Math.min(Wire.PAGE - from, length - done);
                if (page == null || page.bytes() == null) {
                    throw new PageNotPresentException("page 0x" + Long.toHexString(pageStart) + " of " + description
                            + " is not present", Math.max(physicalAddress, pageStart));
                }
                System.arraycopy(page.bytes(), from, target, offset + done, n);
                done += n;
            }
        }
    }

    /** Fetches the pages of [first, last] that are not cached (or expired), in runs of at most MAX_PAGES. */
    private void fetchMissing(long first, long last) {
        long now = System.nanoTime();
        long p = first;
        while (p <= last) {
            if (fresh(pages.get(p), now)) {
                p++;
                continue;
            }
            long start = p;
            while (p <= last && p - start < Wire.MAX_PAGES && !fresh(pages.get(p), now)) {
                p++;
            }
            fetch(start, (int) (p - start), now);
        }
    }

    private boolean fresh(Page page, long now) {
        return page != null && fresh(page.fetchedAt(), now);
    }

    /** A snapshot's entries never expire; a live one's after {@link #LIVE_PAGE_TTL_NANOS}. */
    private boolean fresh(long fetchedAt, long now) {
        return !live || now - fetchedAt < LIVE_PAGE_TTL_NANOS;
    }

    /** What this memory is, for messages: the VM's name or "snapshot N of VM". */
    String description() {
        return description;
    }

    private void fetch(long first, int count, long now) {
        connection.callFor(description, out -> {
            out.writeByte(Wire.READ_PAGES);
            out.writeInt(space);
            out.writeLong(first);
            out.writeInt(count);
        }, in -> {
            for (int i = 0; i < count; i++) {
                pages.put(first + i, new Page(in.readBoolean() ? in.readNBytes(Wire.PAGE) : null, now));
            }
            return null;
        });
    }

    @Override
    public long indexOf(byte[] needle, long from, long to) {
        if (needle.length == 0 || needle.length > Wire.MAX_NEEDLE) {
            throw new IllegalArgumentException("a needle of 1 to " + Wire.MAX_NEEDLE + " bytes");
        }
        return connection.callFor(description, out -> {
            out.writeByte(Wire.INDEX_OF);
            out.writeInt(space);
            out.writeInt(needle.length);
            out.write(needle);
            out.writeLong(from);
            out.writeLong(to);
        }, in -> in.readLong());
    }
}
