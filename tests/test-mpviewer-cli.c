/* test-mpviewer-cli.c: mpviewer's terminal front end, run as a program (no shell)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <mp.h>

static char *
build_path (const char *dir, const char *name)
{
  return g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "..", dir, name, NULL);
}

/* Runs mpviewer with @args (NULL-terminated); returns its exit status. */
static int
run_viewer (char **out, char **err, ...)
{
  g_autofree char *viewer = build_path ("mpviewer", "mpviewer");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  va_list ap;
  const char *a;
  int status;

  g_ptr_array_add (argv, viewer);
  va_start (ap, err);
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                             err, &status, &error));
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

typedef struct
{
  GPid pid;
  int  in_fd;
  int  out_fd;
} Tree;

static void
tree_start (Tree *t)
{
  g_autofree char *path = build_path ("examples", "sleepy-tree");
  char *argv[] = { path, NULL };
  char line[64];
  gsize len = 0;

  assert_true (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &t->pid, &t->in_fd, &t->out_fd, NULL, NULL));
  while (len < sizeof line - 1)
    {
      struct pollfd pfd = { t->out_fd, POLLIN, 0 };
      assert_true (poll (&pfd, 1, 30000) == 1);
      assert_int_equal (read (t->out_fd, line + len, 1), 1);
      if (line[len++] == '\n')
        break;
    }
  line[len] = 0;
  assert_true (g_str_has_prefix (line, "ready "));
}

static void
tree_stop (Tree *t)
{
  int status;

  close (t->in_fd);
  assert_int_equal (waitpid (t->pid, &status, 0), t->pid);
  close (t->out_fd);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

/* The process line whose NAME is @name, split on blanks (tree drawing included), or NULL. */
static char **
process_line (const char *output, const char *name)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);
  gboolean in_processes = FALSE;

  for (guint i = 0; lines[i]; i++)
    {
      char **tokens;
      guint n;

      if (g_str_equal (lines[i], "PROCESSES"))
        {
          in_processes = TRUE;
          continue;
        }
      if (!in_processes)
        continue;
      if (lines[i][0] == 0)
        break;
      tokens = g_strsplit_set (lines[i], " ", -1);
      /* drop empty tokens */
      n = 0;
      for (guint k = 0; tokens[k]; k++)
        if (tokens[k][0])
          tokens[n++] = tokens[k];
        else
          g_free (tokens[k]);
      tokens[n] = NULL;
      if (n >= 7 && g_str_equal (tokens[n - 1], name))
        return tokens;
      g_strfreev (tokens);
    }
  return NULL;
}

static guint
count_process_lines (const char *output)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);
  guint n = 0;
  gboolean in_processes = FALSE;

  for (guint i = 0; lines[i]; i++)
    {
      if (g_str_equal (lines[i], "PROCESSES"))
        in_processes = TRUE;
      else if (in_processes && lines[i][0] == 0)
        break;
      else if (in_processes && g_ascii_isdigit (lines[i][0]))
        n++;
    }
  return n;
}

static void
test_once_known_program (void **state)
{
  Tree t;
  g_autofree char *out = NULL, *err = NULL, *pid = NULL, *first = NULL;
  g_auto(GStrv) main_l = NULL, p1 = NULL, p11 = NULL, p3 = NULL, p4 = NULL, fs = NULL;

  tree_start (&t);
  pid = g_strdup_printf ("%d", t.pid);
  assert_int_equal (run_viewer (&out, &err, "--once", "--attach", pid, NULL), 0);

  first = g_strdup_printf ("program sleepy-tree  pid %d  started ", t.pid);
  assert_true (g_str_has_prefix (out, first));
  assert_non_null (strstr (out, "\nevents "));
  assert_non_null (strstr (out, "\nPROCESSES\nPID      PPID     ROLE       STATE"));
  assert_int_equal (count_process_lines (out), 7);

  main_l = process_line (out, "MainProcess");
  p1 = process_line (out, "Process-1");
  p11 = process_line (out, "Process-1:1");
  p3 = process_line (out, "Process-3");
  p4 = process_line (out, "Process-4");
  fs = process_line (out, "ForkServer");
  assert_true (main_l && p1 && p11 && p3 && p4 && fs);
  /* PID PPID ROLE STATE CPU% RSS [tree] NAME */
  assert_string_equal (main_l[0], pid);
  assert_string_equal (main_l[2], "main");
  assert_string_equal (main_l[3], "running");
  assert_string_equal (p1[1], pid);
  assert_string_equal (p1[2], "process");
  assert_string_equal (p1[3], "running");
  assert_string_equal (p11[1], p1[0]);
  assert_string_equal (p3[1], pid);
  assert_string_equal (fs[2], "forkserver");
  assert_string_equal (p4[3], "exited(3)");
  assert_string_equal (p4[5], "-");
  /* Tree drawing: Process-1:1 sits one level below Process-1. */
  assert_non_null (strstr (out, "└─ Process-1:1\n"));
  assert_non_null (strstr (out, "\nRECENT EVENTS\n"));
  assert_non_null (strstr (out, "process-exited   child"));

  {
    g_autofree char *lout = NULL, *lerr = NULL, *prefix = g_strdup_printf ("\n%-8s sleepy-tree ", pid);
    assert_int_equal (run_viewer (&lout, &lerr, "--list", NULL), 0);
    assert_true (g_str_has_prefix (lout, "PID      PROGRAM"));
    assert_non_null (strstr (lout, prefix));
  }
  {
    /* A live view for half a second refreshes more than once. */
    g_autofree char *vout = NULL, *verr = NULL;
    const char *p = NULL;
    guint views = 0;

    assert_int_equal (run_viewer (&vout, &verr, "--headless", "--attach", pid, "--duration", "0.5",
                                  "--interval", "100", NULL), 0);
    for (p = vout; (p = strstr (p, "\nPROCESSES\n")) != NULL; p++)
      views++;
    assert_true (views >= 2);
  }
  tree_stop (&t);
}

