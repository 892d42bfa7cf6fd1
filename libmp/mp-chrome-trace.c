/* mp-chrome-trace.c: a recording as Chrome Trace Event JSON (for Perfetto, chrome://tracing)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Mapping (Trace Event Format, JSON object form):
 *   - every process of the tree is a Chrome process (pid) with one thread (tid = pid), named by
 *     "M" process_name / thread_name metadata and sorted by start time;
 *   - tasks are complete ("X") slices on the worker that ran them, cat "task";
 *   - lock waits are "X" slices on the waiting process, cat "lock" (a wait runs inside the task
 *     that took the lock, so the slices nest);
 *   - queue depth and pool throughput are counters ("C") on the creating process;
 *   - process start/exit, lost events and user marks are instants ("i").
 * Timestamps are µs since the program started (the recording's start_monotonic_ns).
 *
 * The recording streams through once; state is bounded by what is in flight (running tasks,
 * waits in progress) and by the number of processes and objects, which snapshots cap. The
 * output goes to a temporary file renamed into place, so a failed export leaves nothing
 * half-written under the requested name.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-trace-file-private.h"

#define MAX_TRACKED 100000

typedef struct
{
  guint64 pool;
  guint64 task;
  guint64 start_ns;
} RunningTask;

typedef struct
{
  guint64 lock;
  gint64  holder;
  guint64 start_ns;
} PendingWait;

typedef struct
{
  guint64 t_ns;
  guint64 done;
} PoolRate;

typedef struct
{
  FILE        *out;
  GString     *buf;
  guint64      t0;
  guint64      last_t;
  gboolean     first;
  guint64      n_written;
  GHashTable  *names;        /* pid → name */
  GHashTable  *starts;       /* pid → start ns, for sort order */
  GHashTable  *labels;       /* object id (guint64 *) → label */
  GHashTable  *creators;     /* object id (guint64 *) → creator pid */
  GHashTable  *running;      /* worker pid → RunningTask */
  GHashTable  *waits;        /* pid → PendingWait */
  GHashTable  *pool_rates;   /* pool id (guint64 *) → PoolRate */
} Exporter;

static guint
u64_hash (gconstpointer v)
{
  guint64 x = *(const guint64 *) v;
  return (guint) (x ^ (x >> 32));
}

static gboolean
u64_equal (gconstpointer a, gconstpointer b)
{
  return *(const guint64 *) a == *(const guint64 *) b;
}

static guint64 *
u64_key (guint64 v)
{
  guint64 *k = g_new (guint64, 1);
  *k = v;
  return k;
}

static double
ts_us (Exporter *x, guint64 t_ns)
{
  return t_ns >= x->t0 ? (double) (t_ns - x->t0) / 1000.0 : -((double) (x->t0 - t_ns) / 1000.0);
}

static const char *
label_of (Exporter *x, guint64 id, char *buf, gsize len)
{
  const char *l = g_hash_table_lookup (x->labels, &id);

  if (l != NULL && l[0])
    return l;
  g_snprintf (buf, len, "#%" G_GUINT64_FORMAT, id);
  return buf;
}

static gint32
creator_of (Exporter *x, guint64 id, gint32 fallback)
{
  gpointer v = g_hash_table_lookup (x->creators, &id);
  return v ? GPOINTER_TO_INT (v) : fallback;
}

/* Starts one event object: {"ph":…,"pid":…,"tid":…,"ts":…,"name":… */
static void
begin (Exporter *x, const char *ph, gint32 pid, double ts, const char *name, const char *cat)
{
  GString *b = x->buf;

  g_string_append (b, x->first ? "\n" : ",\n");
  x->first = FALSE;
  g_string_append_printf (b, "{\"ph\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"name\":", ph, pid,
                          pid, ts);
  _mp_json_append_string (b, name);
  if (cat != NULL)
    g_string_append_printf (b, ",\"cat\":\"%s\"", cat);
  x->n_written++;
}

