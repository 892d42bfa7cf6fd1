/* mp-pool-process.c: the worker processes of a pool, seen from the parent
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * One thread per pool (the "pool thread") does all the talking to the workers: it hands
 * tasks out, reads results, notices deaths and timeouts, and starts replacements. Submitting
 * threads only queue tasks on core->pending and wake it through an eventfd (only when it
 * sleeps, so a burst of apply_async calls costs no syscall per call).
 *
 * Each worker has a Unix stream socket to the parent. The parent decides which worker gets
 * which task, so it always knows what each worker holds: a worker runs its tasks in the order
 * it received them and answers them in that order, so the answer to the first task in
 * w->inflight is the next result message. A worker may hold several tasks (a window) so that
 * it never waits for the parent between short tasks; the window shrinks to one task for tasks
 * longer than a millisecond, where the round trip costs nothing and a task queued behind a
 * long one would wait for nothing. While every worker still has LOW_WATER tasks queued, new
 * tasks wait in pending until BATCH of them gathered: bigger sends mean fewer syscalls and,
 * above all, fewer cross-CPU wake-ups, which cost tens of microseconds in a virtual machine.
 *
 * Deaths. Every worker also writes, into the pool's shared memory, the id of the task it is
 * running and when it started. When a worker's sentinel becomes readable, the parent first
 * reads what is left in its socket (results written before it died), then looks at its
 * inflight list: the first task failed with MP_ERROR_WORKER_DIED if the worker's slot says it
 * had started it (or with MP_ERROR_TIMEOUT if the parent killed it for running too long); the
 * tasks behind it never started and go back to the front of pending. Nothing waits for ever.
 *
 * Workers are started by the creating thread at first (so a single-threaded program forks
 * before the pool thread exists), replacements by the pool thread. How a worker learns that
 * its parent died depends on which thread started it (parent_thread_lasts(), mp-pool-worker.c).
 *
 * Shutdown: after close(), each worker gets a QUIT once nothing is pending (and no map is still
 * queuing its chunks) and its own tasks are done, and the thread ends when the last worker
 * exited. After terminate(), workers get
 * SIGTERM, SIGKILL 100 ms later, and the tasks they held fail with MP_ERROR_CLOSED.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp-context.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-pool-private.h"
#include "mp-process-private.h"
#include "mp-trace-private.h"

#define WINDOW_MAX          256
#define LOW_WATER           2        /* a worker with fewer queued tasks gets work at once */
#define BATCH               32       /* otherwise tasks wait until there are this many */
#define WINDOW_TARGET_NS    (G_GINT64_CONSTANT (1000000))    /* queued work per worker */
#define TERMINATE_GRACE_MS  100
#define STARTUP_FAILURES    5

typedef struct
{
  gsize         offset;     /* where its message starts in out */
  GUnixFDList  *fds;
} OutFds;

typedef struct
{
  guint        index;       /* its slot */
  MpProcess   *process;
  pid_t        pid;
  int          sock;        /* the parent's end, non-blocking */
  int          sentinel;    /* owned by process */
  GQueue       inflight;    /* MpPoolTask*, in the order sent */
  GByteArray  *out;
  gsize        out_sent;
  GQueue       out_fds;     /* OutFds*, by offset */
  GByteArray  *in;
  gsize        in_used;
  GHashTable  *known;       /* function ids it has */
  guint64      assigned;    /* tasks sent, for maxtasksperchild */
  guint64      completed;
  gboolean     quit_sent;
  gboolean     eof;         /* its socket is at end of file: poll only the sentinel */
  gboolean     exited;      /* its sentinel is readable */
  gboolean     broken;      /* protocol error or write failure: killed */
  guint64      timed_out;   /* the task it was killed for, 0 if none */
} Worker;

typedef struct
{
  GThread           *thread;
  int                wake_fd;
  gboolean           sleeping;
  gboolean           room;          /* when it went to sleep, a worker was running low */
  int                shm_fd;
  MpPoolShmHeader   *shm;
  gsize              shm_size;
  MpPoolWorkerSlot  *slots;
  int                object_index;
  GPtrArray         *workers;       /* Worker* by slot, NULL while (re)starting */
  GHashTable        *func_ids;      /* MpFunc → id */
  guint              next_func_id;
  guint64            avg_task_ns;   /* moving average, 0 before the first result */
  gint64             next_dispatch_us;
  guint              startup_failures;
  int                last_exitcode;
} ProcBackend;

static inline ProcBackend *
backend (MpPoolCore *core)
{
  return core->backend;
}

/* ---- workers: start, free ------------------------------------------------------------ */

static void
out_fds_free (OutFds *of)
{
  g_clear_object (&of->fds);
  g_free (of);
}

static void
worker_free (Worker *w)
{
  if (w == NULL)
    return;
  g_assert (g_queue_is_empty (&w->inflight));
  if (w->sock >= 0)
    close (w->sock);
  g_clear_object (&w->process);
  g_byte_array_unref (w->out);
  g_byte_array_unref (w->in);
  g_queue_clear_full (&w->out_fds, (GDestroyNotify) out_fds_free);
  g_hash_table_unref (w->known);
  g_free (w);
}

static guint
live_workers (ProcBackend *pb)
{
  guint n = 0;

  for (guint i = 0; i < pb->workers->len; i++)
    if (pb->workers->pdata[i] != NULL)
      n++;
  return n;
}

