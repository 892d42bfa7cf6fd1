/* dining-philosophers.c: five processes, five locks, and a deadlock to find
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Five philosophers sit at a round table with one fork between each pair of neighbours. To
 * eat, a philosopher needs both forks next to them. Each philosopher is a process; each fork
 * is an MpLock ("fork-0" … "fork-4").
 *
 *   phase 1, polite (--polite-seconds, default 3): a hungry philosopher picks up the
 *     lower-numbered of their two forks first. Every philosopher takes the forks in the same
 *     global order, so no cycle of waiting can form: there is contention, but no deadlock.
 *   phase 2, naive (skipped with --no-deadlock): everybody picks up the LEFT fork, waits at a
 *     barrier until all five hold one, then reaches for the RIGHT fork, which the neighbour
 *     holds. Philosopher i waits for i+1, …, philosopher 4 waits for 0: a cycle, a deadlock.
 *     The right fork is requested with a timeout (--deadlock-seconds, default 4). When it
 *     expires, a philosopher gives up, puts the left fork down and exits with code 2
 *     ("starved"); that fork lets the neighbour who waited for it eat after all.
 *
 * Each philosopher reports every meal on the "meals" queue; the main process reads it and
 * prints a line per second. The state of the table (T thinking, H hungry, E eating, S starved)
 * lives in a shared-memory segment that every philosopher writes and the main process prints.
 *
 * What to look at in mpviewer (mpviewer -- ./dining-philosophers):
 *   Locks: contended % rises on the forks in phase 1; in phase 2 the wait-for graph shows
 *   philosopher → fork → philosopher edges closing into a cycle, drawn in red, and the alert
 *   names the processes and locks involved. Queues: the meals queue. Shared memory: the table.
 *   Processes: the philosophers who gave up end with exit code 2.
 *
 * LIBMP_SLOWMO=MS (set by mpviewer's slow-motion setting) adds MS milliseconds to every meal
 * and every thought, so a class can follow who holds which fork.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mp.h>

#define N_PHILOSOPHERS 5
#define TABLE_SIZE     64

/* The shared "table": a state letter per philosopher, then their meal counts. */
typedef struct
{
  char    state[N_PHILOSOPHERS];
  char    pad[3];
  guint32 meals[N_PHILOSOPHERS];
} Table;

G_STATIC_ASSERT (sizeof (Table) <= TABLE_SIZE);

static guint
slowmo_ms (void)
{
  const char *s = g_getenv ("LIBMP_SLOWMO");
  guint64 ms = 0;

  if (s != NULL && !g_ascii_string_to_unsigned (s, 10, 0, 60000, &ms, NULL))
    ms = 0;
  return (guint) ms;
}

static void
pause_ms (guint lo, guint hi)
{
  g_usleep (1000 * (g_random_int_range (lo, hi + 1) + slowmo_ms ()));
}

static void
set_state (Table *table, int i, char state)
{
  __atomic_store_n (&table->state[i], state, __ATOMIC_RELAXED);
}

typedef struct
{
  int             index;
  gint64          polite_us;
  gint64          deadlock_us;
  gboolean        naive;
  MpLock         *forks[N_PHILOSOPHERS];
  MpSharedMemory *shm;
  MpQueue        *meals;
  MpBarrier      *barrier;
} Seat;

