/* mp-pool-private.h: what the pool's files share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * An MpPool (the GObject the program holds) owns an MpPoolCore: the state every thread of the
 * pool shares, behind one mutex. Results (MpAsyncResult, the "jobs") and the backend's threads
 * hold references on the core, so a result outlives its pool object and a pool object can be
 * dropped while its thread winds down.
 *
 * A job is split into tasks (chunks). A task is built once, in the submitting thread: the
 * function, the callable's bound arguments and descriptors, and the chunk of items already
 * serialized as an array whose element is the call's argument tuple (see mp-pool-wire.c for
 * why that costs no copying for most arrays). Submitted tasks wait in core->pending; a
 * backend takes them from there (the process backend's thread hands them to workers, thread
 * workers take them themselves) and hands each back to _mp_pool_task_done_locked() exactly
 * once, with its results or its error. A task the backend gives back without running (a
 * worker died before starting it) goes to the front of pending again.
 *
 * Locking: core->mutex guards everything in the core and in jobs. User code (callbacks,
 * GAsyncReadyCallbacks, task functions in a thread pool) never runs with it held: GTask
 * returns are deferred to _mp_pool_core_unlock(), callbacks go through core->cb_queue.
 */

#pragma once

#include <string.h>
#include <sys/types.h>

#include "mp-object-private.h"
#include "mp-pool.h"
#include "mp-thread-pool.h"

G_BEGIN_DECLS

typedef enum
{
  MP_POOL_RUN,
  MP_POOL_CLOSE,
  MP_POOL_TERMINATE,
} MpPoolState;

typedef enum
{
  MP_JOB_APPLY,
  MP_JOB_MAP,
  MP_JOB_IMAP,
  MP_JOB_IMAP_UNORDERED,
} MpJobKind;

/* Task flags, on the wire too. */
#define MP_POOL_TASK_UNWRAP  (1u << 0)   /* chunk is `av`; each item must hold the args tuple */
#define MP_POOL_TASK_BATCH   (1u << 1)   /* one call over the whole chunk (a batched callable) */

/* Result flags, on the wire too. */
#define MP_POOL_RESULT_NONE  (1u << 0)   /* a one-item chunk whose task returned NULL */

typedef struct _MpPoolCore MpPoolCore;
typedef struct _MpPoolTask MpPoolTask;

/* The results of a chunk as they travel and wait: an array, serialized. GVariants are made
 * from it only when somebody needs one (see mp-pool-wire.c). */
#define MP_POOL_RESULTS_INLINE 16

typedef struct
{
  const char  *type;      /* interned array type (`ai`, `av`…); NULL until the chunk is back */
  GBytes      *data;      /* NULL when the bytes are inline (small results: no allocation) */
  guint        n;
  guint32      flags;     /* MP_POOL_RESULT_* */
  guint32      inline_len;
  guint32      reserved;
  guint64      inline_data[MP_POOL_RESULTS_INLINE / 8];
} MpPoolResults;

static inline gconstpointer
_mp_pool_results_peek (const MpPoolResults *r, gsize *len)
{
  if (r->data != NULL)
    return g_bytes_get_data (r->data, len);
  *len = r->inline_len;
  return r->inline_data;
}

struct _MpPoolTask
{
  guint64         id;
  MpAsyncResult  *job;          /* strong */
  guint           chunk;        /* its index in the job */
  guint           first_item;   /* index of its first item in the job, for messages */
  guint           n_items;
  MpFunc          func;
  GVariant       *bound;        /* the callable's bound arguments; NULL when `()` */
  GUnixFDList    *fds;          /* the callable's descriptors, or NULL */
  const char     *chunk_type;   /* interned: the type the worker reads the chunk as */
  GBytes         *chunk_data;   /* NULL when the chunk lies in job->items or is @args */
  const guint8   *chunk_ptr;    /* the chunk's bytes, in chunk_data or job->items */
  gsize           chunk_len;
  GVariant       *args;         /* apply of fixed-size arguments: the chunk (a one-item array
                                 * has the item's bytes), serialized straight into the message
                                 * by the pool thread, not by the submitting one */
  guint32         flags;        /* MP_POOL_TASK_* */
  gint64          timeout_us;   /* once started; 0 for none */
  gpointer        worker;       /* the backend's note of who runs it */
  gboolean        embedded;     /* lives inside its job (apply): freeing only clears it */
};

