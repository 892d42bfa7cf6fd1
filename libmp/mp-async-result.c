/* mp-async-result.c: AsyncResult, MapResult and IMapIterator
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A job (MpAsyncResult) collects the results of its tasks by chunk index; it becomes ready
 * when every chunk is back, never earlier (Python's map reports its first error only after all
 * chunks ran). Its fields are guarded by core->mutex. The merged array of a map is built
 * lazily by the first reader, outside the lock (the chunks no longer change once the job is
 * ready), so a big map does not stall the pool's thread.
 *
 * An iterator reads the same per-chunk results while they arrive: in order (imap) or in the
 * order chunks completed (imap_unordered).
 */

#include "config.h"

#include <string.h>

#include "mp-error.h"
#include "mp-pool-private.h"

G_DEFINE_BOXED_TYPE (MpAsyncResult, mp_async_result, mp_async_result_ref, mp_async_result_unref)

struct _MpIMapIterator
{
  gatomicrefcount  ref_count;
  MpAsyncResult   *job;
  gint             current;          /* unordered: the chunk being read, -1 for none */
  guint            consumed_chunks;  /* unordered */
  gboolean         error_reported;   /* for the chunk being read */
};

G_DEFINE_BOXED_TYPE (MpIMapIterator, mp_imap_iterator, mp_imap_iterator_ref, mp_imap_iterator_unref)

MpAsyncResult *
_mp_async_result_new (MpPoolCore *core, MpJobKind kind, guint n_chunks, guint64 total_items)
{
  MpAsyncResult *job = g_new0 (MpAsyncResult, 1);

  g_atomic_ref_count_init (&job->ref_count);
  job->core = _mp_pool_core_ref (core);
  job->kind = kind;
  job->n_chunks = n_chunks;
  job->total_items = total_items;
  if (n_chunks <= 1 && kind == MP_JOB_APPLY)
    {
      job->chunk_results = &job->one_result;
      job->chunk_start = &job->one_start;
    }
  else
    {
      job->chunk_results = g_new0 (MpPoolResults, MAX (n_chunks, 1));
      job->chunk_start = g_new0 (guint, MAX (n_chunks, 1));
    }
  if (kind == MP_JOB_IMAP || kind == MP_JOB_IMAP_UNORDERED)
    {
      job->chunk_errors = g_new0 (GError *, MAX (n_chunks, 1));
      job->chunk_variants = g_new0 (GVariant *, MAX (n_chunks, 1));
    }
  g_queue_init (&job->done_order);
  return job;
}

/**
 * mp_async_result_ref:
 *
 * Returns: (transfer full): @self
 */