static __thread gboolean in_pool_thread;

/* Whether the thread starting a worker now is its parent for good: the worker is its child
 * (fork, spawn; not forkserver), and the thread is the pool thread, which ends after the
 * workers, or the main thread, which ends with the process. Then a worker's parent-death
 * signal fires only when it should. */
static gboolean
parent_thread_lasts (MpPoolCore *core)
{
  const char *method = mp_context_get_start_method (core->context);

  if (g_strcmp0 (method, "fork") != 0 && g_strcmp0 (method, "spawn") != 0)
    return FALSE;
  return in_pool_thread || gettid () == getpid ();
}

/* Starts the worker for slot @index; called unlocked. */
static Worker *
worker_start (MpPoolCore *core, ProcBackend *pb, guint index, GError **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(MpProcess) process = NULL;
  g_autofree char *name = NULL;
  GVariant *init = NULL;
  MpPoolWorkerSlot *slot = &pb->slots[index];
  int sv[2];
  int h_sock, h_shm;
  Worker *w;

  if (core->slowmo_ms > 0)
    g_usleep ((gulong) core->slowmo_ms * 1000);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "socketpair() failed: %s", g_strerror (errsv));
      return NULL;
    }
  h_sock = g_unix_fd_list_append (fds, sv[1], NULL);
  close (sv[1]);
  h_shm = g_unix_fd_list_append (fds, pb->shm_fd, NULL);
  if (h_sock < 0 || h_shm < 0)
    {
      close (sv[0]);
      g_set_error_literal (error, MP_ERROR, MP_ERROR_IO, "cannot pass the worker's descriptors");
      return NULL;
    }
  if (core->initializer != NULL)
    {
      init = mp_callable_serialize (core->initializer, fds, error);
      if (init == NULL)
        {
          close (sv[0]);
          return NULL;
        }
    }

  __atomic_store_n (&slot->task_id, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->tasks_done, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->busy_ns, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->pid, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->state, MP_POOL_SLOT_STARTING, __ATOMIC_RELEASE);

  target = mp_callable_new_with_fds (_mp_pool_worker_main,
                                     g_variant_new ("(utiihhmvsb)", index, core->id,
                                                    (gint32) pb->object_index,
                                                    (gint32) core->maxtasks, h_sock, h_shm,
                                                    init, core->label,
                                                    parent_thread_lasts (core)),
                                     fds);
  process = mp_context_process_new (core->context, target);
  _mp_process_set_role (process, MP_ROLE_WORKER);
  name = g_strdup (mp_process_get_name (process));
  if (g_str_has_prefix (name, "Process"))
    {
      g_autofree char *renamed = g_strconcat ("PoolWorker", name + strlen ("Process"), NULL);
      mp_process_set_name (process, renamed);
    }
  mp_process_set_daemon (process, TRUE);
  if (!mp_process_start (process, error))
    {
      close (sv[0]);
      return NULL;
    }

  (void) fcntl (sv[0], F_SETFL, fcntl (sv[0], F_GETFL) | O_NONBLOCK);
  w = g_new0 (Worker, 1);
  w->index = index;
  w->process = g_steal_pointer (&process);
  w->pid = mp_process_get_pid (w->process);
  w->sock = sv[0];
  w->sentinel = mp_process_get_sentinel (w->process, NULL);
  g_queue_init (&w->inflight);
  g_queue_init (&w->out_fds);
  w->out = g_byte_array_new ();
  w->in = g_byte_array_sized_new (MP_POOL_READ_CHUNK);
  w->known = g_hash_table_new (NULL, NULL);
  _mp_debug ("%s: started worker %s (pid %d)", core->label, mp_process_get_name (w->process),
             w->pid);
  return w;
}

static void
install_worker_locked (MpPoolCore *core, ProcBackend *pb, Worker *w)
{
  pb->workers->pdata[w->index] = w;
  core->workers_alive = live_workers (pb);
  if (core->stats != NULL && w->index < MP_POOL_STATS_WORKERS)
    __atomic_store_n (&core->stats->worker_pid[w->index], w->pid, __ATOMIC_RELAXED);
}

/* ---- talking to workers -------------------------------------------------------------- */

static void
kill_worker (Worker *w, const char *why)
{
  if (!w->broken && why != NULL)
    _mp_warning ("pool worker %d: %s; killing it", w->pid, why);
  w->broken = TRUE;
  (void) mp_process_kill (w->process, NULL);
}

static guint
func_id_locked (ProcBackend *pb, MpFunc func)
{
  gpointer id;

  if (g_hash_table_lookup_extended (pb->func_ids, (gpointer) func, NULL, &id))
    return GPOINTER_TO_UINT (id);
  g_hash_table_insert (pb->func_ids, (gpointer) func, GUINT_TO_POINTER (++pb->next_func_id));
  return pb->next_func_id;
}

