/* mpviewer-headless.h: mpviewer's terminal modes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdio.h>

#include <mp.h>

G_BEGIN_DECLS

typedef struct
{
  GPid     attach_pid;           /* --attach, 0 if not given */
  char    *replay_path;          /* --replay */
  char   **command;              /* -- PROGRAM ARGS, NULL if not given */
  char    *record_path;          /* --record */
  char    *export_path;          /* --export-chrome */
  gboolean once;                 /* --once */
  double   duration;             /* --duration, seconds, 0 = until the program exits */
  double   speed;                /* --speed (replay) */
  guint    refresh_ms;           /* --interval */
  gboolean quiet;                /* no live view (recording without --headless) */
  double   frame_stats;          /* --frame-stats, seconds per page, 0 = off (GUI only) */
  char    *frame_stats_pages;    /* --frame-stats-pages, comma-separated, NULL = the default */
} MpViewerOptions;

int  mpviewer_headless_list   (void);
int  mpviewer_headless_export (const char            *recording,
                               const char            *output);
int  mpviewer_headless_run    (const MpViewerOptions *options);
void mpviewer_print_view      (MpMonitor             *monitor,
                               FILE                  *out);

G_END_DECLS
