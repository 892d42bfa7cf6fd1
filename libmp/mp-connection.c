/* mp-connection.c: MpConnection and mp_pipe() (Python's multiprocessing.connection.Connection)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Framing is Python's, byte for byte (see mp-connection.h), so raw messages interoperate with
 * Python peers. A sender writes the header and the payload with one sendmsg()/writev(), which
 * avoids both Python's concatenation copy and the Nagle stall a separate small header write
 * would cause on TCP.
 *
 * On a pipe (Pipe(duplex=False)) a receiver reads exactly one frame and never a byte beyond
 * it: several processes may read the same pipe in turn (Python's Queue and SimpleQueue
 * readers, under a lock), and bytes read ahead would be bytes stolen from the next reader. So
 * a pipe frame costs two reads, the header and the payload, as in Python.
 *
 * A socket end (a duplex Pipe, a Listener's or Client's connection) is point to point, and
 * reads ahead: one recvmsg() of up to MP_CONNECTION_READ_AHEAD bytes into rbuf takes the
 * header and the payload of a small message, and whatever followed it, so a small message
 * costs one system call. Reading one socket end from several processes is therefore not
 * supported (use a one-way pipe for that, as Python's queues do). The consequences:
 *  - poll(), wait, the GSource and the async receive count a connection with buffered bytes
 *    as readable, since the descriptor no longer shows them;
 *  - a connection with buffered bytes cannot be serialized (the receiver would miss them),
 *    like one in the middle of a frame;
 *  - descriptors: the kernel ends a stream recvmsg() right after the segment that carried
 *    descriptors, and a sender attaches them to the first segment of the frame they belong
 *    to, so the descriptors of a buffered read belong to the frame holding its last byte:
 *    they wait in rbuf_fds and join rx.fds when that byte is parsed (mp_reduction_recvfds()
 *    takes its byte and descriptors from the buffer the same way);
 *  - a payload of at least MP_CONNECTION_READ_AHEAD bytes still owed is read straight into
 *    the frame, without the buffer.
 *
 * A blocking receive on a socket spins first (rx_spin_budget_us): a few tens of µs of
 * non-blocking reads, adaptive per thread — a spin that found data restores the whole budget,
 * one that ended in a sleep takes a quarter off it, down to none after about ten failures in a
 * row, and then a whole-budget probe every 64th receive finds out whether spinning pays again —
 * and never when the thread may only run on one CPU, where the peer cannot run while we spin.
 * Waking a sleeping receiver on another CPU costs tens of µs on a virtual machine; a peer that
 * answers within the spin costs only the reads.
 *
 * The frame in progress lives in the connection (MpFrameReader), not on the stack, so
 * a receive that stops early — a handshake timeout, an async receive that is cancelled —
 * leaves the stream consistent, and the next receive finishes the same frame.
 *
 * The announced length is untrusted: the payload buffer starts at MP_FRAME_INITIAL_ALLOC at
 * most and doubles only when the data already received fills it, so a garbage header costs
 * at most that much before the peer has really sent the bytes.
 *
 * Descriptors (SCM_RIGHTS) are collected from every recvmsg() of a frame on a Unix socket and
 * handed out with it; when the caller does not take them (raw receives) they are closed, so a
 * peer cannot make us leak descriptors. The kernel detaches at most one sender's batch per
 * recvmsg() on a stream socket, so a buffer for SCM_MAX_FD descriptors never truncates.
 *
 * SIGPIPE: sockets are written with MSG_NOSIGNAL. A pipe has no such flag, so a pipe write
 * blocks SIGPIPE for the calling thread, and if the write failed with EPIPE it consumes the
 * signal it generated before restoring the mask: a library must not kill its host program
 * because a peer went away (Python ignores SIGPIPE process-wide; a C program may not).
 *
 * Stats: each connection end has one object in the arena's directory. A handle passed to
 * another process (mp_connection_serialize) carries the object's id, and the receiver counts
 * into the same block; `refs` counts the handles open on it across the tree and the last close
 * retires it. A copy inherited through fork() never took a reference (ref_pid tells), so its
 * close leaves the count alone.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mp-cmsg-private.h"
#include "mp-connection-private.h"
#include "mp-error.h"
#include "mp-object-private.h"
#include "mp-process.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define MP_CONNECTION_FLAG_READABLE (1u << 0)
#define MP_CONNECTION_FLAG_WRITABLE (1u << 1)
#define MP_CONNECTION_FLAG_PIPE     (1u << 2)
#define MP_CONNECTION_FLAG_UNIX     (1u << 3)
#define MP_CONNECTION_FLAG_SOCKET   (1u << 4)

/* Frames may not carry more descriptors than this in all (several recvmsg() calls). */
#define MP_FRAME_MAX_FDS 1024

G_DEFINE_FINAL_TYPE (MpConnection, mp_connection, G_TYPE_OBJECT)

static int pipe_counter;

/* ---- framing ------------------------------------------------------------------------------ */

gsize
_mp_frame_header_encode (guint64 size, guint8 out[MP_FRAME_LONG_HEADER])
{
  if (size <= MP_FRAME_SHORT_MAX)
    {
      guint32 be = GUINT32_TO_BE ((guint32) size);
      memcpy (out, &be, 4);
      return MP_FRAME_SHORT_HEADER;
    }
  else
    {
      guint32 minus_one = GUINT32_TO_BE (0xffffffffu);
      guint64 be = GUINT64_TO_BE (size);
      memcpy (out, &minus_one, 4);
      memcpy (out + 4, &be, 8);
      return MP_FRAME_LONG_HEADER;
    }
}

MpFrameStatus
_mp_frame_header_decode (const guint8 *buf, gsize len, gsize *header_len, guint64 *size)
{
  guint32 be32;
  gint32 first;
  guint64 be64, value;

  *header_len = MP_FRAME_SHORT_HEADER;
  if (len < MP_FRAME_SHORT_HEADER)
    return MP_FRAME_NEED_MORE;
  memcpy (&be32, buf, 4);
  first = (gint32) GUINT32_FROM_BE (be32);
  if (first >= 0)
    {
      *size = (guint64) first;
      return MP_FRAME_OK;
    }
  /* Python would read a negative length as an empty message; a peer that sends one is
   * broken or hostile, so it is refused. */
  if (first != -1)
    return MP_FRAME_INVALID;
  *header_len = MP_FRAME_LONG_HEADER;
  if (len < MP_FRAME_LONG_HEADER)
    return MP_FRAME_NEED_MORE;
  memcpy (&be64, buf + 4, 8);
  value = GUINT64_FROM_BE (be64);
  if (value > (guint64) G_MAXSSIZE)
    return MP_FRAME_INVALID;
  *size = value;
  return MP_FRAME_OK;
}

