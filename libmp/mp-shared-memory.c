/* mp-shared-memory.c: named POSIX shared memory, Python's shared_memory.SharedMemory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Names follow Python's rules so that both sides find the same object: the name a user sees
 * has no leading '/', shm_open() gets "/" + name, generated names are "psm_" + 8 hex digits
 * (Python's _make_filename() with its 14-character limit for FreeBSD). glibc strips any
 * number of leading slashes, so "/x" and "x" are the same segment; we strip them too and
 * report "x". The descriptor is closed right after mmap(): the mapping keeps the object
 * alive, and nothing needs the descriptor again (handles travel by name, as Python's do).
 *
 * Object directory: each segment has one entry in the arena of the program tree, shared by
 * every process of the tree that maps it. The creator makes the entry; an attaching process
 * looks for a live, not-yet-unlinked entry of the same name and joins it (adds its pid to
 * the mappers) instead of adding a duplicate. Two processes attaching at the very same time
 * may both miss and create one each: the directory is for monitors, and a duplicate is
 * harmless. A killed process cannot remove its pid; the next process that closes or unlinks
 * prunes pids that no longer exist. An entry is retired when the segment is unlinked and
 * nobody maps it; a segment that nobody maps but nobody unlinked keeps its entry, which is
 * how a monitor shows a possible leak.
 *
 * Fork children inherit the mapping and a copy of this struct. The copy does not count as
 * a mapper of its own (the handle records the pid that opened it), so a fork child that
 * closes or drops it leaves the directory alone; unlink works from any process.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-resource-tracker-private.h"
#include "mp-shared-memory-private.h"
#include "mp-trace-private.h"

#define SHM_NAME_PREFIX "psm_"
#define RTYPE_SHARED_MEMORY "shared_memory"

struct _MpSharedMemory
{
  gatomicrefcount  ref_count;
  GMutex           mutex;       /* guards buf/size against close() racing get_buf() callers */
  char            *name;        /* without the leading '/' */
  guint8          *buf;         /* NULL once closed */
  gsize            size;
  gboolean         track;
  MpShmEntry       entry;
};

G_DEFINE_BOXED_TYPE (MpSharedMemory, mp_shared_memory, mp_shared_memory_ref, mp_shared_memory_unref)

/* ---- the object directory ------------------------------------------------------------------ */

static MpShmStats *
entry_stats (MpArenaObject *o)
{
  return MP_OBJECT_STATS (o, MpShmStats);
}

