/**
 * Virtual machines: the fleet as the agents report it (every host's VMs, named {@code name@host}, with their state
 * and capabilities), their owners (a tenant's monitor's VMs are that tenant's; any other VM's owner is an operator's
 * assignment over the platform's label), the kernel builds seen, over REST and as the dashboard's fleet page.
 */
package dev.periscope.vm;
