/* mpv-frame-stats.h: mpviewer --frame-stats: the window measures its own frames
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-window.h"

G_BEGIN_DECLS

/* Shows each page of @pages (comma-separated page names) in turn, measures @seconds of frames
 * of each, prints the result rows on stdout (bench/README.md, viewer_frame_ms) and quits the
 * application. */
void mpv_frame_stats_run (MpvWindow  *window,
                          double      seconds,
                          const char *pages);

/* Call just before attaching: the run then also reports viewer_attach_ms. */
void mpv_frame_stats_mark_start (void);

G_END_DECLS
