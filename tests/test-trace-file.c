/* test-trace-file.c: recordings — round trips, replays of hand-made traces (events only,
 * deadlock cycles, stuck workers), and every kind of broken file
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <mp.h>

#include "mp-monitor-private.h"
#include "mp-trace-file-private.h"

#define HEADER "{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":1,\"program\":\"handmade\"," \
               "\"root_pid\":100,\"start_realtime_ns\":1700000000000000000,\"start_monotonic_ns\":1000000000," \
               "\"trace_level\":2,\"source\":\"pid\"}\n"

static char *
temp_path (const char *name)
{
  return g_build_filename (g_getenv ("G_TEST_BUILDDIR"), name, NULL);
}

static char *
write_temp (const char *name, const char *data, gssize len)
{
  char *path = temp_path (name);

  assert_true (g_file_set_contents (path, data, len, NULL));
  return path;
}

static MpMonitor *
replay_string (const char *text, GError **error)
{
  g_autofree char *path = write_temp ("test-trace-file-replay.jsonl", text, -1);
  MpMonitor *m = mp_monitor_new_for_trace_file (path, error);

  if (m != NULL && !mp_monitor_replay_to_end (m, error))
    g_clear_object (&m);
  (void) g_unlink (path);
  return m;
}

/* ---- round trip -------------------------------------------------------------------------- */

static void
test_snapshot_round_trip (void **state)
{
  g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (123456789, TRUE);
  g_autofree char *path = temp_path ("test-trace-file-roundtrip.jsonl");
  g_autoptr(GError) error = NULL;
  g_autoptr(MpTraceFileReader) reader = NULL;
  MpTraceHeader h = { .program = (char *) "rt \"quoted\" \\ name", .source = (char *) "self",
                      .root_pid = 77, .trace_level = 3, .start_realtime_ns = 5,
                      .start_monotonic_ns = 6 };
  MpSnapProcess p = { .slot = 3, .generation = 9, .state = MP_PROC_EXITED, .role = MP_ROLE_WORKER,
                      .start_method = MP_START_FORKSERVER, .flags = 1, .pid = 4242, .ppid = 4241,
                      .exit_code = -9, .create_ns = 11, .start_ns = 12, .exit_ns = 13,
                      .blocked_on = G_MAXUINT64, .has_os = TRUE, .alive = TRUE, .os_state = 'S',
                      .cpu_percent = 12.345678901234567, .rss_bytes = 1 << 20 };
  MpTraceEvent events[3] = {
    { 1000, 4242, MP_EVENT_TASK_STARTED, 5, 17, 4242 },
    { 2000, 4242, MP_EVENT_MARK, G_MAXUINT64 - 1, G_MININT64, G_MAXINT64 },
    { 3000, 1, 999, 0, -1, 1 },
  };
  MpTraceFileWriter *w;
  MpTraceRecord rec;
  guint kinds[] = { MP_OBJECT_LOCK, MP_OBJECT_JOINABLE_QUEUE, MP_OBJECT_POOL,
                    MP_OBJECT_SHARED_MEMORY, MP_OBJECT_CONNECTION, MP_OBJECT_MANAGER };

  g_strlcpy (p.name, "Worker \"1\" é", sizeof p.name);
  g_array_append_val (snap->processes, p);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      MpSnapObject o = { .id = 100 + k, .kind = kinds[k], .state = k % 2 ? 2 : 1,
                         .creator_pid = 4242, .flags = 3, .create_ns = 99 };
      g_snprintf (o.label, sizeof o.label, "Object-%u", k);
      if (kinds[k] == MP_OBJECT_LOCK)
        {
          MpSyncStats *st = (MpSyncStats *) (void *) o.stats;
          st->holder_pid = 4242;
          st->nwaiters = 2;
          st->acquisitions = 10;
          st->contended = 4;
          st->total_wait_ns = G_MAXUINT64;
          st->last_waiter_pid = -1;
        }
      else if (kinds[k] == MP_OBJECT_JOINABLE_QUEUE)
        {
          MpQueueStats *st = (MpQueueStats *) (void *) o.stats;
          st->depth = 5;
          st->blocked_gets = 8;
          st->unfinished_tasks = 3;
        }
      else if (kinds[k] == MP_OBJECT_POOL)
        {
          MpPoolStats *st = (MpPoolStats *) (void *) o.stats;
          st->workers = 4;
          st->worker_pid[7] = 31;
          st->worker_task[0] = G_MAXUINT32;
        }
      else if (kinds[k] == MP_OBJECT_SHARED_MEMORY)
        {
          MpShmStats *st = (MpShmStats *) (void *) o.stats;
          st->size = 4096;
          g_strlcpy (st->name, "psm_1234abcd", sizeof st->name);
          st->attached_pid[0] = 4242;
          st->n_attached = 1;
          st->flags = MP_SHM_FLAG_UNLINKED;
          o.has_shm_info = TRUE;
          o.shm_exists = TRUE;
          o.n_mappers = 20;
          for (int i = 0; i < MP_SNAP_MAPPERS; i++)
            o.mappers[i] = 1000 + i;
        }
      else if (kinds[k] == MP_OBJECT_CONNECTION)
        {
          MpConnectionStats *st = (MpConnectionStats *) (void *) o.stats;
          st->bytes_sent = 77;
          st->peer_pid = 5;
        }
      g_array_append_val (snap->objects, o);
    }

  w = _mp_trace_file_writer_new (path, &h, &error);
  assert_non_null (w);
  assert_true (_mp_trace_file_writer_events (w, events, 3, &error));
  assert_true (_mp_trace_file_writer_lost (w, 3500, 12, &error));
  assert_true (_mp_trace_file_writer_snapshot (w, snap, &error));
  assert_true (_mp_trace_file_writer_close (w, 4000, &error));

  reader = _mp_trace_file_reader_new_for_path (path, &error);
  assert_non_null (reader);
  assert_string_equal (_mp_trace_file_reader_get_header (reader)->program, h.program);
  assert_string_equal (_mp_trace_file_reader_get_header (reader)->source, "self");
  assert_int_equal (_mp_trace_file_reader_get_header (reader)->root_pid, 77);
  assert_int_equal (_mp_trace_file_reader_get_header (reader)->trace_level, 3);
  assert_int_equal (_mp_trace_file_reader_get_header (reader)->start_monotonic_ns, 6);
  for (int i = 0; i < 3; i++)
    {
      assert_true (_mp_trace_file_reader_next (reader, &rec, &error));
      assert_int_equal (rec.type, MP_TRACE_RECORD_EVENT);
      assert_memory_equal (&rec.event, &events[i], sizeof (MpTraceEvent));
    }
  assert_true (_mp_trace_file_reader_next (reader, &rec, &error));
  assert_int_equal (rec.type, MP_TRACE_RECORD_LOST);
  assert_int_equal (rec.count, 12);
  assert_true (_mp_trace_file_reader_next (reader, &rec, &error));
  assert_int_equal (rec.type, MP_TRACE_RECORD_SNAPSHOT);
  assert_int_equal (rec.snapshot->t_ns, 123456789);
  assert_true (rec.snapshot->full);
  assert_int_equal (rec.snapshot->processes->len, 1);
  assert_memory_equal (&g_array_index (rec.snapshot->processes, MpSnapProcess, 0), &p, sizeof p);
  assert_int_equal (rec.snapshot->objects->len, snap->objects->len);
  for (guint k = 0; k < snap->objects->len; k++)
    assert_memory_equal (&g_array_index (rec.snapshot->objects, MpSnapObject, k),
                         &g_array_index (snap->objects, MpSnapObject, k), sizeof (MpSnapObject));
  _mp_trace_record_clear (&rec);
  assert_true (_mp_trace_file_reader_next (reader, &rec, &error));
  assert_int_equal (rec.type, MP_TRACE_RECORD_END);
  assert_int_equal (rec.count, 3);
  assert_false (_mp_trace_file_reader_next (reader, &rec, &error));
  assert_null (error);
  assert_true (_mp_trace_file_reader_is_complete (reader));
  (void) g_unlink (path);
}

