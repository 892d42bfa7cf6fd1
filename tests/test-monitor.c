/* test-monitor.c: MpMonitor on live programs — attach, process tree, SIGSTOP, short-lived
 * processes, the wait-for graph and deadlocks, stuck workers, leaked segments, record/replay
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The program attached to is examples/sleepy-tree, started as a separate program. Locks do
 * not exist in this tree yet, so the lock tests write the arena entries a lock would (its
 * directory entry with MpSyncStats.holder_pid, and the waiter's blocked_on through
 * _mp_arena_proc_set_blocked_on(), called by the waiting child itself).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <mp.h>

#include "mp-arena-private.h"
#include "mp-monitor-private.h"
#include "mp-object-private.h"
#include "mp-process-private.h"
#include "mp-trace-private.h"

#define WAIT_LONG_US (30 * G_USEC_PER_SEC)

/* Samples until @cond holds; fails after 30 s. A condition to wait for, not a sleep. */
#define SAMPLE_UNTIL(m, cond) \
  G_STMT_START { \
    gint64 deadline_ = g_get_monotonic_time () + WAIT_LONG_US; \
    for (;;) \
      { \
        mp_monitor_sample (m); \
        if (cond) \
          break; \
        assert_true (g_get_monotonic_time () < deadline_); \
        g_usleep (10 * 1000); \
      } \
  } G_STMT_END

/* ---- the separately started program ------------------------------------------------------ */

typedef struct
{
  GPid pid;
  int  in_fd;
  int  out_fd;
} Tree;

static void
tree_start (Tree *t)
{
  g_autofree char *path = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "..", "examples",
                                            "sleepy-tree", NULL);
  char *argv[] = { path, NULL };
  g_autoptr(GError) error = NULL;
  char line[64];
  gsize len = 0;

  assert_true (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &t->pid, &t->in_fd, &t->out_fd, NULL, &error));
  while (len < sizeof line - 1)
    {
      struct pollfd pfd = { t->out_fd, POLLIN, 0 };
      ssize_t n;

      assert_true (poll (&pfd, 1, 30000) == 1);
      n = read (t->out_fd, line + len, 1);
      assert_true (n == 1);
      if (line[len++] == '\n')
        break;
    }
  line[len] = 0;
  assert_true (g_str_has_prefix (line, "ready "));
  assert_int_equal (atoi (line + 6), t->pid);
}

static int
tree_stop (Tree *t)
{
  int status;

  close (t->in_fd);
  assert_int_equal (waitpid (t->pid, &status, 0), t->pid);
  close (t->out_fd);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static MpMonitorProcess *
find_by_name (MpMonitor *m, const char *name)
{
  GListModel *procs = mp_monitor_get_processes (m);
  MpMonitorProcess *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (procs); i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (procs, i);
      if (g_strcmp0 (mp_monitor_process_get_name (p), name) == 0)
        found = p;   /* the store keeps it; the latest one wins */
    }
  return found;
}

static gboolean
model_contains (GListModel *model, gpointer item)
{
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(GObject) o = g_list_model_get_item (model, i);
      if (o == item)
        return TRUE;
    }
  return FALSE;
}

static gboolean
all_final (MpMonitor *m)
{
  GListModel *procs = mp_monitor_get_processes (m);

  for (guint i = 0; i < g_list_model_get_n_items (procs); i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (procs, i);
      if (mp_monitor_process_is_alive (p))
        return FALSE;
    }
  return TRUE;
}

static void
test_attach_tree (void **state)
{
  Tree t;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  g_autoptr(GListModel) programs = NULL;
  MpMonitorProcess *main_p, *p1, *p11, *p2, *p3, *p4, *fs;
  GListModel *roots;
  gboolean listed = FALSE;
  int finished = 0;

  tree_start (&t);

  programs = mp_monitor_list_programs (&error);
  assert_non_null (programs);
  for (guint i = 0; i < g_list_model_get_n_items (programs); i++)
    {
      g_autoptr(MpMonitorProgram) prog = g_list_model_get_item (programs, i);
      if (mp_monitor_program_get_pid (prog) == t.pid)
        {
          listed = TRUE;
          assert_string_equal (mp_monitor_program_get_name (prog), "sleepy-tree");
          assert_null (mp_monitor_program_get_error (prog));
          /* main, Process-1, Process-1:1, Process-2, ForkServer, Process-3 */
          assert_int_equal (mp_monitor_program_get_n_processes (prog), 6);
          assert_true (mp_monitor_program_get_start_time (prog) > 0);
        }
    }
  assert_true (listed);

  m = mp_monitor_new_for_pid (t.pid, &error);
  assert_non_null (m);
  assert_int_equal (mp_monitor_get_source (m), MP_MONITOR_SOURCE_PID);
  assert_string_equal (mp_monitor_get_program_name (m), "sleepy-tree");
  assert_int_equal (mp_monitor_get_pid (m), t.pid);
  mp_monitor_sample (m);

  main_p = find_by_name (m, "MainProcess");
  p1 = find_by_name (m, "Process-1");
  p11 = find_by_name (m, "Process-1:1");
  p2 = find_by_name (m, "Process-2");
  p3 = find_by_name (m, "Process-3");
  p4 = find_by_name (m, "Process-4");
  fs = find_by_name (m, "ForkServer");
  assert_true (main_p && p1 && p11 && p2 && p3 && p4 && fs);

  assert_int_equal (mp_monitor_process_get_pid (main_p), t.pid);
  assert_int_equal (mp_monitor_process_get_ppid (main_p), getpid ());
  assert_int_equal (mp_monitor_process_get_role (main_p), MP_MONITOR_ROLE_MAIN);
  assert_int_equal (mp_monitor_process_get_state (main_p), MP_MONITOR_PROCESS_RUNNING);
  assert_null (mp_monitor_process_get_start_method (main_p));
  assert_true (mp_monitor_process_get_rss (main_p) > 0);

  assert_int_equal (mp_monitor_process_get_ppid (p1), t.pid);
  assert_int_equal (mp_monitor_process_get_role (p1), MP_MONITOR_ROLE_PROCESS);
  assert_string_equal (mp_monitor_process_get_start_method (p1), "fork");
  assert_int_equal (mp_monitor_process_get_state (p1), MP_MONITOR_PROCESS_RUNNING);

  assert_int_equal (mp_monitor_process_get_ppid (p11), mp_monitor_process_get_pid (p1));
  assert_string_equal (mp_monitor_process_get_start_method (p11), "spawn");
  assert_int_equal (mp_monitor_process_get_ppid (p2), t.pid);
  assert_string_equal (mp_monitor_process_get_start_method (p2), "spawn");
  assert_int_equal (mp_monitor_process_get_ppid (p3), t.pid);   /* the requester, not the server */
  assert_string_equal (mp_monitor_process_get_start_method (p3), "forkserver");
  assert_int_equal (mp_monitor_process_get_ppid (fs), t.pid);
  assert_int_equal (mp_monitor_process_get_role (fs), MP_MONITOR_ROLE_FORKSERVER);
  assert_int_equal (mp_monitor_process_get_state (p4), MP_MONITOR_PROCESS_EXITED);
  assert_int_equal (mp_monitor_process_get_exit_code (p4), 3);
  assert_false (mp_monitor_process_is_alive (p4));

  /* The tree: one root, five children, one grandchild. */
  roots = mp_monitor_get_process_roots (m);
  assert_int_equal (g_list_model_get_n_items (roots), 1);
  assert_true (model_contains (roots, main_p));
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (main_p)), 5);
  assert_true (model_contains (mp_monitor_process_get_children (p1), p11));
  assert_true (model_contains (mp_monitor_process_get_children (main_p), fs));
  assert_true (model_contains (mp_monitor_process_get_children (main_p), p3));

  /* The ring history has the lifecycle events of the children. */
  assert_true (mp_monitor_get_n_events (m) >= 10);
  assert_int_equal (mp_monitor_get_n_lost (m), 0);

  g_signal_connect_swapped (m, "finished", G_CALLBACK (g_atomic_int_inc), &finished);
  assert_int_equal (tree_stop (&t), 0);
  /* The arena outlives the program in our mapping: the monitor sees the end. */
  SAMPLE_UNTIL (m, mp_monitor_get_finished (m));
  assert_int_equal (finished, 1);
  assert_true (all_final (m));
  assert_int_equal (mp_monitor_process_get_state (p1), MP_MONITOR_PROCESS_EXITED);
  assert_int_equal (mp_monitor_process_get_exit_code (p1), 0);
  assert_int_equal (mp_monitor_process_get_state (p11), MP_MONITOR_PROCESS_EXITED);
  assert_int_equal (mp_monitor_process_get_state (main_p), MP_MONITOR_PROCESS_VANISHED);
}

