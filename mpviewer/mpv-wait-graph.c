/* mpv-wait-graph.c: who holds which lock and who waits for it, with deadlock cycles in red
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Nodes are processes and synchronization objects; an edge process → lock means "waits for",
 * lock → process "is held by". A deadlock is a cycle of such edges; the monitor detects it and
 * raises an alert naming its processes and objects, and the edges between those are drawn red.
 *
 * Layout: the nodes sit on a circle in the order of a walk along the edges, starting with the
 * nodes of a cycle, so a cycle comes out as a ring of neighbours rather than a tangle of chords.
 * The graph is rebuilt on the page's schedule and bounded by MPV_WAIT_GRAPH_MAX_NODES.
 */

#include <math.h>

#include "mpv-wait-graph.h"

typedef struct
{
  gboolean is_lock;
  guint64  id;                   /* lock id or pid */
  char    *label;
  char    *sublabel;
  gboolean in_cycle;
  double   x, y;
} Node;

typedef struct
{
  guint    from, to;
  gboolean holds;                /* lock → holder */
  gboolean in_cycle;
} Edge;

struct _MpvWaitGraph
{
  GtkWidget  parent_instance;

  MpMonitor *monitor;            /* owned */
  GArray    *nodes;              /* Node */
  GArray    *edges;              /* Edge */
  guint      n_cycle_edges;
  guint      n_dropped;
};

G_DEFINE_FINAL_TYPE (MpvWaitGraph, mpv_wait_graph, GTK_TYPE_WIDGET)

static void
node_clear (gpointer data)
{
  Node *n = data;

  g_free (n->label);
  g_free (n->sublabel);
}

GtkWidget *
mpv_wait_graph_new (void)
{
  return g_object_new (MPV_TYPE_WAIT_GRAPH, NULL);
}

void
mpv_wait_graph_set_monitor (MpvWaitGraph *self, MpMonitor *monitor)
{
  g_return_if_fail (MPV_IS_WAIT_GRAPH (self));
  g_set_object (&self->monitor, monitor);
  mpv_wait_graph_refresh (self);
}

guint
mpv_wait_graph_get_n_nodes (MpvWaitGraph *self)
{
  return self->nodes->len;
}

guint
mpv_wait_graph_get_n_edges (MpvWaitGraph *self)
{
  return self->edges->len;
}

guint
mpv_wait_graph_get_n_cycle_edges (MpvWaitGraph *self)
{
  return self->n_cycle_edges;
}

static guint
node_for (MpvWaitGraph *self, gboolean is_lock, guint64 id)
{
  Node n = { 0 };

  for (guint i = 0; i < self->nodes->len; i++)
    {
      const Node *m = &g_array_index (self->nodes, Node, i);
      if (m->is_lock == is_lock && m->id == id)
        return i;
    }
  if (self->nodes->len >= MPV_WAIT_GRAPH_MAX_NODES)
    {
      self->n_dropped++;
      return G_MAXUINT;
    }
  n.is_lock = is_lock;
  n.id = id;
  if (is_lock)
    {
      n.label = g_strdup (mp_monitor_lookup_object_label (self->monitor, id));
      if (n.label == NULL)
        n.label = g_strdup_printf ("#%" G_GUINT64_FORMAT, id);
    }
  else
    {
      MpMonitorProcess *p = mp_monitor_lookup_process (self->monitor, (GPid) id);

      n.label = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
      n.sublabel = g_strdup (p ? mp_monitor_process_get_name (p) : NULL);
    }
  g_array_append_val (self->nodes, n);
  return self->nodes->len - 1;
}

static void
add_edge (MpvWaitGraph *self, guint from, guint to, gboolean holds)
{
  Edge e = { from, to, holds, FALSE };

  if (from == G_MAXUINT || to == G_MAXUINT)
    return;
  g_array_append_val (self->edges, e);
}

