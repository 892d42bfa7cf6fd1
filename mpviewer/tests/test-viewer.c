/* test-viewer.c: mpviewer's GTK front end, headless (Xvfb), on recordings and live programs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Runs under `xvfb-run -a` with GTK_A11Y=none and GSK_RENDERER=cairo (see meson.build).
 * gtk_test_init() makes every warning fatal, so a warning anywhere in the viewer fails a test.
 *
 * Every test leaves PNG screenshots of what it checked in $MPVIEWER_SCREENSHOT_DIR: they are
 * what a user would see, and worth a look after a change.
 *
 * Environment (set by meson): MPVIEWER_SAMPLE (the sample recording), MPVIEWER_POOL_TRACE (a
 * synthetic pool recording), MPVIEWER_EXAMPLES_DIR (the built examples), MPVIEWER_BIN (the
 * mpviewer program), MPVIEWER_SCREENSHOT_DIR.
 */

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <mp.h>

#include "mpv-application.h"
#include "mpv-demos.h"
#include "mpv-event-log.h"
#include "mpv-format.h"
#include "mpv-events-page.h"
#include "mpv-locks-page.h"
#include "mpv-pools-page.h"
#include "mpv-processes-page.h"
#include "mpv-task-stream.h"
#include "mpv-wait-graph.h"
#include "mpv-window.h"

#define WAIT_MS 20000

static MpvApplication *app;

static const char *const all_pages[] = {
  "overview", "processes", "pools", "queues", "locks", "segments", "events",
};

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *
env_path (const char *name)
{
  const char *v = g_getenv (name);

  if (v == NULL)
    g_error ("%s is not set (run the test through meson)", name);
  return v;
}

static gboolean
timed_out_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until @cond holds or @ms pass; returns whether it holds. */
static gboolean
wait_until (gboolean (*cond) (gpointer), gpointer data, guint ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (ms, timed_out_cb, &timed_out);

  while (!cond (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (data);
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

static void
spin (guint ms)
{
  (void) wait_until (never, NULL, ms);
}

static void
screenshot (GtkWidget *widget, const char *name)
{
  g_autofree char *path = g_build_filename (env_path ("MPVIEWER_SCREENSHOT_DIR"), name, NULL);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));

  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

static MpvWindow *
new_window (void)
{
  MpvWindow *window = mpv_window_new (app);

  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 780);
  gtk_window_present (GTK_WINDOW (window));
  return window;
}

static void
close_window (MpvWindow *window)
{
  gtk_window_destroy (GTK_WINDOW (window));
  spin (50);
}

/* Shows @page, lets the refresh timers and a frame run, and saves a screenshot. */
static void
show_and_shoot (MpvWindow *window, const char *page, const char *file)
{
  mpv_window_show_page (window, page);
  mpv_window_flush (window);
  spin (150);           /* crossfade, resizes after the refresh */
  mpv_window_flush (window);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  screenshot (GTK_WIDGET (window), file);
}

/* Programs the viewer launches inherit its stdout, which carries the TAP stream here: while
 * one starts, stdout points to /dev/null. */
static int saved_stdout = -1;

static void
quiet_children_begin (void)
{
  int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);

  fflush (stdout);
  saved_stdout = dup (STDOUT_FILENO);
  g_assert_cmpint (null, >=, 0);
  g_assert_cmpint (dup2 (null, STDOUT_FILENO), ==, STDOUT_FILENO);
  close (null);
}

static void
quiet_children_end (void)
{
  fflush (stdout);
  g_assert_cmpint (dup2 (saved_stdout, STDOUT_FILENO), ==, STDOUT_FILENO);
  close (saved_stdout);
  saved_stdout = -1;
}

/* The first descendant of @root of @type whose "label" is @label (NULL: any). */
static GtkWidget *
find_widget (GtkWidget *root, GType type, const char *label)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
        {
          g_autofree char *l = NULL;

          if (g_object_class_find_property (G_OBJECT_GET_CLASS (c), "label") != NULL)
            g_object_get (c, "label", &l, NULL);
          if (label == NULL || g_strcmp0 (l, label) == 0)
            return c;
        }
      if ((found = find_widget (c, type, label)) != NULL)
        return found;
    }
  return NULL;
}

static guint
n_items (GListModel *model)
{
  return g_list_model_get_n_items (model);
}

/* Whether @w is drawn inside @clip (an ancestor): mapped, child-visible up to @clip, and
 * overlapping it; a row the list keeps off-screen or an empty label does not count. */
