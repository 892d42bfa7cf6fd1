/* mp-pool.c: MpPool, the API every pool shares (process pools and thread pools)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * This file turns the Python API into jobs and tasks (see mp-pool-private.h) and owns what
 * both backends share: the state machine (RUN → CLOSE → joined, or → TERMINATE), the
 * callbacks, the GIO forms and the exit handler. The backends (mp-pool-process.c,
 * mp-thread-pool.c) only move tasks from core->pending to workers and back.
 *
 * Callbacks are queued on core->cb_queue and run by a GSource attached to the pool's
 * callback context, or by any blocking call that can acquire that context (so a program
 * that never runs a main loop still gets its callbacks, and one whose loop runs in another
 * thread never waits for it). The source holds a reference on the core; the core only points
 * at the source, and destroys it when the pool object goes and no callback is left.
 *
 * GIO forms: the job keeps the GTask; when the job finishes under the lock, the GTask is put
 * on core->deferred and returned by _mp_pool_core_unlock(), after the mutex is released,
 * because returning a task may run its callback right away. Cancellation is a
 * g_cancellable_source_new() on the task's context rather than a "cancelled" handler, so
 * nothing ever has to disconnect a handler from inside it.
 *
 * Exit: pools are terminated by an atexit() handler registered after libmp's own (so it runs
 * first, before the daemonic workers are terminated and joined), and only in the process
 * that created them: a forked child that calls exit() does not touch its parent's pools.
 */

#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp-context.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-pool-private.h"
#include "mp-process.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

struct _MpPool
{
  GObject      parent_instance;
  MpPoolCore  *core;
};

G_DEFINE_FINAL_TYPE (MpPool, mp_pool, G_TYPE_OBJECT)

static GMutex registry_lock;
static GList *live_cores;          /* MpPoolCore*, weak: removed by the core's unref */
static int pool_counter;
static pid_t self_pid;             /* getpid() is a syscall; reset in forked children */

static void
forget_pid_in_child (void)
{
  self_pid = 0;
}

static pid_t
current_pid (void)
{
  pid_t pid = __atomic_load_n (&self_pid, __ATOMIC_RELAXED);

  if (G_UNLIKELY (pid == 0))
    {
      pid = getpid ();
      __atomic_store_n (&self_pid, pid, __ATOMIC_RELAXED);
    }
  return pid;
}

static void core_terminate (MpPoolCore *core);

/* ---- the core ------------------------------------------------------------------------- */

MpPoolCore *
_mp_pool_core_ref (MpPoolCore *core)
{
  g_atomic_ref_count_inc (&core->ref_count);
  return core;
}

void
_mp_pool_core_unref (MpPoolCore *core)
{
  if (!g_atomic_ref_count_dec (&core->ref_count))
    return;

  g_mutex_lock (&registry_lock);
  live_cores = g_list_remove (live_cores, core);
  g_mutex_unlock (&registry_lock);

  if (core->backend_class != NULL && core->backend_class->free != NULL)
    core->backend_class->free (core);
  while (!g_queue_is_empty (&core->pending))
    _mp_pool_task_free (g_queue_pop_head (&core->pending));
  while (!g_queue_is_empty (&core->cb_queue))
    mp_async_result_unref (g_queue_pop_head (&core->cb_queue));
  g_clear_pointer (&core->initializer, mp_callable_unref);
  g_clear_error (&core->broken);
  g_clear_pointer (&core->cb_context, g_main_context_unref);
  if (core->object != NULL)
    {
      __atomic_store_n (&core->stats->workers_alive, 0, __ATOMIC_RELAXED);
      _mp_arena_object_retire (core->object);
    }
  g_free (core->label);
  g_mutex_clear (&core->mutex);
  g_cond_clear (&core->cond);
  g_free (core);
}

/* The core's lock is taken for a few microseconds at a time by the submitting threads, the
 * pool thread and the waiters: polling it for a moment before sleeping on it spares the
 * futex sleep and wake-up (several microseconds each in a virtual machine) that a short
 * wait would otherwise cost both sides. Adaptive, and never on one CPU (mp-sync.c). */
void
_mp_pool_core_lock (MpPoolCore *core)
{
  int spins;

  if (g_mutex_trylock (&core->mutex))
    return;
  spins = _mp_sync_spin_count ();
  for (int i = 0; i < spins; i++)
    {
      _mp_cpu_relax ();
      if (g_mutex_trylock (&core->mutex))
        {
          _mp_sync_spin_result (TRUE);
          return;
        }
    }
  if (spins > 0)
    _mp_sync_spin_result (FALSE);
  g_mutex_lock (&core->mutex);
}

/* Releases the mutex, then returns the GTasks of the jobs that finished meanwhile. */
void
_mp_pool_core_unlock (MpPoolCore *core)
{
  GSList *deferred = g_steal_pointer (&core->deferred);

  g_mutex_unlock (&core->mutex);

  deferred = g_slist_reverse (deferred);
  for (GSList *l = deferred; l != NULL; l = l->next)
    {
      MpAsyncResult *job = l->data;
      GTask *task = g_steal_pointer (&job->task);
      GSource *cancel_source = g_steal_pointer (&job->cancel_source);

      if (cancel_source != NULL)
        {
          g_source_destroy (cancel_source);
          g_source_unref (cancel_source);
        }
      if (task != NULL)
        {
          if (job->error != NULL)
            g_task_return_error (task, g_error_copy (job->error));
          else
            g_task_return_pointer (task, mp_async_result_ref (job),
                                   (GDestroyNotify) mp_async_result_unref);
          g_object_unref (task);
        }
      mp_async_result_unref (job);
    }
  g_slist_free (deferred);
}

/* GCond's broadcast makes a futex syscall even when nobody waits: only call it when somebody
 * does (every wait on core->cond goes through the counting wrappers below). */
void
_mp_pool_core_broadcast_locked (MpPoolCore *core)
{
  if (core->waiters > 0)
    g_cond_broadcast (&core->cond);
}

void
_mp_pool_core_cond_wait_locked (MpPoolCore *core)
{
  core->waiters++;
  g_cond_wait (&core->cond, &core->mutex);
  core->waiters--;
}

void
_mp_pool_core_update_stats_locked (MpPoolCore *core)
{
  MpPoolStats *st = core->stats;
  guint64 queued;

  if (st == NULL)
    return;
  queued = core->unfinished > core->running ? core->unfinished - core->running : 0;
  __atomic_store_n (&st->workers, (guint32) core->processes, __ATOMIC_RELAXED);
  __atomic_store_n (&st->workers_alive, core->workers_alive, __ATOMIC_RELAXED);
  __atomic_store_n (&st->submitted, core->n_submitted, __ATOMIC_RELAXED);
  __atomic_store_n (&st->queued, queued, __ATOMIC_RELAXED);
  __atomic_store_n (&st->running, (guint64) core->running, __ATOMIC_RELAXED);
  __atomic_store_n (&st->completed, core->n_completed, __ATOMIC_RELAXED);
  __atomic_store_n (&st->failed, core->n_failed, __ATOMIC_RELAXED);
  __atomic_store_n (&st->replaced_workers, core->n_replaced, __ATOMIC_RELAXED);
}

