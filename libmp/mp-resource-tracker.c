/* mp-resource-tracker.c: unlinking the shared memory a killed program leaked
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Python's design, made robust against the ways it fails. The tracker is a small helper
 * process: the program itself, re-executed with argv[1] = "--libmp-resource-tracker" by the
 * spawn machinery (so it runs the same build and needs no installed helper). It reads one
 * command per datagram from a SOCK_SEQPACKET socket — "REGISTER:<name>:<rtype>",
 * "UNREGISTER:…", "PROBE:0:noop" — whose sending end every process of the program tree
 * holds: fork children inherit it, spawn and forkserver children get it in their start
 * message. When the last holder is gone — normal exit, crash, or `kill -9` of every process
 * of the tree — the tracker reads EOF, unlinks what is still registered, and warns on stderr
 * with the names it removed.
 *
 * Datagrams keep commands from several processes from interleaving, and send(MSG_NOSIGNAL)
 * turns a dead tracker into EPIPE instead of SIGPIPE. The creator registers after creating,
 * and unregisters after unlinking, as Python does: a crash between the two steps leaves either
 * a leak or a name the tracker finds already gone, never a foreign segment removed.
 *
 * Where it improves on Python:
 * - It calls setsid() and ignores SIGINT, SIGTERM and SIGHUP, so Ctrl-C or a killpg() of the
 *   program's process group leaves it running to clean up; only the end of every holder
 *   stops it. (Python's tracker shares the group and dies with it, leaking everything.)
 * - Only creators register; attaching never does (python/cpython#82300: a process that only
 *   attached made its own tracker unlink a segment still in use).
 * - At shutdown a leftover name is unlinked only if no live process still maps it (read from
 *   /proc/PID/maps of processes we can see): a segment handed to a process outside the tree
 *   is still in use, not leaked. A name that is already gone was unlinked by someone else
 *   (perhaps a process that did not tell this tracker): no warning for it either.
 * - The dispatch happens in a constructor, before main(), so the tracker works in programs
 *   that never call mp_init() (for example one that only shares segments with Python).
 *
 * A tracker that died (killed on its own) is noticed on the next send (EPIPE): it is reaped,
 * a new one started, and this process's own registrations are sent to it again. Only the
 * process that registered a name re-registers it, so a fork child never hands its parent's
 * segments to a tracker that would see EOF when the child exits.
 *
 * The helper runs in the constructor, so it uses GLib and the arena helpers only: nothing
 * that needs mp_init().
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp-arena-private.h"
#include "mp-context.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-process-private.h"
#include "mp-resource-tracker-private.h"
#include "mp-spawn-private.h"
#include "mp-trace-private.h"
#include "mp-wire-private.h"

#ifndef P_PIDFD
# define P_PIDFD 3
#endif

#define RTYPE_SHARED_MEMORY "shared_memory"
#define MAX_STARTS 4
#define READY_TIMEOUT_US (30 * G_USEC_PER_SEC)

static GMutex lock;
static int sock = -1;                 /* our sending end; its fd number never changes once set */
static pid_t tracker_pid;
static int tracker_pidfd = -1;        /* only meaningful in starter_pid */
static pid_t starter_pid;
static int tracker_slot = -1;
static GHashTable *registered;        /* "rtype:name" → pid of the process that registered */
static guint starts;
static gboolean warned;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
atfork_child (void)
{
  /* Another thread may have held the lock at fork(); the child has only this thread. */
  g_mutex_init (&lock);
}

static void
install_atfork (void)
{
  pthread_atfork (NULL, NULL, atfork_child);
}

/* ---- client -------------------------------------------------------------------------------- */

