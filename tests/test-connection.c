/* test-connection.c: MpConnection and mp_pipe() (Python's multiprocessing.connection.Connection)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Children never assert: they report through their exit code or over the connection under
 * test, and the parent asserts. Every wait has a generous bound so a bug fails the test
 * instead of hanging it.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#include "mp-connection-private.h"
#include "mp-object-private.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)


static void
check_error (const GError *err, int code, const char *text, int line)
{
  if (err == NULL)
    fail_msg ("line %d: expected MP_ERROR %d, got no error", line, code);
  if (!g_error_matches (err, MP_ERROR, code))
    fail_msg ("line %d: expected MP_ERROR %d, got %s %d: %s", line, code,
              g_quark_to_string (err->domain), err->code, err->message);
  if (text != NULL && strstr (err->message, text) == NULL)
    fail_msg ("line %d: expected '%s' in '%s'", line, text, err->message);
}

#define assert_error(err, code, text) check_error ((err), (code), (text), __LINE__)

static void
send_str (MpConnection *c, const char *s)
{
  g_autoptr(GError) error = NULL;

  assert_true (mp_connection_send_bytes (c, s, strlen (s), 0, -1, &error));
  assert_null (error);
}

static void
assert_recv_str (MpConnection *c, const char *want)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = mp_connection_recv_bytes (c, -1, &error);
  gsize len;
  const char *data;

  if (got == NULL)
    fail_msg ("recv_bytes failed: %s", error->message);
  data = g_bytes_get_data (got, &len);
  assert_int_equal (len, strlen (want));
  assert_memory_equal (data, want, len);
}

static void
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      assert_true (n > 0);
      p += n;
      len -= (gsize) n;
    }
}

/* ---- framing, without I/O ------------------------------------------------------------------ */

static void
test_header_codec (void **state)
{
  const guint64 sizes[] = { 0, 1, 255, 0x7fffffff, G_GUINT64_CONSTANT (0x80000000),
                            G_GUINT64_CONSTANT (0xffffffff), G_GUINT64_CONSTANT (0x100000005),
                            G_GUINT64_CONSTANT (1) << 40, (guint64) G_MAXSSIZE };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint8 buf[MP_FRAME_LONG_HEADER];
      gsize len = _mp_frame_header_encode (sizes[i], buf);
      gsize header_len = 0;
      guint64 size = 0;

      assert_int_equal (len, sizes[i] <= 0x7fffffff ? 4 : 12);
      /* Every prefix shorter than the header asks for more and says how much. */
      for (gsize k = 0; k < len; k++)
        {
          assert_int_equal (_mp_frame_header_decode (buf, k, &header_len, &size),
                            MP_FRAME_NEED_MORE);
          assert_int_equal (header_len, k < 4 ? 4 : 12);
        }
      assert_int_equal (_mp_frame_header_decode (buf, len, &header_len, &size), MP_FRAME_OK);
      assert_int_equal (header_len, len);
      assert_true (size == sizes[i]);
    }

  {
    /* Python's bytes for 2**31 + 1: struct.pack("!i", -1) + struct.pack("!Q", 2**31 + 1). */
    const guint8 want[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 1 };
    guint8 buf[MP_FRAME_LONG_HEADER];
    assert_int_equal (_mp_frame_header_encode (G_GUINT64_CONSTANT (0x80000001), buf), 12);
    assert_memory_equal (buf, want, 12);
  }
  {
    const guint8 negative[] = { 0xff, 0xff, 0xff, 0xfe };
    const guint8 huge[] = { 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0 };
    const guint8 small_long[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5 };
    gsize header_len;
    guint64 size;

    assert_int_equal (_mp_frame_header_decode (negative, 4, &header_len, &size), MP_FRAME_INVALID);
    assert_int_equal (_mp_frame_header_decode (huge, 12, &header_len, &size), MP_FRAME_INVALID);
    /* Python reads a long header with a small length as that length. */
    assert_int_equal (_mp_frame_header_decode (small_long, 12, &header_len, &size), MP_FRAME_OK);
    assert_int_equal (size, 5);
  }
}

/* ---- pipes and bytes ----------------------------------------------------------------------- */

static void
test_duplex_roundtrip (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;

  assert_true (mp_pipe (TRUE, &a, &b, &error));
  assert_true (mp_connection_is_readable (a) && mp_connection_is_writable (a));
  assert_true (mp_connection_is_readable (b) && mp_connection_is_writable (b));
  assert_false (mp_connection_is_closed (a));
  assert_true (mp_connection_fileno (a, NULL) >= 0);
  assert_true (fcntl (mp_connection_fileno (a, NULL), F_GETFD) & FD_CLOEXEC);

  /* Messages are not merged, and empty ones are messages. */
  send_str (a, "one");
  send_str (a, "");
  send_str (a, "three");
  assert_recv_str (b, "one");
  assert_recv_str (b, "");
  assert_recv_str (b, "three");
  send_str (b, "back");
  assert_recv_str (a, "back");
}

static void
test_simplex_directions (void **state)
{
  g_autoptr(MpConnection) r = NULL;
  g_autoptr(MpConnection) w = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;

  assert_true (mp_pipe (FALSE, &r, &w, &error));
  assert_true (mp_connection_is_readable (r));
  assert_false (mp_connection_is_writable (r));
  assert_false (mp_connection_is_readable (w));
  assert_true (mp_connection_is_writable (w));

  assert_false (mp_connection_send_bytes (r, "x", 1, 0, -1, &error));
  assert_error (error, MP_ERROR_IO, "connection is read-only");
  g_clear_error (&error);
  assert_false (mp_connection_send (r, g_variant_new_int32 (1), NULL, &error));
  assert_error (error, MP_ERROR_IO, "connection is read-only");
  g_clear_error (&error);
  got = mp_connection_recv_bytes (w, -1, &error);
  assert_null (got);
  assert_error (error, MP_ERROR_IO, "connection is write-only");
  g_clear_error (&error);
  assert_false (mp_connection_poll (w, 0, &error));
  assert_error (error, MP_ERROR_IO, "connection is write-only");
  g_clear_error (&error);

  send_str (w, "through a pipe");
  assert_recv_str (r, "through a pipe");
}