/* Runs the queued callbacks; called locked by a thread that owns the callback context. */
static void
run_callbacks_locked (MpPoolCore *core)
{
  while (!g_queue_is_empty (&core->cb_queue))
    {
      MpAsyncResult *job = g_queue_pop_head (&core->cb_queue);

      g_mutex_unlock (&core->mutex);
      _mp_async_result_run_callback (job);
      mp_async_result_unref (job);
      _mp_pool_core_lock (core);
    }
}

void
_mp_pool_core_dispatch_callbacks_locked (MpPoolCore *core)
{
  if (g_queue_is_empty (&core->cb_queue) || core->cb_context == NULL)
    return;
  if (g_main_context_acquire (core->cb_context))
    {
      run_callbacks_locked (core);
      g_main_context_release (core->cb_context);
    }
}

/*
 * One wait of a blocking call, locked: runs the pending callbacks if this thread can own
 * their context, else sleeps until something changes or @deadline_us (monotonic µs; -1 for
 * none). Returns FALSE when the deadline passed. Callers loop on their own condition.
 */
gboolean
_mp_pool_core_wait_locked (MpPoolCore *core, gint64 deadline_us)
{
  if (!g_queue_is_empty (&core->cb_queue) && core->cb_context != NULL &&
      g_main_context_acquire (core->cb_context))
    {
      run_callbacks_locked (core);
      g_main_context_release (core->cb_context);
      return TRUE;
    }
  if (deadline_us < 0)
    {
      _mp_pool_core_cond_wait_locked (core);
      return TRUE;
    }
  else
    {
      gboolean ret;

      core->waiters++;
      ret = g_cond_wait_until (&core->cond, &core->mutex, deadline_us);
      core->waiters--;
      return ret;
    }
}

/* The initializer failed: every task, now and later, fails with its error. */
void
_mp_pool_core_set_broken_locked (MpPoolCore *core, const GError *error)
{
  GHashTable *jobs;
  GHashTableIter iter;
  gpointer job;

  if (core->broken != NULL)
    return;
  core->broken = g_error_copy (error);
  g_prefix_error (&core->broken, "the pool's initializer failed: ");
  _mp_warning ("%s", core->broken->message);

  jobs = g_hash_table_new (NULL, NULL);
  for (GList *l = core->pending.head; l != NULL; l = l->next)
    g_hash_table_add (jobs, ((MpPoolTask *) l->data)->job);
  g_hash_table_iter_init (&iter, jobs);
  while (g_hash_table_iter_next (&iter, &job, NULL))
    _mp_async_result_cancel_locked (job, core->broken);
  g_hash_table_unref (jobs);
  _mp_pool_core_broadcast_locked (core);
}

/* ---- the callback source ---------------------------------------------------------------- */

typedef struct
{
  GSource      source;
  MpPoolCore  *core;
} CallbackSource;

static gboolean
callback_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  MpPoolCore *core = ((CallbackSource *) source)->core;
  gboolean keep;

  /* Before draining, so a job queued meanwhile sets it again. */
  g_source_set_ready_time (source, -1);
  _mp_pool_core_lock (core);
  run_callbacks_locked (core);
  keep = !core->disposed;
  if (!keep)
    core->cb_source = NULL;
  g_mutex_unlock (&core->mutex);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
callback_source_finalize (GSource *source)
{
  _mp_pool_core_unref (((CallbackSource *) source)->core);
}

static GSourceFuncs callback_source_funcs = {
  NULL, NULL, callback_source_dispatch, callback_source_finalize, NULL, NULL,
};

/* ---- GObject ---------------------------------------------------------------------------- */

static void
mp_pool_dispose (GObject *object)
{
  MpPool *self = MP_POOL (object);
  MpPoolCore *core = self->core;

  if (core != NULL && core->creator_pid != current_pid ())
    {
      /* A forked child's copy: its thread and workers are the parent's. Leave it alone. */
      self->core = NULL;
      core = NULL;
    }
  if (core != NULL)
    {
      gboolean done;

      _mp_pool_core_lock (core);
      done = core->backend_done;
      g_mutex_unlock (&core->mutex);
      /* Python: leaving the `with` block, or collecting the pool, terminates it. */
      if (!done)
        core_terminate (core);

      _mp_pool_core_lock (core);
      core->disposed = TRUE;
      if (core->cb_source != NULL)
        {
          if (g_queue_is_empty (&core->cb_queue))
            {
              g_source_destroy (core->cb_source);
              g_source_unref (core->cb_source);
            }
          else
            {
              /* Its dispatch runs the rest, then removes it. */
              g_source_set_ready_time (core->cb_source, 0);
              g_source_unref (core->cb_source);
            }
          core->cb_source = NULL;
        }
      g_mutex_unlock (&core->mutex);
      g_clear_pointer (&self->core, _mp_pool_core_unref);
    }
  G_OBJECT_CLASS (mp_pool_parent_class)->dispose (object);
}

static void
mp_pool_class_init (MpPoolClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mp_pool_dispose;
}

static void
mp_pool_init (MpPool *self)
{
}

guint
_mp_pool_slowmo_ms (void)
{
  const char *env = g_getenv ("LIBMP_SLOWMO");
  guint64 ms;

  if (env == NULL || !g_ascii_string_to_unsigned (env, 10, 0, 60000, &ms, NULL))
    return 0;
  return (guint) ms;
}

static void
pools_atexit (void)
{
  GList *cores = NULL;

  g_mutex_lock (&registry_lock);
  for (GList *l = live_cores; l != NULL; l = l->next)
    {
      MpPoolCore *core = l->data;
      if (core->creator_pid == getpid ())
        cores = g_list_prepend (cores, _mp_pool_core_ref (core));
    }
  g_mutex_unlock (&registry_lock);

  for (GList *l = cores; l != NULL; l = l->next)
    core_terminate (l->data);
  g_list_free_full (cores, (GDestroyNotify) _mp_pool_core_unref);
}

