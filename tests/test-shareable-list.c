/* test-shareable-list.c: MpShareableList, byte for byte against CPython's ShareableList
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (60 * G_USEC_PER_SEC)
#define PYTHON "/usr/bin/python3"


static char *
run_python (const char *script, const char *arg)
{
  const char *argv[] = { PYTHON, "-c", script, arg, NULL };
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;
  int status = -1;

  assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             &err, &status, &error));
  if (!g_spawn_check_wait_status (status, NULL))
    fail_msg ("python failed: %s", err);
  assert_null (strstr (err, "leaked"));
  return out;
}

static char *
hex_of (MpShareableList *sl)
{
  gsize size;
  const guint8 *buf = mp_shared_memory_get_buf (mp_shareable_list_get_shm (sl), &size);
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < size; i++)
    g_string_append_printf (s, "%02x", buf[i]);
  return g_string_free (s, FALSE);
}

static void
unlink_list (MpShareableList *sl)
{
  g_autoptr(GError) error = NULL;
  assert_true (mp_shared_memory_unlink (mp_shareable_list_get_shm (sl), &error));
}

/* The items of the Python literal below, in the same order. */
static GVariant *
sample_items (void)
{
  GVariantBuilder b;
  const guint8 bytes[] = { 'x', 'y', 0 };

  g_variant_builder_init (&b, G_VARIANT_TYPE ("av"));
  g_variant_builder_add (&b, "v", g_variant_new_int64 (1));
  g_variant_builder_add (&b, "v", g_variant_new_int32 (-2));
  g_variant_builder_add (&b, "v", g_variant_new_double (2.5));
  g_variant_builder_add (&b, "v", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "v", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&b, "v", g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
  g_variant_builder_add (&b, "v", g_variant_new_string ("abc"));
  g_variant_builder_add (&b, "v", g_variant_new_string (""));
  g_variant_builder_add (&b, "v", g_variant_new_string ("12345678"));
  g_variant_builder_add (&b, "v", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, 3, 1));
  g_variant_builder_add (&b, "v", g_variant_new_bytestring (""));
  g_variant_builder_add (&b, "v", g_variant_new_string ("h\xc3\xa9llo"));
  g_variant_builder_add (&b, "v", g_variant_new_uint64 (G_GUINT64_CONSTANT (1) << 62));
  return g_variant_builder_end (&b);
}

#define SAMPLE_PY "[1, -2, 2.5, True, False, None, 'abc', '', '12345678', b'xy\\x00', b'', 'h\\xe9llo', 2**62]"
#define SAMPLE_FORMAT "qqdxxxxxxx?xxxxxxx?xxxxxx?x8s8s16s8s8s8sq"

static void
test_items_round_trip (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (sample_items (), NULL, &error);
  g_autofree char *format = NULL;
  g_autofree char *repr = NULL;
  g_autoptr(GVariant) all = NULL;
  struct { const char *type; const char *printed; } expect[] = {
    { "x", "1" }, { "x", "-2" }, { "d", "2.5" }, { "b", "true" }, { "b", "false" },
    { "mv", "nothing" }, { "s", "'abc'" }, { "s", "''" }, { "s", "'12345678'" },
    { "ay", "[0x78, 0x79]" }, { "ay", "[]" }, { "s", "'h\xc3\xa9llo'" }, { "x", "4611686018427387904" },
  };

  assert_non_null (sl);
  assert_int_equal (mp_shareable_list_get_length (sl), G_N_ELEMENTS (expect));
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      g_autoptr(GVariant) v = mp_shareable_list_get (sl, (gssize) i, &error);
      g_autofree char *printed = NULL;

      assert_non_null (v);
      assert_false (g_variant_is_floating (v));
      printed = g_variant_print (v, FALSE);
      assert_string_equal (g_variant_get_type_string (v), expect[i].type);
      assert_string_equal (printed, expect[i].printed);
    }
  {
    g_autoptr(GVariant) last = mp_shareable_list_get (sl, -1, &error);
    assert_int_equal (g_variant_get_int64 (last), G_GINT64_CONSTANT (1) << 62);
  }
  {
    g_autoptr(GVariant) none = mp_shareable_list_get (sl, 13, &error);
    assert_null (none);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
    g_clear_error (&error);
    none = mp_shareable_list_get (sl, -14, &error);
    assert_null (none);
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
    g_clear_error (&error);
  }

  format = mp_shareable_list_dup_format (sl, &error);
  assert_string_equal (format, SAMPLE_FORMAT);
  all = mp_shareable_list_dup_items (sl, &error);
  assert_int_equal (g_variant_n_children (all), 13);
  repr = mp_shareable_list_to_string (sl);
  assert_true (g_str_has_prefix (repr, "ShareableList([1, -2, 2.5, True, False, None, 'abc', '', "
                                       "'12345678', b'xy', b'', 'h\xc3\xa9llo', 4611686018427387904], "
                                       "name='psm_"));
  unlink_list (sl);
}

