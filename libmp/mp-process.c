/* mp-process.c: MpProcess, current/parent process, children
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Waiting and signalling go through pidfds, so a signal can never reach a reused pid and a
 * join can poll() like any fd. For fork and spawn children the pidfd is also the sentinel and
 * waitid(P_PIDFD) reaps. Forkserver children are the server's children, not ours: the server
 * sends us their pidfd (for signals) and writes the exit status into a pipe whose read end is
 * the sentinel.
 *
 * Kernels before 5.3 have no pidfds, and neither does valgrind (which does not know the
 * syscall): then the sentinel is a pipe whose write end the child holds until it exits,
 * as in Python, reaping uses waitid(P_PID) and signals go by pid (safe: only the reaper
 * sends them, before it reaps).
 *
 * Every started child is kept (with a reference) in `children` until it is reaped, by join(),
 * is_alive(), active_children() or the exit handler; like Python, the exit handler terminates
 * daemonic children and then joins all of them. One mutex per process object serializes
 * reaping, so two threads joining the same child cannot both call waitid().
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mp-context.h"
#include "mp-error.h"
#include "mp-init.h"
#include "mp-log-private.h"
#include "mp-process-private.h"
#include "mp-resource-tracker-private.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#ifndef P_PIDFD
# define P_PIDFD 3
#endif

G_DEFINE_FINAL_TYPE (MpProcess, mp_process, G_TYPE_OBJECT)

static GMutex children_lock;
static GPtrArray *children;           /* MpProcess*, strong refs, unreaped */
static int child_counter;             /* for Process-N names, per process */
static MpProcess *current_process;
static MpProcess *parent_process;
static int self_pidfd = -1;
static int parent_sentinel_w = -1;    /* without pidfds: the end we hold for our parent */

/* ---- small fd and syscall helpers ----------------------------------------------------------- */

int
_mp_pidfd_open (pid_t pid)
{
  return (int) syscall (SYS_pidfd_open, pid, 0);
}

gboolean
_mp_pidfd_available (void)
{
  static int available = -1;

  if (__atomic_load_n (&available, __ATOMIC_RELAXED) < 0)
    {
      /* LIBMP_NO_PIDFD=1 takes the fallback path where pidfds exist, so it can be tested. */
      int fd = g_getenv ("LIBMP_NO_PIDFD") ? -1 : _mp_pidfd_open (getpid ());
      int ok = fd >= 0 || (errno != ENOSYS && !g_getenv ("LIBMP_NO_PIDFD"));
      if (fd >= 0)
        close (fd);
      __atomic_store_n (&available, ok, __ATOMIC_RELAXED);
    }
  return __atomic_load_n (&available, __ATOMIC_RELAXED);
}

int
_mp_pidfd_send_signal (int pidfd, int sig)
{
  return (int) syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Waits until fd is readable (or hung up). timeout_us < 0 other than INFINITE counts as 0.
 * Retries on EINTR against an absolute deadline. */
gboolean
_mp_fd_wait_readable (int fd, gint64 timeout_us)
{
  gint64 deadline = timeout_us > 0 ? g_get_monotonic_time () + timeout_us : 0;

  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      int ms;
      int r;

      if (timeout_us == MP_TIMEOUT_INFINITE)
        ms = -1;
      else if (timeout_us <= 0)
        ms = 0;
      else
        {
          gint64 left = deadline - g_get_monotonic_time ();
          ms = left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
        }
      r = poll (&pfd, 1, ms);
      if (r > 0)
        return TRUE;
      if (r == 0)
        {
          if (ms == 0 || timeout_us == MP_TIMEOUT_INFINITE)
            return FALSE;
          if (g_get_monotonic_time () >= deadline)
            return FALSE;
          continue;
        }
      if (errno != EINTR)
        return FALSE;
    }
}

