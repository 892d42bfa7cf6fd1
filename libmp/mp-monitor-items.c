/* mp-monitor-items.c: the item types of the monitor's models
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The items are read-only for their users and written only by mp-monitor-model.c, which
 * reaches the instance structs through mp-monitor-private.h. Their properties are described by
 * one table per type (name, kind, struct offset), from which the param specs and
 * get_property() are generated, so a property is one table line plus its struct field.
 */

#include "config.h"

#include "mp-monitor-private.h"

G_DEFINE_ENUM_TYPE (MpMonitorProcessRole, mp_monitor_process_role,
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_MAIN, "main"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_PROCESS, "process"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_WORKER, "worker"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_MANAGER, "manager"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_FORKSERVER, "forkserver"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ROLE_TRACKER, "tracker"))

G_DEFINE_ENUM_TYPE (MpMonitorProcessState, mp_monitor_process_state,
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_STARTING, "starting"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_RUNNING, "running"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_STOPPED, "stopped"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_EXITING, "exiting"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_EXITED, "exited"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_KILLED, "killed"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_PROCESS_VANISHED, "vanished"))

G_DEFINE_ENUM_TYPE (MpMonitorAlertKind, mp_monitor_alert_kind,
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ALERT_DEADLOCK, "deadlock"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ALERT_STUCK_WORKER, "stuck-worker"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_ALERT_LEAKED_SEGMENT, "leaked-segment"))

static const char *
enum_nick (GType type, int value, const char *fallback)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const char *nick = v ? v->value_nick : fallback;

  g_type_class_unref (klass);   /* static types: the class and its strings stay */
  return nick;
}

/**
 * mp_monitor_process_role_to_string:
 * @role: a role
 *
 * Returns: (transfer none): "main", "process", "worker", "manager", "forkserver", "tracker",
 *   or "unknown"
 */
const char *
mp_monitor_process_role_to_string (MpMonitorProcessRole role)
{
  return enum_nick (MP_TYPE_MONITOR_PROCESS_ROLE, role, "unknown");
}

/**
 * mp_monitor_process_state_to_string:
 * @state: a state
 *
 * Returns: (transfer none): the state's short name ("running", "exited"…)
 */
const char *
mp_monitor_process_state_to_string (MpMonitorProcessState state)
{
  return enum_nick (MP_TYPE_MONITOR_PROCESS_STATE, state, "unknown");
}

/**
 * mp_monitor_alert_kind_to_string:
 * @kind: a kind
 *
 * Returns: (transfer none): "deadlock", "stuck-worker", "leaked-segment" or "unknown"
 */
const char *
mp_monitor_alert_kind_to_string (MpMonitorAlertKind kind)
{
  return enum_nick (MP_TYPE_MONITOR_ALERT_KIND, kind, "unknown");
}

/**
 * mp_object_kind_to_string:
 * @kind: a kind of arena object
 *
 * Returns: (transfer none): the kind's short name ("lock", "queue", "pool"…), "unknown" for
 *   a value this libmp does not know
 */
const char *
mp_object_kind_to_string (MpObjectKind kind)
{
  switch (kind)
    {
    case MP_OBJECT_NONE: return "none";
    case MP_OBJECT_LOCK: return "lock";
    case MP_OBJECT_RLOCK: return "rlock";
    case MP_OBJECT_SEMAPHORE: return "semaphore";
    case MP_OBJECT_BOUNDED_SEMAPHORE: return "bounded-semaphore";
    case MP_OBJECT_EVENT: return "event";
    case MP_OBJECT_CONDITION: return "condition";
    case MP_OBJECT_BARRIER: return "barrier";
    case MP_OBJECT_QUEUE: return "queue";
    case MP_OBJECT_JOINABLE_QUEUE: return "joinable-queue";
    case MP_OBJECT_SIMPLE_QUEUE: return "simple-queue";
    case MP_OBJECT_CONNECTION: return "connection";
    case MP_OBJECT_LISTENER: return "listener";
    case MP_OBJECT_POOL: return "pool";
    case MP_OBJECT_MANAGER: return "manager";
    case MP_OBJECT_SHARED_MEMORY: return "shared-memory";
    case MP_OBJECT_SHAREABLE_LIST: return "shareable-list";
    case MP_OBJECT_VALUE: return "value";
    case MP_OBJECT_ARRAY: return "array";
    default: return "unknown";
    }
}

gboolean
_mp_object_kind_from_string (const char *str, guint32 *kind)
{
  for (guint32 k = 0; k <= MP_OBJECT_ARRAY; k++)
    if (g_strcmp0 (str, mp_object_kind_to_string ((MpObjectKind) k)) == 0 &&
        !g_str_equal (str, "unknown"))
      {
        *kind = k;
        return TRUE;
      }
  return FALSE;
}

/* ---- table-driven properties ------------------------------------------------------------ */

typedef enum
{
  P_INT,
  P_UINT,
  P_UINT64,
  P_DOUBLE,
  P_BOOL,
  P_STRING,
  P_ENUM,
  P_KIND_NAME,                   /* a string computed from the int at offset (object kind) */
} PropKind;

typedef struct
{
  guint        id;
  const char  *name;
  PropKind     kind;
  gsize        offset;
  GType      (*enum_type) (void);
  const char  *blurb;
} PropDef;

#define FIELD(T, f) G_STRUCT_OFFSET (T, f)

