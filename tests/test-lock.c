/* test-lock.c: MpLock and MpRLock (Python's multiprocessing.Lock and RLock)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The cross-process tests pass the lock to children as a handle (mp_lock_serialize() in the
 * callable's arguments, mp_lock_deserialize() in the child) and run under every start method.
 */

#include "sync-test-util.h"

/* ---- children (no asserts: exit codes) ------------------------------------------------------- */

/* (handle, shared fd): with the parent holding the lock, tries, times out, and reports the
 * timed wait in µs in slot 0. */
static GVariant *
child_lock_timeouts (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  g_autoptr(GError) e = NULL;
  gint32 fd_index;
  gint64 *shared, t0;

  g_variant_get (args, "(@(uut)h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, &e)) != NULL, 3);
  CHILD_CHECK (mp_lock_locked (lock), 4);

  t0 = g_get_monotonic_time ();
  CHILD_CHECK (!mp_lock_acquire (lock, 0, &e), 5);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 6);
  g_clear_error (&e);
  /* A negative timeout is 0, as in Python. */
  CHILD_CHECK (!mp_lock_acquire (lock, -5, &e), 7);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 8);
  g_clear_error (&e);
  CHILD_CHECK (g_get_monotonic_time () - t0 < G_USEC_PER_SEC, 9);

  t0 = g_get_monotonic_time ();
  CHILD_CHECK (!mp_lock_acquire (lock, 200 * 1000, &e), 10);
  shared_set (shared, 0, g_get_monotonic_time () - t0);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 11);
  return g_variant_new_int32 (0);
}

/* (handle, shared fd): announces itself in slot 0, blocks until it gets the lock, then says so
 * in slot 1 and releases. */
static GVariant *
child_lock_block (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  gint32 fd_index;
  gint64 *shared;

  g_variant_get (args, "(@(uut)h)", &h, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
  shared_set (shared, 0, 1);
  CHILD_CHECK (mp_lock_acquire (lock, MP_TIMEOUT_INFINITE, NULL), 4);
  shared_set (shared, 1, 1);
  CHILD_CHECK (mp_lock_locked (lock), 5);
  CHILD_CHECK (mp_lock_release (lock, NULL), 6);
  return g_variant_new_int32 (0);
}

/* (handle): releases the lock the parent holds, then once more (an error). */
static GVariant *
child_lock_release (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  g_autoptr(GError) e = NULL;

  g_variant_get (args, "(@(uut))", &h);
  CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_lock_locked (lock), 4);
  CHILD_CHECK (mp_lock_release (lock, &e), 5);
  CHILD_CHECK (!mp_lock_locked (lock), 6);
  CHILD_CHECK (!mp_lock_release (lock, &e), 7);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_INVALID_ARGUMENT), 8);
  return g_variant_new_int32 (0);
}

/* (handle): takes the lock and returns without releasing it. */
static GVariant *
child_lock_take (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;

  g_variant_get (args, "(@(uut))", &h);
  CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_lock_acquire (lock, 0, NULL), 4);
  return g_variant_new_int32 (0);
}

/* (handle, is_rlock, shared fd): takes the lock (an RLock twice), writes its pid to slot 0 and
 * waits to be killed. */
