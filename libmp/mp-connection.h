/* mp-connection.h: connections and pipes (Python's multiprocessing.connection)
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
 * MpConnection:
 *
 * One end of a pipe or socket that carries whole messages: Python's
 * `multiprocessing.connection.Connection`. A final #GObject (so it can be a #GTask source and
 * sit in the same list as an #MpProcess for mp_connection_wait()); the last unref closes it.
 *
 * Messages are framed as Python frames them, so raw bytes interoperate with Python: a 4-byte
 * big-endian signed length and the payload; a payload above 0x7fffffff bytes has the length -1
 * followed by an 8-byte big-endian length. mp_connection_send_bytes() and
 * mp_connection_recv_bytes() move raw bytes. mp_connection_send() and mp_connection_recv() move
 * a #GVariant (Python's pickled objects): the payload is the value boxed as type `v`, in normal
 * form, checked on receipt; file descriptors (`h` values) travel beside it by `SCM_RIGHTS`,
 * which only Unix-domain sockets can carry.
 *
 * How Python's keyword arguments and `None` map to C:
 * - `send_bytes (buf, offset=0, size=None)`: @offset and @size are #gssize; @size -1 means "to
 *   the end of the buffer". The bounds errors are %MP_ERROR_INVALID_ARGUMENT.
 * - `recv_bytes (maxlength=None)`: @maxlength -1 means "no limit".
 * - `recv_bytes_into (buf, offset=0)`: `BufferTooShort.args[0]` (the whole message) comes back
 *   through an optional out #GBytes.
 * - `poll (timeout=0.0)`: microseconds; %MP_TIMEOUT_INFINITE is `None`; other negatives are 0.
 * - Exceptions: `EOFError` is %MP_ERROR_EOF, `OSError` is %MP_ERROR_IO (with Python's text:
 *   "connection is read-only", "bad message length", …), "handle is closed" is
 *   %MP_ERROR_CLOSED, `ValueError` is %MP_ERROR_INVALID_ARGUMENT.
 *
 * Threads: like Python's, a connection serializes nothing. One thread may send while another
 * receives; two threads sending (or two receiving) on the same connection need a lock.
 *
 * Every connection end has a stats block in the arena's object directory (kind
 * %MP_OBJECT_CONNECTION: messages and bytes each way), shared by every process that holds a
 * handle on it, and emits %MP_EVENT_CONNECTION_SEND / %MP_EVENT_CONNECTION_RECV at
 * %MP_TRACE_VERBOSE.
 */
#define MP_TYPE_CONNECTION (mp_connection_get_type ())

MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpConnection, mp_connection, MP, CONNECTION, GObject)

MP_AVAILABLE_IN_1_0
gboolean      mp_pipe                      (gboolean        duplex,
                                            MpConnection  **reader,
                                            MpConnection  **writer,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
MpConnection *mp_connection_new            (int             fd,
                                            gboolean        readable,
                                            gboolean        writable,
                                            GError        **error);

MP_AVAILABLE_IN_1_0
gboolean      mp_connection_send           (MpConnection   *self,
                                            GVariant       *value,
                                            GUnixFDList    *fds,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
GVariant     *mp_connection_recv           (MpConnection   *self,
                                            GUnixFDList   **out_fds,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_send_bytes     (MpConnection   *self,
                                            gconstpointer   data,
                                            gsize           len,
                                            gssize          offset,
                                            gssize          size,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
GBytes       *mp_connection_recv_bytes     (MpConnection   *self,
                                            gssize          maxlength,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
gssize        mp_connection_recv_bytes_into (MpConnection  *self,
                                             gpointer       buf,
                                             gsize          buflen,
                                             gssize         offset,
                                             GBytes       **out_message,
                                             GError       **error);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_poll           (MpConnection   *self,
                                            gint64          timeout_us,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
int           mp_connection_fileno         (MpConnection   *self,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_close          (MpConnection   *self,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_is_closed      (MpConnection   *self);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_is_readable    (MpConnection   *self);
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_is_writable    (MpConnection   *self);

MP_AVAILABLE_IN_1_0
GVariant     *mp_connection_serialize      (MpConnection   *self,
                                            GUnixFDList    *fd_list,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
MpConnection *mp_connection_deserialize    (GVariant       *serialized,
                                            GUnixFDList    *fd_list,
                                            GError        **error);

/* Waiting on several objects (Python's multiprocessing.connection.wait). */
MP_AVAILABLE_IN_1_0
gboolean      mp_connection_wait_full      (GPtrArray      *objects,
                                            const int      *fds,
                                            guint           n_fds,
                                            gint64          timeout_us,
                                            GPtrArray     **ready_objects,
                                            GArray        **ready_fds,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
GPtrArray    *mp_connection_wait           (GPtrArray      *objects,
                                            gint64          timeout_us,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
GArray       *mp_connection_wait_fds       (const int      *fds,
                                            guint           n_fds,
                                            gint64          timeout_us,
                                            GError        **error);

/* Main-loop integration. */

/**
 * MpConnectionSourceFunc:
 * @connection: the connection that has a message (or end of file) pending
 * @user_data: data passed to g_source_set_callback()
 *
 * The callback of a source made by mp_connection_create_source().
 *
 * Returns: %G_SOURCE_REMOVE to stop watching, %G_SOURCE_CONTINUE to keep watching
 */
typedef gboolean (*MpConnectionSourceFunc) (MpConnection *connection,
                                            gpointer      user_data);

MP_AVAILABLE_IN_1_0
GSource      *mp_connection_create_source  (MpConnection   *self,
                                            GCancellable   *cancellable);
MP_AVAILABLE_IN_1_0
void          mp_connection_recv_bytes_async  (MpConnection        *self,
                                               gssize               maxlength,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
MP_AVAILABLE_IN_1_0
GBytes       *mp_connection_recv_bytes_finish (MpConnection        *self,
                                               GAsyncResult        *result,
                                               GError             **error);
MP_AVAILABLE_IN_1_0
void          mp_connection_recv_async     (MpConnection        *self,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
MP_AVAILABLE_IN_1_0
GVariant     *mp_connection_recv_finish    (MpConnection        *self,
                                            GAsyncResult        *result,
                                            GUnixFDList        **out_fds,
                                            GError             **error);

/* Python's multiprocessing.reduction: descriptors over a Unix-domain connection. */
MP_AVAILABLE_IN_1_0
gboolean      mp_reduction_sendfds         (MpConnection   *conn,
                                            const int      *fds,
                                            guint           n_fds,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
int          *mp_reduction_recvfds         (MpConnection   *conn,
                                            guint           n_fds,
                                            guint          *out_n_fds,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
gboolean      mp_reduction_send_handle     (MpConnection   *conn,
                                            int             handle,
                                            GPid            destination_pid,
                                            GError        **error);
MP_AVAILABLE_IN_1_0
int           mp_reduction_recv_handle     (MpConnection   *conn,
                                            GError        **error);

G_END_DECLS
