/* mp-arena.c: creating, inheriting, mapping and validating the arena
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The arena is a memfd created by the first process of a program tree that needs it (the
 * root). Fork children inherit the mapping and the fd; spawn and forkserver children get the fd
 * in their start message and map it again. The fd stays open in every process on purpose: it is
 * how a monitor finds attachable programs (/proc/PID/fd → "/memfd:libmp-arena"), and the memfd
 * disappears with the last process holding it, so the arena cannot leak.
 *
 * Slots of the process table are claimed with a CAS on their state, FREE → RESERVED; when no
 * slot is free, the oldest EXITED slot is reclaimed (its generation is bumped so readers can
 * tell). A slot is written only by the parent that claimed it and by the child it describes,
 * never concurrently on the same field except `state`, which is atomic.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mp-arena-private.h"
#include "mp-error.h"
#include "mp-trace-private.h"

MpArena *_mp_arena;
int _mp_arena_self_slot = -1;

static MpArena own_arena;

guint64
_mp_monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + (guint64) ts.tv_nsec;
}

static guint32
ring_capacity_from_env (void)
{
  const char *env = g_getenv ("LIBMP_RING_EVENTS");
  guint64 n;

  if (env == NULL || !g_ascii_string_to_unsigned (env, 10, 16, 1 << 20, &n, NULL))
    return MP_ARENA_RING_EVENTS;
  /* Round up to a power of two so positions map to indices with a mask. */
  return (guint32) 1u << g_bit_storage ((gulong) n - 1);
}

static void
layout (MpArenaHeader *h, guint32 ring_capacity)
{
  guint64 off = sizeof (MpArenaHeader);

  h->header_size = sizeof (MpArenaHeader);
  h->procs_offset = off;
  h->procs_capacity = MP_ARENA_PROCS;
  h->proc_size = sizeof (MpArenaProc);
  off += (guint64) MP_ARENA_PROCS * sizeof (MpArenaProc);
  h->objects_offset = off;
  h->objects_capacity = MP_ARENA_OBJECTS;
  h->object_size = sizeof (MpArenaObject);
  off += (guint64) MP_ARENA_OBJECTS * sizeof (MpArenaObject);
  off = (off + 4095) & ~(guint64) 4095;
  h->rings_offset = off;
  h->ring_capacity = ring_capacity;
  h->ring_size = sizeof (MpArenaRingHeader) + ring_capacity * sizeof (MpArenaEventRecord);
  off += (guint64) MP_ARENA_PROCS * h->ring_size;
  h->total_size = off;
}

static void
program_name (char *out, gsize len)
{
  char buf[256];
  ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
  const char *base;

  if (n <= 0)
    {
      g_strlcpy (out, "unknown", len);
      return;
    }
  buf[n] = 0;
  base = strrchr (buf, '/');
  g_strlcpy (out, base ? base + 1 : buf, len);
}

static gboolean
create_root_arena (void)
{
  MpArenaHeader tmp = { 0 };
  MpArenaHeader *h;
  struct timespec rt;
  void *base;
  int fd;

  layout (&tmp, ring_capacity_from_env ());

  fd = memfd_create (MP_ARENA_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return FALSE;
  if (ftruncate (fd, (off_t) tmp.total_size) < 0)
    {
      close (fd);
      return FALSE;
    }
  /* Readers in other processes must never see the file shrink under their mapping. */
  (void) fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);

  base = mmap (NULL, tmp.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    {
      close (fd);
      return FALSE;
    }

  h = base;
  *h = tmp;
  memcpy (h->magic, MP_ARENA_MAGIC, 8);
  h->version = MP_ARENA_VERSION;
  h->root_pid = getpid ();
  h->trace_level = (guint32) mp_trace_get_level ();
  clock_gettime (CLOCK_REALTIME, &rt);
  h->start_realtime_ns = (guint64) rt.tv_sec * 1000000000u + (guint64) rt.tv_nsec;
  h->start_monotonic_ns = _mp_monotonic_ns ();
  program_name (h->program, sizeof h->program);
  h->next_object_id = 1;

  own_arena.base = base;
  own_arena.size = tmp.total_size;
  own_arena.fd = fd;
  own_arena.writable = TRUE;
  _mp_arena = &own_arena;

  /* The root occupies slot 0. */
  _mp_arena_self_slot = _mp_arena_proc_claim ("MainProcess", MP_ROLE_MAIN, 0, 0);
  _mp_arena_proc_set_running (_mp_arena_self_slot, getpid (), getppid ());
  return TRUE;
}

/* Returns the arena of this process, creating it in the root. NULL when memfd or mmap fail;
 * libmp then works without events (stats and tracing need the arena, processes do not). */
MpArena *
_mp_arena_ensure (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      if (_mp_arena == NULL && !create_root_arena ())
        g_warning ("libmp: cannot create the shared arena (%s); events are disabled",
                   g_strerror (errno));
      g_once_init_leave (&once, 1);
    }
  return _mp_arena;
}

