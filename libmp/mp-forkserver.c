/* mp-forkserver.c: the forkserver start method
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The server is a spawned copy of the program ("--libmp-forkserver"), single-threaded, so it
 * can fork safely however many threads its clients have. It talks to the process that started
 * it over one private socketpair: no address on the filesystem or in the abstract namespace,
 * so nobody else can ask it for anything. When that socket reaches EOF (the client exited)
 * the server exits too.
 *
 * A request carries two descriptors: the socket the new child will read its start message
 * from, and the write end of a status pipe. The server forks; the child keeps only the socket
 * (as fd 3) and runs the same bootstrap as a spawned child; the server replies with the pid and
 * a pidfd of the child (opened before it can be reaped, so it names the right process). When
 * the child ends, the server reaps it (SIGCHLD via signalfd) and writes its exit code, Python
 * style (−N for signal N), as 4 bytes into the status pipe: the client's sentinel.
 *
 * The client side holds one server per process behind a mutex. A server that died (killed,
 * crashed) is noticed on the next request — its pidfd is readable or the socket is broken —
 * reaped, and replaced by a new one.
 */

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-process-private.h"
#include "mp-spawn-private.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"
#include "mp-wire-private.h"

#ifndef P_PIDFD
# define P_PIDFD 3
#endif

static GMutex fs_lock;
static MpSpawned fs = { 0, -1, -1 };
static int fs_slot = -1;

void
_mp_forkserver_reset_after_fork (void)
{
  /* A fork child must not share its parent's server: requests would interleave. The
   * descriptors are closed; the server keeps running for the parent. */
  if (fs.sock >= 0)
    close (fs.sock);
  if (fs.pidfd >= 0)
    close (fs.pidfd);
  fs.sock = fs.pidfd = -1;
  fs.pid = 0;
  fs_slot = -1;
  g_mutex_init (&fs_lock);
}

/* For tests: the pid of this process's server, 0 when none runs. */
pid_t
_mp_forkserver_get_pid (void)
{
  pid_t pid;

  g_mutex_lock (&fs_lock);
  pid = fs.pid;
  g_mutex_unlock (&fs_lock);
  return pid;
}

static void
reap_dead_server_locked (void)
{
  siginfo_t info = { 0 };

  if (fs.pid > 0)
    {
      kill (fs.pid, SIGKILL);
      while ((fs.pidfd >= 0 ? waitid (P_PIDFD, (id_t) fs.pidfd, &info, WEXITED)
                            : waitid (P_PID, (id_t) fs.pid, &info, WEXITED)) < 0 && errno == EINTR)
        ;
      if (fs.pidfd >= 0)
        close (fs.pidfd);
    }
  if (fs.sock >= 0)
    close (fs.sock);
  _mp_arena_proc_set_exited (fs_slot, MP_PROC_EXITED,
                             info.si_code == CLD_EXITED ? info.si_status : -info.si_status);
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_EXITED, (guint64) fs_slot, fs.pid,
             info.si_code == CLD_EXITED ? info.si_status : -info.si_status);
  fs.sock = fs.pidfd = -1;
  fs.pid = 0;
  fs_slot = -1;
}

static gboolean
start_server_locked (GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_auto(GStrv) preload = _mp_get_forkserver_preload ();
  GVariantDict d;
  g_autoptr(GVariant) prep = NULL;
  int h_arena = -1;

  _mp_arena_ensure ();
  fs_slot = _mp_arena_proc_claim ("ForkServer", MP_ROLE_FORKSERVER, MP_START_SPAWN, 0);
  if (_mp_arena != NULL)
    h_arena = g_unix_fd_list_append (fds, _mp_arena->fd, NULL);

  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "arena", "h", h_arena);
  g_variant_dict_insert (&d, "slot", "i", fs_slot);
  g_variant_dict_insert (&d, "parent-pid", "i", (gint32) getpid ());
  g_variant_dict_insert (&d, "trace-level", "i", (gint32) mp_trace_get_level ());
  g_variant_dict_insert (&d, "log-level", "i", (gint32) mp_log_get_level ());
  g_variant_dict_insert_value (&d, "preload",
                               preload ? g_variant_new_strv ((const char * const *) preload, -1)
                                       : g_variant_new_strv (NULL, 0));
  prep = g_variant_ref_sink (g_variant_dict_end (&d));

  if (!_mp_spawn_exec (MP_FORKSERVER_MARKER, -1, &fs, error))
    {
      _mp_arena_proc_abandon (fs_slot);
      fs_slot = -1;
      fs.sock = fs.pidfd = -1;
      return FALSE;
    }
  if (!_mp_wire_send (fs.sock, prep, fds, error))
    {
      _mp_spawn_abort (&fs);
      _mp_arena_proc_abandon (fs_slot);
      fs_slot = -1;
      return FALSE;
    }
  _mp_arena_proc_set_running (fs_slot, fs.pid, getpid ());
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_CREATED, (guint64) fs_slot, fs.pid,
             MP_START_SPAWN);
  _mp_debug ("forkserver started (pid %d)", fs.pid);
  return TRUE;
}

