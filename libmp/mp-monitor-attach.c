/* mp-monitor-attach.c: finding another program's arena through /proc
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Every process of a libmp tree keeps the arena memfd open (mp-arena.c), so /proc/PID/fd/N of
 * any of them is a link reading "/memfd:libmp-arena (deleted)". Opening that link gives a new
 * read-only description of the same memfd, which we map read-only: no cooperation from the
 * target, so it works when the target is deadlocked or stopped. Nothing is registered anywhere
 * and nothing can go stale: the memfd lives exactly as long as some process holds it — which,
 * once mapped, includes the monitor, so a monitor still reads the final state of a program that
 * has exited.
 *
 * The monitor closes its fd right after mapping, so it does not itself show up as a holder
 * when another monitor scans /proc. An arena must carry the seals libmp puts on it (no shrink):
 * a file that could shrink under our mapping would turn reads into SIGBUS.
 *
 * Attaching needs the rights to read /proc/PID/fd, i.e. the same user (ptrace read access).
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-monitor-private.h"

#define ARENA_LINK_PREFIX "/memfd:" MP_ARENA_MEMFD_NAME

static gboolean
parse_pid (const char *s, GPid *pid)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (s, 10, 1, G_MAXINT32, &v, NULL))
    return FALSE;
  *pid = (GPid) v;
  return TRUE;
}

/* Calls @func for each arena link of @pid; stops when it returns FALSE. Returns -errno if
 * the fd directory cannot be read. */
static int
for_each_arena_link (GPid pid, gboolean (*func) (GPid pid, const char *fd_name, gpointer data),
                     gpointer data)
{
  char path[64];
  DIR *dir;
  struct dirent *de;

  g_snprintf (path, sizeof path, "/proc/%d/fd", pid);
  dir = opendir (path);
  if (dir == NULL)
    return -errno;
  while ((de = readdir (dir)) != NULL)
    {
      char target[128];
      ssize_t n;

      if (de->d_name[0] == '.')
        continue;
      n = readlinkat (dirfd (dir), de->d_name, target, sizeof target - 1);
      if (n <= 0)
        continue;
      target[n] = 0;
      if (!g_str_has_prefix (target, ARENA_LINK_PREFIX))
        continue;
      /* "/memfd:libmp-arena (deleted)", never "/memfd:libmp-arena-other". */
      if (target[strlen (ARENA_LINK_PREFIX)] != 0 && target[strlen (ARENA_LINK_PREFIX)] != ' ')
        continue;
      if (!func (pid, de->d_name, data))
        break;
    }
  closedir (dir);
  return 0;
}

static int
open_link (GPid pid, const char *fd_name)
{
  char path[96];

  g_snprintf (path, sizeof path, "/proc/%d/fd/%s", pid, fd_name);
  return open (path, O_RDONLY | O_CLOEXEC);
}

static gboolean
check_seals (int fd, GError **error)
{
  int seals = fcntl (fd, F_GET_SEALS);

  if (seals < 0 || !(seals & F_SEAL_SHRINK))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The arena is not sealed against shrinking; refusing to map it");
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  int fd;
  int errsv;
} FirstLink;

static gboolean
take_first (GPid pid, const char *fd_name, gpointer data)
{
  FirstLink *f = data;

  f->fd = open_link (pid, fd_name);
  if (f->fd < 0)
    {
      f->errsv = errno;
      return TRUE;   /* closed meanwhile: try the next */
    }
  return FALSE;
}

int
_mp_monitor_open_arena_fd (GPid pid, GError **error)
{
  FirstLink f = { -1, 0 };
  char proc[32];
  int r;

  if (pid <= 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "%d is not a valid process id", pid);
      return -1;
    }
  g_snprintf (proc, sizeof proc, "/proc/%d", pid);
  if (access (proc, F_OK) != 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_NOT_FOUND, "There is no process with pid %d", pid);
      return -1;
    }
  r = for_each_arena_link (pid, take_first, &f);
  if (r == -EACCES || r == -EPERM || (f.fd < 0 && (f.errsv == EACCES || f.errsv == EPERM)))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO,
                   "Cannot inspect process %d: permission denied (attaching needs the same user "
                   "as the program)", pid);
      return -1;
    }
  if (r == -ENOENT)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_NOT_FOUND, "There is no process with pid %d", pid);
      return -1;
    }
  if (f.fd < 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_NOT_FOUND,
                   "Process %d is not a libmp program (it holds no libmp arena; a libmp program "
                   "creates one in mp_init())", pid);
      return -1;
    }
  return f.fd;
}

