/*
 * monitor_life.h: how a monitor stops, shared by the real library and its fake. Internal.
 *
 * Included once, in each file, after that file's struct periscope_xen_monitor (fields d, thread, lock, stop,
 * stopped, stats; d->monitor) and its monitor_release(): the event thread and what it arms differ between the
 * two, the way they are stopped, counted and freed does not.
 */
#ifndef PERISCOPE_XEN_MONITOR_LIFE_H
#define PERISCOPE_XEN_MONITOR_LIFE_H

#include <pthread.h>
#include <stdlib.h>

#include "teardown.h"

/* Stops the event thread and releases everything; once per monitor, from any thread but the event thread. */
static void monitor_teardown(periscope_xen_monitor *m)
{
    if (__atomic_exchange_n(&m->stopped, 1, __ATOMIC_ACQ_REL))
        return;
    m->stop = 1;
    pthread_join(m->thread, NULL);
    monitor_release(m);
    pthread_mutex_lock(&m->lock);
    if (m->stats.state == PERISCOPE_XEN_MONITOR_RUNNING)
        m->stats.state = PERISCOPE_XEN_MONITOR_STOPPED;
    pthread_mutex_unlock(&m->lock);
}

static void emergency_stop(void *obj) { monitor_teardown(obj); }

int32_t periscope_xen_monitor_stats_get(periscope_xen_monitor *m, periscope_xen_monitor_stats *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->stats;
    pthread_mutex_unlock(&m->lock);
    return PERISCOPE_XEN_OK;
}

int32_t periscope_xen_monitor_stop(periscope_xen_monitor *m)
{
    if (!m)
        return PERISCOPE_XEN_E_INVALID;
    pxt_unregister(m);
    monitor_teardown(m);
    int32_t s = m->stats.state == PERISCOPE_XEN_MONITOR_FAILED ? m->stats.last_status : PERISCOPE_XEN_OK;
    m->d->monitor = NULL;
    pthread_mutex_destroy(&m->lock);
    free(m);
    return s;
}

#endif
