/* test-sharedctypes.c: RawValue and RawArray, in this process and in children
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wchar.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (60 * G_USEC_PER_SEC)
#define N_ELEMENTS 100000


static void
assert_printed (GVariant *v, const char *type, const char *printed)
{
  g_autofree char *p = NULL;

  assert_non_null (v);
  assert_false (g_variant_is_floating (v));
  assert_string_equal (g_variant_get_type_string (v), type);
  p = g_variant_print (v, FALSE);
  assert_string_equal (p, printed);
}

static void
test_typecodes (void **state)
{
  struct {
    char code;
    gsize size;
    const char *type;
  } cases[] = {
    { 'c', 1, "y" }, { 'u', 4, "s" }, { 'b', 1, "n" }, { 'B', 1, "y" }, { 'h', sizeof (short), "n" },
    { 'H', sizeof (short), "q" }, { 'i', sizeof (int), "i" }, { 'I', sizeof (int), "u" },
    { 'l', sizeof (long), "x" }, { 'L', sizeof (long), "t" }, { 'q', 8, "x" }, { 'Q', 8, "t" },
    { 'f', sizeof (float), "d" }, { 'd', sizeof (double), "d" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MpRawValue) v = mp_raw_value_new (cases[i].code, NULL, &error);
      g_autoptr(GVariant) zero = NULL;

      assert_non_null (v);
      assert_int_equal (mp_sharedctypes_get_itemsize (cases[i].code), cases[i].size);
      assert_int_equal (mp_raw_value_get_size (v), cases[i].size);
      assert_int_equal (mp_raw_value_get_typecode (v), cases[i].code);
      zero = mp_raw_value_get_value (v);
      assert_string_equal (g_variant_get_type_string (zero), cases[i].type);
      /* Booleans and small integers fit every integer type. */
      if (cases[i].code != 'u')
        {
          g_autoptr(GVariant) one = NULL;
          assert_true (mp_raw_value_set_value (v, g_variant_new_boolean (TRUE), &error));
          one = mp_raw_value_get_value (v);
          assert_string_equal (g_variant_get_type_string (one), cases[i].type);
        }
    }
  assert_int_equal (mp_sharedctypes_get_itemsize ('z'), 0);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(MpRawValue) v = mp_raw_value_new ('z', g_variant_new_int32 (1), &error);
    assert_null (v);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  }
}

static void
check_set (char code, GVariant *value, const char *type, const char *printed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpRawValue) v = mp_raw_value_new (code, value, &error);
  g_autoptr(GVariant) got = NULL;

  if (v == NULL)
    fail_msg ("'%c': %s", code, error->message);
  got = mp_raw_value_get_value (v);
  assert_printed (got, type, printed);
}

static void
check_rejected (char code, GVariant *value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpRawValue) v = mp_raw_value_new (code, NULL, &error);

  assert_non_null (v);
  assert_false (mp_raw_value_set_value (v, value, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
}

static void
test_values_and_ranges (void **state)
{
  check_set ('b', g_variant_new_int32 (-128), "n", "-128");
  check_set ('B', g_variant_new_int64 (255), "y", "0xff");
  check_set ('c', g_variant_new_byte ('x'), "y", "0x78");
  check_set ('c', g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "z", 1, 1), "y", "0x7a");
  check_set ('u', g_variant_new_string ("\xe2\x82\xac"), "s", "'\xe2\x82\xac'");
  check_set ('u', g_variant_new_uint32 (0x41), "s", "'A'");
  check_set ('h', g_variant_new_int16 (-32768), "n", "-32768");
  check_set ('H', g_variant_new_uint32 (65535), "q", "65535");
  check_set ('i', g_variant_new_int32 (G_MININT32), "i", "-2147483648");
  check_set ('I', g_variant_new_uint64 (G_MAXUINT32), "u", "4294967295");
  check_set ('l', g_variant_new_int64 (G_MININT64), "x", "-9223372036854775808");
  check_set ('L', g_variant_new_uint64 (G_MAXUINT64), "t", "18446744073709551615");
  check_set ('q', g_variant_new_variant (g_variant_new_int64 (-5)), "x", "-5");
  check_set ('Q', g_variant_new_uint64 (G_MAXUINT64), "t", "18446744073709551615");
  check_set ('f', g_variant_new_double (0.5), "d", "0.5");
  check_set ('f', g_variant_new_int32 (3), "d", "3.0");
  check_set ('d', g_variant_new_double (-1e300), "d", "-1.0000000000000001e+300");

  check_rejected ('b', g_variant_new_int32 (128));
  check_rejected ('B', g_variant_new_int32 (-1));
  check_rejected ('c', g_variant_new_int32 (256));
  check_rejected ('c', g_variant_new_bytestring ("ab"));
  check_rejected ('h', g_variant_new_int32 (32768));
  check_rejected ('H', g_variant_new_int32 (-1));
  check_rejected ('i', g_variant_new_int64 (G_MAXINT32 + G_GINT64_CONSTANT (1)));
  check_rejected ('I', g_variant_new_int64 (-1));
  check_rejected ('q', g_variant_new_uint64 (G_MAXUINT64));
  check_rejected ('Q', g_variant_new_int64 (-1));
  check_rejected ('i', g_variant_new_double (1.5));
  check_rejected ('d', g_variant_new_string ("1"));
  check_rejected ('u', g_variant_new_string ("ab"));
  check_rejected ('u', g_variant_new_uint32 (0xD800));

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(MpRawValue) v = mp_raw_value_new ('i', g_variant_new_int32 (41), &error);
    int *p = mp_raw_value_get_pointer (v);
    g_autoptr(GVariant) got = NULL;

    assert_int_equal (*p, 41);
    (*p)++;
    got = mp_raw_value_get_value (v);
    assert_int_equal (g_variant_get_int32 (got), 42);
  }
}