static void
test_errors (void **state)
{
  g_autofree char *bad = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-mpviewer-bad.jsonl", NULL);
  struct { int status; const char *in_err; const char *args[6]; } cases[] = {
    { 1, "no process with pid 1073741808", { "--once", "--attach", "1073741808", NULL } },
    { 1, "Cannot open the recording", { "--replay", "/nonexistent.jsonl", "--once", NULL } },
    { 1, "test-mpviewer-bad.jsonl:2:", { "--replay", bad, "--once", NULL } },
    { 1, "test-mpviewer-bad.jsonl:2:", { "--replay", bad, "--export-chrome", "/dev/null", NULL } },
    { 2, "give one of", { "--attach", "5", "--replay", "x", NULL } },
    { 2, "nothing to watch", { NULL } },
    { 2, "--export-chrome needs a recording", { "--export-chrome", "out.json", NULL } },
    { 2, "Unknown option", { "--frobnicate", NULL } },
    { 2, "positive process id", { "--attach", "-3", NULL } },
  };

  assert_true (g_file_set_contents (bad, "{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":1,"
                                    "\"program\":\"x\"}\n{\"r\":\"event\",\"t\":1,\"pid\":", -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      const char **a = cases[i].args;
      int status = run_viewer (&out, &err, a[0], a[0] ? a[1] : NULL, a[0] && a[1] ? a[2] : NULL,
                               a[0] && a[1] && a[2] ? a[3] : NULL, NULL);

      if (status != cases[i].status || strstr (err, cases[i].in_err) == NULL)
        fail_msg ("case %u: status %d, stderr: %s", i, status, err);
    }
  (void) g_unlink (bad);
}

static void
test_record_launch_replay_export (void **state)
{
  g_autofree char *rec = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-mpviewer-rec.jsonl", NULL);
  g_autofree char *chrome = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-mpviewer-rec.json", NULL);
  g_autofree char *chrome2 = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "test-mpviewer-rec2.json", NULL);
  g_autofree char *tree = build_path ("examples", "sleepy-tree");
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) main_l = NULL, p2 = NULL;
  JsonArray *events;
  guint names = 0;

  assert_int_equal (run_viewer (&out, &err, "--record", rec, "--export-chrome", chrome, "--",
                                tree, "--seconds", "1", NULL), 0);
  assert_non_null (strstr (out, "ready "));        /* the program's own output */
  assert_non_null (strstr (err, "recorded "));
  assert_true (json_parser_load_from_file (parser, chrome, &error));
  events = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "traceEvents");
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonObject *e = json_array_get_object_element (events, i);
      if (g_str_equal (json_object_get_string_member (e, "ph"), "M") &&
          g_str_equal (json_object_get_string_member (e, "name"), "process_name"))
        names++;
    }
  assert_int_equal (names, 7);

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  assert_int_equal (run_viewer (&out, &err, "--replay", rec, "--once", NULL), 0);
  assert_true (g_str_has_prefix (out, "program sleepy-tree  pid "));
  assert_non_null (strstr (out, "(finished)"));
  assert_int_equal (count_process_lines (out), 7);
  main_l = process_line (out, "MainProcess");
  p2 = process_line (out, "Process-2");
  assert_true (main_l && p2);
  /* The monitor reaped the program it launched, so even the root has its status. */
  assert_string_equal (main_l[3], "exited(0)");
  assert_string_equal (p2[3], "exited(0)");

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  assert_int_equal (run_viewer (&out, &err, "--replay", rec, "--export-chrome", chrome2, NULL), 0);
  assert_true (g_file_test (chrome2, G_FILE_TEST_EXISTS));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  assert_int_equal (run_viewer (&out, &err, "--replay", rec, "--headless", "--speed", "0", NULL), 0);
  assert_non_null (strstr (out, "(finished)"));

  (void) g_unlink (rec);
  (void) g_unlink (chrome);
  (void) g_unlink (chrome2);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_once_known_program),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_record_launch_replay_export),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("mpviewer-cli", tests, NULL, NULL);
}
