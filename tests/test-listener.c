/* test-listener.c: MpListener, mp_client() and authentication, with Python on the other end
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Clients run in threads (or as a Python process, tests/conn-interop.py); the main thread
 * asserts. Nothing sleeps: every wait is on a socket, a thread join or a process exit, with
 * generous bounds so a bug fails instead of hanging.
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "mp-connection-private.h"
#include "mp-object-private.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)
#define PYTHON "/usr/bin/python3"

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

static GBytes *
key (const char *s)
{
  return g_bytes_new (s, strlen (s));
}

static void
send_str (MpConnection *c, const char *s)
{
  g_autoptr(GError) error = NULL;

  if (!mp_connection_send_bytes (c, s, strlen (s), 0, -1, &error))
    fail_msg ("send_bytes failed: %s", error->message);
}

static void
assert_recv_str (MpConnection *c, const char *want)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = mp_connection_recv_bytes (c, -1, &error);

  if (got == NULL)
    fail_msg ("recv_bytes failed: %s", error->message);
  assert_int_equal (g_bytes_get_size (got), strlen (want));
  assert_memory_equal (g_bytes_get_data (got, NULL), want, strlen (want));
}

/* Accepts with a bound: waits for the listener to be ready first. */
static MpConnection *
accept_bounded (MpListener *l, GError **error)
{
  g_autoptr(GPtrArray) objects = g_ptr_array_new ();
  g_autoptr(GPtrArray) ready = NULL;

  g_ptr_array_add (objects, l);
  ready = mp_connection_wait (objects, WAIT_LONG, error);
  if (ready == NULL)
    return NULL;
  if (ready->len == 0)
    fail_msg ("no client came to %s", mp_listener_get_address (l));
  return mp_listener_accept (l, error);
}

/* ---- a client thread ----------------------------------------------------------------------- */

typedef struct
{
  char          *address;
  GBytes        *authkey;
  gboolean       talk;        /* send "ping", expect "pong" */
  const char    *raw_first;   /* without authkey: send this first, then read one message */
  GError        *error;
  gboolean       ok;
} ClientJob;

static gpointer
client_thread (gpointer data)
{
  ClientJob *job = data;
  g_autoptr(MpConnection) c = mp_client (job->address, job->authkey, &job->error);
  g_autoptr(GBytes) reply = NULL;

  if (c == NULL)
    return NULL;
  if (job->raw_first)
    {
      if (!mp_connection_send_bytes (c, job->raw_first, strlen (job->raw_first), 0, -1,
                                     &job->error))
        return NULL;
      reply = mp_connection_recv_bytes (c, -1, &job->error);
      job->ok = reply != NULL;
      return NULL;
    }
  if (job->talk)
    {
      if (!mp_connection_send_bytes (c, "ping", 4, 0, -1, &job->error))
        return NULL;
      reply = mp_connection_recv_bytes (c, -1, &job->error);
      if (reply == NULL)
        return NULL;
      job->ok = g_bytes_get_size (reply) == 4 &&
                memcmp (g_bytes_get_data (reply, NULL), "pong", 4) == 0;
      return NULL;
    }
  job->ok = TRUE;
  return NULL;
}

static GThread *
start_client (ClientJob *job, const char *address, GBytes *authkey, gboolean talk)
{
  memset (job, 0, sizeof *job);
  job->address = g_strdup (address);
  job->authkey = authkey ? g_bytes_ref (authkey) : NULL;
  job->talk = talk;
  return g_thread_new ("client", client_thread, job);
}

static void
finish_client (ClientJob *job, GThread *thread)
{
  g_thread_join (thread);
  g_free (job->address);
  g_clear_pointer (&job->authkey, g_bytes_unref);
}

