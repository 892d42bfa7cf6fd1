/* mp-wire.c: GVariant messages with file descriptors over a Unix stream socket
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A message is a 16-byte header — the magic "MPW1", the payload length, the number of
 * descriptors and a reserved word, little endian (16 keeps the payload 8-byte aligned) — then the payload: a GVariant of type "v" in normal form. The
 * descriptors ride (SCM_RIGHTS) on the first byte of the header, so they arrive with it and are
 * received close-on-exec. The receiver trusts nothing: the length is capped by the caller, the
 * descriptor count must match what arrived, and the payload must be in normal form, which
 * also rules out out-of-range offsets inside it.
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp-cmsg-private.h"
#include "mp-error.h"
#include "mp-wire-private.h"

#define WIRE_MAGIC 0x3157504du  /* "MPW1" */

static gboolean
write_all (int sock, const guint8 *data, gsize len, const int *fds, guint n_fds, GError **error)
{
  while (len > 0)
    {
      struct iovec iov = { (void *) data, len };
      MpCmsgBuffer u;
      struct msghdr msg = { 0 };
      ssize_t n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      _mp_cmsg_attach_fds (&msg, &u, fds, n_fds);
      n = sendmsg (sock, &msg, MSG_NOSIGNAL);
      if (n < 0)
        {
          int errsv = errno;
          if (errsv == EINTR)
            continue;
          g_set_error (error, MP_ERROR, errsv == EPIPE || errsv == ECONNRESET ? MP_ERROR_EOF : MP_ERROR_IO,
                       "Cannot send a message: %s", g_strerror (errsv));
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
      n_fds = 0;
    }
  return TRUE;
}

gboolean
_mp_wire_send (int sock, GVariant *message, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (message));
  g_autoptr(GVariant) normal = g_variant_get_normal_form (boxed);
  gsize size = g_variant_get_size (normal);
  guint n_fds = fds ? (guint) g_unix_fd_list_get_length (fds) : 0;
  g_autofree guint8 *buf = NULL;
  guint32 header[4];

  if (n_fds > MP_WIRE_MAX_FDS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A message can carry at most %d file descriptors, not %u", MP_WIRE_MAX_FDS, n_fds);
      return FALSE;
    }
  if (size > G_MAXUINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A message is too large");
      return FALSE;
    }

  header[0] = GUINT32_TO_LE (WIRE_MAGIC);
  header[1] = GUINT32_TO_LE ((guint32) size);
  header[2] = GUINT32_TO_LE (n_fds);
  header[3] = 0;
  buf = g_malloc (sizeof header + size);
  memcpy (buf, header, sizeof header);
  g_variant_store (normal, buf + sizeof header);

  return write_all (sock, buf, sizeof header + size,
                    n_fds ? g_unix_fd_list_peek_fds (fds, NULL) : NULL, n_fds, error);
}

/* Reads exactly len bytes; descriptors that come with them are appended to fds. */
static gboolean
read_all (int sock, guint8 *data, gsize len, GUnixFDList *fds, GError **error)
{
  while (len > 0)
    {
      struct iovec iov = { data, len };
      MpCmsgBuffer u;
      struct msghdr msg = { 0 };
      ssize_t n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      _mp_cmsg_prepare_receive (&msg, &u);
      n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0)
        {
          int errsv = errno;
          if (errsv == EINTR)
            continue;
          g_set_error (error, MP_ERROR, errsv == ECONNRESET ? MP_ERROR_EOF : MP_ERROR_IO,
                       "Cannot receive a message: %s", g_strerror (errsv));
          return FALSE;
        }
      _mp_cmsg_foreach_fd (&msg, _mp_cmsg_append_to_fd_list, fds);
      if (msg.msg_flags & MSG_CTRUNC)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                       "A message carried more file descriptors than allowed");
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_EOF, "The peer closed the connection");
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

GVariant *
_mp_wire_recv (int sock, gsize max_size, GUnixFDList **out_fds, GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GVariant) boxed = NULL;
  guint32 header[4];
  guint32 size, n_fds;
  guint8 *buf;

  if (!read_all (sock, (guint8 *) header, sizeof header, fds, error))
    return NULL;
  size = GUINT32_FROM_LE (header[1]);
  n_fds = GUINT32_FROM_LE (header[2]);
  if (GUINT32_FROM_LE (header[0]) != WIRE_MAGIC)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "Malformed message (bad magic)");
      return NULL;
    }
  if (size > max_size)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A message of %u bytes exceeds the limit of %" G_GSIZE_FORMAT, size, max_size);
      return NULL;
    }
  if (n_fds != (guint32) g_unix_fd_list_get_length (fds))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A message announced %u file descriptors but %d arrived",
                   n_fds, g_unix_fd_list_get_length (fds));
      return NULL;
    }

  buf = g_malloc (size);
  if (!read_all (sock, buf, size, fds, error))
    {
      g_free (buf);
      return NULL;
    }
  /* Descriptors belong on the header: any that rode on the payload were not announced. */
  if (n_fds != (guint32) g_unix_fd_list_get_length (fds))
    {
      g_free (buf);
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A message announced %u file descriptors but %d arrived",
                   n_fds, g_unix_fd_list_get_length (fds));
      return NULL;
    }
  bytes = g_bytes_new_take (buf, size);
  boxed = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, bytes, FALSE));
  if (!g_variant_is_normal_form (boxed))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Malformed message (payload not in normal form)");
      return NULL;
    }
  if (out_fds)
    *out_fds = g_steal_pointer (&fds);
  return g_variant_get_variant (boxed);
}