MpPool *
_mp_pool_new_with_backend (const MpPoolOptions       *options,
                           const MpPoolBackendClass  *backend_class,
                           gboolean                   is_thread,
                           GError                   **error)
{
  static gsize atexit_once;
  MpPoolOptions defaults = MP_POOL_OPTIONS_INIT;
  MpPoolCore *core;
  MpPool *self;
  int number;

  if (options == NULL)
    options = &defaults;
  if (options->processes != MP_POOL_DEFAULT_PROCESSES && options->processes < 1)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "Number of processes must be at least 1");
      return NULL;
    }
  if (options->maxtasksperchild < 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "maxtasksperchild must be a positive int or 0 (no limit)");
      return NULL;
    }
  if (is_thread && (options->maxtasksperchild > 0 || options->context != NULL))
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "a thread pool takes neither maxtasksperchild nor a context");
      return NULL;
    }
  if (is_thread && options->task_timeout_us > 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "task timeouts need worker processes: a thread cannot be killed");
      return NULL;
    }

  core = g_new0 (MpPoolCore, 1);
  g_atomic_ref_count_init (&core->ref_count);
  g_mutex_init (&core->mutex);
  g_cond_init (&core->cond);
  g_queue_init (&core->pending);
  g_queue_init (&core->cb_queue);
  core->state = MP_POOL_RUN;
  core->is_thread = is_thread;
  core->creator_pid = getpid ();
  core->processes = options->processes == MP_POOL_DEFAULT_PROCESSES ? mp_cpu_count ()
                                                                    : options->processes;
  core->maxtasks = options->maxtasksperchild;
  core->task_timeout_us = options->task_timeout_us > 0 ? options->task_timeout_us : 0;
  core->initializer = options->initializer ? mp_callable_ref (options->initializer) : NULL;
  core->context = is_thread ? NULL : (options->context ? options->context : mp_get_context (NULL, NULL));
  number = g_atomic_int_add (&pool_counter, 1) + 1;
  core->label = options->label ? g_strdup (options->label)
                               : g_strdup_printf ("%s-%d", is_thread ? "ThreadPool" : "Pool", number);
  core->slowmo_ms = _mp_pool_slowmo_ms ();
  core->backend_class = backend_class;

  core->object = _mp_arena_object_new (MP_OBJECT_POOL, core->label, &core->id);
  if (core->object != NULL)
    core->stats = MP_OBJECT_STATS (core->object, MpPoolStats);
  _mp_pool_core_update_stats_locked (core);

  core->cb_context = g_main_context_ref_thread_default ();
  {
    CallbackSource *cs = (CallbackSource *) g_source_new (&callback_source_funcs,
                                                          sizeof (CallbackSource));
    cs->core = _mp_pool_core_ref (core);
    g_source_set_name ((GSource *) cs, "libmp pool callbacks");
    g_source_set_ready_time ((GSource *) cs, -1);
    g_source_attach ((GSource *) cs, core->cb_context);
    core->cb_source = (GSource *) cs;
  }

  self = g_object_new (MP_TYPE_POOL, NULL);
  self->core = core;

  if (!backend_class->start (core, error))
    {
      g_object_unref (self);
      return NULL;
    }

  if (g_once_init_enter (&atexit_once))
    {
      atexit (pools_atexit);
      pthread_atfork (NULL, NULL, forget_pid_in_child);
      g_once_init_leave (&atexit_once, 1);
    }
  g_mutex_lock (&registry_lock);
  live_cores = g_list_prepend (live_cores, core);
  g_mutex_unlock (&registry_lock);
  return self;
}

/**
 * mp_pool_new:
 * @processes: the number of worker processes, or %MP_POOL_DEFAULT_PROCESSES for
 *   mp_cpu_count(); 0 and negative numbers are %MP_ERROR_INVALID_ARGUMENT
 * @error: return location for an error
 *
 * Python's `Pool(processes)`, with the default start method. The workers are running when it
 * returns. Callbacks of the pool run on the current thread-default #GMainContext (see
 * #MpPool).
 *
 * Returns: (transfer full): a new pool, or %NULL with @error set
 */
MpPool *
mp_pool_new (gint processes, GError **error)
{
  MpPoolOptions options = MP_POOL_OPTIONS_INIT;

  options.processes = processes;
  return mp_pool_new_full (&options, error);
}

/**
 * mp_pool_new_full:
 * @options: (nullable): the options (%NULL for the defaults); not kept
 * @error: return location for an error
 *
 * Python's `Pool(processes, initializer, initargs, maxtasksperchild, context)`.
 *
 * Returns: (transfer full): a new pool, or %NULL with %MP_ERROR_INVALID_ARGUMENT for bad
 *   options, or the error of the first worker that could not start
 */
MpPool *
mp_pool_new_full (const MpPoolOptions *options, GError **error)
{
  return _mp_pool_new_with_backend (options, &_mp_pool_process_backend, FALSE, error);
}

/* ---- submitting ------------------------------------------------------------------------ */

static gboolean
check_running_locked (MpPoolCore *core, GError **error)
{
  if (G_UNLIKELY (core->creator_pid != current_pid ()))
    {
      /* A forked child's copy of the pool has no thread and no workers. */
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "pool objects cannot be used in another process than the one that "
                           "created them");
      return FALSE;
    }
  if (core->state != MP_POOL_RUN)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED, "Pool not running");
      return FALSE;
    }
  if (core->broken != NULL)
    {
      g_propagate_error (error, g_error_copy (core->broken));
      return FALSE;
    }
  return TRUE;
}

static MpPoolTask *
task_init (MpPoolTask  *task,
           MpCallable  *func,
           const char  *chunk_type,
           GBytes      *chunk_data,
           guint        n_items,
           guint32      flags)
{
  GVariant *bound = mp_callable_get_args (func);

  task->func = mp_callable_get_func (func);
  task->bound = bound != NULL && g_variant_n_children (bound) > 0 ? g_variant_ref (bound) : NULL;
  task->fds = mp_callable_get_fds (func) ? g_object_ref (mp_callable_get_fds (func)) : NULL;
  task->chunk_type = chunk_type;
  task->chunk_data = chunk_data;
  if (chunk_data != NULL)
    task->chunk_ptr = g_bytes_get_data (chunk_data, &task->chunk_len);
  task->n_items = n_items;
  task->flags = flags;
  return task;
}

/* A new reference on the task's chunk, for a GVariant made from it that may outlive the job
 * (the function of a thread pool may keep its arguments). */
GBytes *
_mp_pool_task_dup_chunk (MpPoolTask *task)
{
  gsize size;
  const guint8 *base;

  if (task->chunk_data != NULL)
    return g_bytes_ref (task->chunk_data);
  if (task->args != NULL)
    return g_variant_get_data_as_bytes (task->args);
  base = g_bytes_get_data (task->job->items, &size);
  return g_bytes_new_from_bytes (task->job->items, (gsize) (task->chunk_ptr - base),
                                 task->chunk_len);
}

static MpPoolTask *
task_new (MpPoolCore  *core,
          MpCallable  *func,
          const char  *chunk_type,
          GBytes      *chunk_data,
          guint        n_items,
          guint32      flags)
{
  return task_init (g_new0 (MpPoolTask, 1), func, chunk_type, chunk_data, n_items, flags);
}

typedef enum
{
  SUBMIT_QUEUED,
  SUBMIT_REFUSED,     /* nothing queued, @error set */
  SUBMIT_DROPPED,     /* the job has ended meanwhile: the tasks were freed */
} SubmitResult;

static void
free_tasks (MpPoolTask **tasks, guint n_tasks)
{
  for (guint i = 0; i < n_tasks; i++)
    _mp_pool_task_free (tasks[i]);
}

/* Queues tasks first_chunk… of the job (taking them). The first batch of a job is refused
 * without side effects when the pool does not run; a later batch of a map that was accepted
 * still goes in after close(), and fails the whole job when the pool was terminated or broke
 * meanwhile (the job may also have been cancelled). */