static void
install_props (GObjectClass *klass, const PropDef *defs, guint n_defs, GParamSpec **pspecs,
               guint n_pspecs)
{
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  g_assert (n_defs + 1 == n_pspecs);
  pspecs[0] = NULL;
  for (guint i = 0; i < n_defs; i++)
    {
      const PropDef *d = &defs[i];
      GParamSpec *p = NULL;

      g_assert (d->id == i + 1);
      switch (d->kind)
        {
        case P_INT:
          p = g_param_spec_int (d->name, NULL, d->blurb, G_MININT, G_MAXINT, 0, flags);
          break;
        case P_UINT:
          p = g_param_spec_uint (d->name, NULL, d->blurb, 0, G_MAXUINT, 0, flags);
          break;
        case P_UINT64:
          p = g_param_spec_uint64 (d->name, NULL, d->blurb, 0, G_MAXUINT64, 0, flags);
          break;
        case P_DOUBLE:
          p = g_param_spec_double (d->name, NULL, d->blurb, -G_MAXDOUBLE, G_MAXDOUBLE, 0, flags);
          break;
        case P_BOOL:
          p = g_param_spec_boolean (d->name, NULL, d->blurb, FALSE, flags);
          break;
        case P_STRING:
        case P_KIND_NAME:
          p = g_param_spec_string (d->name, NULL, d->blurb, NULL, flags);
          break;
        case P_ENUM:
          {
            GEnumClass *ec = g_type_class_ref (d->enum_type ());
            p = g_param_spec_enum (d->name, NULL, d->blurb, d->enum_type (),
                                   ec->values[0].value, flags);
            g_type_class_unref (ec);
          }
          break;
        default:
          g_assert_not_reached ();
        }
      pspecs[d->id] = p;
    }
  g_object_class_install_properties (klass, n_pspecs, pspecs);
}

static void
get_prop (GObject *object, const PropDef *defs, guint n_defs, guint prop_id, GValue *value,
          GParamSpec *pspec)
{
  const PropDef *d;
  const guint8 *base = (const guint8 *) object;

  if (prop_id == 0 || prop_id > n_defs)
    {
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  d = &defs[prop_id - 1];
  switch (d->kind)
    {
    case P_INT:
      g_value_set_int (value, *(const int *) (base + d->offset));
      break;
    case P_UINT:
      g_value_set_uint (value, *(const guint *) (base + d->offset));
      break;
    case P_UINT64:
      g_value_set_uint64 (value, *(const guint64 *) (base + d->offset));
      break;
    case P_DOUBLE:
      g_value_set_double (value, *(const double *) (base + d->offset));
      break;
    case P_BOOL:
      g_value_set_boolean (value, *(const gboolean *) (base + d->offset));
      break;
    case P_STRING:
      g_value_set_string (value, *(char * const *) (base + d->offset));
      break;
    case P_ENUM:
      g_value_set_enum (value, *(const int *) (base + d->offset));
      break;
    case P_KIND_NAME:
      g_value_set_static_string (value,
                                 mp_object_kind_to_string (*(const int *) (base + d->offset)));
      break;
    default:
      g_assert_not_reached ();
    }
}

#define COMMON_PROPS(T) \
  { MP_OBJ_PROP_ID, "id", P_UINT64, FIELD (T, c.id), NULL, "Id in the arena's object directory" }, \
  { MP_OBJ_PROP_KIND, "kind", P_INT, FIELD (T, c.kind), NULL, "MpObjectKind" }, \
  { MP_OBJ_PROP_KIND_NAME, "kind-name", P_KIND_NAME, FIELD (T, c.kind), NULL, "The kind, as text" }, \
  { MP_OBJ_PROP_LABEL, "label", P_STRING, FIELD (T, c.label), NULL, "Its label (name)" }, \
  { MP_OBJ_PROP_CREATOR_PID, "creator-pid", P_INT, FIELD (T, c.creator_pid), NULL, "The process that created it" }, \
  { MP_OBJ_PROP_CREATE_TIME, "create-time", P_UINT64, FIELD (T, c.create_ns), NULL, "CLOCK_MONOTONIC ns of its creation" }, \
  { MP_OBJ_PROP_DESTROYED, "destroyed", P_BOOL, FIELD (T, c.destroyed), NULL, "Its last handle was closed" }

/* ---- MpMonitorProcess -------------------------------------------------------------------- */

GParamSpec *_mp_monitor_process_pspecs[MP_PROCESS_N_PROPS];

static const PropDef process_props[] = {
  { MP_PROCESS_PROP_PID, "pid", P_INT, FIELD (MpMonitorProcess, pid), NULL, "Process id" },
  { MP_PROCESS_PROP_PPID, "ppid", P_INT, FIELD (MpMonitorProcess, ppid), NULL, "The logical parent (the requester, for forkserver children)" },
  { MP_PROCESS_PROP_NAME, "name", P_STRING, FIELD (MpMonitorProcess, name), NULL, "Process name (Process-1:2…)" },
  { MP_PROCESS_PROP_ROLE, "role", P_ENUM, FIELD (MpMonitorProcess, role), mp_monitor_process_role_get_type, "Role" },
  { MP_PROCESS_PROP_STATE, "state", P_ENUM, FIELD (MpMonitorProcess, state), mp_monitor_process_state_get_type, "State" },
  { MP_PROCESS_PROP_EXIT_CODE, "exit-code", P_INT, FIELD (MpMonitorProcess, exit_code), NULL, "Exit code once exited (−N: killed by signal N)" },
  { MP_PROCESS_PROP_START_METHOD, "start-method", P_STRING, FIELD (MpMonitorProcess, start_method), NULL, "fork, spawn, forkserver, or NULL for the main process" },
  { MP_PROCESS_PROP_DAEMON, "daemon", P_BOOL, FIELD (MpMonitorProcess, daemon), NULL, "Daemonic" },
  { MP_PROCESS_PROP_CREATE_TIME, "create-time", P_UINT64, FIELD (MpMonitorProcess, create_ns), NULL, "CLOCK_MONOTONIC ns its parent created it" },
  { MP_PROCESS_PROP_START_TIME, "start-time", P_UINT64, FIELD (MpMonitorProcess, start_ns), NULL, "CLOCK_MONOTONIC ns it started" },
  { MP_PROCESS_PROP_EXIT_TIME, "exit-time", P_UINT64, FIELD (MpMonitorProcess, exit_ns), NULL, "CLOCK_MONOTONIC ns it exited, 0 while running" },
  { MP_PROCESS_PROP_CPU_PERCENT, "cpu-percent", P_DOUBLE, FIELD (MpMonitorProcess, cpu_percent), NULL, "CPU use over the last sample interval (100 = one core)" },
  { MP_PROCESS_PROP_RSS, "rss", P_UINT64, FIELD (MpMonitorProcess, rss), NULL, "Resident set size in bytes" },
  { MP_PROCESS_PROP_BLOCKED_ON, "blocked-on", P_UINT64, FIELD (MpMonitorProcess, blocked_on), NULL, "Id of the object it waits on, 0 if none" },
  { MP_PROCESS_PROP_CURRENT_TASK, "current-task", P_UINT64, FIELD (MpMonitorProcess, current_task), NULL, "Id of the pool task it runs, 0 if none" },
  { MP_PROCESS_PROP_TASKS_DONE, "tasks-done", P_UINT64, FIELD (MpMonitorProcess, tasks_done), NULL, "Pool tasks it finished" },
  { MP_PROCESS_PROP_ALIVE, "alive", P_BOOL, FIELD (MpMonitorProcess, alive), NULL, "Whether it still runs" },
};

G_DEFINE_FINAL_TYPE (MpMonitorProcess, mp_monitor_process, G_TYPE_OBJECT)

static void
mp_monitor_process_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, process_props, G_N_ELEMENTS (process_props), prop_id, value, pspec);
}