static gboolean
append_func (Worker *w, MpFunc func, guint id, GError **error)
{
  g_autoptr(MpCallable) bare = mp_callable_new (func, NULL);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) ser = mp_callable_serialize (bare, fds, error);
  const char *type;
  guint32 lens[2];
  gsize start;

  if (ser == NULL)
    return FALSE;
  g_variant_ref_sink (ser);
  type = g_variant_get_type_string (ser);
  lens[0] = (guint32) strlen (type);
  lens[1] = (guint32) g_variant_get_size (ser);
  _mp_pool_msg_begin (w->out, MP_POOL_MSG_FUNC, 0, id, &start);
  _mp_pool_msg_append (w->out, lens, sizeof lens);
  _mp_pool_msg_append (w->out, type, lens[0]);
  _mp_pool_msg_pad (w->out);
  _mp_pool_msg_append (w->out, g_variant_get_data (ser), lens[1]);
  _mp_pool_msg_end (w->out, start);
  g_hash_table_add (w->known, GUINT_TO_POINTER (id));
  return TRUE;
}

static gboolean
append_task (ProcBackend *pb, Worker *w, MpPoolTask *task, GError **error)
{
  MpPoolMsgHeader h = { 0, MP_POOL_MSG_TASK, 0, task->id };
  MpPoolTaskHeader th = { 0 };
  guint id = func_id_locked (pb, task->func);
  const char *bound_type = task->bound ? g_variant_get_type_string (task->bound) : "";
  gsize chunk_len = task->chunk_len, payload;
  gconstpointer chunk_data = task->chunk_ptr;
  guint n_fds = task->fds ? (guint) g_unix_fd_list_get_length (task->fds) : 0;
  gsize start;
  guint8 *p;

  if (!g_hash_table_contains (w->known, GUINT_TO_POINTER (id)) &&
      !append_func (w, task->func, id, error))
    return FALSE;
  if (n_fds > 250)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "a task can carry at most 250 file descriptors, not %u", n_fds);
      return FALSE;
    }

  th.func_id = id;
  th.flags = task->flags;
  th.n_items = task->n_items;
  th.bound_type_len = (guint32) strlen (bound_type);
  th.bound_len = task->bound ? g_variant_get_size (task->bound) : 0;
  th.chunk_type_len = (guint32) strlen (task->chunk_type);
  th.first_item = task->first_item;
  th.chunk_len = chunk_len;
  payload = sizeof th + ((th.chunk_type_len + 7) & ~7u) + ((chunk_len + 7) & ~(gsize) 7);
  if (task->bound)
    payload += ((th.bound_type_len + 7) & ~7u) + ((th.bound_len + 7) & ~(gsize) 7);
  h.size = (guint32) payload;
  h.n_fds = (guint16) n_fds;

  start = w->out->len;
  g_byte_array_set_size (w->out, (guint) (start + sizeof h + payload));
  p = w->out->data + start;
  memcpy (p, &h, sizeof h);
  p += sizeof h;
  memcpy (p, &th, sizeof th);
  p += sizeof th;
  if (task->bound)
    {
      p = _mp_pool_put_padded (p, bound_type, th.bound_type_len);
      p = _mp_pool_store_padded (p, task->bound, th.bound_len);
    }
  p = _mp_pool_put_padded (p, task->chunk_type, th.chunk_type_len);
  if (task->args != NULL)
    p = _mp_pool_store_padded (p, task->args, chunk_len);
  else
    p = _mp_pool_put_padded (p, chunk_data, chunk_len);
  g_assert (p == w->out->data + w->out->len);

  if (n_fds > 0)
    {
      OutFds *of = g_new0 (OutFds, 1);
      of->offset = start;
      of->fds = g_object_ref (task->fds);
      g_queue_push_tail (&w->out_fds, of);
    }
  return TRUE;
}

static void
append_quit (Worker *w)
{
  gsize start;

  _mp_pool_msg_begin (w->out, MP_POOL_MSG_QUIT, 0, 0, &start);
  _mp_pool_msg_end (w->out, start);
  w->quit_sent = TRUE;
}

/* Writes what it can without blocking; called unlocked by the pool thread only. */
static void
flush_worker (Worker *w)
{
  while (w->out_sent < w->out->len)
    {
      OutFds *of = g_queue_peek_head (&w->out_fds);
      struct msghdr msg = { 0 };
      struct iovec iov;
      union {
        char buf[CMSG_SPACE (sizeof (int) * 256)];
        struct cmsghdr align;
      } control;
      gsize end = w->out->len;
      gboolean with_fds = FALSE;
      ssize_t n;

      /* Descriptors go with the send that starts at their message: never later than it. */
      if (of != NULL && of->offset > w->out_sent)
        end = MIN (end, of->offset);
      else if (of != NULL)
        {
          GList *next = w->out_fds.head->next;
          gint n_fds;
          const gint *fdv = g_unix_fd_list_peek_fds (of->fds, &n_fds);
          struct cmsghdr *cmsg;

          if (next != NULL)
            end = MIN (end, ((OutFds *) next->data)->offset);
          msg.msg_control = control.buf;
          msg.msg_controllen = CMSG_SPACE (sizeof (int) * (gsize) n_fds);
          memset (control.buf, 0, sizeof control.buf);
          cmsg = CMSG_FIRSTHDR (&msg);
          cmsg->cmsg_level = SOL_SOCKET;
          cmsg->cmsg_type = SCM_RIGHTS;
          cmsg->cmsg_len = CMSG_LEN (sizeof (int) * (gsize) n_fds);
          memcpy (CMSG_DATA (cmsg), fdv, sizeof (int) * (gsize) n_fds);
          with_fds = TRUE;
        }

      iov.iov_base = w->out->data + w->out_sent;
      iov.iov_len = end - w->out_sent;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      n = sendmsg (w->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            return;
          /* EPIPE: it is dying; its sentinel tells the rest. */
          w->out_sent = w->out->len;
          break;
        }
      if (with_fds)
        out_fds_free (g_queue_pop_head (&w->out_fds));
      w->out_sent += (gsize) n;
    }
  g_byte_array_set_size (w->out, 0);
  w->out_sent = 0;
  g_queue_clear_full (&w->out_fds, (GDestroyNotify) out_fds_free);
}

