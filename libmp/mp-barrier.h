/* mp-barrier.h: Barrier across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-callable.h"
#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MP_BARRIER_DEFAULT_TIMEOUT:
 *
 * For mp_barrier_wait(): use the timeout the barrier was created with.
 */
#define MP_BARRIER_DEFAULT_TIMEOUT ((gint64) -2)

/**
 * MpBarrier:
 *
 * Python's `multiprocessing.Barrier` (threading.Barrier semantics with the state in shared
 * memory): @parties processes (or threads) wait until all have arrived. A timeout, abort()
 * or a failing action breaks it: every waiter then gets %MP_ERROR_BROKEN_BARRIER until reset().
 * A party that dies never arrives: a timeout is how the others get out. (One killed after
 * it arrived still counts for that cycle.)
 */
typedef struct _MpBarrier MpBarrier;

MP_AVAILABLE_IN_1_0
MpBarrier *mp_barrier_new          (guint         parties,
                                    MpCallable   *action,
                                    gint64        timeout_us,
                                    GError      **error);
MP_AVAILABLE_IN_1_0
MpBarrier *mp_barrier_ref          (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
void       mp_barrier_unref        (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
gint       mp_barrier_wait         (MpBarrier    *self,
                                    gint64        timeout_us,
                                    GError      **error);
MP_AVAILABLE_IN_1_0
void       mp_barrier_abort        (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
void       mp_barrier_reset        (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
guint      mp_barrier_get_parties  (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
guint      mp_barrier_get_n_waiting (MpBarrier   *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_barrier_get_broken   (MpBarrier    *self);
MP_AVAILABLE_IN_1_0
GVariant  *mp_barrier_serialize    (MpBarrier    *self,
                                    GUnixFDList  *fd_list,
                                    GError      **error);
MP_AVAILABLE_IN_1_0
MpBarrier *mp_barrier_deserialize  (GVariant     *serialized,
                                    GUnixFDList  *fd_list,
                                    GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpBarrier, mp_barrier_unref)

G_END_DECLS