static void
test_attach_stopped (void **state)
{
  Tree t;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  MpMonitorProcess *main_p, *p2;
  int status;

  tree_start (&t);
  assert_int_equal (kill (t.pid, SIGSTOP), 0);
  assert_int_equal (waitpid (t.pid, &status, WUNTRACED), t.pid);
  assert_true (WIFSTOPPED (status));

  m = mp_monitor_new_for_pid (t.pid, &error);
  assert_non_null (m);
  mp_monitor_sample (m);
  main_p = find_by_name (m, "MainProcess");
  p2 = find_by_name (m, "Process-2");
  assert_non_null (main_p);
  assert_non_null (p2);
  assert_int_equal (mp_monitor_process_get_state (main_p), MP_MONITOR_PROCESS_STOPPED);
  assert_true (mp_monitor_process_is_alive (main_p));
  assert_int_equal (mp_monitor_process_get_state (p2), MP_MONITOR_PROCESS_RUNNING);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (main_p)), 5);

  assert_int_equal (kill (t.pid, SIGCONT), 0);
  SAMPLE_UNTIL (m, mp_monitor_process_get_state (main_p) == MP_MONITOR_PROCESS_RUNNING);
  assert_int_equal (tree_stop (&t), 0);
}

static void
test_attach_errors (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  char *argv[] = { (char *) "/bin/cat", NULL };
  GPid cat;
  int in_fd, status;

  m = mp_monitor_new_for_pid (0x3ffffff0, &error);
  assert_null (m);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
  assert_non_null (strstr (error->message, "no process"));
  g_clear_error (&error);

  m = mp_monitor_new_for_pid (-5, &error);
  assert_null (m);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  g_clear_error (&error);

  assert_true (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &cat, &in_fd, NULL, NULL, NULL));
  m = mp_monitor_new_for_pid (cat, &error);
  assert_null (m);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
  assert_non_null (strstr (error->message, "not a libmp program"));
  close (in_fd);
  assert_int_equal (waitpid (cat, &status, 0), cat);
}

static void
test_arena_offsets_cannot_wrap (void **state)
{
  MpArenaHeader h = *_mp_arena_header (_mp_arena);
  MpArena fake = { .base = (guint8 *) &h, .size = _mp_arena->size, .fd = -1 };
  MpMonitorArena ma;
  g_autoptr(GError) error = NULL;

  assert_true (_mp_monitor_arena_init (&ma, _mp_arena, &error));
  /* An offset near 2^64 makes offset + size wrap to a small number that looks in bounds. */
  h.procs_offset = G_MAXUINT64 - 15;
  assert_false (_mp_monitor_arena_init (&ma, &fake, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_SERIALIZATION));
  g_clear_error (&error);
  h = *_mp_arena_header (_mp_arena);
  h.rings_offset = G_MAXUINT64 - h.total_size + 4096;
  assert_false (_mp_monitor_arena_init (&ma, &fake, &error));
  g_clear_error (&error);
  h = *_mp_arena_header (_mp_arena);
  h.version = MP_ARENA_VERSION + 1;
  assert_false (_mp_monitor_arena_init (&ma, &fake, &error));
  assert_non_null (strstr (error->message, "version"));
}

/* ---- the own tree ------------------------------------------------------------------------ */

static GVariant *
return_code (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 code;
  g_variant_get (args, "(i)", &code);
  return g_variant_new_int32 (code);
}

static pid_t
run_child (const char *method, int code)
{
  g_autoptr(MpCallable) c = mp_callable_new (return_code, g_variant_new ("(i)", code));
  g_autoptr(MpProcess) p = mp_context_process_new (mp_get_context (method, NULL), c);
  int got = -1000;

  assert_true (mp_process_start (p, NULL));
  assert_true (mp_process_join (p, WAIT_LONG_US, NULL));
  assert_true (mp_process_get_exitcode (p, &got));
  assert_int_equal (got, code);
  return mp_process_get_pid (p);
}

static void
test_short_lived_between_samples (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  MpMonitorProcess *p;
  pid_t child;

  assert_non_null (m);
  mp_monitor_sample (m);
  child = run_child ("fork", 5);
  assert_null (mp_monitor_lookup_process (m, child));

  /* No sample since the child started and exited: the events bring it. */
  assert_true (mp_monitor_poll_events (m) >= 3);
  p = mp_monitor_lookup_process (m, child);
  assert_non_null (p);
  assert_int_equal (mp_monitor_process_get_state (p), MP_MONITOR_PROCESS_EXITED);
  assert_int_equal (mp_monitor_process_get_exit_code (p), 5);
  assert_int_equal (mp_monitor_process_get_ppid (p), getpid ());
  assert_true (g_str_has_prefix (mp_monitor_process_get_name (p), "Process-"));
  assert_string_equal (mp_monitor_process_get_start_method (p), "fork");
  assert_true (mp_monitor_process_get_exit_time (p) >= mp_monitor_process_get_start_time (p));
  assert_true (model_contains (mp_monitor_process_get_children (mp_monitor_lookup_process (m, getpid ())), p));
}

