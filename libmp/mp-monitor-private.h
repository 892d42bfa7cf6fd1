/* mp-monitor-private.h: what the monitor's files share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The monitor is three layers:
 *
 *   input     live: event rings + samples of the arena and /proc (mp-monitor-snapshot.c)
 *             replay: the records of a trace file (mp-trace-file.c)
 *   models    MpMonitorModels: pure functions of the sequence of event batches and snapshots
 *             (mp-monitor-model.c); no clock, no /proc, no arena
 *   surface   MpMonitor: sources, timers, signals, recording (mp-monitor.c)
 *
 * Live, every event batch and snapshot is written to the recording (if any) and then applied
 * to the models; a replay applies the same records in the same order, so it ends with the same
 * models. Everything time-dependent in the models uses the data's own clock (event timestamps
 * and snapshot times, CLOCK_MONOTONIC of the watched program), never the monitor's.
 */

#pragma once

#include <stdio.h>

#include "mp-arena-private.h"
#include "mp-monitor.h"
#include "mp-object-private.h"
#include "mp-trace-private.h"

G_BEGIN_DECLS

/* ---- snapshots: what one sample of a program holds ------------------------------------- */

#define MP_SNAP_MAPPERS 16
#define MP_SNAP_MAX_PROCESSES 65536
#define MP_SNAP_MAX_OBJECTS   (1 << 20)

typedef struct
{
  guint32 slot;
  guint32 generation;
  guint32 state;                 /* MpProcState */
  guint32 role;                  /* MpProcRole */
  guint32 start_method;          /* MpStartMethodId */
  guint32 flags;
  gint32  pid;
  gint32  ppid;
  gint32  exit_code;
  guint64 create_ns;
  guint64 start_ns;
  guint64 exit_ns;
  guint64 blocked_on;
  char    name[MP_ARENA_NAME_LEN];
  /* From /proc, in full samples of a live program only. */
  gboolean has_os;
  gboolean alive;
  char     os_state;             /* /proc/PID/stat state letter, 0 if unknown */
  double   cpu_percent;
  guint64  rss_bytes;
} MpSnapProcess;

typedef struct
{
  guint64 id;
  guint32 kind;                  /* MpObjectKind */
  guint32 state;                 /* 1 live, 2 destroyed */
  gint32  creator_pid;
  guint32 flags;
  guint64 create_ns;
  char    label[MP_ARENA_LABEL_LEN];
  guint64 stats[MP_ARENA_STATS_LEN / 8];   /* the kind's layout (mp-object-private.h) */
  /* Segments, in full samples of a live program only. */
  gboolean has_shm_info;
  gboolean shm_exists;           /* the name is still in /dev/shm */
  guint    n_mappers;            /* live processes mapping it (all of them counted) */
  gint32   mappers[MP_SNAP_MAPPERS];
} MpSnapObject;

typedef struct
{
  guint64  t_ns;                 /* the watched program's CLOCK_MONOTONIC at the sample */
  gboolean full;                 /* objects and /proc included, not only the process table */
  GArray  *processes;            /* MpSnapProcess */
  GArray  *objects;              /* MpSnapObject */
} MpMonitorSnapshot;

MpMonitorSnapshot *_mp_monitor_snapshot_new   (guint64 t_ns,
                                               gboolean full);
void               _mp_monitor_snapshot_free  (MpMonitorSnapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpMonitorSnapshot, _mp_monitor_snapshot_free)

/* An arena as the monitor reads it: the mapping plus a copy of its header that passed
 * _mp_arena_validate(). Every address is computed from the copy, so a program that rewrites
 * its header after we validated it cannot make us read outside the mapping. */
typedef struct
{
  const MpArena *arena;
  MpArenaHeader  hdr;
} MpMonitorArena;

gboolean           _mp_monitor_arena_init     (MpMonitorArena *ma,
                                               const MpArena  *arena,
                                               GError        **error);
void               _mp_monitor_arena_ring_reader_init (const MpMonitorArena *ma,
                                                       guint32               slot,
                                                       MpRingReader         *reader);
guint32            _mp_monitor_arena_procs_high_water (const MpMonitorArena *ma);

