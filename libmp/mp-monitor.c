/* mp-monitor.c: MpMonitor, events and models of a program tree on a GLib main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A monitor lives on the GMainContext that was thread-default when it was created; its
 * timers, signals and model updates happen there only. It is not thread-safe.
 *
 * Live sources (self, pid, launch) have two timers:
 *   - events (every event-interval, default 50 ms): drain every ring into one buffer, merge the
 *     per-process runs by time, record, apply to the models, emit "events". A drain is bounded
 *     (a program emitting faster than we read cannot keep us in one tick forever); the rest
 *     waits for the next tick, and what the rings overwrote meanwhile is counted as lost.
 *   - samples (every sample-interval, default 500 ms): drain first (so every applied event is
 *     older than the sample), then read the process table, the object directory and /proc,
 *     record, apply, emit "updated".
 * When a batch contains process lifecycle events, the process table is also read right away
 * (a cheap partial sample), so a process that lived between two samples gets its name and role.
 *
 * A replay reads the same records from a file and applies them through the same functions,
 * paced by their timestamps times replay-speed (0 = as fast as possible).
 *
 * The root process of a program has no parent in the tree to record its exit status. When the
 * monitor launched the program, it reaped the root itself and adds that status as a
 * PROCESS_EXITED event with pid 0 (the monitor), so recordings keep it too.
 *
 * Ring cursors start at the oldest event still in each ring: attaching shows the recent past,
 * and what was overwritten before we came is not reported as lost.
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp-error.h"
#include "mp-monitor-private.h"
#include "mp-trace-file-private.h"

#define DRAIN_CAPACITY      8192
#define DRAIN_MAX_PER_TICK  (4u << 20)
#define DRAIN_MAX_US        20000      /* a tick leaves the main loop within ~20 ms */
#define REPLAY_MAX_PER_TICK 50000

struct _MpMonitor
{
  GObject            parent_instance;

  MpMonitorSource    source;
  GMainContext      *context;
  MpMonitorModels   *models;

  /* live */
  MpArena           *arena;            /* owned unless it is the process's own */
  gboolean           own_arena;
  MpMonitorArena     ma;
  MpRingReader      *readers;
  guint              n_readers;
  guint              next_slot;
  MpProcSampler     *sampler;
  GSubprocess       *subprocess;
  GCancellable      *cancellable;

  /* replay */
  MpTraceFileReader     *trace;
  MpTraceRecord      pending;
  gboolean           has_pending;
  gint64             replay_origin_us;
  guint64            replay_origin_t;
  double             speed;

  /* the program */
  char              *program;
  GPid               root_pid;
  guint64            start_realtime_ns;
  guint64            start_monotonic_ns;
  guint              trace_level;

  guint              event_interval;
  guint              sample_interval;
  GSource           *event_source;
  GSource           *sample_source;
  gboolean           running;
  gboolean           finished;

  MpTraceFileWriter     *writer;
  guint64            n_events;
  guint64            n_lost;
  guint64            last_t;           /* data time of the newest record */

  MpTraceEvent           *buf;
  MpTraceEvent           *tmp;
  guint              buf_len;
};

enum
{
  PROP_0,
  PROP_SOURCE,
  PROP_PID,
  PROP_PROGRAM_NAME,
  PROP_START_TIME,
  PROP_TRACE_LEVEL,
  PROP_EVENT_INTERVAL,
  PROP_SAMPLE_INTERVAL,
  PROP_REPLAY_SPEED,
  PROP_STUCK_FACTOR,
  PROP_STUCK_MIN_MS,
  PROP_KEEP_EXITED_MS,
  PROP_RUNNING,
  PROP_FINISHED,
  PROP_RECORDING,
  PROP_N_EVENTS,
  PROP_N_LOST,
  N_PROPS
};

enum
{
  SIGNAL_EVENTS,
  SIGNAL_UPDATED,
  SIGNAL_ALERT_RAISED,
  SIGNAL_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_ENUM_TYPE (MpMonitorSource, mp_monitor_source,
  G_DEFINE_ENUM_VALUE (MP_MONITOR_SOURCE_SELF, "self"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_SOURCE_PID, "pid"),
  G_DEFINE_ENUM_VALUE (MP_MONITOR_SOURCE_TRACE, "trace"))

G_DEFINE_FINAL_TYPE (MpMonitor, mp_monitor, G_TYPE_OBJECT)

static void stop_sources (MpMonitor *self);
static void start_sources (MpMonitor *self);

/* ---- feeding the models (live and replay alike) ------------------------------------------ */

static void
record_failed (MpMonitor *self, GError *error)
{
  g_warning ("libmp: recording stopped: %s", error->message);
  g_error_free (error);
  (void) _mp_trace_file_writer_close (self->writer, self->last_t, NULL);
  self->writer = NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECORDING]);
}

static void
ingest_events (MpMonitor *self, const MpTraceEvent *events, guint n, guint64 lost)
{
  GError *error = NULL;

  if (n == 0 && lost == 0)
    return;
  if (n > 0 && events[n - 1].timestamp_ns > self->last_t)
    self->last_t = events[n - 1].timestamp_ns;
  if (self->writer != NULL &&
      ((n > 0 && !_mp_trace_file_writer_events (self->writer, events, n, &error)) ||
       (lost > 0 && !_mp_trace_file_writer_lost (self->writer, self->last_t, lost, &error))))
    record_failed (self, error);

  _mp_monitor_models_apply_events (self->models, events, n);
  if (lost > 0)
    _mp_monitor_models_apply_lost (self->models, self->last_t, lost);
  _mp_monitor_models_flush (self->models);
  self->n_events += n;
  self->n_lost += lost;
  if (g_signal_has_handler_pending (self, signals[SIGNAL_EVENTS], 0, TRUE))
    g_signal_emit (self, signals[SIGNAL_EVENTS], 0, events, n, lost);
}

