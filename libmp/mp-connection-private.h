/* mp-connection-private.h: framing, the receive engine and the instance struct
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include "mp-arena-private.h"
#include "mp-connection.h"

G_BEGIN_DECLS

/* ---- framing (pure functions: no I/O, fuzzed by tests/fuzz-frame.c) ------------------------ */

#define MP_FRAME_SHORT_HEADER 4
#define MP_FRAME_LONG_HEADER  12                     /* -1, then an 8-byte length */
#define MP_FRAME_SHORT_MAX    ((guint64) 0x7fffffff)
/* Receivers never trust an announced length with memory: a payload buffer starts at most this
 * big and doubles only as data actually arrives. */
#define MP_FRAME_INITIAL_ALLOC ((gsize) 1 << 20)
#define MP_CONNECTION_MAX_FDS 253                    /* SCM_MAX_FD */
/* A socket end reads ahead into a buffer this big (see mp-connection.c NOTES). */
#define MP_CONNECTION_READ_AHEAD ((gsize) 64 * 1024)

typedef enum
{
  MP_FRAME_NEED_MORE,   /* *header_len says how many header bytes there are in all */
  MP_FRAME_OK,          /* *size is the payload length */
  MP_FRAME_INVALID,     /* a negative length other than -1, or one no address space can hold */
} MpFrameStatus;

gsize          _mp_frame_header_encode (guint64       size,
                                        guint8        out[MP_FRAME_LONG_HEADER]);
MpFrameStatus  _mp_frame_header_decode (const guint8 *buf,
                                        gsize         len,
                                        gsize        *header_len,
                                        guint64      *size);
/* The payload of a GVariant message: a `v` in normal form. Takes no ownership of @payload. */
GVariant      *_mp_connection_decode_value (GBytes   *payload,
                                            GError  **error);

/* ---- the instance ------------------------------------------------------------------------- */

typedef enum
{
  MP_CONN_PIPE,          /* a pipe (or anything read()/write() works on) */
  MP_CONN_UNIX,          /* an AF_UNIX stream socket: can carry descriptors */
  MP_CONN_SOCKET,        /* another stream socket (TCP) */
} MpConnKind;

/* A frame being received. It lives in the connection, not on a stack, so a receive that
 * stops early (a timeout, an async receive that is cancelled) leaves the stream where it was:
 * the next receive goes on with the same frame. */
typedef struct
{
  guint8   header[MP_FRAME_LONG_HEADER];
  gsize    header_got;
  gsize    header_len;       /* 4, or 12 once the first word said -1 */
  gboolean have_size;
  guint64  size;
  guint8  *data;
  gsize    capacity;
  gsize    got;
  GArray  *fds;              /* int: descriptors that arrived with this frame */
} MpFrameReader;

struct _MpConnection
{
  GObject        parent_instance;

  int            fd;             /* -1 once closed */
  gboolean       readable;
  gboolean       writable;
  MpConnKind     kind;
  MpFrameReader  rx;
  gboolean       read_ahead;     /* a socket: reads take what is there, up to a buffer */
  guint8        *rbuf;           /* read-ahead bytes not yet parsed: rbuf[rbuf_pos..rbuf_len) */
  gsize          rbuf_pos;
  gsize          rbuf_len;
  GArray        *rbuf_fds;       /* int: descriptors that came with the buffer's last byte */
  MpArenaObject *object;         /* stats; NULL when the directory is full */
  guint64        object_id;
  pid_t          ref_pid;        /* the process whose handle counts in object->refs */
  GTask         *pending;        /* the async receive in flight, if any */
  GSource       *pending_source;
  gboolean       async_stepping; /* inside the pending task's own read: it completes itself */
};

typedef enum
{
  MP_RX_BLOCK,                   /* wait as long as it takes (until the deadline, if any) */
  MP_RX_NONBLOCK,                /* take what is there now; never wait */
} MpRxMode;

MpConnection  *_mp_connection_new_for_fd (int          fd,
                                          gboolean     readable,
                                          gboolean     writable,
                                          const char  *label);
/* Advances self->rx. Returns TRUE with a whole frame in self->rx; FALSE with @error set, or
 * FALSE without error when the deadline passed (or, non-blocking, nothing more is there). */
gboolean       _mp_connection_rx_step    (MpConnection *self,
                                          MpRxMode      mode,
                                          gint64        deadline,
                                          gssize        maxlength,
                                          GError      **error);
/* Takes the finished frame out of self->rx. */
GBytes        *_mp_connection_rx_take    (MpConnection *self,
                                          GUnixFDList **out_fds);
GBytes        *_mp_connection_recv_bytes_timed (MpConnection *self,
                                                gssize        maxlength,
                                                gint64        timeout_us,
                                                GError      **error);
/* Whether bytes already read from the descriptor wait in the connection: poll() on the
 * descriptor does not see them, so waits must count the connection ready. */
static inline gboolean
_mp_connection_has_buffered (MpConnection *self)
{
  return self->rbuf_pos < self->rbuf_len;
}

gboolean       _mp_connection_check_readable (MpConnection *self,
                                              GError      **error);
void           _mp_connection_count_auth_failure (MpConnection *self);
void           _mp_connection_set_peer_pid (MpConnection *self,
                                            pid_t         pid);
void           _mp_connection_async_cancel_pending (MpConnection *self);

G_END_DECLS
