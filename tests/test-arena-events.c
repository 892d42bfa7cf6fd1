/* test-arena-events.c: the arena and the event rings, read the way a monitor reads them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
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

#include "mp-arena-private.h"
#include "mp-trace-private.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)
#define MAX_EVENTS 65536


static GVariant *
return_code (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 code;
  g_variant_get (args, "(i)", &code);
  return g_variant_new_int32 (code);
}

/* The middle of the tree: starts a grandchild returning 4, then returns 3. */
static GVariant *
middle (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *m;
  g_autoptr(MpCallable) c = mp_callable_new (return_code, g_variant_new ("(i)", 4));
  g_autoptr(MpProcess) p = NULL;

  g_variant_get (args, "(&s)", &m);
  p = mp_context_process_new (mp_get_context (m, NULL), c);
  if (!mp_process_start (p, error) || !mp_process_join (p, WAIT_LONG, error))
    return g_variant_new_int32 (50);
  return g_variant_new_int32 (3);
}

static GVariant *
emit_marks (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 n;
  g_variant_get (args, "(i)", &n);
  for (gint32 i = 0; i < n; i++)
    mp_trace_mark (7, i, 0);
  return g_variant_new_int32 (0);
}

static MpTraceEvent *
read_all (MpTraceReader *reader, guint *n_out, guint64 *lost_out)
{
  MpTraceEvent *events = g_new (MpTraceEvent, MAX_EVENTS);
  guint n = 0, got;
  guint64 lost;

  *lost_out = 0;
  while (n < MAX_EVENTS && (got = mp_trace_reader_read (reader, events + n, MAX_EVENTS - n, &lost)) > 0)
    {
      n += got;
      *lost_out += lost;
    }
  *lost_out += lost;
  *n_out = n;
  return events;
}

/* Index of the first event from pid of type (and a == want_a unless want_a is -1), or -1. */
static int
find (const MpTraceEvent *ev, guint n, pid_t pid, MpEventType type, gint64 want_a)
{
  for (guint i = 0; i < n; i++)
    if (ev[i].pid == pid && ev[i].type == type && (want_a == -1 || ev[i].a == want_a))
      return (int) i;
  return -1;
}

static void
test_three_level_tree (void **state)
{
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(MpCallable) c = mp_callable_new (middle, g_variant_new ("(s)", method));
  g_autoptr(MpProcess) child = mp_context_process_new (mp_get_context (method, NULL), c);
  g_autofree MpTraceEvent *ev = NULL;
  pid_t root = getpid (), mid, leaf;
  guint n;
  guint64 lost;
  int code = -1, i_created, i_started, i_gc_created, i_gc_exited, i_exiting, i_exited, i_leaf_started, i_leaf_exiting;
  MpArenaProc *slot;

  assert_true (mp_process_start (child, NULL));
  assert_true (mp_process_join (child, WAIT_LONG, NULL));
  assert_true (mp_process_get_exitcode (child, &code));
  assert_int_equal (code, 3);
  mid = mp_process_get_pid (child);

  ev = read_all (reader, &n, &lost);
  assert_int_equal (lost, 0);

  /* The leaf is the process whose "started" names the middle as its parent. */
  i_leaf_started = -1;
  for (guint i = 0; i < n; i++)
    if (ev[i].type == MP_EVENT_PROCESS_STARTED && ev[i].a == mid)
      i_leaf_started = (int) i;
  assert_true (i_leaf_started >= 0);
  leaf = ev[i_leaf_started].pid;

  i_created = find (ev, n, root, MP_EVENT_PROCESS_CREATED, mid);
  i_exited = find (ev, n, root, MP_EVENT_PROCESS_EXITED, mid);
  i_started = find (ev, n, mid, MP_EVENT_PROCESS_STARTED, root);
  i_gc_created = find (ev, n, mid, MP_EVENT_PROCESS_CREATED, leaf);
  i_gc_exited = find (ev, n, mid, MP_EVENT_PROCESS_EXITED, leaf);
  i_exiting = find (ev, n, mid, MP_EVENT_PROCESS_EXITING, 3);
  i_leaf_exiting = find (ev, n, leaf, MP_EVENT_PROCESS_EXITING, 4);

  assert_true (i_created >= 0 && i_exited >= 0 && i_started >= 0 && i_gc_created >= 0 &&
               i_gc_exited >= 0 && i_exiting >= 0 && i_leaf_exiting >= 0);
  assert_int_equal (ev[i_exited].b, 3);
  assert_int_equal (ev[i_gc_exited].b, 4);
  /* Created events name the start method, for fork and spawn; the arena slot is the object. */
  assert_int_equal (ev[i_created].b, g_str_equal (method, "fork") ? 1 : g_str_equal (method, "spawn") ? 2 : 3);

  /* In order per process: the reader returns each ring in emission order. */
  assert_true (i_created < i_exited);
  assert_true (i_started < i_gc_created && i_gc_created < i_gc_exited && i_gc_exited < i_exiting);
  assert_true (i_leaf_started < i_leaf_exiting);
  for (guint i = 0; i < n; i++)
    for (guint j = i + 1; j < n; j++)
      if (ev[i].pid == ev[j].pid)
        assert_true (ev[i].timestamp_ns <= ev[j].timestamp_ns);
  /* Across processes, causality holds on the shared monotonic clock. ("created" is written by
   * the parent once the child exists, so it may come after the child's "started".) */
  assert_true (ev[i_leaf_exiting].timestamp_ns <= ev[i_gc_exited].timestamp_ns);
  assert_true (ev[i_exiting].timestamp_ns <= ev[i_exited].timestamp_ns);

  /* The process table agrees. */
  slot = _mp_arena_proc (_mp_arena, (int) ev[i_created].object);
  assert_non_null (slot);
  assert_int_equal (slot->pid, mid);
  assert_int_equal (slot->ppid, root);
  assert_int_equal (__atomic_load_n (&slot->state, __ATOMIC_ACQUIRE), MP_PROC_EXITED);
  assert_int_equal (slot->exit_code, 3);
  assert_string_equal (slot->name, mp_process_get_name (child));
  slot = _mp_arena_proc (_mp_arena, (int) ev[i_gc_created].object);
  assert_int_equal (slot->pid, leaf);
  assert_int_equal (slot->ppid, mid);
  assert_int_equal (slot->exit_code, 4);
  assert_true (g_str_has_prefix (slot->name, mp_process_get_name (child)));
}