GVariant *
_mp_connection_decode_value (GBytes *payload, GError **error)
{
  g_autoptr(GVariant) boxed = NULL;

  boxed = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, payload, FALSE));
  if (!g_variant_is_normal_form (boxed))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Malformed message: not a serialized GVariant in normal form "
                   "(%" G_GSIZE_FORMAT " bytes)", g_bytes_get_size (payload));
      return NULL;
    }
  return g_variant_get_variant (boxed);
}

/* ---- the arena object --------------------------------------------------------------------- */

static MpConnectionStats *
stats (MpConnection *self)
{
  return self->object ? MP_OBJECT_STATS (self->object, MpConnectionStats) : NULL;
}

static guint32
kind_flags (MpConnection *self)
{
  guint32 flags = 0;

  if (self->readable)
    flags |= MP_CONNECTION_FLAG_READABLE;
  if (self->writable)
    flags |= MP_CONNECTION_FLAG_WRITABLE;
  switch (self->kind)
    {
    case MP_CONN_PIPE: flags |= MP_CONNECTION_FLAG_PIPE; break;
    case MP_CONN_UNIX: flags |= MP_CONNECTION_FLAG_UNIX; break;
    case MP_CONN_SOCKET: flags |= MP_CONNECTION_FLAG_SOCKET; break;
    default: break;
    }
  return flags;
}

static void
object_register (MpConnection *self, const char *label)
{
  MpArenaObject *o = _mp_arena_object_new (MP_OBJECT_CONNECTION, label, &self->object_id);

  if (o == NULL)
    return;
  MP_OBJECT_STATS (o, MpConnectionStats)->flags = kind_flags (self);
  __atomic_store_n (&o->refs, 1, __ATOMIC_RELAXED);
  self->object = o;
  self->ref_pid = getpid ();
}

/* Joins the stats block of a handle passed from another process of the tree, if it is still
 * live; the reference is taken with a CAS so a block being retired is not revived. */
static gboolean
object_adopt (MpConnection *self, guint64 id)
{
  MpArena *arena = _mp_arena;
  guint32 hw;

  if (arena == NULL || id == 0)
    return FALSE;
  hw = __atomic_load_n (&_mp_arena_header (arena)->objects_high_water, __ATOMIC_ACQUIRE);
  for (guint32 i = 0; i < hw; i++)
    {
      MpArenaObject *o = _mp_arena_object (arena, (int) i);
      guint64 refs;

      if (o == NULL || __atomic_load_n (&o->state, __ATOMIC_ACQUIRE) != 1 ||
          o->kind != MP_OBJECT_CONNECTION || o->id != id)
        continue;
      refs = __atomic_load_n (&o->refs, __ATOMIC_RELAXED);
      do
        if (refs == 0)
          return FALSE;
      while (!__atomic_compare_exchange_n (&o->refs, &refs, refs + 1, TRUE,
                                           __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
      self->object = o;
      self->object_id = id;
      self->ref_pid = getpid ();
      return TRUE;
    }
  return FALSE;
}

static void
object_release (MpConnection *self)
{
  MpArenaObject *o = self->object;

  self->object = NULL;
  if (o == NULL || self->ref_pid != getpid ())
    return;
  if (__atomic_sub_fetch (&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
    _mp_arena_object_retire (o);
}

void
_mp_connection_count_auth_failure (MpConnection *self)
{
  MpConnectionStats *st = stats (self);

  if (st)
    __atomic_fetch_add (&st->auth_failures, 1, __ATOMIC_RELAXED);
}

void
_mp_connection_set_peer_pid (MpConnection *self, pid_t pid)
{
  MpConnectionStats *st = stats (self);

  if (st)
    __atomic_store_n (&st->peer_pid, (gint32) pid, __ATOMIC_RELAXED);
}

static void
count_sent (MpConnection *self, gsize size, guint n_fds)
{
  MpConnectionStats *st = stats (self);

  if (st)
    {
      __atomic_fetch_add (&st->messages_sent, 1, __ATOMIC_RELAXED);
      __atomic_fetch_add (&st->bytes_sent, (guint64) size, __ATOMIC_RELAXED);
    }
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_CONNECTION_SEND, self->object_id, (gint64) size, n_fds);
}

static void
count_received (MpConnection *self, gsize size, guint n_fds)
{
  MpConnectionStats *st = stats (self);

  if (st)
    {
      __atomic_fetch_add (&st->messages_received, 1, __ATOMIC_RELAXED);
      __atomic_fetch_add (&st->bytes_received, (guint64) size, __ATOMIC_RELAXED);
    }
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_CONNECTION_RECV, self->object_id, (gint64) size, n_fds);
}

/* ---- the object --------------------------------------------------------------------------- */

static void
rx_reset (MpFrameReader *rx)
{
  g_clear_pointer (&rx->data, g_free);
  if (rx->fds)
    {
      for (guint i = 0; i < rx->fds->len; i++)
        close (g_array_index (rx->fds, int, i));
      g_array_set_size (rx->fds, 0);
    }
  rx->header_got = 0;
  rx->header_len = MP_FRAME_SHORT_HEADER;
  rx->have_size = FALSE;
  rx->size = 0;
  rx->capacity = 0;
  rx->got = 0;
}

static gboolean
rx_in_progress (const MpFrameReader *rx)
{
  return rx->header_got > 0;
}

static void
close_fd_array (GArray *fds)
{
  if (fds == NULL)
    return;
  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  g_array_set_size (fds, 0);
}

/* Drops the read-ahead bytes (the stream is out of step, or the end is closed). */
static void
rbuf_reset (MpConnection *self)
{
  self->rbuf_pos = self->rbuf_len = 0;
  close_fd_array (self->rbuf_fds);
}

static void
mp_connection_finalize (GObject *object)
{
  MpConnection *self = MP_CONNECTION (object);

  (void) mp_connection_close (self, NULL);
  rx_reset (&self->rx);
  g_clear_pointer (&self->rx.fds, g_array_unref);
  rbuf_reset (self);
  g_clear_pointer (&self->rbuf_fds, g_array_unref);
  g_clear_pointer (&self->rbuf, g_free);

  G_OBJECT_CLASS (mp_connection_parent_class)->finalize (object);
}

static void
mp_connection_class_init (MpConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mp_connection_finalize;
}

static void
mp_connection_init (MpConnection *self)
{
  self->fd = -1;
  self->rx.header_len = MP_FRAME_SHORT_HEADER;
}

static MpConnKind
detect_kind (int fd)
{
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  struct stat st;

  if (fstat (fd, &st) == 0 && !S_ISSOCK (st.st_mode))
    return MP_CONN_PIPE;
  if (getsockname (fd, (struct sockaddr *) &addr, &len) == 0 && addr.ss_family == AF_UNIX)
    return MP_CONN_UNIX;
  return MP_CONN_SOCKET;
}

static MpConnection *
connection_alloc (int fd, gboolean readable, gboolean writable)
{
  MpConnection *self = g_object_new (MP_TYPE_CONNECTION, NULL);

  self->fd = fd;
  self->readable = readable;
  self->writable = writable;
  self->kind = detect_kind (fd);
  self->read_ahead = self->kind != MP_CONN_PIPE;
  return self;
}

/* Takes ownership of fd. */
MpConnection *
_mp_connection_new_for_fd (int fd, gboolean readable, gboolean writable, const char *label)
{
  MpConnection *self = connection_alloc (fd, readable, writable);

  object_register (self, label);
  return self;
}

/**
 * mp_connection_new:
 * @fd: an open descriptor: a pipe end or a connected stream socket; the connection owns it
 * @readable: whether messages may be received
 * @writable: whether messages may be sent
 * @error: return location for an error
 *
 * Wraps a descriptor, as Python's `Connection(handle, readable, writable)` does. On error
 * @fd is left open and still belongs to the caller. On a socket the connection reads ahead,
 * so only it may read the socket (see mp_pipe()); on a pipe it never reads beyond a message.
 *
 * Returns: (transfer full): the connection, or %NULL when @fd is negative or neither
 *   direction is allowed (%MP_ERROR_INVALID_ARGUMENT)
 */
MpConnection *
mp_connection_new (int fd, gboolean readable, gboolean writable, GError **error)
{
  g_autofree char *label = NULL;

  if (fd < 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "invalid handle %d", fd);
      return NULL;
    }
  if (!readable && !writable)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "at least one of `readable` and `writable` must be True");
      return NULL;
    }
  label = g_strdup_printf ("Connection fd %d", fd);
  return _mp_connection_new_for_fd (fd, readable, writable, label);
}

