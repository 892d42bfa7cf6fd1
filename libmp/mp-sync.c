/* mp-sync.c: the base of cross-process synchronization objects
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A sync object is an entry of the arena's object directory: its futex words and its stats
 * share the entry's stats area (MpSyncStats), so any process of the tree reaches them whatever
 * the start method. A handle (kind, index, id) names it in another process; the id guards
 * against an entry that was freed and reused.
 *
 * Lifetime: the entry's `refs` counts the handles open on it across the tree. Every MpSync in
 * a process holds one. A fork child inherits its parent's handles without running any of our
 * code, so an atfork child handler adds a reference for each, and the child's exit
 * (mp_process_exit) drops them. A process killed by a signal leaks its references: the entry
 * then stays (visible to monitors) until the program tree ends, which is harmless.
 */

#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

static GMutex registry_lock;
static GHashTable *registry;     /* MpSync* set: the live handles of this process */
static pid_t cached_pid;
static __thread pid_t tls_pid;
static __thread pid_t tls_tid;

static void
atfork_prepare (void)
{
  g_mutex_lock (&registry_lock);
}

static void
atfork_parent (void)
{
  g_mutex_unlock (&registry_lock);
}

static void
atfork_child (void)
{
  GHashTableIter iter;
  gpointer key;

  cached_pid = 0;
  if (registry != NULL)
    {
      g_hash_table_iter_init (&iter, registry);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        __atomic_add_fetch (&((MpSync *) key)->object->refs, 1, __ATOMIC_RELAXED);
    }
  g_mutex_unlock (&registry_lock);
}

static void
registry_add (MpSync *sync)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      pthread_atfork (atfork_prepare, atfork_parent, atfork_child);
      g_once_init_leave (&once, 1);
    }
  g_mutex_lock (&registry_lock);
  if (registry == NULL)
    registry = g_hash_table_new (NULL, NULL);
  g_hash_table_add (registry, sync);
  g_mutex_unlock (&registry_lock);
}

static void
drop_arena_ref (MpArenaObject *object)
{
  if (__atomic_sub_fetch (&object->refs, 1, __ATOMIC_ACQ_REL) == 0)
    _mp_arena_object_retire (object);
}

/* A child leaving: its handles' references go with it. */
void
_mp_sync_release_process_refs (void)
{
  GHashTableIter iter;
  gpointer key;

  g_mutex_lock (&registry_lock);
  if (registry != NULL)
    {
      g_hash_table_iter_init (&iter, registry);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        drop_arena_ref (((MpSync *) key)->object);
      g_hash_table_remove_all (registry);
    }
  g_mutex_unlock (&registry_lock);
}

pid_t
_mp_sync_self_pid (void)
{
  pid_t pid = __atomic_load_n (&cached_pid, __ATOMIC_RELAXED);

  if (G_UNLIKELY (pid == 0))
    {
      pid = getpid ();
      __atomic_store_n (&cached_pid, pid, __ATOMIC_RELAXED);
    }
  return pid;
}

pid_t
_mp_sync_self_tid (void)
{
  pid_t pid = _mp_sync_self_pid ();

  /* After fork the thread-local copy belongs to the parent's thread: refresh it. */
  if (G_UNLIKELY (tls_pid != pid))
    {
      tls_pid = pid;
      tls_tid = gettid ();
    }
  return tls_tid;
}

gboolean
_mp_pid_is_dead (pid_t pid)
{
  char path[64], buf[512];
  const char *p;
  FILE *f;
  size_t n;

  if (pid <= 0)
    return FALSE;
  if (kill (pid, 0) < 0 && errno == ESRCH)
    return TRUE;
  /* A killed process whose parent has not reaped it yet still answers kill(): a zombie. */
  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  f = fopen (path, "re");
  if (f == NULL)
    return TRUE;
  n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = 0;
  p = strrchr (buf, ')');
  return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

gint64
_mp_deadline_ns (gint64 timeout_us)
{
  if (timeout_us == -1)
    return -1;
  return (gint64) _mp_monotonic_ns () + MAX (timeout_us, 0) * 1000;
}

gint64
_mp_remaining_ns (gint64 deadline_ns)
{
  gint64 now;

  if (deadline_ns < 0)
    return -1;
  now = (gint64) _mp_monotonic_ns ();
  return deadline_ns > now ? deadline_ns - now : 0;
}

gboolean
_mp_sync_init (MpSync *sync, MpObjectKind kind, const char *label, GError **error)
{
  MpArena *arena = _mp_arena_ensure ();
  MpArenaObject *object;

  if (arena == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO,
                   "No shared arena: synchronization objects cannot be created");
      return FALSE;
    }
  object = _mp_arena_object_new (kind, label, &sync->id);
  if (object == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_FAILED,
                   "The arena's object directory is full (%u objects)",
                   _mp_arena_header (arena)->objects_capacity);
      return FALSE;
    }
  g_atomic_ref_count_init (&sync->ref_count);
  sync->kind = kind;
  sync->object = object;
  sync->st = MP_OBJECT_STATS (object, MpSyncStats);
  sync->index = (int) (((guint8 *) object - (arena->base + _mp_arena_header (arena)->objects_offset)) /
                       sizeof (MpArenaObject));
  __atomic_store_n (&object->refs, 1, __ATOMIC_RELEASE);
  registry_add (sync);
  return TRUE;
}

