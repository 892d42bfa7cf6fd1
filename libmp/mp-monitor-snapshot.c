/* mp-monitor-snapshot.c: sampling a program — its arena's tables and /proc
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The arena read here may belong to another program, which keeps writing it while we read, and
 * which may be hostile. So the layout (offsets, capacities) comes from a copy of the header that
 * was validated once (MpMonitorArena below); counts read later from the shared header (high-water
 * marks) are clamped to that layout; strings are copied out of fixed arrays, cut at the first
 * invalid UTF-8 byte and stripped of control characters (a name is printed on terminals); every
 * other field is taken as a number whose value may be nonsense but cannot make us read out of
 * bounds. A snapshot of several fields is not atomic: rows may mix two moments.
 *
 * /proc facts are read only in full samples and only for processes whose table entry says they
 * run, since an exited pid may already belong to someone else.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-monitor-private.h"

MpMonitorSnapshot *
_mp_monitor_snapshot_new (guint64 t_ns, gboolean full)
{
  MpMonitorSnapshot *snap = g_new0 (MpMonitorSnapshot, 1);

  snap->t_ns = t_ns;
  snap->full = full;
  snap->processes = g_array_new (FALSE, TRUE, sizeof (MpSnapProcess));
  snap->objects = g_array_new (FALSE, TRUE, sizeof (MpSnapObject));
  return snap;
}

void
_mp_monitor_snapshot_free (MpMonitorSnapshot *snap)
{
  if (snap == NULL)
    return;
  g_array_unref (snap->processes);
  g_array_unref (snap->objects);
  g_free (snap);
}

/* ---- names of the arena's enums, for recordings ----------------------------------------- */

static const char *const proc_state_names[] = { "free", "reserved", "running", "exiting", "exited" };
static const char *const method_names[] = { "none", "fork", "spawn", "forkserver" };

gboolean
_mp_object_kind_is_segment (guint32 kind)
{
  return kind == MP_OBJECT_SHARED_MEMORY || kind == MP_OBJECT_SHAREABLE_LIST ||
         kind == MP_OBJECT_VALUE || kind == MP_OBJECT_ARRAY;
}

gboolean
_mp_object_kind_is_sync (guint32 kind)
{
  return kind >= MP_OBJECT_LOCK && kind <= MP_OBJECT_BARRIER;
}

gboolean
_mp_object_kind_is_queue (guint32 kind)
{
  return kind == MP_OBJECT_QUEUE || kind == MP_OBJECT_JOINABLE_QUEUE ||
         kind == MP_OBJECT_SIMPLE_QUEUE;
}

const char *
_mp_proc_state_to_string (guint32 state)
{
  return state < G_N_ELEMENTS (proc_state_names) ? proc_state_names[state] : "unknown";
}

gboolean
_mp_proc_state_from_string (const char *str, guint32 *state)
{
  for (guint32 i = 0; i < G_N_ELEMENTS (proc_state_names); i++)
    if (g_strcmp0 (str, proc_state_names[i]) == 0)
      {
        *state = i;
        return TRUE;
      }
  return FALSE;
}

const char *
_mp_start_method_id_to_string (guint32 method)
{
  return method < G_N_ELEMENTS (method_names) ? method_names[method] : "unknown";
}

gboolean
_mp_start_method_id_from_string (const char *str, guint32 *method)
{
  for (guint32 i = 0; i < G_N_ELEMENTS (method_names); i++)
    if (g_strcmp0 (str, method_names[i]) == 0)
      {
        *method = i;
        return TRUE;
      }
  return FALSE;
}

gboolean
_mp_monitor_role_from_string (const char *str, guint32 *role)
{
  for (guint32 i = MP_MONITOR_ROLE_MAIN; i <= MP_MONITOR_ROLE_TRACKER; i++)
    if (g_strcmp0 (str, mp_monitor_process_role_to_string (i)) == 0)
      {
        *role = i;
        return TRUE;
      }
  return FALSE;
}

