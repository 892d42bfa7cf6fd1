/* test-process.c: MpProcess semantics (Python's multiprocessing.Process)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Children never assert: they report through their exit code or a pipe, and the parent
 * asserts. Every wait has a generous bound so a bug fails the test instead of hanging it.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "test-util.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)


static MpProcess *
new_process (MpFunc func, GVariant *args)
{
  g_autoptr(MpCallable) target = mp_callable_new (func, args);
  return mp_context_process_new (mp_get_context (method, NULL), target);
}

static MpProcess *
new_process_with_fds (MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) target = mp_callable_new_with_fds (func, args, fds);
  return mp_context_process_new (mp_get_context (method, NULL), target);
}

static int
run_to_exit (MpProcess *p)
{
  g_autoptr(GError) error = NULL;
  int code = -1000;

  assert_true (mp_process_start (p, &error));
  assert_null (error);
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_null (error);
  assert_true (mp_process_get_exitcode (p, &code));
  return code;
}

/* ---- targets (run in children: no asserts) -------------------------------------------------- */

static GVariant *
return_arg (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 code;
  g_variant_get (args, "(i)", &code);
  return g_variant_new_int32 (code);
}

static GVariant *
return_nothing (GVariant *args, GUnixFDList *fds, GError **error)
{
  return NULL;
}

static GVariant *
fail_with_error (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
  return NULL;
}

static GVariant *
exit_via_mp_process_exit (GVariant *args, GUnixFDList *fds, GError **error)
{
  mp_process_exit (42);
}

/* Blocks until its stdin-like pipe (fd 0 of the list) reaches EOF, or forever. */
static GVariant *
block_forever (GVariant *args, GUnixFDList *fds, GError **error)
{
  for (;;)
    pause ();
  return NULL;
}

static GVariant *
check_parent (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 ppid;
  const char *pname;
  MpProcess *parent = mp_parent_process ();

  g_variant_get (args, "(i&s)", &ppid, &pname);
  if (parent == NULL)
    return g_variant_new_int32 (10);
  if (mp_process_get_pid (parent) != ppid)
    return g_variant_new_int32 (11);
  if (g_strcmp0 (mp_process_get_name (parent), pname) != 0)
    return g_variant_new_int32 (12);
  if (!mp_process_is_alive (parent))
    return g_variant_new_int32 (13);
  if (mp_process_get_pid (mp_current_process ()) != getpid ())
    return g_variant_new_int32 (14);
  return g_variant_new_int32 (0);
}

static GVariant *
check_own_name (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *want;
  g_variant_get (args, "(&s)", &want);
  return g_variant_new_int32 (g_strcmp0 (mp_process_get_name (mp_current_process ()), want) == 0 ? 0 : 1);
}

/* Starts a grandchild that must be named Process-N:1, then Process-N:2. */
static GVariant *
start_named_grandchildren (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *m;
  g_autofree char *want1 = NULL, *want2 = NULL;

  g_variant_get (args, "(&s)", &m);
  want1 = g_strdup_printf ("%s:1", mp_process_get_name (mp_current_process ()));
  want2 = g_strdup_printf ("%s:2", mp_process_get_name (mp_current_process ()));
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(MpCallable) c = mp_callable_new (check_own_name,
                                                 g_variant_new ("(s)", i == 0 ? want1 : want2));
      g_autoptr(MpProcess) p = mp_context_process_new (mp_get_context (m, NULL), c);
      int code = -1;

      if (g_strcmp0 (mp_process_get_name (p), i == 0 ? want1 : want2) != 0)
        return g_variant_new_int32 (20 + i);
      if (!mp_process_start (p, NULL) || !mp_process_join (p, WAIT_LONG, NULL) ||
          !mp_process_get_exitcode (p, &code))
        return g_variant_new_int32 (30 + i);
      if (code != 0)
        return g_variant_new_int32 (40 + i);
    }
  return g_variant_new_int32 (0);
}

static GVariant *
compare_authkey (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) want = g_variant_get_child_value (args, 0);
  g_autoptr(GBytes) want_bytes = g_variant_get_data_as_bytes (want);
  GBytes *have = mp_process_get_authkey (mp_current_process ());
  return g_variant_new_int32 (g_bytes_equal (want_bytes, have) ? 0 : 1);
}