static void
mp_monitor_process_finalize (GObject *object)
{
  MpMonitorProcess *self = MP_MONITOR_PROCESS (object);

  g_free (self->name);
  g_free (self->start_method);
  g_clear_object (&self->children);
  G_OBJECT_CLASS (mp_monitor_process_parent_class)->finalize (object);
}

static void
mp_monitor_process_class_init (MpMonitorProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_process_get_property;
  object_class->finalize = mp_monitor_process_finalize;
  install_props (object_class, process_props, G_N_ELEMENTS (process_props),
                 _mp_monitor_process_pspecs, MP_PROCESS_N_PROPS);
}

static void
mp_monitor_process_init (MpMonitorProcess *self)
{
  self->h.pspecs = _mp_monitor_process_pspecs;
  self->children = g_list_store_new (MP_TYPE_MONITOR_PROCESS);
  self->role = MP_MONITOR_ROLE_PROCESS;
  self->state = MP_MONITOR_PROCESS_STARTING;
  self->alive = TRUE;
}

MpMonitorProcess *
_mp_monitor_process_new (gint32 pid)
{
  MpMonitorProcess *self = g_object_new (MP_TYPE_MONITOR_PROCESS, NULL);

  self->pid = pid;
  self->name = g_strdup_printf ("pid %d", pid);
  return self;
}

#define GETTER(Type, type, TYPE, rtype, name, expr) \
  rtype \
  type##_get_##name (Type *self) \
  { \
    g_return_val_if_fail (MP_IS_##TYPE (self), (rtype) 0); \
    return (expr); \
  }

GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, GPid, pid, self->pid)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, GPid, ppid, self->ppid)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, const char *, name, self->name)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, MpMonitorProcessRole, role, self->role)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, MpMonitorProcessState, state, self->state)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, int, exit_code, self->exit_code)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, const char *, start_method, self->start_method)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, gboolean, daemon, self->daemon)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, start_time, self->start_ns)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, exit_time, self->exit_ns)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, double, cpu_percent, self->cpu_percent)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, rss, self->rss)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, blocked_on, self->blocked_on)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, current_task, self->current_task)
GETTER (MpMonitorProcess, mp_monitor_process, MONITOR_PROCESS, guint64, tasks_done, self->tasks_done)

gboolean
mp_monitor_process_is_alive (MpMonitorProcess *self)
{
  g_return_val_if_fail (MP_IS_MONITOR_PROCESS (self), FALSE);
  return self->alive;
}

/**
 * mp_monitor_process_get_children:
 * @self: a process
 *
 * The processes whose parent this is, for a #GtkTreeListModel over
 * mp_monitor_get_process_roots().
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorProcess
 */
GListModel *
mp_monitor_process_get_children (MpMonitorProcess *self)
{
  g_return_val_if_fail (MP_IS_MONITOR_PROCESS (self), NULL);
  return G_LIST_MODEL (self->children);
}

/* ---- MpMonitorPool ----------------------------------------------------------------------- */

GParamSpec *_mp_monitor_pool_pspecs[MP_POOL_N_PROPS];