static void
test_send_bytes_bounds (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  const char *buf = "0123456789";

  assert_true (mp_pipe (TRUE, &a, &b, NULL));

  assert_false (mp_connection_send_bytes (a, buf, 10, -1, -1, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "offset is negative");
  g_clear_error (&error);
  assert_false (mp_connection_send_bytes (a, buf, 10, 11, -1, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "buffer length < offset");
  g_clear_error (&error);
  assert_false (mp_connection_send_bytes (a, buf, 10, 0, -2, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "size is negative");
  g_clear_error (&error);
  assert_false (mp_connection_send_bytes (a, buf, 10, 4, 7, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "buffer length < offset + size");
  g_clear_error (&error);
  /* Nothing was sent by the failures. */
  assert_false (mp_connection_poll (b, 0, NULL));

  assert_true (mp_connection_send_bytes (a, buf, 10, 2, 3, &error));
  assert_true (mp_connection_send_bytes (a, buf, 10, 7, -1, &error));
  assert_true (mp_connection_send_bytes (a, buf, 10, 10, -1, &error));   /* offset == len: empty */
  assert_true (mp_connection_send_bytes (a, buf, 10, 4, 6, &error));     /* exactly to the end */
  assert_true (mp_connection_send_bytes (a, NULL, 0, 0, -1, &error));
  assert_recv_str (b, "234");
  assert_recv_str (b, "789");
  assert_recv_str (b, "");
  assert_recv_str (b, "456789");
  assert_recv_str (b, "");
}

static void
test_recv_bytes_maxlength (void **state)
{
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(MpConnection) a = NULL;
    g_autoptr(MpConnection) b = NULL;
    g_autoptr(GBytes) got = NULL;

    assert_true (mp_pipe (TRUE, &a, &b, NULL));
    assert_null (mp_connection_recv_bytes (b, -2, &error));
    assert_error (error, MP_ERROR_INVALID_ARGUMENT, "negative maxlength");
    g_clear_error (&error);

    send_str (a, "12345");
    send_str (a, "123456");
    got = mp_connection_recv_bytes (b, 5, &error);
    assert_non_null (got);
    assert_int_equal (g_bytes_get_size (got), 5);
    assert_null (mp_connection_recv_bytes (b, 5, &error));
    assert_error (error, MP_ERROR_IO, "bad message length");
    g_clear_error (&error);
    /* A duplex end stops receiving but can still send, as in Python. */
    assert_false (mp_connection_is_readable (b));
    assert_true (mp_connection_is_writable (b));
    assert_false (mp_connection_is_closed (b));
    assert_null (mp_connection_recv_bytes (b, -1, &error));
    assert_error (error, MP_ERROR_IO, "connection is write-only");
    g_clear_error (&error);
    send_str (b, "still sends");
    assert_recv_str (a, "still sends");
  }
  {
    g_autoptr(MpConnection) r = NULL;
    g_autoptr(MpConnection) w = NULL;

    assert_true (mp_pipe (FALSE, &r, &w, NULL));
    send_str (w, "too long");
    assert_null (mp_connection_recv_bytes (r, 3, &error));
    assert_error (error, MP_ERROR_IO, "bad message length");
    g_clear_error (&error);
    /* A read-only end is closed. */
    assert_true (mp_connection_is_closed (r));
  }
}

static void
test_recv_bytes_into (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) whole = NULL;
  char buf[8];

  assert_true (mp_pipe (TRUE, &a, &b, NULL));

  memset (buf, '.', sizeof buf);
  send_str (a, "abc");
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, 2, NULL, &error), 3);
  assert_memory_equal (buf, "..abc...", 8);

  /* Exactly fits. */
  send_str (a, "12345678");
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, 0, NULL, &error), 8);
  assert_memory_equal (buf, "12345678", 8);

  /* Too short: the whole message comes back with the error and is consumed. */
  memset (buf, '.', sizeof buf);
  send_str (a, "a message longer than eight");
  send_str (a, "next");
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, 2, &whole, &error), -1);
  assert_error (error, MP_ERROR_BUFFER_TOO_SHORT, NULL);
  g_clear_error (&error);
  assert_non_null (whole);
  assert_int_equal (g_bytes_get_size (whole), strlen ("a message longer than eight"));
  assert_memory_equal (g_bytes_get_data (whole, NULL), "a message longer than eight",
                       g_bytes_get_size (whole));
  assert_memory_equal (buf, "........", 8);
  assert_recv_str (b, "next");

  /* Bad offsets consume nothing. */
  send_str (a, "kept");
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, -1, NULL, &error), -1);
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "negative offset");
  g_clear_error (&error);
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, 9, NULL, &error), -1);
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "offset too large");
  g_clear_error (&error);
  /* offset == buflen leaves room for an empty message only. */
  send_str (a, "");
  assert_recv_str (b, "kept");
  assert_int_equal (mp_connection_recv_bytes_into (b, buf, sizeof buf, 8, NULL, &error), 0);
}

static void
test_poll (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  gint64 t0;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  assert_false (mp_connection_poll (b, 0, &error));
  assert_null (error);
  assert_false (mp_connection_poll (b, -7, &error));   /* negative = 0 */
  t0 = g_get_monotonic_time ();
  assert_false (mp_connection_poll (b, 150 * 1000, &error));
  assert_true (g_get_monotonic_time () - t0 >= 140 * 1000);
  assert_null (error);

  /* An empty message is something to receive; poll does not consume it. */
  send_str (a, "");
  assert_true (mp_connection_poll (b, 0, &error));
  assert_true (mp_connection_poll (b, MP_TIMEOUT_INFINITE, &error));
  assert_recv_str (b, "");
  assert_false (mp_connection_poll (b, 0, &error));

  /* End of file is something to receive too. */
  assert_true (mp_connection_close (a, &error));
  assert_true (mp_connection_poll (b, 0, &error));
  assert_null (mp_connection_recv_bytes (b, -1, &error));
  assert_error (error, MP_ERROR_EOF, NULL);
}

