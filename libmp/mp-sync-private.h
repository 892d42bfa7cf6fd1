/* mp-sync-private.h: what every cross-process synchronization object shares
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-futex-private.h"
#include "mp-object-private.h"

G_BEGIN_DECLS

/* The process-local handle on a sync object in the arena. Lock, RLock, Semaphore, Event,
 * Condition and Barrier all begin with it. */
typedef struct
{
  gatomicrefcount  ref_count;
  MpObjectKind     kind;
  int              index;      /* in the arena's object directory */
  guint64          id;
  MpArenaObject   *object;
  MpSyncStats     *st;
  guint64          last_dead_check_ns;   /* Lock, RLock: of a try-acquire (mp-lock.c) */
} MpSync;

gboolean  _mp_sync_init         (MpSync        *sync,
                                 MpObjectKind   kind,
                                 const char    *label,
                                 GError       **error);
gboolean  _mp_sync_init_from_handle (MpSync      *sync,
                                     MpObjectKind kind,
                                     GVariant    *handle,
                                     GError     **error);
void      _mp_sync_ref          (MpSync        *sync);
gboolean  _mp_sync_unref        (MpSync        *sync);
GVariant *_mp_sync_handle       (MpSync        *sync);
void      _mp_sync_release_process_refs (void);

/* The calling thread's identity, cached: getpid() and gettid() are syscalls and the lock fast
 * path stores both. A thread's pair is valid while its pid equals _mp_sync_pid, which a fork
 * child resets to 0 (atfork handler), so every pair inherited through fork goes stale at once.
 * Initial-exec TLS: a plain %fs-relative load, where the default model of a shared library
 * calls __tls_get_addr on every access. */
typedef struct
{
  pid_t pid;
  pid_t tid;
} MpSyncSelf;

extern pid_t _mp_sync_pid;
extern __thread MpSyncSelf _mp_sync_self __attribute__ ((tls_model ("initial-exec")));
const MpSyncSelf *_mp_sync_self_refresh (void);

static inline const MpSyncSelf *
_mp_sync_self_ids (void)
{
  pid_t pid = __atomic_load_n (&_mp_sync_pid, __ATOMIC_RELAXED);

  if (G_LIKELY (pid != 0 && _mp_sync_self.pid == pid))
    return &_mp_sync_self;
  return _mp_sync_self_refresh ();
}

static inline pid_t
_mp_sync_self_pid (void)
{
  return _mp_sync_self_ids ()->pid;
}

static inline pid_t
_mp_sync_self_tid (void)
{
  return _mp_sync_self_ids ()->tid;
}

gboolean  _mp_pid_is_dead       (pid_t          pid);

/* A Lock or RLock (mp-lock.c): held by the calling thread? */
gboolean  _mp_sync_lock_is_mine (MpSync        *sync);

/* How many pauses a blocking acquire polls for before it sleeps in the kernel: adaptive
 * (mp-sync.c), 0 on one CPU, where the holder cannot run while we spin. Report the outcome
 * with _mp_sync_spin_result(). */
int       _mp_sync_spin_count   (void);
void      _mp_sync_spin_result  (gboolean       won);

static inline void
_mp_cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield" ::: "memory");
#else
  __atomic_signal_fence (__ATOMIC_SEQ_CST);
#endif
}

/* An absolute CLOCK_MONOTONIC deadline in ns from a libmp timeout (µs), -1 = none. */
gint64    _mp_deadline_ns       (gint64         timeout_us);
/* ns left before deadline (0 when passed), or -1 without deadline. */
gint64    _mp_remaining_ns      (gint64         deadline_ns);

/* Stats of an acquire or wait that had to wait; with `emit`, also the MP_EVENT_LOCK_CONTENDED
 * event (kinds whose waits have an event of their own, like Barrier, pass FALSE). */
void      _mp_sync_record_wait  (MpSync        *sync,
                                 guint64        waited_ns,
                                 pid_t          holder,
                                 gboolean       emit);

/* A counting semaphore on two words (value, nwaiters), for objects built from several. */
gboolean  _mp_word_sem_acquire  (uint32_t      *value,
                                 uint32_t      *nwaiters,
                                 gint64         deadline_ns);
void      _mp_word_sem_release  (uint32_t      *value,
                                 uint32_t      *nwaiters,
                                 uint32_t       n);
/* A short-term mutex for a few lines of bookkeeping. Robust: TRUE when it was taken over from
 * a holder that died in the middle, whose bookkeeping may be half done. */
gboolean  _mp_word_lock         (uint32_t      *word);
void      _mp_word_unlock       (uint32_t      *word);

G_END_DECLS