/* Reads what is there without blocking; returns FALSE at EOF or on an error. Unlocked. */
static gboolean
read_worker (Worker *w)
{
  if (w->in_used > 0)
    {
      gsize left = w->in->len - w->in_used;
      memmove (w->in->data, w->in->data + w->in_used, left);
      g_byte_array_set_size (w->in, (guint) left);
      w->in_used = 0;
    }
  for (;;)
    {
      guint old = w->in->len;
      gsize want = _mp_pool_read_size (old);
      ssize_t n;

      g_byte_array_set_size (w->in, (guint) (old + want));
      n = recv (w->sock, w->in->data + old, want, MSG_DONTWAIT);
      g_byte_array_set_size (w->in, old + (guint) MAX (n, 0));
      if (n > 0)
        continue;
      if (n == 0)
        return FALSE;
      if (errno == EINTR)
        continue;
      return errno == EAGAIN;
    }
}

/* A result read from a worker, handed to its job later under the lock. */
typedef struct
{
  MpPoolTask     *task;       /* NULL: an initializer's failure */
  MpPoolResults   results;
  GError         *error;
} Done;

/*
 * Parses the messages in w->in into @done. Called unlocked: w->in and w->inflight belong to the
 * pool thread alone, so the lock is only taken afterwards, briefly, to hand the results over
 * (submitting threads wait less for it).
 */
static void
parse_input (ProcBackend *pb, Worker *w, GArray *done)
{
  while (!w->broken && w->in->len - w->in_used >= sizeof (MpPoolMsgHeader))
    {
      MpPoolMsgHeader h;
      const guint8 *payload;
      g_autoptr(GError) error = NULL;
      GError *task_error = NULL;
      MpPoolResults results;
      guint64 duration = 0;

      memcpy (&h, w->in->data + w->in_used, sizeof h);
      if (h.size % 8 != 0 || h.size > MP_POOL_MSG_MAX || h.n_fds != 0)
        {
          kill_worker (w, "malformed message");
          return;
        }
      if (w->in->len - w->in_used - sizeof h < h.size)
        return;                                   /* not all there yet */
      payload = w->in->data + w->in_used + sizeof h;
      w->in_used += sizeof h + h.size;

      if (!_mp_pool_msg_parse_result (payload, h.size, &results, &duration, &task_error, &error))
        {
          kill_worker (w, error->message);
          return;
        }

      if (h.kind == MP_POOL_MSG_RESULT)
        {
          MpPoolTask *task = g_queue_peek_head (&w->inflight);
          Done d;

          if (task == NULL || task->id != h.id || results.n > task->n_items)
            {
              _mp_pool_results_clear (&results);
              g_clear_error (&task_error);
              kill_worker (w, "result for a task it does not hold");
              return;
            }
          g_queue_pop_head (&w->inflight);
          w->completed++;
          pb->startup_failures = 0;
          pb->avg_task_ns = pb->avg_task_ns == 0 ? MAX (duration, 1)
                                                 : (pb->avg_task_ns * 7 + duration) / 8;
          d.task = task;
          d.results = results;
          d.error = task_error;
          g_array_append_val (done, d);
        }
      else if (h.kind == MP_POOL_MSG_INIT_FAILED && task_error != NULL)
        {
          Done d = { NULL, { 0 }, task_error };

          _mp_pool_results_clear (&results);
          g_array_append_val (done, d);
        }
      else
        {
          _mp_pool_results_clear (&results);
          g_clear_error (&task_error);
          kill_worker (w, "unexpected message");
          return;
        }
    }
}

/* Hands the parsed results to their jobs; called locked. */
static void
deliver_locked (MpPoolCore *core, GArray *done)
{
  for (guint i = 0; i < done->len; i++)
    {
      Done *d = &g_array_index (done, Done, i);

      if (d->task != NULL)
        _mp_pool_task_done_locked (core, d->task, &d->results, d->error);
      else
        {
          _mp_pool_core_set_broken_locked (core, d->error);
          g_clear_error (&d->error);
        }
    }
  g_array_set_size (done, 0);
}

/* ---- dispatching ----------------------------------------------------------------------- */

static guint
window (MpPoolCore *core, ProcBackend *pb)
{
  if (core->slowmo_ms > 0)
    return 1;
  if (pb->avg_task_ns == 0)
    return 2;
  return (guint) CLAMP (1 + WINDOW_TARGET_NS / (gint64) pb->avg_task_ns, 1, WINDOW_MAX);
}