/* ---- replays of hand-made traces --------------------------------------------------------- */

static void
count_changes (GListModel *model, guint position, guint removed, guint added, guint *n)
{
  (*n)++;
}

/* A batch builds its part of the tree in one pass: a parent's new children in one splice, the
 * new roots in another, whatever the order the processes come in; moves and cycles too. */
static void
test_tree_in_one_pass (void **state)
{
  MpMonitorModels *m = _mp_monitor_models_new (NULL, NULL);
  g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (1000, TRUE);
  g_autoptr(MpMonitorSnapshot) snap2 = _mp_monitor_snapshot_new (2000, TRUE);
  GListModel *roots = _mp_monitor_models_get_roots (m);
  MpTraceEvent events[3] = {
    { 500, 900, MP_EVENT_PROCESS_STARTED, 0, 901, 0 },    /* 900 under 901, not seen yet */
    { 510, 901, MP_EVENT_PROCESS_STARTED, 0, 900, 0 },    /* and 901 under 900: a cycle */
    { 520, 902, MP_EVENT_PROCESS_STARTED, 0, 100, 0 },
  };
  MpMonitorProcess *main_p, *p900, *p901;
  guint root_changes = 0, child_changes = 0;

  g_signal_connect (roots, "items-changed", G_CALLBACK (count_changes), &root_changes);
  /* The children before their parent, as slots can be. */
  for (int i = 0; i <= 200; i++)
    {
      MpSnapProcess p = { .slot = (guint32) i, .state = MP_PROC_RUNNING, .role = MP_ROLE_PROCESS,
                          .pid = i < 200 ? 101 + i : 100, .ppid = i < 200 ? 100 : 1 };
      g_array_append_val (snap->processes, p);
    }
  _mp_monitor_models_apply_snapshot (m, snap);
  assert_int_equal (root_changes, 1);
  assert_int_equal (g_list_model_get_n_items (roots), 1);
  main_p = _mp_monitor_models_lookup_process (m, 100);
  assert_non_null (main_p);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (main_p)), 200);
  {
    g_autoptr(MpMonitorProcess) first = g_list_model_get_item (mp_monitor_process_get_children (main_p), 0);
    assert_int_equal (mp_monitor_process_get_pid (first), 101);
  }

  /* Events: a cycle and a child of a known parent, in one batch. */
  g_signal_connect (mp_monitor_process_get_children (main_p), "items-changed",
                    G_CALLBACK (count_changes), &child_changes);
  root_changes = 0;
  _mp_monitor_models_apply_events (m, events, G_N_ELEMENTS (events));
  assert_int_equal (child_changes, 1);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (main_p)), 201);
  p900 = _mp_monitor_models_lookup_process (m, 900);
  p901 = _mp_monitor_models_lookup_process (m, 901);
  assert_non_null (p900);
  assert_non_null (p901);
  /* One of the two is a root, the other under it. */
  assert_int_equal (g_list_model_get_n_items (roots), 2);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (p900)) +
                    g_list_model_get_n_items (mp_monitor_process_get_children (p901)), 1);
  assert_int_equal (root_changes, 1);

  /* Half the children move to another parent: one removal per run, one addition. */
  for (int i = 0; i < 200; i++)
    {
      MpSnapProcess p = { .slot = (guint32) i, .state = MP_PROC_RUNNING, .role = MP_ROLE_PROCESS,
                          .pid = 101 + i, .ppid = i % 2 ? 902 : 100 };
      g_array_append_val (snap2->processes, p);
    }
  child_changes = 0;
  _mp_monitor_models_apply_snapshot (m, snap2);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (main_p)), 101);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (
                      _mp_monitor_models_lookup_process (m, 902))), 100);
  assert_true (child_changes <= 100);
  _mp_monitor_models_flush (m);
  _mp_monitor_models_free (m);
}