static void
test_wrapped_ring_counts_lost (void **state)
{
  const gint32 n_marks = 10000;
  guint32 cap = _mp_arena_header (_mp_arena)->ring_capacity;
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(MpCallable) c = mp_callable_new (emit_marks, g_variant_new ("(i)", n_marks));
  g_autoptr(MpProcess) child = mp_context_process_new (mp_get_context (method, NULL), c);
  g_autofree MpTraceEvent *ev = NULL;
  guint n, from_child = 0;
  guint64 lost;
  gint64 expect_next = -1;
  pid_t pid;

  assert_true (n_marks > (gint32) cap);
  assert_true (mp_process_start (child, NULL));
  assert_true (mp_process_join (child, WAIT_LONG, NULL));
  pid = mp_process_get_pid (child);

  ev = read_all (reader, &n, &lost);
  /* The child wrote started + marks + exiting into its ring; the ring kept the last `cap`. */
  for (guint i = 0; i < n; i++)
    if (ev[i].pid == pid)
      {
        from_child++;
        if (ev[i].type == MP_EVENT_MARK)
          {
            /* No duplicates, no holes in what was kept. */
            if (expect_next >= 0)
              assert_int_equal (ev[i].a, expect_next);
            expect_next = ev[i].a + 1;
          }
      }
  assert_int_equal (from_child, cap);
  assert_int_equal (lost, (guint64) n_marks + 2 - cap);
  assert_int_equal (expect_next, n_marks);
}

static void
test_level_off_and_lifecycle (void **state)
{
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  g_autoptr(MpCallable) c = mp_callable_new (emit_marks, g_variant_new ("(i)", 5));
  g_autoptr(MpProcess) child = mp_context_process_new (mp_get_context (method, NULL), c);
  g_autofree MpTraceEvent *ev = NULL;
  MpTraceLevel before = mp_trace_get_level ();
  guint n;
  guint64 lost;
  MpTraceLevel parsed;

  mp_trace_set_level (MP_TRACE_OFF);
  assert_true (mp_process_start (child, NULL));
  assert_true (mp_process_join (child, WAIT_LONG, NULL));
  mp_trace_set_level (before);

  ev = read_all (reader, &n, &lost);
  assert_int_equal (n, 0);

  assert_true (mp_trace_level_from_string ("verbose", &parsed));
  assert_int_equal (parsed, MP_TRACE_VERBOSE);
  assert_true (mp_trace_level_from_string ("OFF", &parsed));
  assert_int_equal (parsed, MP_TRACE_OFF);
  assert_false (mp_trace_level_from_string ("loud", &parsed));
}

static void
test_independent_readers (void **state)
{
  g_autoptr(MpTraceReader) a = mp_trace_reader_new (FALSE);
  g_autoptr(MpTraceReader) b = mp_trace_reader_new (FALSE);
  MpTraceEvent ev[16];
  guint64 lost;

  for (int i = 0; i < 10; i++)
    mp_trace_mark (9, i, 0);
  assert_int_equal (mp_trace_reader_read (a, ev, 16, &lost), 10);
  assert_int_equal (mp_trace_reader_read (a, ev, 16, &lost), 0);
  assert_int_equal (mp_trace_reader_read (b, ev, 4, &lost), 4);
  assert_int_equal (ev[0].a, 0);
  assert_int_equal (mp_trace_reader_read (b, ev, 16, &lost), 6);
  assert_int_equal (ev[5].a, 9);
  assert_int_equal (ev[0].pid, getpid ());
}

