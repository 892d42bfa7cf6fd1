/* test-shared-memory.c: MpSharedMemory, against Python's rules and Python itself
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#include "mp-arena-private.h"
#include "mp-object-private.h"

#define WAIT_LONG (60 * G_USEC_PER_SEC)
#define PYTHON "/usr/bin/python3"


static gboolean
shm_exists (const char *name)
{
  g_autofree char *path = g_strconcat ("/dev/shm/", name, NULL);
  struct stat st;

  return stat (path, &st) == 0;
}

static void
unlink_quietly (const char *name)
{
  g_autofree char *path = g_strconcat ("/", name, NULL);
  shm_unlink (path);
}

/* Runs a Python snippet with one argument; returns its stdout, asserts it succeeded. */
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
  /* Python's tracker must not have complained about (or removed) our segment. */
  assert_null (strstr (err, "leaked"));
  return out;
}

/* The directory entry of a segment, as a monitor would find it. */
static MpArenaObject *
find_entry (const char *name, int *count)
{
  MpArenaHeader *h = _mp_arena_header (_mp_arena);
  MpArenaObject *found = NULL;

  *count = 0;
  for (guint32 i = 0; i < h->objects_high_water; i++)
    {
      MpArenaObject *o = _mp_arena_object (_mp_arena, (int) i);

      if (__atomic_load_n (&o->state, __ATOMIC_ACQUIRE) == 1 &&
          (o->kind == MP_OBJECT_SHARED_MEMORY || o->kind == MP_OBJECT_SHAREABLE_LIST) &&
          strcmp (MP_OBJECT_STATS (o, MpShmStats)->name, name) == 0)
        {
          found = o;
          (*count)++;
        }
    }
  return found;
}

static gboolean
has_pid (MpShmStats *st, pid_t pid)
{
  for (guint i = 0; i < MP_SHM_STATS_ATTACHED; i++)
    if (st->attached_pid[i] == pid)
      return TRUE;
  return FALSE;
}

/* ---- basics -------------------------------------------------------------------------------- */