/* ---- locks: holder, waiters, deadlock -------------------------------------------------- */

/* args: (t lock the child says it waits on, h ready pipe, h release pipe) */
static GVariant *
block_on (GVariant *args, GUnixFDList *fds, GError **error)
{
  guint64 lock;
  gint32 hr, hw;
  const int *fdv;
  char c = 'r';

  g_variant_get (args, "(thh)", &lock, &hr, &hw);
  fdv = g_unix_fd_list_peek_fds (fds, NULL);
  _mp_arena_proc_set_blocked_on (lock);
  if (write (fdv[hr], &c, 1) != 1 || read (fdv[hw], &c, 1) != 1)
    return g_variant_new_int32 (10);
  _mp_arena_proc_set_blocked_on (0);
  return g_variant_new_int32 (0);
}

typedef struct
{
  MpProcess *p;
  int        release_w;
} Blocker;

static void
blocker_start (Blocker *b, guint64 lock)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) c = NULL;
  int ready[2], release[2];
  char byte;

  assert_true (g_unix_open_pipe (ready, FD_CLOEXEC, NULL));
  assert_true (g_unix_open_pipe (release, FD_CLOEXEC, NULL));
  c = mp_callable_new_with_fds (block_on,
                                g_variant_new ("(thh)", lock,
                                               g_unix_fd_list_append (fds, ready[1], NULL),
                                               g_unix_fd_list_append (fds, release[0], NULL)),
                                fds);
  b->p = mp_context_process_new (mp_get_context ("fork", NULL), c);
  assert_true (mp_process_start (b->p, NULL));
  assert_int_equal (read (ready[0], &byte, 1), 1);
  close (ready[0]);
  close (ready[1]);
  close (release[0]);
  b->release_w = release[1];
}

static void
blocker_stop (Blocker *b)
{
  int code = -1;
  char byte = 'g';

  assert_int_equal (write (b->release_w, &byte, 1), 1);
  close (b->release_w);
  assert_true (mp_process_join (b->p, WAIT_LONG_US, NULL));
  assert_true (mp_process_get_exitcode (b->p, &code));
  assert_int_equal (code, 0);
  g_object_unref (b->p);
}

static MpMonitorLock *
find_lock (MpMonitor *m, guint64 id)
{
  GListModel *locks = mp_monitor_get_locks (m);

  for (guint i = 0; i < g_list_model_get_n_items (locks); i++)
    {
      g_autoptr(MpMonitorLock) l = g_list_model_get_item (locks, i);
      if (mp_monitor_lock_get_id (l) == id)
        return l;
    }
  return NULL;
}

static MpMonitorAlert *
find_alert (MpMonitor *m, MpMonitorAlertKind kind)
{
  GListModel *alerts = mp_monitor_get_alerts (m);

  for (guint i = 0; i < g_list_model_get_n_items (alerts); i++)
    {
      g_autoptr(MpMonitorAlert) a = g_list_model_get_item (alerts, i);
      if (mp_monitor_alert_get_kind (a) == kind)
        return a;
    }
  return NULL;
}

static void
count_alert (MpMonitor *m, MpMonitorAlert *alert, gpointer user_data)
{
  (*(int *) user_data)++;
}

static void
test_lock_holder_waiter_and_deadlock (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  guint64 id_a, id_b;
  MpArenaObject *oa = _mp_arena_object_new (MP_OBJECT_LOCK, "Lock-A", &id_a);
  MpArenaObject *ob = _mp_arena_object_new (MP_OBJECT_LOCK, "Lock-B", &id_b);
  MpSyncStats *sa = MP_OBJECT_STATS (oa, MpSyncStats), *sb = MP_OBJECT_STATS (ob, MpSyncStats);
  Blocker c1, c2;
  pid_t pid1, pid2;
  MpMonitorLock *la, *lb;
  MpMonitorAlert *alert;
  const GPid *pids;
  const guint64 *objs;
  guint n;
  int raised = 0;
  g_autofree char *s1 = NULL, *s2 = NULL;
  g_autoptr(GArray) edges = NULL;

  assert_non_null (oa);
  assert_non_null (ob);
  g_signal_connect (m, "alert-raised", G_CALLBACK (count_alert), &raised);

  /* c1 waits for B, c2 waits for A. */
  blocker_start (&c1, id_b);
  blocker_start (&c2, id_a);
  pid1 = mp_process_get_pid (c1.p);
  pid2 = mp_process_get_pid (c2.p);

  /* A is held by c1: c2 → c1. */
  __atomic_store_n (&sa->holder_pid, pid1, __ATOMIC_RELAXED);
  __atomic_store_n (&sa->nwaiters, 1, __ATOMIC_RELAXED);
  __atomic_store_n (&sa->acquisitions, 4, __ATOMIC_RELAXED);
  __atomic_store_n (&sa->contended, 1, __ATOMIC_RELAXED);
  mp_monitor_sample (m);
  la = find_lock (m, id_a);
  lb = find_lock (m, id_b);
  assert_non_null (la);
  assert_non_null (lb);
  assert_string_equal (mp_monitor_lock_get_label (la), "Lock-A");
  assert_int_equal (mp_monitor_lock_get_kind (la), MP_OBJECT_LOCK);
  assert_int_equal (mp_monitor_lock_get_holder_pid (la), pid1);
  pids = mp_monitor_lock_get_waiters (la, &n);
  assert_int_equal (n, 1);
  assert_int_equal (pids[0], pid2);
  assert_int_equal (mp_monitor_lock_get_n_waiters (la), 1);
  assert_true (mp_monitor_lock_get_contended_percent (la) == 25.0);
  assert_int_equal (mp_monitor_process_get_blocked_on (mp_monitor_lookup_process (m, pid2)), id_a);
  assert_int_equal (mp_monitor_lock_get_holder_pid (lb), 0);
  pids = mp_monitor_lock_get_waiters (lb, &n);
  assert_int_equal (n, 1);
  assert_int_equal (pids[0], pid1);
  assert_null (find_alert (m, MP_MONITOR_ALERT_DEADLOCK));
  assert_int_equal (raised, 0);

  /* B is held by c2: c1 → c2 → c1, a cycle. */
  __atomic_store_n (&sb->holder_pid, pid2, __ATOMIC_RELAXED);
  mp_monitor_sample (m);
  edges = _mp_monitor_models_wait_for_edges (_mp_monitor_get_models (m));
  assert_int_equal (edges->len, 2);
  for (guint i = 0; i < edges->len; i++)
    {
      MpWaitEdge *e = &g_array_index (edges, MpWaitEdge, i);
      assert_int_equal (e->holder_pid, e->waiter_pid == pid1 ? pid2 : pid1);
      assert_int_equal (e->lock_id, e->waiter_pid == pid1 ? id_b : id_a);
    }
  alert = find_alert (m, MP_MONITOR_ALERT_DEADLOCK);
  assert_non_null (alert);
  assert_int_equal (raised, 1);
  pids = mp_monitor_alert_get_pids (alert, &n);
  assert_int_equal (n, 2);
  assert_int_equal (pids[0], MIN (pid1, pid2));
  assert_int_equal (pids[1], MAX (pid1, pid2));
  objs = mp_monitor_alert_get_objects (alert, &n);
  assert_int_equal (n, 2);
  /* The i-th process waits for the i-th lock. */
  assert_int_equal (objs[0], pids[0] == pid1 ? id_b : id_a);
  assert_int_equal (objs[1], pids[0] == pid1 ? id_a : id_b);
  s1 = g_strdup_printf ("pid %d", pid1);
  s2 = g_strdup_printf ("pid %d", pid2);
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), "Lock-A"));
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), "Lock-B"));
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), s1));
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), s2));

  /* Detected once, not at every sample. */
  mp_monitor_sample (m);
  assert_int_equal (raised, 1);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_alerts (m)), 1);

  /* B released: no cycle any more. */
  __atomic_store_n (&sb->holder_pid, 0, __ATOMIC_RELAXED);
  mp_monitor_sample (m);
  assert_null (find_alert (m, MP_MONITOR_ALERT_DEADLOCK));

  __atomic_store_n (&sa->holder_pid, 0, __ATOMIC_RELAXED);
  blocker_stop (&c1);
  blocker_stop (&c2);
  _mp_arena_object_retire (oa);
  _mp_arena_object_retire (ob);
  mp_monitor_sample (m);
  assert_true (mp_monitor_lock_get_destroyed (la));
  pids = mp_monitor_lock_get_waiters (la, &n);
  assert_int_equal (n, 0);
}