static SubmitResult
submit_tasks (MpPoolCore *core, MpAsyncResult *job, MpPoolTask **tasks, guint n_tasks,
              guint first_chunk, GError **error)
{
  guint64 now;

  _mp_pool_core_lock (core);
  if (first_chunk == 0 && !check_running_locked (core, error))
    {
      g_mutex_unlock (&core->mutex);
      return SUBMIT_REFUSED;
    }
  if (first_chunk > 0 && !job->ready &&
      (core->state == MP_POOL_TERMINATE || core->broken != NULL))
    {
      g_autoptr(GError) why = core->broken != NULL
        ? g_error_copy (core->broken)
        : g_error_new_literal (MP_ERROR, MP_ERROR_CLOSED, "Pool terminated");
      _mp_async_result_cancel_locked (job, why);
    }
  if (first_chunk > 0 && job->ready)
    {
      /* No more batches come: the workers may end after close(). */
      core->submitting--;
      core->backend_class->wake (core);
      _mp_pool_core_broadcast_locked (core);
      _mp_pool_core_unlock (core);
      free_tasks (tasks, n_tasks);
      return SUBMIT_DROPPED;
    }
  /* Tasks submitted together have consecutive ids and share one event. */
  now = _mp_trace_enabled (MP_TRACE_NORMAL) ? _mp_monotonic_ns () : 0;
  if (now != 0 && n_tasks > 0)
    _mp_trace_emit_at (now, MP_EVENT_TASK_SUBMITTED, core->id, (gint64) core->next_task_id + 1,
                       n_tasks);
  for (guint i = 0; i < n_tasks; i++)
    {
      MpPoolTask *task = tasks[i];

      task->id = ++core->next_task_id;
      task->job = mp_async_result_ref (job);
      task->chunk = first_chunk + i;
      task->first_item = job->chunk_start[MIN (first_chunk + i, MAX (job->n_chunks, 1) - 1)];
      task->timeout_us = core->task_timeout_us;
      g_queue_push_tail (&core->pending, task);
    }
  core->unfinished += n_tasks;
  core->n_submitted += n_tasks;
  /* While a map queues its chunks in batches, pending may run empty between two of them:
   * that is not the end of the work (see _mp_pool_core_has_work_locked()). */
  if (first_chunk == 0 && n_tasks < job->n_chunks)
    core->submitting++;
  else if (first_chunk > 0 && first_chunk + n_tasks >= job->n_chunks)
    core->submitting--;
  if (job->n_chunks == 0)
    _mp_async_result_finish_locked (job);
  _mp_pool_core_update_stats_locked (core);
  core->backend_class->wake (core);
  _mp_pool_core_unlock (core);
  return SUBMIT_QUEUED;
}

/* apply: the one task lives in the job. */
static gboolean
submit_apply (MpPoolCore *core, MpAsyncResult *job, GError **error)
{
  MpPoolTask *task = &job->one_task;

  if (submit_tasks (core, job, &task, 1, 0, error) != SUBMIT_QUEUED)
    {
      job->one_task.job = NULL;
      _mp_pool_task_free (task);
      return FALSE;
    }
  return TRUE;
}

/* What a map job has to queue: its chunks are cut from the array a batch at a time, so the
 * workers start on the first chunks while the rest are cut (a map of 20 000 one-item chunks
 * spends milliseconds cutting). */
struct _MapPlan
{
  MpCallable  *func;
  GVariant    *array;
  const char  *chunk_type;   /* interned */
  guint32      flags;
  gsize        n;
  gsize        cs;
  gsize        fixed;        /* of an item, when the chunks point into job->items; or 0 */
};
typedef struct _MapPlan MapPlan;

#define SUBMIT_FIRST_BATCH  16
#define SUBMIT_MAX_BATCH    1024

static void
map_plan_free (MapPlan *plan)
{
  mp_callable_unref (plan->func);
  g_variant_unref (plan->array);
  g_free (plan);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MapPlan, map_plan_free)

/* Fails only when nothing was queued; later trouble fails the job itself. */
static gboolean
submit_map (MpPoolCore *core, MpAsyncResult *job, const MapPlan *plan, GError **error)
{
  g_autofree MpPoolTask **batch = NULL;
  gsize n_chunks = job->n_chunks, c = 0, step = SUBMIT_FIRST_BATCH;
  const guint8 *items = plan->fixed > 0 ? g_bytes_get_data (job->items, NULL) : NULL;

  if (n_chunks == 0)
    return submit_tasks (core, job, NULL, 0, 0, error) == SUBMIT_QUEUED;

  batch = g_new (MpPoolTask *, MIN (n_chunks, SUBMIT_MAX_BATCH));
  while (c < n_chunks)
    {
      gsize k = MIN (step, n_chunks - c);

      for (gsize i = 0; i < k; i++)
        {
          gsize start = (c + i) * plan->cs;
          guint count = (guint) MIN (plan->cs, plan->n - start);

          if (plan->fixed > 0)
            {
              batch[i] = task_new (core, plan->func, plan->chunk_type, NULL, count, plan->flags);
              batch[i]->chunk_ptr = items + start * plan->fixed;
              batch[i]->chunk_len = count * plan->fixed;
            }
          else
            batch[i] = task_new (core, plan->func, plan->chunk_type,
                                 _mp_pool_slice_array (plan->array, start, count), count,
                                 plan->flags);
        }
      switch (submit_tasks (core, job, batch, (guint) k, (guint) c, error))
        {
        case SUBMIT_QUEUED:
          break;
        case SUBMIT_REFUSED:
          free_tasks (batch, (guint) k);
          return FALSE;
        case SUBMIT_DROPPED:
        default:
          return TRUE;
        }
      c += k;
      step = MIN (step * 4, SUBMIT_MAX_BATCH);
    }
  return TRUE;
}

static void
set_callbacks (MpAsyncResult    *job,
               MpResultCallback  callback,
               MpErrorCallback   error_callback,
               gpointer          user_data,
               GDestroyNotify    notify)
{
  job->callback = callback;
  job->error_callback = error_callback;
  job->user_data = user_data;
  job->notify = notify;
}

/* An apply job, prepared but not submitted. */
static MpAsyncResult *
prepare_apply (MpPool *self, MpCallable *func, GVariant *args, GError **error)
{
  g_autoptr(GVariant) owned = NULL;
  const char *args_type;
  const char *chunk_type;
  GBytes *data;
  gsize fixed;
  MpAsyncResult *job;

  owned = args ? g_variant_ref (args) : g_variant_ref_sink (g_variant_new_tuple (NULL, 0));
  if (!g_variant_is_of_type (owned, G_VARIANT_TYPE_TUPLE))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "apply: the arguments must be a tuple, not %s",
                   g_variant_get_type_string (owned));
      return NULL;
    }
  args_type = g_variant_get_type_string (owned);
  chunk_type = _mp_pool_type_lookup (args_type, strlen (args_type), TRUE, &fixed);
  if (fixed > 0 && g_variant_get_size (owned) == fixed)
    data = NULL;      /* an array of one fixed-size item: its bytes, stored at dispatch */
  else
    {
      g_autoptr(GVariant) array = g_variant_ref_sink (g_variant_new_array (NULL, &owned, 1));
      data = g_variant_get_data_as_bytes (array);
    }
  job = _mp_async_result_new (self->core, MP_JOB_APPLY, 1, 1);
  /* A batched function gets the same one-item array and returns a one-result array. */
  task_init (&job->one_task, func, chunk_type, data, 1,
             mp_callable_is_batched (func) ? MP_POOL_TASK_BATCH : 0);
  if (data == NULL)
    {
      job->one_task.args = g_steal_pointer (&owned);
      job->one_task.chunk_len = fixed;
    }
  job->one_task.embedded = TRUE;
  return job;
}