static void
test_create_attach_unlink (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) a = NULL;
  g_autoptr(MpSharedMemory) b = NULL;
  g_autofree char *repr = NULL;
  guint8 *buf;
  gsize size;

  a = mp_shared_memory_new (NULL, TRUE, 10000, &error);
  assert_non_null (a);
  assert_true (g_str_has_prefix (mp_shared_memory_get_name (a), "psm_"));
  assert_int_equal (strlen (mp_shared_memory_get_name (a)), 12);
  for (const char *c = mp_shared_memory_get_name (a) + 4; *c; c++)
    assert_true (g_ascii_isxdigit (*c) && !g_ascii_isupper (*c));
  assert_int_equal (mp_shared_memory_get_size (a), 10000);
  assert_true (mp_shared_memory_get_track (a));
  assert_true (shm_exists (mp_shared_memory_get_name (a)));
  {
    g_autofree char *path = g_strconcat ("/dev/shm/", mp_shared_memory_get_name (a), NULL);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
  }

  buf = mp_shared_memory_get_buf (a, &size);
  assert_int_equal (size, 10000);
  for (gsize i = 0; i < size; i++)
    assert_int_equal (buf[i], 0);
  memcpy (buf, "hello", 5);

  /* Attaching ignores the size it is given and reads the real one. */
  b = mp_shared_memory_new (mp_shared_memory_get_name (a), FALSE, 1, &error);
  assert_non_null (b);
  assert_int_equal (mp_shared_memory_get_size (b), 10000);
  assert_memory_equal (mp_shared_memory_get_buf (b, NULL), "hello", 5);
  ((guint8 *) mp_shared_memory_get_buf (b, NULL))[9999] = 7;
  assert_int_equal (buf[9999], 7);

  repr = mp_shared_memory_to_string (a);
  assert_true (g_str_has_prefix (repr, "SharedMemory('psm_"));
  assert_true (g_str_has_suffix (repr, "', size=10000)"));

  /* close() ends the mapping only; the segment stays until unlinked. */
  mp_shared_memory_close (b);
  mp_shared_memory_close (b);
  assert_null (mp_shared_memory_get_buf (b, &size));
  assert_int_equal (size, 0);
  assert_int_equal (mp_shared_memory_get_size (b), 10000);
  assert_true (shm_exists (mp_shared_memory_get_name (a)));

  /* Unlink from the handle that closed already; the other mapping stays usable. */
  assert_true (mp_shared_memory_unlink (b, &error));
  assert_false (shm_exists (mp_shared_memory_get_name (a)));
  assert_int_equal (buf[9999], 7);
  assert_false (mp_shared_memory_unlink (a, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
}

static void
expect_error (MpSharedMemory *shm, GError **error, int code)
{
  assert_null (shm);
  assert_non_null (*error);
  if (!g_error_matches (*error, MP_ERROR, code))
    fail_msg ("expected code %d, got %s", code, (*error)->message);
}

static void
test_errors (void **state)
{
  g_autoptr(MpSharedMemory) a = NULL;
  g_autofree char *name = g_strdup_printf ("libmp-test-%d", getpid ());
  g_autofree char *long_name = g_strnfill (300, 'x');

  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (NULL, TRUE, 0, &error), &error, MP_ERROR_INVALID_ARGUMENT);
    assert_non_null (strstr (error->message, "different from zero"));
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (NULL, FALSE, 10, &error), &error, MP_ERROR_INVALID_ARGUMENT);
  }
  {
    /* Python's size < 0. */
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (name, TRUE, (gsize) -1, &error), &error,
                  MP_ERROR_INVALID_ARGUMENT);
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new ("", TRUE, 10, &error), &error, MP_ERROR_INVALID_ARGUMENT);
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new ("a/b", TRUE, 10, &error), &error, MP_ERROR_INVALID_ARGUMENT);
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (long_name, TRUE, 10, &error), &error,
                  MP_ERROR_INVALID_ARGUMENT);
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (name, FALSE, 0, &error), &error, MP_ERROR_NOT_FOUND);
  }

  {
    g_autoptr(GError) error = NULL;
    a = mp_shared_memory_new (name, TRUE, 100, &error);
    assert_non_null (a);
    assert_string_equal (mp_shared_memory_get_name (a), name);
  }
  {
    g_autoptr(GError) error = NULL;
    expect_error (mp_shared_memory_new (name, TRUE, 100, &error), &error, MP_ERROR_EXISTS);
  }
  {
    /* Leading slashes name the same segment (glibc strips them) and are not reported. */
    g_autofree char *slashed = g_strconcat ("//", name, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(MpSharedMemory) b = mp_shared_memory_new (slashed, FALSE, 0, &error);
    assert_non_null (b);
    assert_string_equal (mp_shared_memory_get_name (b), name);
  }
  {
    g_autoptr(GError) error = NULL;
    assert_true (mp_shared_memory_unlink (a, &error));
    assert_false (mp_shared_memory_unlink (a, &error));
    assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
  }
}

static void
test_serialize_after_unlink (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) a = mp_shared_memory_new_full (NULL, TRUE, 64, FALSE, &error);
  g_autoptr(MpSharedMemory) b = NULL;
  g_autoptr(MpSharedMemory) c = NULL;
  g_autoptr(GVariant) handle = NULL;

  assert_non_null (a);
  assert_false (mp_shared_memory_get_track (a));
  handle = g_variant_ref_sink (mp_shared_memory_serialize (a, NULL, &error));
  assert_string_equal (g_variant_get_type_string (handle), "(sb)");
  b = mp_shared_memory_deserialize (handle, NULL, &error);
  assert_non_null (b);
  assert_int_equal (mp_shared_memory_get_size (b), 64);
  assert_false (mp_shared_memory_get_track (b));

  assert_true (mp_shared_memory_unlink (a, &error));
  c = mp_shared_memory_deserialize (handle, NULL, &error);
  expect_error (c, &error, MP_ERROR_NOT_FOUND);
  g_clear_error (&error);

  c = mp_shared_memory_deserialize (g_variant_new ("(s)", "x"), NULL, &error);
  expect_error (c, &error, MP_ERROR_SERIALIZATION);
}

/* ---- the object directory and events ------------------------------------------------------- */