/* ---- pools: stuck worker ----------------------------------------------------------------- */

static MpMonitorPool *
find_pool (MpMonitor *m, guint64 id)
{
  GListModel *pools = mp_monitor_get_pools (m);

  for (guint i = 0; i < g_list_model_get_n_items (pools); i++)
    {
      g_autoptr(MpMonitorPool) p = g_list_model_get_item (pools, i);
      if (mp_monitor_pool_get_id (p) == id)
        return p;
    }
  return NULL;
}

static void
test_stuck_worker (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  guint64 pool_id;
  MpArenaObject *o = _mp_arena_object_new (MP_OBJECT_POOL, "Pool-S", &pool_id);
  MpMonitorPool *pool;
  MpMonitorAlert *alert;
  g_autoptr(GArray) tasks = NULL, workers = NULL;
  const GPid *pids;
  guint n;

  assert_non_null (o);
  mp_monitor_set_stuck_factor (m, 10);
  mp_monitor_set_stuck_min_ms (m, 100);
  for (int i = 1; i <= 5; i++)
    {
      _mp_trace_emit (MP_EVENT_TASK_STARTED, pool_id, i, getpid ());
      _mp_trace_emit (MP_EVENT_TASK_FINISHED, pool_id, i, 1000000);
    }
  _mp_trace_emit (MP_EVENT_TASK_STARTED, pool_id, 99, getpid ());
  mp_monitor_sample (m);
  pool = find_pool (m, pool_id);
  assert_non_null (pool);
  assert_string_equal (mp_monitor_pool_get_label (pool), "Pool-S");
  assert_int_equal (mp_monitor_pool_get_median_task_ns (pool), 1000000);
  assert_int_equal (mp_monitor_process_get_current_task (mp_monitor_lookup_process (m, getpid ())), 99);
  workers = mp_monitor_pool_dup_workers (pool);
  assert_int_equal (workers->len, 1);
  assert_int_equal (g_array_index (workers, MpMonitorWorker, 0).task_id, 99);

  SAMPLE_UNTIL (m, find_alert (m, MP_MONITOR_ALERT_STUCK_WORKER) != NULL);
  alert = find_alert (m, MP_MONITOR_ALERT_STUCK_WORKER);
  pids = mp_monitor_alert_get_pids (alert, &n);
  assert_int_equal (n, 1);
  assert_int_equal (pids[0], getpid ());
  assert_int_equal (mp_monitor_alert_get_objects (alert, &n)[0], pool_id);
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), "task 99"));
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), "Pool-S"));

  _mp_trace_emit (MP_EVENT_TASK_FINISHED, pool_id, 99, 0);
  mp_monitor_sample (m);
  assert_null (find_alert (m, MP_MONITOR_ALERT_STUCK_WORKER));
  tasks = mp_monitor_pool_dup_recent_tasks (pool);
  assert_int_equal (tasks->len, 6);
  assert_int_equal (g_array_index (tasks, MpMonitorTaskSpan, 5).task_id, 99);
  assert_true (g_array_index (tasks, MpMonitorTaskSpan, 5).end_ns -
               g_array_index (tasks, MpMonitorTaskSpan, 5).start_ns >= 100000000);
  _mp_arena_object_retire (o);
}

/* A pool born and done between two samples (a short program) still has a rate and a history
 * point: its creation counts as a sample of nothing done. */
static void
test_pool_between_samples (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  guint64 pool_id;
  MpArenaObject *o;
  MpMonitorPool *pool;
  const double *history;
  guint n = 0;

  mp_monitor_sample (m);
  o = _mp_arena_object_new (MP_OBJECT_POOL, "Pool-B", &pool_id);
  assert_non_null (o);
  __atomic_store_n (&MP_OBJECT_STATS (o, MpPoolStats)->completed, 120, __ATOMIC_RELAXED);
  mp_monitor_sample (m);
  pool = find_pool (m, pool_id);
  assert_non_null (pool);
  history = mp_monitor_pool_get_throughput_history (pool, &n);
  assert_int_equal (n, 1);
  assert_true (history[0] > 0);
  assert_true (mp_monitor_pool_get_throughput_window (pool) > 0);
  _mp_arena_object_retire (o);
}

/* ---- shared memory: leaked segment ------------------------------------------------------- */

static MpMonitorSegment *
find_segment (MpMonitor *m, guint64 id)
{
  GListModel *segs = mp_monitor_get_segments (m);

  for (guint i = 0; i < g_list_model_get_n_items (segs); i++)
    {
      g_autoptr(MpMonitorSegment) s = g_list_model_get_item (segs, i);
      if (mp_monitor_segment_get_id (s) == id)
        return s;
    }
  return NULL;
}

