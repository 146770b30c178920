/*
 * teardown.h: last-resort teardown of monitors when the process ends without stopping them (shared by
 * the real library and its fake). Internal.
 *
 * Every running monitor is registered here. An atexit() handler stops all of them. Handlers for SIGTERM,
 * SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV and SIGBUS do the same and then re-raise the signal with its
 * default action, but they are installed only for signals whose disposition is still SIG_DFL when the
 * first monitor starts: a host runtime's own handlers are never replaced (the JVM uses SIGSEGV internally
 * and runs shutdown hooks on SIGTERM/SIGINT/SIGHUP; there the Java driver's shutdown hook stops monitors,
 * and atexit() still runs when the JVM exits). Stopping from a signal handler calls functions that are not
 * async-signal-safe: it is a best effort for a process that is dying anyway.
 */
#ifndef PERISCOPE_XEN_TEARDOWN_H
#define PERISCOPE_XEN_TEARDOWN_H

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#define PXT_SLOTS 64

typedef void (*pxt_stop_fn)(void *monitor);

static void *pxt_objs[PXT_SLOTS];
static pxt_stop_fn pxt_fns[PXT_SLOTS];
static pthread_mutex_t pxt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pxt_once = PTHREAD_ONCE_INIT;
static const int pxt_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS};

/* Stops every registered monitor once (each slot is taken atomically). */
static void pxt_run_all(void)
{
    for (int i = 0; i < PXT_SLOTS; i++) {
        void *obj = __atomic_exchange_n(&pxt_objs[i], NULL, __ATOMIC_ACQ_REL);
        if (obj)
            pxt_fns[i](obj);
    }
}

static void pxt_on_signal(int sig)
{
    pxt_run_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void pxt_install(void)
{
    atexit(pxt_run_all);
    for (size_t i = 0; i < sizeof pxt_signals / sizeof pxt_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(pxt_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO)) {
            struct sigaction sa = {0};
            sa.sa_handler = pxt_on_signal;
            sigemptyset(&sa.sa_mask);
            sa.sa_flags = SA_RESETHAND;
            sigaction(pxt_signals[i], &sa, NULL);
        }
    }
}

/* Returns 0, or -1 when all slots are taken (the caller refuses to start another monitor). */
static int pxt_register(void *obj, pxt_stop_fn fn)
{
    pthread_once(&pxt_once, pxt_install);
    pthread_mutex_lock(&pxt_lock);
    int slot = -1;
    for (int i = 0; i < PXT_SLOTS && slot < 0; i++)
        if (!__atomic_load_n(&pxt_objs[i], __ATOMIC_ACQUIRE)) {
            pxt_fns[i] = fn;
            __atomic_store_n(&pxt_objs[i], obj, __ATOMIC_RELEASE);
            slot = i;
        }
    pthread_mutex_unlock(&pxt_lock);
    return slot < 0 ? -1 : 0;
}

/* Returns 1 if obj was still registered (the caller stops it), 0 if the teardown took it already. */
static int pxt_unregister(void *obj)
{
    for (int i = 0; i < PXT_SLOTS; i++) {
        void *expected = obj;
        if (__atomic_compare_exchange_n(&pxt_objs[i], &expected, NULL, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
}

#endif /* PERISCOPE_XEN_TEARDOWN_H */
