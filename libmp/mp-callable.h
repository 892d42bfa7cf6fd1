/* mp-callable.h: functions with bound arguments that can cross a process boundary
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
 * MpFunc:
 * @args: a tuple: the callable's bound arguments followed by the call's own (never %NULL)
 * @fds: (nullable): the file descriptors that `h` values in @args index, or %NULL
 * @error: return location for an error
 *
 * The one signature of every function libmp runs in another process: a process target, a
 * pool task. It returns a new or floating #GVariant (or %NULL with @error set on failure;
 * %NULL without error means "no value", Python's `None`).
 *
 * Returns: (transfer full) (nullable): the result
 */
typedef GVariant *(*MpFunc) (GVariant     *args,
                             GUnixFDList  *fds,
                             GError      **error);

/**
 * MpCallable:
 *
 * A function reference plus bound arguments: Python's `functools.partial`, and libmp's answer
 * to what dill adds to pickle. It serializes as the module (shared object or executable) that
 * holds the function, the function's offset from the module's load address and the module's
 * build-id, so a child that runs the same binary finds the same function under ASLR, `static`
 * functions included. The bound arguments are a #GVariant tuple and may carry file descriptors
 * (`h` values indexing the callable's #GUnixFDList), as D-Bus messages do.
 */
typedef struct _MpCallable MpCallable;

#define MP_TYPE_CALLABLE (mp_callable_get_type ())

MP_AVAILABLE_IN_1_0
GType        mp_callable_get_type     (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpCallable  *mp_callable_new          (MpFunc        func,
                                       GVariant     *args);
MP_AVAILABLE_IN_1_0
MpCallable  *mp_callable_new_with_fds (MpFunc        func,
                                       GVariant     *args,
                                       GUnixFDList  *fds);
MP_AVAILABLE_IN_1_0
MpCallable  *mp_callable_new_batched  (MpFunc        func,
                                       GVariant     *args);
MP_AVAILABLE_IN_1_0
gboolean     mp_callable_is_batched   (MpCallable   *self);
MP_AVAILABLE_IN_1_0
MpCallable  *mp_callable_ref          (MpCallable   *self);
MP_AVAILABLE_IN_1_0
void         mp_callable_unref        (MpCallable   *self);
MP_AVAILABLE_IN_1_0
MpFunc       mp_callable_get_func     (MpCallable   *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_callable_get_args     (MpCallable   *self);
MP_AVAILABLE_IN_1_0
GUnixFDList *mp_callable_get_fds      (MpCallable   *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_callable_invoke       (MpCallable   *self,
                                       GVariant     *extra_args,
                                       GError      **error);
MP_AVAILABLE_IN_1_0
GVariant    *mp_callable_serialize    (MpCallable   *self,
                                       GUnixFDList  *fd_list,
                                       GError      **error);
MP_AVAILABLE_IN_1_0
MpCallable  *mp_callable_deserialize  (GVariant     *serialized,
                                       GUnixFDList  *fd_list,
                                       GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpCallable, mp_callable_unref)

G_END_DECLS