int
_mp_count_threads (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  int n = 0;

  if (dir == NULL)
    return 1;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

int
_mp_self_pidfd (void)
{
  int fd = __atomic_load_n (&self_pidfd, __ATOMIC_ACQUIRE);

  if (fd < 0)
    {
      int expected = -1;
      fd = _mp_pidfd_open (getpid ());
      if (fd >= 0 && !__atomic_compare_exchange_n (&self_pidfd, &expected, fd, FALSE,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        {
          close (fd);
          fd = expected;
        }
    }
  return fd;
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
mp_process_finalize (GObject *object)
{
  MpProcess *self = MP_PROCESS (object);

  if (self->pidfd >= 0 && self->kind != MP_PROCESS_SELF)
    close (self->pidfd);
  if (self->status_fd >= 0)
    close (self->status_fd);
  if (self->sentinel_r >= 0)
    close (self->sentinel_r);
  g_clear_pointer (&self->target, mp_callable_unref);
  g_clear_pointer (&self->authkey, g_bytes_unref);
  g_free (self->identity);
  g_free (self->name);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (mp_process_parent_class)->finalize (object);
}

static void
mp_process_class_init (MpProcessClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mp_process_finalize;
}

static void
mp_process_init (MpProcess *self)
{
  g_mutex_init (&self->mutex);
  self->pidfd = -1;
  self->status_fd = -1;
  self->sentinel_r = -1;
  self->slot = -1;
}

/* The descriptor that becomes readable when the process has ended, -1 if there is none. */
static int
sentinel_of (MpProcess *self)
{
  if (self->status_fd >= 0)
    return self->status_fd;
  if (self->pidfd >= 0)
    return self->pidfd;
  return self->sentinel_r;
}

static char *
name_from_identity (const char *prefix, const int *identity, guint len)
{
  GString *s = g_string_new (prefix);

  for (guint i = 0; i < len; i++)
    g_string_append_printf (s, "%c%d", i == 0 ? '-' : ':', identity[i]);
  return g_string_free (s, FALSE);
}

static GBytes *
random_authkey (void)
{
  guint8 key[32];
  gsize got = 0;

  while (got < sizeof key)
    {
      ssize_t n = getrandom (key + got, sizeof key - got, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_error ("libmp: getrandom failed: %s", g_strerror (errno));
        }
      got += (gsize) n;
    }
  return g_bytes_new (key, sizeof key);
}

/**
 * mp_current_process:
 *
 * Returns: (transfer none): the process object of the calling process ("MainProcess" in the
 *   root; in a child, the object that describes it, with the name and authkey its parent gave)
 */
MpProcess *
mp_current_process (void)
{
  MpProcess *p = g_atomic_pointer_get (&current_process);

  if (G_UNLIKELY (p == NULL))
    {
      MpProcess *main_process = g_object_new (MP_TYPE_PROCESS, NULL);

      main_process->kind = MP_PROCESS_SELF;
      main_process->state = MP_PROCESS_STARTED;
      main_process->name = g_strdup ("MainProcess");
      main_process->authkey = random_authkey ();
      main_process->pid = getpid ();
      main_process->creator_pid = getpid ();
      main_process->parent_pid = getppid ();
      main_process->slot = _mp_arena_self_slot;
      if (!g_atomic_pointer_compare_and_exchange (&current_process, NULL, main_process))
        g_object_unref (main_process);
      p = g_atomic_pointer_get (&current_process);
    }
  return p;
}

/**
 * mp_parent_process:
 *
 * Returns: (transfer none) (nullable): the parent of the calling process, or %NULL in the main
 *   process. It supports mp_process_get_name(), mp_process_get_pid(), mp_process_is_alive() and
 *   mp_process_join().
 */
MpProcess *
mp_parent_process (void)
{
  return parent_process;
}

/* Before start: the role the process table shows (MP_ROLE_PROCESS unless a pool says WORKER). */
void
_mp_process_set_role (MpProcess *self, MpProcRole role)
{
  g_return_if_fail (self->state == MP_PROCESS_INITIAL);
  self->role = role;
}

const char *
_mp_process_current_name (void)
{
  MpProcess *p = g_atomic_pointer_get (&current_process);
  return p ? p->name : "MainProcess";
}

/**
 * mp_process_new:
 * @target: (nullable): what the process runs; see #MpFunc for how its result becomes the exit
 *   code
 *
 * Creates a process for the default start method (mp_get_start_method()). The name defaults to
 * `Process-N` (`Process-N:M` in a child), the daemon flag and the authkey are those of the
 * calling process.
 *
 * Returns: (transfer full): a new process, not yet started
 */
MpProcess *
mp_process_new (MpCallable *target)
{
  return mp_context_process_new (mp_get_context (NULL, NULL), target);
}

MpProcess *
_mp_process_new_for_method (MpStartMethodId method, MpCallable *target)
{
  MpProcess *creator = mp_current_process ();
  MpProcess *self = g_object_new (MP_TYPE_PROCESS, NULL);

  self->kind = MP_PROCESS_CHILD;
  self->state = MP_PROCESS_INITIAL;
  self->role = MP_ROLE_PROCESS;
  self->method = method;
  self->target = target ? mp_callable_ref (target) : NULL;
  self->creator_pid = getpid ();
  self->daemon = creator->daemon;
  self->authkey = g_bytes_ref (creator->authkey);
  self->identity_len = creator->identity_len + 1;
  self->identity = g_new (int, self->identity_len);
  if (creator->identity_len)
    memcpy (self->identity, creator->identity, sizeof (int) * creator->identity_len);
  self->identity[creator->identity_len] = g_atomic_int_add (&child_counter, 1) + 1;
  self->name = name_from_identity ("Process", self->identity, self->identity_len);
  return self;
}

const char *
mp_process_get_name (MpProcess *self)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), NULL);
  return self->name;
}

void
mp_process_set_name (MpProcess *self, const char *name)
{
  g_return_if_fail (MP_IS_PROCESS (self));
  g_return_if_fail (name != NULL);

  g_mutex_lock (&self->mutex);
  g_free (self->name);
  self->name = g_strdup (name);
  g_mutex_unlock (&self->mutex);
}

gboolean
mp_process_get_daemon (MpProcess *self)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);
  return self->daemon;
}

/**
 * mp_process_set_daemon:
 *
 * Marks the process daemonic: it is terminated when its parent exits, and it may not start
 * processes of its own. Only before mp_process_start().
 */
void
mp_process_set_daemon (MpProcess *self, gboolean daemon)
{
  g_return_if_fail (MP_IS_PROCESS (self));
  g_return_if_fail (self->state == MP_PROCESS_INITIAL && self->kind == MP_PROCESS_CHILD);
  self->daemon = !!daemon;
}

/**
 * mp_process_get_authkey:
 *
 * Returns: (transfer none): the authentication key (32 random bytes in the main process,
 *   inherited by children)
 */
