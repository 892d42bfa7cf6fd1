/* mp-bench.c: the libmp side of bench/run
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints `workload=NAME impl=libmp value=V unit=U` lines, V the median of the repeats. The
 * workloads mirror bench/py_bench.py so bench/run can put them side by side.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include <glib-unix.h>
#include <mp.h>

static GVariant *
empty_target (GVariant *args, GUnixFDList *fds, GError **error)
{
  return NULL;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Milliseconds per start+join of an empty target, over a batch. */
static double
start_join_batch (MpContext *ctx, int batch)
{
  g_autoptr(MpCallable) target = mp_callable_new (empty_target, NULL);
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < batch; i++)
    {
      g_autoptr(MpProcess) p = mp_context_process_new (ctx, target);
      g_autoptr(GError) error = NULL;

      if (!mp_process_start (p, &error) || !mp_process_join (p, MP_TIMEOUT_INFINITE, &error))
        {
          fprintf (stderr, "mp-bench: %s\n", error->message);
          exit (1);
        }
    }
  return (double) (g_get_monotonic_time () - t0) / 1000.0 / batch;
}

static double
start_join_median (const char *method, int repeat)
{
  MpContext *ctx = mp_get_context (method, NULL);
  int batch = g_str_equal (method, "fork") ? 20 : 10;
  double *v = g_new (double, repeat);
  double m;

  start_join_batch (ctx, 2);   /* warm-up: page cache, forkserver start */
  for (int r = 0; r < repeat; r++)
    v[r] = start_join_batch (ctx, batch);
  m = median (v, repeat);
  g_free (v);
  return m;
}

static void
process_start_join (const char *method, int repeat)
{
  printf ("workload=process_start_join_%s impl=libmp value=%.4g unit=ms\n", method,
          start_join_median (method, repeat));
}

/* Nanoseconds per event written (or skipped, at level off). */
static double
emit_ns (MpTraceLevel level)
{
  const int n = 1000000;
  gint64 t0;

  mp_trace_set_level (level);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    mp_trace_mark ((guint64) i, i, 0);
  return (double) (g_get_monotonic_time () - t0) * 1000.0 / n;
}

static void
trace_overhead (int repeat)
{
  double off_ns[32], on_ns[32];
  double off_ms, on_ms;
  int r = MIN (repeat, 32);

  for (int i = 0; i < r; i++)
    {
      off_ns[i] = emit_ns (MP_TRACE_OFF);
      on_ns[i] = emit_ns (MP_TRACE_NORMAL);
    }
  printf ("workload=event_emit_off impl=libmp value=%.3g unit=ns\n", median (off_ns, r));
  printf ("workload=event_emit_normal impl=libmp value=%.3g unit=ns\n", median (on_ns, r));

  /* The same process workload with events off and on (the default level). */
  mp_trace_set_level (MP_TRACE_OFF);
  off_ms = start_join_median ("fork", repeat);
  mp_trace_set_level (MP_TRACE_NORMAL);
  on_ms = start_join_median ("fork", repeat);
  printf ("workload=trace_overhead_process_fork_off impl=libmp value=%.4g unit=ms\n", off_ms);
  printf ("workload=trace_overhead_process_fork_normal impl=libmp value=%.4g unit=ms\n", on_ms);
  printf ("workload=trace_overhead_normal_vs_off impl=libmp value=%.3f unit=ratio\n",
          on_ms / off_ms);
}

/* ---- queues: one producer process -> the parent consuming --------------------------------- */

#define QUEUE_ITEMS 200000

static GVariant *
queue_producer (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) h = g_variant_get_variant (boxed);
  g_autoptr(MpQueue) q = mp_queue_deserialize (h, fds, error);
  g_autoptr(GVariant) item = NULL;
  gint32 n;

  if (q == NULL)
    return NULL;
  g_variant_get_child (args, 1, "i", &n);
  item = g_variant_get_child_value (args, 2);
  if (g_variant_is_of_type (item, G_VARIANT_TYPE_VARIANT))
    {
      GVariant *inner = g_variant_get_variant (item);
      g_variant_unref (item);
      item = inner;
    }
  if (g_variant_is_of_type (item, G_VARIANT_TYPE_BYTESTRING))
    {
      /* Raw bytes: the counterpart of Python's bytes items. */
      g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (item);

      for (gint32 i = 0; i < n; i++)
        if (!mp_queue_put_bytes (q, bytes, MP_TIMEOUT_INFINITE, error))
          return NULL;
      return g_variant_new_int32 (0);
    }
  for (gint32 i = 0; i < n; i++)
    if (!mp_queue_put (q, item, MP_TIMEOUT_INFINITE, error))
      return NULL;
  return g_variant_new_int32 (0);
}

static GVariant *
joinable_worker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) boxed = g_variant_get_child_value (args, 0);
  g_autoptr(GVariant) h = g_variant_get_variant (boxed);
  g_autoptr(MpQueue) q = mp_queue_deserialize (h, fds, error);
  gint32 n;

  if (q == NULL)
    return NULL;
  g_variant_get_child (args, 1, "i", &n);
  for (gint32 i = 0; i < n; i++)
    {
      g_autoptr(GVariant) v = mp_queue_get (q, MP_TIMEOUT_INFINITE, error);
      if (v == NULL || !mp_queue_task_done (q, error))
        return NULL;
    }
  return g_variant_new_int32 (0);
}

static MpProcess *
start_queue_child (MpFunc func, MpQueue *q, gint32 n, GVariant *item)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  GVariant *handle = mp_queue_serialize (q, fds, NULL);
  g_autoptr(MpCallable) c =
    mp_callable_new_with_fds (func, g_variant_new ("(@viv)", g_variant_new_variant (handle), n,
                                                   item), fds);
  MpProcess *p = mp_process_new (c);

  (void) handle;
  if (!mp_process_start (p, NULL))
    exit (1);
  return p;
}

/* item is a value put with mp_queue_put(), or, when raw, bytes put with mp_queue_put_bytes()
 * and taken with mp_queue_get_bytes() (sent to the child as `ay`). */
static void
queue_throughput (const char *name, GVariant *item, gboolean raw, int repeat)
{
  double *v = g_new (double, repeat);

  g_variant_ref_sink (item);
  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
      g_autoptr(MpProcess) p = NULL;
      gint64 t0 = g_get_monotonic_time ();

      p = start_queue_child (queue_producer, q, QUEUE_ITEMS, item);
      for (int i = 0; i < QUEUE_ITEMS; i++)
        {
          g_autoptr(GError) error = NULL;
          gpointer got = raw ? (gpointer) mp_queue_get_bytes (q, 30 * G_USEC_PER_SEC, &error)
                             : (gpointer) mp_queue_get (q, 30 * G_USEC_PER_SEC, &error);
          if (got == NULL)
            {
              fprintf (stderr, "mp-bench: %s\n", error->message);
              exit (1);
            }
          if (raw)
            g_bytes_unref (got);
          else
            g_variant_unref (got);
        }
      v[r] = QUEUE_ITEMS / ((double) (g_get_monotonic_time () - t0) / 1e6);
      mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
    }
  printf ("workload=%s impl=libmp value=%.4g unit=items/s\n", name, median (v, repeat));
  g_variant_unref (item);
  g_free (v);
}