static GVariant *
child_hold_forever (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  g_autoptr(MpRLock) rlock = NULL;
  gboolean is_rlock;
  gint32 fd_index;
  gint64 *shared;

  g_variant_get (args, "(@(uut)bh)", &h, &is_rlock, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  if (is_rlock)
    {
      CHILD_CHECK ((rlock = mp_rlock_deserialize (h, fds, NULL)) != NULL, 3);
      CHILD_CHECK (mp_rlock_acquire (rlock, 0, NULL), 4);
      CHILD_CHECK (mp_rlock_acquire (rlock, 0, NULL), 5);
    }
  else
    {
      CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
      CHILD_CHECK (mp_lock_acquire (lock, 0, NULL), 4);
    }
  shared_set (shared, 0, getpid ());
  for (;;)
    pause ();
  return NULL;
}

/* (handle, is_rlock, shared fd): the next acquirer after the holder was killed. Blocks (with
 * a bound) and must get the lock with MP_ERROR_OWNER_DIED, then hold it. */
static GVariant *
child_acquire_after_death (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  g_autoptr(MpRLock) rlock = NULL;
  g_autoptr(GError) e = NULL;
  gboolean is_rlock;
  gint32 fd_index;
  gint64 *shared;
  gboolean ok;

  g_variant_get (args, "(@(uut)bh)", &h, &is_rlock, &fd_index);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  if (is_rlock)
    CHILD_CHECK ((rlock = mp_rlock_deserialize (h, fds, NULL)) != NULL, 3);
  else
    CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
  shared_set (shared, 1, 1);
  ok = is_rlock ? mp_rlock_acquire (rlock, WAIT_LONG, &e) : mp_lock_acquire (lock, WAIT_LONG, &e);
  CHILD_CHECK (!ok, 4);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_OWNER_DIED), 5);
  g_clear_error (&e);
  if (is_rlock)
    {
      /* Ours now, at count 1: the dead owner's recursion is gone. */
      CHILD_CHECK (mp_rlock_get_count (rlock) == 1, 6);
      CHILD_CHECK (mp_rlock_acquire (rlock, 0, NULL), 7);
      CHILD_CHECK (mp_rlock_get_count (rlock) == 2, 8);
      CHILD_CHECK (mp_rlock_release (rlock, NULL) && mp_rlock_release (rlock, NULL), 9);
      CHILD_CHECK (!mp_rlock_release (rlock, &e), 10);
    }
  else
    {
      g_autofree char *repr = mp_lock_to_string (lock);

      CHILD_CHECK (mp_lock_locked (lock), 6);
      CHILD_CHECK (strstr (repr, "SomeOther") == NULL && strstr (repr, "None") == NULL, 7);
      CHILD_CHECK (mp_lock_release (lock, NULL), 8);
    }
  shared_set (shared, 2, getpid ());
  return g_variant_new_int32 (0);
}

/* (handle): an RLock the parent holds twice: neither released nor taken by this process. */
static GVariant *
child_rlock_not_owner (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpRLock) rlock = NULL;
  g_autoptr(GError) e = NULL;
  g_autofree char *repr = NULL;

  g_variant_get (args, "(@(uut))", &h);
  CHILD_CHECK ((rlock = mp_rlock_deserialize (h, fds, NULL)) != NULL, 3);
  CHILD_CHECK (mp_rlock_locked (rlock), 4);
  CHILD_CHECK (mp_rlock_get_count (rlock) == 0, 5);
  CHILD_CHECK (!mp_rlock_release (rlock, &e), 6);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_INVALID_ARGUMENT), 7);
  g_clear_error (&e);
  CHILD_CHECK (!mp_rlock_acquire (rlock, 0, &e), 8);
  CHILD_CHECK (g_error_matches (e, MP_ERROR, MP_ERROR_TIMEOUT), 9);
  repr = mp_rlock_to_string (rlock);
  CHILD_CHECK (strstr (repr, "SomeOtherProcess") != NULL, 10);
  return g_variant_new_int32 (0);
}

/* (handle, shared fd, index, k): k times: take the lock, do some work on the shared counter
 * (slot 0) that breaks without mutual exclusion, release. Slot 1 + index gets the pid. */
static GVariant *
child_contend (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  gint32 fd_index, index, k;
  gint64 *shared;

  g_variant_get (args, "(@(uut)hii)", &h, &fd_index, &index, &k);
  CHILD_CHECK ((shared = shared_map (fds, fd_index)) != NULL, 2);
  CHILD_CHECK ((lock = mp_lock_deserialize (h, fds, NULL)) != NULL, 3);
  shared_set (shared, 10 + index, getpid ());
  for (int i = 0; i < k; i++)
    {
      gint64 v;

      CHILD_CHECK (mp_lock_acquire (lock, WAIT_LONG, NULL), 4);
      v = __atomic_load_n (&shared[0], __ATOMIC_RELAXED);
      for (int j = 0; j < 50; j++)
        _mp_cpu_relax ();
      __atomic_store_n (&shared[0], v + 1, __ATOMIC_RELAXED);
      CHILD_CHECK (mp_lock_release (lock, NULL), 5);
    }
  return g_variant_new_int32 (0);
}