/* A map, starmap or imap job, prepared but not submitted. */
static MpAsyncResult *
prepare_map (MpPool      *self,
             MpJobKind    kind,
             gboolean     star,
             MpCallable  *func,
             GVariant    *iterable,
             gint         chunksize,
             MapPlan    **plan,
             GError     **error)
{
  MpPoolCore *core = self->core;
  g_autoptr(GVariant) owned = g_variant_ref (iterable);
  g_autoptr(GVariant) array = NULL;
  g_autofree char *chunk_type = NULL;
  const char *elem;
  const char *interned;
  guint32 flags = 0;
  gsize n, n_chunks, cs;
  MpAsyncResult *job;

  if (g_variant_is_of_type (owned, G_VARIANT_TYPE_TUPLE))
    {
      /* (1, 2, 3) is `ai`; a tuple of mixed types becomes `av` */
      gsize k = g_variant_n_children (owned);
      g_autofree GVariant **children = g_new (GVariant *, MAX (k, 1));
      gboolean same = TRUE;

      for (gsize i = 0; i < k; i++)
        {
          children[i] = g_variant_get_child_value (owned, i);
          if (i > 0 && !g_variant_type_equal (g_variant_get_type (children[i]),
                                              g_variant_get_type (children[0])))
            same = FALSE;
        }
      if (!same || k == 0)
        for (gsize i = 0; i < k; i++)
          {
            GVariant *boxed = g_variant_ref_sink (g_variant_new_variant (children[i]));
            g_variant_unref (children[i]);
            children[i] = boxed;
          }
      array = g_variant_ref_sink (g_variant_new_array (same && k > 0 ? NULL : G_VARIANT_TYPE_VARIANT,
                                                       children, k));
      for (gsize i = 0; i < k; i++)
        g_variant_unref (children[i]);
      if (!g_variant_is_normal_form (array))
        {
          GVariant *normal = g_variant_get_normal_form (array);
          g_variant_unref (array);
          array = normal;
        }
    }
  else if (g_variant_is_of_type (owned, G_VARIANT_TYPE_ARRAY))
    array = g_variant_is_normal_form (owned) ? g_variant_ref (owned)
                                             : g_variant_get_normal_form (owned);
  else
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "%s: the items must be an array or a tuple, not %s",
                   star ? "starmap" : "map", g_variant_get_type_string (owned));
      return NULL;
    }

  n = g_variant_n_children (array);
  if (n > G_MAXUINT)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "too many items");
      return NULL;
    }
  elem = g_variant_get_type_string (array) + 1;
  if (mp_callable_is_batched (func))
    {
      /* The function takes the caller's items as they are, a slice at a time. */
      chunk_type = g_strdup (g_variant_get_type_string (array));
      flags |= MP_POOL_TASK_BATCH;
    }
  else if (star)
    {
      if (elem[0] == '(')
        chunk_type = g_strconcat ("a", elem, NULL);
      else if (elem[0] == '{')
        chunk_type = g_strdup_printf ("a(%.*s)", (int) strlen (elem) - 2, elem + 1);
      else if (elem[0] == 'v')
        {
          chunk_type = g_strdup ("av");
          flags |= MP_POOL_TASK_UNWRAP;
        }
      else
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "starmap: each item must be an argument tuple, not %s", elem);
          return NULL;
        }
    }
  else if (elem[0] == '{')
    chunk_type = g_strdup_printf ("a((%.*s))", (int) strlen (elem) - 2, elem + 1);
  else
    chunk_type = g_strdup_printf ("a(%s)", elem);
  interned = g_intern_string (chunk_type);

  if (kind == MP_JOB_MAP)
    {
      if (chunksize < 0)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "Chunksize must be 0 (default) or positive, not %d", chunksize);
          return NULL;
        }
      /* Python: divmod(len, processes * 4), plus one for a remainder */
      cs = chunksize > 0 ? (gsize) chunksize
                         : MAX ((n + 4 * (gsize) core->processes - 1) / (4 * (gsize) core->processes), 1);
    }
  else
    {
      if (chunksize < 1)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "Chunksize must be 1+, not %d", chunksize);
          return NULL;
        }
      cs = (gsize) chunksize;
    }

  n_chunks = (n + cs - 1) / cs;
  job = _mp_async_result_new (core, kind, (guint) n_chunks, n);
  for (gsize c = 0; c < n_chunks; c++)
    job->chunk_start[c] = (guint) (c * cs);
  *plan = g_new0 (MapPlan, 1);
  (*plan)->func = mp_callable_ref (func);
  (*plan)->array = g_steal_pointer (&array);
  (*plan)->chunk_type = interned;
  (*plan)->flags = flags;
  (*plan)->n = n;
  (*plan)->cs = cs;
  /* Fixed-size items in normal form: a chunk is a range of the array's bytes. */
  (*plan)->fixed = _mp_pool_type_fixed_size (elem, NULL);
  if ((*plan)->fixed > 0 && g_variant_get_size ((*plan)->array) == n * (*plan)->fixed)
    job->items = g_variant_get_data_as_bytes ((*plan)->array);
  else
    (*plan)->fixed = 0;
  return job;
}

static gboolean
check_submit_args (MpPool *self, MpCallable *func, GError **error)
{
  gboolean ok;

  _mp_pool_core_lock (self->core);
  ok = check_running_locked (self->core, error);
  g_mutex_unlock (&self->core->mutex);
  return ok;
}

/**
 * mp_pool_apply_async_result:
 * @self: a pool
 * @func: the function and its bound arguments
 * @args: (nullable): the call's argument tuple (floating references are sunk); %NULL is `()`
 * @callback: (nullable) (scope notified): called with the value when the task succeeded
 * @error_callback: (nullable) (scope notified): called with the error when it failed
 * @user_data: data for the callbacks
 * @notify: (nullable): frees @user_data once the callbacks can no longer run
 * @error: return location for an error
 *
 * Python's `apply_async(func, args, callback=, error_callback=)`. See #MpPool for where the
 * callbacks run.
 *
 * Returns: (transfer full): the result, or %NULL with %MP_ERROR_CLOSED when the pool is
 *   closed, %MP_ERROR_INVALID_ARGUMENT when @args is not a tuple
 */
MpAsyncResult *
mp_pool_apply_async_result (MpPool           *self,
                            MpCallable       *func,
                            GVariant         *args,
                            MpResultCallback  callback,
                            MpErrorCallback   error_callback,
                            gpointer          user_data,
                            GDestroyNotify    notify,
                            GError          **error)
{
  g_autoptr(GVariant) owned = NULL;
  MpAsyncResult *job;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  owned = args ? g_variant_ref_sink (args) : NULL;
  /* No early check for a closed pool: submit_apply() checks, and this is the hot path. */
  if (!(job = prepare_apply (self, func, owned, error)))
    {
      if (notify)
        notify (user_data);
      return NULL;
    }
  set_callbacks (job, callback, error_callback, user_data, notify);
  if (!submit_apply (self->core, job, error))
    {
      mp_async_result_unref (job);
      return NULL;
    }
  return job;
}