/* Visits nodes depth-first along the edges, appending them to @order. */
static void
walk (MpvWaitGraph *self, guint start, gboolean *seen, GArray *order)
{
  GArray *stack = g_array_new (FALSE, FALSE, sizeof (guint));

  g_array_append_val (stack, start);
  while (stack->len > 0)
    {
      guint n = g_array_index (stack, guint, stack->len - 1);

      g_array_set_size (stack, stack->len - 1);
      if (seen[n])
        continue;
      seen[n] = TRUE;
      g_array_append_val (order, n);
      for (guint i = self->edges->len; i-- > 0;)
        {
          const Edge *e = &g_array_index (self->edges, Edge, i);
          if (e->from == n && !seen[e->to])
            g_array_append_val (stack, e->to);
        }
    }
  g_array_free (stack, TRUE);
}

void
mpv_wait_graph_refresh (MpvWaitGraph *self)
{
  GListModel *locks, *alerts;
  guint n_locks, n_alerts;
  g_autofree gboolean *seen = NULL;
  g_autoptr(GArray) order = NULL;
  GArray *sorted;

  g_return_if_fail (MPV_IS_WAIT_GRAPH (self));

  g_array_set_size (self->nodes, 0);
  g_array_set_size (self->edges, 0);
  self->n_cycle_edges = 0;
  self->n_dropped = 0;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  if (self->monitor == NULL)
    return;

  locks = mp_monitor_get_locks (self->monitor);
  n_locks = g_list_model_get_n_items (locks);
  for (guint i = 0; i < n_locks; i++)
    {
      g_autoptr(MpMonitorLock) lock = g_list_model_get_item (locks, i);
      GPid holder = mp_monitor_lock_get_holder_pid (lock);
      guint n_waiters = 0;
      const GPid *waiters = mp_monitor_lock_get_waiters (lock, &n_waiters);
      guint ln;

      if (mp_monitor_lock_get_destroyed (lock) || (holder == 0 && n_waiters == 0))
        continue;
      /* A lock that is merely held, with nobody waiting, is not part of any wait. */
      if (n_waiters == 0)
        continue;
      ln = node_for (self, TRUE, mp_monitor_lock_get_id (lock));
      if (holder != 0)
        add_edge (self, ln, node_for (self, FALSE, (guint64) holder), TRUE);
      for (guint w = 0; w < n_waiters; w++)
        add_edge (self, node_for (self, FALSE, (guint64) waiters[w]), ln, FALSE);
    }

  /* Deadlocks: mark the nodes the monitor's alerts name. */
  alerts = mp_monitor_get_alerts (self->monitor);
  n_alerts = g_list_model_get_n_items (alerts);
  for (guint a = 0; a < n_alerts; a++)
    {
      g_autoptr(MpMonitorAlert) alert = g_list_model_get_item (alerts, a);
      guint n_pids = 0, n_objects = 0;
      const GPid *pids;
      const guint64 *objects;

      if (mp_monitor_alert_get_kind (alert) != MP_MONITOR_ALERT_DEADLOCK)
        continue;
      pids = mp_monitor_alert_get_pids (alert, &n_pids);
      objects = mp_monitor_alert_get_objects (alert, &n_objects);
      for (guint i = 0; i < self->nodes->len; i++)
        {
          Node *n = &g_array_index (self->nodes, Node, i);

          if (n->is_lock)
            {
              for (guint k = 0; k < n_objects; k++)
                n->in_cycle |= objects[k] == n->id;
            }
          else
            {
              for (guint k = 0; k < n_pids; k++)
                n->in_cycle |= (guint64) pids[k] == n->id;
            }
        }
    }
  for (guint i = 0; i < self->edges->len; i++)
    {
      Edge *e = &g_array_index (self->edges, Edge, i);

      e->in_cycle = g_array_index (self->nodes, Node, e->from).in_cycle &&
                    g_array_index (self->nodes, Node, e->to).in_cycle;
      self->n_cycle_edges += e->in_cycle;
    }

  /* Order: cycles first, then the rest, each by a walk along the edges. */
  seen = g_new0 (gboolean, self->nodes->len + 1);
  order = g_array_new (FALSE, FALSE, sizeof (guint));
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < self->nodes->len; i++)
      if (!seen[i] && (pass == 1 || g_array_index (self->nodes, Node, i).in_cycle))
        walk (self, i, seen, order);

  sorted = g_array_sized_new (FALSE, TRUE, sizeof (Node), self->nodes->len);
  g_array_set_clear_func (sorted, node_clear);
  {
    g_autofree guint *where = g_new (guint, self->nodes->len + 1);

    for (guint k = 0; k < order->len; k++)
      {
        guint i = g_array_index (order, guint, k);
        Node *n = &g_array_index (self->nodes, Node, i);

        where[i] = k;
        g_array_append_val (sorted, *n);
        n->label = n->sublabel = NULL;   /* moved */
      }
    for (guint i = 0; i < self->edges->len; i++)
      {
        Edge *e = &g_array_index (self->edges, Edge, i);
        e->from = where[e->from];
        e->to = where[e->to];
      }
  }
  g_array_unref (self->nodes);
  self->nodes = sorted;
}