/**
 * mp_pipe:
 * @duplex: %TRUE for a two-way pipe (a Unix socket pair, which can also carry descriptors),
 *   %FALSE for a one-way pipe
 * @reader: (out) (transfer full): the first end; with @duplex %FALSE it can only receive
 * @writer: (out) (transfer full): the second end; with @duplex %FALSE it can only send
 * @error: return location for an error
 *
 * Python's `Pipe(duplex)`: `reader, writer = Pipe()`. Both descriptors are close-on-exec;
 * pass an end to a child as a process argument (mp_connection_serialize()).
 *
 * A duplex end reads ahead (a small message costs one system call), so each end must be read
 * by one process; several processes taking turns at reading one end, under a lock, as
 * Python's queues do, need a one-way pipe, which never reads beyond a message.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_pipe (gboolean duplex, MpConnection **reader, MpConnection **writer, GError **error)
{
  int fds[2];
  int n = __atomic_add_fetch (&pipe_counter, 1, __ATOMIC_RELAXED);
  g_autofree char *label_a = NULL, *label_b = NULL;

  g_return_val_if_fail (reader != NULL && writer != NULL, FALSE);

  if (duplex ? socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0
             : pipe2 (fds, O_CLOEXEC) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create a pipe: %s", g_strerror (errsv));
      return FALSE;
    }
  label_a = g_strdup_printf ("Pipe-%d %s", n, duplex ? "a" : "reader");
  label_b = g_strdup_printf ("Pipe-%d %s", n, duplex ? "b" : "writer");
  *reader = _mp_connection_new_for_fd (fds[0], TRUE, duplex, label_a);
  *writer = _mp_connection_new_for_fd (fds[1], duplex, TRUE, label_b);
  return TRUE;
}

/* ---- checks -------------------------------------------------------------------------------- */

static gboolean
check_closed (MpConnection *self, GError **error)
{
  if (self->fd < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED, "handle is closed");
      return FALSE;
    }
  return TRUE;
}

gboolean
_mp_connection_check_readable (MpConnection *self, GError **error)
{
  if (!check_closed (self, error))
    return FALSE;
  if (!self->readable)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_IO, "connection is write-only");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_writable (MpConnection *self, GError **error)
{
  if (!check_closed (self, error))
    return FALSE;
  if (!self->writable)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_IO, "connection is read-only");
      return FALSE;
    }
  return TRUE;
}

/* ---- sending ------------------------------------------------------------------------------- */

static int
poll_fd (int fd, short events, gint64 deadline)
{
  for (;;)
    {
      struct pollfd pfd = { fd, events, 0 };
      int ms = -1;
      int r;

      if (deadline >= 0)
        {
          gint64 left = deadline - g_get_monotonic_time ();
          ms = left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
        }
      r = poll (&pfd, 1, ms);
      if (r >= 0)
        {
          if (r == 0 && ms != 0 && deadline >= 0 && g_get_monotonic_time () < deadline)
            continue;
          return r;
        }
      if (errno != EINTR)
        return -1;
    }
}

/* A pipe write that cannot raise SIGPIPE in the host program (see NOTES). */
static ssize_t
writev_nosigpipe (int fd, const struct iovec *iov, int iovcnt)
{
  sigset_t block, old;
  ssize_t n;
  int errsv;

  sigemptyset (&block);
  sigaddset (&block, SIGPIPE);
  if (pthread_sigmask (SIG_BLOCK, &block, &old) != 0)
    return writev (fd, iov, iovcnt);
  n = writev (fd, iov, iovcnt);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !sigismember (&old, SIGPIPE))
    {
      struct timespec zero = { 0, 0 };
      int r;
      do
        r = sigtimedwait (&block, NULL, &zero);
      while (r < 0 && errno == EINTR);
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  errno = errsv;
  return n;
}

static gboolean
write_frame (MpConnection *self, const void *payload, gsize size, const int *fds, guint n_fds,
             GError **error)
{
  guint8 header[MP_FRAME_LONG_HEADER];
  struct iovec iov[2];
  struct iovec *cur = iov;
  guint fds_to_send = n_fds;
  int niov = 0;

  iov[niov].iov_base = header;
  iov[niov++].iov_len = _mp_frame_header_encode (size, header);
  if (size > 0)
    {
      iov[niov].iov_base = (void *) payload;
      iov[niov++].iov_len = size;
    }

  while (niov > 0)
    {
      ssize_t n;

      if (self->kind == MP_CONN_PIPE)
        n = writev_nosigpipe (self->fd, cur, niov);
      else
        {
          struct msghdr msg = { 0 };
          MpCmsgBuffer u;

          msg.msg_iov = cur;
          msg.msg_iovlen = (size_t) niov;
          _mp_cmsg_attach_fds (&msg, &u, fds, fds_to_send);
          n = sendmsg (self->fd, &msg, MSG_NOSIGNAL);
        }
      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv == EAGAIN)
            {
              /* Someone made the descriptor non-blocking: behave as a blocking send. */
              if (poll_fd (self->fd, POLLOUT, -1) >= 0)
                continue;
              errsv = errno;
            }
          g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot send a message: %s",
                       g_strerror (errsv));
          return FALSE;
        }
      /* The descriptors went with the first bytes. */
      fds_to_send = 0;
      while (niov > 0 && (gsize) n >= cur->iov_len)
        {
          n -= (ssize_t) cur->iov_len;
          cur++;
          niov--;
        }
      if (niov > 0)
        {
          cur->iov_base = (guint8 *) cur->iov_base + n;
          cur->iov_len -= (gsize) n;
        }
    }
  count_sent (self, size, n_fds);
  return TRUE;
}