/**
 * mp_pool_apply:
 * @self: a pool
 * @func: the function and its bound arguments
 * @args: (nullable): the call's argument tuple (floating references are sunk)
 * @error: return location for an error
 *
 * Python's `apply(func, args)`: runs one task in a worker and waits for it.
 *
 * Returns: (transfer full) (nullable): what the task returned (%NULL without an error for
 *   %NULL, Python's `None`), or %NULL with its error
 */
GVariant *
mp_pool_apply (MpPool *self, MpCallable *func, GVariant *args, GError **error)
{
  g_autoptr(MpAsyncResult) res = NULL;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  res = mp_pool_apply_async_result (self, func, args, NULL, NULL, NULL, NULL, error);
  if (res == NULL)
    return NULL;
  return mp_async_result_get (res, MP_TIMEOUT_INFINITE, error);
}

static MpAsyncResult *
map_async_result (MpPool           *self,
                  gboolean          star,
                  MpCallable       *func,
                  GVariant         *iterable,
                  gint              chunksize,
                  MpResultCallback  callback,
                  MpErrorCallback   error_callback,
                  gpointer          user_data,
                  GDestroyNotify    notify,
                  GError          **error)
{
  g_autoptr(MapPlan) plan = NULL;
  g_autoptr(GVariant) owned = g_variant_ref_sink (iterable);
  MpAsyncResult *job;

  if (!check_submit_args (self, func, error) ||
      !(job = prepare_map (self, MP_JOB_MAP, star, func, owned, chunksize, &plan, error)))
    {
      if (notify)
        notify (user_data);
      return NULL;
    }
  set_callbacks (job, callback, error_callback, user_data, notify);
  if (!submit_map (self->core, job, plan, error))
    {
      mp_async_result_unref (job);
      return NULL;
    }
  return job;
}

/**
 * mp_pool_map_async_result:
 * @self: a pool
 * @func: the function and its bound arguments
 * @iterable: the items: an array or a tuple (floating references are sunk)
 * @chunksize: items per task; 0 for Python's default
 * @callback: (nullable) (scope notified): called with the array of results
 * @error_callback: (nullable) (scope notified): called with the first error
 * @user_data: data for the callbacks
 * @notify: (nullable): frees @user_data once the callbacks can no longer run
 * @error: return location for an error
 *
 * Python's `map_async(func, iterable, chunksize, callback, error_callback)`.
 *
 * Returns: (transfer full): the result, or %NULL with an error when the pool is closed or
 *   the arguments are invalid
 */
MpAsyncResult *
mp_pool_map_async_result (MpPool           *self,
                          MpCallable       *func,
                          GVariant         *iterable,
                          gint              chunksize,
                          MpResultCallback  callback,
                          MpErrorCallback   error_callback,
                          gpointer          user_data,
                          GDestroyNotify    notify,
                          GError          **error)
{
  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  return map_async_result (self, FALSE, func, iterable, chunksize, callback, error_callback,
                           user_data, notify, error);
}

/**
 * mp_pool_starmap_async_result:
 *
 * Python's `starmap_async`: as mp_pool_map_async_result(), each item being the argument tuple.
 *
 * Returns: (transfer full): the result, or %NULL with an error
 */
MpAsyncResult *
mp_pool_starmap_async_result (MpPool           *self,
                              MpCallable       *func,
                              GVariant         *iterable,
                              gint              chunksize,
                              MpResultCallback  callback,
                              MpErrorCallback   error_callback,
                              gpointer          user_data,
                              GDestroyNotify    notify,
                              GError          **error)
{
  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  return map_async_result (self, TRUE, func, iterable, chunksize, callback, error_callback,
                           user_data, notify, error);
}

/**
 * mp_pool_map:
 * @self: a pool
 * @func: the function and its bound arguments
 * @iterable: the items: an array or a tuple (floating references are sunk)
 * @chunksize: items per task; 0 for Python's default, `ceil (n / (4 × workers))`
 * @error: return location for an error
 *
 * Python's `map(func, iterable, chunksize)`: applies @func to every item, in the workers, and
 * waits for all of them.
 *
 * Returns: (transfer full): the array of results in item order (`aT`, or `av` when the
 *   results' types differ), or %NULL with the error of the lowest failing item, reported
 *   after every chunk ran
 */
GVariant *
mp_pool_map (MpPool *self, MpCallable *func, GVariant *iterable, gint chunksize, GError **error)
{
  g_autoptr(MpAsyncResult) res = NULL;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  res = map_async_result (self, FALSE, func, iterable, chunksize, NULL, NULL, NULL, NULL, error);
  if (res == NULL)
    return NULL;
  return mp_async_result_get (res, MP_TIMEOUT_INFINITE, error);
}

/**
 * mp_pool_starmap:
 *
 * Python's `starmap(func, iterable, chunksize)`: as mp_pool_map(), each item being the
 * argument tuple (`a(ii)` calls f (a, b) for each pair).
 *
 * Returns: (transfer full): the array of results, or %NULL with an error
 */
GVariant *
mp_pool_starmap (MpPool *self, MpCallable *func, GVariant *iterable, gint chunksize,
                 GError **error)
{
  g_autoptr(MpAsyncResult) res = NULL;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  res = map_async_result (self, TRUE, func, iterable, chunksize, NULL, NULL, NULL, NULL, error);
  if (res == NULL)
    return NULL;
  return mp_async_result_get (res, MP_TIMEOUT_INFINITE, error);
}

static MpIMapIterator *
imap (MpPool *self, MpJobKind kind, MpCallable *func, GVariant *iterable, gint chunksize,
      GError **error)
{
  g_autoptr(MapPlan) plan = NULL;
  g_autoptr(GVariant) owned = g_variant_ref_sink (iterable);
  MpAsyncResult *job;

  if (!check_submit_args (self, func, error) ||
      !(job = prepare_map (self, kind, FALSE, func, owned, chunksize, &plan, error)))
    return NULL;
  if (!submit_map (self->core, job, plan, error))
    {
      mp_async_result_unref (job);
      return NULL;
    }
  return _mp_imap_iterator_new (job);
}

/**
 * mp_pool_imap:
 * @self: a pool
 * @func: the function and its bound arguments
 * @iterable: the items: an array or a tuple (floating references are sunk)
 * @chunksize: items per task, at least 1 (Python's default is 1)
 * @error: return location for an error
 *
 * Python's `imap`: the results, in item order, as they come.
 *
 * Returns: (transfer full): an iterator, or %NULL with an error (%MP_ERROR_INVALID_ARGUMENT
 *   for a chunksize below 1)
 */
MpIMapIterator *
mp_pool_imap (MpPool *self, MpCallable *func, GVariant *iterable, gint chunksize, GError **error)
{
  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  return imap (self, MP_JOB_IMAP, func, iterable, chunksize, error);
}

