/* mpv-overview-page.c: the program at a glance
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "mpv-format.h"
#include "mpv-graph.h"
#include "mpv-overview-page.h"

struct _MpvOverviewPage
{
  MpvPage     parent_instance;

  /* template */
  GtkLabel   *program_value;
  GtkLabel   *program_detail;
  GtkLabel   *status_value;
  GtkLabel   *status_detail;
  GtkLabel   *uptime_value;
  GtkLabel   *uptime_detail;
  GtkLabel   *processes_value;
  GtkLabel   *processes_detail;
  GtkLabel   *events_value;
  GtkLabel   *events_detail;
  GtkLabel   *objects_value;
  GtkLabel   *objects_detail;
  GtkLabel   *throughput_label;
  MpvGraph   *sparkline;
  GtkListBox *alerts_list;
  GtkWidget  *notes_box;
  GtkLabel   *notes_title;
  GtkLabel   *notes_label;
};

G_DEFINE_FINAL_TYPE (MpvOverviewPage, mpv_overview_page, MPV_TYPE_PAGE)

void
mpv_overview_page_set_notes (MpvOverviewPage *self, const char *title, const char *text)
{
  g_return_if_fail (MPV_IS_OVERVIEW_PAGE (self));
  gtk_widget_set_visible (self->notes_box, text != NULL);
  gtk_label_set_text (self->notes_title, title ? title : "What to look at");
  gtk_label_set_text (self->notes_label, text ? text : "");
}

static GtkWidget *
create_alert_row (gpointer item, gpointer user_data)
{
  MpMonitorAlert *alert = item;
  MpvOverviewPage *self = user_data;
  MpMonitor *monitor = mpv_page_get_monitor (MPV_PAGE (self));
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 10);
  GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");
  GtkWidget *text = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *kind, *message;
  g_autofree char *since = monitor ? mpv_format_since_start (monitor, mp_monitor_alert_get_since (alert))
                                   : g_strdup ("");
  g_autofree char *heading = g_strdup_printf ("%s  (since %s)",
                                              mp_monitor_alert_kind_to_string (mp_monitor_alert_get_kind (alert)),
                                              since);

  kind = gtk_label_new (heading);
  gtk_label_set_xalign (GTK_LABEL (kind), 0);
  gtk_widget_add_css_class (kind, "section-heading");
  message = gtk_label_new (mp_monitor_alert_get_message (alert));
  gtk_label_set_xalign (GTK_LABEL (message), 0);
  gtk_label_set_wrap (GTK_LABEL (message), TRUE);
  gtk_box_append (GTK_BOX (text), kind);
  gtk_box_append (GTK_BOX (text), message);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), text);
  gtk_widget_add_css_class (box, "alert-row");
  return box;
}

static void
mpv_overview_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvOverviewPage *self = MPV_OVERVIEW_PAGE (page);

  gtk_list_box_bind_model (self->alerts_list, monitor ? mp_monitor_get_alerts (monitor) : NULL,
                           create_alert_row, self, NULL);
}

static const char *
source_text (MpMonitor *monitor)
{
  switch (mp_monitor_get_source (monitor))
    {
    case MP_MONITOR_SOURCE_SELF:
      return "this program";
    case MP_MONITOR_SOURCE_PID:
      return mp_monitor_get_subprocess (monitor) ? "launched by the viewer" : "attached";
    case MP_MONITOR_SOURCE_TRACE:
      return "replay of a recording";
    default:
      return "";
    }
}

/* Sets @label to @text and frees it. */
static void
take_text (GtkLabel *label, char *text)
{
  gtk_label_set_text (label, text ? text : "");
  g_free (text);
}

static const char *
level_text (MpTraceLevel level)
{
  switch (level)
    {
    case MP_TRACE_OFF: return "off";
    case MP_TRACE_LIFECYCLE: return "lifecycle";
    case MP_TRACE_NORMAL: return "normal";
    case MP_TRACE_VERBOSE: return "verbose";
    default: return "?";
    }
}