static void
ingest_snapshot (MpMonitor *self, const MpMonitorSnapshot *snap)
{
  GError *error = NULL;

  if (snap->t_ns > self->last_t)
    self->last_t = snap->t_ns;
  if (self->writer != NULL && (!_mp_trace_file_writer_snapshot (self->writer, snap, &error) ||
                               (snap->full && !_mp_trace_file_writer_flush (self->writer, &error))))
    record_failed (self, error);
  _mp_monitor_models_apply_snapshot (self->models, snap);
  _mp_monitor_models_flush (self->models);
  if (snap->full)
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_EVENTS]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_LOST]);
      g_signal_emit (self, signals[SIGNAL_UPDATED], 0);
    }
}

static void
on_alert (MpMonitorAlert *alert, gpointer user_data)
{
  g_signal_emit (user_data, signals[SIGNAL_ALERT_RAISED], 0, alert);
}

static void
set_finished (MpMonitor *self)
{
  if (self->finished)
    return;
  self->finished = TRUE;
  stop_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FINISHED]);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

/* ---- live: draining the rings ------------------------------------------------------------ */

/* Merges sorted runs [starts[i], starts[i+1]) of self->buf by timestamp, stably. */
static void
merge_runs (MpMonitor *self, guint *starts, guint n_runs)
{
  while (n_runs > 1)
    {
      guint out = 0, w = 0;
      MpTraceEvent *swap;

      for (guint r = 0; r < n_runs; r += 2)
        {
          guint a = starts[r], a_end = starts[r + 1];
          guint b = a_end, b_end = r + 1 < n_runs ? starts[r + 2] : a_end;

          starts[w++] = out;
          while (a < a_end || b < b_end)
            {
              if (b >= b_end || (a < a_end && self->buf[a].timestamp_ns <= self->buf[b].timestamp_ns))
                self->tmp[out++] = self->buf[a++];
              else
                self->tmp[out++] = self->buf[b++];
            }
        }
      starts[w] = out;
      n_runs = w;
      swap = self->buf;
      self->buf = self->tmp;
      self->tmp = swap;
    }
}

/* A reader more than three quarters of a ring behind would read records the writer is about to
 * overwrite: it would fight the writer for the same cache lines and lose most of them anyway.
 * It skips to the middle of the ring instead (what it skips counts as lost), so it reads the
 * newer half while the writer fills the older one. */
static void
skip_ahead (MpRingReader *r, guint64 *lost)
{
  guint64 head;

  if (r->ring == NULL)
    return;
  head = __atomic_load_n (&r->ring->head, __ATOMIC_ACQUIRE);
  if (head >= r->cursor && head - r->cursor > r->capacity - r->capacity / 4 &&
      head >= r->capacity / 2)
    {
      *lost += head - r->capacity / 2 - r->cursor;
      r->cursor = head - r->capacity / 2;
    }
}

static guint
drain (MpMonitor *self)
{
  guint total = 0;
  guint starts[DRAIN_CAPACITY + 1];
  gboolean lifecycle = FALSE;
  gint64 deadline;

  if (self->readers == NULL)
    return 0;

  deadline = g_get_monotonic_time () + DRAIN_MAX_US;
  while (total < DRAIN_MAX_PER_TICK)
    {
      guint high = MIN (_mp_monitor_arena_procs_high_water (&self->ma), self->n_readers);
      guint n = 0, n_runs = 0;
      guint64 lost = 0;
      gboolean full = FALSE;

      for (guint k = 0; k < high; k++)
        {
          guint slot = (self->next_slot + k) % high;
          guint64 slot_lost = 0;
          guint got;

          skip_ahead (&self->readers[slot], &lost);
          got = _mp_ring_reader_read (&self->readers[slot], self->buf + n, DRAIN_CAPACITY - n,
                                      &slot_lost);
          lost += slot_lost;
          if (got > 0)
            {
              starts[n_runs++] = n;
              n += got;
            }
          if (n == DRAIN_CAPACITY)
            {
              full = TRUE;
              /* Start the next round after the ring that filled the buffer. */
              self->next_slot = (slot + 1) % high;
              break;
            }
        }
      if (n == 0 && lost == 0)
        break;
      starts[n_runs] = n;
      if (n_runs > 1)
        merge_runs (self, starts, n_runs);
      for (guint i = 0; i < n && !lifecycle; i++)
        lifecycle = self->buf[i].type >= MP_EVENT_PROCESS_CREATED &&
                    self->buf[i].type <= MP_EVENT_PROCESS_EXITING;
      ingest_events (self, self->buf, n, lost);
      total += n;
      if (!full || g_get_monotonic_time () > deadline)
        break;
    }

  if (lifecycle)
    {
      g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (_mp_monotonic_ns (), FALSE);
      _mp_monitor_snapshot_read_arena (snap, &self->ma, FALSE);
      ingest_snapshot (self, snap);
    }
  return total;
}

/**
 * mp_monitor_poll_events:
 * @self: a monitor
 *
 * Drains the event rings now, as the event timer does: applies the events to the models and
 * emits #MpMonitor::events. A replay monitor does nothing here.
 *
 * Returns: the number of events delivered
 */
guint
mp_monitor_poll_events (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return drain (self);
}

/**
 * mp_monitor_sample:
 * @self: a monitor
 *
 * Samples now, as the sample timer does: drains the rings, reads the process table, the object
 * directory and `/proc`, updates rates and alerts and emits #MpMonitor::updated. For a monitor
 * attached by pid, this is also where it notices that the whole program has exited
 * (#MpMonitor::finished). A replay monitor does nothing here.
 */