gboolean
_mp_event_type_from_string (const char *str, guint32 *type)
{
  /* Every type mp_trace_event_type_to_string() names, so new types need no change here. */
  if (str == NULL || g_str_equal (str, "unknown"))
    return FALSE;
  for (guint32 t = 0; t < 256; t++)
    if (g_str_equal (str, mp_trace_event_type_to_string ((MpEventType) t)))
      {
        *type = t;
        return TRUE;
      }
  return FALSE;
}

/* ---- reading the arena ------------------------------------------------------------------- */

/* Copies a fixed-size string field of shared memory: NUL-terminated, valid UTF-8, no control
 * characters. @out has room for @len bytes; it may be @field itself. */
void
_mp_monitor_copy_name (char *out, const char *field, gsize len)
{
  const char *end;

  for (gsize i = 0; i < len; i++)
    out[i] = __atomic_load_n (&field[i], __ATOMIC_RELAXED);
  out[len - 1] = 0;
  if (!g_utf8_validate (out, -1, &end))
    *(char *) end = 0;
  for (char *p = out; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
}

gboolean
_mp_monitor_arena_init (MpMonitorArena *ma, const MpArena *arena, GError **error)
{
  memset (ma, 0, sizeof *ma);
  if (arena->size < sizeof (MpArenaHeader))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "Not a libmp arena (too small)");
      return FALSE;
    }
  memcpy (&ma->hdr, arena->base, sizeof ma->hdr);
  if (!_mp_arena_validate ((const guint8 *) &ma->hdr, arena->size, error))
    return FALSE;
  ma->arena = arena;
  return TRUE;
}

static const MpArenaProc *
ma_proc (const MpMonitorArena *ma, guint32 i)
{
  return (const MpArenaProc *) (ma->arena->base + ma->hdr.procs_offset +
                                (guint64) i * ma->hdr.proc_size);
}

static const MpArenaObject *
ma_object (const MpMonitorArena *ma, guint32 i)
{
  return (const MpArenaObject *) (ma->arena->base + ma->hdr.objects_offset +
                                  (guint64) i * ma->hdr.object_size);
}

void
_mp_monitor_arena_ring_reader_init (const MpMonitorArena *ma, guint32 slot, MpRingReader *reader)
{
  memset (reader, 0, sizeof *reader);
  if (slot >= ma->hdr.procs_capacity)
    return;
  reader->ring = (const MpArenaRingHeader *) (ma->arena->base + ma->hdr.rings_offset +
                                              (guint64) slot * ma->hdr.ring_size);
  reader->capacity = ma->hdr.ring_capacity;
}

guint32
_mp_monitor_arena_procs_high_water (const MpMonitorArena *ma)
{
  const MpArenaHeader *live = (const MpArenaHeader *) ma->arena->base;

  return MIN (__atomic_load_n (&live->procs_high_water, __ATOMIC_ACQUIRE),
              ma->hdr.procs_capacity);
}