static const PropDef pool_props[] = {
  COMMON_PROPS (MpMonitorPool),
  { MP_POOL_PROP_WORKERS, "workers", P_UINT, FIELD (MpMonitorPool, workers), NULL, "Worker processes the pool keeps" },
  { MP_POOL_PROP_WORKERS_ALIVE, "workers-alive", P_UINT, FIELD (MpMonitorPool, workers_alive), NULL, "Workers running now" },
  { MP_POOL_PROP_SUBMITTED, "submitted", P_UINT64, FIELD (MpMonitorPool, submitted), NULL, "Tasks submitted" },
  { MP_POOL_PROP_QUEUED, "queued", P_UINT64, FIELD (MpMonitorPool, queued), NULL, "Tasks waiting for a worker" },
  { MP_POOL_PROP_RUNNING, "running", P_UINT64, FIELD (MpMonitorPool, running), NULL, "Tasks running" },
  { MP_POOL_PROP_COMPLETED, "completed", P_UINT64, FIELD (MpMonitorPool, completed), NULL, "Tasks finished" },
  { MP_POOL_PROP_FAILED, "failed", P_UINT64, FIELD (MpMonitorPool, failed), NULL, "Tasks failed" },
  { MP_POOL_PROP_REPLACED_WORKERS, "replaced-workers", P_UINT64, FIELD (MpMonitorPool, replaced_workers), NULL, "Workers that died or retired and were replaced" },
  { MP_POOL_PROP_TOTAL_TASK_NS, "total-task-ns", P_UINT64, FIELD (MpMonitorPool, total_task_ns), NULL, "Time spent in tasks" },
  { MP_POOL_PROP_THROUGHPUT, "throughput", P_DOUBLE, FIELD (MpMonitorPool, throughput), NULL, "Tasks per second over the last sample interval" },
  { MP_POOL_PROP_MEDIAN_TASK_NS, "median-task-ns", P_UINT64, FIELD (MpMonitorPool, median_task_ns), NULL, "Median duration of recent tasks" },
  { MP_POOL_PROP_MEAN_TASK_NS, "mean-task-ns", P_UINT64, FIELD (MpMonitorPool, mean_task_ns), NULL, "Mean task duration" },
  { MP_POOL_PROP_THROUGHPUT_WINDOW, "throughput-window", P_DOUBLE, FIELD (MpMonitorPool, throughput_window), NULL, "Tasks per second over the last 10 s" },
};

G_DEFINE_FINAL_TYPE (MpMonitorPool, mp_monitor_pool, G_TYPE_OBJECT)

static void
mp_monitor_pool_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, pool_props, G_N_ELEMENTS (pool_props), prop_id, value, pspec);
}

static void
mp_monitor_pool_finalize (GObject *object)
{
  MpMonitorPool *self = MP_MONITOR_POOL (object);

  g_free (self->c.label);
  g_array_unref (self->workers_state);
  g_free (self->recent);
  g_free (self->durations);
  G_OBJECT_CLASS (mp_monitor_pool_parent_class)->finalize (object);
}

static void
mp_monitor_pool_class_init (MpMonitorPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_pool_get_property;
  object_class->finalize = mp_monitor_pool_finalize;
  install_props (object_class, pool_props, G_N_ELEMENTS (pool_props), _mp_monitor_pool_pspecs,
                 MP_POOL_N_PROPS);
}

static void
mp_monitor_pool_init (MpMonitorPool *self)
{
  self->h.pspecs = _mp_monitor_pool_pspecs;
  self->c.kind = MP_OBJECT_POOL;
  self->workers_state = g_array_new (FALSE, TRUE, sizeof (MpPoolWorkerState));
}

MpMonitorPool *
_mp_monitor_pool_new (guint64 id)
{
  MpMonitorPool *self = g_object_new (MP_TYPE_MONITOR_POOL, NULL);

  self->c.id = id;
  self->c.label = g_strdup_printf ("Pool #%" G_GUINT64_FORMAT, id);
  return self;
}

GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, id, self->c.id)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, const char *, label, self->c.label)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, GPid, creator_pid, self->c.creator_pid)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, gboolean, destroyed, self->c.destroyed)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint, workers, self->workers)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint, workers_alive, self->workers_alive)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, submitted, self->submitted)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, queued, self->queued)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, running, self->running)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, completed, self->completed)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, failed, self->failed)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, replaced_workers, self->replaced_workers)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, double, throughput, self->throughput)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, double, throughput_window, self->throughput_window)
GETTER (MpMonitorPool, mp_monitor_pool, MONITOR_POOL, guint64, median_task_ns, self->median_task_ns)

/**
 * mp_monitor_pool_get_throughput_history:
 * @self: a pool
 * @n_values: (out): the number of values
 *
 * Tasks per second at each of the last samples (at most 240), oldest first. The array is
 * valid until the monitor's next update.
 *
 * Returns: (transfer none) (array length=n_values): the values
 */
const double *
mp_monitor_pool_get_throughput_history (MpMonitorPool *self, guint *n_values)
{
  g_return_val_if_fail (MP_IS_MONITOR_POOL (self), NULL);
  g_return_val_if_fail (n_values != NULL, NULL);
  return _mp_history_linear (&self->throughput_history, n_values);
}

/**
 * mp_monitor_pool_dup_recent_tasks:
 * @self: a pool
 *
 * The task stream: the last finished tasks (at most 2000), oldest first.
 *
 * Returns: (transfer full) (element-type MpMonitorTaskSpan): the tasks
 */
GArray *
mp_monitor_pool_dup_recent_tasks (MpMonitorPool *self)
{
  GArray *out;

  g_return_val_if_fail (MP_IS_MONITOR_POOL (self), NULL);
  out = g_array_sized_new (FALSE, FALSE, sizeof (MpMonitorTaskSpan), self->recent_len);
  for (guint i = 0; i < self->recent_len; i++)
    g_array_append_val (out, self->recent[(self->recent_start + i) % MP_POOL_RECENT_TASKS]);
  return out;
}

/**
 * mp_monitor_pool_dup_workers:
 * @self: a pool
 *
 * The pool's workers as task events show them, with the task each one runs.
 *
 * Returns: (transfer full) (element-type MpMonitorWorker): the workers
 */