static gboolean
flush_buf (Exporter *x, gboolean force, GError **error)
{
  if (!force && x->buf->len < 60000)
    return TRUE;
  if (fwrite (x->buf->str, 1, x->buf->len, x->out) != x->buf->len)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot write the export: %s", g_strerror (errsv));
      return FALSE;
    }
  g_string_truncate (x->buf, 0);
  return TRUE;
}

static void
slice (Exporter *x, gint32 pid, guint64 start_ns, guint64 end_ns, const char *name,
       const char *cat, const char *args_json)
{
  begin (x, "X", pid, ts_us (x, start_ns), name, cat);
  g_string_append_printf (x->buf, ",\"dur\":%.3f", end_ns > start_ns ? (double) (end_ns - start_ns) / 1000.0 : 0.0);
  if (args_json != NULL)
    g_string_append_printf (x->buf, ",\"args\":%s", args_json);
  g_string_append_c (x->buf, '}');
}

static void
instant (Exporter *x, gint32 pid, guint64 t_ns, const char *name, const char *cat,
         const char *args_json)
{
  begin (x, "i", pid, ts_us (x, t_ns), name, cat);
  g_string_append (x->buf, ",\"s\":\"t\"");
  if (args_json != NULL)
    g_string_append_printf (x->buf, ",\"args\":%s", args_json);
  g_string_append_c (x->buf, '}');
}

static void
counter (Exporter *x, gint32 pid, guint64 t_ns, const char *name, const char *series, double v)
{
  char num[G_ASCII_DTOSTR_BUF_SIZE];

  begin (x, "C", pid, ts_us (x, t_ns), name, NULL);
  g_string_append (x->buf, ",\"args\":{");
  _mp_json_append_string (x->buf, series);
  g_string_append_printf (x->buf, ":%s}}", g_ascii_dtostr (num, sizeof num, v));
}

static void
note_name (Exporter *x, gint32 pid, const char *name)
{
  if (pid <= 0 || name == NULL || !name[0])
    return;
  if (g_hash_table_size (x->names) >= MAX_TRACKED && !g_hash_table_contains (x->names, GINT_TO_POINTER (pid)))
    return;
  g_hash_table_replace (x->names, GINT_TO_POINTER (pid), g_strdup (name));
}

static void
note_start (Exporter *x, gint32 pid, guint64 t_ns)
{
  if (pid <= 0 || g_hash_table_contains (x->starts, GINT_TO_POINTER (pid)) ||
      g_hash_table_size (x->starts) >= MAX_TRACKED)
    return;
  g_hash_table_insert (x->starts, GINT_TO_POINTER (pid), g_memdup2 (&t_ns, sizeof t_ns));
}

static void
task_slice (Exporter *x, gint32 worker, guint64 pool, guint64 task, guint64 start_ns,
            guint64 end_ns, const char *outcome)
{
  char lb[32], name[64];
  g_autoptr(GString) args = g_string_new ("{\"pool\":");

  _mp_json_append_string (args, label_of (x, pool, lb, sizeof lb));
  g_string_append_printf (args, ",\"task\":%" G_GUINT64_FORMAT ",\"outcome\":\"%s\"}", task, outcome);
  g_snprintf (name, sizeof name, "task %" G_GUINT64_FORMAT, task);
  slice (x, worker, start_ns, end_ns, name, "task", args->str);
}