typedef struct
{
  /* Starts the workers; called once, unlocked, before the pool is visible. */
  gboolean (*start)       (MpPoolCore  *core,
                           GError     **error);
  /* Called locked when there is new pending work or the state changed. */
  void     (*wake)        (MpPoolCore  *core);
  /* Called unlocked once core->backend_done is set: joins the backend's threads. */
  void     (*reap)        (MpPoolCore  *core);
  /* Called locked: appends the workers' pids (thread ids for a thread pool). */
  void     (*worker_pids) (MpPoolCore  *core,
                           GArray      *pids);
  /* Called when the last reference on the core goes. */
  void     (*free)        (MpPoolCore  *core);
} MpPoolBackendClass;

struct _MpPoolCore
{
  gatomicrefcount            ref_count;
  GMutex                     mutex;
  GCond                      cond;          /* jobs finished, callbacks queued, state */
  guint                      waiters;       /* threads in cond: broadcasts cost a syscall */
  guint                      job_waiters;   /* of which wait for one job's end (get, wait) */

  MpPoolState                state;
  gboolean                   is_thread;
  gboolean                   disposed;      /* the MpPool object is gone */
  gboolean                   backend_done;  /* all workers gone, the backend's thread ends */
  gboolean                   reaped;
  pid_t                      creator_pid;
  gint                       processes;
  gint                       maxtasks;
  gint64                     task_timeout_us;
  MpCallable                *initializer;
  MpContext                 *context;
  char                      *label;
  guint                      slowmo_ms;
  GError                    *broken;        /* the initializer failed: every task fails so */

  guint64                    next_task_id;
  GQueue                     pending;       /* MpPoolTask*, FIFO */
  guint                      submitting;    /* maps still queuing their chunks (mp-pool.c) */
  guint64                    unfinished;    /* tasks submitted and not done */
  guint                      running;       /* tasks a worker started (backend keeps it) */
  guint                      workers_alive;

  /* counters mirrored into the arena */
  MpArenaObject             *object;
  MpPoolStats               *stats;
  guint64                    id;
  guint64                    n_submitted;
  guint64                    n_completed;
  guint64                    n_failed;
  guint64                    n_replaced;

  /* callbacks */
  GMainContext              *cb_context;
  GSource                   *cb_source;
  GQueue                     cb_queue;      /* MpAsyncResult*, strong */
  GSList                    *deferred;      /* MpAsyncResult* whose GTask returns on unlock */

  const MpPoolBackendClass  *backend_class;
  gpointer                   backend;
};

/* Whether tasks may still come for the workers: some wait, or a map is still queuing its
 * chunks. After close(), the workers end only once there is none. Locked. */
static inline gboolean
_mp_pool_core_has_work_locked (MpPoolCore *core)
{
  return !g_queue_is_empty (&core->pending) || core->submitting > 0;
}

struct _MpAsyncResult
{
  gatomicrefcount   ref_count;
  MpPoolCore       *core;             /* strong */
  MpJobKind         kind;
  guint             n_chunks;
  guint             chunks_done;
  guint64           total_items;
  guint64           done_items;
  guint            *chunk_start;      /* first item of each chunk */
  MpPoolResults    *chunk_results;    /* per chunk */
  GVariant        **chunk_variants;   /* imap: a chunk's results as read, made on first read */
  GError          **chunk_errors;     /* imap: per chunk */
  gboolean          ready;
  gboolean          cancelled;        /* nobody wants the rest (GIO cancel, terminate) */
  guint             waiters;          /* threads in get() or wait() on it */
  GError           *error;            /* map, apply: the failure at the lowest position */
  guint             error_chunk;
  gboolean          none;             /* apply: the task returned NULL */
  GVariant         *value;            /* apply: the value; map: the merged array */
  gboolean          merged;
  /* map of fixed-size items: their bytes, which its chunks point into. A chunk of its own
   * would cost every task an allocation and two atomic operations on the one reference count
   * shared by the submitting thread and the pool thread. */
  GBytes           *items;

