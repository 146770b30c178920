/*
 * Input of jextract for dev.periscope.vmi.nativeapi.mman (scripts/jextract-bindings.sh mman): the one libc call
 * guest memory mappings need beyond what FFM's FileChannel.map does. Nothing here is compiled.
 *
 *   madvise()  how a mapped memory image file will be read: MADV_RANDOM (a fault reads the page it needs, not the
 *              megabytes of read-ahead around it) and MADV_WILLNEED (read ahead a range about to be scanned)
 */
#include <sys/mman.h>
