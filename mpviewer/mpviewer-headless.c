/* mpviewer-headless.c: the terminal front end (list, live view, one snapshot, record, replay,
 * export), built on the public MpMonitor API only
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The view is plain text with one record per line and columns separated by spaces, so it reads
 * well over SSH and in logs, and tests (and scripts) can pick lines apart with split().
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mpviewer-headless.h"

#define RECENT_EVENTS 12

typedef struct
{
  MpMonitor  *monitor;
  GMainLoop  *loop;
  FILE       *out;
  gboolean    live_view;
  gboolean    tty;
  gboolean    interrupted;
  gboolean    timed_out;
  MpTraceEvent     recent[RECENT_EVENTS];
  guint       recent_start;
  guint       recent_len;
} Viewer;

static Viewer *current_viewer;

/* ---- formatting -------------------------------------------------------------------------- */

static char *
format_size (guint64 bytes)
{
  if (bytes == 0)
    return g_strdup ("-");
  if (bytes < 1024 * 1024)
    return g_strdup_printf ("%.0fK", (double) bytes / 1024.0);
  if (bytes < G_GUINT64_CONSTANT (1024) * 1024 * 1024)
    return g_strdup_printf ("%.1fM", (double) bytes / 1048576.0);
  return g_strdup_printf ("%.2fG", (double) bytes / 1073741824.0);
}

static char *
format_state (MpMonitorProcess *p)
{
  MpMonitorProcessState state = mp_monitor_process_get_state (p);
  int code = mp_monitor_process_get_exit_code (p);

  if (state == MP_MONITOR_PROCESS_EXITED)
    return g_strdup_printf ("exited(%d)", code);
  if (state == MP_MONITOR_PROCESS_KILLED)
    {
      const char *abbrev = code < 0 ? sigabbrev_np (-code) : NULL;
      return abbrev ? g_strdup_printf ("killed(SIG%s)", abbrev) : g_strdup_printf ("killed(%d)", -code);
    }
  return g_strdup (mp_monitor_process_state_to_string (state));
}

static double
seconds_since_start (MpMonitor *m, guint64 t_ns)
{
  guint64 t0 = mp_monitor_get_start_monotonic_ns (m);

  return t_ns >= t0 ? (double) (t_ns - t0) / 1e9 : -(double) (t0 - t_ns) / 1e9;
}

static const char *
label_or_id (MpMonitor *m, guint64 id, char *buf, gsize len)
{
  const char *l = mp_monitor_lookup_object_label (m, id);

  if (l != NULL)
    return l;
  g_snprintf (buf, len, "#%" G_GUINT64_FORMAT, id);
  return buf;
}

static void
print_process (MpMonitor *m, FILE *out, MpMonitorProcess *p, GString *prefix, gboolean last,
               guint depth)
{
  g_autofree char *state = format_state (p);
  g_autofree char *rss = format_size (mp_monitor_process_get_rss (p));
  GListModel *children = mp_monitor_process_get_children (p);
  guint n = g_list_model_get_n_items (children);
  gsize saved = prefix->len;
  char buf[32];

  fprintf (out, "%-8d %-8d %-10s %-16s %5.1f %7s  %s%s%s", mp_monitor_process_get_pid (p),
           mp_monitor_process_get_ppid (p),
           mp_monitor_process_role_to_string (mp_monitor_process_get_role (p)), state,
           mp_monitor_process_get_cpu_percent (p), rss, prefix->str,
           depth == 0 ? "" : last ? "└─ " : "├─ ", mp_monitor_process_get_name (p));
  if (mp_monitor_process_get_blocked_on (p) != 0)
    fprintf (out, "  [waits for %s]",
             label_or_id (m, mp_monitor_process_get_blocked_on (p), buf, sizeof buf));
  if (mp_monitor_process_get_current_task (p) != 0)
    fprintf (out, "  [task %" G_GUINT64_FORMAT "]", mp_monitor_process_get_current_task (p));
  fputc ('\n', out);

  if (depth > 0)
    g_string_append (prefix, last ? "   " : "│  ");
  for (guint i = 0; i < n && depth < 64; i++)
    {
      g_autoptr(MpMonitorProcess) c = g_list_model_get_item (children, i);
      print_process (m, out, c, prefix, i + 1 == n, depth + 1);
    }
  g_string_truncate (prefix, saved);
}

