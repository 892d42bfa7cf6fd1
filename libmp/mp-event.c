/* mp-event.c: Event
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The flag is the futex word's neighbour: `word` holds the flag and waiters sleep on
 * `generation`, which every set() bumps. Sleeping on the flag itself would lose a set()
 * followed at once by clear(): the waiter would wake, find 0 again and sleep on, and with no
 * timeout never return. A waiter reads the generation before the flag, so a set() it did not
 * see in the flag changes the generation before the kernel compares it, or finds the waiter
 * counted in nwaiters and wakes it (all of it sequentially consistent).
 *
 * wait() therefore returns TRUE when the flag was set when it looked, or got set while it
 * waited, even if it was cleared again since: threading.Event's "set, either before the wait
 * call or after the wait starts".
 */

#include "config.h"

#include "mp-event.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

struct _MpEvent
{
  MpSync sync;
};

/**
 * mp_event_new:
 *
 * Returns: (transfer full): a new event, not set
 */
MpEvent *
mp_event_new (GError **error)
{
  MpEvent *self = g_new0 (MpEvent, 1);

  if (!_mp_sync_init (&self->sync, MP_OBJECT_EVENT, "Event", error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}

MpEvent *
mp_event_ref (MpEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_event_unref (MpEvent *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    g_free (self);
}

gboolean
mp_event_is_set (MpEvent *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return __atomic_load_n (&self->sync.st->word, __ATOMIC_ACQUIRE) != 0;
}

void
mp_event_set (MpEvent *self)
{
  MpSyncStats *st;

  g_return_if_fail (self != NULL);
  st = self->sync.st;
  __atomic_store_n (&st->word, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch (&st->generation, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (&st->nwaiters, __ATOMIC_SEQ_CST) > 0)
    _mp_futex_wake (&st->generation, G_MAXINT);
}

void
mp_event_clear (MpEvent *self)
{
  g_return_if_fail (self != NULL);
  __atomic_store_n (&self->sync.st->word, 0, __ATOMIC_SEQ_CST);
}

/**
 * mp_event_wait:
 * @self: an event
 * @timeout_us: how long to wait; 0 to look without waiting, %MP_TIMEOUT_INFINITE for ever
 *
 * Returns: the flag: %TRUE if it was set when the wait began or got set during the wait
 *   (even if cleared again since), %FALSE on timeout
 */
gboolean
mp_event_wait (MpEvent *self, gint64 timeout_us)
{
  MpSyncStats *st;
  gboolean set = FALSE;
  gint64 deadline;
  guint64 t0;
  uint32_t gen;

  g_return_val_if_fail (self != NULL, FALSE);
  st = self->sync.st;

  __atomic_add_fetch (&st->acquisitions, 1, __ATOMIC_RELAXED);
  if (__atomic_load_n (&st->word, __ATOMIC_ACQUIRE) != 0)
    return TRUE;
  if (timeout_us == 0 || (timeout_us < 0 && timeout_us != MP_TIMEOUT_INFINITE))
    return FALSE;

  t0 = _mp_monotonic_ns ();
  deadline = _mp_deadline_ns (timeout_us);
  __atomic_add_fetch (&st->nwaiters, 1, __ATOMIC_SEQ_CST);
  _mp_arena_proc_set_blocked_on (self->sync.id);
  gen = __atomic_load_n (&st->generation, __ATOMIC_SEQ_CST);
  for (;;)
    {
      gint64 left;

      if (__atomic_load_n (&st->word, __ATOMIC_SEQ_CST) != 0 ||
          __atomic_load_n (&st->generation, __ATOMIC_SEQ_CST) != gen)
        {
          set = TRUE;
          break;
        }
      left = _mp_remaining_ns (deadline);
      if (left == 0)
        break;
      (void) _mp_futex_wait (&st->generation, gen, left);
    }
  _mp_arena_proc_set_blocked_on (0);
  __atomic_sub_fetch (&st->nwaiters, 1, __ATOMIC_SEQ_CST);
  /* Stats only: an Event wait is not lock contention, so no MP_EVENT_LOCK_CONTENDED. */
  _mp_sync_record_wait (&self->sync, _mp_monotonic_ns () - t0, 0, FALSE);
  return set;
}

/**
 * mp_event_to_string:
 *
 * Returns: (transfer full): Python's repr, `<MpEvent at 0x… set>` or `… unset>`
 */
char *
mp_event_to_string (MpEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_strdup_printf ("<MpEvent at %p %s>", (void *) self,
                          mp_event_is_set (self) ? "set" : "unset");
}

GVariant *
mp_event_serialize (MpEvent *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return _mp_sync_handle (&self->sync);
}

MpEvent *
mp_event_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpEvent *self = g_new0 (MpEvent, 1);

  if (!_mp_sync_init_from_handle (&self->sync, MP_OBJECT_EVENT, serialized, error))
    {
      g_free (self);
      return NULL;
    }
  return self;
}