static gboolean
shown_within (GtkWidget *w, GtkWidget *clip)
{
  graphene_rect_t bounds;

  if (!gtk_widget_is_drawable (w))
    return FALSE;
  for (GtkWidget *a = w; a != NULL && a != clip; a = gtk_widget_get_parent (a))
    if (!gtk_widget_get_child_visible (a) || !gtk_widget_get_visible (a))
      return FALSE;
  if (!gtk_widget_compute_bounds (w, clip, &bounds))
    return FALSE;
  return bounds.size.width > 0 && bounds.size.height > 0 &&
         bounds.origin.y + bounds.size.height > 0 && bounds.origin.y < gtk_widget_get_height (clip) &&
         bounds.origin.x + bounds.size.width > 0 && bounds.origin.x < gtk_widget_get_width (clip);
}

/* Counts the labels of the rows of @view (not its headers) that are on screen and whose text
 * contains @text ("" counts every non-empty label). */
static guint
count_shown_cells (GtkWidget *root, GtkWidget *clip, const char *text)
{
  guint n = 0;

  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      if (GTK_IS_LABEL (c) && gtk_widget_get_ancestor (c, GTK_TYPE_LIST_VIEW) != NULL)
        {
          const char *l = gtk_label_get_text (GTK_LABEL (c));

          if (l != NULL && *l != '\0' && strstr (l, text) != NULL && shown_within (c, clip))
            n++;
        }
      n += count_shown_cells (c, clip, text);
    }
  return n;
}

static guint
count_shown_rows_of (GtkWidget *page, const char *text)
{
  GtkWidget *view = find_widget (page, GTK_TYPE_COLUMN_VIEW, NULL);
  GtkWidget *scrolled;

  g_assert_nonnull (view);
  scrolled = gtk_widget_get_ancestor (view, GTK_TYPE_SCROLLED_WINDOW);
  g_assert_nonnull (scrolled);
  return count_shown_cells (view, scrolled, text);
}

/* ---- the event log and its view ------------------------------------------------------------ */

static void
append_pids (MpvEventLog *log, int from, int to)
{
  for (int pid = from; pid < to; pid++)
    {
      MpTraceEvent ev = { 0 };

      ev.pid = pid;
      mpv_event_log_append (log, &ev, 1);
    }
}

static gboolean
even_pid (gpointer item, gpointer data)
{
  return mpv_event_item_is_kept (item) && mpv_event_item_get_event (item)->pid % 2 == 0;
}

static void
count_changes (GListModel *model, guint position, guint removed, guint added, guint *n)
{
  (*n)++;
}

/* A filter over the log's view sees the events the log dropped and added, and its items keep
 * their events while the log moves on under them. */
static void
test_event_log_view (void)
{
  g_autoptr(MpvEventLog) log = mpv_event_log_new (8);
  g_autoptr(MpvEventLogView) view = NULL;
  g_autoptr(GtkFilterListModel) filtered = NULL;
  g_autoptr(MpvEventItem) first = NULL;
  guint changes = 0;

  append_pids (log, 0, 5);
  view = mpv_event_log_view_new (log);
  filtered = gtk_filter_list_model_new (g_object_ref (G_LIST_MODEL (view)),
                                        GTK_FILTER (gtk_custom_filter_new (even_pid, NULL, NULL)));
  g_assert_cmpuint (n_items (G_LIST_MODEL (filtered)), ==, 3);          /* 0 2 4 */
  first = g_list_model_get_item (G_LIST_MODEL (filtered), 0);
  g_signal_connect (view, "items-changed", G_CALLBACK (count_changes), &changes);

  append_pids (log, 5, 11);                     /* the log keeps 3..10 */
  g_assert_cmpuint (changes, ==, 0);            /* nothing until the sync */
  g_assert_false (mpv_event_item_is_kept (first));
  mpv_event_log_view_sync (view);
  g_assert_cmpuint (changes, ==, 2);            /* the dropped, then the added */
  g_assert_cmpuint (n_items (G_LIST_MODEL (view)), ==, 8);
  g_assert_cmpuint (n_items (G_LIST_MODEL (filtered)), ==, 4);          /* 4 6 8 10 */
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(MpvEventItem) item = g_list_model_get_item (G_LIST_MODEL (filtered), i);

      g_assert_cmpint (mpv_event_item_get_event (item)->pid, ==, 4 + 2 * (int) i);
      g_assert_cmpuint (mpv_event_item_get_seq (item), ==, 4 + 2 * i);
    }

  /* More than the log holds between two syncs; then a clear. */
  append_pids (log, 11, 40);
  mpv_event_log_view_sync (view);
  g_assert_cmpuint (n_items (G_LIST_MODEL (filtered)), ==, 4);          /* 32 34 36 38 */
  {
    g_autoptr(MpvEventItem) item = g_list_model_get_item (G_LIST_MODEL (filtered), 0);
    g_assert_cmpint (mpv_event_item_get_event (item)->pid, ==, 32);
  }
  mpv_event_log_clear (log);
  g_assert_cmpuint (n_items (G_LIST_MODEL (view)), ==, 0);
  append_pids (log, 0, 3);
  mpv_event_log_view_sync (view);
  g_assert_cmpuint (n_items (G_LIST_MODEL (filtered)), ==, 2);
}