static void
print_event (MpMonitor *m, FILE *out, const MpTraceEvent *ev)
{
  char buf[32];

  fprintf (out, "%+10.3fs pid %-7d %-16s", seconds_since_start (m, ev->timestamp_ns), ev->pid,
           mp_trace_event_type_to_string (ev->type));
  switch (ev->type)
    {
    case MP_EVENT_PROCESS_CREATED:
      fprintf (out, " child %" G_GINT64_FORMAT, ev->a);
      break;
    case MP_EVENT_PROCESS_STARTED:
      fprintf (out, " parent %" G_GINT64_FORMAT, ev->a);
      break;
    case MP_EVENT_PROCESS_EXITING:
      fprintf (out, " code %" G_GINT64_FORMAT, ev->a);
      break;
    case MP_EVENT_PROCESS_EXITED:
      fprintf (out, " child %" G_GINT64_FORMAT " code %" G_GINT64_FORMAT, ev->a, ev->b);
      break;
    case MP_EVENT_MARK:
      fprintf (out, " %" G_GUINT64_FORMAT ": %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, ev->object,
               ev->a, ev->b);
      break;
    default:
      fprintf (out, " %s a=%" G_GINT64_FORMAT " b=%" G_GINT64_FORMAT,
               label_or_id (m, ev->object, buf, sizeof buf), ev->a, ev->b);
      break;
    }
  fputc ('\n', out);
}

