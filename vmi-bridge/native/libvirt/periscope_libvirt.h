/*
 * Input of jextract for dev.periscope.vmi.nativeapi.libvirt (scripts/jextract-bindings.sh libvirt): libvirt's
 * public C API and the few libc calls its callers need. Nothing here is compiled; libvirt-dev provides the
 * headers when the bindings are regenerated, the runtime needs only libvirt0 (libvirt.so.0, libvirt-qemu.so.0).
 *
 *   free()   strings and arrays that libvirt hands to the caller (XML, monitor replies, domain lists)
 *   creat()  the snapshot file QEMU writes into, passed to it as a descriptor (open(2) with
 *            O_WRONLY|O_CREAT|O_TRUNC: the access mode QEMU's fd sets require for "file:/dev/fdset/N")
 *   close()  that descriptor, once QEMU holds its own copy
 */
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