MpAsyncResult *
mp_async_result_ref (MpAsyncResult *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
mp_async_result_unref (MpAsyncResult *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  for (guint i = 0; i < self->n_chunks; i++)
    {
      _mp_pool_results_clear (&self->chunk_results[i]);
      if (self->chunk_errors)
        g_clear_error (&self->chunk_errors[i]);
      if (self->chunk_variants)
        g_clear_pointer (&self->chunk_variants[i], g_variant_unref);
    }
  if (self->chunk_results != &self->one_result)
    {
      g_free (self->chunk_results);
      g_free (self->chunk_start);
    }
  g_free (self->chunk_errors);
  g_free (self->chunk_variants);
  g_queue_clear (&self->done_order);
  g_clear_error (&self->error);
  g_clear_pointer (&self->value, g_variant_unref);
  g_clear_pointer (&self->items, g_bytes_unref);
  g_clear_object (&self->task);
  if (self->notify)
    self->notify (self->user_data);
  _mp_pool_core_unref (self->core);
  g_free (self);
}

void
_mp_pool_task_free (MpPoolTask *task)
{
  MpAsyncResult *job;

  if (task == NULL)
    return;
  g_clear_pointer (&task->bound, g_variant_unref);
  g_clear_object (&task->fds);
  g_clear_pointer (&task->chunk_data, g_bytes_unref);
  g_clear_pointer (&task->args, g_variant_unref);
  job = g_steal_pointer (&task->job);
  if (!task->embedded)
    g_free (task);
  /* Last: an embedded task dies with its job. */
  if (job != NULL)
    mp_async_result_unref (job);
}

/* The job has all its chunks (or was cancelled): wake its waiters, queue its callbacks. */
void
_mp_async_result_finish_locked (MpAsyncResult *job)
{
  MpPoolCore *core = job->core;

  if (job->ready)
    return;
  job->ready = TRUE;

  if (job->callback != NULL || job->error_callback != NULL)
    {
      job->callback_queued = TRUE;
      g_queue_push_tail (&core->cb_queue, mp_async_result_ref (job));
      if (core->cb_source != NULL)
        g_source_set_ready_time (core->cb_source, 0);
    }
  if (job->task != NULL)
    core->deferred = g_slist_prepend (core->deferred, mp_async_result_ref (job));
  /* Wake only who cares: the threads waiting for this job, or for anything else (join, an
   * iterator, callbacks to run). A thread reading a burst of results in order then wakes once
   * per result it actually waits for, not once per result that arrives. */
  if (job->waiters > 0 || core->waiters > core->job_waiters || job->callback_queued)
    g_cond_broadcast (&core->cond);
}

/*
 * A task is back, with its results (NULL, or filled: taken) and its error (taken). Called by
 * the backends with core->mutex held; frees the task.
 */
void
_mp_pool_task_done_locked (MpPoolCore    *core,
                           MpPoolTask    *task,
                           MpPoolResults *results,
                           GError        *error)
{
  MpPoolResults empty = { 0 };
  MpAsyncResult *job = task->job;
  guint c = task->chunk;

  core->unfinished--;
  if (error != NULL)
    core->n_failed++;
  else
    core->n_completed++;

  if (results == NULL)
    results = &empty;
  if (job->ready || c >= job->n_chunks || job->chunk_results[c].type != NULL)
    {
      /* Its job was cancelled, or a duplicate: nobody wants it. */
      _mp_pool_results_clear (results);
      g_clear_error (&error);
      _mp_pool_task_free (task);
      return;
    }

  job->done_items += task->n_items;
  if (results->type == NULL)
    {
      results->type = _mp_pool_type_lookup ("v", 1, TRUE, NULL);
      results->n = 0;
      g_clear_pointer (&results->data, g_bytes_unref);
      results->inline_len = 0;
    }
  job->chunk_results[c] = *results;
  memset (results, 0, sizeof *results);
  if (error != NULL)
    {
      if (job->chunk_errors != NULL)
        job->chunk_errors[c] = g_error_copy (error);
      if (job->error == NULL || c < job->error_chunk)
        {
          g_clear_error (&job->error);
          job->error = g_steal_pointer (&error);
          job->error_chunk = c;
        }
      g_clear_error (&error);
    }
  if (job->kind == MP_JOB_APPLY)
    job->none = (job->chunk_results[c].flags & MP_POOL_RESULT_NONE) != 0;
  if (job->kind == MP_JOB_IMAP_UNORDERED)
    g_queue_push_tail (&job->done_order, GUINT_TO_POINTER (c));
  job->chunks_done++;

  if (job->chunks_done == job->n_chunks)
    _mp_async_result_finish_locked (job);
  else if (job->chunk_errors != NULL)
    _mp_pool_core_broadcast_locked (core);   /* an iterator may be waiting for this chunk */

  _mp_pool_task_free (task);
}

/* Nobody will receive the rest of this job: it fails with @error now (GIO cancel, terminate).
 * Its tasks that did not start are dropped; the ones running are ignored when they return. */
void
_mp_async_result_cancel_locked (MpAsyncResult *job, const GError *error)
{
  MpPoolCore *core = job->core;
  GList *l, *next;

  if (job->ready)
    return;
  job->cancelled = TRUE;
  for (l = core->pending.head; l != NULL; l = next)
    {
      MpPoolTask *task = l->data;

      next = l->next;
      if (task->job == job)
        {
          g_queue_delete_link (&core->pending, l);
          core->unfinished--;
          core->n_failed++;
          _mp_pool_task_free (task);
        }
    }
  g_clear_error (&job->error);
  job->error = g_error_copy (error);
  job->error_chunk = 0;
  _mp_async_result_finish_locked (job);
}

/* The value of a ready job: a new reference, NULL for None, or NULL with @error. The value is
 * made by the first caller, outside the lock (the chunks no longer change once the job is
 * ready), so that a big merge never stalls the pool's thread. */
GVariant *
_mp_async_result_dup_value (MpAsyncResult *job, GError **error)
{
  MpPoolCore *core = job->core;
  GVariant *value = NULL;

  _mp_pool_core_lock (core);
  g_assert (job->ready);
  if (job->error != NULL)
    {
      if (error)
        *error = g_error_copy (job->error);
      g_mutex_unlock (&core->mutex);
      return NULL;
    }
  if (job->merged || (job->kind == MP_JOB_APPLY && job->none))
    {
      GVariant *v = job->value ? g_variant_ref (job->value) : NULL;
      g_mutex_unlock (&core->mutex);
      return v;
    }
  g_mutex_unlock (&core->mutex);

  if (job->kind == MP_JOB_APPLY)
    {
      const MpPoolResults *r = &job->chunk_results[0];
      gsize fixed = r->type != NULL ? _mp_pool_type_fixed_size (r->type + 1, NULL) : 0;
      gsize len;

      (void) _mp_pool_results_peek (r, &len);
      /* One fixed-size value: its bytes are the whole array. */
      if (fixed > 0 && r->n == 1 && len == fixed)
        {
          g_autoptr(GBytes) bytes = _mp_pool_results_dup_bytes (r);
          value = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (r->type + 1),
                                                                bytes, FALSE));
        }
      else
        {
          g_autoptr(GVariant) array = _mp_pool_results_to_variant (r);
          if (g_variant_n_children (array) >= 1)
            value = _mp_pool_unbox_item (array, 0);
        }
    }
  else
    value = _mp_pool_merge_chunks (job->chunk_results, job->n_chunks);

  _mp_pool_core_lock (core);
  if (!job->merged)
    {
      job->value = value ? g_variant_ref (value) : NULL;
      job->merged = TRUE;
      for (guint i = 0; i < job->n_chunks; i++)
        g_clear_pointer (&job->chunk_results[i].data, g_bytes_unref);
    }
  else
    {
      g_clear_pointer (&value, g_variant_unref);
      value = job->value ? g_variant_ref (job->value) : NULL;
    }
  g_mutex_unlock (&core->mutex);
  return value;
}