static void
print_view_full (MpMonitor *m, Viewer *v, FILE *out)
{
  GListModel *model;
  guint n;
  g_autoptr(GDateTime) start = NULL;
  g_autofree char *start_str = NULL;
  g_autoptr(GString) prefix = g_string_new (NULL);
  const char *levels[] = { "off", "lifecycle", "normal", "verbose" };
  guint level = MIN ((guint) mp_monitor_get_trace_level (m), 3);

  start = g_date_time_new_from_unix_local (mp_monitor_get_start_time (m) / G_USEC_PER_SEC);
  start_str = start ? g_date_time_format (start, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
  fprintf (out, "program %s  pid %d  started %s  up %.1fs  trace %s%s\n",
           mp_monitor_get_program_name (m), mp_monitor_get_pid (m), start_str,
           seconds_since_start (m, mp_monitor_get_now_ns (m)), levels[level],
           mp_monitor_get_finished (m) ? "  (finished)" : "");
  fprintf (out, "events %" G_GUINT64_FORMAT " received  %" G_GUINT64_FORMAT " lost\n",
           mp_monitor_get_n_events (m), mp_monitor_get_n_lost (m));

  model = mp_monitor_get_process_roots (m);
  fprintf (out, "\nPROCESSES\n%-8s %-8s %-10s %-16s %5s %7s  %s\n", "PID", "PPID", "ROLE",
           "STATE", "CPU%", "RSS", "NAME");
  n = g_list_model_get_n_items (model);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (model, i);
      print_process (m, out, p, prefix, TRUE, 0);
    }

  model = mp_monitor_get_pools (m);
  if ((n = g_list_model_get_n_items (model)) > 0)
    {
      fprintf (out, "\nPOOLS\n");
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorPool) p = g_list_model_get_item (model, i);
          fprintf (out, "%-20s workers %u/%u  queued %" G_GUINT64_FORMAT "  running %"
                   G_GUINT64_FORMAT "  done %" G_GUINT64_FORMAT "  failed %" G_GUINT64_FORMAT
                   "  %.1f tasks/s  median %.3fs%s\n",
                   mp_monitor_pool_get_label (p), mp_monitor_pool_get_workers_alive (p),
                   mp_monitor_pool_get_workers (p), mp_monitor_pool_get_queued (p),
                   mp_monitor_pool_get_running (p), mp_monitor_pool_get_completed (p),
                   mp_monitor_pool_get_failed (p), mp_monitor_pool_get_throughput (p),
                   (double) mp_monitor_pool_get_median_task_ns (p) / 1e9,
                   mp_monitor_pool_get_destroyed (p) ? "  (closed)" : "");
        }
    }

  model = mp_monitor_get_queues (m);
  if ((n = g_list_model_get_n_items (model)) > 0)
    {
      fprintf (out, "\nQUEUES\n");
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorQueue) q = g_list_model_get_item (model, i);
          fprintf (out, "%-20s depth %" G_GUINT64_FORMAT " (max %" G_GUINT64_FORMAT ")  puts %"
                   G_GUINT64_FORMAT "  gets %" G_GUINT64_FORMAT "  %.1f put/s  %.1f get/s%s\n",
                   mp_monitor_queue_get_label (q), mp_monitor_queue_get_depth (q),
                   mp_monitor_queue_get_max_depth (q), mp_monitor_queue_get_puts (q),
                   mp_monitor_queue_get_gets (q), mp_monitor_queue_get_put_rate (q),
                   mp_monitor_queue_get_get_rate (q),
                   mp_monitor_queue_get_destroyed (q) ? "  (closed)" : "");
        }
    }

  model = mp_monitor_get_locks (m);
  if ((n = g_list_model_get_n_items (model)) > 0)
    {
      fprintf (out, "\nLOCKS\n");
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorLock) l = g_list_model_get_item (model, i);
          guint nw;
          const GPid *w = mp_monitor_lock_get_waiters (l, &nw);

          fprintf (out, "%-20s %-10s holder %d  waiters %u [", mp_monitor_lock_get_label (l),
                   mp_object_kind_to_string (mp_monitor_lock_get_kind (l)),
                   mp_monitor_lock_get_holder_pid (l), mp_monitor_lock_get_n_waiters (l));
          for (guint k = 0; k < nw; k++)
            fprintf (out, "%s%d", k ? " " : "", w[k]);
          fprintf (out, "]  acquired %" G_GUINT64_FORMAT "  contended %.1f%%  wait %.3fs (max %.3fs)\n",
                   mp_monitor_lock_get_acquisitions (l), mp_monitor_lock_get_contended_percent (l),
                   (double) mp_monitor_lock_get_total_wait_ns (l) / 1e9,
                   (double) mp_monitor_lock_get_max_wait_ns (l) / 1e9);
        }
    }

  model = mp_monitor_get_segments (m);
  if ((n = g_list_model_get_n_items (model)) > 0)
    {
      fprintf (out, "\nSHARED MEMORY\n");
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorSegment) s = g_list_model_get_item (model, i);
          g_autofree char *size = format_size (mp_monitor_segment_get_size (s));
          const char *name = mp_monitor_segment_get_name (s);

          fprintf (out, "%-20s %-24s %7s  creator %d  mappers %u%s%s\n",
                   mp_monitor_segment_get_label (s), name ? name : "(anonymous)", size,
                   mp_monitor_segment_get_creator_pid (s), mp_monitor_segment_get_n_mappers (s),
                   mp_monitor_segment_get_unlinked (s) ? "  unlinked" : "",
                   mp_monitor_segment_get_leaked (s) ? "  LEAKED" : "");
        }
    }

  model = mp_monitor_get_alerts (m);
  if ((n = g_list_model_get_n_items (model)) > 0)
    {
      fprintf (out, "\nALERTS\n");
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorAlert) a = g_list_model_get_item (model, i);
          fprintf (out, "! %s\n", mp_monitor_alert_get_message (a));
        }
    }

  if (v != NULL && v->recent_len > 0)
    {
      fprintf (out, "\nRECENT EVENTS\n");
      for (guint i = 0; i < v->recent_len; i++)
        print_event (m, out, &v->recent[(v->recent_start + i) % RECENT_EVENTS]);
    }
  fflush (out);
}

