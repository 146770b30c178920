# shellcheck shell=bash
# The client of the lab's test-shell protocol (lab/README.md: REQ, then OUT/ERR/END with base64): the host talks to
# a lab VM's ttyS1 and to the Xen lab's dom0 with it, and dom0 (which gets a copy in its share) to the domUs.
# Provides: sh_quote S, shell_script ARG... (a sh command line for an argv), shell_call (one request),
#   shell_says (a readiness probe), shell_exec (a command with its output, exit code and timeouts passed on).
# Needs: common.sh (note, elapsed); socat, base64, od, awk.

# sh_quote S: S single-quoted for a POSIX shell
sh_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

# shell_script ARG...: the sh command line that runs ARG... with exactly that argv
shell_script() {
    local a s=""
    for a in "$@"; do s+="$(sh_quote "$a") "; done
    printf '%s' "$s"
}

# shell_call SOCK TIMEOUT SCRIPT [WAIT] -> CALL_RC, CALL_OUT_B64, CALL_ERR_B64; returns 0 if a reply arrived,
# 1 on timeout (2 if the connection failed). The guest kills SCRIPT after TIMEOUT s; we wait WAIT s for the reply
# (default TIMEOUT + 5).
shell_call() {
    local sock=$1 to=$2 script=$3 wait_s=${4:-}
    [[ -n $wait_s ]] || wait_s=$((to + 5))
    local id; id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    local b64; b64=$(printf '%s' "$script" | base64 -w0)
    CALL_RC=""; CALL_OUT_B64=""; CALL_ERR_B64=""
    [[ -S $sock ]] || return 2
    local now_us t_end_us rem_us
    now_us=${EPOCHREALTIME//[!0-9]/}
    t_end_us=$(( now_us + $(awk -v b="$wait_s" 'BEGIN{printf "%d", b*1000000}') ))
    coproc SHELLC { exec socat -T "$((${wait_s%.*} + 2))" - "UNIX-CONNECT:$sock" 2>/dev/null; }
    local rfd=${SHELLC[0]} wfd=${SHELLC[1]} cpid=$SHELLC_PID
    local state=wait line rem got=1
    if { printf '\nREQ %s %s %s\n' "$id" "$to" "$b64" >&"$wfd"; } 2>/dev/null; then
        while :; do
            now_us=${EPOCHREALTIME//[!0-9]/}
            rem_us=$(( t_end_us - now_us ))
            ((rem_us > 1000)) || break
            printf -v rem '%d.%06d' $((rem_us / 1000000)) $((rem_us % 1000000))
            IFS= read -r -t "$rem" line <&"$rfd" || break
            line=${line%$'\r'}
            case "$state|$line" in
                *"|OUT $id") state=out ;;
                "out|ERR $id") state=err ;;
                "err|END $id "*) CALL_RC=${line##* }; got=0; break ;;
                out\|*) CALL_OUT_B64+=$line ;;
                err\|*) CALL_ERR_B64+=$line ;;
            esac
        done
    fi
    kill "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    return $got
}

# shell_says SOCK TIMEOUT SCRIPT WAIT TEXT: whether SCRIPT answered within WAIT s, exiting 0 with exactly TEXT on
# its stdout (the readiness probe); returns 2 when SOCK takes no connection (nothing listens yet)
shell_says() {
    local rc=0
    shell_call "$1" "$2" "$3" "$4" || rc=$?
    ((rc == 0)) || return "$rc"
    [[ $CALL_RC == 0 && $(printf '%s' "$CALL_OUT_B64" | base64 -d) == "$5" ]]
}

# shell_exec WHERE SOCK LOCK TIMEOUT SCRIPT: runs SCRIPT through the test shell on SOCK, one at a time per LOCK
# file, its stdout and stderr on ours; returns its exit code, or 124 (with a note) when it timed out: waiting for
# another exec, waiting for the reply, or killed in the guest after TIMEOUT s; 1 (with a note) when SOCK takes no
# connection. WHERE names the guest in the notes.
shell_exec() {
    local where=$1 sock=$2 lock=$3 to=$4 script=$5 fd rc=0 t0
    exec {fd}>"$lock"
    if ! flock -w "$to" "$fd"; then
        exec {fd}>&-
        note "timed out after $to s waiting for another exec on $where"; return 124
    fi
    t0=$EPOCHREALTIME
    shell_call "$sock" "$to" "$script" || rc=$?
    exec {fd}>&-
    case $rc in
        0) ;;
        2) note "cannot connect to the test shell of $where ($sock)"; return 1 ;;
        *) note "timed out after $to s waiting for $where (no reply from its test shell)"; return 124 ;;
    esac
    printf '%s' "$CALL_OUT_B64" | base64 -d
    printf '%s' "$CALL_ERR_B64" | base64 -d >&2
    if [[ $CALL_RC == 137 ]] && (( $(elapsed "$t0" | cut -d. -f1) >= to )); then
        note "command timed out after $to s (killed in $where)"; return 124
    fi
    return "$CALL_RC"
}