static void
test_leaked_segment (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  g_autofree char *name = g_strdup_printf ("libmp-test-leak-%d", getpid ());
  g_autofree char *shm_path = g_strdup_printf ("/%s", name);
  guint64 id;
  MpArenaObject *o = _mp_arena_object_new (MP_OBJECT_SHARED_MEMORY, "SharedMemory-T", &id);
  MpShmStats *st = MP_OBJECT_STATS (o, MpShmStats);
  MpMonitorSegment *seg;
  MpMonitorAlert *alert;
  void *map;
  int fd;

  fd = shm_open (shm_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, 8192), 0);
  map = mmap (NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  assert_true (map != MAP_FAILED);
  close (fd);
  st->size = 8192;
  g_strlcpy (st->name, name, sizeof st->name);
  st->attached_pid[0] = getpid ();
  st->n_attached = 1;

  /* Mapped by a live process of the tree: fine. */
  mp_monitor_sample (m);
  seg = find_segment (m, id);
  assert_non_null (seg);
  assert_string_equal (mp_monitor_segment_get_name (seg), name);
  assert_int_equal (mp_monitor_segment_get_size (seg), 8192);
  assert_true (mp_monitor_segment_get_n_mappers (seg) >= 1);
  assert_false (mp_monitor_segment_get_leaked (seg));
  assert_null (find_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT));

  /* Closed everywhere but never unlinked: leaked. */
  munmap (map, 8192);
  _mp_arena_object_retire (o);
  mp_monitor_sample (m);
  assert_int_equal (mp_monitor_segment_get_n_mappers (seg), 0);
  assert_true (mp_monitor_segment_get_leaked (seg));
  alert = find_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT);
  assert_non_null (alert);
  assert_non_null (strstr (mp_monitor_alert_get_message (alert), name));

  /* Unlinked: gone, not leaked. */
  assert_int_equal (shm_unlink (shm_path), 0);
  mp_monitor_sample (m);
  assert_false (mp_monitor_segment_get_leaked (seg));
  assert_null (find_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT));
}

/* ---- record, replay, export -------------------------------------------------------------- */

static void
assert_same_object (GObject *a, GObject *b)
{
  guint n;
  g_autofree GParamSpec **ps = g_object_class_list_properties (G_OBJECT_GET_CLASS (a), &n);

  assert_true (G_OBJECT_TYPE (a) == G_OBJECT_TYPE (b));
  for (guint i = 0; i < n; i++)
    {
      GValue va = G_VALUE_INIT, vb = G_VALUE_INIT;

      g_value_init (&va, ps[i]->value_type);
      g_value_init (&vb, ps[i]->value_type);
      g_object_get_property (a, ps[i]->name, &va);
      g_object_get_property (b, ps[i]->name, &vb);
      if (g_param_values_cmp (ps[i], &va, &vb) != 0)
        {
          g_autofree char *sa = g_strdup_value_contents (&va), *sb = g_strdup_value_contents (&vb);
          fail_msg ("%s.%s differs: %s vs %s", G_OBJECT_TYPE_NAME (a), ps[i]->name, sa, sb);
        }
      g_value_unset (&va);
      g_value_unset (&vb);
    }
}

static void
assert_same_models (GListModel *a, GListModel *b)
{
  assert_int_equal (g_list_model_get_n_items (a), g_list_model_get_n_items (b));
  for (guint i = 0; i < g_list_model_get_n_items (a); i++)
    {
      g_autoptr(GObject) x = g_list_model_get_item (a, i);
      g_autoptr(GObject) y = g_list_model_get_item (b, i);
      assert_same_object (x, y);
    }
}

static char *recording_path;
static guint64 record_pool_id;
static pid_t record_spawn_pid;

static void
test_record_replay_same_models (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) live = mp_monitor_new_for_self (NULL);
  g_autoptr(MpMonitor) replay = NULL;
  guint64 qid, lid;
  MpArenaObject *qo = _mp_arena_object_new (MP_OBJECT_QUEUE, "Queue-R", &qid);
  MpArenaObject *lo = _mp_arena_object_new (MP_OBJECT_RLOCK, "RLock-R", &lid);
  MpArenaObject *po = _mp_arena_object_new (MP_OBJECT_POOL, "Pool-R", &record_pool_id);
  MpQueueStats *qs = MP_OBJECT_STATS (qo, MpQueueStats);
  MpPoolStats *ps = MP_OBJECT_STATS (po, MpPoolStats);
  MpSyncStats *ls = MP_OBJECT_STATS (lo, MpSyncStats);
  MpMonitorQueue *q;
  int finished = 0;

  recording_path = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-monitor-recording.jsonl", NULL);
  assert_true (mp_monitor_start_recording (live, recording_path, &error));
  assert_true (mp_monitor_is_recording (live));

  qs->depth = 3;
  qs->puts = 10;
  qs->gets = 7;
  qs->maxsize = 100;
  ls->holder_pid = getpid ();
  ls->count = 2;
  ls->acquisitions = 5;
  ls->contended = 2;
  ls->total_wait_ns = 3000000;
  ls->max_wait_ns = 2000000;
  ps->workers = 2;
  ps->workers_alive = 2;
  run_child ("fork", 0);
  record_spawn_pid = run_child ("spawn", 2);
  for (int i = 1; i <= 3; i++)
    {
      _mp_trace_emit (MP_EVENT_TASK_SUBMITTED, record_pool_id, i, 0);
      _mp_trace_emit (MP_EVENT_TASK_STARTED, record_pool_id, i, getpid ());
      _mp_trace_emit (i == 2 ? MP_EVENT_TASK_FAILED : MP_EVENT_TASK_FINISHED, record_pool_id, i,
                      i == 2 ? 7 : 2000000);
    }
  ps->submitted = 3;
  ps->completed = 2;
  ps->failed = 1;
  mp_monitor_poll_events (live);
  mp_monitor_sample (live);

  qs->puts = 30;
  qs->gets = 28;
  qs->depth = 2;
  qs->max_depth = 9;
  _mp_trace_emit (MP_EVENT_QUEUE_PUT, qid, 3, 100);
  _mp_trace_emit (MP_EVENT_QUEUE_GET, qid, 2, 100);
  _mp_trace_emit (MP_EVENT_LOCK_CONTENDED, lid, getpid (), 1500000);
  mp_monitor_sample (live);
  q = NULL;
  for (guint i = 0; i < g_list_model_get_n_items (mp_monitor_get_queues (live)); i++)
    {
      g_autoptr(MpMonitorQueue) x = g_list_model_get_item (mp_monitor_get_queues (live), i);
      if (mp_monitor_queue_get_id (x) == qid)
        q = x;
    }
  assert_non_null (q);
  assert_int_equal (mp_monitor_queue_get_depth (q), 2);
  assert_int_equal (mp_monitor_queue_get_max_depth (q), 9);
  assert_true (mp_monitor_queue_get_put_rate (q) > 0);
  assert_true (mp_monitor_queue_get_get_rate (q) > 0);
  assert_true (mp_monitor_stop_recording (live, &error));
  assert_false (mp_monitor_is_recording (live));

  replay = mp_monitor_new_for_trace_file (recording_path, &error);
  assert_non_null (replay);
  assert_int_equal (mp_monitor_get_source (replay), MP_MONITOR_SOURCE_TRACE);
  g_signal_connect_swapped (replay, "finished", G_CALLBACK (g_atomic_int_inc), &finished);
  assert_true (mp_monitor_replay_to_end (replay, &error));
  assert_int_equal (finished, 1);

  assert_string_equal (mp_monitor_get_program_name (replay), mp_monitor_get_program_name (live));
  assert_int_equal (mp_monitor_get_pid (replay), mp_monitor_get_pid (live));
  assert_int_equal (mp_monitor_get_start_time (replay), mp_monitor_get_start_time (live));
  assert_int_equal (mp_monitor_get_n_events (replay), mp_monitor_get_n_events (live));
  assert_int_equal (mp_monitor_get_n_lost (replay), mp_monitor_get_n_lost (live));
  assert_int_equal (mp_monitor_get_now_ns (replay), mp_monitor_get_now_ns (live));
  assert_same_models (mp_monitor_get_processes (live), mp_monitor_get_processes (replay));
  assert_same_models (mp_monitor_get_process_roots (live), mp_monitor_get_process_roots (replay));
  assert_same_models (mp_monitor_get_pools (live), mp_monitor_get_pools (replay));
  assert_same_models (mp_monitor_get_queues (live), mp_monitor_get_queues (replay));
  assert_same_models (mp_monitor_get_locks (live), mp_monitor_get_locks (replay));
  assert_same_models (mp_monitor_get_segments (live), mp_monitor_get_segments (replay));
  assert_same_models (mp_monitor_get_alerts (live), mp_monitor_get_alerts (replay));
  assert_non_null (mp_monitor_lookup_process (replay, record_spawn_pid));
  assert_int_equal (mp_monitor_process_get_exit_code (mp_monitor_lookup_process (replay, record_spawn_pid)), 2);

  _mp_arena_object_retire (qo);
  _mp_arena_object_retire (lo);
  _mp_arena_object_retire (po);
}