GBytes *
mp_process_get_authkey (MpProcess *self)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), NULL);
  return self->authkey;
}

void
mp_process_set_authkey (MpProcess *self, GBytes *authkey)
{
  g_return_if_fail (MP_IS_PROCESS (self));
  g_return_if_fail (authkey != NULL);

  g_mutex_lock (&self->mutex);
  g_bytes_unref (self->authkey);
  self->authkey = g_bytes_ref (authkey);
  g_mutex_unlock (&self->mutex);
}

const char *
mp_process_get_start_method (MpProcess *self)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), NULL);
  return _mp_start_method_name (self->method);
}

GPid
mp_process_get_pid (MpProcess *self)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), 0);
  return self->pid;
}

/**
 * mp_process_get_exitcode:
 * @self: a process
 * @exitcode: (out) (optional): the exit code: 0, what the target returned or passed to
 *   mp_process_exit(), 1 when the target failed, or -N when a signal N killed it
 *
 * Returns: %TRUE if the process has been reaped and @exitcode was set (Python's `exitcode is
 *   not None`)
 */
gboolean
mp_process_get_exitcode (MpProcess *self, int *exitcode)
{
  gboolean ret;

  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);

  g_mutex_lock (&self->mutex);
  ret = self->has_exitcode;
  if (ret && exitcode)
    *exitcode = self->exitcode;
  g_mutex_unlock (&self->mutex);
  return ret;
}

static gboolean
check_closed (MpProcess *self, GError **error)
{
  if (self->state == MP_PROCESS_CLOSED)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_CLOSED, "process object is closed");
      return FALSE;
    }
  return TRUE;
}

/**
 * mp_process_get_sentinel:
 *
 * A file descriptor that becomes readable when the process ends, for poll() or
 * mp_connection_wait(). It stays owned by @self.
 *
 * Returns: the descriptor, or -1 with @error set before start or after close
 */
int
mp_process_get_sentinel (MpProcess *self, GError **error)
{
  int fd;

  g_return_val_if_fail (MP_IS_PROCESS (self), -1);

  g_mutex_lock (&self->mutex);
  if (!check_closed (self, error))
    fd = -1;
  else if (self->state == MP_PROCESS_INITIAL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "process not started");
      fd = -1;
    }
  else
    fd = sentinel_of (self);
  g_mutex_unlock (&self->mutex);
  return fd;
}

static void
children_remove (MpProcess *self)
{
  g_mutex_lock (&children_lock);
  if (children != NULL)
    g_ptr_array_remove_fast (children, self);
  g_mutex_unlock (&children_lock);
}

static int
status_to_exitcode (const siginfo_t *info)
{
  switch (info->si_code)
    {
    case CLD_EXITED:
      return info->si_status;
    case CLD_KILLED:
    case CLD_DUMPED:
      return -info->si_status;
    default:
      return 255;
    }
}

/* Called with self->mutex held, once the sentinel is readable. */
static void
reap_locked (MpProcess *self)
{
  int code = 255;

  if (self->has_exitcode)
    return;

  if (self->method == MP_START_FORKSERVER)
    {
      gint32 status;
      ssize_t n;

      do
        n = read (self->status_fd, &status, sizeof status);
      while (n < 0 && errno == EINTR);
      if (n == sizeof status)
        code = status;
      else
        {
          /* The server died before it could reap the child: the child is now an orphan.
           * Wait for it through its pidfd; its status is lost. */
          if (self->pidfd >= 0)
            _mp_fd_wait_readable (self->pidfd, MP_TIMEOUT_INFINITE);
          _mp_warning ("the forkserver died; the exit status of %s (pid %d) is unknown",
                       self->name, self->pid);
        }
    }
  else
    {
      siginfo_t info = { 0 };
      int r;

      do
        r = self->pidfd >= 0 ? waitid (P_PIDFD, (id_t) self->pidfd, &info, WEXITED)
                             : waitid (P_PID, (id_t) self->pid, &info, WEXITED);
      while (r < 0 && errno == EINTR);
      if (r == 0)
        code = status_to_exitcode (&info);
      else
        _mp_warning ("cannot reap %s (pid %d): %s", self->name, self->pid, g_strerror (errno));
    }

  self->exitcode = code;
  self->has_exitcode = TRUE;
  self->state = MP_PROCESS_STOPPED;
  _mp_arena_proc_set_exited (self->slot, MP_PROC_EXITED, code);
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_EXITED, (guint64) self->slot, self->pid, code);
  _mp_debug ("process %s (pid %d) exited with %d", self->name, self->pid, code);
}

/**
 * mp_process_join:
 * @self: a process
 * @timeout_us: how long to wait, in microseconds: %MP_TIMEOUT_INFINITE, 0 to poll
 * @error: return location for an error
 *
 * Waits for the process to end, and reaps it. Joining an ended process again succeeds at once.
 * Only the parent may join a child; a child may join mp_parent_process() (it cannot learn its
 * exit code).
 *
 * Returns: %TRUE when the process has ended; %FALSE with %MP_ERROR_TIMEOUT if it is still
 *   running when @timeout_us ran out, or with %MP_ERROR_PROCESS on misuse
 */