static int
send_command_locked (const char *cmd, const char *name, const char *rtype)
{
  char msg[MP_RESOURCE_TRACKER_MSG_MAX + 1];
  int len = g_snprintf (msg, sizeof msg, "%s:%s:%s", cmd, name, rtype);
  ssize_t r;

  if (len < 0 || len > MP_RESOURCE_TRACKER_MSG_MAX)
    return ENAMETOOLONG;
  do
    r = send (sock, msg, (size_t) len, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r == len ? 0 : r < 0 ? errno : EIO;
}

static gboolean
tracker_gone (int err)
{
  return err == EPIPE || err == ECONNRESET || err == ECONNREFUSED || err == ENOTCONN;
}

/* The tracker answers once it is in its own session: from then on a killpg() of the program
 * cannot take it down, so a program killed right after its first registration is still
 * cleaned up. A program that is not a libmp build never answers, and is killed. */
static gboolean
wait_ready (int sock_fd, GError **error)
{
  char c;
  ssize_t n = -1;

  if (_mp_fd_wait_readable (sock_fd, READY_TIMEOUT_US))
    do
      n = read (sock_fd, &c, 1);
    while (n < 0 && errno == EINTR);
  if (n != 1)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS,
                   "the resource tracker did not start (is %s a libmp program?)",
                   mp_get_executable ()[0] ? mp_get_executable () : "/proc/self/exe");
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_locked (GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) prep = NULL;
  MpSpawned spawned = { 0, -1, -1 };
  GVariantDict d;
  int sp[2];
  int slot, h_sock, h_arena = -1;

  if (starts >= MAX_STARTS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_FAILED,
                   "the resource tracker died %u times; not starting another", starts);
      return FALSE;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "socketpair() failed: %s", g_strerror (errsv));
      return FALSE;
    }
  starts++;

  _mp_arena_ensure ();
  slot = _mp_arena_proc_claim ("ResourceTracker", MP_ROLE_TRACKER, MP_START_SPAWN, 0);
  h_sock = g_unix_fd_list_append (fds, sp[1], error);
  close (sp[1]);
  if (h_sock < 0)
    goto fail;
  if (_mp_arena != NULL)
    h_arena = g_unix_fd_list_append (fds, _mp_arena->fd, NULL);

  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "sock", "h", h_sock);
  g_variant_dict_insert (&d, "arena", "h", h_arena);
  g_variant_dict_insert (&d, "slot", "i", slot);
  g_variant_dict_insert (&d, "parent-pid", "i", (gint32) getpid ());
  prep = g_variant_ref_sink (g_variant_dict_end (&d));

  if (!_mp_spawn_exec (MP_RESOURCE_TRACKER_MARKER, -1, &spawned, error))
    goto fail;
  if (!_mp_wire_send (spawned.sock, prep, fds, error) || !wait_ready (spawned.sock, error))
    {
      _mp_spawn_abort (&spawned);
      goto fail;
    }
  close (spawned.sock);
  g_clear_object (&fds);

  /* A replacement takes the old descriptor's number, so a thread that loaded it without the
   * lock never writes to a closed or reused descriptor. */
  if (sock >= 0)
    {
      if (dup3 (sp[0], sock, O_CLOEXEC) < 0)
        {
          close (sock);
          sock = sp[0];
        }
      else
        close (sp[0]);
    }
  else
    sock = sp[0];

  if (tracker_pidfd >= 0)
    close (tracker_pidfd);
  tracker_pid = spawned.pid;
  tracker_pidfd = spawned.pidfd;
  starter_pid = getpid ();
  tracker_slot = slot;
  _mp_arena_proc_set_running (slot, spawned.pid, getpid ());
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_CREATED, (guint64) slot, spawned.pid,
             MP_START_SPAWN);
  _mp_debug ("resource tracker started (pid %d)", spawned.pid);
  return TRUE;

fail:
  close (sp[0]);
  _mp_arena_proc_abandon (slot);
  return FALSE;
}

static void
reap_dead_locked (void)
{
  if (tracker_pidfd >= 0 && starter_pid == getpid ())
    {
      siginfo_t info = { 0 };
      int code = 255;

      /* It closed its socket, so it is exiting; give it a moment to finish. */
      (void) _mp_fd_wait_readable (tracker_pidfd, 5 * G_USEC_PER_SEC);
      if (waitid (P_PIDFD, (id_t) tracker_pidfd, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0)
        code = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
      _mp_arena_proc_set_exited (tracker_slot, MP_PROC_EXITED, code);
      _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_PROCESS_EXITED, (guint64) tracker_slot,
                 tracker_pid, code);
    }
  if (tracker_pidfd >= 0)
    close (tracker_pidfd);
  tracker_pidfd = -1;
  tracker_pid = 0;
  tracker_slot = -1;
}

static void
warn_once (const char *what)
{
  if (warned)
    return;
  warned = TRUE;
  _mp_warning ("resource tracker unavailable (%s): shared memory leaked by a crash of this "
               "program will not be cleaned up", what);
}

