/* mp-connection-wait.c: waiting on connections (Python's connection.wait) and main-loop glue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * mp_connection_wait_full() is one poll() over every descriptor, retried on EINTR against an
 * absolute deadline. "Ready" means what Python means: readable, hung up or in error — a
 * receive or accept would not block for long (or would fail at once) — so a peer that died is
 * reported rather than waited on forever.
 *
 * The async receive never blocks its main loop: it watches the descriptor from the
 * thread-default context and, each time it is readable, takes only what is already there
 * (MP_RX_NONBLOCK) into the connection's frame reader. A frame can so arrive over many
 * wakeups. Cancelling leaves the half-read frame in the connection, where the next receive,
 * sync or async, goes on with it; a message that was complete is delivered even if the
 * cancellable fired meanwhile (check_cancellable is off), so no message is ever dropped.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>

#include <glib-unix.h>

#include "mp-connection-private.h"
#include "mp-error.h"
#include "mp-listener.h"
#include "mp-process.h"

/* ---- wait ---------------------------------------------------------------------------------- */

static int
object_fd (gpointer object, GError **error)
{
  if (MP_IS_CONNECTION (object))
    return mp_connection_fileno (object, error);
  if (MP_IS_PROCESS (object))
    return mp_process_get_sentinel (object, error);
  if (MP_IS_LISTENER (object))
    return mp_listener_fileno (object, error);
  if (G_IS_SOCKET (object))
    {
      if (g_socket_is_closed (object))
        {
          g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED, "socket is closed");
          return -1;
        }
      return g_socket_get_fd (object);
    }
  g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
               "cannot wait on a %s: use an MpConnection, MpProcess, MpListener or GSocket",
               G_IS_OBJECT (object) ? G_OBJECT_TYPE_NAME (object) : "non-object");
  return -1;
}

/**
 * mp_connection_wait_full:
 * @objects: (element-type GObject) (nullable): #MpConnection, #MpProcess (its sentinel),
 *   #MpListener (a pending connection) and #GSocket objects
 * @fds: (array length=n_fds) (nullable): plain descriptors, e.g. mp_process_get_sentinel()
 * @n_fds: the length of @fds
 * @timeout_us: 0 to look without waiting, %MP_TIMEOUT_INFINITE to wait until one is ready;
 *   negative values other than that count as 0
 * @ready_objects: (out) (optional) (transfer container) (element-type GObject): the ready
 *   objects, in the order of @objects, each with a new reference
 * @ready_fds: (out) (optional) (transfer full) (element-type gint): the ready descriptors, in
 *   the order of @fds
 * @error: return location for an error
 *
 * Python's `multiprocessing.connection.wait(object_list, timeout)` over objects and
 * descriptors at once. Ready means a message (even an empty one) or end of file is pending, a
 * process has ended, a listener has a connection to accept. Nothing is consumed. A timeout is
 * not an error: both lists come back empty. A closed connection in @objects is
 * %MP_ERROR_CLOSED.
 *
 * Returns: %TRUE unless @error is set
 */