/* Reads the process table (and, if @full, the object directory) of the arena. The arena may
 * be another program's, written concurrently or hostile: every index and string is bounded. */
void               _mp_monitor_snapshot_read_arena (MpMonitorSnapshot    *snap,
                                                    const MpMonitorArena *ma,
                                                    gboolean              full);

/* CPU % needs the previous sample of each pid. */
typedef struct _MpProcSampler MpProcSampler;
MpProcSampler     *_mp_proc_sampler_new       (void);
void               _mp_proc_sampler_free      (MpProcSampler *sampler);
/* Adds /proc facts (liveness, CPU, RSS, stopped) and segment facts (/dev/shm, mappers). */
void               _mp_proc_sampler_fill      (MpProcSampler     *sampler,
                                               MpMonitorSnapshot *snap);
gboolean           _mp_pid_is_alive           (gint32 pid);

void               _mp_monitor_copy_name      (char       *out,
                                               const char *field,
                                               gsize       len);
gboolean           _mp_object_kind_is_segment (guint32 kind);
gboolean           _mp_object_kind_is_sync    (guint32 kind);
gboolean           _mp_object_kind_is_queue   (guint32 kind);
const char        *_mp_proc_state_to_string   (guint32 state);
gboolean           _mp_proc_state_from_string (const char *str, guint32 *state);
const char        *_mp_start_method_id_to_string (guint32 method);
gboolean           _mp_start_method_id_from_string (const char *str, guint32 *method);
gboolean           _mp_monitor_role_from_string (const char *str, guint32 *role);
gboolean           _mp_object_kind_from_string (const char *str, guint32 *kind);
gboolean           _mp_event_type_from_string (const char *str, guint32 *type);

/* ---- items ------------------------------------------------------------------------------- */

/* Every item starts with this after its GObject: the properties changed since the last
 * flush (bit = property id − 1), so a batch of events notifies each property once. */
typedef struct
{
  guint64      dirty;
  GParamSpec **pspecs;
  gboolean     queued;
} MpItemHeader;

/* What pools, queues, locks and segments have in common; property ids 1..N_COMMON. */
typedef struct
{
  guint64  id;
  int      kind;
  char    *label;
  int      creator_pid;
  guint64  create_ns;
  gboolean destroyed;
  guint64  destroyed_ns;         /* data time it was first seen destroyed */
  guint64  seen_ns;              /* data time of the last snapshot or event naming it */
} MpObjCommon;

enum
{
  MP_OBJ_PROP_ID = 1,
  MP_OBJ_PROP_KIND,
  MP_OBJ_PROP_KIND_NAME,
  MP_OBJ_PROP_LABEL,
  MP_OBJ_PROP_CREATOR_PID,
  MP_OBJ_PROP_CREATE_TIME,
  MP_OBJ_PROP_DESTROYED,
  MP_OBJ_N_COMMON = MP_OBJ_PROP_DESTROYED,
};

#define MP_HISTORY_LEN 240

typedef struct
{
  double values[MP_HISTORY_LEN];
  guint  start;
  guint  len;
  double linear[MP_HISTORY_LEN];  /* values in order, refreshed by _mp_history_linear() */
} MpHistory;

void          _mp_history_push   (MpHistory *h, double v);
const double *_mp_history_linear (MpHistory *h, guint *n);

struct _MpMonitorProcess
{
  GObject      parent_instance;
  MpItemHeader h;

  int          pid;
  int          ppid;
  char        *name;
  int          role;
  int          state;
  int          exit_code;
  char        *start_method;
  gboolean     daemon;
  guint64      create_ns;
  guint64      start_ns;
  guint64      exit_ns;
  double       cpu_percent;
  guint64      rss;
  guint64      blocked_on;
  guint64      current_task;
  guint64      tasks_done;
  gboolean     alive;

  /* bookkeeping */
  gboolean     in_table;         /* last seen in the process table (not only in events) */
  guint32      slot;
  guint32      generation;
  guint64      pending_lock;     /* from a LOCK_CONTENDED with no wait time yet: waits now */
  GListStore  *children;         /* owned */
  GListStore  *container;        /* borrowed: roots or the parent's children */
  gboolean     unplaced;         /* to be (re)placed in the tree at the end of the batch */
  guint64      gone_ns;          /* data time it was first seen gone, 0 while alive */
};

