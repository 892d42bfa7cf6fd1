/* test-condition.c: MpCondition (Python's multiprocessing.Condition)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "sync-test-util.h"

/* The condition's semaphores, as mp-condition.c lays them out in MpSyncStats.aux2. */
static uint32_t
cond_sleeping (MpCondition *cond)
{
  return __atomic_load_n (&((uint32_t *) (void *) stats_of (cond)->aux2)[0], __ATOMIC_SEQ_CST);
}

static uint32_t
cond_wait_tokens (MpCondition *cond)
{
  return __atomic_load_n (&((uint32_t *) (void *) stats_of (cond)->aux2)[4], __ATOMIC_SEQ_CST);
}

static gboolean
pred_slot7 (gpointer data)
{
  return shared_get (data, 7) >= 1;
}

static gboolean
pred_false (gpointer data)
{
  return FALSE;
}

static gboolean
pred_true (gpointer data)
{
  return TRUE;
}

/* ---- children (no asserts: exit codes) ------------------------------------------------------- */

/* (handle, shared fd): takes the lock, counts itself in slot 1, waits; a notified waiter counts
 * itself in slot 0 (with the lock held again). Exit 0 when notified. */
static GVariant *
child_cond_waiter (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpCondition) cond = NULL;
  g_autoptr(GError) e = NULL;
  gint32 fd_index;
  gint64 *shared;
  gboolean notified;

  g_variant_get (args, "(@((uut)(uut))h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((cond = mp_condition_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_condition_acquire (cond, WAIT_LONG, NULL), 4);
  shared_add (shared, 1, 1);
  /* No timeout: the parent's join is bounded, and kills us if nobody notifies. */
  notified = mp_condition_wait (cond, MP_TIMEOUT_INFINITE, &e);
  if (notified)
    shared_add (shared, 0, 1);
  /* Held again, notified or not. */
  CHILD_CHECK (mp_condition_release (cond, NULL), 5);
  return g_variant_new_int32 (notified ? 0 : 1);
}

/* (handle, shared fd): wait_for (slot 7 >= 1). */
static GVariant *
child_cond_wait_for (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpCondition) cond = NULL;
  gint32 fd_index;
  gint64 *shared;
  gboolean result;

  g_variant_get (args, "(@((uut)(uut))h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((cond = mp_condition_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_condition_acquire (cond, WAIT_LONG, NULL), 4);
  shared_add (shared, 1, 1);
  result = mp_condition_wait_for (cond, pred_slot7, shared, WAIT_LONG, NULL);
  CHILD_CHECK (mp_condition_release (cond, NULL), 5);
  return g_variant_new_int32 (result ? 0 : 1);
}

/* (handle, shared fd): misuse and timeouts; µs of a 200 ms wait to slot 0. */
static GVariant *
child_cond_timeouts (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpCondition) cond = NULL;
  g_autoptr(GError) e = NULL;
  gint32 fd_index;
  gint64 *shared, t0;

  g_variant_get (args, "(@((uut)(uut))h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((cond = mp_condition_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (!mp_condition_wait (cond, 0, &e), 4);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_INVALID_ARGUMENT), 5);
  g_clear_error (&e);
  CHILD_CHECK (!mp_condition_notify (cond, 1, &e), 6);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_INVALID_ARGUMENT), 7);
  g_clear_error (&e);
  CHILD_CHECK (!mp_condition_notify_all (cond, &e), 8);
  g_clear_error (&e);

  CHILD_CHECK (mp_condition_acquire (cond, WAIT_LONG, NULL), 9);
  t0 = g_get_monotonic_time ();
  CHILD_CHECK (!mp_condition_wait (cond, 200 * 1000, &e), 10);
  shared_set (shared, 0, g_get_monotonic_time () - t0);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 11);
  g_clear_error (&e);
  CHILD_CHECK (!mp_condition_wait_for (cond, pred_false, NULL, 50 * 1000, &e) && e == NULL, 12);
  CHILD_CHECK (mp_condition_notify (cond, 1, NULL), 13);
  CHILD_CHECK (mp_condition_release (cond, NULL), 14);
  return g_variant_new_int32 (0);
}

/* ---- single process ------------------------------------------------------------------------ */

