/* test-resource-tracker.c: what happens to tracked segments when a program dies
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each test runs this binary again as a helper program (its own program tree, with its own
 * tracker), so that the tree can be killed without killing the test. The helper reports
 * names and pids on stdout; the parent asserts.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

#include <mp.h>

#define DEADLINE (30 * G_USEC_PER_SEC)
#define WAIT_LONG (60 * G_USEC_PER_SEC)

static gboolean
shm_exists (const char *name)
{
  g_autofree char *path = g_strconcat ("/dev/shm/", name, NULL);
  struct stat st;

  return stat (path, &st) == 0;
}

/* ---- the helper program -------------------------------------------------------------------- */

static void
say (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  fflush (stdout);
}

static MpProcess *
start (const char *method, MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) target = mp_callable_new_with_fds (func, args, fds);
  MpProcess *p = mp_context_process_new (mp_get_context (method, NULL), target);
  g_autoptr(GError) error = NULL;

  if (!mp_process_start (p, &error))
    {
      fprintf (stderr, "helper: %s\n", error->message);
      exit (20);
    }
  return p;
}

/* (h): creates a tracked segment, reports it, tells the parent, and blocks until killed. */
static GVariant *
child_leak (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_new (NULL, TRUE, 8192, error);
  gint32 h;
  int fd;

  g_variant_get (args, "(h)", &h);
  fd = g_unix_fd_list_get (fds, h, error);
  if (shm == NULL || fd < 0)
    return g_variant_new_int32 (10);
  say ("NAME %s\nPID %d\nCHILDTRACKER %d\n", mp_shared_memory_get_name (shm), getpid (),
       mp_resource_tracker_get_pid ());
  if (write (fd, "x", 1) != 1)
    return g_variant_new_int32 (11);
  for (;;)
    pause ();
  return NULL;
}

static int
helper_leak (void)
{
  g_autoptr(MpSharedMemory) a = mp_shared_memory_new (NULL, TRUE, 4096, NULL);
  g_autoptr(MpSharedMemory) untracked = mp_shared_memory_new_full (NULL, TRUE, 4096, FALSE, NULL);
  const char *methods[] = { "fork", "spawn" };
  int ready[2];
  char c;

  if (a == NULL || untracked == NULL || pipe2 (ready, O_CLOEXEC) < 0)
    return 2;
  say ("NAME %s\nUNTRACKED %s\nPID %d\n", mp_shared_memory_get_name (a),
       mp_shared_memory_get_name (untracked), getpid ());
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();

      g_unix_fd_list_append (fds, ready[1], NULL);
      (void) start (methods[i], child_leak, g_variant_new ("(h)", 0), fds);
    }
  close (ready[1]);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (read (ready[0], &c, 1) != 1)
      return 3;
  say ("TRACKER %d\nREADY\n", mp_resource_tracker_get_pid ());
  for (;;)
    pause ();
  return 0;
}

/* (s): creates a segment and unlinks it; then unlinks the parent's segment by name. */
static GVariant *
child_clean (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpSharedMemory) own = mp_shared_memory_new (NULL, TRUE, 100, error);
  g_autoptr(MpSharedMemory) parents = NULL;
  const char *name;

  g_variant_get (args, "(&s)", &name);
  if (own == NULL || !mp_shared_memory_unlink (own, error))
    return g_variant_new_int32 (10);
  if (name[0] != 0)
    {
      parents = mp_shared_memory_new (name, FALSE, 0, error);
      if (parents == NULL || !mp_shared_memory_unlink (parents, error))
        return g_variant_new_int32 (11);
    }
  return g_variant_new_int32 (0);
}

static int
join (MpProcess *p)
{
  int code = -1;

  if (!mp_process_join (p, WAIT_LONG, NULL) || !mp_process_get_exitcode (p, &code))
    return -1000;
  return code;
}

static int
helper_clean (void)
{
  g_autoptr(MpSharedMemory) a = mp_shared_memory_new (NULL, TRUE, 4096, NULL);
  g_autoptr(MpSharedMemory) b = mp_shared_memory_new (NULL, TRUE, 4096, NULL);
  g_autoptr(MpProcess) p1 = NULL;
  g_autoptr(MpProcess) p2 = NULL;

  if (a == NULL || b == NULL)
    return 2;
  p1 = start ("fork", child_clean, g_variant_new ("(s)", mp_shared_memory_get_name (b)), NULL);
  p2 = start ("spawn", child_clean, g_variant_new ("(s)", ""), NULL);
  if (join (p1) != 0 || join (p2) != 0)
    return 3;
  if (!mp_shared_memory_unlink (a, NULL))
    return 4;
  say ("NAMES %s %s\nTRACKER %d\n", mp_shared_memory_get_name (a), mp_shared_memory_get_name (b),
       mp_resource_tracker_get_pid ());
  return 0;
}

