/* mpviewer-gui.c: starts the GTK front end, or the terminal one when there is no display
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <gtk/gtk.h>

#include "mpv-application.h"
#include "mpviewer-gui.h"

static gboolean
display_available (void)
{
  /* GDK_BACKEND (broadway, a test setup) can provide a display without these. */
  return g_getenv ("DISPLAY") != NULL || g_getenv ("WAYLAND_DISPLAY") != NULL ||
         g_getenv ("GDK_BACKEND") != NULL;
}

static int
terminal_fallback (const MpViewerOptions *options)
{
  if (options->frame_stats > 0)
    {
      g_printerr ("mpviewer: --frame-stats needs a display (run it under xvfb-run -a)\n");
      return 1;
    }
  if (options->attach_pid != 0 || options->replay_path != NULL || options->command != NULL)
    return mpviewer_headless_run (options);
  /* The picker needs a display; in a terminal, say what to do instead, as the terminal-only
   * build does. */
  g_printerr ("mpviewer: nothing to watch: give --attach PID, --replay FILE, -- PROGRAM ARGS, "
              "or --list (there is no display for the program picker)\n(see mpviewer --help)\n");
  return 2;
}

int
mpviewer_gui_run (const MpViewerOptions *options, int argc, char **argv)
{
  g_autoptr(MpvApplication) app = NULL;
  char *app_argv[] = { argc > 0 ? argv[0] : (char *) "mpviewer", NULL };

  if (!display_available () || !gtk_init_check ())
    return terminal_fallback (options);

  app = mpv_application_new (options);
  /* main.c parsed the command line already: GApplication sees the program name only. */
  return g_application_run (G_APPLICATION (app), 1, app_argv);
}