void
mpviewer_print_view (MpMonitor *monitor, FILE *out)
{
  print_view_full (monitor, current_viewer, out);
}

/* ---- list, export ------------------------------------------------------------------------ */

int
mpviewer_headless_list (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) programs = mp_monitor_list_programs (&error);
  guint n;

  if (programs == NULL)
    {
      g_printerr ("mpviewer: %s\n", error->message);
      return 1;
    }
  n = g_list_model_get_n_items (programs);
  printf ("%-8s %-24s %-19s %s\n", "PID", "PROGRAM", "STARTED", "PROCESSES");
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProgram) p = g_list_model_get_item (programs, i);
      g_autoptr(GDateTime) t = g_date_time_new_from_unix_local (mp_monitor_program_get_start_time (p) / G_USEC_PER_SEC);
      g_autofree char *ts = t ? g_date_time_format (t, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");

      if (mp_monitor_program_get_error (p) != NULL)
        printf ("%-8d %-24s %-19s cannot attach: %s\n", mp_monitor_program_get_pid (p), "?", "?",
                mp_monitor_program_get_error (p));
      else
        printf ("%-8d %-24s %-19s %u\n", mp_monitor_program_get_pid (p),
                mp_monitor_program_get_name (p), ts, mp_monitor_program_get_n_processes (p));
    }
  if (n == 0)
    printf ("(no libmp programs found)\n");
  return 0;
}

int
mpviewer_headless_export (const char *recording, const char *output)
{
  g_autoptr(GError) error = NULL;

  if (!mp_trace_file_export_chrome (recording, output, &error))
    {
      g_printerr ("mpviewer: %s\n", error->message);
      return 1;
    }
  g_printerr ("mpviewer: wrote %s (open it in https://ui.perfetto.dev or chrome://tracing)\n",
              output);
  return 0;
}

/* ---- live view --------------------------------------------------------------------------- */

static void
on_events (MpMonitor *m, gpointer events, guint n, guint64 lost, gpointer user_data)
{
  Viewer *v = user_data;
  const MpTraceEvent *ev = events;

  for (guint i = n > RECENT_EVENTS ? n - RECENT_EVENTS : 0; i < n; i++)
    {
      if (v->recent_len < RECENT_EVENTS)
        v->recent[(v->recent_start + v->recent_len++) % RECENT_EVENTS] = ev[i];
      else
        {
          v->recent[v->recent_start] = ev[i];
          v->recent_start = (v->recent_start + 1) % RECENT_EVENTS;
        }
    }
}

static void
redraw (Viewer *v)
{
  if (!v->live_view)
    return;
  if (v->tty)
    fputs ("\033[H\033[2J", v->out);
  else
    fputs ("\n", v->out);
  print_view_full (v->monitor, v, v->out);
}

static gboolean
on_refresh (gpointer user_data)
{
  redraw (user_data);
  return G_SOURCE_CONTINUE;
}

static void
on_finished (MpMonitor *m, gpointer user_data)
{
  g_main_loop_quit (((Viewer *) user_data)->loop);
}

