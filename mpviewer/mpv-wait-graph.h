/* mpv-wait-graph.h: who holds which lock and who waits for it, with deadlock cycles in red
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>
#include <mp.h>

G_BEGIN_DECLS

#define MPV_TYPE_WAIT_GRAPH (mpv_wait_graph_get_type ())
G_DECLARE_FINAL_TYPE (MpvWaitGraph, mpv_wait_graph, MPV, WAIT_GRAPH, GtkWidget)

#define MPV_WAIT_GRAPH_MAX_NODES 48

GtkWidget *mpv_wait_graph_new               (void);
void       mpv_wait_graph_set_monitor       (MpvWaitGraph *self,
                                             MpMonitor    *monitor);
/* Rebuilds the graph from the monitor's locks and alerts and redraws. */
void       mpv_wait_graph_refresh           (MpvWaitGraph *self);
guint      mpv_wait_graph_get_n_nodes       (MpvWaitGraph *self);
guint      mpv_wait_graph_get_n_edges       (MpvWaitGraph *self);
guint      mpv_wait_graph_get_n_cycle_edges (MpvWaitGraph *self);

G_END_DECLS
