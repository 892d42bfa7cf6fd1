/* mp-pool.h: pools of worker processes (Python's multiprocessing.Pool)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mp-async-result.h"
#include "mp-callable.h"
#include "mp-context.h"
#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * SECTION:mp-pool
 * @title: MpPool
 * @short_description: Python's Pool and ThreadPool
 *
 * A pool runs tasks — an #MpCallable applied to #GVariant arguments — on a fixed number of
 * worker processes (mp_pool_new()) or threads (mp_thread_pool_new()); both kinds are an
 * #MpPool and take the same calls.
 *
 * ## From Python to C
 *
 * | Python                                  | C                                             |
 * |-----------------------------------------|-----------------------------------------------|
 * | `Pool(processes=None)`                  | `mp_pool_new (MP_POOL_DEFAULT_PROCESSES, &error)` |
 * | `Pool(4, init, (a,), 10, ctx)`          | mp_pool_new_full() with an #MpPoolOptions     |
 * | `pool.apply(f, args)`                   | `mp_pool_apply (pool, f, args, &error)`       |
 * | `pool.apply_async(f, args, cb, ecb)`    | mp_pool_apply_async_result()                  |
 * | `pool.map(f, it, chunksize)`            | `mp_pool_map (pool, f, items, chunksize, &error)` |
 * | `pool.map_async(...)`                   | mp_pool_map_async_result()                    |
 * | `pool.starmap`, `starmap_async`         | mp_pool_starmap(), mp_pool_starmap_async_result() |
 * | `pool.imap`, `imap_unordered`           | mp_pool_imap(), mp_pool_imap_unordered()      |
 * | `close()`, `terminate()`, `join()`      | mp_pool_close(), mp_pool_terminate(), mp_pool_join() |
 * | `with Pool() as p:` (exit = terminate)  | `g_autoptr(MpPool)`: the last unref terminates |
 *
 * Python's `X_async` methods return an #MpAsyncResult: here they are
 * `mp_pool_X_async_result()`, because in GLib a name ending in `_async` belongs to the GIO
 * convention: mp_pool_map_async() / mp_pool_map_finish() (and the same for apply and
 * starmap) take a #GCancellable and a #GAsyncReadyCallback, so a GTK program runs a map
 * without blocking its main loop.
 *
 * ## Arguments and results
 *
 * - apply: @args is the tuple the function receives (after the callable's bound arguments,
 *   as functools.partial does); %NULL means `()`.
 * - map and imap: @iterable is an array (`ai`, `as`, `a(ii)`, `av`…) or a tuple; each element
 *   `x` becomes the call's argument tuple `(x)`. starmap: each element must be a tuple (or a
 *   dict entry, or a variant holding a tuple) and is the argument tuple itself. Anything else is
 *   %MP_ERROR_INVALID_ARGUMENT, at the call, not in a worker.
 * - The result of a map is one array: `aT` when every task returned a value of type `T`
 *   (`ai` for functions that return int32, so g_variant_get_fixed_array() reads it), `av`
 *   when the types differ. Inside a map a task that returns %NULL (Python's `None`) gives the
 *   unit `()`. An empty @iterable returns an empty `av` at once.
 * - A task's #GError crosses back with its domain (as a quark string), code and message. map
 *   fails, after every chunk ran (as Python), with the error of the lowest failing position.
 *   In an imap the error surfaces at its position; the rest of that chunk is skipped, later
 *   chunks are delivered.
 * - A batched callable (mp_callable_new_batched()) is called once per chunk with the bound
 *   arguments followed by the chunk's items as one array (a slice of @iterable, of its type;
 *   for apply, an array of the one argument tuple) and returns an array with one result per
 *   item: tiny functions over `ai`/`ad` then cost a loop over a C array instead of a
 *   #GVariant per item. A wrong number of results is %MP_ERROR_INVALID_ARGUMENT.
 *
 * ## chunksize
 *
 * map and starmap: 0 means Python's `None`, `ceil (n / (4 × workers))`; negative is an error.
 * imap: at least 1 (Python's default is 1). A chunk is one task: events, stats, timeouts and
 * maxtasksperchild count chunks.
 *
 * ## Callbacks and the main loop
 *
 * Callbacks (#MpResultCallback, #MpErrorCallback) run on the #GMainContext that was the thread
 * default when the pool was created (g_main_context_ref_thread_default()). They also run
 * without a main loop: every blocking call of the pool (mp_async_result_get(),
 * mp_async_result_wait(), mp_pool_join(), mp_pool_map(), mp_imap_iterator_next()…) dispatches
 * the pending callbacks itself whenever it can acquire that context, and a result is returned
 * only after its own callback ran in that case. When another thread iterates the context, the
 * callbacks run there and the blocking call does not wait for them, so neither side can
 * deadlock. Never call a blocking pool function while holding a lock a callback takes.
 *
 * ## Better than Python where Python hangs
 *
 * - A worker killed by a signal, the OOM killer or a crash fails the task it was running with
 *   %MP_ERROR_WORKER_DIED (the message names the worker's pid and the signal); the tasks queued
 *   behind it go to other workers; the worker is replaced (%MP_EVENT_WORKER_REPLACED) and the
 *   pool keeps working.
 * - #MpPoolOptions.task_timeout_us (or mp_pool_set_task_timeout()) bounds the time a task may
 *   run: a stuck worker is killed, its task fails with %MP_ERROR_TIMEOUT, and it is replaced.
 * - An initializer that fails breaks the pool: pending and later tasks fail with its error
 *   instead of restarting workers forever.
 * - mp_pool_terminate() returns at once however many tasks are pending (they fail with
 *   %MP_ERROR_CLOSED), and kills the running ones.
 * - Workers die with the pool's process, however it ends (SIGINT, SIGKILL, a crash), and an
 *   exit handler terminates the pools of a process that calls exit(). The kernel's parent-death
 *   signal (PR_SET_PDEATHSIG) does it for the workers that the main thread or the pool's own
 *   thread started with fork or spawn. That signal fires when the *thread* that started the
 *   worker ends, so the workers of a pool made in another thread, and forkserver children, have
 *   a watchdog thread instead, which polls a pidfd of the parent process. (A main thread that
 *   calls pthread_exit() while the process goes on ends its pools' first workers; the pool
 *   replaces them.) Workers ignore SIGINT: Ctrl-C in a terminal is for the parent, which
 *   decides.
 *
 * ## What a monitor sees
 *
 * Each pool has an arena object (%MP_OBJECT_POOL) whose stats count workers, submitted,
 * queued, running, completed and failed tasks and replaced workers, and emits at
 * %MP_TRACE_NORMAL: %MP_EVENT_TASK_SUBMITTED (in the parent), %MP_EVENT_TASK_STARTED with the
 * worker's pid and %MP_EVENT_TASK_FINISHED with the duration (in the worker),
 * %MP_EVENT_TASK_FAILED with the error code, and %MP_EVENT_WORKER_REPLACED. A program reads
 * its own figures with mp_pool_get_counters(), mp_async_result_get_progress() and
 * mp_imap_iterator_get_progress().
 *
 * ## Teaching: LIBMP_SLOWMO
 *
 * With the environment variable `LIBMP_SLOWMO=MS` (milliseconds, e.g. `200`) set when a pool
 * is created, the pool waits MS before starting each worker and hands out one task every MS,
 * one at a time, so a class can follow in a viewer which worker runs what.
 *
 * ## Start methods
 *
 * Every start method works: tasks, the initializer and bound arguments are serialized
 * (#MpCallable), so spawn and forkserver workers find the same functions. File descriptors
 * bound in a callable (handles of queues, locks, connections) travel with each task. A task's
 * result cannot carry descriptors. Prefer forkserver in a multithreaded program (every GTK
 * program): workers replaced later are forked from the pool's thread.
 */

