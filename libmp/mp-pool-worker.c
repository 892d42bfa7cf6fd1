/* mp-pool-worker.c: a pool's worker process
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The target of every worker process, whatever the start method. It reads messages from its
 * socket (functions, tasks, quit), runs each task and writes its result back, in order.
 * Results are written when no further task is already buffered, or at the latest 200 µs after
 * the previous write, so short tasks share one write and a long task's result is not held back
 * by the tasks queued behind it.
 *
 * Before and after each task the worker writes its slot in the pool's shared memory (task id
 * and start time, with release ordering so the parent that reads the id sees the time): that is
 * how the parent knows, if the worker dies, which task it was running.
 *
 * Task events (STARTED with the worker's pid, FINISHED with the duration, or FAILED with the
 * error code) go into this process's own ring, stamped with the times the worker reads anyway
 * for the task's slot and duration: a clock read is most of what an event costs.
 *
 * The worker ends when the parent ends, however it ends: by the kernel's parent-death signal
 * when the thread that started it lasts as long as the parent process or the pool (a signal is
 * tied to that thread), otherwise by a watchdog thread that polls a pidfd of the parent. The
 * signal is cheaper: a second thread costs its creation, and at exit a scheduling round trip
 * before the parent sees the worker gone. SIGINT is ignored: a terminal's Ctrl-C goes to the
 * whole process group, and what happens then is the parent's decision.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-pool-private.h"
#include "mp-process-private.h"
#include "mp-trace-private.h"

#define FLUSH_AFTER_NS  (G_GINT64_CONSTANT (200000))

/* A function the parent sent: found in this process, or the reason it was not. */
typedef struct
{
  MpFunc   func;
  GError  *error;
} FuncEntry;

typedef struct
{
  guint              index;
  guint64            pool_id;
  gint               maxtasks;
  int                sock;
  pid_t              pid;
  MpPoolWorkerSlot  *slot;
  MpPoolStats       *stats;
  GHashTable        *funcs;        /* id → FuncEntry */
  GByteArray        *in;
  gsize              in_used;
  GQueue             fds;          /* received descriptors not yet handed out */
  GByteArray        *out;
  guint64            last_flush_ns;
  guint64            last_task_end_ns;
  guint64            tasks_done;
} Worker;

static void *
watchdog (void *data)
{
  struct pollfd p = { GPOINTER_TO_INT (data), POLLIN, 0 };

  while (poll (&p, 1, -1) < 0 && errno == EINTR)
    ;
  /* The parent is gone: nobody will read our results. */
  _exit (1);
  return NULL;
}

/* Makes this worker end when its parent does. With @parent_thread_lasts, the thread that
 * started it lives as long as the parent process (its main thread) or outlives the workers
 * (the pool thread), so the kernel's parent-death signal is enough; the watchdog thread is for
 * the others: a pool made in a short-lived thread, forkserver children. */
static void
start_watchdog (gboolean parent_thread_lasts)
{
  MpProcess *parent = mp_parent_process ();
  pid_t ppid = parent ? mp_process_get_pid (parent) : 0;
  int fd = parent ? mp_process_get_sentinel (parent, NULL) : -1;
  pthread_attr_t attr;
  pthread_t thread;
  sigset_t all, old;

  /* A parent that died before the prctl() no longer is our parent: then the watchdog's pidfd
   * is readable at once. */
  if (parent_thread_lasts && ppid != 0 && prctl (PR_SET_PDEATHSIG, SIGKILL) == 0 &&
      getppid () == ppid)
    return;
  if (parent_thread_lasts)
    (void) prctl (PR_SET_PDEATHSIG, 0);

  if (fd >= 0)
    fd = dup (fd);
  if (fd < 0)
    {
      /* No pidfd on the parent: the parent-death signal is the next best thing. */
      (void) prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (ppid != 0 && getppid () != ppid)
        _exit (1);
      return;
    }
  pthread_attr_init (&attr);
  pthread_attr_setstacksize (&attr, 64 * 1024);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  if (pthread_create (&thread, &attr, watchdog, GINT_TO_POINTER (fd)) != 0)
    (void) prctl (PR_SET_PDEATHSIG, SIGKILL);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  pthread_attr_destroy (&attr);
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static void
flush (Worker *w)
{
  if (w->out->len == 0)
    return;
  if (!write_all (w->sock, w->out->data, w->out->len))
    _exit (1);   /* the parent closed our socket: it no longer wants anything from us */
  g_byte_array_set_size (w->out, 0);
  w->last_flush_ns = w->last_task_end_ns;
}

/* Reads at least one byte (blocking), then what else is there. FALSE at EOF. */
static gboolean
read_more (Worker *w, gboolean block)
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
      union {
        char buf[CMSG_SPACE (sizeof (int) * 253)];
        struct cmsghdr align;
      } control;
      struct msghdr msg = { 0 };
      struct iovec iov;
      guint old = w->in->len;
      gsize want = _mp_pool_read_size (old);
      ssize_t n;

      g_byte_array_set_size (w->in, (guint) (old + want));
      iov.iov_base = w->in->data + old;
      iov.iov_len = want;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      n = recvmsg (w->sock, &msg, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
      g_byte_array_set_size (w->in, old + (guint) MAX (n, 0));
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return !block && (errno == EAGAIN);
        }
      for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
          {
            gsize k = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
            const int *fdv = (const int *) (void *) CMSG_DATA (c);
            for (gsize i = 0; i < k; i++)
              g_queue_push_tail (&w->fds, GINT_TO_POINTER (fdv[i]));
          }
      if (n == 0)
        return FALSE;
      block = FALSE;   /* then take whatever else is already there */
    }
}

