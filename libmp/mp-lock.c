/* mp-lock.c: Lock and RLock
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The lock word (MpSyncStats.word) holds the holder's thread id (gettid(), unique across the
 * processes of a pid namespace), plus WAITERS when somebody may sleep on it; 0 is free. This
 * is the robust-futex layout: the holder is part of the state the CAS changes, so
 *  - the holder is never unknown: no window between taking the lock and recording who has it,
 *    for a kill to fall into or a contention event to miss;
 *  - a dead holder is taken over by one CAS of the word from the value naming it to our own,
 *    which fails if anybody released or took over first;
 *  - an RLock's owner (process and thread) is the word itself.
 * holder_pid/holder_tid in the stats are written after the CAS for monitors and repr only.
 * Acquiring uncontended is one CAS plus plain stores of those and of the acquisition count
 * (only the holder writes them): no syscall, no clock read.
 *
 * Contended: an acquirer first polls the word for up to about 10 µs with exponential backoff
 * (_mp_sync_spin_count, adaptive: less on a busy machine) without setting WAITERS, then sets WAITERS and sleeps on the futex.
 * Spinning wins because a futex sleep and wake-up costs tens of µs (more in a VM) while
 * critical sections are short, and a release that finds no WAITERS makes no syscall. The
 * backoff keeps a spinner from stealing the cache line from a holder that is about to take the
 * lock again: polling at every pause halved the two-process throughput.
 *
 * A dead holder: a blocked acquirer wakes every RECHECK_NS to look at the holder. If that
 * thread is gone (no such task, or a zombie: a killed process not reaped yet), it takes the
 * word over; the winner owns the lock and gets MP_ERROR_OWNER_DIED, as a robust pthread mutex
 * returns EOWNERDEAD. A try-acquire does the same check, at most every TRY_RECHECK_NS per
 * handle. Since the id is a thread's, a lock whose holding thread exited while its process
 * lives on is recovered too.
 */

#include "config.h"

#include <stdio.h>

#include "mp-error.h"
#include "mp-lock.h"
#include "mp-log-private.h"
#include "mp-process.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define WAITERS 0x80000000u
#define TID_MASK 0x7fffffffu      /* pid_max is at most 2^22 */

/* How often a blocked acquirer looks whether the holder is still alive. */
#define RECHECK_NS (G_GINT64_CONSTANT (200) * 1000 * 1000)
#define TRY_RECHECK_NS (G_GUINT64_CONSTANT (50) * 1000 * 1000)
/* The longest pause between two polls of a spinning acquirer, in pauses. */
#define SPIN_BACKOFF_MAX 32

struct _MpLock
{
  MpSync sync;
};

struct _MpRLock
{
  MpSync sync;
};