gboolean
mp_process_join (MpProcess *self, gint64 timeout_us, GError **error)
{
  int sentinel;

  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);

  g_mutex_lock (&self->mutex);
  if (!check_closed (self, error))
    goto fail;
  if (self->kind == MP_PROCESS_SELF)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "can't join the current process");
      goto fail;
    }
  if (self->state == MP_PROCESS_INITIAL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "can only join a started process");
      goto fail;
    }
  if (self->kind == MP_PROCESS_CHILD && self->creator_pid != getpid ())
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "can only join a child process");
      goto fail;
    }
  if (self->has_exitcode)
    {
      g_mutex_unlock (&self->mutex);
      return TRUE;
    }
  sentinel = sentinel_of (self);
  g_mutex_unlock (&self->mutex);

  if (sentinel < 0 && self->kind == MP_PROCESS_REMOTE && self->pid > 0)
    {
      /* A process known only by pid (no pidfds here): look at it now and then. */
      gint64 deadline = timeout_us > 0 ? g_get_monotonic_time () + timeout_us : 0;
      while (!_mp_pid_is_dead (self->pid))
        {
          if (timeout_us != MP_TIMEOUT_INFINITE && g_get_monotonic_time () >= deadline)
            {
              g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "%s (pid %d) is still running",
                           self->name, self->pid);
              return FALSE;
            }
          g_usleep (10 * 1000);
        }
      self->state = MP_PROCESS_STOPPED;
      return TRUE;
    }
  if (sentinel < 0 || !_mp_fd_wait_readable (sentinel, timeout_us))
    {
      if (sentinel < 0)
        g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "cannot wait for %s: no handle on it",
                     self->name);
      else
        g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "%s (pid %d) is still running",
                     self->name, self->pid);
      return FALSE;
    }

  if (self->kind == MP_PROCESS_CHILD)
    {
      g_mutex_lock (&self->mutex);
      reap_locked (self);
      g_mutex_unlock (&self->mutex);
      children_remove (self);
    }
  else
    self->state = MP_PROCESS_STOPPED;
  return TRUE;

fail:
  g_mutex_unlock (&self->mutex);
  return FALSE;
}

static void
join_async_ready (GTask *task)
{
  g_autoptr(GError) error = NULL;

  if (mp_process_join (g_task_get_source_object (task), 0, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

static gboolean
join_async_cb (int fd, GIOCondition condition, gpointer user_data)
{
  join_async_ready (user_data);
  return G_SOURCE_REMOVE;
}

/**
 * mp_process_join_async:
 * @self: a started process
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the thread-default main context when the process has ended
 * @user_data: data for @callback
 *
 * Waits for the process without blocking: the sentinel is watched on the thread-default
 * #GMainContext, so a GTK program can wait for a child from its main loop.
 */
void
mp_process_join_async (MpProcess           *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSource) source = NULL;
  int sentinel;

  g_return_if_fail (MP_IS_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mp_process_join_async);

  sentinel = mp_process_get_sentinel (self, &error);
  if (sentinel < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  source = g_unix_fd_source_new (sentinel, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_task_attach_source (task, source, (GSourceFunc) (void (*) (void)) join_async_cb);
}

gboolean
mp_process_join_finish (MpProcess *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mp_process_is_alive:
 *
 * Returns: %TRUE from start until the process ends (an ended child is reaped)
 */
gboolean
mp_process_is_alive (MpProcess *self)
{
  int sentinel;

  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);

  if (self->kind == MP_PROCESS_SELF)
    return TRUE;
  g_mutex_lock (&self->mutex);
  if (self->state != MP_PROCESS_STARTED || self->has_exitcode)
    {
      g_mutex_unlock (&self->mutex);
      return FALSE;
    }
  sentinel = sentinel_of (self);
  g_mutex_unlock (&self->mutex);

  if (sentinel < 0 && self->kind == MP_PROCESS_REMOTE)
    return !_mp_pid_is_dead (self->pid);
  if (sentinel >= 0 && _mp_fd_wait_readable (sentinel, 0))
    {
      if (self->kind != MP_PROCESS_CHILD || self->creator_pid == getpid ())
        (void) mp_process_join (self, 0, NULL);
      return FALSE;
    }
  return TRUE;
}

static gboolean
send_signal (MpProcess *self, int sig, GError **error)
{
  gboolean ret = TRUE;

  g_mutex_lock (&self->mutex);
  if (!check_closed (self, error))
    ret = FALSE;
  else if (self->kind == MP_PROCESS_SELF)
    raise (sig);
  else if (self->state == MP_PROCESS_STARTED && !self->has_exitcode &&
           (self->pidfd >= 0 || self->pid > 0))
    {
      /* ESRCH: it exited already (perhaps unreaped); Python treats that as a no-op too.
       * Without a pidfd, the pid is still ours: only we reap it, and we have not. */
      int r = self->pidfd >= 0 ? _mp_pidfd_send_signal (self->pidfd, sig) : kill (self->pid, sig);
      if (r < 0 && errno != ESRCH)
        {
          int errsv = errno;
          g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot signal %s (pid %d): %s",
                       self->name, self->pid, g_strerror (errsv));
          ret = FALSE;
        }
    }
  g_mutex_unlock (&self->mutex);
  return ret;
}

/** mp_process_terminate: Sends SIGTERM. A no-op once the process has ended. */
gboolean
mp_process_terminate (MpProcess *self, GError **error)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);
  return send_signal (self, SIGTERM, error);
}

/** mp_process_kill: Sends SIGKILL. A no-op once the process has ended. */
gboolean
mp_process_kill (MpProcess *self, GError **error)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);
  return send_signal (self, SIGKILL, error);
}