static void
arrow (cairo_t *cr, double x0, double y0, double x1, double y1, double r_from, double r_to)
{
  double dx = x1 - x0, dy = y1 - y0;
  double len = sqrt (dx * dx + dy * dy);
  double ux, uy, sx, sy, ex, ey;

  if (len < r_from + r_to + 4)
    return;
  ux = dx / len;
  uy = dy / len;
  sx = x0 + ux * r_from;
  sy = y0 + uy * r_from;
  ex = x1 - ux * r_to;
  ey = y1 - uy * r_to;
  cairo_move_to (cr, sx, sy);
  cairo_line_to (cr, ex, ey);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  cairo_move_to (cr, ex, ey);
  cairo_line_to (cr, ex - ux * 10 - uy * 5, ey - uy * 10 + ux * 5);
  cairo_line_to (cr, ex - ux * 10 + uy * 5, ey - uy * 10 - ux * 5);
  cairo_close_path (cr);
  cairo_fill (cr);
}

static void
mpv_wait_graph_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  MpvWaitGraph *self = MPV_WAIT_GRAPH (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(PangoLayout) layout = gtk_widget_create_pango_layout (widget, NULL);
  guint n = self->nodes->len;
  double cx = width / 2.0, cy = height / 2.0;
  double radius = MIN (width - 160, height - 60) / 2.0;
  const double node_r = 26;
  GdkRGBA fg, red, lock_color, proc_color;
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;
G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
G_GNUC_END_IGNORE_DEPRECATIONS
  gdk_rgba_parse (&red, "#e01b24");
  gdk_rgba_parse (&lock_color, "#f5c211");
  gdk_rgba_parse (&proc_color, "#3584e4");

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (n == 0)
    {
      int w, h;

      pango_layout_set_text (layout, "Nobody is waiting for a lock", -1);
      pango_layout_get_pixel_size (layout, &w, &h);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.5);
      cairo_move_to (cr, (width - w) / 2.0, (height - h) / 2.0);
      pango_cairo_show_layout (cr, layout);
      cairo_destroy (cr);
      return;
    }

  radius = MAX (radius, 20);
  for (guint i = 0; i < n; i++)
    {
      Node *node = &g_array_index (self->nodes, Node, i);
      double angle = -G_PI / 2 + 2 * G_PI * i / n;

      node->x = n == 1 ? cx : cx + radius * cos (angle);
      node->y = n == 1 ? cy : cy + radius * sin (angle);
    }

  /* Edges under the nodes: "waits for" dashed, "held by" solid; a cycle in thick red. */
  for (guint i = 0; i < self->edges->len; i++)
    {
      const Edge *e = &g_array_index (self->edges, Edge, i);
      const Node *a = &g_array_index (self->nodes, Node, e->from);
      const Node *b = &g_array_index (self->nodes, Node, e->to);
      static const double dash[] = { 6, 4 };

      if (e->in_cycle)
        {
          gdk_cairo_set_source_rgba (cr, &red);
          cairo_set_line_width (cr, 3);
        }
      else
        {
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
          cairo_set_line_width (cr, 1.5);
        }
      if (!e->holds)
        cairo_set_dash (cr, dash, G_N_ELEMENTS (dash), 0);
      arrow (cr, a->x, a->y, b->x, b->y, node_r, node_r + 2);
      cairo_set_dash (cr, NULL, 0, 0);
    }

  for (guint i = 0; i < n; i++)
    {
      const Node *node = &g_array_index (self->nodes, Node, i);
      const GdkRGBA *c = node->is_lock ? &lock_color : &proc_color;
      int w, h;

      cairo_new_path (cr);
      if (node->is_lock)
        {
          /* A lock is a diamond. */
          cairo_move_to (cr, node->x, node->y - node_r);
          cairo_line_to (cr, node->x + node_r, node->y);
          cairo_line_to (cr, node->x, node->y + node_r);
          cairo_line_to (cr, node->x - node_r, node->y);
          cairo_close_path (cr);
        }
      else
        cairo_arc (cr, node->x, node->y, node_r, 0, 2 * G_PI);
      cairo_set_source_rgba (cr, c->red, c->green, c->blue, 0.25);
      cairo_fill_preserve (cr);
      if (node->in_cycle)
        {
          gdk_cairo_set_source_rgba (cr, &red);
          cairo_set_line_width (cr, 3);
        }
      else
        {
          cairo_set_source_rgba (cr, c->red, c->green, c->blue, 0.9);
          cairo_set_line_width (cr, 1.5);
        }
      cairo_stroke (cr);

      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.95);
      pango_layout_set_text (layout, node->label, -1);
      pango_layout_get_pixel_size (layout, &w, &h);
      cairo_move_to (cr, node->x - w / 2.0, node->y - h / 2.0);
      pango_cairo_show_layout (cr, layout);
      if (node->sublabel != NULL)
        {
          /* Outside the ring, away from the edges between neighbours. */
          double dx = node->x - cx, dy = node->y - cy;
          double len = sqrt (dx * dx + dy * dy);
          double ux = len > 1 ? dx / len : 0, uy = len > 1 ? dy / len : 1;
          double lx, ly;

          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.7);
          pango_layout_set_text (layout, node->sublabel, -1);
          pango_layout_get_pixel_size (layout, &w, &h);
          lx = node->x + ux * (node_r + 6 + w / 2.0) - w / 2.0;
          ly = node->y + uy * (node_r + 4 + h / 2.0) - h / 2.0;
          cairo_move_to (cr, CLAMP (lx, 2, width - w - 2), CLAMP (ly, 2, height - h - 2));
          pango_cairo_show_layout (cr, layout);
        }
    }

  /* Legend. */
  {
    g_autofree char *legend = g_strdup_printf ("◯ process   ◇ lock   ╌╌▸ waits for   ──▸ held by%s",
                                               self->n_cycle_edges ? "   red: deadlock cycle" : "");
    cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
    pango_layout_set_text (layout, legend, -1);
    cairo_move_to (cr, 8, 6);
    pango_cairo_show_layout (cr, layout);
    if (self->n_dropped > 0)
      {
        g_autofree char *more = g_strdup_printf ("(%u more not shown)", self->n_dropped);
        int w, h;

        pango_layout_set_text (layout, more, -1);
        pango_layout_get_pixel_size (layout, &w, &h);
        cairo_move_to (cr, 8, height - h - 6);
        pango_cairo_show_layout (cr, layout);
      }
  }
  cairo_destroy (cr);
}

