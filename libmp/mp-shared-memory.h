/* mp-shared-memory.h: named shared memory (Python's multiprocessing.shared_memory.SharedMemory)
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
 * MpSharedMemory:
 *
 * A POSIX shared-memory segment (`shm_open()` + `ftruncate()` + `mmap()`, mode 0600), and this
 * process's mapping of it: Python's `shared_memory.SharedMemory`. Segments are named, so any
 * process of the same user can attach — libmp programs, Python programs
 * (`SharedMemory(name=…)` sees the same bytes), anything that calls `shm_open()`.
 *
 * Lifetime (kernel persistence, as in Python): the segment exists until it is unlinked, even
 * when no process maps it any more. mp_shared_memory_close() ends this process's mapping;
 * mp_shared_memory_unlink() removes the name (mappings that exist stay valid until closed);
 * the last mp_shared_memory_unref() closes. Unlink exactly once, from whichever process
 * finishes last.
 *
 * A segment created with tracking on (the default) is registered with the program tree's
 * resource tracker: if the program dies without unlinking it (a crash, `kill -9` of the whole
 * tree) the tracker unlinks it afterwards and prints a warning naming it. Attaching never
 * registers, so a process that only attached never causes the segment to be removed (unlike
 * Python ≤ 3.12, python/cpython#82300).
 *
 * Python's keyword arguments map as follows: `SharedMemory(name=None, create=False, size=0,
 * *, track=True)` is mp_shared_memory_new_full(); `size < 0` has no C spelling, and a size
 * above %G_MAXSSIZE is rejected the way Python rejects a negative one. Python's exceptions map
 * to %MP_ERROR codes: `ValueError` → %MP_ERROR_INVALID_ARGUMENT, `FileExistsError` →
 * %MP_ERROR_EXISTS, `FileNotFoundError` → %MP_ERROR_NOT_FOUND, other `OSError`s →
 * %MP_ERROR_IO.
 *
 * The object is reference counted and thread safe as far as its own state goes; the bytes of
 * the segment are for the program to synchronize (with a lock, a queue, a pipe…).
 */
typedef struct _MpSharedMemory MpSharedMemory;

#define MP_TYPE_SHARED_MEMORY (mp_shared_memory_get_type ())

MP_AVAILABLE_IN_1_0
GType           mp_shared_memory_get_type    (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpSharedMemory *mp_shared_memory_new         (const char      *name,
                                              gboolean         create,
                                              gsize            size,
                                              GError         **error);
MP_AVAILABLE_IN_1_0
MpSharedMemory *mp_shared_memory_new_full    (const char      *name,
                                              gboolean         create,
                                              gsize            size,
                                              gboolean         track,
                                              GError         **error);
MP_AVAILABLE_IN_1_0
MpSharedMemory *mp_shared_memory_ref         (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
void            mp_shared_memory_unref       (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
const char     *mp_shared_memory_get_name    (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
gsize           mp_shared_memory_get_size    (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
gpointer        mp_shared_memory_get_buf     (MpSharedMemory  *self,
                                              gsize           *size);
MP_AVAILABLE_IN_1_0
gboolean        mp_shared_memory_get_track   (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
void            mp_shared_memory_close       (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_shared_memory_unlink      (MpSharedMemory  *self,
                                              GError         **error);
MP_AVAILABLE_IN_1_0
char           *mp_shared_memory_to_string   (MpSharedMemory  *self);
MP_AVAILABLE_IN_1_0
GVariant       *mp_shared_memory_serialize   (MpSharedMemory  *self,
                                              GUnixFDList     *fd_list,
                                              GError         **error);
MP_AVAILABLE_IN_1_0
MpSharedMemory *mp_shared_memory_deserialize (GVariant        *serialized,
                                              GUnixFDList     *fd_list,
                                              GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpSharedMemory, mp_shared_memory_unref)

G_END_DECLS
