/*
 * The few Xen definitions the hypervisor headers under test need when they
 * are compiled on the build host instead of inside Xen.
 */
#ifndef PERISCOPE_TEST_XEN_STUBS_H
#define PERISCOPE_TEST_XEN_STUBS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define __XEN_TOOLS__ 1
#define xen_mk_ullong(x) x##ULL
typedef uint64_t uint64_aligned_t;
#define XEN_GUEST_HANDLE_64(type) uint64_t

#include <public/periscope.h>
#include <xen/periscope-monitor.h>

#endif