static void
test_empty_and_errors (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) empty = mp_shareable_list_new (NULL, NULL, &error);
  g_autoptr(MpShareableList) bad = NULL;
  g_autoptr(MpSharedMemory) shm = NULL;
  g_autofree char *format = NULL;

  assert_non_null (empty);
  assert_int_equal (mp_shareable_list_get_length (empty), 0);
  assert_int_equal (mp_shared_memory_get_size (mp_shareable_list_get_shm (empty)), 16);
  format = mp_shareable_list_dup_format (empty, &error);
  assert_string_equal (format, "");
  unlink_list (empty);

  bad = mp_shareable_list_new (g_variant_new_parsed ("[<(1, 2)>]"), NULL, &error);
  assert_null (bad);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  bad = mp_shareable_list_new (g_variant_new_int32 (3), NULL, &error);
  assert_null (bad);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  bad = mp_shareable_list_attach ("libmp-no-such-list", &error);
  assert_null (bad);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
  g_clear_error (&error);

  /* Not a list: a segment claiming more items than it can hold. */
  shm = mp_shared_memory_new (NULL, TRUE, 64, &error);
  memset (mp_shared_memory_get_buf (shm, NULL), 0x7f, 64);
  bad = mp_shareable_list_attach (mp_shared_memory_get_name (shm), &error);
  assert_null (bad);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  assert_true (mp_shared_memory_unlink (shm, &error));
}