static void
joinable_queue (int repeat)
{
  double *v = g_new (double, repeat);

  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpQueue) q = mp_joinable_queue_new (0, NULL);
      g_autoptr(MpProcess) p = start_queue_child (joinable_worker, q, QUEUE_ITEMS,
                                                  g_variant_new_int32 (0));
      gint64 t0 = g_get_monotonic_time ();

      for (int i = 0; i < QUEUE_ITEMS; i++)
        mp_queue_put (q, g_variant_new_int32 (i), MP_TIMEOUT_INFINITE, NULL);
      if (!mp_queue_join (q, 30 * G_USEC_PER_SEC, NULL))
        {
          fprintf (stderr, "mp-bench: the joinable queue worker did not finish\n");
          exit (1);
        }
      v[r] = QUEUE_ITEMS / ((double) (g_get_monotonic_time () - t0) / 1e6);
      mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
    }
  printf ("workload=joinable_queue impl=libmp value=%.4g unit=items/s\n", median (v, repeat));
  g_free (v);
}

/* ---- pipes: libmp, and a raw socketpair as the floor ---------------------------------------- */

#define PINGPONG_MESSAGE 64
#define PINGPONG_BATCH 20000
#define BULK_MESSAGE (1 << 20)
#define BULK_BATCH 200

static void
die (const char *what, GError *error)
{
  fprintf (stderr, "mp-bench: %s: %s\n", what, error ? error->message : g_strerror (errno));
  exit (1);
}

/* Child: echoes every message until an empty one. */
static GVariant *
pipe_echo_target (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) c = mp_connection_deserialize (handle, fds, error);

  if (c == NULL)
    return g_variant_new_int32 (2);
  for (;;)
    {
      g_autoptr(GBytes) m = mp_connection_recv_bytes (c, -1, error);
      gsize len;
      gconstpointer data;

      if (m == NULL)
        return g_variant_new_int32 (3);
      data = g_bytes_get_data (m, &len);
      if (len == 0)
        return g_variant_new_int32 (0);
      if (!mp_connection_send_bytes (c, data, len, 0, -1, error))
        return g_variant_new_int32 (4);
    }
}

/* Child: takes BULK_BATCH messages, answers "ok", again, until an empty one. */
static GVariant *
pipe_sink_target (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpConnection) c = mp_connection_deserialize (handle, fds, error);

  if (c == NULL)
    return g_variant_new_int32 (2);
  for (;;)
    {
      for (int i = 0; i < BULK_BATCH; i++)
        {
          g_autoptr(GBytes) m = mp_connection_recv_bytes (c, -1, error);
          if (m == NULL)
            return g_variant_new_int32 (3);
          if (g_bytes_get_size (m) == 0)
            return g_variant_new_int32 (0);
        }
      if (!mp_connection_send_bytes (c, "ok", 2, 0, -1, error))
        return g_variant_new_int32 (4);
    }
}

static MpProcess *
start_pipe_child (MpFunc func, MpConnection **parent_end)
{
  g_autoptr(MpConnection) child_end = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *handle;
  MpProcess *p;

  if (!mp_pipe (TRUE, parent_end, &child_end, &error))
    die ("pipe", error);
  handle = mp_connection_serialize (child_end, fds, &error);
  target = mp_callable_new_with_fds (func, g_variant_new_tuple (&handle, 1), fds);
  /* fork, as Python's default on Linux before 3.14 and multiprocess's. */
  p = mp_context_process_new (mp_get_context ("fork", NULL), target);
  if (!mp_process_start (p, &error))
    die ("start", error);
  return p;
}

static void
stop_pipe_child (MpProcess *p, MpConnection *c)
{
  g_autoptr(GError) error = NULL;

  if (!mp_connection_send_bytes (c, "", 0, 0, -1, &error) ||
      !mp_process_join (p, MP_TIMEOUT_INFINITE, &error))
    die ("stop", error);
  g_object_unref (p);
}

static void
read_exact (int fd, void *buf, size_t len)
{
  char *p = buf;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);
      if (n <= 0)
        {
          if (n < 0 && errno == EINTR)
            continue;
          die ("read", NULL);
        }
      p += n;
      len -= (size_t) n;
    }
}

static void
write_exact (int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n <= 0)
        {
          if (n < 0 && errno == EINTR)
            continue;
          die ("write", NULL);
        }
      p += n;
      len -= (size_t) n;
    }
}

/* A forked child on a plain socket pair: same framing, fixed buffers, no library. */
static pid_t
start_raw_child (int *parent_fd, gboolean bulk)
{
  int sv[2];
  pid_t pid;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    die ("socketpair", NULL);
  pid = fork ();
  if (pid < 0)
    die ("fork", NULL);
  if (pid == 0)
    {
      static char buf[4 + BULK_MESSAGE];
      close (sv[0]);
      for (int count = 1;; count++)
        {
          guint32 be;
          size_t len;

          read_exact (sv[1], &be, 4);
          len = GUINT32_FROM_BE (be);
          if (len == 0 || len > BULK_MESSAGE)
            _exit (0);
          read_exact (sv[1], buf + 4, len);
          if (!bulk)
            {
              memcpy (buf, &be, 4);
              write_exact (sv[1], buf, 4 + len);
            }
          else if (count % BULK_BATCH == 0)
            write_exact (sv[1], "\0\0\0\2ok", 6);
        }
    }
  close (sv[1]);
  *parent_fd = sv[0];
  return pid;
}

static void
stop_raw_child (int fd, pid_t pid)
{
  int status;

  write_exact (fd, "\0\0\0\0", 4);
  close (fd);
  waitpid (pid, &status, 0);
}

static double
libmp_pingpong_us (MpConnection *c, int n)
{
  char msg[PINGPONG_MESSAGE];
  gint64 t0;

  memset (msg, 'x', sizeof msg);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) reply = NULL;

      if (!mp_connection_send_bytes (c, msg, sizeof msg, 0, -1, &error) ||
          !(reply = mp_connection_recv_bytes (c, -1, &error)))
        die ("pingpong", error);
    }
  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
raw_pingpong_us (int fd, int n)
{
  char buf[4 + PINGPONG_MESSAGE];
  guint32 be = GUINT32_TO_BE (PINGPONG_MESSAGE);
  gint64 t0;

  memcpy (buf, &be, 4);
  memset (buf + 4, 'x', PINGPONG_MESSAGE);
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < n; i++)
    {
      write_exact (fd, buf, sizeof buf);
      read_exact (fd, buf, sizeof buf);
    }
  return (double) (g_get_monotonic_time () - t0) / n;
}

/* With one_cpu, parent and children share one CPU (children inherit the mask), so a round
 * trip costs the software path and two context switches rather than two cross-CPU wakeups,
 * whose latency (tens of microseconds in a VM) would hide the differences between
 * implementations. */