static void
test_eof (void **state)
{
  g_autoptr(GError) error = NULL;

  for (int duplex = 0; duplex < 2; duplex++)
    {
      g_autoptr(MpConnection) r = NULL;
      g_autoptr(MpConnection) w = NULL;

      assert_true (mp_pipe (duplex, &r, &w, NULL));
      send_str (w, "first");
      send_str (w, "second");
      g_clear_object (&w);   /* the last unref closes */
      assert_recv_str (r, "first");
      assert_recv_str (r, "second");
      assert_null (mp_connection_recv_bytes (r, -1, &error));
      assert_error (error, MP_ERROR_EOF, NULL);
      g_clear_error (&error);
      /* And again: EOF stays EOF. */
      assert_null (mp_connection_recv (r, NULL, &error));
      assert_error (error, MP_ERROR_EOF, NULL);
      g_clear_error (&error);
    }

  /* A peer that dies in the middle of a message. */
  {
    g_autoptr(MpConnection) r = NULL;
    int sv[2];
    const guint8 partial[] = { 0, 0, 0, 10, 'a', 'b', 'c' };

    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    r = mp_connection_new (sv[0], TRUE, TRUE, &error);
    write_all (sv[1], partial, sizeof partial);
    close (sv[1]);
    assert_null (mp_connection_recv_bytes (r, -1, &error));
    assert_error (error, MP_ERROR_IO, "got end of file during message");
    g_clear_error (&error);

    /* Writing to a peer that is gone is an error, not a SIGPIPE. */
    assert_false (mp_connection_send_bytes (r, "x", 1, 0, -1, &error));
    assert_error (error, MP_ERROR_IO, NULL);
    g_clear_error (&error);
  }
  {
    g_autoptr(MpConnection) r = NULL;
    g_autoptr(MpConnection) w = NULL;

    assert_true (mp_pipe (FALSE, &r, &w, NULL));
    g_clear_object (&r);
    assert_false (mp_connection_send_bytes (w, "x", 1, 0, -1, &error));
    assert_error (error, MP_ERROR_IO, NULL);
  }
}

static void
test_closed (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  char buf[4];

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  assert_true (mp_connection_close (a, &error));
  assert_true (mp_connection_close (a, &error));   /* twice is fine */
  assert_true (mp_connection_is_closed (a));

  assert_false (mp_connection_send_bytes (a, "x", 1, 0, -1, &error));
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);
  assert_null (mp_connection_recv_bytes (a, -1, &error));
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);
  assert_int_equal (mp_connection_recv_bytes_into (a, buf, sizeof buf, 0, NULL, &error), -1);
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);
  assert_false (mp_connection_poll (a, 0, &error));
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);
  assert_int_equal (mp_connection_fileno (a, &error), -1);
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);
  assert_null (mp_connection_serialize (a, fds, &error));
  assert_error (error, MP_ERROR_CLOSED, "handle is closed");
  g_clear_error (&error);

  assert_null (mp_connection_new (-1, TRUE, TRUE, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, NULL);
  g_clear_error (&error);
  assert_null (mp_connection_new (0, FALSE, FALSE, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, "readable");
}

typedef struct
{
  MpConnection *conn;
  gsize         size;
  gboolean      ok;
} BigSend;

static gpointer
big_sender (gpointer data)
{
  BigSend *s = data;
  guint8 *buf = g_malloc (s->size);

  for (gsize i = 0; i < s->size; i++)
    buf[i] = (guint8) (i * 31 + (i >> 12));
  s->ok = mp_connection_send_bytes (s->conn, buf, s->size, 0, -1, NULL) &&
          mp_connection_send_bytes (s->conn, "tail", 4, 0, -1, NULL);
  g_free (buf);
  return NULL;
}

static void
test_large_message (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;
  BigSend s = { NULL, 16 * 1024 * 1024, FALSE };
  const guint8 *data;
  GThread *thread;
  gsize len;

  for (int duplex = 1; duplex >= 0; duplex--)
    {
      g_clear_object (&a);
      g_clear_object (&b);
      g_clear_pointer (&got, g_bytes_unref);
      assert_true (mp_pipe (duplex, &a, &b, NULL));
      s.conn = b;
      thread = g_thread_new ("big-sender", big_sender, &s);
      got = mp_connection_recv_bytes (a, -1, &error);
      assert_non_null (got);
      data = g_bytes_get_data (got, &len);
      assert_int_equal (len, s.size);
      for (gsize i = 0; i < len; i++)
        if (data[i] != (guint8) (i * 31 + (i >> 12)))
          fail_msg ("byte %" G_GSIZE_FORMAT " differs", i);
      assert_recv_str (a, "tail");
      g_thread_join (thread);
      assert_true (s.ok);
    }
}

/* The >2 GiB path without 2 GiB: a hand-made long header over a socket pair. */
static void
test_long_header_transport (void **state)
{
  g_autoptr(GError) error = NULL;
  guint8 header[MP_FRAME_LONG_HEADER];
  guint8 payload[100];
  int sv[2];

  memset (payload, 'p', sizeof payload);

  /* A long header announcing a small message is read as that message (Python does too). */
  {
    g_autoptr(MpConnection) c = NULL;
    const guint8 small_long[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e',
                                  'l', 'l', 'o' };

    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c = mp_connection_new (sv[0], TRUE, TRUE, NULL);
    write_all (sv[1], small_long, sizeof small_long);
    assert_recv_str (c, "hello");
    close (sv[1]);
  }

  /* 3 GiB announced, 100 bytes sent: the receiver's buffer stays small while it waits. */
  {
    g_autoptr(MpConnection) c = NULL;
    guint64 announced = G_GUINT64_CONSTANT (3) << 30;

    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c = mp_connection_new (sv[0], TRUE, TRUE, NULL);
    assert_int_equal (_mp_frame_header_encode (announced, header), 12);
    write_all (sv[1], header, sizeof header);
    write_all (sv[1], payload, sizeof payload);

    assert_false (_mp_connection_rx_step (c, MP_RX_NONBLOCK, -1, -1, &error));
    assert_null (error);
    assert_true (c->rx.have_size);
    assert_true (c->rx.size == announced);
    assert_int_equal (c->rx.got, sizeof payload);
    assert_true (c->rx.capacity <= MP_FRAME_INITIAL_ALLOC);
    /* poll() says there may be more, but never consumed a partial message by itself. */
    assert_false (mp_connection_poll (c, 0, NULL));

    /* The sender dies: the truncated message is an error, not an allocation. */
    close (sv[1]);
    assert_null (mp_connection_recv_bytes (c, -1, &error));
    assert_error (error, MP_ERROR_IO, "got end of file during message");
    g_clear_error (&error);
  }

  /* With a maxlength the long header is refused before any payload is read. */
  {
    g_autoptr(MpConnection) c = NULL;

    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c = mp_connection_new (sv[0], TRUE, TRUE, NULL);
    _mp_frame_header_encode (G_GUINT64_CONSTANT (0x80000000), header);
    write_all (sv[1], header, sizeof header);
    assert_null (mp_connection_recv_bytes (c, 1000, &error));
    assert_error (error, MP_ERROR_IO, "bad message length");
    g_clear_error (&error);
    close (sv[1]);
  }

  /* A negative length other than -1 is garbage. */
  {
    g_autoptr(MpConnection) c = NULL;
    const guint8 garbage[] = { 0x80, 0, 0, 0 };

    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c = mp_connection_new (sv[0], TRUE, TRUE, NULL);
    write_all (sv[1], garbage, sizeof garbage);
    assert_null (mp_connection_recv_bytes (c, -1, &error));
    assert_error (error, MP_ERROR_IO, "bad message length");
    g_clear_error (&error);
    close (sv[1]);
  }
}

/* ---- values and descriptors ---------------------------------------------------------------- */

static void
test_values (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *values[] = {
    g_variant_new_int32 (42),
    g_variant_new_string ("héllo"),
    g_variant_new ("(sa{sv}ay)", "x", NULL, NULL),
    g_variant_new ("()"),
    g_variant_new ("mi", NULL),
  };

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr(GVariant) got = NULL;

      g_variant_ref_sink (values[i]);
      assert_true (mp_connection_send (a, values[i], NULL, &error));
      got = mp_connection_recv (b, NULL, &error);
      assert_non_null (got);
      assert_false (g_variant_is_floating (got));
      assert_true (g_variant_equal (got, values[i]));
      g_variant_unref (values[i]);
    }

  /* A raw message is not a value; it is consumed and the stream goes on. */
  send_str (a, "not a variant");
  send_str (a, "");
  assert_true (mp_connection_send (a, g_variant_new_boolean (TRUE), NULL, &error));
  assert_null (mp_connection_recv (b, NULL, &error));
  assert_error (error, MP_ERROR_SERIALIZATION, NULL);
  g_clear_error (&error);
  assert_null (mp_connection_recv (b, NULL, &error));
  assert_error (error, MP_ERROR_SERIALIZATION, NULL);
  g_clear_error (&error);
  {
    g_autoptr(GVariant) got = mp_connection_recv (b, NULL, &error);
    assert_non_null (got);
    assert_true (g_variant_get_boolean (got));
  }
  /* A value message is raw bytes to recv_bytes. */
  assert_true (mp_connection_send (a, g_variant_new_byte (7), NULL, &error));
  {
    g_autoptr(GBytes) raw = mp_connection_recv_bytes (b, -1, &error);
    assert_non_null (raw);
    assert_true (g_bytes_get_size (raw) > 1);
  }
}

