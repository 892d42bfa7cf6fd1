/* test-barrier.c: MpBarrier (Python's multiprocessing.Barrier)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "sync-test-util.h"

#define HANDLE_TYPE "((uut)mv)"
#define PARTIES 5
#define CYCLES 1000
#define CYCLE_SLOTS 100    /* slot CYCLE_SLOTS + c: the indices of cycle c, as bits */

enum { ACTION_COUNT, ACTION_FAIL, ACTION_HANG };

/* The action: (shared fd, mode). Counts its runs in slot 1, or fails, or (ACTION_HANG, while
 * slot 5 is set) writes its pid to slot 4 and hangs. Runs in whichever process arrives last. */
static GVariant *
barrier_action (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 fd_index, mode;
  gint64 *shared;

  g_variant_get (args, "(hi)", &fd_index, &mode);
  if (mode == ACTION_FAIL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the action says no");
      return NULL;
    }
  shared = shared_map (fds, fd_index);
  if (shared == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot map the shared page");
      return NULL;
    }
  if (mode == ACTION_HANG && shared_get (shared, 5) != 0)
    {
      shared_set (shared, 4, getpid ());
      for (;;)
        pause ();
    }
  shared_add (shared, 1, 1);
  munmap (shared, SHARED_SLOTS * sizeof (gint64));
  return NULL;
}

static MpBarrier *
barrier_new (guint parties, Shared *shared, int mode, gint64 timeout)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) action = NULL;
  MpBarrier *barrier;

  if (shared != NULL)
    {
      assert_int_equal (g_unix_fd_list_append (fds, shared->fd, NULL), 0);
      action = mp_callable_new_with_fds (barrier_action, g_variant_new ("(hi)", 0, mode), fds);
    }
  barrier = mp_barrier_new (parties, action, timeout, NULL);
  assert_non_null (barrier);
  return barrier;
}

/* A handle for children started with fds_for_children(): the action's fd (the shared page
 * again) travels in the same list, after the shared page's own fd 0. */
typedef struct
{
  GVariant    *h;
  GUnixFDList *fds;
} Handle;

static Handle
handle_of (MpBarrier *barrier, Shared *shared)
{
  g_autoptr(GError) error = NULL;
  Handle handle = { NULL, g_unix_fd_list_new () };

  assert_int_equal (g_unix_fd_list_append (handle.fds, shared->fd, NULL), 0);
  handle.h = mp_barrier_serialize (barrier, handle.fds, &error);
  assert_non_null (handle.h);
  g_variant_ref_sink (handle.h);
  return handle;
}

static void
handle_clear (Handle *handle)
{
  g_clear_pointer (&handle->h, g_variant_unref);
  g_clear_object (&handle->fds);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Handle, handle_clear)

/* ---- children (no asserts: exit codes) ------------------------------------------------------- */

/* (handle, shared fd, cycles, has_action): waits `cycles` times; records each index as a bit of
 * its cycle's slot and checks that the action of the cycle ran before it was let go. */
static GVariant *
child_barrier_cycles (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpBarrier) barrier = NULL;
  gint32 fd_index, cycles;
  gboolean has_action;
  gint64 *shared;

  g_variant_get (args, "(@" HANDLE_TYPE "hib)", &h, &fd_index, &cycles, &has_action);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((barrier = mp_barrier_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_barrier_get_parties (barrier) >= 1, 4);
  for (int c = 0; c < cycles; c++)
    {
      g_autoptr(GError) e = NULL;
      gint index = mp_barrier_wait (barrier, WAIT_LONG, &e);

      CHILD_CHECK (index >= 0, 10);
      CHILD_CHECK ((guint) index < mp_barrier_get_parties (barrier), 11);
      shared_add (shared, CYCLE_SLOTS + c, (gint64) 1 << index);
      CHILD_CHECK (!has_action || shared_get (shared, 1) >= c + 1, 12);
    }
  return g_variant_new_int32 (0);
}

/* (handle, shared fd, timeout): counts itself in slot 2, waits and must be told the barrier
 * broke. Slot 3: µs waited. */