static void
test_events_only_replay (void **state)
{
  /* No snapshot at all: two children lived and died between samples; the events alone
   * give their parents, start methods, exit codes. */
  const char *text =
    HEADER
    "{\"r\":\"event\",\"t\":1001000000,\"pid\":100,\"type\":\"process-created\",\"object\":1,\"a\":101,\"b\":2}\n"
    "{\"r\":\"event\",\"t\":1002000000,\"pid\":101,\"type\":\"process-started\",\"object\":1,\"a\":100,\"b\":0}\n"
    "{\"r\":\"event\",\"t\":1003000000,\"pid\":101,\"type\":\"process-created\",\"object\":2,\"a\":102,\"b\":1}\n"
    "{\"r\":\"event\",\"t\":1003500000,\"pid\":102,\"type\":\"process-started\",\"object\":2,\"a\":101,\"b\":0}\n"
    "{\"r\":\"event\",\"t\":1004000000,\"pid\":101,\"type\":\"process-exited\",\"object\":2,\"a\":102,\"b\":-9}\n"
    "{\"r\":\"event\",\"t\":1005000000,\"pid\":101,\"type\":\"process-exiting\",\"object\":1,\"a\":4,\"b\":0}\n"
    "{\"r\":\"event\",\"t\":1006000000,\"pid\":100,\"type\":\"process-exited\",\"object\":1,\"a\":101,\"b\":4}\n"
    "{\"r\":\"end\",\"t\":1006000000,\"events\":7,\"lost\":0}\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = replay_string (text, &error);
  MpMonitorProcess *c, *g;

  assert_non_null (m);
  assert_string_equal (mp_monitor_get_program_name (m), "handmade");
  assert_int_equal (mp_monitor_get_pid (m), 100);
  assert_int_equal (mp_monitor_get_start_time (m), 1700000000000000);
  assert_int_equal (mp_monitor_get_n_events (m), 7);
  assert_true (mp_monitor_get_finished (m));
  c = mp_monitor_lookup_process (m, 101);
  g = mp_monitor_lookup_process (m, 102);
  assert_non_null (c);
  assert_non_null (g);
  assert_int_equal (mp_monitor_process_get_ppid (c), 100);
  assert_string_equal (mp_monitor_process_get_start_method (c), "spawn");
  assert_int_equal (mp_monitor_process_get_state (c), MP_MONITOR_PROCESS_EXITED);
  assert_int_equal (mp_monitor_process_get_exit_code (c), 4);
  assert_int_equal (mp_monitor_process_get_start_time (c), 1002000000);
  assert_int_equal (mp_monitor_process_get_exit_time (c), 1006000000);
  assert_int_equal (mp_monitor_process_get_ppid (g), 101);
  assert_string_equal (mp_monitor_process_get_start_method (g), "fork");
  assert_int_equal (mp_monitor_process_get_state (g), MP_MONITOR_PROCESS_KILLED);
  assert_int_equal (mp_monitor_process_get_exit_code (g), -9);
  /* 101's parent was never seen: it is a root, with 102 below it. */
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_process_roots (m)), 1);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_process_get_children (c)), 1);
}

#define PROC(pid, ppid, blocked) \
  "{\"slot\":" #pid ",\"state\":\"running\",\"role\":\"process\",\"method\":\"fork\",\"pid\":" #pid \
  ",\"ppid\":" #ppid ",\"blocked_on\":" #blocked ",\"name\":\"P" #pid "\",\"os\":{\"alive\":true,\"state\":\"S\",\"cpu\":0,\"rss\":0}}"
