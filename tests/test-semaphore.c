/* test-semaphore.c: MpSemaphore (Python's multiprocessing.Semaphore and BoundedSemaphore)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "sync-test-util.h"

/* ---- children (no asserts: exit codes) ------------------------------------------------------- */

/* (handle, shared fd): the semaphore is at 0: try, time out (µs to slot 0). */
static GVariant *
child_sem_timeouts (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpSemaphore) sem = NULL;
  g_autoptr(GError) e = NULL;
  gint32 fd_index;
  gint64 *shared, t0;

  g_variant_get (args, "(@(uut)h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((sem = mp_semaphore_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_semaphore_get_value (sem) == 0 && mp_semaphore_locked (sem), 4);
  CHILD_CHECK (!mp_semaphore_acquire (sem, 0, &e), 5);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 6);
  g_clear_error (&e);
  CHILD_CHECK (!mp_semaphore_acquire (sem, -1000, &e), 7);
  g_clear_error (&e);
  t0 = g_get_monotonic_time ();
  CHILD_CHECK (!mp_semaphore_acquire (sem, 200 * 1000, &e), 8);
  shared_set (shared, 0, g_get_monotonic_time () - t0);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 9);
  return g_variant_new_int32 (0);
}

/* (handle, shared fd): counts itself in slot 1, blocks in acquire, counts the success in
 * slot 0. */
static GVariant *
child_sem_acquire (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpSemaphore) sem = NULL;
  gint32 fd_index;
  gint64 *shared;

  g_variant_get (args, "(@(uut)h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((sem = mp_semaphore_deserialize (h, fds, NULL)) != NULL, 3);
  shared_add (shared, 1, 1);
  CHILD_CHECK (mp_semaphore_acquire (sem, MP_TIMEOUT_INFINITE, NULL), 4);
  shared_add (shared, 0, 1);
  return g_variant_new_int32 (0);
}

/* (handle, n): releases n times. */
static GVariant *
child_sem_release (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpSemaphore) sem = NULL;
  gint32 n;

  g_variant_get (args, "(@(uut)i)", &h, &n);
  CHILD_CHECK ((sem = mp_semaphore_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (!mp_semaphore_is_bounded (sem), 4);
  for (int i = 0; i < n; i++)
    CHILD_CHECK (mp_semaphore_release (sem, NULL), 5);
  return g_variant_new_int32 (0);
}

/* (handle): a BoundedSemaphore(2) at 1: one release fits, the next is an error. */
static GVariant *
child_bounded_release (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpSemaphore) sem = NULL;
  g_autoptr(GError) e = NULL;

  g_variant_get (args, "(@(uut))", &h);
  CHILD_CHECK ((sem = mp_semaphore_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_semaphore_is_bounded (sem), 4);
  CHILD_CHECK (mp_semaphore_get_value (sem) == 1, 5);
  CHILD_CHECK (mp_semaphore_release (sem, &e), 6);
  CHILD_CHECK (!mp_semaphore_release (sem, &e), 7);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_INVALID_ARGUMENT), 8);
  CHILD_CHECK (mp_semaphore_get_value (sem) == 2, 9);
  return g_variant_new_int32 (0);
}

/* ---- single process ------------------------------------------------------------------------ */