static gboolean
on_timeout (gpointer user_data)
{
  Viewer *v = user_data;

  v->timed_out = TRUE;
  g_main_loop_quit (v->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data)
{
  Viewer *v = user_data;

  v->interrupted = TRUE;
  g_main_loop_quit (v->loop);
  return G_SOURCE_CONTINUE;
}

static MpMonitor *
open_monitor (const MpViewerOptions *o, GError **error)
{
  if (o->replay_path != NULL)
    return mp_monitor_new_for_trace_file (o->replay_path, error);
  if (o->command != NULL)
    return mp_monitor_launch ((const char * const *) o->command, 10 * G_USEC_PER_SEC, error);
  return mp_monitor_new_for_pid (o->attach_pid, error);
}

int
mpviewer_headless_run (const MpViewerOptions *o)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(MpMonitor) monitor = NULL;
  Viewer v = { 0 };
  guint sig_int, sig_term, refresh = 0, timeout = 0;
  gboolean replay = o->replay_path != NULL;
  int status = 0;

  monitor = open_monitor (o, &error);
  if (monitor == NULL)
    {
      g_printerr ("mpviewer: %s\n", error->message);
      return 1;
    }
  v.monitor = monitor;
  v.out = stdout;
  v.tty = isatty (STDOUT_FILENO);
  v.live_view = !o->quiet && !o->once;
  current_viewer = &v;
  g_signal_connect (monitor, "events", G_CALLBACK (on_events), &v);

  if (o->once && o->record_path == NULL)
    {
      if (replay)
        {
          if (!mp_monitor_replay_to_end (monitor, &error))
            {
              g_printerr ("mpviewer: %s\n", error->message);
              return 1;
            }
        }
      else
        {
          /* Two samples, so CPU % covers an interval. */
          mp_monitor_sample (monitor);
          g_usleep (200 * 1000);
          mp_monitor_sample (monitor);
        }
      print_view_full (monitor, &v, stdout);
      current_viewer = NULL;
      return 0;
    }

  if (o->record_path != NULL && !mp_monitor_start_recording (monitor, o->record_path, &error))
    {
      g_printerr ("mpviewer: %s\n", error->message);
      if (mp_monitor_get_subprocess (monitor))
        g_subprocess_send_signal (mp_monitor_get_subprocess (monitor), SIGTERM);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  v.loop = loop;
  g_signal_connect (monitor, "finished", G_CALLBACK (on_finished), &v);
  sig_int = g_unix_signal_add (SIGINT, on_signal, &v);
  sig_term = g_unix_signal_add (SIGTERM, on_signal, &v);
  if (replay)
    mp_monitor_set_replay_speed (monitor, o->speed);
  mp_monitor_start (monitor);
  if (o->duration > 0)
    timeout = g_timeout_add ((guint) (o->duration * 1000), on_timeout, &v);
  if (v.live_view)
    {
      redraw (&v);
      refresh = g_timeout_add (o->refresh_ms, on_refresh, &v);
    }
  if (!mp_monitor_get_finished (monitor))
    g_main_loop_run (loop);

  /* Stopping early: a program we launched goes with us. */
  if (!mp_monitor_get_finished (monitor) && mp_monitor_get_subprocess (monitor) != NULL)
    {
      GSubprocess *sp = mp_monitor_get_subprocess (monitor);
      g_subprocess_send_signal (sp, SIGTERM);
      (void) g_subprocess_wait (sp, NULL, NULL);
    }
  mp_monitor_stop (monitor);
  if (!replay)
    mp_monitor_sample (monitor);

  if (mp_monitor_is_recording (monitor))
    {
      if (!mp_monitor_stop_recording (monitor, &error))
        {
          g_printerr ("mpviewer: %s\n", error->message);
          status = 1;
        }
      else
        g_printerr ("mpviewer: recorded %" G_GUINT64_FORMAT " events (%" G_GUINT64_FORMAT
                    " lost) to %s\n", mp_monitor_get_n_events (monitor),
                    mp_monitor_get_n_lost (monitor), o->record_path);
    }
  if (v.live_view || o->once)
    {
      if (v.live_view)
        fputs (v.tty ? "\033[H\033[2J" : "\n", stdout);
      print_view_full (monitor, &v, stdout);
    }

  g_source_remove (sig_int);
  g_source_remove (sig_term);
  if (refresh)
    g_source_remove (refresh);
  if (timeout && !v.timed_out)
    g_source_remove (timeout);
  current_viewer = NULL;

  if (status == 0 && o->export_path != NULL && o->record_path != NULL)
    status = mpviewer_headless_export (o->record_path, o->export_path);
  return status;
}