static void
protocol_error (const char *what)
{
  g_printerr ("libmp pool worker %d: %s\n", getpid (), what);
  _exit (3);
}

static void
handle_func (Worker *w, guint64 id, const guint8 *payload, gsize size)
{
  MpPoolReader r = { payload, size, 0 };
  const guint8 *p;
  guint32 lens[2];
  g_autoptr(GVariant) ser = NULL;
  g_autoptr(MpCallable) c = NULL;
  g_autoptr(GError) error = NULL;
  FuncEntry *entry;

  if (!_mp_pool_reader_take (&r, sizeof lens, &p))
    protocol_error ("malformed function");
  memcpy (lens, p, sizeof lens);
  if (!_mp_pool_reader_variant (&r, lens[0], lens[1], &ser))
    protocol_error ("malformed function");
  c = mp_callable_deserialize (ser, NULL, &error);
  entry = g_new0 (FuncEntry, 1);
  if (c != NULL)
    entry->func = mp_callable_get_func (c);
  else
    entry->error = g_steal_pointer (&error);   /* each task of this function fails with it */
  g_hash_table_replace (w->funcs, GSIZE_TO_POINTER ((gsize) id), entry);
}

static void
func_entry_free (FuncEntry *entry)
{
  g_clear_error (&entry->error);
  g_free (entry);
}

/* A task event stamped with a time the worker read anyway (start or end of the task). */
static inline void
task_event (Worker *w, guint64 timestamp_ns, MpEventType type, guint64 task_id, gint64 b)
{
  if (_mp_trace_enabled (MP_TRACE_NORMAL))
    _mp_trace_emit_at (timestamp_ns, type, w->pool_id, (gint64) task_id, b);
}