enum
{
  MP_PROCESS_PROP_PID = 1,
  MP_PROCESS_PROP_PPID,
  MP_PROCESS_PROP_NAME,
  MP_PROCESS_PROP_ROLE,
  MP_PROCESS_PROP_STATE,
  MP_PROCESS_PROP_EXIT_CODE,
  MP_PROCESS_PROP_START_METHOD,
  MP_PROCESS_PROP_DAEMON,
  MP_PROCESS_PROP_CREATE_TIME,
  MP_PROCESS_PROP_START_TIME,
  MP_PROCESS_PROP_EXIT_TIME,
  MP_PROCESS_PROP_CPU_PERCENT,
  MP_PROCESS_PROP_RSS,
  MP_PROCESS_PROP_BLOCKED_ON,
  MP_PROCESS_PROP_CURRENT_TASK,
  MP_PROCESS_PROP_TASKS_DONE,
  MP_PROCESS_PROP_ALIVE,
  MP_PROCESS_N_PROPS
};

#define MP_POOL_RECENT_TASKS 2000
#define MP_POOL_DURATIONS    1000
#define MP_POOL_MAX_WORKERS  256
#define MP_POOL_WINDOW_NS    G_GUINT64_CONSTANT (10000000000)
#define MP_POOL_WINDOW_SAMPLES 128

typedef struct
{
  gint32  pid;
  guint64 task_id;
  guint64 task_start_ns;
  guint64 tasks_done;
} MpPoolWorkerState;

struct _MpMonitorPool
{
  GObject      parent_instance;
  MpItemHeader h;
  MpObjCommon  c;

  guint        workers;
  guint        workers_alive;
  guint64      submitted;
  guint64      queued;
  guint64      running;
  guint64      completed;
  guint64      failed;
  guint64      replaced_workers;
  guint64      total_task_ns;
  double       throughput;       /* tasks/s between the last two samples */
  double       throughput_window; /* tasks/s over the last MP_POOL_WINDOW_NS of samples */
  guint64      median_task_ns;
  guint64      mean_task_ns;

  /* bookkeeping */
  MpHistory    throughput_history;
  guint64      win_t[MP_POOL_WINDOW_SAMPLES];     /* ring of (sample time, tasks done) */
  guint64      win_done[MP_POOL_WINDOW_SAMPLES];
  guint        win_start;
  guint        win_len;
  guint64      last_t_ns;        /* time of the sample the rates start from */
  guint64      last_done;
  GArray      *workers_state;    /* MpPoolWorkerState, by events */
  MpMonitorTaskSpan *recent;     /* ring of MP_POOL_RECENT_TASKS, from the first task on */
  guint        recent_start;
  guint        recent_len;
  guint64     *durations;        /* ring of MP_POOL_DURATIONS, for the median */
  guint        durations_start;
  guint        durations_len;
  gboolean     median_dirty;
};

enum
{
  MP_POOL_PROP_WORKERS = MP_OBJ_N_COMMON + 1,
  MP_POOL_PROP_WORKERS_ALIVE,
  MP_POOL_PROP_SUBMITTED,
  MP_POOL_PROP_QUEUED,
  MP_POOL_PROP_RUNNING,
  MP_POOL_PROP_COMPLETED,
  MP_POOL_PROP_FAILED,
  MP_POOL_PROP_REPLACED_WORKERS,
  MP_POOL_PROP_TOTAL_TASK_NS,
  MP_POOL_PROP_THROUGHPUT,
  MP_POOL_PROP_MEDIAN_TASK_NS,
  MP_POOL_PROP_MEAN_TASK_NS,
  MP_POOL_PROP_THROUGHPUT_WINDOW,
  MP_POOL_N_PROPS
};

struct _MpMonitorQueue
{
  GObject      parent_instance;
  MpItemHeader h;
  MpObjCommon  c;