/* The worker that should get the next task: the least loaded one with room. */
static Worker *
pick_worker_locked (MpPoolCore *core, ProcBackend *pb, guint win)
{
  Worker *best = NULL;

  for (guint i = 0; i < pb->workers->len; i++)
    {
      Worker *w = pb->workers->pdata[i];

      if (w == NULL || w->exited || w->broken || w->quit_sent ||
          w->inflight.length >= win ||
          (core->maxtasks > 0 && w->assigned >= (guint64) core->maxtasks))
        continue;
      if (best == NULL || w->inflight.length < best->inflight.length)
        best = w;
    }
  return best;
}

static void
dispatch_locked (MpPoolCore *core, ProcBackend *pb)
{
  guint win = window (core, pb);

  if (core->slowmo_ms > 0 && g_get_monotonic_time () < pb->next_dispatch_us)
    return;

  while (!g_queue_is_empty (&core->pending))
    {
      Worker *best = pick_worker_locked (core, pb, win);
      MpPoolTask *task;
      g_autoptr(GError) error = NULL;

      if (best == NULL)
        return;
      /* Every worker has work queued: let tasks gather into bigger sends (fewer syscalls and
       * wake-ups on both sides) until one of them runs low. */
      if (best->inflight.length >= LOW_WATER && core->pending.length < BATCH)
        return;

      task = g_queue_pop_head (&core->pending);
      if (!append_task (pb, best, task, &error))
        {
          _mp_trace (MP_TRACE_NORMAL, MP_EVENT_TASK_FAILED, core->id, (gint64) task->id,
                     error->code);
          _mp_pool_task_done_locked (core, task, NULL, g_steal_pointer (&error));
          continue;
        }
      task->worker = best;
      g_queue_push_tail (&best->inflight, task);
      best->assigned++;

      if (core->slowmo_ms > 0)
        {
          pb->next_dispatch_us = g_get_monotonic_time () + (gint64) core->slowmo_ms * 1000;
          return;
        }
    }
}

/* ---- deaths and timeouts ----------------------------------------------------------------- */

static char *
describe_exit (int code)
{
  if (code < 0)
    {
      const char *abbrev = sigabbrev_np (-code);
      return g_strdup_printf ("was killed by signal %d (SIG%s)", -code, abbrev ? abbrev : "?");
    }
  return g_strdup_printf ("exited with code %d", code);
}

/* The worker's process ended and its input was read: settle what it held. Locked. */
static void
worker_exited_locked (MpPoolCore *core, ProcBackend *pb, Worker *w)
{
  MpPoolWorkerSlot *slot = &pb->slots[w->index];
  /* Pairs with the worker's store-release of task_id, after tasks_done. */
  guint64 started = __atomic_load_n (&slot->task_id, __ATOMIC_ACQUIRE);
  guint64 finished = __atomic_load_n (&slot->tasks_done, __ATOMIC_RELAXED);
  MpPoolTask *head;
  int code = -1000;

  (void) mp_process_join (w->process, 0, NULL);
  (void) mp_process_get_exitcode (w->process, &code);
  pb->last_exitcode = code;

  /* Tasks it finished but whose results never left it: they ran, so they are not run again
   * (a task may have effects), they fail. */
  while (finished > w->completed && !g_queue_is_empty (&w->inflight))
    {
      g_autofree char *how = describe_exit (code);
      MpPoolTask *task = g_queue_pop_head (&w->inflight);
      GError *error = g_error_new (MP_ERROR, MP_ERROR_WORKER_DIED,
                                   "the worker process (pid %d) %s after running task %"
                                   G_GUINT64_FORMAT ", before sending its result",
                                   w->pid, how, task->id);

      w->completed++;
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_TASK_FAILED, core->id, (gint64) task->id, error->code);
      _mp_pool_task_done_locked (core, task, NULL, error);
    }

  head = g_queue_peek_head (&w->inflight);
  if (head != NULL && (started == head->id || w->timed_out == head->id))
    {
      g_autofree char *how = describe_exit (code);
      GError *error;

      g_queue_pop_head (&w->inflight);
      if (w->timed_out == head->id)
        error = g_error_new (MP_ERROR, MP_ERROR_TIMEOUT,
                             "task %" G_GUINT64_FORMAT " ran longer than %.3f s: its worker "
                             "(pid %d) was killed", head->id, head->timeout_us / 1e6, w->pid);
      else
        error = g_error_new (MP_ERROR, MP_ERROR_WORKER_DIED,
                             "the worker process (pid %d) %s while running task %" G_GUINT64_FORMAT,
                             w->pid, how, head->id);
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_TASK_FAILED, core->id, (gint64) head->id,
                 error->code);
      _mp_debug ("%s: %s", core->label, error->message);
      _mp_pool_task_done_locked (core, head, NULL, error);
    }
  else if (w->completed == 0 && core->state == MP_POOL_RUN && !w->broken && code != 0)
    pb->startup_failures++;

  /* The rest never started: they go first to the other workers. */
  while (!g_queue_is_empty (&w->inflight))
    {
      MpPoolTask *task = g_queue_pop_tail (&w->inflight);
      task->worker = NULL;
      g_queue_push_head (&core->pending, task);
    }

  __atomic_store_n (&slot->task_id, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->state, MP_POOL_SLOT_EXITED, __ATOMIC_RELEASE);
  if (core->stats != NULL && w->index < MP_POOL_STATS_WORKERS)
    __atomic_store_n (&core->stats->worker_task[w->index], 0, __ATOMIC_RELAXED);
  pb->workers->pdata[w->index] = NULL;
  core->workers_alive = live_workers (pb);

  if (pb->startup_failures >= STARTUP_FAILURES && core->broken == NULL)
    {
      g_autofree char *how = describe_exit (code);
      g_autoptr(GError) error = g_error_new (MP_ERROR, MP_ERROR_WORKER_DIED,
                                             "workers keep dying before they run a task (the "
                                             "last one, pid %d, %s)", w->pid, how);
      _mp_pool_core_set_broken_locked (core, error);
    }
  worker_free (w);
}

