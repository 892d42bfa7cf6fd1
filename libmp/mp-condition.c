/* mp-condition.c: Condition
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Python's design, because it makes notify(n) wake exactly n: three counting semaphores live
 * in the condition's own arena entry — sleeping (waiters that have not been woken), woken
 * (acknowledgements of wake-ups) and wait (the one waiters sleep on). notify() is called with
 * the lock held, so no new waiter can slip in while it hands out wake-ups, and it waits for
 * each woken sleeper's acknowledgement before returning; tokens left behind by waiters that
 * timed out are reconciled at the next notify. A waiter that times out still acknowledges, so
 * the counts stay balanced.
 *
 * A waiter killed while it waits would make notify() wait for its acknowledgement forever (as
 * Python's does): notify() gives up on acknowledgements after ACK_PATIENCE_NS without progress
 * and takes the unclaimed tokens back, so the dead waiter is forgotten. A waiter that was merely
 * not scheduled for that long loses that wake-up, and its late acknowledgement is counted
 * against another sleeper at the next notify (one wake-up too few then): the price of not
 * hanging.
 */

#include "config.h"

#include "mp-condition.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

/* notify() waits for each woken waiter's acknowledgement; a waiter killed inside wait() never
 * sends it. Without progress (an acknowledgement, or a wake-up token taken) for
 * ACK_PATIENCE_NS, notify() stops waiting for the rest and takes their tokens back. */
#define ACK_SLICE_NS (G_GUINT64_CONSTANT (100) * 1000 * 1000)
#define ACK_PATIENCE_NS (G_GUINT64_CONSTANT (2000) * 1000 * 1000)

/* The three semaphores: value and waiter count of each, in MpSyncStats.aux2. */
typedef struct
{
  uint32_t sleeping, sleeping_waiters;
  uint32_t woken, woken_waiters;
  uint32_t wait, wait_waiters;
} CondWords;

G_STATIC_ASSERT (sizeof (CondWords) <= sizeof (((MpSyncStats *) 0)->aux2));

struct _MpCondition
{
  MpSync    sync;
  CondWords *w;
  MpLock   *lock;    /* exactly one of lock, rlock */
  MpRLock  *rlock;
};

static MpCondition *
condition_new (MpLock *lock, MpRLock *rlock, GError **error)
{
  MpCondition *self = g_new0 (MpCondition, 1);

  if (!_mp_sync_init (&self->sync, MP_OBJECT_CONDITION, "Condition", error))
    {
      g_free (self);
      return NULL;
    }
  self->w = (CondWords *) (void *) self->sync.st->aux2;
  self->lock = lock;
  self->rlock = rlock;
  return self;
}

/**
 * mp_condition_new:
 * @lock: (nullable) (transfer none): the RLock to use, or %NULL for a new one
 * @error: return location for an error
 *
 * Returns: (transfer full): a new condition
 */
MpCondition *
mp_condition_new (MpRLock *lock, GError **error)
{
  MpRLock *rlock = lock ? mp_rlock_ref (lock) : mp_rlock_new_labeled ("Condition.lock", error);
  MpCondition *self;

  if (rlock == NULL)
    return NULL;
  self = condition_new (NULL, rlock, error);
  if (self == NULL)
    mp_rlock_unref (rlock);
  return self;
}

/**
 * mp_condition_new_with_lock:
 * @lock: (transfer none): a non-recursive lock to use
 * @error: return location for an error
 *
 * Returns: (transfer full): a new condition over @lock
 */
MpCondition *
mp_condition_new_with_lock (MpLock *lock, GError **error)
{
  MpCondition *self;

  g_return_val_if_fail (lock != NULL, NULL);
  self = condition_new (mp_lock_ref (lock), NULL, error);
  if (self == NULL)
    mp_lock_unref (lock);
  return self;
}