static void
test_arrays (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpRawArray) a = mp_raw_array_new ('d', 10, &error);
  g_autoptr(MpRawArray) b = NULL;
  g_autoptr(MpRawArray) c = NULL;
  g_autoptr(MpRawArray) u = NULL;
  g_autoptr(MpRawArray) empty = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) v = NULL;
  double *d;

  assert_non_null (a);
  assert_int_equal (mp_raw_array_get_length (a), 10);
  assert_int_equal (mp_raw_array_get_size (a), 80);
  assert_int_equal (mp_raw_array_get_typecode (a), 'd');
  d = mp_raw_array_get_pointer (a);
  for (int i = 0; i < 10; i++)
    assert_true (d[i] == 0.0);
  assert_true (mp_raw_array_set (a, 3, g_variant_new_double (1.25), &error));
  assert_true (mp_raw_array_set (a, -1, g_variant_new_int32 (7), &error));
  assert_true (d[3] == 1.25 && d[9] == 7.0);
  v = mp_raw_array_get (a, -7, &error);
  assert_printed (v, "d", "1.25");
  g_clear_pointer (&v, g_variant_unref);
  v = mp_raw_array_get (a, 10, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_raw_array_set (a, -11, g_variant_new_double (1), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  b = mp_raw_array_new_from_variant ('i', g_variant_new_parsed ("[1, 2, 3]"), &error);
  assert_non_null (b);
  all = mp_raw_array_dup_variant (b);
  assert_printed (all, "ai", "[1, 2, 3]");
  g_clear_pointer (&all, g_variant_unref);

  c = mp_raw_array_new_from_variant ('c', g_variant_new_bytestring ("hi"), &error);
  assert_non_null (c);
  assert_int_equal (mp_raw_array_get_length (c), 3);   /* the bytestring's NUL is an element */
  assert_memory_equal (mp_raw_array_get_pointer (c), "hi", 3);

  u = mp_raw_array_new_from_variant ('u', g_variant_new_string ("a\xe2\x82\xac"), &error);
  assert_non_null (u);
  assert_int_equal (mp_raw_array_get_length (u), 2);
  assert_int_equal (((wchar_t *) mp_raw_array_get_pointer (u))[1], 0x20AC);
  all = mp_raw_array_dup_variant (u);
  assert_printed (all, "as", "['a', '\xe2\x82\xac']");

  empty = mp_raw_array_new ('q', 0, &error);
  assert_non_null (empty);
  assert_int_equal (mp_raw_array_get_length (empty), 0);

  {
    g_autoptr(MpRawArray) bad = mp_raw_array_new_from_variant ('B', g_variant_new_parsed ("[1, 256]"), &error);
    assert_null (bad);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
    g_clear_error (&error);
    bad = mp_raw_array_new_from_variant ('B', g_variant_new_int32 (3), &error);
    assert_null (bad);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
    g_clear_error (&error);
    bad = mp_raw_array_new ('i', G_MAXSIZE / 2, &error);
    assert_null (bad);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  }
}

/* Handles from elsewhere are validated before anything is mapped. */
static void
test_bad_handles (void **state)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MpRawArray) a = NULL;
  g_autoptr(MpRawValue) v = NULL;
  int plain = memfd_create ("plain", MFD_CLOEXEC);
  int sealed = memfd_create ("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

  assert_true (plain >= 0 && sealed >= 0);
  assert_int_equal (ftruncate (plain, 4096), 0);
  assert_int_equal (ftruncate (sealed, 4096), 0);
  assert_int_equal (fcntl (sealed, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  assert_int_equal (g_unix_fd_list_append (fds, plain, NULL), 0);
  assert_int_equal (g_unix_fd_list_append (fds, sealed, NULL), 1);
  close (plain);
  close (sealed);

  /* Not sealed: it could shrink under our mapping. */
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'i', (guint64) 10, 0, (guint64) 0), fds, &error);
  assert_null (a);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  /* Too small for its length. */
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'i', (guint64) 2000, 1, (guint64) 0), fds, &error);
  assert_null (a);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'i', G_MAXUINT64, 1, (guint64) 0), fds, &error);
  assert_null (a);
  g_clear_error (&error);
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'Z', (guint64) 1, 1, (guint64) 0), fds, &error);
  assert_null (a);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'i', (guint64) 1, 7, (guint64) 0), fds, &error);
  assert_null (a);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  v = mp_raw_value_deserialize (g_variant_new ("(ytht)", 'i', (guint64) 1, 1, (guint64) 0), fds, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);

  /* The sealed one of the right size is accepted. */
  a = mp_raw_array_deserialize (g_variant_new ("(ytht)", 'i', (guint64) 1024, 1, (guint64) 0), fds, &error);
  assert_non_null (a);
  assert_int_equal (mp_raw_array_get_length (a), 1024);
}

