/* sleepy-tree.c: a small tree of processes that waits, for attaching a monitor to
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   MainProcess
 *   ├── Process-1 (fork)          starts Process-1:1 with spawn, then sleeps
 *   │   └── Process-1:1 (spawn)   sleeps
 *   ├── Process-2 (spawn)         sleeps
 *   ├── ForkServer                started by the first forkserver child
 *   ├── Process-3 (forkserver)    sleeps
 *   └── Process-4 (fork)          exits at once with code 3
 *
 * Once every sleeper sleeps, the main process prints "ready PID" and waits until its standard
 * input ends (Ctrl-D, or the test that runs it closes the pipe), SIGINT or SIGTERM, or for
 * --seconds N. Then it wakes the sleepers with SIGTERM; each returns 0 (Process-1 first ends and
 * joins its own child) and the program exits 0.
 *
 * Try it with the monitor:
 *   ./sleepy-tree &                       (prints "ready 4242")
 *   mpviewer --headless --attach 4242     (live view; Ctrl-C to quit)
 *   mpviewer --once --attach 4242         (one snapshot)
 *   mpviewer --record run.jsonl -- ./sleepy-tree --seconds 2
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <mp.h>

/* Blocks until SIGTERM or SIGINT. The signals are blocked first, so one that arrives before
 * sigwait() stays pending instead of killing the process. */
static void
sleep_until_told (void)
{
  sigset_t set;
  int sig;

  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigwait (&set, &sig);
}

static void
block_wake_signals (void)
{
  sigset_t set;

  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
}

static void
say_ready (int fd)
{
  char c = 'r';

  if (write (fd, &c, 1) != 1)
    perror ("sleepy-tree: write");
}

/* args: (h: the ready pipe, b: start a child of our own) */
static GVariant *
sleeper (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 h;
  gboolean with_child;
  int ready;
  g_autoptr(MpProcess) child = NULL;

  block_wake_signals ();
  g_variant_get (args, "(hb)", &h, &with_child);
  ready = g_unix_fd_list_peek_fds (fds, NULL)[h];

  if (with_child)
    {
      g_autoptr(GUnixFDList) child_fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) target = NULL;
      int i = g_unix_fd_list_append (child_fds, ready, error);

      if (i < 0)
        return NULL;
      target = mp_callable_new_with_fds (sleeper, g_variant_new ("(hb)", i, FALSE), child_fds);
      child = mp_context_process_new (mp_get_context ("spawn", NULL), target);
      if (!mp_process_start (child, error))
        return NULL;
    }
  say_ready (ready);
  sleep_until_told ();
  if (child != NULL &&
      (!mp_process_terminate (child, error) || !mp_process_join (child, MP_TIMEOUT_INFINITE, error)))
    return NULL;
  return g_variant_new_int32 (0);
}

static GVariant *
exit_three (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_new_int32 (3);
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
stdin_ready (int fd, GIOCondition cond, gpointer loop)
{
  char buf[256];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n > 0)
    return G_SOURCE_CONTINUE;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  const char *methods[] = { "fork", "spawn", "forkserver" };
  g_autoptr(GMainLoop) loop = NULL;
  MpProcess *sleepers[3];
  int ready[2];
  int seconds = 0;

  mp_init (&argc, &argv);

  if (argc == 3 && g_str_equal (argv[1], "--seconds"))
    seconds = atoi (argv[2]);
  else if (argc != 1)
    {
      fprintf (stderr, "usage: %s [--seconds N]\n", argv[0]);
      return 2;
    }

  if (!g_unix_open_pipe (ready, FD_CLOEXEC, NULL))
    return 1;

  for (int i = 0; i < 3; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) target = NULL;
      g_autoptr(GError) error = NULL;
      int h = g_unix_fd_list_append (fds, ready[1], NULL);

      target = mp_callable_new_with_fds (sleeper, g_variant_new ("(hb)", h, i == 0), fds);
      sleepers[i] = mp_context_process_new (mp_get_context (methods[i], NULL), target);
      if (!mp_process_start (sleepers[i], &error))
        {
          fprintf (stderr, "sleepy-tree: cannot start a %s child: %s\n", methods[i], error->message);
          return 1;
        }
    }

  /* A short-lived child, so the tree shows an exited process too. */
  {
    g_autoptr(MpCallable) target = mp_callable_new (exit_three, NULL);
    g_autoptr(MpProcess) p = mp_context_process_new (mp_get_context ("fork", NULL), target);

    if (!mp_process_start (p, NULL) || !mp_process_join (p, MP_TIMEOUT_INFINITE, NULL))
      return 1;
  }

  /* Four sleepers say they sleep: Process-1, Process-1:1, Process-2, Process-3. */
  for (int got = 0; got < 4;)
    {
      char buf[4];
      ssize_t n = read (ready[0], buf, (size_t) (4 - got));

      if (n <= 0)
        {
          fprintf (stderr, "sleepy-tree: a child died before it was ready\n");
          return 1;
        }
      got += (int) n;
    }
  printf ("ready %d\n", getpid ());
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, quit_loop, loop);
  g_unix_signal_add (SIGTERM, quit_loop, loop);
  if (seconds > 0)
    g_timeout_add_seconds ((guint) seconds, quit_loop, loop);
  else
    g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, loop);
  g_main_loop_run (loop);

  for (int i = 0; i < 3; i++)
    {
      (void) mp_process_terminate (sleepers[i], NULL);
      (void) mp_process_join (sleepers[i], MP_TIMEOUT_INFINITE, NULL);
      g_object_unref (sleepers[i]);
    }
  return 0;
}
