/* mp-semaphore.c: Semaphore and BoundedSemaphore
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The value is the futex word itself (MpSyncStats.word); `limit` is the bound of a
 * BoundedSemaphore (the kind says whether there is one: a bound of 0 is valid).
 * Waiters count themselves in nwaiters before sleeping so a release knows whether a wake
 * syscall is needed (see _mp_word_sem_acquire for the ordering argument).
 */

#include "config.h"

#include "mp-error.h"
#include "mp-semaphore.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

struct _MpSemaphore
{
  MpSync sync;
};

static MpSemaphore *
semaphore_new (MpObjectKind kind, guint value, GError **error)
{
  MpSemaphore *self = g_new0 (MpSemaphore, 1);

  if (value > G_MAXINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "semaphore value is too large");
      g_free (self);
      return NULL;
    }
  if (!_mp_sync_init (&self->sync, kind,
                      kind == MP_OBJECT_SEMAPHORE ? "Semaphore" : "BoundedSemaphore", error))
    {
      g_free (self);
      return NULL;
    }
  self->sync.st->word = value;
  self->sync.st->limit = kind == MP_OBJECT_BOUNDED_SEMAPHORE ? value : 0;
  return self;
}

/**
 * mp_semaphore_new:
 * @value: the initial value
 * @error: return location for an error
 *
 * Returns: (transfer full): a new semaphore
 */
MpSemaphore *
mp_semaphore_new (guint value, GError **error)
{
  return semaphore_new (MP_OBJECT_SEMAPHORE, value, error);
}

/**
 * mp_bounded_semaphore_new:
 * @value: the initial and maximum value
 * @error: return location for an error
 *
 * Returns: (transfer full): a new bounded semaphore
 */
MpSemaphore *
mp_bounded_semaphore_new (guint value, GError **error)
{
  return semaphore_new (MP_OBJECT_BOUNDED_SEMAPHORE, value, error);
}

MpSemaphore *
mp_semaphore_ref (MpSemaphore *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_semaphore_unref (MpSemaphore *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    g_free (self);
}

/**
 * mp_semaphore_acquire:
 * @self: a semaphore
 * @timeout_us: 0 to try, %MP_TIMEOUT_INFINITE to wait forever
 * @error: return location for an error
 *
 * Returns: %TRUE when the value was decremented; %FALSE with %MP_ERROR_TIMEOUT otherwise
 */
gboolean
mp_semaphore_acquire (MpSemaphore *self, gint64 timeout_us, GError **error)
{
  MpSyncStats *st;
  uint32_t v;
  guint64 t0;
  gboolean acquired;

  g_return_val_if_fail (self != NULL, FALSE);
  st = self->sync.st;

  v = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
  while (v > 0)
    if (__atomic_compare_exchange_n (&st->word, &v, v - 1, TRUE, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
      {
        __atomic_add_fetch (&st->acquisitions, 1, __ATOMIC_RELAXED);
        _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_ACQUIRED, self->sync.id, 0, 0);
        return TRUE;
      }

  if (timeout_us == 0 || (timeout_us < 0 && timeout_us != MP_TIMEOUT_INFINITE))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "The semaphore is at zero");
      return FALSE;
    }
  t0 = _mp_monotonic_ns ();
  _mp_arena_proc_set_blocked_on (self->sync.id);
  acquired = _mp_word_sem_acquire (&st->word, &st->nwaiters, _mp_deadline_ns (timeout_us));
  _mp_arena_proc_set_blocked_on (0);
  if (!acquired)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "Timed out waiting for the semaphore");
      return FALSE;
    }
  __atomic_add_fetch (&st->acquisitions, 1, __ATOMIC_RELAXED);
  _mp_sync_record_wait (&self->sync, _mp_monotonic_ns () - t0, 0, TRUE);
  return TRUE;
}

/**
 * mp_semaphore_release:
 *
 * Increments the value, waking one waiter. A bounded semaphore at its initial value fails
 * with %MP_ERROR_INVALID_ARGUMENT.
 */
gboolean
mp_semaphore_release (MpSemaphore *self, GError **error)
{
  MpSyncStats *st;

  g_return_val_if_fail (self != NULL, FALSE);
  st = self->sync.st;

  /* The kind, not the limit, says bounded: BoundedSemaphore(0) has limit 0 and must refuse
   * every release. */
  if (self->sync.kind == MP_OBJECT_BOUNDED_SEMAPHORE)
    {
      uint32_t v = __atomic_load_n (&st->word, __ATOMIC_RELAXED);
      do
        {
          if (v >= st->limit)
            {
              g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "semaphore or lock released too many times");
              return FALSE;
            }
        }
      while (!__atomic_compare_exchange_n (&st->word, &v, v + 1, TRUE, __ATOMIC_SEQ_CST,
                                           __ATOMIC_RELAXED));
      if (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST) > 0)
        _mp_futex_wake (&st->word, 1);
    }
  else if (__atomic_load_n (&st->word, __ATOMIC_RELAXED) >= G_MAXINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "semaphore value overflow");
      return FALSE;
    }
  else
    _mp_word_sem_release (&st->word, &st->nwaiters, 1);
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_LOCK_RELEASED, self->sync.id, 0, 0);
  return TRUE;
}

guint
mp_semaphore_get_value (MpSemaphore *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return __atomic_load_n (&self->sync.st->word, __ATOMIC_RELAXED);
}

gboolean
mp_semaphore_locked (MpSemaphore *self)
{
  return mp_semaphore_get_value (self) == 0;
}

gboolean
mp_semaphore_is_bounded (MpSemaphore *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->sync.kind == MP_OBJECT_BOUNDED_SEMAPHORE;
}

guint64
mp_semaphore_get_id (MpSemaphore *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->sync.id;
}

GVariant *
mp_semaphore_serialize (MpSemaphore *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return _mp_sync_handle (&self->sync);
}

MpSemaphore *
mp_semaphore_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpSemaphore *self = g_new0 (MpSemaphore, 1);
  guint32 kind = 0;

  if (serialized != NULL && g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(uut)")))
    g_variant_get_child (serialized, 0, "u", &kind);
  if (!_mp_sync_init_from_handle (&self->sync,
                                  kind == MP_OBJECT_BOUNDED_SEMAPHORE ? MP_OBJECT_BOUNDED_SEMAPHORE
                                                                      : MP_OBJECT_SEMAPHORE,
                                  serialized, error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}
