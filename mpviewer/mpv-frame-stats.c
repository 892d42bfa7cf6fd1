/* mpv-frame-stats.c: mpviewer --frame-stats: the window measures its own frames
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * For each page: show it, let it settle, then for the given seconds keep it redrawing on
 * every frame (a tick callback queues a draw of the whole page, so there is a frame to
 * measure even on a page whose data did not change) and record, from the window's
 * GdkFrameClock:
 *   - work: from the start of the frame's "before-paint" phase to the end of its "after-paint"
 *     phase, i.e. update (tick callbacks), layout and paint (snapshot and render) of one frame;
 *   - interval: between the ends of two consecutive frames. The clock paces frames to the
 *     display's refresh (16.7 ms at 60 Hz under Xvfb); anything else the main loop runs (the
 *     monitor draining events, page refreshes) delays the next frame and shows here.
 * Rows go to stdout in bench/README.md's format; then the application quits.
 *
 * When the window was attached with mpv_frame_stats_mark_start() called first, one more row,
 * viewer_attach_ms: from then to the end of the first frame that shows the Processes page
 * with every process of the monitor in its tree (the page must be the first one measured).
 */

#include <math.h>
#include <stdio.h>

#include "mpv-frame-stats.h"
#include "mpv-processes-page.h"

static gint64 attach_start;    /* µs, 0 when not measured */

#define FIRST_SETTLE_MS 1500   /* attach, the first sample, the window's first frames */
#define SETTLE_MS       700

typedef struct
{
  MpvWindow     *window;       /* owned */
  GdkFrameClock *clock;        /* owned */
  double         seconds;
  char         **pages;
  guint          page_i;
  GtkWidget     *page;         /* the page measured now, or NULL */
  guint          tick_id;
  gulong         before_id;
  gulong         after_id;
  gint64         frame_start;  /* µs, 0 outside a frame */
  gint64         last_end;     /* µs, 0 before the first measured frame */
  gint64         page_start;
  GArray        *work;         /* double, ms */
  GArray        *interval;     /* double, ms */
  GString       *out;
  guint          attach_tick_id;
  gulong         attach_paint_id;
  double         attach_ms;    /* 0 until measured */
} FrameStats;

static gboolean settle_done (gpointer user_data);

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* The value below which @q of the samples lie (nearest rank). */
static double
quantile (GArray *v, double q)
{
  guint rank;

  if (v->len == 0)
    return NAN;
  g_array_sort (v, compare_double);
  rank = (guint) ceil (q * v->len);
  return g_array_index (v, double, CLAMP (rank, 1, v->len) - 1);
}

static void
on_before_paint (GdkFrameClock *clock, FrameStats *fs)
{
  fs->frame_start = g_get_monotonic_time ();
}

static void
on_after_paint (GdkFrameClock *clock, FrameStats *fs)
{
  gint64 now = g_get_monotonic_time ();

  if (fs->frame_start != 0)
    {
      double ms = (now - fs->frame_start) / 1000.0;
      g_array_append_val (fs->work, ms);
    }
  if (fs->last_end != 0)
    {
      double ms = (now - fs->last_end) / 1000.0;
      g_array_append_val (fs->interval, ms);
    }
  fs->frame_start = 0;
  fs->last_end = now;
}

static gboolean
redraw_page (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  FrameStats *fs = user_data;

  if (fs->page != NULL)
    gtk_widget_queue_draw (fs->page);
  return G_SOURCE_CONTINUE;
}

static void
add_row (FrameStats *fs, const char *prefix, const char *suffix, double v, const char *unit)
{
  g_string_append_printf (fs->out, "workload=%s%s impl=libmp value=%.4g unit=%s\n",
                          prefix, suffix, v, unit);
}

static void
finish_page (FrameStats *fs)
{
  const char *name = fs->pages[fs->page_i];
  g_autofree char *prefix = g_str_equal (name, "pools") ? g_strdup ("viewer_frame")
                                                         : g_strdup_printf ("viewer_frame_%s", name);
  double elapsed = (g_get_monotonic_time () - fs->page_start) / 1e6;
  guint frames = fs->work->len;

  g_clear_signal_handler (&fs->before_id, fs->clock);
  g_clear_signal_handler (&fs->after_id, fs->clock);
  if (fs->tick_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (fs->window), fs->tick_id);
  fs->tick_id = 0;
  fs->page = NULL;

  add_row (fs, prefix, "_ms", quantile (fs->work, 0.5), "ms");
  add_row (fs, prefix, "_ms_p95", quantile (fs->work, 0.95), "ms");
  add_row (fs, prefix, "_interval_ms", quantile (fs->interval, 0.5), "ms");
  add_row (fs, prefix, "_interval_ms_p95", quantile (fs->interval, 0.95), "ms");
  add_row (fs, prefix, "_fps", elapsed > 0 ? frames / elapsed : 0, "frames/s");
  g_array_set_size (fs->work, 0);
  g_array_set_size (fs->interval, 0);
}

static void
on_attach_painted (GdkFrameClock *clock, FrameStats *fs)
{
  fs->attach_ms = (g_get_monotonic_time () - attach_start) / 1000.0;
  g_clear_signal_handler (&fs->attach_paint_id, clock);
}

