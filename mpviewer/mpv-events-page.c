/* mpv-events-page.c: a filterable log of the most recent events
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The log (MpvEventLog, owned by the window, fed from the monitor's "events" signal) is
 * bounded; this page filters it with a GtkFilterListModel. With no search text and all kinds
 * shown the filter is removed, so an unfiltered log costs nothing per event; a filter runs
 * incrementally, so a large log never blocks a frame.
 *
 * The log is attached to the view only while the page is shown: a column view bound to a log
 * that moves by thousands of rows per batch rebinds and re-measures its rows on every batch,
 * shown or not, which would be most of the viewer's work under a busy program.
 *
 * The log's items are positions whose events change as the log moves on, without an
 * "items-changed" (see mpv-event-log.c). That suits the unfiltered view, whose cells are
 * rewritten on refresh, but not a filter, which would have to run over the whole log again
 * (and an incremental refilter empties the view until its idle runs, so a frame or a
 * screenshot could show no rows at all). With a filter the page therefore filters an
 * MpvEventLogView, whose items are events: each refresh syncs it, announcing the events
 * dropped (removed at the front, matches or not) and the events added; the filter model then
 * only looks at the new events, and the rows already shown stay as they are.
 */

#include <string.h>

#include "mpv-cells.h"
#include "mpv-events-page.h"
#include "mpv-format.h"

struct _MpvEventsPage
{
  MpvPage              parent_instance;

  /* template */
  GtkSearchEntry      *search_entry;
  GtkDropDown         *category_dropdown;
  GtkLabel            *summary_label;
  GtkToggleButton     *follow_button;
  GtkScrolledWindow   *scrolled_window;
  GtkColumnView       *column_view;
  GtkColumnViewColumn *time_column;
  GtkColumnViewColumn *pid_column;
  GtkColumnViewColumn *type_column;
  GtkColumnViewColumn *details_column;

  /* owned */
  MpvCellSet          *cells;
  MpvEventLog         *log;
  MpvEventLogView     *view;      /* what the filter reads while one is set and the page shown */
  GtkFilterListModel  *filtered;
  GtkCustomFilter     *filter;
  char                *search;    /* casefolded */
  guint                follow_id;
  MpvEventCategory     category;
};

G_DEFINE_FINAL_TYPE (MpvEventsPage, mpv_events_page, MPV_TYPE_PAGE)

static char *
time_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  MpMonitor *monitor = mpv_page_get_monitor (data);
  const MpTraceEvent *ev = mpv_event_item_get_event (item);

  return monitor ? mpv_format_since_start (monitor, ev->timestamp_ns) : g_strdup ("");
}

static char *
pid_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  const MpTraceEvent *ev = mpv_event_item_get_event (item);
  return ev->pid ? g_strdup_printf ("%d", ev->pid) : g_strdup ("viewer");
}

static char *
type_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  const MpTraceEvent *ev = mpv_event_item_get_event (item);

  if (ev->type == MP_EVENT_TASK_FAILED || ev->type == MP_EVENT_LOCK_CONTENDED ||
      ev->type == MP_EVENT_LOCK_OWNER_DIED || ev->type == MP_EVENT_AUTH_FAILED)
    *css = "failed-text";
  return g_strdup (mp_trace_event_type_to_string (ev->type));
}

static char *
details_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return mpv_format_event_details (mpv_page_get_monitor (data), mpv_event_item_get_event (item));
}

static gboolean
filter_func (gpointer item, gpointer user_data)
{
  MpvEventsPage *self = user_data;
  const MpTraceEvent *ev = mpv_event_item_get_event (item);
  g_autofree char *details = NULL;
  g_autofree char *folded = NULL;
  char pid[16];

  if (!mpv_event_item_is_kept (item))
    return FALSE;
  if (self->category != MPV_EVENT_CATEGORY_ALL && mpv_event_category (ev->type) != self->category)
    return FALSE;
  if (self->search == NULL)
    return TRUE;
  g_snprintf (pid, sizeof pid, "%d", ev->pid);
  if (strstr (pid, self->search) != NULL ||
      strstr (mp_trace_event_type_to_string (ev->type), self->search) != NULL)
    return TRUE;
  details = mpv_format_event_details (mpv_page_get_monitor (MPV_PAGE (self)), ev);
  folded = g_utf8_casefold (details, -1);
  return strstr (folded, self->search) != NULL;
}