static void
test_directory_and_events (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(MpSharedMemory) a = mp_shared_memory_new (NULL, TRUE, 3000, &error);
  g_autoptr(MpSharedMemory) b = NULL;
  g_autoptr(MpSharedMemory) untracked = NULL;
  MpArenaObject *o;
  MpShmStats *st;
  MpTraceEvent events[256];
  gboolean created = FALSE, attached = FALSE, unlinked = FALSE;
  guint n;
  guint64 lost, id;
  int count;

  assert_non_null (a);
  o = find_entry (mp_shared_memory_get_name (a), &count);
  assert_non_null (o);
  assert_int_equal (count, 1);
  id = o->id;
  assert_int_equal (o->kind, MP_OBJECT_SHARED_MEMORY);
  assert_string_equal (o->label, mp_shared_memory_get_name (a));
  st = MP_OBJECT_STATS (o, MpShmStats);
  assert_int_equal (st->size, 3000);
  assert_int_equal (st->n_attached, 1);
  assert_true (has_pid (st, getpid ()));
  assert_true (st->flags & MP_SHM_FLAG_TRACKED);
  assert_false (st->flags & MP_SHM_FLAG_UNLINKED);

  /* A second mapping joins the entry. */
  b = mp_shared_memory_new (mp_shared_memory_get_name (a), FALSE, 0, &error);
  assert_non_null (b);
  assert_ptr_equal (find_entry (mp_shared_memory_get_name (a), &count), o);
  assert_int_equal (count, 1);
  assert_int_equal (st->n_attached, 2);
  assert_int_equal (o->refs, 2);

  mp_shared_memory_close (b);
  assert_int_equal (st->n_attached, 1);
  assert_true (mp_shared_memory_unlink (a, &error));
  assert_true (st->flags & MP_SHM_FLAG_UNLINKED);
  assert_int_equal (__atomic_load_n (&o->state, __ATOMIC_ACQUIRE), 1);   /* still mapped */
  mp_shared_memory_close (a);
  assert_int_equal (__atomic_load_n (&o->state, __ATOMIC_ACQUIRE), 2);   /* retired */

  untracked = mp_shared_memory_new_full (NULL, TRUE, 10, FALSE, &error);
  assert_non_null (untracked);
  o = find_entry (mp_shared_memory_get_name (untracked), &count);
  assert_non_null (o);
  assert_false (MP_OBJECT_STATS (o, MpShmStats)->flags & MP_SHM_FLAG_TRACKED);
  assert_true (mp_shared_memory_unlink (untracked, &error));

  n = mp_trace_reader_read (reader, events, G_N_ELEMENTS (events), &lost);
  for (guint i = 0; i < n; i++)
    if (events[i].object == id && events[i].pid == getpid ())
      {
        if (events[i].type == MP_EVENT_SHM_CREATED && events[i].a == 3000)
          created = TRUE;
        else if (events[i].type == MP_EVENT_SHM_ATTACHED && events[i].a == 3000)
          attached = TRUE;
        else if (events[i].type == MP_EVENT_SHM_UNLINKED)
          unlinked = TRUE;
      }
  assert_true (created);
  assert_true (attached);
  assert_true (unlinked);
}

/* ---- children ------------------------------------------------------------------------------ */

/* Attaches through the handle, fills the segment with a pattern and checks the directory:
 * one entry, listing both the parent and this process. */
static GVariant *
child_write (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_deserialize (handle, fds, error);
  MpArenaObject *o;
  guint8 *buf;
  gsize size;
  int count;

  if (shm == NULL)
    return g_variant_new_int32 (10);
  buf = mp_shared_memory_get_buf (shm, &size);
  for (gsize i = 0; i < size; i++)
    buf[i] = (guint8) (i * 7 + 3);
  if (_mp_arena == NULL)
    return g_variant_new_int32 (11);
  o = find_entry (mp_shared_memory_get_name (shm), &count);
  if (o == NULL || count != 1)
    return g_variant_new_int32 (12);
  if (!has_pid (MP_OBJECT_STATS (o, MpShmStats), getpid ()) ||
      !has_pid (MP_OBJECT_STATS (o, MpShmStats), mp_process_get_pid (mp_parent_process ())))
    return g_variant_new_int32 (13);
  return g_variant_new_int32 (0);
}

