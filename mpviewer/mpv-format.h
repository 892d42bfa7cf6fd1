/* mpv-format.h: how mpviewer writes sizes, times, states and events
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <mp.h>

G_BEGIN_DECLS

char       *mpv_format_size          (guint64           bytes);
char       *mpv_format_duration_ns   (guint64           ns);
char       *mpv_format_since_start   (MpMonitor        *monitor,
                                      guint64           t_ns);
char       *mpv_format_process_state (MpMonitorProcess *process);
char       *mpv_format_object        (MpMonitor        *monitor,
                                      guint64           object_id);
char       *mpv_format_event_details (MpMonitor        *monitor,
                                      const MpTraceEvent *event);
char       *mpv_format_pids          (const GPid       *pids,
                                      guint             n_pids);

/* What the Events page filters by. */
typedef enum
{
  MPV_EVENT_CATEGORY_ALL,
  MPV_EVENT_CATEGORY_PROCESSES,
  MPV_EVENT_CATEGORY_TASKS,
  MPV_EVENT_CATEGORY_QUEUES,
  MPV_EVENT_CATEGORY_LOCKS,
  MPV_EVENT_CATEGORY_SHARED_MEMORY,
  MPV_EVENT_CATEGORY_CONNECTIONS,
  MPV_EVENT_CATEGORY_MARKS,
} MpvEventCategory;

MpvEventCategory mpv_event_category  (guint32           type);

G_END_DECLS