static void
test_fd_passing (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(MpConnection) r = NULL;
  g_autoptr(MpConnection) w = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) got_fds = NULL;
  g_autoptr(GVariant) got = NULL;
  int p[2];
  char buf[8] = { 0 };
  gint32 h;
  int fd;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_int_equal (g_unix_fd_list_append (fds, p[1], NULL), 0);
  close (p[1]);

  assert_true (mp_connection_send (a, g_variant_new ("(sh)", "pipe", 0), fds, &error));
  got = mp_connection_recv (b, &got_fds, &error);
  assert_non_null (got);
  assert_non_null (got_fds);
  assert_int_equal (g_unix_fd_list_get_length (got_fds), 1);
  g_variant_get (got, "(&sh)", NULL, &h);
  fd = g_unix_fd_list_get (got_fds, h, &error);
  assert_true (fd >= 0);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal (write (fd, "via fd", 6), 6);
  close (fd);
  g_clear_object (&fds);
  g_clear_object (&got_fds);
  assert_int_equal (read (p[0], buf, sizeof buf), 6);
  assert_memory_equal (buf, "via fd", 6);

  /* Raw receives close descriptors they did not ask for. */
  fds = g_unix_fd_list_new ();
  assert_int_equal (g_unix_fd_list_append (fds, p[0], NULL), 0);
  assert_true (mp_connection_send (a, g_variant_new_int32 (1), fds, &error));
  {
    g_autoptr(GBytes) raw = mp_connection_recv_bytes (b, -1, &error);
    assert_non_null (raw);
  }

  /* A plain pipe cannot carry descriptors: a clear error, nothing sent. */
  assert_true (mp_pipe (FALSE, &r, &w, NULL));
  assert_false (mp_connection_send (w, g_variant_new_int32 (1), fds, &error));
  assert_error (error, MP_ERROR_SERIALIZATION, "pipe");
  g_clear_error (&error);
  assert_false (mp_connection_poll (r, 0, NULL));
  close (p[0]);

  /* reduction.send_handle / recv_handle. */
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_true (mp_reduction_send_handle (a, p[1], 0, &error));
  close (p[1]);
  fd = mp_reduction_recv_handle (b, &error);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "handle", 6), 6);
  close (fd);
  assert_int_equal (read (p[0], buf, sizeof buf), 6);
  assert_memory_equal (buf, "handle", 6);
  close (p[0]);
  /* A byte without a descriptor is Python's RuntimeError. */
  {
    char one = 1;
    assert_int_equal (write (mp_connection_fileno (a, NULL), &one, 1), 1);
    assert_int_equal (mp_reduction_recv_handle (b, &error), -1);
    assert_error (error, MP_ERROR_FAILED, NULL);
    g_clear_error (&error);
  }
  assert_false (mp_reduction_send_handle (w, 0, 0, &error));
  assert_error (error, MP_ERROR_IO, NULL);
}

static void
test_stats (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  MpConnectionStats *sa, *sb;
  MpArenaObject *oa;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  assert_non_null (a->object);
  assert_non_null (b->object);
  assert_int_equal (a->object->kind, MP_OBJECT_CONNECTION);
  assert_true (g_str_has_prefix (a->object->label, "Pipe-"));
  sa = MP_OBJECT_STATS (a->object, MpConnectionStats);
  sb = MP_OBJECT_STATS (b->object, MpConnectionStats);

  send_str (a, "12345");
  send_str (a, "");
  assert_recv_str (b, "12345");
  assert_recv_str (b, "");
  assert_int_equal (sa->messages_sent, 2);
  assert_int_equal (sa->bytes_sent, 5);
  assert_int_equal (sb->messages_received, 2);
  assert_int_equal (sb->bytes_received, 5);
  assert_int_equal (sa->messages_received, 0);

  /* At the verbose level every message is an event. */
  {
    g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
    MpTraceLevel level = mp_trace_get_level ();
    MpTraceEvent events[64];
    gboolean sent = FALSE, received = FALSE;
    guint n;

    mp_trace_set_level (MP_TRACE_VERBOSE);
    send_str (a, "traced");
    assert_recv_str (b, "traced");
    mp_trace_set_level (level);
    n = mp_trace_reader_read (reader, events, G_N_ELEMENTS (events), NULL);
    for (guint i = 0; i < n; i++)
      {
        if (events[i].type == MP_EVENT_CONNECTION_SEND && events[i].object == a->object_id &&
            events[i].a == 6)
          sent = TRUE;
        if (events[i].type == MP_EVENT_CONNECTION_RECV && events[i].object == b->object_id &&
            events[i].a == 6)
          received = TRUE;
      }
    assert_true (sent && received);
  }

  oa = a->object;
  assert_int_equal (oa->refs, 1);
  assert_true (mp_connection_close (a, NULL));
  assert_int_equal (oa->state, 2);   /* retired with its last handle */
}