#define LOCK(id, label, holder) \
  "{\"id\":" #id ",\"kind\":\"lock\",\"state\":\"live\",\"creator\":100,\"label\":\"" label "\",\"stats\":{\"holder_pid\":" #holder "}}"

static void
test_deadlock_cycles (void **state)
{
  /* 200 ⇄ 201 through Lock-X and Lock-Y; 300 → 301 → 302 → 300 through three locks;
   * 202 waits for 201 (inside a cycle) without being in one; 203 waits for a free lock. */
  const char *text =
    HEADER
    "{\"r\":\"snapshot\",\"t\":2000000000,\"full\":true,\"processes\":["
    PROC (100, 1, 0) "," PROC (200, 100, 7) "," PROC (201, 100, 8) "," PROC (202, 100, 7) ","
    PROC (203, 100, 12) "," PROC (300, 100, 9) "," PROC (301, 100, 10) "," PROC (302, 100, 11)
    "],\"objects\":["
    LOCK (7, "Lock-X", 201) "," LOCK (8, "Lock-Y", 200) "," LOCK (9, "L9", 301) ","
    LOCK (10, "L10", 302) "," LOCK (11, "L11", 300) "," LOCK (12, "Free", 0)
    "]}\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = replay_string (text, &error);
  GListModel *alerts;
  gboolean two = FALSE, three = FALSE;

  assert_non_null (m);
  alerts = mp_monitor_get_alerts (m);
  assert_int_equal (g_list_model_get_n_items (alerts), 2);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(MpMonitorAlert) a = g_list_model_get_item (alerts, i);
      guint n, no;
      const GPid *pids = mp_monitor_alert_get_pids (a, &n);
      const guint64 *objs = mp_monitor_alert_get_objects (a, &no);

      assert_int_equal (mp_monitor_alert_get_kind (a), MP_MONITOR_ALERT_DEADLOCK);
      assert_int_equal (n, no);
      if (n == 2)
        {
          two = TRUE;
          assert_int_equal (pids[0], 200);
          assert_int_equal (pids[1], 201);
          assert_int_equal (objs[0], 7);
          assert_int_equal (objs[1], 8);
          assert_string_equal (mp_monitor_alert_get_message (a),
                               "Deadlock: pid 200 (P200) waits for Lock-X held by pid 201 (P201); "
                               "pid 201 (P201) waits for Lock-Y held by pid 200 (P200)");
        }
      else
        {
          three = TRUE;
          assert_int_equal (n, 3);
          assert_int_equal (pids[0], 300);
          assert_int_equal (pids[1], 301);
          assert_int_equal (pids[2], 302);
          assert_int_equal (objs[2], 11);
        }
    }
  assert_true (two && three);
  {
    guint n;
    MpMonitorLock *x = NULL;
    for (guint i = 0; i < g_list_model_get_n_items (mp_monitor_get_locks (m)); i++)
      {
        g_autoptr(MpMonitorLock) l = g_list_model_get_item (mp_monitor_get_locks (m), i);
        if (mp_monitor_lock_get_id (l) == 7)
          x = l;
      }
    assert_non_null (x);
    mp_monitor_lock_get_waiters (x, &n);
    assert_int_equal (n, 2);   /* 200 and 202 */
  }
}

static void
test_stuck_worker_replay (void **state)
{
  GString *text = g_string_new (HEADER);
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  g_autofree char *body = NULL;
  MpMonitorAlert *alert;

  /* Four 10 ms tasks, then task 5 starts at 1.1 s. Default rule: stuck after max(10 × median,
   * 1 s); a sample at 1.5 s finds nothing, one at 2.2 s finds the worker. */
  for (int i = 1; i <= 4; i++)
    g_string_append_printf (text,
      "{\"r\":\"event\",\"t\":%d,\"pid\":150,\"type\":\"task-started\",\"object\":40,\"a\":%d,\"b\":150}\n"
      "{\"r\":\"event\",\"t\":%d,\"pid\":150,\"type\":\"task-finished\",\"object\":40,\"a\":%d,\"b\":10000000}\n",
      1000000000 + i * 20000000, i, 1010000000 + i * 20000000, i);
  g_string_append (text,
    "{\"r\":\"event\",\"t\":1100000000,\"pid\":150,\"type\":\"task-started\",\"object\":40,\"a\":5,\"b\":150}\n"
    "{\"r\":\"snapshot\",\"t\":1500000000,\"full\":true,\"processes\":[],\"objects\":["
    "{\"id\":40,\"kind\":\"pool\",\"label\":\"Pool-1\",\"stats\":{\"workers\":1,\"completed\":4}}]}\n");
  body = g_string_free (text, FALSE);
  m = replay_string (body, &error);
  assert_non_null (m);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_alerts (m)), 0);
  g_clear_object (&m);

  {
    char *longer = g_strconcat (body,
    "{\"r\":\"snapshot\",\"t\":2200000000,\"full\":true,\"processes\":[],\"objects\":["
    "{\"id\":40,\"kind\":\"pool\",\"label\":\"Pool-1\",\"stats\":{\"workers\":1,\"completed\":4}}]}\n",
    NULL);
    g_free (body);
    body = longer;
  }
  m = replay_string (body, &error);
  assert_non_null (m);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_alerts (m)), 1);
  alert = g_list_model_get_item (mp_monitor_get_alerts (m), 0);
  assert_int_equal (mp_monitor_alert_get_kind (alert), MP_MONITOR_ALERT_STUCK_WORKER);
  assert_string_equal (mp_monitor_alert_get_message (alert),
                       "Stuck worker: pid 150 (pid 150) of Pool-1 has run task 5 for 1.1 s, 110× "
                       "the pool's median task time (0.010 s)");
  assert_int_equal (mp_monitor_alert_get_since (alert), 2200000000);
  g_object_unref (alert);
  {
    g_autoptr(MpMonitorPool) pool = g_list_model_get_item (mp_monitor_get_pools (m), 0);
    guint n;
    assert_int_equal (mp_monitor_pool_get_median_task_ns (pool), 10000000);
    /* 4 done in 0.7 s between the two samples? No: completed did not change. */
    assert_true (mp_monitor_pool_get_throughput (pool) == 0.0);
    mp_monitor_pool_get_throughput_history (pool, &n);
    assert_int_equal (n, 1);
  }
}

