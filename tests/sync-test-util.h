/* sync-test-util.h: what the tests of the synchronization objects share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Children never assert: they return a nonzero exit code naming the step that failed, and the
 * parent asserts. Values cross between processes through a shared page: a memfd the parent
 * maps and hands to each child in its callable's fd list (so spawned children reach it too).
 * Every wait is bounded, so a bug fails a test instead of hanging it.
 */

#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)
#define SHARED_SLOTS 2048

static const char *method;   /* per test: "fork", "spawn" or "forkserver" */

static G_GNUC_UNUSED int
setup_fork (void **state)
{
  method = "fork";
  return 0;
}

static G_GNUC_UNUSED int
setup_spawn (void **state)
{
  method = "spawn";
  return 0;
}

static G_GNUC_UNUSED int
setup_forkserver (void **state)
{
  method = "forkserver";
  return 0;
}

#define FOR_METHOD(test, m) { #test "/" #m, test, setup_##m, NULL, NULL }

/* ---- the shared page ----------------------------------------------------------------------- */

typedef struct
{
  int     fd;
  gint64 *v;     /* SHARED_SLOTS values */
} Shared;

static G_GNUC_UNUSED Shared
shared_new (void)
{
  Shared s;

  s.fd = memfd_create ("sync-test", MFD_CLOEXEC);
  assert_true (s.fd >= 0);
  assert_int_equal (ftruncate (s.fd, SHARED_SLOTS * sizeof (gint64)), 0);
  s.v = mmap (NULL, SHARED_SLOTS * sizeof (gint64), PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
  assert_true (s.v != MAP_FAILED);
  return s;
}

static G_GNUC_UNUSED void
shared_free (Shared *s)
{
  munmap (s->v, SHARED_SLOTS * sizeof (gint64));
  close (s->fd);
}

/* In a child: maps the page passed as fd `index` of the list; NULL on failure. */
static G_GNUC_UNUSED gint64 *
shared_map (GUnixFDList *fds, gint32 index)
{
  int fd = g_unix_fd_list_get (fds, index, NULL);
  void *p;

  if (fd < 0)
    return NULL;
  p = mmap (NULL, SHARED_SLOTS * sizeof (gint64), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close (fd);
  return p == MAP_FAILED ? NULL : p;
}

static G_GNUC_UNUSED gint64
shared_get (gint64 *v, int i)
{
  return __atomic_load_n (&v[i], __ATOMIC_SEQ_CST);
}

static G_GNUC_UNUSED void
shared_set (gint64 *v, int i, gint64 x)
{
  __atomic_store_n (&v[i], x, __ATOMIC_SEQ_CST);
}

static G_GNUC_UNUSED gint64
shared_add (gint64 *v, int i, gint64 x)
{
  return __atomic_add_fetch (&v[i], x, __ATOMIC_SEQ_CST);
}

/* Polls until v[i] >= want; FALSE after timeout_us. Polling, not sleeping to synchronize: the
 * short naps only keep the poll from eating a CPU the children need. */
static G_GNUC_UNUSED gboolean
shared_wait_at_least (gint64 *v, int i, gint64 want, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;

  while (shared_get (v, i) < want)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (200);
    }
  return TRUE;
}

/* ---- children ------------------------------------------------------------------------------ */

/* Starts func(args) in a child of the current start method, with the fds of `fds`. */
static G_GNUC_UNUSED MpProcess *
start_child_fds (MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) c = NULL;
  g_autoptr(GError) error = NULL;
  MpProcess *p;

  c = mp_callable_new_with_fds (func, args, fds);
  p = mp_context_process_new (mp_get_context (method, NULL), c);
  assert_non_null (p);
  if (!mp_process_start (p, &error))
    fail_msg ("start: %s", error->message);
  return p;
}

/* Starts func(args) in a child of the current start method; the shared page's fd is fd 0 of
 * its list when `shared` is given. */
static G_GNUC_UNUSED MpProcess *
start_child (MpFunc func, GVariant *args, Shared *shared)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();

  if (shared != NULL)
    assert_int_equal (g_unix_fd_list_append (fds, shared->fd, NULL), 0);
  return start_child_fds (func, args, fds);
}

/* Joins (bounded) and returns the exit code; drops the process. */
static G_GNUC_UNUSED int
join_child (MpProcess *p)
{
  g_autoptr(GError) error = NULL;
  int code = -1000;

  if (!mp_process_join (p, WAIT_LONG, &error))
    {
      mp_process_kill (p, NULL);
      mp_process_join (p, WAIT_LONG, NULL);
      g_object_unref (p);
      fail_msg ("join: %s", error->message);
    }
  assert_true (mp_process_get_exitcode (p, &code));
  g_object_unref (p);
  return code;
}

#define CHILD_CHECK(cond, code) \
  G_STMT_START { if (!(cond)) return g_variant_new_int32 (code); } G_STMT_END

/* ---- private views ------------------------------------------------------------------------- */

static G_GNUC_UNUSED MpSyncStats *
stats_of (gpointer object)
{
  /* Every sync object begins with its MpSync. */
  return ((MpSync *) object)->st;
}

static G_GNUC_UNUSED guint64
stat_load (const uint64_t *field)
{
  return __atomic_load_n (field, __ATOMIC_RELAXED);
}

/* Reads everything the reader has, into a new array of MpTraceEvent. */
static G_GNUC_UNUSED GArray *
read_all_events (MpTraceReader *reader, guint64 *lost)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (MpTraceEvent));
  MpTraceEvent buf[512];
  guint64 l = 0, total_lost = 0;
  guint n, idle = 0;

  /* The reader visits the rings round-robin: read until several passes bring nothing. */
  while (idle < 4)
    {
      n = mp_trace_reader_read (reader, buf, G_N_ELEMENTS (buf), &l);
      total_lost += l;
      if (n == 0)
        idle++;
      else
        {
          idle = 0;
          g_array_append_vals (all, buf, n);
        }
    }
  if (lost)
    *lost = total_lost;
  return all;
}