static void
pipe_pingpong (int repeat, gboolean one_cpu)
{
  g_autoptr(MpConnection) c = NULL;
  const char *name = one_cpu ? "pipe_pingpong_1cpu" : "pipe_pingpong";
  cpu_set_t saved, one;
  MpProcess *p;
  double *v = g_new (double, repeat);
  int fd;
  pid_t pid;

  if (one_cpu)
    {
      if (sched_getaffinity (0, sizeof saved, &saved) < 0)
        die ("sched_getaffinity", NULL);
      CPU_ZERO (&one);
      for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET (cpu, &saved))
          {
            CPU_SET (cpu, &one);
            break;
          }
      if (sched_setaffinity (0, sizeof one, &one) < 0)
        die ("sched_setaffinity", NULL);
    }
  p = start_pipe_child (pipe_echo_target, &c);

  libmp_pingpong_us (c, 1000);
  for (int r = 0; r < repeat; r++)
    v[r] = libmp_pingpong_us (c, PINGPONG_BATCH);
  stop_pipe_child (p, c);
  printf ("workload=%s impl=libmp value=%.4g unit=us\n", name, median (v, repeat));

  pid = start_raw_child (&fd, FALSE);
  raw_pingpong_us (fd, 1000);
  for (int r = 0; r < repeat; r++)
    v[r] = raw_pingpong_us (fd, PINGPONG_BATCH);
  stop_raw_child (fd, pid);
  printf ("workload=%s impl=raw_c value=%.4g unit=us\n", name, median (v, repeat));
  g_free (v);
  if (one_cpu)
    (void) sched_setaffinity (0, sizeof saved, &saved);
}

static double
libmp_bulk_gbps (MpConnection *c, const guint8 *msg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) ack = NULL;
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < BULK_BATCH; i++)
    if (!mp_connection_send_bytes (c, msg, BULK_MESSAGE, 0, -1, &error))
      die ("bulk", error);
  if (!(ack = mp_connection_recv_bytes (c, -1, &error)))
    die ("bulk ack", error);
  return (double) BULK_BATCH * BULK_MESSAGE / ((double) (g_get_monotonic_time () - t0) * 1000.0);
}

static double
raw_bulk_gbps (int fd, guint8 *framed)
{
  char ack[6];
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < BULK_BATCH; i++)
    write_exact (fd, framed, 4 + BULK_MESSAGE);
  read_exact (fd, ack, sizeof ack);
  return (double) BULK_BATCH * BULK_MESSAGE / ((double) (g_get_monotonic_time () - t0) * 1000.0);
}

static void
pipe_bulk_1mib (int repeat)
{
  g_autoptr(MpConnection) c = NULL;
  g_autofree guint8 *framed = g_malloc (4 + BULK_MESSAGE);
  guint32 be = GUINT32_TO_BE (BULK_MESSAGE);
  MpProcess *p;
  double *v = g_new (double, repeat);
  int fd;
  pid_t pid;

  memcpy (framed, &be, 4);
  for (int i = 0; i < BULK_MESSAGE; i++)
    framed[4 + i] = (guint8) i;

  p = start_pipe_child (pipe_sink_target, &c);
  libmp_bulk_gbps (c, framed + 4);
  for (int r = 0; r < repeat; r++)
    v[r] = libmp_bulk_gbps (c, framed + 4);
  stop_pipe_child (p, c);
  printf ("workload=pipe_bulk_1mib impl=libmp value=%.4g unit=GB/s\n", median (v, repeat));

  pid = start_raw_child (&fd, TRUE);
  raw_bulk_gbps (fd, framed);
  for (int r = 0; r < repeat; r++)
    v[r] = raw_bulk_gbps (fd, framed);
  stop_raw_child (fd, pid);
  printf ("workload=pipe_bulk_1mib impl=raw_c value=%.4g unit=GB/s\n", median (v, repeat));
  g_free (v);
}

/* ---- shm_bulk: 64 MiB written by a child, read by the parent -------------------------------- */

#define SHM_BULK_BYTES ((gsize) 64 << 20)

/* The child's side for both implementations: on each byte from @go, copy a private 64 MiB
 * buffer into the shared one, then answer on @done. */
static void
bulk_writer_loop (guint8 *shared, int go, int done)
{
  guint8 *src = g_malloc (SHM_BULK_BYTES);
  char c;

  memset (src, 0x5a, SHM_BULK_BYTES);
  /* A fork child inherits the parent's end of @go too, so EOF never comes: 'q' ends it. */
  while (read (go, &c, 1) == 1 && c == 'g')
    {
      memcpy (shared, src, SHM_BULK_BYTES);
      if (write (done, "d", 1) != 1)
        break;
    }
  g_free (src);
}

static GVariant *
shm_bulk_child (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) handle = g_variant_get_child_value (args, 0);
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_deserialize (handle, fds, error);
  gint32 hgo, hdone;
  int go, done;

  g_variant_get_child (args, 1, "h", &hgo);
  g_variant_get_child (args, 2, "h", &hdone);
  go = g_unix_fd_list_get (fds, hgo, error);
  done = g_unix_fd_list_get (fds, hdone, error);
  if (shm == NULL || go < 0 || done < 0)
    return g_variant_new_int32 (1);
  bulk_writer_loop (mp_shared_memory_get_buf (shm, NULL), go, done);
  return g_variant_new_int32 (0);
}

/* One round: tell the child to write, wait for it, read everything back. GB/s of the 64 MiB
 * moved through the segment. */
static double
bulk_round (const guint8 *shared, guint8 *dst, int go, int done)
{
  gint64 t0 = g_get_monotonic_time ();
  char c;

  if (write (go, "g", 1) != 1 || read (done, &c, 1) != 1)
    {
      fprintf (stderr, "mp-bench: the shm_bulk child died\n");
      exit (1);
    }
  memcpy (dst, shared, SHM_BULK_BYTES);
  if (dst[0] != 0x5a || dst[SHM_BULK_BYTES - 1] != 0x5a)
    {
      fprintf (stderr, "mp-bench: shm_bulk read wrong data\n");
      exit (1);
    }
  return (double) SHM_BULK_BYTES / 1e9 / ((double) (g_get_monotonic_time () - t0) / 1e6);
}

typedef struct
{
  const guint8 *shared;
  int           go;
  int           done;
} BulkPeer;

static void
bulk_stop (BulkPeer *peer)
{
  if (write (peer->go, "q", 1) != 1)
    { /* the child is gone */ }
  close (peer->go);
  close (peer->done);
}

