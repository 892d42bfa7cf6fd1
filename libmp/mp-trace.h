/* mp-trace.h: trace levels and the events every libmp object emits
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib.h>

#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpTraceLevel:
 * @MP_TRACE_OFF: no events (stats blocks are still kept)
 * @MP_TRACE_LIFECYCLE: process and object lifecycle only
 * @MP_TRACE_NORMAL: lifecycle, contention and task events (the default)
 * @MP_TRACE_VERBOSE: every operation (each put, get, acquire…)
 *
 * How much a process writes into its event ring. The initial level comes from the
 * `LIBMP_TRACE` environment variable (`off`, `lifecycle`, `normal`, `verbose`) of the root
 * process; children inherit their parent's level at start.
 */
typedef enum
{
  MP_TRACE_OFF = 0,
  MP_TRACE_LIFECYCLE = 1,
  MP_TRACE_NORMAL = 2,
  MP_TRACE_VERBOSE = 3,
} MpTraceLevel;

/**
 * MpEventType:
 * @MP_EVENT_NONE: never emitted
 * @MP_EVENT_PROCESS_CREATED: a process was started; emitted by its parent.
 *   object = the child's process slot, a = child pid, b = start method (#MpStartMethodId)
 * @MP_EVENT_PROCESS_STARTED: the child runs its target; emitted by the child.
 *   object = own slot, a = parent pid, b = 0
 * @MP_EVENT_PROCESS_EXITED: a child was reaped; emitted by the reaper.
 *   object = the child's slot, a = child pid, b = exit code (negative: killed by signal −b)
 * @MP_EVENT_PROCESS_EXITING: the child returned from its target; emitted by the child.
 *   object = own slot, a = the exit code it is about to use
 * @MP_EVENT_TASK_SUBMITTED: object = pool, a = task id, b = how many tasks were submitted
 *   together: their ids are a, a + 1, … (a map's chunks come in batches; 0 means 1)
 * @MP_EVENT_TASK_STARTED: object = pool, a = task id, b = worker pid
 * @MP_EVENT_TASK_FINISHED: object = pool, a = task id, b = duration in ns
 * @MP_EVENT_TASK_FAILED: object = pool, a = task id, b = error code
 * @MP_EVENT_QUEUE_PUT: object = queue, a = depth after, b = bytes
 * @MP_EVENT_QUEUE_GET: object = queue, a = depth after, b = bytes
 * @MP_EVENT_LOCK_CONTENDED: object = lock, a = holder pid, b = wait in ns
 * @MP_EVENT_LOCK_ACQUIRED: object = lock, a = wait in ns
 * @MP_EVENT_LOCK_RELEASED: object = lock
 * @MP_EVENT_LOCK_OWNER_DIED: object = lock, a = dead holder pid
 * @MP_EVENT_BARRIER_WAIT: object = barrier, a = wait in ns, b = index
 * @MP_EVENT_CONDITION_WAIT: object = condition, a = wait in ns, b = notified
 * @MP_EVENT_SHM_CREATED: object = segment, a = size
 * @MP_EVENT_SHM_ATTACHED: object = segment, a = size
 * @MP_EVENT_SHM_UNLINKED: object = segment
 * @MP_EVENT_WORKER_REPLACED: object = pool, a = old pid, b = new pid
 * @MP_EVENT_CONNECTION_SEND: a message was sent (verbose): object = connection, a = payload
 *   bytes, b = descriptors
 * @MP_EVENT_CONNECTION_RECV: a message was received (verbose): object = connection, a = payload
 *   bytes, b = descriptors
 * @MP_EVENT_CONNECTION_ACCEPTED: object = listener, a = peer pid (0 unless a Unix socket),
 *   b = the new connection's object id
 * @MP_EVENT_AUTH_FAILED: an authkey handshake failed: object = connection, a = 0 when the peer's
 *   answer was wrong, 1 when ours was rejected
 * @MP_EVENT_MARK: a user mark: object = user value, a, b = user values
 *
 * The event types of the arena's event rings. The two values of a record
 * mean what each type documents.
 */
