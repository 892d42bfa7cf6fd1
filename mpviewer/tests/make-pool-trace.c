/* make-pool-trace.c: writes a recording of a pool at work, for the viewer tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The examples have no pool yet, so the task stream is tested on this synthetic recording: a
 * main process and four pool workers run ~8 s of tasks of 20–120 ms (a fixed pseudo-random
 * sequence), about 3 % of which fail; at 5 s worker 4253 is killed (SIGKILL) and replaced by
 * 4254. It is written with libmp's own recording writer, so it has the format of this libmp.
 *
 * usage: make-pool-trace OUTPUT
 */

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mp-trace-file-private.h"

#define T0          G_GUINT64_CONSTANT (1000000000000)
#define MS          G_GUINT64_CONSTANT (1000000)
#define DURATION_MS 8000
#define MAIN_PID    4242
#define POOL_ID     10
#define N_WORKERS   4

typedef struct
{
  gint32  pid;
  guint64 busy_until;
  guint64 task;
  guint64 task_start;
  gboolean alive;
} Worker;

static int
compare_events (gconstpointer a, gconstpointer b)
{
  const MpTraceEvent *x = a, *y = b;
  return x->timestamp_ns < y->timestamp_ns ? -1 : x->timestamp_ns > y->timestamp_ns;
}

static void
add_event (GArray *events, guint64 t, gint32 pid, guint32 type, guint64 object, gint64 a, gint64 b)
{
  MpTraceEvent ev = { t, pid, type, object, a, b };
  g_array_append_val (events, ev);
}