gboolean
_mp_arena_validate (const guint8 *base, gsize size, GError **error)
{
  const MpArenaHeader *h = (const MpArenaHeader *) base;
  guint64 procs_end, objects_end, rings_end;

  if (size < sizeof *h || memcmp (h->magic, MP_ARENA_MAGIC, 8) != 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "Not a libmp arena (bad magic)");
      return FALSE;
    }
  if (h->version != MP_ARENA_VERSION)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Arena layout version %u is not supported (this libmp reads %u)",
                   h->version, MP_ARENA_VERSION);
      return FALSE;
    }
  if (h->header_size != sizeof *h || h->proc_size != sizeof (MpArenaProc) ||
      h->object_size != sizeof (MpArenaObject) || h->total_size > size ||
      h->ring_capacity == 0 || (h->ring_capacity & (h->ring_capacity - 1)) != 0 ||
      h->ring_capacity > (1u << 20) ||
      h->ring_size != sizeof (MpArenaRingHeader) + (guint64) h->ring_capacity * sizeof (MpArenaEventRecord) ||
      h->procs_capacity > 65536 || h->objects_capacity > 1u << 20)
    goto corrupt;

  /* Each offset within the file first, so the sums below cannot wrap around (the file, and so
   * total_size, is far below 2^63; capacities and record sizes are capped above). */
  if (h->procs_offset > h->total_size || h->objects_offset > h->total_size ||
      h->rings_offset > h->total_size)
    goto corrupt;
  procs_end = h->procs_offset + (guint64) h->procs_capacity * h->proc_size;
  objects_end = h->objects_offset + (guint64) h->objects_capacity * h->object_size;
  rings_end = h->rings_offset + (guint64) h->procs_capacity * h->ring_size;
  if (h->procs_offset < sizeof *h || procs_end > h->total_size ||
      h->objects_offset < procs_end || objects_end > h->total_size ||
      h->rings_offset < objects_end || rings_end > h->total_size ||
      (h->procs_offset | h->objects_offset | h->rings_offset) % 8 != 0)
    goto corrupt;

  return TRUE;

corrupt:
  g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
               "The arena header is inconsistent (corrupt or hostile mapping)");
  return FALSE;
}

MpArena *
_mp_arena_map (int fd, gboolean writable, GError **error)
{
  struct stat st;
  MpArena *arena;
  void *base;

  if (fstat (fd, &st) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot stat the arena: %s", g_strerror (errsv));
      return NULL;
    }
  if (st.st_size < (off_t) sizeof (MpArenaHeader))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "Not a libmp arena (too small)");
      return NULL;
    }
  base = mmap (NULL, (size_t) st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
               MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot map the arena: %s", g_strerror (errsv));
      return NULL;
    }
  if (!_mp_arena_validate (base, (gsize) st.st_size, error))
    {
      munmap (base, (size_t) st.st_size);
      return NULL;
    }
  arena = g_new0 (MpArena, 1);
  arena->base = base;
  arena->size = (gsize) st.st_size;
  arena->fd = fd;
  arena->writable = writable;
  return arena;
}

void
_mp_arena_unmap (MpArena *arena)
{
  if (arena == NULL || arena == &own_arena)
    return;
  munmap (arena->base, arena->size);
  if (arena->fd >= 0)
    close (arena->fd);
  g_free (arena);
}