/* ---- replay of the sample recording -------------------------------------------------------- */

static void
test_replay_pages (void)
{
  MpvWindow *window = new_window ();
  g_autoptr(GError) error = NULL;
  MpMonitor *m;
  GListModel *events;

  g_assert_true (mpv_window_open_recording (window, env_path ("MPVIEWER_SAMPLE"), &error));
  g_assert_no_error (error);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  m = mpv_window_get_monitor (window);
  g_assert_nonnull (m);
  g_assert_cmpstr (mp_monitor_get_program_name (m), ==, "dining-philosophers");
  g_assert_true (mp_monitor_get_finished (m));

  /* The whole story is there: main, tracker, five philosophers; five forks and a barrier;
   * the meals queue; the table segment. */
  g_assert_cmpuint (n_items (mp_monitor_get_processes (m)), >=, 6);
  g_assert_cmpuint (n_items (mp_monitor_get_locks (m)), >=, 5);
  g_assert_cmpuint (n_items (mp_monitor_get_queues (m)), ==, 1);
  g_assert_cmpuint (n_items (mp_monitor_get_segments (m)), ==, 1);

  for (guint i = 0; i < G_N_ELEMENTS (all_pages); i++)
    {
      g_autofree char *file = g_strdup_printf ("replay-%s.png", all_pages[i]);
      show_and_shoot (window, all_pages[i], file);
    }

  /* The processes tree: MainProcess first, its children below it. */
  {
    GListModel *rows = mpv_processes_page_get_rows (MPV_PROCESSES_PAGE (mpv_window_get_page (window, "processes")));
    g_autoptr(GtkTreeListRow) first = g_list_model_get_item (rows, 0);

    g_assert_cmpuint (n_items (rows), >=, 6);
    g_assert_cmpuint (gtk_tree_list_row_get_depth (first), ==, 0);
  }

  /* The event log has the recording's events, and its filter works. */
  events = mpv_events_page_get_filtered (MPV_EVENTS_PAGE (mpv_window_get_page (window, "events")));
  g_assert_cmpuint (n_items (events), >, 50);
  /* Following the end shows the last events, not only a scrollbar at its end. */
  {
    g_autoptr(MpvEventItem) last = g_list_model_get_item (events, n_items (events) - 1);
    g_autofree char *when = mpv_format_since_start (m, mpv_event_item_get_event (last)->timestamp_ns);

    g_assert_cmpuint (count_shown_rows_of (GTK_WIDGET (mpv_window_get_page (window, "events")), when), >=, 1);
  }
  mpv_events_page_set_search (MPV_EVENTS_PAGE (mpv_window_get_page (window, "events")), "barrier");
  spin (50);
  g_assert_cmpuint (n_items (events), >, 0);
  g_assert_cmpuint (n_items (events), <, 50);
  show_and_shoot (window, "events", "replay-events-filtered.png");
  /* What the screenshot shows: a row per barrier event, each in its Event column (and every
   * shown Event cell is one of them). */
  {
    GtkWidget *page = GTK_WIDGET (mpv_window_get_page (window, "events"));
    guint n = n_items (events);

    g_assert_cmpuint (count_shown_rows_of (page, "barrier-wait"), ==, n_items (events));
    g_assert_cmpuint (count_shown_rows_of (page, "Barrier: waited"), ==, n_items (events));
    /* and it stays so through a refresh of the page: the rows must not go away even until
     * an idle puts them back, since a frame may be drawn first (it was, on a loaded machine) */
    mpv_window_flush (window);
    g_assert_cmpuint (n_items (events), ==, n);
    g_assert_cmpuint (count_shown_rows_of (page, "barrier-wait"), ==, n);
    gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
    g_assert_cmpuint (count_shown_rows_of (page, "barrier-wait"), ==, n);
  }
  mpv_events_page_set_search (MPV_EVENTS_PAGE (mpv_window_get_page (window, "events")), NULL);

  close_window (window);
}

typedef struct
{
  MpvWindow *window;
} Ctx;