gboolean
mp_connection_wait_full (GPtrArray  *objects,
                         const int  *fds,
                         guint       n_fds,
                         gint64      timeout_us,
                         GPtrArray **ready_objects,
                         GArray    **ready_fds,
                         GError    **error)
{
  guint n_objects = objects ? objects->len : 0;
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, n_objects + n_fds + 1);
  gint64 deadline = timeout_us > 0 ? g_get_monotonic_time () + timeout_us : 0;
  guint n_buffered = 0;
  int r;

  g_return_val_if_fail (fds != NULL || n_fds == 0, FALSE);

  if (ready_objects)
    *ready_objects = NULL;
  if (ready_fds)
    *ready_fds = NULL;

  for (guint i = 0; i < n_objects; i++)
    {
      gpointer object = g_ptr_array_index (objects, i);
      int fd = object_fd (object, error);
      if (fd < 0)
        return FALSE;
      pfds[i].fd = fd;
      pfds[i].events = POLLIN;
      if (MP_IS_CONNECTION (object) && _mp_connection_has_buffered (object))
        n_buffered++;
    }
  for (guint i = 0; i < n_fds; i++)
    {
      pfds[n_objects + i].fd = fds[i];
      pfds[n_objects + i].events = POLLIN;
    }

  for (;;)
    {
      int ms;

      if (n_buffered > 0)
        ms = 0;   /* bytes read ahead are ready already; poll() does not see them */
      else if (timeout_us == MP_TIMEOUT_INFINITE)
        ms = -1;
      else if (timeout_us <= 0)
        ms = 0;
      else
        {
          gint64 left = deadline - g_get_monotonic_time ();
          ms = left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
        }
      r = poll (pfds, n_objects + n_fds, ms);
      if (r < 0)
        {
          int errsv = errno;
          if (errsv == EINTR)
            continue;
          g_set_error (error, MP_ERROR, MP_ERROR_IO, "poll() failed: %s", g_strerror (errsv));
          return FALSE;
        }
      /* poll() may wake a little before the deadline, in whole milliseconds. */
      if (r == 0 && ms > 0 && g_get_monotonic_time () < deadline)
        continue;
      break;
    }
  if (n_buffered > 0)
    {
      for (guint i = 0; i < n_objects; i++)
        {
          gpointer object = g_ptr_array_index (objects, i);

          if (MP_IS_CONNECTION (object) && _mp_connection_has_buffered (object) &&
              pfds[i].revents == 0)
            {
              pfds[i].revents = POLLIN;
              r++;
            }
        }
    }

  if (ready_objects)
    {
      *ready_objects = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n_objects && r > 0; i++)
        if (pfds[i].revents != 0)
          g_ptr_array_add (*ready_objects, g_object_ref (g_ptr_array_index (objects, i)));
    }
  if (ready_fds)
    {
      *ready_fds = g_array_new (FALSE, FALSE, sizeof (int));
      for (guint i = 0; i < n_fds && r > 0; i++)
        if (pfds[n_objects + i].revents != 0)
          g_array_append_val (*ready_fds, fds[i]);
    }
  return TRUE;
}

/**
 * mp_connection_wait:
 * @objects: (element-type GObject): connections, processes, listeners, sockets
 * @timeout_us: as for mp_connection_wait_full()
 * @error: return location for an error
 *
 * mp_connection_wait_full() over objects only.
 *
 * Returns: (transfer container) (element-type GObject): the ready objects (empty on timeout),
 *   or %NULL with @error set
 */
GPtrArray *
mp_connection_wait (GPtrArray *objects, gint64 timeout_us, GError **error)
{
  GPtrArray *ready = NULL;

  g_return_val_if_fail (objects != NULL, NULL);

  if (!mp_connection_wait_full (objects, NULL, 0, timeout_us, &ready, NULL, error))
    return NULL;
  return ready;
}

/**
 * mp_connection_wait_fds:
 * @fds: (array length=n_fds): descriptors
 * @n_fds: how many
 * @timeout_us: as for mp_connection_wait_full()
 * @error: return location for an error
 *
 * mp_connection_wait_full() over plain descriptors only.
 *
 * Returns: (transfer full) (element-type gint): the ready descriptors (empty on timeout), or
 *   %NULL with @error set
 */
GArray *
mp_connection_wait_fds (const int *fds, guint n_fds, gint64 timeout_us, GError **error)
{
  GArray *ready = NULL;

  if (!mp_connection_wait_full (NULL, fds, n_fds, timeout_us, NULL, &ready, error))
    return NULL;
  return ready;
}

/* ---- GSource ------------------------------------------------------------------------------- */

typedef struct
{
  GSource       source;
  MpConnection *connection;
  gpointer      tag;
} MpConnectionSource;

static gboolean
connection_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  MpConnectionSource *cs = (MpConnectionSource *) source;
  MpConnectionSourceFunc func = (MpConnectionSourceFunc) (void (*) (void)) callback;

  if (func == NULL)
    {
      g_warning ("MpConnection source dispatched without a callback; "
                 "call g_source_set_callback()");
      return G_SOURCE_REMOVE;
    }
  return func (cs->connection, user_data);
}

static void
connection_source_finalize (GSource *source)
{
  MpConnectionSource *cs = (MpConnectionSource *) source;

  g_clear_object (&cs->connection);
}

static gboolean
connection_source_closure_callback (MpConnection *connection, gpointer data)
{
  GClosure *closure = data;
  GValue param = G_VALUE_INIT;
  GValue result = G_VALUE_INIT;
  gboolean ret;

  g_value_init (&result, G_TYPE_BOOLEAN);
  g_value_init (&param, MP_TYPE_CONNECTION);
  g_value_set_object (&param, connection);
  g_closure_invoke (closure, &result, 1, &param, NULL);
  ret = g_value_get_boolean (&result);
  g_value_unset (&param);
  g_value_unset (&result);
  return ret;
}

