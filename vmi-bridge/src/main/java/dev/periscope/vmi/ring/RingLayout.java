package dev.periscope.vmi.ring;

import dev.periscope.vmi.nativeapi.ring.PeriscopeRingAbi;
import dev.periscope.vmi.nativeapi.ring.periscope_breakpoint;
import dev.periscope.vmi.nativeapi.ring.periscope_control;
import dev.periscope.vmi.nativeapi.ring.periscope_lane;
import dev.periscope.vmi.nativeapi.ring.periscope_record;
import dev.periscope.vmi.nativeapi.ring.periscope_ring_header;

import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * Offsets, sizes and VarHandles of the ring ABI, taken once from the generated layouts. The memory
 * ordering mirrors periscope_ring.h: {@code getAcquire} on indices written by the other side,
 * {@code setRelease} on indices and answers written by Java, plain reads of record slots in between.
 */
final class RingLayout {

    static final long MAGIC = PeriscopeRingAbi.PERISCOPE_RING_MAGIC();
    static final int ABI_VERSION = PeriscopeRingAbi.PERISCOPE_RING_ABI_VERSION();
    static final int MAX_LANES = PeriscopeRingAbi.PERISCOPE_RING_MAX_LANES();
    static final int MAX_DTBS = PeriscopeRingAbi.PERISCOPE_RING_MAX_DTBS();
    static final int MAX_BREAKPOINTS = PeriscopeRingAbi.PERISCOPE_RING_MAX_BREAKPOINTS();
    static final int DATA_BYTES = PeriscopeRingAbi.PERISCOPE_RING_DATA_BYTES();
    static final long RECORDS_ALIGN = PeriscopeRingAbi.PERISCOPE_RING_RECORDS_ALIGN();
    static final int DEFAULT_SYNC_TIMEOUT_US = PeriscopeRingAbi.PERISCOPE_RING_DEFAULT_SYNC_TIMEOUT_US();
    static final long DTB_MASK = PeriscopeRingAbi.PERISCOPE_DTB_MASK();

    static final int KIND_CR3_WRITE = PeriscopeRingAbi.PERISCOPE_KIND_CR3_WRITE();
    static final int KIND_SYSCALL = PeriscopeRingAbi.PERISCOPE_KIND_SYSCALL();
    static final int KIND_BREAKPOINT = PeriscopeRingAbi.PERISCOPE_KIND_BREAKPOINT();
    static final int KIND_DROP_MARKER = PeriscopeRingAbi.PERISCOPE_KIND_DROP_MARKER();
    static final int KIND_SYSCALL_EXIT = PeriscopeRingAbi.PERISCOPE_KIND_SYSCALL_EXIT();
    static final int RECORD_SYNC = PeriscopeRingAbi.PERISCOPE_RECORD_SYNC();
    static final int RECORD_DATA_VALID = PeriscopeRingAbi.PERISCOPE_RECORD_DATA_VALID();
    static final int RECORD_FILTER_HIT = PeriscopeRingAbi.PERISCOPE_RECORD_FILTER_HIT();
    static final int RECORD_DATA_ARG_SHIFT = PeriscopeRingAbi.PERISCOPE_RECORD_DATA_ARG_SHIFT();
    static final int RECORD_DATA_ARG_MASK = PeriscopeRingAbi.PERISCOPE_RECORD_DATA_ARG_MASK();
    static final int BP_SYSCALL_ENTRY = PeriscopeRingAbi.PERISCOPE_BP_SYSCALL_ENTRY();
    static final int BP_PLAIN = PeriscopeRingAbi.PERISCOPE_BP_PLAIN();
    static final int BP_SYSCALL_EXIT = PeriscopeRingAbi.PERISCOPE_BP_SYSCALL_EXIT();
    static final int FEATURE_SYSCALL_EXIT = PeriscopeRingAbi.PERISCOPE_FEATURE_SYSCALL_EXIT();
    static final long THREAD_KEY_MASK = PeriscopeRingAbi.PERISCOPE_THREAD_KEY_MASK();
    static final int PRODUCER_ATTACHED = PeriscopeRingAbi.PERISCOPE_PRODUCER_ATTACHED();
    static final int PRODUCER_DETACHED = PeriscopeRingAbi.PERISCOPE_PRODUCER_DETACHED();

