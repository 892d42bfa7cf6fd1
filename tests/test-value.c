/* test-value.c: Value and Array with their locks, across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (60 * G_USEC_PER_SEC)


/* (value handle, n): adds 1 to the value n times, each under the value's lock. */
static GVariant *
increment (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) inner = g_variant_get_variant (h);
  g_autoptr(MpValue) v = mp_value_deserialize (inner, fds, error);
  gint32 n;

  if (v == NULL)
    return g_variant_new_int32 (90);
  g_variant_get_child (args, 1, "i", &n);
  for (gint32 i = 0; i < n; i++)
    {
      g_autoptr(GVariant) cur = NULL;

      if (!mp_value_acquire (v, MP_TIMEOUT_INFINITE, NULL))
        return g_variant_new_int32 (91);
      cur = mp_value_get (v);   /* re-entrant: the lock is an RLock */
      if (!mp_value_set (v, g_variant_new_int32 (g_variant_get_int32 (cur) + 1), NULL))
        return g_variant_new_int32 (92);
      mp_value_release (v, NULL);
    }
  return g_variant_new_int32 (0);
}

/* (array handle, index): squares element index in place. */
static GVariant *
square_element (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) inner = g_variant_get_variant (h);
  g_autoptr(MpArray) a = mp_array_deserialize (inner, fds, error);
  g_autoptr(GVariant) x = NULL;
  gint32 index;

  if (a == NULL)
    return g_variant_new_int32 (90);
  g_variant_get_child (args, 1, "i", &index);
  x = mp_array_get (a, index, NULL);
  if (x == NULL)
    return g_variant_new_int32 (91);
  return g_variant_new_int32 (mp_array_set (a, index, g_variant_new_double (
    g_variant_get_double (x) * g_variant_get_double (x)), NULL) ? 0 : 92);
}

static MpProcess *
start (MpFunc func, GVariant *handle, GUnixFDList *fds, gint32 n)
{
  g_autoptr(MpCallable) c = mp_callable_new_with_fds (func,
                                                      g_variant_new ("(vi)", handle, n), fds);
  MpProcess *p = mp_context_process_new (mp_get_context (method, NULL), c);

  assert_true (mp_process_start (p, NULL));
  return p;
}

static int
join_code (MpProcess *p)
{
  int code = -1;
  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  assert_true (mp_process_get_exitcode (p, &code));
  g_object_unref (p);
  return code;
}

static void
test_value_counter (void **state)
{
  enum { PROCS = 4, EACH = 2000 };
  g_autoptr(MpValue) v = mp_value_new ('i', NULL, NULL);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) total = NULL;
  GVariant *handle;
  MpProcess *procs[PROCS];

  assert_non_null (v);
  handle = mp_value_serialize (v, fds, NULL);
  assert_non_null (handle);
  g_variant_ref_sink (handle);
  for (int i = 0; i < PROCS; i++)
    procs[i] = start (increment, handle, fds, EACH);
  g_variant_unref (handle);
  for (int i = 0; i < PROCS; i++)
    assert_int_equal (join_code (procs[i]), 0);
  total = mp_value_get (v);
  assert_int_equal (g_variant_get_int32 (total), PROCS * EACH);
}

static void
test_array_elements (void **state)
{
  const double init[] = { 1.5, 2, 3, -4 };
  g_autoptr(MpArray) a = mp_array_new_from_variant ('d', g_variant_new_fixed_array (
    G_VARIANT_TYPE_DOUBLE, init, G_N_ELEMENTS (init), sizeof (double)), NULL);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) all = NULL;
  GVariant *handle;
  MpProcess *procs[4];
  gsize n;
  const double *got;

  assert_non_null (a);
  assert_int_equal (mp_array_get_length (a), 4);
  handle = g_variant_ref_sink (mp_array_serialize (a, fds, NULL));
  for (int i = 0; i < 4; i++)
    procs[i] = start (square_element, handle, fds, i);
  g_variant_unref (handle);
  for (int i = 0; i < 4; i++)
    assert_int_equal (join_code (procs[i]), 0);
  all = mp_array_dup_variant (a);
  got = g_variant_get_fixed_array (all, &n, sizeof (double));
  assert_int_equal (n, 4);
  for (int i = 0; i < 4; i++)
    assert_true (got[i] == init[i] * init[i]);
}

static void
test_copy_and_raw (void **state)
{
  g_autoptr(MpValue) v = mp_value_new ('q', g_variant_new_int64 (-7), NULL);
  g_autoptr(MpRawValue) copy = NULL;
  g_autoptr(GVariant) a = NULL, b = NULL;
  g_autoptr(GError) error = NULL;

  copy = mp_sharedctypes_copy_value (mp_value_get_obj (v), NULL);
  assert_true (mp_value_set (v, g_variant_new_int64 (100), NULL));
  a = mp_raw_value_get_value (copy);
  b = mp_value_get (v);
  assert_int_equal (g_variant_get_int64 (a), -7);
  assert_int_equal (g_variant_get_int64 (b), 100);
  assert_false (mp_value_set (v, g_variant_new_string ("nope"), &error));
  assert_non_null (error);
  assert_true (mp_rlock_locked (mp_value_get_lock (v)) == FALSE);
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    FOR_METHOD (test_value_counter, fork),
    FOR_METHOD (test_value_counter, spawn),
    FOR_METHOD (test_array_elements, fork),
    FOR_METHOD (test_array_elements, spawn),
    cmocka_unit_test (test_copy_and_raw),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("value", tests, NULL, NULL);
}