  MpResultCallback  callback;
  MpErrorCallback   error_callback;
  gpointer          user_data;
  GDestroyNotify    notify;
  gboolean          callback_queued;
  gboolean          callback_done;

  GTask            *task;             /* GIO form */
  GSource          *cancel_source;    /* GIO form: watches the task's cancellable */

  /* storage of a one-chunk job (apply), to spare allocations */
  MpPoolResults     one_result;
  guint             one_start;
  MpPoolTask        one_task;

  /* imap consumer */
  guint             next_chunk;       /* ordered: chunk being read */
  guint             next_item;
  GQueue            done_order;       /* unordered: chunk indices in completion order */
};

/* mp-pool.c */
MpPoolCore     *_mp_pool_core_ref             (MpPoolCore    *core);
void            _mp_pool_core_unref           (MpPoolCore    *core);
void            _mp_pool_core_lock            (MpPoolCore    *core);
void            _mp_pool_core_unlock          (MpPoolCore    *core);
void            _mp_pool_core_broadcast_locked (MpPoolCore   *core);
void            _mp_pool_core_cond_wait_locked (MpPoolCore   *core);
void            _mp_pool_core_update_stats_locked (MpPoolCore *core);
GBytes         *_mp_pool_task_dup_chunk       (MpPoolTask    *task);
gboolean        _mp_pool_core_wait_locked     (MpPoolCore    *core,
                                               gint64         deadline_us);
void            _mp_pool_core_dispatch_callbacks_locked (MpPoolCore *core);
void            _mp_pool_core_set_broken_locked (MpPoolCore  *core,
                                                 const GError *error);
MpPool         *_mp_pool_new_with_backend     (const MpPoolOptions       *options,
                                               const MpPoolBackendClass  *backend_class,
                                               gboolean                   is_thread,
                                               GError                   **error);
guint           _mp_pool_slowmo_ms            (void);

/* mp-async-result.c */
MpAsyncResult  *_mp_async_result_new          (MpPoolCore    *core,
                                               MpJobKind      kind,
                                               guint          n_chunks,
                                               guint64        total_items);
void            _mp_pool_task_done_locked     (MpPoolCore    *core,
                                               MpPoolTask    *task,
                                               MpPoolResults *results,
                                               GError        *error);
void            _mp_async_result_finish_locked (MpAsyncResult *job);
void            _mp_async_result_run_callback (MpAsyncResult *job);
void            _mp_async_result_cancel_locked (MpAsyncResult *job,
                                                const GError  *error);
GVariant       *_mp_async_result_dup_value    (MpAsyncResult *job,
                                               GError       **error);
MpIMapIterator *_mp_imap_iterator_new         (MpAsyncResult *job);
void            _mp_pool_task_free            (MpPoolTask    *task);

/* mp-pool-wire.c: types, chunks, results */
gsize           _mp_pool_type_fixed_size      (const char    *type_string,
                                               gsize         *alignment);
GBytes         *_mp_pool_slice_array          (GVariant      *array,
                                               guint          start,
                                               guint          count);
const char     *_mp_pool_type_lookup          (const char    *str,
                                               gsize          len,
                                               gboolean       array,
                                               gsize         *fixed);
void            _mp_pool_results_clear        (MpPoolResults *results);
GBytes         *_mp_pool_results_dup_bytes    (const MpPoolResults *results);
GVariant       *_mp_pool_results_to_variant   (const MpPoolResults *results);
gboolean        _mp_pool_run_chunk            (MpFunc         func,
                                               GVariant      *bound,
                                               GUnixFDList   *fds,
                                               GVariant      *chunk,
                                               guint32        task_flags,
                                               guint          first_item,
                                               MpPoolResults *out,
                                               GError       **error);