static MpArena *
map_fd (int fd, GError **error)
{
  MpArena *arena;

  if (!check_seals (fd, error))
    {
      close (fd);
      return NULL;
    }
  arena = _mp_arena_map (fd, FALSE, error);
  /* The mapping keeps the memfd alive; without the fd we are not listed as a holder. */
  close (fd);
  if (arena != NULL)
    arena->fd = -1;
  return arena;
}

MpArena *
_mp_monitor_map_arena (GPid pid, GError **error)
{
  int fd = _mp_monitor_open_arena_fd (pid, error);

  if (fd < 0)
    return NULL;
  return map_fd (fd, error);
}

/* ---- listing ----------------------------------------------------------------------------- */

typedef struct
{
  GHashTable *seen;              /* "dev:ino" of arenas already listed */
  GListStore *store;
  GPid        self_pid;
} ListState;

static guint
count_live (const MpMonitorArena *ma)
{
  g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (0, FALSE);
  guint n = 0;

  _mp_monitor_snapshot_read_arena (snap, ma, FALSE);
  for (guint i = 0; i < snap->processes->len; i++)
    {
      const MpSnapProcess *p = &g_array_index (snap->processes, MpSnapProcess, i);
      if ((p->state == MP_PROC_RUNNING || p->state == MP_PROC_EXITING) && _mp_pid_is_alive (p->pid))
        n++;
    }
  return n;
}

static gboolean
list_link (GPid pid, const char *fd_name, gpointer data)
{
  ListState *st = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  MpMonitorArena ma;
  MpArena *arena;
  struct stat sb;
  int fd;

  fd = open_link (pid, fd_name);
  if (fd < 0)
    return TRUE;
  if (fstat (fd, &sb) < 0)
    {
      close (fd);
      return TRUE;
    }
  key = g_strdup_printf ("%ju:%ju", (uintmax_t) sb.st_dev, (uintmax_t) sb.st_ino);
  if (g_hash_table_contains (st->seen, key))
    {
      close (fd);
      return TRUE;
    }
  g_hash_table_add (st->seen, g_steal_pointer (&key));

  arena = map_fd (fd, &error);
  if (arena == NULL || !_mp_monitor_arena_init (&ma, arena, &error))
    {
      g_autoptr(MpMonitorProgram) prog = _mp_monitor_program_new (pid, "?", 0, 0, error->message);
      g_list_store_append (st->store, prog);
    }
  else
    {
      char name[MP_ARENA_NAME_LEN];
      GPid root = ma.hdr.root_pid;
      g_autoptr(MpMonitorProgram) prog = NULL;

      _mp_monitor_copy_name (name, ma.hdr.program, sizeof name);
      prog = _mp_monitor_program_new (root > 0 && _mp_pid_is_alive (root) ? root : pid, name,
                                      (gint64) (ma.hdr.start_realtime_ns / 1000), count_live (&ma),
                                      NULL);
      g_list_store_append (st->store, prog);
    }
  _mp_arena_unmap (arena);
  return TRUE;
}

static gint
cmp_pid (gconstpointer a, gconstpointer b)
{
  GPid x = *(const GPid *) a, y = *(const GPid *) b;
  return x < y ? -1 : x > y;
}

/**
 * mp_monitor_list_programs:
 * @error: return location for an error
 *
 * Finds the libmp programs running on this machine that the caller may attach to, by
 * scanning `/proc/∗/fd` for their arenas (no registry files). Each program is listed once,
 * under its root process while that runs. A program whose arena this libmp cannot read (another
 * layout version, corrupt) is listed with an error message.
 *
 * Returns: (transfer full): a #GListModel of #MpMonitorProgram, sorted by pid
 */
GListModel *
mp_monitor_list_programs (GError **error)
{
  ListState st = { 0 };
  DIR *proc;
  struct dirent *de;

  proc = opendir ("/proc");
  if (proc == NULL)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot read /proc: %s", g_strerror (errsv));
      return NULL;
    }
  st.seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  st.store = g_list_store_new (MP_TYPE_MONITOR_PROGRAM);
  st.self_pid = getpid ();

  /* Ascending pids meet a program's root before its children. */
  {
    g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (GPid));
    while ((de = readdir (proc)) != NULL)
      {
        GPid pid;
        if (parse_pid (de->d_name, &pid))
          g_array_append_val (pids, pid);
      }
    closedir (proc);
    g_array_sort (pids, cmp_pid);
    for (guint i = 0; i < pids->len; i++)
      (void) for_each_arena_link (g_array_index (pids, GPid, i), list_link, &st);
  }

  g_hash_table_unref (st.seen);
  return G_LIST_MODEL (st.store);
}