static void
handle_task (Worker *w, guint64 id, guint n_fds, const guint8 *payload, gsize size)
{
  MpPoolReader r = { payload, size, 0 };
  MpPoolTaskHeader th;
  const guint8 *p;
  g_autoptr(GVariant) bound = NULL;
  g_autoptr(GVariant) chunk = NULL;
  g_autoptr(GVariant) single = NULL;
  const char *chunk_type = NULL;
  const guint8 *chunk_data = NULL;
  gsize elem_fixed = 0;
  g_autoptr(GUnixFDList) fds = NULL;
  MpPoolResults results = { 0 };
  g_autoptr(GError) error = NULL;
  FuncEntry *entry;
  guint64 start, end;

  if (n_fds > g_queue_get_length (&w->fds))
    protocol_error ("a task came without its descriptors");
  if (n_fds > 0)
    {
      g_autofree int *fdv = g_new (int, n_fds);
      for (guint i = 0; i < n_fds; i++)
        fdv[i] = GPOINTER_TO_INT (g_queue_pop_head (&w->fds));
      fds = g_unix_fd_list_new_from_array (fdv, (gint) n_fds);
    }

  if (!_mp_pool_reader_take (&r, sizeof th, &p))
    protocol_error ("malformed task");
  memcpy (&th, p, sizeof th);
  if (th.bound_type_len > 0 &&
      (!_mp_pool_reader_variant (&r, th.bound_type_len, th.bound_len, &bound) ||
       !g_variant_is_of_type (bound, G_VARIANT_TYPE_TUPLE)))
    protocol_error ("malformed bound arguments");
  if (!_mp_pool_reader_typed (&r, th.chunk_type_len, th.chunk_len, &chunk_type, &elem_fixed,
                              &chunk_data) || chunk_type[0] != 'a')
    protocol_error ("malformed task items");
  if (th.n_items == 1 && elem_fixed > 0 && th.chunk_len == elem_fixed &&
      !(th.flags & MP_POOL_TASK_BATCH))
    {
      /* One fixed-size item: its bytes are its argument tuple; no array to take apart. */
      g_autoptr(GBytes) bytes = g_bytes_new (chunk_data, th.chunk_len);
      single = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (chunk_type + 1),
                                                             bytes, FALSE));
    }
  else
    {
      g_autoptr(GBytes) bytes = g_bytes_new (chunk_data, th.chunk_len);
      chunk = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (chunk_type), bytes,
                                                            FALSE));
    }

  entry = g_hash_table_lookup (w->funcs, GSIZE_TO_POINTER ((gsize) th.func_id));
  if (entry == NULL)
    protocol_error ("a task for an unknown function");

  start = _mp_monotonic_ns ();
  task_event (w, start, MP_EVENT_TASK_STARTED, id, w->pid);
  __atomic_store_n (&w->slot->start_ns, start, __ATOMIC_RELAXED);
  __atomic_store_n (&w->slot->state, MP_POOL_SLOT_RUNNING, __ATOMIC_RELAXED);
  /* Pairs with the parent's load-acquire of task_id: it then sees start_ns. */
  __atomic_store_n (&w->slot->task_id, id, __ATOMIC_RELEASE);
  if (w->stats != NULL && w->index < MP_POOL_STATS_WORKERS)
    __atomic_store_n (&w->stats->worker_task[w->index], (guint32) id, __ATOMIC_RELAXED);

  if (entry->error != NULL)
    error = g_error_copy (entry->error);
  else if (single != NULL)
    (void) _mp_pool_run_one (entry->func, bound, fds, g_steal_pointer (&single), th.flags,
                             th.first_item, &results, &error);
  else if (g_variant_n_children (chunk) != th.n_items)
    g_set_error (&error, MP_ERROR, MP_ERROR_SERIALIZATION, "the task's items are damaged");
  else
    (void) _mp_pool_run_chunk (entry->func, bound, fds, chunk, th.flags, th.first_item,
                               &results, &error);

  end = _mp_monotonic_ns ();
  w->last_task_end_ns = end;
  w->tasks_done++;
  /* tasks_done before task_id: a parent that sees the task no longer running also sees it
   * counted as done (its result may still sit in our buffer if we die now). */
  __atomic_store_n (&w->slot->tasks_done, w->tasks_done, __ATOMIC_RELAXED);
  __atomic_store_n (&w->slot->busy_ns, w->slot->busy_ns + (end - start), __ATOMIC_RELAXED);
  __atomic_store_n (&w->slot->state, MP_POOL_SLOT_IDLE, __ATOMIC_RELAXED);
  __atomic_store_n (&w->slot->task_id, 0, __ATOMIC_RELEASE);
  if (w->stats != NULL && w->index < MP_POOL_STATS_WORKERS)
    __atomic_store_n (&w->stats->worker_task[w->index], 0, __ATOMIC_RELAXED);
  if (error != NULL)
    task_event (w, end, MP_EVENT_TASK_FAILED, id, error->code);
  else
    task_event (w, end, MP_EVENT_TASK_FINISHED, id, (gint64) (end - start));

  _mp_pool_msg_append_result (w->out, MP_POOL_MSG_RESULT, id, &results, end - start, error);
  _mp_pool_results_clear (&results);
}

static void
send_init_failed (Worker *w, const GError *error)
{
  _mp_pool_msg_append_result (w->out, MP_POOL_MSG_INIT_FAILED, 0, NULL, 0, error);
  flush (w);
}

/* Whether a whole message is waiting in the input buffer. */
static gboolean
message_ready (Worker *w)
{
  MpPoolMsgHeader h;

  if (w->in->len - w->in_used < sizeof h)
    return FALSE;
  memcpy (&h, w->in->data + w->in_used, sizeof h);
  return w->in->len - w->in_used - sizeof h >= h.size;
}

