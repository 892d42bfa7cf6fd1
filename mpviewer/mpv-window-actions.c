/* mpv-window-actions.c: the main window's actions, dialogs and lists
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * File dialogs are GtkFileChooserNative (GtkFileDialog is 4.10); a dialog keeps itself alive
 * until it answers.
 */

#include <string.h>

#include "mpv-demos.h"
#include "mpv-window-private.h"

/* ---- lists: running programs and demos ---------------------------------------------------- */

static GtkWidget *
two_line_row (const char *title, const char *subtitle)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *t = gtk_label_new (title);

  gtk_widget_set_margin_start (box, 10);
  gtk_widget_set_margin_end (box, 10);
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_label_set_xalign (GTK_LABEL (t), 0);
  gtk_widget_add_css_class (t, "section-heading");
  gtk_box_append (GTK_BOX (box), t);
  if (subtitle != NULL && *subtitle != '\0')
    {
      GtkWidget *s = gtk_label_new (subtitle);

      gtk_label_set_xalign (GTK_LABEL (s), 0);
      gtk_label_set_wrap (GTK_LABEL (s), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (s), 50);
      gtk_widget_add_css_class (s, "dim-label");
      gtk_box_append (GTK_BOX (box), s);
    }
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  return row;
}

static void
clear_list (GtkListBox *box)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (box))) != NULL)
    gtk_list_box_remove (box, child);
}

static void
fill_programs (GtkListBox *box, GListModel *programs, const char *error)
{
  guint n = programs ? g_list_model_get_n_items (programs) : 0;

  clear_list (box);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProgram) p = g_list_model_get_item (programs, i);
      const char *perr = mp_monitor_program_get_error (p);
      g_autofree char *title = g_strdup_printf ("%s (pid %d)", mp_monitor_program_get_name (p),
                                                (int) mp_monitor_program_get_pid (p));
      g_autofree char *sub = perr ? g_strdup (perr)
                                  : g_strdup_printf ("%u processes",
                                                     mp_monitor_program_get_n_processes (p));
      GtkWidget *row = two_line_row (title, sub);

      g_object_set_data (G_OBJECT (row), "mpv-pid", GINT_TO_POINTER (mp_monitor_program_get_pid (p)));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), perr == NULL);
      gtk_widget_set_sensitive (row, perr == NULL);
      gtk_list_box_append (box, row);
    }
  if (n == 0)
    {
      GtkWidget *row = two_line_row (error ? "Cannot list programs" : "No libmp program is running",
                                     error ? error : "Start one, or launch a demo.");
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
      gtk_list_box_append (box, row);
    }
}

void
_mpv_window_refresh_programs (MpvWindow *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) programs = mp_monitor_list_programs (&error);

  fill_programs (self->popover_programs, programs, error ? error->message : NULL);
  fill_programs (self->welcome_programs, programs, error ? error->message : NULL);
}

static void
fill_demos (GtkListBox *box, GPtrArray *demos)
{
  clear_list (box);
  for (guint i = 0; i < demos->len; i++)
    {
      const MpvDemo *demo = g_ptr_array_index (demos, i);
      GtkWidget *row = two_line_row (demo->title, demo->summary);

      g_object_set_data_full (G_OBJECT (row), "mpv-demo", g_strdup (demo->id), g_free);
      gtk_list_box_append (box, row);
    }
}

void
_mpv_window_init_lists (MpvWindow *self)
{
  gboolean any = self->demos->len > 0;

  fill_demos (self->popover_demos, self->demos);
  fill_demos (self->welcome_demos, self->demos);
  /* No demo found: no Demos menu (an installation without the examples). */
  gtk_widget_set_visible (GTK_WIDGET (self->demos_button), any);
  gtk_widget_set_visible (self->welcome_demos_heading, any);
  gtk_widget_set_visible (GTK_WIDGET (self->welcome_demos), any);
  _mpv_window_refresh_programs (self);
}

void
_mpv_window_on_program_activated (GtkListBox *box, GtkListBoxRow *row, MpvWindow *self)
{
  GPid pid = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (row), "mpv-pid"));

  gtk_popover_popdown (self->program_popover);
  if (pid > 0)
    gtk_widget_activate_action (GTK_WIDGET (self), "win.attach", "i", (gint32) pid);
}

