# shellcheck shell=bash
# The lab's directories: the one definition every lab script (lab.sh, xen/xenlab.sh, xen/test.sh, xen/qemu/*.sh)
# takes them from, so PERISCOPE_VAR moves all of them at once.
# Provides: LAB_DIR (lab/), REPO_DIR (the checkout), VAR_DIR (${PERISCOPE_VAR:-<repo>/var}), LAB_VAR (run
#   directories: VAR_DIR/lab/NAME for VMs), CACHE (VAR_DIR/cache: kernels, images, downloads), XEN_CACHE (the Xen
#   lab's builds: CACHE/xen-lab), XEN_RUN (the run directory of the machine that runs Xen: LAB_VAR/xen/machine).
# Needs: nothing.
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
VAR_DIR=${PERISCOPE_VAR:-$REPO_DIR/var}
LAB_VAR=$VAR_DIR/lab
CACHE=$VAR_DIR/cache
# shellcheck disable=SC2034 # for the Xen lab's scripts
{
    XEN_CACHE=$CACHE/xen-lab
    XEN_RUN=$LAB_VAR/xen/machine
}
