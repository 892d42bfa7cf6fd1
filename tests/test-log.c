/* test-log.c: libmp's logger: levels, the GLib structured path, Python's stderr format
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * mp_log_to_stderr() cannot be undone, so it is only ever called in children, whose stderr is
 * a pipe the parent reads. Children never assert: they report through their exit code or that
 * pipe, and the parent checks what they reported. In the parent, a GLib log writer installed
 * before any logging captures libmp's structured messages.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#define TIMEOUT_US (60 * G_USEC_PER_SEC)

/* ---- capturing the structured messages of the "libmp" domain ----------------------------------- */

typedef struct
{
  GLogLevelFlags level;
  char          *mp_level;
  char          *message;
  char          *process;
} Record;

static GPtrArray *records;

static void
record_free (gpointer data)
{
  Record *r = data;

  g_free (r->mp_level);
  g_free (r->message);
  g_free (r->process);
  g_free (r);
}

static char *
field_dup (const GLogField *f)
{
  return f->length < 0 ? g_strdup (f->value) : g_strndup (f->value, (gsize) f->length);
}

static GLogWriterOutput
capture_writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
                gpointer user_data)
{
  g_autofree char *domain = NULL;
  Record *r;

  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = field_dup (&fields[i]);
  if (g_strcmp0 (domain, MP_LOG_DOMAIN) != 0 || records == NULL)
    return g_log_writer_default (log_level, fields, n_fields, user_data);

  r = g_new0 (Record, 1);
  r->level = log_level & G_LOG_LEVEL_MASK;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "MP_LEVEL") == 0)
        r->mp_level = field_dup (&fields[i]);
      else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        r->message = field_dup (&fields[i]);
      else if (g_strcmp0 (fields[i].key, "MP_PROCESS") == 0)
        r->process = field_dup (&fields[i]);
    }
  g_ptr_array_add (records, r);
  return G_LOG_WRITER_HANDLED;
}

static void
records_clear (void)
{
  g_ptr_array_set_size (records, 0);
}

static Record *
find_record (const char *message)
{
  for (guint i = 0; i < records->len; i++)
    {
      Record *r = records->pdata[i];
      if (g_strcmp0 (r->message, message) == 0)
        return r;
    }
  return NULL;
}

/* The message arrived once, with this GLib level and MP_LEVEL. */
static void
check_delivered (const char *message, GLogLevelFlags level, const char *mp_level)
{
  Record *r = find_record (message);

  if (r == NULL)
    fail_msg ("“%s” was not delivered", message);
  assert_int_equal (r->level, level);
  assert_string_equal (r->mp_level, mp_level);
  assert_string_equal (r->process, "MainProcess");
}

static void
check_dropped (const char *message)
{
  if (find_record (message) != NULL)
    fail_msg ("“%s” was delivered", message);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void
check_contains (const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    fail_msg ("“%s” does not contain “%s”", haystack ? haystack : "(null)", needle);
}

static void
check_not_contains (const char *haystack, const char *needle)
{
  if (haystack != NULL && strstr (haystack, needle) != NULL)
    fail_msg ("“%s” contains “%s”", haystack, needle);
}

/* Reads until every write end is closed, or until a generous deadline. */
static char *
read_to_eof (int fd, gboolean *eof)
{
  GString *out = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_US;

  *eof = FALSE;
  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      gint64 left = deadline - g_get_monotonic_time ();
      char buf[4096];
      ssize_t n;
      int r;

      if (left <= 0)
        break;
      r = poll (&pfd, 1, (int) (left / 1000) + 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *eof = n == 0;
          break;
        }
      g_string_append_len (out, buf, n);
    }
  return g_string_free (out, FALSE);
}



/* Runs @func (with @args and, as handle 0, the write end of a pipe) in a child started with
 * @method; returns what the child wrote to the pipe (its stderr, when the target says so) and
 * its exit code and name. */
