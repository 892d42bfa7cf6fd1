/* mp-lock.c: Lock and RLock
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The lock word (MpSyncStats.word) follows the classic three-state futex mutex: 0 free,
 * 1 held, 2 held and maybe waited for. Acquiring uncontended is one CAS plus plain stores of
 * the holder and the acquisition count (only the holder writes those, and the next holder
 * reads them after its acquiring CAS): no syscall, no clock read.
 *
 * Order of the holder fields and the word: release clears holder_pid before the CAS that frees
 * the word, and acquire writes holder_pid after the CAS that takes it. So a holder_pid that
 * names a dead process means that process died holding the lock — never a stale value.
 *
 * A dead holder: a blocked acquirer wakes every RECHECK_NS to look at the holder. If it is
 * gone (no such process, or a zombie), the waiters race for holder_pid with a CAS from the dead
 * pid to their own; the winner owns the lock (the word stays taken) and gets
 * MP_ERROR_OWNER_DIED, as a robust pthread mutex returns EOWNERDEAD. A Lock (not an RLock) may
 * be released by anyone, so the check is only a fallback: whoever releases first wins.
 */

#include "config.h"

#include <stdio.h>

#include "mp-error.h"
#include "mp-lock.h"
#include "mp-log-private.h"
#include "mp-process.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define RECHECK_NS (G_GINT64_CONSTANT (200) * 1000 * 1000)

struct _MpLock
{
  MpSync sync;
};

struct _MpRLock
{
  MpSync sync;
};

static inline void
set_holder (MpSyncStats *st)
{
  __atomic_store_n (&st->holder_pid, _mp_sync_self_pid (), __ATOMIC_RELAXED);
  __atomic_store_n (&st->holder_tid, _mp_sync_self_tid (), __ATOMIC_RELAXED);
  __atomic_store_n (&st->acquisitions,
                    __atomic_load_n (&st->acquisitions, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static gboolean
acquire_slow (MpSync *sync, gint64 timeout_us, GError **error)
{
  MpSyncStats *st = sync->st;
  gint64 deadline = _mp_deadline_ns (timeout_us);
  guint64 t0 = _mp_monotonic_ns ();
  pid_t holder = __atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED);
  gboolean owner_died = FALSE;
  uint32_t c;

  if (timeout_us == 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "The lock is held");
      return FALSE;
    }

  __atomic_add_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
  /* Published while we wait, so a monitor can draw who waits for whom (and find deadlocks). */
  _mp_arena_proc_set_blocked_on (sync->id);
  c = __atomic_exchange_n (&st->word, 2, __ATOMIC_ACQUIRE);
  while (c != 0)
    {
      gint64 left = _mp_remaining_ns (deadline);
      int r;

      if (left == 0)
        {
          _mp_arena_proc_set_blocked_on (0);
          __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
          g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "Timed out waiting for the lock");
          return FALSE;
        }
      r = _mp_futex_wait (&st->word, 2, left < 0 ? RECHECK_NS : MIN (left, RECHECK_NS));
      if (r == ETIMEDOUT)
        {
          pid_t h = __atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED);

          if (h != 0 && _mp_pid_is_dead (h) &&
              __atomic_compare_exchange_n (&st->holder_pid, &h, _mp_sync_self_pid (), FALSE,
                                           __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            {
              /* The word is still taken in the dead holder's name: it is ours now. */
              holder = h;
              owner_died = TRUE;
              __atomic_store_n (&st->word, 2, __ATOMIC_RELAXED);
              break;
            }
        }
      c = __atomic_exchange_n (&st->word, 2, __ATOMIC_ACQUIRE);
    }
  _mp_arena_proc_set_blocked_on (0);
  __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);

  set_holder (st);
  _mp_sync_record_wait (sync, _mp_monotonic_ns () - t0, holder);

  if (owner_died)
    {
      __atomic_add_fetch (&st->owner_died, 1, __ATOMIC_RELAXED);
      _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_LOCK_OWNER_DIED, sync->id, holder, 0);
      _mp_subwarning ("lock %" G_GUINT64_FORMAT ": its holder (pid %d) died; recovered",
                      sync->id, holder);
      g_set_error (error, MP_ERROR, MP_ERROR_OWNER_DIED,
                   "The previous holder of the lock (pid %d) died holding it; the lock is now "
                   "held by this thread, but what it protects may be inconsistent", holder);
      return FALSE;
    }
  return TRUE;
}