/**
 * mp_pool_imap_unordered:
 *
 * Python's `imap_unordered`: as mp_pool_imap(), the chunks in the order they complete.
 *
 * Returns: (transfer full): an iterator, or %NULL with an error
 */
MpIMapIterator *
mp_pool_imap_unordered (MpPool *self, MpCallable *func, GVariant *iterable, gint chunksize,
                        GError **error)
{
  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (iterable != NULL, NULL);

  return imap (self, MP_JOB_IMAP_UNORDERED, func, iterable, chunksize, error);
}

/* ---- GIO forms ------------------------------------------------------------------------- */

static gboolean
gio_cancelled (GCancellable *cancellable, gpointer user_data)
{
  MpAsyncResult *job = user_data;
  MpPoolCore *core = job->core;
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "Operation was cancelled");

  _mp_pool_core_lock (core);
  _mp_async_result_cancel_locked (job, error);
  _mp_pool_core_unlock (core);
  return G_SOURCE_REMOVE;
}

static void
gio_submit (MpPool              *self,
            MpAsyncResult       *job,
            const MapPlan       *plan,
            GError              *error,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data,
            gpointer             source_tag)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  if (job == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  job->task = g_object_ref (task);
  if (cancellable != NULL)
    {
      job->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (job->cancel_source, (GSourceFunc) (void (*) (void)) gio_cancelled,
                             mp_async_result_ref (job), (GDestroyNotify) mp_async_result_unref);
      g_source_attach (job->cancel_source, g_task_get_context (task));
    }
  if (!(plan != NULL ? submit_map (self->core, job, plan, &error)
                     : submit_apply (self->core, job, &error)))
    {
      if (job->cancel_source != NULL)
        {
          g_source_destroy (job->cancel_source);
          g_clear_pointer (&job->cancel_source, g_source_unref);
        }
      g_clear_object (&job->task);
      g_task_return_error (task, error);
    }
  mp_async_result_unref (job);
}

static GVariant *
gio_finish (MpPool *self, GAsyncResult *result, gpointer source_tag, GError **error)
{
  MpAsyncResult *job;
  GVariant *value;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  job = g_task_propagate_pointer (G_TASK (result), error);
  if (job == NULL)
    return NULL;
  value = _mp_async_result_dup_value (job, error);
  mp_async_result_unref (job);
  return value;
}

/**
 * mp_pool_apply_async:
 * @self: a pool
 * @func: the function and its bound arguments
 * @args: (nullable): the argument tuple (floating references are sunk)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the current thread-default context when the task is done
 * @user_data: data for @callback
 *
 * The GIO form of apply: finish it with mp_pool_apply_finish(). (Python's `apply_async` is
 * mp_pool_apply_async_result().)
 */
void
mp_pool_apply_async (MpPool              *self,
                     MpCallable          *func,
                     GVariant            *args,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GVariant) owned = NULL;
  GError *error = NULL;
  MpAsyncResult *job = NULL;

  g_return_if_fail (MP_IS_POOL (self));
  g_return_if_fail (func != NULL);

  owned = args ? g_variant_ref_sink (args) : NULL;
  if (check_submit_args (self, func, &error))
    job = prepare_apply (self, func, owned, &error);
  gio_submit (self, job, NULL, error, cancellable, callback, user_data, mp_pool_apply_async);
}

/**
 * mp_pool_apply_finish:
 *
 * Returns: (transfer full) (nullable): what the task returned, %NULL for %NULL, or %NULL with
 *   the error (%G_IO_ERROR_CANCELLED after a cancel)
 */
GVariant *
mp_pool_apply_finish (MpPool *self, GAsyncResult *result, GError **error)
{
  return gio_finish (self, result, mp_pool_apply_async, error);
}

static void
map_gio (MpPool *self, gboolean star, MpCallable *func, GVariant *iterable, gint chunksize,
         GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
         gpointer tag)
{
  g_autoptr(MapPlan) plan = NULL;
  g_autoptr(GVariant) owned = g_variant_ref_sink (iterable);
  GError *error = NULL;
  MpAsyncResult *job = NULL;

  if (check_submit_args (self, func, &error))
    job = prepare_map (self, MP_JOB_MAP, star, func, owned, chunksize, &plan, &error);
  gio_submit (self, job, plan, error, cancellable, callback, user_data, tag);
}

/**
 * mp_pool_map_async:
 * @self: a pool
 * @func: the function and its bound arguments
 * @iterable: the items (floating references are sunk)
 * @chunksize: items per task; 0 for Python's default
 * @cancellable: (nullable): a #GCancellable; cancelling drops the chunks not yet started
 * @callback: called on the current thread-default context when the map is done
 * @user_data: data for @callback
 *
 * The GIO form of map, for programs with a main loop: finish it with mp_pool_map_finish().
 * (Python's `map_async` is mp_pool_map_async_result().)
 */