static void
test_chrome_export (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-monitor-chrome.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray *events;
  guint pool_tasks = 0, failed = 0, names = 0, depth_counters = 0, lock_waits = 0;
  gboolean spawn_named = FALSE;

  assert_non_null (recording_path);
  assert_true (mp_trace_file_export_chrome (recording_path, out, &error));
  assert_true (json_parser_load_from_file (parser, out, &error));
  root = json_node_get_object (json_parser_get_root (parser));
  events = json_object_get_array_member (root, "traceEvents");
  assert_non_null (events);
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonObject *e = json_array_get_object_element (events, i);
      const char *ph = json_object_get_string_member (e, "ph");
      const char *cat = json_object_get_string_member_with_default (e, "cat", "");
      const char *name = json_object_get_string_member (e, "name");

      assert_true (json_object_has_member (e, "pid") && json_object_has_member (e, "ts"));
      if (g_str_equal (ph, "X") && g_str_equal (cat, "task"))
        {
          JsonObject *args = json_object_get_object_member (e, "args");
          assert_true (json_object_get_double_member (e, "dur") >= 0);
          if (g_str_equal (json_object_get_string_member (args, "pool"), "Pool-R"))
            {
              pool_tasks++;
              failed += g_str_equal (json_object_get_string_member (args, "outcome"), "failed");
              assert_int_equal (json_object_get_int_member (e, "pid"), getpid ());
            }
        }
      if (g_str_equal (ph, "X") && g_str_equal (cat, "lock") && g_str_equal (name, "wait RLock-R"))
        lock_waits++;
      if (g_str_equal (ph, "M") && g_str_equal (name, "process_name"))
        {
          names++;
          if (json_object_get_int_member (e, "pid") == record_spawn_pid)
            spawn_named = TRUE;
        }
      if (g_str_equal (ph, "C") && g_str_equal (name, "Queue-R depth"))
        depth_counters++;
    }
  assert_int_equal (pool_tasks, 3);
  assert_int_equal (failed, 1);
  assert_int_equal (lock_waits, 1);
  assert_true (names >= 3);
  assert_true (spawn_named);
  assert_true (depth_counters >= 3);
  (void) g_unlink (out);
  (void) g_unlink (recording_path);
  g_clear_pointer (&recording_path, g_free);
}

/* ---- end to end with the real objects --------------------------------------------------- */

static MpMonitorLock *
find_lock_by_label (MpMonitor *m, const char *label)
{
  GListModel *locks = mp_monitor_get_locks (m);
  MpMonitorLock *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (locks); i++)
    {
      g_autoptr(MpMonitorLock) l = g_list_model_get_item (locks, i);
      if (g_strcmp0 (mp_monitor_lock_get_label (l), label) == 0 && !mp_monitor_lock_get_destroyed (l))
        found = l;
    }
  return found;
}

/* args: (v lock handle, h "ready" pipe, h "go" pipe, b hold): with hold, takes the lock, says
 * ready, waits for go, releases; without, says ready and then blocks taking it. */
static GVariant *
lock_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h = NULL;
  g_autoptr(MpLock) lock = NULL;
  gint32 hr, hg;
  gboolean hold;
  const int *fdv = g_unix_fd_list_peek_fds (fds, NULL);
  char c = 'r';

  g_variant_get (args, "(vhhb)", &h, &hr, &hg, &hold);
  if ((lock = mp_lock_deserialize (h, fds, NULL)) == NULL)
    return g_variant_new_int32 (10);
  if (hold && !mp_lock_acquire (lock, WAIT_LONG_US, NULL))
    return g_variant_new_int32 (11);
  if (write (fdv[hr], &c, 1) != 1)
    return g_variant_new_int32 (12);
  if (hold && read (fdv[hg], &c, 1) != 1)
    return g_variant_new_int32 (13);
  if (!hold && !mp_lock_acquire (lock, WAIT_LONG_US, NULL))
    return g_variant_new_int32 (14);
  if (!mp_lock_release (lock, NULL))
    return g_variant_new_int32 (15);
  return g_variant_new_int32 (0);
}

typedef struct
{
  MpProcess *p;
  int        ready_r;
  int        go_w;
} LockChild;

static void
lock_child_start (LockChild *c, MpLock *lock, gboolean hold)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  GVariant *handle;
  int ready[2], go[2];
  char byte;

  assert_true (g_unix_open_pipe (ready, FD_CLOEXEC, NULL));
  assert_true (g_unix_open_pipe (go, FD_CLOEXEC, NULL));
  handle = mp_lock_serialize (lock, fds, NULL);
  assert_non_null (handle);
  target = mp_callable_new_with_fds (lock_child,
                                     g_variant_new ("(vhhb)", handle,
                                                    g_unix_fd_list_append (fds, ready[1], NULL),
                                                    g_unix_fd_list_append (fds, go[0], NULL), hold),
                                     fds);
  c->p = mp_context_process_new (mp_get_context ("fork", NULL), target);
  assert_true (mp_process_start (c->p, NULL));
  close (ready[1]);
  close (go[0]);
  assert_int_equal (read (ready[0], &byte, 1), 1);
  c->ready_r = ready[0];
  c->go_w = go[1];
}