static gboolean
ensure_server_locked (GError **error)
{
  if (fs.sock >= 0 && (fs.pidfd >= 0 ? !_mp_fd_wait_readable (fs.pidfd, 0)
                                      : !_mp_pid_is_dead (fs.pid)))
    return TRUE;
  if (fs.sock >= 0)
    {
      _mp_subwarning ("the forkserver (pid %d) died; starting a new one", fs.pid);
      reap_dead_server_locked ();
    }
  return start_server_locked (error);
}

/* One request/reply. On failure the caller decides whether the server is gone. */
static gboolean
request_fork_locked (int child_sock, int status_w, pid_t *pid, int *pidfd, GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) reply_fds = NULL;
  g_autoptr(GVariant) reply = NULL;
  gint32 child_pid, h;

  if (g_unix_fd_list_append (fds, child_sock, error) < 0 ||
      g_unix_fd_list_append (fds, status_w, error) < 0 ||
      !_mp_wire_send (fs.sock, g_variant_new ("(s)", "fork"), fds, error))
    return FALSE;
  reply = _mp_wire_recv (fs.sock, 4096, &reply_fds, error);
  if (reply == NULL)
    return FALSE;
  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(ih)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "The forkserver sent a bad reply");
      return FALSE;
    }
  g_variant_get (reply, "(ih)", &child_pid, &h);
  if (child_pid <= 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "The forkserver could not fork: %s",
                   g_strerror (-child_pid));
      return FALSE;
    }
  *pid = child_pid;
  if (h < 0)
    {
      *pidfd = -1;   /* the server has no pidfds either */
      return TRUE;
    }
  *pidfd = g_unix_fd_list_get (reply_fds, h, error);
  return *pidfd >= 0;
}

gboolean
_mp_start_forkserver (MpProcess *self, GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) prep = NULL;
  int sv[2], status[2];
  pid_t pid = 0;
  int pidfd = -1;
  gboolean ok = FALSE;

  prep = _mp_process_build_prep (self, fds, error);
  if (prep == NULL)
    return FALSE;
  g_variant_ref_sink (prep);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "socketpair() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      int errsv = errno;
      close (sv[0]);
      close (sv[1]);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "pipe() failed: %s", g_strerror (errsv));
      return FALSE;
    }

  g_mutex_lock (&fs_lock);
  for (int attempt = 0; attempt < 2 && !ok; attempt++)
    {
      g_autoptr(GError) local_error = NULL;

      if (!ensure_server_locked (&local_error))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          break;
        }
      ok = request_fork_locked (sv[1], status[1], &pid, &pidfd, &local_error);
      if (!ok)
        {
          /* The server died between our check and the request: replace it once. */
          if (attempt == 0 && (g_error_matches (local_error, MP_ERROR, MP_ERROR_EOF) ||
                               (fs.pidfd >= 0 ? _mp_fd_wait_readable (fs.pidfd, 0)
                                              : _mp_pid_is_dead (fs.pid))))
            {
              _mp_subwarning ("the forkserver (pid %d) is gone (%s); starting a new one",
                              fs.pid, local_error->message);
              reap_dead_server_locked ();
              continue;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          break;
        }
    }
  g_mutex_unlock (&fs_lock);

  close (sv[1]);
  close (status[1]);
  if (!ok)
    {
      close (sv[0]);
      close (status[0]);
      return FALSE;
    }

  self->pid = pid;
  self->pidfd = pidfd;
  self->status_fd = status[0];
  /* If the child cannot read this it has died, and the status pipe will say how. */
  (void) _mp_wire_send (sv[0], prep, fds, NULL);
  close (sv[0]);
  return TRUE;
}

/* ---- the server ---------------------------------------------------------------------------- */

typedef struct
{
  int         sock;
  int         sigfd;
  GHashTable *status_fds;   /* pid → write end of its status pipe */
} Server;

static void
server_reap (Server *server)
{
  struct signalfd_siginfo si;
  int wstatus;
  pid_t pid;

  while (read (server->sigfd, &si, sizeof si) == sizeof si)
    ;
  while ((pid = waitpid (-1, &wstatus, WNOHANG)) > 0)
    {
      gint32 code = WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) :
                    WIFSIGNALED (wstatus) ? -WTERMSIG (wstatus) : 255;
      gpointer fdp;

      if (g_hash_table_steal_extended (server->status_fds, GINT_TO_POINTER (pid), NULL, &fdp))
        {
          int fd = GPOINTER_TO_INT (fdp);
          if (write (fd, &code, sizeof code) < 0)
            { /* the client is gone; nothing to tell */ }
          close (fd);
        }
    }
}