GArray *
mp_monitor_pool_dup_workers (MpMonitorPool *self)
{
  GArray *out;

  g_return_val_if_fail (MP_IS_MONITOR_POOL (self), NULL);
  out = g_array_sized_new (FALSE, TRUE, sizeof (MpMonitorWorker), self->workers_state->len);
  for (guint i = 0; i < self->workers_state->len; i++)
    {
      const MpPoolWorkerState *w = &g_array_index (self->workers_state, MpPoolWorkerState, i);
      MpMonitorWorker v = { .pid = w->pid, .task_id = w->task_id,
                            .task_start_ns = w->task_start_ns, .tasks_done = w->tasks_done };
      g_array_append_val (out, v);
    }
  return out;
}

/* ---- MpMonitorQueue ---------------------------------------------------------------------- */

GParamSpec *_mp_monitor_queue_pspecs[MP_QUEUE_N_PROPS];

static const PropDef queue_props[] = {
  COMMON_PROPS (MpMonitorQueue),
  { MP_QUEUE_PROP_DEPTH, "depth", P_UINT64, FIELD (MpMonitorQueue, depth), NULL, "Items in the queue" },
  { MP_QUEUE_PROP_MAX_DEPTH, "max-depth", P_UINT64, FIELD (MpMonitorQueue, max_depth), NULL, "Highest depth so far" },
  { MP_QUEUE_PROP_MAXSIZE, "maxsize", P_UINT64, FIELD (MpMonitorQueue, maxsize), NULL, "Capacity, 0 = unbounded" },
  { MP_QUEUE_PROP_PUTS, "puts", P_UINT64, FIELD (MpMonitorQueue, puts), NULL, "Items put" },
  { MP_QUEUE_PROP_GETS, "gets", P_UINT64, FIELD (MpMonitorQueue, gets), NULL, "Items got" },
  { MP_QUEUE_PROP_BYTES_PUT, "bytes-put", P_UINT64, FIELD (MpMonitorQueue, bytes_put), NULL, "Bytes put" },
  { MP_QUEUE_PROP_BYTES_GOT, "bytes-got", P_UINT64, FIELD (MpMonitorQueue, bytes_got), NULL, "Bytes got" },
  { MP_QUEUE_PROP_UNFINISHED_TASKS, "unfinished-tasks", P_UINT64, FIELD (MpMonitorQueue, unfinished_tasks), NULL, "JoinableQueue: items not yet task_done()" },
  { MP_QUEUE_PROP_BLOCKED_PUTS, "blocked-puts", P_UINT64, FIELD (MpMonitorQueue, blocked_puts), NULL, "Puts that waited for room" },
  { MP_QUEUE_PROP_BLOCKED_GETS, "blocked-gets", P_UINT64, FIELD (MpMonitorQueue, blocked_gets), NULL, "Gets that waited for an item" },
  { MP_QUEUE_PROP_PUT_RATE, "put-rate", P_DOUBLE, FIELD (MpMonitorQueue, put_rate), NULL, "Puts per second over the last sample interval" },
  { MP_QUEUE_PROP_GET_RATE, "get-rate", P_DOUBLE, FIELD (MpMonitorQueue, get_rate), NULL, "Gets per second over the last sample interval" },
};

G_DEFINE_FINAL_TYPE (MpMonitorQueue, mp_monitor_queue, G_TYPE_OBJECT)

static void
mp_monitor_queue_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, queue_props, G_N_ELEMENTS (queue_props), prop_id, value, pspec);
}

static void
mp_monitor_queue_finalize (GObject *object)
{
  MpMonitorQueue *self = MP_MONITOR_QUEUE (object);

  g_free (self->c.label);
  G_OBJECT_CLASS (mp_monitor_queue_parent_class)->finalize (object);
}

static void
mp_monitor_queue_class_init (MpMonitorQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_queue_get_property;
  object_class->finalize = mp_monitor_queue_finalize;
  install_props (object_class, queue_props, G_N_ELEMENTS (queue_props),
                 _mp_monitor_queue_pspecs, MP_QUEUE_N_PROPS);
}

static void
mp_monitor_queue_init (MpMonitorQueue *self)
{
  self->h.pspecs = _mp_monitor_queue_pspecs;
  self->c.kind = MP_OBJECT_QUEUE;
}

MpMonitorQueue *
_mp_monitor_queue_new (guint64 id)
{
  MpMonitorQueue *self = g_object_new (MP_TYPE_MONITOR_QUEUE, NULL);

  self->c.id = id;
  self->c.label = g_strdup_printf ("Queue #%" G_GUINT64_FORMAT, id);
  return self;
}

GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, id, self->c.id)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, MpObjectKind, kind, self->c.kind)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, const char *, label, self->c.label)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, GPid, creator_pid, self->c.creator_pid)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, gboolean, destroyed, self->c.destroyed)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, depth, self->depth)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, max_depth, self->max_depth)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, maxsize, self->maxsize)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, puts, self->puts)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, guint64, gets, self->gets)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, double, put_rate, self->put_rate)
GETTER (MpMonitorQueue, mp_monitor_queue, MONITOR_QUEUE, double, get_rate, self->get_rate)

/**
 * mp_monitor_queue_get_depth_history:
 * @self: a queue
 * @n_values: (out): the number of values
 *
 * The depth at each of the last samples (at most 240), oldest first; valid until the
 * monitor's next update.
 *
 * Returns: (transfer none) (array length=n_values): the values
 */
const double *
mp_monitor_queue_get_depth_history (MpMonitorQueue *self, guint *n_values)
{
  g_return_val_if_fail (MP_IS_MONITOR_QUEUE (self), NULL);
  g_return_val_if_fail (n_values != NULL, NULL);
  return _mp_history_linear (&self->depth_history, n_values);
}

/* ---- MpMonitorLock ----------------------------------------------------------------------- */

GParamSpec *_mp_monitor_lock_pspecs[MP_LOCK_N_PROPS];