static void
shm_bulk (int repeat)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpSharedMemory) shm = mp_shared_memory_new (NULL, TRUE, SHM_BULK_BYTES, &error);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(MpCallable) target = NULL;
  g_autoptr(MpProcess) p = NULL;
  double *lib = g_new (double, repeat), *raw = g_new (double, repeat);
  double *ratio = g_new (double, repeat);
  guint8 *dst = g_malloc (SHM_BULK_BYTES);
  BulkPeer lp, rp;
  GVariant *args[3];
  int go[2], done[2], fd;
  void *shared;
  pid_t pid;

  memset (dst, 0, SHM_BULK_BYTES);

  /* libmp: a SharedMemory, handed to a child started by libmp. */
  if (shm == NULL || pipe2 (go, O_CLOEXEC) < 0 || pipe2 (done, O_CLOEXEC) < 0)
    {
      fprintf (stderr, "mp-bench: %s\n", error ? error->message : g_strerror (errno));
      exit (1);
    }
  args[0] = mp_shared_memory_serialize (shm, fds, NULL);
  args[1] = g_variant_new_handle (g_unix_fd_list_append (fds, go[0], NULL));
  args[2] = g_variant_new_handle (g_unix_fd_list_append (fds, done[1], NULL));
  close (go[0]);
  close (done[1]);
  target = mp_callable_new_with_fds (shm_bulk_child, g_variant_new_tuple (args, 3), fds);
  g_clear_object (&fds);
  p = mp_context_process_new (mp_get_context ("fork", NULL), target);
  if (!mp_process_start (p, &error))
    {
      fprintf (stderr, "mp-bench: %s\n", error->message);
      exit (1);
    }
  lp = (BulkPeer) { mp_shared_memory_get_buf (shm, NULL), go[1], done[0] };

  /* raw_c: nothing but a memfd, mmap and fork(): the floor libmp is measured against. */
  fd = memfd_create ("raw-c", MFD_CLOEXEC);
  if (fd < 0 || ftruncate (fd, SHM_BULK_BYTES) < 0 || pipe2 (go, O_CLOEXEC) < 0 ||
      pipe2 (done, O_CLOEXEC) < 0 ||
      (shared = mmap (NULL, SHM_BULK_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
    {
      perror ("mp-bench: raw_c");
      exit (1);
    }
  fflush (stdout);
  pid = fork ();
  if (pid == 0)
    {
      bulk_writer_loop (shared, go[0], done[1]);
      _exit (0);
    }
  close (go[0]);
  close (done[1]);
  rp = (BulkPeer) { shared, go[1], done[0] };

  /* Warm-up (page faults on both sides), then rounds interleaved so both see the same load. */
  bulk_round (lp.shared, dst, lp.go, lp.done);
  bulk_round (rp.shared, dst, rp.go, rp.done);
  for (int r = 0; r < repeat; r++)
    {
      /* Alternate which goes first, so neither always follows the other. */
      if (r % 2 == 0)
        lib[r] = bulk_round (lp.shared, dst, lp.go, lp.done);
      raw[r] = bulk_round (rp.shared, dst, rp.go, rp.done);
      if (r % 2 == 1)
        lib[r] = bulk_round (lp.shared, dst, lp.go, lp.done);
      ratio[r] = lib[r] / raw[r];
    }

  bulk_stop (&rp);
  waitpid (pid, NULL, 0);
  munmap (shared, SHM_BULK_BYTES);
  close (fd);
  bulk_stop (&lp);
  (void) mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
  (void) mp_shared_memory_unlink (shm, NULL);

  printf ("workload=shm_bulk impl=libmp value=%.4g unit=GB/s\n", median (lib, repeat));
  printf ("workload=shm_bulk impl=raw_c value=%.4g unit=GB/s\n", median (raw, repeat));
  /* The median of the ratios of adjacent rounds: on a loaded machine, steadier than the
   * ratio of the medians. */
  printf ("workload=shm_bulk_libmp_vs_raw_c impl=libmp value=%.3f unit=ratio\n",
          median (ratio, repeat));
  g_free (ratio);
  g_free (lib);
  g_free (raw);
  g_free (dst);
}

/* ---- synchronization ------------------------------------------------------------------------ */

static guint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * 1000000000u + (guint64) ts.tv_nsec;
}

/* Nanoseconds per uncontended acquire+release. */
static double
lock_uncontended_once (MpLock *lock)
{
  const int n = 5000000;
  guint64 t0 = now_ns ();

  for (int i = 0; i < n; i++)
    {
      mp_lock_acquire (lock, MP_TIMEOUT_INFINITE, NULL);
      mp_lock_release (lock, NULL);
    }
  return (double) (now_ns () - t0) / n;
}

static void
lock_uncontended (int repeat)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  double *v = g_new (double, repeat);

  lock_uncontended_once (lock);   /* warm-up */
  for (int r = 0; r < repeat; r++)
    v[r] = lock_uncontended_once (lock);
  printf ("workload=lock_uncontended impl=libmp value=%.3g unit=ns\n", median (v, repeat));
  g_free (v);
}

/* The shared page of the contended workloads: the counter and each worker's timing. */
typedef struct
{
  gint64  counter;
  guint64 start_ns[2];
  guint64 end_ns[2];
} ContendedPage;

static ContendedPage *
map_page (int fd)
{
  void *p = mmap (NULL, sizeof (ContendedPage), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

  return p == MAP_FAILED ? NULL : p;
}

/* Worker: waits for the start event, then `ops` times acquire, increment, release. */
static GVariant *
contended_worker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) hlock = NULL, hgo = NULL;
  g_autoptr(MpLock) lock = NULL;
  g_autoptr(MpEvent) go = NULL;
  gint32 fd_index, id, ops;
  ContendedPage *page;
  int fd;

  g_variant_get (args, "(@(uut)@(uut)hii)", &hlock, &hgo, &fd_index, &id, &ops);
  fd = g_unix_fd_list_get (fds, fd_index, error);
  if (fd < 0 || (page = map_page (fd)) == NULL)
    return g_variant_new_int32 (2);
  close (fd);
  lock = mp_lock_deserialize (hlock, fds, error);
  go = mp_event_deserialize (hgo, fds, error);
  if (lock == NULL || go == NULL)
    return g_variant_new_int32 (3);
  mp_event_wait (go, MP_TIMEOUT_INFINITE);
  page->start_ns[id] = now_ns ();
  for (int i = 0; i < ops; i++)
    {
      mp_lock_acquire (lock, MP_TIMEOUT_INFINITE, NULL);
      page->counter++;
      mp_lock_release (lock, NULL);
    }
  page->end_ns[id] = now_ns ();
  return g_variant_new_int32 (0);
}

/* Operations per second of two processes hammering one lock. */
static double
lock_contended_once (int ops)
{
  g_autoptr(MpLock) lock = mp_lock_new (NULL);
  g_autoptr(MpEvent) go = mp_event_new (NULL);
  g_autoptr(GError) error = NULL;
  MpProcess *p[2];
  ContendedPage *page;
  guint64 t0, t1;
  int fd = memfd_create ("mp-bench", MFD_CLOEXEC);

  if (fd < 0 || ftruncate (fd, sizeof (ContendedPage)) < 0 || (page = map_page (fd)) == NULL)
    die ("memfd", NULL);
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      g_autoptr(MpCallable) c = NULL;
      GVariant *args;

      args = g_variant_new ("(@(uut)@(uut)hii)", mp_lock_serialize (lock, fds, NULL),
                            mp_event_serialize (go, fds, NULL),
                            g_unix_fd_list_append (fds, fd, NULL), i, ops);
      c = mp_callable_new_with_fds (contended_worker, args, fds);
      p[i] = mp_context_process_new (mp_get_context ("fork", NULL), c);
      if (!mp_process_start (p[i], &error))
        die ("start", error);
    }
  mp_event_set (go);
  for (int i = 0; i < 2; i++)
    {
      int code = -1;

      if (!mp_process_join (p[i], MP_TIMEOUT_INFINITE, &error) ||
          !mp_process_get_exitcode (p[i], &code) || code != 0)
        die ("worker", error);
      g_object_unref (p[i]);
    }
  if (page->counter != 2 * (gint64) ops)
    die ("lost increments", NULL);
  t0 = MIN (page->start_ns[0], page->start_ns[1]);
  t1 = MAX (page->end_ns[0], page->end_ns[1]);
  munmap (page, sizeof (ContendedPage));
  close (fd);
  return 2.0 * ops / ((double) (t1 - t0) / 1e9);
}