/* Runs the job's callback or error callback; called unlocked, on the callback context. */
void
_mp_async_result_run_callback (MpAsyncResult *job)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = _mp_async_result_dup_value (job, &error);

  if (error != NULL)
    {
      if (job->error_callback)
        job->error_callback (error, job->user_data);
    }
  else if (job->callback)
    job->callback (value, job->user_data);

  _mp_pool_core_lock (job->core);
  job->callback_done = TRUE;
  _mp_pool_core_broadcast_locked (job->core);
  g_mutex_unlock (&job->core->mutex);
}

/* Waits until the job is ready or @deadline_us (monotonic µs, -1 for none) passes; then runs
 * the pending callbacks if this thread can own their context. Called locked. */
static gboolean
wait_ready_locked (MpAsyncResult *job, gint64 deadline_us)
{
  MpPoolCore *core = job->core;
  gboolean ready = TRUE;

  job->waiters++;
  core->job_waiters++;
  while (!job->ready)
    if (!_mp_pool_core_wait_locked (core, deadline_us) && !job->ready)
      {
        ready = FALSE;
        break;
      }
  job->waiters--;
  core->job_waiters--;
  if (ready && job->callback_queued && !job->callback_done)
    _mp_pool_core_dispatch_callbacks_locked (core);
  return ready;
}

static gint64
deadline_from_timeout (gint64 timeout_us)
{
  if (timeout_us == MP_TIMEOUT_INFINITE)
    return -1;
  return g_get_monotonic_time () + MAX (timeout_us, 0);
}

/**
 * mp_async_result_get:
 * @self: a result
 * @timeout_us: how long to wait, in microseconds; %MP_TIMEOUT_INFINITE to wait for ever
 * @error: return location for an error
 *
 * Python's `AsyncResult.get(timeout)`. Waits for the result, and returns it: for apply what
 * the task returned, for map and starmap the array of results (see #MpPool). It can be called
 * any number of times.
 *
 * Returns: (transfer full) (nullable): the value; %NULL without an error when the task
 *   returned %NULL (Python's `None`); %NULL with the task's error, with %MP_ERROR_TIMEOUT when
 *   @timeout_us ran out, %MP_ERROR_WORKER_DIED when a worker died running the task
 */