static void
on_event (Exporter *x, const MpTraceEvent *ev)
{
  char lb[32], name[96], args[160];
  guint64 t = ev->timestamp_ns;

  note_start (x, ev->pid, t);
  switch (ev->type)
    {
    case MP_EVENT_PROCESS_CREATED:
      if (ev->a > 0 && ev->a <= G_MAXINT32)
        note_start (x, (gint32) ev->a, t);
      g_snprintf (args, sizeof args, "{\"child\":%" G_GINT64_FORMAT "}", ev->a);
      instant (x, ev->pid, t, "start child", "process", args);
      break;
    case MP_EVENT_PROCESS_STARTED:
      instant (x, ev->pid, t, "started", "process", NULL);
      break;
    case MP_EVENT_PROCESS_EXITED:
      if (ev->a > 0 && ev->a <= G_MAXINT32)
        {
          g_snprintf (name, sizeof name, ev->b < 0 ? "killed by signal %" G_GINT64_FORMAT
                                                   : "exit %" G_GINT64_FORMAT,
                      ev->b < 0 ? -ev->b : ev->b);
          instant (x, (gint32) ev->a, t, name, "process", NULL);
        }
      break;
    case MP_EVENT_TASK_STARTED:
      {
        gint32 worker = ev->b > 0 && ev->b <= G_MAXINT32 ? (gint32) ev->b : ev->pid;
        RunningTask *prev = g_hash_table_lookup (x->running, GINT_TO_POINTER (worker));

        if (prev != NULL)
          task_slice (x, worker, prev->pool, prev->task, prev->start_ns, t, "unknown");
        if (prev != NULL || g_hash_table_size (x->running) < MAX_TRACKED)
          {
            RunningTask r = { ev->object, (guint64) ev->a, t };
            g_hash_table_replace (x->running, GINT_TO_POINTER (worker), g_memdup2 (&r, sizeof r));
          }
      }
      break;
    case MP_EVENT_TASK_FINISHED:
    case MP_EVENT_TASK_FAILED:
      {
        RunningTask *r = g_hash_table_lookup (x->running, GINT_TO_POINTER (ev->pid));
        gint32 worker = ev->pid;
        guint64 start;

        if (r == NULL || r->task != (guint64) ev->a || r->pool != ev->object)
          {
            GHashTableIter iter;
            gpointer k, v;

            r = NULL;
            g_hash_table_iter_init (&iter, x->running);
            while (r == NULL && g_hash_table_iter_next (&iter, &k, &v))
              if (((RunningTask *) v)->task == (guint64) ev->a &&
                  ((RunningTask *) v)->pool == ev->object)
                {
                  r = v;
                  worker = GPOINTER_TO_INT (k);
                }
          }
        if (r != NULL)
          start = r->start_ns;
        else if (ev->type == MP_EVENT_TASK_FINISHED && ev->b > 0 && (guint64) ev->b <= t)
          start = t - (guint64) ev->b;
        else
          start = t;
        task_slice (x, worker, ev->object, (guint64) ev->a, start, t,
                    ev->type == MP_EVENT_TASK_FAILED ? "failed" : "finished");
        if (r != NULL)
          g_hash_table_remove (x->running, GINT_TO_POINTER (worker));
      }
      break;
    case MP_EVENT_QUEUE_PUT:
    case MP_EVENT_QUEUE_GET:
      if (ev->a >= 0)
        {
          g_snprintf (name, sizeof name, "%s depth", label_of (x, ev->object, lb, sizeof lb));
          counter (x, creator_of (x, ev->object, ev->pid), t, name, "depth", (double) ev->a);
        }
      break;
    case MP_EVENT_LOCK_CONTENDED:
      if (ev->b > 0)
        {
          guint64 start = (guint64) ev->b <= t ? t - (guint64) ev->b : 0;
          g_snprintf (name, sizeof name, "wait %s", label_of (x, ev->object, lb, sizeof lb));
          g_snprintf (args, sizeof args, "{\"holder\":%" G_GINT64_FORMAT "}", ev->a);
          slice (x, ev->pid, start, t, name, "lock", args);
          g_hash_table_remove (x->waits, GINT_TO_POINTER (ev->pid));
        }
      else if (g_hash_table_size (x->waits) < MAX_TRACKED)
        {
          PendingWait w = { ev->object, ev->a, t };
          g_hash_table_replace (x->waits, GINT_TO_POINTER (ev->pid), g_memdup2 (&w, sizeof w));
        }
      break;
    case MP_EVENT_LOCK_ACQUIRED:
      {
        PendingWait *w = g_hash_table_lookup (x->waits, GINT_TO_POINTER (ev->pid));
        if (w != NULL && w->lock == ev->object)
          {
            g_snprintf (name, sizeof name, "wait %s", label_of (x, ev->object, lb, sizeof lb));
            g_snprintf (args, sizeof args, "{\"holder\":%" G_GINT64_FORMAT "}", w->holder);
            slice (x, ev->pid, w->start_ns, t, name, "lock", args);
            g_hash_table_remove (x->waits, GINT_TO_POINTER (ev->pid));
          }
      }
      break;
    case MP_EVENT_LOCK_OWNER_DIED:
      g_snprintf (name, sizeof name, "%s: owner %" G_GINT64_FORMAT " died",
                  label_of (x, ev->object, lb, sizeof lb), ev->a);
      instant (x, ev->pid, t, name, "lock", NULL);
      break;
    case MP_EVENT_WORKER_REPLACED:
      g_snprintf (name, sizeof name, "worker %" G_GINT64_FORMAT " replaced by %" G_GINT64_FORMAT,
                  ev->a, ev->b);
      instant (x, ev->pid, t, name, "pool", NULL);
      break;
    case MP_EVENT_SHM_CREATED:
    case MP_EVENT_SHM_ATTACHED:
    case MP_EVENT_SHM_UNLINKED:
      g_snprintf (name, sizeof name, "%s %s", mp_trace_event_type_to_string (ev->type),
                  label_of (x, ev->object, lb, sizeof lb));
      instant (x, ev->pid, t, name, "shm", NULL);
      break;
    case MP_EVENT_MARK:
      g_snprintf (name, sizeof name, "mark %" G_GUINT64_FORMAT, ev->object);
      g_snprintf (args, sizeof args, "{\"a\":%" G_GINT64_FORMAT ",\"b\":%" G_GINT64_FORMAT "}",
                  ev->a, ev->b);
      instant (x, ev->pid, t, name, "mark", args);
      break;
    default:
      break;
    }
}