/* Feeds the filter model: nothing while hidden, the log itself when nothing is filtered, a
 * view of the log otherwise (see NOTES). */
static void
attach_model (MpvEventsPage *self, gboolean shown)
{
  g_autoptr(MpvEventLogView) old_view = g_steal_pointer (&self->view);
  GListModel *model = NULL;

  if (self->log != NULL && shown)
    {
      if (gtk_filter_list_model_get_filter (self->filtered) == NULL)
        model = G_LIST_MODEL (self->log);
      else
        {
          if (old_view != NULL && mpv_event_log_view_get_log (old_view) == self->log)
            self->view = g_steal_pointer (&old_view);
          else
            self->view = mpv_event_log_view_new (self->log);
          model = G_LIST_MODEL (self->view);
        }
    }
  /* An old view is dropped after the filter model lets go of it. */
  gtk_filter_list_model_set_model (self->filtered, model);
}

static void
update_filter (MpvEventsPage *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
  g_autofree char *stripped = g_strstrip (g_strdup (text ? text : ""));

  g_clear_pointer (&self->search, g_free);
  if (*stripped != '\0')
    self->search = g_utf8_casefold (stripped, -1);
  self->category = (MpvEventCategory) gtk_drop_down_get_selected (self->category_dropdown);
  if (self->category > MPV_EVENT_CATEGORY_MARKS)
    self->category = MPV_EVENT_CATEGORY_ALL;

  if (self->search == NULL && self->category == MPV_EVENT_CATEGORY_ALL)
    gtk_filter_list_model_set_filter (self->filtered, NULL);
  else if (gtk_filter_list_model_get_filter (self->filtered) == NULL)
    gtk_filter_list_model_set_filter (self->filtered, GTK_FILTER (self->filter));
  else
    gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  attach_model (self, gtk_widget_get_mapped (GTK_WIDGET (self)));
  mpv_page_queue_refresh (MPV_PAGE (self));
}

static void
on_filter_changed (MpvEventsPage *self)
{
  update_filter (self);
}

void
mpv_events_page_set_search (MpvEventsPage *self, const char *text)
{
  g_return_if_fail (MPV_IS_EVENTS_PAGE (self));
  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), text ? text : "");
  update_filter (self);
}

void
mpv_events_page_set_log (MpvEventsPage *self, MpvEventLog *log)
{
  g_return_if_fail (MPV_IS_EVENTS_PAGE (self));
  g_set_object (&self->log, log);
  attach_model (self, gtk_widget_get_mapped (GTK_WIDGET (self)));
}

static void
mpv_events_page_map (GtkWidget *widget)
{
  MpvEventsPage *self = MPV_EVENTS_PAGE (widget);

  /* Attached before chaining up: the parent's map refreshes a stale page. */
  attach_model (self, TRUE);
  GTK_WIDGET_CLASS (mpv_events_page_parent_class)->map (widget);
}

static void
mpv_events_page_unmap (GtkWidget *widget)
{
  MpvEventsPage *self = MPV_EVENTS_PAGE (widget);

  GTK_WIDGET_CLASS (mpv_events_page_parent_class)->unmap (widget);
  attach_model (self, FALSE);
}

GListModel *
mpv_events_page_get_filtered (MpvEventsPage *self)
{
  g_return_val_if_fail (MPV_IS_EVENTS_PAGE (self), NULL);
  return G_LIST_MODEL (self->filtered);
}

static void
mpv_events_page_refresh (MpvPage *page)
{
  MpvEventsPage *self = MPV_EVENTS_PAGE (page);
  guint64 seen = self->log ? mpv_event_log_get_n_seen (self->log) : 0;
  MpMonitor *monitor = mpv_page_get_monitor (page);
  guint64 lost = monitor ? mp_monitor_get_n_lost (monitor) : 0;
  g_autofree char *text = NULL;
  guint shown, kept;

  /* The view moves on to the log's events now; the filter looks at the new ones only. */
  if (self->view != NULL)
    mpv_event_log_view_sync (self->view);
  shown = g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
  kept = self->log ? g_list_model_get_n_items (G_LIST_MODEL (self->log)) : 0;
  if (seen > kept)
    text = g_strdup_printf ("%u shown of the last %u of %" G_GUINT64_FORMAT " events%s", shown,
                            kept, seen, lost ? " (some lost)" : "");
  else
    text = g_strdup_printf ("%u shown of %u events", shown, kept);
  gtk_label_set_text (self->summary_label, text);
  /* Unfiltered, the log's positions hold new events now (it does not announce that):
   * rewrite the cells on screen (see mpv-cells.c). */
  mpv_cell_set_refresh_shown (self->cells, GTK_WIDGET (self->scrolled_window), FALSE);
}

