/* mp-value.h: Value and Array, shared ctypes-like storage with a lock
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-lock.h"
#include "mp-sharedctypes.h"
#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpValue:
 *
 * Python's `multiprocessing.Value`: an #MpRawValue (`get_obj`) plus a lock (`get_lock`) that
 * mp_value_get() and mp_value_set() take. As in Python, a read-modify-write such as
 * `v.value += 1` is only atomic inside mp_value_acquire() … mp_value_release(). Python's
 * `lock=False` is mp_raw_value_new().
 */
typedef struct _MpValue MpValue;

/**
 * MpArray:
 *
 * Python's `multiprocessing.Array`: an #MpRawArray with a lock around element access.
 */
typedef struct _MpArray MpArray;

MP_AVAILABLE_IN_1_0
MpValue    *mp_value_new                (char          typecode,
                                         GVariant     *init,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpValue    *mp_value_new_synchronized   (MpRawValue   *obj,
                                         MpRLock      *lock,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpValue    *mp_value_ref                (MpValue      *self);
MP_AVAILABLE_IN_1_0
void        mp_value_unref              (MpValue      *self);
MP_AVAILABLE_IN_1_0
GVariant   *mp_value_get                (MpValue      *self);
MP_AVAILABLE_IN_1_0
gboolean    mp_value_set                (MpValue      *self,
                                         GVariant     *value,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
gboolean    mp_value_acquire            (MpValue      *self,
                                         gint64        timeout_us,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
gboolean    mp_value_release            (MpValue      *self,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpRLock    *mp_value_get_lock           (MpValue      *self);
MP_AVAILABLE_IN_1_0
MpRawValue *mp_value_get_obj            (MpValue      *self);
MP_AVAILABLE_IN_1_0
GVariant   *mp_value_serialize          (MpValue      *self,
                                         GUnixFDList  *fd_list,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpValue    *mp_value_deserialize        (GVariant     *serialized,
                                         GUnixFDList  *fd_list,
                                         GError      **error);

MP_AVAILABLE_IN_1_0
MpArray    *mp_array_new                (char          typecode,
                                         gsize         size,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpArray    *mp_array_new_from_variant   (char          typecode,
                                         GVariant     *initializer,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpArray    *mp_array_new_synchronized   (MpRawArray   *obj,
                                         MpRLock      *lock,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpArray    *mp_array_ref                (MpArray      *self);
MP_AVAILABLE_IN_1_0
void        mp_array_unref              (MpArray      *self);
MP_AVAILABLE_IN_1_0
gsize       mp_array_get_length         (MpArray      *self);
MP_AVAILABLE_IN_1_0
GVariant   *mp_array_get                (MpArray      *self,
                                         gssize        index,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
gboolean    mp_array_set                (MpArray      *self,
                                         gssize        index,
                                         GVariant     *value,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
GVariant   *mp_array_dup_variant        (MpArray      *self);
MP_AVAILABLE_IN_1_0
gboolean    mp_array_acquire            (MpArray      *self,
                                         gint64        timeout_us,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
gboolean    mp_array_release            (MpArray      *self,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpRLock    *mp_array_get_lock           (MpArray      *self);
MP_AVAILABLE_IN_1_0
MpRawArray *mp_array_get_obj            (MpArray      *self);
MP_AVAILABLE_IN_1_0
GVariant   *mp_array_serialize          (MpArray      *self,
                                         GUnixFDList  *fd_list,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpArray    *mp_array_deserialize        (GVariant     *serialized,
                                         GUnixFDList  *fd_list,
                                         GError      **error);

MP_AVAILABLE_IN_1_0
MpRawValue *mp_sharedctypes_copy_value  (MpRawValue   *obj,
                                         GError      **error);
MP_AVAILABLE_IN_1_0
MpRawArray *mp_sharedctypes_copy_array  (MpRawArray   *obj,
                                         GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpValue, mp_value_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpArray, mp_array_unref)

G_END_DECLS