/* ---- connections in other processes -------------------------------------------------------- */

static MpProcess *
new_process (MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) target = mp_callable_new_with_fds (func, args, fds);
  return mp_context_process_new (mp_get_context (method, NULL), target);
}

static int
join_code (MpProcess *p)
{
  int code = -1000;

  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  assert_true (mp_process_get_exitcode (p, &code));
  return code;
}

/* Echoes each message reversed until an empty one; then sends a value with the pid. */
static int
echo_loop (MpConnection *c)
{
  for (;;)
    {
      g_autoptr(GBytes) msg = mp_connection_recv_bytes (c, -1, NULL);
      g_autofree guint8 *rev = NULL;
      const guint8 *data;
      gsize len;

      if (msg == NULL)
        return 11;
      data = g_bytes_get_data (msg, &len);
      if (len == 0)
        break;
      rev = g_malloc (len);
      for (gsize i = 0; i < len; i++)
        rev[i] = data[len - 1 - i];
      if (!mp_connection_send_bytes (c, rev, len, 0, -1, NULL))
        return 12;
    }
  if (!mp_connection_send (c, g_variant_new_int32 ((gint32) getpid ()), NULL, NULL))
    return 13;
  return 0;
}

static GVariant *
echo_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) c = mp_connection_deserialize (handle, fds, NULL);

  if (c == NULL)
    return g_variant_new_int32 (10);
  return g_variant_new_int32 (echo_loop (c));
}

/* Receives a connection handle over the connection it was given, then echoes over that. */
static GVariant *
relay_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) control = mp_connection_deserialize (handle, fds, NULL);
  g_autoptr(GUnixFDList) got_fds = NULL;
  g_autoptr(GVariant) inner = NULL;
  g_autoptr(MpConnection) c = NULL;

  if (control == NULL)
    return g_variant_new_int32 (20);
  inner = mp_connection_recv (control, &got_fds, NULL);
  if (inner == NULL)
    return g_variant_new_int32 (21);
  c = mp_connection_deserialize (inner, got_fds, NULL);
  if (c == NULL)
    return g_variant_new_int32 (22);
  return g_variant_new_int32 (echo_loop (c));
}

/* Sends three messages on a one-way pipe end and returns; the parent checks EOF after them. */
static GVariant *
writer_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) w = mp_connection_deserialize (handle, fds, NULL);

  if (w == NULL)
    return g_variant_new_int32 (30);
  for (int i = 0; i < 3; i++)
    if (!mp_connection_send_bytes (w, "xyz", 3, i, -1, NULL))
      return g_variant_new_int32 (31);
  return g_variant_new_int32 (0);
}

static void
talk_to_echo (MpConnection *c, MpProcess *p)
{
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;

  send_str (c, "hello");
  assert_recv_str (c, "olleh");
  send_str (c, "abc");
  assert_recv_str (c, "cba");
  send_str (c, "");
  pid = mp_connection_recv (c, NULL, &error);
  assert_non_null (pid);
  assert_int_equal (g_variant_get_int32 (pid), mp_process_get_pid (p));
}

static void
test_pass_to_child (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) p = NULL;
  GVariant *handle;
  MpConnectionStats *sb;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  handle = mp_connection_serialize (b, fds, &error);
  assert_non_null (handle);
  p = new_process (echo_child, g_variant_new_tuple (&handle, 1), fds);
  assert_true (mp_process_start (p, &error));
  /* The child has its own handle now; ours can go (the stats block stays, it holds a ref). */
  sb = MP_OBJECT_STATS (b->object, MpConnectionStats);
  talk_to_echo (a, p);
  assert_int_equal (join_code (p), 0);
  /* The child counted into the same stats block as our handle on that end. */
  assert_int_equal (sb->messages_received, 3);
  assert_int_equal (sb->messages_sent, 3);
}

static void
test_send_connection_over_connection (void **state)
{
  g_autoptr(MpConnection) control_a = NULL;
  g_autoptr(MpConnection) control_b = NULL;
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) inner_fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) p = NULL;
  GVariant *handle;

  assert_true (mp_pipe (TRUE, &control_a, &control_b, NULL));
  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  handle = mp_connection_serialize (control_b, fds, &error);
  p = new_process (relay_child, g_variant_new_tuple (&handle, 1), fds);
  assert_true (mp_process_start (p, &error));

  handle = mp_connection_serialize (b, inner_fds, &error);
  assert_non_null (handle);
  assert_true (mp_connection_send (control_a, handle, inner_fds, &error));
  g_clear_object (&b);
  talk_to_echo (a, p);
  assert_int_equal (join_code (p), 0);
}

static void
test_child_writer_eof (void **state)
{
  g_autoptr(MpConnection) r = NULL;
  g_autoptr(MpConnection) w = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) p = NULL;
  GVariant *handle;

  assert_true (mp_pipe (FALSE, &r, &w, NULL));
  handle = mp_connection_serialize (w, fds, &error);
  p = new_process (writer_child, g_variant_new_tuple (&handle, 1), fds);
  assert_true (mp_process_start (p, &error));
  /* Close our copy of the write end (a fork child keeps its own until it exits). */
  g_clear_object (&w);
  g_clear_object (&fds);
  assert_recv_str (r, "xyz");
  assert_recv_str (r, "yz");
  assert_recv_str (r, "z");
  assert_int_equal (join_code (p), 0);
  assert_null (mp_connection_recv_bytes (r, -1, &error));
  assert_error (error, MP_ERROR_EOF, NULL);
}

/* ---- wait ---------------------------------------------------------------------------------- */

static GVariant *
wait_for_message_then_exit (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) c = mp_connection_deserialize (handle, fds, NULL);
  g_autoptr(GBytes) msg = NULL;

  if (c == NULL)
    return g_variant_new_int32 (40);
  msg = mp_connection_recv_bytes (c, -1, NULL);
  return g_variant_new_int32 (msg ? 7 : 41);
}

static gboolean
contains (GPtrArray *arr, gpointer obj)
{
  return g_ptr_array_find (arr, obj, NULL);
}