static void
test_models_bounded (void **state)
{
  /* 300 short-lived processes at 1 s; a sample at 30 s keeps them, one at 62 s (past the
   * default 60 s) drops them; the destroyed queue goes too. */
  GString *text = g_string_new (HEADER);
  g_autofree char *body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;

  for (int i = 0; i < 300; i++)
    g_string_append_printf (text,
      "{\"r\":\"event\",\"t\":1000000000,\"pid\":100,\"type\":\"process-created\",\"object\":1,\"a\":%d,\"b\":1}\n"
      "{\"r\":\"event\",\"t\":1000000001,\"pid\":100,\"type\":\"process-exited\",\"object\":1,\"a\":%d,\"b\":0}\n",
      1000 + i, 1000 + i);
  g_string_append (text,
    "{\"r\":\"snapshot\",\"t\":30000000000,\"full\":true,\"processes\":[" PROC (100, 1, 0) "],"
    "\"objects\":[{\"id\":5,\"kind\":\"queue\",\"state\":\"destroyed\",\"label\":\"Q\"}]}\n");
  body = g_string_free (text, FALSE);
  m = replay_string (body, &error);
  assert_non_null (m);
  /* At most 256 exited processes stay, the oldest go first. */
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_processes (m)), 1 + 256);
  assert_null (mp_monitor_lookup_process (m, 1000));
  assert_non_null (mp_monitor_lookup_process (m, 1299));
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_queues (m)), 1);
  g_clear_object (&m);

  {
    char *longer = g_strconcat (body,
      "{\"r\":\"snapshot\",\"t\":95000000000,\"full\":true,\"processes\":[" PROC (100, 1, 0) "],\"objects\":[]}\n",
      NULL);
    g_free (body);
    body = longer;
  }
  m = replay_string (body, &error);
  assert_non_null (m);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_processes (m)), 1);
  assert_int_equal (g_list_model_get_n_items (mp_monitor_get_queues (m)), 0);
}

#define POOL_SNAP(t, done, depth, puts) \
  "{\"r\":\"snapshot\",\"t\":" #t ",\"full\":true,\"processes\":[],\"objects\":[" \
  "{\"id\":4,\"kind\":\"pool\",\"label\":\"P\",\"stats\":{\"completed\":" #done "}}," \
  "{\"id\":5,\"kind\":\"queue\",\"label\":\"Q\",\"stats\":{\"depth\":" #depth ",\"puts\":" #puts "}}]}\n"

static void
test_rates (void **state)
{
  const char *text = HEADER
    POOL_SNAP (1000000000, 0, 1, 0)
    POOL_SNAP (2000000000, 10, 5, 100)
    POOL_SNAP (3000000000, 30, 2, 400)
    POOL_SNAP (14000000000, 30, 2, 400);
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  g_autoptr(MpMonitorPool) pool = NULL;
  g_autoptr(MpMonitorQueue) q = NULL;
  const double *h;
  guint n;

  /* Three samples first: rates over the last interval and over the window. */
  {
    g_autofree char *three = g_strndup (text, strstr (text, "\"t\":14000000000") - text);
    char *cut = strrchr (three, '\n');
    cut[1] = 0;
    m = replay_string (three, &error);
  }
  assert_non_null (m);
  pool = g_list_model_get_item (mp_monitor_get_pools (m), 0);
  q = g_list_model_get_item (mp_monitor_get_queues (m), 0);
  assert_true (mp_monitor_pool_get_throughput (pool) == 20.0);
  assert_true (mp_monitor_pool_get_throughput_window (pool) == 15.0);
  h = mp_monitor_pool_get_throughput_history (pool, &n);
  assert_int_equal (n, 2);
  assert_true (h[0] == 10.0 && h[1] == 20.0);
  assert_true (mp_monitor_queue_get_put_rate (q) == 300.0);
  assert_int_equal (mp_monitor_queue_get_max_depth (q), 5);
  h = mp_monitor_queue_get_depth_history (q, &n);
  assert_int_equal (n, 3);
  assert_true (h[0] == 1.0 && h[1] == 5.0 && h[2] == 2.0);
  g_clear_object (&pool);
  g_clear_object (&q);
  g_clear_object (&m);

  /* 11 s later nothing happened: the window only holds the idle part. */
  m = replay_string (text, &error);
  pool = g_list_model_get_item (mp_monitor_get_pools (m), 0);
  assert_true (mp_monitor_pool_get_throughput (pool) == 0.0);
  assert_true (mp_monitor_pool_get_throughput_window (pool) == 0.0);
}