/**
 * mp_connection_send_bytes:
 * @self: a writable connection
 * @data: (array length=len) (nullable): the buffer
 * @len: the length of @data
 * @offset: where the message starts in @data
 * @size: the length of the message, or -1 for the rest of @data
 * @error: return location for an error
 *
 * Sends `data[offset:offset+size]` as one message, which may be empty. The bounds are checked
 * as Python checks them (%MP_ERROR_INVALID_ARGUMENT): "offset is negative", "buffer length <
 * offset", "size is negative", "buffer length < offset + size".
 *
 * Returns: %TRUE once the whole message is written
 */
gboolean
mp_connection_send_bytes (MpConnection  *self,
                          gconstpointer  data,
                          gsize          len,
                          gssize         offset,
                          gssize         size,
                          GError       **error)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (!check_writable (self, error))
    return FALSE;
  if (offset < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "offset is negative");
      return FALSE;
    }
  if ((gsize) offset > len)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "buffer length < offset");
      return FALSE;
    }
  if (size == -1)
    size = (gssize) (len - (gsize) offset);
  else if (size < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "size is negative");
      return FALSE;
    }
  else if ((gsize) size > len - (gsize) offset)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "buffer length < offset + size");
      return FALSE;
    }
  return write_frame (self, (const guint8 *) data + offset, (gsize) size, NULL, 0, error);
}

/**
 * mp_connection_send:
 * @self: a writable connection
 * @value: the value; a floating reference is consumed
 * @fds: (nullable): the descriptors that `h` values in @value index; only a Unix-domain
 *   socket (a duplex mp_pipe(), a Unix listener's connection) can carry them
 * @error: return location for an error
 *
 * Python's `send(obj)`: sends @value as one message (the value boxed as `v`, in normal form)
 * with @fds beside it. Descriptors on a plain pipe or a TCP connection, or more than 253 of
 * them, are %MP_ERROR_SERIALIZATION.
 *
 * Returns: %TRUE once the whole message is written
 */
gboolean
mp_connection_send (MpConnection *self, GVariant *value, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = NULL;
  g_autoptr(GVariant) normal = NULL;
  int n_fds = fds ? g_unix_fd_list_get_length (fds) : 0;

  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (fds == NULL || G_IS_UNIX_FD_LIST (fds), FALSE);

  boxed = g_variant_ref_sink (g_variant_new_variant (value));
  if (!check_writable (self, error))
    return FALSE;
  if (n_fds > 0 && self->kind != MP_CONN_UNIX)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "File descriptors can only be sent over a Unix-domain socket; this "
                   "connection is a %s", self->kind == MP_CONN_PIPE ? "pipe" : "TCP socket");
      return FALSE;
    }
  if (n_fds > MP_CONNECTION_MAX_FDS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A message can carry at most %d file descriptors, not %d",
                   MP_CONNECTION_MAX_FDS, n_fds);
      return FALSE;
    }
  normal = g_variant_get_normal_form (boxed);
  return write_frame (self, g_variant_get_data (normal), g_variant_get_size (normal),
                      n_fds ? g_unix_fd_list_peek_fds (fds, NULL) : NULL, (guint) n_fds, error);
}

/* ---- receiving ----------------------------------------------------------------------------- */

static void
bad_message_length (MpConnection *self, GError **error)
{
  /* Python's _bad_message_length(): the stream is out of step, so this end stops reading. */
  rx_reset (&self->rx);
  rbuf_reset (self);
  if (self->writable)
    self->readable = FALSE;
  else
    (void) mp_connection_close (self, NULL);
  g_set_error_literal (error, MP_ERROR, MP_ERROR_IO, "bad message length");
}

static void
keep_fd (GArray **array, int fd)
{
  if (*array == NULL)
    *array = g_array_new (FALSE, FALSE, sizeof (int));
  if ((*array)->len < MP_FRAME_MAX_FDS)
    g_array_append_val (*array, fd);
  else
    close (fd);
}

static void
rx_keep_fd (int fd, gpointer data)
{
  keep_fd (&((MpConnection *) data)->rx.fds, fd);
}

static void
rbuf_keep_fd (int fd, gpointer data)
{
  keep_fd (&((MpConnection *) data)->rbuf_fds, fd);
}

/* ---- adaptive spinning before a blocking receive (see NOTES) ---- */

#define RX_SPIN_US_MAX   50
#define RX_SPIN_US_MIN   4
#define RX_SPIN_PROBE    64                    /* with no budget, probe every this many */
#define RX_AFFINITY_RECHECK_US (100 * 1000)

typedef struct
{
  gint   budget_us;            /* -1 before the first use */
  guint  idle;                 /* receives since the budget fell to 0 */
  gint64 affinity_checked;
  gboolean multi_cpu;
} RxSpin;

static __thread RxSpin rx_spin __attribute__ ((tls_model ("initial-exec"))) = { -1, 0, 0, FALSE };

static gboolean
may_run_on_several_cpus (void)
{
  cpu_set_t set;

  if (sysconf (_SC_NPROCESSORS_ONLN) <= 1)
    return FALSE;
  if (sched_getaffinity (0, sizeof set, &set) < 0)
    return TRUE;
  return CPU_COUNT (&set) > 1;
}

static gint
rx_spin_budget_us (void)
{
  gint64 now = g_get_monotonic_time ();

  /* Affinity can change under us (taskset, the program itself): look again now and then. */
  if (rx_spin.affinity_checked == 0 || now - rx_spin.affinity_checked > RX_AFFINITY_RECHECK_US)
    {
      rx_spin.multi_cpu = may_run_on_several_cpus ();
      rx_spin.affinity_checked = now;
    }
  if (!rx_spin.multi_cpu)
    return 0;
  if (rx_spin.budget_us < 0)
    rx_spin.budget_us = RX_SPIN_US_MAX;
  if (rx_spin.budget_us > 0)
    return rx_spin.budget_us;
  /* A probe must outlast a wake-up: when both ends of a ping-pong have stopped spinning,
   * only a probe long enough to see the answer of a peer that was woken gets them out. */
  return ++rx_spin.idle % RX_SPIN_PROBE == 0 ? RX_SPIN_US_MAX : 0;
}

