/* mp-monitor-items.h: the items of MpMonitor's models
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every item is a read-only GObject whose properties the monitor updates on its main context
 * (with "notify" for each property that changed), so a GTK list or column view can bind to
 * them. The plain getters return the same values as the properties.
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mp-trace.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpMonitorProcessRole:
 * @MP_MONITOR_ROLE_MAIN: the root process of the program
 * @MP_MONITOR_ROLE_PROCESS: a process the program started (an #MpProcess)
 * @MP_MONITOR_ROLE_WORKER: a pool worker
 * @MP_MONITOR_ROLE_MANAGER: a manager's server process
 * @MP_MONITOR_ROLE_FORKSERVER: the forkserver
 * @MP_MONITOR_ROLE_TRACKER: the resource tracker
 *
 * What a process is for, as the program's arena records it.
 */
typedef enum
{
  MP_MONITOR_ROLE_MAIN = 0,
  MP_MONITOR_ROLE_PROCESS = 1,
  MP_MONITOR_ROLE_WORKER = 2,
  MP_MONITOR_ROLE_MANAGER = 3,
  MP_MONITOR_ROLE_FORKSERVER = 4,
  MP_MONITOR_ROLE_TRACKER = 5,
} MpMonitorProcessRole;

/**
 * MpMonitorProcessState:
 * @MP_MONITOR_PROCESS_STARTING: created by its parent, not running its target yet
 * @MP_MONITOR_PROCESS_RUNNING: running
 * @MP_MONITOR_PROCESS_STOPPED: stopped by a signal (SIGSTOP, a debugger…)
 * @MP_MONITOR_PROCESS_EXITING: returned from its target, about to exit
 * @MP_MONITOR_PROCESS_EXITED: exited; the exit code is its status
 * @MP_MONITOR_PROCESS_KILLED: killed by a signal; the exit code is minus the signal
 * @MP_MONITOR_PROCESS_VANISHED: gone without anybody recording its exit status (the root of
 *   a program that was killed, a process whose parent died first)
 */
typedef enum
{
  MP_MONITOR_PROCESS_STARTING,
  MP_MONITOR_PROCESS_RUNNING,
  MP_MONITOR_PROCESS_STOPPED,
  MP_MONITOR_PROCESS_EXITING,
  MP_MONITOR_PROCESS_EXITED,
  MP_MONITOR_PROCESS_KILLED,
  MP_MONITOR_PROCESS_VANISHED,
} MpMonitorProcessState;

/**
 * MpMonitorAlertKind:
 * @MP_MONITOR_ALERT_DEADLOCK: processes wait for each other in a cycle of locks
 * @MP_MONITOR_ALERT_STUCK_WORKER: a task has run far longer than its pool's median task
 * @MP_MONITOR_ALERT_LEAKED_SEGMENT: a named shared-memory segment exists with no live
 *   process mapping it and nobody left to unlink it
 */
typedef enum
{
  MP_MONITOR_ALERT_DEADLOCK,
  MP_MONITOR_ALERT_STUCK_WORKER,
  MP_MONITOR_ALERT_LEAKED_SEGMENT,
} MpMonitorAlertKind;