static void
lock_child_finish (LockChild *c, gboolean release)
{
  int code = -1;
  char byte = 'g';

  if (release)
    assert_int_equal (write (c->go_w, &byte, 1), 1);
  close (c->go_w);
  close (c->ready_r);
  assert_true (mp_process_join (c->p, WAIT_LONG_US, NULL));
  assert_true (mp_process_get_exitcode (c->p, &code));
  assert_int_equal (code, 0);
  g_object_unref (c->p);
}

static void
test_real_lock_holder_and_waiter (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  g_autoptr(MpLock) lock = mp_lock_new_labeled ("Lock-E2E", NULL);
  LockChild holder, waiter;
  MpMonitorLock *l;
  MpMonitorProcess *w;
  pid_t holder_pid, waiter_pid;

  assert_non_null (lock);
  lock_child_start (&holder, lock, TRUE);
  lock_child_start (&waiter, lock, FALSE);
  holder_pid = mp_process_get_pid (holder.p);
  waiter_pid = mp_process_get_pid (waiter.p);

  /* The waiter is blocked once the lock counts it. */
  SAMPLE_UNTIL (m, (l = find_lock_by_label (m, "Lock-E2E")) != NULL && mp_monitor_lock_get_n_waiters (l) == 1);
  assert_int_equal (mp_monitor_lock_get_kind (l), MP_OBJECT_LOCK);
  assert_int_equal (mp_monitor_lock_get_holder_pid (l), holder_pid);
  assert_int_equal (mp_monitor_lock_get_creator_pid (l), getpid ());
  w = mp_monitor_lookup_process (m, waiter_pid);
  assert_non_null (w);
  if (mp_monitor_process_get_blocked_on (w) == mp_monitor_lock_get_id (l))
    {
      /* The lock code tells who waits (through _mp_arena_proc_set_blocked_on()). */
      guint n;
      const GPid *pids = mp_monitor_lock_get_waiters (l, &n);
      assert_int_equal (n, 1);
      assert_int_equal (pids[0], waiter_pid);
    }
  else
    print_message ("# MpLock does not set blocked_on yet: the waiter's pid is not known\n");

  lock_child_finish (&holder, TRUE);
  lock_child_finish (&waiter, FALSE);
  mp_monitor_sample (m);
  assert_int_equal (mp_monitor_lock_get_holder_pid (l), 0);
  assert_int_equal (mp_monitor_lock_get_n_waiters (l), 0);
  assert_true (mp_monitor_lock_get_acquisitions (l) >= 2);
  assert_true (mp_monitor_lock_get_contended (l) >= 1);
  assert_true (mp_monitor_lock_get_contended_percent (l) > 0);
  assert_true (mp_monitor_lock_get_total_wait_ns (l) > 0);
  assert_true (mp_monitor_lock_get_max_wait_ns (l) > 0);
}

/* args: (v first lock, v second lock, h ready pipe, h go pipe): takes the first, says so, waits
 * for go, then blocks on the second until killed. */
static GVariant *
take_two (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) h1 = NULL, h2 = NULL;
  g_autoptr(MpLock) first = NULL, second = NULL;
  const int *fdv = g_unix_fd_list_peek_fds (fds, NULL);
  gint32 hr, hg;
  char c = 'r';

  g_variant_get (args, "(vvhh)", &h1, &h2, &hr, &hg);
  if ((first = mp_lock_deserialize (h1, fds, NULL)) == NULL ||
      (second = mp_lock_deserialize (h2, fds, NULL)) == NULL)
    return g_variant_new_int32 (10);
  if (!mp_lock_acquire (first, WAIT_LONG_US, NULL) || write (fdv[hr], &c, 1) != 1 ||
      read (fdv[hg], &c, 1) != 1)
    return g_variant_new_int32 (11);
  (void) mp_lock_acquire (second, WAIT_LONG_US, NULL);
  return g_variant_new_int32 (12);
}

static MpProcess *
start_take_two (MpLock *first, MpLock *second, int *go_w)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  MpProcess *p;
  int ready[2], go[2];
  GVariant *h1, *h2;
  char byte;

  assert_true (g_unix_open_pipe (ready, FD_CLOEXEC, NULL));
  assert_true (g_unix_open_pipe (go, FD_CLOEXEC, NULL));
  h1 = mp_lock_serialize (first, fds, NULL);
  h2 = mp_lock_serialize (second, fds, NULL);
  target = mp_callable_new_with_fds (take_two,
                                     g_variant_new ("(vvhh)", h1, h2,
                                                    g_unix_fd_list_append (fds, ready[1], NULL),
                                                    g_unix_fd_list_append (fds, go[0], NULL)),
                                     fds);
  p = mp_context_process_new (mp_get_context ("fork", NULL), target);
  assert_true (mp_process_start (p, NULL));
  close (ready[1]);
  close (go[0]);
  assert_int_equal (read (ready[0], &byte, 1), 1);
  close (ready[0]);
  *go_w = go[1];
  return p;
}

static void
test_real_two_process_deadlock (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  g_autoptr(MpLock) l1 = mp_lock_new_labeled ("Lock-D1", NULL);
  g_autoptr(MpLock) l2 = mp_lock_new_labeled ("Lock-D2", NULL);
  MpProcess *a, *b;
  MpMonitorLock *m1, *m2;
  int ra, rb;
  gboolean supported;

  /* a takes D1 then wants D2; b takes D2 then wants D1. */
  a = start_take_two (l1, l2, &ra);
  b = start_take_two (l2, l1, &rb);
  assert_int_equal (write (ra, "g", 1), 1);
  assert_int_equal (write (rb, "g", 1), 1);
  SAMPLE_UNTIL (m, (m1 = find_lock_by_label (m, "Lock-D1")) != NULL &&
                   (m2 = find_lock_by_label (m, "Lock-D2")) != NULL &&
                   mp_monitor_lock_get_n_waiters (m1) == 1 && mp_monitor_lock_get_n_waiters (m2) == 1);
  assert_int_equal (mp_monitor_lock_get_holder_pid (m1), mp_process_get_pid (a));
  assert_int_equal (mp_monitor_lock_get_holder_pid (m2), mp_process_get_pid (b));

  supported = mp_monitor_process_get_blocked_on (mp_monitor_lookup_process (m, mp_process_get_pid (a))) ==
              mp_monitor_lock_get_id (m2);
  if (supported)
    {
      MpMonitorAlert *alert = find_alert (m, MP_MONITOR_ALERT_DEADLOCK);
      g_autofree char *sa = g_strdup_printf ("pid %d", mp_process_get_pid (a));
      g_autofree char *sb = g_strdup_printf ("pid %d", mp_process_get_pid (b));

      assert_non_null (alert);
      assert_non_null (strstr (mp_monitor_alert_get_message (alert), "Lock-D1"));
      assert_non_null (strstr (mp_monitor_alert_get_message (alert), "Lock-D2"));
      assert_non_null (strstr (mp_monitor_alert_get_message (alert), sa));
      assert_non_null (strstr (mp_monitor_alert_get_message (alert), sb));
    }

  /* Break the deadlock the hard way. */
  assert_true (mp_process_kill (a, NULL));
  assert_true (mp_process_kill (b, NULL));
  assert_true (mp_process_join (a, WAIT_LONG_US, NULL));
  assert_true (mp_process_join (b, WAIT_LONG_US, NULL));
  close (ra);
  close (rb);
  g_object_unref (a);
  g_object_unref (b);
  mp_monitor_sample (m);
  assert_null (find_alert (m, MP_MONITOR_ALERT_DEADLOCK));
  if (!supported)
    print_message ("# MpLock does not set blocked_on yet: the cycle itself was not checked\n");
}

