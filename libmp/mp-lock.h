/* mp-lock.h: Lock and RLock across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpLock:
 *
 * Python's `multiprocessing.Lock`: a non-recursive lock that any thread of any process of the
 * program tree may release. It lives in the arena, so it works with every start method and can
 * be passed to a process as an argument (mp_lock_serialize()).
 *
 * Unlike Python's, it does not deadlock when its holder dies: the next acquirer gets it and is
 * told so with %MP_ERROR_OWNER_DIED (see mp_lock_acquire()).
 */
typedef struct _MpLock MpLock;

/**
 * MpRLock:
 *
 * Python's `multiprocessing.RLock`: a recursive lock owned by one thread of one process;
 * only the owner may release it.
 */
typedef struct _MpRLock MpRLock;

MP_AVAILABLE_IN_1_0
MpLock    *mp_lock_new          (GError      **error);
MP_AVAILABLE_IN_1_0
MpLock    *mp_lock_new_labeled  (const char   *label,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
MpLock    *mp_lock_ref          (MpLock       *self);
MP_AVAILABLE_IN_1_0
void       mp_lock_unref        (MpLock       *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_lock_acquire      (MpLock       *self,
                                 gint64        timeout_us,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_lock_release      (MpLock       *self,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_lock_locked       (MpLock       *self);
MP_AVAILABLE_IN_1_0
guint64    mp_lock_get_id       (MpLock       *self);
MP_AVAILABLE_IN_1_0
char      *mp_lock_to_string    (MpLock       *self);
MP_AVAILABLE_IN_1_0
GVariant  *mp_lock_serialize    (MpLock       *self,
                                 GUnixFDList  *fd_list,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
MpLock    *mp_lock_deserialize  (GVariant     *serialized,
                                 GUnixFDList  *fd_list,
                                 GError      **error);

MP_AVAILABLE_IN_1_0
MpRLock   *mp_rlock_new         (GError      **error);
MP_AVAILABLE_IN_1_0
MpRLock   *mp_rlock_new_labeled (const char   *label,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
MpRLock   *mp_rlock_ref         (MpRLock      *self);
MP_AVAILABLE_IN_1_0
void       mp_rlock_unref       (MpRLock      *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_rlock_acquire     (MpRLock      *self,
                                 gint64        timeout_us,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_rlock_release     (MpRLock      *self,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_rlock_locked      (MpRLock      *self);
MP_AVAILABLE_IN_1_0
guint      mp_rlock_get_count   (MpRLock      *self);
MP_AVAILABLE_IN_1_0
guint64    mp_rlock_get_id      (MpRLock      *self);
MP_AVAILABLE_IN_1_0
char      *mp_rlock_to_string   (MpRLock      *self);
MP_AVAILABLE_IN_1_0
GVariant  *mp_rlock_serialize   (MpRLock      *self,
                                 GUnixFDList  *fd_list,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
MpRLock   *mp_rlock_deserialize (GVariant     *serialized,
                                 GUnixFDList  *fd_list,
                                 GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpLock, mp_lock_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpRLock, mp_rlock_unref)

G_END_DECLS
