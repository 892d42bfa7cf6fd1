/* test-start-methods.c: fork, spawn and forkserver from the outside
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What differs between start methods: what a child inherits, how its target reaches it, what
 * happens when the program or the server misbehaves. Children report through exit codes and
 * pipes; the parent asserts.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "mp-spawn-private.h"
#include "test-util.h"

#define WAIT_LONG (30 * G_USEC_PER_SEC)


static MpProcess *
new_process (MpFunc func, GVariant *args, GUnixFDList *fds)
{
  g_autoptr(MpCallable) target = mp_callable_new_with_fds (func, args, fds);
  return mp_context_process_new (mp_get_context (method, NULL), target);
}

static int
join_code (MpProcess *p)
{
  int code = -1000;

  assert_true (mp_process_join (p, WAIT_LONG, NULL));
  assert_true (mp_process_get_exitcode (p, &code));
  return code;
}

/* ---- targets ------------------------------------------------------------------------------- */

/* A static function with a closure: (a, b, pipe). Writes a*b to the pipe, returns a+b. */
static GVariant *
multiply_into_pipe (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 a, b, h;
  gint64 product;
  int fd;

  g_variant_get (args, "(iih)", &a, &b, &h);
  fd = g_unix_fd_list_get (fds, h, error);
  if (fd < 0)
    return NULL;
  product = (gint64) a * b;
  if (write (fd, &product, sizeof product) != sizeof product)
    return g_variant_new_int32 (99);
  close (fd);
  return g_variant_new_int32 (a + b);
}

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return 200;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n - 1;   /* the directory itself */
}

/* Waits until the pipe (closure) reaches EOF, i.e. all siblings exist, then reports its fds. */
static GVariant *
report_fd_count (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 h;
  int fd;
  char c;
  int n;

  g_variant_get (args, "(h)", &h);
  fd = g_unix_fd_list_get (fds, h, error);
  if (fd < 0)
    return NULL;
  n = count_fds ();
  while (read (fd, &c, 1) > 0)
    ;
  close (fd);
  return g_variant_new_int32 (n);
}

static GVariant *
block_forever (GVariant *args, GUnixFDList *fds, GError **error)
{
  for (;;)
    pause ();
  return NULL;
}

static GVariant *
return_arg (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 code;
  g_variant_get (args, "(i)", &code);
  return g_variant_new_int32 (code);
}

/* Gets a sibling's handle and a pipe: tells the parent it saw the sibling alive, then waits
 * for the sibling to end. */
static GVariant *
join_sibling (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpProcess) sibling = mp_process_deserialize (handle, fds, error);
  gint32 h;
  int fd;

  g_variant_get_child (args, 1, "h", &h);
  fd = g_unix_fd_list_get (fds, h, error);
  if (sibling == NULL || fd < 0)
    return g_variant_new_int32 (10);
  if (!mp_process_is_alive (sibling))
    return g_variant_new_int32 (11);
  if (write (fd, "!", 1) != 1)
    return g_variant_new_int32 (12);
  close (fd);
  if (!mp_process_join (sibling, WAIT_LONG, error))
    return g_variant_new_int32 (13);
  if (mp_process_is_alive (sibling))
    return g_variant_new_int32 (14);
  return g_variant_new_int32 (0);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void
test_static_target_with_closure (void **state)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpProcess) p = NULL;
  gint64 product = 0;
  int pipefd[2];

  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  assert_int_equal (g_unix_fd_list_append (fds, pipefd[1], NULL), 0);
  close (pipefd[1]);
  p = new_process (multiply_into_pipe, g_variant_new ("(iih)", 6, 7, 0), fds);
  g_clear_object (&fds);

  assert_true (mp_process_start (p, NULL));
  assert_int_equal (join_code (p), 13);
  assert_int_equal (read (pipefd[0], &product, sizeof product), sizeof product);
  assert_int_equal (product, 42);
  close (pipefd[0]);
  assert_string_equal (mp_process_get_start_method (p), method);
}

/* A spawned child inherits only what it is given, however many siblings exist. */
static void
test_fds_do_not_grow_with_siblings (void **state)
{
  enum { N = 6 };
  MpProcess *procs[N];
  int counts[N];
  int pipefd[2];

  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  for (int i = 0; i < N; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();

      assert_int_equal (g_unix_fd_list_append (fds, pipefd[0], NULL), 0);
      procs[i] = new_process (report_fd_count, g_variant_new ("(h)", 0), fds);
      assert_true (mp_process_start (procs[i], NULL));
    }
  close (pipefd[0]);
  close (pipefd[1]);   /* EOF: every child may now report */
  for (int i = 0; i < N; i++)
    {
      counts[i] = join_code (procs[i]);
      g_object_unref (procs[i]);
    }
  for (int i = 1; i < N; i++)
    assert_int_equal (counts[i], counts[0]);
  /* stdin/out/err, the arena, the parent's pidfd, the pipe (in the fd list and the copy
   * the target took), and without pidfds the sentinel pipe: nothing else. */
  if (!test_running_on_valgrind ())
    assert_in_range (counts[0], 3, 8);
}