MpCondition *
mp_condition_ref (MpCondition *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_condition_unref (MpCondition *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    {
      if (self->lock)
        mp_lock_unref (self->lock);
      if (self->rlock)
        mp_rlock_unref (self->rlock);
      g_free (self);
    }
}

gboolean
mp_condition_acquire (MpCondition *self, gint64 timeout_us, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->lock ? mp_lock_acquire (self->lock, timeout_us, error)
                    : mp_rlock_acquire (self->rlock, timeout_us, error);
}

gboolean
mp_condition_release (MpCondition *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->lock ? mp_lock_release (self->lock, error)
                    : mp_rlock_release (self->rlock, error);
}

/* Is the lock held by the calling thread? (Python's _is_mine.) */
static gboolean
check_owned (MpCondition *self, GError **error)
{
  gboolean mine;

  if (self->rlock)
    mine = mp_rlock_get_count (self->rlock) > 0;
  else
    mine = _mp_sync_lock_is_mine ((MpSync *) (void *) self->lock);
  if (!mine)
    g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                 "the condition's lock must be held by the calling thread");
  return mine;
}

/**
 * mp_condition_wait:
 * @self: a condition whose lock the caller holds
 * @timeout_us: how long to wait; %MP_TIMEOUT_INFINITE for ever
 * @error: return location for an error
 *
 * Releases the lock (all levels of an RLock), waits for a notification, and takes the lock
 * again before returning, also on timeout.
 *
 * Returns: %TRUE when notified; %FALSE with %MP_ERROR_TIMEOUT on timeout, or another error
 */
