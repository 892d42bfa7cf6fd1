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

/* ---- queues: one producer process -> the parent consuming --------------------------------- */

#define QUEUE_ITEMS 200000

static GVariant *
queue_producer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) h = g_variant_get_variant (boxed);
  g_autoptr(MpQueue) q = mp_queue_deserialize (h, fds, error);
  g_autoptr(GVariant) item = NULL;
  gint32 n;

  if (q == NULL)
    return NULL;
  g_variant_get_child (args, 1, "i", &n);
  item = g_variant_get_child_value (args, 2);
  for (gint32 i = 0; i < n; i++)
    if (!mp_queue_put (q, g_variant_get_variant (item), MP_TIMEOUT_INFINITE, error))
      return NULL;
  return g_variant_new_int32 (0);
}

static GVariant *
joinable_worker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) h = g_variant_get_variant (boxed);
  g_autoptr(MpQueue) q = mp_queue_deserialize (h, fds, error);
  gint32 n;

  if (q == NULL)
    return NULL;
  g_variant_get_child (args, 1, "i", &n);
  for (gint32 i = 0; i < n; i++)
    {
      g_autoptr(GVariant) v = mp_queue_get (q, MP_TIMEOUT_INFINITE, error);
      if (v == NULL || !mp_queue_task_done (q, error))
        return NULL;
    }
  return g_variant_new_int32 (0);
}

static MpProcess *
start_queue_child (MpFunc func, MpQueue *q, gint32 n, GVariant *item)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  GVariant *handle = mp_queue_serialize (q, fds, NULL);
  g_autoptr(MpCallable) c =
    mp_callable_new_with_fds (func, g_variant_new ("(@viv)", g_variant_new_variant (handle), n,
                                                   item), fds);
  MpProcess *p = mp_process_new (c);

  (void) handle;
  if (!mp_process_start (p, NULL))
    exit (1);
  return p;
}

static void
queue_throughput (const char *name, GVariant *item, int repeat)
{
  double *v = g_new (double, repeat);

  g_variant_ref_sink (item);
  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
      g_autoptr(MpProcess) p = NULL;
      gint64 t0 = g_get_monotonic_time ();

      p = start_queue_child (queue_producer, q, QUEUE_ITEMS, item);
      for (int i = 0; i < QUEUE_ITEMS; i++)
        {
          g_autoptr(GError) error = NULL;
          GVariant *got = mp_queue_get (q, 30 * G_USEC_PER_SEC, &error);
          if (got == NULL)
            {
              fprintf (stderr, "mp-bench: %s\n", error->message);
              exit (1);
            }
          g_variant_unref (got);
        }
      v[r] = QUEUE_ITEMS / ((double) (g_get_monotonic_time () - t0) / 1e6);
      mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
    }
  printf ("workload=%s impl=libmp value=%.4g unit=items/s\n", name, median (v, repeat));
  g_variant_unref (item);
  g_free (v);
}

static void
joinable_queue (int repeat)
{
  double *v = g_new (double, repeat);

  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpQueue) q = mp_joinable_queue_new (0, NULL);
      g_autoptr(MpProcess) p = start_queue_child (joinable_worker, q, QUEUE_ITEMS,
                                                  g_variant_new_int32 (0));
      gint64 t0 = g_get_monotonic_time ();

      for (int i = 0; i < QUEUE_ITEMS; i++)
        mp_queue_put (q, g_variant_new_int32 (i), MP_TIMEOUT_INFINITE, NULL);
      if (!mp_queue_join (q, 30 * G_USEC_PER_SEC, NULL))
        {
          fprintf (stderr, "mp-bench: the joinable queue worker did not finish\n");
          exit (1);
        }
      v[r] = QUEUE_ITEMS / ((double) (g_get_monotonic_time () - t0) / 1e6);
      mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
    }
  printf ("workload=joinable_queue impl=libmp value=%.4g unit=items/s\n", median (v, repeat));
  g_free (v);
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
  else if (g_str_equal (workload, "queue_throughput_int"))
    queue_throughput (workload, g_variant_new_int32 (12345), repeat);
  else if (g_str_equal (workload, "queue_throughput_1k"))
    {
      static guint8 kib[1024];
      queue_throughput (workload, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, kib, 1024, 1),
                        repeat);
    }
  else if (g_str_equal (workload, "joinable_queue"))
    joinable_queue (repeat);
  else
    {
      fprintf (stderr, "mp-bench: unknown workload %s\n", workload);
      return 2;
    }
  fflush (stdout);
  return 0;
}
