/* mp-barrier.c: Barrier
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * State in the arena entry: `generation` is the futex word waiters sleep on; `count` the
 * parties arrived in this generation; `limit` the number of parties; flags bit 0 "broken".
 * A short word lock (aux2) guards the bookkeeping. Every way a generation ends — all arrived,
 * a timeout, abort(), reset(), a failing action — bumps `generation` and wakes everybody, so
 * a waiter can never miss its wake-up. How each generation ended is bit (generation % 64) of
 * `broken_bits`, written before the generation is bumped (release; the waiters load it with
 * acquire): a waiter that wakes late still reads its own generation's outcome, even after
 * others went on to break and reset later ones.
 *
 * The action runs in the process of the last party to arrive, before the others are released,
 * as in Python, with the word lock held (latecomers of the next generation wait for it). The
 * word lock is robust: if the process running the action is killed, the next process that
 * needs the lock (a waiter whose time ran out, a new arrival) takes it over and breaks the
 * generation, so nobody hangs (Python's does, its Condition's lock held by the dead). It is an MpCallable so that it can be sent to spawned processes with the handle.
 */

#include "config.h"

#include "mp-barrier.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define FLAG_BROKEN 1u

typedef struct
{
  uint32_t lock;
  uint32_t pad;
  int64_t  default_timeout_us;
  uint64_t broken_bits;      /* bit g % 64: generation g ended broken */
} BarrierWords;

G_STATIC_ASSERT (sizeof (BarrierWords) <= sizeof (((MpSyncStats *) 0)->aux2));

struct _MpBarrier
{
  MpSync        sync;
  BarrierWords *w;
  MpCallable   *action;
};

/**
 * mp_barrier_new:
 * @parties: how many must arrive, at least 1
 * @action: (nullable): run by the last to arrive, before the others go on
 * @timeout_us: the default timeout of mp_barrier_wait(), %MP_TIMEOUT_INFINITE for none
 * @error: return location for an error
 *
 * Returns: (transfer full): a new barrier
 */
MpBarrier *
mp_barrier_new (guint parties, MpCallable *action, gint64 timeout_us, GError **error)
{
  MpBarrier *self;

  if (parties < 1 || parties > G_MAXINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "parties must be at least 1");
      return NULL;
    }
  self = g_new0 (MpBarrier, 1);
  if (!_mp_sync_init (&self->sync, MP_OBJECT_BARRIER, "Barrier", error))
    {
      g_free (self);
      return NULL;
    }
  self->w = (BarrierWords *) (void *) self->sync.st->aux2;
  self->w->default_timeout_us = timeout_us;
  self->sync.st->limit = parties;
  self->action = action ? mp_callable_ref (action) : NULL;
  return self;
}