static gboolean
follow_end (gpointer user_data)
{
  MpvEventsPage *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scrolled_window);

  self->follow_id = 0;
  if (gtk_toggle_button_get_active (self->follow_button))
    gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
  return G_SOURCE_REMOVE;
}

static void
on_upper_changed (GtkAdjustment *adj, GParamSpec *pspec, MpvEventsPage *self)
{
  /* No scroll_to in 4.8: follow the end by moving the adjustment to its end. Not from here:
   * the list changes "upper" while it lays out, with its own "value-changed" handler
   * blocked, so it would not follow (the scrollbar at the end, the rows at the start).
   * Before the next frame instead. */
  if (gtk_toggle_button_get_active (self->follow_button) && self->follow_id == 0)
    self->follow_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, follow_end, self, NULL);
}

static void
on_scrolled (GtkAdjustment *adj, MpvEventsPage *self)
{
  /* Rows that come into view may hold text from before the last refresh. */
  mpv_cell_set_refresh_shown (self->cells, GTK_WIDGET (self->scrolled_window), TRUE);
}

static void
mpv_events_page_dispose (GObject *object)
{
  MpvEventsPage *self = MPV_EVENTS_PAGE (object);

  g_clear_handle_id (&self->follow_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), MPV_TYPE_EVENTS_PAGE);
  g_clear_object (&self->filtered);
  g_clear_object (&self->filter);
  g_clear_object (&self->view);
  g_clear_object (&self->log);
  G_OBJECT_CLASS (mpv_events_page_parent_class)->dispose (object);
}

static void
mpv_events_page_finalize (GObject *object)
{
  MpvEventsPage *self = MPV_EVENTS_PAGE (object);

  mpv_cell_set_free (self->cells);
  g_free (self->search);
  G_OBJECT_CLASS (mpv_events_page_parent_class)->finalize (object);
}

static void
mpv_events_page_class_init (MpvEventsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_events_page_dispose;
  object_class->finalize = mpv_events_page_finalize;
  page_class->refresh = mpv_events_page_refresh;
  widget_class->map = mpv_events_page_map;
  widget_class->unmap = mpv_events_page_unmap;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-events-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, category_dropdown);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, follow_button);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, scrolled_window);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, time_column);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, pid_column);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, type_column);
  gtk_widget_class_bind_template_child (widget_class, MpvEventsPage, details_column);
  gtk_widget_class_bind_template_callback (widget_class, on_filter_changed);
}

static void
set_factory (GtkColumnViewColumn *column, MpvCellSet *cells, MpvCellTextFunc func,
             gpointer data, MpvCellFlags flags)
{
  g_autoptr(GtkListItemFactory) factory = mpv_cell_set_text_factory (cells, func, data, flags);
  gtk_column_view_column_set_factory (column, factory);
}

static void
mpv_events_page_init (MpvEventsPage *self)
{
  g_autoptr(GtkNoSelection) selection = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cells = mpv_cell_set_new ();
  set_factory (self->time_column, self->cells, time_text, self, MPV_CELL_NUMERIC);
  set_factory (self->pid_column, self->cells, pid_text, self, MPV_CELL_NUMERIC);
  set_factory (self->type_column, self->cells, type_text, self, MPV_CELL_NONE);
  set_factory (self->details_column, self->cells, details_text, self, MPV_CELL_NONE);

  self->filter = gtk_custom_filter_new (filter_func, self, NULL);
  self->filtered = gtk_filter_list_model_new (NULL, NULL);
  gtk_filter_list_model_set_incremental (self->filtered, TRUE);
  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->filtered)));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (selection));

  g_signal_connect (gtk_scrolled_window_get_vadjustment (self->scrolled_window), "notify::upper",
                    G_CALLBACK (on_upper_changed), self);
  g_signal_connect (gtk_scrolled_window_get_vadjustment (self->scrolled_window), "value-changed",
                    G_CALLBACK (on_scrolled), self);
}