/* Kills workers whose task ran too long; returns the ms until the next check, -1 for none. */
static int
check_timeouts_locked (MpPoolCore *core, ProcBackend *pb)
{
  guint64 now = 0;
  gint64 next_ms = -1;

  for (guint i = 0; i < pb->workers->len; i++)
    {
      Worker *w = pb->workers->pdata[i];
      MpPoolTask *head;
      MpPoolWorkerSlot *slot;
      gint64 left_ms;

      if (w == NULL || w->timed_out != 0 || (head = g_queue_peek_head (&w->inflight)) == NULL ||
          head->timeout_us <= 0)
        continue;
      slot = &pb->slots[w->index];
      if (__atomic_load_n (&slot->task_id, __ATOMIC_ACQUIRE) == head->id)
        {
          guint64 started = __atomic_load_n (&slot->start_ns, __ATOMIC_RELAXED);
          guint64 limit = started + (guint64) head->timeout_us * 1000;

          if (now == 0)
            now = _mp_monotonic_ns ();   /* only when a task has a limit */

          if (now >= limit)
            {
              w->timed_out = head->id;
              (void) mp_process_kill (w->process, NULL);
              continue;
            }
          left_ms = (gint64) ((limit - now + 999999) / 1000000);
        }
      else
        left_ms = MIN (head->timeout_us / 1000 + 1, 50);   /* not started: look again soon */
      if (next_ms < 0 || left_ms < next_ms)
        next_ms = left_ms;
    }
  return (int) MIN (next_ms, G_MAXINT);
}

static void
count_running_locked (MpPoolCore *core, ProcBackend *pb)
{
  guint running = 0;

  for (guint i = 0; i < pb->workers->len; i++)
    {
      Worker *w = pb->workers->pdata[i];
      if (w != NULL && !g_queue_is_empty (&w->inflight) &&
          __atomic_load_n (&pb->slots[i].state, __ATOMIC_RELAXED) == MP_POOL_SLOT_RUNNING)
        running++;
    }
  core->running = running;
}

/* Starts workers for empty slots when the pool still needs them. Locked; unlocks to start. */
static void
maintain_locked (MpPoolCore *core, ProcBackend *pb)
{
  for (guint i = 0; i < pb->workers->len; i++)
    {
      g_autoptr(GError) error = NULL;
      Worker *w;
      pid_t old_pid;

      if (pb->workers->pdata[i] != NULL)
        continue;
      if (core->broken != NULL || core->state == MP_POOL_TERMINATE ||
          (core->state == MP_POOL_CLOSE && !_mp_pool_core_has_work_locked (core)))
        return;

      old_pid = __atomic_load_n (&pb->slots[i].pid, __ATOMIC_RELAXED);
      _mp_pool_core_unlock (core);
      w = worker_start (core, pb, i, &error);
      _mp_pool_core_lock (core);
      if (w == NULL)
        {
          _mp_warning ("%s: cannot start a worker: %s", core->label, error->message);
          _mp_pool_core_set_broken_locked (core, error);
          return;
        }
      install_worker_locked (core, pb, w);
      core->n_replaced++;
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_WORKER_REPLACED, core->id, old_pid, w->pid);
      if (core->state == MP_POOL_TERMINATE)
        return;
    }
}

/* ---- the pool thread ------------------------------------------------------------------- */

static void
shutdown_workers (MpPoolCore *core, ProcBackend *pb)
{
  g_autoptr(GError) closed = g_error_new_literal (MP_ERROR, MP_ERROR_CLOSED, "Pool terminated");
  gint64 grace_end = g_get_monotonic_time () + TERMINATE_GRACE_MS * 1000;
  gboolean killed = FALSE;

  /* Called locked; waits unlocked. */
  for (guint i = 0; i < pb->workers->len; i++)
    {
      Worker *w = pb->workers->pdata[i];
      if (w != NULL)
        (void) mp_process_terminate (w->process, NULL);
    }
  for (;;)
    {
      g_autofree struct pollfd *pfd = g_new0 (struct pollfd, pb->workers->len + 1);
      guint n = 0;
      gint64 now = g_get_monotonic_time ();
      int ms;

      for (guint i = 0; i < pb->workers->len; i++)
        {
          Worker *w = pb->workers->pdata[i];
          if (w != NULL)
            {
              pfd[n].fd = w->sentinel;
              pfd[n].events = POLLIN;
              n++;
            }
        }
      if (n == 0)
        break;
      if (!killed && now >= grace_end)
        {
          for (guint i = 0; i < pb->workers->len; i++)
            {
              Worker *w = pb->workers->pdata[i];
              if (w != NULL)
                (void) mp_process_kill (w->process, NULL);
            }
          killed = TRUE;
        }
      ms = killed ? 1000 : (int) ((grace_end - now + 999) / 1000);
      _mp_pool_core_unlock (core);
      (void) poll (pfd, n, ms);
      _mp_pool_core_lock (core);
      for (guint i = 0; i < pb->workers->len; i++)
        {
          Worker *w = pb->workers->pdata[i];
          if (w == NULL || !_mp_fd_wait_readable (w->sentinel, 0))
            continue;
          /* Its running task is the terminate's doing, not a crash. */
          while (!g_queue_is_empty (&w->inflight))
            _mp_pool_task_done_locked (core, g_queue_pop_head (&w->inflight), NULL,
                                       g_error_copy (closed));
          (void) mp_process_join (w->process, 0, NULL);
          pb->workers->pdata[i] = NULL;
          worker_free (w);
        }
      core->workers_alive = live_workers (pb);
    }
}

