/* mp-init.c: mp_init() and the detection of children that never called it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A spawn or forkserver child is the program itself, started with argv[1] = "--libmp-spawn"
 * (or "--libmp-forkserver") and LIBMP_CHILD_FD in its environment. mp_init(), called first
 * thing in main(), sees the marker and runs the child's bootstrap instead of returning.
 *
 * A program that forgot mp_init() would otherwise run main() from the top in every child —
 * Python's "attempt to start a new process before the current process has finished its
 * bootstrapping phase". A constructor notes LIBMP_CHILD_FD before main() runs (and removes it
 * from the environment); from then on, starting a process fails with an error that names the
 * fix, and if the child reaches exit() without calling mp_init() it prints the same message
 * and exits with status 1, so the parent sees a failed child rather than silence.
 */

#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp-context.h"
#include "mp-error.h"
#include "mp-init.h"
#include "mp-process-private.h"
#include "mp-spawn-private.h"
#include "mp-trace-private.h"

#define FORGOT_INIT_MESSAGE \
  "This process was started by libmp (spawn or forkserver start method), but its main() did " \
  "not call mp_init (&argc, &argv) before using libmp, so it cannot run the target its parent " \
  "sent. Add mp_init (&argc, &argv); as the first statement of main()."

static int pending_child_fd = -1;
static gboolean is_child;
static char *argv0;

static void
forgot_init_atexit (void)
{
  if (pending_child_fd >= 0)
    {
      fprintf (stderr, "libmp: %s\n", FORGOT_INIT_MESSAGE);
      fflush (stderr);
      _exit (1);
    }
}

__attribute__((constructor)) static void
mp_init_constructor (void)
{
  const char *env = getenv (MP_CHILD_FD_ENV);

  if (env != NULL)
    {
      pending_child_fd = atoi (env);
      unsetenv (MP_CHILD_FD_ENV);
      atexit (forgot_init_atexit);
    }
}

gboolean
_mp_check_initialized (GError **error)
{
  if (pending_child_fd >= 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_PROCESS, FORGOT_INIT_MESSAGE);
      return FALSE;
    }
  return TRUE;
}

const char *
_mp_get_argv0 (void)
{
  return argv0 ? argv0 : "libmp-child";
}

static void
runtime_init (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      _mp_trace_init_from_env ();
      (void) _mp_arena_ensure ();
      (void) mp_current_process ();
      atexit (_mp_process_atexit);
      g_once_init_leave (&once, 1);
    }
}

/**
 * mp_init:
 * @argc: (inout): the address of main()'s argc
 * @argv: (inout) (array length=argc): the address of main()'s argv
 *
 * Call it first thing in main(). In the main process it sets libmp up (the arena that monitors
 * attach to, the trace level from `LIBMP_TRACE`, the exit handler that joins children). In a
 * child started with the spawn or forkserver method it runs the child and never returns: the
 * equivalent of Python's `if __name__ == "__main__":` guard plus `freeze_support()`.
 */
void
mp_init (int *argc, char ***argv)
{
  if (argc != NULL && argv != NULL && *argc > 0 && (*argv)[0] != NULL && argv0 == NULL)
    argv0 = g_strdup ((*argv)[0]);

  if (pending_child_fd >= 0 && argc != NULL && argv != NULL && *argc >= 2)
    {
      const char *marker = (*argv)[1];
      int fd = pending_child_fd;

      if (g_strcmp0 (marker, MP_SPAWN_MARKER) == 0)
        {
          pending_child_fd = -1;
          is_child = TRUE;
          _mp_bootstrap_child (fd);
        }
      if (g_strcmp0 (marker, MP_FORKSERVER_MARKER) == 0)
        {
          pending_child_fd = -1;
          is_child = TRUE;
          _mp_forkserver_main (fd);
        }
    }
  /* The variable leaked into a program that is not our child: ignore it. */
  pending_child_fd = -1;
  runtime_init ();
}

/**
 * mp_is_child:
 *
 * Returns: %TRUE in a process started by libmp
 */
gboolean
mp_is_child (void)
{
  return is_child || mp_parent_process () != NULL;
}
