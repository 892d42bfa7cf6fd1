/* mp-sharedctypes.h: typed values and arrays in shared memory (Python's RawValue/RawArray)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpRawValue:
 *
 * One C value in memory shared with child processes: Python's
 * `multiprocessing.sharedctypes.RawValue(typecode, value)`, without a lock (the locked
 * `Value` builds on it). Python's typecodes, with the C type the memory holds and the
 * #GVariant type mp_raw_value_get_value() returns:
 *
 * | typecode | C type          | #GVariant | typecode | C type             | #GVariant |
 * |----------|-----------------|-----------|----------|--------------------|-----------|
 * | `c`      | `char`          | `y`       | `I`      | `unsigned int`     | `u`       |
 * | `u`      | `wchar_t` (UCS-4) | `s` (1 char, "" for 0) | `l` | `long`          | `x`       |
 * | `b`      | `signed char`   | `n`       | `L`      | `unsigned long`    | `t`       |
 * | `B`      | `unsigned char` | `y`       | `q`      | `long long`        | `x`       |
 * | `h`      | `short`         | `n`       | `Q`      | `unsigned long long` | `t`     |
 * | `H`      | `unsigned short`| `q`       | `f`      | `float`            | `d`       |
 * | `i`      | `int`           | `i`       | `d`      | `double`           | `d`       |
 *
 * Setting accepts any integer #GVariant (`y n q i u x t`, and `b` as 0/1) whose value fits
 * the C type — out of range is %MP_ERROR_INVALID_ARGUMENT, where ctypes would silently wrap —
 * and, for `f` and `d`, a double or an integer. `c` also takes a one-byte `ay`; `u` also
 * takes a one-character `s` or a code point. A `v` is unwrapped.
 *
 * The memory is a sealed memfd mapped shared: fork children share it through the mapping,
 * spawn and forkserver children through the handle of mp_raw_value_serialize() (a file
 * descriptor). It lives as long as any process maps it. Each value or array costs one
 * descriptor and one page-rounded mapping per process (Python packs them into arenas), so
 * prefer one array over many values. Not synchronized: concurrent writers need a lock.
 * mp_raw_value_get_pointer() gives direct access for the fast path.
 */
typedef struct _MpRawValue MpRawValue;

/**
 * MpRawArray:
 *
 * A fixed-length array of C values in shared memory: Python's
 * `sharedctypes.RawArray(typecode, size_or_initializer)`. Typecodes, element types and
 * sharing as for #MpRawValue; mp_raw_array_get_pointer() is the C array itself (for `i`, an
 * `int *` of mp_raw_array_get_length() elements).
 */
typedef struct _MpRawArray MpRawArray;

#define MP_TYPE_RAW_VALUE (mp_raw_value_get_type ())
#define MP_TYPE_RAW_ARRAY (mp_raw_array_get_type ())

MP_AVAILABLE_IN_1_0
gsize        mp_sharedctypes_get_itemsize  (char           typecode);

MP_AVAILABLE_IN_1_0
GType        mp_raw_value_get_type         (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpRawValue  *mp_raw_value_new              (char           typecode,
                                            GVariant      *init,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
MpRawValue  *mp_raw_value_ref              (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
void         mp_raw_value_unref            (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
char         mp_raw_value_get_typecode     (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_raw_value_get_value        (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_raw_value_set_value        (MpRawValue    *self,
                                            GVariant      *value,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
gpointer     mp_raw_value_get_pointer      (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
gsize        mp_raw_value_get_size         (MpRawValue    *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_raw_value_serialize        (MpRawValue    *self,
                                            GUnixFDList   *fd_list,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
MpRawValue  *mp_raw_value_deserialize      (GVariant      *serialized,
                                            GUnixFDList   *fd_list,
                                            GError       **error);

MP_AVAILABLE_IN_1_0
GType        mp_raw_array_get_type         (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpRawArray  *mp_raw_array_new              (char           typecode,
                                            gsize          size,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
MpRawArray  *mp_raw_array_new_from_variant (char           typecode,
                                            GVariant      *initializer,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
MpRawArray  *mp_raw_array_ref              (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
void         mp_raw_array_unref            (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
char         mp_raw_array_get_typecode     (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
gsize        mp_raw_array_get_length       (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_raw_array_get              (MpRawArray    *self,
                                            gssize         index,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_raw_array_set              (MpRawArray    *self,
                                            gssize         index,
                                            GVariant      *value,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
GVariant    *mp_raw_array_dup_variant      (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
gpointer     mp_raw_array_get_pointer      (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
gsize        mp_raw_array_get_size         (MpRawArray    *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_raw_array_serialize        (MpRawArray    *self,
                                            GUnixFDList   *fd_list,
                                            GError       **error);
MP_AVAILABLE_IN_1_0
MpRawArray  *mp_raw_array_deserialize      (GVariant      *serialized,
                                            GUnixFDList   *fd_list,
                                            GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpRawValue, mp_raw_value_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpRawArray, mp_raw_array_unref)

G_END_DECLS
