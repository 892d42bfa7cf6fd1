/* mp-semaphore.h: Semaphore and BoundedSemaphore across processes
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
 * MpSemaphore:
 *
 * Python's `multiprocessing.Semaphore` and, made with mp_bounded_semaphore_new(),
 * `BoundedSemaphore` (releasing above the initial value is an error). get_value() works on
 * every platform libmp supports.
 */
typedef struct _MpSemaphore MpSemaphore;

MP_AVAILABLE_IN_1_0
MpSemaphore *mp_semaphore_new          (guint         value,
                                        GError      **error);
MP_AVAILABLE_IN_1_0
MpSemaphore *mp_bounded_semaphore_new  (guint         value,
                                        GError      **error);
MP_AVAILABLE_IN_1_0
MpSemaphore *mp_semaphore_ref          (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
void         mp_semaphore_unref        (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_semaphore_acquire      (MpSemaphore  *self,
                                        gint64        timeout_us,
                                        GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_semaphore_release      (MpSemaphore  *self,
                                        GError      **error);
MP_AVAILABLE_IN_1_0
guint        mp_semaphore_get_value    (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_semaphore_locked       (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_semaphore_is_bounded   (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
guint64      mp_semaphore_get_id       (MpSemaphore  *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_semaphore_serialize    (MpSemaphore  *self,
                                        GUnixFDList  *fd_list,
                                        GError      **error);
MP_AVAILABLE_IN_1_0
MpSemaphore *mp_semaphore_deserialize  (GVariant     *serialized,
                                        GUnixFDList  *fd_list,
                                        GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpSemaphore, mp_semaphore_unref)

G_END_DECLS
