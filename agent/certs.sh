#!/usr/bin/env bash
# Certificates for the agent API's mutual TLS: a CA, the control plane's client certificate, and one server
# certificate per agent (each names the agent's host and "periscope-agent", which the control plane checks).
# A tenant's agent (its monitor, in its own monitoring domain) is bound to that tenant by one more name,
# URI:urn:periscope:tenant:TENANT: the control plane then counts every VM it reports as TENANT's, whatever the agent
# labels them and whatever an operator assigns. Agents without it (dom0's, a host's) serve every tenant.
# Keys are EC P-256 in PKCS#8 PEM, mode 0600; existing files are kept (run with --force to replace them all), but an
# existing agent certificate bound otherwise than asked is an error, not kept silently.
#
# usage: agent/certs.sh DIR [--agent NAME]... [--tenant-agent NAME:TENANT]... [--control-plane NAME] [--days N] [--force]
#   DIR/ca.pem ca.key                  the CA (keep ca.key offline in production)
#   DIR/control-plane.pem .key         the control plane's client certificate (CN = NAME, default control-plane)
#   DIR/agent-NAME.pem .key            an agent's certificate (CN = NAME; SAN periscope-agent, NAME, localhost, 127.0.0.1,
#                                      and for --tenant-agent URI:urn:periscope:tenant:TENANT; TENANT as the control
#                                      plane's tenant ids: 2-31 lower-case letters and digits, a letter first)
set -euo pipefail

die() { echo "certs.sh: $*" >&2; exit 2; }
usage="usage: certs.sh DIR [--agent NAME]... [--tenant-agent NAME:TENANT]... [--control-plane NAME] [--days N] [--force]"
dir=${1:-}; [[ -n $dir && $dir != --* ]] || die "$usage"
shift
name_re='[A-Za-z0-9][A-Za-z0-9._-]{0,62}' tenant_re='[a-z][a-z0-9]{1,30}'
agents=() control=control-plane days=825 force=false
declare -A tenant_of=()
add_agent() { # NAME [TENANT]
    [[ ! -v "tenant_of[$1]" ]] || die "agent $1 is named twice"
    tenant_of[$1]=${2:-}; agents+=("$1")
}
while (($#)); do
    case $1 in
        --agent) [[ ${2:-} =~ ^$name_re$ ]] || die "--agent needs a host name"; add_agent "$2"; shift 2 ;;
        --tenant-agent) [[ ${2:-} =~ ^($name_re):($tenant_re)$ ]] \
                || die "--tenant-agent needs NAME:TENANT (TENANT: 2-31 lower-case letters and digits, a letter first)"
            add_agent "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; shift 2 ;;
        --control-plane) [[ ${2:-} =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || die "--control-plane needs a name"; control=$2; shift 2 ;;
        --days) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--days needs a number"; days=$2; shift 2 ;;
        --force) force=true; shift ;;
        *) die "unknown argument $1" ;;
    esac
done
command -v openssl >/dev/null || die "openssl is missing (apt-get install -y openssl)"
mkdir -p "$dir"
umask 077
$force && rm -f "$dir"/*.pem "$dir"/*.key

key() { [[ -s $1 ]] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -s $dir/ca.pem ]]; then
    key "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" -subj "/CN=Periscope CA/O=Periscope" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.pem" 2>/dev/null
fi

# the tenant URN of an existing certificate, "" when it has none
tenant_in() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | grep -o 'URI:urn:periscope:tenant:[^,[:space:]]*' || true; }

# issue NAME FILE-BASE USAGE SAN
issue() {
    local name=$1 base=$2 usage=$3 san=$4
    [[ -s $dir/$base.pem ]] && return 0
    key "$dir/$base.key"
    local ext; ext=$(mktemp)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' \
        "$usage" "${san:+subjectAltName=$san}" > "$ext"
    openssl req -new -key "$dir/$base.key" -subj "/CN=$name/O=Periscope" 2>/dev/null |
        openssl x509 -req -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -sha256 -days "$days" \
            -extfile "$ext" -out "$dir/$base.pem" 2>/dev/null
    rm -f "$ext"
}

issue "$control" control-plane clientAuth ""
for a in "${agents[@]}"; do
    urn=${tenant_of[$a]:+URI:urn:periscope:tenant:${tenant_of[$a]}}
    if [[ -s $dir/agent-$a.pem && $(tenant_in "$dir/agent-$a.pem") != "$urn" ]]; then
        die "$dir/agent-$a.pem exists bound to '$(tenant_in "$dir/agent-$a.pem")', not '$urn' as asked" \
            "(empty: every tenant); remove it or run with --force"
    fi
    issue "$a" "agent-$a" serverAuth "DNS:periscope-agent,DNS:$a,DNS:localhost,IP:127.0.0.1${urn:+,$urn}"
done
rm -f "$dir/ca.srl"
chmod 0644 "$dir"/*.pem
echo "certs.sh: certificates in $dir (CA, control-plane${agents[*]:+, agents: ${agents[*]}})"
