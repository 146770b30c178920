# shellcheck shell=bash
# A lab QEMU and its run directory, as lab VMs and the Xen lab's machine share them: DIR/console.sock (COM1, logged
# to DIR/console.log), DIR/shell.sock (COM2: the test shell), DIR/qmp.sock (QMP for clients such as Periscope's
# driver), DIR/control.sock (QMP for stopping), DIR/qemu.pid, DIR/qemu.cmdline and DIR/qemu.log (QEMU's output).
# Provides: is_qemu_pid PID TEXT, qemu_run_args DIR (-> QEMU_RUN_ARGS), qemu_daemonize BIN DIR ARG...
#   (-> QEMU_PID or QEMU_FAIL), qemu_stop PID TEXT DIR, qemu_boot_report DIR HEADLINE LINES WHAT,
#   attach_console SOCKET WHAT.
# Needs: socat, timeout.

# is_qemu_pid PID TEXT: PID is alive, a QEMU, and TEXT is in its command line (what makes it ours)
is_qemu_pid() {
    local pid=$1 text=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    local comm; comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == qemu* ]] || return 1
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$text"
}

# qemu_run_args DIR -> QEMU_RUN_ARGS: the serial ports, QMP sockets and pid file of the layout above, daemonized
# shellcheck disable=SC2034 # QEMU_RUN_ARGS is for the caller
qemu_run_args() {
    local d=$1
    QEMU_RUN_ARGS=(
        -chardev "socket,id=con,path=$d/console.sock,server=on,wait=off,logfile=$d/console.log"
        -serial chardev:con
        -chardev "socket,id=tsh,path=$d/shell.sock,server=on,wait=off"
        -serial chardev:tsh
        -qmp "unix:$d/qmp.sock,server=on,wait=off"
        -qmp "unix:$d/control.sock,server=on,wait=off"
        -pidfile "$d/qemu.pid" -daemonize
    )
}

# qemu_daemonize BIN DIR ARG...: starts BIN ARG... (daemonizing, with QEMU_RUN_ARGS among ARG) with no file
# descriptor of the caller's but its standard ones (see close_inherited_fds); its command line goes to
# DIR/qemu.cmdline, its output to DIR/qemu.log. Sets QEMU_PID, or QEMU_FAIL (why it did not start) and returns 1.
# shellcheck disable=SC2034 # QEMU_FAIL is for the caller
qemu_daemonize() {
    local bin=$1 d=$2; shift 2
    QEMU_PID="" QEMU_FAIL=""
    rm -f "$d/console.log" "$d/qemu.log" "$d/qemu.pid"
    printf '%q ' "$bin" "$@" > "$d/qemu.cmdline"; echo >> "$d/qemu.cmdline"
    if ! (close_inherited_fds; exec "$bin" "$@") > "$d/qemu.log" 2>&1; then
        QEMU_FAIL="qemu failed to start"; return 1
    fi
    QEMU_PID=$(cat "$d/qemu.pid" 2>/dev/null || true)
    [[ -n $QEMU_PID ]] || { QEMU_FAIL="qemu wrote no pid file"; return 1; }
}

# qemu_stop PID TEXT DIR: stops the QEMU PID (is_qemu_pid PID TEXT) of run dir DIR: QMP quit on DIR/control.sock,
# after 4 s SIGTERM, after 3 s more SIGKILL; returns 1 if it is still alive after that
qemu_stop() {
    local pid=$1 text=$2 d=$3 i
    is_qemu_pid "$pid" "$text" || return 0
    printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' |
        timeout 5 socat -t 2 -T 3 - "UNIX-CONNECT:$d/control.sock" >/dev/null 2>&1 || true
    for ((i = 0; i < 40; i++)); do is_qemu_pid "$pid" "$text" || return 0; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do is_qemu_pid "$pid" "$text" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do is_qemu_pid "$pid" "$text" || return 0; sleep 0.1; done
    return 1
}

# qemu_boot_report DIR HEADLINE LINES WHAT: on stderr, why a boot failed: HEADLINE, QEMU's own output and the last
# LINES lines of DIR/console.log (WHAT says whose console that is)
qemu_boot_report() {
    local d=$1 headline=$2 lines=$3 what=$4
    {
        echo "$headline"
        if [[ -s $d/qemu.log ]]; then echo "---- qemu output ($d/qemu.log)"; tail -n 20 "$d/qemu.log"; fi
        echo "---- last $lines lines of $what ($d/console.log)"
        if [[ -s $d/console.log ]]; then tail -n "$lines" "$d/console.log"; else echo "(no console output)"; fi
    } >&2
}

# attach_console SOCKET WHAT: a terminal gets WHAT raw (detach with Ctrl-]), a pipe the plain stream.
attach_console() {
    local sock=$1 what=$2
    if [[ -t 0 ]]; then
        echo "Attached to $what; detach with Ctrl-] ." >&2
        socat "-,raw,echo=0,escape=0x1d" "UNIX-CONNECT:$sock" || true
        echo >&2
    else
        exec socat - "UNIX-CONNECT:$sock"
    fi
}