/* Garbage in the formats or codes of a list gives errors, not crashes. */
static void
test_corrupt_items (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (g_variant_new_parsed ("[<1>, <'ab'>, <2.0>]"),
                                                         NULL, &error);
  g_autoptr(MpShareableList) other = NULL;
  guint8 *buf = mp_shared_memory_get_buf (mp_shareable_list_get_shm (sl), NULL);
  /* N=3: offsets at 8..39, data at 40 (3 slots of 8), formats at 64, codes at 88. */
  g_autoptr(GVariant) v = NULL;

  memcpy (buf + 64 + 8, "99s\0\0\0\0\0", 8);      /* longer than its 8-byte slot */
  v = mp_shareable_list_get (sl, 1, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  memcpy (buf + 64 + 8, "8s\0\0\0\0\0\0", 8);
  buf[88 + 1] = 9;                                /* unknown back-transform code */
  v = mp_shareable_list_get (sl, 1, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  buf[88 + 1] = 1;
  buf[40 + 8] = 0xff;                             /* not UTF-8 */
  v = mp_shareable_list_get (sl, 1, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  memcpy (buf + 64, "i\0\0\0\0\0\0\0", 8);        /* a format Python never writes */
  v = mp_shareable_list_get (sl, 0, &error);
  assert_null (v);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_double (2.0)), 1);

  /* Offsets pointing past the end. */
  buf[8 + 8 * 3] = 0xff;
  other = mp_shareable_list_attach (mp_shared_memory_get_name (mp_shareable_list_get_shm (sl)),
                                    &error);
  assert_null (other);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  unlink_list (sl);
}

static void
test_set_overflow_and_type_changes (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl =
    mp_shareable_list_new (g_variant_new_parsed ("[<int64 7>, <'abc'>, <int64 9>]"), NULL, &error);
  g_autoptr(GVariant) v = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *format = NULL;
  const guint8 nuls[] = { 'a', 'b', 0, 0 };

  assert_non_null (sl);
  before = hex_of (sl);
  /* 9 bytes into the 8-byte slot of 'abc': rejected, nothing changes. */
  assert_false (mp_shareable_list_set (sl, 1, g_variant_new_string ("abcdefghi"), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_non_null (strstr (error->message, "exceeds available storage"));
  g_clear_error (&error);
  after = hex_of (sl);
  assert_string_equal (before, after);

  /* Exactly the slot's size fits; the neighbours are untouched. */
  assert_true (mp_shareable_list_set (sl, 1, g_variant_new_string ("abcdefgh"), &error));
  v = mp_shareable_list_get (sl, 1, &error);
  assert_string_equal (g_variant_get_string (v, NULL), "abcdefgh");
  g_clear_pointer (&v, g_variant_unref);
  v = mp_shareable_list_get (sl, 0, &error);
  assert_int_equal (g_variant_get_int64 (v), 7);
  g_clear_pointer (&v, g_variant_unref);
  v = mp_shareable_list_get (sl, 2, &error);
  assert_int_equal (g_variant_get_int64 (v), 9);
  g_clear_pointer (&v, g_variant_unref);

  /* Types change within a slot, as in Python. */
  assert_true (mp_shareable_list_set (sl, 0, g_variant_new_string ("xyz"), &error));
  assert_true (mp_shareable_list_set (sl, 1, g_variant_new_double (0.5), &error));
  assert_true (mp_shareable_list_set (sl, 2, g_variant_new_maybe (G_VARIANT_TYPE_STRING, NULL), &error));
  format = mp_shareable_list_dup_format (sl, &error);
  assert_string_equal (format, "8sdxxxxxx?x");
  g_clear_pointer (&format, g_free);
  assert_true (mp_shareable_list_set (sl, 1, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, nuls, 4, 1), &error));
  assert_true (mp_shareable_list_set (sl, -1, g_variant_new_variant (g_variant_new_boolean (TRUE)), &error));
  format = mp_shareable_list_dup_format (sl, &error);
  assert_string_equal (format, "8s8sxxxxxxx?");

  /* Trailing NULs are stripped on read (Python's behaviour). */
  v = mp_shareable_list_get (sl, 1, &error);
  assert_int_equal (g_variant_get_size (v), 2);
  g_clear_pointer (&v, g_variant_unref);
  v = mp_shareable_list_get (sl, 2, &error);
  assert_true (g_variant_get_boolean (v));
  g_clear_pointer (&v, g_variant_unref);

  assert_false (mp_shareable_list_set (sl, 3, g_variant_new_int64 (1), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  assert_false (mp_shareable_list_set (sl, 0, g_variant_new_uint64 (G_MAXUINT64), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);
  unlink_list (sl);
}

static void
test_count_and_index (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (
    g_variant_new_parsed ("[<int64 1>, <1.0>, <true>, <'1'>, <b'1'>, <@mv nothing>, <int64 2>, <@d nan>]"),
    NULL, &error);

  assert_non_null (sl);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_int32 (1)), 3);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_boolean (TRUE)), 3);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_double (2.0)), 1);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_string ("1")), 1);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_bytestring ("1")), 1);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_maybe (G_VARIANT_TYPE_INT32, NULL)), 1);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_double (NAN)), 0);
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_handle (0)), 0);
  assert_int_equal (mp_shareable_list_index (sl, g_variant_new_double (2.0), &error), 6);
  assert_int_equal (mp_shareable_list_index (sl, g_variant_new_bytestring ("1"), &error), 4);
  assert_int_equal (mp_shareable_list_index (sl, g_variant_new_string ("zz"), &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  assert_non_null (strstr (error->message, "not in this container"));
  g_clear_error (&error);

  /* Python: "operation forbidden on released memoryview". */
  mp_shared_memory_close (mp_shareable_list_get_shm (sl));
  assert_null (mp_shareable_list_get (sl, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  g_clear_error (&error);
  assert_false (mp_shareable_list_set (sl, 0, g_variant_new_int64 (1), &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
  assert_int_equal (mp_shareable_list_count (sl, g_variant_new_int64 (1)), 0);
  unlink_list (sl);
}

/* ---- Python -------------------------------------------------------------------------------- */

static const char py_layout[] =
  "import sys\n"
  "from multiprocessing import shared_memory\n"
  "sl = shared_memory.ShareableList(" SAMPLE_PY ")\n"
  "print(bytes(sl.shm.buf).hex())\n"
  "print(sl.format)\n"
  "sl[1] = 'abcdefgh'; sl[0] = 'xyz'; sl[2] = None; sl[9] = 3.25; sl[6] = b'q'\n"
  "print(bytes(sl.shm.buf).hex())\n"
  "sl.shm.close(); sl.shm.unlink()\n";

/* Python's ShareableList and ours produce the same bytes, before and after the same writes. */
static void
test_same_bytes_as_python (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (sample_items (), NULL, &error);
  g_autofree char *out = run_python (py_layout, "");
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  g_autofree char *ours = NULL;
  g_autofree char *ours_after = NULL;

  assert_non_null (sl);
  assert_true (g_strv_length (lines) >= 3);
  ours = hex_of (sl);
  assert_string_equal (ours, lines[0]);
  assert_string_equal (SAMPLE_FORMAT, lines[1]);

  assert_true (mp_shareable_list_set (sl, 1, g_variant_new_string ("abcdefgh"), &error));
  assert_true (mp_shareable_list_set (sl, 0, g_variant_new_string ("xyz"), &error));
  assert_true (mp_shareable_list_set (sl, 2, g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL), &error));
  assert_true (mp_shareable_list_set (sl, 9, g_variant_new_double (3.25), &error));
  assert_true (mp_shareable_list_set (sl, 6, g_variant_new_bytestring ("q"), &error));
  ours_after = hex_of (sl);
  assert_string_equal (ours_after, lines[2]);
  unlink_list (sl);
}

static const char py_reads_and_writes[] =
  "import sys\n"
  "from multiprocessing import shared_memory, resource_tracker\n"
  "sl = shared_memory.ShareableList(name=sys.argv[1])\n"
  "resource_tracker.unregister(sl.shm._name, 'shared_memory')\n"
  "print(repr(list(sl)))\n"
  "sl[0] = 'from python'; sl[1] = 42; sl[3] = b'\\x01\\x02'\n"
  "sl.shm.close()\n";

static void
test_python_attaches_to_libmp (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (
    g_variant_new_parsed ("[<'a longer string'>, <2.5>, <@mv nothing>, <b'bytes'>, <false>]"),
    NULL, &error);
  g_autofree char *out = NULL;
  g_autoptr(GVariant) items = NULL;
  g_autofree char *printed = NULL;

  assert_non_null (sl);
  out = run_python (py_reads_and_writes, mp_shared_memory_get_name (mp_shareable_list_get_shm (sl)));
  assert_string_equal (out, "['a longer string', 2.5, None, b'bytes', False]\n");

  items = mp_shareable_list_dup_items (sl, &error);
  printed = g_variant_print (items, TRUE);
  assert_string_equal (printed, "[<'from python'>, <int64 42>, <@mv nothing>, <[byte 0x01, 0x02]>, <false>]");
  unlink_list (sl);
}

static const char py_creates[] =
  "from multiprocessing import shared_memory, resource_tracker\n"
  "sl = shared_memory.ShareableList([-5, 'py', 1.5, None, True, b'\\x00ab\\x00', 'x' * 20])\n"
  "resource_tracker.unregister(sl.shm._name, 'shared_memory')\n"
  "print(sl.shm.name)\n"
  "sl.shm.close()\n";

static const char py_reads[] =
  "import sys\n"
  "from multiprocessing import shared_memory, resource_tracker\n"
  "sl = shared_memory.ShareableList(name=sys.argv[1])\n"
  "resource_tracker.unregister(sl.shm._name, 'shared_memory')\n"
  "print(repr(list(sl)), sl.format)\n"
  "sl.shm.close()\n";

static void
test_libmp_attaches_to_python (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = run_python (py_creates, "");
  g_autoptr(MpShareableList) sl = NULL;
  g_autoptr(GVariant) items = NULL;
  g_autofree char *printed = NULL;
  g_autofree char *out = NULL;

  g_strchomp (name);
  sl = mp_shareable_list_attach (name, &error);
  assert_non_null (sl);
  assert_int_equal (mp_shareable_list_get_length (sl), 7);
  items = mp_shareable_list_dup_items (sl, &error);
  printed = g_variant_print (items, TRUE);
  assert_string_equal (printed, "[<int64 -5>, <'py'>, <1.5>, <@mv nothing>, <true>, <[byte 0x00, 0x61, 0x62]>, "
                                "<'xxxxxxxxxxxxxxxxxxxx'>]");

  assert_true (mp_shareable_list_set (sl, 0, g_variant_new_string ("libmp"), &error));
  assert_true (mp_shareable_list_set (sl, 3, g_variant_new_int64 (-1), &error));
  assert_true (mp_shareable_list_set (sl, 6, g_variant_new_string ("\xe2\x82\xac uro"), &error));
  out = run_python (py_reads, name);
  assert_string_equal (out, "['libmp', 'py', 1.5, -1, True, b'\\x00ab', '\xe2\x82\xac uro'] 8s8sdqxxxxxxx?8s24s\n");
  unlink_list (sl);
}

/* ---- children ------------------------------------------------------------------------------ */

static GVariant *
child_sets (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpShareableList) sl = mp_shareable_list_deserialize (handle, fds, error);
  g_autoptr(GVariant) first = NULL;

  if (sl == NULL)
    return g_variant_new_int32 (10);
  first = mp_shareable_list_get (sl, 0, error);
  if (first == NULL || g_variant_get_int64 (first) != 5)
    return g_variant_new_int32 (11);
  if (!mp_shareable_list_set (sl, 0, g_variant_new_int64 (g_variant_get_int64 (first) * 100), error) ||
      !mp_shareable_list_set (sl, 1, g_variant_new_string ("child"), error))
    return g_variant_new_int32 (12);
  return g_variant_new_int32 (0);
}

static void
test_child_sets (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpShareableList) sl = mp_shareable_list_new (g_variant_new_parsed ("[<int64 5>, <'parent'>]"),
                                                         NULL, &error);
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(MpProcess) p = NULL;
  g_autoptr(GVariant) a = NULL;
  g_autoptr(GVariant) b = NULL;
  GVariant *handle;
  int code = -1;

  assert_non_null (sl);
  handle = mp_shareable_list_serialize (sl, NULL, &error);
  target = mp_callable_new (child_sets, g_variant_new_tuple (&handle, 1));
  p = mp_context_process_new (mp_get_context (method, NULL), target);
  assert_true (mp_process_start (p, &error));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, 0);
  a = mp_shareable_list_get (sl, 0, &error);
  b = mp_shareable_list_get (sl, 1, &error);
  assert_int_equal (g_variant_get_int64 (a), 500);
  assert_string_equal (g_variant_get_string (b, NULL), "child");
  unlink_list (sl);
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_items_round_trip),
    cmocka_unit_test (test_empty_and_errors),
    cmocka_unit_test (test_corrupt_items),
    cmocka_unit_test (test_set_overflow_and_type_changes),
    cmocka_unit_test (test_count_and_index),
    cmocka_unit_test (test_same_bytes_as_python),
    cmocka_unit_test (test_python_attaches_to_libmp),
    cmocka_unit_test (test_libmp_attaches_to_python),
    FOR_METHOD (test_child_sets, fork),
    FOR_METHOD (test_child_sets, spawn),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("shareable-list", tests, NULL, NULL);
}