static void
test_child_writes (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_new (NULL, TRUE, 1 << 20, &error);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(MpProcess) p = NULL;
  GVariant *handle;
  const guint8 *buf;
  int code = -1;
  MpShmStats *st;
  int count;

  assert_non_null (shm);
  handle = mp_shared_memory_serialize (shm, fds, &error);
  target = mp_callable_new_with_fds (child_write, g_variant_new_tuple (&handle, 1), fds);
  p = mp_context_process_new (mp_get_context (method, NULL), target);
  assert_true (mp_process_start (p, &error));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, 0);

  buf = mp_shared_memory_get_buf (shm, NULL);
  for (gsize i = 0; i < 1 << 20; i++)
    if (buf[i] != (guint8) (i * 7 + 3))
      fail_msg ("byte %" G_GSIZE_FORMAT " is %d", i, buf[i]);

  /* The child closed its mapping on exit (it dropped its handle). */
  st = MP_OBJECT_STATS (find_entry (mp_shared_memory_get_name (shm), &count), MpShmStats);
  assert_int_equal (st->n_attached, 1);
  assert_true (mp_shared_memory_unlink (shm, &error));
}

/* ---- Python -------------------------------------------------------------------------------- */

static const char py_reads_c[] =
  "import sys\n"
  "from multiprocessing import shared_memory, resource_tracker\n"
  "shm = shared_memory.SharedMemory(name=sys.argv[1])\n"
  "resource_tracker.unregister(shm._name, 'shared_memory')\n"
  "print(bytes(shm.buf[:16]).hex(), shm.size, shm.name)\n"
  "shm.buf[16:32] = bytes(range(100, 116))\n"
  "shm.close()\n";

static void
test_python_attaches_to_libmp (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_new (NULL, TRUE, 12345, &error);
  g_autofree char *out = NULL;
  g_autofree char *expected = NULL;
  guint8 *buf;

  assert_non_null (shm);
  buf = mp_shared_memory_get_buf (shm, NULL);
  for (int i = 0; i < 16; i++)
    buf[i] = (guint8) (0xa0 + i);

  out = run_python (py_reads_c, mp_shared_memory_get_name (shm));
  expected = g_strdup_printf ("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 12345 %s\n",
                              mp_shared_memory_get_name (shm));
  assert_string_equal (out, expected);
  for (int i = 0; i < 16; i++)
    assert_int_equal (buf[16 + i], 100 + i);
  assert_true (shm_exists (mp_shared_memory_get_name (shm)));
  assert_true (mp_shared_memory_unlink (shm, &error));
}

static const char py_creates[] =
  "from multiprocessing import shared_memory, resource_tracker\n"
  "shm = shared_memory.SharedMemory(create=True, size=5000)\n"
  "shm.buf[:5] = b'hello'\n"
  "shm.buf[4999] = 42\n"
  "resource_tracker.unregister(shm._name, 'shared_memory')\n"
  "print(shm.name)\n"
  "shm.close()\n";

static void
test_libmp_attaches_to_python (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) shm = NULL;
  g_autofree char *out = run_python (py_creates, "");
  const guint8 *buf;

  g_strchomp (out);
  assert_true (g_str_has_prefix (out, "psm_"));
  shm = mp_shared_memory_new (out, FALSE, 0, &error);
  if (shm == NULL)
    unlink_quietly (out);
  assert_non_null (shm);
  assert_int_equal (mp_shared_memory_get_size (shm), 5000);
  buf = mp_shared_memory_get_buf (shm, NULL);
  assert_memory_equal (buf, "hello", 5);
  assert_int_equal (buf[4999], 42);
  assert_true (mp_shared_memory_unlink (shm, &error));
  assert_false (shm_exists (out));
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_create_attach_unlink),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_serialize_after_unlink),
    cmocka_unit_test (test_directory_and_events),
    FOR_METHOD (test_child_writes, fork),
    FOR_METHOD (test_child_writes, spawn),
    FOR_METHOD (test_child_writes, forkserver),
    cmocka_unit_test (test_python_attaches_to_libmp),
    cmocka_unit_test (test_libmp_attaches_to_python),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("shared-memory", tests, NULL, NULL);
}
