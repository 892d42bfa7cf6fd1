/* mp-monitor.h: watching a libmp program tree (this one, another one by pid, or a recording)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mp-monitor-items.h"
#include "mp-trace.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpMonitorSource:
 * @MP_MONITOR_SOURCE_SELF: the calling program's own tree
 * @MP_MONITOR_SOURCE_PID: another running libmp program, attached by pid
 * @MP_MONITOR_SOURCE_TRACE: a recorded trace file, replayed
 *
 * Where a monitor's events and samples come from.
 */
typedef enum
{
  MP_MONITOR_SOURCE_SELF,
  MP_MONITOR_SOURCE_PID,
  MP_MONITOR_SOURCE_TRACE,
} MpMonitorSource;

MP_AVAILABLE_IN_1_0
GType mp_monitor_source_get_type (void) G_GNUC_CONST;
#define MP_TYPE_MONITOR_SOURCE (mp_monitor_source_get_type ())

/* ---- MpMonitorProgram: one attachable program, as mp_monitor_list_programs() finds it -- */

#define MP_TYPE_MONITOR_PROGRAM (mp_monitor_program_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitorProgram, mp_monitor_program, MP, MONITOR_PROGRAM, GObject)

MP_AVAILABLE_IN_1_0
GPid         mp_monitor_program_get_pid         (MpMonitorProgram *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_program_get_name        (MpMonitorProgram *self);
MP_AVAILABLE_IN_1_0
gint64       mp_monitor_program_get_start_time  (MpMonitorProgram *self);
MP_AVAILABLE_IN_1_0
guint        mp_monitor_program_get_n_processes (MpMonitorProgram *self);
MP_AVAILABLE_IN_1_0
const char  *mp_monitor_program_get_error       (MpMonitorProgram *self);

/* ---- MpMonitor ------------------------------------------------------------------------- */

#define MP_TYPE_MONITOR (mp_monitor_get_type ())
MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpMonitor, mp_monitor, MP, MONITOR, GObject)

MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_list_programs      (GError          **error);

MP_AVAILABLE_IN_1_0
MpMonitor      *mp_monitor_new_for_self       (GError          **error);
MP_AVAILABLE_IN_1_0
MpMonitor      *mp_monitor_new_for_pid        (GPid              pid,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
MpMonitor      *mp_monitor_new_for_trace_file (const char       *path,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
MpMonitor      *mp_monitor_launch             (const char * const *argv,
                                               gint64            timeout_us,
                                               GError          **error);

MP_AVAILABLE_IN_1_0
void            mp_monitor_start              (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_stop               (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_is_running         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
guint           mp_monitor_poll_events        (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_sample             (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_replay_to_end      (MpMonitor        *self,
                                               GError          **error);

MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_replay_until       (MpMonitor        *self,
                                               guint64           t_ns,
                                               GError          **error);

MP_AVAILABLE_IN_1_0
MpMonitorSource mp_monitor_get_source         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GPid            mp_monitor_get_pid            (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
const char     *mp_monitor_get_program_name   (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
gint64          mp_monitor_get_start_time     (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
guint64         mp_monitor_get_start_monotonic_ns (MpMonitor    *self);
MP_AVAILABLE_IN_1_0
guint64         mp_monitor_get_now_ns         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
MpTraceLevel    mp_monitor_get_trace_level    (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
guint64         mp_monitor_get_n_events       (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
guint64         mp_monitor_get_n_lost         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_get_finished       (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GSubprocess    *mp_monitor_get_subprocess     (MpMonitor        *self);

MP_AVAILABLE_IN_1_0
guint           mp_monitor_get_event_interval (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_event_interval (MpMonitor        *self,
                                               guint             msec);
MP_AVAILABLE_IN_1_0
guint           mp_monitor_get_sample_interval (MpMonitor       *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_sample_interval (MpMonitor       *self,
                                                guint            msec);
MP_AVAILABLE_IN_1_0
double          mp_monitor_get_replay_speed   (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_replay_speed   (MpMonitor        *self,
                                               double            speed);
MP_AVAILABLE_IN_1_0
double          mp_monitor_get_stuck_factor   (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_stuck_factor   (MpMonitor        *self,
                                               double            factor);
MP_AVAILABLE_IN_1_0
guint           mp_monitor_get_stuck_min_ms   (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_stuck_min_ms   (MpMonitor        *self,
                                               guint             msec);
MP_AVAILABLE_IN_1_0
guint           mp_monitor_get_keep_exited_ms (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
void            mp_monitor_set_keep_exited_ms (MpMonitor        *self,
                                               guint             msec);

MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_processes      (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_process_roots  (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_pools          (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_queues         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_locks          (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_segments       (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
GListModel     *mp_monitor_get_alerts         (MpMonitor        *self);
MP_AVAILABLE_IN_1_0
MpMonitorProcess *mp_monitor_lookup_process   (MpMonitor        *self,
                                               GPid              pid);
MP_AVAILABLE_IN_1_0
const char     *mp_monitor_lookup_object_label (MpMonitor       *self,
                                                guint64          object_id);

MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_start_recording    (MpMonitor        *self,
                                               const char       *path,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_stop_recording     (MpMonitor        *self,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
gboolean        mp_monitor_is_recording       (MpMonitor        *self);

G_END_DECLS