static void
lock_contended (int repeat)
{
  const int ops = 500000;
  int r = MAX (3 * repeat, 21);
  double *v = g_new (double, repeat);
  double *off = g_new (double, r), *normal = g_new (double, r);
  MpTraceLevel level = mp_trace_get_level ();

  lock_contended_once (ops / 10);   /* warm-up */
  for (int i = 0; i < repeat; i++)
    v[i] = lock_contended_once (ops);
  printf ("workload=lock_contended impl=libmp value=%.4g unit=ops/s\n", median (v, repeat));

  /* What contention events cost: the same workload with tracing off and at normal, run in
   * alternation so that drift in the machine's load hits both alike. The contention stats
   * are kept at every level. */
  for (int i = 0; i < r; i++)
    {
      mp_trace_set_level (MP_TRACE_OFF);
      off[i] = lock_contended_once (ops);
      mp_trace_set_level (MP_TRACE_NORMAL);
      normal[i] = lock_contended_once (ops);
    }
  mp_trace_set_level (level);
  printf ("workload=trace_overhead_lock_contended_off impl=libmp value=%.4g unit=ops/s\n",
          median (off, r));
  printf ("workload=trace_overhead_lock_contended_normal impl=libmp value=%.4g unit=ops/s\n",
          median (normal, r));
  printf ("workload=trace_overhead_lock_contended_normal_vs_off impl=libmp value=%.3f unit=ratio\n",
          median (off, r) / median (normal, r));
  g_free (v);
  g_free (off);
  g_free (normal);
}

/* Child side of the ping-pong: acquire ping, release pong, `rounds` times. */
static GVariant *
pingpong_worker (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) hping = NULL, hpong = NULL;
  g_autoptr(MpSemaphore) ping = NULL, pong = NULL;
  gint32 rounds;

  g_variant_get (args, "(@(uut)@(uut)i)", &hping, &hpong, &rounds);
  ping = mp_semaphore_deserialize (hping, fds, error);
  pong = mp_semaphore_deserialize (hpong, fds, error);
  if (ping == NULL || pong == NULL)
    return g_variant_new_int32 (3);
  for (int i = 0; i < rounds; i++)
    {
      mp_semaphore_acquire (ping, MP_TIMEOUT_INFINITE, NULL);
      mp_semaphore_release (pong, NULL);
    }
  return g_variant_new_int32 (0);
}

/* Microseconds per round trip between two processes over two semaphores. */
static double
semaphore_pingpong_once (int rounds)
{
  g_autoptr(MpSemaphore) ping = mp_semaphore_new (0, NULL);
  g_autoptr(MpSemaphore) pong = mp_semaphore_new (0, NULL);
  g_autoptr(MpCallable) c = NULL;
  g_autoptr(MpProcess) p = NULL;
  g_autoptr(GError) error = NULL;
  guint64 t0, t1;
  int code = -1;

  c = mp_callable_new (pingpong_worker,
                       g_variant_new ("(@(uut)@(uut)i)", mp_semaphore_serialize (ping, NULL, NULL),
                                      mp_semaphore_serialize (pong, NULL, NULL), rounds + 1));
  p = mp_context_process_new (mp_get_context ("fork", NULL), c);
  if (!mp_process_start (p, &error))
    die ("start", error);
  /* The first round trip waits for the child to start: not timed. */
  mp_semaphore_release (ping, NULL);
  mp_semaphore_acquire (pong, MP_TIMEOUT_INFINITE, NULL);
  t0 = now_ns ();
  for (int i = 0; i < rounds; i++)
    {
      mp_semaphore_release (ping, NULL);
      mp_semaphore_acquire (pong, MP_TIMEOUT_INFINITE, NULL);
    }
  t1 = now_ns ();
  if (!mp_process_join (p, MP_TIMEOUT_INFINITE, &error) || !mp_process_get_exitcode (p, &code) ||
      code != 0)
    die ("worker", error);
  return (double) (t1 - t0) / 1000.0 / rounds;
}

static void
semaphore_pingpong (int repeat)
{
  double *v = g_new (double, repeat);

  semaphore_pingpong_once (1000);   /* warm-up */
  for (int r = 0; r < repeat; r++)
    v[r] = semaphore_pingpong_once (20000);
  printf ("workload=semaphore_pingpong impl=libmp value=%.4g unit=us\n", median (v, repeat));
  g_free (v);
}

/* monitor_ingest: one child writes marks into its ring as fast as it can; one monitor (of the
 * own tree, on this thread) drains the rings in a loop, each on a CPU of its own. monitor_ingest is the events delivered
 * to the models per second of the monitor's own CPU time (its capacity, whatever else runs on
 * the machine); monitor_ingest_wall is per second of wall time while the writer ran. What the
 * writer overwrote before the monitor read it is counted as lost. */
static double
thread_cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* With two CPUs or more, the writer and the monitor get one each, so the number measures the
 * monitor rather than where the scheduler put the two. */
static void
pin_to_cpu (int nth)
{
  cpu_set_t allowed, one;
  int seen = 0;

  if (sched_getaffinity (0, sizeof allowed, &allowed) != 0 || CPU_COUNT (&allowed) < 2)
    return;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET (cpu, &allowed) && seen++ == nth)
      {
        CPU_ZERO (&one);
        CPU_SET (cpu, &one);
        (void) sched_setaffinity (0, sizeof one, &one);
        return;
      }
}

static GVariant *
emit_flood (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint64 n;

  pin_to_cpu (1);
  g_variant_get (args, "(x)", &n);
  for (gint64 i = 0; i < n; i++)
    mp_trace_mark ((guint64) i, i, 0);
  return g_variant_new_int32 (0);
}

static void
monitor_ingest (int repeat)
{
  const gint64 n_events = 20000000;
  double *rates = g_new (double, repeat), *lost = g_new (double, repeat), *emit = g_new (double, repeat);
  double *wall = g_new (double, repeat);

  cpu_set_t saved;

  mp_trace_set_level (MP_TRACE_NORMAL);
  (void) sched_getaffinity (0, sizeof saved, &saved);
  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(MpMonitor) monitor = mp_monitor_new_for_self (NULL);
      g_autoptr(MpCallable) target = mp_callable_new (emit_flood, g_variant_new ("(x)", n_events));
      g_autoptr(MpProcess) child = NULL;
      g_autoptr(GError) error = NULL;
      guint64 got = 0, lost0;
      gint64 t0, t1;
      double c0, c1;
      gboolean done = FALSE;

      if (monitor == NULL)
        {
          fprintf (stderr, "mp-bench: no arena\n");
          exit (1);
        }
      mp_monitor_poll_events (monitor);   /* what earlier rounds left */
      lost0 = mp_monitor_get_n_lost (monitor);
      child = mp_context_process_new (mp_get_context ("fork", NULL), target);
      t0 = g_get_monotonic_time ();
      c0 = thread_cpu_seconds ();
      if (!mp_process_start (child, &error))
        {
          fprintf (stderr, "mp-bench: %s\n", error->message);
          exit (1);
        }
      pin_to_cpu (0);   /* after the start: the child picks its CPU from the whole set */
      for (guint i = 0; !done; i++)
        {
          got += mp_monitor_poll_events (monitor);
          if (i % 256 == 0 && mp_process_join (child, 0, NULL) && !mp_process_is_alive (child))
            {
              got += mp_monitor_poll_events (monitor);
              done = TRUE;
            }
        }
      t1 = g_get_monotonic_time ();
      c1 = thread_cpu_seconds ();
      rates[r] = (double) got / MAX (c1 - c0, 1e-6);
      wall[r] = (double) got / ((double) (t1 - t0) / 1e6);
      lost[r] = (double) (mp_monitor_get_n_lost (monitor) - lost0) / (double) n_events;
      emit[r] = (double) n_events / ((double) (t1 - t0) / 1e6);
      (void) sched_setaffinity (0, sizeof saved, &saved);
    }
  /* The other numbers come from the round whose rate is the median, so they add up. */
  {
    g_autofree double *sorted = g_memdup2 (rates, sizeof (double) * repeat);
    double m = median (sorted, repeat);
    int mid = 0;

    for (int r = 1; r < repeat; r++)
      if (fabs (rates[r] - m) < fabs (rates[mid] - m))
        mid = r;
    printf ("workload=monitor_ingest impl=libmp value=%.4g unit=events/s\n", rates[mid]);
    printf ("workload=monitor_ingest_wall impl=libmp value=%.4g unit=events/s\n", wall[mid]);
    printf ("workload=monitor_ingest_lost impl=libmp value=%.3f unit=fraction\n", lost[mid]);
    printf ("workload=monitor_ingest_emitted impl=libmp value=%.4g unit=events/s\n", emit[mid]);
  }
  g_free (rates);
  g_free (wall);
  g_free (lost);
  g_free (emit);
}

