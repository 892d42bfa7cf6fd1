/* mpv-application.h: mpviewer's GtkApplication
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "mpviewer-headless.h"

G_BEGIN_DECLS

#define MPV_APPLICATION_ID "org.libmp.Viewer"

#define MPV_TYPE_APPLICATION (mpv_application_get_type ())
G_DECLARE_FINAL_TYPE (MpvApplication, mpv_application, MPV, APPLICATION, GtkApplication)

/* @options: what the command line asked to watch (copied; NULL: the picker). */
MpvApplication *mpv_application_new          (const MpViewerOptions *options);
/* The app's settings, or NULL when the schema is not installed (running from a build tree
 * without it): then nothing is persisted. */
GSettings      *mpv_application_get_settings (MpvApplication        *self);
double          mpv_application_get_replay_speed (MpvApplication    *self);

G_END_DECLS