void
mp_monitor_sample (MpMonitor *self)
{
  g_autoptr(MpMonitorSnapshot) snap = NULL;

  g_return_if_fail (MP_IS_MONITOR (self));
  if (self->source == MP_MONITOR_SOURCE_TRACE)
    return;
  drain (self);
  snap = _mp_monitor_snapshot_new (_mp_monotonic_ns (), TRUE);
  _mp_monitor_snapshot_read_arena (snap, &self->ma, TRUE);
  _mp_proc_sampler_fill (self->sampler, snap);
  ingest_snapshot (self, snap);
  if (self->source == MP_MONITOR_SOURCE_PID && !_mp_monitor_models_any_alive (self->models) &&
      (self->subprocess == NULL || g_subprocess_get_identifier (self->subprocess) == NULL))
    set_finished (self);
}

/* ---- replay ------------------------------------------------------------------------------ */

static void
flush_replay_batch (MpMonitor *self)
{
  if (self->buf_len > 0)
    {
      ingest_events (self, self->buf, self->buf_len, 0);
      self->buf_len = 0;
    }
}

/* Applies the records up to data time @until (all when G_MAXUINT64), at most @max of them.
 * Returns FALSE on a read error, which it reports once as a warning and then ends the replay. */
static gboolean
replay_step (MpMonitor *self, guint64 until, guint max, GError **error)
{
  guint done = 0;

  while (done < max)
    {
      MpTraceRecord *rec = &self->pending;

      if (!self->has_pending)
        {
          GError *local = NULL;

          if (!_mp_trace_file_reader_next (self->trace, rec, &local))
            {
              flush_replay_batch (self);
              if (local != NULL)
                {
                  g_propagate_error (error, local);
                  return FALSE;
                }
              set_finished (self);
              return TRUE;
            }
          self->has_pending = TRUE;
        }
      if (rec->t_ns > until && rec->type != MP_TRACE_RECORD_END)
        break;
      switch (rec->type)
        {
        case MP_TRACE_RECORD_EVENT:
          self->buf[self->buf_len++] = rec->event;
          if (self->buf_len == DRAIN_CAPACITY)
            flush_replay_batch (self);
          break;
        case MP_TRACE_RECORD_LOST:
          flush_replay_batch (self);
          if (rec->t_ns > self->last_t)
            self->last_t = rec->t_ns;
          ingest_events (self, NULL, 0, rec->count);
          break;
        case MP_TRACE_RECORD_SNAPSHOT:
          flush_replay_batch (self);
          ingest_snapshot (self, rec->snapshot);
          break;
        case MP_TRACE_RECORD_END:
        default:
          break;
        }
      _mp_trace_record_clear (rec);
      self->has_pending = FALSE;
      done++;
    }
  flush_replay_batch (self);
  return TRUE;
}

/**
 * mp_monitor_replay_to_end:
 * @self: a monitor replaying a recording
 * @error: return location for an error
 *
 * Applies the rest of the recording at once, whatever the replay speed, and emits
 * #MpMonitor::finished.
 *
 * Returns: %TRUE on success, %FALSE if the recording could not be read
 */
gboolean
mp_monitor_replay_to_end (MpMonitor *self, GError **error)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  g_return_val_if_fail (self->source == MP_MONITOR_SOURCE_TRACE, FALSE);

  while (!self->finished)
    if (!replay_step (self, G_MAXUINT64, G_MAXUINT, error))
      {
        set_finished (self);
        return FALSE;
      }
  return TRUE;
}

/**
 * mp_monitor_replay_until:
 * @self: a monitor replaying a recording
 * @t_ns: a data time (`CLOCK_MONOTONIC` of the recorded program, as mp_monitor_get_now_ns())
 * @error: return location for an error
 *
 * Applies the records of the recording up to @t_ns at once, whatever the replay speed, as a
 * scrubber moving forward does. A replay cannot go back: to show an earlier moment, replay the
 * file again with a new monitor. Reaching the end emits #MpMonitor::finished. If the monitor
 * is playing, playback continues from @t_ns.
 *
 * Returns: %TRUE on success, %FALSE if the recording could not be read
 */
gboolean
mp_monitor_replay_until (MpMonitor *self, guint64 t_ns, GError **error)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  g_return_val_if_fail (self->source == MP_MONITOR_SOURCE_TRACE, FALSE);

  if (!self->finished && !replay_step (self, t_ns, G_MAXUINT, error))
    {
      set_finished (self);
      return FALSE;
    }
  if (self->running && !self->finished)
    start_sources (self);   /* playback goes on from here */
  return TRUE;
}

static guint64
replay_target (MpMonitor *self)
{
  gint64 elapsed_us = g_get_monotonic_time () - self->replay_origin_us;

  if (self->speed <= 0)
    return G_MAXUINT64;
  return self->replay_origin_t + (guint64) ((double) MAX (elapsed_us, 0) * 1000.0 * self->speed);
}

static void
replay_reset_origin (MpMonitor *self)
{
  self->replay_origin_us = g_get_monotonic_time ();
  self->replay_origin_t = self->last_t;
}

/* ---- timers ------------------------------------------------------------------------------ */