/* monitor_overhead: the queue benchmark (int items) with and without a monitor watching the
 * program (another process attached by pid, default intervals: events every 50 ms, samples
 * every 500 ms), at trace level normal. Rounds alternate so both see the same machine. The
 * pool half (monitor_overhead_pool, with the pool benchmarks below) does the same with a pool
 * map of trivial tasks, chunksize 1. */
static void monitor_overhead_pool (int repeat);

/* The costs measured as a ratio (a watcher's, the task events') come from pairs of rounds, one
 * round with and one without, and the result is the median of the pairs' ratios. Two rounds of
 * one pair differ by up to ±10 % on this kind of machine even when nothing else changes
 * (measured with both rounds alike), so a few pairs cannot resolve a 5 % target: three pairs
 * per repeat. */
#define PAIRS(repeat) (3 * (repeat))

static double
queue_round (GVariant *item)
{
  g_autoptr(MpQueue) q = mp_queue_new (0, NULL);
  g_autoptr(MpProcess) p = start_queue_child (queue_producer, q, QUEUE_ITEMS, item);
  gint64 t0 = g_get_monotonic_time ();

  for (int i = 0; i < QUEUE_ITEMS; i++)
    {
      g_autoptr(GError) error = NULL;
      GVariant *got = mp_queue_get (q, 30 * G_USEC_PER_SEC, &error);
      if (got == NULL)
        {
          fprintf (stderr, "mp-bench: %s\n", error->message);
          exit (1);
        }
      g_variant_unref (got);
    }
  mp_process_join (p, MP_TIMEOUT_INFINITE, NULL);
  return QUEUE_ITEMS / ((double) (g_get_monotonic_time () - t0) / 1e6);
}

/* The watcher: this binary again (`mp-bench --monitor-helper PID`), attached to us like a
 * viewer would be, until SIGTERM. */
static gboolean
quit_on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static int
monitor_helper (GPid pid)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = mp_monitor_new_for_pid (pid, &error);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  if (m == NULL)
    {
      fprintf (stderr, "mp-bench: %s\n", error->message);
      return 1;
    }
  g_unix_signal_add (SIGTERM, quit_on_signal, loop);
  mp_monitor_start (m);
  /* What the rings held from before the attach is read now: the rounds measure a monitor that
   * keeps up, not the catching up of a new one. */
  (void) mp_monitor_poll_events (m);
  printf ("attached\n");
  fflush (stdout);
  g_main_loop_run (loop);
  return 0;
}

static GPid
start_watcher (void)
{
  g_autofree char *pid = g_strdup_printf ("%d", getpid ());
  char *argv[] = { (char *) "/proc/self/exe", (char *) "--monitor-helper", pid, NULL };
  g_autoptr(GError) error = NULL;
  GPid watcher;
  int out;
  char buf[16];

  if (!g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                 &watcher, NULL, &out, NULL, &error))
    {
      fprintf (stderr, "mp-bench: %s\n", error->message);
      exit (1);
    }
  if (read (out, buf, sizeof buf) <= 0)
    {
      fprintf (stderr, "mp-bench: the monitor helper did not attach\n");
      exit (1);
    }
  close (out);
  return watcher;
}

static void
stop_watcher (GPid watcher)
{
  int status;

  kill (watcher, SIGTERM);
  (void) waitpid (watcher, &status, 0);
}

static void
monitor_overhead (int repeat)
{
  GVariant *item = g_variant_ref_sink (g_variant_new_int32 (12345));
  int pairs = PAIRS (repeat);
  double *off = g_new (double, pairs), *on = g_new (double, pairs), *ratio = g_new (double, pairs);

  mp_trace_set_level (MP_TRACE_NORMAL);
  (void) queue_round (item);   /* warm-up */
  for (int r = 0; r < pairs; r++)
    {
      GPid watcher;

      if (r % 2 == 0)
        off[r] = queue_round (item);
      watcher = start_watcher ();
      on[r] = queue_round (item);
      stop_watcher (watcher);
      if (r % 2 == 1)
        off[r] = queue_round (item);
      ratio[r] = off[r] / on[r];
    }
  printf ("workload=monitor_overhead_queue_unwatched impl=libmp value=%.4g unit=items/s\n", median (off, pairs));
  printf ("workload=monitor_overhead_queue_watched impl=libmp value=%.4g unit=items/s\n", median (on, pairs));
  printf ("workload=monitor_overhead impl=libmp value=%.2f unit=%%\n", (median (ratio, pairs) - 1.0) * 100.0);
  g_variant_unref (item);
  g_free (off);
  g_free (on);
  g_free (ratio);
  monitor_overhead_pool (repeat);
}

/* ---- pools ---------------------------------------------------------------------------------- */

#define POOL_WORKERS 2
#define POOL_MAP_ITEMS 1000000
#define POOL_CS1_ITEMS 20000
#define POOL_APPLY_TASKS 20000
#define POOL_CPU_TASKS 400
#define POOL_CPU_TASK_MS 2

/* The trivial task of the pool workloads: x → x * x. */
static GVariant *
pool_square (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) x = g_variant_get_child_value (args, 0);
  gint32 v = g_variant_get_int32 (x);

  /* wraps like a C int32 would, without signed overflow (items go up to 10^6) */
  return g_variant_new_int32 ((gint32) ((guint32) v * (guint32) v));
}

/* The same task over a whole chunk: libmp's batched callables (one call per chunk). */
static GVariant *
pool_square_batch (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GVariant) items = g_variant_get_child_value (args, 0);
  gsize n;
  const gint32 *x = g_variant_get_fixed_array (items, &n, sizeof (gint32));
  gint32 *r = g_new (gint32, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    r[i] = (gint32) ((guint32) x[i] * (guint32) x[i]);
  return g_variant_new_from_data (G_VARIANT_TYPE ("ai"), r, n * sizeof (gint32), TRUE, g_free, r);
}

/* A CPU-bound task: spins for POOL_CPU_TASK_MS, as py_bench.py's spin(). */
static GVariant *
pool_spin (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint64 end = g_get_monotonic_time () + POOL_CPU_TASK_MS * 1000;
  volatile guint64 x = 0;

  while (g_get_monotonic_time () < end)
    x++;
  return g_variant_new_int32 ((gint32) x);
}

