/* mpv-queues-page.c: queues, their depth over time and their rates
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The depth graph uses the monitor's own depth history of each queue (one value per sample).
 * The monitor keeps the current put and get rates only, so this page records their history
 * itself, one value per "updated" signal, bounded like the monitor's histories; it starts when
 * the page gets the monitor (for a replay: from the start of the recording).
 */

#include "mpv-cells.h"
#include "mpv-format.h"
#include "mpv-graph.h"
#include "mpv-queues-page.h"

#define RATE_HISTORY 240

typedef struct
{
  double put[RATE_HISTORY];
  double get[RATE_HISTORY];
  guint  start;
  guint  len;
} RateHistory;

struct _MpvQueuesPage
{
  MpvPage              parent_instance;

  /* template */
  GtkColumnView       *column_view;
  GtkColumnViewColumn *label_column;
  GtkColumnViewColumn *kind_column;
  GtkColumnViewColumn *depth_column;
  GtkColumnViewColumn *max_depth_column;
  GtkColumnViewColumn *maxsize_column;
  GtkColumnViewColumn *puts_column;
  GtkColumnViewColumn *gets_column;
  GtkColumnViewColumn *put_rate_column;
  GtkColumnViewColumn *get_rate_column;
  GtkColumnViewColumn *blocked_column;
  GtkLabel            *summary_label;
  GtkLabel            *rates_heading;
  MpvGraph            *depth_graph;
  MpvGraph            *rates_graph;

  /* owned */
  MpvCellSet          *cells;
  GHashTable          *rates;     /* queue id (guint64 *) → RateHistory */
  MpMonitor           *monitor;   /* the one "updated" is connected on */
  gulong               updated_id;
};

G_DEFINE_FINAL_TYPE (MpvQueuesPage, mpv_queues_page, MPV_TYPE_PAGE)

static char *
label_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  const char *label = mp_monitor_queue_get_label (item);
  return label && *label ? g_strdup (label) : g_strdup_printf ("#%" G_GUINT64_FORMAT,
                                                              mp_monitor_queue_get_id (item));
}

static char *
kind_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup (mp_object_kind_to_string (mp_monitor_queue_get_kind (item)));
}

static char *
depth_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  guint64 depth = mp_monitor_queue_get_depth (item);
  guint64 maxsize = mp_monitor_queue_get_maxsize (item);

  if (maxsize > 0 && depth >= maxsize)
    *css = "failed-text";   /* full: puts block */
  return g_strdup_printf ("%" G_GUINT64_FORMAT, depth);
}

static char *
max_depth_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, mp_monitor_queue_get_max_depth (item));
}

static char *
maxsize_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  guint64 m = mp_monitor_queue_get_maxsize (item);
  return m ? g_strdup_printf ("%" G_GUINT64_FORMAT, m) : g_strdup ("∞");
}

static char *
puts_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, mp_monitor_queue_get_puts (item));
}

static char *
gets_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, mp_monitor_queue_get_gets (item));
}

static char *
put_rate_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%.1f", mp_monitor_queue_get_put_rate (item));
}

static char *
get_rate_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%.1f", mp_monitor_queue_get_get_rate (item));
}

static char *
blocked_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  guint64 bp = 0, bg = 0;

  g_object_get (item, "blocked-puts", &bp, "blocked-gets", &bg, NULL);
  return g_strdup_printf ("%" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT, bp, bg);
}

static guint64
id_key (gconstpointer v)
{
  return *(const guint64 *) v;
}

static guint
u64_hash (gconstpointer v)
{
  guint64 x = id_key (v);
  return (guint) (x ^ (x >> 32));
}

static gboolean
u64_equal (gconstpointer a, gconstpointer b)
{
  return id_key (a) == id_key (b);
}

static void
on_updated (MpMonitor *monitor, MpvQueuesPage *self)
{
  GListModel *queues = mp_monitor_get_queues (monitor);
  guint n = g_list_model_get_n_items (queues);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorQueue) q = g_list_model_get_item (queues, i);
      guint64 id = mp_monitor_queue_get_id (q);
      RateHistory *h = g_hash_table_lookup (self->rates, &id);
      guint at;

      if (h == NULL)
        {
          guint64 *key = g_new (guint64, 1);

          *key = id;
          h = g_new0 (RateHistory, 1);
          g_hash_table_insert (self->rates, key, h);
        }
      if (h->len < RATE_HISTORY)
        at = (h->start + h->len++) % RATE_HISTORY;
      else
        {
          at = h->start;
          h->start = (h->start + 1) % RATE_HISTORY;
        }
      h->put[at] = mp_monitor_queue_get_put_rate (q);
      h->get[at] = mp_monitor_queue_get_get_rate (q);
    }
}