static inline gboolean
word_acquire (MpSync *sync, gint64 timeout_us, GError **error)
{
  uint32_t c = 0;

  if (G_LIKELY (__atomic_compare_exchange_n (&sync->st->word, &c, 1, FALSE, __ATOMIC_ACQUIRE,
                                             __ATOMIC_RELAXED)))
    {
      set_holder (sync->st);
      _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_ACQUIRED, sync->id, 0, 0);
      return TRUE;
    }
  return acquire_slow (sync, timeout_us, error);
}

static gboolean
word_release (MpSync *sync, GError **error)
{
  MpSyncStats *st = sync->st;
  uint32_t c = __atomic_load_n (&st->word, __ATOMIC_RELAXED);

  do
    {
      if (c == 0)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "semaphore or lock released too many times");
          return FALSE;
        }
      __atomic_store_n (&st->holder_pid, 0, __ATOMIC_RELAXED);
      __atomic_store_n (&st->holder_tid, 0, __ATOMIC_RELAXED);
    }
  while (!__atomic_compare_exchange_n (&st->word, &c, 0, TRUE, __ATOMIC_RELEASE,
                                       __ATOMIC_RELAXED));
  if (c == 2)
    _mp_futex_wake (&st->word, 1);
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_RELEASED, sync->id, 0, 0);
  return TRUE;
}

/* Python's repr names the owner: None, MainProcess, MainProcess|thread, SomeOtherThread,
 * SomeOtherProcess. */
static char *
owner_string (MpSyncStats *st)
{
  pid_t pid = __atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED);
  pid_t tid = __atomic_load_n (&st->holder_tid, __ATOMIC_RELAXED);

  if (__atomic_load_n (&st->word, __ATOMIC_RELAXED) == 0 || pid == 0)
    return g_strdup ("None");
  if (pid != _mp_sync_self_pid ())
    return g_strdup ("SomeOtherProcess");
  if (tid == pid)
    return g_strdup (mp_process_get_name (mp_current_process ()));
  if (tid == _mp_sync_self_tid ())
    return g_strdup_printf ("%s|%d", mp_process_get_name (mp_current_process ()), tid);
  return g_strdup ("SomeOtherThread");
}

/* ---- Lock ------------------------------------------------------------------------------- */

/**
 * mp_lock_new:
 * @error: return location for an error
 *
 * Returns: (transfer full): a new unlocked lock, or %NULL if the arena has no room
 */
MpLock *
mp_lock_new (GError **error)
{
  return mp_lock_new_labeled (NULL, error);
}

/**
 * mp_lock_new_labeled:
 * @label: (nullable): a name monitors show, e.g. "stdout"
 * @error: return location for an error
 *
 * Returns: (transfer full): a new unlocked lock
 */
