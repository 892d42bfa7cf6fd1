/* mp-shareable-list.h: a fixed-length list in shared memory (Python's ShareableList)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-shared-memory.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpShareableList:
 *
 * Python's `shared_memory.ShareableList`: a list of fixed length whose items live in a
 * #MpSharedMemory segment, in CPython 3.11's exact byte layout, so a Python program can attach
 * to a list libmp made (`ShareableList(name=…)`) and the other way round, and both can read
 * and write the same items.
 *
 * Items are #GVariant values of these types, Python's item types:
 *
 * | Python | slot format | #GVariant read back | also accepted when writing            |
 * |--------|-------------|--------------------|---------------------------------------|
 * | int    | `q` (int64) | `x`                | `y`, `n`, `q`, `i`, `u`, `t` ≤ int64  |
 * | float  | `d`         | `d`                |                                       |
 * | bool   | `xxxxxxx?`  | `b`                |                                       |
 * | str    | `Ns` UTF-8  | `s`                |                                       |
 * | bytes  | `Ns`        | `ay`               |                                       |
 * | None   | `xxxxxx?x`  | `mv` holding Nothing | any maybe type holding Nothing      |
 *
 * A `v` (variant) or a maybe holding a value is unwrapped first. Strings and byte strings
 * take a slot of 8·(n/8 + 1) bytes for n encoded bytes; trailing NUL bytes are stripped when
 * read (Python's behaviour, so a byte string ending in NULs does not read back whole). Python
 * 3.11 sizes a str slot by its number of characters and silently truncates longer UTF-8
 * encodings; libmp sizes it by the encoded length, which Python reads back correctly.
 *
 * Python's exceptions map as follows: `IndexError` and `ValueError` (too long for the slot,
 * value not present for index()) → %MP_ERROR_INVALID_ARGUMENT; a segment whose contents are not
 * a valid list → %MP_ERROR_SERIALIZATION. Indices may be negative, counting from the end.
 * The list is not synchronized: concurrent writers of one item need a lock, as in Python.
 */
typedef struct _MpShareableList MpShareableList;

#define MP_TYPE_SHAREABLE_LIST (mp_shareable_list_get_type ())

MP_AVAILABLE_IN_1_0
GType            mp_shareable_list_get_type    (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpShareableList *mp_shareable_list_new         (GVariant         *sequence,
                                                const char       *name,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
MpShareableList *mp_shareable_list_attach      (const char       *name,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
MpShareableList *mp_shareable_list_ref         (MpShareableList  *self);
MP_AVAILABLE_IN_1_0
void             mp_shareable_list_unref       (MpShareableList  *self);
MP_AVAILABLE_IN_1_0
gsize            mp_shareable_list_get_length  (MpShareableList  *self);
MP_AVAILABLE_IN_1_0
GVariant        *mp_shareable_list_get         (MpShareableList  *self,
                                                gssize            index,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
gboolean         mp_shareable_list_set         (MpShareableList  *self,
                                                gssize            index,
                                                GVariant         *value,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
GVariant        *mp_shareable_list_dup_items   (MpShareableList  *self,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
gsize            mp_shareable_list_count       (MpShareableList  *self,
                                                GVariant         *value);
MP_AVAILABLE_IN_1_0
gssize           mp_shareable_list_index       (MpShareableList  *self,
                                                GVariant         *value,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
char            *mp_shareable_list_dup_format  (MpShareableList  *self,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
MpSharedMemory  *mp_shareable_list_get_shm     (MpShareableList  *self);
MP_AVAILABLE_IN_1_0
char            *mp_shareable_list_to_string   (MpShareableList  *self);
MP_AVAILABLE_IN_1_0
GVariant        *mp_shareable_list_serialize   (MpShareableList  *self,
                                                GUnixFDList      *fd_list,
                                                GError          **error);
MP_AVAILABLE_IN_1_0
MpShareableList *mp_shareable_list_deserialize (GVariant         *serialized,
                                                GUnixFDList      *fd_list,
                                                GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpShareableList, mp_shareable_list_unref)

G_END_DECLS