static void
mpv_wait_graph_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                        int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  *minimum = 160;
  *natural = 320;
}

static void
mpv_wait_graph_dispose (GObject *object)
{
  MpvWaitGraph *self = MPV_WAIT_GRAPH (object);

  g_clear_object (&self->monitor);
  G_OBJECT_CLASS (mpv_wait_graph_parent_class)->dispose (object);
}

static void
mpv_wait_graph_finalize (GObject *object)
{
  MpvWaitGraph *self = MPV_WAIT_GRAPH (object);

  g_array_unref (self->nodes);
  g_array_unref (self->edges);
  G_OBJECT_CLASS (mpv_wait_graph_parent_class)->finalize (object);
}

static void
mpv_wait_graph_class_init (MpvWaitGraphClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mpv_wait_graph_dispose;
  object_class->finalize = mpv_wait_graph_finalize;
  widget_class->snapshot = mpv_wait_graph_snapshot;
  widget_class->measure = mpv_wait_graph_measure;
  gtk_widget_class_set_css_name (widget_class, "waitgraph");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
mpv_wait_graph_init (MpvWaitGraph *self)
{
  self->nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  g_array_set_clear_func (self->nodes, node_clear);
  self->edges = g_array_new (FALSE, TRUE, sizeof (Edge));
}