/* Replaces a dead tracker and hands it this process's own registrations. */
static gboolean
restart_locked (void)
{
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer key, value;

  _mp_subwarning ("the resource tracker (pid %d) died; starting a new one", tracker_pid);
  reap_dead_locked ();
  if (!start_locked (&error))
    {
      warn_once (error->message);
      return FALSE;
    }
  if (registered == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, registered);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *colon = strchr (key, ':');
      g_autofree char *rtype = g_strndup (key, (gsize) (colon - (const char *) key));

      if (GPOINTER_TO_INT (value) == getpid ())
        (void) send_command_locked ("REGISTER", colon + 1, rtype);
    }
  return TRUE;
}

void
_mp_resource_tracker_register (const char *name, const char *rtype)
{
  g_autoptr(GError) error = NULL;
  int err;

  pthread_once (&atfork_once, install_atfork);
  g_mutex_lock (&lock);
  if (sock < 0 && !start_locked (&error))
    {
      warn_once (error->message);
      goto out;
    }
  err = send_command_locked ("REGISTER", name, rtype);
  if (tracker_gone (err) && restart_locked ())
    err = send_command_locked ("REGISTER", name, rtype);
  if (err != 0)
    {
      warn_once (g_strerror (err));
      goto out;
    }
  if (registered == NULL)
    registered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_replace (registered, g_strconcat (rtype, ":", name, NULL),
                        GINT_TO_POINTER (getpid ()));
out:
  g_mutex_unlock (&lock);
}

void
_mp_resource_tracker_unregister (const char *name, const char *rtype)
{
  g_autofree char *key = g_strconcat (rtype, ":", name, NULL);
  int err;

  pthread_once (&atfork_once, install_atfork);
  g_mutex_lock (&lock);
  if (registered != NULL)
    g_hash_table_remove (registered, key);
  /* Without a tracker there is nothing to tell: don't start one for this. */
  if (sock >= 0)
    {
      err = send_command_locked ("UNREGISTER", name, rtype);
      /* A replacement gets our remaining registrations, which no longer include this. */
      if (tracker_gone (err) && registered != NULL && g_hash_table_size (registered) > 0)
        (void) restart_locked ();
    }
  g_mutex_unlock (&lock);
}

void
_mp_resource_tracker_prep_insert (GVariantDict *prep, GUnixFDList *fds)
{
  g_mutex_lock (&lock);
  if (sock >= 0)
    {
      int h = g_unix_fd_list_append (fds, sock, NULL);

      if (h >= 0)
        {
          g_variant_dict_insert (prep, "resource-tracker", "h", h);
          g_variant_dict_insert (prep, "resource-tracker-pid", "i", (gint32) tracker_pid);
        }
    }
  g_mutex_unlock (&lock);
}

void
_mp_resource_tracker_prep_adopt (GVariant *prep, GUnixFDList *fds)
{
  gint32 h, pid = 0;
  int fd;

  if (fds == NULL || !g_variant_lookup (prep, "resource-tracker", "h", &h) ||
      h < 0 || h >= g_unix_fd_list_get_length (fds))
    return;
  (void) g_variant_lookup (prep, "resource-tracker-pid", "i", &pid);
  fd = g_unix_fd_list_get (fds, h, NULL);
  if (fd < 0)
    return;

  pthread_once (&atfork_once, install_atfork);
  g_mutex_lock (&lock);
  if (sock >= 0)
    close (sock);
  sock = fd;
  tracker_pid = pid;
  starter_pid = 0;
  g_mutex_unlock (&lock);
}

/**
 * mp_resource_tracker_ensure_running:
 * @error: return location for an error
 *
 * Starts the program tree's resource tracker if this process has none (Python's
 * `resource_tracker.ensure_running()`). libmp starts it by itself on the first tracked
 * segment; children started afterwards share it. Call this before starting children when
 * segments will be created in children that exit before the segments' users do: a child
 * started before the tree had a tracker starts its own, which treats the segments that child
 * created as leaked when the child's subtree ends and no process maps them any more.
 *
 * The tracker is a helper process (the program itself, re-executed) in its own session: it
 * survives Ctrl-C and a kill of the program's process group, and ends when every process of
 * the tree has ended, after unlinking the tracked segments nobody unlinked and printing a
 * warning that names them:
 * `libmp: resource_tracker: There appear to be N leaked shared_memory objects to clean up at
 * shutdown: NAME, …`. Segments that are unlinked properly, or still mapped by a live process,
 * are never reported.
 *
 * Returns: %TRUE if a tracker runs
 */
