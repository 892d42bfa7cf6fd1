/* mp-trace.c: the per-process event ring, writer and readers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Each process slot owns one ring. Any thread of the owning process may write: a writer
 * reserves a position with fetch_add on `head`, then publishes the record seqlock-style:
 *
 *   writer                                 reader
 *   seq = 0          (relaxed)             s1 = seq                (acquire)
 *   fence(release)                         copy fields             (relaxed)
 *   fields = …       (relaxed)             fence(acquire)
 *   seq = pos + 1    (release)  ───────▶   s2 = seq                (relaxed); s1 == s2 == pos+1
 *
 * A writer never waits: when the ring wraps it overwrites the oldest record, and a reader that
 * fell behind moves its cursor to the oldest record still present and counts the difference as
 * lost. A reader that finds a record not yet published stops there and retries on its next
 * read; if the record stays unpublished while later ones are (its writer died mid-write), it
 * is skipped after a few reads and counted as lost.
 *
 * The disabled path is `_mp_trace_enabled()`: one relaxed load of a process global and a branch.
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "mp-trace-private.h"

int _mp_trace_level = MP_TRACE_NORMAL;
static int self_pid_cache;

gboolean
mp_trace_level_from_string (const char *str, MpTraceLevel *level)
{
  static const char *names[] = { "off", "lifecycle", "normal", "verbose" };

  g_return_val_if_fail (level != NULL, FALSE);

  if (str == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (str, names[i]) == 0 || (str[0] == '0' + (char) i && str[1] == 0))
      {
        *level = (MpTraceLevel) i;
        return TRUE;
      }
  return FALSE;
}

void
_mp_trace_init_from_env (void)
{
  MpTraceLevel level;
  const char *env = g_getenv ("LIBMP_TRACE");

  if (env == NULL)
    return;
  if (mp_trace_level_from_string (env, &level))
    mp_trace_set_level (level);
  else
    g_warning ("libmp: LIBMP_TRACE=%s is not one of off, lifecycle, normal, verbose", env);
}

/**
 * mp_trace_set_level:
 * @level: the new level
 *
 * Sets how many events this process writes to its ring. Processes started afterwards
 * inherit the level. Stats are kept at every level.
 */
void
mp_trace_set_level (MpTraceLevel level)
{
  g_return_if_fail (level >= MP_TRACE_OFF && level <= MP_TRACE_VERBOSE);

  __atomic_store_n (&_mp_trace_level, (int) level, __ATOMIC_RELAXED);
  if (_mp_arena != NULL && _mp_arena->writable && _mp_arena_self_slot == 0)
    __atomic_store_n (&_mp_arena_header (_mp_arena)->trace_level, (guint32) level,
                      __ATOMIC_RELAXED);
}

MpTraceLevel
mp_trace_get_level (void)
{
  return (MpTraceLevel) __atomic_load_n (&_mp_trace_level, __ATOMIC_RELAXED);
}

const char *
mp_trace_event_type_to_string (MpEventType type)
{
  switch (type)
    {
    case MP_EVENT_NONE: return "none";
    case MP_EVENT_PROCESS_CREATED: return "process-created";
    case MP_EVENT_PROCESS_STARTED: return "process-started";
    case MP_EVENT_PROCESS_EXITED: return "process-exited";
    case MP_EVENT_PROCESS_EXITING: return "process-exiting";
    case MP_EVENT_TASK_SUBMITTED: return "task-submitted";
    case MP_EVENT_TASK_STARTED: return "task-started";
    case MP_EVENT_TASK_FINISHED: return "task-finished";
    case MP_EVENT_TASK_FAILED: return "task-failed";
    case MP_EVENT_QUEUE_PUT: return "queue-put";
    case MP_EVENT_QUEUE_GET: return "queue-get";
    case MP_EVENT_LOCK_CONTENDED: return "lock-contended";
    case MP_EVENT_LOCK_ACQUIRED: return "lock-acquired";
    case MP_EVENT_LOCK_RELEASED: return "lock-released";
    case MP_EVENT_LOCK_OWNER_DIED: return "lock-owner-died";
    case MP_EVENT_BARRIER_WAIT: return "barrier-wait";
    case MP_EVENT_CONDITION_WAIT: return "condition-wait";
    case MP_EVENT_SHM_CREATED: return "shm-created";
    case MP_EVENT_SHM_ATTACHED: return "shm-attached";
    case MP_EVENT_SHM_UNLINKED: return "shm-unlinked";
    case MP_EVENT_WORKER_REPLACED: return "worker-replaced";
    case MP_EVENT_CONNECTION_SEND: return "connection-send";
    case MP_EVENT_CONNECTION_RECV: return "connection-recv";
    case MP_EVENT_CONNECTION_ACCEPTED: return "connection-accepted";
    case MP_EVENT_AUTH_FAILED: return "auth-failed";
    case MP_EVENT_MARK: return "mark";
    default: return "unknown";
    }
}