/* A daemonic process may not have children. */
static GVariant *
daemon_tries_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MpCallable) c = mp_callable_new (return_nothing, NULL);
  g_autoptr(MpProcess) p = mp_process_new (c);

  if (mp_process_start (p, &local_error))
    return g_variant_new_int32 (1);
  return g_variant_new_int32 (g_error_matches (local_error, MP_ERROR, MP_ERROR_PROCESS) ? 0 : 2);
}

/* Starts a daemonic grandchild that blocks forever, writes its pid to the pipe, returns. */
static GVariant *
start_daemon_grandchild (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *m;
  gint32 h;
  int fd;
  gint32 pid;
  g_autoptr(MpCallable) c = mp_callable_new (block_forever, NULL);
  g_autoptr(MpProcess) p = NULL;

  g_variant_get (args, "(&sh)", &m, &h);
  fd = g_unix_fd_list_get (fds, h, NULL);
  p = mp_context_process_new (mp_get_context (m, NULL), c);
  mp_process_set_daemon (p, TRUE);
  if (!mp_process_start (p, NULL))
    return g_variant_new_int32 (1);
  pid = mp_process_get_pid (p);
  if (write (fd, &pid, sizeof pid) != sizeof pid)
    return g_variant_new_int32 (2);
  close (fd);
  return g_variant_new_int32 (0);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void
test_exit_codes (void **state)
{
  g_autoptr(MpProcess) zero = new_process (return_nothing, NULL);
  g_autoptr(MpProcess) seven = new_process (return_arg, g_variant_new ("(i)", 7));
  g_autoptr(MpProcess) failed = new_process (fail_with_error, NULL);
  g_autoptr(MpProcess) exited = new_process (exit_via_mp_process_exit, NULL);

  assert_int_equal (run_to_exit (zero), 0);
  assert_int_equal (run_to_exit (seven), 7);
  assert_int_equal (run_to_exit (failed), 1);
  assert_int_equal (run_to_exit (exited), 42);
}

static void
check_signal_exit (gboolean (*send) (MpProcess *, GError **), int sig)
{
  g_autoptr(MpProcess) p = new_process (block_forever, NULL);
  g_autoptr(GError) error = NULL;
  int code = 0;

  assert_true (mp_process_start (p, &error));
  assert_true (mp_process_is_alive (p));
  assert_false (mp_process_get_exitcode (p, &code));
  assert_true (send (p, &error));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, -sig);
  assert_false (mp_process_is_alive (p));
  /* Signalling an ended process is a no-op, as in Python. */
  assert_true (send (p, &error));
  assert_null (error);
}

static void
test_signals (void **state)
{
  check_signal_exit (mp_process_terminate, SIGTERM);
  check_signal_exit (mp_process_kill, SIGKILL);
  check_signal_exit (mp_process_interrupt, SIGINT);
}

static void
test_join_timeout (void **state)
{
  g_autoptr(MpProcess) p = new_process (block_forever, NULL);
  g_autoptr(GError) error = NULL;
  gint64 t0;

  assert_true (mp_process_start (p, &error));

  t0 = g_get_monotonic_time ();
  assert_false (mp_process_join (p, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  assert_true (g_get_monotonic_time () - t0 < G_USEC_PER_SEC);
  g_clear_error (&error);

  /* A negative timeout counts as 0. */
  assert_false (mp_process_join (p, -5, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_TIMEOUT));
  g_clear_error (&error);

  t0 = g_get_monotonic_time ();
  assert_false (mp_process_join (p, 200 * 1000, &error));
  assert_true (g_get_monotonic_time () - t0 >= 190 * 1000);
  g_clear_error (&error);

  assert_true (mp_process_kill (p, NULL));
  assert_true (mp_process_join (p, WAIT_LONG, &error));
  /* Joining again is fine. */
  assert_true (mp_process_join (p, 0, &error));
}

static void
test_misuse (void **state)
{
  g_autoptr(MpProcess) p = new_process (block_forever, NULL);
  g_autoptr(GError) error = NULL;

  assert_false (mp_process_join (p, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_PROCESS));
  g_clear_error (&error);
  assert_int_equal (mp_process_get_sentinel (p, &error), -1);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_PROCESS));
  g_clear_error (&error);
  assert_int_equal (mp_process_get_pid (p), 0);

  assert_true (mp_process_start (p, &error));
  assert_false (mp_process_start (p, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_PROCESS));
  g_clear_error (&error);
  assert_true (mp_process_get_sentinel (p, &error) >= 0);

  /* close() on a running process is an error; after join it works, twice. */
  assert_false (mp_process_close (p, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_PROCESS));
  g_clear_error (&error);
  assert_true (mp_process_kill (p, NULL));
  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  assert_true (mp_process_close (p, &error));
  assert_true (mp_process_close (p, &error));
  assert_false (mp_process_join (p, 0, &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_CLOSED));
}