/**
 * MP_POOL_DEFAULT_PROCESSES:
 *
 * The `processes` value that means Python's `None`: as many workers as mp_cpu_count().
 */
#define MP_POOL_DEFAULT_PROCESSES G_MININT

/**
 * MpPoolOptions:
 * @processes: the number of workers, at least 1, or %MP_POOL_DEFAULT_PROCESSES
 * @initializer: (nullable): run once in each worker before its first task (Python's
 *   `initializer` with `initargs` as the callable's bound arguments); %NULL for none
 * @maxtasksperchild: tasks (chunks) a worker runs before it exits and is replaced; 0 for no
 *   limit (Python's `None`); negative is an error
 * @context: (nullable): the start method of the workers; %NULL for the default context
 * @task_timeout_us: how long a task may run once started, in microseconds, before its worker
 *   is killed and the task fails with %MP_ERROR_TIMEOUT; %MP_TIMEOUT_INFINITE (-1) or 0 for
 *   no limit
 * @label: (nullable): the name monitors show (default `Pool-N`)
 *
 * The keyword arguments of Python's `Pool()`. Start from %MP_POOL_OPTIONS_INIT.
 */
typedef struct
{
  gint        processes;
  MpCallable *initializer;
  gint        maxtasksperchild;
  MpContext  *context;
  gint64      task_timeout_us;
  const char *label;
  /*< private >*/
  gpointer    reserved[6];
} MpPoolOptions;