static gboolean
on_event_tick (gpointer user_data)
{
  MpMonitor *self = user_data;

  if (self->source == MP_MONITOR_SOURCE_TRACE)
    {
      g_autoptr(GError) error = NULL;

      if (self->replay_origin_t == 0 && self->last_t == 0)
        {
          /* The first record sets the clock. */
          MpTraceRecord *rec = &self->pending;
          if (!self->has_pending && _mp_trace_file_reader_next (self->trace, rec, &error))
            self->has_pending = TRUE;
          if (self->has_pending)
            {
              self->last_t = rec->t_ns;
              replay_reset_origin (self);
            }
        }
      if (error == NULL)
        (void) replay_step (self, replay_target (self), REPLAY_MAX_PER_TICK, &error);
      if (error != NULL)
        {
          g_warning ("libmp: replay stopped: %s", error->message);
          set_finished (self);
        }
      return self->finished ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
    }
  drain (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sample_tick (gpointer user_data)
{
  MpMonitor *self = user_data;

  mp_monitor_sample (self);
  return self->finished ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static GSource *
add_timer (MpMonitor *self, guint msec, GSourceFunc func)
{
  GSource *source = msec ? g_timeout_source_new (msec) : g_idle_source_new ();

  g_source_set_callback (source, func, self, NULL);
  g_source_set_static_name (source, "[libmp] monitor");
  g_source_attach (source, self->context);
  return source;
}

static void
stop_sources (MpMonitor *self)
{
  if (self->event_source != NULL)
    {
      g_source_destroy (self->event_source);
      g_clear_pointer (&self->event_source, g_source_unref);
    }
  if (self->sample_source != NULL)
    {
      g_source_destroy (self->sample_source);
      g_clear_pointer (&self->sample_source, g_source_unref);
    }
}

static void
start_sources (MpMonitor *self)
{
  stop_sources (self);
  if (!self->running || self->finished)
    return;
  if (self->source == MP_MONITOR_SOURCE_TRACE)
    {
      replay_reset_origin (self);
      self->event_source = add_timer (self, self->speed <= 0 ? 0 : self->event_interval,
                                      on_event_tick);
      return;
    }
  self->event_source = add_timer (self, self->event_interval, on_event_tick);
  self->sample_source = add_timer (self, self->sample_interval, on_sample_tick);
}

/**
 * mp_monitor_start:
 * @self: a monitor
 *
 * Starts watching on the monitor's main context: the event and sample timers of a live
 * monitor, playback of a replay. The first sample is taken at once.
 */
void
mp_monitor_start (MpMonitor *self)
{
  g_return_if_fail (MP_IS_MONITOR (self));

  if (self->running)
    return;
  self->running = TRUE;
  if (self->source != MP_MONITOR_SOURCE_TRACE)
    mp_monitor_sample (self);
  start_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/**
 * mp_monitor_stop:
 * @self: a monitor
 *
 * Stops the timers (pauses a replay). The models keep their state.
 */
void
mp_monitor_stop (MpMonitor *self)
{
  g_return_if_fail (MP_IS_MONITOR (self));

  if (!self->running)
    return;
  self->running = FALSE;
  stop_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

gboolean
mp_monitor_is_running (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  return self->running;
}

/* ---- recording --------------------------------------------------------------------------- */

/**
 * mp_monitor_start_recording:
 * @self: a live monitor
 * @path: the file to write (replaced if it exists)
 * @error: return location for an error
 *
 * Records everything the monitor applies from now on (event batches, samples) to @path as JSON
 * Lines, starting with a sample taken right away. Replaying the file with
 * mp_monitor_new_for_trace_file() rebuilds the same models; mp_trace_file_export_chrome()
 * converts it for Perfetto.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_monitor_start_recording (MpMonitor *self, const char *path, GError **error)
{
  MpTraceHeader h = { 0 };

  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (self->source == MP_MONITOR_SOURCE_TRACE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "A replay cannot be recorded");
      return FALSE;
    }
  if (self->writer != NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "The monitor is already recording");
      return FALSE;
    }
  h.version = MP_TRACE_FILE_VERSION;
  h.program = self->program;
  h.source = (char *) (self->subprocess ? "launch" : self->source == MP_MONITOR_SOURCE_SELF ? "self" : "pid");
  h.root_pid = self->root_pid;
  h.trace_level = self->trace_level;
  h.start_realtime_ns = self->start_realtime_ns;
  h.start_monotonic_ns = self->start_monotonic_ns;
  self->writer = _mp_trace_file_writer_new (path, &h, error);
  if (self->writer == NULL)
    return FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECORDING]);
  mp_monitor_sample (self);
  return TRUE;
}

/**
 * mp_monitor_stop_recording:
 * @self: a monitor
 * @error: return location for an error
 *
 * Ends the recording: writes its end record and closes the file. Call mp_monitor_sample()
 * first to include the latest state.
 *
 * Returns: %TRUE if the whole recording was written
 */
gboolean
mp_monitor_stop_recording (MpMonitor *self, GError **error)
{
  MpTraceFileWriter *w;

  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);

  if (self->writer == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "The monitor is not recording");
      return FALSE;
    }
  w = g_steal_pointer (&self->writer);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECORDING]);
  return _mp_trace_file_writer_close (w, self->last_t, error);
}

gboolean
mp_monitor_is_recording (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  return self->writer != NULL;
}

/* ---- construction ------------------------------------------------------------------------ */

static MpMonitor *
monitor_new (MpMonitorSource source)
{
  MpMonitor *self = g_object_new (MP_TYPE_MONITOR, NULL);

  self->source = source;
  return self;
}

static gboolean
setup_live (MpMonitor *self, MpArena *arena, gboolean own, GError **error)
{
  const MpArenaHeader *h;
  char name[MP_ARENA_NAME_LEN];

  self->arena = arena;
  self->own_arena = own;
  if (!_mp_monitor_arena_init (&self->ma, arena, error))
    return FALSE;
  h = &self->ma.hdr;
  _mp_monitor_copy_name (name, h->program, sizeof name);
  self->program = g_strdup (name);
  self->root_pid = h->root_pid;
  self->start_realtime_ns = h->start_realtime_ns;
  self->start_monotonic_ns = h->start_monotonic_ns;
  self->trace_level = MIN (__atomic_load_n (&((const MpArenaHeader *) arena->base)->trace_level,
                                            __ATOMIC_RELAXED), MP_TRACE_VERBOSE);
  self->n_readers = h->procs_capacity;
  self->readers = g_new0 (MpRingReader, self->n_readers);
  for (guint i = 0; i < self->n_readers; i++)
    {
      MpRingReader *r = &self->readers[i];
      guint64 head;

      _mp_monitor_arena_ring_reader_init (&self->ma, i, r);
      head = __atomic_load_n (&r->ring->head, __ATOMIC_ACQUIRE);
      r->cursor = head > r->capacity ? head - r->capacity : 0;
    }
  self->sampler = _mp_proc_sampler_new ();
  return TRUE;
}

/**
 * mp_monitor_new_for_self:
 * @error: return location for an error
 *
 * A monitor of the calling program's own process tree.
 *
 * Returns: (transfer full): a new monitor, or %NULL if the program has no arena
 */
MpMonitor *
mp_monitor_new_for_self (GError **error)
{
  g_autoptr(MpMonitor) self = NULL;
  MpArena *arena = _mp_arena_ensure ();

  if (arena == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "This program has no libmp arena (mp_init() "
                   "was not called, or creating the arena failed)");
      return NULL;
    }
  self = monitor_new (MP_MONITOR_SOURCE_SELF);
  if (!setup_live (self, arena, TRUE, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * mp_monitor_new_for_pid:
 * @pid: any process of a running libmp program (usually its root)
 * @error: return location for an error
 *
 * Attaches to another libmp program: maps its arena read-only through `/proc/PID/fd`. The
 * program does not need to cooperate, so this works when it is deadlocked or stopped. When the
 * whole program has exited, the monitor emits #MpMonitor::finished and keeps its last state.
 *
 * Returns: (transfer full): a new monitor, or %NULL with @error set (no such process, not a
 *   libmp program, permission denied, incompatible or corrupt arena)
 */
MpMonitor *
mp_monitor_new_for_pid (GPid pid, GError **error)
{
  g_autoptr(MpMonitor) self = NULL;
  MpArena *arena = _mp_monitor_map_arena (pid, error);

  if (arena == NULL)
    return NULL;
  self = monitor_new (MP_MONITOR_SOURCE_PID);
  if (!setup_live (self, arena, FALSE, error))
    return NULL;
  if (self->root_pid <= 0)
    self->root_pid = pid;
  return g_steal_pointer (&self);
}

/**
 * mp_monitor_new_for_trace_file:
 * @path: a recording
 * @error: return location for an error
 *
 * A monitor that replays a recording into the same models a live monitor has. The whole file
 * is checked first: a truncated, corrupt or other-version recording gives an error here.
 * mp_monitor_start() plays it at #MpMonitor:replay-speed; mp_monitor_replay_to_end() applies
 * it at once.
 *
 * Returns: (transfer full): a new monitor, or %NULL with @error set
 */
MpMonitor *
mp_monitor_new_for_trace_file (const char *path, GError **error)
{
  g_autoptr(MpMonitor) self = NULL;
  g_autoptr(MpTraceFileReader) reader = NULL;
  const MpTraceHeader *h;

  g_return_val_if_fail (path != NULL, NULL);

  reader = _mp_trace_file_reader_new_for_path (path, error);
  if (reader == NULL || !_mp_trace_file_reader_validate (reader, error))
    return NULL;
  h = _mp_trace_file_reader_get_header (reader);
  self = monitor_new (MP_MONITOR_SOURCE_TRACE);
  self->program = g_strdup (h->program);
  self->root_pid = h->root_pid;
  self->start_realtime_ns = h->start_realtime_ns;
  self->start_monotonic_ns = h->start_monotonic_ns;
  self->trace_level = h->trace_level;
  self->trace = g_steal_pointer (&reader);
  return g_steal_pointer (&self);
}

static void
subprocess_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  MpMonitor *self;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL))
    return;   /* cancelled: the monitor is gone */
  self = MP_MONITOR (user_data);
  /* The arena is still mapped: take what the program left. */
  drain (self);
  {
    /* Nobody writes the root's exit into the arena, but we reaped it: record it as an event
     * of pid 0, the monitor. */
    GSubprocess *sp = G_SUBPROCESS (source);
    MpTraceEvent ev = { .timestamp_ns = _mp_monotonic_ns (), .pid = 0,
                   .type = MP_EVENT_PROCESS_EXITED, .object = 0, .a = self->root_pid,
                   .b = g_subprocess_get_if_signaled (sp) ? -g_subprocess_get_term_sig (sp)
                                                          : g_subprocess_get_exit_status (sp) };
    ingest_events (self, &ev, 1, 0);
  }
  mp_monitor_sample (self);
  set_finished (self);
}