static MpMonitorQueue *
selected_queue (MpvQueuesPage *self)
{
  GtkSelectionModel *model = gtk_column_view_get_model (self->column_view);
  gpointer item;

  if (!GTK_IS_SINGLE_SELECTION (model))
    return NULL;
  item = gtk_single_selection_get_selected_item (GTK_SINGLE_SELECTION (model));
  return item ? MP_MONITOR_QUEUE (item) : NULL;
}

static void
mpv_queues_page_refresh (MpvPage *page)
{
  MpvQueuesPage *self = MPV_QUEUES_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  GListModel *queues;
  MpMonitorQueue *sel;
  guint n, n_graphed = 0;
  double interval;

  mpv_cell_set_refresh (self->cells);
  mpv_column_view_resort (self->column_view);
  if (monitor == NULL)
    {
      gtk_label_set_text (self->summary_label, "");
      mpv_graph_set_n_series (self->depth_graph, 0);
      mpv_graph_set_n_series (self->rates_graph, 0);
      return;
    }

  queues = mp_monitor_get_queues (monitor);
  n = g_list_model_get_n_items (queues);
  interval = mp_monitor_get_sample_interval (monitor) / 1000.0;
  mpv_graph_set_sample_interval (self->depth_graph, interval);
  mpv_graph_set_sample_interval (self->rates_graph, interval);
  mpv_graph_set_time_window (self->depth_graph, mpv_page_get_time_window (page));
  mpv_graph_set_time_window (self->rates_graph, mpv_page_get_time_window (page));

  /* One series per queue, the live ones first. */
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < n && n_graphed < MPV_GRAPH_MAX_SERIES; i++)
      {
        g_autoptr(MpMonitorQueue) q = g_list_model_get_item (queues, i);
        g_autofree char *label = label_text (NULL, q, NULL, NULL);
        const double *values;
        guint n_values = 0;

        if (mp_monitor_queue_get_destroyed (q) != (pass == 1))
          continue;
        values = mp_monitor_queue_get_depth_history (q, &n_values);
        mpv_graph_set_series (self->depth_graph, n_graphed++, label, values, n_values);
      }
  mpv_graph_set_n_series (self->depth_graph, n_graphed);

  {
    g_autofree char *text = g_strdup_printf ("%u %s", n, n == 1 ? "queue" : "queues");
    gtk_label_set_text (self->summary_label, text);
  }

  /* Rates of the selected queue (or of the only one). */
  sel = selected_queue (self);
  {
    g_autoptr(MpMonitorQueue) only = (sel == NULL && n > 0) ? g_list_model_get_item (queues, 0) : NULL;
    MpMonitorQueue *q = sel ? sel : only;
    guint64 id;
    RateHistory *h;

    if (q == NULL || (h = g_hash_table_lookup (self->rates, (id = mp_monitor_queue_get_id (q), &id))) == NULL)
      {
        mpv_graph_set_n_series (self->rates_graph, 0);
        return;
      }
    {
      double put[RATE_HISTORY], get[RATE_HISTORY];
      g_autofree char *label = label_text (NULL, q, NULL, NULL);
      g_autofree char *heading = g_strdup_printf ("Puts and gets per second: %s", label);

      for (guint k = 0; k < h->len; k++)
        {
          put[k] = h->put[(h->start + k) % RATE_HISTORY];
          get[k] = h->get[(h->start + k) % RATE_HISTORY];
        }
      mpv_graph_set_series (self->rates_graph, 0, "puts/s", put, h->len);
      mpv_graph_set_series (self->rates_graph, 1, "gets/s", get, h->len);
      mpv_graph_set_n_series (self->rates_graph, 2);
      gtk_label_set_text (self->rates_heading, heading);
    }
  }
}

