# shellcheck shell=bash
# The one writer (and shell reader) of the lab's meta.json and meta.env, the files that describe a run directory:
# what Periscope's Java driver reads (vmi-bridge's LabMeta, whose contract test runs this file) and what the lab's
# own commands source. meta.json is one flat JSON object, two-space indented, one "key": value per line;
# meta.env assigns the same values to shell variables (PREFIXkey=%q), plus fields only the shell needs.
# Provides: json_str S (a JSON string literal), meta_write DIR PREFIX FIELD..., meta_load DIR, meta_json_open FILE,
#   the field lists VM_META_FIELDS, XEN_META_FIELDS, XEN_GUEST_META_FIELDS and their writers vm_meta_write DIR
#   (from M_*), xen_meta_write DIR (X_*), xen_guest_meta_write DIR (G_*).
# Needs: nothing (bash only), so a test can source it alone.

# A lab VM (lab.sh start; var/lab/NAME/): "name:str" is a JSON string, "name:num" a JSON number or true/false,
# "name:env" goes to meta.env only.
VM_META_FIELDS=(name:str tenant:str memoryMib:num kernelVersion:str kernelPackage:str vmlinuz:str workload:str
    kaslr:num ramPath:str qmpSocket:str shellSocket:str consoleSocket:str consoleLog:str qemuPid:num startedAt:str
    startedEpoch:env ringPath:str ringTokenFile:str events:str bootSeconds:num)
# The machine that runs Xen (lab.sh xen up; var/lab/xen/machine/)
XEN_META_FIELDS=(name:str kind:str qemu:str qemuKind:str cpu:str memoryMib:num dom0MemoryMib:num hypervisor:str
    hypervisorKey:str xenCmdline:str kernelVersion:str kernelPackage:str vmlinuz:str dom0Root:str dom0Initrd:str
    shareDir:str qmpSocket:str shellSocket:str consoleSocket:str consoleLog:str qemuPid:num watchdogPid:num
    startedAt:str startedEpoch:env bootSeconds:num)
# A domU of the Xen lab (lab.sh xen guest; var/lab/xen/machine/guests/NAME/)
XEN_GUEST_META_FIELDS=(name:str type:str domid:num tenant:str workload:str memoryMib:num kernelVersion:str
    kernelPackage:str config:str consoleLog:str startedAt:str createSeconds:num bootSeconds:num)

vm_meta_write() { meta_write "$1" M_ "${VM_META_FIELDS[@]}"; }
xen_meta_write() { meta_write "$1" X_ "${XEN_META_FIELDS[@]}"; }
xen_guest_meta_write() { meta_write "$1" G_ "${XEN_GUEST_META_FIELDS[@]}"; }

# json_str S: S as a JSON string literal (every control character escaped)
json_str() {
    local s=$1 out="" c i
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
    if [[ $s == *[[:cntrl:]]* ]]; then   # rare: the other control characters as \u00XX
        for ((i = 0; i < ${#s}; i++)); do
            c=${s:i:1}
            [[ $c == [[:cntrl:]] ]] && printf -v c '\\u%04x' "'$c"
            out+=$c
        done
        s=$out
    fi
    printf '"%s"' "$s"
}

# meta_write DIR PREFIX FIELD...: DIR/meta.json and DIR/meta.env from the variables PREFIX<name>, in the order
# given; each FIELD is name:str, name:num or name:env. Fails, writing nothing, when a variable is unset or a num
# is not a number. Both files are replaced atomically, meta.json last (meta_load wants both).
meta_write() {
    local dir=$1 prefix=$2 f name var first=true; shift 2
    for f in "$@"; do
        var=$prefix${f%:*}
        [[ -n ${!var+set} ]] || { echo "meta: $var is not set" >&2; return 1; }
        [[ $f != *:num || ${!var} =~ ^(-?[0-9]+(\.[0-9]+)?|true|false)$ ]] ||
            { echo "meta: $var is not a number: '${!var}'" >&2; return 1; }
    done
    {
        printf '{\n'
        for f in "$@"; do
            name=${f%:*} var=$prefix${f%:*}
            case ${f##*:} in
                str) $first || printf ',\n'; printf '  "%s": %s' "$name" "$(json_str "${!var}")"; first=false ;;
                num) $first || printf ',\n'; printf '  "%s": %s' "$name" "${!var}"; first=false ;;
            esac
        done
        printf '\n}\n'
    } > "$dir/meta.json.tmp"
    for f in "$@"; do
        var=$prefix${f%:*}; printf '%s=%q\n' "$var" "${!var}"
    done > "$dir/meta.env.tmp"
    mv "$dir/meta.env.tmp" "$dir/meta.env"
    mv "$dir/meta.json.tmp" "$dir/meta.json"
}

# meta_load DIR: sets the variables of DIR/meta.env; returns 1 unless both files are there
meta_load() {
    [[ -f $1/meta.env && -f $1/meta.json ]] || return 1
    # shellcheck source=/dev/null
    source "$1/meta.env"
}

# meta_json_open FILE: FILE's object without its closing brace and with a comma after its last field, for adding
# fields (lab.sh list --json, lab.sh xen status --json)
meta_json_open() { sed '$d' "$1" | sed '$s/$/,/'; }
