/* mpv-window.c: mpviewer's main window: the monitor it shows, the pages, the replay scrubber
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The window owns one MpMonitor at a time and hands it to every page. Replacing it (attach,
 * launch, open, a scrub backwards) disconnects the old one first; a program the window
 * launched is sent SIGTERM when the window stops watching it (the monitor's GSubprocess reaps
 * it), so closing the viewer does not leave demos running.
 *
 * Per event batch the UI thread only appends the batch to the event log (a memcpy into a
 * ring); everything else refreshes on timers: each page at most every MPV_PAGE_REFRESH_MS, the
 * header and the scrubber every TICK_MS while something plays.
 *
 * A replay opens at its end (the whole story, paused). The scrubber moves forward by applying
 * more records (mp_monitor_replay_until) and backward by replaying the file into a new monitor
 * up to the chosen time, since models only move forward.
 */

#include <math.h>
#include <signal.h>

#include "mpv-demos.h"
#include "mpv-format.h"
#include "mpv-page.h"
#include "mpv-window-private.h"

#define TICK_MS 100
#define SEEK_DELAY_MS 60

enum
{
  PROP_0,
  PROP_PAUSED,
  PROP_TIME_WINDOW,
  PROP_SLOWMO_MS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MpvWindow, mpv_window, GTK_TYPE_APPLICATION_WINDOW)

static const char *const page_names[] = {
  "overview", "processes", "pools", "queues", "locks", "segments", "events",
};

static MpvPage *
page_at (MpvWindow *self, guint i)
{
  return MPV_PAGE (gtk_stack_get_child_by_name (self->pages, page_names[i]));
}

MpvWindow *
mpv_window_new (MpvApplication *app)
{
  return g_object_new (MPV_TYPE_WINDOW, "application", app, NULL);
}

MpMonitor *
mpv_window_get_monitor (MpvWindow *self)
{
  g_return_val_if_fail (MPV_IS_WINDOW (self), NULL);
  return self->monitor;
}

GtkWidget *
mpv_window_get_page (MpvWindow *self, const char *name)
{
  g_return_val_if_fail (MPV_IS_WINDOW (self), NULL);
  return gtk_stack_get_child_by_name (self->pages, name);
}

void
mpv_window_show_page (MpvWindow *self, const char *name)
{
  g_return_if_fail (MPV_IS_WINDOW (self));
  if (gtk_stack_get_child_by_name (self->pages, name) != NULL)
    gtk_stack_set_visible_child_name (self->pages, name);
}

const char *
mpv_window_get_banner (MpvWindow *self)
{
  g_return_val_if_fail (MPV_IS_WINDOW (self), NULL);
  return self->banner_text;
}

GPtrArray *
mpv_window_get_demos (MpvWindow *self)
{
  g_return_val_if_fail (MPV_IS_WINDOW (self), NULL);
  return self->demos;
}

void
mpv_window_flush (MpvWindow *self)
{
  g_return_if_fail (MPV_IS_WINDOW (self));
  for (guint i = 0; i < G_N_ELEMENTS (page_names); i++)
    mpv_page_flush_refresh (page_at (self, i));
  _mpv_window_update_state (self);
}

void
_mpv_window_set_banner (MpvWindow *self, const char *text, gboolean error)
{
  g_free (self->banner_text);
  self->banner_text = g_strdup (text);
  gtk_label_set_text (self->banner_label, text ? text : "");
  if (error)
    gtk_widget_add_css_class (self->banner, "error");
  else
    gtk_widget_remove_css_class (self->banner, "error");
  gtk_revealer_set_reveal_child (self->banner_revealer, text != NULL);
}

/* ---- state shown in the header, the sidebar and the replay bar --------------------------- */