GVariant *
mp_async_result_get (MpAsyncResult *self, gint64 timeout_us, GError **error)
{
  gboolean ready;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  _mp_pool_core_lock (self->core);
  ready = wait_ready_locked (self, deadline_from_timeout (timeout_us));
  _mp_pool_core_unlock (self->core);
  if (!ready)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_TIMEOUT, "the result is not ready");
      return NULL;
    }
  return _mp_async_result_dup_value (self, error);
}

/**
 * mp_async_result_wait:
 * @self: a result
 * @timeout_us: how long to wait, in microseconds; %MP_TIMEOUT_INFINITE to wait for ever
 *
 * Python's `AsyncResult.wait(timeout)`.
 *
 * Returns: %TRUE if the result is ready
 */
gboolean
mp_async_result_wait (MpAsyncResult *self, gint64 timeout_us)
{
  gboolean ready;

  g_return_val_if_fail (self != NULL, FALSE);

  _mp_pool_core_lock (self->core);
  ready = wait_ready_locked (self, deadline_from_timeout (timeout_us));
  _mp_pool_core_unlock (self->core);
  return ready;
}

/**
 * mp_async_result_ready:
 *
 * Returns: %TRUE once every task of the work is back (Python's `ready()`)
 */
gboolean
mp_async_result_ready (MpAsyncResult *self)
{
  gboolean ready;

  g_return_val_if_fail (self != NULL, FALSE);

  _mp_pool_core_lock (self->core);
  ready = self->ready;
  g_mutex_unlock (&self->core->mutex);
  return ready;
}

/**
 * mp_async_result_successful:
 * @self: a result
 * @error: return location for an error
 *
 * Python's `successful()`.
 *
 * Returns: %TRUE if the work is done and succeeded; %FALSE if it failed, or with
 *   %MP_ERROR_INVALID_ARGUMENT ("not ready") before it is ready, as Python's ValueError
 */
gboolean
mp_async_result_successful (MpAsyncResult *self, GError **error)
{
  gboolean ret = FALSE;

  g_return_val_if_fail (self != NULL, FALSE);

  _mp_pool_core_lock (self->core);
  if (!self->ready)
    g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "%p not ready", (void *) self);
  else
    ret = self->error == NULL;
  g_mutex_unlock (&self->core->mutex);
  return ret;
}

/**
 * mp_async_result_get_progress:
 * @self: a result
 * @completed: (out) (optional): items whose tasks are back
 * @total: (out) (optional): items of the work
 *
 * How far the work is: a map of 1000 items reports 0 … 1000 as its chunks come back.
 *
 * Returns: @completed / @total (1.0 for empty work)
 */
double
mp_async_result_get_progress (MpAsyncResult *self, guint64 *completed, guint64 *total)
{
  guint64 c, t;

  g_return_val_if_fail (self != NULL, 0.0);

  _mp_pool_core_lock (self->core);
  c = self->done_items;
  t = self->total_items;
  g_mutex_unlock (&self->core->mutex);
  if (completed)
    *completed = c;
  if (total)
    *total = t;
  return t == 0 ? 1.0 : (double) c / (double) t;
}

/* ---- MpIMapIterator ------------------------------------------------------------------- */