static gboolean
arena_visible (GPid pid)
{
  int fd = _mp_monitor_open_arena_fd (pid, NULL);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

/**
 * mp_monitor_launch:
 * @argv: (array zero-terminated=1): the program to run and its arguments
 * @timeout_us: how long to wait for the program to create its arena (microseconds;
 *   %MP_TIMEOUT_INFINITE for no limit)
 * @error: return location for an error
 *
 * Starts a libmp program (inheriting stdin, stdout and stderr) and attaches to it as soon as
 * its arena exists (its mp_init() creates it), so the monitor sees it from its first process.
 * When the program exits, the monitor takes a last sample and emits #MpMonitor::finished.
 * A program that exits or does not create an arena in time gives an error (and is killed in
 * the second case).
 *
 * Returns: (transfer full): a monitor attached to the program, or %NULL with @error set
 */
MpMonitor *
mp_monitor_launch (const char * const *argv, gint64 timeout_us, GError **error)
{
  g_autoptr(GSubprocess) sp = NULL;
  g_autoptr(MpMonitor) self = NULL;
  gint64 deadline;
  gulong delay = 500;
  GPid pid;
  const char *id;

  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);

  sp = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, error);
  if (sp == NULL)
    return NULL;
  id = g_subprocess_get_identifier (sp);
  pid = id ? atoi (id) : 0;
  deadline = timeout_us < 0 ? G_MAXINT64 : g_get_monotonic_time () + timeout_us;

  /* Polling is the only way: the arena appears inside the program's mp_init(). */
  for (;;)
    {
      if (g_subprocess_get_identifier (sp) == NULL || !_mp_pid_is_alive (pid))
        {
          g_set_error (error, MP_ERROR, MP_ERROR_PROCESS,
                       "%s exited before a monitor could attach to it", argv[0]);
          return NULL;
        }
      if (arena_visible (pid))
        break;
      if (g_get_monotonic_time () >= deadline)
        {
          g_subprocess_force_exit (sp);
          g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT,
                       "%s did not create a libmp arena in time (is it a libmp program that "
                       "calls mp_init()?)", argv[0]);
          return NULL;
        }
      g_usleep (delay);
      delay = MIN (delay * 2, 10000);
    }

  self = mp_monitor_new_for_pid (pid, error);
  if (self == NULL)
    {
      g_subprocess_force_exit (sp);
      return NULL;
    }
  self->subprocess = g_steal_pointer (&sp);
  self->cancellable = g_cancellable_new ();
  g_subprocess_wait_async (self->subprocess, self->cancellable, subprocess_exited, self);
  return g_steal_pointer (&self);
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
mp_monitor_dispose (GObject *object)
{
  MpMonitor *self = MP_MONITOR (object);

  stop_sources (self);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  if (self->writer != NULL)
    {
      (void) _mp_trace_file_writer_close (self->writer, self->last_t, NULL);
      self->writer = NULL;
    }
  G_OBJECT_CLASS (mp_monitor_parent_class)->dispose (object);
}