static void
on_finished (MpMonitor *m, gpointer loop)
{
  g_main_loop_quit (loop);
}

static void
test_replay_on_main_loop (void **state)
{
  /* 1 s of data at speed 100: about 10 ms of replay. */
  const char *text =
    HEADER
    "{\"r\":\"event\",\"t\":1000000000,\"pid\":100,\"type\":\"process-created\",\"object\":1,\"a\":101,\"b\":1}\n"
    "{\"r\":\"event\",\"t\":1500000000,\"pid\":101,\"type\":\"process-started\",\"object\":1,\"a\":100,\"b\":0}\n"
    "{\"r\":\"lost\",\"t\":1600000000,\"n\":5}\n"
    "{\"r\":\"event\",\"t\":2000000000,\"pid\":100,\"type\":\"process-exited\",\"object\":1,\"a\":101,\"b\":0}\n";
  g_autofree char *path = write_temp ("test-trace-file-loop.jsonl", text, -1);
  g_autoptr(GError) error = NULL;
  double speeds[] = { 100.0, 0.0 };

  for (guint i = 0; i < G_N_ELEMENTS (speeds); i++)
    {
      g_autoptr(MpMonitor) m = mp_monitor_new_for_trace_file (path, &error);
      g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
      gint64 t0 = g_get_monotonic_time ();

      assert_non_null (m);
      mp_monitor_set_replay_speed (m, speeds[i]);
      mp_monitor_set_event_interval (m, 5);
      g_signal_connect (m, "finished", G_CALLBACK (on_finished), loop);
      mp_monitor_start (m);
      g_main_loop_run (loop);
      assert_true (mp_monitor_get_finished (m));
      assert_int_equal (mp_monitor_get_n_events (m), 3);
      assert_int_equal (mp_monitor_get_n_lost (m), 5);
      assert_int_equal (mp_monitor_process_get_state (mp_monitor_lookup_process (m, 101)),
                        MP_MONITOR_PROCESS_EXITED);
      assert_true (g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC);
      if (speeds[i] > 0)
        assert_true (g_get_monotonic_time () - t0 >= 8000);   /* paced, not instant */
    }
  (void) g_unlink (path);
}

/* ---- broken files ------------------------------------------------------------------------ */

/* Neither the replay nor the export accepts @text; the export leaves no output behind. */
static void
assert_rejected (const char *text, gssize len, const char *expect_in_message)
{
  g_autofree char *path = write_temp ("test-trace-file-bad.jsonl", text, len);
  g_autofree char *out = temp_path ("test-trace-file-bad.json");
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;

  (void) g_unlink (out);
  m = mp_monitor_new_for_trace_file (path, &error);
  if (m != NULL)
    fail_msg ("accepted: %.200s", text);
  assert_true (error->domain == MP_ERROR);
  if (expect_in_message != NULL && strstr (error->message, expect_in_message) == NULL)
    fail_msg ("'%s' does not mention '%s'", error->message, expect_in_message);
  g_clear_error (&error);
  assert_false (mp_trace_file_export_chrome (path, out, &error));
  assert_non_null (error);
  assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  (void) g_unlink (path);
}

static const char *good_trace =
  HEADER
  "{\"r\":\"event\",\"t\":1001000000,\"pid\":100,\"type\":\"process-created\",\"object\":1,\"a\":101,\"b\":2}\n"
  "{\"r\":\"snapshot\",\"t\":1002000000,\"full\":true,\"processes\":[" PROC (100, 1, 0) "],\"objects\":["
  LOCK (7, "Lock-X", 100) ",{\"id\":8,\"kind\":\"shared-memory\",\"label\":\"S\",\"stats\":{\"size\":1,\"name\":\"n\",\"attached_pid\":[1,2]},\"shm\":{\"exists\":false,\"n_mappers\":0,\"mappers\":[]}}]}\n"
  "{\"r\":\"event\",\"t\":1003000000,\"pid\":101,\"type\":\"task-started\",\"object\":9,\"a\":1,\"b\":101}\n"
  "{\"r\":\"lost\",\"t\":1004000000,\"n\":3}\n"
  "{\"r\":\"end\",\"t\":1005000000,\"events\":2,\"lost\":3}\n";