static gboolean
has_deadlock (MpMonitor *m)
{
  GListModel *alerts = mp_monitor_get_alerts (m);

  for (guint i = 0; i < n_items (alerts); i++)
    {
      g_autoptr(MpMonitorAlert) a = g_list_model_get_item (alerts, i);
      if (mp_monitor_alert_get_kind (a) == MP_MONITOR_ALERT_DEADLOCK)
        return TRUE;
    }
  return FALSE;
}

/* Scrubs through the sample until the deadlock: the Locks page shows the cycle. */
static void
test_replay_deadlock (void)
{
  MpvWindow *window = new_window ();
  g_autoptr(GError) error = NULL;
  MpvLocksPage *locks;
  MpvWaitGraph *graph;
  guint64 start, end, t;
  gboolean found = FALSE;

  g_assert_true (mpv_window_open_recording (window, env_path ("MPVIEWER_SAMPLE"), &error));
  mpv_window_get_replay_range (window, &start, &end);
  g_assert_cmpuint (end, >, start);

  /* Back to the start (a new replay), then forward in 100 ms steps. */
  g_assert_true (mpv_window_seek (window, start, &error));
  g_assert_no_error (error);
  g_assert_false (has_deadlock (mpv_window_get_monitor (window)));
  for (t = start; t <= end && !found; t += 100 * 1000000)
    {
      g_assert_true (mpv_window_seek (window, t, &error));
      found = has_deadlock (mpv_window_get_monitor (window));
    }
  g_assert_true (found);

  locks = MPV_LOCKS_PAGE (mpv_window_get_page (window, "locks"));
  graph = mpv_locks_page_get_wait_graph (locks);
  show_and_shoot (window, "locks", "replay-locks-deadlock.png");
  /* Five philosophers and five forks in one cycle: ten edges, all red. */
  g_assert_cmpuint (mpv_wait_graph_get_n_nodes (graph), ==, 10);
  g_assert_cmpuint (mpv_wait_graph_get_n_cycle_edges (graph), ==, 10);
  show_and_shoot (window, "overview", "replay-overview-deadlock.png");
  show_and_shoot (window, "processes", "replay-processes-deadlock.png");

  /* Scrubbing backwards again goes to a moment without the deadlock. */
  g_assert_true (mpv_window_seek (window, start + (t - start) / 3, &error));
  g_assert_false (has_deadlock (mpv_window_get_monitor (window)));
  mpv_window_flush (window);
  g_assert_cmpuint (mpv_wait_graph_get_n_cycle_edges (graph), ==, 0);

  close_window (window);
}

/* ---- the task stream, on the synthetic pool recording -------------------------------------- */

static void
test_pool_task_stream (void)
{
  MpvWindow *window = new_window ();
  g_autoptr(GError) error = NULL;
  MpvTaskStream *stream;
  guint64 start, end;

  g_assert_true (mpv_window_open_recording (window, env_path ("MPVIEWER_POOL_TRACE"), &error));
  g_assert_no_error (error);
  stream = mpv_pools_page_get_task_stream (MPV_POOLS_PAGE (mpv_window_get_page (window, "pools")));
  show_and_shoot (window, "pools", "pool-task-stream.png");
  g_assert_cmpuint (n_items (mp_monitor_get_pools (mpv_window_get_monitor (window))), ==, 1);
  /* Four live workers, plus the killed one whose tasks are still in the window. */
  g_assert_cmpuint (mpv_task_stream_get_n_lanes (stream), ==, 5);
  g_assert_cmpuint (mpv_task_stream_get_n_bars (stream), >, 100);
  g_assert_cmpuint (mpv_task_stream_get_n_failed (stream), >, 0);
  /* The recording's 2000 tasks were submitted together: one event names them all. */
  {
    GListModel *pools = mp_monitor_get_pools (mpv_window_get_monitor (window));
    g_autoptr(MpMonitorPool) pool = g_list_model_get_item (pools, 0);
    MpTraceEvent ev = { .type = MP_EVENT_TASK_SUBMITTED, .a = 1, .b = 2000 };
    g_autofree char *many = NULL;
    g_autofree char *one = NULL;

    ev.object = mp_monitor_pool_get_id (pool);
    many = mpv_format_event_details (mpv_window_get_monitor (window), &ev);
    ev.b = 0;
    one = mpv_format_event_details (mpv_window_get_monitor (window), &ev);
    g_assert_true (g_str_has_suffix (many, ": tasks 1–2000"));
    g_assert_true (g_str_has_suffix (one, ": task 1"));
  }
  show_and_shoot (window, "overview", "pool-overview.png");
  show_and_shoot (window, "processes", "pool-processes.png");

  /* At 2 s only the first workers had run. */
  mpv_window_get_replay_range (window, &start, &end);
  g_assert_true (mpv_window_seek (window, start + 2 * G_GUINT64_CONSTANT (1000000000), &error));
  mpv_window_flush (window);
  g_assert_cmpuint (mpv_task_stream_get_n_lanes (stream), ==, 4);
  show_and_shoot (window, "pools", "pool-task-stream-2s.png");

  close_window (window);
}