/* Waits for the Processes page to show every process, then for the end of that frame. */
static gboolean
attach_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  FrameStats *fs = user_data;
  GtkWidget *page = mpv_window_get_page (fs->window, "processes");
  MpMonitor *monitor = mpv_window_get_monitor (fs->window);
  guint n_procs, n_rows;

  if (page == NULL || monitor == NULL || !gtk_widget_get_mapped (page))
    return G_SOURCE_CONTINUE;
  n_procs = g_list_model_get_n_items (mp_monitor_get_processes (monitor));
  n_rows = g_list_model_get_n_items (mpv_processes_page_get_rows (MPV_PROCESSES_PAGE (page)));
  if (n_procs == 0 || n_rows < n_procs)
    return G_SOURCE_CONTINUE;
  fs->attach_paint_id = g_signal_connect_after (clock, "after-paint",
                                                G_CALLBACK (on_attach_painted), fs);
  fs->attach_tick_id = 0;
  return G_SOURCE_REMOVE;
}

void
mpv_frame_stats_mark_start (void)
{
  attach_start = g_get_monotonic_time ();
}

static void
frame_stats_free (FrameStats *fs)
{
  if (fs->attach_tick_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (fs->window), fs->attach_tick_id);
  if (fs->attach_paint_id != 0 && fs->clock != NULL)
    g_clear_signal_handler (&fs->attach_paint_id, fs->clock);
  g_clear_object (&fs->clock);
  g_clear_object (&fs->window);
  g_strfreev (fs->pages);
  g_array_unref (fs->work);
  g_array_unref (fs->interval);
  g_string_free (fs->out, TRUE);
  g_free (fs);
}

static gboolean
measure_done (gpointer user_data)
{
  FrameStats *fs = user_data;
  GtkApplication *app;

  finish_page (fs);
  if (fs->pages[++fs->page_i] != NULL)
    {
      mpv_window_show_page (fs->window, fs->pages[fs->page_i]);
      g_timeout_add (SETTLE_MS, settle_done, fs);
      return G_SOURCE_REMOVE;
    }
  if (fs->attach_ms > 0)
    add_row (fs, "viewer_attach", "_ms", fs->attach_ms, "ms");
  fputs (fs->out->str, stdout);
  fflush (stdout);
  app = gtk_window_get_application (GTK_WINDOW (fs->window));
  if (app != NULL)
    g_application_quit (G_APPLICATION (app));
  frame_stats_free (fs);
  return G_SOURCE_REMOVE;
}

static gboolean
settle_done (gpointer user_data)
{
  FrameStats *fs = user_data;
  const char *name = fs->pages[fs->page_i];

  if (fs->clock == NULL)
    {
      GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (fs->window));

      if (clock == NULL)   /* the window was closed or never shown */
        {
          GtkApplication *app = gtk_window_get_application (GTK_WINDOW (fs->window));

          g_printerr ("mpviewer: --frame-stats: the window has no frame clock\n");
          if (app != NULL)
            g_application_quit (G_APPLICATION (app));
          frame_stats_free (fs);
          return G_SOURCE_REMOVE;
        }
      fs->clock = g_object_ref (clock);
    }
  fs->page = mpv_window_get_page (fs->window, name);
  fs->frame_start = fs->last_end = 0;
  fs->page_start = g_get_monotonic_time ();
  fs->before_id = g_signal_connect (fs->clock, "before-paint", G_CALLBACK (on_before_paint), fs);
  fs->after_id = g_signal_connect_after (fs->clock, "after-paint", G_CALLBACK (on_after_paint), fs);
  fs->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (fs->window), redraw_page, fs, NULL);
  g_timeout_add ((guint) (fs->seconds * 1000), measure_done, fs);
  return G_SOURCE_REMOVE;
}

void
mpv_frame_stats_run (MpvWindow *window, double seconds, const char *pages)
{
  FrameStats *fs;
  g_auto(GStrv) names = g_strsplit (pages != NULL && *pages ? pages : "pools,processes", ",", -1);
  GStrvBuilder *b = g_strv_builder_new ();

  g_return_if_fail (MPV_IS_WINDOW (window));

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_strstrip (names[i]);
      if (mpv_window_get_page (window, names[i]) != NULL)
        g_strv_builder_add (b, names[i]);
      else
        g_printerr ("mpviewer: --frame-stats: no page named \"%s\"\n", names[i]);
    }
  fs = g_new0 (FrameStats, 1);
  fs->window = g_object_ref (window);
  fs->seconds = seconds;
  fs->pages = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  fs->work = g_array_new (FALSE, FALSE, sizeof (double));
  fs->interval = g_array_new (FALSE, FALSE, sizeof (double));
  fs->out = g_string_new (NULL);
  if (fs->pages[0] == NULL)
    {
      GtkApplication *app = gtk_window_get_application (GTK_WINDOW (window));

      if (app != NULL)
        g_application_quit (G_APPLICATION (app));
      frame_stats_free (fs);
      return;
    }
  mpv_window_show_page (window, fs->pages[0]);
  if (attach_start != 0 && g_str_equal (fs->pages[0], "processes"))
    fs->attach_tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (window), attach_tick, fs, NULL);
  g_timeout_add (FIRST_SETTLE_MS, settle_done, fs);
}
