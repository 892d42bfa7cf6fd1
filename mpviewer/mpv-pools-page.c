/* mpv-pools-page.c: a pool's counters, throughput and task stream
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "mpv-format.h"
#include "mpv-graph.h"
#include "mpv-pools-page.h"

struct _MpvPoolsPage
{
  MpvPage        parent_instance;

  /* template */
  GtkDropDown   *pool_dropdown;
  GtkLabel      *summary_label;
  GtkStack      *stack;
  GtkLabel      *workers_value;
  GtkLabel      *queued_value;
  GtkLabel      *running_value;
  GtkLabel      *completed_value;
  GtkLabel      *failed_value;
  GtkLabel      *throughput_value;
  GtkLabel      *median_value;
  GtkLabel      *stream_label;
  MpvGraph      *throughput_graph;
  MpvTaskStream *task_stream;
};

G_DEFINE_FINAL_TYPE (MpvPoolsPage, mpv_pools_page, MPV_TYPE_PAGE)

MpvTaskStream *
mpv_pools_page_get_task_stream (MpvPoolsPage *self)
{
  g_return_val_if_fail (MPV_IS_POOLS_PAGE (self), NULL);
  return self->task_stream;
}

static void
set_u64 (GtkLabel *label, guint64 v)
{
  char buf[32];

  g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT, v);
  gtk_label_set_text (label, buf);
}

static void
mpv_pools_page_refresh (MpvPage *page)
{
  MpvPoolsPage *self = MPV_POOLS_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  MpMonitorPool *pool = gtk_drop_down_get_selected_item (self->pool_dropdown);
  guint n_pools = monitor ? g_list_model_get_n_items (mp_monitor_get_pools (monitor)) : 0;
  guint window = mpv_page_get_time_window (page);
  const double *history;
  guint n_history = 0;
  g_autofree char *median = NULL;
  g_autofree char *tput = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *stream = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->pool_dropdown), n_pools > 1);
  if (pool == NULL)
    {
      gtk_stack_set_visible_child_name (self->stack, "empty");
      gtk_label_set_text (self->summary_label, "");
      mpv_task_stream_set_pool (self->task_stream, NULL);
      return;
    }
  gtk_stack_set_visible_child_name (self->stack, "pool");

  summary = g_strdup_printf ("%s%s, created by %d", mp_monitor_pool_get_label (pool),
                             mp_monitor_pool_get_destroyed (pool) ? " (closed)" : "",
                             (int) mp_monitor_pool_get_creator_pid (pool));
  gtk_label_set_text (self->summary_label, summary);

  {
    g_autofree char *workers = g_strdup_printf ("%u / %u", mp_monitor_pool_get_workers_alive (pool),
                                                mp_monitor_pool_get_workers (pool));
    gtk_label_set_text (self->workers_value, workers);
  }
  set_u64 (self->queued_value, mp_monitor_pool_get_queued (pool));
  set_u64 (self->running_value, mp_monitor_pool_get_running (pool));
  set_u64 (self->completed_value, mp_monitor_pool_get_completed (pool));
  set_u64 (self->failed_value, mp_monitor_pool_get_failed (pool));
  if (mp_monitor_pool_get_failed (pool) > 0)
    gtk_widget_add_css_class (GTK_WIDGET (self->failed_value), "failed-text");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->failed_value), "failed-text");
  tput = g_strdup_printf ("%.1f", mp_monitor_pool_get_throughput_window (pool));
  gtk_label_set_text (self->throughput_value, tput);
  median = mpv_format_duration_ns (mp_monitor_pool_get_median_task_ns (pool));
  gtk_label_set_text (self->median_value, median);

  history = mp_monitor_pool_get_throughput_history (pool, &n_history);
  mpv_graph_set_sample_interval (self->throughput_graph,
                                 mp_monitor_get_sample_interval (monitor) / 1000.0);
  mpv_graph_set_time_window (self->throughput_graph, window);
  mpv_graph_set_series (self->throughput_graph, 0, "tasks/s", history, n_history);

  mpv_task_stream_set_time_window (self->task_stream, window);
  mpv_task_stream_set_pool (self->task_stream, pool);   /* refreshes */
  stream = g_strdup_printf ("%u tasks in view on %u lanes%s",
                            mpv_task_stream_get_n_bars (self->task_stream),
                            mpv_task_stream_get_n_lanes (self->task_stream),
                            mpv_task_stream_get_n_failed (self->task_stream) ? ", failures marked ✕" : "");
  gtk_label_set_text (self->stream_label, stream);
}

static void
on_selected (GtkDropDown *dropdown, GParamSpec *pspec, MpvPoolsPage *self)
{
  mpv_page_queue_refresh (MPV_PAGE (self));
}

static void
mpv_pools_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvPoolsPage *self = MPV_POOLS_PAGE (page);

  gtk_drop_down_set_model (self->pool_dropdown, monitor ? mp_monitor_get_pools (monitor) : NULL);
  mpv_task_stream_set_monitor (self->task_stream, monitor);
  mpv_task_stream_set_pool (self->task_stream, NULL);
}

static void
mpv_pools_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), MPV_TYPE_POOLS_PAGE);
  G_OBJECT_CLASS (mpv_pools_page_parent_class)->dispose (object);
}

static void
mpv_pools_page_class_init (MpvPoolsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_pools_page_dispose;
  page_class->monitor_changed = mpv_pools_page_monitor_changed;
  page_class->refresh = mpv_pools_page_refresh;

  g_type_ensure (MPV_TYPE_GRAPH);
  g_type_ensure (MPV_TYPE_TASK_STREAM);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-pools-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, pool_dropdown);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, workers_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, queued_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, running_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, completed_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, failed_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, throughput_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, median_value);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, stream_label);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, throughput_graph);
  gtk_widget_class_bind_template_child (widget_class, MpvPoolsPage, task_stream);
  gtk_widget_class_bind_template_callback (widget_class, on_selected);
}

static void
mpv_pools_page_init (MpvPoolsPage *self)
{
  g_autoptr(GtkExpression) label = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  label = gtk_property_expression_new (MP_TYPE_MONITOR_POOL, NULL, "label");
  gtk_drop_down_set_expression (self->pool_dropdown, label);
}