static inline MpArenaEventRecord *
ring_records (const MpArenaRingHeader *ring)
{
  return (MpArenaEventRecord *) (ring + 1);
}

/* Writes one record into @slot's ring; a timestamp of 0 reads the clock. */
static inline void
ring_write (int slot, guint64 timestamp_ns, MpEventType type, guint64 object, gint64 a, gint64 b)
{
  MpArenaRingHeader *ring;
  MpArenaEventRecord *rec;
  guint32 mask;
  guint64 pos;
  int pid;

  if (_mp_arena == NULL || !_mp_arena->writable || (ring = _mp_arena_ring (_mp_arena, slot)) == NULL)
    return;

  /* getpid() is a syscall on glibc ≥ 2.25; the cache is reset after fork by the bootstrap. */
  pid = __atomic_load_n (&self_pid_cache, __ATOMIC_RELAXED);
  if (G_UNLIKELY (pid == 0))
    {
      pid = getpid ();
      __atomic_store_n (&self_pid_cache, pid, __ATOMIC_RELAXED);
    }

  mask = _mp_arena_header (_mp_arena)->ring_capacity - 1;
  pos = __atomic_fetch_add (&ring->head, 1, __ATOMIC_RELAXED);
  rec = &ring_records (ring)[pos & mask];

  __atomic_store_n (&rec->seq, 0, __ATOMIC_RELAXED);
  __atomic_thread_fence (__ATOMIC_RELEASE);
  __atomic_store_n (&rec->timestamp_ns, timestamp_ns != 0 ? timestamp_ns : _mp_monotonic_ns (),
                    __ATOMIC_RELAXED);
  __atomic_store_n (&rec->pid, pid, __ATOMIC_RELAXED);
  __atomic_store_n (&rec->type, (guint32) type, __ATOMIC_RELAXED);
  __atomic_store_n (&rec->object, object, __ATOMIC_RELAXED);
  __atomic_store_n (&rec->a, a, __ATOMIC_RELAXED);
  __atomic_store_n (&rec->b, b, __ATOMIC_RELAXED);
  /* Pairs with the reader's load-acquire of seq. */
  __atomic_store_n (&rec->seq, pos + 1, __ATOMIC_RELEASE);
}

void
_mp_trace_emit_to_slot (int slot, MpEventType type, guint64 object, gint64 a, gint64 b)
{
  ring_write (slot, 0, type, object, a, b);
}

void
_mp_trace_emit (MpEventType type, guint64 object, gint64 a, gint64 b)
{
  ring_write (_mp_arena_self_slot, 0, type, object, a, b);
}

/* As _mp_trace_emit(), with a CLOCK_MONOTONIC timestamp the caller has already read (a pool
 * task's start or end), so that the event costs no second clock read. */
void
_mp_trace_emit_at (guint64 timestamp_ns, MpEventType type, guint64 object, gint64 a, gint64 b)
{
  ring_write (_mp_arena_self_slot, timestamp_ns, type, object, a, b);
}

void
_mp_trace_reset_pid_cache (void)
{
  __atomic_store_n (&self_pid_cache, 0, __ATOMIC_RELAXED);
}

/**
 * mp_trace_mark:
 * @value: a value of the program's choice (shown as the event's object)
 * @a: first value
 * @b: second value
 *
 * Writes an %MP_EVENT_MARK into this process's ring, at any level but %MP_TRACE_OFF.
 * Programs use marks to annotate a recording (phases, iterations…).
 */
void
mp_trace_mark (guint64 value, gint64 a, gint64 b)
{
  _mp_trace (MP_TRACE_LIFECYCLE, MP_EVENT_MARK, value, a, b);
}

void
_mp_ring_reader_init (MpRingReader *reader, const MpArena *arena, int slot, gboolean from_start)
{
  memset (reader, 0, sizeof *reader);
  reader->ring = _mp_arena_ring (arena, slot);
  reader->capacity = _mp_arena_header (arena)->ring_capacity;
  if (reader->ring != NULL && !from_start)
    reader->cursor = __atomic_load_n (&reader->ring->head, __ATOMIC_ACQUIRE);
}

