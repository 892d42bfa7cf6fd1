/* mpv-task-stream.c: one lane per pool worker, one bar per task
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The data is the monitor's task stream of the pool (a bounded ring of finished tasks) plus the
 * tasks its workers run now. refresh() copies both (at most MP's ring size, a few tens of KiB)
 * on the page's schedule; snapshot() only draws what was copied. Lanes are the current workers
 * in pid order, then workers that ran tasks in the window but are gone (replaced, killed),
 * labelled with what became of them.
 *
 * While the monitor runs and the widget is shown, a tick callback redraws it on every frame of
 * the frame clock and the time axis moves with the frame's time, so the stream scrolls
 * smoothly between refreshes instead of jumping ten times a second: a live program's events are
 * stamped with CLOCK_MONOTONIC, the frame clock's time base, so "now" is the frame's time; a
 * replay moves on from its data time at the replay speed. A frame only draws; it never reads
 * the monitor.
 */

#include <math.h>

#include "mpv-task-stream.h"

typedef struct
{
  GPid     pid;
  gboolean current;
  char    *label;
} Lane;

typedef struct
{
  guint    lane;
  gboolean failed;
  gboolean running;
  guint64  start_ns;
  guint64  end_ns;
} Bar;

struct _MpvTaskStream
{
  GtkWidget      parent_instance;

  MpMonitor     *monitor;        /* owned */
  MpMonitorPool *pool;           /* owned */
  double         window;
  double         shown;          /* the window drawn: shorter while the program is young */

  GArray        *lanes;          /* Lane */
  GArray        *bars;           /* Bar */
  guint64        now_ns;         /* data time at the last refresh */
  gint64         refresh_us;     /* monotonic time of the last refresh */
  guint          n_failed;
  guint          tick_id;
};

G_DEFINE_FINAL_TYPE (MpvTaskStream, mpv_task_stream, GTK_TYPE_WIDGET)

#define LANE_HEIGHT 22
#define AXIS_HEIGHT 22
#define LABEL_WIDTH 150
#define MAX_EXTRAPOLATE_NS G_GUINT64_CONSTANT (2000000000)

static gboolean
is_moving (MpvTaskStream *self)
{
  return self->pool != NULL && self->monitor != NULL && mp_monitor_is_running (self->monitor) &&
         !mp_monitor_get_finished (self->monitor) && gtk_widget_get_mapped (GTK_WIDGET (self));
}

static gboolean
tick (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  MpvTaskStream *self = MPV_TASK_STREAM (widget);

  if (!is_moving (self))
    {
      self->tick_id = 0;
      gtk_widget_queue_draw (widget);
      return G_SOURCE_REMOVE;
    }
  gtk_widget_queue_draw (widget);
  return G_SOURCE_CONTINUE;
}

static void
ensure_tick (MpvTaskStream *self)
{
  if (self->tick_id == 0 && is_moving (self))
    self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), tick, NULL, NULL);
}

/* The right edge of the stream in this frame (data time). */
static guint64
frame_now_ns (MpvTaskStream *self)
{
  GdkFrameClock *clock;
  gint64 t_us;
  guint64 ahead;

  if (self->tick_id == 0 || (clock = gtk_widget_get_frame_clock (GTK_WIDGET (self))) == NULL)
    return self->now_ns;
  t_us = gdk_frame_clock_get_frame_time (clock);
  if (mp_monitor_get_source (self->monitor) != MP_MONITOR_SOURCE_TRACE)
    return MAX (self->now_ns, (guint64) t_us * 1000);
  if (t_us <= self->refresh_us || mp_monitor_get_replay_speed (self->monitor) <= 0)
    return self->now_ns;
  ahead = (guint64) ((double) (t_us - self->refresh_us) * 1000 *
                     mp_monitor_get_replay_speed (self->monitor));
  return self->now_ns + MIN (ahead, MAX_EXTRAPOLATE_NS);
}

static void
lane_clear (gpointer data)
{
  g_free (((Lane *) data)->label);
}

GtkWidget *
mpv_task_stream_new (void)
{
  return g_object_new (MPV_TYPE_TASK_STREAM, NULL);
}

void
mpv_task_stream_set_monitor (MpvTaskStream *self, MpMonitor *monitor)
{
  g_return_if_fail (MPV_IS_TASK_STREAM (self));
  g_set_object (&self->monitor, monitor);
  mpv_task_stream_refresh (self);
}