static void
mpv_overview_page_refresh (MpvPage *page)
{
  MpvOverviewPage *self = MPV_OVERVIEW_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  GListModel *processes, *pools;
  MpMonitorProcess *root;
  const char *program;
  guint n, alive = 0, n_pools, n_queues, n_locks, n_segments;
  guint64 now, t0;

  if (monitor == NULL)
    return;

  program = mp_monitor_get_program_name (monitor);
  gtk_label_set_text (self->program_value, program && *program ? program : "(unnamed)");
  take_text (self->program_detail, g_strdup_printf ("pid %d, %s", (int) mp_monitor_get_pid (monitor),
                                                    source_text (monitor)));

  /* Status: the root's fate once it has one. */
  root = mp_monitor_lookup_process (monitor, mp_monitor_get_pid (monitor));
  if (root != NULL && !mp_monitor_process_is_alive (root))
    take_text (self->status_value, mpv_format_process_state (root));
  else if (mp_monitor_get_finished (monitor))
    gtk_label_set_text (self->status_value, "finished");
  else if (mp_monitor_get_source (monitor) == MP_MONITOR_SOURCE_TRACE)
    gtk_label_set_text (self->status_value, mp_monitor_is_running (monitor) ? "playing" : "paused");
  else
    gtk_label_set_text (self->status_value, mp_monitor_is_running (monitor) ? "running" : "paused");
  take_text (self->status_detail,
             g_strdup_printf ("trace level %s%s", level_text (mp_monitor_get_trace_level (monitor)),
                              mp_monitor_is_recording (monitor) ? ", recording" : ""));

  now = mp_monitor_get_now_ns (monitor);
  t0 = mp_monitor_get_start_monotonic_ns (monitor);
  take_text (self->uptime_value, mpv_format_duration_ns (now > t0 ? now - t0 : 0));
  {
    g_autoptr(GDateTime) start =
      g_date_time_new_from_unix_local (mp_monitor_get_start_time (monitor) / G_USEC_PER_SEC);
    take_text (self->uptime_detail, start ? g_date_time_format (start, "started %F %T") : NULL);
  }

  processes = mp_monitor_get_processes (monitor);
  n = g_list_model_get_n_items (processes);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (processes, i);
      alive += mp_monitor_process_is_alive (p);
    }
  take_text (self->processes_value, g_strdup_printf ("%u", alive));
  take_text (self->processes_detail, g_strdup_printf ("running, %u exited", n - alive));

  take_text (self->events_value, g_strdup_printf ("%" G_GUINT64_FORMAT, mp_monitor_get_n_events (monitor)));
  take_text (self->events_detail, g_strdup_printf ("%" G_GUINT64_FORMAT " lost", mp_monitor_get_n_lost (monitor)));

  pools = mp_monitor_get_pools (monitor);
  n_pools = g_list_model_get_n_items (pools);
  n_queues = g_list_model_get_n_items (mp_monitor_get_queues (monitor));
  n_locks = g_list_model_get_n_items (mp_monitor_get_locks (monitor));
  n_segments = g_list_model_get_n_items (mp_monitor_get_segments (monitor));
  take_text (self->objects_value, g_strdup_printf ("%u", n_pools + n_queues + n_locks + n_segments));
  take_text (self->objects_detail, g_strdup_printf ("%u pools, %u queues, %u locks, %u segments",
                                                    n_pools, n_queues, n_locks, n_segments));

  /* The sparkline: the first pool's throughput (the Pools page has them all). */
  mpv_graph_set_sample_interval (self->sparkline, mp_monitor_get_sample_interval (monitor) / 1000.0);
  mpv_graph_set_time_window (self->sparkline, mpv_page_get_time_window (page));
  if (n_pools > 0)
    {
      g_autoptr(MpMonitorPool) pool = g_list_model_get_item (pools, 0);
      guint n_values = 0;
      const double *values = mp_monitor_pool_get_throughput_history (pool, &n_values);

      mpv_graph_set_series (self->sparkline, 0, NULL, values, n_values);
      take_text (self->throughput_label,
                 g_strdup_printf ("%s: %.1f tasks/s now, %" G_GUINT64_FORMAT " done, %"
                                  G_GUINT64_FORMAT " failed", mp_monitor_pool_get_label (pool),
                                  mp_monitor_pool_get_throughput (pool),
                                  mp_monitor_pool_get_completed (pool),
                                  mp_monitor_pool_get_failed (pool)));
    }
  else
    {
      mpv_graph_set_n_series (self->sparkline, 0);
      gtk_label_set_text (self->throughput_label, "no pool");
    }
  gtk_widget_set_visible (GTK_WIDGET (self->sparkline), n_pools > 0);
}

static void
mpv_overview_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), MPV_TYPE_OVERVIEW_PAGE);
  G_OBJECT_CLASS (mpv_overview_page_parent_class)->dispose (object);
}

static void
mpv_overview_page_class_init (MpvOverviewPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_overview_page_dispose;
  page_class->monitor_changed = mpv_overview_page_monitor_changed;
  page_class->refresh = mpv_overview_page_refresh;

  g_type_ensure (MPV_TYPE_GRAPH);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-overview-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, program_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, program_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, status_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, status_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, uptime_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, uptime_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, processes_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, processes_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, events_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, events_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, objects_value);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, objects_detail);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, throughput_label);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, sparkline);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, alerts_list);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, notes_box);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, notes_title);
  gtk_widget_class_bind_template_child (widget_class, MpvOverviewPage, notes_label);
}

static void
mpv_overview_page_init (MpvOverviewPage *self)
{
  GtkWidget *placeholder;

  gtk_widget_init_template (GTK_WIDGET (self));
  placeholder = gtk_label_new ("No alerts: no deadlock, no stuck worker, no leaked segment.");
  gtk_widget_add_css_class (placeholder, "dim-label");
  gtk_widget_set_margin_top (placeholder, 8);
  gtk_widget_set_margin_bottom (placeholder, 8);
  gtk_list_box_set_placeholder (self->alerts_list, placeholder);
}