/* A listener, one talking client, a round trip. */
static void
round_trip (MpListener *l, GBytes *authkey)
{
  g_autoptr(MpConnection) c = NULL;
  g_autoptr(GError) error = NULL;
  ClientJob job;
  GThread *t = start_client (&job, mp_listener_get_address (l), authkey, TRUE);

  c = accept_bounded (l, &error);
  if (c == NULL)
    fail_msg ("accept failed: %s", error->message);
  assert_recv_str (c, "ping");
  send_str (c, "pong");
  finish_client (&job, t);
  if (job.error)
    fail_msg ("client failed: %s", job.error->message);
  assert_true (job.ok);
}

/* ---- addresses ----------------------------------------------------------------------------- */

static void
test_unix_path (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("libmp-test-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "sock", NULL);
  g_autoptr(MpListener) l = NULL;
  g_autoptr(GError) error = NULL;
  struct stat st;

  l = mp_listener_new (path, NULL, &error);
  assert_non_null (l);
  assert_string_equal (mp_listener_get_address (l), path);
  assert_int_equal (mp_listener_get_family (l), MP_ADDRESS_FAMILY_UNIX);
  assert_null (mp_listener_get_last_accepted (l));
  assert_int_equal (stat (path, &st), 0);
  assert_true (S_ISSOCK (st.st_mode));
  assert_int_equal (st.st_mode & 0777, 0600);

  round_trip (l, NULL);
  assert_string_equal (mp_listener_get_last_accepted (l), "");

  assert_true (mp_listener_close (l, &error));
  assert_true (mp_listener_close (l, &error));
  assert_int_equal (stat (path, &st), -1);
  assert_int_equal (rmdir (dir), 0);
}

static void
test_default_address (void **state)
{
  g_autoptr(MpListener) l = mp_listener_new (NULL, NULL, NULL);
  g_autofree char *dir = NULL;
  struct stat st;

  assert_non_null (l);
  dir = g_path_get_dirname (mp_listener_get_address (l));
  assert_int_equal (stat (dir, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0700);
  assert_int_equal (stat (mp_listener_get_address (l), &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  round_trip (l, NULL);
  assert_true (mp_listener_close (l, NULL));
  assert_int_equal (stat (dir, &st), -1);

  /* The arbitrary TCP address is on the loopback. */
  {
    g_autoptr(MpListener) tcp = mp_listener_new_full (NULL, MP_ADDRESS_FAMILY_INET, 1, NULL, NULL);
    assert_non_null (tcp);
    assert_true (g_str_has_prefix (mp_listener_get_address (tcp), "127.0.0.1:"));
  }
}

static void
test_abstract (void **state)
{
  g_autofree char *name = g_strdup_printf ("@libmp-test-%d-%08x", getpid (), g_random_int ());
  g_autoptr(MpListener) l = NULL;
  g_autoptr(MpListener) again = NULL;
  g_autoptr(GError) error = NULL;

  l = mp_listener_new (name, NULL, &error);
  assert_non_null (l);
  assert_string_equal (mp_listener_get_address (l), name);
  round_trip (l, NULL);

  again = mp_listener_new (name, NULL, &error);
  assert_null (again);
  assert_error (error, MP_ERROR_IO, "in use");
}

static void
test_tcp (void **state)
{
  g_autoptr(MpListener) l = NULL;
  g_autoptr(MpListener) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) k = key ("tcp key");
  const char *address;
  guint64 port = 0;

  l = mp_listener_new ("127.0.0.1:0", k, &error);
  assert_non_null (l);
  assert_int_equal (mp_listener_get_family (l), MP_ADDRESS_FAMILY_INET);
  address = mp_listener_get_address (l);
  assert_true (g_str_has_prefix (address, "127.0.0.1:"));
  assert_true (g_ascii_string_to_unsigned (address + strlen ("127.0.0.1:"), 10, 1, 65535, &port,
                                           NULL));
  round_trip (l, k);
  assert_true (g_str_has_prefix (mp_listener_get_last_accepted (l), "127.0.0.1:"));

  /* The same port again is in use. */
  again = mp_listener_new (address, NULL, &error);
  assert_null (again);
  assert_error (error, MP_ERROR_IO, "Address already in use");
  g_clear_error (&error);

  /* Descriptors cannot go over TCP. */
  {
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
    g_autoptr(MpConnection) c = NULL;
    ClientJob job;
    GThread *t = start_client (&job, address, k, FALSE);

    c = accept_bounded (l, &error);
    assert_non_null (c);
    finish_client (&job, t);
    g_unix_fd_list_append (fds, 0, NULL);
    assert_false (mp_connection_send (c, g_variant_new_int32 (1), fds, &error));
    assert_error (error, MP_ERROR_SERIALIZATION, "TCP");
  }
}

static void
test_address_in_use (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("libmp-test-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "sock", NULL);
  g_autoptr(MpListener) l = mp_listener_new (path, NULL, NULL);
  g_autoptr(MpListener) again = NULL;
  g_autoptr(GError) error = NULL;

  assert_non_null (l);
  again = mp_listener_new (path, NULL, &error);
  assert_null (again);
  assert_error (error, MP_ERROR_IO, "Address already in use");
  assert_non_null (strstr (error->message, path));
  g_clear_error (&error);
  /* The failed listener did not remove the first one's socket. */
  round_trip (l, NULL);
  assert_true (mp_listener_close (l, NULL));
  assert_int_equal (rmdir (dir), 0);
}

static void
test_bad_addresses (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *long_path = g_strnfill (200, 'x');
  g_autoptr(MpConnection) c = NULL;

  assert_int_equal (mp_address_type ("/tmp/x"), MP_ADDRESS_FAMILY_UNIX);
  assert_int_equal (mp_address_type ("sock"), MP_ADDRESS_FAMILY_UNIX);
  assert_int_equal (mp_address_type ("@name:1"), MP_ADDRESS_FAMILY_UNIX);
  assert_int_equal (mp_address_type ("./a:80"), MP_ADDRESS_FAMILY_UNIX);
  assert_int_equal (mp_address_type ("localhost:80"), MP_ADDRESS_FAMILY_INET);
  assert_int_equal (mp_address_type ("[::1]:80"), MP_ADDRESS_FAMILY_INET);

  assert_null (mp_listener_new (long_path, NULL, &error));
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, NULL);
  g_clear_error (&error);
  c = mp_client ("/nonexistent/libmp/socket", NULL, &error);
  assert_null (c);
  assert_error (error, MP_ERROR_IO, "Cannot connect");
  g_clear_error (&error);
  c = mp_client_full ("nohostport", MP_ADDRESS_FAMILY_INET, NULL, &error);
  assert_null (c);
  assert_error (error, MP_ERROR_INVALID_ARGUMENT, NULL);
}

/* ---- accept and close ---------------------------------------------------------------------- */

typedef struct
{
  MpListener *listener;
  GError     *error;
} AcceptJob;

static gpointer
accept_thread (gpointer data)
{
  AcceptJob *job = data;
  MpConnection *c = mp_listener_accept (job->listener, &job->error);

  g_clear_object (&c);
  return NULL;
}

static void
test_accept_after_close (void **state)
{
  g_autoptr(MpListener) l = mp_listener_new (NULL, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MpListener) l2 = mp_listener_new (NULL, NULL, NULL);
  AcceptJob job = { l2, NULL };
  GThread *t;

  assert_true (mp_listener_close (l, NULL));
  assert_null (mp_listener_accept (l, &error));
  assert_error (error, MP_ERROR_CLOSED, NULL);
  g_clear_error (&error);
  assert_int_equal (mp_listener_fileno (l, &error), -1);
  assert_error (error, MP_ERROR_CLOSED, NULL);
  g_clear_error (&error);

  /* Closing wakes an accept blocked in another thread (or one that has not begun yet). */
  t = g_thread_new ("accept", accept_thread, &job);
  assert_true (mp_listener_close (l2, NULL));
  g_thread_join (t);
  assert_error (job.error, MP_ERROR_CLOSED, NULL);
  g_clear_error (&job.error);
}

static void
test_wait_listener (void **state)
{
  g_autoptr(MpListener) l = mp_listener_new (NULL, NULL, NULL);
  g_autoptr(GPtrArray) objects = g_ptr_array_new ();
  g_autoptr(GPtrArray) ready = NULL;
  g_autoptr(MpConnection) client = NULL;
  g_autoptr(MpConnection) server = NULL;
  MpConnectionStats *st;

  g_ptr_array_add (objects, l);
  ready = mp_connection_wait (objects, 0, NULL);
  assert_int_equal (ready->len, 0);
  g_clear_pointer (&ready, g_ptr_array_unref);
  /* Without an authkey, connect completes before accept. */
  client = mp_client (mp_listener_get_address (l), NULL, NULL);
  assert_non_null (client);
  ready = mp_connection_wait (objects, WAIT_LONG, NULL);
  assert_int_equal (ready->len, 1);
  server = mp_listener_accept (l, NULL);
  assert_non_null (server);
  st = MP_OBJECT_STATS (server->object, MpConnectionStats);
  assert_int_equal (st->peer_pid, getpid ());
  send_str (client, "over a listener");
  assert_recv_str (server, "over a listener");
}

/* ---- authentication ------------------------------------------------------------------------ */

static void
test_authkey (void **state)
{
  g_autoptr(GBytes) secret = key ("secret");
  g_autoptr(GBytes) guess = key ("guess");
  g_autoptr(MpListener) l = mp_listener_new (NULL, secret, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MpConnection) c = NULL;
  ClientJob job;
  GThread *t;

  round_trip (l, secret);

  /* Wrong key: both sides fail with AUTHENTICATION, and the listener goes on. */
  t = start_client (&job, mp_listener_get_address (l), guess, TRUE);
  c = accept_bounded (l, &error);
  assert_null (c);
  assert_error (error, MP_ERROR_AUTHENTICATION, "digest received was wrong");
  g_clear_error (&error);
  finish_client (&job, t);
  assert_error (job.error, MP_ERROR_AUTHENTICATION, "rejected");
  g_clear_error (&job.error);

  /* A client without a key answers the challenge with garbage. */
  t = start_client (&job, mp_listener_get_address (l), NULL, FALSE);
  job.raw_first = "hello";
  c = accept_bounded (l, &error);
  assert_null (c);
  assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
  g_clear_error (&error);
  finish_client (&job, t);
  g_clear_error (&job.error);

  round_trip (l, secret);
  {
    MpArenaObject *o = NULL;
    MpArena *arena = _mp_arena;
    /* The listener's stats: 4 accepted, 2 failed. */
    for (int i = 0; arena && i < (int) _mp_arena_header (arena)->objects_capacity; i++)
      {
        MpArenaObject *x = _mp_arena_object (arena, i);
        if (x->state == 1 && x->kind == MP_OBJECT_LISTENER &&
            strstr (x->label, mp_listener_get_address (l)) != NULL)
          o = x;
      }
    assert_non_null (o);
    assert_int_equal (MP_OBJECT_STATS (o, MpConnectionStats)->accepted, 4);
    assert_int_equal (MP_OBJECT_STATS (o, MpConnectionStats)->auth_failures, 2);
  }
}

static void
test_empty_authkey (void **state)
{
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) x = key ("x");
  g_autoptr(MpListener) l = mp_listener_new (NULL, empty, NULL);
  g_autoptr(GError) error = NULL;
  ClientJob job;
  GThread *t;

  /* An empty key is a key: the handshake runs, and a non-empty one fails it. */
  round_trip (l, empty);
  t = start_client (&job, mp_listener_get_address (l), x, TRUE);
  assert_null (accept_bounded (l, &error));
  assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
  finish_client (&job, t);
  assert_error (job.error, MP_ERROR_AUTHENTICATION, NULL);
  g_clear_error (&job.error);
}

typedef struct
{
  MpConnection *conn;
  GBytes       *authkey;
  gboolean      ok;
  GError       *error;
} AnswerJob;

static gpointer
answer_thread (gpointer data)
{
  AnswerJob *job = data;

  job->ok = mp_connection_answer_challenge (job->conn, job->authkey, &job->error);
  return NULL;
}

static void
test_digests (void **state)
{
  const char *names[] = { "md5", "sha256", "sha384", "sha3_256", "sha3_384", NULL };
  g_autoptr(GBytes) k = key ("a key longer than one hundred and thirty-six bytes, so that "
                             "the HMAC has to hash it first: padding padding padding padding "
                             "padding padding");

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    for (int wrong = 0; wrong < 2; wrong++)
      {
        g_autoptr(MpConnection) a = NULL;
        g_autoptr(MpConnection) b = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) other = key ("other");
        AnswerJob job = { NULL, wrong ? other : k, FALSE, NULL };
        GThread *t;
        gboolean ok;

        assert_true (mp_pipe (TRUE, &a, &b, NULL));
        job.conn = b;
        t = g_thread_new ("answer", answer_thread, &job);
        ok = mp_connection_deliver_challenge (a, k, names[i], &error);
        g_thread_join (t);
        if (wrong)
          {
            assert_false (ok);
            assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
            assert_false (job.ok);
            assert_error (job.error, MP_ERROR_AUTHENTICATION, NULL);
          }
        else
          {
            if (!ok)
              fail_msg ("%s: %s", names[i] ? names[i] : "default", error->message);
            assert_true (job.ok);
          }
        g_clear_error (&job.error);
      }

  {
    g_autoptr(MpConnection) a = NULL;
    g_autoptr(MpConnection) b = NULL;
    g_autoptr(GError) error = NULL;

    assert_true (mp_pipe (TRUE, &a, &b, NULL));
    assert_false (mp_connection_deliver_challenge (a, k, "sha1", &error));
    assert_error (error, MP_ERROR_INVALID_ARGUMENT, NULL);
  }
}

/* A peer that replies with more than 256 bytes, or garbage, or closes: AUTHENTICATION. */
static void
test_hostile_handshake (void **state)
{
  g_autoptr(GBytes) k = key ("k");
  guint8 big[300];

  memset (big, 'x', sizeof big);
  {
    g_autoptr(MpConnection) a = NULL;
    g_autoptr(MpConnection) b = NULL;
    g_autoptr(GError) error = NULL;

    assert_true (mp_pipe (TRUE, &a, &b, NULL));
    assert_true (mp_connection_send_bytes (b, big, sizeof big, 0, -1, NULL));
    assert_false (mp_connection_answer_challenge (a, k, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, "256");
  }
  {
    g_autoptr(MpConnection) a = NULL;
    g_autoptr(MpConnection) b = NULL;
    g_autoptr(GError) error = NULL;

    assert_true (mp_pipe (TRUE, &a, &b, NULL));
    send_str (b, "#CHALLENGE#{sha1}0123456789012345678901234567890123456789");
    assert_false (mp_connection_answer_challenge (a, k, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, "unsupported");
    g_clear_error (&error);
    send_str (b, "#CHALLENGE#short");
    assert_false (mp_connection_answer_challenge (a, k, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, "too short");
    g_clear_error (&error);
    send_str (b, "#NOPE#");
    assert_false (mp_connection_answer_challenge (a, k, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, "expected challenge");
    g_clear_error (&error);
    assert_true (mp_connection_close (b, NULL));
    assert_false (mp_connection_deliver_challenge (a, k, NULL, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
  }
}

/* ---- Python on the other end --------------------------------------------------------------- */

static char *
hex (const char *s)
{
  GString *out = g_string_new (NULL);

  for (const char *p = s; *p; p++)
    g_string_append_printf (out, "%02x", (guint8) *p);
  return g_string_free (out, FALSE);
}

static GSubprocess *
python (const char *mode, const char *address, const char *keystr, const char *digest)
{
  const char *srcdir = g_getenv ("G_TEST_SRCDIR") ? g_getenv ("G_TEST_SRCDIR") : ".";
  g_autofree char *script = g_build_filename (srcdir, "conn-interop.py", NULL);
  g_autofree char *keyhex = keystr ? hex (keystr) : g_strdup ("-");
  g_autoptr(GError) error = NULL;
  GSubprocess *p;

  if (!g_file_test (PYTHON, G_FILE_TEST_IS_EXECUTABLE))
    skip ();
  p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, PYTHON, script, mode, address,
                        keyhex, digest ? digest : "sha256", NULL);
  if (p == NULL)
    fail_msg ("cannot run %s: %s", PYTHON, error->message);
  return p;
}

/* Reads one line of the script's output. */
static char *
python_line (GSubprocess *p)
{
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p));
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (in), FALSE);
  return g_data_input_stream_read_line (in, NULL, NULL, NULL);
}

static int
python_exit (GSubprocess *p)
{
  g_autoptr(GError) error = NULL;

  assert_true (g_subprocess_wait (p, NULL, &error));
  assert_true (g_subprocess_get_if_exited (p));
  return g_subprocess_get_exit_status (p);
}

static char *
unix_address (void)
{
  return g_strdup_printf ("@libmp-interop-%d-%08x", getpid (), g_random_int ());
}

/* The echo protocol of conn-interop.py, from our side. */
static void
talk_to_python (MpConnection *c)
{
  g_autoptr(GError) error = NULL;
  gsize big_len = 300000;
  g_autofree guint8 *big = g_malloc (big_len);
  g_autoptr(GBytes) got = NULL;

  for (gsize i = 0; i < big_len; i++)
    big[i] = (guint8) i;
  send_str (c, "hello from C");
  assert_recv_str (c, "C morf olleh");
  assert_true (mp_connection_send_bytes (c, big, big_len, 0, -1, &error));
  got = mp_connection_recv_bytes (c, -1, &error);
  assert_non_null (got);
  assert_int_equal (g_bytes_get_size (got), big_len);
  for (gsize i = 0; i < big_len; i++)
    if (((const guint8 *) g_bytes_get_data (got, NULL))[i] != big[big_len - 1 - i])
      fail_msg ("byte %" G_GSIZE_FORMAT " differs", i);
  send_str (c, "");
  assert_recv_str (c, "done");
}

/* Python's side of the echo protocol, with us as the echo. */
static void
echo_for_python (MpConnection *c)
{
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) m = mp_connection_recv_bytes (c, -1, &error);
      g_autofree guint8 *rev = NULL;
      const guint8 *d;
      gsize len;

      if (m == NULL)
        fail_msg ("recv from python: %s", error->message);
      d = g_bytes_get_data (m, &len);
      if (len == 0)
        {
          send_str (c, "done");
          return;
        }
      rev = g_malloc (len);
      for (gsize i = 0; i < len; i++)
        rev[i] = d[len - 1 - i];
      assert_true (mp_connection_send_bytes (c, rev, len, 0, -1, NULL));
    }
}

static void
test_python_listener (void **state)
{
  g_autofree char *address = unix_address ();
  g_autoptr(GSubprocess) p = python ("server", address, "py key", NULL);
  g_autofree char *line = python_line (p);
  g_autoptr(MpConnection) c = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) k = key ("py key");

  assert_string_equal (line, "READY");
  c = mp_client (address, k, &error);
  if (c == NULL)
    fail_msg ("client to python: %s", error->message);
  talk_to_python (c);
  assert_int_equal (python_exit (p), 0);
}

