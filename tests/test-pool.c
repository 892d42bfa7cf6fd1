/* test-pool.c: the process Pool
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Task functions run in worker processes: they never assert. They report through their results,
 * their errors, or a pipe whose write end travels with the task (a callable's bound `h`).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)

static MpPool *
new_pool (gint processes)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(GError) error = NULL;
  MpPool *pool;

  o.processes = processes;
  o.context = mp_get_context (method, NULL);
  pool = mp_pool_new_full (&o, &error);
  assert_null (error);
  assert_non_null (pool);
  return pool;
}

static void
close_join (MpPool *pool)
{
  g_autoptr(GError) error = NULL;

  mp_pool_close (pool);
  assert_true (mp_pool_join (pool, WAIT_LONG, &error));
  assert_null (error);
}

static GVariant *
range_i (gint32 n)
{
  g_autofree gint32 *v = g_new (gint32, MAX (n, 1));

  for (gint32 i = 0; i < n; i++)
    v[i] = i;
  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, v, n, sizeof (gint32));
}

/* ---- task functions ------------------------------------------------------------------- */

static GVariant *
square (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) x = g_variant_get_child_value (args, 0);
  gint32 v = g_variant_get_int32 (x);
  return g_variant_new_int32 (v * v);
}

static GVariant *
identity (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_get_child_value (args, 0);
}

static GVariant *
add (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 a, b;
  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

/* (offset, x): x + offset, a bound argument first */
static GVariant *
add_offset (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 off, x;
  g_variant_get (args, "(ii)", &off, &x);
  return g_variant_new_int32 (off + x);
}

static GVariant *
shout (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *s;
  g_variant_get (args, "(&s)", &s);
  return g_variant_new_take_string (g_ascii_strup (s, -1));
}

static GVariant *
nothing (GVariant *args, GUnixFDList *fds, GError **error)
{
  return NULL;
}

static GVariant *
get_pid (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_new_int32 (getpid ());
}

/* (ms): sleeps, returns the pid */
static GVariant *
sleep_ms (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 ms;
  g_variant_get (args, "(i)", &ms);
  g_usleep ((gulong) ms * 1000);
  return g_variant_new_int32 (getpid ());
}

/* (x): fails for x == 3 with a domain of its own */
static GQuark
test_error_quark (void)
{
  return g_quark_from_static_string ("test-pool-error-quark");
}

static GVariant *
fail_on_3 (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 x;
  g_variant_get (args, "(i)", &x);
  if (x == 3)
    {
      g_set_error (error, test_error_quark (), 42, "item %d is bad", x);
      return NULL;
    }
  return g_variant_new_int32 (x);
}

/* (h fd, x): writes one byte to the pipe, then fails on 3 */
static GVariant *
note_and_fail_on_3 (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 h, x;
  int fd;

  g_variant_get (args, "(hi)", &h, &x);
  fd = g_unix_fd_list_get (fds, h, error);
  if (fd < 0)
    return NULL;
  if (write (fd, "x", 1) != 1)
    {
      close (fd);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "write");
      return NULL;
    }
  close (fd);
  if (x == 3)
    {
      g_set_error (error, test_error_quark (), 42, "item %d is bad", x);
      return NULL;
    }
  return g_variant_new_int32 (x);
}

/* (h fd, ms): writes its pid to the pipe, then sleeps */
static GVariant *
report_pid_and_sleep (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 h, ms;
  gint32 pid = getpid ();
  int fd;

  g_variant_get (args, "(hi)", &h, &ms);
  fd = g_unix_fd_list_get (fds, h, error);
  if (fd < 0)
    return NULL;
  if (write (fd, &pid, sizeof pid) != sizeof pid)
    {
      close (fd);
      return NULL;
    }
  close (fd);
  g_usleep ((gulong) ms * 1000);
  return g_variant_new_int32 (pid);
}

static int init_count;

static GVariant *
count_init (GVariant *args, GUnixFDList *fds, GError **error)
{
  init_count++;
  return NULL;
}

static GVariant *
pid_and_init_count (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_usleep (2000);
  return g_variant_new ("(ii)", getpid (), init_count);
}

static GVariant *
failing_init (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_set_error_literal (error, test_error_quark (), 7, "no database");
  return NULL;
}

/* A fork worker inherits the parent's pool object: using it must fail, not hang. */
static MpPool *inherited_pool;

static GVariant *
use_inherited_pool (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpCallable) f = mp_callable_new (get_pid, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  GError *local = NULL;
  gint32 code;

  res = mp_pool_apply_async_result (inherited_pool, f, NULL, NULL, NULL, NULL, NULL, &local);
  code = res == NULL && g_error_matches (local, MP_ERROR, MP_ERROR_INVALID_ARGUMENT) ? 1 : 0;
  g_clear_error (&local);
  mp_pool_close (inherited_pool);
  if (!mp_pool_join (inherited_pool, MP_TIMEOUT_INFINITE, &local))
    code += 1;
  g_clear_error (&local);
  return g_variant_new_int32 (code);
}

/* ---- batched functions: one call per chunk -------------------------------------------- */

/* (k, ai): k * x * x for each x */
static GVariant *
scaled_squares_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) factor = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 1);
  gint32 k = g_variant_get_int32 (factor);
  gsize n;
  const gint32 *x = g_variant_get_fixed_array (items, &n, sizeof (gint32));
  g_autofree gint32 *r = g_new (gint32, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    r[i] = k * x[i] * x[i];
  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, r, n, sizeof (gint32));
}

/* (as): each string in capitals */
static GVariant *
upper_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 0);
  GVariantBuilder b;
  GVariantIter iter;
  const char *word;

  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_iter_init (&iter, items);
  while (g_variant_iter_next (&iter, "&s", &word))
    {
      g_autofree char *up = g_utf8_strup (word, -1);
      g_variant_builder_add (&b, "s", up);
    }
  return g_variant_builder_end (&b);
}

