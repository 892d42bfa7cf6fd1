/* test-queue.c: Queue, JoinableQueue and SimpleQueue across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (60 * G_USEC_PER_SEC)


/* Starts a process whose closure is (queue handle, extra...). */
static MpProcess *
start_with_queue (MpFunc func, MpQueue *q, GVariant *extra)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) c = NULL;
  GVariant *args[2];
  MpProcess *p;

  args[0] = mp_queue_serialize (q, fds, NULL);
  args[1] = extra ? extra : g_variant_new ("()");
  c = mp_callable_new_with_fds (func, g_variant_new_tuple (args, 2), fds);
  p = mp_context_process_new (mp_get_context (method, NULL), c);
  assert_true (mp_process_start (p, NULL));
  return p;
}

static int
join_code (MpProcess *p)
{
  int code = -1000;
  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  assert_true (mp_process_get_exitcode (p, &code));
  g_object_unref (p);
  return code;
}

static MpQueue *
queue_arg (GVariant *args, GUnixFDList *fds)
{
  g_autoptr(GVariant) h = g_variant_get_child_value (args, 0);
  return mp_queue_deserialize (h, fds, NULL);
}

/* ---- targets ---------------------------------------------------------------------------- */

/* Puts (first, first+1, … first+n-1). */
static GVariant *
producer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);
  gint32 first, n;

  if (q == NULL)
    return g_variant_new_int32 (90);
  g_variant_get_child (args, 1, "(ii)", &first, &n);
  for (gint32 i = 0; i < n; i++)
    if (!mp_queue_put (q, g_variant_new_int32 (first + i), MP_TIMEOUT_INFINITE, NULL))
      return g_variant_new_int32 (91);
  return g_variant_new_int32 (0);
}

/* Gets until it gets -1; puts the sum of what it got into the result queue (arg 1). */
static GVariant *
consumer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);
  g_autoptr(GVariant) rh = g_variant_get_child_value (args, 1);
  g_autoptr(MpQueue) results = mp_queue_deserialize (rh, fds, NULL);
  gint64 sum = 0, count = 0;

  if (q == NULL || results == NULL)
    return g_variant_new_int32 (90);
  for (;;)
    {
      g_autoptr(GVariant) v = mp_queue_get (q, WAIT_LONG, NULL);
      gint32 x;

      if (v == NULL)
        return g_variant_new_int32 (92);
      x = g_variant_get_int32 (v);
      if (x == -1)
        break;
      sum += x;
      count++;
    }
  if (!mp_queue_put (results, g_variant_new ("(xx)", sum, count), MP_TIMEOUT_INFINITE, NULL))
    return g_variant_new_int32 (93);
  return g_variant_new_int32 (0);
}

/* Puts big items and returns without anyone having read them. */
static GVariant *
put_big_and_exit (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);

  for (int i = 0; i < 8; i++)
    {
      g_autofree guint8 *buf = g_malloc (256 * 1024);
      memset (buf, 'a' + i, 256 * 1024);
      if (!mp_queue_put_bytes (q, g_bytes_new_take (g_steal_pointer (&buf), 256 * 1024),
                               MP_TIMEOUT_INFINITE, NULL))
        return g_variant_new_int32 (1);
    }
  return g_variant_new_int32 (0);
}

/* JoinableQueue worker: gets items until -1, marks each done. */
static GVariant *
joinable_worker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);

  for (;;)
    {
      g_autoptr(GVariant) v = mp_queue_get (q, WAIT_LONG, NULL);
      gboolean stop;

      if (v == NULL)
        return g_variant_new_int32 (1);
      stop = g_variant_get_int32 (v) == -1;
      if (!mp_queue_task_done (q, NULL))
        return g_variant_new_int32 (2);
      if (stop)
        return g_variant_new_int32 (0);
    }
}

