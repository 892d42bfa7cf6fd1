/* test-context.c: start methods, contexts and the settings that go with them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The default start method is process-wide state: every test starts from the initial state
 * (mp_set_start_method (NULL, TRUE), no executable) rather than relying on the order. Children
 * never assert: they report through their exit code, and the parent checks it.
 */

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

#define TIMEOUT_US (60 * G_USEC_PER_SEC)
#define ENV_METHOD "LIBMP_START_METHOD"

static const char * const methods[] = { "fork", "spawn", "forkserver" };

/* What mp_get_start_method (TRUE) said right after mp_init(). */
static const char *method_after_init;

/* ---- helpers -------------------------------------------------------------------------------- */

static void
check_error (const GError *error, GQuark domain, int code)
{
  if (error == NULL)
    fail_msg ("expected error %s/%d, got none", g_quark_to_string (domain), code);
  if (!g_error_matches (error, domain, code))
    fail_msg ("expected error %s/%d, got %s/%d: %s", g_quark_to_string (domain), code,
              g_quark_to_string (error->domain), error->code, error->message);
}

static void
check_contains (const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    fail_msg ("“%s” does not contain “%s”", haystack ? haystack : "(null)", needle);
}

/* Back to the state of a fresh program: no default fixed, no executable set. */
static void
reset_settings (void)
{
  g_autoptr(GError) error = NULL;

  assert_true (mp_set_start_method (NULL, TRUE, &error));
  assert_null (error);
  mp_set_executable (NULL);
}

/* Sets LIBMP_START_METHOD for the test and gives back the old value (NULL: unset). */
static char *
set_env_method (const char *value)
{
  char *old = g_strdup (g_getenv (ENV_METHOD));

  assert_true (g_setenv (ENV_METHOD, value, TRUE));
  return old;
}

static void
restore_env_method (char *old)
{
  if (old != NULL)
    assert_true (g_setenv (ENV_METHOD, old, TRUE));
  else
    g_unsetenv (ENV_METHOD);
  g_free (old);
}

static guint
strv_length (const char * const *v)
{
  guint n = 0;

  while (v[n] != NULL)
    n++;
  return n;
}

/* The list has each method exactly once, @first first. */
static void
check_all_methods (const char * const *all, const char *first)
{
  assert_non_null (all);
  assert_int_equal (strv_length (all), G_N_ELEMENTS (methods));
  assert_string_equal (all[0], first);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      guint seen = 0;
      for (guint j = 0; all[j] != NULL; j++)
        seen += g_strcmp0 (all[j], methods[i]) == 0;
      if (seen != 1)
        fail_msg ("“%s” is listed %u times", methods[i], seen);
    }
}


/* ---- the targets ------------------------------------------------------------------------------ */

#define CHILD_NOT_A_CHILD 2
#define CHILD_WRONG       3
#define CHILD_METHOD_BASE 20

/* Returns 20 + the index of the start method the child sees for itself. */
static GVariant *
report_method (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *own = mp_process_get_start_method (mp_current_process ());

  if (!mp_is_child () || mp_parent_process () == NULL)
    return g_variant_new_int32 (CHILD_NOT_A_CHILD);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (g_strcmp0 (own, methods[i]) == 0)
      return g_variant_new_int32 (CHILD_METHOD_BASE + (gint32) i);
  return g_variant_new_int32 (CHILD_WRONG);
}

/* (s expected): 0 if the child's mp_get_executable() is the expected one. */
static GVariant *
check_executable (GVariant *args, GUnixFDList *fds, GError **error)
{
  const char *expected;

  g_variant_get (args, "(&s)", &expected);
  return g_variant_new_int32 (g_strcmp0 (mp_get_executable (), expected) == 0 ? 0 : CHILD_WRONG);
}