/** mp_process_interrupt: Sends SIGINT. A no-op once the process has ended. */
gboolean
mp_process_interrupt (MpProcess *self, GError **error)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);
  return send_signal (self, SIGINT, error);
}

/**
 * mp_process_close:
 *
 * Releases the process's descriptors. Fails with %MP_ERROR_PROCESS while the process runs;
 * afterwards most functions fail with %MP_ERROR_CLOSED. Closing twice is fine.
 */
gboolean
mp_process_close (MpProcess *self, GError **error)
{
  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);

  if (self->state == MP_PROCESS_CLOSED)
    return TRUE;
  if (self->state == MP_PROCESS_STARTED && mp_process_is_alive (self))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS,
                   "Cannot close a process while it is still running. "
                   "You should first call join() or terminate().");
      return FALSE;
    }
  g_mutex_lock (&self->mutex);
  if (self->pidfd >= 0)
    close (self->pidfd);
  if (self->status_fd >= 0)
    close (self->status_fd);
  if (self->sentinel_r >= 0)
    close (self->sentinel_r);
  self->pidfd = self->status_fd = self->sentinel_r = -1;
  g_clear_pointer (&self->target, mp_callable_unref);
  self->state = MP_PROCESS_CLOSED;
  g_mutex_unlock (&self->mutex);
  return TRUE;
}

/**
 * mp_process_to_string:
 *
 * Returns: (transfer full): Python's repr, e.g.
 *   `<MpProcess name='Process-1' pid=42 parent=41 stopped exitcode=-SIGTERM daemon>`
 */
char *
mp_process_to_string (MpProcess *self)
{
  GString *s;
  const char *status;

  g_return_val_if_fail (MP_IS_PROCESS (self), NULL);

  g_mutex_lock (&self->mutex);
  switch (self->state)
    {
    case MP_PROCESS_INITIAL: status = "initial"; break;
    case MP_PROCESS_STARTED: status = self->has_exitcode ? "stopped" : "started"; break;
    case MP_PROCESS_STOPPED: status = "stopped"; break;
    case MP_PROCESS_CLOSED: status = "closed"; break;
    default: status = "unknown"; break;
    }
  s = g_string_new (NULL);
  g_string_append_printf (s, "<MpProcess name='%s'", self->name);
  if (self->pid)
    g_string_append_printf (s, " pid=%d", self->pid);
  g_string_append_printf (s, " parent=%d %s", self->kind == MP_PROCESS_CHILD ? self->creator_pid :
                          self->parent_pid, status);
  if (self->has_exitcode)
    {
      if (self->exitcode < 0)
        g_string_append_printf (s, " exitcode=-SIG%s", sigabbrev_np (-self->exitcode) ?
                                sigabbrev_np (-self->exitcode) : "?");
      else
        g_string_append_printf (s, " exitcode=%d", self->exitcode);
    }
  if (self->daemon)
    g_string_append (s, " daemon");
  g_string_append_c (s, '>');
  g_mutex_unlock (&self->mutex);
  return g_string_free (s, FALSE);
}

/* ---- children ------------------------------------------------------------------------------ */

static GPtrArray *
children_snapshot (void)
{
  GPtrArray *ret = g_ptr_array_new_with_free_func (g_object_unref);

  g_mutex_lock (&children_lock);
  for (guint i = 0; children != NULL && i < children->len; i++)
    g_ptr_array_add (ret, g_object_ref (children->pdata[i]));
  g_mutex_unlock (&children_lock);
  return ret;
}

/**
 * mp_active_children:
 *
 * Reaps the children that ended, then lists the live ones.
 *
 * Returns: (transfer full) (element-type MpProcess): the live children of this process
 */
GPtrArray *
mp_active_children (void)
{
  g_autoptr(GPtrArray) all = children_snapshot ();
  GPtrArray *ret = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < all->len; i++)
    if (mp_process_is_alive (all->pdata[i]))
      g_ptr_array_add (ret, g_object_ref (all->pdata[i]));
  return ret;
}

/* At exit: daemonic children are terminated, then every child is joined (Python's
 * _exit_function). */
void
_mp_process_atexit (void)
{
  g_autoptr(GPtrArray) live = mp_active_children ();

  for (guint i = 0; i < live->len; i++)
    {
      MpProcess *p = live->pdata[i];
      if (p->daemon)
        {
          _mp_info ("calling terminate() for daemon %s", p->name);
          (void) mp_process_terminate (p, NULL);
        }
    }
  for (guint i = 0; i < live->len; i++)
    {
      MpProcess *p = live->pdata[i];
      _mp_info ("calling join() for process %s", p->name);
      (void) mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
    }
}

/**
 * mp_cpu_count:
 *
 * Returns: the number of CPUs this process may run on (its affinity mask), at least 1
 */
int
mp_cpu_count (void)
{
  cpu_set_t set;

  if (sched_getaffinity (0, sizeof set, &set) == 0)
    {
      int n = CPU_COUNT (&set);
      if (n > 0)
        return n;
    }
  return (int) MAX (1, sysconf (_SC_NPROCESSORS_ONLN));
}

/* ---- start ------------------------------------------------------------------------------- */

/**
 * mp_process_start:
 * @self: a process created by this process
 * @error: return location for an error
 *
 * Starts the process with its start method. Fails with %MP_ERROR_PROCESS if it was started
 * already, if the caller is daemonic, or if it was created by another process; with the
 * start method's error otherwise (an exec failure of spawn, a forkserver that cannot start).
 *
 * Returns: %TRUE once the child exists
 */