static gboolean
contains (GPtrArray *arr, MpProcess *p)
{
  return g_ptr_array_find (arr, p, NULL);
}

static void
test_active_children (void **state)
{
  g_autoptr(MpProcess) a = new_process (block_forever, NULL);
  g_autoptr(MpProcess) b = new_process (block_forever, NULL);
  g_autoptr(GPtrArray) before = mp_active_children ();
  g_autoptr(GPtrArray) both = NULL;
  g_autoptr(GPtrArray) one = NULL;
  g_autoptr(GPtrArray) none = NULL;

  assert_false (contains (before, a));
  assert_true (mp_process_start (a, NULL));
  assert_true (mp_process_start (b, NULL));
  both = mp_active_children ();
  assert_true (contains (both, a) && contains (both, b));

  assert_true (mp_process_kill (a, NULL));
  assert_true (mp_process_join (a, WAIT_LONG, NULL));
  one = mp_active_children ();
  assert_false (contains (one, a));
  assert_true (contains (one, b));

  assert_true (mp_process_kill (b, NULL));
  assert_true (mp_process_join (b, WAIT_LONG, NULL));
  none = mp_active_children ();
  assert_false (contains (none, a) || contains (none, b));
}

static void
test_parent_process (void **state)
{
  MpProcess *me = mp_current_process ();
  g_autoptr(MpProcess) p = new_process (check_parent,
                                        g_variant_new ("(is)", (gint32) getpid (),
                                                       mp_process_get_name (me)));

  assert_null (mp_parent_process ());
  assert_string_equal (mp_process_get_name (me), "MainProcess");
  assert_int_equal (run_to_exit (p), 0);
}

static void
test_hundred_children (void **state)
{
  MpProcess *procs[100];

  for (int i = 0; i < 100; i++)
    {
      procs[i] = new_process (return_nothing, NULL);
      assert_true (mp_process_start (procs[i], NULL));
    }
  for (int i = 0; i < 100; i++)
    {
      int code = -1;
      assert_true (mp_process_join (procs[i], WAIT_LONG, NULL));
      assert_true (mp_process_get_exitcode (procs[i], &code));
      assert_int_equal (code, 0);
      g_object_unref (procs[i]);
    }
}

static void
test_names (void **state)
{
  g_autoptr(MpProcess) p = new_process (start_named_grandchildren, g_variant_new ("(s)", method));
  g_autoptr(MpProcess) q = new_process (return_nothing, NULL);
  const char *name = mp_process_get_name (p);
  guint64 n;

  assert_true (g_str_has_prefix (name, "Process-"));
  assert_true (g_ascii_string_to_unsigned (name + strlen ("Process-"), 10, 1, G_MAXINT, &n, NULL));
  /* Numbers go up by one per process created here. */
  assert_string_equal (mp_process_get_name (q),
                       g_strdup_printf ("Process-%" G_GUINT64_FORMAT, n + 1));
  assert_int_equal (run_to_exit (p), 0);

  mp_process_set_name (q, "worker");
  assert_string_equal (mp_process_get_name (q), "worker");
}

static void
test_authkey_inherited (void **state)
{
  GBytes *key = mp_process_get_authkey (mp_current_process ());
  g_autoptr(MpProcess) p = NULL;
  gsize len;
  gconstpointer data = g_bytes_get_data (key, &len);

  assert_int_equal (len, 32);
  p = new_process (compare_authkey,
                   g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data,
                                                                      len, 1)));
  assert_int_equal (run_to_exit (p), 0);
}