void
_mp_monitor_snapshot_read_arena (MpMonitorSnapshot *snap, const MpMonitorArena *ma,
                                 gboolean full)
{
  const MpArenaHeader *live = (const MpArenaHeader *) ma->arena->base;
  guint32 n_procs, n_objects;

  n_procs = _mp_monitor_arena_procs_high_water (ma);
  for (guint32 i = 0; i < n_procs; i++)
    {
      const MpArenaProc *p = ma_proc (ma, i);
      MpSnapProcess sp = { 0 };

      sp.state = __atomic_load_n (&p->state, __ATOMIC_ACQUIRE);
      if (sp.state == MP_PROC_FREE || sp.state > MP_PROC_EXITED)
        continue;
      sp.slot = i;
      sp.generation = __atomic_load_n (&p->generation, __ATOMIC_RELAXED);
      sp.pid = __atomic_load_n (&p->pid, __ATOMIC_RELAXED);
      sp.ppid = __atomic_load_n (&p->ppid, __ATOMIC_RELAXED);
      sp.exit_code = __atomic_load_n (&p->exit_code, __ATOMIC_RELAXED);
      sp.role = __atomic_load_n (&p->role, __ATOMIC_RELAXED);
      sp.start_method = __atomic_load_n (&p->start_method, __ATOMIC_RELAXED);
      sp.flags = __atomic_load_n (&p->flags, __ATOMIC_RELAXED);
      sp.create_ns = __atomic_load_n (&p->create_ns, __ATOMIC_RELAXED);
      sp.start_ns = __atomic_load_n (&p->start_ns, __ATOMIC_RELAXED);
      sp.exit_ns = __atomic_load_n (&p->exit_ns, __ATOMIC_RELAXED);
      sp.blocked_on = __atomic_load_n (&p->blocked_on, __ATOMIC_RELAXED);
      _mp_monitor_copy_name (sp.name, p->name, sizeof sp.name);
      /* A reserved slot has no process yet. */
      if (sp.pid <= 0)
        continue;
      g_array_append_val (snap->processes, sp);
    }

  if (!full)
    return;

  n_objects = MIN (__atomic_load_n (&live->objects_high_water, __ATOMIC_ACQUIRE),
                   ma->hdr.objects_capacity);
  for (guint32 i = 0; i < n_objects; i++)
    {
      const MpArenaObject *o = ma_object (ma, i);
      MpSnapObject so = { 0 };

      so.state = __atomic_load_n (&o->state, __ATOMIC_ACQUIRE);
      if (so.state != 1 && so.state != 2)
        continue;
      so.id = __atomic_load_n (&o->id, __ATOMIC_RELAXED);
      so.kind = __atomic_load_n (&o->kind, __ATOMIC_RELAXED);
      so.creator_pid = __atomic_load_n (&o->creator_pid, __ATOMIC_RELAXED);
      so.flags = __atomic_load_n (&o->flags, __ATOMIC_RELAXED);
      so.create_ns = __atomic_load_n (&o->create_ns, __ATOMIC_RELAXED);
      _mp_monitor_copy_name (so.label, o->label, sizeof so.label);
      for (guint k = 0; k < G_N_ELEMENTS (so.stats); k++)
        so.stats[k] = __atomic_load_n (&o->stats[k], __ATOMIC_RELAXED);
      if (so.id == 0)
        continue;
      if (_mp_object_kind_is_segment (so.kind))
        {
          MpShmStats *st = (MpShmStats *) (void *) so.stats;
          _mp_monitor_copy_name (st->name, st->name, sizeof st->name);
        }
      g_array_append_val (snap->objects, so);
    }
}

/* ---- /proc ------------------------------------------------------------------------------- */

typedef struct
{
  guint64 ticks;
  guint64 t_ns;
  guint64 starttime;
  gboolean seen;
} PrevCpu;

struct _MpProcSampler
{
  GHashTable *prev;              /* pid → PrevCpu */
  long        clk_tck;
  long        page_size;
};

MpProcSampler *
_mp_proc_sampler_new (void)
{
  MpProcSampler *s = g_new0 (MpProcSampler, 1);

  s->prev = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  s->clk_tck = sysconf (_SC_CLK_TCK);
  s->page_size = sysconf (_SC_PAGESIZE);
  if (s->clk_tck <= 0)
    s->clk_tck = 100;
  if (s->page_size <= 0)
    s->page_size = 4096;
  return s;
}

void
_mp_proc_sampler_free (MpProcSampler *s)
{
  if (s == NULL)
    return;
  g_hash_table_unref (s->prev);
  g_free (s);
}

gboolean
_mp_pid_is_alive (gint32 pid)
{
  char path[32];
  char buf[512];
  ssize_t n;
  const char *rp;
  int fd;

  if (pid <= 0)
    return FALSE;
  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return FALSE;
  buf[n] = 0;
  /* A zombie has exited; only its parent has not reaped it yet. */
  rp = strrchr (buf, ')');
  return rp == NULL || rp[1] == 0 || rp[2] != 'Z';
}

static gssize
read_small_file (const char *path, char *buf, gsize size)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  gsize total = 0;

  if (fd < 0)
    return -1;
  while (total + 1 < size)
    {
      ssize_t n = read (fd, buf + total, size - 1 - total);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      total += (gsize) n;
    }
  close (fd);
  buf[total] = 0;
  return (gssize) total;
}

static guint64
boottime_minus_monotonic_ns (void)
{
  struct timespec b, m;

  clock_gettime (CLOCK_BOOTTIME, &b);
  clock_gettime (CLOCK_MONOTONIC, &m);
  return ((guint64) b.tv_sec - (guint64) m.tv_sec) * 1000000000u + (guint64) b.tv_nsec -
         (guint64) m.tv_nsec;
}