void
mpv_task_stream_set_pool (MpvTaskStream *self, MpMonitorPool *pool)
{
  g_return_if_fail (MPV_IS_TASK_STREAM (self));
  g_set_object (&self->pool, pool);
  mpv_task_stream_refresh (self);
}

void
mpv_task_stream_set_time_window (MpvTaskStream *self, double seconds)
{
  g_return_if_fail (MPV_IS_TASK_STREAM (self));
  self->window = seconds >= 1 ? seconds : 60;
  mpv_task_stream_refresh (self);
}

guint
mpv_task_stream_get_n_lanes (MpvTaskStream *self)
{
  return self->lanes->len;
}

guint
mpv_task_stream_get_n_bars (MpvTaskStream *self)
{
  return self->bars->len;
}

guint
mpv_task_stream_get_n_failed (MpvTaskStream *self)
{
  return self->n_failed;
}

static guint
lane_for (MpvTaskStream *self, GPid pid, gboolean current)
{
  for (guint i = 0; i < self->lanes->len; i++)
    if (g_array_index (self->lanes, Lane, i).pid == pid)
      return i;
  if (self->lanes->len >= MPV_TASK_STREAM_MAX_LANES)
    return G_MAXUINT;
  g_array_append_val (self->lanes, ((Lane) { .pid = pid, .current = current }));
  return self->lanes->len - 1;
}

static int
compare_workers (gconstpointer a, gconstpointer b)
{
  const MpMonitorWorker *wa = a, *wb = b;
  return wa->pid < wb->pid ? -1 : wa->pid > wb->pid;
}

static char *
lane_label (MpvTaskStream *self, const Lane *lane, guint worker_index)
{
  MpMonitorProcess *p;

  if (lane->current)
    return g_strdup_printf ("W%u  %d", worker_index + 1, (int) lane->pid);
  p = self->monitor ? mp_monitor_lookup_process (self->monitor, lane->pid) : NULL;
  if (p != NULL && mp_monitor_process_get_state (p) == MP_MONITOR_PROCESS_KILLED)
    {
      int code = mp_monitor_process_get_exit_code (p);
      const char *abbrev = code < 0 ? sigabbrev_np (-code) : NULL;
      return g_strdup_printf ("%d  killed%s%s", (int) lane->pid, abbrev ? ": SIG" : "",
                              abbrev ? abbrev : "");
    }
  return g_strdup_printf ("%d  (gone)", (int) lane->pid);
}