static void
update_scrubber (MpvWindow *self)
{
  double length, pos;
  g_autofree char *text = NULL;

  if (self->source != MPV_SOURCE_REPLAY || self->monitor == NULL)
    return;
  if (mp_monitor_is_running (self->monitor))
    self->replay_pos_ns = MAX (mp_monitor_get_now_ns (self->monitor), self->replay_start_ns);
  length = self->replay_end_ns > self->replay_start_ns
             ? (double) (self->replay_end_ns - self->replay_start_ns) / 1e9 : 0;
  pos = self->replay_pos_ns > self->replay_start_ns
          ? (double) (self->replay_pos_ns - self->replay_start_ns) / 1e9 : 0;
  self->updating_scrubber = TRUE;
  gtk_adjustment_configure (self->scrubber_adjustment, MIN (pos, length), 0, MAX (length, 0.001),
                            MAX (length / 100, 0.01), MAX (length / 10, 0.1), 0);
  self->updating_scrubber = FALSE;
  text = g_strdup_printf ("%.2f s / %.2f s", MIN (pos, length), length);
  gtk_label_set_text (self->position_label, text);
}

static void
update_attention (MpvWindow *self)
{
  gboolean deadlock = FALSE, stuck = FALSE, leak = FALSE;

  if (self->monitor != NULL)
    {
      GListModel *alerts = mp_monitor_get_alerts (self->monitor);
      guint n = g_list_model_get_n_items (alerts);

      for (guint i = 0; i < n; i++)
        {
          g_autoptr(MpMonitorAlert) a = g_list_model_get_item (alerts, i);
          switch (mp_monitor_alert_get_kind (a))
            {
            case MP_MONITOR_ALERT_DEADLOCK: deadlock = TRUE; break;
            case MP_MONITOR_ALERT_STUCK_WORKER: stuck = TRUE; break;
            case MP_MONITOR_ALERT_LEAKED_SEGMENT: leak = TRUE; break;
            default: break;
            }
        }
    }
  gtk_stack_page_set_needs_attention (self->locks_stack_page, deadlock);
  gtk_stack_page_set_needs_attention (self->pools_stack_page, stuck);
  gtk_stack_page_set_needs_attention (self->segments_stack_page, leak);
}

void
_mpv_window_update_state (MpvWindow *self)
{
  MpMonitor *m = self->monitor;
  gboolean live = m != NULL && self->source != MPV_SOURCE_REPLAY;
  gboolean recording = m != NULL && mp_monitor_is_recording (m);
  g_autofree char *label = NULL;
  g_autofree char *title = NULL;

  if (m == NULL)
    label = g_strdup ("Choose a program");
  else if (self->source == MPV_SOURCE_REPLAY)
    {
      g_autofree char *base = g_path_get_basename (self->recording ? self->recording : "");
      label = g_strdup_printf ("%s — %s", mp_monitor_get_program_name (m), base);
    }
  else
    label = g_strdup_printf ("%s (pid %d)", mp_monitor_get_program_name (m),
                             (int) mp_monitor_get_pid (m));
  gtk_label_set_text (self->program_label, label);
  title = m ? g_strdup_printf ("%s — mpviewer", label) : g_strdup ("mpviewer");
  gtk_window_set_title (GTK_WINDOW (self), title);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.pause",
                                 m != NULL && !(live && mp_monitor_get_finished (m)));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.record",
                                 recording || (live && !mp_monitor_get_finished (m)));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.export-chrome",
                                 self->recording != NULL && !recording);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.play", self->source == MPV_SOURCE_REPLAY);

  if (recording)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->record_button), "destructive-action");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->record_button), "Stop recording (Ctrl+R)");
      gtk_button_set_icon_name (self->record_button, "media-playback-stop-symbolic");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->record_button), "destructive-action");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->record_button), "Record to a file (Ctrl+R)");
      gtk_button_set_icon_name (self->record_button, "media-record-symbolic");
    }
  gtk_button_set_icon_name (self->play_button,
                            _mpv_window_get_paused (self) ? "media-playback-start-symbolic"
                                                          : "media-playback-pause-symbolic");
  update_scrubber (self);
  update_attention (self);
}