/* Fills the /proc facts of one process; FALSE if it is gone (or the pid was reused). */
static gboolean
sample_pid (MpProcSampler *s, MpSnapProcess *p, guint64 t_ns, guint64 boot_offset)
{
  char path[48], buf[1024];
  char *rp, *save = NULL, *tok;
  guint64 utime = 0, stime = 0, starttime = 0, starttime_ns;
  char state = 0;
  PrevCpu *prev;
  int field = 3;

  g_snprintf (path, sizeof path, "/proc/%d/stat", p->pid);
  if (read_small_file (path, buf, sizeof buf) <= 0 || (rp = strrchr (buf, ')')) == NULL)
    return FALSE;
  for (tok = strtok_r (rp + 1, " ", &save); tok != NULL; tok = strtok_r (NULL, " ", &save), field++)
    {
      if (field == 3)
        state = tok[0];
      else if (field == 14)
        utime = g_ascii_strtoull (tok, NULL, 10);
      else if (field == 15)
        stime = g_ascii_strtoull (tok, NULL, 10);
      else if (field == 22)
        {
          starttime = g_ascii_strtoull (tok, NULL, 10);
          break;
        }
    }
  if (state == 'Z' || state == 'X' || state == 0)
    return FALSE;
  /* The table's start time is taken after the process exists, so a process that /proc says
   * started clearly later is another one that got the same pid. */
  starttime_ns = starttime * (1000000000u / (guint64) s->clk_tck);
  if (p->start_ns != 0 && starttime_ns > p->start_ns + boot_offset + G_GUINT64_CONSTANT (1000000000))
    return FALSE;

  p->has_os = TRUE;
  p->alive = TRUE;
  p->os_state = state;

  prev = g_hash_table_lookup (s->prev, GINT_TO_POINTER (p->pid));
  if (prev != NULL && prev->starttime == starttime && t_ns > prev->t_ns && utime + stime >= prev->ticks)
    p->cpu_percent = (double) (utime + stime - prev->ticks) / (double) s->clk_tck /
                     ((double) (t_ns - prev->t_ns) / 1e9) * 100.0;
  if (prev == NULL)
    {
      prev = g_new0 (PrevCpu, 1);
      g_hash_table_insert (s->prev, GINT_TO_POINTER (p->pid), prev);
    }
  prev->ticks = utime + stime;
  prev->t_ns = t_ns;
  prev->starttime = starttime;
  prev->seen = TRUE;

  g_snprintf (path, sizeof path, "/proc/%d/statm", p->pid);
  if (read_small_file (path, buf, sizeof buf) > 0)
    {
      char *sp = strchr (buf, ' ');
      if (sp != NULL)
        p->rss_bytes = g_ascii_strtoull (sp + 1, NULL, 10) * (guint64) s->page_size;
    }
  return TRUE;
}

/* A name as POSIX shm_open() takes it after the '/': one path component. */
static gboolean
shm_name_ok (const char *name)
{
  return name[0] != 0 && strchr (name, '/') == NULL && strcmp (name, ".") != 0 &&
         strcmp (name, "..") != 0;
}

#define MAPS_MAX_BYTES (16u << 20)