static const PropDef lock_props[] = {
  COMMON_PROPS (MpMonitorLock),
  { MP_LOCK_PROP_HOLDER_PID, "holder-pid", P_INT, FIELD (MpMonitorLock, holder_pid), NULL, "The process holding it, 0 when free" },
  { MP_LOCK_PROP_N_WAITERS, "n-waiters", P_UINT, FIELD (MpMonitorLock, n_waiters), NULL, "Processes blocked on it" },
  { MP_LOCK_PROP_ACQUISITIONS, "acquisitions", P_UINT64, FIELD (MpMonitorLock, acquisitions), NULL, "Successful acquires (or waits)" },
  { MP_LOCK_PROP_CONTENDED, "contended", P_UINT64, FIELD (MpMonitorLock, contended), NULL, "Acquires that had to wait" },
  { MP_LOCK_PROP_CONTENDED_PERCENT, "contended-percent", P_DOUBLE, FIELD (MpMonitorLock, contended_percent), NULL, "Share of acquires that waited" },
  { MP_LOCK_PROP_TOTAL_WAIT_NS, "total-wait-ns", P_UINT64, FIELD (MpMonitorLock, total_wait_ns), NULL, "Time spent waiting" },
  { MP_LOCK_PROP_MAX_WAIT_NS, "max-wait-ns", P_UINT64, FIELD (MpMonitorLock, max_wait_ns), NULL, "Longest wait" },
  { MP_LOCK_PROP_OWNER_DIED, "owner-died", P_UINT64, FIELD (MpMonitorLock, owner_died), NULL, "Times it was recovered from a dead holder" },
  { MP_LOCK_PROP_COUNT, "count", P_UINT, FIELD (MpMonitorLock, count), NULL, "RLock recursion; barrier arrivals" },
  { MP_LOCK_PROP_LIMIT, "limit", P_UINT, FIELD (MpMonitorLock, limit), NULL, "BoundedSemaphore maximum; barrier parties" },
  { MP_LOCK_PROP_LAST_WAITER_PID, "last-waiter-pid", P_INT, FIELD (MpMonitorLock, last_waiter_pid), NULL, "The process that waited last" },
};

G_DEFINE_FINAL_TYPE (MpMonitorLock, mp_monitor_lock, G_TYPE_OBJECT)

static void
mp_monitor_lock_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, lock_props, G_N_ELEMENTS (lock_props), prop_id, value, pspec);
}

static void
mp_monitor_lock_finalize (GObject *object)
{
  MpMonitorLock *self = MP_MONITOR_LOCK (object);

  g_free (self->c.label);
  g_array_unref (self->waiters);
  G_OBJECT_CLASS (mp_monitor_lock_parent_class)->finalize (object);
}

static void
mp_monitor_lock_class_init (MpMonitorLockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_lock_get_property;
  object_class->finalize = mp_monitor_lock_finalize;
  install_props (object_class, lock_props, G_N_ELEMENTS (lock_props), _mp_monitor_lock_pspecs,
                 MP_LOCK_N_PROPS);
}

static void
mp_monitor_lock_init (MpMonitorLock *self)
{
  self->h.pspecs = _mp_monitor_lock_pspecs;
  self->c.kind = MP_OBJECT_LOCK;
  self->waiters = g_array_new (FALSE, FALSE, sizeof (GPid));
}

MpMonitorLock *
_mp_monitor_lock_new (guint64 id)
{
  MpMonitorLock *self = g_object_new (MP_TYPE_MONITOR_LOCK, NULL);

  self->c.id = id;
  self->c.label = g_strdup_printf ("Lock #%" G_GUINT64_FORMAT, id);
  return self;
}

GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint64, id, self->c.id)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, MpObjectKind, kind, self->c.kind)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, const char *, label, self->c.label)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, GPid, creator_pid, self->c.creator_pid)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, gboolean, destroyed, self->c.destroyed)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, GPid, holder_pid, self->holder_pid)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint, n_waiters, self->n_waiters)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint64, acquisitions, self->acquisitions)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint64, contended, self->contended)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, double, contended_percent, self->contended_percent)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint64, total_wait_ns, self->total_wait_ns)
GETTER (MpMonitorLock, mp_monitor_lock, MONITOR_LOCK, guint64, max_wait_ns, self->max_wait_ns)

/**
 * mp_monitor_lock_get_waiters:
 * @self: a lock
 * @n_waiters: (out): the number of pids
 *
 * The processes known to wait on the lock now: those whose process-table entry says they are
 * blocked on it, and those whose contention event shows a wait in progress. Valid until the
 * monitor's next update.
 *
 * Returns: (transfer none) (array length=n_waiters): the pids
 */
const GPid *
mp_monitor_lock_get_waiters (MpMonitorLock *self, guint *n_waiters)
{
  g_return_val_if_fail (MP_IS_MONITOR_LOCK (self), NULL);
  g_return_val_if_fail (n_waiters != NULL, NULL);
  *n_waiters = self->waiters->len;
  return (const GPid *) (void *) self->waiters->data;
}

/* ---- MpMonitorSegment -------------------------------------------------------------------- */

GParamSpec *_mp_monitor_segment_pspecs[MP_SEGMENT_N_PROPS];

static const PropDef segment_props[] = {
  COMMON_PROPS (MpMonitorSegment),
  { MP_SEGMENT_PROP_NAME, "name", P_STRING, FIELD (MpMonitorSegment, name), NULL, "Name in /dev/shm (without '/'), NULL if anonymous" },
  { MP_SEGMENT_PROP_SIZE, "size", P_UINT64, FIELD (MpMonitorSegment, size), NULL, "Size in bytes" },
  { MP_SEGMENT_PROP_N_MAPPERS, "n-mappers", P_UINT, FIELD (MpMonitorSegment, n_mappers), NULL, "Live processes that have it mapped" },
  { MP_SEGMENT_PROP_UNLINKED, "unlinked", P_BOOL, FIELD (MpMonitorSegment, unlinked), NULL, "Its name was unlinked" },
  { MP_SEGMENT_PROP_EXISTS, "exists", P_BOOL, FIELD (MpMonitorSegment, exists), NULL, "Its name is still in /dev/shm" },
  { MP_SEGMENT_PROP_LEAKED, "leaked", P_BOOL, FIELD (MpMonitorSegment, leaked), NULL, "Named, not unlinked, and no live process maps it" },
};