static void
on_snapshot (Exporter *x, const MpMonitorSnapshot *snap)
{
  char lb[32], name[96];

  for (guint i = 0; i < snap->processes->len; i++)
    {
      const MpSnapProcess *p = &g_array_index (snap->processes, MpSnapProcess, i);
      note_name (x, p->pid, p->name);
      note_start (x, p->pid, p->start_ns ? p->start_ns : snap->t_ns);
    }
  if (!snap->full)
    return;
  for (guint i = 0; i < snap->objects->len; i++)
    {
      const MpSnapObject *o = &g_array_index (snap->objects, MpSnapObject, i);

      if (o->label[0] && (g_hash_table_size (x->labels) < MAX_TRACKED ||
                          g_hash_table_contains (x->labels, &o->id)))
        {
          g_hash_table_replace (x->labels, u64_key (o->id), g_strdup (o->label));
          g_hash_table_replace (x->creators, u64_key (o->id), GINT_TO_POINTER (o->creator_pid));
        }
      if (_mp_object_kind_is_queue (o->kind))
        {
          const MpQueueStats *st = (const MpQueueStats *) (const void *) o->stats;
          g_snprintf (name, sizeof name, "%s depth", label_of (x, o->id, lb, sizeof lb));
          counter (x, o->creator_pid, snap->t_ns, name, "depth", (double) st->depth);
        }
      else if (o->kind == MP_OBJECT_POOL)
        {
          const MpPoolStats *st = (const MpPoolStats *) (const void *) o->stats;
          guint64 done = st->completed + st->failed;
          PoolRate *r = g_hash_table_lookup (x->pool_rates, &o->id);

          if (r != NULL && snap->t_ns > r->t_ns && done >= r->done)
            {
              g_snprintf (name, sizeof name, "%s throughput", label_of (x, o->id, lb, sizeof lb));
              counter (x, o->creator_pid, snap->t_ns, name, "tasks/s",
                       (double) (done - r->done) / ((double) (snap->t_ns - r->t_ns) / 1e9));
            }
          if (r == NULL && g_hash_table_size (x->pool_rates) < MAX_TRACKED)
            {
              r = g_new0 (PoolRate, 1);
              g_hash_table_insert (x->pool_rates, u64_key (o->id), r);
            }
          if (r != NULL)
            {
              r->t_ns = snap->t_ns;
              r->done = done;
            }
        }
    }
}