static void
mp_monitor_finalize (GObject *object)
{
  MpMonitor *self = MP_MONITOR (object);

  _mp_monitor_models_free (self->models);
  if (!self->own_arena)
    _mp_arena_unmap (self->arena);
  g_free (self->readers);
  _mp_proc_sampler_free (self->sampler);
  g_clear_object (&self->subprocess);
  g_clear_object (&self->cancellable);
  if (self->has_pending)
    _mp_trace_record_clear (&self->pending);
  _mp_trace_file_reader_free (self->trace);
  g_free (self->program);
  g_free (self->buf);
  g_free (self->tmp);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (mp_monitor_parent_class)->finalize (object);
}

static void
mp_monitor_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MpMonitor *self = MP_MONITOR (object);
  MpMonitorModelConfig *cfg = _mp_monitor_models_config (self->models);

  switch (prop_id)
    {
    case PROP_SOURCE: g_value_set_enum (value, self->source); break;
    case PROP_PID: g_value_set_int (value, self->root_pid); break;
    case PROP_PROGRAM_NAME: g_value_set_string (value, self->program); break;
    case PROP_START_TIME: g_value_set_int64 (value, mp_monitor_get_start_time (self)); break;
    case PROP_TRACE_LEVEL: g_value_set_uint (value, self->trace_level); break;
    case PROP_EVENT_INTERVAL: g_value_set_uint (value, self->event_interval); break;
    case PROP_SAMPLE_INTERVAL: g_value_set_uint (value, self->sample_interval); break;
    case PROP_REPLAY_SPEED: g_value_set_double (value, self->speed); break;
    case PROP_STUCK_FACTOR: g_value_set_double (value, cfg->stuck_factor); break;
    case PROP_STUCK_MIN_MS: g_value_set_uint (value, (guint) (cfg->stuck_min_ns / 1000000)); break;
    case PROP_KEEP_EXITED_MS: g_value_set_uint (value, (guint) (cfg->keep_exited_ns / 1000000)); break;
    case PROP_RUNNING: g_value_set_boolean (value, self->running); break;
    case PROP_FINISHED: g_value_set_boolean (value, self->finished); break;
    case PROP_RECORDING: g_value_set_boolean (value, self->writer != NULL); break;
    case PROP_N_EVENTS: g_value_set_uint64 (value, self->n_events); break;
    case PROP_N_LOST: g_value_set_uint64 (value, self->n_lost); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mp_monitor_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MpMonitor *self = MP_MONITOR (object);

  switch (prop_id)
    {
    case PROP_EVENT_INTERVAL: mp_monitor_set_event_interval (self, g_value_get_uint (value)); break;
    case PROP_SAMPLE_INTERVAL: mp_monitor_set_sample_interval (self, g_value_get_uint (value)); break;
    case PROP_REPLAY_SPEED: mp_monitor_set_replay_speed (self, g_value_get_double (value)); break;
    case PROP_STUCK_FACTOR: mp_monitor_set_stuck_factor (self, g_value_get_double (value)); break;
    case PROP_STUCK_MIN_MS: mp_monitor_set_stuck_min_ms (self, g_value_get_uint (value)); break;
    case PROP_KEEP_EXITED_MS: mp_monitor_set_keep_exited_ms (self, g_value_get_uint (value)); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mp_monitor_class_init (MpMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = mp_monitor_dispose;
  object_class->finalize = mp_monitor_finalize;
  object_class->get_property = mp_monitor_get_property;
  object_class->set_property = mp_monitor_set_property;

  properties[PROP_SOURCE] =
    g_param_spec_enum ("source", NULL, "Where events come from", MP_TYPE_MONITOR_SOURCE,
                       MP_MONITOR_SOURCE_SELF, ro);
  properties[PROP_PID] =
    g_param_spec_int ("pid", NULL, "The watched program's root process", 0, G_MAXINT, 0, ro);
  properties[PROP_PROGRAM_NAME] =
    g_param_spec_string ("program-name", NULL, "The watched program's name", NULL, ro);
  properties[PROP_START_TIME] =
    g_param_spec_int64 ("start-time", NULL, "When the program started, µs since the epoch", 0,
                        G_MAXINT64, 0, ro);
  properties[PROP_TRACE_LEVEL] =
    g_param_spec_uint ("trace-level", NULL, "The program's trace level (MpTraceLevel)", 0,
                       MP_TRACE_VERBOSE, MP_TRACE_NORMAL, ro);
  properties[PROP_EVENT_INTERVAL] =
    g_param_spec_uint ("event-interval", NULL, "Milliseconds between two drains of the event "
                       "rings (and replay ticks)", 1, 60000, 50, rw);
  properties[PROP_SAMPLE_INTERVAL] =
    g_param_spec_uint ("sample-interval", NULL, "Milliseconds between two samples of stats and "
                       "/proc (rates are computed over it)", 1, 600000, 500, rw);
  properties[PROP_REPLAY_SPEED] =
    g_param_spec_double ("replay-speed", NULL, "Replay speed: 1 = real time, 0 = as fast as "
                         "possible", 0, 1e6, 1.0, rw);
  properties[PROP_STUCK_FACTOR] =
    g_param_spec_double ("stuck-factor", NULL, "A task running this many times its pool's "
                         "median task time raises a stuck-worker alert", 1.0, 1e9, 10.0, rw);
  properties[PROP_STUCK_MIN_MS] =
    g_param_spec_uint ("stuck-min-ms", NULL, "…and running at least this long", 0, G_MAXUINT,
                       1000, rw);
  properties[PROP_KEEP_EXITED_MS] =
    g_param_spec_uint ("keep-exited-ms", NULL, "How long exited processes and destroyed objects "
                       "stay in the models", 0, G_MAXUINT, 60000, rw);
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, "Whether the timers run", FALSE, ro);
  properties[PROP_FINISHED] =
    g_param_spec_boolean ("finished", NULL, "The program has exited (or the replay ended)",
                          FALSE, ro);
  properties[PROP_RECORDING] =
    g_param_spec_boolean ("recording", NULL, "Whether a recording is being written", FALSE, ro);
  properties[PROP_N_EVENTS] =
    g_param_spec_uint64 ("n-events", NULL, "Events delivered so far", 0, G_MAXUINT64, 0, ro);
  properties[PROP_N_LOST] =
    g_param_spec_uint64 ("n-lost", NULL, "Events overwritten before they could be read", 0,
                         G_MAXUINT64, 0, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MpMonitor::events:
   * @monitor: the monitor
   * @events: (array length=n_events) (type gpointer): the batch, a `const MpTraceEvent *`
   * @n_events: its length
   * @lost: events overwritten in the rings before this batch could read them
   *
   * A batch of events, already applied to the models. Events of one process are in the order
   * it emitted them; the batch is sorted by time. The array is valid during the emission only.
   */
  signals[SIGNAL_EVENTS] =
    g_signal_new ("events", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_POINTER, G_TYPE_UINT, G_TYPE_UINT64);
  /**
   * MpMonitor::updated:
   * @monitor: the monitor
   *
   * A sample was applied: rates, CPU, histories and alerts are new.
   */
  signals[SIGNAL_UPDATED] =
    g_signal_new ("updated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  /**
   * MpMonitor::alert-raised:
   * @monitor: the monitor
   * @alert: the new alert (also in mp_monitor_get_alerts())
   *
   * A deadlock, stuck worker or leaked segment was detected.
   */
  signals[SIGNAL_ALERT_RAISED] =
    g_signal_new ("alert-raised", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, MP_TYPE_MONITOR_ALERT);
  /**
   * MpMonitor::finished:
   * @monitor: the monitor
   *
   * The watched program has exited (every process is gone), or the replay reached its end. The
   * models keep their last state.
   */
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
mp_monitor_init (MpMonitor *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->models = _mp_monitor_models_new (on_alert, self);
  self->event_interval = 50;
  self->sample_interval = 500;
  self->speed = 1.0;
  self->buf = g_new (MpTraceEvent, DRAIN_CAPACITY);
  self->tmp = g_new (MpTraceEvent, DRAIN_CAPACITY);
}

MpMonitorModels *
_mp_monitor_get_models (MpMonitor *self)
{
  return self->models;
}

/* ---- accessors --------------------------------------------------------------------------- */

MpMonitorSource
mp_monitor_get_source (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), MP_MONITOR_SOURCE_SELF);
  return self->source;
}

GPid
mp_monitor_get_pid (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->root_pid;
}

const char *
mp_monitor_get_program_name (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return self->program;
}

/**
 * mp_monitor_get_start_time:
 * @self: a monitor
 *
 * Returns: when the program started, in µs since the Unix epoch (for g_date_time_new_from_unix_utc()
 *   divide by 10⁶)
 */
gint64
mp_monitor_get_start_time (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return (gint64) (self->start_realtime_ns / 1000);
}

/**
 * mp_monitor_get_start_monotonic_ns:
 * @self: a monitor
 *
 * Returns: the program's start on the `CLOCK_MONOTONIC` scale of event and sample times; a time
 *   t happened at start_time + (t − this) / 1000 µs
 */
guint64
mp_monitor_get_start_monotonic_ns (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->start_monotonic_ns;
}

/**
 * mp_monitor_get_now_ns:
 * @self: a monitor
 *
 * Returns: the time of the newest event or sample applied, on the `CLOCK_MONOTONIC` scale (the
 *   "now" of a replay)
 */
guint64
mp_monitor_get_now_ns (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return _mp_monitor_models_get_now (self->models);
}

MpTraceLevel
mp_monitor_get_trace_level (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), MP_TRACE_OFF);
  return (MpTraceLevel) self->trace_level;
}