static void
stats_add_pid (MpShmStats *st, pid_t pid)
{
  for (guint i = 0; i < MP_SHM_STATS_ATTACHED; i++)
    {
      gint32 expected = 0;

      if (__atomic_compare_exchange_n (&st->attached_pid[i], &expected, (gint32) pid, FALSE,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        break;
    }
  /* Counts every mapper, also those beyond the listed ones. */
  __atomic_add_fetch (&st->n_attached, 1, __ATOMIC_RELAXED);
}

static void
stats_drop_slot (MpShmStats *st, guint i, gint32 pid)
{
  gint32 expected = pid;

  if (__atomic_compare_exchange_n (&st->attached_pid[i], &expected, 0, FALSE,
                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    {
      guint32 n = __atomic_load_n (&st->n_attached, __ATOMIC_RELAXED);
      while (n > 0 && !__atomic_compare_exchange_n (&st->n_attached, &n, n - 1, TRUE,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    }
}

static void
stats_remove_pid (MpShmStats *st, pid_t pid)
{
  for (guint i = 0; i < MP_SHM_STATS_ATTACHED; i++)
    if (__atomic_load_n (&st->attached_pid[i], __ATOMIC_RELAXED) == (gint32) pid)
      {
        stats_drop_slot (st, i, (gint32) pid);
        return;
      }
  /* Not listed (more mappers than slots): only the count knows about us. */
  {
    guint32 n = __atomic_load_n (&st->n_attached, __ATOMIC_RELAXED);
    while (n > 0 && !__atomic_compare_exchange_n (&st->n_attached, &n, n - 1, TRUE,
                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      ;
  }
}

/* Killed processes never remove themselves. */
static void
stats_prune_dead (MpShmStats *st)
{
  for (guint i = 0; i < MP_SHM_STATS_ATTACHED; i++)
    {
      gint32 pid = __atomic_load_n (&st->attached_pid[i], __ATOMIC_RELAXED);

      if (pid > 0 && kill (pid, 0) < 0 && errno == ESRCH)
        stats_drop_slot (st, i, pid);
    }
}

static MpArenaObject *
find_entry (const char *name, guint64 id)
{
  MpArena *arena = _mp_arena_ensure ();
  MpArenaHeader *h;
  guint32 hw;

  if (arena == NULL)
    return NULL;
  h = _mp_arena_header (arena);
  hw = MIN (__atomic_load_n (&h->objects_high_water, __ATOMIC_ACQUIRE), h->objects_capacity);
  for (guint32 i = 0; i < hw; i++)
    {
      MpArenaObject *o = _mp_arena_object (arena, (int) i);
      MpShmStats *st;

      /* Pairs with the store-release of state in _mp_arena_object_new(). */
      if (__atomic_load_n (&o->state, __ATOMIC_ACQUIRE) != 1)
        continue;
      if (id != 0)
        {
          if (o->id == id)
            return o;
          continue;
        }
      if (o->kind != MP_OBJECT_SHARED_MEMORY && o->kind != MP_OBJECT_SHAREABLE_LIST)
        continue;
      st = entry_stats (o);
      if (__atomic_load_n (&st->flags, __ATOMIC_RELAXED) & MP_SHM_FLAG_UNLINKED)
        continue;
      if (strncmp (st->name, name, sizeof st->name) == 0)
        return o;
    }
  return NULL;
}

void
_mp_shm_entry_open (MpShmEntry   *entry,
                    MpObjectKind  kind,
                    const char   *name,
                    const char   *label,
                    guint64       size,
                    guint32       flags,
                    gboolean      reuse_named,
                    guint64       join_id)
{
  MpArenaObject *o = NULL;
  MpShmStats *st;
  guint64 id = 0;

  entry->object = NULL;
  entry->id = 0;
  entry->pid = getpid ();

  /* Names longer than the stats field could falsely match a truncated one: no reuse. */
  if (join_id != 0)
    {
      o = find_entry (NULL, join_id);
      if (o != NULL && o->kind != kind)
        o = NULL;
    }
  else if (reuse_named && name != NULL && strlen (name) < sizeof st->name)
    o = find_entry (name, 0);

  if (o != NULL)
    id = o->id;
  else
    {
      o = _mp_arena_object_new (kind, label, &id);
      if (o == NULL)
        return;
      st = entry_stats (o);
      __atomic_store_n (&st->size, size, __ATOMIC_RELAXED);
      g_strlcpy (st->name, name ? name : "", sizeof st->name);
      __atomic_store_n (&st->flags, flags, __ATOMIC_RELAXED);
    }

  st = entry_stats (o);
  if (flags & MP_SHM_FLAG_TRACKED)
    __atomic_or_fetch (&st->flags, MP_SHM_FLAG_TRACKED, __ATOMIC_RELAXED);
  __atomic_add_fetch (&o->refs, 1, __ATOMIC_RELAXED);
  stats_add_pid (st, entry->pid);
  entry->object = o;
  entry->id = id;
}

static void
maybe_retire (MpArenaObject *o, gboolean named)
{
  MpShmStats *st = entry_stats (o);

  stats_prune_dead (st);
  if (__atomic_load_n (&st->n_attached, __ATOMIC_RELAXED) != 0)
    return;
  if (named && !(__atomic_load_n (&st->flags, __ATOMIC_RELAXED) & MP_SHM_FLAG_UNLINKED))
    return;
  _mp_arena_object_retire (o);
}

void
_mp_shm_entry_close (MpShmEntry *entry, gboolean named)
{
  MpArenaObject *o = entry->object;
  guint64 refs;

  if (o == NULL || entry->pid != getpid ())
    return;
  entry->object = NULL;
  stats_remove_pid (entry_stats (o), entry->pid);
  refs = __atomic_load_n (&o->refs, __ATOMIC_RELAXED);
  while (refs > 0 && !__atomic_compare_exchange_n (&o->refs, &refs, refs - 1, TRUE,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
  maybe_retire (o, named);
}

void
_mp_shm_entry_mark_unlinked (MpShmEntry *entry)
{
  MpArenaObject *o = entry->object;

  if (o == NULL)
    return;
  __atomic_or_fetch (&entry_stats (o)->flags, MP_SHM_FLAG_UNLINKED, __ATOMIC_RELAXED);
  maybe_retire (o, TRUE);
}

/* ---- names --------------------------------------------------------------------------------- */

static gboolean
validate_name (const char *name, GError **error)
{
  gsize len = strlen (name);

  if (len == 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "a shared memory name must not be empty");
      return FALSE;
    }
  if (len > NAME_MAX)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "the shared memory name '%s' is longer than %d bytes", name, NAME_MAX);
      return FALSE;
    }
  if (strchr (name, '/') != NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "the shared memory name '%s' contains '/' after its start", name);
      return FALSE;
    }
  return TRUE;
}

static char *
make_filename (void)
{
  guint8 bytes[4];

  if (getrandom (bytes, sizeof bytes, 0) != sizeof bytes)
    {
      guint32 r = g_random_int ();
      memcpy (bytes, &r, sizeof bytes);
    }
  return g_strdup_printf (SHM_NAME_PREFIX "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                          bytes[3]);
}

static void
set_errno_error (GError **error, int errsv, const char *what, const char *name)
{
  int code;

  switch (errsv)
    {
    case EEXIST: code = MP_ERROR_EXISTS; break;
    case ENOENT: code = MP_ERROR_NOT_FOUND; break;
    case EINVAL:
    case ENAMETOOLONG: code = MP_ERROR_INVALID_ARGUMENT; break;
    default: code = MP_ERROR_IO; break;
    }
  g_set_error (error, MP_ERROR, code, "%s: [Errno %d] %s: '/%s'", what, errsv,
               g_strerror (errsv), name);
}

/* ---- construction -------------------------------------------------------------------------- */

MpSharedMemory *
_mp_shared_memory_new_internal (const char    *name,
                                gboolean       create,
                                gsize          size,
                                gboolean       track,
                                MpObjectKind   kind,
                                GError       **error)
{
  g_autofree char *own_name = NULL;
  g_autofree char *path = NULL;
  MpSharedMemory *self;
  struct stat st;
  void *buf;
  int fd = -1, errsv;

  if (size > G_MAXSSIZE)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "'size' must be a positive integer");
      return NULL;
    }
  if (create && size == 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "'size' must be a positive number different from zero");
      return NULL;
    }
  if (name == NULL && !create)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "'name' can only be NULL if create=TRUE");
      return NULL;
    }

  if (name != NULL)
    {
      while (*name == '/')
        name++;
      if (!validate_name (name, error))
        return NULL;
      own_name = g_strdup (name);
      path = g_strconcat ("/", own_name, NULL);
      /* glibc's shm_open() adds O_CLOEXEC itself. */
      fd = shm_open (path, create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
      if (fd < 0)
        {
          set_errno_error (error, errno, create ? "cannot create shared memory"
                                                : "cannot open shared memory", own_name);
          return NULL;
        }
    }
  else
    {
      /* A generated name that exists already is someone else's: draw again. */
      for (int attempt = 0; fd < 0; attempt++)
        {
          g_free (own_name);
          g_free (path);
          own_name = make_filename ();
          path = g_strconcat ("/", own_name, NULL);
          fd = shm_open (path, O_RDWR | O_CREAT | O_EXCL, 0600);
          if (fd < 0 && (errno != EEXIST || attempt > 1000))
            {
              set_errno_error (error, errno, "cannot create shared memory", own_name);
              return NULL;
            }
        }
    }

  if (create && ftruncate (fd, (off_t) size) < 0)
    {
      errsv = errno;
      goto fail;
    }
  if (fstat (fd, &st) < 0)
    {
      errsv = errno;
      goto fail;
    }
  if (st.st_size <= 0)
    {
      close (fd);
      if (create)
        shm_unlink (path);
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "cannot map the empty shared memory segment '%s'", own_name);
      return NULL;
    }
  size = (gsize) st.st_size;
  buf = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (buf == MAP_FAILED)
    {
      errsv = errno;
      goto fail;
    }
  close (fd);

  self = g_new0 (MpSharedMemory, 1);
  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->mutex);
  self->name = g_steal_pointer (&own_name);
  self->buf = buf;
  self->size = size;
  self->track = track;

  /* Only the creator registers: a process that merely attached must never cause the
   * tracker to remove a segment others still use. */
  if (create && track)
    _mp_resource_tracker_register (self->name, RTYPE_SHARED_MEMORY);

  _mp_shm_entry_open (&self->entry, kind, self->name, self->name, size,
                      create && track ? MP_SHM_FLAG_TRACKED : 0, !create, 0);
  _mp_trace (MP_TRACE_LIFECYCLE, create ? MP_EVENT_SHM_CREATED : MP_EVENT_SHM_ATTACHED,
             self->entry.id, (gint64) size, 0);
  return self;

fail:
  close (fd);
  /* Python unlinks here even after a failed attach; only what we created is ours to remove. */
  if (create)
    shm_unlink (path);
  set_errno_error (error, errsv, "cannot map shared memory", own_name);
  return NULL;
}

/**
 * mp_shared_memory_new:
 * @name: (nullable): the segment's name (without or with a leading '/'); %NULL to generate
 *   one (`psm_` + 8 hex digits), which requires @create
 * @create: %TRUE to create a new segment (it must not exist), %FALSE to attach to one
 * @size: the size in bytes when creating (must not be 0); ignored when attaching, where the
 *   real size is read from the segment
 * @error: return location for an error
 *
 * Python's `SharedMemory(name, create, size)`, with tracking on. See
 * mp_shared_memory_new_full().
 *
 * Returns: (transfer full): the segment, mapped, or %NULL with @error set
 */
MpSharedMemory *
mp_shared_memory_new (const char *name, gboolean create, gsize size, GError **error)
{
  return mp_shared_memory_new_full (name, create, size, TRUE, error);
}

/**
 * mp_shared_memory_new_full:
 * @name: (nullable): the segment's name; %NULL to generate one (requires @create)
 * @create: %TRUE to create a new segment, %FALSE to attach to an existing one
 * @size: the size in bytes when creating; ignored when attaching
 * @track: when creating, register the segment with the resource tracker so it is unlinked
 *   if the program dies without unlinking it (Python's `track=True`, the default); %FALSE
 *   leaves the segment's lifetime entirely to the program. When attaching, @track only
 *   decides whether mp_shared_memory_unlink() tells the tracker (attaching never registers)
 * @error: return location for an error
 *
 * Creates or attaches to a segment and maps it read-write. Errors: %MP_ERROR_INVALID_ARGUMENT
 * when @create is set with @size 0, when @name is %NULL without @create, when @size exceeds
 * %G_MAXSSIZE, or when @name is empty, too long or contains '/' after its leading slashes
 * (C strings cannot contain NUL, Python's other case); %MP_ERROR_EXISTS when creating a name
 * that exists; %MP_ERROR_NOT_FOUND when attaching to a name that does not; %MP_ERROR_IO
 * for other failures (permissions, no memory, no `/dev/shm`).
 *
 * Returns: (transfer full): the segment, or %NULL with @error set
 */
MpSharedMemory *
mp_shared_memory_new_full (const char  *name,
                           gboolean     create,
                           gsize        size,
                           gboolean     track,
                           GError     **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _mp_shared_memory_new_internal (name, create, size, track, MP_OBJECT_SHARED_MEMORY,
                                         error);
}

/**
 * mp_shared_memory_ref:
 *
 * Returns: (transfer full): @self
 */
MpSharedMemory *
mp_shared_memory_ref (MpSharedMemory *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * mp_shared_memory_unref:
 *
 * Drops a reference; the last one closes this process's mapping. It never unlinks.
 */
void
mp_shared_memory_unref (MpSharedMemory *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  mp_shared_memory_close (self);
  g_mutex_clear (&self->mutex);
  g_free (self->name);
  g_free (self);
}

/**
 * mp_shared_memory_get_name:
 *
 * Returns: the segment's name, without a leading '/' (Python's `name`)
 */
const char *
mp_shared_memory_get_name (MpSharedMemory *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->name;
}

/**
 * mp_shared_memory_get_size:
 *
 * Returns: the segment's size in bytes (the real size, also when attached with another one);
 *   it stays readable after close
 */
gsize
mp_shared_memory_get_size (MpSharedMemory *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->size;
}

/**
 * mp_shared_memory_get_buf:
 * @self: a segment
 * @size: (out) (optional): the length of the buffer
 *
 * The mapped bytes (Python's `buf`). The pointer stays valid until mp_shared_memory_close()
 * or the last unref; other processes see writes at once (synchronize with a lock or a
 * message for ordering).
 *
 * Returns: (transfer none) (nullable): the mapping, %NULL (and a size of 0) once closed
 */
gpointer
mp_shared_memory_get_buf (MpSharedMemory *self, gsize *size)
{
  gpointer buf;

  g_return_val_if_fail (self != NULL, NULL);

  g_mutex_lock (&self->mutex);
  buf = self->buf;
  if (size != NULL)
    *size = buf != NULL ? self->size : 0;
  g_mutex_unlock (&self->mutex);
  return buf;
}

/**
 * mp_shared_memory_get_track:
 *
 * Returns: whether the segment was opened with tracking on
 */
gboolean
mp_shared_memory_get_track (MpSharedMemory *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->track;
}

/**
 * mp_shared_memory_close:
 *
 * Ends this process's mapping of the segment (Python's `close()`); the segment itself stays
 * until it is unlinked. Idempotent. Pointers from mp_shared_memory_get_buf() become invalid.
 */
void
mp_shared_memory_close (MpSharedMemory *self)
{
  g_return_if_fail (self != NULL);

  g_mutex_lock (&self->mutex);
  if (self->buf != NULL)
    {
      munmap (self->buf, self->size);
      self->buf = NULL;
      _mp_shm_entry_close (&self->entry, TRUE);
    }
  g_mutex_unlock (&self->mutex);
}

/**
 * mp_shared_memory_unlink:
 * @self: a segment
 * @error: return location for an error
 *
 * Removes the segment's name (Python's `unlink()`): nobody can attach any more, and the
 * memory is freed when the last mapping ends. Allowed before or after close, from any
 * process. Call it once across all processes; a second call fails with %MP_ERROR_NOT_FOUND.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_shared_memory_unlink (MpSharedMemory *self, GError **error)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  path = g_strconcat ("/", self->name, NULL);
  if (shm_unlink (path) < 0)
    {
      set_errno_error (error, errno, "cannot unlink shared memory", self->name);
      return FALSE;
    }
  if (self->track)
    _mp_resource_tracker_unregister (self->name, RTYPE_SHARED_MEMORY);

  g_mutex_lock (&self->mutex);
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_SHM_UNLINKED, self->entry.id, (gint64) self->size, 0);
  if (self->entry.object != NULL)
    _mp_shm_entry_mark_unlinked (&self->entry);
  else if (self->entry.pid == getpid ())
    {
      /* Closed already: the entry may still be live with our name on it. */
      MpShmEntry probe = { find_entry (self->name, 0), 0, getpid () };
      _mp_shm_entry_mark_unlinked (&probe);
    }
  g_mutex_unlock (&self->mutex);
  return TRUE;
}