static void
rx_spin_result (gboolean won)
{
  if (won)
    rx_spin.budget_us = RX_SPIN_US_MAX;
  else
    {
      rx_spin.budget_us -= rx_spin.budget_us / 4;
      if (rx_spin.budget_us < RX_SPIN_US_MIN)
        rx_spin.budget_us = 0;
    }
  rx_spin.idle = 0;
}

/* One system call: a read of at most want bytes. Descriptors that come with it go to the
 * frame (into_rbuf FALSE) or wait with the buffer. */
static ssize_t
read_once (MpConnection *self, guint8 *dst, gsize want, int flags, gboolean into_rbuf)
{
  if (self->kind == MP_CONN_UNIX)
    {
      MpCmsgBuffer u;
      struct iovec iov = { dst, want };
      struct msghdr msg = { 0 };
      ssize_t n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      _mp_cmsg_prepare_receive (&msg, &u);
      n = recvmsg (self->fd, &msg, flags | MSG_CMSG_CLOEXEC);
      if (n >= 0 && msg.msg_controllen > 0)
        _mp_cmsg_foreach_fd (&msg, into_rbuf ? rbuf_keep_fd : rx_keep_fd, self);
      return n;
    }
  if (self->kind == MP_CONN_SOCKET)
    return recv (self->fd, dst, want, flags);
  return read (self->fd, dst, want);
}

/* Spins on non-blocking reads for the thread's budget. Returns what read_once() returned, or
 * -2 when nothing came. */
static gssize
rx_spin_read (MpConnection *self, guint8 *dst, gsize want, gint64 deadline, gboolean into_rbuf)
{
  gint budget = rx_spin_budget_us ();
  gint64 end;
  gboolean first = TRUE;

  if (budget <= 0)
    return -2;
  end = g_get_monotonic_time () + budget;
  if (deadline >= 0)
    end = MIN (end, deadline);
  for (;;)
    {
      ssize_t n = read_once (self, dst, want, MSG_DONTWAIT, into_rbuf);

      if (n >= 0)
        {
          /* Data that was there at once says nothing about spinning. */
          if (!first)
            rx_spin_result (TRUE);
          return n;
        }
      if (errno != EAGAIN && errno != EINTR)
        return -1;
      first = FALSE;
      if (g_get_monotonic_time () >= end)
        break;
      for (int i = 0; i < 16; i++)
        _mp_cpu_relax ();
    }
  rx_spin_result (FALSE);
  return -2;
}

/* One read from the descriptor of at most want bytes. Returns the count, 0 at end of file, -1
 * with errno set, or -2 when nothing came (non-blocking, or the deadline passed). */
static gssize
rx_read_fd (MpConnection *self, guint8 *dst, gsize want, MpRxMode mode, gint64 deadline,
            gboolean into_rbuf)
{
  if (mode == MP_RX_BLOCK && self->kind != MP_CONN_PIPE)
    {
      gssize n = rx_spin_read (self, dst, want, deadline, into_rbuf);

      if (n != -2)
        return n;
    }
  for (;;)
    {
      int flags = 0;
      ssize_t n;

      if (mode == MP_RX_NONBLOCK)
        {
          if (self->kind == MP_CONN_PIPE)
            {
              /* Pipes have no MSG_DONTWAIT and their O_NONBLOCK flag is shared with every
               * process holding the pipe, so ask how much is there instead. */
              int avail = 0;

              if (ioctl (self->fd, FIONREAD, &avail) == 0)
                {
                  if (avail > 0)
                    want = MIN (want, (gsize) avail);
                  else if (poll_fd (self->fd, POLLIN, 0) <= 0)
                    return -2;
                }
            }
          else
            flags = MSG_DONTWAIT;
        }
      else if (deadline >= 0)
        {
          int r = poll_fd (self->fd, POLLIN, deadline);
          if (r == 0)
            return -2;
          if (r < 0)
            return -1;
        }

      n = read_once (self, dst, want, flags, into_rbuf);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)   /* == EWOULDBLOCK on Linux */
        {
          if (mode == MP_RX_NONBLOCK)
            return -2;
          /* A descriptor someone made non-blocking: wait as a blocking read would. */
          if (deadline < 0 && poll_fd (self->fd, POLLIN, -1) < 0)
            return -1;
          continue;
        }
      return -1;
    }
}

/* Takes up to want buffered bytes; the buffer's descriptors go to @fds_out (the frame's or
 * the caller's) with its last byte. */
static gsize
rbuf_take (MpConnection *self, guint8 *dst, gsize want, GArray **fds_out)
{
  gsize n = MIN (want, self->rbuf_len - self->rbuf_pos);

  memcpy (dst, self->rbuf + self->rbuf_pos, n);
  self->rbuf_pos += n;
  if (self->rbuf_pos == self->rbuf_len)
    {
      self->rbuf_pos = self->rbuf_len = 0;
      if (self->rbuf_fds != NULL)
        {
          for (guint i = 0; i < self->rbuf_fds->len; i++)
            keep_fd (fds_out, g_array_index (self->rbuf_fds, int, i));
          g_array_set_size (self->rbuf_fds, 0);
        }
    }
  return n;
}

/* One step of reading at most want bytes of the frame: from the buffer if it holds any, else
 * from the descriptor (through the buffer on a socket). Returns as rx_read_fd(). */
static gssize
rx_read (MpConnection *self, guint8 *dst, gsize want, MpRxMode mode, gint64 deadline)
{
  gssize n;

  if (_mp_connection_has_buffered (self))
    return (gssize) rbuf_take (self, dst, want, &self->rx.fds);
  if (!self->read_ahead || want >= MP_CONNECTION_READ_AHEAD)
    return rx_read_fd (self, dst, want, mode, deadline, FALSE);
  if (self->rbuf == NULL)
    self->rbuf = g_malloc (MP_CONNECTION_READ_AHEAD);
  n = rx_read_fd (self, self->rbuf, MP_CONNECTION_READ_AHEAD, mode, deadline, TRUE);
  if (n <= 0)
    {
      /* Descriptors with no byte (cannot happen on a stream) would have nothing to join. */
      close_fd_array (self->rbuf_fds);
      return n;
    }
  self->rbuf_pos = 0;
  self->rbuf_len = (gsize) n;
  return (gssize) rbuf_take (self, dst, want, &self->rx.fds);
}

