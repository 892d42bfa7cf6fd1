/* producer-consumer.c: a bounded queue between fast and slow processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Two producers put jobs on a bounded "jobs" queue (maxsize 50); three consumers take them
 * off, spend about 5 ms on each, and finally put their totals on a "results" queue:
 *
 *   MainProcess
 *   ├── Producer-0 ─┐                 ┌─> Consumer-0 ─┐
 *   ├── Producer-1 ─┴─> jobs (≤ 50) ──┼─> Consumer-1 ─┼─> results ─> MainProcess
 *   │                                 └─> Consumer-2 ─┘
 *
 * The producers alternate: for one period (--period, default 1.5 s) they put 500 jobs/s each,
 * faster than the consumers' 600 jobs/s together; then for one period only 50/s each.
 *
 * What to look at in mpviewer (mpviewer -- ./producer-consumer):
 *   Queues: in a fast period the depth of "jobs" climbs to its maxsize of 50 and stays there:
 *   the queue is full, and puts block (the producers wait for room, "blocked puts" grows), so
 *   the put rate drops to the get rate. In a slow period the depth falls to 0 and the consumers
 *   wait instead. A bounded queue is back-pressure: the fast side is slowed down to the speed of
 *   the slow side instead of filling memory. Processes: the producers exit first; the main
 *   process then puts one "stop" job per consumer.
 *
 * Options: --seconds S (how long the producers run, default 6), --period S.
 * LIBMP_SLOWMO=MS (mpviewer's slow-motion setting) adds MS milliseconds to every job on both
 * sides.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mp.h>

#define N_PRODUCERS 2
#define N_CONSUMERS 3
#define MAXSIZE     50

static guint
slowmo_ms (void)
{
  const char *s = g_getenv ("LIBMP_SLOWMO");
  guint64 ms = 0;

  if (s != NULL && !g_ascii_string_to_unsigned (s, 10, 0, 60000, &ms, NULL))
    ms = 0;
  return (guint) ms;
}

static MpQueue *
queue_arg (GVariant *args, guint index, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = g_variant_get_child_value (args, index);
  return mp_queue_deserialize (h, fds, error);
}

/* Arguments: (jobs handle, producer index, seconds, period). */
static GVariant *
producer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) jobs = queue_arg (args, 0, fds, error);
  gint32 index, seq = 0;
  double seconds, period;
  gint64 start, end;
  guint extra_us = slowmo_ms () * 1000;

  if (jobs == NULL)
    return NULL;
  g_variant_get_child (args, 1, "i", &index);
  g_variant_get_child (args, 2, "d", &seconds);
  g_variant_get_child (args, 3, "d", &period);
  start = g_get_monotonic_time ();
  end = start + (gint64) (seconds * G_USEC_PER_SEC);
  for (gint64 now = start; now < end; now = g_get_monotonic_time ())
    {
      gboolean fast = ((gint64) ((now - start) / (period * G_USEC_PER_SEC)) % 2) == 0;

      if (!mp_queue_put (jobs, g_variant_new ("(ii)", index, seq++), MP_TIMEOUT_INFINITE, error))
        return NULL;
      g_usleep ((fast ? 2000 : 20000) + extra_us);
    }
  return g_variant_new_int32 (0);
}

/* Arguments: (jobs handle, results handle, consumer index). A job (-1, -1) means stop. */
static GVariant *
consumer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) jobs = queue_arg (args, 0, fds, error);
  g_autoptr(MpQueue) results = jobs ? queue_arg (args, 1, fds, error) : NULL;
  guint extra_us = slowmo_ms () * 1000;
  gint64 count = 0, sum = 0;
  gint32 index;

  if (results == NULL)
    return NULL;
  g_variant_get_child (args, 2, "i", &index);
  for (;;)
    {
      g_autoptr(GVariant) job = mp_queue_get (jobs, MP_TIMEOUT_INFINITE, error);
      gint32 p, seq;

      if (job == NULL)
        return NULL;
      g_variant_get (job, "(ii)", &p, &seq);
      if (p < 0)
        break;
      g_usleep (5000 + extra_us);   /* the work */
      count++;
      sum += seq;
    }
  if (!mp_queue_put (results, g_variant_new ("(ixx)", index, count, sum), MP_TIMEOUT_INFINITE,
                     error))
    return NULL;
  return g_variant_new_int32 (0);
}