G_GNUC_NORETURN static void
server_child (Server *server, int child_sock)
{
  sigset_t none;

  /* Undo what the server set up for itself, and keep only the start socket. */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (dup2 (child_sock, MP_CHILD_FD) < 0)
    _exit (1);
  close_range (MP_CHILD_FD + 1, ~0U, 0);
  _mp_arena_forget_fd ();
  _mp_bootstrap_child (MP_CHILD_FD);
}

static void
server_handle_request (Server *server)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) request = NULL;
  g_autoptr(GUnixFDList) reply_fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  const char *op;
  int child_sock, status_w, pidfd = -1;
  gint32 h = -1;
  pid_t pid;

  request = _mp_wire_recv (server->sock, 4096, &fds, &error);
  if (request == NULL)
    {
      /* EOF: the client exited. Anything else: it is broken. Either way, we are done. */
      _exit (0);
    }
  if (!g_variant_is_of_type (request, G_VARIANT_TYPE ("(s)")) ||
      g_unix_fd_list_get_length (fds) != 2)
    _exit (3);
  g_variant_get (request, "(&s)", &op);
  if (strcmp (op, "fork") != 0)
    _exit (3);

  child_sock = g_unix_fd_list_get (fds, 0, NULL);
  status_w = g_unix_fd_list_get (fds, 1, NULL);
  g_clear_object (&fds);

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid == 0)
    server_child (server, child_sock);
  close (child_sock);

  if (pid > 0)
    {
      pidfd = _mp_pidfd_open (pid);
      if (pidfd >= 0)
        {
          h = g_unix_fd_list_append (reply_fds, pidfd, NULL);
          close (pidfd);
        }
      g_hash_table_insert (server->status_fds, GINT_TO_POINTER (pid), GINT_TO_POINTER (status_w));
    }
  else
    {
      close (status_w);
      pid = -errno;
    }
  if (!_mp_wire_send (server->sock, g_variant_new ("(ih)", (gint32) pid, h), reply_fds, NULL))
    _exit (0);
}

void
_mp_forkserver_main (int sock)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) prep = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **preload = NULL;
  gint32 h_arena, slot, parent_pid, trace_level, log_level;
  sigset_t chld;
  Server server = { sock, -1, NULL };

  prep = _mp_wire_recv (sock, MP_START_MESSAGE_MAX, &fds, &error);
  if (prep == NULL ||
      !g_variant_lookup (prep, "arena", "h", &h_arena) ||
      !g_variant_lookup (prep, "slot", "i", &slot) ||
      !g_variant_lookup (prep, "parent-pid", "i", &parent_pid) ||
      !g_variant_lookup (prep, "trace-level", "i", &trace_level) ||
      !g_variant_lookup (prep, "log-level", "i", &log_level) ||
      !g_variant_lookup (prep, "preload", "^a&s", &preload))
    {
      fprintf (stderr, "libmp: the forkserver could not read its start message: %s\n",
               error ? error->message : "malformed");
      _exit (1);
    }
  if (trace_level >= MP_TRACE_OFF && trace_level <= MP_TRACE_VERBOSE)
    mp_trace_set_level ((MpTraceLevel) trace_level);
  mp_log_set_level ((MpLogLevel) log_level);
  if (h_arena >= 0 && h_arena < g_unix_fd_list_get_length (fds))
    {
      int fd = g_unix_fd_list_get (fds, h_arena, NULL);
      if (fd >= 0 && _mp_arena_adopt_fd (fd, slot, NULL))
        _mp_arena_proc_set_running (slot, getpid (), parent_pid);
    }
  g_clear_object (&fds);

  {
    int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0)
      {
        dup2 (devnull, STDIN_FILENO);
        close (devnull);
      }
  }

  for (guint i = 0; preload && preload[i]; i++)
    if (dlopen (preload[i], RTLD_NOW | RTLD_GLOBAL) == NULL)
      _mp_debug ("forkserver: cannot preload %s: %s", preload[i], dlerror ());

  /* Python's server ignores SIGINT: Ctrl-C is for the program, which decides what to do.
   * Blocking rather than ignoring it matters: a child forked from here inherits the mask, so
   * a SIGINT sent to the child before it unblocked stays pending instead of being lost. */
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigaddset (&chld, SIGINT);
  sigprocmask (SIG_BLOCK, &chld, NULL);
  sigdelset (&chld, SIGINT);
  server.sigfd = signalfd (-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  server.status_fds = g_hash_table_new (NULL, NULL);
  if (server.sigfd < 0)
    _exit (1);

  for (;;)
    {
      struct pollfd pfd[2] = { { server.sock, POLLIN, 0 }, { server.sigfd, POLLIN, 0 } };

      if (poll (pfd, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          _exit (1);
        }
      if (pfd[1].revents)
        server_reap (&server);
      if (pfd[0].revents)
        server_handle_request (&server);
    }
}