gboolean
_mp_connection_rx_step (MpConnection *self,
                        MpRxMode      mode,
                        gint64        deadline,
                        gssize        maxlength,
                        GError      **error)
{
  MpFrameReader *rx = &self->rx;

  for (;;)
    {
      guint8 *dst;
      gsize want;
      gssize n;

      if (!rx->have_size)
        {
          gsize header_len;
          guint64 size = 0;

          switch (_mp_frame_header_decode (rx->header, rx->header_got, &header_len, &size))
            {
            case MP_FRAME_OK:
              rx->have_size = TRUE;
              rx->size = size;
              continue;
            case MP_FRAME_INVALID:
              bad_message_length (self, error);
              return FALSE;
            case MP_FRAME_NEED_MORE:
            default:
              rx->header_len = header_len;
              dst = rx->header + rx->header_got;
              want = header_len - rx->header_got;
              break;
            }
        }
      else if (maxlength >= 0 && rx->size > (guint64) maxlength)
        {
          bad_message_length (self, error);
          return FALSE;
        }
      else if (rx->got < rx->size)
        {
          if (rx->got == rx->capacity)
            {
              gsize cap = (gsize) MIN (rx->size, (guint64) MAX (rx->capacity * 2,
                                                               MP_FRAME_INITIAL_ALLOC));
              guint8 *grown = g_try_realloc (rx->data, cap);

              if (grown == NULL)
                {
                  g_set_error (error, MP_ERROR, MP_ERROR_IO,
                               "A message of %" G_GUINT64_FORMAT " bytes does not fit in memory",
                               rx->size);
                  rx_reset (rx);
                  self->readable = FALSE;
                  return FALSE;
                }
              rx->data = grown;
              rx->capacity = cap;
            }
          dst = rx->data + rx->got;
          want = rx->capacity - rx->got;
        }
      else
        return TRUE;

      n = rx_read (self, dst, want, mode, deadline);
      if (n > 0)
        {
          if (rx->have_size)
            rx->got += (gsize) n;
          else
            rx->header_got += (gsize) n;
          continue;
        }
      if (n == -2)
        return FALSE;
      if (n == 0)
        {
          if (!rx_in_progress (rx))
            g_set_error_literal (error, MP_ERROR, MP_ERROR_EOF,
                                 "end of file: the peer closed the connection");
          else
            {
              g_set_error_literal (error, MP_ERROR, MP_ERROR_IO, "got end of file during message");
              rx_reset (rx);
            }
          return FALSE;
        }
      {
        int errsv = errno;
        g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot receive a message: %s",
                     g_strerror (errsv));
        return FALSE;
      }
    }
}

GBytes *
_mp_connection_rx_take (MpConnection *self, GUnixFDList **out_fds)
{
  MpFrameReader *rx = &self->rx;
  guint n_fds = rx->fds ? rx->fds->len : 0;
  GBytes *bytes;

  g_assert (rx->have_size && rx->got == rx->size);

  bytes = rx->size > 0 ? g_bytes_new_take (g_steal_pointer (&rx->data), (gsize) rx->size)
                       : g_bytes_new (NULL, 0);
  if (out_fds != NULL)
    {
      *out_fds = n_fds > 0 ? g_unix_fd_list_new_from_array ((const int *) (void *) rx->fds->data,
                                                             (gint) n_fds)
                           : g_unix_fd_list_new ();
      if (n_fds > 0)
        g_array_set_size (rx->fds, 0);   /* the list owns them now */
    }
  count_received (self, (gsize) rx->size, n_fds);
  rx_reset (rx);
  return bytes;
}

GBytes *
_mp_connection_recv_bytes_timed (MpConnection *self, gssize maxlength, gint64 timeout_us,
                                 GError **error)
{
  gint64 deadline = timeout_us == MP_TIMEOUT_INFINITE ? -1
                    : g_get_monotonic_time () + MAX (timeout_us, 0);
  GError *local_error = NULL;

  if (!_mp_connection_check_readable (self, error))
    return NULL;
  if (maxlength < -1)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "negative maxlength");
      return NULL;
    }
  if (_mp_connection_rx_step (self, MP_RX_BLOCK, deadline, maxlength, &local_error))
    return _mp_connection_rx_take (self, NULL);
  if (local_error == NULL)
    g_set_error_literal (&local_error, MP_ERROR, MP_ERROR_TIMEOUT,
                         "timed out waiting for a message");
  g_propagate_error (error, local_error);
  return NULL;
}

/**
 * mp_connection_recv_bytes:
 * @self: a readable connection
 * @maxlength: the longest message accepted, or -1 for no limit
 * @error: return location for an error
 *
 * Python's `recv_bytes(maxlength)`: blocks until a whole message is there. A longer message
 * than @maxlength is %MP_ERROR_IO "bad message length", and then this end cannot receive any
 * more (it is closed if it cannot send either), as in Python. %MP_ERROR_EOF once the peer has
 * closed and every message has been read. Descriptors that came with the message are closed.
 *
 * Returns: (transfer full): the message
 */
GBytes *
mp_connection_recv_bytes (MpConnection *self, gssize maxlength, GError **error)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), NULL);

  return _mp_connection_recv_bytes_timed (self, maxlength, MP_TIMEOUT_INFINITE, error);
}

/**
 * mp_connection_recv_bytes_into:
 * @self: a readable connection
 * @buf: (array length=buflen): where to store the message
 * @buflen: the size of @buf
 * @offset: where in @buf the message goes
 * @out_message: (out) (optional) (transfer full): on %MP_ERROR_BUFFER_TOO_SHORT, the whole
 *   message (Python's `BufferTooShort.args[0]`)
 * @error: return location for an error
 *
 * Python's `recv_bytes_into(buf, offset)`. A message longer than `buflen - offset` is
 * consumed all the same and reported as %MP_ERROR_BUFFER_TOO_SHORT with the message in
 * @out_message. @offset below 0 or above @buflen is %MP_ERROR_INVALID_ARGUMENT.
 *
 * Returns: the length of the message, or -1 on error
 */
gssize
mp_connection_recv_bytes_into (MpConnection  *self,
                               gpointer       buf,
                               gsize          buflen,
                               gssize         offset,
                               GBytes       **out_message,
                               GError       **error)
{
  g_autoptr(GBytes) message = NULL;
  gsize size;

  g_return_val_if_fail (MP_IS_CONNECTION (self), -1);
  g_return_val_if_fail (buf != NULL || buflen == 0, -1);

  if (out_message)
    *out_message = NULL;
  if (!_mp_connection_check_readable (self, error))
    return -1;
  if (offset < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "negative offset");
      return -1;
    }
  if ((gsize) offset > buflen)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "offset too large");
      return -1;
    }
  message = mp_connection_recv_bytes (self, -1, error);
  if (message == NULL)
    return -1;
  size = g_bytes_get_size (message);
  if (size > buflen - (gsize) offset)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_BUFFER_TOO_SHORT,
                   "a message of %" G_GSIZE_FORMAT " bytes does not fit in %" G_GSIZE_FORMAT
                   " bytes", size, buflen - (gsize) offset);
      if (out_message)
        *out_message = g_steal_pointer (&message);
      return -1;
    }
  if (size > 0)
    memcpy ((guint8 *) buf + offset, g_bytes_get_data (message, NULL), size);
  return (gssize) size;
}