static GVariant *
child_barrier_broken (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpBarrier) barrier = NULL;
  g_autoptr(GError) e = NULL;
  gint32 fd_index;
  gint64 *shared, timeout, t0;
  gint index;

  g_variant_get (args, "(@" HANDLE_TYPE "hx)", &h, &fd_index, &timeout);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((barrier = mp_barrier_deserialize (h, fds, NULL)) != NULL, 3);
  shared_add (shared, 2, 1);
  t0 = g_get_monotonic_time ();
  index = mp_barrier_wait (barrier, timeout, &e);
  shared_set (shared, 3, g_get_monotonic_time () - t0);
  CHILD_CHECK (index == -1, 4);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_BROKEN_BARRIER), 5);
  return g_variant_new_int32 (0);
}

/* (handle): arrives once somebody waits, so that it is the last and runs the action. */
static GVariant *
child_barrier_last (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpBarrier) barrier = NULL;
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  g_variant_get (args, "(@" HANDLE_TYPE ")", &h);
  CHILD_CHECK ((barrier = mp_barrier_deserialize (h, fds, NULL)) != NULL, 3);
  while (mp_barrier_get_n_waiting (barrier) < 1)
    {
      CHILD_CHECK (g_get_monotonic_time () < deadline, 4);
      g_usleep (200);
    }
  (void) mp_barrier_wait (barrier, WAIT_LONG, NULL);
  return g_variant_new_int32 (0);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static gboolean
wait_n_waiting (MpBarrier *barrier, guint n)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  while (mp_barrier_get_n_waiting (barrier) < n)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (200);
    }
  return TRUE;
}

static MpProcess *
start_broken_child (Handle *h, gint64 timeout)
{
  return start_child_fds (child_barrier_broken,
                          g_variant_new ("(@" HANDLE_TYPE "hx)", h->h, 0, timeout), h->fds);
}