/* ---- live programs ------------------------------------------------------------------------- */

static char *
example (const char *name)
{
  return g_build_filename (env_path ("MPVIEWER_EXAMPLES_DIR"), name, NULL);
}

typedef struct
{
  MpvWindow *window;
  GPid       pid;
} Live;

/* The tree shows the main process with its children under it (depth 1, ppid = main). */
static gboolean
children_under_main (gpointer data)
{
  Live *live = data;
  GListModel *rows;
  guint n, under = 0;
  gboolean main_first = FALSE;

  mpv_window_flush (live->window);
  rows = mpv_processes_page_get_rows (MPV_PROCESSES_PAGE (mpv_window_get_page (live->window, "processes")));
  if (rows == NULL)
    return FALSE;
  n = n_items (rows);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GtkTreeListRow) row = g_list_model_get_item (rows, i);
      g_autoptr(MpMonitorProcess) p = gtk_tree_list_row_get_item (row);

      if (i == 0)
        main_first = mp_monitor_process_get_pid (p) == live->pid &&
                     gtk_tree_list_row_get_depth (row) == 0;
      else if (gtk_tree_list_row_get_depth (row) == 1 && mp_monitor_process_get_ppid (p) == live->pid)
        under++;
    }
  /* sleepy-tree: Process-1..4 and the forkserver. */
  return main_first && under >= 4;
}

static void
test_live_attach (void)
{
  MpvWindow *window = new_window ();
  g_autofree char *tree = example ("sleepy-tree");
  /* Without --seconds, sleepy-tree runs until its stdin ends (or this test dies). */
  const char *argv[] = { tree, NULL };
  g_autoptr(GSubprocess) sp = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  Live live = { window, 0 };

  sp = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sp));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "ready "));
  live.pid = (GPid) atoi (line + 6);
  g_assert_cmpint (live.pid, ==, atoi (g_subprocess_get_identifier (sp)));

  g_assert_true (mpv_window_attach (window, live.pid, &error));
  g_assert_no_error (error);
  mpv_window_show_page (window, "processes");
  g_assert_true (wait_until (children_under_main, &live, WAIT_MS));
  show_and_shoot (window, "processes", "live-attach-processes.png");
  show_and_shoot (window, "overview", "live-attach-overview.png");

  /* Collapsed, the main process stands for its subtree. */
  gtk_widget_activate_action (mpv_window_get_page (window, "processes"), "processes.collapse-all", NULL);
  show_and_shoot (window, "processes", "live-attach-collapsed.png");
  gtk_widget_activate_action (mpv_window_get_page (window, "processes"), "processes.expand-all", NULL);

  /* End the program: closing its stdin wakes the sleepers; the viewer notices. */
  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (sp), NULL, &error));
  g_assert_true (g_subprocess_wait_check (sp, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until ((gboolean (*) (gpointer)) mp_monitor_get_finished,
                             mpv_window_get_monitor (window), WAIT_MS));
  close_window (window);
}

static gboolean
window_monitor_finished (gpointer data)
{
  MpMonitor *m = mpv_window_get_monitor (data);
  return m != NULL && mp_monitor_get_finished (m);
}

/* mpviewer -- PROGRAM: launched, watched from its first process, reaped when it ends. */
static void
test_live_launch (void)
{
  MpvWindow *window = new_window ();
  g_autofree char *program = example ("producer-consumer");
  const char *argv[] = { program, "--seconds", "1.5", "--period", "0.5", NULL };
  g_autoptr(GError) error = NULL;
  MpMonitor *m;
  GSubprocess *sp;
  const char *banner;

  quiet_children_begin ();
  mpv_window_launch (window, argv, &error);
  g_assert_no_error (error);
  quiet_children_end ();
  g_assert_no_error (error);
  m = mpv_window_get_monitor (window);
  sp = mp_monitor_get_subprocess (m);
  g_assert_nonnull (sp);
  mpv_window_show_page (window, "queues");
  g_assert_true (wait_until (window_monitor_finished, window, WAIT_MS));
  show_and_shoot (window, "queues", "live-launch-queues.png");
  show_and_shoot (window, "processes", "live-launch-processes.png");

  /* The program was reaped (no zombie) and exited 0; the banner says so. */
  g_assert_null (g_subprocess_get_identifier (sp));
  g_assert_true (g_subprocess_get_if_exited (sp));
  g_assert_cmpint (g_subprocess_get_exit_status (sp), ==, 0);
  banner = mpv_window_get_banner (window);
  g_assert_nonnull (banner);
  g_assert_nonnull (strstr (banner, "exited with code 0"));
  g_assert_cmpuint (n_items (mp_monitor_get_queues (m)), ==, 2);
  {
    g_autoptr(MpMonitorQueue) q = NULL;
    GListModel *queues = mp_monitor_get_queues (m);

    for (guint i = 0; i < n_items (queues); i++)
      {
        g_autoptr(MpMonitorQueue) c = g_list_model_get_item (queues, i);
        if (g_strcmp0 (mp_monitor_queue_get_label (c), "jobs") == 0)
          q = g_steal_pointer (&c);
      }
    g_assert_nonnull (q);
    g_assert_cmpuint (mp_monitor_queue_get_puts (q), >, 100);
    g_assert_cmpuint (mp_monitor_queue_get_max_depth (q), ==, 50);
  }
  close_window (window);
}