static GVariant *
pool_range (gint32 n)
{
  g_autofree gint32 *v = g_new (gint32, n);

  for (gint32 i = 0; i < n; i++)
    v[i] = i;
  return g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, v, n,
                                                        sizeof (gint32)));
}

static MpPool *
pool_new_or_die (void)
{
  g_autoptr(GError) error = NULL;
  MpPool *pool = mp_pool_new (POOL_WORKERS, &error);

  if (pool == NULL)
    die ("pool", error);
  return pool;
}

static void
pool_finish (MpPool *pool)
{
  g_autoptr(GError) error = NULL;

  mp_pool_close (pool);
  if (!mp_pool_join (pool, MP_TIMEOUT_INFINITE, &error))
    die ("join", error);
  g_object_unref (pool);
}

/* Items per second through map (chunksize 0 = Python's default). */
static double
pool_map_rate (MpPool *pool, MpCallable *f, GVariant *items, gint chunksize)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) res = NULL;
  gint64 t0 = g_get_monotonic_time ();

  res = mp_pool_map (pool, f, g_variant_ref (items), chunksize, &error);
  if (res == NULL)
    die ("map", error);
  return g_variant_n_children (items) / ((double) (g_get_monotonic_time () - t0) / 1e6);
}

/* The pool half of monitor_overhead: a map of trivial tasks with chunksize 1 (two task events
 * each at trace level normal), unwatched and watched in turns. A round lasts more than half a
 * second, so that the watcher's 50 ms event reads and a 500 ms sample happen during each. */
#define MONITOR_POOL_ITEMS 1000000

static void
monitor_overhead_pool (int repeat)
{
  g_autoptr(MpCallable) f = mp_callable_new (pool_square, NULL);
  g_autoptr(GVariant) items = pool_range (MONITOR_POOL_ITEMS);
  g_autoptr(GVariant) warm = pool_range (1000);
  int pairs = PAIRS (repeat);
  double *off = g_new (double, pairs), *on = g_new (double, pairs), *ratio = g_new (double, pairs);
  MpPool *pool;

  mp_trace_set_level (MP_TRACE_NORMAL);
  pool = pool_new_or_die ();
  pool_map_rate (pool, f, warm, 1);
  for (int r = 0; r < pairs; r++)
    {
      GPid watcher;

      if (r % 2 == 0)
        off[r] = pool_map_rate (pool, f, items, 1);
      watcher = start_watcher ();
      on[r] = pool_map_rate (pool, f, items, 1);
      stop_watcher (watcher);
      if (r % 2 == 1)
        off[r] = pool_map_rate (pool, f, items, 1);
      ratio[r] = off[r] / on[r];
    }
  pool_finish (pool);
  printf ("workload=monitor_overhead_pool_unwatched impl=libmp value=%.4g unit=items/s\n", median (off, pairs));
  printf ("workload=monitor_overhead_pool_watched impl=libmp value=%.4g unit=items/s\n", median (on, pairs));
  printf ("workload=monitor_overhead_pool impl=libmp value=%.2f unit=%%\n", (median (ratio, pairs) - 1.0) * 100.0);
  g_free (off);
  g_free (on);
  g_free (ratio);
}

static double
pool_map_median (MpCallable *f, gint32 n, gint chunksize, int repeat)
{
  g_autoptr(GVariant) items = pool_range (n);
  g_autoptr(GVariant) warm = pool_range (MIN (n, 1000));
  MpPool *pool = pool_new_or_die ();
  double *v = g_new (double, repeat);
  double m;

  pool_map_rate (pool, f, warm, chunksize);
  for (int r = 0; r < repeat; r++)
    v[r] = pool_map_rate (pool, f, items, chunksize);
  m = median (v, repeat);
  pool_finish (pool);
  g_free (v);
  return m;
}

static void
pool_map_trivial (int repeat)
{
  g_autoptr(MpCallable) f = mp_callable_new (pool_square, NULL);
  g_autoptr(MpCallable) batched = mp_callable_new_batched (pool_square_batch, NULL);

  /* One GVariant call per item, as Python calls its function per item; then the batched
   * form, one call per chunk, of the same map. */
  printf ("workload=pool_map_trivial impl=libmp value=%.4g unit=items/s\n",
          pool_map_median (f, POOL_MAP_ITEMS, 0, repeat));
  printf ("workload=pool_map_trivial_batched impl=libmp value=%.4g unit=items/s\n",
          pool_map_median (batched, POOL_MAP_ITEMS, 0, repeat));
}

/* CPU time used so far by every thread of process @pid, in ns (from /proc schedstat). */
static guint64
process_cpu_ns (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task", pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *tid;
  guint64 total = 0;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *stat_path = g_strdup_printf ("%s/%s/schedstat", path, tid);
      g_autofree char *contents = NULL;

      if (g_file_get_contents (stat_path, &contents, NULL, NULL))
        total += g_ascii_strtoull (contents, NULL, 10);
    }
  return total;
}

/* CPU time of this process and of the pool's workers. */
static guint64
pool_cpu_ns (MpPool *pool)
{
  g_autoptr(GArray) pids = mp_pool_dup_worker_pids (pool);
  guint64 total = process_cpu_ns (getpid ());

  for (guint i = 0; i < pids->len; i++)
    total += process_cpu_ns (g_array_index (pids, gint32, i));
  return total;
}

/* chunksize=1; also the cost of task events: two pools, one started with tracing off and one
 * at normal (workers keep the level they started with), used in turns so that both see the
 * same machine load. The cost is compared in CPU time per item over the parent and the
 * workers, which the load of a shared machine disturbs much less than elapsed time. */
static void
pool_map_trivial_cs1 (int repeat)
{
  g_autoptr(MpCallable) f = mp_callable_new (pool_square, NULL);
  g_autoptr(GVariant) items = pool_range (POOL_CS1_ITEMS);
  g_autoptr(GVariant) warm = pool_range (1000);
  MpTraceLevel level = mp_trace_get_level ();
  int pairs = PAIRS (repeat);
  double *normal = g_new (double, pairs);
  double *off = g_new (double, pairs);
  double *cpu_normal = g_new (double, pairs);
  double *cpu_off = g_new (double, pairs);
  double *pair_ratio = g_new (double, pairs);
  MpPool *pool_normal, *pool_off;
  double m_normal, m_off;

  mp_trace_set_level (MP_TRACE_NORMAL);
  pool_normal = pool_new_or_die ();
  mp_trace_set_level (MP_TRACE_OFF);
  pool_off = pool_new_or_die ();
  pool_map_rate (pool_normal, f, warm, 1);
  pool_map_rate (pool_off, f, warm, 1);
  /* The two runs of a pair take turns going first, so that neither gains from its place. */
  for (int r = 0; r < pairs; r++)
    for (int k = 0; k < 2; k++)
      {
        gboolean traced = (k + r) % 2 == 0;
        MpPool *pool = traced ? pool_normal : pool_off;
        guint64 c0, c1;

        mp_trace_set_level (traced ? MP_TRACE_NORMAL : MP_TRACE_OFF);
        c0 = pool_cpu_ns (pool);
        (traced ? normal : off)[r] = pool_map_rate (pool, f, items, 1);
        c1 = pool_cpu_ns (pool);
        (traced ? cpu_normal : cpu_off)[r] = (double) (c1 - c0) / POOL_CS1_ITEMS;
      }
  mp_trace_set_level (level);
  m_normal = median (normal, pairs);
  m_off = median (off, pairs);
  printf ("workload=pool_map_trivial_cs1 impl=libmp value=%.4g unit=items/s\n", m_normal);
  printf ("workload=pool_map_trivial_cs1_trace_off impl=libmp value=%.4g unit=items/s\n", m_off);
  printf ("workload=pool_map_trivial_cs1_cpu_normal impl=libmp value=%.4g unit=ns/item\n",
          median (cpu_normal, pairs));
  printf ("workload=pool_map_trivial_cs1_cpu_off impl=libmp value=%.4g unit=ns/item\n",
          median (cpu_off, pairs));
  /* Each repeat runs both back to back: the median of those pairs' ratios. */
  for (int r = 0; r < pairs; r++)
    pair_ratio[r] = cpu_normal[r] / cpu_off[r];
  printf ("workload=pool_trace_cost_normal_vs_off impl=libmp value=%.3f unit=ratio\n",
          median (pair_ratio, pairs));
  pool_finish (pool_normal);
  pool_finish (pool_off);
  g_free (normal);
  g_free (off);
  g_free (cpu_normal);
  g_free (cpu_off);
  g_free (pair_ratio);
}

