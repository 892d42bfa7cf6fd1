/* mp-bench.c: the libmp side of bench/run
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Prints `workload=NAME impl=libmp value=V unit=U` lines, V the median of the repeats. The
 * workloads mirror bench/py_bench.py so bench/run can put them side by side.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

int
main (int argc, char **argv)
{
  int repeat = 7;
  const char *workload = NULL;

  mp_init (&argc, &argv);

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
  else
    {
      fprintf (stderr, "mp-bench: unknown workload %s\n", workload);
      return 2;
    }
  fflush (stdout);
  return 0;
}