static void
test_truncated_everywhere (void **state)
{
  gsize len = strlen (good_trace);

  /* Cut at a line boundary: valid, just without its end. Cut inside a line: an error. */
  for (gsize cut = 0; cut < len; cut++)
    {
      if (cut > 0 && good_trace[cut - 1] == '\n')
        {
          g_autofree char *path = write_temp ("test-trace-file-cut.jsonl", good_trace, (gssize) cut);
          g_autoptr(GError) error = NULL;
          g_autoptr(MpMonitor) m = mp_monitor_new_for_trace_file (path, &error);
          assert_non_null (m);
          assert_true (mp_monitor_replay_to_end (m, &error));
          (void) g_unlink (path);
        }
      else
        assert_rejected (good_trace, (gssize) cut, cut == 0 ? "empty" : NULL);
    }
  {
    g_autofree char *path = write_temp ("test-trace-file-good.jsonl", good_trace, -1);
    g_autofree char *out = temp_path ("test-trace-file-good.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(MpMonitor) m = mp_monitor_new_for_trace_file (path, &error);
    assert_non_null (m);
    assert_true (mp_trace_file_export_chrome (path, out, &error));
    (void) g_unlink (path);
    (void) g_unlink (out);
  }
}

static void
test_corrupt_traces (void **state)
{
  g_autofree char *deep = NULL;
  g_autofree char *huge = NULL;
  GString *s;

  assert_rejected ("", 0, "empty");
  assert_rejected ("{\"hello\":1}\n", -1, "not a libmp recording");
  assert_rejected ("\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\n", 12, NULL);
  assert_rejected ("not json at all\n", -1, "not a libmp recording");
  assert_rejected ("{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":2,\"program\":\"x\"}\n", -1,
                   "version 2 is not supported");
  assert_rejected ("{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":\"1\",\"program\":\"x\"}\n", -1,
                   "not an integer");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":\"abc\",\"pid\":1,\"type\":\"mark\"}\n", -1, ":2:");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":-5,\"pid\":1,\"type\":\"mark\"}\n", -1, "out of range");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1.5,\"type\":\"mark\"}\n", -1, "pid");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1,\"type\":\"no-such-event\"}\n", -1, "unknown value");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1}\n", -1, "missing");
  assert_rejected (HEADER "{\"r\":\"party\",\"t\":5}\n", -1, "unknown record");
  assert_rejected (HEADER "[1,2,3]\n", -1, "not a JSON object");
  assert_rejected (HEADER "\n", -1, NULL);
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"processes\":{}}\n", -1, "not an array");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"processes\":[7]}\n", -1, "not an object");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"processes\":[{\"slot\":99999999,\"state\":\"running\",\"role\":\"main\",\"method\":\"none\",\"pid\":1}]}\n", -1, "slot");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"processes\":[{\"slot\":1,\"state\":\"sleeping\",\"role\":\"main\",\"method\":\"none\",\"pid\":1}]}\n", -1, "state");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"objects\":[{\"id\":1,\"kind\":\"pool\",\"stats\":{\"worker_pid\":[1,2,3,4,5,6,7,8,9]}}]}\n", -1, "more than 8");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"objects\":[{\"id\":1,\"kind\":\"shared-memory\",\"stats\":{\"name\":\"" 
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}]}\n", -1, "longer");
  assert_rejected (HEADER "{\"r\":\"snapshot\",\"t\":5,\"processes\":[{\"slot\":1,\"state\":\"running\",\"role\":\"main\",\"method\":\"none\",\"pid\":1,\"os\":{\"cpu\":1e999}}]}\n", -1, NULL);
  assert_rejected (HEADER "{\"r\":\"end\",\"t\":5}\n{\"r\":\"lost\",\"t\":6,\"n\":1}\n", -1, "after the end");
  assert_rejected (HEADER HEADER, -1, "unknown record");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1,\"type\":\"mark\"", -1, "truncated");
  assert_rejected (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1,\"type\":\"mark\",\"a\":\"\xff\xfe\"}\n", -1, NULL);

  /* JSON that is not JSON, whatever a lenient parser would make of it. */
  {
    const char *bad[] = {
      "{\"r\":\"end\",\"t\":1,}", "{'r':\"end\",\"t\":1}", "{\"r\":\"end\",\"t\":01}",
      "{\"r\":\"end\",\"t\":1.}", "{\"r\":\"end\",\"t\":-}", "{\"r\":end,\"t\":1}",
      "{\"r\":\"end\" \"t\":1}", "{\"r\" \"end\",\"t\":1}", "{\"r\":\"end\",\"t\":1} x",
      "{\"r\":\"end\",\"t\":1}}", "{\"r\":\"en\td\",\"t\":1}", "{\"r\":\"\\x\",\"t\":1}",
      "{\"r\":\"\\u12\",\"t\":1}", "/* c */ {\"r\":\"end\",\"t\":1}", "{\"r\":[1,,2],\"t\":1}",
      "{\"r\":[1 2],\"t\":1}", "{\"r\":\"end\",\"t\":1e}", "{\"r\":tru,\"t\":1}", "{",
      "{\"r\":\"end\",\"t\":1,\"x\":{\"a\":1]}",
    };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autofree char *text = g_strconcat (HEADER, bad[i], "\n", NULL);
        assert_rejected (text, -1, ":2:");
      }
  }
  {
    /* …and JSON that is. */
    g_autoptr(GError) error = NULL;
    g_autoptr(MpMonitor) m = replay_string (HEADER " { \"r\" : \"event\" , \"t\":1e3,\"pid\":1,"
                                            "\"type\":\"m\\u0061rk\",\"x\":[[],{},[{\"y\":-0.5E+2}],"
                                            "true,false,null,\"\\\"\\/\\b\\f\\n\\r\\t\"]}\r\n", &error);
    /* t is not an integer there: the line parses, the record does not. */
    assert_null (m);
    assert_non_null (strstr (error->message, "\"t\" is not an integer"));
    g_clear_error (&error);
    m = replay_string (HEADER " { \"r\" : \"event\" , \"t\":1000,\"pid\":1,"
                       "\"type\":\"m\\u0061rk\",\"x\":[[],{},[{\"y\":-0.5E+2}],"
                       "true,false,null,\"\\\"\\/\\b\\f\\n\\r\\t\"]}\r\n", &error);
    assert_non_null (m);
    assert_int_equal (mp_monitor_get_n_events (m), 1);
  }

  /* Nesting that would make a recursive parser overflow its stack. */
  s = g_string_new (HEADER "{\"r\":\"event\",\"t\":5,\"pid\":1,\"type\":\"mark\",\"x\":");
  for (int i = 0; i < 200000; i++)
    g_string_append_c (s, '[');
  g_string_append (s, "}\n");
  deep = g_string_free (s, FALSE);
  assert_rejected (deep, -1, "nested deeper");

  /* A line longer than any recording writes, never ending. */
  huge = g_malloc (MP_TRACE_MAX_LINE + 1024);
  memcpy (huge, HEADER, strlen (HEADER));
  memset (huge + strlen (HEADER), 'a', MP_TRACE_MAX_LINE + 1024 - strlen (HEADER));
  assert_rejected (huge, MP_TRACE_MAX_LINE + 1024, "longer than");
}

