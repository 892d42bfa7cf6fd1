/* mp-queue.h: Queue, JoinableQueue and SimpleQueue across processes
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
 * MP_QUEUE_DEFAULT_CAPACITY:
 *
 * Bytes of shared memory a queue holds items in, unless mp_queue_new_full() says otherwise
 * (16 MiB; only the pages in use take memory).
 */
#define MP_QUEUE_DEFAULT_CAPACITY ((gsize) 16 << 20)

/**
 * MpQueue:
 *
 * Python's `multiprocessing.Queue`, `JoinableQueue` and `SimpleQueue` — one type, three
 * constructors. Items are #GVariant values (a `put` with a #GUnixFDList sends descriptors
 * beside them, as D-Bus does) or raw bytes.
 *
 * Unlike Python's, items live in shared memory the moment put() returns: there is no feeder
 * thread, so a process may exit right after putting without losing items or hanging (the
 * "join-before-get" deadlock cannot happen), join_thread() and cancel_join_thread() have
 * nothing to do, qsize() is exact, and an item that cannot be serialized fails in put(). A
 * queue holds at most its capacity in bytes: a put that does not fit waits like a put into a
 * full queue.
 */
typedef struct _MpQueue MpQueue;

MP_AVAILABLE_IN_1_0
MpQueue   *mp_queue_new               (gint           maxsize,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
MpQueue   *mp_queue_new_full          (gint           maxsize,
                                       gsize          capacity_bytes,
                                       const char    *label,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
MpQueue   *mp_joinable_queue_new      (gint           maxsize,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
MpQueue   *mp_simple_queue_new        (GError       **error);
MP_AVAILABLE_IN_1_0
MpQueue   *mp_queue_ref               (MpQueue       *self);
MP_AVAILABLE_IN_1_0
void       mp_queue_unref             (MpQueue       *self);

MP_AVAILABLE_IN_1_0
gboolean   mp_queue_put               (MpQueue       *self,
                                       GVariant      *item,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_put_nowait        (MpQueue       *self,
                                       GVariant      *item,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_put_with_fds      (MpQueue       *self,
                                       GVariant      *item,
                                       GUnixFDList   *fds,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_put_bytes         (MpQueue       *self,
                                       GBytes        *bytes,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
GVariant  *mp_queue_get               (MpQueue       *self,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
GVariant  *mp_queue_get_nowait        (MpQueue       *self,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
GVariant  *mp_queue_get_with_fds      (MpQueue       *self,
                                       GUnixFDList  **out_fds,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
GBytes    *mp_queue_get_bytes         (MpQueue       *self,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
void       mp_queue_get_async         (MpQueue             *self,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
MP_AVAILABLE_IN_1_0
GVariant  *mp_queue_get_finish        (MpQueue       *self,
                                       GAsyncResult  *result,
                                       GError       **error);

MP_AVAILABLE_IN_1_0
guint      mp_queue_qsize             (MpQueue       *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_empty             (MpQueue       *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_full              (MpQueue       *self);
MP_AVAILABLE_IN_1_0
gint       mp_queue_get_maxsize       (MpQueue       *self);
MP_AVAILABLE_IN_1_0
void       mp_queue_close             (MpQueue       *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_is_closed         (MpQueue       *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_join_thread       (MpQueue       *self,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
void       mp_queue_cancel_join_thread (MpQueue      *self);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_task_done         (MpQueue       *self,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
gboolean   mp_queue_join              (MpQueue       *self,
                                       gint64         timeout_us,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
guint64    mp_queue_get_id            (MpQueue       *self);

MP_AVAILABLE_IN_1_0
GVariant  *mp_queue_serialize         (MpQueue       *self,
                                       GUnixFDList   *fd_list,
                                       GError       **error);
MP_AVAILABLE_IN_1_0
MpQueue   *mp_queue_deserialize       (GVariant      *serialized,
                                       GUnixFDList   *fd_list,
                                       GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpQueue, mp_queue_unref)

G_END_DECLS
