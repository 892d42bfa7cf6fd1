/* fuzz-frame.c: libFuzzer target for the connection's frame and message decoders
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built and run by tests/run-fuzz.sh (clang -fsanitize=fuzzer,address,undefined). The first
 * input byte picks what is fed the rest:
 *   0  the pure header decoder, on every prefix;
 *   1  the GVariant message decoder;
 *   2  the real receive path: the bytes go down a socket pair whose writer then closes, and
 *      the reader takes messages (raw, as values, with a maxlength, into a buffer) until it
 *      gets an error — which must come, as an error and not a crash, hang or huge allocation;
 *   3  the same through a one-way pipe and the non-blocking (async) step.
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp-connection-private.h"
#include "mp-error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
write_all (int fd, const guint8 *p, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n <= 0)
        abort ();
      p += n;
      len -= (gsize) n;
    }
}

static void
drain_blocking (MpConnection *c, const guint8 *sel, gsize input_len)
{
  for (int i = 0; i < 10000; i++)
    {
      GError *error = NULL;
      guint8 buf[64];

      switch ((sel[0] + i) % 4)
        {
        case 0:
          {
            GBytes *b = mp_connection_recv_bytes (c, -1, &error);
            if (b && g_bytes_get_size (b) > input_len)
              abort ();
            g_clear_pointer (&b, g_bytes_unref);
            break;
          }
        case 1:
          {
            GUnixFDList *fds = NULL;
            GVariant *v = mp_connection_recv (c, &fds, &error);
            g_clear_pointer (&v, g_variant_unref);
            g_clear_object (&fds);
            /* A value that failed to decode is consumed; go on. */
            if (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION))
              g_clear_error (&error);
            break;
          }
        case 2:
          {
            GBytes *b = mp_connection_recv_bytes (c, sel[1] % 32, &error);
            g_clear_pointer (&b, g_bytes_unref);
            break;
          }
        default:
          {
            GBytes *whole = NULL;
            gssize n = mp_connection_recv_bytes_into (c, buf, sizeof buf, sel[1] % 8, &whole,
                                                      &error);
            if (n > (gssize) sizeof buf)
              abort ();
            if (g_error_matches (error, MP_ERROR, MP_ERROR_BUFFER_TOO_SHORT))
              {
                if (whole == NULL)
                  abort ();
                g_clear_error (&error);
              }
            g_clear_pointer (&whole, g_bytes_unref);
            break;
          }
        }
      if (error != NULL)
        {
          g_error_free (error);
          return;
        }
    }
  abort ();   /* a finite input must run out */
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 mode;

  if (size < 3)
    return 0;
  mode = data[0] % 4;
  data++;
  size--;

  if (mode == 0)
    {
      for (gsize k = 0; k <= MIN (size, MP_FRAME_LONG_HEADER); k++)
        {
          gsize header_len = 0;
          guint64 value = 0;
          MpFrameStatus st = _mp_frame_header_decode (data, k, &header_len, &value);

          if (header_len != MP_FRAME_SHORT_HEADER && header_len != MP_FRAME_LONG_HEADER)
            abort ();
          if (st == MP_FRAME_OK)
            {
              guint8 again[MP_FRAME_LONG_HEADER];
              gsize n = _mp_frame_header_encode (value, again);
              /* Our encoding of the value decodes to it too. */
              if (_mp_frame_header_decode (again, n, &header_len, &value) != MP_FRAME_OK)
                abort ();
            }
        }
    }
  else if (mode == 1)
    {
      GBytes *b = g_bytes_new (data, size);
      GError *error = NULL;
      GVariant *v = _mp_connection_decode_value (b, &error);

      if ((v == NULL) == (error == NULL))
        abort ();
      if (v)
        {
          gchar *s = g_variant_print (v, TRUE);
          g_free (s);
          g_variant_unref (v);
        }
      g_clear_error (&error);
      g_bytes_unref (b);
    }
  else if (mode == 2)
    {
      int sv[2];
      MpConnection *c;

      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort ();
      write_all (sv[1], data + 2, size - 2);
      close (sv[1]);
      c = mp_connection_new (sv[0], TRUE, TRUE, NULL);
      drain_blocking (c, data, size);
      g_object_unref (c);
    }
  else
    {
      int p[2];
      MpConnection *c;

      if (pipe2 (p, O_CLOEXEC) < 0)
        abort ();
      write_all (p[1], data + 2, size - 2);
      close (p[1]);
      c = mp_connection_new (p[0], TRUE, FALSE, NULL);
      for (int i = 0; i < 10000; i++)
        {
          GError *error = NULL;

          if (_mp_connection_rx_step (c, MP_RX_NONBLOCK, -1, data[1] % 2 ? 64 : -1, &error))
            {
              GBytes *b = _mp_connection_rx_take (c, NULL);
              g_bytes_unref (b);
              continue;
            }
          if (error == NULL)
            abort ();   /* the writer is gone: no "would block" */
          g_error_free (error);
          break;
        }
      g_object_unref (c);
    }
  return 0;
}
