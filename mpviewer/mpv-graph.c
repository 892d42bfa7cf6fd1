/* mpv-graph.c: a time-series line graph (or a sparkline), drawn with cairo
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Values are samples at a fixed interval, the newest last; the right edge is "now" and the
 * graph shows the last time-window seconds. The owner copies values in (bounded by
 * MPV_GRAPH_MAX_VALUES) when its page refreshes and the graph redraws on the next frame; drawing
 * touches at most MAX_SERIES × MAX_VALUES points. GskPath is 4.14, so lines go through
 * gtk_snapshot_append_cairo().
 */

#include <math.h>
#include <string.h>

#include "mpv-graph.h"

typedef struct
{
  char   *label;
  double *values;
  guint   n_values;
} Series;

struct _MpvGraph
{
  GtkWidget parent_instance;

  Series    series[MPV_GRAPH_MAX_SERIES];
  guint     n_series;
  double    interval;
  double    window;
  double    y_max;
  char     *unit;
  char     *placeholder;
  gboolean  compact;
};

enum
{
  PROP_0,
  PROP_UNIT,
  PROP_COMPACT,
  PROP_PLACEHOLDER_TEXT,
  PROP_TIME_WINDOW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MpvGraph, mpv_graph, GTK_TYPE_WIDGET)

static const char *const palette[] = {
  "#3584e4", "#e66100", "#2ec27e", "#c061cb", "#f5c211", "#1c71d8", "#e01b24", "#865e3c",
};

void
mpv_graph_get_color (guint index, GdkRGBA *color)
{
  gdk_rgba_parse (color, palette[index % G_N_ELEMENTS (palette)]);
}

GtkWidget *
mpv_graph_new (void)
{
  return g_object_new (MPV_TYPE_GRAPH, NULL);
}

void
mpv_graph_set_n_series (MpvGraph *self, guint n_series)
{
  g_return_if_fail (MPV_IS_GRAPH (self));

  n_series = MIN (n_series, MPV_GRAPH_MAX_SERIES);
  for (guint i = n_series; i < self->n_series; i++)
    {
      g_clear_pointer (&self->series[i].label, g_free);
      g_clear_pointer (&self->series[i].values, g_free);
      self->series[i].n_values = 0;
    }
  self->n_series = n_series;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
mpv_graph_get_n_series (MpvGraph *self)
{
  g_return_val_if_fail (MPV_IS_GRAPH (self), 0);
  return self->n_series;
}

void
mpv_graph_set_series (MpvGraph *self, guint index, const char *label, const double *values,
                      guint n_values)
{
  Series *s;

  g_return_if_fail (MPV_IS_GRAPH (self));
  if (index >= MPV_GRAPH_MAX_SERIES)
    return;
  if (index >= self->n_series)
    self->n_series = index + 1;
  s = &self->series[index];
  if (g_strcmp0 (s->label, label) != 0)
    {
      g_free (s->label);
      s->label = g_strdup (label);
    }
  if (n_values > MPV_GRAPH_MAX_VALUES)
    {
      values += n_values - MPV_GRAPH_MAX_VALUES;
      n_values = MPV_GRAPH_MAX_VALUES;
    }
  if (s->values == NULL)
    s->values = g_new0 (double, MPV_GRAPH_MAX_VALUES);
  if (n_values > 0)
    memcpy (s->values, values, n_values * sizeof (double));
  s->n_values = n_values;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
mpv_graph_set_sample_interval (MpvGraph *self, double seconds)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  self->interval = seconds > 0.001 ? seconds : 0.5;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
mpv_graph_set_time_window (MpvGraph *self, double seconds)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  seconds = seconds >= 1 ? seconds : 60;
  if (self->window == seconds)
    return;
  self->window = seconds;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIME_WINDOW]);
}