static char *
run_with_pipe (const char *method, MpFunc func, GVariant *args, int *exitcode, char **name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) proc = NULL;
  GUnixFDList *fds = g_unix_fd_list_new ();
  MpCallable *target;
  gboolean eof;
  char *out;
  int p[2];

  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_int_equal (g_unix_fd_list_append (fds, p[1], &error), 0);
  close (p[1]);
  target = mp_callable_new_with_fds (func, args, fds);
  g_object_unref (fds);
  proc = mp_context_process_new (mp_get_context (method, NULL), target);
  /* The process drops the target at start: then the child holds the only write ends. */
  mp_callable_unref (target);
  *name = g_strdup (mp_process_get_name (proc));

  if (!mp_process_start (proc, &error))
    fail_msg ("cannot start %s: %s", *name, error->message);
  out = read_to_eof (p[0], &eof);
  close (p[0]);
  if (!mp_process_join (proc, TIMEOUT_US, &error))
    fail_msg ("cannot join %s: %s", *name, error->message);
  assert_true (eof);
  assert_true (mp_process_get_exitcode (proc, exitcode));
  return out;
}

/* ---- the targets ------------------------------------------------------------------------------ */

#define CHILD_NO_FD       2
#define CHILD_WRONG       3
#define CHILD_START_FAIL  5
#define CHILD_JOIN_FAIL   6

/* Makes descriptor 0 of @fds the child's stderr. */
static gboolean
stderr_to_fd (GUnixFDList *fds)
{
  const int *fdv;
  int n = 0;

  if (fds == NULL)
    return FALSE;
  fdv = g_unix_fd_list_peek_fds (fds, &n);
  return n > 0 && dup2 (fdv[0], STDERR_FILENO) == STDERR_FILENO;
}

static GVariant *
log_to_stderr_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  if (!stderr_to_fd (fds))
    return g_variant_new_int32 (CHILD_NO_FD);
  mp_log_to_stderr (MP_LOG_DEBUG);
  mp_log (MP_LOG_INFO, "hello %d", 42);
  mp_log (MP_LOG_SUBDEBUG, "hidden");
  mp_log (MP_LOG_DEBUG, "debug %s", "shown");
  mp_log (MP_LOG_SUBWARNING, "subwarning shown");
  mp_log (MP_LOG_WARNING, "warning shown");
  mp_log (MP_LOG_ERROR, "error shown");
  mp_log (MP_LOG_CRITICAL, "critical shown");
  return g_variant_new_int32 (mp_log_get_level () == MP_LOG_DEBUG ? 0 : CHILD_WRONG);
}

/* mp_log_to_stderr (NOTSET) keeps the level that is set. */
static GVariant *
log_to_stderr_keep_level_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  if (!stderr_to_fd (fds))
    return g_variant_new_int32 (CHILD_NO_FD);
  mp_log_set_level (MP_LOG_WARNING);
  mp_log_to_stderr (MP_LOG_NOTSET);
  mp_log (MP_LOG_INFO, "info hidden");
  mp_log (MP_LOG_WARNING, "warning kept");
  return g_variant_new_int32 (mp_log_get_level () == MP_LOG_WARNING ? 0 : CHILD_WRONG);
}

static GVariant *
return_log_level (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_new_int32 ((gint32) mp_log_get_level ());
}

static GVariant *
grandchild_log (GVariant *args, GUnixFDList *fds, GError **error)
{
  mp_log (MP_LOG_INFO, "from grandchild, level %d", (int) mp_log_get_level ());
  mp_log (MP_LOG_DEBUG, "grandchild debug hidden");
  return NULL;
}

/* Sends its log to the pipe, then starts a spawn grandchild that logs too. */
static GVariant *
log_parent_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpCallable) target = mp_callable_new (grandchild_log, NULL);
  g_autoptr(MpProcess) proc = NULL;
  int code = -1;

  if (!stderr_to_fd (fds))
    return g_variant_new_int32 (CHILD_NO_FD);
  mp_log_to_stderr (MP_LOG_INFO);
  proc = mp_context_process_new (mp_get_context ("spawn", NULL), target);
  if (!mp_process_start (proc, NULL))
    return g_variant_new_int32 (CHILD_START_FAIL);
  if (!mp_process_join (proc, TIMEOUT_US, NULL) || !mp_process_get_exitcode (proc, &code))
    return g_variant_new_int32 (CHILD_JOIN_FAIL);
  return g_variant_new_int32 (code);
}

/* ---- the tests ---------------------------------------------------------------------------------- */