/* Bytes read ahead make the connection ready although its descriptor may be quiet. */
static gboolean
connection_source_prepare (GSource *source, gint *timeout)
{
  MpConnectionSource *cs = (MpConnectionSource *) source;

  *timeout = -1;
  return _mp_connection_has_buffered (cs->connection);
}

static gboolean
connection_source_check (GSource *source)
{
  MpConnectionSource *cs = (MpConnectionSource *) source;

  return _mp_connection_has_buffered (cs->connection) ||
         (cs->tag != NULL && g_source_query_unix_fd (source, cs->tag) != 0);
}

static GSourceFuncs connection_source_funcs = {
  connection_source_prepare,
  connection_source_check,
  connection_source_dispatch,
  connection_source_finalize,
  (GSourceFunc) (void (*) (void)) connection_source_closure_callback,
  NULL,
};

/**
 * mp_connection_create_source:
 * @self: an open, readable connection
 * @cancellable: (nullable): when cancelled, the source dispatches too (check it in the
 *   callback)
 *
 * A #GSource that dispatches whenever mp_connection_poll() would return %TRUE: a message or
 * end of file is pending. Set an #MpConnectionSourceFunc with g_source_set_callback() and
 * attach it to a #GMainContext; the callback then receives without blocking for long (a
 * message is there, or at least its first bytes are). The source keeps a reference on @self;
 * destroy it before closing the connection.
 *
 * Returns: (transfer full): the source
 */