void
mpv_graph_set_y_max (MpvGraph *self, double y_max)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  self->y_max = y_max > 0 ? y_max : 0;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
mpv_graph_set_unit (MpvGraph *self, const char *unit)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  if (g_strcmp0 (self->unit, unit) == 0)
    return;
  g_free (self->unit);
  self->unit = g_strdup (unit);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNIT]);
}

void
mpv_graph_set_compact (MpvGraph *self, gboolean compact)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  compact = !!compact;
  if (self->compact == compact)
    return;
  self->compact = compact;
  gtk_widget_queue_resize (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPACT]);
}

void
mpv_graph_set_placeholder_text (MpvGraph *self, const char *text)
{
  g_return_if_fail (MPV_IS_GRAPH (self));
  if (g_strcmp0 (self->placeholder, text) == 0)
    return;
  g_free (self->placeholder);
  self->placeholder = g_strdup (text);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PLACEHOLDER_TEXT]);
}

/* A round axis maximum: 1, 2, 2.5 or 5 times a power of ten. */
static double
nice_max (double v)
{
  double p, m;

  if (v <= 0)
    return 1;
  p = pow (10, floor (log10 (v)));
  m = v / p;
  if (m <= 1)
    return p;
  if (m <= 2)
    return 2 * p;
  if (m <= 2.5)
    return 2.5 * p;
  if (m <= 5)
    return 5 * p;
  return 10 * p;
}

static char *
format_value (double v)
{
  if (v >= 1e6)
    return g_strdup_printf ("%.3gM", v / 1e6);
  if (v >= 1e4)
    return g_strdup_printf ("%.3gk", v / 1e3);
  return g_strdup_printf ("%g", v);
}

static void
draw_text (cairo_t *cr, PangoLayout *layout, const char *text, double x, double y,
           double xalign, double yalign)
{
  int w, h;

  pango_layout_set_text (layout, text, -1);
  pango_layout_get_pixel_size (layout, &w, &h);
  cairo_move_to (cr, x - w * xalign, y - h * yalign);
  pango_cairo_show_layout (cr, layout);
}