/* (a(ii)): a + b for each pair; fails with code 42 when a pair is (3, 3) */
static GVariant *
add_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 0);
  gsize n = g_variant_n_children (items);
  g_autofree gint32 *r = g_new (gint32, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    {
      gint32 a, b;
      g_variant_get_child (items, i, "(ii)", &a, &b);
      if (a == 3 && b == 3)
        {
          g_set_error (error, test_error_quark (), 42, "pair %d is bad", a);
          return NULL;
        }
      r[i] = a + b;
    }
  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, r, n, sizeof (gint32));
}

/* (ai): one result too few */
static GVariant *
short_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 0);
  gsize n;
  const gint32 *x = g_variant_get_fixed_array (items, &n, sizeof (gint32));

  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, x, n > 0 ? n - 1 : 0, sizeof (gint32));
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_invalid_processes (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpPool) p0 = mp_pool_new (0, &error);
  g_autoptr(MpPool) pm = NULL;
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;

  assert_null (p0);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  pm = mp_pool_new (-1, &error);
  assert_null (pm);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  o.processes = 2;
  o.maxtasksperchild = -3;
  assert_null (mp_pool_new_full (&o, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
}

static void
test_default_processes (void **state)
{
  g_autoptr(MpPool) pool = mp_pool_new (MP_POOL_DEFAULT_PROCESSES, NULL);

  assert_non_null (pool);
  assert_int_equal (mp_pool_get_processes (pool), mp_cpu_count ());
  close_join (pool);
}

/* map, starmap, apply, imap, imap_unordered against the serial results */
static void
test_results_equal_serial (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpCallable) ad = mp_callable_new (add, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GVariant) pairs = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  GVariantBuilder b;
  const gint32 *r;
  gsize n;
  gint64 sum = 0, expect = 0;
  GVariant *v;

  res = mp_pool_map (pool, sq, range_i (1000), 0, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (res), "ai");
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 1000);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (i * i));
  g_clear_pointer (&res, g_variant_unref);

  /* chunksize 1 and 7 give the same */
  res = mp_pool_map (pool, sq, range_i (100), 7, &error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 100);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (i * i));
  g_clear_pointer (&res, g_variant_unref);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ii)"));
  for (gint32 i = 0; i < 300; i++)
    g_variant_builder_add (&b, "(ii)", i, 2 * i);
  pairs = g_variant_ref_sink (g_variant_builder_end (&b));
  res = mp_pool_starmap (pool, ad, pairs, 0, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 300);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (3 * i));
  g_clear_pointer (&res, g_variant_unref);

  res = mp_pool_apply (pool, ad, g_variant_new ("(ii)", 20, 22), &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (res), 42);
  g_clear_pointer (&res, g_variant_unref);

  /* imap, chunksize 100 over 1000 items: in order */
  it = mp_pool_imap (pool, sq, range_i (1000), 100, &error);
  assert_non_null (it);
  for (gint32 i = 0; i < 1000; i++)
    {
      assert_true (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
      assert_int_equal (g_variant_get_int32 (v), i * i);
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_null (error);
  assert_null (v);
  g_clear_pointer (&it, mp_imap_iterator_unref);

  /* imap_unordered, as a multiset: the sum and the count */
  it = mp_pool_imap_unordered (pool, sq, range_i (1000), 7, &error);
  assert_non_null (it);
  for (gint32 i = 0; i < 1000; i++)
    {
      assert_true (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
      sum += g_variant_get_int32 (v);
      expect += (gint64) i * i;
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_null (error);
  assert_int_equal (sum, expect);

  close_join (pool);
}

/* A batched callable gives what the per-item function gives, through every map form. */
static void
test_batched (void **state)
{
  const char *words[] = { "alpha", "beta", "", "gamma delta", "épsilon", "z" };
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) sq = mp_callable_new_batched (scaled_squares_batch,
                                                      g_variant_new ("(i)", 3));
  g_autoptr(MpCallable) up = mp_callable_new_batched (upper_batch, NULL);
  g_autoptr(MpCallable) ad = mp_callable_new_batched (add_batch, NULL);
  g_autoptr(MpCallable) bad = mp_callable_new_batched (short_batch, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GVariant) pairs = NULL;
  g_autoptr(GVariant) strv = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  GVariantBuilder b;
  const gint32 *r;
  gsize n;
  GVariant *v;

  res = mp_pool_map (pool, sq, range_i (1000), 0, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (res), "ai");
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 1000);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (3 * i * i));
  g_clear_pointer (&res, g_variant_unref);

  /* chunks of 7, the last one shorter; and a chunk of one */
  res = mp_pool_map (pool, sq, range_i (100), 7, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 100);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (3 * i * i));
  g_clear_pointer (&res, g_variant_unref);
  res = mp_pool_map (pool, sq, range_i (1), 0, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 1);
  assert_int_equal (r[0], 0);
  g_clear_pointer (&res, g_variant_unref);

  /* values of varying size */
  strv = g_variant_ref_sink (g_variant_new_strv (words, G_N_ELEMENTS (words)));
  res = mp_pool_map (pool, up, strv, 2, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (res), "as");
  assert_int_equal (g_variant_n_children (res), G_N_ELEMENTS (words));
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++)
    {
      g_autofree char *want = g_utf8_strup (words[i], -1);
      const char *got;
      g_variant_get_child (res, i, "&s", &got);
      assert_string_equal (got, want);
    }
  g_clear_pointer (&res, g_variant_unref);

  /* starmap hands over the argument tuples; apply is a chunk of one */
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ii)"));
  for (gint32 i = 0; i < 300; i++)
    g_variant_builder_add (&b, "(ii)", i, 2 * i + 1);
  pairs = g_variant_ref_sink (g_variant_builder_end (&b));
  res = mp_pool_starmap (pool, ad, pairs, 0, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 300);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (3 * i + 1));
  g_clear_pointer (&res, g_variant_unref);
  res = mp_pool_apply (pool, ad, g_variant_new ("(ii)", 20, 22), &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (res), 42);
  g_clear_pointer (&res, g_variant_unref);

  /* imap, chunksize 100 over 1000 items: in order */
  it = mp_pool_imap (pool, sq, range_i (1000), 100, &error);
  assert_non_null (it);
  for (gint32 i = 0; i < 1000; i++)
    {
      assert_true (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
      assert_int_equal (g_variant_get_int32 (v), 3 * i * i);
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_null (error);

  /* A batch that fails fails its chunk, with its own error; one that returns the wrong
   * number of results is an error too; the pool goes on working. */
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ii)"));
  for (gint32 i = 0; i < 10; i++)
    g_variant_builder_add (&b, "(ii)", i, i);
  res = mp_pool_starmap (pool, ad, g_variant_builder_end (&b), 2, &error);
  assert_null (res);
  assert_true (g_error_matches (error, test_error_quark (), 42));
  g_clear_error (&error);
  res = mp_pool_map (pool, bad, range_i (10), 5, &error);
  assert_null (res);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_non_null (strstr (error->message, "batched function must return an array of 5"));
  g_clear_error (&error);
  res = mp_pool_map (pool, sq, range_i (10), 0, &error);
  assert_null (error);
  assert_int_equal (g_variant_n_children (res), 10);

  close_join (pool);
}

