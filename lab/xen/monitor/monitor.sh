# monitor: a tenant's monitoring domain (lab.sh xen guest NAME --monitor --tenant T). Loads Xen's privcmd, without
# the domU restriction to device-model calls (the hypervisor's FLASK policy decides what this domain may do), and
# the event-channel driver: monitor-probe uses /dev/xen/privcmd, /dev/xen/hypercall and /dev/xen/evtchn.
insmod /periscope/monitor/xen-privcmd.ko unrestricted=1 || echo "monitor: xen-privcmd did not load" > /dev/console
insmod /periscope/monitor/xen-evtchn.ko || echo "monitor: xen-evtchn did not load" > /dev/console
idle-sleeper &