static void
mpv_graph_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  MpvGraph *self = MPV_GRAPH (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(PangoLayout) layout = gtk_widget_create_pango_layout (widget, NULL);
  GdkRGBA fg;
  cairo_t *cr;
  double left, right, top, bottom, max = 0, y_top, shown;
  guint window_samples;
  gboolean any = FALSE;

  if (width <= 0 || height <= 0)
    return;

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
G_GNUC_END_IGNORE_DEPRECATIONS

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  /* While there is less history than the window, the history fills the width. */
  {
    guint longest = 0;

    for (guint s = 0; s < self->n_series; s++)
      longest = MAX (longest, self->series[s].n_values);
    shown = CLAMP ((longest > 1 ? longest - 1 : 1) * self->interval, MIN (5.0, self->window), self->window);
  }
  window_samples = (guint) ceil (shown / self->interval) + 1;

  for (guint s = 0; s < self->n_series; s++)
    for (guint i = 0; i < self->series[s].n_values; i++)
      {
        guint age = self->series[s].n_values - 1 - i;
        if (age < window_samples)
          {
            max = MAX (max, self->series[s].values[i]);
            any = TRUE;
          }
      }
  y_top = self->y_max > 0 ? MAX (self->y_max, max) : nice_max (max * 1.1);

  if (self->compact)
    {
      left = 1;
      right = width - 1;
      top = 2;
      bottom = height - 2;
    }
  else
    {
      g_autofree char *top_text = format_value (y_top);
      int w, h;

      pango_layout_set_text (layout, top_text, -1);
      pango_layout_get_pixel_size (layout, &w, &h);
      left = MAX (w, 24) + 8;
      right = width - 8;
      top = h / 2 + 4 + (self->n_series > 1 ? h + 4 : 0);
      bottom = height - h - 6;
    }
  if (right <= left + 4 || bottom <= top + 4)
    {
      cairo_destroy (cr);
      return;
    }

  /* Frame, grid and labels. */
  if (!self->compact)
    {
      g_autofree char *top_text = format_value (y_top);
      g_autofree char *mid_text = format_value (y_top / 2);
      g_autofree char *left_text = g_strdup_printf ("−%.3g s", shown);

      cairo_set_line_width (cr, 1);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.12);
      for (int k = 0; k <= 4; k++)
        {
          double y = round (top + (bottom - top) * k / 4.0) + 0.5;
          cairo_move_to (cr, left, y);
          cairo_line_to (cr, right, y);
        }
      cairo_stroke (cr);

      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.7);
      draw_text (cr, layout, top_text, left - 4, top, 1, 0.5);
      draw_text (cr, layout, mid_text, left - 4, (top + bottom) / 2, 1, 0.5);
      draw_text (cr, layout, "0", left - 4, bottom, 1, 0.5);
      draw_text (cr, layout, left_text, left, bottom + 3, 0, 0);
      draw_text (cr, layout, "now", right, bottom + 3, 1, 0);
      if (self->unit != NULL)
        draw_text (cr, layout, self->unit, (left + right) / 2, bottom + 3, 0.5, 0);

      /* Legend, when there are several series. */
      if (self->n_series > 1)
        {
          double x = left;

          for (guint s = 0; s < self->n_series; s++)
            {
              GdkRGBA c;
              int w, h;

              if (self->series[s].label == NULL)
                continue;
              mpv_graph_get_color (s, &c);
              pango_layout_set_text (layout, self->series[s].label, -1);
              pango_layout_get_pixel_size (layout, &w, &h);
              gdk_cairo_set_source_rgba (cr, &c);
              cairo_rectangle (cr, x, 2 + h / 2.0 - 4, 10, 8);
              cairo_fill (cr);
              cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.85);
              cairo_move_to (cr, x + 14, 2);
              pango_cairo_show_layout (cr, layout);
              x += 14 + w + 16;
            }
        }
    }

  if (!any)
    {
      if (self->placeholder != NULL && !self->compact)
        {
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.5);
          draw_text (cr, layout, self->placeholder, (left + right) / 2, (top + bottom) / 2,
                     0.5, 0.5);
        }
      cairo_destroy (cr);
      return;
    }

  cairo_save (cr);
  cairo_rectangle (cr, left, top - 2, right - left, bottom - top + 4);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint s = 0; s < self->n_series; s++)
    {
      const Series *series = &self->series[s];
      double px = (right - left) * self->interval / shown;
      guint first;
      GdkRGBA c;

      if (series->n_values == 0)
        continue;
      first = series->n_values > window_samples ? series->n_values - window_samples : 0;
      mpv_graph_get_color (s, &c);

      /* A line needs two points: a single sample (a program shorter than two sample
       * intervals) is drawn as what it measures, the rate over the interval before it. */
      if (series->n_values - first == 1)
        {
          double y = bottom - (bottom - top) * CLAMP (series->values[first] / y_top, 0, 1);
          double x0 = MAX (left, right - MAX (px, 4));

          cairo_rectangle (cr, x0, y, right - x0, bottom - y);
          cairo_set_source_rgba (cr, c.red, c.green, c.blue, 0.18);
          cairo_fill (cr);
          cairo_move_to (cr, x0, y);
          cairo_line_to (cr, right, y);
          cairo_set_source_rgba (cr, c.red, c.green, c.blue, 1);
          cairo_set_line_width (cr, self->compact ? 1.5 : 2);
          cairo_stroke (cr);
          continue;
        }

      for (int pass = 0; pass < 2; pass++)
        {
          for (guint i = first; i < series->n_values; i++)
            {
              double x = right - (series->n_values - 1 - i) * px;
              double y = bottom - (bottom - top) * CLAMP (series->values[i] / y_top, 0, 1);

              if (i == first)
                {
                  if (pass == 0)
                    cairo_move_to (cr, x, bottom);
                  else
                    cairo_move_to (cr, x, y);
                }
              cairo_line_to (cr, x, y);
            }
          if (pass == 0)
            {
              /* A light fill under a single series (the sparkline look). */
              if (self->n_series > 1)
                {
                  cairo_new_path (cr);
                  continue;
                }
              cairo_line_to (cr, right, bottom);
              cairo_close_path (cr);
              cairo_set_source_rgba (cr, c.red, c.green, c.blue, 0.18);
              cairo_fill (cr);
            }
          else
            {
              static const double dash[] = { 6, 3 };

              cairo_set_source_rgba (cr, c.red, c.green, c.blue, 1);
              cairo_set_line_width (cr, self->compact ? 1.5 : 2);
              /* Every other series dashed, so equal series stay visible. */
              if (s % 2 == 1)
                cairo_set_dash (cr, dash, G_N_ELEMENTS (dash), 0);
              cairo_stroke (cr);
              cairo_set_dash (cr, NULL, 0, 0);
            }
        }
    }
  cairo_restore (cr);
  cairo_destroy (cr);
}