static gpointer
pool_thread (gpointer data)
{
  MpPoolCore *core = data;
  ProcBackend *pb = backend (core);
  GArray *pfds = g_array_new (FALSE, TRUE, sizeof (struct pollfd));
  GArray *done = g_array_new (FALSE, FALSE, sizeof (Done));

  in_pool_thread = TRUE;
  _mp_pool_core_lock (core);
  for (;;)
    {
      GPtrArray *live;
      int timeout_ms;
      guint64 drain;

      if (core->state == MP_POOL_TERMINATE)
        break;
      maintain_locked (core, pb);
      if (core->state == MP_POOL_TERMINATE)
        break;
      dispatch_locked (core, pb);

      if (core->state == MP_POOL_CLOSE && !_mp_pool_core_has_work_locked (core))
        for (guint i = 0; i < pb->workers->len; i++)
          {
            Worker *w = pb->workers->pdata[i];
            if (w != NULL && !w->quit_sent && g_queue_is_empty (&w->inflight))
              append_quit (w);
          }
      if (core->state != MP_POOL_RUN && live_workers (pb) == 0 &&
          (!_mp_pool_core_has_work_locked (core) || core->broken != NULL))
        break;

      timeout_ms = check_timeouts_locked (core, pb);
      if (core->slowmo_ms > 0 && !g_queue_is_empty (&core->pending))
        {
          gint64 left = (pb->next_dispatch_us - g_get_monotonic_time () + 999) / 1000;
          left = MAX (left, 0);
          if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = (int) left;
        }
      count_running_locked (core, pb);
      _mp_pool_core_update_stats_locked (core);

      /* Snapshot the workers; only this thread adds or removes them. */
      live = g_ptr_array_new ();
      for (guint i = 0; i < pb->workers->len; i++)
        if (pb->workers->pdata[i] != NULL)
          g_ptr_array_add (live, pb->workers->pdata[i]);
      /* Submitters wake us only if we could hand their task out at once; otherwise the
       * next result wakes us anyway. */
      {
        Worker *best = pick_worker_locked (core, pb, window (core, pb));
        pb->room = best != NULL && best->inflight.length < LOW_WATER;
      }
      pb->sleeping = TRUE;
      _mp_pool_core_unlock (core);

      g_array_set_size (pfds, 0);
      {
        struct pollfd p = { pb->wake_fd, POLLIN, 0 };
        g_array_append_val (pfds, p);
      }
      for (guint i = 0; i < live->len; i++)
        {
          Worker *w = live->pdata[i];
          struct pollfd ps = { w->sock, POLLIN, 0 };
          struct pollfd pe = { w->sentinel, POLLIN, 0 };

          if (w->eof)
            {
              /* A hung-up socket is always readable: between the end of file and the
               * process's end, poll only the sentinel. */
              ps.fd = -1;
              g_byte_array_set_size (w->out, 0);
              w->out_sent = 0;
            }
          else
            {
              flush_worker (w);
              if (w->out->len > 0)
                ps.events |= POLLOUT;
            }
          g_array_append_val (pfds, ps);
          g_array_append_val (pfds, pe);
        }
      while (poll ((struct pollfd *) (void *) pfds->data, pfds->len, timeout_ms) < 0 &&
             errno == EINTR)
        ;
      if (g_array_index (pfds, struct pollfd, 0).revents &&
          read (pb->wake_fd, &drain, sizeof drain) < 0)
        { /* EAGAIN: another wake drained it */ }
      for (guint i = 0; i < live->len; i++)
        {
          Worker *w = live->pdata[i];
          struct pollfd *ps = &g_array_index (pfds, struct pollfd, 1 + 2 * i);
          struct pollfd *pe = &g_array_index (pfds, struct pollfd, 2 + 2 * i);

          if (pe->revents)
            w->exited = TRUE;
          if (!w->eof && ((ps->revents & (POLLIN | POLLHUP | POLLERR)) || w->exited))
            w->eof = !read_worker (w);
          parse_input (pb, w, done);
        }

      _mp_pool_core_lock (core);
      pb->sleeping = FALSE;
      deliver_locked (core, done);
      for (guint i = 0; i < live->len; i++)
        {
          Worker *w = live->pdata[i];
          if (w->exited)
            worker_exited_locked (core, pb, w);
        }
      g_ptr_array_unref (live);
    }

  if (core->state == MP_POOL_TERMINATE)
    shutdown_workers (core, pb);
  else
    {
      /* Closed: they all exited; a broken pool may still hold started ones. */
      shutdown_workers (core, pb);
    }
  count_running_locked (core, pb);
  core->backend_done = TRUE;
  _mp_pool_core_update_stats_locked (core);
  _mp_pool_core_broadcast_locked (core);
  _mp_pool_core_unlock (core);
  g_array_unref (pfds);
  g_array_unref (done);
  _mp_pool_core_unref (core);
  return NULL;
}