guint
_mp_ring_reader_read (MpRingReader *reader, MpTraceEvent *events, guint max_events, guint64 *lost)
{
  const MpArenaEventRecord *records;
  guint64 head;
  guint n = 0;

  if (lost)
    *lost = 0;
  if (reader->ring == NULL)
    return 0;

  records = ring_records (reader->ring);
  head = __atomic_load_n (&reader->ring->head, __ATOMIC_ACQUIRE);

  if (head - reader->cursor > reader->capacity)
    {
      if (lost)
        *lost += head - reader->capacity - reader->cursor;
      reader->cursor = head - reader->capacity;
    }

  while (n < max_events && reader->cursor < head)
    {
      const MpArenaEventRecord *rec = &records[reader->cursor & (reader->capacity - 1)];
      guint64 want = reader->cursor + 1;
      guint64 s1 = __atomic_load_n (&rec->seq, __ATOMIC_ACQUIRE);
      MpTraceEvent ev;

      if (s1 != want)
        {
          if (s1 > want)
            {
              /* Overwritten by a writer that lapped us. */
              if (lost)
                *lost += 1;
              reader->cursor++;
              continue;
            }
          /* Not published yet. A writer killed between reserve and publish leaves it so
           * forever: skip it once later records exist and it has not moved for a while. */
          if (reader->cursor + 1 < head && reader->stalled_at == reader->cursor &&
              ++reader->stalled_reads > 3)
            {
              if (lost)
                *lost += 1;
              reader->cursor++;
              reader->stalled_reads = 0;
              continue;
            }
          if (reader->stalled_at != reader->cursor)
            {
              reader->stalled_at = reader->cursor;
              reader->stalled_reads = 1;
            }
          break;
        }

      ev.timestamp_ns = __atomic_load_n (&rec->timestamp_ns, __ATOMIC_RELAXED);
      ev.pid = __atomic_load_n (&rec->pid, __ATOMIC_RELAXED);
      ev.type = __atomic_load_n (&rec->type, __ATOMIC_RELAXED);
      ev.object = __atomic_load_n (&rec->object, __ATOMIC_RELAXED);
      ev.a = __atomic_load_n (&rec->a, __ATOMIC_RELAXED);
      ev.b = __atomic_load_n (&rec->b, __ATOMIC_RELAXED);
      __atomic_thread_fence (__ATOMIC_ACQUIRE);
      if (__atomic_load_n (&rec->seq, __ATOMIC_RELAXED) != s1)
        {
          if (lost)
            *lost += 1;
          reader->cursor++;
          continue;
        }
      events[n++] = ev;
      reader->cursor++;
    }
  return n;
}

struct _MpEventReader
{
  MpArena      *arena;
  gboolean      from_start;
  guint         n_readers;
  MpRingReader *readers;     /* one per process slot up to the high-water mark */
  guint         next;        /* the slot to start from, for fairness between rings */
};

/**
 * mp_trace_reader_new:
 * @from_start: read what the rings still hold, or only events emitted from now on
 *
 * Returns: (transfer full): a reader over the rings of this program tree
 */
MpTraceReader *
mp_trace_reader_new (gboolean from_start)
{
  MpTraceReader *reader = g_new0 (MpTraceReader, 1);

  reader->arena = _mp_arena_ensure ();
  reader->from_start = from_start;
  if (reader->arena != NULL)
    {
      guint cap = _mp_arena_header (reader->arena)->procs_capacity;
      reader->readers = g_new0 (MpRingReader, cap);
      for (guint i = 0; i < cap; i++)
        _mp_ring_reader_init (&reader->readers[i], reader->arena, (int) i, from_start);
      reader->n_readers = cap;
    }
  return reader;
}

/**
 * mp_trace_reader_read:
 * @reader: a reader
 * @events: (out caller-allocates) (array length=max_events): where to store events
 * @max_events: room in @events
 * @lost: (out) (optional): events overwritten before they could be read
 *
 * Copies the events emitted since the last read. Events of one process come in the order it
 * emitted them; events of different processes are not merged by time.
 *
 * Returns: the number of events stored
 */
guint
mp_trace_reader_read (MpTraceReader *reader, MpTraceEvent *events, guint max_events, guint64 *lost)
{
  guint n = 0;
  guint high;

  g_return_val_if_fail (reader != NULL, 0);
  if (lost)
    *lost = 0;
  if (reader->arena == NULL)
    return 0;

  high = MIN (__atomic_load_n (&_mp_arena_header (reader->arena)->procs_high_water,
                               __ATOMIC_ACQUIRE), reader->n_readers);
  for (guint k = 0; k < high && n < max_events; k++)
    {
      guint slot = (reader->next + k) % high;
      guint64 slot_lost = 0;

      n += _mp_ring_reader_read (&reader->readers[slot], events + n, max_events - n, &slot_lost);
      if (lost)
        *lost += slot_lost;
    }
  if (high > 0)
    reader->next = (reader->next + 1) % high;
  return n;
}

void
mp_trace_reader_free (MpTraceReader *reader)
{
  if (reader == NULL)
    return;
  g_free (reader->readers);
  g_free (reader);
}
