/* mp-thread-pool.c: a pool of threads with the Pool API (Python's ThreadPool)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The same jobs and tasks as a process pool (mp-pool.c), run by threads of this process: each
 * thread takes the first pending task under core->mutex, runs it unlocked, and hands it back.
 * Nothing is serialized: a chunk is read in place from the caller's array. Compared with a
 * process pool, a thread pool starts in microseconds and shares memory, but its tasks run one
 * at a time wherever they hold a common lock, a crash takes the whole program down, and a stuck
 * task cannot be killed — which is why task timeouts and maxtasksperchild are process-pool
 * options only.
 *
 * terminate() fails the pending tasks at once, then (as Python's) waits for the running ones
 * to return, since a thread cannot be stopped from outside.
 */

#include "config.h"

#include <unistd.h>

#include "mp-error.h"
#include "mp-pool-private.h"
#include "mp-trace-private.h"

typedef struct
{
  GPtrArray  *threads;      /* GThread* */
  GArray     *tids;         /* gint32 per thread, 0 once it exited */
  GCond       work_cond;
  guint       idle;         /* threads waiting in work_cond */
  guint       exited;
} ThreadBackend;

typedef struct
{
  MpPoolCore *core;
  guint       index;
} ThreadStart;

static inline ThreadBackend *
backend (MpPoolCore *core)
{
  return core->backend;
}

static gpointer
pool_thread_worker (gpointer data)
{
  ThreadStart *start = data;
  MpPoolCore *core = start->core;
  ThreadBackend *tb = backend (core);
  guint index = start->index;
  gint32 tid = (gint32) gettid ();

  g_free (start);
  _mp_pool_core_lock (core);
  g_array_index (tb->tids, gint32, index) = tid;
  _mp_pool_core_broadcast_locked (core);
  g_mutex_unlock (&core->mutex);

  if (core->initializer != NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) ret = mp_callable_invoke (core->initializer, NULL, &error);

      if (error != NULL)
        {
          _mp_pool_core_lock (core);
          _mp_pool_core_set_broken_locked (core, error);
          _mp_pool_core_unlock (core);
        }
    }

  _mp_pool_core_lock (core);
  for (;;)
    {
      MpPoolTask *task;
      g_autoptr(GVariant) chunk = NULL;
      g_autoptr(GVariantType) type = NULL;
      MpPoolResults results;
      GError *error = NULL;
      guint64 t0, t1;

      /* After close(), a map still queuing its chunks means more work. */
      while (g_queue_is_empty (&core->pending) &&
             (core->state == MP_POOL_RUN ||
              (core->state == MP_POOL_CLOSE && core->submitting > 0)))
        {
          tb->idle++;
          g_cond_wait (&tb->work_cond, &core->mutex);
          tb->idle--;
        }
      if (core->state == MP_POOL_TERMINATE || g_queue_is_empty (&core->pending))
        break;

      task = g_queue_pop_head (&core->pending);
      task->worker = GINT_TO_POINTER (tid);
      core->running++;
      _mp_pool_core_update_stats_locked (core);
      g_mutex_unlock (&core->mutex);

      type = g_variant_type_new (task->chunk_type);
      /* Built by the pool from an array in normal form: trusted. */
      {
        g_autoptr(GBytes) bytes = _mp_pool_task_dup_chunk (task);
        chunk = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, TRUE));
      }
      t0 = _mp_monotonic_ns ();
      if (_mp_trace_enabled (MP_TRACE_NORMAL))
        _mp_trace_emit_at (t0, MP_EVENT_TASK_STARTED, core->id, (gint64) task->id, tid);
      (void) _mp_pool_run_chunk (task->func, task->bound, task->fds, chunk, task->flags,
                                 task->first_item, &results, &error);
      t1 = _mp_monotonic_ns ();
      if (_mp_trace_enabled (MP_TRACE_NORMAL))
        _mp_trace_emit_at (t1, error != NULL ? MP_EVENT_TASK_FAILED : MP_EVENT_TASK_FINISHED,
                           core->id, (gint64) task->id,
                           error != NULL ? error->code : (gint64) (t1 - t0));

      _mp_pool_core_lock (core);
      core->running--;
      _mp_pool_task_done_locked (core, task, &results, error);
      _mp_pool_core_update_stats_locked (core);
      _mp_pool_core_unlock (core);
      _mp_pool_core_lock (core);
    }

  g_array_index (tb->tids, gint32, index) = 0;
  tb->exited++;
  core->workers_alive--;
  if (tb->exited == tb->threads->len)
    {
      core->backend_done = TRUE;
      _mp_pool_core_broadcast_locked (core);
    }
  _mp_pool_core_update_stats_locked (core);
  _mp_pool_core_unlock (core);
  _mp_pool_core_unref (core);
  return NULL;
}