/* Starts @proc, waits for it and returns its exit code. */
static int
run_to_end (MpProcess *proc)
{
  g_autoptr(GError) error = NULL;
  int code = -1000;

  assert_false (mp_process_get_exitcode (proc, NULL));
  if (!mp_process_start (proc, &error))
    fail_msg ("cannot start %s: %s", mp_process_get_name (proc), error->message);
  if (!mp_process_join (proc, TIMEOUT_US, &error))
    fail_msg ("cannot join %s: %s", mp_process_get_name (proc), error->message);
  assert_true (mp_process_get_exitcode (proc, &code));
  return code;
}

/* ---- the default start method ---------------------------------------------------------------- */

static void
test_default_fixed_on_first_use (void **state)
{
  char *old_env = set_env_method ("");

  /* mp_init() does not fix the default. */
  assert_null (method_after_init);

  reset_settings ();
  assert_null (mp_get_start_method (TRUE));
  assert_null (mp_get_start_method (TRUE));   /* asking with allow_none fixes nothing */
  assert_string_equal (mp_get_start_method (FALSE), "fork");
  assert_string_equal (mp_get_start_method (TRUE), "fork");

  reset_settings ();
  restore_env_method (old_env);
}

static void
test_set_start_method (void **state)
{
  g_autoptr(GError) error = NULL;
  char *old_env = set_env_method ("");

  reset_settings ();

  /* unknown methods, and NULL without force, are refused and change nothing */
  assert_false (mp_set_start_method ("bogus", FALSE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  check_contains (error->message, "bogus");
  g_clear_error (&error);
  assert_false (mp_set_start_method (NULL, FALSE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  g_clear_error (&error);
  assert_null (mp_get_start_method (TRUE));

  /* an unfixed default can be set once */
  assert_true (mp_set_start_method ("spawn", FALSE, &error));
  assert_null (error);
  assert_string_equal (mp_get_start_method (TRUE), "spawn");
  assert_string_equal (mp_get_start_method (FALSE), "spawn");
  assert_ptr_equal (mp_get_context (NULL, NULL), mp_get_context ("spawn", NULL));

  /* then only with force, even to the same method (Python: "context has already been set") */
  assert_false (mp_set_start_method ("fork", FALSE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  g_clear_error (&error);
  assert_false (mp_set_start_method ("spawn", FALSE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  g_clear_error (&error);
  assert_string_equal (mp_get_start_method (TRUE), "spawn");

  assert_true (mp_set_start_method ("forkserver", TRUE, &error));
  assert_null (error);
  assert_string_equal (mp_get_start_method (FALSE), "forkserver");

  /* force does not make an unknown method acceptable */
  assert_false (mp_set_start_method ("bogus", TRUE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  g_clear_error (&error);
  assert_string_equal (mp_get_start_method (TRUE), "forkserver");

  /* NULL with force goes back to "not fixed yet" */
  assert_true (mp_set_start_method (NULL, TRUE, &error));
  assert_null (error);
  assert_null (mp_get_start_method (TRUE));

  /* a default fixed by use needs force too */
  assert_string_equal (mp_get_start_method (FALSE), "fork");
  assert_false (mp_set_start_method ("spawn", FALSE, &error));
  check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
  g_clear_error (&error);
  assert_string_equal (mp_get_start_method (TRUE), "fork");

  reset_settings ();
  restore_env_method (old_env);
}

static void
test_env_overrides_default (void **state)
{
  g_autoptr(MpCallable) target = mp_callable_new (report_method, NULL);
  char *old_env = set_env_method ("spawn");

  reset_settings ();
  assert_null (mp_get_start_method (TRUE));
  assert_string_equal (mp_get_start_method (FALSE), "spawn");
  check_all_methods (mp_get_all_start_methods (), "spawn");
  {
    g_autoptr(MpProcess) proc = mp_process_new (target);
    assert_string_equal (mp_process_get_start_method (proc), "spawn");
  }

  /* the variable is read when the default is fixed, not before */
  assert_true (g_setenv (ENV_METHOD, "forkserver", TRUE));
  assert_string_equal (mp_get_start_method (FALSE), "spawn");
  reset_settings ();
  assert_string_equal (mp_get_start_method (FALSE), "forkserver");

  /* an explicit choice wins over the variable */
  reset_settings ();
  assert_true (mp_set_start_method ("fork", FALSE, NULL));
  assert_string_equal (mp_get_start_method (FALSE), "fork");

  /* unknown or empty: the built-in default */
  assert_true (g_setenv (ENV_METHOD, "bogus", TRUE));
  reset_settings ();
  assert_string_equal (mp_get_start_method (FALSE), "fork");
  assert_true (g_setenv (ENV_METHOD, "", TRUE));
  reset_settings ();
  assert_string_equal (mp_get_start_method (FALSE), "fork");

  reset_settings ();
  restore_env_method (old_env);
}

static void
test_all_start_methods_default_first (void **state)
{
  char *old_env = set_env_method ("");

  reset_settings ();
  /* Python's get_all_start_methods() asks for the default, which fixes it. */
  check_all_methods (mp_get_all_start_methods (), "fork");
  assert_string_equal (mp_get_start_method (TRUE), "fork");

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      assert_true (mp_set_start_method (methods[i], TRUE, NULL));
      check_all_methods (mp_get_all_start_methods (), methods[i]);
    }

  reset_settings ();
  restore_env_method (old_env);
}

/* ---- contexts --------------------------------------------------------------------------------- */

static void
test_get_context (void **state)
{
  MpContext *ctx[G_N_ELEMENTS (methods)];
  char *old_env = set_env_method ("");
  const char *unknown[] = { "bogus", "", "Fork", "spawn ", "fork\n" };

  reset_settings ();
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(GError) error = NULL;

      ctx[i] = mp_get_context (methods[i], &error);
      assert_null (error);
      assert_non_null (ctx[i]);
      assert_string_equal (mp_context_get_start_method (ctx[i]), methods[i]);
      /* singletons */
      assert_ptr_equal (mp_get_context (methods[i], NULL), ctx[i]);
      for (guint j = 0; j < i; j++)
        assert_ptr_not_equal (ctx[i], ctx[j]);
    }
  /* asking for a named context does not fix the default */
  assert_null (mp_get_start_method (TRUE));

  for (guint i = 0; i < G_N_ELEMENTS (unknown); i++)
    {
      g_autoptr(GError) error = NULL;

      assert_null (mp_get_context (unknown[i], &error));
      check_error (error, MP_ERROR, MP_ERROR_START_METHOD);
    }
  assert_null (mp_get_context ("bogus", NULL));
  assert_null (mp_get_start_method (TRUE));

  /* NULL is the default context, and asking for it fixes the default */
  assert_ptr_equal (mp_get_context (NULL, NULL), ctx[0]);
  assert_string_equal (mp_get_start_method (TRUE), "fork");
  assert_true (mp_set_start_method ("forkserver", TRUE, NULL));
  assert_ptr_equal (mp_get_context (NULL, NULL), ctx[2]);

  reset_settings ();
  restore_env_method (old_env);
}

static void
test_process_per_context (void **state)
{
  g_autoptr(MpCallable) target = mp_callable_new (report_method, NULL);

  reset_settings ();
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(MpProcess) proc = NULL;
      MpContext *ctx = mp_get_context (methods[i], NULL);

      proc = mp_context_process_new (ctx, target);
      assert_non_null (proc);
      assert_string_equal (mp_process_get_start_method (proc), methods[i]);
      /* the child runs, and sees itself started with the same method */
      assert_int_equal (run_to_end (proc), CHILD_METHOD_BASE + (int) i);
      assert_string_equal (mp_process_get_start_method (proc), methods[i]);
    }
  /* creating processes from named contexts did not fix the default */
  assert_null (mp_get_start_method (TRUE));
  reset_settings ();
}

static void
test_process_new_uses_default (void **state)
{
  g_autoptr(MpCallable) target = mp_callable_new (report_method, NULL);
  char *old_env = set_env_method ("");

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(MpProcess) proc = NULL;

      reset_settings ();
      assert_true (mp_set_start_method (methods[i], FALSE, NULL));
      proc = mp_process_new (target);
      assert_string_equal (mp_process_get_start_method (proc), methods[i]);
      assert_int_equal (run_to_end (proc), CHILD_METHOD_BASE + (int) i);
    }

  /* with nothing set, mp_process_new() fixes the default */
  reset_settings ();
  {
    g_autoptr(MpProcess) proc = mp_process_new (target);
    assert_string_equal (mp_process_get_start_method (proc), "fork");
    assert_string_equal (mp_get_start_method (TRUE), "fork");
  }

  reset_settings ();
  restore_env_method (old_env);
}

/* ---- the executable ---------------------------------------------------------------------------- */

static void
test_executable_round_trip (void **state)
{
  const char *before;

  reset_settings ();
  assert_string_equal (mp_get_executable (), "");

  mp_set_executable ("/usr/bin/env");
  before = mp_get_executable ();
  assert_string_equal (before, "/usr/bin/env");

  /* a string handed out earlier stays valid after the setting changes */
  mp_set_executable ("/opt/other/program");
  assert_string_equal (mp_get_executable (), "/opt/other/program");
  assert_string_equal (before, "/usr/bin/env");

  mp_set_executable (NULL);
  assert_string_equal (mp_get_executable (), "");
  mp_set_executable ("/usr/bin/env");
  mp_set_executable ("");
  assert_string_equal (mp_get_executable (), "");

  reset_settings ();
}

static void
test_executable_used_by_spawn (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *self_exe = NULL;
  MpContext *spawn = mp_get_context ("spawn", NULL);

  reset_settings ();
  if (test_running_on_valgrind ())
    return;   /* memcheck reports exec failures of traced children differently */

  /* spawn runs the executable that is set: a missing one fails the start */
  mp_set_executable ("/nonexistent/libmp-test-program");
  {
    g_autoptr(MpCallable) target = mp_callable_new (report_method, NULL);
    g_autoptr(MpProcess) proc = mp_context_process_new (spawn, target);

    assert_false (mp_process_start (proc, &error));
    check_error (error, MP_ERROR, MP_ERROR_IO);
    check_contains (error->message, "/nonexistent/libmp-test-program");
    g_clear_error (&error);
    assert_false (mp_process_get_exitcode (proc, NULL));
    assert_false (mp_process_join (proc, 0, &error));
    check_error (error, MP_ERROR, MP_ERROR_PROCESS);
    g_clear_error (&error);
  }

  /* fork does not execute anything: the setting does not matter to it */
  {
    g_autoptr(MpCallable) target = mp_callable_new (report_method, NULL);
    g_autoptr(MpProcess) proc = mp_context_process_new (mp_get_context ("fork", NULL), target);

    assert_int_equal (run_to_end (proc), CHILD_METHOD_BASE + 0);
  }

  /* this very program by its path works, and the child inherits the setting */
  self_exe = g_file_read_link ("/proc/self/exe", &error);
  assert_null (error);
  mp_set_executable (self_exe);
  {
    g_autoptr(MpCallable) target = mp_callable_new (check_executable,
                                                    g_variant_new ("(s)", self_exe));
    g_autoptr(MpProcess) proc = mp_context_process_new (spawn, target);

    assert_int_equal (run_to_end (proc), 0);
  }

  /* and with none set, the child has none either */
  mp_set_executable (NULL);
  {
    g_autoptr(MpCallable) target = mp_callable_new (check_executable, g_variant_new ("(s)", ""));
    g_autoptr(MpProcess) proc = mp_context_process_new (spawn, target);

    assert_int_equal (run_to_end (proc), 0);
  }

  reset_settings ();
}

int
main (int argc, char **argv)
{
  mp_init (&argc, &argv);
  method_after_init = mp_get_start_method (TRUE);

  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_default_fixed_on_first_use),
    cmocka_unit_test (test_set_start_method),
    cmocka_unit_test (test_env_overrides_default),
    cmocka_unit_test (test_all_start_methods_default_first),
    cmocka_unit_test (test_get_context),
    cmocka_unit_test (test_process_per_context),
    cmocka_unit_test (test_process_new_uses_default),
    cmocka_unit_test (test_executable_round_trip),
    cmocka_unit_test (test_executable_used_by_spawn),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