void
_mpv_window_on_demo_activated (GtkListBox *box, GtkListBoxRow *row, MpvWindow *self)
{
  const char *id = g_object_get_data (G_OBJECT (row), "mpv-demo");
  GtkWidget *popover = gtk_widget_get_ancestor (GTK_WIDGET (box), GTK_TYPE_POPOVER);

  if (popover != NULL)
    gtk_popover_popdown (GTK_POPOVER (popover));
  if (id != NULL)
    gtk_widget_activate_action (GTK_WIDGET (self), "win.launch-demo", "s", id);
}

/* ---- simple actions ------------------------------------------------------------------------ */

static void
action_attach (GtkWidget *widget, const char *name, GVariant *param)
{
  (void) mpv_window_attach (MPV_WINDOW (widget), g_variant_get_int32 (param), NULL);
}

static void
action_launch_demo (GtkWidget *widget, const char *name, GVariant *param)
{
  g_autoptr(GError) error = NULL;

  if (!mpv_window_launch_demo (MPV_WINDOW (widget), g_variant_get_string (param, NULL), &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return;   /* the banner says why */
  if (error != NULL)
    _mpv_window_set_banner (MPV_WINDOW (widget), error->message, TRUE);
}

static void
action_refresh_programs (GtkWidget *widget, const char *name, GVariant *param)
{
  _mpv_window_refresh_programs (MPV_WINDOW (widget));
}

static void
action_play (GtkWidget *widget, const char *name, GVariant *param)
{
  MpvWindow *self = MPV_WINDOW (widget);

  _mpv_window_set_paused (self, !_mpv_window_get_paused (self));
}

static void
action_dismiss_banner (GtkWidget *widget, const char *name, GVariant *param)
{
  _mpv_window_set_banner (MPV_WINDOW (widget), NULL, FALSE);
}

static void
action_show_page (GtkWidget *widget, const char *name, GVariant *param)
{
  mpv_window_show_page (MPV_WINDOW (widget), g_variant_get_string (param, NULL));
}

/* ---- file dialogs -------------------------------------------------------------------------- */

typedef void (*ChooserDone) (MpvWindow *self, const char *path);

static void
on_chooser_response (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  MpvWindow *self = g_object_get_data (G_OBJECT (dialog), "mpv-window");
  ChooserDone done = (ChooserDone) user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;

      if (path != NULL)
        done (self, path);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
run_chooser (MpvWindow *self, const char *title, GtkFileChooserAction action,
             const char *suggested_name, const char *pattern, const char *pattern_name,
             ChooserDone done)
{
G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (title, GTK_WINDOW (self), action,
                                 action == GTK_FILE_CHOOSER_ACTION_SAVE ? "_Save" : "_Open",
                                 "_Cancel");
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  g_autoptr(GtkFileFilter) all = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, pattern_name);
  gtk_file_filter_add_pattern (filter, pattern);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
  gtk_file_filter_set_name (all, "All files");
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), all);
  if (suggested_name != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), suggested_name);
G_GNUC_END_IGNORE_DEPRECATIONS
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_object_set_data (G_OBJECT (dialog), "mpv-window", self);
  g_signal_connect (dialog, "response", G_CALLBACK (on_chooser_response), done);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
open_done (MpvWindow *self, const char *path)
{
  (void) mpv_window_open_recording (self, path, NULL);
}

static void
action_open_recording (GtkWidget *widget, const char *name, GVariant *param)
{
  run_chooser (MPV_WINDOW (widget), "Open a Recording", GTK_FILE_CHOOSER_ACTION_OPEN, NULL,
               "*.jsonl", "libmp recordings (*.jsonl)", open_done);
}

static char *
suggested_name (MpvWindow *self, const char *extension)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  const char *program = self->monitor ? mp_monitor_get_program_name (self->monitor) : NULL;

  if (extension != NULL && self->recording != NULL && self->source == MPV_SOURCE_REPLAY)
    {
      g_autofree char *base = g_path_get_basename (self->recording);
      char *dot = strrchr (base, '.');

      if (dot != NULL)
        *dot = '\0';
      return g_strconcat (base, extension, NULL);
    }
  return g_strdup_printf ("%s-%s%s", program && *program ? program : "libmp", stamp,
                          extension ? extension : ".jsonl");
}