gboolean
mp_process_start (MpProcess *self, GError **error)
{
  MpProcess *me = mp_current_process ();
  gboolean ok = FALSE;

  g_return_val_if_fail (MP_IS_PROCESS (self), FALSE);

  if (!_mp_check_initialized (error))
    return FALSE;
  if (!check_closed (self, error))
    return FALSE;
  if (self->kind != MP_PROCESS_CHILD || self->state != MP_PROCESS_INITIAL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "cannot start a process twice");
      return FALSE;
    }
  if (self->creator_pid != getpid ())
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS,
                   "can only start a process object created by current process");
      return FALSE;
    }
  if (me->daemon)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS,
                   "daemonic processes are not allowed to have children");
      return FALSE;
    }
  if (self->target == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "process %s has no target", self->name);
      return FALSE;
    }

  /* Python reaps finished children first, so they do not pile up as zombies. */
  g_ptr_array_unref (mp_active_children ());

  _mp_arena_ensure ();
  self->slot = _mp_arena_proc_claim (self->name, self->role, self->method,
                                     self->daemon ? MP_PROC_FLAG_DAEMON : 0);

  switch (self->method)
    {
    case MP_START_FORK:
      ok = _mp_start_fork (self, error);
      break;
    case MP_START_SPAWN:
      ok = _mp_start_spawn (self, error);
      break;
    case MP_START_FORKSERVER:
      ok = _mp_start_forkserver (self, error);
      break;
    default:
      g_set_error (error, MP_ERROR, MP_ERROR_START_METHOD, "unknown start method");
      break;
    }
  if (!ok)
    {
      _mp_arena_proc_abandon (self->slot);
      self->slot = -1;
      return FALSE;
    }

  g_mutex_lock (&self->mutex);
  self->state = MP_PROCESS_STARTED;
  self->parent_pid = getpid ();
  g_clear_pointer (&self->target, mp_callable_unref);
  g_mutex_unlock (&self->mutex);

  g_mutex_lock (&children_lock);
  if (children == NULL)
    children = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (children, g_object_ref (self));
  g_mutex_unlock (&children_lock);

  if (self->method != MP_START_FORK)
    _mp_arena_proc_set_running (self->slot, self->pid, getpid ());
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_CREATED, (guint64) self->slot, self->pid,
             self->method);
  _mp_debug ("started %s (pid %d) with %s", self->name, self->pid,
             _mp_start_method_name (self->method));
  return TRUE;
}

/* ---- the child side ------------------------------------------------------------------------ */

static void
stdin_to_devnull (void)
{
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  if (fd >= 0)
    {
      if (fd != STDIN_FILENO)
        {
          dup2 (fd, STDIN_FILENO);
          close (fd);
        }
    }
}

/* Becomes `self` in a fresh child: `self` is the object the parent started (fork), or one
 * rebuilt from the start message (spawn, forkserver). */
static void
become (MpProcess *self, pid_t parent_pid, const char *parent_name, int parent_pidfd,
        int sentinel_w)
{
  MpProcess *parent = g_object_new (MP_TYPE_PROCESS, NULL);
  GPtrArray *old_children;

  _mp_trace_reset_pid_cache ();

  parent->kind = MP_PROCESS_REMOTE;
  parent->state = MP_PROCESS_STARTED;
  parent->name = g_strdup (parent_name);
  parent->pid = parent_pid;
  parent->pidfd = parent_pidfd;
  parent->authkey = g_bytes_ref (self->authkey);
  parent_process = parent;

  self->kind = MP_PROCESS_SELF;
  self->state = MP_PROCESS_STARTED;
  self->pid = getpid ();
  self->parent_pid = parent_pid;
  self->creator_pid = getpid ();
  if (self->pidfd >= 0)
    self->pidfd = -1;   /* the parent's handle on us, not ours to use */
  self->status_fd = -1;
  self->sentinel_r = -1;
  current_process = self;

  /* Without pidfds our parent watches a pipe we hold; the one our parent held for its own
   * parent (inherited by fork) must not keep that one waiting for us. */
  if (parent_sentinel_w >= 0 && parent_sentinel_w != sentinel_w)
    close (parent_sentinel_w);
  parent_sentinel_w = sentinel_w;

  /* The parent's children are not ours; drop them without touching the processes. Our own
   * children are numbered from 1 again. */
  old_children = children;
  children = NULL;
  if (old_children != NULL)
    g_ptr_array_unref (old_children);
  child_counter = 0;
  self_pidfd = -1;

  _mp_arena_self_slot = self->slot;
  _mp_arena_proc_set_running (self->slot, getpid (), parent_pid);
  stdin_to_devnull ();
}

void
_mp_process_after_fork_child (MpProcess *self, int sentinel_w)
{
  MpProcess *parent = current_process;
  MpCallable *target = mp_callable_ref (self->target);
  /* The parent opened a pidfd on itself before forking; we inherited it. */
  int parent_pidfd = _mp_self_pidfd () >= 0 ? dup (_mp_self_pidfd ()) : -1;

  g_object_ref (self);
  become (self, parent->pid, parent->name, parent_pidfd, sentinel_w);
  _mp_process_run_and_exit (target);
}