/* Adds to @mapped (name → GArray of pids) the /dev/shm files process @pid maps. */
static void
scan_maps (gint32 pid, GHashTable *mapped)
{
  char path[48];
  g_autofree char *data = NULL;
  gsize cap = 64 * 1024, len = 0;
  int fd;

  g_snprintf (path, sizeof path, "/proc/%d/maps", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  data = g_malloc (cap);
  for (;;)
    {
      ssize_t n;

      if (len + 1 >= cap)
        {
          if (cap >= MAPS_MAX_BYTES)
            break;
          cap *= 2;
          data = g_realloc (data, cap);
        }
      n = read (fd, data + len, cap - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  data[len] = 0;

  for (char *line = data; line && *line;)
    {
      char *nl = strchr (line, '\n');
      char *shm;

      if (nl)
        *nl = 0;
      if ((shm = strstr (line, " /dev/shm/")) != NULL)
        {
          char *name = shm + strlen (" /dev/shm/");
          char *deleted = strstr (name, " (deleted)");
          GArray *pids;

          if (deleted)
            *deleted = 0;
          pids = g_hash_table_lookup (mapped, name);
          if (pids == NULL)
            {
              pids = g_array_new (FALSE, FALSE, sizeof (gint32));
              g_hash_table_insert (mapped, g_strdup (name), pids);
            }
          if (pids->len == 0 || g_array_index (pids, gint32, pids->len - 1) != pid)
            g_array_append_val (pids, pid);
        }
      line = nl ? nl + 1 : NULL;
    }
}

static void
fill_segments (MpMonitorSnapshot *snap)
{
  g_autoptr(GHashTable) mapped = NULL;
  g_autoptr(GHashTable) scanned = NULL;
  gboolean any = FALSE;

  for (guint i = 0; i < snap->objects->len && !any; i++)
    {
      MpSnapObject *o = &g_array_index (snap->objects, MpSnapObject, i);
      any = _mp_object_kind_is_segment (o->kind);
    }
  if (!any)
    return;

  /* Who maps which /dev/shm file: every live process of the tree and every attached pid. */
  mapped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  scanned = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < snap->processes->len; i++)
    {
      MpSnapProcess *p = &g_array_index (snap->processes, MpSnapProcess, i);
      if (p->alive && !g_hash_table_contains (scanned, GINT_TO_POINTER (p->pid)))
        {
          g_hash_table_add (scanned, GINT_TO_POINTER (p->pid));
          scan_maps (p->pid, mapped);
        }
    }
  for (guint i = 0; i < snap->objects->len; i++)
    {
      MpSnapObject *o = &g_array_index (snap->objects, MpSnapObject, i);
      const MpShmStats *st = (const MpShmStats *) (const void *) o->stats;

      if (!_mp_object_kind_is_segment (o->kind))
        continue;
      for (guint k = 0; k < MP_SHM_STATS_ATTACHED; k++)
        {
          gint32 pid = st->attached_pid[k];
          if (pid > 0 && !g_hash_table_contains (scanned, GINT_TO_POINTER (pid)) &&
              _mp_pid_is_alive (pid))
            {
              g_hash_table_add (scanned, GINT_TO_POINTER (pid));
              scan_maps (pid, mapped);
            }
        }
    }

  for (guint i = 0; i < snap->objects->len; i++)
    {
      MpSnapObject *o = &g_array_index (snap->objects, MpSnapObject, i);
      MpShmStats *st = (MpShmStats *) (void *) o->stats;
      const char *name = st->name;
      char path[sizeof st->name + 16];
      struct stat sb;
      GArray *pids;

      if (!_mp_object_kind_is_segment (o->kind))
        continue;
      o->has_shm_info = TRUE;
      if (!shm_name_ok (name))
        continue;
      g_snprintf (path, sizeof path, "/dev/shm/%s", name);
      o->shm_exists = stat (path, &sb) == 0;
      pids = g_hash_table_lookup (mapped, name);
      if (pids != NULL)
        {
          o->n_mappers = pids->len;
          for (guint k = 0; k < pids->len && k < MP_SNAP_MAPPERS; k++)
            o->mappers[k] = g_array_index (pids, gint32, k);
        }
    }
}

void
_mp_proc_sampler_fill (MpProcSampler *s, MpMonitorSnapshot *snap)
{
  guint64 boot_offset = boottime_minus_monotonic_ns ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, s->prev);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((PrevCpu *) value)->seen = FALSE;

  for (guint i = 0; i < snap->processes->len; i++)
    {
      MpSnapProcess *p = &g_array_index (snap->processes, MpSnapProcess, i);

      p->has_os = TRUE;
      p->alive = FALSE;
      if (p->state == MP_PROC_RUNNING || p->state == MP_PROC_EXITING ||
          p->state == MP_PROC_RESERVED)
        (void) sample_pid (s, p, snap->t_ns, boot_offset);
    }

  g_hash_table_iter_init (&iter, s->prev);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!((PrevCpu *) value)->seen)
      g_hash_table_iter_remove (&iter);

  fill_segments (snap);
}
