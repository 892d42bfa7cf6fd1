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

/* The calling thread's identity, cached (getpid/gettid are syscalls). */
pid_t     _mp_sync_self_pid     (void);
pid_t     _mp_sync_self_tid     (void);
gboolean  _mp_pid_is_dead       (pid_t          pid);

/* An absolute CLOCK_MONOTONIC deadline in ns from a libmp timeout (µs), -1 = none. */
gint64    _mp_deadline_ns       (gint64         timeout_us);
/* ns left before deadline (0 when passed), or -1 without deadline. */
gint64    _mp_remaining_ns      (gint64         deadline_ns);

void      _mp_sync_record_wait  (MpSync        *sync,
                                 guint64        waited_ns,
                                 pid_t          holder);

/* A counting semaphore on two words (value, nwaiters), for objects built from several. */
gboolean  _mp_word_sem_acquire  (uint32_t      *value,
                                 uint32_t      *nwaiters,
                                 gint64         deadline_ns);
void      _mp_word_sem_release  (uint32_t      *value,
                                 uint32_t      *nwaiters,
                                 uint32_t       n);
/* A short-term mutex (0 free, 1 locked, 2 contended) for a few lines of bookkeeping. */
void      _mp_word_lock         (uint32_t      *word);
void      _mp_word_unlock       (uint32_t      *word);

G_END_DECLS