gboolean        _mp_pool_run_one              (MpFunc         func,
                                               GVariant      *bound,
                                               GUnixFDList   *fds,
                                               GVariant      *args,
                                               guint32        task_flags,
                                               guint          first_item,
                                               MpPoolResults *out,
                                               GError       **error);
GVariant       *_mp_pool_merge_chunks         (const MpPoolResults *chunks,
                                               guint          n_chunks);
GVariant       *_mp_pool_unbox_item           (GVariant      *array,
                                               guint          index);

/* mp-pool-process.c, mp-thread-pool.c */
extern const MpPoolBackendClass _mp_pool_process_backend;
extern const MpPoolBackendClass _mp_pool_thread_backend;

/* mp-pool-worker.c */
GVariant       *_mp_pool_worker_main          (GVariant      *args,
                                               GUnixFDList   *fds,
                                               GError       **error);

/* The shared memory of a process pool: a header, then one slot per worker. Workers write
 * their own slot with relaxed stores; the parent reads them (who runs what since when) to
 * enforce timeouts and to tell, when a worker dies, whether it had started its task. */
#define MP_POOL_SHM_MAGIC   0x4c4f4f50u   /* "POOL" */
#define MP_POOL_SHM_VERSION 1

typedef struct
{
  uint32_t magic;
  uint32_t version;
  uint32_t n_slots;
  uint32_t slot_size;
  uint64_t reserved[6];
} MpPoolShmHeader;

typedef struct
{
  int32_t  pid;
  uint32_t state;        /* MP_POOL_SLOT_* */
  uint64_t task_id;      /* running now, 0 when idle */
  uint64_t start_ns;     /* CLOCK_MONOTONIC start of that task */
  uint64_t tasks_done;
  uint64_t busy_ns;
  uint64_t reserved[3];
} MpPoolWorkerSlot;

enum
{
  MP_POOL_SLOT_FREE = 0,
  MP_POOL_SLOT_STARTING = 1,
  MP_POOL_SLOT_IDLE = 2,
  MP_POOL_SLOT_RUNNING = 3,
  MP_POOL_SLOT_EXITED = 4,
};

G_STATIC_ASSERT (sizeof (MpPoolShmHeader) == 64);
G_STATIC_ASSERT (sizeof (MpPoolWorkerSlot) == 64);

/* The stream between the parent and a worker (a Unix stream socket): messages of a 16-byte
 * header and a payload padded to 8 bytes. Descriptors travel with SCM_RIGHTS, attached to
 * the send that carries the start of their message or an earlier one; the receiver queues
 * them and hands n_fds to each message in order. */
typedef struct
{
  uint32_t size;         /* payload bytes, a multiple of 8 */
  uint16_t kind;         /* MP_POOL_MSG_* */
  uint16_t n_fds;
  uint64_t id;           /* task id, function id */
} MpPoolMsgHeader;

/* Message fields are padded to 8 bytes. These write @len bytes of @data, or of @v serialized,
 * at @p, then zeros up to the next multiple of 8; they return the new end. */
static inline guint8 *
_mp_pool_put_padded (guint8 *p, gconstpointer data, gsize len)
{
  gsize padded = (len + 7) & ~(gsize) 7;

  if (len > 0)
    memcpy (p, data, len);
  memset (p + len, 0, padded - len);
  return p + padded;
}

static inline guint8 *
_mp_pool_store_padded (guint8 *p, GVariant *v, gsize len)
{
  gsize padded = (len + 7) & ~(gsize) 7;

  g_variant_store (v, p);
  memset (p + len, 0, padded - len);
  return p + padded;
}

/* The socket buffers of both sides start at this size. A read first fills what is left of it:
 * growing the buffer would copy it, and fault its pages in, for nothing; only a message bigger
 * than that grows it, by this much per read. */
#define MP_POOL_READ_CHUNK  (64 * 1024)