/* An exit code from what a target returned: integers are the code, TRUE is 1, anything else 0
 * (sys.exit() semantics). */
static int
exitcode_from_result (GVariant *result)
{
  if (result == NULL)
    return 0;
  switch (g_variant_classify (result))
    {
    case G_VARIANT_CLASS_BOOLEAN: return g_variant_get_boolean (result) ? 1 : 0;
    case G_VARIANT_CLASS_BYTE: return g_variant_get_byte (result);
    case G_VARIANT_CLASS_INT16: return g_variant_get_int16 (result);
    case G_VARIANT_CLASS_UINT16: return g_variant_get_uint16 (result);
    case G_VARIANT_CLASS_INT32: return g_variant_get_int32 (result);
    case G_VARIANT_CLASS_UINT32: return (int) g_variant_get_uint32 (result);
    case G_VARIANT_CLASS_INT64: return (int) g_variant_get_int64 (result);
    case G_VARIANT_CLASS_UINT64: return (int) g_variant_get_uint64 (result);
    default: return 0;
    }
}

void
_mp_process_run_and_exit (MpCallable *target)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  MpProcess *self = current_process;

  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_STARTED, (guint64) self->slot,
             self->parent_pid, 0);
  _mp_info ("child process calling self.run()");

  result = mp_callable_invoke (target, NULL, &error);
  mp_callable_unref (target);
  if (error != NULL)
    {
      g_autofree char *msg = g_strdup_printf ("Process %s:\n%s (%s, %d)\n", self->name,
                                              error->message, g_quark_to_string (error->domain),
                                              error->code);
      fflush (stdout);
      if (write (STDERR_FILENO, msg, strlen (msg)) < 0)
        { /* stderr is gone */ }
      mp_process_exit (1);
    }
  mp_process_exit (exitcode_from_result (result));
}

/**
 * mp_process_exit:
 * @exitcode: the exit code
 *
 * Python's `sys.exit()` for libmp processes. In a child it waits for the child's own
 * children (terminating the daemonic ones), flushes stdio and ends the process at once,
 * without running the exit handlers it inherited from its parent. In the main process it is
 * exit().
 */
void
mp_process_exit (int exitcode)
{
  MpProcess *self = current_process;

  if (self == NULL || self->identity_len == 0)
    exit (exitcode);

  _mp_process_atexit ();
  _mp_sync_release_process_refs ();
  _mp_info ("process exiting with exitcode %d", exitcode);
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_EXITING, (guint64) self->slot, exitcode, 0);
  _mp_arena_proc_set_exited (self->slot, MP_PROC_EXITING, exitcode & 0xff);
  fflush (NULL);
  _exit (exitcode & 0xff);
}

/* ---- the start message of spawn and forkserver children ------------------------------------ */

GVariant *
_mp_process_build_prep (MpProcess *self, GUnixFDList *fds, GError **error)
{
  MpProcess *me = mp_current_process ();
  GVariantDict d;
  GVariant *target;
  int h_arena = -1, h_parent = -1;

  target = mp_callable_serialize (self->target, fds, error);
  if (target == NULL)
    return NULL;

  if (_mp_arena != NULL)
    h_arena = g_unix_fd_list_append (fds, _mp_arena->fd, NULL);
  if (_mp_self_pidfd () >= 0)
    h_parent = g_unix_fd_list_append (fds, _mp_self_pidfd (), NULL);

  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "name", "s", self->name);
  g_variant_dict_insert_value (&d, "identity",
                               g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, self->identity,
                                                          self->identity_len, sizeof (int)));
  g_variant_dict_insert (&d, "daemon", "b", self->daemon);
  g_variant_dict_insert_value (&d, "authkey",
                               g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, self->authkey,
                                                         TRUE));
  g_variant_dict_insert (&d, "slot", "i", self->slot);
  g_variant_dict_insert (&d, "method", "u", (guint32) self->method);
  g_variant_dict_insert (&d, "parent-pid", "i", (gint32) getpid ());
  g_variant_dict_insert (&d, "parent-name", "s", me->name);
  g_variant_dict_insert (&d, "parent-pidfd", "h", h_parent);
  g_variant_dict_insert (&d, "arena", "h", h_arena);
  g_variant_dict_insert (&d, "trace-level", "i", (gint32) mp_trace_get_level ());
  g_variant_dict_insert (&d, "log-level", "i", (gint32) mp_log_get_level ());
  g_variant_dict_insert (&d, "log-stderr", "b", _mp_log_get_to_stderr ());
  g_variant_dict_insert (&d, "executable", "s", mp_get_executable ());
  g_variant_dict_insert (&d, "sentinel-fd", "i", (gint32) (_mp_pidfd_available () ? -1 : 4));
  g_variant_dict_insert_value (&d, "target", target);
  _mp_resource_tracker_prep_insert (&d, fds);
  return g_variant_dict_end (&d);
}

static int
take_fd (GUnixFDList *fds, gint32 handle)
{
  if (fds == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fds))
    return -1;
  return g_unix_fd_list_get (fds, handle, NULL);
}

