#!/usr/bin/env bash
# Proves the Xen extensions against Debian's Xen 4.17 source, and builds and tests libperiscope-xen:
#   1. fetches the source once (cached in <repo>/var/cache/xen-src: apt-get source --download-only xen)
#   2. extracts it fresh (dpkg-source -x) and applies xen-extensions/patches/*.patch (patch -p1, no fuzz)
#   3. checks that the shim's copy of the sub-op header is the one the patches add
#   4. compiles and runs the host unit tests of the patches' pure functions (xen-extensions/test)
#   5. compiles the FLASK policy with the Periscope module (the tenant template rendered for two tenants, acme
#      and globex, through patch 0004's periscope_monitor() interface) with Debian's checkpolicy
#   6. builds the hypervisor (Debian's config + XSM/FLASK, the hypervisor's own -Werror; the built-in
#      policy then holds the module too)
#   7. builds libperiscope-xen against libxen-dev and runs the shim's C tests against its fake
# Usage: bash xen-extensions/verify.sh   (XEN_VERIFY_JOBS=n for make -j, default nproc)
# Needs root once to install packages and add a deb-src entry if they are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="$repo/var/cache/xen-src"
work="$repo/var/build/xen-verify"
jobs="${XEN_VERIFY_JOBS:-$(nproc)}"
xen_version="4.17.5+72-g01140da4e8-1" # bookworm's xen source (bookworm-security serves no source)

step() { printf '\n== %s\n' "$*"; }
now() { date +%s; }
t_start=$(now)

step "packages"
need=()
for p in dpkg-dev checkpolicy libxen-dev gcc make bison flex python3 m4 patch; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get install -y -q "${need[@]}" >/dev/null
fi

step "source (cached in $cache)"
mkdir -p "$cache"
dsc="$cache/xen_${xen_version}.dsc"
t0=$(now)
if [[ ! -f "$dsc" ]]; then
    if ! apt-cache showsrc xen 2>/dev/null | grep -q "^Version: ${xen_version}\$"; then
        echo "adding deb-src for bookworm (/etc/apt/sources.list.d/periscope-xen-src.sources)"
        cat > /etc/apt/sources.list.d/periscope-xen-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -q >/dev/null
    fi
    (cd "$cache" && apt-get source --download-only "xen=${xen_version}" >/dev/null)
fi
t_fetch=$(( $(now) - t0 ))
echo "source ready in ${t_fetch}s: $(basename "$dsc")"

step "extract and patch"
rm -rf "$work"
mkdir -p "$work"
dpkg-source --no-check -x "$dsc" "$work/src" >/dev/null
src="$work/src"
for p in "$here"/patches/*.patch; do
    echo "applying $(basename "$p")"
    patch -d "$src" -p1 -F0 -N --batch --quiet < "$p"
done
cmp "$src/xen/include/public/periscope.h" "$here/include/public/periscope.h" || {
    echo "xen-extensions/include/public/periscope.h differs from the header the patches add" >&2
    exit 1
}

step "unit tests of the patches' pure functions"
make -s -C "$here/test" XEN_SRC="$src" BUILD="$work/test" test

step "FLASK policy with the Periscope module"
policy="$src/tools/flask/policy"
template="$here/flask/periscope.te.template"
[[ -f "$template" ]] || { echo "missing $template" >&2; exit 1; }
python3 - "$template" "$policy/modules/periscope.te" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
head, block, tail = re.match(r"(?s)(.*)# BEGIN TENANT\n(.*)# END TENANT\n?(.*)", text).groups()
tenants = [("1", "acme", "web1 web2"), ("2", "globex", "db1")]
values = {"generated": "verify.sh", "tenant_count": str(len(tenants))}
def render(s, extra):
    v = dict(values, **extra)
    out = re.sub(r"\$\{(\w+)\}", lambda m: v[m.group(1)], s)
    assert "${" not in out, "unrendered placeholder"
    return out
body = "".join(render(block, {"tenant_id": i, "tenant": t, "vms": vms}) for i, t, vms in tenants)
open(sys.argv[2], "w").write(render(head, {}) + body + render(tail, {}))
PY
printf 'periscope = on\n' >> "$policy/modules/modules.conf"
mkdir -p "$work/policy"
t0=$(now)
make -s -f Makefile.common -C "$policy" FLASK_BUILD_DIR="$work/policy" POLICY_FILENAME="$work/policy/xenpolicy-periscope" \
    >"$work/policy.log" 2>&1 || { cat "$work/policy.log"; exit 1; }
test -s "$work/policy/xenpolicy-periscope"
echo "policy compiled in $(( $(now) - t0 ))s: $(stat -c %s "$work/policy/xenpolicy-periscope") bytes"

step "hypervisor (make -C xen -j$jobs, Debian config + XSM/FLASK, -Werror)"
cp "$src/debian/xen-kconfig" "$src/xen/.config"
printf 'CONFIG_XSM=y\nCONFIG_XSM_FLASK=y\n' >> "$src/xen/.config"
make -s -C "$src/xen" olddefconfig >/dev/null
grep -q '^CONFIG_XSM_FLASK=y' "$src/xen/.config"
t0=$(now)
make -C "$src/xen" -j"$jobs" >"$work/xen-build.log" 2>&1 || { tail -40 "$work/xen-build.log"; exit 1; }
t_xen=$(( $(now) - t0 ))
test -s "$src/xen/xen.gz" || test -s "$src/xen/xen"
grep -q -- '-Werror' "$work/xen-build.log" || grep -rq -- 'Werror' "$src/xen/Makefile"
echo "hypervisor built in ${t_xen}s"

step "libperiscope-xen against libxen-dev, and its tests against the fake"
make -s -C "$repo/vmi-bridge/native/xen" OUT="$work/native" all test

echo
echo "verify.sh: OK (source ${t_fetch}s, hypervisor ${t_xen}s, total $(( $(now) - t_start ))s)"