static void
add_process (MpMonitorSnapshot *snap, guint32 slot, gint32 pid, gint32 ppid, guint32 role,
             const char *name, guint32 state, gint32 exit_code, guint64 start, guint64 exit)
{
  MpSnapProcess p = { .slot = slot, .generation = 1, .state = state, .role = role,
                      .start_method = role == MP_ROLE_MAIN ? 0 : MP_START_FORK, .pid = pid,
                      .ppid = ppid, .exit_code = exit_code, .create_ns = start, .start_ns = start,
                      .exit_ns = exit, .has_os = TRUE, .alive = state != MP_PROC_EXITED,
                      .os_state = state != MP_PROC_EXITED ? 'R' : 0,
                      .cpu_percent = state != MP_PROC_EXITED ? 90.0 + slot : 0,
                      .rss_bytes = (guint64) (8 + slot) << 20 };

  g_strlcpy (p.name, name, sizeof p.name);
  g_array_append_val (snap->processes, p);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) events = g_array_new (FALSE, FALSE, sizeof (MpTraceEvent));
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  MpTraceHeader h = { .version = MP_TRACE_FILE_VERSION, .program = (char *) "pool-demo",
                      .source = (char *) "self", .root_pid = MAIN_PID,
                      .trace_level = MP_TRACE_NORMAL, .start_realtime_ns = G_GUINT64_CONSTANT (1764000000000000000),
                      .start_monotonic_ns = T0 };
  Worker workers[N_WORKERS + 1] = {
    { 4250, 0, 0, 0, TRUE }, { 4251, 0, 0, 0, TRUE }, { 4252, 0, 0, 0, TRUE },
    { 4253, 0, 0, 0, TRUE }, { 4254, 0, 0, 0, FALSE },
  };
  guint64 next_task = 1, submitted = 0, completed = 0, failed = 0, total_ns = 0;
  guint64 kill_at = T0 + 5000 * MS;
  MpTraceFileWriter *w;
  guint ev_i = 0;

  if (argc != 2)
    {
      fprintf (stderr, "usage: make-pool-trace OUTPUT\n");
      return 2;
    }

  /* Lifecycle: the workers start at 20 ms. */
  for (int i = 0; i < N_WORKERS; i++)
    {
      add_event (events, T0 + 20 * MS, MAIN_PID, MP_EVENT_PROCESS_CREATED, 1 + i, workers[i].pid, MP_START_FORK);
      add_event (events, T0 + 21 * MS, workers[i].pid, MP_EVENT_PROCESS_STARTED, 1 + i, MAIN_PID, 0);
    }
  /* The main process submits 2000 tasks at once: one event for them all, as a map's batch. */
  add_event (events, T0 + 25 * MS, MAIN_PID, MP_EVENT_TASK_SUBMITTED, POOL_ID, 1, 2000);
  submitted = 2000;

  /* Workers take tasks back to back, with a little dispatch gap. */
  for (guint64 t = T0 + 30 * MS; t < T0 + DURATION_MS * MS; t += MS)
    {
      if (t == kill_at)
        {
          /* 4253 dies in the middle of a task; the pool replaces it. */
          workers[3].alive = FALSE;
          add_event (events, t, MAIN_PID, MP_EVENT_PROCESS_EXITED, 4, workers[3].pid, -SIGKILL);
          add_event (events, t + MS, MAIN_PID, MP_EVENT_WORKER_REPLACED, POOL_ID, workers[3].pid, workers[4].pid);
          add_event (events, t + MS, MAIN_PID, MP_EVENT_PROCESS_CREATED, 5, workers[4].pid, MP_START_FORK);
          add_event (events, t + 2 * MS, workers[4].pid, MP_EVENT_PROCESS_STARTED, 5, MAIN_PID, 0);
          workers[4].alive = TRUE;
          workers[4].busy_until = t + 3 * MS;
        }
      for (int i = 0; i <= N_WORKERS; i++)
        {
          Worker *wk = &workers[i];

          if (!wk->alive || t < wk->busy_until || next_task > submitted)
            continue;
          if (wk->task != 0)
            {
              gboolean fail = g_rand_int_range (rand, 0, 100) < 3;
              guint64 d = t - wk->task_start;

              if (fail)
                {
                  add_event (events, t, wk->pid, MP_EVENT_TASK_FAILED, POOL_ID, (gint64) wk->task, 1);
                  failed++;
                }
              else
                {
                  add_event (events, t, wk->pid, MP_EVENT_TASK_FINISHED, POOL_ID, (gint64) wk->task, (gint64) d);
                  completed++;
                }
              total_ns += d;
              wk->task = 0;
              wk->busy_until = t + 2 * MS;
              continue;
            }
          wk->task = next_task++;
          wk->task_start = t;
          wk->busy_until = t + (guint64) g_rand_int_range (rand, 20, 121) * MS;
          add_event (events, t, wk->pid, MP_EVENT_TASK_STARTED, POOL_ID, (gint64) wk->task, wk->pid);
        }
    }
  g_array_sort (events, compare_events);

  w = _mp_trace_file_writer_new (argv[1], &h, &error);
  if (w == NULL)
    {
      fprintf (stderr, "make-pool-trace: %s\n", error->message);
      return 1;
    }

  /* Samples every 500 ms, with the counters as of then; events in between. The counters are
   * recomputed from the events, so samples and events agree. */
  submitted = completed = failed = total_ns = 0;
  for (guint64 st = T0 + 500 * MS; st <= T0 + DURATION_MS * MS; st += 500 * MS)
    {
      g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (st, TRUE);
      MpSnapObject pool = { .id = POOL_ID, .kind = MP_OBJECT_POOL, .state = 1,
                            .creator_pid = MAIN_PID, .create_ns = T0 + 10 * MS };
      MpPoolStats *ps = (MpPoolStats *) (void *) pool.stats;
      guint running = 0, n_batch = 0;
      guint first = ev_i;

      while (ev_i < events->len && g_array_index (events, MpTraceEvent, ev_i).timestamp_ns <= st)
        {
          const MpTraceEvent *ev = &g_array_index (events, MpTraceEvent, ev_i);

          if (ev->type == MP_EVENT_TASK_SUBMITTED)
            submitted += (guint64) MAX (ev->b, 1);
          completed += ev->type == MP_EVENT_TASK_FINISHED;
          failed += ev->type == MP_EVENT_TASK_FAILED;
          if (ev->type == MP_EVENT_TASK_FINISHED)
            total_ns += (guint64) ev->b;
          ev_i++;
          n_batch++;
        }
      if (n_batch > 0 &&
          !_mp_trace_file_writer_events (w, &g_array_index (events, MpTraceEvent, first), n_batch, &error))
        break;

      add_process (snap, 0, MAIN_PID, 1, MP_ROLE_MAIN, "MainProcess", MP_PROC_RUNNING, 0, T0, 0);
      for (int i = 0; i <= N_WORKERS; i++)
        {
          g_autofree char *name = g_strdup_printf ("PoolWorker-%d", i + 1);
          gboolean started = i < N_WORKERS || st > kill_at;
          gboolean dead = i == 3 && st > kill_at;

          if (!started)
            continue;
          add_process (snap, 1 + i, workers[i].pid, MAIN_PID, MP_ROLE_WORKER, name,
                       dead ? MP_PROC_EXITED : MP_PROC_RUNNING, dead ? -SIGKILL : 0,
                       i < N_WORKERS ? T0 + 20 * MS : kill_at + MS, dead ? kill_at : 0);
        }
      g_strlcpy (pool.label, "Pool-1", sizeof pool.label);
      running = (guint) MIN (submitted - completed - failed, N_WORKERS);
      ps->workers = N_WORKERS;
      ps->workers_alive = N_WORKERS;
      ps->submitted = submitted;
      ps->running = running;
      ps->queued = submitted - completed - failed - running;
      ps->completed = completed;
      ps->failed = failed;
      ps->replaced_workers = st > kill_at;
      ps->total_task_ns = total_ns;
      for (int i = 0, k = 0; i <= N_WORKERS && k < N_WORKERS; i++)
        if (i != (st > kill_at ? 3 : 4))
          ps->worker_pid[k++] = workers[i].pid;
      g_array_append_val (snap->objects, pool);
      if (!_mp_trace_file_writer_snapshot (w, snap, &error))
        break;
    }
  if (error != NULL)
    (void) _mp_trace_file_writer_close (w, T0 + DURATION_MS * MS, NULL);
  if (error != NULL || !_mp_trace_file_writer_close (w, T0 + DURATION_MS * MS, &error))
    {
      fprintf (stderr, "make-pool-trace: %s\n", error->message);
      return 1;
    }
  return 0;
}