gboolean
_mp_process_setup_from_prep (GVariant     *prep,
                             GUnixFDList  *fds,
                             MpCallable  **target,
                             GError      **error)
{
  g_autoptr(GVariant) identity = NULL;
  g_autoptr(GVariant) authkey = NULL;
  g_autoptr(GVariant) serialized = NULL;
  const char *name, *parent_name, *executable;
  gint32 slot, parent_pid, h_arena, h_parent, trace_level, log_level, sentinel_fd;
  guint32 method;
  gboolean daemon, log_stderr;
  MpProcess *self;
  const gint32 *ids;
  gsize n_ids;
  int arena_fd;

  if (!g_variant_is_of_type (prep, G_VARIANT_TYPE_VARDICT) ||
      !g_variant_lookup (prep, "name", "&s", &name) ||
      !(identity = g_variant_lookup_value (prep, "identity", G_VARIANT_TYPE ("ai"))) ||
      !g_variant_lookup (prep, "daemon", "b", &daemon) ||
      !(authkey = g_variant_lookup_value (prep, "authkey", G_VARIANT_TYPE_BYTESTRING)) ||
      !g_variant_lookup (prep, "slot", "i", &slot) ||
      !g_variant_lookup (prep, "method", "u", &method) ||
      !g_variant_lookup (prep, "parent-pid", "i", &parent_pid) ||
      !g_variant_lookup (prep, "parent-name", "&s", &parent_name) ||
      !g_variant_lookup (prep, "parent-pidfd", "h", &h_parent) ||
      !g_variant_lookup (prep, "arena", "h", &h_arena) ||
      !g_variant_lookup (prep, "trace-level", "i", &trace_level) ||
      !g_variant_lookup (prep, "log-level", "i", &log_level) ||
      !g_variant_lookup (prep, "log-stderr", "b", &log_stderr) ||
      !g_variant_lookup (prep, "executable", "&s", &executable) ||
      !g_variant_lookup (prep, "sentinel-fd", "i", &sentinel_fd) ||
      !(serialized = g_variant_lookup_value (prep, "target", NULL)))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The start message from the parent is malformed");
      return FALSE;
    }
  if (method < MP_START_FORK || method > MP_START_FORKSERVER ||
      trace_level < MP_TRACE_OFF || trace_level > MP_TRACE_VERBOSE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The start message from the parent has out-of-range values");
      return FALSE;
    }

  mp_trace_set_level ((MpTraceLevel) trace_level);
  mp_log_set_level ((MpLogLevel) log_level);
  if (log_stderr)
    mp_log_to_stderr (MP_LOG_NOTSET);
  if (executable[0])
    mp_set_executable (executable);

  arena_fd = take_fd (fds, h_arena);
  if (arena_fd >= 0 && !_mp_arena_adopt_fd (arena_fd, slot, error))
    {
      close (arena_fd);
      return FALSE;
    }

  self = g_object_new (MP_TYPE_PROCESS, NULL);
  self->name = g_strdup (name);
  ids = g_variant_get_fixed_array (identity, &n_ids, sizeof (gint32));
  self->identity = g_memdup2 (ids, n_ids * sizeof (gint32));
  self->identity_len = (guint) n_ids;
  self->daemon = daemon;
  self->authkey = g_variant_get_data_as_bytes (authkey);
  self->method = method;
  self->slot = _mp_arena_self_slot == slot ? slot : -1;

  _mp_resource_tracker_prep_adopt (prep, fds);
  *target = mp_callable_deserialize (serialized, fds, error);
  become (self, parent_pid, parent_name, take_fd (fds, h_parent), sentinel_fd);
  return *target != NULL;
}

/**
 * mp_process_serialize:
 * @self: a started process
 * @fd_list: the list its sentinel is appended to
 * @error: return location for an error
 *
 * A handle on the process that another process can use (pass it as an argument): the
 * receiver can read its name and pid, test mp_process_is_alive() and mp_process_join() it.
 *
 * Returns: (transfer floating): a `(sih)` value, or %NULL before start
 */
GVariant *
mp_process_serialize (MpProcess *self, GUnixFDList *fd_list, GError **error)
{
  int index;

  g_return_val_if_fail (MP_IS_PROCESS (self), NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  if (self->kind == MP_PROCESS_SELF)
    index = _mp_self_pidfd () >= 0 ? g_unix_fd_list_append (fd_list, _mp_self_pidfd (), error) : -1;
  else if (self->state == MP_PROCESS_INITIAL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "process %s is not started", self->name);
      return NULL;
    }
  else if (self->pidfd < 0)
    index = -1;   /* no pidfds here: the receiver watches the pid */
  else
    index = g_unix_fd_list_append (fd_list, self->pidfd, error);
  if (index < 0 && self->pidfd >= 0)
    return NULL;
  return g_variant_new ("(sih)", self->name, (gint32) self->pid, index);
}

/**
 * mp_process_deserialize:
 *
 * Returns: (transfer full): a process object for the handle mp_process_serialize() made
 */
MpProcess *
mp_process_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  MpProcess *p;
  const char *name;
  gint32 pid, handle;
  int fd;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(sih)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A process handle must be of type (sih), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(&sih)", &name, &pid, &handle);
  fd = take_fd (fd_list, handle);
  if (fd < 0 && handle != -1)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The process handle of %s came without its descriptor", name);
      return NULL;
    }
  p = g_object_new (MP_TYPE_PROCESS, NULL);
  p->kind = MP_PROCESS_REMOTE;
  p->state = MP_PROCESS_STARTED;
  p->name = g_strdup (name);
  p->pid = pid;
  p->pidfd = fd;
  p->authkey = g_bytes_ref (mp_current_process ()->authkey);
  return p;
}
