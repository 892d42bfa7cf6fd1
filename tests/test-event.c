/* test-event.c: MpEvent (Python's multiprocessing.Event)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "sync-test-util.h"

/* ---- children (no asserts: exit codes) ------------------------------------------------------- */

/* (handle, shared fd, timeout): waits; slot 0 counts the waits that returned TRUE. Exit code 0
 * when the wait returned TRUE, 1 when FALSE. */
static GVariant *
child_event_wait (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpEvent) event = NULL;
  gint32 fd_index;
  gint64 *shared, timeout, t0;
  gboolean set;

  g_variant_get (args, "(@(uut)hx)", &h, &fd_index, &timeout);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((event = mp_event_deserialize (h, fds, NULL)) != NULL, 3);
  t0 = g_get_monotonic_time ();
  set = mp_event_wait (event, timeout);
  shared_set (shared, 1, g_get_monotonic_time () - t0);
  if (set)
    shared_add (shared, 0, 1);
  return g_variant_new_int32 (set ? 0 : 1);
}

/* (handle): sets the event. */
static GVariant *
child_event_set (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpEvent) event = NULL;

  g_variant_get (args, "(@(uut))", &h);
  CHILD_CHECK ((event = mp_event_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (!mp_event_is_set (event), 4);
  mp_event_set (event);
  CHILD_CHECK (mp_event_is_set (event), 5);
  return g_variant_new_int32 (0);
}

/* ---- single process ------------------------------------------------------------------------ */

static void
test_event_basic (void **state)
{
  g_autoptr(MpEvent) event = mp_event_new (NULL);
  g_autofree char *unset = NULL, *set = NULL;
  gint64 t0, dt;

  assert_false (mp_event_is_set (event));
  unset = mp_event_to_string (event);
  assert_true (g_str_has_prefix (unset, "<MpEvent at 0x") && g_str_has_suffix (unset, " unset>"));
  t0 = g_get_monotonic_time ();
  assert_false (mp_event_wait (event, 0));
  assert_false (mp_event_wait (event, -7));
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  t0 = g_get_monotonic_time ();
  assert_false (mp_event_wait (event, 200 * 1000));
  dt = g_get_monotonic_time () - t0;
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);

  mp_event_set (event);
  assert_true (mp_event_is_set (event));
  assert_true (mp_event_wait (event, 0));
  assert_true (mp_event_wait (event, MP_TIMEOUT_INFINITE));
  set = mp_event_to_string (event);
  assert_true (g_str_has_suffix (set, " set>"));
  mp_event_set (event);
  assert_true (mp_event_is_set (event));
  mp_event_clear (event);
  assert_false (mp_event_is_set (event));
  assert_false (mp_event_wait (event, 0));
}

/* ---- across processes ---------------------------------------------------------------------- */

#define WAITERS 3

static gboolean
wait_for_sleepers (MpEvent *event, guint n)
{
  MpSyncStats *st = stats_of (event);
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  while (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST) < n)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (200);
    }
  return TRUE;
}

/* set() wakes the waiters of several processes at once. */
static void
test_event_set_wakes_all (void **state)
{
  g_autoptr(MpEvent) event = mp_event_new (NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_event_serialize (event, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *p[WAITERS];

  for (int i = 0; i < WAITERS; i++)
    p[i] = start_child (child_event_wait, g_variant_new ("(@(uut)hx)", h, 0,
                                                        (gint64) MP_TIMEOUT_INFINITE), &shared);
  assert_true (wait_for_sleepers (event, WAITERS));
  assert_int_equal (shared_get (shared.v, 0), 0);
  mp_event_set (event);
  for (int i = 0; i < WAITERS; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_int_equal (shared_get (shared.v, 0), WAITERS);
  assert_true (mp_event_is_set (event));
  shared_free (&shared);
}

/* A set() followed at once by clear() still wakes the waiters, and their wait says it was
 * set (before the fix they slept on with the flag back at 0: forever, without a timeout). */
static void
test_event_set_clear_wakes (void **state)
{
  g_autoptr(MpEvent) event = mp_event_new (NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_event_serialize (event, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *p[WAITERS];

  for (int i = 0; i < WAITERS; i++)
    p[i] = start_child (child_event_wait, g_variant_new ("(@(uut)hx)", h, 0,
                                                        (gint64) MP_TIMEOUT_INFINITE), &shared);
  assert_true (wait_for_sleepers (event, WAITERS));
  mp_event_set (event);
  mp_event_clear (event);
  for (int i = 0; i < WAITERS; i++)
    assert_int_equal (join_child (p[i]), 0);
  assert_int_equal (shared_get (shared.v, 0), WAITERS);
  assert_false (mp_event_is_set (event));
  shared_free (&shared);
}

/* A waiter with a timeout returns the flag: FALSE after the timeout, TRUE when set by another
 * process while it waits. */
static void
test_event_wait_timeout_across (void **state)
{
  g_autoptr(MpEvent) event = mp_event_new (NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_event_serialize (event, NULL, NULL));
  Shared shared = shared_new ();
  MpProcess *waiter;
  gint64 t0;

  waiter = start_child (child_event_wait,
                        g_variant_new ("(@(uut)hx)", h, 0, (gint64) 200 * 1000), &shared);
  assert_int_equal (join_child (waiter), 1);
  assert_true (shared.v[1] >= 150 * 1000 && shared.v[1] <= 5 * G_USEC_PER_SEC);

  waiter = start_child (child_event_wait, g_variant_new ("(@(uut)hx)", h, 0, (gint64) WAIT_LONG),
                        &shared);
  assert_true (wait_for_sleepers (event, 1));
  assert_int_equal (join_child (start_child (child_event_set, g_variant_new ("(@(uut))", h), NULL)),
                    0);
  assert_int_equal (join_child (waiter), 0);
  assert_true (shared.v[1] < WAIT_LONG);

  /* And we see what the children set. */
  t0 = g_get_monotonic_time ();
  assert_true (mp_event_wait (event, WAIT_LONG));
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  shared_free (&shared);
}

#define ACROSS(m) \
  FOR_METHOD (test_event_set_wakes_all, m), \
  FOR_METHOD (test_event_set_clear_wakes, m), \
  FOR_METHOD (test_event_wait_timeout_across, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_event_basic),
    ACROSS (fork),
    ACROSS (spawn),
    FOR_METHOD (test_event_set_wakes_all, forkserver),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("event", tests, NULL, NULL);
}