static gboolean
thread_start (MpPoolCore *core, GError **error)
{
  ThreadBackend *tb = g_new0 (ThreadBackend, 1);

  core->backend = tb;
  g_cond_init (&tb->work_cond);
  tb->threads = g_ptr_array_new ();
  tb->tids = g_array_new (FALSE, TRUE, sizeof (gint32));
  g_array_set_size (tb->tids, core->processes);

  _mp_pool_core_lock (core);
  for (gint i = 0; i < core->processes; i++)
    {
      ThreadStart *start = g_new0 (ThreadStart, 1);
      g_autofree char *name = g_strdup_printf ("libmp-tpool-%d", i + 1);
      GThread *thread;

      if (core->slowmo_ms > 0)
        g_usleep ((gulong) core->slowmo_ms * 1000);
      start->core = _mp_pool_core_ref (core);
      start->index = (guint) i;
      thread = g_thread_try_new (name, pool_thread_worker, start, error);
      if (thread == NULL)
        {
          _mp_pool_core_unref (core);
          g_free (start);
          core->state = MP_POOL_TERMINATE;
          g_cond_broadcast (&tb->work_cond);
          while (tb->exited < tb->threads->len)
            _mp_pool_core_cond_wait_locked (core);
          core->backend_done = TRUE;
          g_mutex_unlock (&core->mutex);
          for (guint k = 0; k < tb->threads->len; k++)
            g_thread_join (tb->threads->pdata[k]);
          g_ptr_array_set_size (tb->threads, 0);
          _mp_pool_core_lock (core);
          core->reaped = TRUE;
          g_mutex_unlock (&core->mutex);
          return FALSE;
        }
      g_ptr_array_add (tb->threads, thread);
      core->workers_alive++;
    }
  /* So that mp_pool_dup_worker_pids() lists them all from the start. */
  for (guint i = 0; i < tb->tids->len; i++)
    while (g_array_index (tb->tids, gint32, i) == 0)
      _mp_pool_core_cond_wait_locked (core);
  _mp_pool_core_update_stats_locked (core);
  g_mutex_unlock (&core->mutex);
  return TRUE;
}

static void
thread_wake (MpPoolCore *core)
{
  ThreadBackend *tb = backend (core);

  if (core->state != MP_POOL_RUN || tb->idle > 0)
    g_cond_broadcast (&tb->work_cond);
}

static void
thread_reap (MpPoolCore *core)
{
  ThreadBackend *tb = backend (core);

  for (guint i = 0; i < tb->threads->len; i++)
    g_thread_join (tb->threads->pdata[i]);
  g_ptr_array_set_size (tb->threads, 0);
}

static void
thread_worker_pids (MpPoolCore *core, GArray *pids)
{
  ThreadBackend *tb = backend (core);

  for (guint i = 0; i < tb->tids->len; i++)
    if (g_array_index (tb->tids, gint32, i) != 0)
      g_array_append_val (pids, g_array_index (tb->tids, gint32, i));
}

static void
thread_free (MpPoolCore *core)
{
  ThreadBackend *tb = backend (core);

  if (tb == NULL)
    return;
  for (guint i = 0; i < tb->threads->len; i++)
    g_thread_unref (tb->threads->pdata[i]);
  g_ptr_array_unref (tb->threads);
  g_array_unref (tb->tids);
  g_cond_clear (&tb->work_cond);
  g_free (tb);
  core->backend = NULL;
}

const MpPoolBackendClass _mp_pool_thread_backend = {
  thread_start,
  thread_wake,
  thread_reap,
  thread_worker_pids,
  thread_free,
};

/**
 * mp_thread_pool_new:
 * @processes: the number of threads, or %MP_POOL_DEFAULT_PROCESSES for mp_cpu_count()
 * @error: return location for an error
 *
 * Python's `ThreadPool(processes)`: an #MpPool whose workers are threads of this process. Every
 * mp_pool_ function works on it; try the same program with mp_pool_new() to see what
 * processes change.
 *
 * Returns: (transfer full): a new pool, or %NULL with %MP_ERROR_INVALID_ARGUMENT
 */
MpPool *
mp_thread_pool_new (gint processes, GError **error)
{
  MpPoolOptions options = MP_POOL_OPTIONS_INIT;

  options.processes = processes;
  return mp_thread_pool_new_full (&options, error);
}

/**
 * mp_thread_pool_new_full:
 * @options: (nullable): the options: processes, initializer and label (maxtasksperchild,
 *   context and task_timeout_us must keep their defaults: a thread cannot be replaced or killed)
 * @error: return location for an error
 *
 * Python's `ThreadPool(processes, initializer, initargs)`. The initializer runs once in each
 * thread.
 *
 * Returns: (transfer full): a new pool, or %NULL with %MP_ERROR_INVALID_ARGUMENT
 */
MpPool *
mp_thread_pool_new_full (const MpPoolOptions *options, GError **error)
{
  return _mp_pool_new_with_backend (options, &_mp_pool_thread_backend, TRUE, error);
}