static void
test_daemon_no_children (void **state)
{
  g_autoptr(MpProcess) p = new_process (daemon_tries_child, NULL);

  mp_process_set_daemon (p, TRUE);
  assert_true (mp_process_get_daemon (p));
  assert_int_equal (run_to_exit (p), 0);
}

static void
test_daemon_terminated_with_parent (void **state)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpProcess) p = NULL;
  int pipefd[2];
  gint32 grandchild = 0;

  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  assert_int_equal (g_unix_fd_list_append (fds, pipefd[1], NULL), 0);
  close (pipefd[1]);
  p = new_process_with_fds (start_daemon_grandchild, g_variant_new ("(sh)", method, 0), fds);
  g_clear_object (&fds);

  assert_int_equal (run_to_exit (p), 0);
  assert_int_equal (read (pipefd[0], &grandchild, sizeof grandchild), sizeof grandchild);
  close (pipefd[0]);
  assert_true (grandchild > 0);

  /* Its parent has exited, so the daemonic grandchild must be gone (or going). */
  assert_true (test_wait_pid_exited (grandchild, 30000));
}

static void
test_to_string (void **state)
{
  g_autoptr(MpProcess) p = new_process (block_forever, NULL);
  g_autofree char *initial = NULL, *started = NULL, *stopped = NULL;

  mp_process_set_name (p, "x");
  mp_process_set_daemon (p, TRUE);
  initial = mp_process_to_string (p);
  assert_non_null (strstr (initial, "name='x'"));
  assert_non_null (strstr (initial, "initial"));
  assert_non_null (strstr (initial, "daemon"));
  assert_true (mp_process_start (p, NULL));
  started = mp_process_to_string (p);
  assert_non_null (strstr (started, "started"));
  assert_true (mp_process_terminate (p, NULL));
  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  stopped = mp_process_to_string (p);
  assert_non_null (strstr (stopped, "exitcode=-SIGTERM"));
}

static void
test_cpu_count (void **state)
{
  cpu_set_t set;

  assert_int_equal (sched_getaffinity (0, sizeof set, &set), 0);
  assert_int_equal (mp_cpu_count (), CPU_COUNT (&set));
  assert_true (mp_cpu_count () >= 1);
}

static void
join_async_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  *done = mp_process_join_finish (MP_PROCESS (source), result, &error) ? 1 : 2;
}

static void
test_join_async (void **state)
{
  g_autoptr(MpProcess) p = new_process (return_arg, g_variant_new ("(i)", 5));
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  gboolean done = 0;
  gint64 deadline = g_get_monotonic_time () + WAIT_LONG;
  int code = -1;

  g_main_context_push_thread_default (ctx);
  assert_true (mp_process_start (p, NULL));
  mp_process_join_async (p, NULL, join_async_done, &done);
  while (done == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  g_main_context_pop_thread_default (ctx);
  assert_int_equal (done, 1);
  assert_true (mp_process_get_exitcode (p, &code));
  assert_int_equal (code, 5);
}

/* One cmocka group (one TAP plan) with every test once per start method. */
#define PROCESS_TESTS(m) \
  FOR_METHOD (test_exit_codes, m), \
  FOR_METHOD (test_signals, m), \
  FOR_METHOD (test_join_timeout, m), \
  FOR_METHOD (test_misuse, m), \
  FOR_METHOD (test_active_children, m), \
  FOR_METHOD (test_parent_process, m), \
  FOR_METHOD (test_names, m), \
  FOR_METHOD (test_authkey_inherited, m), \
  FOR_METHOD (test_daemon_no_children, m), \
  FOR_METHOD (test_daemon_terminated_with_parent, m), \
  FOR_METHOD (test_to_string, m), \
  FOR_METHOD (test_join_async, m)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    PROCESS_TESTS (fork),
    PROCESS_TESTS (spawn),
    PROCESS_TESTS (forkserver),
    FOR_METHOD (test_hundred_children, fork),
    FOR_METHOD (test_hundred_children, forkserver),
    cmocka_unit_test (test_cpu_count),
  };

  mp_init (&argc, &argv);
  /* A shell starts background jobs with SIGINT ignored, and children inherit that; the
   * interrupt test needs the default action. */
  signal (SIGINT, SIG_DFL);

  return cmocka_run_group_tests_name ("process", tests, NULL, NULL);
}