static void
test_types_and_none (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) up = mp_callable_new (shout, NULL);
  g_autoptr(MpCallable) none = mp_callable_new (nothing, NULL);
  g_autoptr(MpCallable) off = mp_callable_new (add_offset, g_variant_new ("(i)", 1000));
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpCallable) ad = mp_callable_new (add, NULL);
  const char *words[] = { "alpha", "beta", "", "gamma delta", "épsilon" };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  const gint32 *r;
  gsize n;

  /* variable-size items and results, split over chunks */
  res = mp_pool_map (pool, up, g_variant_new_strv (words, G_N_ELEMENTS (words)), 2, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (res), "as");
  assert_int_equal (g_variant_n_children (res), 5);
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++)
    {
      g_autofree char *want = g_ascii_strup (words[i], -1);
      const char *got;
      g_variant_get_child (res, i, "&s", &got);
      assert_string_equal (got, want);
    }
  g_clear_pointer (&res, g_variant_unref);

  /* None: apply gives NULL, a map gives units */
  res = mp_pool_apply (pool, none, NULL, &error);
  assert_null (error);
  assert_null (res);
  res = mp_pool_map (pool, none, range_i (3), 1, &error);
  assert_string_equal (g_variant_get_type_string (res), "a()");
  g_clear_pointer (&res, g_variant_unref);

  /* bound arguments come first, as functools.partial */
  res = mp_pool_map (pool, off, range_i (10), 3, &error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 10);
  assert_int_equal (r[9], 1009);
  g_clear_pointer (&res, g_variant_unref);

  /* a tuple is an iterable too; a non-container is an error, not a crash */
  res = mp_pool_map (pool, sq, g_variant_new ("(ii)", 2, 3), 0, &error);
  assert_null (error);
  assert_int_equal (g_variant_n_children (res), 2);
  g_clear_pointer (&res, g_variant_unref);
  assert_null (mp_pool_map (pool, up, g_variant_new_int32 (5), 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_null (mp_pool_starmap (pool, up, range_i (3), 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_null (mp_pool_map (pool, up, range_i (3), -1, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_null (mp_pool_imap (pool, up, range_i (3), 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_null (mp_pool_apply (pool, up, g_variant_new_int32 (1), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  /* starmap over variants: each must hold a tuple; a dict's entries are (key, value) pairs */
  assert_null (mp_pool_starmap (pool, ad, g_variant_new_parsed ("[<(1, 2)>, <(3, 4)>, <'bad'>]"),
                                1, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_non_null (strstr (error->message, "item 2"));
  g_clear_error (&error);
  res = mp_pool_starmap (pool, ad, g_variant_new_parsed ("@a{ii} {1: 10, 2: 20}"), 0, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 2);
  assert_int_equal (r[0] + r[1], 33);
  g_clear_pointer (&res, g_variant_unref);

  close_join (pool);
}

static void
test_empty_input (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  GVariant *v = NULL;
  gint64 t0 = g_get_monotonic_time ();

  res = mp_pool_map (pool, sq, range_i (0), 0, &error);
  assert_null (error);
  assert_non_null (res);
  assert_int_equal (g_variant_n_children (res), 0);
  it = mp_pool_imap (pool, sq, range_i (0), 1, &error);
  assert_false (mp_imap_iterator_next (it, &v, 0, &error));
  assert_null (error);
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC / 10);
  close_join (pool);
}

static void
test_get_timeout_and_state (void **state)
{
  g_autoptr(MpPool) pool = new_pool (1);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  GVariant *item = NULL;
  gint64 t0;

  res = mp_pool_apply_async_result (pool, sl, g_variant_new ("(i)", 400), NULL, NULL, NULL, NULL,
                                    &error);
  assert_non_null (res);
  t0 = g_get_monotonic_time ();
  assert_null (mp_async_result_get (res, 50 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  assert_true (g_get_monotonic_time () - t0 < 300 * 1000);
  g_clear_error (&error);
  assert_false (mp_async_result_ready (res));
  assert_false (mp_async_result_successful (res, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_async_result_wait (res, 0));

  /* next with a timeout, Python's next(timeout) */
  it = mp_pool_imap (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32,
                                                          (gint32[]) { 300 }, 1, 4), 1, &error);
  assert_false (mp_imap_iterator_next (it, &item, 10 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);

  v = mp_async_result_get (res, WAIT_LONG, &error);
  assert_null (error);
  assert_true (mp_async_result_ready (res));
  assert_true (mp_async_result_successful (res, NULL));
  assert_true (mp_imap_iterator_next (it, &item, WAIT_LONG, &error));
  g_variant_unref (item);

  /* join before close is an error; submitting after close is one too */
  assert_false (mp_pool_join (pool, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  mp_pool_close (pool);
  assert_null (mp_pool_apply_async_result (pool, sl, g_variant_new ("(i)", 1), NULL, NULL, NULL,
                                           NULL, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  g_clear_error (&error);
  assert_true (mp_pool_join (pool, WAIT_LONG, &error));
  assert_true (mp_pool_join (pool, WAIT_LONG, &error));
}

typedef struct
{
  int      values;
  int      errors;
  gint32   value;
  GQuark   domain;
  int      code;
  char    *message;
  gboolean destroyed;
} CallbackLog;

static void
on_value (GVariant *value, gpointer user_data)
{
  CallbackLog *log = user_data;
  log->values++;
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    log->value = g_variant_get_int32 (value);
}

static void
on_error (const GError *error, gpointer user_data)
{
  CallbackLog *log = user_data;
  log->errors++;
  log->domain = error->domain;
  log->code = error->code;
  g_free (log->message);
  log->message = g_strdup (error->message);
}

static void
on_destroy (gpointer user_data)
{
  ((CallbackLog *) user_data)->destroyed = TRUE;
}

static void
test_callbacks_and_errors (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) f3 = mp_callable_new (fail_on_3, NULL);
  g_autoptr(MpAsyncResult) ok = NULL;
  g_autoptr(MpAsyncResult) bad = NULL;
  g_autoptr(MpAsyncResult) mapped = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = NULL;
  CallbackLog a = { 0 }, b = { 0 }, c = { 0 };

  ok = mp_pool_apply_async_result (pool, f3, g_variant_new ("(i)", 5), on_value, on_error, &a,
                                   on_destroy, &error);
  bad = mp_pool_apply_async_result (pool, f3, g_variant_new ("(i)", 3), on_value, on_error, &b,
                                    NULL, &error);
  mapped = mp_pool_map_async_result (pool, f3, range_i (10), 2, on_value, on_error, &c, NULL,
                                     &error);
  /* No main loop runs: get() runs the callbacks itself. */
  v = mp_async_result_get (ok, WAIT_LONG, &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (v), 5);
  assert_int_equal (a.values, 1);
  assert_int_equal (a.value, 5);
  assert_int_equal (a.errors, 0);

  assert_null (mp_async_result_get (bad, WAIT_LONG, &error));
  /* the task's error crosses back intact */
  assert_true (g_error_matches (error, test_error_quark (), 42));
  assert_string_equal (error->message, "item 3 is bad");
  g_clear_error (&error);
  assert_int_equal (b.errors, 1);
  assert_int_equal (b.values, 0);
  assert_true (b.domain == test_error_quark ());
  assert_int_equal (b.code, 42);
  assert_string_equal (b.message, "item 3 is bad");
  assert_false (mp_async_result_successful (bad, NULL));

  assert_false (mp_async_result_wait (mapped, 0) && FALSE);
  assert_null (mp_async_result_get (mapped, WAIT_LONG, &error));
  assert_true (g_error_matches (error, test_error_quark (), 42));
  assert_int_equal (c.errors, 1);
  assert_int_equal (c.values, 0);

  close_join (pool);
  g_clear_pointer (&ok, mp_async_result_unref);
  assert_true (a.destroyed);
  g_free (a.message);
  g_free (b.message);
  g_free (c.message);
}

/* Python's map reports its first error only after every chunk ran. */
static void
test_map_fails_after_all_chunks (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) f = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  int p[2];
  char buf[64];
  ssize_t n, total = 0;
  GVariant *v;
  gint32 expect = 0;

  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  f = mp_callable_new_with_fds (note_and_fail_on_3,
                                g_variant_new ("(h)", g_unix_fd_list_append (fds, p[1], NULL)),
                                fds);
  close (p[1]);
  assert_null (mp_pool_map (pool, f, range_i (20), 1, &error));
  assert_true (g_error_matches (error, test_error_quark (), 42));
  g_clear_error (&error);
  (void) fcntl (p[0], F_SETFL, O_NONBLOCK);
  while ((n = read (p[0], buf, sizeof buf)) > 0)
    total += n;
  assert_int_equal (total, 20);

  /* imap: the error at its position, the others around it */
  it = mp_pool_imap (pool, f, range_i (6), 1, &error);
  for (gint32 i = 0; i < 6; i++)
    {
      gboolean got = mp_imap_iterator_next (it, &v, WAIT_LONG, &error);
      if (i == 3)
        {
          assert_false (got);
          assert_true (g_error_matches (error, test_error_quark (), 42));
          g_clear_error (&error);
          continue;
        }
      assert_true (got);
      assert_int_equal (g_variant_get_int32 (v), i);
      expect += i;
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_null (error);
  close (p[0]);
  close_join (pool);
}

static void
test_maxtasksperchild (void **state)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) gp = mp_callable_new (get_pid, NULL);
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GHashTable) pids = g_hash_table_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  MpPoolCounters counters;
  const gint32 *r;
  gsize n;

  o.processes = 2;
  o.maxtasksperchild = 10;
  o.context = mp_get_context (method, NULL);
  pool = mp_pool_new_full (&o, &error);
  assert_non_null (pool);
  res = mp_pool_map (pool, gp, range_i (100), 1, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 100);
  for (gsize i = 0; i < n; i++)
    g_hash_table_add (pids, GINT_TO_POINTER (r[i]));
  /* each worker ran at most 10 tasks */
  assert_true (g_hash_table_size (pids) >= 10);
  mp_pool_get_counters (pool, &counters);
  assert_true (counters.replaced_workers >= 8);
  assert_int_equal (counters.completed, 100);
  close_join (pool);
}

static void
test_initializer_once_per_worker (void **state)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) init = mp_callable_new (count_init, NULL);
  g_autoptr(MpCallable) f = mp_callable_new (pid_and_init_count, NULL);
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) pids = NULL;
  gsize n;

  o.processes = 3;
  o.initializer = init;
  o.context = mp_get_context (method, NULL);
  pool = mp_pool_new_full (&o, &error);
  assert_non_null (pool);
  res = mp_pool_map (pool, f, range_i (60), 1, &error);
  assert_null (error);
  n = g_variant_n_children (res);
  assert_int_equal (n, 60);
  pids = mp_pool_dup_worker_pids (pool);
  for (gsize i = 0; i < n; i++)
    {
      gint32 pid, count;
      gboolean known = FALSE;

      g_variant_get_child (res, i, "(ii)", &pid, &count);
      assert_int_equal (count, 1);
      for (guint k = 0; k < pids->len; k++)
        known |= g_array_index (pids, gint32, k) == pid;
      assert_true (known);
    }
  close_join (pool);
}

static void
test_initializer_fails (void **state)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) init = mp_callable_new (failing_init, NULL);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;

  o.processes = 2;
  o.initializer = init;
  o.context = mp_get_context (method, NULL);
  pool = mp_pool_new_full (&o, &error);
  assert_non_null (pool);
  /* Python restarts the workers for ever; here the map fails with the initializer's error. */
  res = mp_pool_map (pool, sq, range_i (10), 1, &error);
  assert_null (res);
  assert_non_null (error);
  assert_true (g_error_matches (error, test_error_quark (), 7));
  close_join (pool);
}

static void
test_terminate_many_pending (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  g_autoptr(MpAsyncResult) one = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gint32 *ms = g_new (gint32, 10000);
  gint64 t0;

  for (int i = 0; i < 10000; i++)
    ms[i] = 10000;
  res = mp_pool_map_async_result (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ms,
                                                                       10000, 4),
                                  1, NULL, NULL, NULL, NULL, &error);
  one = mp_pool_apply_async_result (pool, sl, g_variant_new ("(i)", 10000), NULL, NULL, NULL,
                                    NULL, &error);
  assert_false (mp_async_result_wait (res, 100 * 1000));
  t0 = g_get_monotonic_time ();
  mp_pool_terminate (pool);
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  assert_null (mp_async_result_get (res, G_USEC_PER_SEC, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  g_clear_error (&error);
  assert_null (mp_async_result_get (one, G_USEC_PER_SEC, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  g_clear_error (&error);
  assert_true (mp_pool_join (pool, WAIT_LONG, &error));
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
}

typedef struct
{
  MpPool   *pool;
  GMutex    lock;
  GCond     cond;
  gboolean  done;
  GVariant *result;
  GError   *error;
} MapInThread;

static gpointer
map_in_thread (gpointer data)
{
  MapInThread *m = data;
  g_autoptr(MpCallable) id = mp_callable_new (identity, NULL);
  GError *error = NULL;
  GVariant *result = mp_pool_map (m->pool, id, range_i (200000), 1, &error);

  g_mutex_lock (&m->lock);
  m->result = result;
  m->error = error;
  m->done = TRUE;
  g_cond_signal (&m->cond);
  g_mutex_unlock (&m->lock);
  return NULL;
}

/* Runs a map of 200 000 one-item chunks in a thread, waits until its first chunks are queued,
 * calls @action (close or terminate) on the pool, and waits for the map to return. */
static void
map_then (MapInThread *m, void (*action) (MpPool *pool))
{
  MpPoolCounters c = { 0 };
  GThread *thread;
  gint64 deadline;

  m->pool = new_pool (2);
  g_mutex_init (&m->lock);
  g_cond_init (&m->cond);
  thread = g_thread_new ("map", map_in_thread, m);
  deadline = g_get_monotonic_time () + WAIT_LONG;
  do
    {
      mp_pool_get_counters (m->pool, &c);
      g_thread_yield ();
    }
  while (c.submitted == 0 && g_get_monotonic_time () < deadline);
  assert_true (c.submitted > 0);
  action (m->pool);

  g_mutex_lock (&m->lock);
  while (!m->done && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&m->cond, &m->lock, deadline);
  g_mutex_unlock (&m->lock);
  assert_true (m->done);
  g_thread_join (thread);
  g_mutex_clear (&m->lock);
  g_cond_clear (&m->cond);
}

static void
map_in_thread_clear (MapInThread *m)
{
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&m->result, g_variant_unref);
  g_clear_error (&m->error);
  assert_true (mp_pool_join (m->pool, WAIT_LONG, &error));
  g_object_unref (m->pool);
}

/* A map queues its chunks a batch at a time: a terminate between two batches must end the
 * map (with MP_ERROR_CLOSED, or with all its results if it was quicker), never leave it
 * waiting for chunks that were never queued. */
static void
test_terminate_during_submit (void **state)
{
  MapInThread m = { 0 };

  map_then (&m, mp_pool_terminate);
  if (m.result != NULL)
    assert_int_equal (g_variant_n_children (m.result), 200000);
  else
    assert_true (g_error_matches (m.error, MP_ERROR, MP_ERROR_CLOSED));
  map_in_thread_clear (&m);
}

/* close() while a map still queues its chunks: the map was accepted before the close, so all
 * of it runs (as in Python), even if the queue runs empty between two of its batches. */
static void
test_close_during_submit (void **state)
{
  MapInThread m = { 0 };

  map_then (&m, mp_pool_close);
  assert_null (m.error);
  assert_non_null (m.result);
  assert_int_equal (g_variant_n_children (m.result), 200000);
  map_in_thread_clear (&m);
}

static gint32
read_pid (int fd)
{
  gint32 pid = 0;
  assert_true (g_get_monotonic_time () > 0);
  assert_int_equal (read (fd, &pid, sizeof pid), sizeof pid);
  return pid;
}

/* Python hangs for ever here (bpo-22393). */
static void
test_worker_killed (void **state)
{
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) victim = NULL;
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpAsyncResult) dead = NULL;
  g_autoptr(MpAsyncResult) others = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = NULL;
  g_autoptr(GArray) before = NULL;
  g_autoptr(GArray) after = NULL;
  g_autofree char *pidstr = NULL;
  MpPoolCounters counters;
  gint32 ms[20];
  gint32 pid;
  int p[2];

  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  victim = mp_callable_new_with_fds (report_pid_and_sleep,
                                     g_variant_new ("(h)", g_unix_fd_list_append (fds, p[1], NULL)),
                                     fds);
  close (p[1]);
  before = mp_pool_dup_worker_pids (pool);

  dead = mp_pool_apply_async_result (pool, victim, g_variant_new ("(i)", 20000), NULL, NULL, NULL,
                                     NULL, &error);
  for (int i = 0; i < 20; i++)
    ms[i] = 5;
  others = mp_pool_map_async_result (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ms,
                                                                          20, 4),
                                     1, NULL, NULL, NULL, NULL, &error);
  pid = read_pid (p[0]);
  assert_int_equal (kill (pid, SIGKILL), 0);

  assert_null (mp_async_result_get (dead, WAIT_LONG, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_WORKER_DIED));
  pidstr = g_strdup_printf ("pid %d", pid);
  assert_non_null (strstr (error->message, pidstr));
  assert_non_null (strstr (error->message, "SIGKILL"));
  g_clear_error (&error);

  /* the other tasks complete, the pool keeps working with a new worker */
  g_clear_pointer (&v, g_variant_unref);
  v = mp_async_result_get (others, WAIT_LONG, &error);
  assert_null (error);
  assert_int_equal (g_variant_n_children (v), 20);
  g_clear_pointer (&v, g_variant_unref);
  v = mp_pool_map (pool, sq, range_i (50), 0, &error);
  assert_null (error);
  assert_int_equal (g_variant_n_children (v), 50);
  mp_pool_get_counters (pool, &counters);
  assert_int_equal (counters.replaced_workers, 1);
  assert_true (counters.failed >= 1);
  after = mp_pool_dup_worker_pids (pool);
  assert_int_equal (after->len, 2);
  for (guint i = 0; i < after->len; i++)
    assert_int_not_equal (g_array_index (after, gint32, i), pid);
  close (p[0]);
  close_join (pool);
}

static void
test_task_timeout (void **state)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = NULL;
  MpPoolCounters counters;
  gint64 t0;

  o.processes = 1;
  o.task_timeout_us = 300 * 1000;
  o.context = mp_get_context (method, NULL);
  pool = mp_pool_new_full (&o, &error);
  assert_non_null (pool);
  t0 = g_get_monotonic_time ();
  assert_null (mp_pool_apply (pool, sl, g_variant_new ("(i)", 20000), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  assert_true (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  g_clear_error (&error);
  /* the stuck worker was replaced; a short task fits in the limit */
  v = mp_pool_apply (pool, sl, g_variant_new ("(i)", 1), &error);
  assert_null (error);
  assert_non_null (v);
  mp_pool_get_counters (pool, &counters);
  assert_int_equal (counters.replaced_workers, 1);
  /* per call: no limit from now on */
  mp_pool_set_task_timeout (pool, MP_TIMEOUT_INFINITE);
  g_clear_pointer (&v, g_variant_unref);
  v = mp_pool_apply (pool, sl, g_variant_new ("(i)", 400), &error);
  assert_null (error);
  close_join (pool);
}

static void
on_map_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GVariant **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = mp_pool_map_finish (MP_POOL (source), result, &error);
  if (*out == NULL)
    *out = g_variant_ref_sink (g_variant_new_string (error->message));
}

static gboolean
quit_when_set (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
on_cancelled_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GError **out = user_data;
  g_autoptr(GVariant) v = mp_pool_map_finish (MP_POOL (source), result, out);
  if (v != NULL)
    g_set_error_literal (out, MP_ERROR, MP_ERROR_FAILED, "not cancelled");
}

/* The GIO form completes on the main loop while it keeps running. */
static void
test_gio_map (void **state)
{
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) cancel_error = NULL;
  g_autoptr(GVariant) cancel_done = NULL;
  GVariant *result = NULL;
  gint64 deadline;
  int iterations = 0;
  gint32 ms[40];

  g_main_context_push_thread_default (ctx);
  pool = new_pool (2);
  mp_pool_map_async (pool, sq, range_i (500), 0, NULL, on_map_done, &result);
  deadline = g_get_monotonic_time () + WAIT_LONG;
  while (result == NULL && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (ctx, TRUE);
      iterations++;
    }
  assert_non_null (result);
  assert_string_equal (g_variant_get_type_string (result), "ai");
  assert_int_equal (g_variant_n_children (result), 500);
  g_variant_unref (result);

  /* cancelling drops the chunks not started */
  for (int i = 0; i < 40; i++)
    ms[i] = 50;
  mp_pool_map_async (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ms, 40, 4), 1,
                     cancellable, on_cancelled_done, &cancel_error);
  g_cancellable_cancel (cancellable);
  deadline = g_get_monotonic_time () + WAIT_LONG;
  while (cancel_error == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  assert_true (g_error_matches (cancel_error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  (void) quit_when_set;
  (void) cancel_done;

  close_join (pool);
  g_main_context_pop_thread_default (ctx);
}

/* Callbacks run on the pool's context when a loop runs it. */
static void
test_callbacks_on_main_loop (void **state)
{
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  CallbackLog log = { 0 };
  gint64 deadline;

  g_main_context_push_thread_default (ctx);
  pool = new_pool (2);
  res = mp_pool_apply_async_result (pool, sq, g_variant_new ("(i)", 9), on_value, on_error, &log,
                                    NULL, NULL);
  deadline = g_get_monotonic_time () + WAIT_LONG;
  while (log.values == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  assert_int_equal (log.values, 1);
  assert_int_equal (log.value, 81);
  close_join (pool);
  g_main_context_pop_thread_default (ctx);
}

static void
test_counters_and_events (void **state)
{
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(MpPool) pool = new_pool (2);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(GVariant) v = NULL;
  g_autoptr(MpAsyncResult) res = NULL;
  MpPoolCounters counters;
  MpTraceEvent events[512];
  guint64 lost;
  guint n, submitted = 0, started = 0, finished = 0;
  guint64 done, total;
  GHashTable *started_pids = g_hash_table_new (NULL, NULL);

  mp_trace_set_level (MP_TRACE_NORMAL);
  res = mp_pool_map_async_result (pool, sq, range_i (40), 4, NULL, NULL, NULL, NULL, NULL);
  v = mp_async_result_get (res, WAIT_LONG, NULL);
  assert_non_null (v);
  assert_true (mp_async_result_get_progress (res, &done, &total) == 1.0);
  assert_int_equal (done, 40);
  assert_int_equal (total, 40);
  mp_pool_get_counters (pool, &counters);
  assert_int_equal (counters.workers, 2);
  assert_int_equal (counters.submitted, 10);
  assert_int_equal (counters.completed, 10);
  assert_int_equal (counters.failed, 0);
  close_join (pool);

  while ((n = mp_trace_reader_read (reader, events, G_N_ELEMENTS (events), &lost)) > 0)
    for (guint i = 0; i < n; i++)
      {
        if (events[i].object != mp_pool_get_id (pool))
          continue;
        switch (events[i].type)
          {
          case MP_EVENT_TASK_SUBMITTED:
            /* a map's chunks are submitted together: one event for the ten */
            assert_int_equal (events[i].b, 10);
            submitted += (guint) events[i].b;
            break;
          case MP_EVENT_TASK_STARTED:
            started++;
            g_hash_table_add (started_pids, GINT_TO_POINTER ((int) events[i].b));
            assert_int_equal (events[i].b, events[i].pid);
            break;
          case MP_EVENT_TASK_FINISHED:
            finished++;
            assert_true (events[i].b >= 0);
            break;
          default:
            break;
          }
      }
  assert_int_equal (submitted, 10);
  assert_int_equal (started, 10);
  assert_int_equal (finished, 10);
  g_hash_table_unref (started_pids);
}

static void
test_slowmo (void **state)
{
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(GVariant) v = NULL;
  gint64 t0;

  g_setenv ("LIBMP_SLOWMO", "30", TRUE);
  pool = new_pool (2);
  g_unsetenv ("LIBMP_SLOWMO");
  t0 = g_get_monotonic_time ();
  v = mp_pool_map (pool, sq, range_i (5), 1, NULL);
  assert_non_null (v);
  /* one task every 30 ms: at least four gaps */
  assert_true (g_get_monotonic_time () - t0 >= 4 * 30 * 1000);
  close_join (pool);
}

static void
test_unref_terminates (void **state)
{
  MpPool *pool = new_pool (2);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) pids = mp_pool_dup_worker_pids (pool);
  gint64 t0;

  res = mp_pool_apply_async_result (pool, sl, g_variant_new ("(i)", 10000), NULL, NULL, NULL,
                                    NULL, NULL);
  t0 = g_get_monotonic_time ();
  g_object_unref (pool);
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  assert_null (mp_async_result_get (res, G_USEC_PER_SEC, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  for (guint i = 0; i < pids->len; i++)
    assert_true (kill (g_array_index (pids, gint32, i), 0) < 0);
}

static void
test_pool_in_child (void **state)
{
  g_autoptr(MpCallable) f = mp_callable_new (use_inherited_pool, NULL);
  g_autoptr(GVariant) v = NULL;
  g_autoptr(GError) error = NULL;

  g_autoptr(MpPool) runner = NULL;

  /* The workers of the second pool are forked with the first one in a global. */
  inherited_pool = new_pool (1);
  runner = new_pool (1);
  v = mp_pool_apply (runner, f, NULL, &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (v), 2);
  close_join (runner);
  close_join (inherited_pool);
  g_clear_object (&inherited_pool);
}

/*
 * The helper (this program with --orphans-helper METHOD HOW) makes a pool, prints its two
 * worker pids and waits; the test then kills it with SIGINT and expects the workers gone.
 * HOW is where the workers came from, since that decides how they learn of their parent's end:
 * "main" (forked by the main thread), "thread" (by a thread that ended before the pids were
 * printed; a task ran after it ended, and the pids are those it started) or "replaced"
 * (worker 0 was killed, and its replacement was forked by the pool thread).
 */
static GPid orphans_helper_pid;

/* A failed check leaves the helper running: it must not outlive the test. */
static int
teardown_orphans_helper (void **state)
{
  if (orphans_helper_pid > 0)
    {
      kill (orphans_helper_pid, SIGKILL);
      (void) waitpid (orphans_helper_pid, NULL, 0);
      orphans_helper_pid = 0;
    }
  return 0;
}

static void
no_orphans (const char *how)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { exe, "--orphans-helper", method, how, NULL };
  g_autoptr(GError) error = NULL;
  GPid helper;
  int out_fd;
  char buf[256] = { 0 };
  gsize len = 0;
  gint32 pids[2];
  int status;

  assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                         NULL, NULL, &helper, NULL, &out_fd, NULL, &error));
  orphans_helper_pid = helper;
  while (len < sizeof buf - 1)
    {
      ssize_t n = read (out_fd, buf + len, sizeof buf - 1 - len);
      if (n <= 0)
        break;
      len += (gsize) n;
      if (memchr (buf, '\n', len))
        break;
    }
  close (out_fd);
  assert_int_equal (sscanf (buf, "%d %d", &pids[0], &pids[1]), 2);
  assert_false (test_wait_pid_exited (pids[0], 0));
  assert_false (test_wait_pid_exited (pids[1], 0));
  assert_int_equal (kill (helper, SIGINT), 0);
  assert_int_equal (waitpid (helper, &status, 0), helper);
  orphans_helper_pid = 0;
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGINT);
  assert_true (test_wait_pid_exited (pids[0], 5000));
  assert_true (test_wait_pid_exited (pids[1], 5000));
}

static void
test_sigint_no_orphans (void **state)
{
  no_orphans ("main");
}

static void
test_no_orphans_from_ended_thread (void **state)
{
  no_orphans ("thread");
}

static void
test_no_orphans_after_replacement (void **state)
{
  no_orphans ("replaced");
}

static GArray *first_pids;

static gpointer
new_pool_in_thread (gpointer data)
{
  MpPool *pool = mp_pool_new_full (data, NULL);

  if (pool != NULL)
    first_pids = mp_pool_dup_worker_pids (pool);
  return pool;
}

static int
orphans_helper (const char *m, const char *how)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  MpPool *pool;
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(GVariant) pid = NULL;
  GArray *pids;

  o.processes = 2;
  o.context = mp_get_context (m, NULL);
  if (g_str_equal (how, "thread"))
    pool = g_thread_join (g_thread_new ("short-lived", new_pool_in_thread, &o));
  else
    pool = mp_pool_new_full (&o, NULL);
  if (pool == NULL)
    return 2;
  /* the workers answer ("thread": after the thread that made them ended) */
  pid = mp_pool_apply (pool, sl, g_variant_new ("(i)", 0), NULL);
  if (pid == NULL)
    return 3;
  if (g_str_equal (how, "replaced"))
    {
      g_autoptr(GArray) before = mp_pool_dup_worker_pids (pool);
      gint32 victim = g_array_index (before, gint32, 0);
      gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

      kill (victim, SIGKILL);
      for (;;)
        {
          g_autoptr(GArray) now = mp_pool_dup_worker_pids (pool);
          gint32 p = g_array_index (now, gint32, 0);
          if (p != 0 && p != victim)
            break;
          if (g_get_monotonic_time () > deadline)
            return 4;
          g_usleep (1000);
        }
      g_clear_pointer (&pid, g_variant_unref);
      pid = mp_pool_apply (pool, sl, g_variant_new ("(i)", 0), NULL);
      if (pid == NULL)
        return 3;
    }
  /* one busy worker, one idle */
  (void) mp_pool_apply_async_result (pool, sl, g_variant_new ("(i)", 60000), NULL, NULL, NULL,
                                     NULL, NULL);
  /* from a thread: the workers it forked, which must still be there */
  pids = first_pids != NULL ? first_pids : mp_pool_dup_worker_pids (pool);
  printf ("%d %d\n", g_array_index (pids, gint32, 0), g_array_index (pids, gint32, 1));
  fflush (stdout);
  for (;;)
    pause ();
  return 0;
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_invalid_processes),
    cmocka_unit_test (test_default_processes),
    { "results_equal_serial/fork", test_results_equal_serial, setup_fork, NULL, NULL },
    { "results_equal_serial/spawn", test_results_equal_serial, setup_spawn, NULL, NULL },
    { "results_equal_serial/forkserver", test_results_equal_serial, setup_forkserver, NULL, NULL },
    { "batched/fork", test_batched, setup_fork, NULL, NULL },
    { "batched/spawn", test_batched, setup_spawn, NULL, NULL },
    { "batched/forkserver", test_batched, setup_forkserver, NULL, NULL },
    { "types_and_none", test_types_and_none, setup_fork, NULL, NULL },
    { "empty_input", test_empty_input, setup_fork, NULL, NULL },
    { "get_timeout_and_state", test_get_timeout_and_state, setup_fork, NULL, NULL },
    { "callbacks_and_errors/fork", test_callbacks_and_errors, setup_fork, NULL, NULL },
    { "callbacks_and_errors/spawn", test_callbacks_and_errors, setup_spawn, NULL, NULL },
    { "map_fails_after_all_chunks", test_map_fails_after_all_chunks, setup_fork, NULL, NULL },
    { "maxtasksperchild", test_maxtasksperchild, setup_fork, NULL, NULL },
    { "initializer_once_per_worker/fork", test_initializer_once_per_worker, setup_fork, NULL, NULL },
    { "initializer_once_per_worker/spawn", test_initializer_once_per_worker, setup_spawn, NULL, NULL },
    { "initializer_once_per_worker/forkserver", test_initializer_once_per_worker, setup_forkserver,
      NULL, NULL },
    { "initializer_fails", test_initializer_fails, setup_fork, NULL, NULL },
    { "terminate_many_pending", test_terminate_many_pending, setup_fork, NULL, NULL },
    { "terminate_during_submit", test_terminate_during_submit, setup_fork, NULL, NULL },
    { "close_during_submit", test_close_during_submit, setup_fork, NULL, NULL },
    { "worker_killed/fork", test_worker_killed, setup_fork, NULL, NULL },
    { "worker_killed/spawn", test_worker_killed, setup_spawn, NULL, NULL },
    { "worker_killed/forkserver", test_worker_killed, setup_forkserver, NULL, NULL },
    { "task_timeout", test_task_timeout, setup_fork, NULL, NULL },
    { "gio_map", test_gio_map, setup_fork, NULL, NULL },
    { "callbacks_on_main_loop", test_callbacks_on_main_loop, setup_fork, NULL, NULL },
    { "counters_and_events", test_counters_and_events, setup_fork, NULL, NULL },
    { "slowmo", test_slowmo, setup_fork, NULL, NULL },
    { "unref_terminates", test_unref_terminates, setup_fork, NULL, NULL },
    { "pool_in_child", test_pool_in_child, setup_fork, NULL, NULL },
    { "sigint_no_orphans/fork", test_sigint_no_orphans, setup_fork, teardown_orphans_helper, NULL },
    { "sigint_no_orphans/spawn", test_sigint_no_orphans, setup_spawn, teardown_orphans_helper, NULL },
    { "sigint_no_orphans/forkserver", test_sigint_no_orphans, setup_forkserver,
      teardown_orphans_helper, NULL },
    { "no_orphans_from_ended_thread/fork", test_no_orphans_from_ended_thread, setup_fork,
      teardown_orphans_helper, NULL },
    { "no_orphans_from_ended_thread/spawn", test_no_orphans_from_ended_thread, setup_spawn,
      teardown_orphans_helper, NULL },
    { "no_orphans_after_replacement/fork", test_no_orphans_after_replacement, setup_fork,
      teardown_orphans_helper, NULL },
  };

  method = "fork";   /* for the tests without a setup */
  mp_init (&argc, &argv);
  if (argc >= 4 && g_str_equal (argv[1], "--orphans-helper"))
    return orphans_helper (argv[2], argv[3]);
  return cmocka_run_group_tests_name ("pool", tests, NULL, NULL);
}
