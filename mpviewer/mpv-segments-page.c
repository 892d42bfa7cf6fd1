/* mpv-segments-page.c: shared-memory segments, who maps them, and leaks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "mpv-cells.h"
#include "mpv-format.h"
#include "mpv-segments-page.h"

struct _MpvSegmentsPage
{
  MpvPage              parent_instance;

  /* template */
  GtkColumnView       *column_view;
  GtkColumnViewColumn *name_column;
  GtkColumnViewColumn *kind_column;
  GtkColumnViewColumn *size_column;
  GtkColumnViewColumn *creator_column;
  GtkColumnViewColumn *attached_column;
  GtkColumnViewColumn *mappers_column;
  GtkColumnViewColumn *status_column;
  GtkLabel            *summary_label;

  /* owned */
  MpvCellSet          *cells;
};

G_DEFINE_FINAL_TYPE (MpvSegmentsPage, mpv_segments_page, MPV_TYPE_PAGE)

static char *
name_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  const char *name = mp_monitor_segment_get_name (item);
  const char *label = mp_monitor_segment_get_label (item);

  if (name != NULL && *name != '\0')
    return g_strdup_printf ("/%s", name);
  if (label != NULL && *label != '\0')
    return g_strdup_printf ("%s (anonymous)", label);
  return g_strdup_printf ("#%" G_GUINT64_FORMAT " (anonymous)", mp_monitor_segment_get_id (item));
}

static char *
kind_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup (mp_object_kind_to_string (mp_monitor_segment_get_kind (item)));
}

static char *
size_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return mpv_format_size (mp_monitor_segment_get_size (item));
}

static char *
creator_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  GPid pid = mp_monitor_segment_get_creator_pid (item);
  return pid ? g_strdup_printf ("%d", (int) pid) : g_strdup ("–");
}

static char *
attached_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  guint n = 0;
  const GPid *pids = mp_monitor_segment_get_attached (item, &n);
  return mpv_format_pids (pids, n);
}

static char *
mappers_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%u", mp_monitor_segment_get_n_mappers (item));
}

static char *
status_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  if (mp_monitor_segment_get_leaked (item))
    {
      *css = "leak";
      return g_strdup ("⚠ leaked");
    }
  if (mp_monitor_segment_get_unlinked (item))
    return g_strdup ("unlinked");
  if (mp_monitor_segment_get_destroyed (item))
    return g_strdup ("closed");
  return g_strdup ("in use");
}

static void
mpv_segments_page_refresh (MpvPage *page)
{
  MpvSegmentsPage *self = MPV_SEGMENTS_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  GListModel *segments;
  guint n, leaked = 0;
  guint64 bytes = 0;
  g_autofree char *size = NULL;
  g_autofree char *text = NULL;

  mpv_cell_set_refresh (self->cells);
  mpv_column_view_resort (self->column_view);
  if (monitor == NULL)
    {
      gtk_label_set_text (self->summary_label, "");
      return;
    }
  segments = mp_monitor_get_segments (monitor);
  n = g_list_model_get_n_items (segments);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorSegment) s = g_list_model_get_item (segments, i);
      leaked += mp_monitor_segment_get_leaked (s);
      if (!mp_monitor_segment_get_destroyed (s))
        bytes += mp_monitor_segment_get_size (s);
    }
  size = mpv_format_size (bytes);
  text = g_strdup_printf ("%u %s, %s in use%s", n, n == 1 ? "segment" : "segments",
                          bytes ? size : "nothing", leaked ? ", LEAKS" : "");
  gtk_label_set_text (self->summary_label, text);
}

static void
mpv_segments_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvSegmentsPage *self = MPV_SEGMENTS_PAGE (page);

  mpv_column_view_set_list (self->column_view, monitor ? mp_monitor_get_segments (monitor) : NULL);
}

static void
mpv_segments_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), MPV_TYPE_SEGMENTS_PAGE);
  G_OBJECT_CLASS (mpv_segments_page_parent_class)->dispose (object);
}

static void
mpv_segments_page_finalize (GObject *object)
{
  mpv_cell_set_free (MPV_SEGMENTS_PAGE (object)->cells);
  G_OBJECT_CLASS (mpv_segments_page_parent_class)->finalize (object);
}

static void
mpv_segments_page_class_init (MpvSegmentsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_segments_page_dispose;
  object_class->finalize = mpv_segments_page_finalize;
  page_class->monitor_changed = mpv_segments_page_monitor_changed;
  page_class->refresh = mpv_segments_page_refresh;

  g_type_ensure (MP_TYPE_MONITOR_SEGMENT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-segments-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, name_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, kind_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, size_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, creator_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, attached_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, mappers_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, status_column);
  gtk_widget_class_bind_template_child (widget_class, MpvSegmentsPage, summary_label);
}

static void
set_factory (GtkColumnViewColumn *column, MpvCellSet *cells, MpvCellTextFunc func,
             gpointer data, MpvCellFlags flags)
{
  g_autoptr(GtkListItemFactory) factory = mpv_cell_set_text_factory (cells, func, data, flags);
  gtk_column_view_column_set_factory (column, factory);
}

static void
mpv_segments_page_init (MpvSegmentsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cells = mpv_cell_set_new ();
  set_factory (self->name_column, self->cells, name_text, self, MPV_CELL_NONE);
  set_factory (self->kind_column, self->cells, kind_text, self, MPV_CELL_NONE);
  set_factory (self->size_column, self->cells, size_text, self, MPV_CELL_NUMERIC);
  set_factory (self->creator_column, self->cells, creator_text, self, MPV_CELL_NUMERIC);
  set_factory (self->attached_column, self->cells, attached_text, self, MPV_CELL_NONE);
  set_factory (self->mappers_column, self->cells, mappers_text, self, MPV_CELL_NUMERIC);
  set_factory (self->status_column, self->cells, status_text, self, MPV_CELL_NONE);
}