static void
test_semaphore_basic (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_semaphore_new (2, NULL);
  g_autoptr(GError) error = NULL;
  gint64 t0, dt;

  assert_non_null (sem);
  assert_false (mp_semaphore_is_bounded (sem));
  assert_int_equal (mp_semaphore_get_value (sem), 2);
  assert_false (mp_semaphore_locked (sem));
  assert_true (mp_semaphore_acquire (sem, 0, &error));
  assert_true (mp_semaphore_acquire (sem, MP_TIMEOUT_INFINITE, &error));
  assert_int_equal (mp_semaphore_get_value (sem), 0);
  assert_true (mp_semaphore_locked (sem));
  assert_false (mp_semaphore_acquire (sem, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  t0 = g_get_monotonic_time ();
  assert_false (mp_semaphore_acquire (sem, 200 * 1000, &error));
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);

  /* An unbounded semaphore may go above its initial value. */
  for (int i = 0; i < 5; i++)
    assert_true (mp_semaphore_release (sem, &error));
  assert_int_equal (mp_semaphore_get_value (sem), 5);
  assert_true (mp_semaphore_get_id (sem) > 0);
}

static void
test_bounded_basic (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_bounded_semaphore_new (2, NULL);
  g_autoptr(MpSemaphore) zero = mp_bounded_semaphore_new (0, NULL);
  g_autoptr(GError) error = NULL;

  assert_true (mp_semaphore_is_bounded (sem));
  assert_false (mp_semaphore_release (sem, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_string_equal (error->message, "semaphore or lock released too many times");
  g_clear_error (&error);
  assert_int_equal (mp_semaphore_get_value (sem), 2);
  assert_true (mp_semaphore_acquire (sem, 0, NULL));
  assert_true (mp_semaphore_release (sem, &error));
  assert_false (mp_semaphore_release (sem, &error));
  g_clear_error (&error);

  /* BoundedSemaphore(0): every release is one too many. */
  assert_false (mp_semaphore_acquire (zero, 0, NULL));
  assert_false (mp_semaphore_release (zero, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_int_equal (mp_semaphore_get_value (zero), 0);
}

static void
test_semaphore_handles (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_semaphore_new (1, NULL);
  g_autoptr(MpSemaphore) bounded = mp_bounded_semaphore_new (1, NULL);
  g_autoptr(GVariant) bad = g_variant_ref_sink (g_variant_new_string ("x"));
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSemaphore) sem2 = NULL, bounded2 = NULL;
  g_autoptr(GVariant) hs = g_variant_ref_sink (mp_semaphore_serialize (sem, NULL, NULL));
  g_autoptr(GVariant) hb = g_variant_ref_sink (mp_semaphore_serialize (bounded, NULL, NULL));

  sem2 = mp_semaphore_deserialize (hs, NULL, &error);
  bounded2 = mp_semaphore_deserialize (hb, NULL, &error);
  assert_non_null (sem2);
  assert_non_null (bounded2);
  assert_false (mp_semaphore_is_bounded (sem2));
  assert_true (mp_semaphore_is_bounded (bounded2));
  assert_true (mp_semaphore_acquire (sem2, 0, NULL));
  assert_int_equal (mp_semaphore_get_value (sem), 0);
  assert_null (mp_semaphore_deserialize (bad, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
}

/* ---- across processes ---------------------------------------------------------------------- */

static void
test_semaphore_timeouts_across (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_semaphore_new (0, NULL);
  Shared shared = shared_new ();
  MpProcess *p;

  p = start_child (child_sem_timeouts,
                   g_variant_new ("(@(uut)h)", mp_semaphore_serialize (sem, NULL, NULL), 0),
                   &shared);
  assert_int_equal (join_child (p), 0);
  assert_true (shared.v[0] >= 150 * 1000 && shared.v[0] <= 5 * G_USEC_PER_SEC);
  shared_free (&shared);
}

#define WAITERS 3

/* Three children block on a semaphore at 0; each release lets exactly one through. */
static void
test_semaphore_counts_across (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_semaphore_new (0, NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_semaphore_serialize (sem, NULL, NULL));
  MpSyncStats *st = stats_of (sem);
  Shared shared = shared_new ();
  MpProcess *p[WAITERS];

  for (int i = 0; i < WAITERS; i++)
    p[i] = start_child (child_sem_acquire, g_variant_new ("(@(uut)h)", h, 0), &shared);
  /* All blocked in the kernel. */
  assert_true (shared_wait_at_least (shared.v, 1, WAITERS, WAIT_LONG));
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_LONG;
    while (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST) < WAITERS &&
           g_get_monotonic_time () < deadline)
      g_usleep (200);
  }
  assert_int_equal (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST), WAITERS);
  assert_int_equal (shared_get (shared.v, 0), 0);

  assert_true (mp_semaphore_release (sem, NULL));
  assert_true (shared_wait_at_least (shared.v, 0, 1, WAIT_LONG));
  assert_int_equal (mp_semaphore_get_value (sem), 0);
  assert_int_equal (shared_get (shared.v, 0), 1);

  /* Released from another process, twice: the other two go. */
  assert_int_equal (join_child (start_child (child_sem_release, g_variant_new ("(@(uut)i)", h, 2),
                                             NULL)), 0);
  for (int i = 0; i < WAITERS; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_int_equal (shared_get (shared.v, 0), WAITERS);
  assert_int_equal (mp_semaphore_get_value (sem), 0);
  assert_int_equal (stat_load (&st->acquisitions), WAITERS);
  assert_true (stat_load (&st->contended) >= 1);

  /* get_value sees another process's releases. */
  assert_int_equal (join_child (start_child (child_sem_release, g_variant_new ("(@(uut)i)", h, 4),
                                             NULL)), 0);
  assert_int_equal (mp_semaphore_get_value (sem), 4);
  shared_free (&shared);
}

static void
test_bounded_across (void **state)
{
  g_autoptr(MpSemaphore) sem = mp_bounded_semaphore_new (2, NULL);
  MpProcess *p;

  assert_true (mp_semaphore_acquire (sem, 0, NULL));
  p = start_child (child_bounded_release,
                   g_variant_new ("(@(uut))", mp_semaphore_serialize (sem, NULL, NULL)), NULL);
  assert_int_equal (join_child (p), 0);
  assert_int_equal (mp_semaphore_get_value (sem), 2);
  assert_false (mp_semaphore_release (sem, NULL));
}

#define ACROSS(m) \
  FOR_METHOD (test_semaphore_timeouts_across, m), \
  FOR_METHOD (test_semaphore_counts_across, m), \
  FOR_METHOD (test_bounded_across, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_semaphore_basic),
    cmocka_unit_test (test_bounded_basic),
    cmocka_unit_test (test_semaphore_handles),
    ACROSS (fork),
    ACROSS (spawn),
    FOR_METHOD (test_semaphore_counts_across, forkserver),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("semaphore", tests, NULL, NULL);
}