GSource *
mp_connection_create_source (MpConnection *self, GCancellable *cancellable)
{
  MpConnectionSource *cs;
  GSource *source;

  g_return_val_if_fail (MP_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  source = g_source_new (&connection_source_funcs, sizeof (MpConnectionSource));
  g_source_set_static_name (source, "MpConnection");
  cs = (MpConnectionSource *) source;
  cs->connection = g_object_ref (self);
  if (self->fd >= 0)
    cs->tag = g_source_add_unix_fd (source, self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  else
    g_source_set_ready_time (source, 0);   /* closed: dispatch once, the callback sees it */
  if (cancellable)
    {
      GSource *cancel = g_cancellable_source_new (cancellable);
      g_source_set_dummy_callback (cancel);
      g_source_add_child_source (source, cancel);
      g_source_unref (cancel);
    }
  return source;
}

/* ---- async receive ------------------------------------------------------------------------ */

typedef struct
{
  gssize   maxlength;
  gboolean variant;
} RecvData;

typedef struct
{
  GBytes      *payload;
  GUnixFDList *fds;
} RecvResult;

static void
recv_result_free (gpointer data)
{
  RecvResult *r = data;

  g_clear_pointer (&r->payload, g_bytes_unref);
  g_clear_object (&r->fds);
  g_free (r);
}

static void
pending_clear (MpConnection *self)
{
  if (self->pending_source)
    {
      g_source_destroy (self->pending_source);
      g_clear_pointer (&self->pending_source, g_source_unref);
    }
  self->pending = NULL;
}

void
_mp_connection_async_cancel_pending (MpConnection *self)
{
  GTask *task = self->pending;

  if (task == NULL)
    return;
  if (self->async_stepping)
    {
      /* A bad length closed the end from inside the task's read; the task reports that. */
      pending_clear (self);
      return;
    }
  g_object_ref (task);
  pending_clear (self);
  g_task_return_new_error (task, MP_ERROR, MP_ERROR_CLOSED, "handle is closed");
  g_object_unref (task);
}

static gboolean
recv_async_ready (int fd, GIOCondition condition, gpointer user_data)
{
  /* Our own reference: completing the task destroys this source, which drops its reference
   * to the task while we still use it. */
  g_autoptr(GTask) task = g_object_ref (user_data);
  MpConnection *self = g_task_get_source_object (task);
  RecvData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  RecvResult *result;
  gboolean done;

  if (self->pending_source != NULL)
    g_source_set_ready_time (self->pending_source, -1);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      pending_clear (self);
      g_task_return_error_if_cancelled (task);
      return G_SOURCE_REMOVE;
    }
  self->async_stepping = TRUE;
  done = _mp_connection_rx_step (self, MP_RX_NONBLOCK, -1, data->maxlength, &error);
  self->async_stepping = FALSE;
  if (!done)
    {
      if (error == NULL)
        return G_SOURCE_CONTINUE;
      pending_clear (self);
      g_task_return_error (task, g_steal_pointer (&error));
      return G_SOURCE_REMOVE;
    }
  result = g_new0 (RecvResult, 1);
  result->payload = _mp_connection_rx_take (self, data->variant ? &result->fds : NULL);
  pending_clear (self);
  g_task_return_pointer (task, result, recv_result_free);
  return G_SOURCE_REMOVE;
}

static void
recv_async_start (MpConnection        *self,
                  gssize               maxlength,
                  gboolean             variant,
                  gpointer             source_tag,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  RecvData *data;
  GSource *source;

  g_task_set_source_tag (task, source_tag);
  g_task_set_check_cancellable (task, FALSE);
  if (!_mp_connection_check_readable (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (maxlength < -1)
    {
      g_task_return_new_error (task, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "negative maxlength");
      return;
    }
  if (self->pending != NULL)
    {
      g_task_return_new_error (task, MP_ERROR, MP_ERROR_FAILED,
                               "another receive is already pending on this connection");
      return;
    }
  data = g_new0 (RecvData, 1);
  data->maxlength = maxlength;
  data->variant = variant;
  g_task_set_task_data (task, data, g_free);

  source = g_unix_fd_source_new (self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_static_name (source, "MpConnection receive");
  if (cancellable)
    {
      GSource *cancel = g_cancellable_source_new (cancellable);
      g_source_set_dummy_callback (cancel);
      g_source_add_child_source (source, cancel);
      g_source_unref (cancel);
    }
  if (_mp_connection_has_buffered (self))
    g_source_set_ready_time (source, 0);   /* the descriptor does not show bytes read ahead */
  self->pending = task;
  self->pending_source = source;
  g_task_attach_source (task, source, (GSourceFunc) (void (*) (void)) recv_async_ready);
}

/**
 * mp_connection_recv_bytes_async:
 * @self: a readable connection
 * @maxlength: as for mp_connection_recv_bytes()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the thread-default main context once a whole message is there
 * @user_data: data for @callback
 *
 * Receives a message without blocking the main loop: the message is read piece by piece as
 * it arrives. One receive may be pending per connection. Cancelling keeps what was read of a
 * message for the next receive.
 */
void
mp_connection_recv_bytes_async (MpConnection        *self,
                                gssize               maxlength,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (MP_IS_CONNECTION (self));

  recv_async_start (self, maxlength, FALSE, mp_connection_recv_bytes_async, cancellable,
                    callback, user_data);
}

/**
 * mp_connection_recv_bytes_finish:
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 */
GBytes *
mp_connection_recv_bytes_finish (MpConnection *self, GAsyncResult *result, GError **error)
{
  RecvResult *r;
  GBytes *bytes;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        mp_connection_recv_bytes_async, NULL);

  r = g_task_propagate_pointer (G_TASK (result), error);
  if (r == NULL)
    return NULL;
  bytes = g_steal_pointer (&r->payload);
  recv_result_free (r);
  return bytes;
}

/**
 * mp_connection_recv_async:
 * @self: a readable connection
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the thread-default main context once a whole message is there
 * @user_data: data for @callback
 *
 * mp_connection_recv() without blocking the main loop; see
 * mp_connection_recv_bytes_async().
 */
void
mp_connection_recv_async (MpConnection        *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (MP_IS_CONNECTION (self));

  recv_async_start (self, -1, TRUE, mp_connection_recv_async, cancellable, callback, user_data);
}

/**
 * mp_connection_recv_finish:
 * @out_fds: (out) (optional) (transfer full): the descriptors that came with the value
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 */
GVariant *
mp_connection_recv_finish (MpConnection  *self,
                           GAsyncResult  *result,
                           GUnixFDList  **out_fds,
                           GError       **error)
{
  RecvResult *r;
  GVariant *value;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == mp_connection_recv_async, NULL);

  if (out_fds)
    *out_fds = NULL;
  r = g_task_propagate_pointer (G_TASK (result), error);
  if (r == NULL)
    return NULL;
  value = _mp_connection_decode_value (r->payload, error);
  if (value != NULL && out_fds)
    *out_fds = g_steal_pointer (&r->fds);
  recv_result_free (r);
  return value;
}