static void
test_wait (void **state)
{
  g_autoptr(MpConnection) a1 = NULL, b1 = NULL, a2 = NULL, b2 = NULL, a3 = NULL, b3 = NULL;
  g_autoptr(GPtrArray) objects = g_ptr_array_new ();
  g_autoptr(GPtrArray) ready = NULL;
  g_autoptr(GArray) ready_fds = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) p = NULL;
  GVariant *handle;
  gint64 t0;
  int sentinel;

  assert_true (mp_pipe (TRUE, &a3, &b3, NULL));
  handle = mp_connection_serialize (b3, fds, &error);
  p = new_process (wait_for_message_then_exit, g_variant_new_tuple (&handle, 1), fds);
  assert_true (mp_process_start (p, &error));
  /* Made after the start, so a fork child does not hold a copy of b2 (which would keep a2
   * from seeing end of file). */
  assert_true (mp_pipe (TRUE, &a1, &b1, NULL));
  assert_true (mp_pipe (FALSE, &a2, &b2, NULL));
  g_ptr_array_add (objects, a1);
  g_ptr_array_add (objects, a2);
  g_ptr_array_add (objects, p);

  /* Nothing yet: an empty list, not an error, and the timeout is honoured. */
  ready = mp_connection_wait (objects, 0, &error);
  assert_non_null (ready);
  assert_int_equal (ready->len, 0);
  g_clear_pointer (&ready, g_ptr_array_unref);
  t0 = g_get_monotonic_time ();
  ready = mp_connection_wait (objects, 100 * 1000, &error);
  assert_int_equal (ready->len, 0);
  assert_true (g_get_monotonic_time () - t0 >= 90 * 1000);
  g_clear_pointer (&ready, g_ptr_array_unref);

  /* A message on a1. */
  send_str (b1, "");
  ready = mp_connection_wait (objects, WAIT_LONG, &error);
  assert_int_equal (ready->len, 1);
  assert_true (g_ptr_array_index (ready, 0) == a1);
  g_clear_pointer (&ready, g_ptr_array_unref);
  assert_recv_str (a1, "");

  /* End of file on a2: its only writer closes. */
  g_clear_object (&b2);
  ready = mp_connection_wait (objects, WAIT_LONG, &error);
  assert_int_equal (ready->len, 1);
  assert_true (contains (ready, a2));
  g_clear_pointer (&ready, g_ptr_array_unref);
  g_ptr_array_remove (objects, a2);

  /* The process's sentinel, as an object and as a plain descriptor. */
  sentinel = mp_process_get_sentinel (p, &error);
  assert_true (sentinel >= 0);
  ready_fds = mp_connection_wait_fds (&sentinel, 1, 0, &error);
  assert_int_equal (ready_fds->len, 0);
  g_clear_pointer (&ready_fds, g_array_unref);
  send_str (a3, "exit now");
  ready = mp_connection_wait (objects, WAIT_LONG, &error);
  assert_int_equal (ready->len, 1);
  assert_true (contains (ready, p));
  g_clear_pointer (&ready, g_ptr_array_unref);
  ready_fds = mp_connection_wait_fds (&sentinel, 1, WAIT_LONG, &error);
  assert_int_equal (ready_fds->len, 1);
  assert_int_equal (g_array_index (ready_fds, int, 0), sentinel);
  g_clear_pointer (&ready_fds, g_array_unref);

  /* Mixed objects and descriptors. */
  assert_true (mp_connection_wait_full (objects, &sentinel, 1, 0, &ready, &ready_fds, &error));
  assert_int_equal (ready->len, 1);
  assert_int_equal (ready_fds->len, 1);
  g_clear_pointer (&ready, g_ptr_array_unref);
  g_clear_pointer (&ready_fds, g_array_unref);
  assert_int_equal (join_code (p), 7);

  /* A closed connection in the list is an error. */
  assert_true (mp_connection_close (a1, NULL));
  assert_null (mp_connection_wait (objects, 0, &error));
  assert_error (error, MP_ERROR_CLOSED, NULL);
  g_clear_error (&error);
  /* So is something that cannot be waited on. */
  {
    g_autoptr(GPtrArray) bad = g_ptr_array_new ();
    g_autoptr(GCancellable) c = g_cancellable_new ();
    g_ptr_array_add (bad, c);
    assert_null (mp_connection_wait (bad, 0, &error));
    assert_error (error, MP_ERROR_INVALID_ARGUMENT, NULL);
  }
}

/* Signals interrupt the blocking calls (no SA_RESTART); they must carry on. */
static int eintr_fd = -1;

static void
on_alarm (int sig)
{
  if (eintr_fd >= 0)
    (void) !write (eintr_fd, "\0\0\0\1x", 5);
}

static void
arm_alarm (int ms)
{
  struct itimerval it = { { 0, 0 }, { 0, ms * 1000 } };
  assert_int_equal (setitimer (ITIMER_REAL, &it, NULL), 0);
}

static void
test_eintr (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GPtrArray) objects = g_ptr_array_new ();
  g_autoptr(GPtrArray) ready = NULL;
  g_autoptr(GError) error = NULL;
  struct sigaction sa = { 0 }, old;
  gint64 t0;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  sa.sa_handler = on_alarm;
  sigemptyset (&sa.sa_mask);
  assert_int_equal (sigaction (SIGALRM, &sa, &old), 0);

  /* wait(): the signal neither ends the wait early nor is an error. */
  g_ptr_array_add (objects, a);
  eintr_fd = -1;
  arm_alarm (50);
  t0 = g_get_monotonic_time ();
  ready = mp_connection_wait (objects, 300 * 1000, &error);
  assert_non_null (ready);
  assert_int_equal (ready->len, 0);
  assert_true (g_get_monotonic_time () - t0 >= 290 * 1000);

  /* poll() likewise. */
  arm_alarm (50);
  t0 = g_get_monotonic_time ();
  assert_false (mp_connection_poll (a, 300 * 1000, &error));
  assert_null (error);
  assert_true (g_get_monotonic_time () - t0 >= 290 * 1000);

  /* recv_bytes(): interrupted while blocked, then the handler's own message arrives. */
  eintr_fd = mp_connection_fileno (b, NULL);
  arm_alarm (50);
  {
    g_autoptr(GBytes) got = mp_connection_recv_bytes (a, -1, &error);
    assert_non_null (got);
    assert_int_equal (g_bytes_get_size (got), 1);
  }
  eintr_fd = -1;
  arm_alarm (0);
  assert_int_equal (sigaction (SIGALRM, &old, NULL), 0);
}

/* ---- main loop ----------------------------------------------------------------------------- */

typedef struct
{
  GPtrArray *got;
  int        finished;
  GError    *error;
} Collect;

static gboolean
on_readable (MpConnection *c, gpointer user_data)
{
  Collect *col = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *msg = mp_connection_recv_bytes (c, -1, &error);

  if (msg == NULL)
    {
      col->finished = g_error_matches (error, MP_ERROR, MP_ERROR_EOF) ? 1 : 2;
      return G_SOURCE_REMOVE;
    }
  g_ptr_array_add (col->got, msg);
  return G_SOURCE_CONTINUE;
}