/* The barrier of `parties` goes through one whole cycle: parties − 1 children and us. */
static void
check_one_cycle (MpBarrier *barrier, Handle *h, Shared *shared, guint parties)
{
  MpProcess *p[PARTIES];
  g_autoptr(GError) error = NULL;
  gint index;

  memset (shared->v, 0, SHARED_SLOTS * sizeof (gint64));
  for (guint i = 0; i + 1 < parties; i++)
    p[i] = start_child_fds (child_barrier_cycles,
                            g_variant_new ("(@" HANDLE_TYPE "hib)", h->h, 0, 1, FALSE), h->fds);
  index = mp_barrier_wait (barrier, WAIT_LONG, &error);
  assert_null (error);
  assert_true (index >= 0 && (guint) index < parties);
  shared_add (shared->v, CYCLE_SLOTS, (gint64) 1 << index);
  for (guint i = 0; i + 1 < parties; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_int_equal (shared_get (shared->v, CYCLE_SLOTS), (1 << parties) - 1);
}

/* ---- single process ------------------------------------------------------------------------ */

static void
test_barrier_basic (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpBarrier) one = NULL;
  g_autoptr(MpBarrier) two = NULL;
  Shared shared = shared_new ();
  gint64 t0, dt;

  assert_null (mp_barrier_new (0, NULL, MP_TIMEOUT_INFINITE, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  /* One party: never waits; the action runs every time. */
  one = barrier_new (1, &shared, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  assert_int_equal (mp_barrier_get_parties (one), 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal (mp_barrier_wait (one, 0, &error), 0);
  assert_int_equal (shared_get (shared.v, 1), 3);

  /* The barrier's own timeout; running out breaks it. */
  two = barrier_new (2, NULL, ACTION_COUNT, 200 * 1000);
  assert_int_equal (mp_barrier_get_n_waiting (two), 0);
  assert_false (mp_barrier_get_broken (two));
  t0 = g_get_monotonic_time ();
  assert_int_equal (mp_barrier_wait (two, MP_BARRIER_DEFAULT_TIMEOUT, &error), -1);
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  g_clear_error (&error);
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);
  assert_true (mp_barrier_get_broken (two));
  assert_int_equal (mp_barrier_get_n_waiting (two), 0);
  t0 = g_get_monotonic_time ();
  assert_int_equal (mp_barrier_wait (two, WAIT_LONG, &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  g_clear_error (&error);
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  mp_barrier_reset (two);
  assert_false (mp_barrier_get_broken (two));

  /* abort() with nobody waiting breaks it too. */
  mp_barrier_abort (two);
  assert_true (mp_barrier_get_broken (two));
  assert_int_equal (mp_barrier_wait (two, 0, &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  mp_barrier_reset (two);
  assert_false (mp_barrier_get_broken (two));
  shared_free (&shared);
}

/* ---- across processes ---------------------------------------------------------------------- */

/* 5 processes × 1000 cycles: unique indices 0..4 in every cycle, the action once per cycle,
 * before anybody goes on. */
static void
test_barrier_cycles (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (PARTIES, &shared, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  MpSyncStats *st = stats_of (barrier);
  MpProcess *p[PARTIES];
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < PARTIES; i++)
    p[i] = start_child_fds (child_barrier_cycles,
                            g_variant_new ("(@" HANDLE_TYPE "hib)", h.h, 0, CYCLES, TRUE), h.fds);
  for (int i = 0; i < PARTIES; i++)
    assert_int_equal (join_child (p[i]), 0);
  print_message ("# %d processes x %d cycles: %.1f ms\n", PARTIES, CYCLES,
                 (g_get_monotonic_time () - t0) / 1000.0);

  assert_int_equal (shared_get (shared.v, 1), CYCLES);
  for (int c = 0; c < CYCLES; c++)
    assert_int_equal (shared_get (shared.v, CYCLE_SLOTS + c), (1 << PARTIES) - 1);
  assert_int_equal (stat_load (&st->acquisitions), PARTIES * CYCLES);
  assert_false (mp_barrier_get_broken (barrier));
  assert_int_equal (mp_barrier_get_n_waiting (barrier), 0);
  shared_free (&shared);
}

/* A party that runs out of time breaks the barrier for everybody; reset() re-arms it. */
static void
test_barrier_timeout (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (3, NULL, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  g_autoptr(GError) error = NULL;
  MpProcess *p;
  gint64 t0, dt;

  p = start_broken_child (&h, WAIT_LONG);
  assert_true (wait_n_waiting (barrier, 1));
  t0 = g_get_monotonic_time ();
  assert_int_equal (mp_barrier_wait (barrier, 200 * 1000, &error), -1);
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);
  assert_int_equal (join_child (p), 0);
  assert_true (mp_barrier_get_broken (barrier));
  assert_int_equal (mp_barrier_get_n_waiting (barrier), 0);

  mp_barrier_reset (barrier);
  assert_false (mp_barrier_get_broken (barrier));
  check_one_cycle (barrier, &h, &shared, 3);
  shared_free (&shared);
}

static void
test_barrier_abort (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (3, NULL, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  g_autoptr(GError) error = NULL;
  MpProcess *p[2];

  for (int i = 0; i < 2; i++)
    p[i] = start_broken_child (&h, WAIT_LONG);
  assert_true (wait_n_waiting (barrier, 2));
  mp_barrier_abort (barrier);
  for (int i = 0; i < 2; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_true (mp_barrier_get_broken (barrier));
  assert_int_equal (mp_barrier_wait (barrier, WAIT_LONG, &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  mp_barrier_reset (barrier);
  check_one_cycle (barrier, &h, &shared, 3);
  shared_free (&shared);
}

/* reset() while parties wait: they fail, and the barrier is usable at once. */
static void
test_barrier_reset_while_waiting (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (2, NULL, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  MpProcess *p;

  p = start_broken_child (&h, WAIT_LONG);
  assert_true (wait_n_waiting (barrier, 1));
  mp_barrier_reset (barrier);
  assert_int_equal (join_child (p), 0);
  assert_false (mp_barrier_get_broken (barrier));
  check_one_cycle (barrier, &h, &shared, 2);
  shared_free (&shared);
}

/* A failing action breaks the barrier: every party gets MP_ERROR_BROKEN_BARRIER, the one that
 * ran the action with its message. */
static void
test_barrier_failing_action (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (2, &shared, ACTION_FAIL, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  g_autoptr(GError) error = NULL;
  MpProcess *p;

  p = start_broken_child (&h, WAIT_LONG);
  assert_true (wait_n_waiting (barrier, 1));
  /* We arrive last: the action runs here. */
  assert_int_equal (mp_barrier_wait (barrier, WAIT_LONG, &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  assert_non_null (strstr (error->message, "the action says no"));
  assert_int_equal (join_child (p), 0);
  assert_true (mp_barrier_get_broken (barrier));
  shared_free (&shared);
}

/* A party that dies. Killed after it arrived, it still counts for its cycle; in the next it
 * never comes, and the others get out by their timeouts; after reset() the barrier works with
 * live parties. */
static void
test_barrier_party_died (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (3, NULL, ACTION_COUNT, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  g_autoptr(GError) error = NULL;
  MpProcess *victim, *other;
  gint64 t0, dt;
  gint index;

  victim = start_broken_child (&h, MP_TIMEOUT_INFINITE);
  assert_true (wait_n_waiting (barrier, 1));
  assert_true (mp_process_kill (victim, NULL));
  assert_int_equal (join_child (victim), -SIGKILL);

  /* Its arrival stands: the two others complete the cycle. */
  other = start_child_fds (child_barrier_cycles,
                           g_variant_new ("(@" HANDLE_TYPE "hib)", h.h, 0, 1, FALSE), h.fds);
  index = mp_barrier_wait (barrier, WAIT_LONG, &error);
  assert_null (error);
  assert_true (index >= 1 && index <= 2);
  assert_int_equal (join_child (other), 0);

  /* The next cycle it never reaches. */
  other = start_broken_child (&h, 500 * 1000);
  assert_true (wait_n_waiting (barrier, 1));
  t0 = g_get_monotonic_time ();
  assert_int_equal (mp_barrier_wait (barrier, 500 * 1000, &error), -1);
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  assert_true (dt <= 5 * G_USEC_PER_SEC);
  assert_int_equal (join_child (other), 0);
  assert_true (shared_get (shared.v, 3) <= 5 * G_USEC_PER_SEC);
  assert_true (mp_barrier_get_broken (barrier));

  mp_barrier_reset (barrier);
  check_one_cycle (barrier, &h, &shared, 3);
  shared_free (&shared);
}

/* Kills the process whose pid appears in slot 4. */
static gpointer
thread_kill_action_runner (gpointer data)
{
  gint64 *shared = data;
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  while (shared_get (shared, 4) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (200);
  if (shared_get (shared, 4) != 0)
    kill ((pid_t) shared_get (shared, 4), SIGKILL);
  return NULL;
}

/* The process running the action is killed, holding the barrier's own lock: the others are
 * not stuck behind it. */
static void
test_barrier_action_killed (void **state)
{
  Shared shared = shared_new ();
  g_autoptr(MpBarrier) barrier = barrier_new (2, &shared, ACTION_HANG, MP_TIMEOUT_INFINITE);
  g_auto(Handle) h = handle_of (barrier, &shared);
  g_autoptr(GError) error = NULL;
  MpProcess *last;
  GThread *killer;
  gint64 t0, dt;

  shared_set (shared.v, 5, 1);
  killer = g_thread_new ("killer", thread_kill_action_runner, shared.v);
  last = start_child_fds (child_barrier_last, g_variant_new ("(@" HANDLE_TYPE ")", h.h), h.fds);
  t0 = g_get_monotonic_time ();
  assert_int_equal (mp_barrier_wait (barrier, 500 * 1000, &error), -1);
  dt = g_get_monotonic_time () - t0;
  g_thread_join (killer);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER));
  assert_true (dt <= 10 * G_USEC_PER_SEC);
  assert_int_equal (join_child (last), -SIGKILL);
  assert_true (mp_barrier_get_broken (barrier));

  mp_barrier_reset (barrier);
  check_one_cycle (barrier, &h, &shared, 2);
  assert_int_equal (shared_get (shared.v, 1), 1);
  shared_free (&shared);
}

#define ACROSS(m) \
  FOR_METHOD (test_barrier_cycles, m), \
  FOR_METHOD (test_barrier_timeout, m), \
  FOR_METHOD (test_barrier_abort, m), \
  FOR_METHOD (test_barrier_reset_while_waiting, m), \
  FOR_METHOD (test_barrier_failing_action, m), \
  FOR_METHOD (test_barrier_party_died, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_barrier_basic),
    ACROSS (fork),
    ACROSS (spawn),
    FOR_METHOD (test_barrier_timeout, forkserver),
    FOR_METHOD (test_barrier_action_killed, fork),
    FOR_METHOD (test_barrier_action_killed, spawn),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("barrier", tests, NULL, NULL);
}
