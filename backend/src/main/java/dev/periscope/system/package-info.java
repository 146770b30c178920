/** Cross-cutting server plumbing: configuration, the engine and its read scheduler, security, error mapping. */
package dev.periscope.system;