guint64
mp_monitor_get_n_events (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->n_events;
}

guint64
mp_monitor_get_n_lost (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->n_lost;
}

gboolean
mp_monitor_get_finished (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), FALSE);
  return self->finished;
}

/**
 * mp_monitor_get_subprocess:
 * @self: a monitor
 *
 * Returns: (transfer none) (nullable): the program mp_monitor_launch() started
 */
GSubprocess *
mp_monitor_get_subprocess (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return self->subprocess;
}

guint
mp_monitor_get_event_interval (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->event_interval;
}

void
mp_monitor_set_event_interval (MpMonitor *self, guint msec)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  msec = CLAMP (msec, 1, 60000);
  if (self->event_interval == msec)
    return;
  self->event_interval = msec;
  start_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVENT_INTERVAL]);
}

guint
mp_monitor_get_sample_interval (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->sample_interval;
}

void
mp_monitor_set_sample_interval (MpMonitor *self, guint msec)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  msec = CLAMP (msec, 1, 600000);
  if (self->sample_interval == msec)
    return;
  self->sample_interval = msec;
  start_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SAMPLE_INTERVAL]);
}

double
mp_monitor_get_replay_speed (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return self->speed;
}

void
mp_monitor_set_replay_speed (MpMonitor *self, double speed)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  speed = CLAMP (speed, 0, 1e6);
  if (self->speed == speed)
    return;
  self->speed = speed;
  if (self->source == MP_MONITOR_SOURCE_TRACE && self->running)
    start_sources (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REPLAY_SPEED]);
}