static void
seat_clear (Seat *seat)
{
  for (int k = 0; k < N_PHILOSOPHERS; k++)
    g_clear_pointer (&seat->forks[k], mp_lock_unref);
  g_clear_pointer (&seat->shm, mp_shared_memory_unref);
  g_clear_pointer (&seat->meals, mp_queue_unref);
  g_clear_pointer (&seat->barrier, mp_barrier_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Seat, seat_clear)

/* Returns the exit code: 0 after a meal plan, 2 when starved in the deadlock, -1 on error. */
static int
dine (Seat *seat, GError **error)
{
  Table *table = mp_shared_memory_get_buf (seat->shm, NULL);
  int i = seat->index;
  int left = i, right = (i + 1) % N_PHILOSOPHERS;
  /* Resource ordering: everybody takes the lower-numbered fork first. */
  MpLock *first = seat->forks[MIN (left, right)];
  MpLock *second = seat->forks[MAX (left, right)];
  gint64 until = g_get_monotonic_time () + seat->polite_us;

  while (g_get_monotonic_time () < until)
    {
      guint32 n;

      set_state (table, i, 'T');
      pause_ms (20, 80);
      set_state (table, i, 'H');
      if (!mp_lock_acquire (first, MP_TIMEOUT_INFINITE, error) ||
          !mp_lock_acquire (second, MP_TIMEOUT_INFINITE, error))
        return -1;
      set_state (table, i, 'E');
      pause_ms (30, 60);
      n = __atomic_add_fetch (&table->meals[i], 1, __ATOMIC_RELAXED);
      if (!mp_lock_release (second, error) || !mp_lock_release (first, error))
        return -1;
      if (!mp_queue_put (seat->meals, g_variant_new ("(iu)", i, n), MP_TIMEOUT_INFINITE, error))
        return -1;
    }
  set_state (table, i, 'T');
  if (!seat->naive)
    return 0;

  /* The naive protocol: left fork, then right fork. The barrier makes sure all five hold their
   * left fork before anybody reaches for the right one, so the deadlock happens every time
   * instead of once in a while. A first round of the barrier lets everybody finish the polite
   * phase: a philosopher still eating politely may need a fork a neighbour would now keep. */
  if (mp_barrier_wait (seat->barrier, 10 * G_USEC_PER_SEC, error) < 0)
    return -1;
  set_state (table, i, 'H');
  if (!mp_lock_acquire (seat->forks[left], MP_TIMEOUT_INFINITE, error))
    return -1;
  if (mp_barrier_wait (seat->barrier, 10 * G_USEC_PER_SEC, error) < 0)
    return -1;
  if (mp_lock_acquire (seat->forks[right], seat->deadlock_us, NULL))
    {
      /* A neighbour gave up first and put this fork down: eat after all. */
      set_state (table, i, 'E');
      pause_ms (30, 60);
      __atomic_add_fetch (&table->meals[i], 1, __ATOMIC_RELAXED);
      set_state (table, i, 'T');
      return mp_lock_release (seat->forks[right], error) &&
             mp_lock_release (seat->forks[left], error) ? 0 : -1;
    }
  set_state (table, i, 'S');
  return mp_lock_release (seat->forks[left], error) ? 2 : -1;
}

/* Arguments: (index, polite_us, deadlock_us, naive, fork handles ×5, table, meals, barrier). */
static GVariant *
philosopher (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_auto(Seat) seat = { 0 };
  int code;

  g_variant_get_child (args, 0, "i", &seat.index);
  g_variant_get_child (args, 1, "x", &seat.polite_us);
  g_variant_get_child (args, 2, "x", &seat.deadlock_us);
  g_variant_get_child (args, 3, "b", &seat.naive);
  for (int k = 0; k < N_PHILOSOPHERS + 3; k++)
    {
      g_autoptr(GVariant) h = g_variant_get_child_value (args, 4 + k);
      gboolean ok;

      if (k < N_PHILOSOPHERS)
        ok = (seat.forks[k] = mp_lock_deserialize (h, fds, error)) != NULL;
      else if (k == N_PHILOSOPHERS)
        ok = (seat.shm = mp_shared_memory_deserialize (h, fds, error)) != NULL;
      else if (k == N_PHILOSOPHERS + 1)
        ok = (seat.meals = mp_queue_deserialize (h, fds, error)) != NULL;
      else
        ok = (seat.barrier = mp_barrier_deserialize (h, fds, error)) != NULL;
      if (!ok)
        return NULL;
    }
  code = dine (&seat, error);
  return code < 0 ? NULL : g_variant_new_int32 (code);
}

static void
print_table (const Table *table)
{
  printf ("table:");
  for (int i = 0; i < N_PHILOSOPHERS; i++)
    printf ("  P%d %c %3u", i, __atomic_load_n (&table->state[i], __ATOMIC_RELAXED),
            __atomic_load_n (&table->meals[i], __ATOMIC_RELAXED));
  printf ("\n");
  fflush (stdout);
}

static int
usage (void)
{
  fprintf (stderr, "usage: dining-philosophers [--polite-seconds S] [--deadlock-seconds S] "
                   "[--no-deadlock]\n");
  return 2;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) shm = NULL;
  g_autoptr(MpQueue) meals = NULL;
  g_autoptr(MpBarrier) barrier = NULL;
  g_autofree char *shm_name = NULL;
  MpLock *forks[N_PHILOSOPHERS];
  MpProcess *philosophers[N_PHILOSOPHERS];
  double polite = 3.0, deadlock = 4.0;
  gboolean naive = TRUE;
  int n_starved = 0, total_meals = 0;
  gint64 next_print;
  Table *table;

  mp_init (&argc, &argv);

  for (int a = 1; a < argc; a++)
    {
      if (g_str_equal (argv[a], "--polite-seconds") && a + 1 < argc)
        polite = g_ascii_strtod (argv[++a], NULL);
      else if (g_str_equal (argv[a], "--deadlock-seconds") && a + 1 < argc)
        deadlock = g_ascii_strtod (argv[++a], NULL);
      else if (g_str_equal (argv[a], "--no-deadlock"))
        naive = FALSE;
      else
        return usage ();
    }
  if (polite < 0 || deadlock <= 0)
    return usage ();

  for (int k = 0; k < N_PHILOSOPHERS; k++)
    {
      g_autofree char *label = g_strdup_printf ("fork-%d", k);
      if ((forks[k] = mp_lock_new_labeled (label, &error)) == NULL)
        g_error ("%s", error->message);
    }
  shm_name = g_strdup_printf ("mp-dining-table-%d", (int) getpid ());
  meals = mp_queue_new_full (0, 0, "meals", &error);
  barrier = meals ? mp_barrier_new (N_PHILOSOPHERS, NULL, MP_TIMEOUT_INFINITE, &error) : NULL;
  shm = barrier ? mp_shared_memory_new (shm_name, TRUE, TABLE_SIZE, &error) : NULL;
  if (shm == NULL)
    g_error ("%s", error->message);
  table = mp_shared_memory_get_buf (shm, NULL);
  memset (table, 'T', N_PHILOSOPHERS);

  printf ("%d philosophers: polite for %.1f s%s\n", N_PHILOSOPHERS, polite,
          naive ? ", then everybody takes the left fork first (deadlock)" : "");
  fflush (stdout);

  for (int i = 0; i < N_PHILOSOPHERS; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) target = NULL;
      g_autofree char *name = g_strdup_printf ("Philosopher-%d", i);
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE_TUPLE);
      g_variant_builder_add (&b, "i", i);
      g_variant_builder_add (&b, "x", (gint64) (polite * G_USEC_PER_SEC));
      g_variant_builder_add (&b, "x", (gint64) (deadlock * G_USEC_PER_SEC));
      g_variant_builder_add (&b, "b", naive);
      for (int k = 0; k < N_PHILOSOPHERS; k++)
        g_variant_builder_add_value (&b, mp_lock_serialize (forks[k], fds, &error));
      g_variant_builder_add_value (&b, mp_shared_memory_serialize (shm, fds, &error));
      g_variant_builder_add_value (&b, mp_queue_serialize (meals, fds, &error));
      g_variant_builder_add_value (&b, mp_barrier_serialize (barrier, fds, &error));
      target = mp_callable_new_with_fds (philosopher, g_variant_builder_end (&b), fds);
      philosophers[i] = mp_context_process_new (mp_get_context (NULL, NULL), target);
      mp_process_set_name (philosophers[i], name);
      if (!mp_process_start (philosophers[i], &error))
        g_error ("%s", error->message);
    }

  /* Read meal reports until every philosopher has left the table. */
  next_print = g_get_monotonic_time () + G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(GVariant) meal = mp_queue_get (meals, 100 * 1000, NULL);
      gboolean any_alive = FALSE;

      if (meal != NULL)
        total_meals++;
      if (g_get_monotonic_time () >= next_print)
        {
          print_table (table);
          next_print += G_USEC_PER_SEC;
        }
      for (int i = 0; i < N_PHILOSOPHERS; i++)
        any_alive |= mp_process_is_alive (philosophers[i]);
      if (!any_alive && meal == NULL)
        break;
    }

  for (int i = 0; i < N_PHILOSOPHERS; i++)
    {
      int code = -1;

      if (!mp_process_join (philosophers[i], MP_TIMEOUT_INFINITE, &error))
        g_error ("%s", error->message);
      (void) mp_process_get_exitcode (philosophers[i], &code);
      if (code == 2)
        n_starved++;
      else if (code != 0)
        printf ("%s exited with code %d\n", mp_process_get_name (philosophers[i]), code);
      g_object_unref (philosophers[i]);
    }
  print_table (table);
  printf ("%d meals; %d philosophers starved%s\n", total_meals, n_starved,
          n_starved ? " in the deadlock (each held one fork and waited for the next one)" : "");

  (void) mp_shared_memory_unlink (shm, NULL);
  for (int k = 0; k < N_PHILOSOPHERS; k++)
    mp_lock_unref (forks[k]);
  return 0;
}