void
mpv_task_stream_refresh (MpvTaskStream *self)
{
  g_autoptr(GArray) spans = NULL;
  g_autoptr(GArray) workers = NULL;
  guint64 from;
  guint n_current, old_lanes;

  g_return_if_fail (MPV_IS_TASK_STREAM (self));

  old_lanes = self->lanes->len;
  g_array_set_size (self->lanes, 0);
  g_array_set_size (self->bars, 0);
  self->n_failed = 0;
  if (self->pool == NULL || self->monitor == NULL)
    {
      if (old_lanes != 0)
        gtk_widget_queue_resize (GTK_WIDGET (self));
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }

  self->now_ns = mp_monitor_get_now_ns (self->monitor);
  self->refresh_us = g_get_monotonic_time ();
  ensure_tick (self);
  {
    /* A young program fills the width: the window is at most as long as the program ran. */
    guint64 t0 = mp_monitor_get_start_monotonic_ns (self->monitor);
    double ran = self->now_ns > t0 ? (double) (self->now_ns - t0) / 1e9 : 0;

    self->shown = CLAMP (ran, 1.0, self->window);
  }
  from = self->now_ns > (guint64) (self->shown * 1e9) ? self->now_ns - (guint64) (self->shown * 1e9) : 0;
  workers = mp_monitor_pool_dup_workers (self->pool);
  spans = mp_monitor_pool_dup_recent_tasks (self->pool);

  g_array_sort (workers, compare_workers);
  for (guint i = 0; i < workers->len; i++)
    {
      const MpMonitorWorker *w = &g_array_index (workers, MpMonitorWorker, i);
      MpMonitorProcess *p = self->monitor ? mp_monitor_lookup_process (self->monitor, w->pid) : NULL;

      /* A worker that died is "gone" even if the pool has not replaced it yet. */
      lane_for (self, w->pid, p == NULL || mp_monitor_process_is_alive (p));
    }
  n_current = self->lanes->len;

  for (guint i = 0; i < spans->len; i++)
    {
      const MpMonitorTaskSpan *s = &g_array_index (spans, MpMonitorTaskSpan, i);
      Bar bar;

      if (s->end_ns < from || s->start_ns > self->now_ns)
        continue;
      bar.lane = lane_for (self, s->worker_pid, FALSE);
      if (bar.lane == G_MAXUINT)
        continue;
      bar.failed = s->failed;
      bar.running = FALSE;
      bar.start_ns = s->start_ns;
      bar.end_ns = s->end_ns;
      self->n_failed += s->failed;
      g_array_append_val (self->bars, bar);
    }
  for (guint i = 0; i < workers->len; i++)
    {
      const MpMonitorWorker *w = &g_array_index (workers, MpMonitorWorker, i);
      Bar bar = { 0 };

      if (w->task_id == 0 || w->task_start_ns == 0)
        continue;
      bar.lane = lane_for (self, w->pid, TRUE);
      if (bar.lane == G_MAXUINT)
        continue;
      bar.running = TRUE;
      bar.start_ns = MAX (w->task_start_ns, from);
      bar.end_ns = self->now_ns;
      g_array_append_val (self->bars, bar);
    }

  for (guint i = 0, wi = 0; i < self->lanes->len; i++)
    {
      Lane *lane = &g_array_index (self->lanes, Lane, i);
      lane->label = lane_label (self, lane, wi);
      if (i < n_current && lane->current)
        wi++;
    }
  if (old_lanes != self->lanes->len)
    gtk_widget_queue_resize (GTK_WIDGET (self));
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
mpv_task_stream_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  MpvTaskStream *self = MPV_TASK_STREAM (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(PangoLayout) layout = gtk_widget_create_pango_layout (widget, NULL);
  double x0 = LABEL_WIDTH, x1 = width - 8;
  double window_ns = self->shown * 1e9;
  guint64 now = frame_now_ns (self);
  guint64 from = now > (guint64) window_ns ? now - (guint64) window_ns : 0;
  GdkRGBA fg, done_color, failed_color;
  cairo_t *cr;

  if (width <= LABEL_WIDTH + 20 || height <= 0)
    return;
G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
G_GNUC_END_IGNORE_DEPRECATIONS
  gdk_rgba_parse (&done_color, "#3584e4");
  gdk_rgba_parse (&failed_color, "#e01b24");

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  cairo_set_line_width (cr, 1);

  if (self->lanes->len == 0)
    {
      int w, h;

      pango_layout_set_text (layout, self->pool ? "No tasks yet" : "No pool", -1);
      pango_layout_get_pixel_size (layout, &w, &h);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.5);
      cairo_move_to (cr, (width - w) / 2.0, (height - h) / 2.0);
      pango_cairo_show_layout (cr, layout);
      cairo_destroy (cr);
      return;
    }

  /* Lanes: alternating backgrounds and labels. */
  for (guint i = 0; i < self->lanes->len; i++)
    {
      const Lane *lane = &g_array_index (self->lanes, Lane, i);
      double y = i * LANE_HEIGHT;
      int w, h;

      if (i % 2 == 0)
        {
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.04);
          cairo_rectangle (cr, 0, y, width, LANE_HEIGHT);
          cairo_fill (cr);
        }
      pango_layout_set_text (layout, lane->label ? lane->label : "", -1);
      pango_layout_set_width (layout, (LABEL_WIDTH - 12) * PANGO_SCALE);
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
      pango_layout_get_pixel_size (layout, &w, &h);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, lane->current ? 0.85 : 0.5);
      cairo_move_to (cr, 6, y + (LANE_HEIGHT - h) / 2.0);
      pango_cairo_show_layout (cr, layout);
    }
  pango_layout_set_width (layout, -1);

  /* Bars. Each is at least one pixel wide, so a burst of short tasks stays visible. */
  cairo_save (cr);
  cairo_rectangle (cr, x0, 0, x1 - x0, self->lanes->len * LANE_HEIGHT);
  cairo_clip (cr);
  for (guint i = 0; i < self->bars->len; i++)
    {
      const Bar *bar = &g_array_index (self->bars, Bar, i);
      double bx0 = x0 + (x1 - x0) * ((double) bar->start_ns - (double) from) / window_ns;
      guint64 end_ns = bar->running ? now : bar->end_ns;
      double bx1 = x0 + (x1 - x0) * ((double) end_ns - (double) from) / window_ns;
      double y = bar->lane * LANE_HEIGHT + 4;
      double h = LANE_HEIGHT - 8;
      const GdkRGBA *c = bar->failed ? &failed_color : &done_color;

      bx0 = floor (bx0);
      bx1 = MAX (ceil (bx1), bx0 + 1);
      if (bx1 - bx0 > 3)
        bx1 -= 1;   /* a gap between consecutive tasks */
      cairo_set_source_rgba (cr, c->red, c->green, c->blue, bar->running ? 0.45 : 0.9);
      cairo_rectangle (cr, bx0, y, bx1 - bx0, h);
      cairo_fill (cr);
      if (bar->failed)
        {
          /* A cross over the failed task, wide enough to see even on a sliver. */
          double cx = (bx0 + bx1) / 2;
          cairo_set_source_rgba (cr, failed_color.red, failed_color.green, failed_color.blue, 1);
          cairo_set_line_width (cr, 2);
          cairo_move_to (cr, cx - 4, y);
          cairo_line_to (cr, cx + 4, y + h);
          cairo_move_to (cr, cx + 4, y);
          cairo_line_to (cr, cx - 4, y + h);
          cairo_stroke (cr);
          cairo_set_line_width (cr, 1);
        }
    }
  cairo_restore (cr);

  /* Time axis. */
  {
    double y = self->lanes->len * LANE_HEIGHT + 0.5;
    g_autofree char *left = g_strdup_printf ("−%.3g s", self->shown);
    int w, h;

    cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.3);
    cairo_move_to (cr, x0, y);
    cairo_line_to (cr, x1, y);
    cairo_stroke (cr);
    cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.7);
    pango_layout_set_text (layout, left, -1);
    cairo_move_to (cr, x0, y + 3);
    pango_cairo_show_layout (cr, layout);
    pango_layout_set_text (layout, "now", -1);
    pango_layout_get_pixel_size (layout, &w, &h);
    cairo_move_to (cr, x1 - w, y + 3);
    pango_cairo_show_layout (cr, layout);
  }
  cairo_destroy (cr);
}