MpLock *
mp_lock_new_labeled (const char *label, GError **error)
{
  MpLock *self = g_new0 (MpLock, 1);

  if (!_mp_sync_init (&self->sync, MP_OBJECT_LOCK, label ? label : "Lock", error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}

MpLock *
mp_lock_ref (MpLock *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_lock_unref (MpLock *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    g_free (self);
}

/**
 * mp_lock_acquire:
 * @self: a lock
 * @timeout_us: 0 to try without blocking, %MP_TIMEOUT_INFINITE to wait forever; a negative
 *   value counts as 0, as in Python
 * @error: return location for an error
 *
 * Returns: %TRUE when the lock was taken. %FALSE with %MP_ERROR_TIMEOUT when it was not. %FALSE
 *   with %MP_ERROR_OWNER_DIED when the previous holder died holding it: the lock **is held by
 *   the caller** then, and must be released as usual.
 */
gboolean
mp_lock_acquire (MpLock *self, gint64 timeout_us, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return word_acquire (&self->sync, timeout_us, error);
}

/**
 * mp_lock_release:
 *
 * Releases the lock, from any thread or process. Fails with %MP_ERROR_INVALID_ARGUMENT if it
 * is not locked.
 */
gboolean
mp_lock_release (MpLock *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return word_release (&self->sync, error);
}

gboolean
mp_lock_locked (MpLock *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return __atomic_load_n (&self->sync.st->word, __ATOMIC_RELAXED) != 0;
}

guint64
mp_lock_get_id (MpLock *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->sync.id;
}

/**
 * mp_lock_to_string:
 *
 * Returns: (transfer full): Python's repr, e.g. `<MpLock(owner=MainProcess)>`
 */
char *
mp_lock_to_string (MpLock *self)
{
  g_autofree char *owner = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  owner = owner_string (self->sync.st);
  return g_strdup_printf ("<MpLock(owner=%s)>", owner);
}

/**
 * mp_lock_serialize:
 * @self: a lock
 * @fd_list: unused (locks live in the arena); may be %NULL
 * @error: return location for an error
 *
 * Returns: (transfer floating): a handle another process of the same program tree can open
 *   with mp_lock_deserialize()
 */
GVariant *
mp_lock_serialize (MpLock *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return _mp_sync_handle (&self->sync);
}

/**
 * mp_lock_deserialize:
 *
 * Returns: (transfer full): the lock the handle names, or %NULL with %MP_ERROR_NOT_FOUND if it
 *   no longer exists, %MP_ERROR_SERIALIZATION if the handle is malformed
 */
MpLock *
mp_lock_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpLock *self = g_new0 (MpLock, 1);

  if (!_mp_sync_init_from_handle (&self->sync, MP_OBJECT_LOCK, serialized, error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}

/* ---- RLock ------------------------------------------------------------------------------ */

MpRLock *
mp_rlock_new (GError **error)
{
  return mp_rlock_new_labeled (NULL, error);
}

MpRLock *
mp_rlock_new_labeled (const char *label, GError **error)
{
  MpRLock *self = g_new0 (MpRLock, 1);

  if (!_mp_sync_init (&self->sync, MP_OBJECT_RLOCK, label ? label : "RLock", error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}

MpRLock *
mp_rlock_ref (MpRLock *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_rlock_unref (MpRLock *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    g_free (self);
}

static inline gboolean
owned_by_me (MpSyncStats *st)
{
  return __atomic_load_n (&st->word, __ATOMIC_RELAXED) != 0 &&
         __atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED) == _mp_sync_self_pid () &&
         __atomic_load_n (&st->holder_tid, __ATOMIC_RELAXED) == _mp_sync_self_tid ();
}

/**
 * mp_rlock_acquire:
 *
 * Like mp_lock_acquire(); the owning thread may acquire again (the count goes up).
 */
gboolean
mp_rlock_acquire (MpRLock *self, gint64 timeout_us, GError **error)
{
  MpSyncStats *st;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  st = self->sync.st;

  if (owned_by_me (st))
    {
      st->count++;
      return TRUE;
    }
  if (!word_acquire (&self->sync, timeout_us, &local_error))
    {
      if (g_error_matches (local_error, MP_ERROR, MP_ERROR_OWNER_DIED))
        st->count = 1;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  st->count = 1;
  return TRUE;
}

/**
 * mp_rlock_release:
 *
 * Fails with %MP_ERROR_INVALID_ARGUMENT unless the calling thread owns the lock.
 */
gboolean
mp_rlock_release (MpRLock *self, GError **error)
{
  MpSyncStats *st;

  g_return_val_if_fail (self != NULL, FALSE);
  st = self->sync.st;

  if (!owned_by_me (st) || st->count == 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "cannot release un-acquired lock");
      return FALSE;
    }
  if (--st->count > 0)
    return TRUE;
  return word_release (&self->sync, error);
}

gboolean
mp_rlock_locked (MpRLock *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return __atomic_load_n (&self->sync.st->word, __ATOMIC_RELAXED) != 0;
}

guint
mp_rlock_get_count (MpRLock *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return owned_by_me (self->sync.st) ? self->sync.st->count : 0;
}

guint64
mp_rlock_get_id (MpRLock *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->sync.id;
}

/**
 * mp_rlock_to_string:
 *
 * Returns: (transfer full): Python's repr, e.g. `<MpRLock(MainProcess, 2)>`
 */
char *
mp_rlock_to_string (MpRLock *self)
{
  g_autofree char *owner = NULL;
  guint count;

  g_return_val_if_fail (self != NULL, NULL);
  owner = owner_string (self->sync.st);
  count = g_str_equal (owner, "None") ? 0 : self->sync.st->count;
  return g_strdup_printf ("<MpRLock(%s, %u)>", owner, count);
}

GVariant *
mp_rlock_serialize (MpRLock *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return _mp_sync_handle (&self->sync);
}

MpRLock *
mp_rlock_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpRLock *self = g_new0 (MpRLock, 1);

  if (!_mp_sync_init_from_handle (&self->sync, MP_OBJECT_RLOCK, serialized, error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}