MP_AVAILABLE_IN_1_0
GType mp_monitor_process_role_get_type  (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
GType mp_monitor_process_state_get_type (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
GType mp_monitor_alert_kind_get_type    (void) G_GNUC_CONST;
#define MP_TYPE_MONITOR_PROCESS_ROLE  (mp_monitor_process_role_get_type ())
#define MP_TYPE_MONITOR_PROCESS_STATE (mp_monitor_process_state_get_type ())
#define MP_TYPE_MONITOR_ALERT_KIND    (mp_monitor_alert_kind_get_type ())

MP_AVAILABLE_IN_1_0
const char *mp_monitor_process_role_to_string  (MpMonitorProcessRole  role);
MP_AVAILABLE_IN_1_0
const char *mp_monitor_process_state_to_string (MpMonitorProcessState state);
MP_AVAILABLE_IN_1_0
const char *mp_monitor_alert_kind_to_string    (MpMonitorAlertKind    kind);
MP_AVAILABLE_IN_1_0
const char *mp_object_kind_to_string           (MpObjectKind          kind);

/**
 * MpMonitorTaskSpan:
 * @worker_pid: the worker that ran the task
 * @task_id: the pool's id of the task
 * @start_ns: `CLOCK_MONOTONIC` time the task started
 * @end_ns: time it finished or failed
 * @failed: whether it failed
 *
 * One finished task of a pool's task stream.
 */
typedef struct
{
  gint32   worker_pid;
  gboolean failed;
  guint64  task_id;
  guint64  start_ns;
  guint64  end_ns;
} MpMonitorTaskSpan;

/**
 * MpMonitorWorker:
 * @pid: the worker
 * @task_id: the task it runs, 0 when idle
 * @task_start_ns: when that task started, 0 when idle
 * @tasks_done: tasks it finished or failed since the monitor saw it
 *
 * A pool worker as the task events show it.
 */
typedef struct
{
  gint32   pid;
  guint32  reserved;
  guint64  task_id;
  guint64  task_start_ns;
  guint64  tasks_done;
} MpMonitorWorker;

/* ---- MpMonitorProcess ------------------------------------------------------------------ */

#define MP_TYPE_MONITOR_PROCESS (mp_monitor_process_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorProcess, mp_monitor_process, MP, MONITOR_PROCESS, GObject)

MP_AVAILABLE_IN_1_0
GPid                  mp_monitor_process_get_pid          (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
GPid                  mp_monitor_process_get_ppid         (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
const char           *mp_monitor_process_get_name         (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
MpMonitorProcessRole  mp_monitor_process_get_role         (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
MpMonitorProcessState mp_monitor_process_get_state        (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
int                   mp_monitor_process_get_exit_code    (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
const char           *mp_monitor_process_get_start_method (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
gboolean              mp_monitor_process_get_daemon       (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_start_time   (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_exit_time    (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
double                mp_monitor_process_get_cpu_percent  (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_rss          (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_blocked_on   (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_current_task (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
guint64               mp_monitor_process_get_tasks_done   (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
gboolean              mp_monitor_process_is_alive         (MpMonitorProcess *self);
MP_AVAILABLE_IN_1_0
GListModel           *mp_monitor_process_get_children     (MpMonitorProcess *self);

/* ---- MpMonitorPool --------------------------------------------------------------------- */

#define MP_TYPE_MONITOR_POOL (mp_monitor_pool_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorPool, mp_monitor_pool, MP, MONITOR_POOL, GObject)

MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_id              (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_pool_get_label           (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
GPid         mp_monitor_pool_get_creator_pid     (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_pool_get_destroyed       (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint        mp_monitor_pool_get_workers         (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint        mp_monitor_pool_get_workers_alive   (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_submitted       (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_queued          (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_running         (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_completed       (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_failed          (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_replaced_workers (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
double       mp_monitor_pool_get_throughput      (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
double       mp_monitor_pool_get_throughput_window (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_pool_get_median_task_ns  (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
const double *mp_monitor_pool_get_throughput_history (MpMonitorPool *self,
                                                      guint         *n_values);
MP_AVAILABLE_IN_1_0
GArray      *mp_monitor_pool_dup_recent_tasks    (MpMonitorPool *self);
MP_AVAILABLE_IN_1_0
GArray      *mp_monitor_pool_dup_workers         (MpMonitorPool *self);

/* ---- MpMonitorQueue -------------------------------------------------------------------- */

#define MP_TYPE_MONITOR_QUEUE (mp_monitor_queue_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorQueue, mp_monitor_queue, MP, MONITOR_QUEUE, GObject)

MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_id          (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
MpObjectKind mp_monitor_queue_get_kind        (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_queue_get_label       (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
GPid         mp_monitor_queue_get_creator_pid (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_queue_get_destroyed   (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_depth       (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_max_depth   (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_maxsize     (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_puts        (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_queue_get_gets        (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
double       mp_monitor_queue_get_put_rate    (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
double       mp_monitor_queue_get_get_rate    (MpMonitorQueue *self);
MP_AVAILABLE_IN_1_0
const double *mp_monitor_queue_get_depth_history (MpMonitorQueue *self,
                                                  guint          *n_values);

/* ---- MpMonitorLock (locks and the other synchronization objects) ---------------------- */

#define MP_TYPE_MONITOR_LOCK (mp_monitor_lock_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorLock, mp_monitor_lock, MP, MONITOR_LOCK, GObject)

MP_AVAILABLE_IN_1_0
guint64      mp_monitor_lock_get_id           (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
MpObjectKind mp_monitor_lock_get_kind         (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_lock_get_label        (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
GPid         mp_monitor_lock_get_creator_pid  (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_lock_get_destroyed    (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
GPid         mp_monitor_lock_get_holder_pid   (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
guint        mp_monitor_lock_get_n_waiters    (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
const GPid  *mp_monitor_lock_get_waiters      (MpMonitorLock *self,
                                               guint         *n_waiters);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_lock_get_acquisitions (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_lock_get_contended    (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
double       mp_monitor_lock_get_contended_percent (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_lock_get_total_wait_ns (MpMonitorLock *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_lock_get_max_wait_ns  (MpMonitorLock *self);

/* ---- MpMonitorSegment (shared memory, shareable lists, values, arrays) ---------------- */

#define MP_TYPE_MONITOR_SEGMENT (mp_monitor_segment_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorSegment, mp_monitor_segment, MP, MONITOR_SEGMENT, GObject)

MP_AVAILABLE_IN_1_0
guint64      mp_monitor_segment_get_id          (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
MpObjectKind mp_monitor_segment_get_kind        (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_segment_get_label       (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_segment_get_name        (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
GPid         mp_monitor_segment_get_creator_pid (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_segment_get_destroyed   (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
guint64      mp_monitor_segment_get_size        (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
const GPid  *mp_monitor_segment_get_attached    (MpMonitorSegment *self,
                                                 guint            *n_pids);
MP_AVAILABLE_IN_1_0
guint        mp_monitor_segment_get_n_mappers   (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_segment_get_unlinked    (MpMonitorSegment *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_monitor_segment_get_leaked      (MpMonitorSegment *self);

/* ---- MpMonitorAlert -------------------------------------------------------------------- */

#define MP_TYPE_MONITOR_ALERT (mp_monitor_alert_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorAlert, mp_monitor_alert, MP, MONITOR_ALERT, GObject)

MP_AVAILABLE_IN_1_0
MpMonitorAlertKind mp_monitor_alert_get_kind    (MpMonitorAlert *self);
MP_AVAILABLE_IN_1_0
const char        *mp_monitor_alert_get_message (MpMonitorAlert *self);
MP_AVAILABLE_IN_1_0
guint64            mp_monitor_alert_get_since   (MpMonitorAlert *self);
MP_AVAILABLE_IN_1_0
const GPid        *mp_monitor_alert_get_pids    (MpMonitorAlert *self,
                                                 guint          *n_pids);
MP_AVAILABLE_IN_1_0
const guint64     *mp_monitor_alert_get_objects (MpMonitorAlert *self,
                                                 guint          *n_objects);

G_END_DECLS