static gpointer
three_messages_then_close (gpointer data)
{
  MpConnection *c = data;

  send_str (c, "m1");
  send_str (c, "m2");
  send_str (c, "m3");
  mp_connection_close (c, NULL);
  return NULL;
}

static void
test_source (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(GSource) source = NULL;
  Collect col = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), 0, NULL };
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;
  GThread *thread;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  source = mp_connection_create_source (a, NULL);
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) on_readable, &col, NULL);
  g_source_attach (source, ctx);
  thread = g_thread_new ("sender", three_messages_then_close, b);
  while (col.finished == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  g_thread_join (thread);
  assert_int_equal (col.finished, 1);
  assert_int_equal (col.got->len, 3);
  assert_int_equal (g_bytes_get_size (g_ptr_array_index (col.got, 2)), 2);
  g_source_destroy (source);
  g_ptr_array_unref (col.got);
}

typedef struct
{
  GBytes    *bytes;
  GVariant  *value;
  GUnixFDList *fds;
  GError    *error;
  gboolean   done;
} AsyncResult;

static void
on_bytes (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncResult *r = user_data;

  r->bytes = mp_connection_recv_bytes_finish (MP_CONNECTION (source), result, &r->error);
  r->done = TRUE;
}

static void
on_value (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncResult *r = user_data;

  r->value = mp_connection_recv_finish (MP_CONNECTION (source), result, &r->fds, &r->error);
  r->done = TRUE;
}

static void
iterate_until (GMainContext *ctx, gboolean *done)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  while (!*done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  assert_true (*done);
}

/* Runs the context without blocking until it has nothing left to do. */
static void
drain (GMainContext *ctx)
{
  for (int i = 0; i < 10; i++)
    while (g_main_context_iteration (ctx, FALSE))
      ;
}