/* (si): creates the named segment, drops it without unlinking, checks whose tracker it has. */
static GVariant *
child_share (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpSharedMemory) shm = NULL;
  const char *name;
  gint32 tracker;

  g_variant_get (args, "(&si)", &name, &tracker);
  shm = mp_shared_memory_new (name, TRUE, 100, error);
  if (shm == NULL)
    return g_variant_new_int32 (10);
  return g_variant_new_int32 (mp_resource_tracker_get_pid () == tracker ? 0 : 11);
}

static int
helper_share (void)
{
  g_autoptr(MpSharedMemory) a = mp_shared_memory_new (NULL, TRUE, 4096, NULL);
  g_autoptr(MpSharedMemory) x = NULL;
  g_autofree char *name = g_strdup_printf ("libmp-share-%d", getpid ());
  g_autoptr(MpProcess) p = NULL;

  if (a == NULL)
    return 2;
  p = start ("spawn", child_share,
             g_variant_new ("(si)", name, (gint32) mp_resource_tracker_get_pid ()), NULL);
  if (join (p) != 0)
    return 3;
  /* The child ended; its segment is still registered with the tree's tracker, which keeps
   * running for us: nothing removed it. */
  x = mp_shared_memory_new (name, FALSE, 0, NULL);
  if (x == NULL)
    return 4;
  if (!mp_shared_memory_unlink (x, NULL) || !mp_shared_memory_unlink (a, NULL))
    return 5;
  say ("OK\n");
  return 0;
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void
setpgid_child (gpointer data)
{
  setpgid (0, 0);
}

static GPid
spawn_helper (const char *mode, int *out_fd, int *err_fd)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { self, mode, NULL };
  g_autoptr(GError) error = NULL;
  GPid pid = 0;

  assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                         setpgid_child, NULL, &pid, NULL, out_fd, err_fd, &error));
  return pid;
}

/* Reads @fd until @until appears (or EOF when @until is NULL), failing after the deadline. */
static char *
read_until (int fd, const char *until)
{
  GString *s = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + DEADLINE;

  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      gint64 left = deadline - g_get_monotonic_time ();
      char buf[4096];
      ssize_t n;

      if (until != NULL && strstr (s->str, until) != NULL)
        break;
      if (left <= 0)
        fail_msg ("timed out waiting for %s; got: %s", until ? until : "EOF", s->str);
      if (poll (&pfd, 1, (int) (left / 1000) + 1) <= 0)
        continue;
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (until != NULL)
            fail_msg ("EOF before %s; got: %s", until, s->str);
          break;
        }
      g_string_append_len (s, buf, n);
    }
  return g_string_free (s, FALSE);
}

static char **
values_of (const char *report, const char *key)
{
  g_auto(GStrv) lines = g_strsplit (report, "\n", -1);
  g_autofree char *prefix = g_strconcat (key, " ", NULL);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], prefix))
      g_ptr_array_add (out, g_strdup (lines[i] + strlen (prefix)));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

/* What test_kill_tree started, for its teardown to end even when an assertion failed. */
static GPid leak_helper;
static GArray *leak_pids;
static char *leak_untracked;

static void
kill_leak_helper (void)
{
  if (leak_helper > 0)
    {
      kill (-leak_helper, SIGKILL);
      for (guint i = 0; leak_pids && i < leak_pids->len; i++)
        kill (g_array_index (leak_pids, pid_t, i), SIGKILL);
      waitpid (leak_helper, NULL, 0);
      g_spawn_close_pid (leak_helper);
      leak_helper = 0;
    }
}

static int
teardown_kill_tree (void **state)
{
  kill_leak_helper ();
  g_clear_pointer (&leak_pids, g_array_unref);
  if (leak_untracked != NULL)
    {
      g_autofree char *path = g_strconcat ("/", leak_untracked, NULL);
      shm_unlink (path);
      g_clear_pointer (&leak_untracked, g_free);
    }
  return 0;
}

/* kill -9 of every process of a tree (by process group and by pid): afterwards the tracker,
 * which is in its own session, unlinks the tracked segments nobody maps, names them, and
 * leaves alone the untracked one and the one this test still maps. */