/**
 * mp_connection_recv:
 * @self: a readable connection
 * @out_fds: (out) (optional) (transfer full): the descriptors that came with the value (an
 *   empty list when none did); when %NULL they are closed
 * @error: return location for an error
 *
 * Python's `recv()`: blocks for a message sent by mp_connection_send(). A payload that is not
 * a serialized #GVariant in normal form is %MP_ERROR_SERIALIZATION (the message is consumed).
 *
 * Returns: (transfer full): the value
 */
GVariant *
mp_connection_recv (MpConnection *self, GUnixFDList **out_fds, GError **error)
{
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  GVariant *value;

  g_return_val_if_fail (MP_IS_CONNECTION (self), NULL);

  if (out_fds)
    *out_fds = NULL;
  if (!_mp_connection_check_readable (self, error))
    return NULL;
  if (!_mp_connection_rx_step (self, MP_RX_BLOCK, -1, -1, error))
    return NULL;
  payload = _mp_connection_rx_take (self, &fds);
  value = _mp_connection_decode_value (payload, error);
  if (value != NULL && out_fds)
    *out_fds = g_steal_pointer (&fds);
  return value;
}

/**
 * mp_connection_poll:
 * @self: a readable connection
 * @timeout_us: how long to wait: 0 not at all, %MP_TIMEOUT_INFINITE forever (negative
 *   values other than that count as 0)
 * @error: return location for an error
 *
 * Python's `poll(timeout)`: whether a receive would not block for long, because a message
 * (even an empty one) or end of file is pending. Consumes nothing.
 *
 * Returns: %TRUE when there is something to receive; %FALSE on timeout, or with @error set
 */
gboolean
mp_connection_poll (MpConnection *self, gint64 timeout_us, GError **error)
{
  gint64 deadline;
  int r;

  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);

  if (!_mp_connection_check_readable (self, error))
    return FALSE;
  if (_mp_connection_has_buffered (self))
    return TRUE;
  if (timeout_us == MP_TIMEOUT_INFINITE)
    deadline = -1;
  else
    deadline = g_get_monotonic_time () + MAX (timeout_us, 0);
  r = poll_fd (self->fd, POLLIN, deadline);
  if (r < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "poll() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  return r > 0;
}

/**
 * mp_connection_fileno:
 *
 * Returns: the descriptor (owned by @self), or -1 with %MP_ERROR_CLOSED
 */
int
mp_connection_fileno (MpConnection *self, GError **error)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), -1);

  if (!check_closed (self, error))
    return -1;
  return self->fd;
}

/**
 * mp_connection_close:
 *
 * Closes the descriptor. Closing twice is fine. An async receive in flight fails with
 * %MP_ERROR_CLOSED.
 *
 * Returns: %FALSE with @error set if close() reported an error (the handle is closed anyway)
 */
gboolean
mp_connection_close (MpConnection *self, GError **error)
{
  int fd;

  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);

  if (self->fd < 0)
    return TRUE;
  _mp_connection_async_cancel_pending (self);
  fd = self->fd;
  self->fd = -1;
  rx_reset (&self->rx);
  rbuf_reset (self);
  object_release (self);
  if (close (fd) < 0 && errno != EINTR)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "close() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/**
 * mp_connection_is_closed:
 *
 * Returns: Python's `closed`
 */
gboolean
mp_connection_is_closed (MpConnection *self)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), TRUE);
  return self->fd < 0;
}

/**
 * mp_connection_is_readable:
 *
 * Returns: Python's `readable`: whether this end may receive (it stays so after close)
 */
gboolean
mp_connection_is_readable (MpConnection *self)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);
  return self->readable;
}

/**
 * mp_connection_is_writable:
 *
 * Returns: Python's `writable`: whether this end may send
 */
gboolean
mp_connection_is_writable (MpConnection *self)
{
  g_return_val_if_fail (MP_IS_CONNECTION (self), FALSE);
  return self->writable;
}

/* ---- handles ------------------------------------------------------------------------------- */

/**
 * mp_connection_serialize:
 * @self: an open connection
 * @fd_list: the list its descriptor is appended to (a duplicate)
 * @error: return location for an error
 *
 * A handle on the connection for another process: put it in a process target's arguments,
 * or send it over another (Unix-socket) connection with @fd_list beside it. The receiver calls
 * mp_connection_deserialize() and gets a connection on the same pipe or socket, counting into
 * the same stats block. A connection with a message half received cannot be passed on
 * (%MP_ERROR_SERIALIZATION): the receiver would start in the middle of a frame; nor can a
 * socket connection holding bytes it read ahead (messages sent to it that it has not
 * returned yet): receive them first.
 *
 * Returns: (transfer floating): a `(hbbt)` value: the descriptor's index in @fd_list, readable,
 *   writable, the stats object id
 */
GVariant *
mp_connection_serialize (MpConnection *self, GUnixFDList *fd_list, GError **error)
{
  int index;

  g_return_val_if_fail (MP_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  if (!check_closed (self, error))
    return NULL;
  if (rx_in_progress (&self->rx) || self->pending != NULL)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "A connection cannot be passed on while a message is being received "
                           "on it");
      return NULL;
    }
  if (_mp_connection_has_buffered (self))
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "A connection cannot be passed on while it holds bytes it has read "
                           "ahead (receive the pending messages first)");
      return NULL;
    }
  index = g_unix_fd_list_append (fd_list, self->fd, error);
  if (index < 0)
    return NULL;
  return g_variant_new ("(hbbt)", (gint32) index, self->readable, self->writable,
                        self->object_id);
}

/**
 * mp_connection_deserialize:
 * @serialized: a value made by mp_connection_serialize()
 * @fd_list: the descriptors that came with it
 * @error: return location for an error
 *
 * Returns: (transfer full): a connection on a duplicate of the handle's descriptor
 */