GVariant *
_mp_sync_handle (MpSync *sync)
{
  return g_variant_new ("(uut)", (guint32) sync->kind, (guint32) sync->index, sync->id);
}

gboolean
_mp_sync_init_from_handle (MpSync *sync, MpObjectKind kind, GVariant *handle, GError **error)
{
  MpArena *arena = _mp_arena_ensure ();
  MpArenaObject *object;
  guint32 k, index;
  guint64 id;

  if (handle == NULL || !g_variant_is_of_type (handle, G_VARIANT_TYPE ("(uut)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A synchronization handle must be of type (uut)");
      return FALSE;
    }
  g_variant_get (handle, "(uut)", &k, &index, &id);
  if (k != (guint32) kind)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The handle is for an object of kind %u, not %u", k, (guint32) kind);
      return FALSE;
    }
  if (arena == NULL || (object = _mp_arena_object (arena, (int) index)) == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The handle names no object of this program's arena");
      return FALSE;
    }
  /* Take a reference first, then check that it is still the object we were told about. */
  __atomic_add_fetch (&object->refs, 1, __ATOMIC_ACQ_REL);
  if (__atomic_load_n (&object->state, __ATOMIC_ACQUIRE) != 1 || object->id != id ||
      object->kind != (guint32) kind)
    {
      drop_arena_ref (object);
      g_set_error (error, MP_ERROR, MP_ERROR_NOT_FOUND,
                   "The synchronization object %" G_GUINT64_FORMAT " no longer exists", id);
      return FALSE;
    }
  g_atomic_ref_count_init (&sync->ref_count);
  sync->kind = kind;
  sync->object = object;
  sync->st = MP_OBJECT_STATS (object, MpSyncStats);
  sync->index = (int) index;
  sync->id = id;
  registry_add (sync);
  return TRUE;
}

void
_mp_sync_ref (MpSync *sync)
{
  g_atomic_ref_count_inc (&sync->ref_count);
}

/* Returns TRUE when the last local reference went: the caller frees its struct. */
gboolean
_mp_sync_unref (MpSync *sync)
{
  if (!g_atomic_ref_count_dec (&sync->ref_count))
    return FALSE;
  g_mutex_lock (&registry_lock);
  if (registry != NULL && g_hash_table_remove (registry, sync))
    drop_arena_ref (sync->object);
  g_mutex_unlock (&registry_lock);
  return TRUE;
}

void
_mp_sync_record_wait (MpSync *sync, guint64 waited_ns, pid_t holder)
{
  MpSyncStats *st = sync->st;
  guint64 max = __atomic_load_n (&st->max_wait_ns, __ATOMIC_RELAXED);

  __atomic_add_fetch (&st->contended, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch (&st->total_wait_ns, waited_ns, __ATOMIC_RELAXED);
  while (waited_ns > max &&
         !__atomic_compare_exchange_n (&st->max_wait_ns, &max, waited_ns, TRUE,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
  __atomic_store_n (&st->last_waiter_pid, _mp_sync_self_pid (), __ATOMIC_RELAXED);
  _mp_trace (MP_TRACE_NORMAL, MP_EVENT_LOCK_CONTENDED, sync->id, holder, (gint64) waited_ns);
}

gboolean
_mp_word_sem_acquire (uint32_t *value, uint32_t *nwaiters, gint64 deadline_ns)
{
  for (;;)
    {
      uint32_t v = __atomic_load_n (value, __ATOMIC_ACQUIRE);
      gint64 left;

      while (v > 0)
        if (__atomic_compare_exchange_n (value, &v, v - 1, TRUE, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
          return TRUE;

      left = _mp_remaining_ns (deadline_ns);
      if (left == 0)
        return FALSE;
      /* Announce ourselves before the futex re-checks the value: a releaser that added to the
       * value before our increment is seen by the kernel's compare, one after it sees us. */
      __atomic_add_fetch (nwaiters, 1, __ATOMIC_SEQ_CST);
      (void) _mp_futex_wait (value, 0, left);
      __atomic_sub_fetch (nwaiters, 1, __ATOMIC_SEQ_CST);
    }
}

void
_mp_word_sem_release (uint32_t *value, uint32_t *nwaiters, uint32_t n)
{
  __atomic_add_fetch (value, n, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (nwaiters, __ATOMIC_SEQ_CST) > 0)
    _mp_futex_wake (value, (int) MIN (n, (uint32_t) G_MAXINT));
}

void
_mp_word_lock (uint32_t *word)
{
  uint32_t c = 0;

  if (__atomic_compare_exchange_n (word, &c, 1, FALSE, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return;
  if (c != 2)
    c = __atomic_exchange_n (word, 2, __ATOMIC_ACQUIRE);
  while (c != 0)
    {
      (void) _mp_futex_wait (word, 2, -1);
      c = __atomic_exchange_n (word, 2, __ATOMIC_ACQUIRE);
    }
}

void
_mp_word_unlock (uint32_t *word)
{
  if (__atomic_exchange_n (word, 0, __ATOMIC_RELEASE) == 2)
    _mp_futex_wake (word, 1);
}