  guint64      depth;
  guint64      max_depth;
  guint64      maxsize;
  guint64      puts;
  guint64      gets;
  guint64      bytes_put;
  guint64      bytes_got;
  guint64      unfinished_tasks;
  guint64      blocked_puts;
  guint64      blocked_gets;
  double       put_rate;
  double       get_rate;

  MpHistory    depth_history;
  guint64      last_t_ns;
  guint64      last_puts;
  guint64      last_gets;
};

enum
{
  MP_QUEUE_PROP_DEPTH = MP_OBJ_N_COMMON + 1,
  MP_QUEUE_PROP_MAX_DEPTH,
  MP_QUEUE_PROP_MAXSIZE,
  MP_QUEUE_PROP_PUTS,
  MP_QUEUE_PROP_GETS,
  MP_QUEUE_PROP_BYTES_PUT,
  MP_QUEUE_PROP_BYTES_GOT,
  MP_QUEUE_PROP_UNFINISHED_TASKS,
  MP_QUEUE_PROP_BLOCKED_PUTS,
  MP_QUEUE_PROP_BLOCKED_GETS,
  MP_QUEUE_PROP_PUT_RATE,
  MP_QUEUE_PROP_GET_RATE,
  MP_QUEUE_N_PROPS
};

#define MP_LOCK_MAX_WAITERS 64

struct _MpMonitorLock
{
  GObject      parent_instance;
  MpItemHeader h;
  MpObjCommon  c;

  int          holder_pid;
  guint        n_waiters;        /* the lock's own count of blocked waiters */
  guint64      acquisitions;
  guint64      contended;
  double       contended_percent;
  guint64      total_wait_ns;
  guint64      max_wait_ns;
  guint64      owner_died;
  guint        count;            /* RLOCK recursion, BARRIER arrivals */
  guint        limit;
  int          last_waiter_pid;

  guint        nwaiters_stat;    /* the stats' own count */
  GArray      *waiters;          /* GPid: processes known to wait on it now */
};

enum
{
  MP_LOCK_PROP_HOLDER_PID = MP_OBJ_N_COMMON + 1,
  MP_LOCK_PROP_N_WAITERS,
  MP_LOCK_PROP_ACQUISITIONS,
  MP_LOCK_PROP_CONTENDED,
  MP_LOCK_PROP_CONTENDED_PERCENT,
  MP_LOCK_PROP_TOTAL_WAIT_NS,
  MP_LOCK_PROP_MAX_WAIT_NS,
  MP_LOCK_PROP_OWNER_DIED,
  MP_LOCK_PROP_COUNT,
  MP_LOCK_PROP_LIMIT,
  MP_LOCK_PROP_LAST_WAITER_PID,
  MP_LOCK_N_PROPS
};

struct _MpMonitorSegment
{
  GObject      parent_instance;
  MpItemHeader h;
  MpObjCommon  c;

  char        *name;
  guint64      size;
  guint        n_mappers;
  gboolean     unlinked;
  gboolean     exists;
  gboolean     leaked;

  GArray      *attached;         /* GPid */
  gboolean     has_shm_info;
};

enum
{
  MP_SEGMENT_PROP_NAME = MP_OBJ_N_COMMON + 1,
  MP_SEGMENT_PROP_SIZE,
  MP_SEGMENT_PROP_N_MAPPERS,
  MP_SEGMENT_PROP_UNLINKED,
  MP_SEGMENT_PROP_EXISTS,
  MP_SEGMENT_PROP_LEAKED,
  MP_SEGMENT_N_PROPS
};

struct _MpMonitorAlert
{
  GObject      parent_instance;
  MpItemHeader h;

  int          kind;
  char        *message;
  guint64      since;

  char        *key;
  GArray      *pids;             /* GPid */
  GArray      *objects;          /* guint64 */
  gboolean     seen;             /* still detected in the current evaluation */
};

enum
{
  MP_ALERT_PROP_KIND = 1,
  MP_ALERT_PROP_MESSAGE,
  MP_ALERT_PROP_SINCE,
  MP_ALERT_N_PROPS
};