static void
test_flipped_bytes (void **state)
{
  gsize len = strlen (good_trace);
  g_autofree char *buf = g_malloc (len);
  GRand *rand = g_rand_new_with_seed (42);

  /* Every corruption is either read (with whatever values it now has) or refused: no crash. */
  for (int round = 0; round < 400; round++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MpTraceFileReader) r = NULL;

      memcpy (buf, good_trace, len);
      for (int k = 0; k < 1 + round % 4; k++)
        buf[g_rand_int_range (rand, 0, (gint32) len)] = (char) g_rand_int_range (rand, 0, 256);
      r = _mp_trace_file_reader_new_for_data ((const guint8 *) buf, len, &error);
      if (r != NULL)
        {
          MpMonitorModels *models = _mp_monitor_models_new (NULL, NULL);
          MpTraceRecord rec;

          while (_mp_trace_file_reader_next (r, &rec, &error))
            {
              if (rec.type == MP_TRACE_RECORD_EVENT)
                _mp_monitor_models_apply_events (models, &rec.event, 1);
              else if (rec.type == MP_TRACE_RECORD_SNAPSHOT)
                _mp_monitor_models_apply_snapshot (models, rec.snapshot);
              _mp_trace_record_clear (&rec);
            }
          _mp_monitor_models_flush (models);
          _mp_monitor_models_free (models);
        }
    }
  g_rand_free (rand);
}

static void
test_file_errors (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpMonitor) m = NULL;
  g_autofree char *good = write_temp ("test-trace-file-ok.jsonl", good_trace, -1);

  m = mp_monitor_new_for_trace_file ("/nonexistent/recording.jsonl", &error);
  assert_null (m);
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_NOT_FOUND));
  g_clear_error (&error);

  m = mp_monitor_new_for_trace_file (g_getenv ("G_TEST_BUILDDIR"), &error);
  assert_null (m);
  assert_non_null (strstr (error->message, "not a regular file"));
  g_clear_error (&error);

  assert_false (mp_trace_file_export_chrome (good, "/nonexistent/dir/out.json", &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_IO));
  g_clear_error (&error);

  /* A replay cannot record. */
  m = mp_monitor_new_for_trace_file (good, &error);
  assert_non_null (m);
  assert_false (mp_monitor_start_recording (m, "/dev/null", &error));
  assert_true (g_error_matches (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT));
  (void) g_unlink (good);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_snapshot_round_trip),
    cmocka_unit_test (test_events_only_replay),
    cmocka_unit_test (test_deadlock_cycles),
    cmocka_unit_test (test_stuck_worker_replay),
    cmocka_unit_test (test_models_bounded),
    cmocka_unit_test (test_rates),
    cmocka_unit_test (test_replay_on_main_loop),
    cmocka_unit_test (test_truncated_everywhere),
    cmocka_unit_test (test_tree_in_one_pass),
    cmocka_unit_test (test_corrupt_traces),
    cmocka_unit_test (test_flipped_bytes),
    cmocka_unit_test (test_file_errors),
  };

  mp_init (&argc, &argv);
  return cmocka_run_group_tests_name ("trace-file", tests, NULL, NULL);
}