static void
mpv_task_stream_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                         int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  MpvTaskStream *self = MPV_TASK_STREAM (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = LABEL_WIDTH + 100;
      *natural = LABEL_WIDTH + 500;
    }
  else
    {
      *minimum = *natural = MAX (self->lanes->len * LANE_HEIGHT + AXIS_HEIGHT, 80);
    }
}

static void
mpv_task_stream_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (mpv_task_stream_parent_class)->map (widget);
  ensure_tick (MPV_TASK_STREAM (widget));
}

static void
mpv_task_stream_unmap (GtkWidget *widget)
{
  MpvTaskStream *self = MPV_TASK_STREAM (widget);

  if (self->tick_id != 0)
    gtk_widget_remove_tick_callback (widget, self->tick_id);
  self->tick_id = 0;
  GTK_WIDGET_CLASS (mpv_task_stream_parent_class)->unmap (widget);
}

static void
mpv_task_stream_dispose (GObject *object)
{
  MpvTaskStream *self = MPV_TASK_STREAM (object);

  g_clear_object (&self->pool);
  g_clear_object (&self->monitor);
  G_OBJECT_CLASS (mpv_task_stream_parent_class)->dispose (object);
}

static void
mpv_task_stream_finalize (GObject *object)
{
  MpvTaskStream *self = MPV_TASK_STREAM (object);

  g_array_unref (self->lanes);
  g_array_unref (self->bars);
  G_OBJECT_CLASS (mpv_task_stream_parent_class)->finalize (object);
}

static void
mpv_task_stream_class_init (MpvTaskStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mpv_task_stream_dispose;
  object_class->finalize = mpv_task_stream_finalize;
  widget_class->snapshot = mpv_task_stream_snapshot;
  widget_class->measure = mpv_task_stream_measure;
  widget_class->map = mpv_task_stream_map;
  widget_class->unmap = mpv_task_stream_unmap;
  gtk_widget_class_set_css_name (widget_class, "taskstream");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
mpv_task_stream_init (MpvTaskStream *self)
{
  self->window = 60;
  self->shown = 60;
  self->lanes = g_array_new (FALSE, TRUE, sizeof (Lane));
  g_array_set_clear_func (self->lanes, lane_clear);
  self->bars = g_array_new (FALSE, TRUE, sizeof (Bar));
}
