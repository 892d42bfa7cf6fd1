/* mpv-locks-page.c: synchronization objects, their contention, and the wait-for graph
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "mpv-cells.h"
#include "mpv-format.h"
#include "mpv-locks-page.h"

struct _MpvLocksPage
{
  MpvPage              parent_instance;

  /* template */
  GtkColumnView       *column_view;
  GtkColumnViewColumn *label_column;
  GtkColumnViewColumn *kind_column;
  GtkColumnViewColumn *holder_column;
  GtkColumnViewColumn *waiters_column;
  GtkColumnViewColumn *acquisitions_column;
  GtkColumnViewColumn *contended_column;
  GtkColumnViewColumn *total_wait_column;
  GtkColumnViewColumn *max_wait_column;
  GtkLabel            *summary_label;
  MpvWaitGraph        *wait_graph;

  /* owned */
  MpvCellSet          *cells;
};

G_DEFINE_FINAL_TYPE (MpvLocksPage, mpv_locks_page, MPV_TYPE_PAGE)

static char *
label_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  const char *label = mp_monitor_lock_get_label (item);
  return label && *label ? g_strdup (label) : g_strdup_printf ("#%" G_GUINT64_FORMAT,
                                                              mp_monitor_lock_get_id (item));
}

static char *
kind_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup (mp_object_kind_to_string (mp_monitor_lock_get_kind (item)));
}

static char *
holder_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  GPid holder = mp_monitor_lock_get_holder_pid (item);
  return holder ? g_strdup_printf ("%d", (int) holder) : g_strdup ("–");
}

static char *
waiters_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  guint n = 0;
  const GPid *pids = mp_monitor_lock_get_waiters (item, &n);
  g_autofree char *list = NULL;

  if (n == 0)
    return g_strdup ("–");
  *css = "failed-text";
  list = mpv_format_pids (pids, MIN (n, 4));
  return n > 4 ? g_strdup_printf ("%u: %s, …", n, list) : g_strdup_printf ("%u: %s", n, list);
}

static char *
acquisitions_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, mp_monitor_lock_get_acquisitions (item));
}

static char *
contended_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%.1f %%", mp_monitor_lock_get_contended_percent (item));
}

static char *
total_wait_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return mpv_format_duration_ns (mp_monitor_lock_get_total_wait_ns (item));
}

static char *
max_wait_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return mpv_format_duration_ns (mp_monitor_lock_get_max_wait_ns (item));
}

MpvWaitGraph *
mpv_locks_page_get_wait_graph (MpvLocksPage *self)
{
  g_return_val_if_fail (MPV_IS_LOCKS_PAGE (self), NULL);
  return self->wait_graph;
}

static void
mpv_locks_page_refresh (MpvPage *page)
{
  MpvLocksPage *self = MPV_LOCKS_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  GListModel *locks;
  guint n, held = 0, waiting = 0;
  g_autofree char *text = NULL;

  mpv_cell_set_refresh (self->cells);
  mpv_column_view_resort (self->column_view);
  mpv_wait_graph_refresh (self->wait_graph);
  if (monitor == NULL)
    {
      gtk_label_set_text (self->summary_label, "");
      return;
    }
  locks = mp_monitor_get_locks (monitor);
  n = g_list_model_get_n_items (locks);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorLock) lock = g_list_model_get_item (locks, i);
      held += mp_monitor_lock_get_holder_pid (lock) != 0;
      waiting += mp_monitor_lock_get_n_waiters (lock);
    }
  if (mpv_wait_graph_get_n_cycle_edges (self->wait_graph) > 0)
    text = g_strdup_printf ("%u objects, %u held, %u processes waiting — deadlock", n, held, waiting);
  else
    text = g_strdup_printf ("%u objects, %u held, %u processes waiting", n, held, waiting);
  gtk_label_set_text (self->summary_label, text);
}

static void
mpv_locks_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvLocksPage *self = MPV_LOCKS_PAGE (page);

  mpv_column_view_set_list (self->column_view, monitor ? mp_monitor_get_locks (monitor) : NULL);
  mpv_wait_graph_set_monitor (self->wait_graph, monitor);
}

static void
mpv_locks_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), MPV_TYPE_LOCKS_PAGE);
  G_OBJECT_CLASS (mpv_locks_page_parent_class)->dispose (object);
}

static void
mpv_locks_page_finalize (GObject *object)
{
  mpv_cell_set_free (MPV_LOCKS_PAGE (object)->cells);
  G_OBJECT_CLASS (mpv_locks_page_parent_class)->finalize (object);
}

static void
mpv_locks_page_class_init (MpvLocksPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_locks_page_dispose;
  object_class->finalize = mpv_locks_page_finalize;
  page_class->monitor_changed = mpv_locks_page_monitor_changed;
  page_class->refresh = mpv_locks_page_refresh;

  g_type_ensure (MP_TYPE_MONITOR_LOCK);
  g_type_ensure (MPV_TYPE_WAIT_GRAPH);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-locks-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, label_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, kind_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, holder_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, waiters_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, acquisitions_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, contended_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, total_wait_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, max_wait_column);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, MpvLocksPage, wait_graph);
}

static void
set_factory (GtkColumnViewColumn *column, MpvCellSet *cells, MpvCellTextFunc func,
             gpointer data, MpvCellFlags flags)
{
  g_autoptr(GtkListItemFactory) factory = mpv_cell_set_text_factory (cells, func, data, flags);
  gtk_column_view_column_set_factory (column, factory);
}

static void
mpv_locks_page_init (MpvLocksPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cells = mpv_cell_set_new ();
  set_factory (self->label_column, self->cells, label_text, self, MPV_CELL_NONE);
  set_factory (self->kind_column, self->cells, kind_text, self, MPV_CELL_NONE);
  set_factory (self->holder_column, self->cells, holder_text, self, MPV_CELL_NUMERIC);
  set_factory (self->waiters_column, self->cells, waiters_text, self, MPV_CELL_NONE);
  set_factory (self->acquisitions_column, self->cells, acquisitions_text, self, MPV_CELL_NUMERIC);
  set_factory (self->contended_column, self->cells, contended_text, self, MPV_CELL_NUMERIC);
  set_factory (self->total_wait_column, self->cells, total_wait_text, self, MPV_CELL_NUMERIC);
  set_factory (self->max_wait_column, self->cells, max_wait_text, self, MPV_CELL_NUMERIC);
}