typedef enum
{
  MP_EVENT_NONE = 0,
  MP_EVENT_PROCESS_CREATED = 1,
  MP_EVENT_PROCESS_STARTED = 2,
  MP_EVENT_PROCESS_EXITED = 3,
  MP_EVENT_PROCESS_EXITING = 4,
  MP_EVENT_TASK_SUBMITTED = 10,
  MP_EVENT_TASK_STARTED = 11,
  MP_EVENT_TASK_FINISHED = 12,
  MP_EVENT_TASK_FAILED = 13,
  MP_EVENT_QUEUE_PUT = 20,
  MP_EVENT_QUEUE_GET = 21,
  MP_EVENT_LOCK_CONTENDED = 30,
  MP_EVENT_LOCK_ACQUIRED = 31,
  MP_EVENT_LOCK_RELEASED = 32,
  MP_EVENT_LOCK_OWNER_DIED = 33,
  MP_EVENT_BARRIER_WAIT = 40,
  MP_EVENT_CONDITION_WAIT = 41,
  MP_EVENT_SHM_CREATED = 50,
  MP_EVENT_SHM_ATTACHED = 51,
  MP_EVENT_SHM_UNLINKED = 52,
  MP_EVENT_WORKER_REPLACED = 60,
  MP_EVENT_CONNECTION_SEND = 70,
  MP_EVENT_CONNECTION_RECV = 71,
  MP_EVENT_CONNECTION_ACCEPTED = 72,
  MP_EVENT_AUTH_FAILED = 73,
  MP_EVENT_MARK = 100,
} MpEventType;

/**
 * MpObjectKind:
 *
 * What an entry of the arena's object directory describes. Every libmp object that other
 * processes can use registers itself there with its stats, so a monitor can list it.
 */
typedef enum
{
  MP_OBJECT_NONE = 0,
  MP_OBJECT_LOCK = 1,
  MP_OBJECT_RLOCK = 2,
  MP_OBJECT_SEMAPHORE = 3,
  MP_OBJECT_BOUNDED_SEMAPHORE = 4,
  MP_OBJECT_EVENT = 5,
  MP_OBJECT_CONDITION = 6,
  MP_OBJECT_BARRIER = 7,
  MP_OBJECT_QUEUE = 10,
  MP_OBJECT_JOINABLE_QUEUE = 11,
  MP_OBJECT_SIMPLE_QUEUE = 12,
  MP_OBJECT_CONNECTION = 13,
  MP_OBJECT_LISTENER = 14,
  MP_OBJECT_POOL = 20,
  MP_OBJECT_MANAGER = 21,
  MP_OBJECT_SHARED_MEMORY = 30,
  MP_OBJECT_SHAREABLE_LIST = 31,
  MP_OBJECT_VALUE = 32,
  MP_OBJECT_ARRAY = 33,
} MpObjectKind;

/**
 * MpTraceEvent:
 * @timestamp_ns: `CLOCK_MONOTONIC` time of the event in nanoseconds
 * @pid: the process that emitted it
 * @type: an #MpEventType
 * @object: the object it concerns (see #MpEventType)
 * @a: first value
 * @b: second value
 *
 * One record of an event ring, as a reader sees it.
 */
typedef struct
{
  guint64 timestamp_ns;
  gint32  pid;
  guint32 type;
  guint64 object;
  gint64  a;
  gint64  b;
} MpTraceEvent;

MP_AVAILABLE_IN_1_0
void         mp_trace_set_level       (MpTraceLevel level);
MP_AVAILABLE_IN_1_0
MpTraceLevel mp_trace_get_level       (void);
MP_AVAILABLE_IN_1_0
gboolean     mp_trace_level_from_string (const char   *str,
                                         MpTraceLevel *level);
MP_AVAILABLE_IN_1_0
const char  *mp_trace_event_type_to_string  (MpEventType type);
MP_AVAILABLE_IN_1_0
void         mp_trace_mark            (guint64 value,
                                       gint64  a,
                                       gint64  b);

/**
 * MpTraceReader:
 *
 * Reads the event rings of every process of the calling program's tree, each with its own
 * cursor. Any number of readers can read the same rings; writers never wait for them. When a
 * reader falls more than a ring's capacity behind, the oldest events are overwritten and
 * reported as lost.
 */
typedef struct _MpEventReader MpTraceReader;

MP_AVAILABLE_IN_1_0
MpTraceReader *mp_trace_reader_new  (gboolean        from_start);
MP_AVAILABLE_IN_1_0
guint          mp_trace_reader_read (MpTraceReader  *reader,
                                     MpTraceEvent        *events,
                                     guint           max_events,
                                     guint64        *lost);
MP_AVAILABLE_IN_1_0
void           mp_trace_reader_free (MpTraceReader  *reader);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpTraceReader, mp_trace_reader_free)

G_END_DECLS