extern GParamSpec *_mp_monitor_process_pspecs[MP_PROCESS_N_PROPS];
extern GParamSpec *_mp_monitor_pool_pspecs[MP_POOL_N_PROPS];
extern GParamSpec *_mp_monitor_queue_pspecs[MP_QUEUE_N_PROPS];
extern GParamSpec *_mp_monitor_lock_pspecs[MP_LOCK_N_PROPS];
extern GParamSpec *_mp_monitor_segment_pspecs[MP_SEGMENT_N_PROPS];
extern GParamSpec *_mp_monitor_alert_pspecs[MP_ALERT_N_PROPS];

MpMonitorProcess *_mp_monitor_process_new (gint32 pid);
MpMonitorPool    *_mp_monitor_pool_new    (guint64 id);
MpMonitorQueue   *_mp_monitor_queue_new   (guint64 id);
MpMonitorLock    *_mp_monitor_lock_new    (guint64 id);
MpMonitorSegment *_mp_monitor_segment_new (guint64 id);
MpMonitorAlert   *_mp_monitor_alert_new   (MpMonitorAlertKind kind,
                                           const char        *key);

MpMonitorProgram *_mp_monitor_program_new (GPid        pid,
                                           const char *name,
                                           gint64      start_time,
                                           guint       n_processes,
                                           const char *error);

/* ---- models ------------------------------------------------------------------------------ */

typedef struct _MpMonitorModels MpMonitorModels;

typedef void (*MpAlertFunc) (MpMonitorAlert *alert, gpointer user_data);

MpMonitorModels  *_mp_monitor_models_new     (MpAlertFunc  alert_raised,
                                              gpointer     user_data);
void              _mp_monitor_models_free    (MpMonitorModels *m);
void              _mp_monitor_models_apply_events   (MpMonitorModels   *m,
                                                     const MpTraceEvent     *events,
                                                     guint              n_events);
void              _mp_monitor_models_apply_lost     (MpMonitorModels   *m,
                                                     guint64            t_ns,
                                                     guint64            n_lost);
void              _mp_monitor_models_apply_snapshot (MpMonitorModels   *m,
                                                     const MpMonitorSnapshot *snap);
/* Sends the notifications of what changed since the last flush. */
void              _mp_monitor_models_flush   (MpMonitorModels *m);

GListModel       *_mp_monitor_models_get_processes (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_roots     (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_pools     (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_queues    (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_locks     (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_segments  (MpMonitorModels *m);
GListModel       *_mp_monitor_models_get_alerts    (MpMonitorModels *m);
MpMonitorProcess *_mp_monitor_models_lookup_process (MpMonitorModels *m,
                                                     gint32           pid);
const char       *_mp_monitor_models_lookup_label  (MpMonitorModels *m,
                                                    guint64          id);
guint64           _mp_monitor_models_get_now       (MpMonitorModels *m);
gboolean          _mp_monitor_models_any_alive     (MpMonitorModels *m);

typedef struct
{
  double   stuck_factor;         /* a task is stuck after this × its pool's median */
  guint64  stuck_min_ns;         /* … and at least this long */
  guint    stuck_min_samples;    /* finished tasks a pool needs before the median counts */
  guint64  keep_exited_ns;       /* exited processes and destroyed objects stay this long */
  guint    max_exited;           /* and at most this many exited processes stay */
} MpMonitorModelConfig;

MpMonitorModelConfig *_mp_monitor_models_config (MpMonitorModels *m);

/* The wait-for graph: processes blocked on a lock held by another process. */
typedef struct
{
  gint32  waiter_pid;
  gint32  holder_pid;
  guint64 lock_id;
} MpWaitEdge;

GArray           *_mp_monitor_models_wait_for_edges (MpMonitorModels *m);

MpMonitorModels  *_mp_monitor_get_models (MpMonitor *monitor);

/* ---- attaching ------------------------------------------------------------------------- */

/* An fd (O_RDONLY, O_CLOEXEC) on the arena of process @pid, or -1 with @error set. */
int               _mp_monitor_open_arena_fd  (GPid      pid,
                                              GError  **error);
MpArena          *_mp_monitor_map_arena      (GPid      pid,
                                              GError  **error);

G_END_DECLS