static void
test_exec_failure (void **state)
{
  g_autoptr(MpProcess) p = new_process (return_arg, g_variant_new ("(i)", 0), NULL);
  g_autoptr(GError) error = NULL;

  if (test_running_on_valgrind ())
    return;
  mp_set_executable ("/nonexistent/libmp-program");
  assert_false (mp_process_start (p, &error));
  mp_set_executable (NULL);
  assert_non_null (error);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_IO));
  assert_non_null (strstr (error->message, "/nonexistent/libmp-program"));
  assert_int_equal (mp_process_get_pid (p), 0);
}

static void
test_handle_to_sibling (void **state)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpProcess) a = new_process (block_forever, NULL, NULL);
  g_autoptr(MpProcess) b = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *args[2];
  int pipefd[2];
  char c;

  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  assert_true (mp_process_start (a, NULL));
  args[0] = mp_process_serialize (a, fds, &error);
  assert_non_null (args[0]);
  args[1] = g_variant_new_handle (g_unix_fd_list_append (fds, pipefd[1], NULL));
  close (pipefd[1]);
  b = new_process (join_sibling, g_variant_new_tuple (args, 2), fds);
  assert_true (mp_process_start (b, NULL));

  /* b saw a alive through the handle; now end a and b must see it end. */
  assert_int_equal (read (pipefd[0], &c, 1), 1);
  close (pipefd[0]);
  assert_true (mp_process_terminate (a, NULL));
  assert_int_equal (join_code (a), -SIGTERM);
  assert_int_equal (join_code (b), 0);
}

static void
test_forkserver_replaced_after_kill (void **state)
{
  g_autoptr(MpProcess) first = new_process (return_arg, g_variant_new ("(i)", 4), NULL);
  g_autoptr(MpProcess) second = NULL;
  pid_t server;

  if (test_running_on_valgrind ())
    return;   /* memcheck does not follow the restarted server reliably */
  assert_true (mp_process_start (first, NULL));
  assert_int_equal (join_code (first), 4);
  server = _mp_forkserver_get_pid ();
  assert_true (server > 0);

  assert_int_equal (kill (server, SIGKILL), 0);
  /* It is our child: it stays a zombie until the next start reaps it. */
  assert_true (test_wait_pid_exited (server, 30000));

  second = new_process (return_arg, g_variant_new ("(i)", 5), NULL);
  assert_true (mp_process_start (second, NULL));
  assert_int_equal (join_code (second), 5);
  assert_true (_mp_forkserver_get_pid () > 0);
  assert_int_not_equal (_mp_forkserver_get_pid (), server);
}

static void
test_forgot_mp_init (void **state)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (self);
  g_autofree char *helper = g_build_filename (dir, "helper-no-init", NULL);
  const char *argv[] = { helper, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = -1;

  assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                             &out, &err, &status, &error));
  assert_true (g_spawn_check_wait_status (status, NULL));
  assert_non_null (strstr (out, "child exitcode=1"));
  assert_non_null (strstr (err, "mp_init (&argc, &argv)"));
}

typedef struct
{
  GMutex mutex;
  GCond cond;
  gboolean quit;
} Idle;

static gpointer
idle_thread (gpointer data)
{
  Idle *idle = data;

  g_mutex_lock (&idle->mutex);
  while (!idle->quit)
    g_cond_wait (&idle->cond, &idle->mutex);
  g_mutex_unlock (&idle->mutex);
  return NULL;
}

static GString *captured;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  const char *domain = NULL, *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
    }
  if (g_strcmp0 (domain, "libmp") == 0 && message != NULL)
    {
      g_string_append (captured, message);
      g_string_append_c (captured, '\n');
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, data);
}

static void
test_fork_warns_when_multithreaded (void **state)
{
  Idle idle = { 0 };
  GThread *thread;
  g_autoptr(MpProcess) p = NULL;

  captured = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  thread = g_thread_new ("idle", idle_thread, &idle);

  p = mp_context_process_new (mp_get_context ("fork", NULL),
                              mp_callable_new (return_arg, g_variant_new ("(i)", 0)));
  assert_true (mp_process_start (p, NULL));
  assert_int_equal (join_code (p), 0);

  g_mutex_lock (&idle.mutex);
  idle.quit = TRUE;
  g_cond_signal (&idle.cond);
  g_mutex_unlock (&idle.mutex);
  g_thread_join (thread);

  assert_non_null (strstr (captured->str, "multi-threaded"));
  assert_non_null (strstr (captured->str, "forkserver"));
  g_string_free (captured, TRUE);
}


int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    FOR_METHOD (test_static_target_with_closure, fork),
    FOR_METHOD (test_static_target_with_closure, spawn),
    FOR_METHOD (test_static_target_with_closure, forkserver),
    FOR_METHOD (test_handle_to_sibling, fork),
    FOR_METHOD (test_handle_to_sibling, spawn),
    FOR_METHOD (test_handle_to_sibling, forkserver),
    FOR_METHOD (test_fds_do_not_grow_with_siblings, spawn),
    FOR_METHOD (test_fds_do_not_grow_with_siblings, forkserver),
    FOR_METHOD (test_exec_failure, spawn),
    FOR_METHOD (test_forkserver_replaced_after_kill, forkserver),
    cmocka_unit_test (test_forgot_mp_init),
    /* Last: it leaves a thread behind in the GLib worker pool's place. */
    cmocka_unit_test (test_fork_warns_when_multithreaded),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("start-methods", tests, NULL, NULL);
}