MpConnection *
mp_connection_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpConnection *self;
  gint32 handle;
  gboolean readable, writable;
  guint64 id;
  struct stat st;
  int fd;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(hbbt)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A connection handle must be of type (hbbt), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(hbbt)", &handle, &readable, &writable, &id);
  if (!readable && !writable)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "A connection handle that can neither send nor receive");
      return NULL;
    }
  if (fd_list == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fd_list) ||
      (fd = g_unix_fd_list_get (fd_list, handle, NULL)) < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "A connection handle came without its descriptor");
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !(S_ISSOCK (st.st_mode) || S_ISFIFO (st.st_mode)))
    {
      close (fd);
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "A connection handle's descriptor is neither a pipe nor a socket");
      return NULL;
    }
  self = connection_alloc (fd, readable, writable);
  if (!object_adopt (self, id))
    object_register (self, "Connection (handle)");
  return self;
}

/* ---- multiprocessing.reduction ------------------------------------------------------------- */

static gboolean
check_unix (MpConnection *conn, GError **error)
{
  if (!check_closed (conn, error))
    return FALSE;
  if (conn->kind != MP_CONN_UNIX)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_IO,
                           "descriptors can only be passed over a Unix-domain socket");
      return FALSE;
    }
  return TRUE;
}

/**
 * mp_reduction_sendfds:
 * @conn: a connection on a Unix-domain socket
 * @fds: (array length=n_fds): the descriptors (duplicated by the kernel; still the caller's)
 * @n_fds: how many, 1 to 253
 * @error: return location for an error
 *
 * Python's `reduction.sendfds(sock, fds)`, on the same wire: one byte (`n_fds % 256`) with the
 * descriptors attached, outside the message framing. Pair with mp_reduction_recvfds().
 *
 * Returns: %TRUE on success
 */
gboolean
mp_reduction_sendfds (MpConnection *conn, const int *fds, guint n_fds, GError **error)
{
  MpCmsgBuffer u;
  guint8 count = (guint8) (n_fds % 256);
  struct iovec iov = { &count, 1 };
  struct msghdr msg = { 0 };
  ssize_t n;

  g_return_val_if_fail (MP_IS_CONNECTION (conn), FALSE);
  g_return_val_if_fail (fds != NULL || n_fds == 0, FALSE);

  if (!check_unix (conn, error))
    return FALSE;
  if (n_fds == 0 || n_fds > MP_CONNECTION_MAX_FDS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "between 1 and %d descriptors can be sent at once, not %u",
                   MP_CONNECTION_MAX_FDS, n_fds);
      return FALSE;
    }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  _mp_cmsg_attach_fds (&msg, &u, fds, n_fds);
  do
    n = sendmsg (conn->fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot send descriptors: %s",
                   n < 0 ? g_strerror (errsv) : "short write");
      return FALSE;
    }
  return TRUE;
}

static void
append_to_array (int fd, gpointer array)
{
  g_array_append_val ((GArray *) array, fd);
}

/**
 * mp_reduction_recvfds:
 * @conn: a connection on a Unix-domain socket
 * @n_fds: how many descriptors are expected
 * @out_n_fds: (out) (optional): how many arrived (always @n_fds on success)
 * @error: return location for an error
 *
 * Python's `reduction.recvfds(sock, size)`. End of file is %MP_ERROR_EOF; a byte without
 * descriptors or with another count than announced is %MP_ERROR_FAILED (Python's
 * `RuntimeError`), and whatever descriptors did arrive are closed.
 *
 * Returns: (transfer full) (array length=out_n_fds): close-on-exec descriptors, free with
 *   g_free() after closing them; %NULL on error
 */
int *
mp_reduction_recvfds (MpConnection *conn, guint n_fds, guint *out_n_fds, GError **error)
{
  MpCmsgBuffer u;
  g_autoptr(GArray) got = g_array_new (FALSE, FALSE, sizeof (int));
  guint8 count = 0;
  struct iovec iov = { &count, 1 };
  struct msghdr msg = { 0 };
  ssize_t n;

  g_return_val_if_fail (MP_IS_CONNECTION (conn), NULL);

  if (out_n_fds)
    *out_n_fds = 0;
  if (!check_unix (conn, error))
    return NULL;
  if (n_fds == 0 || n_fds > MP_CONNECTION_MAX_FDS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "between 1 and %d descriptors can be received at once, not %u",
                   MP_CONNECTION_MAX_FDS, n_fds);
      return NULL;
    }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (_mp_connection_has_buffered (conn))
    {
      /* Read ahead with the last message: the byte and its descriptors wait in the buffer. */
      GArray *taken = NULL;

      n = (ssize_t) rbuf_take (conn, &count, 1, &taken);
      if (taken != NULL)
        {
          g_array_append_vals (got, taken->data, taken->len);
          g_array_unref (taken);
        }
    }
  else
    {
      _mp_cmsg_prepare_receive (&msg, &u);
      do
        n = recvmsg (conn->fd, &msg, MSG_CMSG_CLOEXEC);
      while (n < 0 && errno == EINTR);
    }
  if (n < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot receive descriptors: %s",
                   g_strerror (errsv));
      return NULL;
    }
  _mp_cmsg_foreach_fd (&msg, append_to_array, got);
  if (n == 0 && got->len == 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_EOF,
                           "end of file while waiting for descriptors");
      return NULL;
    }
  if (got->len != n_fds || (msg.msg_flags & MSG_CTRUNC) || n != 1 || count != n_fds % 256)
    {
      for (guint i = 0; i < got->len; i++)
        close (g_array_index (got, int, i));
      g_set_error (error, MP_ERROR, MP_ERROR_FAILED,
                   "Invalid data received: expected %u descriptors, got %u", n_fds, got->len);
      return NULL;
    }
  if (out_n_fds)
    *out_n_fds = got->len;
  return (int *) (void *) g_array_free (g_steal_pointer (&got), FALSE);
}

/**
 * mp_reduction_send_handle:
 * @conn: a connection on a Unix-domain socket
 * @handle: the descriptor to send (stays the caller's)
 * @destination_pid: the receiving process (unused on Linux, kept for Python's signature)
 * @error: return location for an error
 *
 * Python's `reduction.send_handle(conn, handle, destination_pid)`.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_reduction_send_handle (MpConnection *conn, int handle, GPid destination_pid, GError **error)
{
  return mp_reduction_sendfds (conn, &handle, 1, error);
}

/**
 * mp_reduction_recv_handle:
 * @conn: a connection on a Unix-domain socket
 * @error: return location for an error
 *
 * Python's `reduction.recv_handle(conn)`. A byte without a descriptor is %MP_ERROR_FAILED
 * (Python's `RuntimeError`).
 *
 * Returns: a new close-on-exec descriptor, or -1 on error
 */
int
mp_reduction_recv_handle (MpConnection *conn, GError **error)
{
  g_autofree int *fds = mp_reduction_recvfds (conn, 1, NULL, error);

  return fds ? fds[0] : -1;
}