static MpProcess *
start (const char *name, MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) target = mp_callable_new_with_fds (func, args, fds);
  g_autoptr(GError) error = NULL;
  MpProcess *p = mp_context_process_new (mp_get_context (NULL, NULL), target);

  mp_process_set_name (p, name);
  if (!mp_process_start (p, &error))
    g_error ("%s: %s", name, error->message);
  return p;
}

static void
join (MpProcess *p)
{
  g_autoptr(GError) error = NULL;
  int code = -1;

  if (!mp_process_join (p, MP_TIMEOUT_INFINITE, &error))
    g_error ("%s", error->message);
  (void) mp_process_get_exitcode (p, &code);
  if (code != 0)
    printf ("%s exited with code %d\n", mp_process_get_name (p), code);
  g_object_unref (p);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpQueue) jobs = NULL;
  g_autoptr(MpQueue) results = NULL;
  MpProcess *producers[N_PRODUCERS], *consumers[N_CONSUMERS];
  double seconds = 6.0, period = 1.5;
  gint64 total = 0;

  mp_init (&argc, &argv);

  for (int a = 1; a < argc; a++)
    {
      if (g_str_equal (argv[a], "--seconds") && a + 1 < argc)
        seconds = g_ascii_strtod (argv[++a], NULL);
      else if (g_str_equal (argv[a], "--period") && a + 1 < argc)
        period = g_ascii_strtod (argv[++a], NULL);
      else
        {
          fprintf (stderr, "usage: producer-consumer [--seconds S] [--period S]\n");
          return 2;
        }
    }
  if (seconds < 0 || period <= 0)
    return 2;

  jobs = mp_queue_new_full (MAXSIZE, 0, "jobs", &error);
  results = jobs ? mp_queue_new_full (0, 0, "results", &error) : NULL;
  if (results == NULL)
    g_error ("%s", error->message);

  for (int i = 0; i < N_CONSUMERS; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autofree char *name = g_strdup_printf ("Consumer-%d", i);
      GVariant *args[] = { mp_queue_serialize (jobs, fds, NULL),
                           mp_queue_serialize (results, fds, NULL), g_variant_new_int32 (i) };
      consumers[i] = start (name, consumer, g_variant_new_tuple (args, G_N_ELEMENTS (args)), fds);
    }
  for (int i = 0; i < N_PRODUCERS; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autofree char *name = g_strdup_printf ("Producer-%d", i);
      GVariant *args[] = { mp_queue_serialize (jobs, fds, NULL), g_variant_new_int32 (i),
                           g_variant_new_double (seconds), g_variant_new_double (period) };
      producers[i] = start (name, producer, g_variant_new_tuple (args, G_N_ELEMENTS (args)), fds);
    }
  printf ("%d producers, %d consumers, jobs queue of at most %d\n", N_PRODUCERS, N_CONSUMERS,
          MAXSIZE);
  fflush (stdout);

  for (int i = 0; i < N_PRODUCERS; i++)
    join (producers[i]);
  for (int i = 0; i < N_CONSUMERS; i++)
    if (!mp_queue_put (jobs, g_variant_new ("(ii)", -1, -1), MP_TIMEOUT_INFINITE, &error))
      g_error ("%s", error->message);
  for (int i = 0; i < N_CONSUMERS; i++)
    {
      g_autoptr(GVariant) r = mp_queue_get (results, 30 * G_USEC_PER_SEC, &error);
      gint32 index;
      gint64 count, sum;

      if (r == NULL)
        g_error ("%s", error->message);
      g_variant_get (r, "(ixx)", &index, &count, &sum);
      printf ("Consumer-%d did %" G_GINT64_FORMAT " jobs\n", index, count);
      total += count;
    }
  for (int i = 0; i < N_CONSUMERS; i++)
    join (consumers[i]);
  printf ("%" G_GINT64_FORMAT " jobs done\n", total);
  return 0;
}