static gint
by_start (gconstpointer a, gconstpointer b, gpointer user_data)
{
  GHashTable *starts = user_data;
  const guint64 *sa = g_hash_table_lookup (starts, a);
  const guint64 *sb = g_hash_table_lookup (starts, b);
  guint64 x = sa ? *sa : G_MAXUINT64, y = sb ? *sb : G_MAXUINT64;

  if (x != y)
    return x < y ? -1 : 1;
  return GPOINTER_TO_INT (a) - GPOINTER_TO_INT (b);
}

static void
finish (Exporter *x)
{
  GHashTableIter iter;
  gpointer k, v;
  g_autoptr(GList) pids = NULL;
  int index = 0;

  /* Tasks and waits still open when the recording ended. */
  g_hash_table_iter_init (&iter, x->running);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      RunningTask *r = v;
      task_slice (x, GPOINTER_TO_INT (k), r->pool, r->task, r->start_ns, MAX (x->last_t, r->start_ns),
                  "unfinished");
    }
  g_hash_table_iter_init (&iter, x->waits);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      PendingWait *w = v;
      char lb[32], name[96];
      g_snprintf (name, sizeof name, "wait %s (unfinished)", label_of (x, w->lock, lb, sizeof lb));
      slice (x, GPOINTER_TO_INT (k), w->start_ns, MAX (x->last_t, w->start_ns), name, "lock", NULL);
    }

  /* Names and order of the tracks. */
  g_hash_table_iter_init (&iter, x->starts);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    pids = g_list_prepend (pids, k);
  g_hash_table_iter_init (&iter, x->names);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    if (!g_hash_table_contains (x->starts, k))
      pids = g_list_prepend (pids, k);
  pids = g_list_sort_with_data (pids, by_start, x->starts);
  for (GList *l = pids; l != NULL; l = l->next)
    {
      gint32 pid = GPOINTER_TO_INT (l->data);
      const char *n = g_hash_table_lookup (x->names, l->data);
      g_autofree char *title = n ? g_strdup_printf ("%s (pid %d)", n, pid)
                                 : g_strdup_printf ("pid %d", pid);

      begin (x, "M", pid, 0, "process_name", NULL);
      g_string_append (x->buf, ",\"args\":{\"name\":");
      _mp_json_append_string (x->buf, title);
      g_string_append (x->buf, "}}");
      begin (x, "M", pid, 0, "process_sort_index", NULL);
      g_string_append_printf (x->buf, ",\"args\":{\"sort_index\":%d}}", index++);
      begin (x, "M", pid, 0, "thread_name", NULL);
      g_string_append (x->buf, ",\"args\":{\"name\":");
      _mp_json_append_string (x->buf, n ? n : "main");
      g_string_append (x->buf, "}}");
    }
}