static gboolean
tick (gpointer user_data)
{
  MpvWindow *self = user_data;

  _mpv_window_update_state (self);
  if (self->monitor == NULL || !mp_monitor_is_running (self->monitor) ||
      mp_monitor_get_finished (self->monitor))
    {
      self->tick_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
ensure_tick (MpvWindow *self)
{
  if (self->tick_id == 0 && self->monitor != NULL && mp_monitor_is_running (self->monitor))
    self->tick_id = g_timeout_add (TICK_MS, tick, self);
}

/* ---- the monitor --------------------------------------------------------------------------- */

static void
on_events (MpMonitor *m, gpointer events, guint n, guint64 lost, MpvWindow *self)
{
  mpv_event_log_append (self->log, events, n);
  if (self->source == MPV_SOURCE_REPLAY && self->replay_start_ns == 0)
    self->replay_start_ns = mp_monitor_get_now_ns (m);
}

static void
on_updated (MpMonitor *m, MpvWindow *self)
{
  if (self->source == MPV_SOURCE_REPLAY && self->replay_start_ns == 0)
    self->replay_start_ns = mp_monitor_get_now_ns (m);
}

static void
on_running (MpMonitor *m, GParamSpec *pspec, MpvWindow *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  _mpv_window_update_state (self);
  ensure_tick (self);
}

static void
on_recording (MpMonitor *m, GParamSpec *pspec, MpvWindow *self)
{
  _mpv_window_update_state (self);
}

static void
on_alerts_changed (GListModel *alerts, guint position, guint removed, guint added, MpvWindow *self)
{
  update_attention (self);
}

static void
on_finished (MpMonitor *m, MpvWindow *self)
{
  MpMonitorProcess *root = mp_monitor_lookup_process (m, mp_monitor_get_pid (m));
  g_autofree char *text = NULL;

  if (self->writing != NULL)
    _mpv_window_stop_recording (self);
  if (self->source == MPV_SOURCE_LAUNCHED || self->source == MPV_SOURCE_ATTACHED)
    {
      g_autofree char *state = root ? mpv_format_process_state (root) : g_strdup ("exited");
      int code = root ? mp_monitor_process_get_exit_code (root) : 0;
      MpMonitorProcessState st = root ? mp_monitor_process_get_state (root) : MP_MONITOR_PROCESS_VANISHED;

      if (st == MP_MONITOR_PROCESS_EXITED)
        text = g_strdup_printf ("%s (pid %d) exited with code %d. The view keeps its last state.",
                                mp_monitor_get_program_name (m), (int) mp_monitor_get_pid (m), code);
      else if (st == MP_MONITOR_PROCESS_KILLED)
        text = g_strdup_printf ("%s (pid %d) was %s. The view keeps its last state.",
                                mp_monitor_get_program_name (m), (int) mp_monitor_get_pid (m), state);
      else
        text = g_strdup_printf ("%s (pid %d) has ended. The view keeps its last state.",
                                mp_monitor_get_program_name (m), (int) mp_monitor_get_pid (m));
      _mpv_window_set_banner (self, text, FALSE);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  _mpv_window_update_state (self);
}

static void
disconnect_monitor (MpvWindow *self)
{
  MpMonitor *m = self->monitor;
  GSubprocess *sp;

  if (m == NULL)
    return;
  g_clear_signal_handler (&self->events_id, m);
  g_clear_signal_handler (&self->updated_id, m);
  g_clear_signal_handler (&self->finished_id, m);
  g_clear_signal_handler (&self->running_id, m);
  g_clear_signal_handler (&self->recording_id, m);
  g_clear_signal_handler (&self->alerts_id, mp_monitor_get_alerts (m));
  if (mp_monitor_is_recording (m))
    _mpv_window_stop_recording (self);
  /* A program we launched does not outlive our watching it. */
  sp = mp_monitor_get_subprocess (m);
  if (self->source == MPV_SOURCE_LAUNCHED && sp != NULL && g_subprocess_get_identifier (sp) != NULL)
    g_subprocess_send_signal (sp, SIGTERM);
  mp_monitor_stop (m);
  g_clear_object (&self->monitor);
}

void
_mpv_window_set_monitor (MpvWindow *self, MpMonitor *monitor, MpvSourceKind source)
{
  disconnect_monitor (self);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  mpv_event_log_clear (self->log);

  self->source = monitor ? source : MPV_SOURCE_NONE;
  if (monitor != NULL)
    {
      self->monitor = g_object_ref (monitor);
      self->events_id = g_signal_connect (monitor, "events", G_CALLBACK (on_events), self);
      self->updated_id = g_signal_connect (monitor, "updated", G_CALLBACK (on_updated), self);
      self->finished_id = g_signal_connect (monitor, "finished", G_CALLBACK (on_finished), self);
      self->running_id = g_signal_connect (monitor, "notify::running", G_CALLBACK (on_running), self);
      self->recording_id = g_signal_connect (monitor, "notify::recording",
                                             G_CALLBACK (on_recording), self);
      self->alerts_id = g_signal_connect (mp_monitor_get_alerts (monitor), "items-changed",
                                          G_CALLBACK (on_alerts_changed), self);
    }
  for (guint i = 0; i < G_N_ELEMENTS (page_names); i++)
    mpv_page_set_monitor (page_at (self, i), monitor);
  if (source != MPV_SOURCE_LAUNCHED)
    mpv_overview_page_set_notes (self->overview_page, NULL, NULL);

  gtk_stack_set_visible_child_name (self->main_stack, monitor ? "monitor" : "welcome");
  gtk_action_bar_set_revealed (self->replay_bar, self->source == MPV_SOURCE_REPLAY);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  _mpv_window_update_state (self);
}

gboolean
mpv_window_attach (MpvWindow *self, GPid pid, GError **error)
{
  g_autoptr(MpMonitor) m = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);

  m = mp_monitor_new_for_pid (pid, &local);
  if (m == NULL)
    {
      g_autofree char *text = g_strdup_printf ("Cannot attach to %d: %s", (int) pid, local->message);
      _mpv_window_set_banner (self, text, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  _mpv_window_set_banner (self, NULL, FALSE);
  _mpv_window_set_monitor (self, m, MPV_SOURCE_ATTACHED);
  mp_monitor_start (m);
  return TRUE;
}

gboolean
mpv_window_launch (MpvWindow *self, const char * const *argv, GError **error)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  g_auto(GStrv) full = NULL;
  g_autoptr(MpMonitor) m = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, FALSE);

  /* Slow motion reaches the program through its environment: env(1) execs it in place, so
   * the launched pid is the program's. */
  if (self->slowmo_ms > 0)
    {
      g_autofree char *var = g_strdup_printf ("LIBMP_SLOWMO=%u", self->slowmo_ms);
      g_strv_builder_add (b, "env");
      g_strv_builder_add (b, var);
    }
  g_strv_builder_addv (b, (const char **) argv);
  full = g_strv_builder_end (b);

  /* Stop watching (and end) the previous program before starting the next. */
  _mpv_window_set_monitor (self, NULL, MPV_SOURCE_NONE);
  m = mp_monitor_launch ((const char * const *) full, 30 * G_USEC_PER_SEC, &local);
  if (m == NULL)
    {
      g_autofree char *text = g_strdup_printf ("Cannot launch %s: %s", argv[0], local->message);
      _mpv_window_set_banner (self, text, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (self->slowmo_ms > 0)
    {
      g_autofree char *text = g_strdup_printf ("Slow motion: LIBMP_SLOWMO=%u ms", self->slowmo_ms);
      _mpv_window_set_banner (self, text, FALSE);
    }
  else
    _mpv_window_set_banner (self, NULL, FALSE);
  _mpv_window_set_monitor (self, m, MPV_SOURCE_LAUNCHED);
  mp_monitor_start (m);
  return TRUE;
}

gboolean
mpv_window_launch_demo (MpvWindow *self, const char *demo_id, GError **error)
{
  const MpvDemo *demo;
  g_auto(GStrv) argv = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);

  demo = mpv_demos_lookup (self->demos, demo_id);
  if (demo == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "No demo “%s” here", demo_id);
      return FALSE;
    }
  argv = mpv_demo_dup_argv (demo);
  if (!mpv_window_launch (self, (const char * const *) argv, error))
    return FALSE;
  mpv_overview_page_set_notes (self->overview_page, demo->title, demo->description);
  mpv_window_show_page (self, demo->page ? demo->page : "overview");
  return TRUE;
}

static MpMonitor *
new_replay (MpvWindow *self, const char *path, GError **error)
{
  MpvApplication *app = MPV_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  MpMonitor *m = mp_monitor_new_for_trace_file (path, error);
  static const double speeds[] = { 0.25, 0.5, 1, 2, 5, 20 };
  guint sel = gtk_drop_down_get_selected (self->speed_dropdown);

  if (m == NULL)
    return NULL;
  mp_monitor_set_replay_speed (m, sel < G_N_ELEMENTS (speeds) ? speeds[sel]
                                  : app ? mpv_application_get_replay_speed (app) : 1.0);
  return m;
}

gboolean
mpv_window_open_recording (MpvWindow *self, const char *path, GError **error)
{
  g_autoptr(MpMonitor) m = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);

  m = new_replay (self, path, &local);
  if (m == NULL)
    {
      _mpv_window_set_banner (self, local->message, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_free (self->recording);
  self->recording = g_strdup (path);
  self->replay_start_ns = 0;
  _mpv_window_set_banner (self, NULL, FALSE);
  _mpv_window_set_monitor (self, m, MPV_SOURCE_REPLAY);

  /* Open at the end: the whole story, paused; the scrubber goes back. */
  if (!mp_monitor_replay_until (m, G_MAXUINT64, &local))
    {
      _mpv_window_set_banner (self, local->message, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  self->replay_end_ns = mp_monitor_get_now_ns (m);
  if (self->replay_start_ns == 0 || self->replay_start_ns > self->replay_end_ns)
    self->replay_start_ns = mp_monitor_get_start_monotonic_ns (m);
  self->replay_pos_ns = self->replay_end_ns;
  _mpv_window_update_state (self);
  return TRUE;
}

void
mpv_window_get_replay_range (MpvWindow *self, guint64 *start_ns, guint64 *end_ns)
{
  g_return_if_fail (MPV_IS_WINDOW (self));
  if (start_ns)
    *start_ns = self->replay_start_ns;
  if (end_ns)
    *end_ns = self->replay_end_ns;
}

gboolean
mpv_window_seek (MpvWindow *self, guint64 t_ns, GError **error)
{
  gboolean was_running;
  MpMonitor *m;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);
  if (self->source != MPV_SOURCE_REPLAY || self->monitor == NULL)
    return TRUE;

  t_ns = CLAMP (t_ns, self->replay_start_ns, self->replay_end_ns);
  was_running = !_mpv_window_get_paused (self);
  if (t_ns < mp_monitor_get_now_ns (self->monitor))
    {
      g_autoptr(MpMonitor) again = new_replay (self, self->recording, error);

      if (again == NULL)
        return FALSE;
      _mpv_window_set_monitor (self, again, MPV_SOURCE_REPLAY);
    }
  m = self->monitor;
  if (!mp_monitor_replay_until (m, t_ns, error))
    return FALSE;
  self->replay_pos_ns = t_ns;
  if (was_running && !mp_monitor_get_finished (m))
    mp_monitor_start (m);
  _mpv_window_update_state (self);
  return TRUE;
}

static gboolean
seek_timeout (gpointer user_data)
{
  MpvWindow *self = user_data;
  g_autoptr(GError) error = NULL;
  double v = gtk_adjustment_get_value (self->scrubber_adjustment);

  self->seek_id = 0;
  if (!mpv_window_seek (self, self->replay_start_ns + (guint64) (v * 1e9), &error))
    _mpv_window_set_banner (self, error->message, TRUE);
  return G_SOURCE_REMOVE;
}

static void
on_scrubber_changed (MpvWindow *self, GtkAdjustment *adj)
{
  if (self->updating_scrubber)
    return;
  /* Dragging emits many values: seek to where it rests. */
  g_clear_handle_id (&self->seek_id, g_source_remove);
  self->seek_id = g_timeout_add (SEEK_DELAY_MS, seek_timeout, self);
}

static void
on_speed_changed (MpvWindow *self, GParamSpec *pspec, GtkDropDown *dropdown)
{
  static const double speeds[] = { 0.25, 0.5, 1, 2, 5, 20 };
  guint sel = gtk_drop_down_get_selected (dropdown);
  gboolean running;

  if (self->monitor == NULL || self->source != MPV_SOURCE_REPLAY || sel >= G_N_ELEMENTS (speeds))
    return;
  running = mp_monitor_is_running (self->monitor);
  /* Restart the timers so the new speed counts from now. */
  mp_monitor_stop (self->monitor);
  mp_monitor_set_replay_speed (self->monitor, speeds[sel]);
  if (running)
    mp_monitor_start (self->monitor);
}

void
mpv_window_set_replay_speed (MpvWindow *self, double speed)
{
  static const double speeds[] = { 0.25, 0.5, 1, 2, 5, 20 };
  guint best = 2;

  g_return_if_fail (MPV_IS_WINDOW (self));
  for (guint i = 0; i < G_N_ELEMENTS (speeds); i++)
    if (fabs (speeds[i] - speed) < fabs (speeds[best] - speed))
      best = i;
  gtk_drop_down_set_selected (self->speed_dropdown, best);
}

gboolean
_mpv_window_get_paused (MpvWindow *self)
{
  /* A finished monitor still counts as "running" (its timers were wanted); nothing moves. */
  return self->monitor == NULL || !mp_monitor_is_running (self->monitor) ||
         mp_monitor_get_finished (self->monitor);
}

void
_mpv_window_set_paused (MpvWindow *self, gboolean paused)
{
  if (self->monitor == NULL || paused == _mpv_window_get_paused (self))
    return;
  if (paused)
    mp_monitor_stop (self->monitor);
  else if (self->source != MPV_SOURCE_REPLAY && mp_monitor_get_finished (self->monitor))
    return;   /* the program has ended: there is nothing to resume */
  else
    {
      /* Playing a replay that is at its end starts it over. */
      if (self->source == MPV_SOURCE_REPLAY && mp_monitor_get_finished (self->monitor))
        {
          g_autoptr(GError) error = NULL;

          if (!mpv_window_seek (self, self->replay_start_ns, &error))
            {
              _mpv_window_set_banner (self, error->message, TRUE);
              return;
            }
        }
      /* A monitor that finished keeps "running" set: stop first, so start() starts. */
      mp_monitor_stop (self->monitor);
      mp_monitor_start (self->monitor);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
}

static void
set_time_window (MpvWindow *self, guint seconds)
{
  g_autofree char *label = NULL;

  seconds = CLAMP (seconds, 5, 120);
  if (self->time_window == seconds)
    return;
  self->time_window = seconds;
  for (guint i = 0; i < G_N_ELEMENTS (page_names); i++)
    mpv_page_set_time_window (page_at (self, i), seconds);
  label = g_strdup_printf ("%u s", seconds);
  gtk_menu_button_set_label (self->window_button, label);
  if (self->settings != NULL)
    g_settings_set_uint (self->settings, "time-window", seconds);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIME_WINDOW]);
}

static void
set_slowmo (MpvWindow *self, guint ms)
{
  ms = MIN (ms, 5000);
  if (self->slowmo_ms == ms)
    return;
  self->slowmo_ms = ms;
  if (self->settings != NULL)
    g_settings_set_uint (self->settings, "slowmo-ms", ms);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SLOWMO_MS]);
}

/* ---- GObject ------------------------------------------------------------------------------- */

static gboolean
mpv_window_close_request (GtkWindow *window)
{
  MpvWindow *self = MPV_WINDOW (window);

  if (self->settings != NULL)
    {
      int width, height;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
      g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
    }
  /* Finishes a recording and ends a launched program. */
  _mpv_window_set_monitor (self, NULL, MPV_SOURCE_NONE);
  return GTK_WINDOW_CLASS (mpv_window_parent_class)->close_request (window);
}

static void
mpv_window_constructed (GObject *object)
{
  MpvWindow *self = MPV_WINDOW (object);
  GtkApplication *app;

  G_OBJECT_CLASS (mpv_window_parent_class)->constructed (object);

  app = gtk_window_get_application (GTK_WINDOW (self));
  if (MPV_IS_APPLICATION (app) && mpv_application_get_settings (MPV_APPLICATION (app)) != NULL)
    {
      GSettings *settings = mpv_application_get_settings (MPV_APPLICATION (app));

      gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (settings, "window-width"),
                                   g_settings_get_int (settings, "window-height"));
      if (g_settings_get_boolean (settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
      set_time_window (self, g_settings_get_uint (settings, "time-window"));
      set_slowmo (self, g_settings_get_uint (settings, "slowmo-ms"));
      /* Only now: the setters above would write the values back. */
      self->settings = g_object_ref (settings);
    }
}

static void
mpv_window_dispose (GObject *object)
{
  MpvWindow *self = MPV_WINDOW (object);

  g_clear_handle_id (&self->seek_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  disconnect_monitor (self);
  /* No gtk_widget_dispose_template() here: GtkWindow unparents its child and titlebar in its
   * own dispose, and would find them gone. */
  g_clear_object (&self->log);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->demos, g_ptr_array_unref);
  G_OBJECT_CLASS (mpv_window_parent_class)->dispose (object);
}

static void
mpv_window_finalize (GObject *object)
{
  MpvWindow *self = MPV_WINDOW (object);

  g_free (self->recording);
  g_free (self->writing);
  g_free (self->banner_text);
  G_OBJECT_CLASS (mpv_window_parent_class)->finalize (object);
}

static void
mpv_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MpvWindow *self = MPV_WINDOW (object);

  switch (prop_id)
    {
    case PROP_PAUSED:
      g_value_set_boolean (value, _mpv_window_get_paused (self));
      break;
    case PROP_TIME_WINDOW:
      g_value_set_uint (value, self->time_window);
      break;
    case PROP_SLOWMO_MS:
      g_value_set_uint (value, self->slowmo_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mpv_window_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MpvWindow *self = MPV_WINDOW (object);

  switch (prop_id)
    {
    case PROP_PAUSED:
      _mpv_window_set_paused (self, g_value_get_boolean (value));
      break;
    case PROP_TIME_WINDOW:
      set_time_window (self, g_value_get_uint (value));
      break;
    case PROP_SLOWMO_MS:
      set_slowmo (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
on_program_popover_show (MpvWindow *self, GtkPopover *popover)
{
  _mpv_window_refresh_programs (self);
}

static void
mpv_window_class_init (MpvWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->constructed = mpv_window_constructed;
  object_class->dispose = mpv_window_dispose;
  object_class->finalize = mpv_window_finalize;
  object_class->get_property = mpv_window_get_property;
  object_class->set_property = mpv_window_set_property;
  window_class->close_request = mpv_window_close_request;

  properties[PROP_PAUSED] = g_param_spec_boolean ("paused", NULL, NULL, TRUE, rw);
  properties[PROP_TIME_WINDOW] = g_param_spec_uint ("time-window", NULL, NULL, 5, 120, 60, rw);
  properties[PROP_SLOWMO_MS] = g_param_spec_uint ("slowmo-ms", NULL, NULL, 0, 5000, 0, rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (MPV_TYPE_OVERVIEW_PAGE);
  g_type_ensure (MPV_TYPE_PROCESSES_PAGE);
  g_type_ensure (MPV_TYPE_POOLS_PAGE);
  g_type_ensure (MPV_TYPE_QUEUES_PAGE);
  g_type_ensure (MPV_TYPE_LOCKS_PAGE);
  g_type_ensure (MPV_TYPE_SEGMENTS_PAGE);
  g_type_ensure (MPV_TYPE_EVENTS_PAGE);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/libmp/Viewer/ui/mpv-window.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, program_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, program_label);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, program_popover);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, popover_programs);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, pause_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, record_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, demos_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, popover_demos);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, window_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, banner_revealer);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, banner);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, banner_label);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, welcome_programs);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, welcome_demos_heading);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, welcome_demos);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, pages);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, pools_stack_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, locks_stack_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, segments_stack_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, overview_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, processes_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, pools_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, queues_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, locks_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, segments_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, events_page);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, replay_bar);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, play_button);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, position_label);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, scrubber);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, scrubber_adjustment);
  gtk_widget_class_bind_template_child (widget_class, MpvWindow, speed_dropdown);
  gtk_widget_class_bind_template_callback (widget_class, on_program_popover_show);
  gtk_widget_class_bind_template_callback (widget_class, on_scrubber_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_speed_changed);
  gtk_widget_class_bind_template_callback_full (widget_class, "on_program_activated",
                                                G_CALLBACK (_mpv_window_on_program_activated));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_demo_activated",
                                                G_CALLBACK (_mpv_window_on_demo_activated));

  _mpv_window_class_init_actions (widget_class);
}

static void
mpv_window_init (MpvWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->log = mpv_event_log_new (MPV_EVENT_LOG_DEFAULT_CAPACITY);
  mpv_events_page_set_log (self->events_page, self->log);
  self->time_window = 60;
  self->demos = mpv_demos_load ();
  _mpv_window_init_lists (self);
  _mpv_window_update_state (self);
}