/* A live pool example: its workers appear under the main process and the task stream gets a
 * bar for each task the workers ran. */
static void
test_live_pool (void)
{
  MpvWindow *window = new_window ();
  g_autofree char *program = example ("pi");
  const char *argv[] = { program, "--darts", "200000000", "--tasks", "120", "--processes", "2",
                         NULL };
  g_autoptr(GError) error = NULL;
  MpvTaskStream *stream;
  GListModel *procs;
  MpMonitor *m;
  GPid main_pid = 0;
  guint workers = 0;

  quiet_children_begin ();
  mpv_window_launch (window, argv, &error);
  quiet_children_end ();
  g_assert_no_error (error);
  m = mpv_window_get_monitor (window);
  mpv_window_show_page (window, "pools");
  g_assert_true (wait_until (window_monitor_finished, window, WAIT_MS));
  show_and_shoot (window, "pools", "live-pool-task-stream.png");
  show_and_shoot (window, "processes", "live-pool-processes.png");

  g_assert_cmpuint (n_items (mp_monitor_get_pools (m)), ==, 1);
  /* The program lasts about one sample interval: the Throughput graph still has a point
   * (from the pool's creation to the last sample), which it draws as a bar. */
  {
    g_autoptr(MpMonitorPool) pool = g_list_model_get_item (mp_monitor_get_pools (m), 0);
    guint n_history = 0;
    const double *history = mp_monitor_pool_get_throughput_history (pool, &n_history);
    double peak = 0;

    for (guint i = 0; i < n_history; i++)
      peak = MAX (peak, history[i]);
    g_assert_cmpuint (n_history, >=, 1);
    g_assert_cmpfloat (peak, >, 0);
    g_assert_cmpfloat (mp_monitor_pool_get_throughput_window (pool), >, 0);
  }
  procs = mp_monitor_get_processes (m);
  for (guint i = 0; i < n_items (procs); i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (procs, i);
      if (mp_monitor_process_get_role (p) == MP_MONITOR_ROLE_MAIN)
        main_pid = mp_monitor_process_get_pid (p);
    }
  g_assert_cmpint (main_pid, >, 0);
  for (guint i = 0; i < n_items (procs); i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (procs, i);
      if (mp_monitor_process_get_role (p) == MP_MONITOR_ROLE_WORKER)
        {
          g_assert_cmpint (mp_monitor_process_get_ppid (p), ==, main_pid);
          workers++;
        }
    }
  g_assert_cmpuint (workers, >=, 2);

  stream = mpv_pools_page_get_task_stream (MPV_POOLS_PAGE (mpv_window_get_page (window, "pools")));
  g_assert_cmpuint (mpv_task_stream_get_n_lanes (stream), >=, 2);
  g_assert_cmpuint (mpv_task_stream_get_n_bars (stream), >=, 100);
  g_assert_cmpuint (mpv_task_stream_get_n_failed (stream), ==, 0);
  close_window (window);
}

/* A launched program still running when its window closes is ended with it. */
static void
test_launch_closed_window_ends_program (void)
{
  MpvWindow *window = new_window ();
  g_autofree char *program = example ("sleepy-tree");
  const char *argv[] = { program, "--seconds", "60", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) sp = NULL;

  quiet_children_begin ();
  mpv_window_launch (window, argv, &error);
  g_assert_no_error (error);
  quiet_children_end ();
  sp = g_object_ref (mp_monitor_get_subprocess (mpv_window_get_monitor (window)));
  spin (300);
  gtk_window_close (GTK_WINDOW (window));
  g_assert_true (g_subprocess_wait (sp, NULL, &error));
  g_assert_no_error (error);
  /* sleepy-tree ends on SIGTERM: it wakes its sleepers and exits 0. */
  g_assert_true (g_subprocess_get_if_exited (sp) || g_subprocess_get_if_signaled (sp));
  spin (50);
}