static inline gsize
_mp_pool_read_size (gsize buffered)
{
  return buffered < MP_POOL_READ_CHUNK ? MP_POOL_READ_CHUNK - buffered : MP_POOL_READ_CHUNK;
}

enum
{
  MP_POOL_MSG_FUNC = 1,         /* parent → worker: id = function id; a serialized callable */
  MP_POOL_MSG_TASK = 2,         /* parent → worker: id = task id; MpPoolTaskHeader… */
  MP_POOL_MSG_QUIT = 3,         /* parent → worker: finish and exit */
  MP_POOL_MSG_RESULT = 10,      /* worker → parent: id = task id; MpPoolResultHeader… */
  MP_POOL_MSG_INIT_FAILED = 11, /* worker → parent: an error (MpPoolResultHeader, no data) */
};

typedef struct
{
  uint32_t func_id;
  uint32_t flags;              /* MP_POOL_TASK_* */
  uint32_t n_items;
  uint32_t bound_type_len;     /* 0: no bound arguments */
  uint64_t bound_len;
  uint32_t chunk_type_len;
  uint32_t first_item;         /* index of the chunk's first item in its map, for messages */
  uint64_t chunk_len;
} MpPoolTaskHeader;
/* followed by: bound type, pad 8, bound data, pad 8, chunk type, pad 8, chunk data, pad 8 */

typedef struct
{
  uint32_t status;             /* 0 ok, 1 failed */
  uint32_t n_done;             /* items that succeeded */
  uint32_t flags;              /* MP_POOL_RESULT_* */
  uint32_t type_len;
  uint64_t data_len;
  uint64_t duration_ns;
  int32_t  error_code;
  uint32_t error_domain_len;
  uint32_t error_message_len;
  uint32_t reserved;
} MpPoolResultHeader;
/* followed by: the results' element type, pad 8, data, pad 8, error domain, error message,
 * pad 8 */

G_STATIC_ASSERT (sizeof (MpPoolMsgHeader) == 16);
G_STATIC_ASSERT (sizeof (MpPoolTaskHeader) == 40);
G_STATIC_ASSERT (sizeof (MpPoolResultHeader) == 48);

#define MP_POOL_MSG_MAX ((gsize) 1 << 31)   /* bigger messages are a protocol error */

/* Building and reading messages. */
void            _mp_pool_msg_begin        (GByteArray       *out,
                                           guint16           kind,
                                           guint16           n_fds,
                                           guint64           id,
                                           gsize            *start);
void            _mp_pool_msg_append       (GByteArray       *out,
                                           gconstpointer     data,
                                           gsize             len);
void            _mp_pool_msg_pad          (GByteArray       *out);
void            _mp_pool_msg_end          (GByteArray       *out,
                                           gsize             start);
void            _mp_pool_msg_append_result (GByteArray          *out,
                                            guint16              kind,
                                            guint64              id,
                                            const MpPoolResults *results,
                                            guint64              duration_ns,
                                            const GError        *error);
gboolean        _mp_pool_msg_parse_result (const guint8     *payload,
                                           gsize             size,
                                           MpPoolResults    *results,
                                           guint64          *duration_ns,
                                           GError          **task_error,
                                           GError          **error);

/* A cursor over a payload: every read is bounds-checked. */
typedef struct
{
  const guint8 *data;
  gsize         size;
  gsize         pos;
} MpPoolReader;

gboolean        _mp_pool_reader_take      (MpPoolReader     *r,
                                           gsize             len,
                                           const guint8    **out);
gboolean        _mp_pool_reader_string    (MpPoolReader     *r,
                                           gsize             len,
                                           char            **out);
gboolean        _mp_pool_reader_typed     (MpPoolReader     *r,
                                           gsize             type_len,
                                           gsize             data_len,
                                           const char      **type,
                                           gsize            *fixed,
                                           const guint8    **data);
gboolean        _mp_pool_reader_variant   (MpPoolReader     *r,
                                           gsize             type_len,
                                           gsize             data_len,
                                           GVariant        **out);

G_END_DECLS