/* ---- children ------------------------------------------------------------------------------ */

/* (array handle, value handle): fills the array with i*3 and adds its sum to the value. */
static GVariant *
child_fill (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) ha = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) hv = g_variant_get_child_value (args, 1);
  g_autoptr(MpRawArray) a = mp_raw_array_deserialize (ha, fds, error);
  g_autoptr(MpRawValue) v = mp_raw_value_deserialize (hv, fds, error);
  gint64 *data, sum = 0;

  if (a == NULL || v == NULL)
    return g_variant_new_int32 (10);
  if (mp_raw_array_get_length (a) != N_ELEMENTS || mp_raw_array_get_typecode (a) != 'q')
    return g_variant_new_int32 (11);
  data = mp_raw_array_get_pointer (a);
  for (gint64 i = 0; i < N_ELEMENTS; i++)
    {
      data[i] = i * 3;
      sum += data[i];
    }
  *(gint64 *) mp_raw_value_get_pointer (v) += sum;
  return g_variant_new_int32 (0);
}

static void
test_child_fills (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpRawArray) a = mp_raw_array_new ('q', N_ELEMENTS, &error);
  g_autoptr(MpRawValue) v = mp_raw_value_new ('q', g_variant_new_int64 (1), &error);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(MpProcess) p = NULL;
  g_autoptr(GVariant) total = NULL;
  GVariant *handles[2];
  const gint64 *data;
  int code = -1;

  assert_non_null (a);
  assert_non_null (v);
  handles[0] = mp_raw_array_serialize (a, fds, &error);
  handles[1] = mp_raw_value_serialize (v, fds, &error);
  assert_non_null (handles[0]);
  assert_non_null (handles[1]);
  target = mp_callable_new_with_fds (child_fill, g_variant_new_tuple (handles, 2), fds);
  p = mp_context_process_new (mp_get_context (method, NULL), target);
  assert_true (mp_process_start (p, &error));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, 0);

  data = mp_raw_array_get_pointer (a);
  for (gint64 i = 0; i < N_ELEMENTS; i++)
    assert_int_equal (data[i], i * 3);
  total = mp_raw_value_get_value (v);
  assert_int_equal (g_variant_get_int64 (total), 1 + (gint64) 3 * N_ELEMENTS * (N_ELEMENTS - 1) / 2);
}

/* A fork child writes through the inherited mapping, without any handle. */
static MpRawArray *inherited;

static GVariant *
child_inherits (GVariant *args, GUnixFDList *fds, GError **error)
{
  float *f = mp_raw_array_get_pointer (inherited);

  for (gsize i = 0; i < mp_raw_array_get_length (inherited); i++)
    f[i] = (float) i / 2;
  return g_variant_new_int32 (0);
}

static void
test_fork_inherits (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpCallable) target = mp_callable_new (child_inherits, NULL);
  g_autoptr(MpProcess) p = NULL;
  int code = -1;

  inherited = mp_raw_array_new ('f', 1000, &error);
  p = mp_context_process_new (mp_get_context ("fork", NULL), target);
  assert_true (mp_process_start (p, &error));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, 0);
  for (int i = 0; i < 1000; i++)
    {
      g_autoptr(GVariant) e = mp_raw_array_get (inherited, i, &error);
      assert_true (g_variant_get_double (e) == (double) i / 2);
    }
  g_clear_pointer (&inherited, mp_raw_array_unref);
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_typecodes),
    cmocka_unit_test (test_values_and_ranges),
    cmocka_unit_test (test_arrays),
    cmocka_unit_test (test_bad_handles),
    FOR_METHOD (test_child_fills, fork),
    FOR_METHOD (test_child_fills, spawn),
    FOR_METHOD (test_child_fills, forkserver),
    cmocka_unit_test (test_fork_inherits),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("sharedctypes", tests, NULL, NULL);
}