/* A spawn or forkserver child takes over the arena its parent sent, with the slot the parent
 * claimed for it. Takes ownership of @fd. */
gboolean
_mp_arena_adopt_fd (int fd, int slot, GError **error)
{
  if (_mp_arena == NULL)
    {
      MpArena *mapped = _mp_arena_map (fd, TRUE, error);

      if (mapped == NULL)
        return FALSE;
      own_arena = *mapped;
      g_free (mapped);
      _mp_arena = &own_arena;
      (void) _mp_arena_ensure ();  /* completes the once: this process must not create one */
    }
  else
    {
      /* A forkserver child inherited the server's mapping of the same arena; only the
       * descriptor is new (the server's was closed with the others). */
      own_arena.fd = fd;
    }
  if (slot >= 0 && (guint32) slot < _mp_arena_header (_mp_arena)->procs_capacity)
    _mp_arena_self_slot = slot;
  return TRUE;
}

void
_mp_arena_forget_fd (void)
{
  own_arena.fd = -1;
}

MpArenaProc *
_mp_arena_proc (const MpArena *arena, int slot)
{
  const MpArenaHeader *h = _mp_arena_header (arena);

  if (slot < 0 || (guint32) slot >= h->procs_capacity)
    return NULL;
  return (MpArenaProc *) (arena->base + h->procs_offset + (guint64) slot * h->proc_size);
}

MpArenaObject *
_mp_arena_object (const MpArena *arena, int index)
{
  const MpArenaHeader *h = _mp_arena_header (arena);

  if (index < 0 || (guint32) index >= h->objects_capacity)
    return NULL;
  return (MpArenaObject *) (arena->base + h->objects_offset + (guint64) index * h->object_size);
}

MpArenaRingHeader *
_mp_arena_ring (const MpArena *arena, int slot)
{
  const MpArenaHeader *h = _mp_arena_header (arena);

  if (slot < 0 || (guint32) slot >= h->procs_capacity)
    return NULL;
  return (MpArenaRingHeader *) (arena->base + h->rings_offset + (guint64) slot * h->ring_size);
}

