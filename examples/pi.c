/* pi.c: estimating π with random darts, on a pool of worker processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Throw darts at random points of the unit square. The fraction that lands inside the quarter
 * circle x² + y² ≤ 1 tends to the circle's share of the square, π/4. Every dart is independent
 * of every other: the problem is "embarrassingly parallel". We cut the darts into tasks, let
 * each worker count the hits of its tasks, and add the counts up. That is all a pool does:
 *
 *     tasks ──► [ worker 1 ]──┐
 *           ──► [ worker 2 ]──┼──► results ──► sum
 *           ──► [ worker N ]──┘
 *
 * Things to try:
 *
 *     ./pi                          all CPUs, the default start method (fork)
 *     ./pi --processes 1            one worker: compare the time
 *     ./pi --start-method spawn     each worker is a fresh run of this program
 *     ./pi --threads                the same code on threads (a ThreadPool)
 *     ./pi --tasks 4                fewer, bigger tasks: what happens with 3 workers?
 *     LIBMP_SLOWMO=200 ./pi --tasks 16      slow motion, to follow it in mpviewer
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mp.h>

/* A tiny random generator (xorshift64*): fast, and — the important part for parallel work —
 * seeded per task. Tasks that shared one seed would all throw the same darts, and a hundred
 * workers would be no better than one. */
static inline guint64
next_random (guint64 *state)
{
  guint64 x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * G_GUINT64_CONSTANT (2685821657736338717);
}

/* The task. A pool task always has this signature: it receives a tuple of arguments — here the
 * callable's bound argument (darts per task, fixed for the whole run) followed by the item of
 * the map (this task's seed) — and returns a GVariant. It runs in a worker process, so it may
 * only use what it receives: no global state of the main program (under spawn, the worker does
 * not even share the main program's memory). */
static GVariant *
count_hits (GVariant *args, GUnixFDList *fds, GError **error)
{
  guint64 darts, seed, hits = 0;

  g_variant_get (args, "(tt)", &darts, &seed);
  seed = seed * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15) + 1;   /* never 0 */
  for (guint64 i = 0; i < darts; i++)
    {
      /* 53 random bits make a double in [0, 1) */
      double x = (double) (next_random (&seed) >> 11) / 9007199254740992.0;
      double y = (double) (next_random (&seed) >> 11) / 9007199254740992.0;

      if (x * x + y * y <= 1.0)
        hits++;
    }
  return g_variant_new_uint64 (hits);
}

/* A progress bar on the terminal (only when stderr is one). */
static void
show_progress (guint64 done, guint64 total)
{
  const int width = 40;
  int filled = total ? (int) (done * width / total) : width;

  if (!isatty (STDERR_FILENO))
    return;
  fprintf (stderr, "\r[%.*s%*s] %3d%%", filled, "########################################",
           width - filled, "", total ? (int) (done * 100 / total) : 100);
  if (done == total)
    fprintf (stderr, "\n");
  fflush (stderr);
}

int
main (int argc, char **argv)
{
  gint64 darts = 200000000, tasks = 64;
  int processes = MP_POOL_DEFAULT_PROCESSES;
  gboolean threads = FALSE;
  g_autofree char *method = NULL;
  GOptionEntry entries[] = {
    { "darts", 'n', 0, G_OPTION_ARG_INT64, &darts, "Darts to throw (200000000)", "N" },
    { "tasks", 't', 0, G_OPTION_ARG_INT64, &tasks, "Tasks to cut them into (64)", "N" },
    { "processes", 'p', 0, G_OPTION_ARG_INT, &processes, "Workers (default: one per CPU)", "N" },
    { "start-method", 's', 0, G_OPTION_ARG_STRING, &method, "fork, spawn or forkserver", "M" },
    { "threads", 0, 0, G_OPTION_ARG_NONE, &threads, "Use threads instead of processes", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- estimate π on a pool");
  g_autoptr(GError) error = NULL;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) task = NULL;
  g_autoptr(MpIMapIterator) results = NULL;
  g_autofree guint64 *seeds = NULL;
  MpPoolOptions pool_options = MP_POOL_OPTIONS_INIT;
  guint64 hits = 0, done = 0;
  gint64 t0;
  double seconds, estimate;
  GVariant *value;

  /* First thing in main(): a spawned worker is this very program started again; mp_init() is
   * where it turns into a worker instead of running main(). */
  mp_init (&argc, &argv);

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || darts < 1 || tasks < 1)
    {
      g_printerr ("pi: %s\n", error ? error->message : "--darts and --tasks must be positive");
      return 2;
    }

  pool_options.processes = processes;
  if (threads)
    pool = mp_thread_pool_new_full (&pool_options, &error);
  else
    {
      pool_options.context = mp_get_context (method, &error);
      if (pool_options.context != NULL)
        pool = mp_pool_new_full (&pool_options, &error);
    }
  if (pool == NULL)
    {
      g_printerr ("pi: %s\n", error->message);
      return 1;
    }

  /* One item per task: its seed. The number of darts per task is the same for all, so it is
   * bound into the callable (like functools.partial) rather than repeated in every item. */
  seeds = g_new (guint64, tasks);
  for (gint64 i = 0; i < tasks; i++)
    seeds[i] = (guint64) i + 1;
  task = mp_callable_new (count_hits, g_variant_new ("(t)", (guint64) (darts / tasks)));

  printf ("%" G_GINT64_FORMAT " darts in %" G_GINT64_FORMAT " tasks on %d %s\n",
          darts / tasks * tasks, tasks, mp_pool_get_processes (pool),
          threads ? "threads" : "worker processes");
  t0 = g_get_monotonic_time ();

  /* imap_unordered hands the results back as the tasks finish, whichever finishes first:
   * the order does not matter for a sum, and the progress bar moves as soon as anything is
   * done. */
  results = mp_pool_imap_unordered (pool, task,
                                    g_variant_new_fixed_array (G_VARIANT_TYPE_UINT64, seeds,
                                                               tasks, sizeof (guint64)),
                                    1, &error);
  while (mp_imap_iterator_next (results, &value, MP_TIMEOUT_INFINITE, &error))
    {
      hits += g_variant_get_uint64 (value);
      g_variant_unref (value);
      show_progress (++done, (guint64) tasks);
    }
  if (error != NULL)
    {
      g_printerr ("pi: a task failed: %s\n", error->message);
      return 1;
    }

  seconds = (double) (g_get_monotonic_time () - t0) / 1e6;
  estimate = 4.0 * (double) hits / (double) (darts / tasks * tasks);
  printf ("π ≈ %.8f (error %.2e) in %.2f s, %.0f million darts/s\n",
          estimate, estimate - G_PI, seconds, (double) darts / seconds / 1e6);

  /* close(): no more work; join(): wait for the workers to finish and exit. */
  mp_pool_close (pool);
  if (!mp_pool_join (pool, MP_TIMEOUT_INFINITE, &error))
    {
      g_printerr ("pi: %s\n", error->message);
      return 1;
    }
  return 0;
}