static void
mpv_queues_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvQueuesPage *self = MPV_QUEUES_PAGE (page);

  if (self->monitor != NULL)
    g_clear_signal_handler (&self->updated_id, self->monitor);
  g_set_object (&self->monitor, monitor);
  g_hash_table_remove_all (self->rates);
  if (monitor != NULL)
    self->updated_id = g_signal_connect (monitor, "updated", G_CALLBACK (on_updated), self);
  mpv_column_view_set_list (self->column_view, monitor ? mp_monitor_get_queues (monitor) : NULL);
}

static void
mpv_queues_page_dispose (GObject *object)
{
  MpvQueuesPage *self = MPV_QUEUES_PAGE (object);

  if (self->monitor != NULL)
    g_clear_signal_handler (&self->updated_id, self->monitor);
  g_clear_object (&self->monitor);
  gtk_widget_dispose_template (GTK_WIDGET (self), MPV_TYPE_QUEUES_PAGE);
  G_OBJECT_CLASS (mpv_queues_page_parent_class)->dispose (object);
}

static void
mpv_queues_page_finalize (GObject *object)
{
  MpvQueuesPage *self = MPV_QUEUES_PAGE (object);

  mpv_cell_set_free (self->cells);
  g_hash_table_destroy (self->rates);
  G_OBJECT_CLASS (mpv_queues_page_parent_class)->finalize (object);
}

static void
mpv_queues_page_class_init (MpvQueuesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_queues_page_dispose;
  object_class->finalize = mpv_queues_page_finalize;
  page_class->monitor_changed = mpv_queues_page_monitor_changed;
  page_class->refresh = mpv_queues_page_refresh;

  g_type_ensure (MP_TYPE_MONITOR_QUEUE);
  g_type_ensure (MPV_TYPE_GRAPH);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-queues-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, label_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, kind_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, depth_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, max_depth_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, maxsize_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, puts_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, gets_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, put_rate_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, get_rate_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, blocked_column);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, rates_heading);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, depth_graph);
  gtk_widget_class_bind_template_child (widget_class, MpvQueuesPage, rates_graph);
}

static void
set_factory (GtkColumnViewColumn *column, MpvCellSet *cells, MpvCellTextFunc func,
             gpointer data, MpvCellFlags flags)
{
  g_autoptr(GtkListItemFactory) factory = mpv_cell_set_text_factory (cells, func, data, flags);
  gtk_column_view_column_set_factory (column, factory);
}

static void
on_selection_changed (GtkSelectionModel *model, guint position, guint n_items,
                      MpvQueuesPage *self)
{
  mpv_page_queue_refresh (MPV_PAGE (self));
}

static void
on_model_changed (GtkColumnView *view, GParamSpec *pspec, MpvQueuesPage *self)
{
  GtkSelectionModel *model = gtk_column_view_get_model (view);

  if (model != NULL)
    g_signal_connect_object (model, "selection-changed", G_CALLBACK (on_selection_changed),
                             self, 0);
  mpv_page_queue_refresh (MPV_PAGE (self));
}

static void
mpv_queues_page_init (MpvQueuesPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cells = mpv_cell_set_new ();
  self->rates = g_hash_table_new_full (u64_hash, u64_equal, g_free, g_free);
  set_factory (self->label_column, self->cells, label_text, self, MPV_CELL_NONE);
  set_factory (self->kind_column, self->cells, kind_text, self, MPV_CELL_NONE);
  set_factory (self->depth_column, self->cells, depth_text, self, MPV_CELL_NUMERIC);
  set_factory (self->max_depth_column, self->cells, max_depth_text, self, MPV_CELL_NUMERIC);
  set_factory (self->maxsize_column, self->cells, maxsize_text, self, MPV_CELL_NUMERIC);
  set_factory (self->puts_column, self->cells, puts_text, self, MPV_CELL_NUMERIC);
  set_factory (self->gets_column, self->cells, gets_text, self, MPV_CELL_NUMERIC);
  set_factory (self->put_rate_column, self->cells, put_rate_text, self, MPV_CELL_NUMERIC);
  set_factory (self->get_rate_column, self->cells, get_rate_text, self, MPV_CELL_NUMERIC);
  set_factory (self->blocked_column, self->cells, blocked_text, self, MPV_CELL_NUMERIC);
  /* The rates graph follows the selected queue; the selection model changes with the monitor. */
  g_signal_connect (self->column_view, "notify::model", G_CALLBACK (on_model_changed), self);
}