G_DEFINE_FINAL_TYPE (MpMonitorSegment, mp_monitor_segment, G_TYPE_OBJECT)

static void
mp_monitor_segment_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, segment_props, G_N_ELEMENTS (segment_props), prop_id, value, pspec);
}

static void
mp_monitor_segment_finalize (GObject *object)
{
  MpMonitorSegment *self = MP_MONITOR_SEGMENT (object);

  g_free (self->c.label);
  g_free (self->name);
  g_array_unref (self->attached);
  G_OBJECT_CLASS (mp_monitor_segment_parent_class)->finalize (object);
}

static void
mp_monitor_segment_class_init (MpMonitorSegmentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_segment_get_property;
  object_class->finalize = mp_monitor_segment_finalize;
  install_props (object_class, segment_props, G_N_ELEMENTS (segment_props),
                 _mp_monitor_segment_pspecs, MP_SEGMENT_N_PROPS);
}

static void
mp_monitor_segment_init (MpMonitorSegment *self)
{
  self->h.pspecs = _mp_monitor_segment_pspecs;
  self->c.kind = MP_OBJECT_SHARED_MEMORY;
  self->attached = g_array_new (FALSE, FALSE, sizeof (GPid));
}

MpMonitorSegment *
_mp_monitor_segment_new (guint64 id)
{
  MpMonitorSegment *self = g_object_new (MP_TYPE_MONITOR_SEGMENT, NULL);

  self->c.id = id;
  self->c.label = g_strdup_printf ("Segment #%" G_GUINT64_FORMAT, id);
  return self;
}

GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, guint64, id, self->c.id)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, MpObjectKind, kind, self->c.kind)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, const char *, label, self->c.label)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, const char *, name, self->name)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, GPid, creator_pid, self->c.creator_pid)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, gboolean, destroyed, self->c.destroyed)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, guint64, size, self->size)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, guint, n_mappers, self->n_mappers)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, gboolean, unlinked, self->unlinked)
GETTER (MpMonitorSegment, mp_monitor_segment, MONITOR_SEGMENT, gboolean, leaked, self->leaked)

/**
 * mp_monitor_segment_get_attached:
 * @self: a segment
 * @n_pids: (out): the number of pids
 *
 * The processes that attached the segment (from its stats and its attach events; the stats
 * keep the first 8). Valid until the monitor's next update.
 *
 * Returns: (transfer none) (array length=n_pids): the pids
 */
const GPid *
mp_monitor_segment_get_attached (MpMonitorSegment *self, guint *n_pids)
{
  g_return_val_if_fail (MP_IS_MONITOR_SEGMENT (self), NULL);
  g_return_val_if_fail (n_pids != NULL, NULL);
  *n_pids = self->attached->len;
  return (const GPid *) (void *) self->attached->data;
}

/* ---- MpMonitorAlert ---------------------------------------------------------------------- */

GParamSpec *_mp_monitor_alert_pspecs[MP_ALERT_N_PROPS];

static const PropDef alert_props[] = {
  { MP_ALERT_PROP_KIND, "kind", P_ENUM, FIELD (MpMonitorAlert, kind), mp_monitor_alert_kind_get_type, "What was detected" },
  { MP_ALERT_PROP_MESSAGE, "message", P_STRING, FIELD (MpMonitorAlert, message), NULL, "A sentence naming the processes and objects involved" },
  { MP_ALERT_PROP_SINCE, "since", P_UINT64, FIELD (MpMonitorAlert, since), NULL, "CLOCK_MONOTONIC ns it was first detected" },
};

G_DEFINE_FINAL_TYPE (MpMonitorAlert, mp_monitor_alert, G_TYPE_OBJECT)

static void
mp_monitor_alert_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, alert_props, G_N_ELEMENTS (alert_props), prop_id, value, pspec);
}

static void
mp_monitor_alert_finalize (GObject *object)
{
  MpMonitorAlert *self = MP_MONITOR_ALERT (object);

  g_free (self->message);
  g_free (self->key);
  g_array_unref (self->pids);
  g_array_unref (self->objects);
  G_OBJECT_CLASS (mp_monitor_alert_parent_class)->finalize (object);
}

static void
mp_monitor_alert_class_init (MpMonitorAlertClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_alert_get_property;
  object_class->finalize = mp_monitor_alert_finalize;
  install_props (object_class, alert_props, G_N_ELEMENTS (alert_props),
                 _mp_monitor_alert_pspecs, MP_ALERT_N_PROPS);
}

static void
mp_monitor_alert_init (MpMonitorAlert *self)
{
  self->h.pspecs = _mp_monitor_alert_pspecs;
  self->pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  self->objects = g_array_new (FALSE, FALSE, sizeof (guint64));
}

MpMonitorAlert *
_mp_monitor_alert_new (MpMonitorAlertKind kind, const char *key)
{
  MpMonitorAlert *self = g_object_new (MP_TYPE_MONITOR_ALERT, NULL);

  self->kind = kind;
  self->key = g_strdup (key);
  return self;
}

