/* mpv-task-stream.h: one lane per pool worker, one bar per task
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>
#include <mp.h>

G_BEGIN_DECLS

#define MPV_TYPE_TASK_STREAM (mpv_task_stream_get_type ())
G_DECLARE_FINAL_TYPE (MpvTaskStream, mpv_task_stream, MPV, TASK_STREAM, GtkWidget)

#define MPV_TASK_STREAM_MAX_LANES 64

GtkWidget *mpv_task_stream_new             (void);
void       mpv_task_stream_set_monitor     (MpvTaskStream *self,
                                            MpMonitor     *monitor);
void       mpv_task_stream_set_pool        (MpvTaskStream *self,
                                            MpMonitorPool *pool);
void       mpv_task_stream_set_time_window (MpvTaskStream *self,
                                            double         seconds);
/* Copies the pool's task stream and redraws. */
void       mpv_task_stream_refresh         (MpvTaskStream *self);
/* What the last refresh found in the time window (for tests and the page's summary). */
guint      mpv_task_stream_get_n_lanes     (MpvTaskStream *self);
guint      mpv_task_stream_get_n_bars      (MpvTaskStream *self);
guint      mpv_task_stream_get_n_failed    (MpvTaskStream *self);

G_END_DECLS
