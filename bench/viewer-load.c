/* viewer-load.c: a program for mpviewer to watch in the viewer_frame_ms benchmark
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The main process starts --processes children (fork) that wait on one MpEvent, so the
 * process table holds that many live processes, and a Pool of 2 workers that maps tiny
 * items with --chunksize until --seconds have passed, paced to --rate tasks per second (a
 * task is a chunk: what the pool schedules and traces; the pool alone runs several times
 * faster here, so pacing keeps the load the same from run to run). Then it sets the event,
 * joins the children and the pool, and exits 0.
 *
 * stdout: one line "ready PID" once every child runs (the benchmark attaches then).
 * stderr: the pool's rate once a second ("items/s", and "tasks/s": chunks, what the pool
 * traces), and the median rate over the run at the end.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mp.h>

static GVariant *
idle_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpEvent) stop = mp_event_deserialize (handle, fds, error);

  if (stop == NULL)
    return NULL;
  /* The parent sets the event at the end; a safety net if it died without. */
  (void) mp_event_wait (stop, 600 * G_USEC_PER_SEC);
  return g_variant_new_int32 (0);
}

static GVariant *
square (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) x = g_variant_get_child_value (args, 0);
  gint32 v = g_variant_get_int32 (x);

  /* wraps like a C int32 would, without signed overflow (items go up to 10^6) */
  return g_variant_new_int32 ((gint32) ((guint32) v * (guint32) v));
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
die (const char *what, GError *error)
{
  g_printerr ("viewer-load: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

int
main (int argc, char **argv)
{
  static double seconds = 10;
  static int n_procs = 200;
  static int chunksize = 1;
  static int batch = 2000;
  static double rate = 100000;
  const GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "How long the pool runs", "S" },
    { "processes", 0, 0, G_OPTION_ARG_INT, &n_procs, "Idle children to keep alive", "N" },
    { "chunksize", 0, 0, G_OPTION_ARG_INT, &chunksize, "Items per pool task", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Items per map() call", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Tasks per second to aim at (0: as fast as possible)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpEvent) stop = NULL;
  g_autoptr(MpCallable) f = NULL;
  g_autoptr(GVariant) items = NULL;
  g_autoptr(GArray) rates = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree gint32 *v = NULL;
  MpProcess **procs;
  MpPool *pool;
  gint64 start, deadline, last, now;
  guint64 done = 0, done_at_last = 0;
  int failed = 0;

  mp_init (&argc, &argv);
  ctx = g_option_context_new ("— load for the viewer_frame_ms benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die ("options", error);
  if (n_procs < 0 || chunksize < 1 || batch < 1 || seconds <= 0 || rate < 0)
    die ("options", NULL);

  stop = mp_event_new (&error);
  if (stop == NULL)
    die ("event", error);
  procs = g_new0 (MpProcess *, MAX (n_procs, 1));
  for (int i = 0; i < n_procs; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      GVariant *h = mp_event_serialize (stop, fds, &error);
      g_autoptr(MpCallable) target = NULL;

      if (h == NULL)
        die ("serialize", error);
      target = mp_callable_new_with_fds (idle_child, g_variant_new ("(@*)", h), fds);
      procs[i] = mp_context_process_new (mp_get_context ("fork", NULL), target);
      mp_process_set_name (procs[i], "idle");
      if (!mp_process_start (procs[i], &error))
        die ("start", error);
    }

  pool = mp_pool_new (2, &error);
  if (pool == NULL)
    die ("pool", error);
  f = mp_callable_new (square, NULL);
  v = g_new (gint32, batch);
  for (int i = 0; i < batch; i++)
    v[i] = i;
  items = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, v, batch,
                                                         sizeof (gint32)));

  printf ("ready %d\n", (int) getpid ());
  fflush (stdout);

  start = last = g_get_monotonic_time ();
  deadline = start + (gint64) (seconds * G_USEC_PER_SEC);
  while ((now = g_get_monotonic_time ()) < deadline)
    {
      g_autoptr(GVariant) res = mp_pool_map (pool, f, g_variant_ref (items), chunksize, &error);

      if (res == NULL)
        die ("map", error);
      done += batch;
      now = g_get_monotonic_time ();
      if (rate > 0)
        {
          /* Ahead of the schedule: wait until it catches up. */
          gint64 due = start + (gint64) ((double) done / chunksize / rate * G_USEC_PER_SEC);

          if (due > now)
            g_usleep (MIN (due, deadline) - now);
        }
      if (now - last >= G_USEC_PER_SEC)
        {
          double r = (double) (done - done_at_last) / ((double) (now - last) / 1e6);

          g_array_append_val (rates, r);
          g_printerr ("viewer-load: %.0f items/s, %.0f tasks/s\n", r, r / chunksize);
          done_at_last = done;
          last = now;
        }
    }

  mp_event_set (stop);
  for (int i = 0; i < n_procs; i++)
    {
      int code = -1;

      if (!mp_process_join (procs[i], 30 * G_USEC_PER_SEC, &error) ||
          !mp_process_get_exitcode (procs[i], &code) || code != 0)
        {
          g_clear_error (&error);
          failed++;
        }
      g_object_unref (procs[i]);
    }
  g_free (procs);
  mp_pool_close (pool);
  if (!mp_pool_join (pool, 30 * G_USEC_PER_SEC, &error))
    die ("pool join", error);
  g_object_unref (pool);

  if (rates->len > 0)
    {
      g_array_sort (rates, compare_double);
      g_printerr ("viewer-load: median %.0f items/s over %u s (chunksize %d)\n",
                  g_array_index (rates, double, rates->len / 2), rates->len, chunksize);
    }
  if (failed > 0)
    {
      g_printerr ("viewer-load: %d children did not end cleanly\n", failed);
      return 1;
    }
  return 0;
}