GETTER (MpMonitorAlert, mp_monitor_alert, MONITOR_ALERT, MpMonitorAlertKind, kind, self->kind)
GETTER (MpMonitorAlert, mp_monitor_alert, MONITOR_ALERT, const char *, message, self->message)
GETTER (MpMonitorAlert, mp_monitor_alert, MONITOR_ALERT, guint64, since, self->since)

/**
 * mp_monitor_alert_get_pids:
 * @self: an alert
 * @n_pids: (out): the number of pids
 *
 * The processes the alert is about: the cycle of a deadlock in order (each waits for the
 * next), the stuck worker, the creator of a leaked segment.
 *
 * Returns: (transfer none) (array length=n_pids): the pids
 */
const GPid *
mp_monitor_alert_get_pids (MpMonitorAlert *self, guint *n_pids)
{
  g_return_val_if_fail (MP_IS_MONITOR_ALERT (self), NULL);
  g_return_val_if_fail (n_pids != NULL, NULL);
  *n_pids = self->pids->len;
  return (const GPid *) (void *) self->pids->data;
}

/**
 * mp_monitor_alert_get_objects:
 * @self: an alert
 * @n_objects: (out): the number of ids
 *
 * The objects the alert is about: the locks of a deadlock cycle (the lock the i-th process
 * waits for), the pool of a stuck worker, the leaked segment.
 *
 * Returns: (transfer none) (array length=n_objects): object ids
 */
const guint64 *
mp_monitor_alert_get_objects (MpMonitorAlert *self, guint *n_objects)
{
  g_return_val_if_fail (MP_IS_MONITOR_ALERT (self), NULL);
  g_return_val_if_fail (n_objects != NULL, NULL);
  *n_objects = self->objects->len;
  return (const guint64 *) (void *) self->objects->data;
}

/* ---- MpMonitorProgram -------------------------------------------------------------------- */

struct _MpMonitorProgram
{
  GObject  parent_instance;
  GPid     pid;
  char    *name;
  gint64   start_time;
  guint    n_processes;
  char    *error;
};

enum
{
  PROGRAM_PROP_PID = 1,
  PROGRAM_PROP_NAME,
  PROGRAM_PROP_START_TIME,
  PROGRAM_PROP_N_PROCESSES,
  PROGRAM_PROP_ERROR,
  PROGRAM_N_PROPS
};

static GParamSpec *program_pspecs[PROGRAM_N_PROPS];

static const PropDef program_props[] = {
  { PROGRAM_PROP_PID, "pid", P_INT, FIELD (MpMonitorProgram, pid), NULL, "The program's root process" },
  { PROGRAM_PROP_NAME, "name", P_STRING, FIELD (MpMonitorProgram, name), NULL, "Program name from its arena" },
  { PROGRAM_PROP_START_TIME, "start-time", P_UINT64, FIELD (MpMonitorProgram, start_time), NULL, "Start, in µs since the Unix epoch" },
  { PROGRAM_PROP_N_PROCESSES, "n-processes", P_UINT, FIELD (MpMonitorProgram, n_processes), NULL, "Live processes of the tree" },
  { PROGRAM_PROP_ERROR, "error", P_STRING, FIELD (MpMonitorProgram, error), NULL, "Why it cannot be attached, NULL if it can" },
};

G_DEFINE_FINAL_TYPE (MpMonitorProgram, mp_monitor_program, G_TYPE_OBJECT)

static void
mp_monitor_program_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  get_prop (object, program_props, G_N_ELEMENTS (program_props), prop_id, value, pspec);
}

static void
mp_monitor_program_finalize (GObject *object)
{
  MpMonitorProgram *self = MP_MONITOR_PROGRAM (object);

  g_free (self->name);
  g_free (self->error);
  G_OBJECT_CLASS (mp_monitor_program_parent_class)->finalize (object);
}

static void
mp_monitor_program_class_init (MpMonitorProgramClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = mp_monitor_program_get_property;
  object_class->finalize = mp_monitor_program_finalize;
  install_props (object_class, program_props, G_N_ELEMENTS (program_props), program_pspecs,
                 PROGRAM_N_PROPS);
}

static void
mp_monitor_program_init (MpMonitorProgram *self)
{
}

MpMonitorProgram *
_mp_monitor_program_new (GPid pid, const char *name, gint64 start_time, guint n_processes,
                         const char *error)
{
  MpMonitorProgram *self = g_object_new (MP_TYPE_MONITOR_PROGRAM, NULL);

  self->pid = pid;
  self->name = g_strdup (name);
  self->start_time = start_time;
  self->n_processes = n_processes;
  self->error = g_strdup (error);
  return self;
}

GETTER (MpMonitorProgram, mp_monitor_program, MONITOR_PROGRAM, GPid, pid, self->pid)
GETTER (MpMonitorProgram, mp_monitor_program, MONITOR_PROGRAM, const char *, name, self->name)
GETTER (MpMonitorProgram, mp_monitor_program, MONITOR_PROGRAM, gint64, start_time, self->start_time)
GETTER (MpMonitorProgram, mp_monitor_program, MONITOR_PROGRAM, guint, n_processes, self->n_processes)
GETTER (MpMonitorProgram, mp_monitor_program, MONITOR_PROGRAM, const char *, error, self->error)

/* ---- history rings ----------------------------------------------------------------------- */

void
_mp_history_push (MpHistory *h, double v)
{
  if (h->len < MP_HISTORY_LEN)
    h->values[(h->start + h->len++) % MP_HISTORY_LEN] = v;
  else
    {
      h->values[h->start] = v;
      h->start = (h->start + 1) % MP_HISTORY_LEN;
    }
}

const double *
_mp_history_linear (MpHistory *h, guint *n)
{
  for (guint i = 0; i < h->len; i++)
    h->linear[i] = h->values[(h->start + i) % MP_HISTORY_LEN];
  *n = h->len;
  return h->linear;
}