MpBarrier *
mp_barrier_ref (MpBarrier *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_barrier_unref (MpBarrier *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    {
      g_clear_pointer (&self->action, mp_callable_unref);
      g_free (self);
    }
}

/* With the word lock held: ends the current generation, badly or not, and wakes all. */
static void
end_generation_locked (MpSyncStats *st, BarrierWords *w, gboolean broken)
{
  uint32_t gen = __atomic_load_n (&st->generation, __ATOMIC_RELAXED);
  uint64_t bit = G_GUINT64_CONSTANT (1) << (gen % 64);

  if (broken)
    __atomic_or_fetch (&w->broken_bits, bit, __ATOMIC_RELAXED);
  else
    __atomic_and_fetch (&w->broken_bits, ~bit, __ATOMIC_RELAXED);
  st->count = 0;
  __atomic_store_n (&st->generation, gen + 1, __ATOMIC_RELEASE);
  _mp_futex_wake (&st->generation, G_MAXINT);
}

static void
break_locked (MpSyncStats *st, BarrierWords *w)
{
  __atomic_or_fetch (&st->flags, FLAG_BROKEN, __ATOMIC_RELAXED);
  if (st->count > 0)
    end_generation_locked (st, w, TRUE);
}

/* Takes the word lock. Taken over from a process that died holding it (running the action,
 * say), the generation it was ending is broken: everybody waiting gets out. */
static void
barrier_lock (MpBarrier *self)
{
  if (_mp_word_lock (&self->w->lock))
    {
      _mp_subwarning ("barrier %" G_GUINT64_FORMAT ": a process died inside it; broken",
                      self->sync.id);
      __atomic_or_fetch (&self->sync.st->flags, FLAG_BROKEN, __ATOMIC_RELAXED);
      if (self->sync.st->count > 0)
        end_generation_locked (self->sync.st, self->w, TRUE);
    }
}

static gint
broken_error (GError **error, const char *why)
{
  g_set_error (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER, "The barrier is broken (%s)", why);
  return -1;
}

/**
 * mp_barrier_wait:
 * @self: a barrier
 * @timeout_us: how long to wait, %MP_TIMEOUT_INFINITE, or %MP_BARRIER_DEFAULT_TIMEOUT for the
 *   barrier's own
 * @error: return location for an error
 *
 * Returns: a number from 0 to parties − 1, different for each party of a generation (the
 *   order of arrival); -1 with %MP_ERROR_BROKEN_BARRIER if the barrier is or gets broken —
 *   running out of time breaks it for everybody. When the action fails, every party gets
 *   %MP_ERROR_BROKEN_BARRIER, the one that ran it with the action's message (Python raises
 *   the action's own exception there).
 */
gint
mp_barrier_wait (MpBarrier *self, gint64 timeout_us, GError **error)
{
  MpSyncStats *st;
  uint32_t gen;
  gint index;
  gint64 deadline;
  guint64 t0;

  g_return_val_if_fail (self != NULL, -1);
  st = self->sync.st;
  if (timeout_us == MP_BARRIER_DEFAULT_TIMEOUT)
    timeout_us = self->w->default_timeout_us;
  deadline = _mp_deadline_ns (timeout_us);
  t0 = _mp_monotonic_ns ();

  barrier_lock (self);
  if (__atomic_load_n (&st->flags, __ATOMIC_RELAXED) & FLAG_BROKEN)
    {
      _mp_word_unlock (&self->w->lock);
      return broken_error (error, "aborted or broken earlier; reset() it");
    }
  gen = __atomic_load_n (&st->generation, __ATOMIC_RELAXED);
  index = (gint) st->count++;

  if (st->count == st->limit)
    {
      if (self->action != NULL)
        {
          g_autoptr(GError) action_error = NULL;
          g_autoptr(GVariant) ret = mp_callable_invoke (self->action, NULL, &action_error);

          if (action_error != NULL)
            {
              break_locked (st, self->w);
              _mp_word_unlock (&self->w->lock);
              /* Every party gets the same code, this one with the action's message. */
              g_set_error (error, MP_ERROR, MP_ERROR_BROKEN_BARRIER,
                           "The barrier is broken: its action failed: %s",
                           action_error->message);
              return -1;
            }
        }
      end_generation_locked (st, self->w, FALSE);
      _mp_word_unlock (&self->w->lock);
      __atomic_add_fetch (&st->acquisitions, 1, __ATOMIC_RELAXED);
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_BARRIER_WAIT, self->sync.id, 0, index);
      return index;
    }
  _mp_word_unlock (&self->w->lock);

  __atomic_add_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
  _mp_arena_proc_set_blocked_on (self->sync.id);
  while (__atomic_load_n (&st->generation, __ATOMIC_ACQUIRE) == gen)
    {
      gint64 left = _mp_remaining_ns (deadline);

      if (left == 0)
        {
          barrier_lock (self);
          if (__atomic_load_n (&st->generation, __ATOMIC_RELAXED) == gen)
            break_locked (st, self->w);
          _mp_word_unlock (&self->w->lock);
          break;
        }
      (void) _mp_futex_wait (&st->generation, gen, left);
    }
  __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_RELAXED);
  _mp_arena_proc_set_blocked_on (0);

  if (__atomic_load_n (&self->w->broken_bits, __ATOMIC_RELAXED) &
      (G_GUINT64_CONSTANT (1) << (gen % 64)))
    return broken_error (error, _mp_remaining_ns (deadline) == 0 ? "timed out" :
                         "aborted, reset or its action failed while waiting");
  __atomic_add_fetch (&st->acquisitions, 1, __ATOMIC_RELAXED);
  /* Stats only: MP_EVENT_BARRIER_WAIT below is this wait's event. */
  _mp_sync_record_wait (&self->sync, _mp_monotonic_ns () - t0, 0, FALSE);
  _mp_trace (MP_TRACE_NORMAL, MP_EVENT_BARRIER_WAIT, self->sync.id,
             (gint64) (_mp_monotonic_ns () - t0), index);
  return index;
}

