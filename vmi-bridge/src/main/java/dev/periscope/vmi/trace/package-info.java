/**
 * Process-bound syscall tracing over the hypervisor's event ring: the API the backend builds sessions on.
 *
 * <pre>{@code
 * try (TraceSession s = engine.trace("acme-1", TraceRequest.process("nginx").withChildren(true))) {
 *     s.events().subscribe(e -> ...);            // Flux<TraceEvent>: Syscall (with its result), Dropped,
 *                                                // ProcessChange (EXEC, CHILD, EXIT), Ended
 *     OverheadSnapshot o = s.overhead();         // or s.overheadSamples(): one snapshot per second
 * }
 * }</pre>
 *
 * <ul>
 *   <li>{@link dev.periscope.vmi.trace.TraceRequest}: the target (pid, or comm), the
 *       {@link dev.periscope.vmi.trace.TraceMethod} (M1..M5, docs/ARCHITECTURE.md; M5 is the default: filtered and
 *       decoded in the hypervisor, nothing waits for Java), whether children are followed, whether path and
 *       buffer arguments are decoded, and the session's buffer size.</li>
 *   <li>{@link dev.periscope.vmi.trace.TraceSession}: {@code events()} (subscribe once; a slow subscriber loses
 *       events, counted and reported by a {@code Dropped} marker, never unbounded memory; completes after an
 *       {@code Ended} event (with its {@link dev.periscope.vmi.trace.TraceEnd}) when the target exits, the VM goes away or the session is closed),
 *       {@code overhead()}, {@code overheadSamples()}, {@code close()}.</li>
 *   <li>{@link dev.periscope.vmi.trace.TraceEvent}, sealed: a {@code Syscall} (time in host monotonic ns, vCPU,
 *       pid, comm, syscall number and name from the guest kernel's own {@code sys_call_table} ({@link
 *       dev.periscope.vmi.trace.SyscallTable} says when the built-in fallback was used), the arguments strace shows,
 *       decoded as strace decodes them (table-driven: {@code SyscallSignatures} per call, {@code ArgType} per kind
 *       of argument, {@code StraceFormat} for strings and structs, {@code SyscallConstants} for flags and names,
 *       {@code Errno}), and the call's result (value, errno, duration; unfinished, no return, or not traced)), a
 *       {@code Dropped} marker with its count and where the events were lost, a {@code ProcessChange} (a followed
 *       child, an exec, an exit) or the {@code Ended} event.</li>
 *   <li>Inside: {@link dev.periscope.vmi.trace.TraceHub} runs the ring thread and dispatches records,
 *       {@link dev.periscope.vmi.trace.ProcessTracker} keeps which address spaces belong to which traced process,
 *       {@link dev.periscope.vmi.trace.RingPlan} turns the sessions' needs into the ring's control (entry and exit
 *       hooks). Where the hypervisor extension reports returns, a call is emitted when it returns: its entry waits
 *       in {@link dev.periscope.vmi.trace.SyscallPairing} (per guest thread, bounded, every loss counted).</li>
 *   <li>{@link dev.periscope.vmi.trace.OverheadSnapshot}: the VM's hypervisor counters (seen, filtered,
 *       delivered, dropped, CR3 split), the session's share (matched, emitted, dropped in its buffer), vCPU time
 *       spent waiting for Java, the estimated guest slowdown, and how returns paired (paired, unmatched, lost).</li>
 * </ul>
 *
 * <p>Threads: {@code VmiEngine.trace} blocks for a process-list walk (milliseconds): call it off the Netty
 * event loop (e.g. {@code Mono.fromCallable(...).subscribeOn(Schedulers.boundedElastic())}). Events are
 * emitted on the VM's ring thread ({@link dev.periscope.vmi.trace.TraceHub}: one per VM, started with the first
 * session, stopped with the last); subscribers that do real work should {@code publishOn} their own scheduler.
 * Many sessions on one VM share its single ring (Xen allows one monitor ring per domain): the ring's control is
 * the union of what they need, and every record is attributed once and fanned out.
 */
package dev.periscope.vmi.trace;
