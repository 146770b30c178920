// SPDX-License-Identifier: GPL-2.0
/*
 * A lab-only test module for the process names Periscope shows: what /proc/PID/comm shows differs from the
 * 16-byte task comm for
 *  - a kernel thread created with a longer name (the kernel keeps it as kthread->full_name), and
 *  - workqueue workers: kworker/<id> plus the workqueue they last ran (wq_worker_comm), and the rescuer of a
 *    WQ_MEM_RECLAIM workqueue, named after a workqueue name longer than comm.
 * This module makes one of each: a sleeping kthread "periscope_kthread_with_a_long_name" and a reclaim-safe
 * workqueue "periscope_reclaim_wq" with one long-running work item, so one worker shows
 * "kworker/...+periscope_reclaim_wq" for as long as the module is loaded (a stable name to compare).
 */
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/workqueue.h>

static struct task_struct *sleeper;
static struct workqueue_struct *wq;
static struct work_struct busy;
static bool stopping;

static int sleeper_fn(void *unused)
{
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ);
	return 0;
}

static void busy_fn(struct work_struct *work)
{
	while (!READ_ONCE(stopping))
		msleep_interruptible(200);
}

static int __init periscope_names_init(void)
{
	wq = alloc_workqueue("periscope_reclaim_wq", WQ_MEM_RECLAIM | WQ_UNBOUND, 1);
	if (!wq)
		return -ENOMEM;
	sleeper = kthread_run(sleeper_fn, NULL, "periscope_kthread_with_a_long_name");
	if (IS_ERR(sleeper)) {
		destroy_workqueue(wq);
		return PTR_ERR(sleeper);
	}
	INIT_WORK(&busy, busy_fn);
	queue_work(wq, &busy);
	return 0;
}

static void __exit periscope_names_exit(void)
{
	WRITE_ONCE(stopping, true);
	cancel_work_sync(&busy);
	destroy_workqueue(wq);
	kthread_stop(sleeper);
}
module_init(periscope_names_init);
module_exit(periscope_names_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Periscope lab test: kernel threads and workqueue workers whose /proc names exceed comm");