/**
 * mp_barrier_abort:
 *
 * Breaks the barrier: current and future waiters fail until mp_barrier_reset().
 */
void
mp_barrier_abort (MpBarrier *self)
{
  g_return_if_fail (self != NULL);
  barrier_lock (self);
  break_locked (self->sync.st, self->w);
  _mp_word_unlock (&self->w->lock);
}

/**
 * mp_barrier_reset:
 *
 * Returns the barrier to its initial state; parties waiting now fail with
 * %MP_ERROR_BROKEN_BARRIER.
 */
void
mp_barrier_reset (MpBarrier *self)
{
  MpSyncStats *st;

  g_return_if_fail (self != NULL);
  st = self->sync.st;
  barrier_lock (self);
  if (st->count > 0)
    end_generation_locked (st, self->w, TRUE);
  __atomic_and_fetch (&st->flags, ~FLAG_BROKEN, __ATOMIC_RELAXED);
  _mp_word_unlock (&self->w->lock);
}

guint
mp_barrier_get_parties (MpBarrier *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->sync.st->limit;
}

guint
mp_barrier_get_n_waiting (MpBarrier *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return mp_barrier_get_broken (self) ? 0 : __atomic_load_n (&self->sync.st->count, __ATOMIC_RELAXED);
}

gboolean
mp_barrier_get_broken (MpBarrier *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return (__atomic_load_n (&self->sync.st->flags, __ATOMIC_RELAXED) & FLAG_BROKEN) != 0;
}

/**
 * mp_barrier_serialize:
 *
 * Returns: (transfer floating): a handle with the barrier and its action
 */
GVariant *
mp_barrier_serialize (MpBarrier *self, GUnixFDList *fd_list, GError **error)
{
  GVariant *action = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  if (self->action != NULL)
    {
      g_autoptr(GUnixFDList) local = NULL;
      if (fd_list == NULL)
        fd_list = local = g_unix_fd_list_new ();
      action = mp_callable_serialize (self->action, fd_list, error);
      if (action == NULL)
        return NULL;
    }
  return g_variant_new ("(@(uut)@mv)", _mp_sync_handle (&self->sync),
                        g_variant_new_maybe (G_VARIANT_TYPE_VARIANT,
                                             action ? g_variant_new_variant (action) : NULL));
}

MpBarrier *
mp_barrier_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) own = NULL;
  g_autoptr(GVariant) maybe = NULL;
  g_autoptr(MpCallable) action = NULL;
  MpBarrier *self;

  if (serialized == NULL || !g_variant_is_of_type (serialized, G_VARIANT_TYPE ("((uut)mv)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A barrier handle must be of type ((uut)mv)");
      return NULL;
    }
  own = g_variant_get_child_value (serialized, 0);
  maybe = g_variant_get_child_value (serialized, 1);
  if (g_variant_n_children (maybe) > 0)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (maybe, 0);
      g_autoptr(GVariant) inner = g_variant_get_variant (boxed);
      action = mp_callable_deserialize (inner, fd_list, error);
      if (action == NULL)
        return NULL;
    }
  self = g_new0 (MpBarrier, 1);
  if (!_mp_sync_init_from_handle (&self->sync, MP_OBJECT_BARRIER, own, error))
    {
      g_free (self);
      return NULL;
    }
  self->w = (BarrierWords *) (void *) self->sync.st->aux2;
  self->action = g_steal_pointer (&action);
  return self;
}