GVariant *
_mp_pool_worker_main (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) init = NULL;
  const char *label;
  guint32 index;
  guint64 pool_id;
  gint32 object_index, maxtasks, h_sock, h_shm;
  gboolean parent_thread_lasts;
  MpPoolShmHeader *shm;
  gsize shm_size;
  int shm_fd;
  Worker w = { 0 };

  if (!g_variant_is_of_type (args, G_VARIANT_TYPE ("(utiihhmvsb)")))
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION, "bad pool worker arguments");
      return NULL;
    }
  g_variant_get (args, "(utiihhmv&sb)", &index, &pool_id, &object_index, &maxtasks, &h_sock,
                 &h_shm, &init, &label, &parent_thread_lasts);

  signal (SIGINT, SIG_IGN);
  start_watchdog (parent_thread_lasts);

  w.index = index;
  w.pool_id = pool_id;
  w.maxtasks = maxtasks;
  w.pid = getpid ();
  w.sock = fds ? g_unix_fd_list_get (fds, h_sock, error) : -1;
  shm_fd = fds ? g_unix_fd_list_get (fds, h_shm, error) : -1;
  if (w.sock < 0 || shm_fd < 0)
    return NULL;

  shm_size = (sizeof (MpPoolShmHeader) + sizeof (MpPoolWorkerSlot) * ((gsize) index + 1) + 4095) &
             ~(gsize) 4095;
  shm = mmap (NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
  close (shm_fd);
  if (shm == MAP_FAILED || shm->magic != MP_POOL_SHM_MAGIC || shm->version != MP_POOL_SHM_VERSION ||
      index >= shm->n_slots || shm->slot_size != sizeof (MpPoolWorkerSlot))
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION, "bad pool shared memory");
      return NULL;
    }
  w.slot = (MpPoolWorkerSlot *) (void *) (shm + 1) + index;
  __atomic_store_n (&w.slot->pid, w.pid, __ATOMIC_RELAXED);
  __atomic_store_n (&w.slot->state, MP_POOL_SLOT_IDLE, __ATOMIC_RELEASE);

  if (_mp_arena != NULL && object_index >= 0)
    {
      MpArenaObject *o = _mp_arena_object (_mp_arena, object_index);
      if (o != NULL && o->id == pool_id && o->kind == MP_OBJECT_POOL)
        w.stats = MP_OBJECT_STATS (o, MpPoolStats);
    }
  if (w.stats != NULL && index < MP_POOL_STATS_WORKERS)
    __atomic_store_n (&w.stats->worker_pid[index], w.pid, __ATOMIC_RELAXED);

  w.funcs = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) func_entry_free);
  w.in = g_byte_array_sized_new (MP_POOL_READ_CHUNK);
  w.out = g_byte_array_new ();
  g_queue_init (&w.fds);

  if (init != NULL)
    {
      g_autoptr(GError) init_error = NULL;
      g_autoptr(MpCallable) c = mp_callable_deserialize (init, fds, &init_error);
      g_autoptr(GVariant) ret = NULL;

      if (c != NULL)
        ret = mp_callable_invoke (c, NULL, &init_error);
      if (init_error != NULL)
        {
          send_init_failed (&w, init_error);
          return g_variant_new_int32 (1);
        }
    }

  for (;;)
    {
      if (!read_more (&w, TRUE))
        break;                                    /* EOF: the pool is gone */
      while (message_ready (&w))
        {
          MpPoolMsgHeader h;
          const guint8 *payload;

          memcpy (&h, w.in->data + w.in_used, sizeof h);
          if (h.size % 8 != 0 || h.size > MP_POOL_MSG_MAX)
            protocol_error ("malformed message");
          payload = w.in->data + w.in_used + sizeof h;

          switch (h.kind)
            {
            case MP_POOL_MSG_FUNC:
              handle_func (&w, h.id, payload, h.size);
              break;
            case MP_POOL_MSG_TASK:
              handle_task (&w, h.id, h.n_fds, payload, h.size);
              break;
            case MP_POOL_MSG_QUIT:
              flush (&w);
              return g_variant_new_int32 (0);
            default:
              protocol_error ("unknown message");
            }
          w.in_used += sizeof h + h.size;

          if (h.kind == MP_POOL_MSG_TASK)
            {
              if (w.maxtasks > 0 && w.tasks_done >= (guint64) w.maxtasks)
                {
                  flush (&w);
                  return g_variant_new_int32 (0);
                }
              if (!message_ready (&w))
                (void) read_more (&w, FALSE);
              /* last_task_end: the clock was read for the task already */
              if (!message_ready (&w) || w.last_task_end_ns - w.last_flush_ns > FLUSH_AFTER_NS)
                flush (&w);
            }
        }
      flush (&w);
    }
  return g_variant_new_int32 (0);
}