double
mp_monitor_get_stuck_factor (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return _mp_monitor_models_config (self->models)->stuck_factor;
}

void
mp_monitor_set_stuck_factor (MpMonitor *self, double factor)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  _mp_monitor_models_config (self->models)->stuck_factor = CLAMP (factor, 1.0, 1e9);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STUCK_FACTOR]);
}

guint
mp_monitor_get_stuck_min_ms (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return (guint) (_mp_monitor_models_config (self->models)->stuck_min_ns / 1000000);
}

void
mp_monitor_set_stuck_min_ms (MpMonitor *self, guint msec)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  _mp_monitor_models_config (self->models)->stuck_min_ns = (guint64) msec * 1000000;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STUCK_MIN_MS]);
}

guint
mp_monitor_get_keep_exited_ms (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), 0);
  return (guint) (_mp_monitor_models_config (self->models)->keep_exited_ns / 1000000);
}

void
mp_monitor_set_keep_exited_ms (MpMonitor *self, guint msec)
{
  g_return_if_fail (MP_IS_MONITOR (self));
  _mp_monitor_models_config (self->models)->keep_exited_ns = (guint64) msec * 1000000;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEP_EXITED_MS]);
}

/**
 * mp_monitor_get_processes:
 * @self: a monitor
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorProcess, every process in the order it
 *   was first seen; exited ones stay for #MpMonitor:keep-exited-ms
 */
GListModel *
mp_monitor_get_processes (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_processes (self->models);
}

/**
 * mp_monitor_get_process_roots:
 * @self: a monitor
 *
 * The top of the process tree (the main process, and processes whose parent is unknown); each
 * item's mp_monitor_process_get_children() has the next level, for a #GtkTreeListModel.
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorProcess
 */
GListModel *
mp_monitor_get_process_roots (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_roots (self->models);
}

/**
 * mp_monitor_get_pools:
 * @self: a monitor
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorPool
 */
GListModel *
mp_monitor_get_pools (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_pools (self->models);
}

/**
 * mp_monitor_get_queues:
 * @self: a monitor
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorQueue
 */
GListModel *
mp_monitor_get_queues (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_queues (self->models);
}

/**
 * mp_monitor_get_locks:
 * @self: a monitor
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorLock (locks, rlocks, semaphores, events,
 *   conditions, barriers)
 */
GListModel *
mp_monitor_get_locks (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_locks (self->models);
}

/**
 * mp_monitor_get_segments:
 * @self: a monitor
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorSegment
 */
GListModel *
mp_monitor_get_segments (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_segments (self->models);
}

/**
 * mp_monitor_get_alerts:
 * @self: a monitor
 *
 * The alerts that hold now; an alert leaves the list when its condition clears.
 *
 * Returns: (transfer none): a #GListModel of #MpMonitorAlert
 */
GListModel *
mp_monitor_get_alerts (MpMonitor *self)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_get_alerts (self->models);
}

/**
 * mp_monitor_lookup_process:
 * @self: a monitor
 * @pid: a pid
 *
 * Returns: (transfer none) (nullable): the process with that pid
 */
MpMonitorProcess *
mp_monitor_lookup_process (MpMonitor *self, GPid pid)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_lookup_process (self->models, pid);
}

/**
 * mp_monitor_lookup_object_label:
 * @self: a monitor
 * @object_id: an arena object id (as events and #MpMonitorProcess:blocked-on carry)
 *
 * Returns: (transfer none) (nullable): the object's label
 */
const char *
mp_monitor_lookup_object_label (MpMonitor *self, guint64 object_id)
{
  g_return_val_if_fail (MP_IS_MONITOR (self), NULL);
  return _mp_monitor_models_lookup_label (self->models, object_id);
}
