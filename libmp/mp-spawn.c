/* mp-spawn.c: the fork and spawn start methods, and the child's bootstrap
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * spawn is fork + exec of the program itself (/proc/self/exe, so a binary replaced on disk
 * after start is still the same build), with argv {argv0, "--libmp-spawn"} and one descriptor,
 * a socket at fd 3 (announced in LIBMP_CHILD_FD). Everything else the child needs — arena,
 * parent pidfd, the target and its descriptors — comes as one message on that socket, so the
 * child inherits nothing it was not given: every other descriptor is closed in the child
 * before exec.
 *
 * The child is made with posix_spawn(): glibc runs only async-signal-safe steps between its
 * clone and the exec (the parent may have threads holding locks), shares the parent's memory
 * until the exec instead of copying its page tables, and returns an exec failure to the
 * caller. argv and envp are built before.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp-context.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-process-private.h"
#include "mp-spawn-private.h"
#include "mp-wire-private.h"


extern char **environ;

static int
move_high (int fd)
{
  int high = fcntl (fd, F_DUPFD_CLOEXEC, 10);

  close (fd);
  return high;
}

/* The program to exec: what /proc/self/exe names, resolved once. Going by the path rather
 * than exec'ing the magic link itself lets tools that interpose on exec (valgrind
 * --trace-children) follow the child. A program deleted since it started only has the link. */
static const char *
self_executable (void)
{
  static char *path;

  if (g_once_init_enter (&path))
    {
      char *resolved = g_file_read_link ("/proc/self/exe", NULL);
      if (resolved == NULL || g_str_has_suffix (resolved, " (deleted)") ||
          access (resolved, X_OK) != 0)
        {
          g_free (resolved);
          resolved = g_strdup ("/proc/self/exe");
        }
      g_once_init_leave (&path, resolved);
    }
  return path;
}