gboolean
mp_resource_tracker_ensure_running (GError **error)
{
  gboolean ok = TRUE;

  pthread_once (&atfork_once, install_atfork);
  g_mutex_lock (&lock);
  if (sock < 0)
    ok = start_locked (error);
  g_mutex_unlock (&lock);
  return ok;
}

/**
 * mp_resource_tracker_get_pid:
 *
 * Returns: the pid of the tracker this process reports to, 0 if it has none
 */
GPid
mp_resource_tracker_get_pid (void)
{
  GPid pid;

  g_mutex_lock (&lock);
  pid = sock >= 0 ? tracker_pid : 0;
  g_mutex_unlock (&lock);
  return pid;
}

/* ---- the tracker process ------------------------------------------------------------------- */

static gboolean
valid_name (const char *name)
{
  gsize len = strlen (name);
  return len > 0 && len <= NAME_MAX && strchr (name, '/') == NULL && strchr (name, '\n') == NULL;
}

/* Names under /dev/shm that some live process (other than us) maps, as far as we can see. */
static GHashTable *
mapped_shm_names (void)
{
  GHashTable *mapped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GDir *proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;
  pid_t self = getpid ();

  if (proc == NULL)
    return mapped;
  while ((entry = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *maps = NULL;
      guint64 pid;

      if (!g_ascii_string_to_unsigned (entry, 10, 1, G_MAXINT32, &pid, NULL) ||
          (pid_t) pid == self)
        continue;
      path = g_strdup_printf ("/proc/%s/maps", entry);
      if (!g_file_get_contents (path, &maps, NULL, NULL))
        continue;   /* gone, or another user's */
      for (char *line = maps; line != NULL && *line; )
        {
          char *eol = strchr (line, '\n');
          char *p;

          if (eol != NULL)
            *eol = 0;
          if ((p = strstr (line, " /dev/shm/")) != NULL)
            {
              char *n = p + strlen (" /dev/shm/");
              if (g_str_has_suffix (n, " (deleted)"))
                n[strlen (n) - strlen (" (deleted)")] = 0;
              if (*n)
                g_hash_table_add (mapped, g_strdup (n));
            }
          line = eol != NULL ? eol + 1 : NULL;
        }
    }
  g_dir_close (proc);
  return mapped;
}

/* Returns the exit code: 0 nothing leaked, 1 leaks cleaned up, 2 a cleanup failed. */
static int
cleanup (GHashTable *names, guint bad_messages)
{
  g_autoptr(GHashTable) mapped = NULL;
  g_autoptr(GPtrArray) leaked = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;
  int code = 0;

  if (bad_messages > 0)
    fprintf (stderr, "libmp: resource_tracker: ignored %u malformed messages\n", bad_messages);
  if (g_hash_table_size (names) == 0)
    return 0;

  mapped = mapped_shm_names ();
  g_hash_table_iter_init (&iter, names);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *path = g_strconcat ("/", (const char *) key, NULL);

      if (g_hash_table_contains (mapped, key))
        continue;   /* still in use by a live process: not leaked */
      if (shm_unlink (path) == 0)
        g_ptr_array_add (leaked, key);
      else if (errno != ENOENT)
        {
          fprintf (stderr, "libmp: resource_tracker: '%s': %s\n", (const char *) key,
                   g_strerror (errno));
          code = 2;
        }
    }
  if (leaked->len > 0)
    {
      g_autofree char *list = NULL;

      g_ptr_array_add (leaked, NULL);
      list = g_strjoinv (", ", (char **) leaked->pdata);
      fprintf (stderr, "libmp: resource_tracker: There appear to be %u leaked shared_memory "
               "objects to clean up at shutdown: %s\n", leaked->len - 1, list);
      if (code == 0)
        code = 1;
    }
  fflush (stderr);
  return code;
}

static int
take_fd (GUnixFDList *fds, gint32 h)
{
  if (fds == NULL || h < 0 || h >= g_unix_fd_list_get_length (fds))
    return -1;
  return g_unix_fd_list_get (fds, h, NULL);
}