/* ---- single process ------------------------------------------------------------------------ */

static void
test_lock_basic (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *free_repr = NULL, *held_repr = NULL;
  gint64 t0, dt;

  assert_non_null (lock);
  assert_false (mp_lock_locked (lock));
  free_repr = mp_lock_to_string (lock);
  assert_string_equal (free_repr, "<MpLock(owner=None)>");

  assert_true (mp_lock_acquire (lock, 0, &error));
  assert_true (mp_lock_locked (lock));
  held_repr = mp_lock_to_string (lock);
  assert_string_equal (held_repr, "<MpLock(owner=MainProcess)>");

  /* Not recursive: the holder blocks on itself. */
  assert_false (mp_lock_acquire (lock, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  t0 = g_get_monotonic_time ();
  assert_false (mp_lock_acquire (lock, 200 * 1000, &error));
  dt = g_get_monotonic_time () - t0;
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_true (dt >= 150 * 1000 && dt <= 5 * G_USEC_PER_SEC);

  assert_true (mp_lock_release (lock, &error));
  assert_false (mp_lock_locked (lock));
  assert_false (mp_lock_release (lock, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_string_equal (error->message, "semaphore or lock released too many times");
  g_clear_error (&error);

  assert_true (mp_lock_acquire (lock, MP_TIMEOUT_INFINITE, &error));
  assert_true (mp_lock_release (lock, &error));
  assert_true (mp_lock_get_id (lock) > 0);
}

static gpointer
thread_release_lock (gpointer data)
{
  return GINT_TO_POINTER (mp_lock_release (data, NULL));
}

static void
test_lock_thread_release (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  GThread *t;

  assert_true (mp_lock_acquire (lock, 0, NULL));
  t = g_thread_new ("release", thread_release_lock, lock);
  assert_true (GPOINTER_TO_INT (g_thread_join (t)));
  assert_false (mp_lock_locked (lock));
}

typedef struct
{
  MpRLock *rlock;
  gboolean released;
  GError  *release_error;
  gboolean acquired;
  GError  *acquire_error;
  char    *repr;
} RLockThreadData;

static gpointer
thread_rlock_not_owner (gpointer data)
{
  RLockThreadData *d = data;

  d->released = mp_rlock_release (d->rlock, &d->release_error);
  d->acquired = mp_rlock_acquire (d->rlock, 0, &d->acquire_error);
  d->repr = mp_rlock_to_string (d->rlock);
  return NULL;
}

static void
test_rlock_basic (void **state)
{
  g_autoptr(MpRLock) rlock = mp_rlock_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *repr = NULL, *free_repr = NULL;
  RLockThreadData d = { rlock };

  assert_false (mp_rlock_release (rlock, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  assert_true (mp_rlock_acquire (rlock, 0, &error));
  assert_true (mp_rlock_acquire (rlock, MP_TIMEOUT_INFINITE, &error));
  assert_true (mp_rlock_acquire (rlock, 100, &error));
  assert_int_equal (mp_rlock_get_count (rlock), 3);
  assert_true (mp_rlock_locked (rlock));
  repr = mp_rlock_to_string (rlock);
  assert_string_equal (repr, "<MpRLock(MainProcess, 3)>");

  /* Another thread of the same process is not the owner. */
  g_thread_join (g_thread_new ("not-owner", thread_rlock_not_owner, &d));
  assert_false (d.released);
  assert_true (g_error_matches (d.release_error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_false (d.acquired);
  assert_true (g_error_matches (d.acquire_error, MP_ERROR, MP_ERROR_TIMEOUT));
  assert_non_null (strstr (d.repr, "SomeOtherThread"));
  g_clear_error (&d.release_error);
  g_clear_error (&d.acquire_error);
  g_free (d.repr);
  assert_int_equal (mp_rlock_get_count (rlock), 3);

  for (int i = 0; i < 3; i++)
    assert_true (mp_rlock_release (rlock, &error));
  assert_false (mp_rlock_locked (rlock));
  assert_false (mp_rlock_release (rlock, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  free_repr = mp_rlock_to_string (rlock);
  assert_string_equal (free_repr, "<MpRLock(None, 0)>");
}

static void
test_handles (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(MpRLock) rlock = mp_rlock_new (NULL);
  g_autoptr(GVariant) lh = g_variant_ref_sink (mp_lock_serialize (lock, NULL, NULL));
  g_autoptr(GVariant) rh = g_variant_ref_sink (mp_rlock_serialize (rlock, NULL, NULL));
  g_autoptr(GVariant) bad = g_variant_ref_sink (g_variant_new ("(ss)", "a", "b"));
  g_autoptr(GVariant) nowhere = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpLock) same = NULL;
  MpLock *gone;
  guint32 kind, index;
  guint64 id;

  same = mp_lock_deserialize (lh, NULL, &error);
  assert_non_null (same);
  assert_int_equal (mp_lock_get_id (same), mp_lock_get_id (lock));
  assert_true (mp_lock_acquire (same, 0, NULL));
  assert_true (mp_lock_locked (lock));
  assert_true (mp_lock_release (lock, NULL));

  assert_null (mp_lock_deserialize (bad, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  assert_null (mp_lock_deserialize (rh, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  assert_null (mp_rlock_deserialize (lh, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);

  /* An index outside the directory. */
  g_variant_get (lh, "(uut)", &kind, &index, &id);
  nowhere = g_variant_ref_sink (g_variant_new ("(uut)", kind, G_MAXUINT32, id));
  assert_null (mp_lock_deserialize (nowhere, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);

  /* The handle of a lock that is gone. */
  gone = mp_lock_new (NULL);
  g_clear_pointer (&lh, g_variant_unref);
  lh = g_variant_ref_sink (mp_lock_serialize (gone, NULL, NULL));
  mp_lock_unref (gone);
  assert_null (mp_lock_deserialize (lh, NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
}

/* ---- across processes ---------------------------------------------------------------------- */

static void
test_lock_timeouts_across (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  Shared shared = shared_new ();
  MpProcess *p;

  assert_true (mp_lock_acquire (lock, 0, NULL));
  p = start_child (child_lock_timeouts,
                   g_variant_new ("(@(uut)h)", mp_lock_serialize (lock, NULL, NULL), 0), &shared);
  assert_int_equal (join_child (p), 0);
  assert_true (shared.v[0] >= 150 * 1000 && shared.v[0] <= 5 * G_USEC_PER_SEC);
  assert_true (mp_lock_release (lock, NULL));
  shared_free (&shared);
}

static void
test_lock_blocks_across (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  Shared shared = shared_new ();
  MpProcess *p;

  assert_true (mp_lock_acquire (lock, 0, NULL));
  p = start_child (child_lock_block,
                   g_variant_new ("(@(uut)h)", mp_lock_serialize (lock, NULL, NULL), 0), &shared);
  assert_true (shared_wait_at_least (shared.v, 0, 1, WAIT_LONG));
  /* Held by us: the child cannot have it, however long it tries. */
  assert_int_equal (shared_get (shared.v, 1), 0);
  assert_true (mp_lock_release (lock, NULL));
  assert_int_equal (join_child (p), 0);
  assert_int_equal (shared_get (shared.v, 1), 1);
  assert_false (mp_lock_locked (lock));
  shared_free (&shared);
}

static void
test_lock_released_by_other_process (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_lock_serialize (lock, NULL, NULL));
  MpProcess *p;

  /* We take it, a child releases it. */
  assert_true (mp_lock_acquire (lock, 0, NULL));
  p = start_child (child_lock_release, g_variant_new ("(@(uut))", h), NULL);
  assert_int_equal (join_child (p), 0);
  assert_false (mp_lock_locked (lock));

  /* A child takes it, we release it. */
  p = start_child (child_lock_take, g_variant_new ("(@(uut))", h), NULL);
  assert_int_equal (join_child (p), 0);
  assert_true (mp_lock_locked (lock));
  assert_true (mp_lock_release (lock, NULL));
  assert_true (mp_lock_acquire (lock, 0, NULL));
  assert_true (mp_lock_release (lock, NULL));
}

static void
test_rlock_not_owner_process (void **state)
{
  g_autoptr(MpRLock) rlock = mp_rlock_new (NULL);
  MpProcess *p;

  assert_true (mp_rlock_acquire (rlock, 0, NULL));
  assert_true (mp_rlock_acquire (rlock, 0, NULL));
  p = start_child (child_rlock_not_owner,
                   g_variant_new ("(@(uut))", mp_rlock_serialize (rlock, NULL, NULL)), NULL);
  assert_int_equal (join_child (p), 0);
  assert_int_equal (mp_rlock_get_count (rlock), 2);
  assert_true (mp_rlock_release (rlock, NULL));
  assert_true (mp_rlock_release (rlock, NULL));
  assert_false (mp_rlock_locked (rlock));
}

/* A holder killed with SIGKILL; the next acquirer, in another process, blocks and gets the
 * lock with MP_ERROR_OWNER_DIED. `join_first`: reap the killed holder before (it is gone) or
 * after (a zombie while the acquirer looks at it). */
static void
check_owner_killed (gboolean is_rlock, gboolean join_first)
{
  g_autoptr(MpLock) lock = is_rlock ? NULL : mp_lock_new (NULL);
  g_autoptr(MpRLock) rlock = is_rlock ? mp_rlock_new (NULL) : NULL;
  g_autoptr(GVariant) h = g_variant_ref_sink (is_rlock ? mp_rlock_serialize (rlock, NULL, NULL)
                                                       : mp_lock_serialize (lock, NULL, NULL));
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(GArray) events = NULL;
  guint64 id = is_rlock ? mp_rlock_get_id (rlock) : mp_lock_get_id (lock);
  MpSyncStats *st = is_rlock ? stats_of (rlock) : stats_of (lock);
  Shared shared = shared_new ();
  MpProcess *holder, *next;
  gint64 holder_pid;
  gboolean found = FALSE;

  holder = start_child (child_hold_forever, g_variant_new ("(@(uut)bh)", h, is_rlock, 0), &shared);
  assert_true (shared_wait_at_least (shared.v, 0, 1, WAIT_LONG));
  holder_pid = shared_get (shared.v, 0);
  assert_int_equal (holder_pid, mp_process_get_pid (holder));
  assert_int_equal (__atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED), holder_pid);

  /* The next acquirer is already waiting when the holder dies. */
  next = start_child (child_acquire_after_death, g_variant_new ("(@(uut)bh)", h, is_rlock, 0),
                      &shared);
  assert_true (shared_wait_at_least (shared.v, 1, 1, WAIT_LONG));
  assert_true (mp_process_kill (holder, NULL));
  if (join_first)
    assert_int_equal (join_child (holder), -SIGKILL);
  assert_int_equal (join_child (next), 0);
  if (!join_first)
    assert_int_equal (join_child (holder), -SIGKILL);

  /* Released by the recovering process: free for everybody again. */
  if (is_rlock)
    {
      assert_false (mp_rlock_locked (rlock));
      assert_true (mp_rlock_acquire (rlock, 0, NULL));
      assert_true (mp_rlock_release (rlock, NULL));
    }
  else
    {
      assert_false (mp_lock_locked (lock));
      assert_true (mp_lock_acquire (lock, 0, NULL));
      assert_true (mp_lock_release (lock, NULL));
    }
  assert_int_equal (stat_load (&st->owner_died), 1);

  /* And it was told to the rings: the recovering process, naming the dead holder. */
  events = read_all_events (reader, NULL);
  for (guint i = 0; i < events->len; i++)
    {
      MpTraceEvent *ev = &g_array_index (events, MpTraceEvent, i);
      if (ev->type == MP_EVENT_LOCK_OWNER_DIED && ev->object == id)
        {
          assert_false (found);
          found = TRUE;
          assert_int_equal (ev->a, holder_pid);
          assert_int_equal (ev->pid, shared_get (shared.v, 2));
        }
    }
  assert_true (found);
  shared_free (&shared);
}

static void
test_lock_owner_killed (void **state)
{
  check_owner_killed (FALSE, TRUE);
  check_owner_killed (FALSE, FALSE);
}

static void
test_rlock_owner_killed (void **state)
{
  check_owner_killed (TRUE, FALSE);
  check_owner_killed (TRUE, TRUE);
}

/* A try-acquire recovers a dead holder's lock too: a polling loop must not spin forever. */
static void
test_lock_owner_killed_try (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(MpRLock) rlock = mp_rlock_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *repr = NULL;
  Shared shared = shared_new ();
  MpProcess *holder;

  holder = start_child (child_hold_forever,
                        g_variant_new ("(@(uut)bh)", mp_lock_serialize (lock, NULL, NULL), FALSE, 0),
                        &shared);
  assert_true (shared_wait_at_least (shared.v, 0, 1, WAIT_LONG));
  assert_false (mp_lock_acquire (lock, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_true (mp_process_kill (holder, NULL));
  assert_int_equal (join_child (holder), -SIGKILL);

  /* A try soon after a try that saw the holder alive may still say "held": it looks again
   * at most every few tens of ms. Bounded either way. */
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_LONG;
    while (!mp_lock_acquire (lock, 0, &error) &&
           g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT) &&
           g_get_monotonic_time () < deadline)
      {
        g_clear_error (&error);
        g_usleep (1000);
      }
  }
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_OWNER_DIED));
  g_clear_error (&error);
  assert_true (mp_lock_locked (lock));
  repr = mp_lock_to_string (lock);
  assert_string_equal (repr, "<MpLock(owner=MainProcess)>");
  assert_true (mp_lock_release (lock, NULL));

  /* An RLock, on the first try. */
  shared_set (shared.v, 0, 0);
  holder = start_child (child_hold_forever,
                        g_variant_new ("(@(uut)bh)", mp_rlock_serialize (rlock, NULL, NULL), TRUE, 0),
                        &shared);
  assert_true (shared_wait_at_least (shared.v, 0, 1, WAIT_LONG));
  assert_true (mp_process_kill (holder, NULL));
  assert_int_equal (join_child (holder), -SIGKILL);
  assert_false (mp_rlock_acquire (rlock, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_OWNER_DIED));
  assert_int_equal (mp_rlock_get_count (rlock), 1);
  assert_true (mp_rlock_release (rlock, NULL));
  assert_false (mp_rlock_locked (rlock));
  shared_free (&shared);
}

#define CONTEND_N 3
#define CONTEND_K 3000

/* N processes × K acquisitions of one lock: the stats and the contention events add up, and the
 * events name the waiter (their pid) and the holder it waited for (a). */
static void
test_lock_contention_stats (void **state)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(GVariant) h = g_variant_ref_sink (mp_lock_serialize (lock, NULL, NULL));
  g_autoptr(MpTraceReader) reader = NULL;
  g_autoptr(GArray) events = NULL;
  MpSyncStats *st = stats_of (lock);
  Shared shared = shared_new ();
  MpProcess *p[CONTEND_N];
  gint64 pids[CONTEND_N + 1];
  guint64 base, acquisitions, contended, total, max, lost = 0, sum_b = 0;
  guint n_events = 0;

  assert_int_equal (mp_trace_get_level (), MP_TRACE_NORMAL);
  reader = mp_trace_reader_new (FALSE);
  /* We hold the lock until every child sleeps on it, so the workload is contended for sure,
   * however the machine schedules the children; our own acquisition is not part of it. */
  assert_true (mp_lock_acquire (lock, 0, NULL));
  base = stat_load (&st->acquisitions);
  assert_int_equal (stat_load (&st->contended), 0);
  for (int i = 0; i < CONTEND_N; i++)
    p[i] = start_child (child_contend, g_variant_new ("(@(uut)hii)", h, 0, i, CONTEND_K), &shared);
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_LONG;
    while (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST) < CONTEND_N &&
           g_get_monotonic_time () < deadline)
      g_usleep (200);
  }
  assert_int_equal (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST), CONTEND_N);
  assert_true (mp_lock_release (lock, NULL));
  for (int i = 0; i < CONTEND_N; i++)
    assert_int_equal (join_child (p[i]), 0);
  for (int i = 0; i < CONTEND_N; i++)
    pids[i] = shared_get (shared.v, 10 + i);
  pids[CONTEND_N] = getpid ();

  /* Mutual exclusion: no increment lost. */
  assert_int_equal (shared_get (shared.v, 0), CONTEND_N * CONTEND_K);

  acquisitions = stat_load (&st->acquisitions) - base;
  contended = stat_load (&st->contended);
  total = stat_load (&st->total_wait_ns);
  max = stat_load (&st->max_wait_ns);
  print_message ("# acquisitions %" G_GUINT64_FORMAT " contended %" G_GUINT64_FORMAT
                 " total wait %" G_GUINT64_FORMAT " ns max %" G_GUINT64_FORMAT " ns\n",
                 acquisitions, contended, total, max);
  assert_int_equal (acquisitions, CONTEND_N * CONTEND_K);
  assert_true (contended >= CONTEND_N);
  assert_true (contended <= acquisitions);
  assert_true (max > 0);
  assert_true (total >= max);
  assert_int_equal (__atomic_load_n (&st->nwaiters, __ATOMIC_RELAXED), 0);
  assert_int_equal (__atomic_load_n (&st->word, __ATOMIC_RELAXED), 0);
  assert_int_equal (__atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED), 0);

  events = read_all_events (reader, &lost);
  assert_int_equal (lost, 0);
  for (guint i = 0; i < events->len; i++)
    {
      MpTraceEvent *ev = &g_array_index (events, MpTraceEvent, i);
      gboolean waiter_known = FALSE, holder_known = FALSE;

      if (ev->type != MP_EVENT_LOCK_CONTENDED || ev->object != mp_lock_get_id (lock))
        continue;
      n_events++;
      /* Waiters are children; holders too, or us for the first wait of each. */
      for (int k = 0; k <= CONTEND_N; k++)
        {
          waiter_known |= k < CONTEND_N && ev->pid == pids[k];
          holder_known |= ev->a == pids[k];
        }
      assert_true (waiter_known);
      assert_true (holder_known);
      assert_true (ev->a != ev->pid);
      assert_true (ev->b > 0 && (guint64) ev->b <= max);
      sum_b += (guint64) ev->b;
    }
  assert_int_equal (n_events, contended);
  assert_int_equal (sum_b, total);
  shared_free (&shared);
}

#define ACROSS(m) \
  FOR_METHOD (test_lock_timeouts_across, m), \
  FOR_METHOD (test_lock_blocks_across, m), \
  FOR_METHOD (test_lock_released_by_other_process, m), \
  FOR_METHOD (test_rlock_not_owner_process, m), \
  FOR_METHOD (test_lock_owner_killed, m), \
  FOR_METHOD (test_rlock_owner_killed, m), \
  FOR_METHOD (test_lock_contention_stats, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_lock_basic),
    cmocka_unit_test (test_lock_thread_release),
    cmocka_unit_test (test_rlock_basic),
    cmocka_unit_test (test_handles),
    ACROSS (fork),
    ACROSS (spawn),
    FOR_METHOD (test_lock_timeouts_across, forkserver),
    FOR_METHOD (test_lock_released_by_other_process, forkserver),
    FOR_METHOD (test_lock_owner_killed, forkserver),
    FOR_METHOD (test_lock_owner_killed_try, fork),
    FOR_METHOD (test_lock_owner_killed_try, spawn),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("lock", tests, NULL, NULL);
}