    // header
    static final long HEADER_SIZE = periscope_ring_header.layout().byteSize();
    static final long RECORDS_OFFSET = (HEADER_SIZE + RECORDS_ALIGN - 1) & -RECORDS_ALIGN;
    static final long H_MAGIC = periscope_ring_header.magic$offset();
    static final long H_ABI_VERSION = periscope_ring_header.abi_version$offset();
    static final long H_HEADER_SIZE = periscope_ring_header.header_size$offset();
    static final long H_RECORD_SIZE = periscope_ring_header.record_size$offset();
    static final long H_LANE_SIZE = periscope_ring_header.lane_size$offset();
    static final long H_LANE_COUNT = periscope_ring_header.lane_count$offset();
    static final long H_LANE_CAPACITY = periscope_ring_header.lane_capacity$offset();
    static final long H_RECORDS_OFFSET = periscope_ring_header.records_offset$offset();
    static final long H_TOTAL_SIZE = periscope_ring_header.total_size$offset();
    static final long H_CREATED_NS = periscope_ring_header.created_ns$offset();
    static final long H_PRODUCER_STATE = periscope_ring_header.producer_state$offset();
    static final long H_PRODUCER_PID = periscope_ring_header.producer_pid$offset();
    static final long H_VCPU_COUNT = periscope_ring_header.vcpu_count$offset();
    static final long H_PRODUCER_FEATURES = periscope_ring_header.producer_features$offset();
    static final long H_CONTROL_APPLIED = periscope_ring_header.control_applied_generation$offset();
    static final long H_CONTROL_REJECTED = periscope_ring_header.control_rejected$offset();
    static final long H_FLUSHES = periscope_ring_header.flushes$offset();
    static final long H_UNLANED = periscope_ring_header.unlaned_events$offset();
    static final long H_CONTROL = periscope_ring_header.control$offset();
    static final long H_LANES = periscope_ring_header.lanes$offset();

    // control (absolute offsets)
    static final long C_GENERATION = H_CONTROL + periscope_control.generation$offset();
    static final long C_TOKEN = H_CONTROL + periscope_control.token$offset();
    static final long C_MODE = H_CONTROL + periscope_control.mode$offset();
    static final long C_SYNC_TIMEOUT_US = H_CONTROL + periscope_control.sync_timeout_us$offset();
    static final long C_DTB_COUNT = H_CONTROL + periscope_control.dtb_count$offset();
    static final long C_BP_COUNT = H_CONTROL + periscope_control.breakpoint_count$offset();
    static final long C_DTBS = H_CONTROL + periscope_control.dtbs$offset();
    static final long C_BREAKPOINTS = H_CONTROL + periscope_control.breakpoints$offset();
    static final long BP_SIZE = periscope_breakpoint.layout().byteSize();
    static final long BP_GVA = periscope_breakpoint.gva$offset();
    static final long BP_KIND = periscope_breakpoint.kind$offset();

    // lane (relative to the lane's base)
    static final long LANE_SIZE = periscope_lane.layout().byteSize();
    static final long L_HEAD = periscope_lane.head$offset();
    static final long L_NEXT_SEQ = periscope_lane.next_seq$offset();
    static final long L_SEEN = periscope_lane.seen$offset();
    static final long L_FILTERED = periscope_lane.filtered$offset();
    static final long L_DELIVERED = periscope_lane.delivered$offset();
    static final long L_DROPPED = periscope_lane.dropped$offset();
    static final long L_VCPU_WAIT_NS = periscope_lane.vcpu_wait_ns$offset();
    static final long L_SYNC_TIMEOUTS = periscope_lane.sync_timeouts$offset();
    static final long L_TAIL = periscope_lane.tail$offset();
    static final long L_RESPONSE_SEQ = periscope_lane.response_seq$offset();
    static final long L_PENDING_DROPS = periscope_lane.pending_drops$offset();
    static final long L_DROP_MARKERS = periscope_lane.drop_markers$offset();
    static final long L_SYNC_WAITING_SEQ = periscope_lane.sync_waiting_seq$offset();
    static final long L_APPLIED_GENERATION = periscope_lane.applied_generation$offset();
    static final long L_CR3_SEEN = periscope_lane.cr3_seen$offset();
    static final long L_CR3_FILTERED = periscope_lane.cr3_filtered$offset();
    static final long L_EXITS_UNREPORTED = periscope_lane.exits_unreported$offset();