MpIMapIterator *
_mp_imap_iterator_new (MpAsyncResult *job)
{
  MpIMapIterator *self = g_new0 (MpIMapIterator, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->job = job;
  self->current = -1;
  return self;
}

/**
 * mp_imap_iterator_ref:
 *
 * Returns: (transfer full): @self
 */
MpIMapIterator *
mp_imap_iterator_ref (MpIMapIterator *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
mp_imap_iterator_unref (MpIMapIterator *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  mp_async_result_unref (self->job);
  g_free (self);
}

/* Reads item next_item of chunk c, or its error, or says the chunk is exhausted. */
typedef enum { ITEM, ITEM_ERROR, CHUNK_END } ChunkRead;

static ChunkRead
read_chunk_locked (MpIMapIterator *self, guint c, GVariant **value, GError **error)
{
  MpAsyncResult *job = self->job;
  GVariant *results;

  if (job->chunk_variants[c] == NULL)
    job->chunk_variants[c] = _mp_pool_results_to_variant (&job->chunk_results[c]);
  results = job->chunk_variants[c];
  if (job->next_item < g_variant_n_children (results))
    {
      *value = _mp_pool_unbox_item (results, job->next_item++);
      return ITEM;
    }
  if (job->chunk_errors[c] != NULL && !self->error_reported)
    {
      self->error_reported = TRUE;
      g_propagate_error (error, g_error_copy (job->chunk_errors[c]));
      return ITEM_ERROR;
    }
  return CHUNK_END;
}

static gboolean
chunk_done_locked (MpAsyncResult *job, guint c)
{
  return job->chunk_results[c].type != NULL;
}

/**
 * mp_imap_iterator_next:
 * @self: an iterator
 * @value: (out) (transfer full) (nullable): the next result
 * @timeout_us: how long to wait for it, in microseconds; %MP_TIMEOUT_INFINITE for ever
 * @error: return location for an error
 *
 * Python's `next(it, timeout)`. Results come in the order of the items (imap) or in the
 * order their chunks completed (imap_unordered). A task's error is returned at its
 * position; the next call goes on after it (with the next chunk).
 *
 * Returns: %TRUE with *@value set; %FALSE without an error at the end (Python's
 *   StopIteration); %FALSE with the task's error, or %MP_ERROR_TIMEOUT
 */
gboolean
mp_imap_iterator_next (MpIMapIterator  *self,
                       GVariant       **value,
                       gint64           timeout_us,
                       GError         **error)
{
  MpAsyncResult *job;
  MpPoolCore *core;
  gint64 deadline = deadline_from_timeout (timeout_us);
  gboolean ret = FALSE;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  job = self->job;
  core = job->core;
  *value = NULL;

  _mp_pool_core_lock (core);
  for (;;)
    {
      if (job->kind == MP_JOB_IMAP)
        {
          guint c = job->next_chunk;

          if (c >= job->n_chunks)
            break;                                  /* the end */
          if (chunk_done_locked (job, c))
            {
              ChunkRead r = read_chunk_locked (self, c, value, error);
              if (r == ITEM)
                {
                  ret = TRUE;
                  break;
                }
              if (r == ITEM_ERROR)
                break;
              /* Done with this chunk: let its memory go (its type says it is done). */
              g_clear_pointer (&job->chunk_variants[c], g_variant_unref);
              g_clear_pointer (&job->chunk_results[c].data, g_bytes_unref);
              job->next_chunk++;
              job->next_item = 0;
              self->error_reported = FALSE;
              continue;
            }
        }
      else
        {
          if (self->current >= 0)
            {
              ChunkRead r = read_chunk_locked (self, (guint) self->current, value, error);
              if (r == ITEM)
                {
                  ret = TRUE;
                  break;
                }
              if (r == ITEM_ERROR)
                break;
              g_clear_pointer (&job->chunk_variants[self->current], g_variant_unref);
              g_clear_pointer (&job->chunk_results[self->current].data, g_bytes_unref);
              self->current = -1;
              self->consumed_chunks++;
              continue;
            }
          if (self->consumed_chunks >= job->n_chunks)
            break;                                  /* the end */
          if (!g_queue_is_empty (&job->done_order))
            {
              self->current = GPOINTER_TO_INT (g_queue_pop_head (&job->done_order));
              job->next_item = 0;
              self->error_reported = FALSE;
              continue;
            }
        }

      /* Nothing to read yet. */
      if (job->ready && job->cancelled)
        {
          g_propagate_error (error, g_error_copy (job->error));
          break;
        }
      if (!_mp_pool_core_wait_locked (core, deadline) && deadline >= 0 &&
          g_get_monotonic_time () >= deadline)
        {
          g_set_error_literal (error, MP_ERROR, MP_ERROR_TIMEOUT,
                               "no result came within the timeout");
          break;
        }
    }
  _mp_pool_core_unlock (core);
  return ret;
}

/**
 * mp_imap_iterator_get_progress:
 * @self: an iterator
 * @completed: (out) (optional): items whose tasks are back
 * @total: (out) (optional): items of the work
 *
 * Returns: @completed / @total (1.0 for empty work)
 */
double
mp_imap_iterator_get_progress (MpIMapIterator *self, guint64 *completed, guint64 *total)
{
  g_return_val_if_fail (self != NULL, 0.0);
  return mp_async_result_get_progress (self->job, completed, total);
}