gboolean
_mp_spawn_exec (const char *marker, int sentinel_w, MpSpawned *out, GError **error)
{
  const char *exe = mp_get_executable ();
  const char *argv[3] = { _mp_get_argv0 (), marker, NULL };
  g_autoptr(GPtrArray) envp = g_ptr_array_new ();
  char env_fd[] = MP_CHILD_FD_ENV "=3";
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t none;
  int sv[2];
  int r;
  pid_t pid;

  if (exe[0] == 0)
    exe = self_executable ();

  for (char **e = environ; e && *e; e++)
    if (!g_str_has_prefix (*e, MP_CHILD_FD_ENV "="))
      g_ptr_array_add (envp, *e);
  g_ptr_array_add (envp, env_fd);
  g_ptr_array_add (envp, NULL);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "socketpair() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  /* Keep the child's ends clear of 0–4 so the dup2s onto 3 and 4 cannot clobber them. */
  sv[1] = move_high (sv[1]);
  if (sentinel_w >= 0)
    sentinel_w = fcntl (sentinel_w, F_DUPFD_CLOEXEC, 10);
  if (sv[1] < 0)
    {
      int errsv = errno;
      close (sv[0]);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "fcntl() failed: %s", g_strerror (errsv));
      return FALSE;
    }

  /* posix_spawn() runs the child on the parent's memory until exec (no page-table copy, so
   * a big parent spawns as fast as a small one), runs only async-signal-safe steps there, and
   * reports an exec failure as its return value. The child keeps fd 3 (and 4) and nothing
   * else, and starts with no signal blocked. */
  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_adddup2 (&actions, sv[1], MP_CHILD_FD);
  if (sentinel_w >= 0)
    posix_spawn_file_actions_adddup2 (&actions, sentinel_w, MP_CHILD_FD + 1);
  posix_spawn_file_actions_addclosefrom_np (&actions, sentinel_w >= 0 ? MP_CHILD_FD + 2
                                                                      : MP_CHILD_FD + 1);
  posix_spawnattr_init (&attr);
  sigemptyset (&none);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK);

  fflush (stdout);
  fflush (stderr);
  r = posix_spawn (&pid, exe, &actions, &attr, (char **) argv, (char **) envp->pdata);
  posix_spawn_file_actions_destroy (&actions);
  posix_spawnattr_destroy (&attr);
  close (sv[1]);
  if (sentinel_w >= 0)
    close (sentinel_w);
  if (r != 0)
    {
      close (sv[0]);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Failed to execute child process “%s”: %s",
                   exe, g_strerror (r));
      return FALSE;
    }

  out->pid = pid;
  out->sock = sv[0];
  out->pidfd = _mp_pidfd_available () ? _mp_pidfd_open (pid) : -1;
  if (out->pidfd < 0 && _mp_pidfd_available ())
    {
      int errsv = errno;
      _mp_spawn_abort (out);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "pidfd_open() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* Kills and reaps a child whose start could not be completed. */
void
_mp_spawn_abort (MpSpawned *spawned)
{
  kill (spawned->pid, SIGKILL);
  while (waitpid (spawned->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  if (spawned->sock >= 0)
    close (spawned->sock);
  if (spawned->pidfd >= 0)
    close (spawned->pidfd);
  spawned->sock = spawned->pidfd = -1;
}

gboolean
_mp_start_spawn (MpProcess *self, GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) prep = NULL;
  int sentinel[2] = { -1, -1 };
  gboolean ok;
  MpSpawned sp;

  /* Serialize first: an unsendable target fails before any process exists. */
  prep = _mp_process_build_prep (self, fds, error);
  if (prep == NULL)
    return FALSE;
  g_variant_ref_sink (prep);

  if (!_mp_pidfd_available () && pipe2 (sentinel, O_CLOEXEC) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "pipe() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  ok = _mp_spawn_exec (MP_SPAWN_MARKER, sentinel[1], &sp, error);
  if (sentinel[1] >= 0)
    close (sentinel[1]);
  if (ok)
    {
      g_autoptr(GError) send_error = NULL;

      /* A child that already exited (it crashed, or its main() forgot mp_init()) has closed its
       * end: it did start, and its exit status will say what happened. */
      if (!_mp_wire_send (sp.sock, prep, fds, &send_error) &&
          !g_error_matches (send_error, MP_ERROR, MP_ERROR_EOF))
        {
          _mp_spawn_abort (&sp);
          g_propagate_error (error, g_steal_pointer (&send_error));
          ok = FALSE;
        }
    }
  if (!ok)
    {
      if (sentinel[0] >= 0)
        close (sentinel[0]);
      return FALSE;
    }
  close (sp.sock);
  self->pid = sp.pid;
  self->pidfd = sp.pidfd;
  self->sentinel_r = sentinel[0];
  return TRUE;
}

gboolean
_mp_start_fork (MpProcess *self, GError **error)
{
  static gsize warned;
  int sentinel[2] = { -1, -1 };
  pid_t pid;
  int errsv;

  /* Threads are counted only until the warning was given: it costs a directory read. */
  if (g_atomic_pointer_get (&warned) == 0 && _mp_count_threads () > 1 &&
      g_once_init_enter (&warned))
    {
      _mp_warning ("This process (pid=%d) is multi-threaded, use of fork() may lead to "
                   "deadlocks in the child; use the forkserver start method "
                   "(mp_get_context (\"forkserver\", ...)) instead", getpid ());
      g_once_init_leave (&warned, 1);
    }

  /* The child inherits it as its handle on the parent. */
  (void) _mp_self_pidfd ();
  if (!_mp_pidfd_available () && pipe2 (sentinel, O_CLOEXEC) < 0)
    {
      errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "pipe() failed: %s", g_strerror (errsv));
      return FALSE;
    }

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid < 0)
    {
      errsv = errno;
      if (sentinel[0] >= 0)
        {
          close (sentinel[0]);
          close (sentinel[1]);
        }
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "fork() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  if (pid == 0)
    {
      if (sentinel[0] >= 0)
        close (sentinel[0]);
      _mp_forkserver_reset_after_fork ();
      _mp_process_after_fork_child (self, sentinel[1]);
    }

  self->pid = pid;
  if (sentinel[0] >= 0)
    {
      close (sentinel[1]);
      self->sentinel_r = sentinel[0];
      return TRUE;
    }
  self->pidfd = _mp_pidfd_open (pid);
  if (self->pidfd < 0)
    {
      errsv = errno;
      kill (pid, SIGKILL);
      while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "pidfd_open() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* The child side of spawn and forkserver: read the start message, become the process it
 * describes, run the target, exit. */
void
_mp_bootstrap_child (int sock)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) prep = NULL;
  g_autoptr(GError) error = NULL;
  MpCallable *target = NULL;

  prep = _mp_wire_recv (sock, MP_START_MESSAGE_MAX, &fds, &error);
  close (sock);
  if (prep == NULL)
    {
      fprintf (stderr, "libmp: the child could not read its start message: %s\n", error->message);
      _exit (1);
    }
  if (!_mp_process_setup_from_prep (prep, fds, &target, &error))
    {
      fprintf (stderr, "Process %s: cannot start: %s\n", _mp_process_current_name (),
               error->message);
      mp_process_exit (1);
    }
  g_clear_pointer (&prep, g_variant_unref);
  g_clear_object (&fds);
  _mp_process_run_and_exit (target);
}