typedef struct
{
  int     id;
  gint32  count;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *w = data;
  for (gint32 i = 0; i < w->count; i++)
    mp_trace_mark (1000 + w->id, i, 0);
  return NULL;
}

/* Writers in several threads of one process share its ring; a reader racing them gets every
 * event exactly once or counts it lost. */
static void
test_concurrent_writers_and_reader (void **state)
{
  enum { THREADS = 4, PER_THREAD = 50000 };
  g_autoptr(MpTraceReader) reader = mp_trace_reader_new (FALSE);
  Writer writers[THREADS];
  GThread *threads[THREADS];
  gint64 next[THREADS] = { 0 };
  guint64 seen = 0, lost_total = 0, lost;
  MpTraceEvent ev[512];
  gboolean running = TRUE;

  for (int t = 0; t < THREADS; t++)
    {
      writers[t].id = t;
      writers[t].count = PER_THREAD;
      threads[t] = g_thread_new ("writer", writer_thread, &writers[t]);
    }
  while (running || seen + lost_total < (guint64) THREADS * PER_THREAD)
    {
      guint n = mp_trace_reader_read (reader, ev, G_N_ELEMENTS (ev), &lost);

      lost_total += lost;
      for (guint i = 0; i < n; i++)
        {
          int t = (int) ev[i].object - 1000;
          assert_in_range (t, 0, THREADS - 1);
          /* Per writer, values only go up. */
          assert_true (ev[i].a >= next[t]);
          next[t] = ev[i].a + 1;
          seen++;
        }
      if (running && n == 0)
        {
          running = FALSE;
          for (int t = 0; t < THREADS; t++)
            g_thread_join (threads[t]);
        }
    }
  assert_int_equal (seen + lost_total, (guint64) THREADS * PER_THREAD);
}

static void
test_validation_rejects_corruption (void **state)
{
  gsize size = _mp_arena->size;
  guint8 *copy = g_malloc (size);
  MpArenaHeader *h = (MpArenaHeader *) copy;
  g_autoptr(GError) error = NULL;
  MpArena *ro;
  int fd;

  memcpy (copy, _mp_arena->base, size);
  assert_true (_mp_arena_validate (copy, size, &error));

  h->magic[0] = 'X';
  assert_false (_mp_arena_validate (copy, size, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  memcpy (copy, _mp_arena->base, sizeof *h);

  h->version = 999;
  assert_false (_mp_arena_validate (copy, size, &error));
  assert_non_null (strstr (error->message, "999"));
  g_clear_error (&error);
  memcpy (copy, _mp_arena->base, sizeof *h);

  h->rings_offset = size;
  assert_false (_mp_arena_validate (copy, size, &error));
  g_clear_error (&error);
  memcpy (copy, _mp_arena->base, sizeof *h);

  h->ring_capacity = 1000;  /* not a power of two */
  assert_false (_mp_arena_validate (copy, size, &error));
  g_clear_error (&error);
  memcpy (copy, _mp_arena->base, sizeof *h);

  h->procs_capacity = 60000;  /* tables would overlap */
  assert_false (_mp_arena_validate (copy, size, &error));
  g_clear_error (&error);

  /* Truncated: only the header is there. */
  assert_false (_mp_arena_validate (copy, sizeof *h, &error));
  g_clear_error (&error);
  g_free (copy);

  /* A memfd of garbage is refused by the mapper too, without crashing. */
  fd = memfd_create ("libmp-arena", MFD_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, 1 << 16), 0);
  ro = _mp_arena_map (fd, FALSE, &error);
  assert_null (ro);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  close (fd);

  /* Our own arena maps read-only, as a monitor in another process would map it. */
  ro = _mp_arena_map (dup (_mp_arena->fd), FALSE, &error);
  assert_non_null (ro);
  assert_int_equal (_mp_arena_header (ro)->root_pid, getpid ());
  assert_string_equal (_mp_arena_header (ro)->program, "test-arena-events");
  _mp_arena_unmap (ro);
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    FOR_METHOD (test_three_level_tree, fork),
    FOR_METHOD (test_three_level_tree, spawn),
    FOR_METHOD (test_three_level_tree, forkserver),
    FOR_METHOD (test_wrapped_ring_counts_lost, fork),
    FOR_METHOD (test_wrapped_ring_counts_lost, spawn),
    FOR_METHOD (test_level_off_and_lifecycle, spawn),
    cmocka_unit_test (test_independent_readers),
    cmocka_unit_test (test_concurrent_writers_and_reader),
    cmocka_unit_test (test_validation_rejects_corruption),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("arena-events", tests, NULL, NULL);
}