G_GNUC_NORETURN static void
tracker_main (int start_sock)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) prep = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) names = NULL;
  gint32 h_sock, h_arena, slot, parent_pid;
  gboolean have_slot = FALSE;
  guint bad_messages = 0;
  int fd, arena_fd, devnull, code;

  prep = _mp_wire_recv (start_sock, 65536, &fds, &error);
  if (prep == NULL || !g_variant_is_of_type (prep, G_VARIANT_TYPE_VARDICT) ||
      !g_variant_lookup (prep, "sock", "h", &h_sock) ||
      !g_variant_lookup (prep, "arena", "h", &h_arena) ||
      !g_variant_lookup (prep, "slot", "i", &slot) ||
      !g_variant_lookup (prep, "parent-pid", "i", &parent_pid) ||
      (fd = take_fd (fds, h_sock)) < 0)
    {
      fprintf (stderr, "libmp: resource_tracker: cannot read the start message: %s\n",
               error ? error->message : "malformed");
      _exit (3);
    }
  arena_fd = take_fd (fds, h_arena);
  g_clear_object (&fds);
  g_clear_pointer (&prep, g_variant_unref);

  /* Out of the program's session and process group: a killpg() or the terminal's Ctrl-C
   * must leave us alive to clean up after it. Only then may the program go on. */
  (void) setsid ();
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  if (write (start_sock, "R", 1) != 1)
    { /* the program is gone already: we read EOF below and clean up */ }
  close (start_sock);
  /* It may outlive the program: don't keep its working directory busy. */
  if (chdir ("/") < 0)
    { /* harmless */ }

  /* Keep stderr for the warning; stdout must not keep a pipe of the program's caller open. */
  devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0)
    {
      dup2 (devnull, STDIN_FILENO);
      dup2 (devnull, STDOUT_FILENO);
      close (devnull);
    }

  if (arena_fd >= 0)
    {
      if (_mp_arena_adopt_fd (arena_fd, slot, NULL))
        {
          _mp_arena_proc_set_running (slot, getpid (), parent_pid);
          have_slot = TRUE;
          /* The mapping is enough; without the descriptor, monitors that discover programs
           * through /proc/PID/fd do not list the tracker as a program of its own. */
          close (_mp_arena->fd);
          _mp_arena_forget_fd ();
        }
      else
        close (arena_fd);
    }

  names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (;;)
    {
      char buf[MP_RESOURCE_TRACKER_MSG_MAX + 1];
      struct iovec iov = { buf, sizeof buf - 1 };
      struct msghdr msg = { 0 };
      char *c1, *c2;
      ssize_t n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;   /* EOF: every holder of the sending end is gone */
      buf[n] = 0;
      if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || memchr (buf, 0, (size_t) n) != NULL ||
          (c1 = strchr (buf, ':')) == NULL || (c2 = strrchr (buf, ':')) == c1)
        {
          bad_messages++;
          continue;
        }
      *c1 = 0;
      *c2 = 0;
      if (strcmp (buf, "PROBE") == 0)
        continue;
      if (strcmp (c2 + 1, RTYPE_SHARED_MEMORY) != 0 || !valid_name (c1 + 1))
        bad_messages++;
      else if (strcmp (buf, "REGISTER") == 0)
        g_hash_table_add (names, g_strdup (c1 + 1));
      else if (strcmp (buf, "UNREGISTER") == 0)
        g_hash_table_remove (names, c1 + 1);
      else
        bad_messages++;
    }
  close (fd);

  code = cleanup (names, bad_messages);
  if (have_slot)
    _mp_arena_proc_set_exited (slot, MP_PROC_EXITED, code);
  _exit (code);
}

/* glibc passes main()'s arguments to ELF constructors. */
__attribute__((constructor)) static void
resource_tracker_constructor (int argc, char **argv, char **envp)
{
  struct stat st;

  if (argc < 2 || argv == NULL || argv[1] == NULL ||
      strcmp (argv[1], MP_RESOURCE_TRACKER_MARKER) != 0)
    return;
  if (fstat (MP_CHILD_FD, &st) < 0 || !S_ISSOCK (st.st_mode))
    return;
  unsetenv (MP_CHILD_FD_ENV);
  tracker_main (MP_CHILD_FD);
}