static void
mpv_graph_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                   int *natural, int *minimum_baseline, int *natural_baseline)
{
  MpvGraph *self = MPV_GRAPH (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = self->compact ? 60 : 160;
      *natural = self->compact ? 200 : 480;
    }
  else
    {
      *minimum = self->compact ? 24 : 100;
      *natural = self->compact ? 36 : 180;
    }
}

static void
mpv_graph_finalize (GObject *object)
{
  MpvGraph *self = MPV_GRAPH (object);

  for (guint i = 0; i < MPV_GRAPH_MAX_SERIES; i++)
    {
      g_free (self->series[i].label);
      g_free (self->series[i].values);
    }
  g_free (self->unit);
  g_free (self->placeholder);
  G_OBJECT_CLASS (mpv_graph_parent_class)->finalize (object);
}

static void
mpv_graph_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MpvGraph *self = MPV_GRAPH (object);

  switch (prop_id)
    {
    case PROP_UNIT:
      g_value_set_string (value, self->unit);
      break;
    case PROP_COMPACT:
      g_value_set_boolean (value, self->compact);
      break;
    case PROP_PLACEHOLDER_TEXT:
      g_value_set_string (value, self->placeholder);
      break;
    case PROP_TIME_WINDOW:
      g_value_set_double (value, self->window);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mpv_graph_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MpvGraph *self = MPV_GRAPH (object);

  switch (prop_id)
    {
    case PROP_UNIT:
      mpv_graph_set_unit (self, g_value_get_string (value));
      break;
    case PROP_COMPACT:
      mpv_graph_set_compact (self, g_value_get_boolean (value));
      break;
    case PROP_PLACEHOLDER_TEXT:
      mpv_graph_set_placeholder_text (self, g_value_get_string (value));
      break;
    case PROP_TIME_WINDOW:
      mpv_graph_set_time_window (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mpv_graph_class_init (MpvGraphClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = mpv_graph_finalize;
  object_class->get_property = mpv_graph_get_property;
  object_class->set_property = mpv_graph_set_property;
  widget_class->snapshot = mpv_graph_snapshot;
  widget_class->measure = mpv_graph_measure;

  properties[PROP_UNIT] = g_param_spec_string ("unit", NULL, NULL, NULL, rw);
  properties[PROP_COMPACT] = g_param_spec_boolean ("compact", NULL, NULL, FALSE, rw);
  properties[PROP_PLACEHOLDER_TEXT] = g_param_spec_string ("placeholder-text", NULL, NULL, NULL, rw);
  properties[PROP_TIME_WINDOW] = g_param_spec_double ("time-window", NULL, NULL, 1, 3600, 60, rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "graph");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
mpv_graph_init (MpvGraph *self)
{
  self->interval = 0.5;
  self->window = 60;
}
