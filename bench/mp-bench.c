/* mp-bench.c: the libmp side of bench/run
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints `workload=NAME impl=libmp value=V unit=U` lines, V the median of the repeats. The
 * workloads mirror bench/py_bench.py so bench/run can put them side by side.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mp.h>

static GVariant *
empty_target (GVariant *args, GUnixFDList *fds, GError **error)
{
  return NULL;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Milliseconds per start+join of an empty target, over a batch. */
static double
start_join_batch (MpContext *ctx, int batch)
{
  g_autoptr(MpCallable) target = mp_callable_new (empty_target, NULL);
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < batch; i++)
    {
      g_autoptr(MpProcess) p = mp_context_process_new (ctx, target);
      g_autoptr(GError) error = NULL;

      if (!mp_process_start (p, &error) || !mp_process_join (p, MP_TIMEOUT_INFINITE, &error))
        {
          fprintf (stderr, "mp-bench: %s\n", error->message);
          exit (1);
        }
    }
  return (double) (g_get_monotonic_time () - t0) / 1000.0 / batch;
}

static double
start_join_median (const char *method, int repeat)
{
  MpContext *ctx = mp_get_context (method, NULL);
  int batch = g_str_equal (method, "fork") ? 20 : 10;
  double *v = g_new (double, repeat);
  double m;

  start_join_batch (ctx, 2);   /* warm-up: page cache, forkserver start */
  for (int r = 0; r < repeat; r++)
    v[r] = start_join_batch (ctx, batch);
  m = median (v, repeat);
  g_free (v);
  return m;
}

static void
process_start_join (const char *method, int repeat)
{
  printf ("workload=process_start_join_%s impl=libmp value=%.4g unit=ms\n", method,
          start_join_median (method, repeat));
}

/* Nanoseconds per event written (or skipped, at level off). */
static double
emit_ns (MpTraceLevel level)
{
  const int n = 1000000;
  gint64 t0;

  mp_trace_set_level (level);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    mp_trace_mark ((guint64) i, i, 0);
  return (double) (g_get_monotonic_time () - t0) * 1000.0 / n;
}

static void
trace_overhead (int repeat)
{
  double off_ns[32], on_ns[32];
  double off_ms, on_ms;
  int r = MIN (repeat, 32);

  for (int i = 0; i < r; i++)
    {
      off_ns[i] = emit_ns (MP_TRACE_OFF);
      on_ns[i] = emit_ns (MP_TRACE_NORMAL);
    }
  printf ("workload=event_emit_off impl=libmp value=%.3g unit=ns\n", median (off_ns, r));
  printf ("workload=event_emit_normal impl=libmp value=%.3g unit=ns\n", median (on_ns, r));

  /* The same process workload with events off and on (the default level). */
  mp_trace_set_level (MP_TRACE_OFF);
  off_ms = start_join_median ("fork", repeat);
  mp_trace_set_level (MP_TRACE_NORMAL);
  on_ms = start_join_median ("fork", repeat);
  printf ("workload=trace_overhead_process_fork_off impl=libmp value=%.4g unit=ms\n", off_ms);
  printf ("workload=trace_overhead_process_fork_normal impl=libmp value=%.4g unit=ms\n", on_ms);
  printf ("workload=trace_overhead_normal_vs_off impl=libmp value=%.3f unit=ratio\n",
          on_ms / off_ms);
}

/* monitor_ingest: one child writes marks into its ring as fast as it can; one monitor (of the
 * own tree, on this thread) drains the rings in a loop. monitor_ingest is the events delivered
 * to the models per second of the monitor's own CPU time (its capacity, whatever else runs on
 * the machine); monitor_ingest_wall is per second of wall time while the writer ran. What the
 * writer overwrote before the monitor read it is counted as lost. */
static double
thread_cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static GVariant *
emit_flood (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint64 n;

  g_variant_get (args, "(x)", &n);
  for (gint64 i = 0; i < n; i++)
    mp_trace_mark ((guint64) i, i, 0);
  return g_variant_new_int32 (0);
}

static void
monitor_ingest (int repeat)
{
  const gint64 n_events = 20000000;
  double *rates = g_new (double, repeat), *lost = g_new (double, repeat), *emit = g_new (double, repeat);
  double *wall = g_new (double, repeat);

  mp_trace_set_level (MP_TRACE_NORMAL);
  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpMonitor) monitor = mp_monitor_new_for_self (NULL);
      g_autoptr(MpCallable) target = mp_callable_new (emit_flood, g_variant_new ("(x)", n_events));
      g_autoptr(MpProcess) child = NULL;
      g_autoptr(GError) error = NULL;
      guint64 got = 0, lost0;
      gint64 t0, t1;
      double c0, c1;
      gboolean done = FALSE;

      if (monitor == NULL)
        {
          fprintf (stderr, "mp-bench: no arena\n");
          exit (1);
        }
      mp_monitor_poll_events (monitor);   /* what earlier rounds left */
      lost0 = mp_monitor_get_n_lost (monitor);
      child = mp_context_process_new (mp_get_context ("fork", NULL), target);
      t0 = g_get_monotonic_time ();
      c0 = thread_cpu_seconds ();
      if (!mp_process_start (child, &error))
        {
          fprintf (stderr, "mp-bench: %s\n", error->message);
          exit (1);
        }
      for (guint i = 0; !done; i++)
        {
          got += mp_monitor_poll_events (monitor);
          if (i % 256 == 0 && mp_process_join (child, 0, NULL) && !mp_process_is_alive (child))
            {
              got += mp_monitor_poll_events (monitor);
              done = TRUE;
            }
        }
      t1 = g_get_monotonic_time ();
      c1 = thread_cpu_seconds ();
      rates[r] = (double) got / MAX (c1 - c0, 1e-6);
      wall[r] = (double) got / ((double) (t1 - t0) / 1e6);
      lost[r] = (double) (mp_monitor_get_n_lost (monitor) - lost0) / (double) n_events;
      emit[r] = (double) n_events / ((double) (t1 - t0) / 1e6);
    }
  printf ("workload=monitor_ingest impl=libmp value=%.4g unit=events/s\n", median (rates, repeat));
  printf ("workload=monitor_ingest_wall impl=libmp value=%.4g unit=events/s\n", median (wall, repeat));
  printf ("workload=monitor_ingest_lost impl=libmp value=%.3f unit=fraction\n", median (lost, repeat));
  printf ("workload=monitor_ingest_emitted impl=libmp value=%.4g unit=events/s\n", median (emit, repeat));
  g_free (rates);
  g_free (wall);
  g_free (lost);
  g_free (emit);
}

int
main (int argc, char **argv)
{
  int repeat = 7;
  const char *workload = NULL;

  mp_init (&argc, &argv);

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--repeat") && i + 1 < argc)
        repeat = atoi (argv[++i]);
      else
        workload = argv[i];
    }
  if (workload == NULL || repeat < 1)
    {
      fprintf (stderr, "usage: mp-bench WORKLOAD [--repeat N]\n");
      return 2;
    }

  if (g_str_has_prefix (workload, "process_start_join_"))
    process_start_join (workload + strlen ("process_start_join_"), repeat);
  else if (g_str_equal (workload, "trace_overhead"))
    trace_overhead (repeat);
  else if (g_str_equal (workload, "monitor_ingest"))
    monitor_ingest (repeat);
  else
    {
      fprintf (stderr, "mp-bench: unknown workload %s\n", workload);
      return 2;
    }
  fflush (stdout);
  return 0;
}
