/**
 * x86-64 virtual-to-physical translation over guest physical memory: page walks, large pages and a
 * per-page-table translation cache that its owner invalidates explicitly.
 */
package dev.periscope.vmi.paging;