static void
test_real_queue_and_segment (void **state)
{
  g_autoptr(MpMonitor) m = mp_monitor_new_for_self (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MpQueue) q = mp_queue_new_full (10, 0, "Queue-E2E", &error);
  g_autoptr(MpSharedMemory) shm = NULL;
  g_autofree char *name = g_strdup_printf ("libmp-test-e2e-%d", getpid ());
  MpMonitorQueue *mq = NULL;
  MpMonitorSegment *ms = NULL;
  GListModel *segs;

  assert_non_null (q);
  for (int i = 0; i < 5; i++)
    assert_true (mp_queue_put (q, g_variant_new_int32 (i), MP_TIMEOUT_INFINITE, &error));
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(GVariant) v = mp_queue_get (q, MP_TIMEOUT_INFINITE, &error);
      assert_non_null (v);
    }
  mp_monitor_sample (m);
  for (guint i = 0; i < g_list_model_get_n_items (mp_monitor_get_queues (m)); i++)
    {
      g_autoptr(MpMonitorQueue) x = g_list_model_get_item (mp_monitor_get_queues (m), i);
      if (g_strcmp0 (mp_monitor_queue_get_label (x), "Queue-E2E") == 0)
        mq = x;
    }
  assert_non_null (mq);
  assert_int_equal (mp_monitor_queue_get_kind (mq), MP_OBJECT_QUEUE);
  assert_int_equal (mp_monitor_queue_get_depth (mq), 3);
  assert_int_equal (mp_monitor_queue_get_puts (mq), 5);
  assert_int_equal (mp_monitor_queue_get_gets (mq), 2);
  assert_int_equal (mp_monitor_queue_get_maxsize (mq), 10);
  assert_true (mp_monitor_queue_get_max_depth (mq) >= 5);

  shm = mp_shared_memory_new_full (name, TRUE, 65536, FALSE, &error);
  assert_non_null (shm);
  mp_monitor_sample (m);
  segs = mp_monitor_get_segments (m);
  for (guint i = 0; i < g_list_model_get_n_items (segs); i++)
    {
      g_autoptr(MpMonitorSegment) x = g_list_model_get_item (segs, i);
      if (g_strcmp0 (mp_monitor_segment_get_name (x), name) == 0)
        ms = x;
    }
  assert_non_null (ms);
  assert_true (mp_monitor_segment_get_size (ms) >= 65536);
  assert_int_equal (mp_monitor_segment_get_creator_pid (ms), getpid ());
  assert_true (mp_monitor_segment_get_n_mappers (ms) >= 1);
  assert_false (mp_monitor_segment_get_leaked (ms));

  /* Closed, never unlinked: a leak the monitor names. */
  mp_shared_memory_close (shm);
  mp_monitor_sample (m);
  assert_true (mp_monitor_segment_get_leaked (ms));
  assert_non_null (find_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT));
  assert_true (mp_shared_memory_unlink (shm, &error));
  mp_monitor_sample (m);
  assert_false (mp_monitor_segment_get_leaked (ms));
  assert_true (mp_monitor_segment_get_unlinked (ms));
  assert_null (find_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT));
}

/* ---- the main loop ----------------------------------------------------------------------- */

typedef struct
{
  GMainLoop *loop;
  guint      batches;
  guint      events;
  gboolean   saw_child;
  pid_t      child;
} LoopState;

static void
on_events (MpMonitor *m, gpointer events, guint n, guint64 lost, gpointer user_data)
{
  LoopState *s = user_data;
  const MpTraceEvent *ev = events;

  s->batches++;
  s->events += n;
  for (guint i = 0; i < n; i++)
    {
      assert_true (i == 0 || ev[i - 1].timestamp_ns <= ev[i].timestamp_ns);
      if (ev[i].type == MP_EVENT_PROCESS_EXITED && ev[i].a == s->child)
        {
          s->saw_child = TRUE;
          g_main_loop_quit (s->loop);
        }
    }
}

static gboolean
give_up (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
test_batches_on_main_context (void **state)
{
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  g_autoptr(MpMonitor) m = NULL;
  LoopState s = { 0 };
  GSource *timeout;

  g_main_context_push_thread_default (ctx);
  m = mp_monitor_new_for_self (NULL);
  mp_monitor_set_event_interval (m, 20);
  s.loop = g_main_loop_new (ctx, FALSE);
  g_signal_connect (m, "events", G_CALLBACK (on_events), &s);
  mp_monitor_start (m);
  assert_true (mp_monitor_is_running (m));
  s.child = run_child ("fork", 0);
  timeout = g_timeout_source_new_seconds (30);
  g_source_set_callback (timeout, give_up, s.loop, NULL);
  g_source_attach (timeout, ctx);
  g_main_loop_run (s.loop);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  assert_true (s.saw_child);
  assert_true (s.batches >= 1);
  mp_monitor_stop (m);
  assert_false (mp_monitor_is_running (m));
  g_main_loop_unref (s.loop);
  g_clear_object (&m);
  g_main_context_pop_thread_default (ctx);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_attach_tree),
    cmocka_unit_test (test_attach_stopped),
    cmocka_unit_test (test_attach_errors),
    cmocka_unit_test (test_arena_offsets_cannot_wrap),
    cmocka_unit_test (test_short_lived_between_samples),
    cmocka_unit_test (test_lock_holder_waiter_and_deadlock),
    cmocka_unit_test (test_stuck_worker),
    cmocka_unit_test (test_pool_between_samples),
    cmocka_unit_test (test_leaked_segment),
    cmocka_unit_test (test_record_replay_same_models),
    cmocka_unit_test (test_chrome_export),
    cmocka_unit_test (test_batches_on_main_context),
    cmocka_unit_test (test_real_lock_holder_and_waiter),
    cmocka_unit_test (test_real_two_process_deadlock),
    cmocka_unit_test (test_real_queue_and_segment),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("monitor", tests, NULL, NULL);
}