static inline void
set_holder (MpSyncStats *st, const MpSyncSelf *me)
{
  __atomic_store_n (&st->holder_pid, me->pid, __ATOMIC_RELAXED);
  __atomic_store_n (&st->holder_tid, me->tid, __ATOMIC_RELAXED);
  __atomic_store_n (&st->acquisitions,
                    __atomic_load_n (&st->acquisitions, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* The pid for events and messages of a holder known by its word value: the stats' holder_pid
 * when it is that thread's, else the thread id (the same number for a main thread). */
static pid_t
holder_pid_of (MpSyncStats *st, uint32_t c)
{
  pid_t tid = (pid_t) (c & TID_MASK);

  if (tid != 0 && __atomic_load_n (&st->holder_tid, __ATOMIC_RELAXED) == tid)
    {
      pid_t pid = __atomic_load_n (&st->holder_pid, __ATOMIC_RELAXED);
      if (pid != 0)
        return pid;
    }
  return tid;
}

/* Takes the lock over from a dead holder: *c is the word as last seen. */
static gboolean
take_from_dead_holder (MpSyncStats *st, const MpSyncSelf *me, uint32_t *c, pid_t *holder)
{
  pid_t tid = (pid_t) (*c & TID_MASK);
  pid_t pid;

  if (tid == 0 || tid == me->tid || !_mp_pid_is_dead (tid))
    return FALSE;
  pid = holder_pid_of (st, *c);
  if (!__atomic_compare_exchange_n (&st->word, c, (uint32_t) me->tid | (*c & WAITERS), FALSE,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return FALSE;
  *holder = pid;
  return TRUE;
}

static gboolean
owner_died (MpSync *sync, pid_t holder, GError **error)
{
  __atomic_add_fetch (&sync->st->owner_died, 1, __ATOMIC_RELAXED);
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_LOCK_OWNER_DIED, sync->id, holder, 0);
  _mp_subwarning ("lock %" G_GUINT64_FORMAT ": its holder (pid %d) died; recovered",
                  sync->id, holder);
  g_set_error (error, MP_ERROR, MP_ERROR_OWNER_DIED,
               "The previous holder of the lock (pid %d) died holding it; the lock is now "
               "held by this thread, but what it protects may be inconsistent", holder);
  return FALSE;
}

/* A try (timeout 0) does not block, but it does recover a lock from a dead holder, or a
 * polling loop would never get it. Rate-limited per handle: the check costs a few syscalls,
 * and a try on a busy lock should stay cheap. */
static gboolean
try_slow (MpSync *sync, const MpSyncSelf *me, uint32_t c, GError **error)
{
  guint64 now = _mp_monotonic_ns ();
  guint64 last = __atomic_load_n (&sync->last_dead_check_ns, __ATOMIC_RELAXED);
  pid_t holder = 0;

  if ((last == 0 || now - last >= TRY_RECHECK_NS) &&
      __atomic_compare_exchange_n (&sync->last_dead_check_ns, &last, now, FALSE,
                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
      take_from_dead_holder (sync->st, me, &c, &holder))
    {
      set_holder (sync->st, me);
      return owner_died (sync, holder, error);
    }
  g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "The lock is held");
  return FALSE;
}

/* c: the word the fast path's CAS found. */
static gboolean
acquire_slow (MpSync *sync, gint64 timeout_us, uint32_t c, GError **error)
{
  MpSyncStats *st = sync->st;
  const MpSyncSelf *me = _mp_sync_self_ids ();
  uint32_t self = (uint32_t) me->tid;
  gint64 deadline;
  guint64 t0;
  pid_t holder;
  gboolean died = FALSE;
  int spins;

  if (timeout_us < 0 && timeout_us != MP_TIMEOUT_INFINITE)
    timeout_us = 0;
  if (timeout_us == 0)
    return try_slow (sync, me, c, error);

  t0 = _mp_monotonic_ns ();
  deadline = _mp_deadline_ns (timeout_us);
  holder = holder_pid_of (st, c);

  spins = _mp_sync_spin_count ();
  for (int i = 0, pause = 1; i < spins; i += pause, pause = MIN (pause * 2, SPIN_BACKOFF_MAX))
    {
      for (int j = 0; j < pause; j++)
        _mp_cpu_relax ();
      c = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
      if (c == 0)
        {
          if (__atomic_compare_exchange_n (&st->word, &c, self, FALSE, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED))
            {
              _mp_sync_spin_result (TRUE);
              goto acquired;
            }
        }
      else
        holder = holder_pid_of (st, c);
    }
  if (spins > 0)
    _mp_sync_spin_result (FALSE);

  /* Sleep. Once we have slept we take the lock with WAITERS set, as others may still sleep:
   * at worst the release makes one needless wake-up call. Monitors see what we wait for
   * (the wait-for graph, deadlock cycles) in our process-table slot. */
  __atomic_add_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
  _mp_arena_proc_set_blocked_on (sync->id);
  c = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
  for (;;)
    {
      gint64 left;
      int r;

      if (c == 0)
        {
          if (__atomic_compare_exchange_n (&st->word, &c, self | WAITERS, FALSE,
                                           __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
          continue;
        }
      holder = holder_pid_of (st, c);
      if (!(c & WAITERS) &&
          !__atomic_compare_exchange_n (&st->word, &c, c | WAITERS, FALSE, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        continue;
      c |= WAITERS;
      left = _mp_remaining_ns (deadline);
      if (left == 0)
        {
          if (take_from_dead_holder (st, me, &c, &holder))
            {
              died = TRUE;
              break;
            }
          __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
          _mp_arena_proc_set_blocked_on (0);
          g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "Timed out waiting for the lock");
          return FALSE;
        }
      r = _mp_futex_wait (&st->word, c, left < 0 ? RECHECK_NS : MIN (left, RECHECK_NS));
      if (r == ETIMEDOUT && take_from_dead_holder (st, me, &c, &holder))
        {
          died = TRUE;
          break;
        }
      c = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
    }
  __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
  _mp_arena_proc_set_blocked_on (0);

acquired:
  set_holder (st, me);
  _mp_sync_record_wait (sync, _mp_monotonic_ns () - t0, holder, TRUE);
  if (died)
    return owner_died (sync, holder, error);
  return TRUE;
}

static inline gboolean
word_acquire (MpSync *sync, gint64 timeout_us, GError **error)
{
  const MpSyncSelf *me = _mp_sync_self_ids ();
  uint32_t c = 0;

  if (G_LIKELY (__atomic_compare_exchange_n (&sync->st->word, &c, (uint32_t) me->tid, FALSE,
                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
    {
      set_holder (sync->st, me);
      _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_ACQUIRED, sync->id, 0, 0);
      return TRUE;
    }
  return acquire_slow (sync, timeout_us, c, error);
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
  if (c & WAITERS)
    _mp_futex_wake (&st->word, 1);
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_RELEASED, sync->id, 0, 0);
  return TRUE;
}

/* Python's repr names the owner: None, MainProcess, MainProcess|thread, SomeOtherThread,
 * SomeOtherProcess. */
static char *
owner_string (MpSyncStats *st)
{
  uint32_t c = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
  pid_t tid = (pid_t) (c & TID_MASK);
  const MpSyncSelf *me;

  if (tid == 0)
    return g_strdup ("None");
  me = _mp_sync_self_ids ();
  if (tid == me->tid)
    {
      if (me->tid == me->pid)
        return g_strdup (mp_process_get_name (mp_current_process ()));
      return g_strdup_printf ("%s|%d", mp_process_get_name (mp_current_process ()), tid);
    }
  if (holder_pid_of (st, c) == me->pid)
    return g_strdup ("SomeOtherThread");
  return g_strdup ("SomeOtherProcess");
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
 *   the caller** then, and must be released as usual. A blocked acquirer notices a dead holder
 *   within about 200 ms; a try (@timeout_us 0) notices it too.
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
  return (__atomic_load_n (&st->word, __ATOMIC_RELAXED) & TID_MASK) ==
         (uint32_t) _mp_sync_self_tid ();
}

/* For Condition: does the calling thread hold this Lock or RLock? */
gboolean
_mp_sync_lock_is_mine (MpSync *sync)
{
  return owned_by_me (sync->st);
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