static void
test_level_set_get (void **state)
{
  const MpLogLevel levels[] = { MP_LOG_SUBDEBUG, MP_LOG_DEBUG, MP_LOG_INFO, MP_LOG_SUBWARNING,
                                MP_LOG_WARNING, MP_LOG_ERROR, MP_LOG_CRITICAL, MP_LOG_NOTSET };

  assert_int_equal (mp_log_get_level (), MP_LOG_NOTSET);
  for (guint i = 0; i < G_N_ELEMENTS (levels); i++)
    {
      mp_log_set_level (levels[i]);
      assert_int_equal (mp_log_get_level (), levels[i]);
    }
  /* Python's numeric levels: any number will do */
  mp_log_set_level ((MpLogLevel) 15);
  assert_int_equal (mp_log_get_level (), 15);
  mp_log_set_level (MP_LOG_NOTSET);
}

static void
test_notset_is_warning_and_above (void **state)
{
  mp_log_set_level (MP_LOG_NOTSET);
  records_clear ();

  mp_log (MP_LOG_SUBDEBUG, "subdebug %d", 1);
  mp_log (MP_LOG_DEBUG, "debug %d", 1);
  mp_log (MP_LOG_INFO, "info %d", 1);
  mp_log (MP_LOG_SUBWARNING, "subwarning %d", 1);
  mp_log (MP_LOG_WARNING, "warning %s", "one");
  mp_log (MP_LOG_ERROR, "error %s", "one");
  mp_log (MP_LOG_CRITICAL, "critical %s", "one");

  check_dropped ("subdebug 1");
  check_dropped ("debug 1");
  check_dropped ("info 1");
  check_dropped ("subwarning 1");
  check_delivered ("warning one", G_LOG_LEVEL_WARNING, "30");
  check_delivered ("error one", G_LOG_LEVEL_CRITICAL, "40");
  check_delivered ("critical one", G_LOG_LEVEL_CRITICAL, "50");
  assert_int_equal (records->len, 3);
  records_clear ();
}

static void
test_threshold_and_glib_levels (void **state)
{
  records_clear ();

  mp_log_set_level (MP_LOG_SUBDEBUG);
  mp_log (MP_LOG_SUBDEBUG, "a subdebug");
  check_delivered ("a subdebug", G_LOG_LEVEL_DEBUG, "5");

  mp_log_set_level (MP_LOG_DEBUG);
  mp_log (MP_LOG_SUBDEBUG, "b subdebug");
  mp_log (MP_LOG_DEBUG, "b debug");
  mp_log ((MpLogLevel) 15, "b fifteen");
  check_dropped ("b subdebug");
  check_delivered ("b debug", G_LOG_LEVEL_DEBUG, "10");
  check_delivered ("b fifteen", G_LOG_LEVEL_DEBUG, "15");

  mp_log_set_level (MP_LOG_INFO);
  mp_log (MP_LOG_DEBUG, "c debug");
  mp_log (MP_LOG_INFO, "c info");
  mp_log (MP_LOG_SUBWARNING, "c subwarning");
  check_dropped ("c debug");
  check_delivered ("c info", G_LOG_LEVEL_INFO, "20");
  check_delivered ("c subwarning", G_LOG_LEVEL_MESSAGE, "25");

  mp_log_set_level (MP_LOG_CRITICAL);
  mp_log (MP_LOG_WARNING, "d warning");
  mp_log (MP_LOG_ERROR, "d error");
  mp_log (MP_LOG_CRITICAL, "d critical");
  check_dropped ("d warning");
  check_dropped ("d error");
  check_delivered ("d critical", G_LOG_LEVEL_CRITICAL, "50");

  /* the message is formatted once, in full */
  mp_log_set_level (MP_LOG_DEBUG);
  mp_log (MP_LOG_INFO, "%s|%d|%05.2f|%%", "x", -3, 2.5);
  check_delivered ("x|-3|02.50|%", G_LOG_LEVEL_INFO, "20");

  mp_log_set_level (MP_LOG_NOTSET);
  records_clear ();
}

