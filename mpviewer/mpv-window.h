/* mpv-window.h: mpviewer's main window
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>
#include <mp.h>

#include "mpv-application.h"

G_BEGIN_DECLS

#define MPV_TYPE_WINDOW (mpv_window_get_type ())
G_DECLARE_FINAL_TYPE (MpvWindow, mpv_window, MPV, WINDOW, GtkApplicationWindow)

MpvWindow  *mpv_window_new            (MpvApplication     *app);

/* The three ways in (and the picker's). Each replaces what the window showed; on failure the
 * window shows the error in its banner and returns FALSE. */
gboolean    mpv_window_attach         (MpvWindow          *self,
                                       GPid                pid,
                                       GError            **error);
gboolean    mpv_window_launch         (MpvWindow          *self,
                                       const char * const *argv,
                                       GError            **error);
gboolean    mpv_window_open_recording (MpvWindow          *self,
                                       const char         *path,
                                       GError            **error);
gboolean    mpv_window_launch_demo    (MpvWindow          *self,
                                       const char         *demo_id,
                                       GError            **error);

/* What the Record button and Export Chrome Trace do once a file is chosen. The export
 * converts the replayed recording, or the last one this window made. */
gboolean    mpv_window_start_recording (MpvWindow         *self,
                                        const char        *path,
                                        GError           **error);
void        mpv_window_stop_recording  (MpvWindow         *self);
gboolean    mpv_window_export_chrome   (MpvWindow         *self,
                                        const char        *path,
                                        GError           **error);

/* A replay: moves to data time @t_ns (CLOCK_MONOTONIC of the recording) like the scrubber. */
gboolean    mpv_window_seek           (MpvWindow          *self,
                                       guint64             t_ns,
                                       GError            **error);
void        mpv_window_get_replay_range (MpvWindow        *self,
                                         guint64          *start_ns,
                                         guint64          *end_ns);

/* The replay speed (the nearest of the speed menu's choices). */
void        mpv_window_set_replay_speed (MpvWindow        *self,
                                         double            speed);
MpMonitor  *mpv_window_get_monitor    (MpvWindow          *self);
void        mpv_window_show_page      (MpvWindow          *self,
                                       const char         *name);
GtkWidget  *mpv_window_get_page       (MpvWindow          *self,
                                       const char         *name);
const char *mpv_window_get_banner     (MpvWindow          *self);
/* The demos the Demos menu offers (MpvDemo *, the ones whose program was found). */
GPtrArray  *mpv_window_get_demos      (MpvWindow          *self);
/* Runs every page's pending refresh now (tests, screenshots). */
void        mpv_window_flush          (MpvWindow          *self);

G_END_DECLS