static void
test_async (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  AsyncResult r = { 0 };
  AsyncResult r_ = { 0 };
  int raw;
  const guint8 header[] = { 0, 0, 0, 10 };

  assert_true (mp_pipe (TRUE, &a, &b, NULL));
  raw = mp_connection_fileno (b, NULL);
  g_main_context_push_thread_default (ctx);

  /* A message that arrives in pieces: the main loop never blocks on the rest. */
  mp_connection_recv_bytes_async (a, -1, NULL, on_bytes, &r);
  drain (ctx);
  assert_false (r.done);
  write_all (raw, header, 2);
  drain (ctx);
  write_all (raw, header + 2, 2);
  write_all (raw, "01234", 5);
  drain (ctx);
  assert_false (r.done);
  write_all (raw, "56789", 5);
  iterate_until (ctx, &r.done);
  assert_null (r.error);
  assert_int_equal (g_bytes_get_size (r.bytes), 10);
  assert_memory_equal (g_bytes_get_data (r.bytes, NULL), "0123456789", 10);
  g_clear_pointer (&r.bytes, g_bytes_unref);

  /* Cancelled half-way: what was read stays for the next receive. */
  {
    g_autoptr(GCancellable) cancel = g_cancellable_new ();

    memset (&r, 0, sizeof r);
    mp_connection_recv_bytes_async (a, -1, cancel, on_bytes, &r);
    write_all (raw, header, 4);
    write_all (raw, "abc", 3);
    drain (ctx);
    assert_false (r.done);
    g_cancellable_cancel (cancel);
    iterate_until (ctx, &r.done);
    assert_true (g_error_matches (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    g_clear_error (&r.error);
    write_all (raw, "defghij", 7);
    assert_recv_str (a, "abcdefghij");
  }

  /* A value with descriptors. */
  {
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
    g_autoptr(GError) e = NULL;

    memset (&r, 0, sizeof r);
    g_unix_fd_list_append (fds, 1, NULL);
    mp_connection_recv_async (a, NULL, on_value, &r);
    assert_true (mp_connection_send (b, g_variant_new ("(ih)", 5, 0), fds, &e));
    iterate_until (ctx, &r.done);
    assert_null (r.error);
    assert_non_null (r.value);
    assert_int_equal (g_unix_fd_list_get_length (r.fds), 1);
    g_clear_pointer (&r.value, g_variant_unref);
    g_clear_object (&r.fds);
  }

  /* Too long for maxlength on a read-only end: "bad message length", and the end closes. */
  {
    g_autoptr(MpConnection) pr = NULL;
    g_autoptr(MpConnection) pw = NULL;

    assert_true (mp_pipe (FALSE, &pr, &pw, NULL));
    mp_connection_recv_bytes_async (pr, 3, NULL, on_bytes, &r_);
    send_str (pw, "four");
    iterate_until (ctx, &r_.done);
    assert_error (r_.error, MP_ERROR_IO, "bad message length");
    g_clear_error (&r_.error);
    assert_true (mp_connection_is_closed (pr));
  }

  /* Two at once is refused; closing fails the pending one; EOF comes through. */
  {
    AsyncResult r2 = { 0 };

    memset (&r, 0, sizeof r);
    mp_connection_recv_bytes_async (a, -1, NULL, on_bytes, &r);
    mp_connection_recv_bytes_async (a, -1, NULL, on_bytes, &r2);
    iterate_until (ctx, &r2.done);
    assert_true (g_error_matches (r2.error, MP_ERROR, MP_ERROR_FAILED));
    g_clear_error (&r2.error);
    assert_true (mp_connection_close (b, NULL));
    iterate_until (ctx, &r.done);
    assert_true (g_error_matches (r.error, MP_ERROR, MP_ERROR_EOF));
    g_clear_error (&r.error);

    memset (&r, 0, sizeof r);
    mp_connection_recv_bytes_async (a, -1, NULL, on_bytes, &r);
    assert_true (mp_connection_close (a, NULL));
    iterate_until (ctx, &r.done);
    assert_true (g_error_matches (r.error, MP_ERROR, MP_ERROR_CLOSED));
    g_clear_error (&r.error);
  }
  g_main_context_pop_thread_default (ctx);
}

/* A socket end reads ahead; whatever it holds must still count as readable everywhere, and
 * descriptors must stay with their message. A one-way pipe never reads beyond a message. */
static gboolean
count_dispatch (MpConnection *c, gpointer user_data)
{
  (*(int *) user_data)++;
  return G_SOURCE_REMOVE;
}

static void
test_read_ahead (void **state)
{
  g_autoptr(MpConnection) a = NULL;
  g_autoptr(MpConnection) b = NULL;
  g_autoptr(MpConnection) r = NULL;
  g_autoptr(MpConnection) w = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  int p[2];
  char buf[8] = { 0 };
  int avail = 0;

  assert_true (mp_pipe (TRUE, &a, &b, NULL));

  /* Two messages, the second with a descriptor: the first receive takes both from the
   * kernel. */
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  send_str (a, "first");
  {
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
    assert_int_equal (g_unix_fd_list_append (fds, p[1], NULL), 0);
    assert_true (mp_connection_send (a, g_variant_new_handle (0), fds, &error));
    close (p[1]);
  }
  send_str (a, "third");
  {
    g_autoptr(GVariant) v = NULL;
    g_autoptr(GUnixFDList) got_fds = NULL;

    /* The first message came with no descriptor, even though one was read with it. */
    v = mp_connection_recv (b, &got_fds, &error);
    assert_null (v);
    assert_error (error, MP_ERROR_SERIALIZATION, NULL);   /* "first" is not a GVariant */
    g_clear_error (&error);
    g_clear_object (&got_fds);
    assert_true (_mp_connection_has_buffered (b));

    /* Buffered bytes are readable for poll and wait, although the descriptor may be quiet. */
    assert_true (mp_connection_poll (b, 0, &error));
    {
      g_autoptr(GPtrArray) objects = g_ptr_array_new ();
      g_autoptr(GPtrArray) ready = NULL;

      g_ptr_array_add (objects, b);
      ready = mp_connection_wait (objects, 0, &error);
      assert_non_null (ready);
      assert_int_equal (ready->len, 1);
    }
    /* A connection holding bytes it read ahead cannot be passed on. */
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      assert_null (mp_connection_serialize (b, fds, &error));
      assert_error (error, MP_ERROR_SERIALIZATION, "read ahead");
      g_clear_error (&error);
    }

    v = mp_connection_recv (b, &got_fds, &error);
    assert_non_null (v);
    assert_non_null (got_fds);
    assert_int_equal (g_unix_fd_list_get_length (got_fds), 1);
    {
      int fd = g_unix_fd_list_get (got_fds, 0, &error);
      assert_true (fd >= 0);
      assert_int_equal (write (fd, "ahead", 5), 5);
      close (fd);
    }
    assert_int_equal (read (p[0], buf, sizeof buf), 5);
    assert_memory_equal (buf, "ahead", 5);
    close (p[0]);
  }
  assert_recv_str (b, "third");
  assert_false (mp_connection_poll (b, 0, NULL));

  /* A handle sent right behind a message waits in the buffer with its descriptor. */
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  send_str (a, "before");
  assert_true (mp_reduction_send_handle (a, p[1], 0, &error));
  close (p[1]);
  assert_recv_str (b, "before");
  {
    int fd = mp_reduction_recv_handle (b, &error);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "h", 1), 1);
    close (fd);
    assert_int_equal (read (p[0], buf, sizeof buf), 1);
    close (p[0]);
  }

  /* The GSource and the async receive dispatch for buffered messages. */
  send_str (a, "m1");
  send_str (a, "m2");
  send_str (a, "m3");
  assert_recv_str (b, "m1");
  assert_true (_mp_connection_has_buffered (b));
  {
    g_autoptr(GSource) source = mp_connection_create_source (b, NULL);
    int dispatched = 0;
    gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

    g_source_set_callback (source, (GSourceFunc) (void (*) (void)) count_dispatch, &dispatched,
                           NULL);
    g_source_attach (source, ctx);
    while (dispatched == 0 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (ctx, TRUE);
    assert_int_equal (dispatched, 1);
    g_source_destroy (source);
  }
  assert_recv_str (b, "m2");
  {
    AsyncResult res = { 0 };

    g_main_context_push_thread_default (ctx);
    if (!_mp_connection_has_buffered (b))
      assert_true (mp_connection_poll (b, 0, NULL));
    mp_connection_recv_bytes_async (b, -1, NULL, on_bytes, &res);
    iterate_until (ctx, &res.done);
    g_main_context_pop_thread_default (ctx);
    assert_null (res.error);
    assert_int_equal (g_bytes_get_size (res.bytes), 2);
    assert_memory_equal (g_bytes_get_data (res.bytes, NULL), "m3", 2);
    g_bytes_unref (res.bytes);
  }

  /* End of file after buffered messages comes after them. */
  send_str (a, "last");
  mp_connection_close (a, NULL);
  assert_recv_str (b, "last");
  assert_null (mp_connection_recv_bytes (b, -1, &error));
  assert_error (error, MP_ERROR_EOF, NULL);
  g_clear_error (&error);

  /* A one-way pipe leaves the second message in the kernel for whoever reads next. */
  assert_true (mp_pipe (FALSE, &r, &w, NULL));
  send_str (w, "one");
  send_str (w, "two");
  assert_recv_str (r, "one");
  assert_false (_mp_connection_has_buffered (r));
  assert_int_equal (ioctl (mp_connection_fileno (r, NULL), FIONREAD, &avail), 0);
  assert_int_equal (avail, 4 + 3);
  assert_recv_str (r, "two");
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_header_codec),
    cmocka_unit_test (test_duplex_roundtrip),
    cmocka_unit_test (test_simplex_directions),
    cmocka_unit_test (test_send_bytes_bounds),
    cmocka_unit_test (test_recv_bytes_maxlength),
    cmocka_unit_test (test_recv_bytes_into),
    cmocka_unit_test (test_poll),
    cmocka_unit_test (test_eof),
    cmocka_unit_test (test_closed),
    cmocka_unit_test (test_long_header_transport),
    cmocka_unit_test (test_values),
    cmocka_unit_test (test_fd_passing),
    cmocka_unit_test (test_stats),
    cmocka_unit_test (test_eintr),
    FOR_METHOD (test_pass_to_child, fork),
    FOR_METHOD (test_pass_to_child, spawn),
    FOR_METHOD (test_pass_to_child, forkserver),
    FOR_METHOD (test_send_connection_over_connection, fork),
    FOR_METHOD (test_send_connection_over_connection, spawn),
    FOR_METHOD (test_child_writer_eof, spawn),
    FOR_METHOD (test_child_writer_eof, fork),
    FOR_METHOD (test_wait, spawn),
    FOR_METHOD (test_wait, fork),
    /* Tests with threads come last: fork after threads only warns, but why provoke it. */
    cmocka_unit_test (test_large_message),
    cmocka_unit_test (test_source),
    cmocka_unit_test (test_async),
    cmocka_unit_test (test_read_ahead),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("connection", tests, NULL, NULL);
}