static void
test_condition_basic (void **state)
{
  g_autoptr(MpCondition) cond = mp_condition_new (NULL, NULL);
  g_autoptr(MpRLock) rlock = mp_rlock_new (NULL);
  g_autoptr(MpCondition) on_rlock = mp_condition_new (rlock, NULL);
  g_autoptr(GError) error = NULL;
  gint64 t0, dt;

  /* Without the lock: errors. */
  assert_false (mp_condition_wait (cond, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_condition_wait_for (cond, pred_true, NULL, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_condition_notify (cond, 1, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_condition_notify_all (cond, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_condition_release (cond, &error));
  g_clear_error (&error);

  /* The default lock is an RLock: wait releases every level and restores them. */
  assert_true (mp_condition_acquire (cond, 0, NULL));
  assert_true (mp_condition_acquire (cond, 0, NULL));
  t0 = g_get_monotonic_time ();
  assert_false (mp_condition_wait (cond, 200 * 1000, &error));
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);
  assert_true (mp_condition_wait_for (cond, pred_true, NULL, 0, &error));
  t0 = g_get_monotonic_time ();
  assert_false (mp_condition_wait_for (cond, pred_false, NULL, 200 * 1000, &error));
  dt = g_get_monotonic_time () - t0;
  assert_null (error);
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);
  assert_true (mp_condition_notify (cond, 1, &error));
  assert_true (mp_condition_notify_all (cond, &error));
  assert_true (mp_condition_release (cond, NULL));
  assert_true (mp_condition_release (cond, NULL));
  assert_false (mp_condition_release (cond, NULL));

  /* Over a given RLock: the same lock. */
  assert_true (mp_rlock_acquire (rlock, 0, NULL));
  assert_true (mp_condition_notify (on_rlock, 1, &error));
  assert_false (mp_condition_wait (on_rlock, 1000, &error));
  g_clear_error (&error);
  assert_int_equal (mp_rlock_get_count (rlock), 1);
  assert_true (mp_condition_release (on_rlock, NULL));
  assert_false (mp_rlock_locked (rlock));
}

static void
test_condition_with_lock (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(MpCondition) cond = mp_condition_new_with_lock (lock, NULL);
  g_autoptr(GError) error = NULL;

  assert_false (mp_condition_notify (cond, 1, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_true (mp_condition_acquire (cond, 0, NULL));
  assert_true (mp_lock_locked (lock));
  assert_false (mp_condition_wait (cond, 20 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_true (mp_lock_locked (lock));
  assert_true (mp_condition_notify_all (cond, &error));
  assert_true (mp_condition_release (cond, NULL));
  assert_false (mp_lock_locked (lock));
}

/* ---- across processes ---------------------------------------------------------------------- */

#define M 4

/* Once the m waiters counted themselves and we hold the lock, they are all inside wait(): each
 * counts itself with the lock held and keeps it until wait() releases it. */
static void
acquire_when_all_wait (MpCondition *cond, gint64 *shared, int m)
{
  assert_true (shared_wait_at_least (shared, 1, m, WAIT_LONG));
  assert_true (mp_condition_acquire (cond, WAIT_LONG, NULL));
}

static void
check_notify_n (MpCondition *cond)
{
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_condition_serialize (cond, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *p[M];

  for (int i = 0; i < M; i++)
    p[i] = start_child (child_cond_waiter, g_variant_new ("(@((uut)(uut))h)", h, 0), &shared);
  acquire_when_all_wait (cond, shared.v, M);
  assert_int_equal (cond_sleeping (cond), M);

  /* notify(2) returns once exactly two took their wake-up. */
  assert_true (mp_condition_notify (cond, 2, NULL));
  assert_int_equal (cond_sleeping (cond), M - 2);
  assert_int_equal (cond_wait_tokens (cond), 0);
  assert_true (mp_condition_release (cond, NULL));
  assert_true (shared_wait_at_least (shared.v, 0, 2, WAIT_LONG));
  assert_true (mp_condition_acquire (cond, WAIT_LONG, NULL));
  assert_int_equal (shared_get (shared.v, 0), 2);
  assert_int_equal (cond_sleeping (cond), M - 2);

  /* notify(1): one more. */
  assert_true (mp_condition_notify (cond, 1, NULL));
  assert_true (mp_condition_release (cond, NULL));
  assert_true (shared_wait_at_least (shared.v, 0, 3, WAIT_LONG));
  assert_true (mp_condition_acquire (cond, WAIT_LONG, NULL));
  assert_int_equal (shared_get (shared.v, 0), 3);
  assert_int_equal (cond_sleeping (cond), M - 3);

  /* notify_all: the rest. */
  assert_true (mp_condition_notify_all (cond, NULL));
  assert_int_equal (cond_sleeping (cond), 0);
  assert_true (mp_condition_release (cond, NULL));
  for (int i = 0; i < M; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_int_equal (shared_get (shared.v, 0), M);
  shared_free (&shared);
}

static void
test_condition_notify_n (void **state)
{
  g_autoptr(MpCondition) cond = mp_condition_new (NULL, NULL);

  check_notify_n (cond);
}

static void
test_condition_notify_n_with_lock (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(MpCondition) cond = mp_condition_new_with_lock (lock, NULL);

  check_notify_n (cond);
}

static void
test_condition_wait_for_across (void **state)
{
  g_autoptr(MpCondition) cond = mp_condition_new (NULL, NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_condition_serialize (cond, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *p;

  p = start_child (child_cond_wait_for, g_variant_new ("(@((uut)(uut))h)", h, 0), &shared);
  acquire_when_all_wait (cond, shared.v, 1);
  /* A notification while the predicate is false: the waiter waits on. */
  assert_true (mp_condition_notify (cond, 1, NULL));
  assert_true (mp_condition_release (cond, NULL));
  assert_true (mp_condition_acquire (cond, WAIT_LONG, NULL));
  shared_set (shared.v, 7, 1);
  assert_true (mp_condition_notify_all (cond, NULL));
  assert_true (mp_condition_release (cond, NULL));
  assert_int_equal (join_child (p), 0);
  shared_free (&shared);
}

static void
test_condition_timeouts_across (void **state)
{
  g_autoptr(MpCondition) cond = mp_condition_new (NULL, NULL);
  Shared shared = shared_new ();
  MpProcess *p;

  p = start_child (child_cond_timeouts,
                   g_variant_new ("(@((uut)(uut))h)", mp_condition_serialize (cond, NULL, NULL), 0),
                   &shared);
  assert_int_equal (join_child (p), 0);
  assert_true (shared.v[0] >= 150 * 1000 && shared.v[0] <= 5 * G_USEC_PER_SEC);
  shared_free (&shared);
}

/* A waiter killed inside wait(): notify_all() does not wait for it forever, and the live
 * waiter is woken. */
static void
test_condition_waiter_killed (void **state)
{
  g_autoptr(MpCondition) cond = mp_condition_new (NULL, NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_condition_serialize (cond, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *victim, *live, *late;
  gint64 t0;

  victim = start_child (child_cond_waiter, g_variant_new ("(@((uut)(uut))h)", h, 0), &shared);
  live = start_child (child_cond_waiter, g_variant_new ("(@((uut)(uut))h)", h, 0), &shared);
  acquire_when_all_wait (cond, shared.v, 2);
  assert_true (mp_process_kill (victim, NULL));
  assert_int_equal (join_child (victim), -SIGKILL);

  t0 = g_get_monotonic_time ();
  assert_true (mp_condition_notify_all (cond, NULL));
  assert_true (g_get_monotonic_time () - t0 < 15 * G_USEC_PER_SEC);
  assert_int_equal (cond_wait_tokens (cond), 0);
  assert_true (mp_condition_release (cond, NULL));
  assert_int_equal (join_child (live), 0);

  /* The dead waiter is forgotten: the next notify with one waiter is quick. */
  late = start_child (child_cond_waiter, g_variant_new ("(@((uut)(uut))h)", h, 0), &shared);
  acquire_when_all_wait (cond, shared.v, 3);
  t0 = g_get_monotonic_time ();
  assert_true (mp_condition_notify (cond, 1, NULL));
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  assert_true (mp_condition_release (cond, NULL));
  assert_int_equal (join_child (late), 0);
  assert_int_equal (shared_get (shared.v, 0), 2);
  shared_free (&shared);
}

#define ACROSS(m) \
  FOR_METHOD (test_condition_notify_n, m), \
  FOR_METHOD (test_condition_notify_n_with_lock, m), \
  FOR_METHOD (test_condition_wait_for_across, m), \
  FOR_METHOD (test_condition_timeouts_across, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_condition_basic),
    cmocka_unit_test (test_condition_with_lock),
    ACROSS (fork),
    ACROSS (spawn),
    FOR_METHOD (test_condition_notify_n, forkserver),
    FOR_METHOD (test_condition_waiter_killed, fork),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("condition", tests, NULL, NULL);
}