static gboolean
try_claim (MpArenaProc *p, guint32 from)
{
  guint32 expected = from;

  return __atomic_compare_exchange_n (&p->state, &expected, MP_PROC_RESERVED, FALSE,
                                      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

int
_mp_arena_proc_claim (const char *name, MpProcRole role, MpStartMethodId method, guint32 flags)
{
  MpArena *arena = _mp_arena;
  MpArenaHeader *h;
  int found = -1;

  if (arena == NULL)
    return -1;
  h = _mp_arena_header (arena);

  for (guint32 i = 0; i < h->procs_capacity && found < 0; i++)
    if (try_claim (_mp_arena_proc (arena, (int) i), MP_PROC_FREE))
      found = (int) i;

  /* Table full: reuse the slot of the process that exited first. */
  while (found < 0)
    {
      guint64 oldest = G_MAXUINT64;
      int candidate = -1;

      for (guint32 i = 0; i < h->procs_capacity; i++)
        {
          MpArenaProc *p = _mp_arena_proc (arena, (int) i);
          if (__atomic_load_n (&p->state, __ATOMIC_ACQUIRE) == MP_PROC_EXITED &&
              p->exit_ns < oldest)
            {
              oldest = p->exit_ns;
              candidate = (int) i;
            }
        }
      if (candidate < 0)
        return -1;
      if (try_claim (_mp_arena_proc (arena, candidate), MP_PROC_EXITED))
        found = candidate;
    }

  {
    MpArenaProc *p = _mp_arena_proc (arena, found);
    guint32 hw = __atomic_load_n (&h->procs_high_water, __ATOMIC_RELAXED);

    p->pid = 0;
    p->ppid = getpid ();
    p->exit_code = 0;
    p->role = role;
    p->start_method = method;
    p->flags = flags;
    p->create_ns = _mp_monotonic_ns ();
    p->start_ns = 0;
    p->exit_ns = 0;
    __atomic_store_n (&p->blocked_on, 0, __ATOMIC_RELAXED);
    g_strlcpy (p->name, name ? name : "", sizeof p->name);
    __atomic_add_fetch (&p->generation, 1, __ATOMIC_RELEASE);
    while ((guint32) found + 1 > hw &&
           !__atomic_compare_exchange_n (&h->procs_high_water, &hw, (guint32) found + 1, TRUE,
                                         __ATOMIC_RELEASE, __ATOMIC_RELAXED))
      ;
  }
  return found;
}

void
_mp_arena_proc_set_running (int slot, pid_t pid, pid_t ppid)
{
  MpArenaProc *p;

  if (_mp_arena == NULL || (p = _mp_arena_proc (_mp_arena, slot)) == NULL)
    return;
  p->pid = pid;
  p->ppid = ppid;
  p->start_ns = _mp_monotonic_ns ();
  /* Pairs with the load-acquire of readers: pid and times are visible once RUNNING is. */
  __atomic_store_n (&p->state, MP_PROC_RUNNING, __ATOMIC_RELEASE);
}

void
_mp_arena_proc_set_exited (int slot, MpProcState state, int exit_code)
{
  MpArenaProc *p;

  if (_mp_arena == NULL || (p = _mp_arena_proc (_mp_arena, slot)) == NULL)
    return;
  p->exit_code = exit_code;
  p->exit_ns = _mp_monotonic_ns ();
  __atomic_store_n (&p->state, state, __ATOMIC_RELEASE);
}

/* A start that failed before the child existed gives its slot back. */
void
_mp_arena_proc_abandon (int slot)
{
  MpArenaProc *p;

  if (_mp_arena == NULL || (p = _mp_arena_proc (_mp_arena, slot)) == NULL)
    return;
  __atomic_store_n (&p->state, MP_PROC_FREE, __ATOMIC_RELEASE);
}

/* Lock and wait code calls this with the object's id before blocking and with 0 after, so a
 * monitor sees who waits on what even while the whole tree is deadlocked. A relaxed store:
 * monitors sample it and accept a stale value for one sampling interval. */
void
_mp_arena_proc_set_blocked_on (guint64 object_id)
{
  MpArenaProc *p;

  if (_mp_arena == NULL || !_mp_arena->writable ||
      (p = _mp_arena_proc (_mp_arena, _mp_arena_self_slot)) == NULL)
    return;
  __atomic_store_n (&p->blocked_on, object_id, __ATOMIC_RELAXED);
}

MpArenaObject *
_mp_arena_object_new (guint32 kind, const char *label, guint64 *out_id)
{
  MpArena *arena = _mp_arena_ensure ();
  MpArenaHeader *h;

  if (arena == NULL)
    return NULL;
  h = _mp_arena_header (arena);

  /* Free slots first; then dead ones (the monitor has had its chance to see them). */
  for (guint32 pass = 0; pass < 2; pass++)
    for (guint32 i = 0; i < h->objects_capacity; i++)
      {
        MpArenaObject *o = _mp_arena_object (arena, (int) i);
        guint32 expected = pass == 0 ? 0 : 2;

        if (__atomic_compare_exchange_n (&o->state, &expected, 3 /* being set up */, FALSE,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
          {
            guint32 hw = __atomic_load_n (&h->objects_high_water, __ATOMIC_RELAXED);

            o->kind = kind;
            o->id = __atomic_fetch_add (&h->next_object_id, 1, __ATOMIC_RELAXED);
            o->creator_pid = getpid ();
            o->flags = 0;
            o->create_ns = _mp_monotonic_ns ();
            memset (o->stats, 0, sizeof o->stats);
            g_strlcpy (o->label, label ? label : "", sizeof o->label);
            if (out_id)
              *out_id = o->id;
            while (i + 1 > hw &&
                   !__atomic_compare_exchange_n (&h->objects_high_water, &hw, i + 1, TRUE,
                                                 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
              ;
            /* Pairs with the monitor's load-acquire of state. */
            __atomic_store_n (&o->state, 1, __ATOMIC_RELEASE);
            return o;
          }
      }
  return NULL;
}

void
_mp_arena_object_retire (MpArenaObject *object)
{
  if (object != NULL)
    __atomic_store_n (&object->state, 2, __ATOMIC_RELEASE);
}