/* Streams items of varying sizes with a checksum in each; a small ring wraps many times. */
static GVariant *
stream_sizes (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);
  GRand *rand = g_rand_new_with_seed (42);
  gint32 n;

  g_variant_get_child (args, 1, "(i)", &n);
  for (gint32 i = 0; i < n; i++)
    {
      gsize len = (gsize) g_rand_int_range (rand, 0, 3000);
      guint8 *buf = g_malloc (len + 4);
      memcpy (buf, &i, 4);
      for (gsize k = 0; k < len; k++)
        buf[4 + k] = (guint8) (i + k);
      if (!mp_queue_put_bytes (q, g_bytes_new_take (buf, len + 4), MP_TIMEOUT_INFINITE, NULL))
        return g_variant_new_int32 (1);
    }
  g_rand_free (rand);
  return g_variant_new_int32 (0);
}


/* Puts n tagged byte items (producer index, sequence number, a pattern of varying length). */
static GVariant *
tagged_producer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);
  gint32 tag, n;

  if (q == NULL)
    return g_variant_new_int32 (90);
  g_variant_get_child (args, 1, "(ii)", &tag, &n);
  for (gint32 i = 0; i < n; i++)
    {
      gsize len = (gsize) ((i * 37 + tag * 11) % 700);
      guint8 *buf = g_malloc (8 + len);

      memcpy (buf, &tag, 4);
      memcpy (buf + 4, &i, 4);
      for (gsize k = 0; k < len; k++)
        buf[8 + k] = (guint8) (i + k + tag);
      if (!mp_queue_put_bytes (q, g_bytes_new_take (buf, 8 + len), MP_TIMEOUT_INFINITE, NULL))
        return g_variant_new_int32 (91);
    }
  return g_variant_new_int32 (0);
}

/* Gets tagged items until a 4-byte item; each producer's items must come in order and whole.
 * Puts (sum, count) into the result queue. */
