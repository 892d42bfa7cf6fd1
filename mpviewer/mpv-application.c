/* mpv-application.c: mpviewer's GtkApplication
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Non-unique: every mpviewer process watches its own program, and a second "mpviewer --attach"
 * must not hand its command line to the first one. The command line was parsed by main.c
 * before GTK started; activate() turns it into a window.
 */

#include "mpv-application.h"
#include "mpv-frame-stats.h"
#include "mpv-window.h"

struct _MpvApplication
{
  GtkApplication parent_instance;

  GPid           attach_pid;
  char          *replay_path;
  char         **command;
  double         speed;
  double         frame_stats;
  char          *frame_stats_pages;
  GSettings     *settings;
};

G_DEFINE_FINAL_TYPE (MpvApplication, mpv_application, GTK_TYPE_APPLICATION)

GSettings *
mpv_application_get_settings (MpvApplication *self)
{
  g_return_val_if_fail (MPV_IS_APPLICATION (self), NULL);
  return self->settings;
}

double
mpv_application_get_replay_speed (MpvApplication *self)
{
  g_return_val_if_fail (MPV_IS_APPLICATION (self), 1.0);
  return self->speed;
}

/* The installed schema, else the one compiled in the build tree (running uninstalled), else
 * none: the viewer works without persisting anything. */
static GSettings *
load_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, MPV_APPLICATION_ID, TRUE);
#ifdef MPVIEWER_BUILD_SCHEMA_DIR
  if (schema == NULL && g_file_test (MPVIEWER_BUILD_SCHEMA_DIR "/gschemas.compiled", G_FILE_TEST_EXISTS))
    {
      g_autoptr(GSettingsSchemaSource) build =
        g_settings_schema_source_new_from_directory (MPVIEWER_BUILD_SCHEMA_DIR, source, FALSE, NULL);
      if (build != NULL)
        schema = g_settings_schema_source_lookup (build, MPV_APPLICATION_ID, FALSE);
    }
#endif
  return schema ? g_settings_new_full (schema, NULL, NULL) : NULL;
}

static void
action_quit (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = user_data;
  GList *windows = gtk_application_get_windows (app);

  /* Closing the windows ends launched programs and finishes recordings. */
  while (windows != NULL)
    {
      GList *next = windows->next;
      gtk_window_close (windows->data);
      windows = next;
    }
}

static void
action_about (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = user_data;
  const char *authors[] = { "The libmp authors", NULL };

  gtk_show_about_dialog (gtk_application_get_active_window (app),
                         "program-name", "mpviewer",
                         "logo-icon-name", MPV_APPLICATION_ID,
                         "version", MP_VERSION_S,
                         "comments", "Watch the processes, pools, queues, locks and shared memory "
                                     "of a libmp program, live or from a recording.",
                         "license-type", GTK_LICENSE_LGPL_2_1,
                         "authors", authors,
                         NULL);
}

static void
mpv_application_startup (GApplication *app)
{
  static const GActionEntry entries[] = {
    { "quit", action_quit, NULL, NULL, NULL },
    { "about", action_about, NULL, NULL, NULL },
  };
  static const char *const quit_accels[] = { "<Control>q", NULL };
  g_autoptr(GtkCssProvider) css = gtk_css_provider_new ();

  G_APPLICATION_CLASS (mpv_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_css_provider_load_from_resource (css, "/org/libmp/Viewer/style.css");
  gtk_style_context_add_provider_for_display (gdk_display_get_default (), GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  gtk_window_set_default_icon_name (MPV_APPLICATION_ID);
}

static void
mpv_application_activate (GApplication *app)
{
  MpvApplication *self = MPV_APPLICATION (app);
  MpvWindow *window = mpv_window_new (self);

  /* Failures show in the window's banner; the window stays, with the picker. */
  if (self->replay_path != NULL)
    {
      mpv_window_set_replay_speed (window, self->speed);
      (void) mpv_window_open_recording (window, self->replay_path, NULL);
    }
  else if (self->attach_pid > 0)
    {
      if (self->frame_stats > 0)
        mpv_frame_stats_mark_start ();
      (void) mpv_window_attach (window, self->attach_pid, NULL);
    }
  else if (self->command != NULL)
    (void) mpv_window_launch (window, (const char * const *) self->command, NULL);
  gtk_window_present (GTK_WINDOW (window));
  if (self->frame_stats > 0)
    mpv_frame_stats_run (window, self->frame_stats, self->frame_stats_pages);
}

static void
mpv_application_finalize (GObject *object)
{
  MpvApplication *self = MPV_APPLICATION (object);

  g_free (self->replay_path);
  g_strfreev (self->command);
  g_free (self->frame_stats_pages);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (mpv_application_parent_class)->finalize (object);
}

static void
mpv_application_class_init (MpvApplicationClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mpv_application_finalize;
  G_APPLICATION_CLASS (klass)->startup = mpv_application_startup;
  G_APPLICATION_CLASS (klass)->activate = mpv_application_activate;
}

static void
mpv_application_init (MpvApplication *self)
{
  self->speed = 1.0;
  self->settings = load_settings ();
}

MpvApplication *
mpv_application_new (const MpViewerOptions *options)
{
  MpvApplication *self = g_object_new (MPV_TYPE_APPLICATION,
                                       "application-id", MPV_APPLICATION_ID,
                                       "flags", G_APPLICATION_NON_UNIQUE,
                                       "resource-base-path", "/org/libmp/Viewer",
                                       NULL);

  if (options != NULL)
    {
      self->attach_pid = options->attach_pid;
      self->replay_path = g_strdup (options->replay_path);
      self->command = g_strdupv (options->command);
      self->speed = options->speed > 0 ? options->speed : 1.0;
      self->frame_stats = options->frame_stats;
      self->frame_stats_pages = g_strdup (options->frame_stats_pages);
    }
  return self;
}