static void
pool_apply_async (int repeat)
{
  g_autoptr(MpCallable) f = mp_callable_new (pool_square, NULL);
  MpPool *pool = pool_new_or_die ();
  MpAsyncResult **res = g_new (MpAsyncResult *, POOL_APPLY_TASKS);
  double *v = g_new (double, repeat);

  for (int r = -1; r < repeat; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      int n = r < 0 ? 1000 : POOL_APPLY_TASKS;

      for (int i = 0; i < n; i++)
        {
          g_autoptr(GError) error = NULL;
          GVariant *x = g_variant_new_int32 (i);

          res[i] = mp_pool_apply_async_result (pool, f, g_variant_new_tuple (&x, 1), NULL, NULL,
                                               NULL, NULL, &error);
          if (res[i] == NULL)
            die ("apply_async", error);
        }
      for (int i = 0; i < n; i++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GVariant) value = mp_async_result_get (res[i], MP_TIMEOUT_INFINITE, &error);
          if (value == NULL)
            die ("get", error);
          mp_async_result_unref (res[i]);
        }
      if (r >= 0)
        v[r] = n / ((double) (g_get_monotonic_time () - t0) / 1e6);
    }
  printf ("workload=pool_apply_async impl=libmp value=%.4g unit=tasks/s\n", median (v, repeat));
  pool_finish (pool);
  g_free (res);
  g_free (v);
}

/* Speedup of a map of POOL_CPU_TASKS spinning tasks on POOL_WORKERS workers over running them
 * one after the other in this process. */
static void
pool_map_cpu (int repeat)
{
  g_autoptr(MpCallable) f = mp_callable_new (pool_spin, NULL);
  g_autoptr(GVariant) items = pool_range (POOL_CPU_TASKS);
  MpPool *pool = pool_new_or_die ();
  double *v = g_new (double, repeat);
  gint64 t0;
  double serial;

  t0 = g_get_monotonic_time ();
  for (int i = 0; i < POOL_CPU_TASKS; i++)
    g_variant_unref (g_variant_ref_sink (pool_spin (NULL, NULL, NULL)));
  serial = (double) (g_get_monotonic_time () - t0);

  for (int r = 0; r < repeat; r++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) res = NULL;

      t0 = g_get_monotonic_time ();
      res = mp_pool_map (pool, f, g_variant_ref (items), 0, &error);
      if (res == NULL)
        die ("map", error);
      v[r] = serial / (double) (g_get_monotonic_time () - t0);
    }
  printf ("workload=pool_map_cpu impl=libmp value=%.3f unit=speedup\n", median (v, repeat));
  pool_finish (pool);
  g_free (v);
}

/* Milliseconds for Pool(2), close(), join(). */
static void
pool_create_join (int repeat)
{
  const int batch = 10;
  double *v = g_new (double, repeat);

  pool_finish (pool_new_or_die ());
  for (int r = 0; r < repeat; r++)
    {
      gint64 t0 = g_get_monotonic_time ();
      for (int i = 0; i < batch; i++)
        pool_finish (pool_new_or_die ());
      v[r] = (double) (g_get_monotonic_time () - t0) / 1000.0 / batch;
    }
  printf ("workload=pool_create_join impl=libmp value=%.4g unit=ms\n", median (v, repeat));
  g_free (v);
}

int
main (int argc, char **argv)
{
  int repeat = 7;
  const char *workload = NULL;

  mp_init (&argc, &argv);
  if (argc == 3 && g_str_equal (argv[1], "--monitor-helper"))
    return monitor_helper (atoi (argv[2]));

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--repeat") && i + 1 < argc)
        repeat = atoi (argv[++i]);
      else
        workload = argv[i];
    }
  if (workload == NULL || repeat < 1)
    {
      fprintf (stderr, "usage: mp-bench WORKLOAD [--repeat N]\n");
      return 2;
    }

  if (g_str_has_prefix (workload, "process_start_join_"))
    process_start_join (workload + strlen ("process_start_join_"), repeat);
  else if (g_str_equal (workload, "trace_overhead"))
    trace_overhead (repeat);
  else if (g_str_equal (workload, "shm_bulk"))
    shm_bulk (repeat);
  else if (g_str_equal (workload, "queue_throughput_int"))
    queue_throughput (workload, g_variant_new_int32 (12345), FALSE, repeat);
  else if (g_str_equal (workload, "queue_throughput_1k"))
    {
      /* Python puts b"x" * 1024: raw bytes. */
      static guint8 kib[1024];
      memset (kib, 'x', sizeof kib);
      queue_throughput (workload, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, kib, 1024, 1),
                        TRUE, repeat);
    }
  else if (g_str_equal (workload, "joinable_queue"))
    joinable_queue (repeat);
  else if (g_str_equal (workload, "pipe_pingpong"))
    pipe_pingpong (repeat, FALSE);
  else if (g_str_equal (workload, "pipe_pingpong_1cpu"))
    pipe_pingpong (repeat, TRUE);
  else if (g_str_equal (workload, "pipe_bulk_1mib"))
    pipe_bulk_1mib (repeat);
  else if (g_str_equal (workload, "lock_uncontended"))
    lock_uncontended (repeat);
  else if (g_str_equal (workload, "lock_contended"))
    lock_contended (repeat);
  else if (g_str_equal (workload, "semaphore_pingpong"))
    semaphore_pingpong (repeat);
  else if (g_str_equal (workload, "monitor_ingest"))
    monitor_ingest (repeat);
  else if (g_str_equal (workload, "monitor_overhead"))
    monitor_overhead (repeat);
  else if (g_str_equal (workload, "pool_map_trivial"))
    pool_map_trivial (repeat);
  else if (g_str_equal (workload, "pool_map_trivial_cs1"))
    pool_map_trivial_cs1 (repeat);
  else if (g_str_equal (workload, "pool_apply_async"))
    pool_apply_async (repeat);
  else if (g_str_equal (workload, "pool_map_cpu"))
    pool_map_cpu (repeat);
  else if (g_str_equal (workload, "pool_create_join"))
    pool_create_join (repeat);
  else
    {
      fprintf (stderr, "mp-bench: unknown workload %s\n", workload);
      return 2;
    }
  fflush (stdout);
  return 0;
}