/**
 * MP_POOL_OPTIONS_INIT:
 *
 * Initializes an #MpPoolOptions to Python's defaults:
 * `MpPoolOptions opts = MP_POOL_OPTIONS_INIT;`
 */
#define MP_POOL_OPTIONS_INIT { MP_POOL_DEFAULT_PROCESSES, NULL, 0, NULL, MP_TIMEOUT_INFINITE, \
                               NULL, { NULL } }

/**
 * MpPoolCounters:
 * @workers: workers the pool keeps (its `processes`)
 * @workers_alive: workers running now
 * @submitted: tasks (chunks) ever submitted
 * @queued: tasks waiting for a worker
 * @running: tasks running now
 * @completed: tasks that succeeded
 * @failed: tasks that failed (an error, a dead worker, a timeout, a terminate)
 * @replaced_workers: workers started to replace one that exited (maxtasksperchild, a death)
 *
 * A snapshot of a pool's counters: the same figures a monitor reads in the arena.
 */
typedef struct
{
  guint   workers;
  guint   workers_alive;
  guint64 submitted;
  guint64 queued;
  guint64 running;
  guint64 completed;
  guint64 failed;
  guint64 replaced_workers;
  /*< private >*/
  guint64 reserved[4];
} MpPoolCounters;

#define MP_TYPE_POOL (mp_pool_get_type ())

MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpPool, mp_pool, MP, POOL, GObject)

MP_AVAILABLE_IN_1_0
MpPool         *mp_pool_new                  (gint                  processes,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
MpPool         *mp_pool_new_full             (const MpPoolOptions  *options,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_apply                (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *args,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
MpAsyncResult  *mp_pool_apply_async_result   (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *args,
                                              MpResultCallback      callback,
                                              MpErrorCallback       error_callback,
                                              gpointer              user_data,
                                              GDestroyNotify        notify,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
void            mp_pool_apply_async          (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *args,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_apply_finish         (MpPool               *self,
                                              GAsyncResult         *result,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_map                  (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
MpAsyncResult  *mp_pool_map_async_result     (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              MpResultCallback      callback,
                                              MpErrorCallback       error_callback,
                                              gpointer              user_data,
                                              GDestroyNotify        notify,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
void            mp_pool_map_async            (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_map_finish           (MpPool               *self,
                                              GAsyncResult         *result,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_starmap              (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
MpAsyncResult  *mp_pool_starmap_async_result (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              MpResultCallback      callback,
                                              MpErrorCallback       error_callback,
                                              gpointer              user_data,
                                              GDestroyNotify        notify,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
void            mp_pool_starmap_async        (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
MP_AVAILABLE_IN_1_0
GVariant       *mp_pool_starmap_finish       (MpPool               *self,
                                              GAsyncResult         *result,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
MpIMapIterator *mp_pool_imap                 (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GError              **error);
MP_AVAILABLE_IN_1_0
MpIMapIterator *mp_pool_imap_unordered       (MpPool               *self,
                                              MpCallable           *func,
                                              GVariant             *iterable,
                                              gint                  chunksize,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
void            mp_pool_close                (MpPool               *self);
MP_AVAILABLE_IN_1_0
void            mp_pool_terminate            (MpPool               *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_pool_join                 (MpPool               *self,
                                              gint64                timeout_us,
                                              GError              **error);

MP_AVAILABLE_IN_1_0
void            mp_pool_set_task_timeout     (MpPool               *self,
                                              gint64                timeout_us);
MP_AVAILABLE_IN_1_0
gint            mp_pool_get_processes        (MpPool               *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_pool_is_thread_pool       (MpPool               *self);
MP_AVAILABLE_IN_1_0
guint64         mp_pool_get_id               (MpPool               *self);
MP_AVAILABLE_IN_1_0
void            mp_pool_get_counters         (MpPool               *self,
                                              MpPoolCounters       *counters);
MP_AVAILABLE_IN_1_0
GArray         *mp_pool_dup_worker_pids      (MpPool               *self);

G_END_DECLS