gboolean
mp_condition_wait (MpCondition *self, gint64 timeout_us, GError **error)
{
  CondWords *w;
  guint count = 1;
  gboolean notified;
  guint64 t0;

  g_return_val_if_fail (self != NULL, FALSE);
  if (!check_owned (self, error))
    return FALSE;
  w = self->w;

  _mp_word_sem_release (&w->sleeping, &w->sleeping_waiters, 1);
  if (self->rlock)
    {
      count = mp_rlock_get_count (self->rlock);
      for (guint i = 0; i < count; i++)
        mp_rlock_release (self->rlock, NULL);
    }
  else
    mp_lock_release (self->lock, NULL);

  t0 = _mp_monotonic_ns ();
  _mp_arena_proc_set_blocked_on (self->sync.id);
  notified = _mp_word_sem_acquire (&w->wait, &w->wait_waiters, _mp_deadline_ns (timeout_us));
  _mp_arena_proc_set_blocked_on (0);
  _mp_word_sem_release (&w->woken, &w->woken_waiters, 1);
  _mp_trace (MP_TRACE_NORMAL, MP_EVENT_CONDITION_WAIT, self->sync.id,
             (gint64) (_mp_monotonic_ns () - t0), notified);
  __atomic_add_fetch (&self->sync.st->acquisitions, 1, __ATOMIC_RELAXED);

  for (guint i = 0; i < count; i++)
    {
      g_autoptr(GError) local_error = NULL;
      if (!mp_condition_acquire (self, MP_TIMEOUT_INFINITE, &local_error) &&
          !g_error_matches (local_error, MP_ERROR, MP_ERROR_OWNER_DIED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  if (!notified)
    g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "Timed out waiting for a notification");
  return notified;
}

/**
 * mp_condition_wait_for:
 * @self: a condition whose lock the caller holds
 * @predicate: checked with the lock held, before each wait
 * @user_data: for @predicate
 * @timeout_us: total time to wait
 * @error: return location for an error (only misuse; a timeout is not an error here)
 *
 * Returns: the last value of @predicate, as Python's `wait_for`
 */
gboolean
mp_condition_wait_for (MpCondition  *self,
                       MpPredicate   predicate,
                       gpointer      user_data,
                       gint64        timeout_us,
                       GError      **error)
{
  gint64 deadline = timeout_us == MP_TIMEOUT_INFINITE ? -1 :
                    g_get_monotonic_time () + MAX (timeout_us, 0);
  gboolean result;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (predicate != NULL, FALSE);
  if (!check_owned (self, error))
    return FALSE;

  while (!(result = predicate (user_data)))
    {
      g_autoptr(GError) local_error = NULL;
      gint64 left = MP_TIMEOUT_INFINITE;

      if (deadline >= 0)
        {
          left = deadline - g_get_monotonic_time ();
          if (left <= 0)
            break;
        }
      if (!mp_condition_wait (self, left, &local_error) &&
          !g_error_matches (local_error, MP_ERROR, MP_ERROR_TIMEOUT))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  return result;
}

/**
 * mp_condition_notify:
 * @self: a condition whose lock the caller holds
 * @n: how many waiters to wake
 * @error: return location for an error
 *
 * Wakes up to @n waiters — exactly @n if that many wait — and returns once they are awake.
 */
gboolean
mp_condition_notify (MpCondition *self, guint n, GError **error)
{
  CondWords *w;
  guint sleepers = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  if (!check_owned (self, error))
    return FALSE;
  w = self->w;

  /* Waiters that timed out since the last notify acknowledged without a wake-up: settle. */
  while (_mp_word_sem_acquire (&w->woken, &w->woken_waiters, 0))
    (void) _mp_word_sem_acquire (&w->sleeping, &w->sleeping_waiters, 0);

  while (sleepers < n && _mp_word_sem_acquire (&w->sleeping, &w->sleeping_waiters, 0))
    {
      _mp_word_sem_release (&w->wait, &w->wait_waiters, 1);
      sleepers++;
    }
  if (sleepers > 0)
    {
      guint64 last_progress = _mp_monotonic_ns ();
      uint32_t tokens = __atomic_load_n (&w->wait, __ATOMIC_RELAXED);
      guint acked = 0;

      while (acked < sleepers)
        {
          guint64 now;
          uint32_t t;

          if (_mp_word_sem_acquire (&w->woken, &w->woken_waiters,
                                    (gint64) (_mp_monotonic_ns () + ACK_SLICE_NS)))
            {
              acked++;
              last_progress = _mp_monotonic_ns ();
              continue;
            }
          /* A waiter taking its wake-up is progress too; one killed in wait() never comes. */
          now = _mp_monotonic_ns ();
          t = __atomic_load_n (&w->wait, __ATOMIC_RELAXED);
          if (t != tokens)
            {
              tokens = t;
              last_progress = now;
            }
          else if (now - last_progress >= ACK_PATIENCE_NS)
            {
              _mp_subwarning ("condition %" G_GUINT64_FORMAT ": %u of %u woken waiters did not "
                              "wake up; assuming they died", self->sync.id, sleepers - acked,
                              sleepers);
              break;
            }
        }
      /* A waiter that timed out while we woke others left its token: take it back. */
      while (_mp_word_sem_acquire (&w->wait, &w->wait_waiters, 0))
        ;
    }
  __atomic_add_fetch (&self->sync.st->generation, 1, __ATOMIC_RELAXED);
  return TRUE;
}

gboolean
mp_condition_notify_all (MpCondition *self, GError **error)
{
  return mp_condition_notify (self, G_MAXUINT, error);
}

/**
 * mp_condition_serialize:
 *
 * Returns: (transfer floating): a handle naming the condition and its lock
 */
GVariant *
mp_condition_serialize (MpCondition *self, GUnixFDList *fd_list, GError **error)
{
  GVariant *lock;

  g_return_val_if_fail (self != NULL, NULL);
  lock = self->lock ? mp_lock_serialize (self->lock, fd_list, error)
                    : mp_rlock_serialize (self->rlock, fd_list, error);
  return g_variant_new ("(@(uut)@(uut))", _mp_sync_handle (&self->sync), lock);
}

MpCondition *
mp_condition_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) own = NULL;
  g_autoptr(GVariant) lock = NULL;
  MpCondition *self;
  guint32 lock_kind;

  if (serialized == NULL || !g_variant_is_of_type (serialized, G_VARIANT_TYPE ("((uut)(uut))")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A condition handle must be of type ((uut)(uut))");
      return NULL;
    }
  own = g_variant_get_child_value (serialized, 0);
  lock = g_variant_get_child_value (serialized, 1);
  g_variant_get_child (lock, 0, "u", &lock_kind);

  self = g_new0 (MpCondition, 1);
  if (lock_kind == MP_OBJECT_LOCK)
    self->lock = mp_lock_deserialize (lock, fd_list, error);
  else
    self->rlock = mp_rlock_deserialize (lock, fd_list, error);
  if ((self->lock == NULL && self->rlock == NULL) ||
      !_mp_sync_init_from_handle (&self->sync, MP_OBJECT_CONDITION, own, error))
    {
      g_clear_pointer (&self->lock, mp_lock_unref);
      g_clear_pointer (&self->rlock, mp_rlock_unref);
      g_free (self);
      return NULL;
    }
  self->w = (CondWords *) (void *) self->sync.st->aux2;
  return self;
}