    // record (relative to the slot)
    static final long RECORD_SIZE = periscope_record.layout().byteSize();
    static final long R_KIND = periscope_record.kind$offset();
    static final long R_VCPU = periscope_record.vcpu$offset();
    static final long R_SEQ = periscope_record.seq$offset();
    static final long R_TIMESTAMP = periscope_record.timestamp_ns$offset();
    static final long R_OLD_CR3 = periscope_record.old_cr3$offset();
    static final long R_NEW_CR3 = periscope_record.new_cr3$offset();
    static final long R_RIP = periscope_record.rip$offset();
    static final long R_SYSCALL_NR = periscope_record.syscall_nr$offset();
    static final long R_ARGS = periscope_record.args$offset();
    static final long R_FLAGS = periscope_record.flags$offset();
    static final long R_DATA_LEN = periscope_record.data_len$offset();
    static final long R_AUX = periscope_record.aux$offset();
    static final long R_CONTROL_GENERATION = periscope_record.control_generation$offset();
    static final long R_DATA = periscope_record.data$offset();

    /*
     * Ordering-sensitive fields get VarHandles derived from the generated header layout; coordinates are
     * (MemorySegment, long base = 0) for header fields and (MemorySegment, long base = 0, long lane) for
     * lane fields.
     */
    static final VarHandle LANE_HEAD = laneField("head");
    static final VarHandle LANE_TAIL = laneField("tail");
    static final VarHandle LANE_RESPONSE_SEQ = laneField("response_seq");
    static final VarHandle LANE_APPLIED_GENERATION = laneField("applied_generation");
    static final VarHandle CONTROL_GENERATION = periscope_ring_header.layout()
            .varHandle(PathElement.groupElement("control"), PathElement.groupElement("generation"));
    static final VarHandle PRODUCER_STATE = periscope_ring_header.layout()
            .varHandle(PathElement.groupElement("producer_state"));
    static final VarHandle MAGIC_FIELD = periscope_ring_header.layout()
            .varHandle(PathElement.groupElement("magic"));
    /** (MemorySegment, long offset) -> long: any aligned uint64_t (counters: read opaque). */
    static final VarHandle U64 = ValueLayout.JAVA_LONG.varHandle();

    private static VarHandle laneField(String name) {
        return periscope_ring_header.layout().varHandle(
                PathElement.groupElement("lanes"), PathElement.sequenceElement(), PathElement.groupElement(name));
    }

    static {
        // The layout in Java must be the layout the C compiler saw (periscope_ring.h static-asserts the same).
        check(RECORD_SIZE == 192, "record size");
        check(LANE_SIZE == 256, "lane size");
        check(L_TAIL == 64 && L_RESPONSE_SEQ == 128, "lane cache lines");
        check(H_LANES % 64 == 0 && H_CONTROL == 128, "header layout");
        check(BP_SIZE == 16, "breakpoint size");
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new ExceptionInInitializerError("ring ABI mismatch: " + what);
        }
    }

    static long laneBase(int lane) {
        return H_LANES + lane * LANE_SIZE;
    }

    static long totalSize(int lanes, int capacity) {
        return RECORDS_OFFSET + (long) lanes * capacity * RECORD_SIZE;
    }

    private RingLayout() {
    }
}
