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

#include <fcntl.h>
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
pid_t _mp_sync_pid;
__thread MpSyncSelf _mp_sync_self __attribute__ ((tls_model ("initial-exec")));

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

  __atomic_store_n (&_mp_sync_pid, 0, __ATOMIC_RELAXED);
  if (registry != NULL)
    {
      g_hash_table_iter_init (&iter, registry);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        __atomic_add_fetch (&((MpSync *) key)->object->refs, 1, __ATOMIC_RELAXED);
    }
  g_mutex_unlock (&registry_lock);
}

static void
ensure_atfork (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      pthread_atfork (atfork_prepare, atfork_parent, atfork_child);
      g_once_init_leave (&once, 1);
    }
}

static void
registry_add (MpSync *sync)
{
  ensure_atfork ();
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

static gboolean
ref_if_live (MpArenaObject *object)
{
  guint64 refs = __atomic_load_n (&object->refs, __ATOMIC_RELAXED);

  do
    if (refs == 0)
      return FALSE;
  while (!__atomic_compare_exchange_n (&object->refs, &refs, refs + 1, TRUE, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED));
  return TRUE;
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

const MpSyncSelf *
_mp_sync_self_refresh (void)
{
  pid_t pid = __atomic_load_n (&_mp_sync_pid, __ATOMIC_RELAXED);

  /* The atfork handler must be in place before a pid is cached, or a fork child would keep
   * its parent's. */
  ensure_atfork ();
  if (pid == 0)
    {
      pid = getpid ();
      __atomic_store_n (&_mp_sync_pid, pid, __ATOMIC_RELAXED);
    }
  if (_mp_sync_self.pid != pid)
    {
      _mp_sync_self.tid = gettid ();
      _mp_sync_self.pid = pid;
    }
  return &_mp_sync_self;
}

/* Gone, or a zombie (killed, not reaped yet: it still answers kill()). Plain syscalls rather
 * than stdio: a try-acquire of a held lock may call this. */
gboolean
_mp_pid_is_dead (pid_t pid)
{
  char path[64], buf[512];
  const char *p;
  ssize_t n;
  int fd;

  if (pid <= 0)
    return FALSE;
  if (kill (pid, 0) < 0 && errno == ESRCH)
    return TRUE;
  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT;
  do
    n = read (fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n <= 0)
    return FALSE;
  buf[n] = 0;
  p = strrchr (buf, ')');
  return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The most a thread polls, in pauses: about 10 µs (a pause is 10–40 ns), more than a short
 * critical section lasts, less than a futex sleep and wake-up cost together, which on a virtual
 * machine are tens of µs. */
#define SPIN_MAX 400
#define SPIN_MIN 64

static __thread int spin_budget __attribute__ ((tls_model ("initial-exec"))) = -1;

/* Adaptive, per thread: a spin that wins doubles the next budget, one that ends in a sleep
 * takes a sixteenth off it, down to SPIN_MIN (about 2 µs). On a busy machine the partner we
 * wait for is often not running, and spinning only takes the CPU it needs: a run of failures
 * brings the budget down. The decay is slow and the floor not 0 because two processes handing
 * a semaphore back and forth only win when both spin: one failure makes the partner fail too
 * (it waits for us while we sleep), and halving at each failure locked an idle machine into
 * both sides sleeping every time (2 µs round trips instead of 0.25). Per thread rather than
 * per object because what it tracks is mostly how busy the CPUs are. */
int
_mp_sync_spin_count (void)
{
  static int ncpu = -1;
  int n = __atomic_load_n (&ncpu, __ATOMIC_RELAXED);

  if (G_UNLIKELY (n < 0))
    {
      n = (int) sysconf (_SC_NPROCESSORS_ONLN);
      __atomic_store_n (&ncpu, n, __ATOMIC_RELAXED);
    }
  if (n <= 1)
    return 0;
  if (G_UNLIKELY (spin_budget < 0))
    spin_budget = SPIN_MAX;
  return spin_budget;
}

void
_mp_sync_spin_result (gboolean won)
{
  if (spin_budget < 0)
    return;
  spin_budget = won ? MIN (spin_budget * 2, SPIN_MAX) : MAX (spin_budget - spin_budget / 16, SPIN_MIN);
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
  /* Take a reference only while somebody still holds one (0 means retired, or an entry being
   * set up for a new object: incrementing that would revive a retired entry, or be lost when
   * the creator stores its first reference), then check it is the object we were told of. */
  if (!ref_if_live (object))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_NOT_FOUND,
                   "The synchronization object %" G_GUINT64_FORMAT " no longer exists", id);
      return FALSE;
    }
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
_mp_sync_record_wait (MpSync *sync, guint64 waited_ns, pid_t holder, gboolean emit)
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
  if (emit)
    _mp_trace (MP_TRACE_NORMAL, MP_EVENT_LOCK_CONTENDED, sync->id, holder, (gint64) waited_ns);
}

static inline gboolean
word_sem_try (uint32_t *value)
{
  uint32_t v = __atomic_load_n (value, __ATOMIC_RELAXED);

  while (v > 0)
    if (__atomic_compare_exchange_n (value, &v, v - 1, TRUE, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
      return TRUE;
  return FALSE;
}

gboolean
_mp_word_sem_acquire (uint32_t *value, uint32_t *nwaiters, gint64 deadline_ns)
{
  gboolean spun = FALSE;

  for (;;)
    {
      gint64 left;

      if (word_sem_try (value))
        return TRUE;
      left = _mp_remaining_ns (deadline_ns);
      if (left == 0)
        return FALSE;
      /* Poll a little before the first sleep: a partner on another CPU usually posts within
       * microseconds, and a futex sleep and wake-up costs both sides far more. Spinners are not
       * counted in nwaiters, so their releaser needs no wake-up syscall either. */
      if (!spun)
        {
          int spins = _mp_sync_spin_count ();

          spun = TRUE;
          for (int i = 0; i < spins; i++)
            {
              _mp_cpu_relax ();
              if (__atomic_load_n (value, __ATOMIC_RELAXED) > 0 && word_sem_try (value))
                {
                  _mp_sync_spin_result (TRUE);
                  return TRUE;
                }
            }
          if (spins > 0)
            _mp_sync_spin_result (FALSE);
          continue;
        }
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

/* The holder's thread id, or'ed with WORD_WAITERS when somebody may sleep: like MpLock's word,
 * so that a holder that died is recognized and its lock taken over. */
#define WORD_WAITERS 0x80000000u
#define WORD_TID_MASK 0x7fffffffu
#define WORD_RECHECK_NS (G_GINT64_CONSTANT (200) * 1000 * 1000)

gboolean
_mp_word_lock (uint32_t *word)
{
  uint32_t self = (uint32_t) _mp_sync_self_tid ();
  uint32_t c = 0;

  if (__atomic_compare_exchange_n (word, &c, self, FALSE, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return FALSE;
  for (;;)
    {
      if (c == 0)
        {
          if (__atomic_compare_exchange_n (word, &c, self | WORD_WAITERS, FALSE, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED))
            return FALSE;
          continue;
        }
      if (!(c & WORD_WAITERS) &&
          !__atomic_compare_exchange_n (word, &c, c | WORD_WAITERS, FALSE, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        continue;
      c |= WORD_WAITERS;
      if (_mp_futex_wait (word, c, WORD_RECHECK_NS) == ETIMEDOUT &&
          _mp_pid_is_dead ((pid_t) (c & WORD_TID_MASK)) &&
          __atomic_compare_exchange_n (word, &c, self | WORD_WAITERS, FALSE, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED))
        return TRUE;
      c = __atomic_load_n (word, __ATOMIC_RELAXED);
    }
}

void
_mp_word_unlock (uint32_t *word)
{
  if (__atomic_exchange_n (word, 0, __ATOMIC_RELEASE) & WORD_WAITERS)
    _mp_futex_wake (word, 1);
}
