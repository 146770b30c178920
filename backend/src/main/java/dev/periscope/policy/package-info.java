/**
 * The tenant model as a Xen FLASK policy module: per tenant a monitoring-domain type with exactly the VMI
 * permissions over that tenant's guest type, rendered from {@code xen-extensions/flask/periscope.te.template}.
 */
package dev.periscope.policy;