/* ---- the backend class ------------------------------------------------------------------ */

static gboolean
proc_start (MpPoolCore *core, GError **error)
{
  ProcBackend *pb = g_new0 (ProcBackend, 1);
  gsize size;

  core->backend = pb;
  pb->shm_fd = -1;
  pb->wake_fd = -1;
  pb->workers = g_ptr_array_new ();
  g_ptr_array_set_size (pb->workers, core->processes);
  pb->func_ids = g_hash_table_new (NULL, NULL);

  if (core->object != NULL && _mp_arena != NULL)
    {
      const MpArenaHeader *h = _mp_arena_header (_mp_arena);
      pb->object_index = (int) (((guint8 *) core->object - (_mp_arena->base + h->objects_offset)) /
                                h->object_size);
    }
  else
    pb->object_index = -1;

  size = sizeof (MpPoolShmHeader) + sizeof (MpPoolWorkerSlot) * (gsize) core->processes;
  size = (size + 4095) & ~(gsize) 4095;
  pb->shm_fd = memfd_create ("libmp-pool", MFD_CLOEXEC);
  if (pb->shm_fd < 0 || ftruncate (pb->shm_fd, (off_t) size) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "cannot create the pool's shared memory: %s",
                   g_strerror (errsv));
      goto fail;
    }
  pb->shm = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, pb->shm_fd, 0);
  if (pb->shm == MAP_FAILED)
    {
      int errsv = errno;
      pb->shm = NULL;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "cannot map the pool's shared memory: %s",
                   g_strerror (errsv));
      goto fail;
    }
  pb->shm_size = size;
  pb->shm->magic = MP_POOL_SHM_MAGIC;
  pb->shm->version = MP_POOL_SHM_VERSION;
  pb->shm->n_slots = (guint32) core->processes;
  pb->shm->slot_size = sizeof (MpPoolWorkerSlot);
  pb->slots = (MpPoolWorkerSlot *) (void *) (pb->shm + 1);

  pb->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (pb->wake_fd < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "eventfd() failed: %s", g_strerror (errsv));
      goto fail;
    }

  for (gint i = 0; i < core->processes; i++)
    {
      Worker *w = worker_start (core, pb, (guint) i, error);
      if (w == NULL)
        goto fail;
      install_worker_locked (core, pb, w);
    }
  _mp_pool_core_update_stats_locked (core);

  pb->thread = g_thread_try_new ("libmp-pool", pool_thread, _mp_pool_core_ref (core), error);
  if (pb->thread == NULL)
    {
      _mp_pool_core_unref (core);
      goto fail;
    }
  return TRUE;

fail:
  _mp_pool_core_lock (core);
  core->state = MP_POOL_TERMINATE;
  shutdown_workers (core, pb);
  core->backend_done = TRUE;
  core->reaped = TRUE;
  _mp_pool_core_unlock (core);
  return FALSE;
}

static void
proc_wake (MpPoolCore *core)
{
  ProcBackend *pb = backend (core);
  guint64 one = 1;

  if (pb->sleeping && pb->wake_fd >= 0 &&
      (pb->room || core->pending.length >= BATCH || core->state != MP_POOL_RUN))
    {
      pb->sleeping = FALSE;
      if (write (pb->wake_fd, &one, sizeof one) < 0)
        { /* EAGAIN: already signalled */ }
    }
}

static void
proc_reap (MpPoolCore *core)
{
  ProcBackend *pb = backend (core);

  if (pb->thread != NULL)
    {
      g_thread_join (pb->thread);
      pb->thread = NULL;
    }
}

static void
proc_worker_pids (MpPoolCore *core, GArray *pids)
{
  ProcBackend *pb = backend (core);

  for (guint i = 0; i < pb->workers->len; i++)
    {
      Worker *w = pb->workers->pdata[i];
      if (w != NULL)
        {
          gint32 pid = w->pid;
          g_array_append_val (pids, pid);
        }
    }
}

static void
proc_free (MpPoolCore *core)
{
  ProcBackend *pb = backend (core);

  if (pb == NULL)
    return;
  if (pb->thread != NULL)
    g_thread_unref (pb->thread);
  for (guint i = 0; i < pb->workers->len; i++)
    worker_free (pb->workers->pdata[i]);
  g_ptr_array_unref (pb->workers);
  g_hash_table_unref (pb->func_ids);
  if (pb->shm != NULL)
    munmap (pb->shm, pb->shm_size);
  if (pb->shm_fd >= 0)
    close (pb->shm_fd);
  if (pb->wake_fd >= 0)
    close (pb->wake_fd);
  g_free (pb);
  core->backend = NULL;
}

const MpPoolBackendClass _mp_pool_process_backend = {
  proc_start,
  proc_wake,
  proc_reap,
  proc_worker_pids,
  proc_free,
};