static void
test_to_stderr_in_child (void **state)
{
  g_autofree char *out = NULL;
  g_autofree char *name = NULL;
  g_autofree char *expected = NULL;
  int code = -1;

  mp_log_set_level (MP_LOG_NOTSET);
  out = run_with_pipe ("fork", log_to_stderr_child, NULL, &code, &name);
  assert_int_equal (code, 0);

  expected = g_strdup_printf ("[INFO/%s] hello 42\n", name);
  check_contains (out, expected);
  g_free (expected);
  expected = g_strdup_printf ("[DEBUG/%s] debug shown\n", name);
  check_contains (out, expected);
  g_free (expected);
  expected = g_strdup_printf ("[SUBWARNING/%s] subwarning shown\n", name);
  check_contains (out, expected);
  g_free (expected);
  expected = g_strdup_printf ("[WARNING/%s] warning shown\n", name);
  check_contains (out, expected);
  g_free (expected);
  expected = g_strdup_printf ("[ERROR/%s] error shown\n", name);
  check_contains (out, expected);
  g_free (expected);
  expected = g_strdup_printf ("[CRITICAL/%s] critical shown\n", name);
  check_contains (out, expected);
  check_not_contains (out, "hidden");

  /* every line is in the format */
  {
    g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
      if (lines[i][0] != '\0' && !g_regex_match_simple ("^\\[[A-Z]+/Process-[0-9:]+\\] ",
                                                        lines[i], 0, 0))
        fail_msg ("line “%s” is not in Python's format", lines[i]);
  }

  /* the parent's own setting did not change */
  assert_int_equal (mp_log_get_level (), MP_LOG_NOTSET);
}

static void
test_to_stderr_notset_keeps_level (void **state)
{
  g_autofree char *out = NULL;
  g_autofree char *name = NULL;
  g_autofree char *expected = NULL;
  int code = -1;

  out = run_with_pipe ("fork", log_to_stderr_keep_level_child, NULL, &code, &name);
  assert_int_equal (code, 0);
  expected = g_strdup_printf ("[WARNING/%s] warning kept\n", name);
  check_contains (out, expected);
  check_not_contains (out, "info hidden");
}

static void
test_level_inherited (void **state)
{
  g_autoptr(MpCallable) target = mp_callable_new (return_log_level, NULL);
  const char *methods[] = { "spawn", "fork" };
  const MpLogLevel levels[] = { MP_LOG_DEBUG, MP_LOG_SUBWARNING, MP_LOG_NOTSET };

  for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (levels); i++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(MpProcess) proc = NULL;
          int code = -1;

          mp_log_set_level (levels[i]);
          proc = mp_context_process_new (mp_get_context (methods[m], NULL), target);
          assert_true (mp_process_start (proc, &error));
          assert_true (mp_process_join (proc, TIMEOUT_US, &error));
          assert_true (mp_process_get_exitcode (proc, &code));
          if (code != (int) levels[i])
            fail_msg ("a %s child has level %d, its parent %d", methods[m], code,
                      (int) levels[i]);
        }
    }
  mp_log_set_level (MP_LOG_NOTSET);
  records_clear ();
}

static void
test_to_stderr_inherited (void **state)
{
  g_autofree char *out = NULL;
  g_autofree char *name = NULL;
  g_autofree char *expected = NULL;
  int code = -1;

  /* A fork child sends its log to the pipe; the spawn grandchild it starts writes there too,
   * in the same format, at the level it inherited. */
  out = run_with_pipe ("fork", log_parent_child, NULL, &code, &name);
  assert_int_equal (code, 0);
  expected = g_strdup_printf ("[INFO/%s:1] from grandchild, level %d\n", name, MP_LOG_INFO);
  check_contains (out, expected);
  check_not_contains (out, "grandchild debug hidden");
}

int
main (int argc, char **argv)
{
  mp_init (&argc, &argv);

  records = g_ptr_array_new_with_free_func (record_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);

  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_level_set_get),
    cmocka_unit_test (test_notset_is_warning_and_above),
    cmocka_unit_test (test_threshold_and_glib_levels),
    cmocka_unit_test (test_to_stderr_in_child),
    cmocka_unit_test (test_to_stderr_notset_keeps_level),
    cmocka_unit_test (test_level_inherited),
    cmocka_unit_test (test_to_stderr_inherited),
  };
  int ret = cmocka_run_group_tests (tests, NULL, NULL);

  /* libmp may still log from its exit handler: to GLib's default writer from now on */
  g_clear_pointer (&records, g_ptr_array_unref);
  return ret;
}