static void
test_python_client (void **state)
{
  g_autoptr(GBytes) k = key ("py key");
  g_autoptr(MpListener) l = mp_listener_new ("127.0.0.1:0", k, NULL);
  g_autoptr(GSubprocess) p = python ("client", mp_listener_get_address (l), "py key", NULL);
  g_autoptr(MpConnection) c = NULL;
  g_autoptr(GError) error = NULL;

  c = accept_bounded (l, &error);
  if (c == NULL)
    fail_msg ("accept from python: %s", error->message);
  echo_for_python (c);
  assert_int_equal (python_exit (p), 0);
}

static void
test_python_wrong_key (void **state)
{
  /* libmp client, Python listener. */
  {
    g_autofree char *address = unix_address ();
    g_autoptr(GSubprocess) p = python ("server", address, "python's key", NULL);
    g_autofree char *line = python_line (p);
    g_autofree char *verdict = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) k = key ("our key");

    assert_string_equal (line, "READY");
    assert_null (mp_client (address, k, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
    verdict = python_line (p);
    assert_non_null (verdict);
    assert_true (g_str_has_prefix (verdict, "AUTHFAIL"));
    assert_int_equal (python_exit (p), 3);
  }
  /* Python client, libmp listener. */
  {
    g_autoptr(GBytes) k = key ("our key");
    g_autoptr(MpListener) l = mp_listener_new (NULL, k, NULL);
    g_autoptr(GSubprocess) p = python ("client", mp_listener_get_address (l), "python's key", NULL);
    g_autoptr(GError) error = NULL;

    assert_null (accept_bounded (l, &error));
    assert_error (error, MP_ERROR_AUTHENTICATION, NULL);
    assert_int_equal (python_exit (p), 3);
  }
}

/* The Python >= 3.12 handshake (`{digest}` prefixes), written out in the script. */
static void
test_python_modern_handshake (void **state)
{
  const char *digests[] = { "sha256", "sha3_256", "sha384", "md5" };
  g_autoptr(GBytes) k = key ("modern");

  /* Python challenges us with each digest; our client answers in kind. */
  for (guint i = 0; i < G_N_ELEMENTS (digests); i++)
    {
      g_autofree char *address = unix_address ();
      g_autoptr(GSubprocess) p = python ("modern-server", address, "modern", digests[i]);
      g_autofree char *line = python_line (p);
      g_autoptr(MpConnection) c = NULL;
      g_autoptr(GError) error = NULL;

      assert_string_equal (line, "READY");
      c = mp_client (address, k, &error);
      if (c == NULL)
        fail_msg ("%s: %s", digests[i], error->message);
      talk_to_python (c);
      assert_int_equal (python_exit (p), 0);
    }

  /* Our listener's default challenge ({sha256}), answered by the modern Python client; and
   * a sha3_384 challenge delivered by hand. */
  for (int by_hand = 0; by_hand < 2; by_hand++)
    {
      g_autoptr(MpListener) l = mp_listener_new (NULL, by_hand ? NULL : k, NULL);
      g_autoptr(GSubprocess) p = python ("modern-client", mp_listener_get_address (l), "modern",
                                         "sha3_256");
      g_autoptr(MpConnection) c = NULL;
      g_autoptr(GError) error = NULL;

      c = accept_bounded (l, &error);
      if (c == NULL)
        fail_msg ("accept: %s", error->message);
      if (by_hand)
        {
          if (!mp_connection_deliver_challenge (c, k, "sha3_384", &error) ||
              !mp_connection_answer_challenge (c, k, &error))
            fail_msg ("by hand: %s", error->message);
        }
      echo_for_python (c);
      assert_int_equal (python_exit (p), 0);
    }
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_unix_path),
    cmocka_unit_test (test_default_address),
    cmocka_unit_test (test_abstract),
    cmocka_unit_test (test_tcp),
    cmocka_unit_test (test_address_in_use),
    cmocka_unit_test (test_bad_addresses),
    cmocka_unit_test (test_accept_after_close),
    cmocka_unit_test (test_wait_listener),
    cmocka_unit_test (test_authkey),
    cmocka_unit_test (test_empty_authkey),
    cmocka_unit_test (test_digests),
    cmocka_unit_test (test_hostile_handshake),
    cmocka_unit_test (test_python_listener),
    cmocka_unit_test (test_python_client),
    cmocka_unit_test (test_python_wrong_key),
    cmocka_unit_test (test_python_modern_handshake),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("listener", tests, NULL, NULL);
}