gboolean
mpv_window_start_recording (MpvWindow *self, const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *text = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (self->monitor == NULL || self->source == MPV_SOURCE_REPLAY)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "Only a live program can be recorded");
      return FALSE;
    }
  if (!mp_monitor_start_recording (self->monitor, path, &local))
    {
      text = g_strdup_printf ("Cannot record to %s: %s", path, local->message);
      _mpv_window_set_banner (self, text, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_free (self->writing);
  self->writing = g_strdup (path);
  text = g_strdup_printf ("Recording to %s", path);
  _mpv_window_set_banner (self, text, FALSE);
  _mpv_window_update_state (self);
  return TRUE;
}

void
mpv_window_stop_recording (MpvWindow *self)
{
  g_return_if_fail (MPV_IS_WINDOW (self));
  _mpv_window_stop_recording (self);
}

static void
record_done (MpvWindow *self, const char *path)
{
  (void) mpv_window_start_recording (self, path, NULL);
}

void
_mpv_window_stop_recording (MpvWindow *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (self->monitor == NULL || !mp_monitor_is_recording (self->monitor))
    return;
  if (!mp_monitor_get_finished (self->monitor))
    mp_monitor_sample (self->monitor);
  if (!mp_monitor_stop_recording (self->monitor, &error))
    text = g_strdup_printf ("The recording %s is incomplete: %s", self->writing, error->message);
  else
    text = g_strdup_printf ("Recorded to %s (Export Chrome Trace in the menu converts it for "
                            "Perfetto)", self->writing);
  _mpv_window_set_banner (self, text, error != NULL);
  g_free (self->recording);
  self->recording = g_steal_pointer (&self->writing);
  _mpv_window_update_state (self);
}

static void
action_record (GtkWidget *widget, const char *name, GVariant *param)
{
  MpvWindow *self = MPV_WINDOW (widget);
  g_autofree char *suggested = NULL;

  if (self->monitor == NULL)
    return;
  if (mp_monitor_is_recording (self->monitor))
    {
      _mpv_window_stop_recording (self);
      return;
    }
  suggested = suggested_name (self, NULL);
  run_chooser (self, "Record to", GTK_FILE_CHOOSER_ACTION_SAVE, suggested, "*.jsonl",
               "libmp recordings (*.jsonl)", record_done);
}

gboolean
mpv_window_export_chrome (MpvWindow *self, const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *text = NULL;

  g_return_val_if_fail (MPV_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (self->recording == NULL || self->writing != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "Nothing to export: open a recording, or record and stop first");
      return FALSE;
    }
  if (!mp_trace_file_export_chrome (self->recording, path, &local))
    text = g_strdup_printf ("Export failed: %s", local->message);
  else
    text = g_strdup_printf ("Exported to %s: open it in ui.perfetto.dev or chrome://tracing", path);
  _mpv_window_set_banner (self, text, local != NULL);
  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

static void
export_done (MpvWindow *self, const char *path)
{
  (void) mpv_window_export_chrome (self, path, NULL);
}

static void
action_export_chrome (GtkWidget *widget, const char *name, GVariant *param)
{
  MpvWindow *self = MPV_WINDOW (widget);
  g_autofree char *suggested = NULL;

  if (self->recording == NULL)
    return;
  suggested = suggested_name (self, ".json");
  run_chooser (self, "Export a Chrome Trace", GTK_FILE_CHOOSER_ACTION_SAVE, suggested, "*.json",
               "Chrome trace (*.json)", export_done);
}

void
_mpv_window_class_init_actions (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.attach", "i", action_attach);
  gtk_widget_class_install_action (widget_class, "win.launch-demo", "s", action_launch_demo);
  gtk_widget_class_install_action (widget_class, "win.refresh-programs", NULL, action_refresh_programs);
  gtk_widget_class_install_action (widget_class, "win.open-recording", NULL, action_open_recording);
  gtk_widget_class_install_action (widget_class, "win.record", NULL, action_record);
  gtk_widget_class_install_action (widget_class, "win.export-chrome", NULL, action_export_chrome);
  gtk_widget_class_install_action (widget_class, "win.play", NULL, action_play);
  gtk_widget_class_install_action (widget_class, "win.dismiss-banner", NULL, action_dismiss_banner);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s", action_show_page);
  gtk_widget_class_install_property_action (widget_class, "win.pause", "paused");
  gtk_widget_class_install_property_action (widget_class, "win.time-window", "time-window");
  gtk_widget_class_install_property_action (widget_class, "win.slowmo", "slowmo-ms");

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "win.open-recording", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "win.record", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK,
                                       "win.export-chrome", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_p, GDK_CONTROL_MASK, "win.pause", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
  {
    static const char *const names[] = { "overview", "processes", "pools", "queues", "locks",
                                         "segments", "events" };
    for (guint i = 0; i < G_N_ELEMENTS (names); i++)
      gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1 + i, GDK_ALT_MASK,
                                           "win.show-page", "s", names[i]);
  }
}