/* Record a live program from the UI, export the recording as a Chrome trace, replay it. */
static void
test_record_export_replay (void)
{
  MpvWindow *window = new_window ();
  g_autofree char *program = example ("producer-consumer");
  const char *argv[] = { program, "--seconds", "1", "--period", "0.3", NULL };
  g_autofree char *dir = g_dir_make_tmp ("mpviewer-rec-XXXXXX", NULL);
  g_autofree char *rec = g_build_filename (dir, "run.jsonl", NULL);
  g_autofree char *chrome = g_build_filename (dir, "run.json", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  MpvWindow *replay;

  quiet_children_begin ();
  mpv_window_launch (window, argv, &error);
  g_assert_no_error (error);
  quiet_children_end ();
  g_assert_no_error (error);
  g_assert_true (mpv_window_start_recording (window, rec, &error));
  g_assert_no_error (error);
  g_assert_true (mp_monitor_is_recording (mpv_window_get_monitor (window)));
  /* Nothing to export while the recording is being written. */
  g_assert_false (mpv_window_export_chrome (window, chrome, NULL));
  /* The recording ends with the program. */
  g_assert_true (wait_until (window_monitor_finished, window, WAIT_MS));
  g_assert_false (mp_monitor_is_recording (mpv_window_get_monitor (window)));
  g_assert_true (mpv_window_export_chrome (window, chrome, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (chrome, &contents, NULL, &error));
  g_assert_nonnull (strstr (contents, "\"ph\""));
  g_assert_nonnull (strstr (contents, "Consumer-0"));
  close_window (window);

  replay = new_window ();
  g_assert_true (mpv_window_open_recording (replay, rec, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (mp_monitor_get_program_name (mpv_window_get_monitor (replay)), ==, "producer-consumer");
  g_assert_cmpuint (n_items (mp_monitor_get_processes (mpv_window_get_monitor (replay))), >=, 6);
  show_and_shoot (replay, "queues", "recorded-queues.png");
  close_window (replay);
  (void) g_unlink (rec);
  (void) g_unlink (chrome);
  (void) g_rmdir (dir);
}

/* ▶ plays a replay from the scrubber's position to the end. */
static void
test_replay_play (void)
{
  MpvWindow *window = new_window ();
  g_autoptr(GError) error = NULL;
  guint64 start, end;

  g_assert_true (mpv_window_open_recording (window, env_path ("MPVIEWER_POOL_TRACE"), &error));
  mpv_window_get_replay_range (window, &start, &end);
  mpv_window_set_replay_speed (window, 20);
  g_assert_true (mpv_window_seek (window, start + (end - start) / 2, &error));
  g_assert_cmpuint (mp_monitor_get_now_ns (mpv_window_get_monitor (window)), <, end);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.play", NULL);
  g_assert_true (mp_monitor_is_running (mpv_window_get_monitor (window)));
  g_assert_true (wait_until (window_monitor_finished, window, WAIT_MS));
  g_assert_cmpuint (mp_monitor_get_now_ns (mpv_window_get_monitor (window)), ==, end);
  /* At the end, ▶ starts over. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.play", NULL);
  g_assert_cmpuint (mp_monitor_get_now_ns (mpv_window_get_monitor (window)), <, start + (end - start) / 4);
  g_assert_true (mp_monitor_is_running (mpv_window_get_monitor (window)));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.pause", NULL);
  g_assert_false (mp_monitor_is_running (mpv_window_get_monitor (window)));
  close_window (window);
}

/* ---- demos, picker, no display ------------------------------------------------------------- */

static void
test_demos (void)
{
  MpvWindow *window = new_window ();
  GPtrArray *demos = mpv_window_get_demos (window);
  g_autoptr(GBytes) catalogue = g_resources_lookup_data ("/org/libmp/Viewer/demos.ini", 0, NULL);
  g_autofree char *empty = g_dir_make_tmp ("mpviewer-demos-XXXXXX", NULL);
  const char *no_dirs[] = { empty, NULL };
  g_autoptr(GPtrArray) none = NULL;
  gsize len;
  const char *data;

  g_assert_nonnull (mpv_demos_lookup (demos, "dining-philosophers"));
  g_assert_nonnull (mpv_demos_lookup (demos, "producer-consumer"));
  g_assert_nonnull (mpv_demos_lookup (demos, "process-tree"));
  for (guint i = 0; i < demos->len; i++)
    {
      const MpvDemo *d = g_ptr_array_index (demos, i);
      g_assert_true (g_file_test (d->path, G_FILE_TEST_IS_EXECUTABLE));
      g_assert_nonnull (d->description);
    }
  /* A demo whose program is missing is left out. */
  g_assert_nonnull (catalogue);
  data = g_bytes_get_data (catalogue, &len);
  none = mpv_demos_load_from (data, len, no_dirs);
  g_assert_cmpuint (none->len, ==, 0);
  g_rmdir (empty);

  /* The welcome page (no program yet) lists the programs and the demos. */
  mpv_window_flush (window);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  screenshot (GTK_WIDGET (window), "welcome.png");

  /* The Demos menu. */
  {
    GtkWidget *button = find_widget (GTK_WIDGET (window), GTK_TYPE_MENU_BUTTON, "Demos");
    GtkPopover *popover;

    g_assert_nonnull (button);
    gtk_menu_button_popup (GTK_MENU_BUTTON (button));
    popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (button));
    g_assert_true (wait_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, popover, WAIT_MS));
    gtk_test_widget_wait_for_draw (GTK_WIDGET (popover));
    screenshot (GTK_WIDGET (popover), "demos-menu.png");
    gtk_menu_button_popdown (GTK_MENU_BUTTON (button));
  }

  /* Launch a demo from the Demos menu, in slow motion. */
  g_object_set (window, "slowmo-ms", 20u, NULL);
  quiet_children_begin ();
  gtk_widget_activate_action (GTK_WIDGET (window), "win.launch-demo", "s", "process-tree");
  quiet_children_end ();
  g_assert_nonnull (mpv_window_get_monitor (window));
  g_assert_true (wait_until (window_monitor_finished, window, WAIT_MS));
  show_and_shoot (window, "overview", "demo-process-tree-overview.png");
  show_and_shoot (window, "processes", "demo-process-tree-processes.png");
  g_object_set (window, "slowmo-ms", 0u, NULL);
  close_window (window);
}

static void
test_no_display_falls_back (void)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) sp = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "WAYLAND_DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "GDK_BACKEND");
  sp = g_subprocess_launcher_spawn (launcher, &error, env_path ("MPVIEWER_BIN"), "--replay",
                                    env_path ("MPVIEWER_SAMPLE"), "--speed", "0", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (sp, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (sp));
  g_assert_cmpint (g_subprocess_get_exit_status (sp), ==, 0);
  g_assert_nonnull (strstr (out, "PROCESSES"));
  g_assert_nonnull (strstr (out, "Philosopher-0"));
}

/* mpviewer --frame-stats measures its own frames and prints the benchmark rows (no timing is
 * checked here: bench/run measures). */
static void
test_frame_stats (void)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) sp = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  sp = g_subprocess_launcher_spawn (launcher, &error, env_path ("MPVIEWER_BIN"), "--replay",
                                    env_path ("MPVIEWER_POOL_TRACE"), "--frame-stats", "0.5",
                                    "--frame-stats-pages", "pools", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (sp, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (sp));
  g_assert_cmpint (g_subprocess_get_exit_status (sp), ==, 0);
  g_assert_nonnull (strstr (out, "workload=viewer_frame_ms impl=libmp value="));
  g_assert_nonnull (strstr (out, "workload=viewer_frame_ms_p95 impl=libmp value="));
  g_assert_null (strstr (out, "value=nan"));
}

int
main (int argc, char **argv)
{
  int status;

  gtk_test_init (&argc, &argv, NULL);
  g_assert_cmpint (g_mkdir_with_parents (env_path ("MPVIEWER_SCREENSHOT_DIR"), 0755), ==, 0);
  app = mpv_application_new (NULL);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));

  g_test_add_func ("/viewer/event-log/view", test_event_log_view);
  g_test_add_func ("/viewer/replay/pages", test_replay_pages);
  g_test_add_func ("/viewer/replay/deadlock", test_replay_deadlock);
  g_test_add_func ("/viewer/replay/pool-task-stream", test_pool_task_stream);
  g_test_add_func ("/viewer/live/attach", test_live_attach);
  g_test_add_func ("/viewer/live/launch", test_live_launch);
  g_test_add_func ("/viewer/live/pool", test_live_pool);
  g_test_add_func ("/viewer/live/close-ends-launched", test_launch_closed_window_ends_program);
  g_test_add_func ("/viewer/live/record-export-replay", test_record_export_replay);
  g_test_add_func ("/viewer/replay/play", test_replay_play);
  g_test_add_func ("/viewer/demos", test_demos);
  g_test_add_func ("/viewer/no-display", test_no_display_falls_back);
  g_test_add_func ("/viewer/frame-stats", test_frame_stats);
  status = g_test_run ();
  g_object_unref (app);
  return status;
}
