/**
 * A hypervisor driver over a socket: {@link dev.periscope.vmi.driver.remote.DriverServer} serves a real driver
 * where the hypervisor's control interface is (the Xen lab's dom0, which alone may map a domU's memory), and
 * {@link dev.periscope.vmi.driver.remote.RemoteDriver} is that driver on the host, where the server, the engine
 * and the dashboard run.
 *
 * <p>Why this cut: the wire carries the driver SPI (domains, physical pages, registers, pause, snapshots), not
 * process lists, so the engine, its kernel profiles, caches and hostile-data checks run once, on the host, the same
 * code for every platform; dom0 runs only the driver it must. The client fetches whole pages and keeps them for a
 * quarter of a second (a live read races with the guest anyway; a pause or resume drops them), so a walk costs
 * a round trip per new page, not per field. The kernel banner scan runs on the server (no megabytes over the wire).
 * Events (CR3 writes, breakpoints) stay where the hypervisor writes their ring: a remote domain has no event channel.
 *
 * <p>Protocol: a client sends {@code "PRM1"} and a token; the server answers with its platform or an error and
 * hangs up. Then one request at a time: an operation byte and its arguments; a status byte, then the result or
 * an error message. One connection holds at most one attached domain and its snapshots; closing the connection
 * releases them on the server, so a client that dies leaks nothing there.
 */
package dev.periscope.vmi.driver.remote;
