/* test-thread-pool.c: ThreadPool, the Pool API on threads
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#define WAIT_LONG (30 * G_USEC_PER_SEC)

static GVariant *
range_i (gint32 n)
{
  g_autofree gint32 *v = g_new (gint32, MAX (n, 1));

  for (gint32 i = 0; i < n; i++)
    v[i] = i;
  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, v, n, sizeof (gint32));
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
square (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) x = g_variant_get_child_value (args, 0);
  gint32 v = g_variant_get_int32 (x);
  return g_variant_new_int32 (v * v);
}

static GVariant *
add (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 a, b;
  g_variant_get (args, "(ii)", &a, &b);
  return g_variant_new_int32 (a + b);
}

/* (ai): x * x for each x, one call per chunk */
static GVariant *
square_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 0);
  gsize n;
  const gint32 *x = g_variant_get_fixed_array (items, &n, sizeof (gint32));
  g_autofree gint32 *r = g_new (gint32, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    r[i] = x[i] * x[i];
  return g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, r, n, sizeof (gint32));
}

static GVariant *
sleep_ms (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 ms;
  g_variant_get (args, "(i)", &ms);
  g_usleep ((gulong) ms * 1000);
  return g_variant_new ("(ii)", getpid (), (gint32) gettid ());
}

static GQuark
test_error_quark (void)
{
  return g_quark_from_static_string ("test-thread-pool-error-quark");
}

static gint ran;

static GVariant *
fail_on_3 (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 x;

  g_variant_get (args, "(i)", &x);
  g_atomic_int_inc (&ran);
  if (x == 3)
    {
      g_set_error (error, test_error_quark (), 42, "item %d is bad", x);
      return NULL;
    }
  return g_variant_new_int32 (x);
}

static __thread int init_count;
static gint init_calls;

static GVariant *
count_init (GVariant *args, GUnixFDList *fds, GError **error)
{
  init_count++;
  g_atomic_int_inc (&init_calls);
  return NULL;
}

static GVariant *
init_count_here (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_usleep (1000);
  return g_variant_new_int32 (init_count);
}