/**
 * mp_shared_memory_to_string:
 *
 * Returns: (transfer full): Python's repr, `SharedMemory('psm_1a2b3c4d', size=4096)`
 */
char *
mp_shared_memory_to_string (MpSharedMemory *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_strdup_printf ("SharedMemory('%s', size=%" G_GSIZE_FORMAT ")", self->name, self->size);
}

/**
 * mp_shared_memory_serialize:
 * @self: a segment
 * @fd_list: (nullable): unused: the handle is the name, as Python pickles it
 * @error: return location for an error
 *
 * A handle another process can attach with: `(sb)`, the name and the track flag.
 *
 * Returns: (transfer floating): the handle
 */
GVariant *
mp_shared_memory_serialize (MpSharedMemory *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_variant_new ("(sb)", self->name, self->track);
}

/**
 * mp_shared_memory_deserialize:
 * @serialized: a handle from mp_shared_memory_serialize()
 * @fd_list: (nullable): unused
 * @error: return location for an error
 *
 * Attaches to the segment the handle names. Fails with %MP_ERROR_NOT_FOUND once it has
 * been unlinked, with %MP_ERROR_SERIALIZATION for a malformed handle.
 *
 * Returns: (transfer full): the segment, mapped
 */
MpSharedMemory *
mp_shared_memory_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  const char *name;
  gboolean track;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(sb)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A shared memory handle must be of type (sb), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(&sb)", &name, &track);
  return mp_shared_memory_new_full (name, FALSE, 0, track, error);
}