static GVariant *
fifo_checker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpQueue) q = queue_arg (args, fds);
  g_autoptr(GVariant) rh = g_variant_get_child_value (args, 1);
  g_autoptr(MpQueue) results = mp_queue_deserialize (rh, fds, NULL);
  gint32 last[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
  gint64 sum = 0, count = 0;

  if (q == NULL || results == NULL)
    return g_variant_new_int32 (90);
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GBytes) b = mp_queue_get_bytes (q, WAIT_LONG, &local_error);
      const guint8 *data;
      gsize size;
      gint32 tag, seq;

      if (b == NULL)
        {
          g_printerr ("fifo_checker: %s\n", local_error->message);
          return g_variant_new_int32 (92);
        }
      data = g_bytes_get_data (b, &size);
      if (size == 4)
        break;
      if (size < 8)
        return g_variant_new_int32 (93);
      memcpy (&tag, data, 4);
      memcpy (&seq, data + 4, 4);
      if (tag < 0 || tag >= 8 || seq <= last[tag])
        return g_variant_new_int32 (94);
      if (size != 8 + (gsize) ((seq * 37 + tag * 11) % 700))
        return g_variant_new_int32 (95);
      for (gsize k = 0; k + 8 < size; k++)
        if (data[8 + k] != (guint8) (seq + k + tag))
          return g_variant_new_int32 (96);
      last[tag] = seq;
      sum += seq;
      count++;
    }
  if (!mp_queue_put (results, g_variant_new ("(xx)", sum, count), MP_TIMEOUT_INFINITE, NULL))
    return g_variant_new_int32 (97);
  return g_variant_new_int32 (0);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_full_and_empty (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new (6, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = NULL;
  gint64 t0;

  assert_true (mp_queue_empty (q));
  for (int i = 0; i < 6; i++)
    assert_true (mp_queue_put_nowait (q, g_variant_new_int32 (i), NULL));
  assert_true (mp_queue_full (q));
  assert_false (mp_queue_put_nowait (q, g_variant_new_int32 (6), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_FULL));
  g_clear_error (&error);

  t0 = g_get_monotonic_time ();
  assert_false (mp_queue_put (q, g_variant_new_int32 (6), 200 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_FULL));
  assert_true (g_get_monotonic_time () - t0 >= 190 * 1000);
  assert_true (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  g_clear_error (&error);

  for (int i = 0; i < 6; i++)
    {
      g_autoptr(GVariant) item = mp_queue_get_nowait (q, NULL);
      assert_non_null (item);
      assert_int_equal (g_variant_get_int32 (item), i);
    }
  v = mp_queue_get_nowait (q, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_EMPTY));
  g_clear_error (&error);

  t0 = g_get_monotonic_time ();
  assert_null (mp_queue_get (q, 200 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_EMPTY));
  assert_true (g_get_monotonic_time () - t0 >= 190 * 1000);
}

static void
test_qsize (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
  g_autoptr(GVariant) a = NULL, b = NULL;

  assert_int_equal (mp_queue_qsize (q), 0);
  assert_true (mp_queue_put (q, g_variant_new_string ("one"), 0, NULL));
  assert_int_equal (mp_queue_qsize (q), 1);
  assert_true (mp_queue_put (q, g_variant_new ("(sai)", "two", NULL), 0, NULL));
  assert_int_equal (mp_queue_qsize (q), 2);
  a = mp_queue_get (q, 0, NULL);
  assert_int_equal (mp_queue_qsize (q), 1);
  b = mp_queue_get (q, 0, NULL);
  assert_int_equal (mp_queue_qsize (q), 0);
  assert_string_equal (g_variant_get_string (a, NULL), "one");
  assert_string_equal (g_variant_get_type_string (b), "(sai)");
}

static void
test_too_big_and_closed (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new_full (0, 4096, "small", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (8192);
  g_autoptr(GVariant) v = NULL;

  assert_false (mp_queue_put_bytes (q, g_bytes_new_static (big, 8192), 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  /* Still usable. */
  assert_true (mp_queue_put (q, g_variant_new_int32 (1), 0, NULL));
  v = mp_queue_get (q, 0, NULL);
  assert_int_equal (g_variant_get_int32 (v), 1);

  mp_queue_close (q);
  mp_queue_close (q);
  assert_false (mp_queue_put (q, g_variant_new_int32 (2), 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  assert_true (mp_queue_join_thread (q, NULL));
  mp_queue_cancel_join_thread (q);
}

static void
test_many_producers_consumers (void **state)
{
  enum { PRODUCERS = 3, CONSUMERS = 2, PER = 2000 };
  g_autoptr(MpQueue) q = mp_queue_new (100, NULL);
  g_autoptr(MpQueue) results = mp_queue_new (0, NULL);
  MpProcess *producers[PRODUCERS], *consumers[CONSUMERS];
  gint64 sum = 0, count = 0, want = 0;

  for (int c = 0; c < CONSUMERS; c++)
    {
      /* The results queue's descriptors follow the work queue's in the same list. */
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) cb = NULL;
      GVariant *args[2];

      args[0] = mp_queue_serialize (q, fds, NULL);
      args[1] = mp_queue_serialize (results, fds, NULL);
      cb = mp_callable_new_with_fds (consumer, g_variant_new_tuple (args, 2), fds);
      consumers[c] = mp_context_process_new (mp_get_context (method, NULL), cb);
      assert_true (mp_process_start (consumers[c], NULL));
    }
  for (int p = 0; p < PRODUCERS; p++)
    producers[p] = start_with_queue (producer, q, g_variant_new ("(ii)", p * PER, PER));
  for (int p = 0; p < PRODUCERS; p++)
    assert_int_equal (join_code (producers[p]), 0);
  for (int c = 0; c < CONSUMERS; c++)
    assert_true (mp_queue_put (q, g_variant_new_int32 (-1), MP_TIMEOUT_INFINITE, NULL));
  for (int c = 0; c < CONSUMERS; c++)
    assert_int_equal (join_code (consumers[c]), 0);
  for (int c = 0; c < CONSUMERS; c++)
    {
      g_autoptr(GVariant) r = mp_queue_get (results, WAIT_LONG, NULL);
      gint64 s, n;
      assert_non_null (r);
      g_variant_get (r, "(xx)", &s, &n);
      sum += s;
      count += n;
    }
  for (gint64 i = 0; i < PRODUCERS * PER; i++)
    want += i;
  assert_int_equal (count, PRODUCERS * PER);
  assert_int_equal (sum, want);
}

/* Producers and consumers at once on a small ring that wraps and fills: every item arrives
 * whole, once, and each producer's items in the order they were put. */
static void
test_fifo_per_producer (void **state)
{
  enum { PRODUCERS = 3, CONSUMERS = 2, PER = 3000 };
  g_autoptr(MpQueue) q = mp_queue_new_full (0, 16 * 1024, "fifo", NULL);
  g_autoptr(MpQueue) results = mp_queue_new (0, NULL);
  MpProcess *producers[PRODUCERS], *consumers[CONSUMERS];
  gint64 sum = 0, count = 0;

  for (int c = 0; c < CONSUMERS; c++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) cb = NULL;
      GVariant *args[2];

      args[0] = mp_queue_serialize (q, fds, NULL);
      args[1] = mp_queue_serialize (results, fds, NULL);
      cb = mp_callable_new_with_fds (fifo_checker, g_variant_new_tuple (args, 2), fds);
      consumers[c] = mp_context_process_new (mp_get_context (method, NULL), cb);
      assert_true (mp_process_start (consumers[c], NULL));
    }
  for (int p = 0; p < PRODUCERS; p++)
    producers[p] = start_with_queue (tagged_producer, q, g_variant_new ("(ii)", p, PER));
  for (int p = 0; p < PRODUCERS; p++)
    assert_int_equal (join_code (producers[p]), 0);
  for (int c = 0; c < CONSUMERS; c++)
    assert_true (mp_queue_put_bytes (q, g_bytes_new_static ("stop", 4), MP_TIMEOUT_INFINITE,
                                     NULL));
  for (int c = 0; c < CONSUMERS; c++)
    assert_int_equal (join_code (consumers[c]), 0);
  for (int c = 0; c < CONSUMERS; c++)
    {
      g_autoptr(GVariant) r = mp_queue_get (results, WAIT_LONG, NULL);
      gint64 s, n;
      assert_non_null (r);
      g_variant_get (r, "(xx)", &s, &n);
      sum += s;
      count += n;
    }
  assert_int_equal (count, PRODUCERS * PER);
  assert_int_equal (sum, (gint64) PRODUCERS * PER * (PER - 1) / 2);
  assert_int_equal (mp_queue_qsize (q), 0);
}

/* Python's join-before-get deadlock: a child that put more than a pipe holds and exits. */
static void
test_exit_after_put_no_deadlock (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
  MpProcess *p = start_with_queue (put_big_and_exit, q, NULL);

  assert_int_equal (join_code (p), 0);
  assert_int_equal (mp_queue_qsize (q), 8);
  for (int i = 0; i < 8; i++)
    {
      g_autoptr(GBytes) b = mp_queue_get_bytes (q, 0, NULL);
      assert_non_null (b);
      assert_int_equal (g_bytes_get_size (b), 256 * 1024);
      assert_int_equal (((const guint8 *) g_bytes_get_data (b, NULL))[1000], 'a' + i);
    }
}

static void
test_joinable (void **state)
{
  g_autoptr(MpQueue) q = mp_joinable_queue_new (0, NULL);
  g_autoptr(GError) error = NULL;
  MpProcess *workers[4];

  assert_false (mp_queue_task_done (q, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  for (int i = 0; i < 10; i++)
    assert_true (mp_queue_put (q, g_variant_new_int32 (i), 0, NULL));
  assert_false (mp_queue_join (q, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);

  for (int w = 0; w < 4; w++)
    workers[w] = start_with_queue (joinable_worker, q, NULL);
  for (int w = 0; w < 4; w++)
    assert_true (mp_queue_put (q, g_variant_new_int32 (-1), 0, NULL));
  assert_true (mp_queue_join (q, WAIT_LONG, &error));
  assert_null (error);
  for (int w = 0; w < 4; w++)
    assert_int_equal (join_code (workers[w]), 0);
  assert_int_equal (mp_queue_qsize (q), 0);
}

static void
test_wraparound_stream (void **state)
{
  const gint32 n = 20000;
  g_autoptr(MpQueue) q = mp_queue_new_full (0, 64 * 1024, "stream", NULL);
  MpProcess *p = start_with_queue (stream_sizes, q, g_variant_new ("(i)", n));
  GRand *rand = g_rand_new_with_seed (42);

  for (gint32 i = 0; i < n; i++)
    {
      g_autoptr(GBytes) b = mp_queue_get_bytes (q, WAIT_LONG, NULL);
      gsize len = (gsize) g_rand_int_range (rand, 0, 3000), size;
      const guint8 *data;
      gint32 seq;

      assert_non_null (b);
      data = g_bytes_get_data (b, &size);
      assert_int_equal (size, len + 4);
      memcpy (&seq, data, 4);
      assert_int_equal (seq, i);
      for (gsize k = 0; k < len; k += 97)
        assert_int_equal (data[4 + k], (guint8) (i + k));
    }
  g_rand_free (rand);
  assert_int_equal (join_code (p), 0);
}

static void
test_fds_travel (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) got = NULL;
  g_autoptr(GVariant) v = NULL;
  int pipefd[2], fd;
  char buf[8] = { 0 };

  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  assert_int_equal (g_unix_fd_list_append (fds, pipefd[1], NULL), 0);
  close (pipefd[1]);
  assert_true (mp_queue_put_with_fds (q, g_variant_new ("(sh)", "pipe", 0), fds, 0, NULL));
  g_clear_object (&fds);
  v = mp_queue_get_with_fds (q, &got, 0, NULL);
  assert_non_null (v);
  assert_non_null (got);
  fd = g_unix_fd_list_get (got, 0, NULL);
  assert_int_equal (write (fd, "hi", 2), 2);
  close (fd);
  g_clear_object (&got);
  assert_int_equal (read (pipefd[0], buf, sizeof buf), 2);
  assert_string_equal (buf, "hi");
  close (pipefd[0]);
}

static void
got_async (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GVariant **out = user_data;
  *out = mp_queue_get_finish (NULL, result, NULL);
}

static void
test_get_async (void **state)
{
  g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  GVariant *item = NULL;
  MpProcess *p;
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  g_main_context_push_thread_default (ctx);
  mp_queue_get_async (q, NULL, got_async, &item);
  p = start_with_queue (producer, q, g_variant_new ("(ii)", 77, 1));
  while (item == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  g_main_context_pop_thread_default (ctx);
  assert_non_null (item);
  assert_int_equal (g_variant_get_int32 (item), 77);
  g_variant_unref (item);
  assert_int_equal (join_code (p), 0);
}

static void
test_simple_queue (void **state)
{
  g_autoptr(MpQueue) q = mp_simple_queue_new (NULL);
  g_autoptr(GVariant) v = NULL;

  assert_true (mp_queue_empty (q));
  assert_true (mp_queue_put (q, g_variant_new_boolean (TRUE), MP_TIMEOUT_INFINITE, NULL));
  assert_false (mp_queue_empty (q));
  v = mp_queue_get (q, MP_TIMEOUT_INFINITE, NULL);
  assert_true (g_variant_get_boolean (v));
  mp_queue_close (q);
  assert_true (mp_queue_is_closed (q));
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_full_and_empty),
    cmocka_unit_test (test_qsize),
    cmocka_unit_test (test_too_big_and_closed),
    cmocka_unit_test (test_fds_travel),
    cmocka_unit_test (test_simple_queue),
    FOR_METHOD (test_many_producers_consumers, fork),
    FOR_METHOD (test_many_producers_consumers, spawn),
    FOR_METHOD (test_fifo_per_producer, fork),
    FOR_METHOD (test_exit_after_put_no_deadlock, fork),
    FOR_METHOD (test_exit_after_put_no_deadlock, spawn),
    FOR_METHOD (test_joinable, fork),
    FOR_METHOD (test_joinable, spawn),
    FOR_METHOD (test_wraparound_stream, fork),
    FOR_METHOD (test_wraparound_stream, spawn),
    FOR_METHOD (test_get_async, spawn),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("queue", tests, NULL, NULL);
}