static void
test_invalid (void **state)
{
  g_autoptr(GError) error = NULL;
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;

  assert_null (mp_thread_pool_new (0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_null (mp_thread_pool_new (-1, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  /* Python's ThreadPool takes neither; a thread cannot be killed on a timeout */
  o.processes = 2;
  o.maxtasksperchild = 3;
  assert_null (mp_thread_pool_new_full (&o, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  o.maxtasksperchild = 0;
  o.task_timeout_us = 1000;
  assert_null (mp_thread_pool_new_full (&o, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
}

static void
test_results_equal_serial (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (3, NULL);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  g_autoptr(MpCallable) ad = mp_callable_new (add, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  g_autoptr(MpIMapIterator) it = NULL;
  GVariantBuilder b;
  const gint32 *r;
  gsize n;
  gint64 sum = 0, expect = 0;
  GVariant *v;

  assert_true (mp_pool_is_thread_pool (pool));
  res = mp_pool_map (pool, sq, range_i (1000), 0, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 1000);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (i * i));
  g_clear_pointer (&res, g_variant_unref);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ii)"));
  for (gint32 i = 0; i < 100; i++)
    g_variant_builder_add (&b, "(ii)", i, i);
  res = mp_pool_starmap (pool, ad, g_variant_builder_end (&b), 3, &error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 100);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (2 * i));
  g_clear_pointer (&res, g_variant_unref);

  it = mp_pool_imap (pool, sq, range_i (1000), 100, &error);
  for (gint32 i = 0; i < 1000; i++)
    {
      assert_true (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
      assert_int_equal (g_variant_get_int32 (v), i * i);
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_null (error);
  g_clear_pointer (&it, mp_imap_iterator_unref);

  it = mp_pool_imap_unordered (pool, sq, range_i (500), 3, &error);
  for (gint32 i = 0; i < 500; i++)
    {
      assert_true (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
      sum += g_variant_get_int32 (v);
      expect += (gint64) i * i;
      g_variant_unref (v);
    }
  assert_false (mp_imap_iterator_next (it, &v, WAIT_LONG, &error));
  assert_int_equal (sum, expect);

  res = mp_pool_map (pool, sq, range_i (0), 0, &error);
  assert_int_equal (g_variant_n_children (res), 0);
  close_join (pool);
}

/* (x): keeps its argument tuple (a thread pool's function may: it shares the process) */
static GPtrArray *kept_args;
G_LOCK_DEFINE_STATIC (kept_args);

static GVariant *
keep_args (GVariant *args, GUnixFDList *fds, GError **error)
{
  G_LOCK (kept_args);
  g_ptr_array_add (kept_args, g_variant_ref (args));
  G_UNLOCK (kept_args);
  return g_variant_new_int32 (0);
}

/* Arguments a function kept stay valid after their map, apply and pool are gone: a map's
 * chunks point into the job's items, an apply's into its arguments. */
static void
test_kept_arguments_outlive_the_job (void **state)
{
  MpPool *pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) keep = mp_callable_new (keep_args, NULL);
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GVariant) one = NULL;
  g_autoptr(GError) error = NULL;
  gint64 sum = 0;

  kept_args = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  res = mp_pool_map (pool, keep, range_i (300), 7, &error);
  assert_non_null (res);
  one = mp_pool_apply (pool, keep, g_variant_new ("(i)", 1000), &error);
  assert_non_null (one);
  close_join (pool);
  g_object_unref (pool);
  g_clear_pointer (&res, g_variant_unref);

  assert_int_equal (kept_args->len, 301);
  for (guint i = 0; i < kept_args->len; i++)
    {
      gint32 x;
      g_variant_get (kept_args->pdata[i], "(i)", &x);
      sum += x;
    }
  assert_int_equal (sum, 299 * 300 / 2 + 1000);
  g_clear_pointer (&kept_args, g_ptr_array_unref);
}

/* The same batched callable as a process pool's: one call per chunk, the same results. */
static void
test_batched (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) sq = mp_callable_new_batched (square_batch, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  const gint32 *r;
  gsize n;

  res = mp_pool_map (pool, sq, range_i (1000), 9, &error);
  assert_null (error);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 1000);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], (gint32) (i * i));
  g_clear_pointer (&res, g_variant_unref);
  res = mp_pool_apply (pool, sq, g_variant_new ("(i)", 12), &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (res), 144);
  close_join (pool);
}

/* Threads: one process, several thread ids. */
static void
test_threads_not_processes (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(GVariant) res = NULL;
  g_autoptr(GHashTable) tids = g_hash_table_new (NULL, NULL);
  g_autoptr(GArray) workers = mp_pool_dup_worker_pids (pool);
  gint32 ms[8] = { 20, 20, 20, 20, 20, 20, 20, 20 };

  res = mp_pool_map (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ms, 8, 4), 1,
                     NULL);
  for (gsize i = 0; i < g_variant_n_children (res); i++)
    {
      gint32 pid, tid;
      g_variant_get_child (res, i, "(ii)", &pid, &tid);
      assert_int_equal (pid, getpid ());
      g_hash_table_add (tids, GINT_TO_POINTER (tid));
    }
  assert_int_equal (g_hash_table_size (tids), 2);
  assert_int_equal (workers->len, 2);
  close_join (pool);
}

static void
on_error (const GError *error, gpointer user_data)
{
  GError **out = user_data;
  g_clear_error (out);
  *out = g_error_copy (error);
}

static void
test_errors (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) f3 = mp_callable_new (fail_on_3, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) seen = NULL;

  ran = 0;
  assert_null (mp_pool_map (pool, f3, range_i (20), 1, &error));
  assert_true (g_error_matches (error, test_error_quark (), 42));
  assert_int_equal (g_atomic_int_get (&ran), 20);
  g_clear_error (&error);

  res = mp_pool_apply_async_result (pool, f3, g_variant_new ("(i)", 3), NULL, on_error, &seen,
                                    NULL, NULL);
  assert_null (mp_async_result_get (res, WAIT_LONG, &error));
  assert_true (g_error_matches (error, test_error_quark (), 42));
  assert_true (g_error_matches (seen, test_error_quark (), 42));
  assert_string_equal (seen->message, "item 3 is bad");
  close_join (pool);
}

static void
test_initializer_per_thread (void **state)
{
  MpPoolOptions o = MP_POOL_OPTIONS_INIT;
  g_autoptr(MpCallable) init = mp_callable_new (count_init, NULL);
  g_autoptr(MpCallable) f = mp_callable_new (init_count_here, NULL);
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(GVariant) res = NULL;
  const gint32 *r;
  gsize n;

  init_calls = 0;
  o.processes = 3;
  o.initializer = init;
  pool = mp_thread_pool_new_full (&o, NULL);
  res = mp_pool_map (pool, f, range_i (50), 1, NULL);
  r = g_variant_get_fixed_array (res, &n, sizeof (gint32));
  assert_int_equal (n, 50);
  for (gsize i = 0; i < n; i++)
    assert_int_equal (r[i], 1);
  close_join (pool);
  assert_int_equal (g_atomic_int_get (&init_calls), 3);
}

static void
test_get_timeout_and_terminate (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) sl = mp_callable_new (sleep_ms, NULL);
  g_autoptr(MpAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gint32 *ms = g_new (gint32, 10000);
  gint64 t0;

  for (int i = 0; i < 10000; i++)
    ms[i] = 50;
  res = mp_pool_map_async_result (pool, sl, g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ms,
                                                                       10000, 4),
                                  1, NULL, NULL, NULL, NULL, NULL);
  assert_null (mp_async_result_get (res, 10 * 1000, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);
  assert_false (mp_pool_join (pool, 0, &error));
  g_clear_error (&error);
  /* pending tasks fail at once; the two running ones finish their 50 ms */
  t0 = g_get_monotonic_time ();
  mp_pool_terminate (pool);
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  assert_null (mp_async_result_get (res, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  g_clear_error (&error);
  assert_true (mp_pool_join (pool, WAIT_LONG, NULL));
}

static void
on_map_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GVariant **out = user_data;
  *out = mp_pool_map_finish (MP_POOL (source), result, NULL);
}

static void
test_gio_map (void **state)
{
  g_autoptr(MpPool) pool = mp_thread_pool_new (2, NULL);
  g_autoptr(MpCallable) sq = mp_callable_new (square, NULL);
  GVariant *result = NULL;
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;

  mp_pool_map_async (pool, sq, range_i (300), 0, NULL, on_map_done, &result);
  while (result == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  assert_non_null (result);
  assert_int_equal (g_variant_n_children (result), 300);
  g_variant_unref (result);
  close_join (pool);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_invalid),
    cmocka_unit_test (test_results_equal_serial),
    cmocka_unit_test (test_batched),
    cmocka_unit_test (test_kept_arguments_outlive_the_job),
    cmocka_unit_test (test_threads_not_processes),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_initializer_per_thread),
    cmocka_unit_test (test_get_timeout_and_terminate),
    cmocka_unit_test (test_gio_map),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("thread-pool", tests, NULL, NULL);
}
