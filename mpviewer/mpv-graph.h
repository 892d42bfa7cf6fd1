/* mpv-graph.h: a time-series line graph (or a sparkline), drawn with cairo
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define MPV_TYPE_GRAPH (mpv_graph_get_type ())
G_DECLARE_FINAL_TYPE (MpvGraph, mpv_graph, MPV, GRAPH, GtkWidget)

/* At most this many series and values per series are kept: a graph's cost is bounded. */
#define MPV_GRAPH_MAX_SERIES 8
#define MPV_GRAPH_MAX_VALUES 512

GtkWidget *mpv_graph_new                 (void);
void       mpv_graph_set_n_series        (MpvGraph     *self,
                                          guint         n_series);
guint      mpv_graph_get_n_series        (MpvGraph     *self);
void       mpv_graph_set_series          (MpvGraph     *self,
                                          guint         index,
                                          const char   *label,
                                          const double *values,
                                          guint         n_values);
void       mpv_graph_set_sample_interval (MpvGraph     *self,
                                          double        seconds);
void       mpv_graph_set_time_window     (MpvGraph     *self,
                                          double        seconds);
void       mpv_graph_set_y_max           (MpvGraph     *self,
                                          double        y_max);
void       mpv_graph_set_unit            (MpvGraph     *self,
                                          const char   *unit);
void       mpv_graph_set_compact         (MpvGraph     *self,
                                          gboolean      compact);
void       mpv_graph_set_placeholder_text (MpvGraph    *self,
                                           const char  *text);

/* The series colour @index uses (also for legends elsewhere). */
void       mpv_graph_get_color           (guint         index,
                                          GdkRGBA      *color);

G_END_DECLS