static void
test_kill_tree (void **state)
{
  int out_fd, err_fd;
  GPid helper = leak_helper = spawn_helper ("--helper-leak", &out_fd, &err_fd);
  g_autofree char *report = read_until (out_fd, "READY\n");
  g_auto(GStrv) names = values_of (report, "NAME");
  g_auto(GStrv) untracked = values_of (report, "UNTRACKED");
  g_auto(GStrv) pids = values_of (report, "PID");
  g_auto(GStrv) trackers = values_of (report, "TRACKER");
  g_auto(GStrv) child_trackers = values_of (report, "CHILDTRACKER");
  g_autoptr(MpSharedMemory) kept = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected = NULL;
  gint64 deadline;
  pid_t tracker;
  int status;

  leak_pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  for (guint i = 0; pids[i]; i++)
    {
      pid_t pid = atoi (pids[i]);
      g_array_append_val (leak_pids, pid);
    }
  if (untracked[0] != NULL)
    leak_untracked = g_strdup (untracked[0]);

  assert_int_equal (g_strv_length (names), 3);
  assert_int_equal (g_strv_length (untracked), 1);
  assert_int_equal (g_strv_length (pids), 3);
  assert_int_equal (g_strv_length (trackers), 1);
  tracker = atoi (trackers[0]);
  assert_true (tracker > 0);
  /* One tracker for the whole tree: the fork and the spawn child report to the root's. */
  assert_int_equal (g_strv_length (child_trackers), 2);
  assert_int_equal (atoi (child_trackers[0]), tracker);
  assert_int_equal (atoi (child_trackers[1]), tracker);
  /* In a session of its own, so killpg() cannot reach it. */
  assert_int_equal (getsid (tracker), tracker);
  for (guint i = 0; i < 3; i++)
    assert_true (shm_exists (names[i]));

  /* The root's segment stays mapped here: in use, so not leaked. */
  kept = mp_shared_memory_new_full (names[0], FALSE, 0, FALSE, &error);
  assert_non_null (kept);

  assert_int_equal (kill (-helper, SIGKILL), 0);
  for (guint i = 0; i < 3; i++)
    kill (atoi (pids[i]), SIGKILL);
  assert_int_equal (waitpid (helper, &status, 0), helper);
  g_spawn_close_pid (helper);
  leak_helper = 0;
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);

  /* Bounded polling: the tracker runs on its own schedule. */
  deadline = g_get_monotonic_time () + DEADLINE;
  while ((shm_exists (names[1]) || shm_exists (names[2])) && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  assert_false (shm_exists (names[1]));
  assert_false (shm_exists (names[2]));

  /* The tracker holds the helper's stderr until it is done: EOF means it has finished. */
  err = read_until (err_fd, NULL);
  close (err_fd);
  close (out_fd);
  expected = g_strdup_printf ("There appear to be 2 leaked shared_memory objects to clean up at "
                              "shutdown");
  if (strstr (err, expected) == NULL)
    fail_msg ("unexpected tracker output: %s", err);
  assert_non_null (strstr (err, names[1]));
  assert_non_null (strstr (err, names[2]));
  assert_null (strstr (err, names[0]));
  assert_null (strstr (err, untracked[0]));

  assert_true (shm_exists (names[0]));
  assert_true (shm_exists (untracked[0]));
  assert_true (mp_shared_memory_unlink (kept, &error));
  {
    g_autofree char *path = g_strconcat ("/", untracked[0], NULL);
    assert_int_equal (shm_unlink (path), 0);
    g_clear_pointer (&leak_untracked, g_free);
  }
}

static void
run_helper_sync (const char *mode, char **out, char **err)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { self, mode, NULL };
  g_autoptr(GError) error = NULL;
  int status = -1;

  /* Returns once stdout and stderr reach EOF, i.e. once the helper's tracker has finished. */
  assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err,
                             &status, &error));
  if (!g_spawn_check_wait_status (status, NULL))
    fail_msg ("%s failed (%d): %s", mode, status, *err);
}

/* Segments unlinked properly, by their creator or by another process, are never reported. */
static void
test_no_warning_when_unlinked (void **state)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) trackers = NULL;
  g_auto(GStrv) names = NULL;
  g_auto(GStrv) split = NULL;

  run_helper_sync ("--helper-clean", &out, &err);
  trackers = values_of (out, "TRACKER");
  names = values_of (out, "NAMES");
  assert_int_equal (g_strv_length (trackers), 1);
  assert_true (atoi (trackers[0]) > 0);
  assert_int_equal (g_strv_length (names), 1);
  assert_null (strstr (err, "leaked"));
  assert_null (strstr (err, "resource_tracker"));
  split = g_strsplit (names[0], " ", -1);
  assert_false (shm_exists (split[0]));
  assert_false (shm_exists (split[1]));
}

/* A spawn child shares the tree's tracker, so its segment outlives it (Python's children
 * share the parent's tracker the same way). */
static void
test_spawn_child_shares_tracker (void **state)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  run_helper_sync ("--helper-share", &out, &err);
  assert_string_equal (out, "OK\n");
  assert_null (strstr (err, "leaked"));
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_kill_tree, teardown_kill_tree),
    cmocka_unit_test (test_no_warning_when_unlinked),
    cmocka_unit_test (test_spawn_child_shares_tracker),
  };

  mp_init (&argc, &argv);
  if (argc == 2 && strcmp (argv[1], "--helper-leak") == 0)
    return helper_leak ();
  if (argc == 2 && strcmp (argv[1], "--helper-clean") == 0)
    return helper_clean ();
  if (argc == 2 && strcmp (argv[1], "--helper-share") == 0)
    return helper_share ();
  return cmocka_run_group_tests_name ("resource-tracker", tests, NULL, NULL);
}
