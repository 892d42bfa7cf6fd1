/* test-util.h: small helpers shared by the tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>

#if defined(__has_include)
# if __has_include(<valgrind/valgrind.h>)
#  include <valgrind/valgrind.h>
# endif
#endif

/* Under valgrind a few things cannot be observed as elsewhere: its own descriptors show in
 * /proc/self/fd, and exec failures of traced children are not reported the same way. */
static inline gboolean
test_running_on_valgrind (void)
{
#ifdef RUNNING_ON_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return FALSE;
#endif
}

/* Tests that run once per start method: `method` is the one of the running test, set by the
 * setup function FOR_METHOD() names. */
static const char *method G_GNUC_UNUSED;

G_GNUC_UNUSED static int setup_fork (void **state) { method = "fork"; return 0; }
G_GNUC_UNUSED static int setup_spawn (void **state) { method = "spawn"; return 0; }
G_GNUC_UNUSED static int setup_forkserver (void **state) { method = "forkserver"; return 0; }

#define FOR_METHOD(test, m) { #test "/" #m, test, setup_##m, NULL, NULL }

/* Waits until a process has exited (a zombie counts: its parent has not reaped it yet). With
 * pidfds the kernel tells us; where there are none (old kernels, valgrind) we look at its
 * state in /proc now and then until the deadline. */
static inline gboolean
test_wait_pid_exited (pid_t pid, int timeout_ms)
{
  int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);

  if (pidfd >= 0)
    {
      struct pollfd pfd = { pidfd, POLLIN, 0 };
      int r = poll (&pfd, 1, timeout_ms);
      close (pidfd);
      return r == 1;
    }
  if (errno == ESRCH)
    return TRUE;
  for (;;)
    {
      g_autofree char *stat = NULL;
      const char *p;

      if (!g_file_get_contents (path, &stat, NULL, NULL))
        return TRUE;
      p = strrchr (stat, ')');
      if (p != NULL && (p[2] == 'Z' || p[2] == 'X'))
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (1000);
    }
}