/**
 * mp_trace_file_export_chrome:
 * @trace_path: a recording (from mp_monitor_start_recording() or `mpviewer --record`)
 * @output_path: where to write the Chrome Trace Event JSON
 * @error: return location for an error
 *
 * Converts a recording to the Chrome Trace Event format, which Perfetto (ui.perfetto.dev) and
 * chrome://tracing open: one track per process, tasks as slices on the worker that ran them,
 * lock waits as slices on the waiter, queue depths and pool throughput as counters, process
 * names as metadata. A recording that is corrupt or truncated gives an error and no output.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_trace_file_export_chrome (const char *trace_path, const char *output_path, GError **error)
{
  g_autoptr(MpTraceFileReader) reader = NULL;
  g_autofree char *tmp_path = NULL;
  const MpTraceHeader *h;
  Exporter x = { 0 };
  MpTraceRecord rec;
  GError *local = NULL;
  gboolean ok = FALSE;
  int fd;

  g_return_val_if_fail (trace_path != NULL, FALSE);
  g_return_val_if_fail (output_path != NULL, FALSE);

  reader = _mp_trace_file_reader_new_for_path (trace_path, error);
  if (reader == NULL)
    return FALSE;
  h = _mp_trace_file_reader_get_header (reader);

  tmp_path = g_strdup_printf ("%s.XXXXXX", output_path);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0 || (x.out = fdopen (fd, "w")) == NULL)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create %s: %s", output_path,
                   g_strerror (errsv));
      return FALSE;
    }
  x.buf = g_string_sized_new (65536);
  x.first = TRUE;
  x.t0 = h->start_monotonic_ns;
  x.names = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  x.starts = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  x.labels = g_hash_table_new_full (u64_hash, u64_equal, g_free, g_free);
  x.creators = g_hash_table_new_full (u64_hash, u64_equal, g_free, NULL);
  x.running = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  x.waits = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  x.pool_rates = g_hash_table_new_full (u64_hash, u64_equal, g_free, g_free);

  g_string_append (x.buf, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"program\":");
  _mp_json_append_string (x.buf, h->program);
  g_string_append_printf (x.buf, ",\"root_pid\":%d,\"start_realtime_ns\":%" G_GUINT64_FORMAT
                          ",\"exporter\":\"libmp " PACKAGE_VERSION "\"},\"traceEvents\":[",
                          h->root_pid, h->start_realtime_ns);
  note_name (&x, h->root_pid, "MainProcess");

  while (_mp_trace_file_reader_next (reader, &rec, &local))
    {
      if (x.t0 == 0)
        x.t0 = rec.t_ns;
      if (rec.t_ns > x.last_t)
        x.last_t = rec.t_ns;
      switch (rec.type)
        {
        case MP_TRACE_RECORD_EVENT:
          on_event (&x, &rec.event);
          break;
        case MP_TRACE_RECORD_SNAPSHOT:
          on_snapshot (&x, rec.snapshot);
          break;
        case MP_TRACE_RECORD_LOST:
          {
            char args[64];
            g_snprintf (args, sizeof args, "{\"lost\":%" G_GUINT64_FORMAT "}", rec.count);
            instant (&x, h->root_pid, rec.t_ns, "events lost", "trace", args);
          }
          break;
        case MP_TRACE_RECORD_END:
        default:
          break;
        }
      _mp_trace_record_clear (&rec);
      if (!flush_buf (&x, FALSE, &local))
        break;
    }
  if (local == NULL)
    {
      finish (&x);
      g_string_append (x.buf, "\n]}\n");
      if (flush_buf (&x, TRUE, &local))
        ok = TRUE;
    }
  if (fclose (x.out) != 0 && ok)
    {
      int errsv = errno;
      g_set_error (&local, MP_ERROR, MP_ERROR_IO, "Cannot write %s: %s", output_path,
                   g_strerror (errsv));
      ok = FALSE;
    }
  if (ok && g_rename (tmp_path, output_path) != 0)
    {
      int errsv = errno;
      g_set_error (&local, MP_ERROR, MP_ERROR_IO, "Cannot write %s: %s", output_path,
                   g_strerror (errsv));
      ok = FALSE;
    }
  if (!ok)
    {
      (void) g_unlink (tmp_path);
      g_propagate_error (error, local);
    }

  g_string_free (x.buf, TRUE);
  g_hash_table_unref (x.names);
  g_hash_table_unref (x.starts);
  g_hash_table_unref (x.labels);
  g_hash_table_unref (x.creators);
  g_hash_table_unref (x.running);
  g_hash_table_unref (x.waits);
  g_hash_table_unref (x.pool_rates);
  return ok;
}