void
mp_pool_map_async (MpPool              *self,
                   MpCallable          *func,
                   GVariant            *iterable,
                   gint                 chunksize,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_return_if_fail (MP_IS_POOL (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (iterable != NULL);

  map_gio (self, FALSE, func, iterable, chunksize, cancellable, callback, user_data,
           mp_pool_map_async);
}

/**
 * mp_pool_map_finish:
 *
 * Returns: (transfer full): the array of results, or %NULL with the error
 */
GVariant *
mp_pool_map_finish (MpPool *self, GAsyncResult *result, GError **error)
{
  return gio_finish (self, result, mp_pool_map_async, error);
}

/**
 * mp_pool_starmap_async:
 *
 * The GIO form of starmap; finish it with mp_pool_starmap_finish().
 */
void
mp_pool_starmap_async (MpPool              *self,
                       MpCallable          *func,
                       GVariant            *iterable,
                       gint                 chunksize,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_return_if_fail (MP_IS_POOL (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (iterable != NULL);

  map_gio (self, TRUE, func, iterable, chunksize, cancellable, callback, user_data,
           mp_pool_starmap_async);
}

/**
 * mp_pool_starmap_finish:
 *
 * Returns: (transfer full): the array of results, or %NULL with the error
 */
GVariant *
mp_pool_starmap_finish (MpPool *self, GAsyncResult *result, GError **error)
{
  return gio_finish (self, result, mp_pool_starmap_async, error);
}

/* ---- close, terminate, join --------------------------------------------------------------- */

/**
 * mp_pool_close:
 *
 * Python's `close()`: no more tasks may be submitted; the workers exit once the submitted
 * tasks are done.
 */
void
mp_pool_close (MpPool *self)
{
  MpPoolCore *core;

  g_return_if_fail (MP_IS_POOL (self));

  core = self->core;
  if (core->creator_pid != current_pid ())
    return;
  _mp_pool_core_lock (core);
  if (core->state == MP_POOL_RUN)
    {
      core->state = MP_POOL_CLOSE;
      core->backend_class->wake (core);
      _mp_pool_core_broadcast_locked (core);
    }
  _mp_pool_core_unlock (core);
}

static void
reap_backend (MpPoolCore *core)
{
  gboolean reap;

  _mp_pool_core_lock (core);
  reap = core->backend_done && !core->reaped;
  core->reaped = TRUE;
  g_mutex_unlock (&core->mutex);
  if (reap)
    core->backend_class->reap (core);
}

static void
core_terminate (MpPoolCore *core)
{
  g_autoptr(GError) error = g_error_new_literal (MP_ERROR, MP_ERROR_CLOSED, "Pool terminated");
  GHashTable *jobs;
  GHashTableIter iter;
  gpointer job;

  _mp_pool_core_lock (core);
  if (core->state != MP_POOL_TERMINATE)
    {
      core->state = MP_POOL_TERMINATE;
      /* Every job with a task not yet started fails now; the backend fails the running ones. */
      jobs = g_hash_table_new (NULL, NULL);
      for (GList *l = core->pending.head; l != NULL; l = l->next)
        g_hash_table_add (jobs, ((MpPoolTask *) l->data)->job);
      g_hash_table_iter_init (&iter, jobs);
      while (g_hash_table_iter_next (&iter, &job, NULL))
        _mp_async_result_cancel_locked (job, error);
      g_hash_table_unref (jobs);
      _mp_pool_core_update_stats_locked (core);
      core->backend_class->wake (core);
      _mp_pool_core_broadcast_locked (core);
    }
  /* Like Python's terminate(), wait for the workers to be gone. */
  while (!core->backend_done)
    _mp_pool_core_cond_wait_locked (core);
  _mp_pool_core_unlock (core);
  reap_backend (core);
}

/**
 * mp_pool_terminate:
 *
 * Python's `terminate()`: stops the workers at once (SIGTERM, then SIGKILL for a worker
 * still there after 100 ms) and returns when they are gone. Tasks that had not finished fail
 * with %MP_ERROR_CLOSED, so nobody waits for them for ever. Dropping the last reference on a
 * pool that was not joined terminates it too.
 */
void
mp_pool_terminate (MpPool *self)
{
  g_return_if_fail (MP_IS_POOL (self));
  if (self->core->creator_pid == current_pid ())
    core_terminate (self->core);
}

/**
 * mp_pool_join:
 * @self: a pool
 * @timeout_us: how long to wait, in microseconds; %MP_TIMEOUT_INFINITE for ever
 * @error: return location for an error
 *
 * Python's `join()`: waits for the workers to exit, after mp_pool_close() (once every task is
 * done) or mp_pool_terminate(). Runs the pool's callbacks while it waits (see #MpPool).
 *
 * Returns: %TRUE when the workers are gone; %FALSE with %MP_ERROR_INVALID_ARGUMENT ("Pool
 *   is still running", Python's ValueError) before close or terminate, or %MP_ERROR_TIMEOUT
 */
gboolean
mp_pool_join (MpPool *self, gint64 timeout_us, GError **error)
{
  MpPoolCore *core;
  gint64 deadline;
  gboolean done;

  g_return_val_if_fail (MP_IS_POOL (self), FALSE);

  core = self->core;
  if (core->creator_pid != current_pid ())
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "pool objects cannot be used in another process than the one that "
                           "created them");
      return FALSE;
    }
  deadline = timeout_us == MP_TIMEOUT_INFINITE ? -1 : g_get_monotonic_time () + MAX (timeout_us, 0);
  _mp_pool_core_lock (core);
  if (core->state == MP_POOL_RUN)
    {
      g_mutex_unlock (&core->mutex);
      g_set_error_literal (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "Pool is still running");
      return FALSE;
    }
  while (!core->backend_done)
    if (!_mp_pool_core_wait_locked (core, deadline) && !core->backend_done)
      break;
  /* The last callbacks, if this thread can run them. */
  _mp_pool_core_dispatch_callbacks_locked (core);
  done = core->backend_done;
  _mp_pool_core_unlock (core);
  if (!done)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_TIMEOUT, "the pool's workers are still running");
      return FALSE;
    }
  reap_backend (core);
  return TRUE;
}

/* ---- accessors ------------------------------------------------------------------------ */

/**
 * mp_pool_set_task_timeout:
 * @self: a process pool
 * @timeout_us: the longest time a task submitted from now on may run, in microseconds;
 *   %MP_TIMEOUT_INFINITE or 0 for no limit
 *
 * Tasks that run longer are killed with their worker and fail with %MP_ERROR_TIMEOUT. Set it
 * before a call to time that call's tasks; tasks already submitted keep their limit. A thread
 * pool ignores it (a thread cannot be killed).
 */
void
mp_pool_set_task_timeout (MpPool *self, gint64 timeout_us)
{
  g_return_if_fail (MP_IS_POOL (self));

  _mp_pool_core_lock (self->core);
  if (!self->core->is_thread)
    self->core->task_timeout_us = timeout_us > 0 ? timeout_us : 0;
  g_mutex_unlock (&self->core->mutex);
}

/**
 * mp_pool_get_processes:
 *
 * Returns: the number of workers the pool keeps
 */
gint
mp_pool_get_processes (MpPool *self)
{
  g_return_val_if_fail (MP_IS_POOL (self), 0);
  return self->core->processes;
}

/**
 * mp_pool_is_thread_pool:
 *
 * Returns: %TRUE for a pool made by mp_thread_pool_new()
 */
gboolean
mp_pool_is_thread_pool (MpPool *self)
{
  g_return_val_if_fail (MP_IS_POOL (self), FALSE);
  return self->core->is_thread;
}

/**
 * mp_pool_get_id:
 *
 * Returns: the pool's object id in the arena (the `object` of its events), 0 without one
 */
guint64
mp_pool_get_id (MpPool *self)
{
  g_return_val_if_fail (MP_IS_POOL (self), 0);
  return self->core->id;
}

/**
 * mp_pool_get_counters:
 * @self: a pool
 * @counters: (out caller-allocates): the counters
 *
 * Reads the pool's counters (see #MpPoolCounters).
 */
void
mp_pool_get_counters (MpPool *self, MpPoolCounters *counters)
{
  MpPoolCore *core;

  g_return_if_fail (MP_IS_POOL (self));
  g_return_if_fail (counters != NULL);

  core = self->core;
  memset (counters, 0, sizeof *counters);
  _mp_pool_core_lock (core);
  counters->workers = (guint) core->processes;
  counters->workers_alive = core->workers_alive;
  counters->submitted = core->n_submitted;
  counters->running = core->running;
  counters->queued = core->unfinished > core->running ? core->unfinished - core->running : 0;
  counters->completed = core->n_completed;
  counters->failed = core->n_failed;
  counters->replaced_workers = core->n_replaced;
  g_mutex_unlock (&core->mutex);
}

/**
 * mp_pool_dup_worker_pids:
 *
 * Returns: (transfer full) (element-type gint32): the pids of the live workers (the thread
 *   ids of a thread pool's threads)
 */
GArray *
mp_pool_dup_worker_pids (MpPool *self)
{
  GArray *pids;

  g_return_val_if_fail (MP_IS_POOL (self), NULL);

  pids = g_array_new (FALSE, FALSE, sizeof (gint32));
  _mp_pool_core_lock (self->core);
  self->core->backend_class->worker_pids (self->core, pids);
  g_mutex_unlock (&self->core->mutex);
  return pids;
}
