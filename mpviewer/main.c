/* main.c: mpviewer's entry point — parses the options and dispatches to a front end
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Front ends:
 *   --list                         list attachable programs
 *   --replay FILE --export-chrome OUT
 *                                  convert a recording (no monitor needed)
 *   --headless, --once, --record   the terminal front end (mpviewer-headless.c)
 *   otherwise                      the GUI when it is built in, else the terminal live view
 */

#include <locale.h>
#include <stdlib.h>

#include "mpviewer-headless.h"

#ifdef MPVIEWER_HAVE_GUI
/* The GTK front end (GtkApplication) takes over the rest of the command line. */
int mpviewer_gui_run (const MpViewerOptions *options, int argc, char **argv);
#endif

static gboolean opt_list;
static gboolean opt_headless;
static gboolean opt_once;
static gboolean opt_version;
static int opt_attach;
static char *opt_record;
static char *opt_replay;
static char *opt_export;
static double opt_duration;
static double opt_speed = 1.0;
static int opt_interval = 500;
static double opt_frame_stats;
static char *opt_frame_stats_pages;
static char **opt_command;

static const GOptionEntry entries[] = {
  { "list", 'l', 0, G_OPTION_ARG_NONE, &opt_list, "List the libmp programs that can be attached", NULL },
  { "attach", 'p', 0, G_OPTION_ARG_INT, &opt_attach, "Attach to a running libmp program", "PID" },
  { "replay", 'r', 0, G_OPTION_ARG_FILENAME, &opt_replay, "Replay a recording", "FILE" },
  { "headless", 0, 0, G_OPTION_ARG_NONE, &opt_headless, "Show a live text view in the terminal", NULL },
  { "once", '1', 0, G_OPTION_ARG_NONE, &opt_once, "Print one snapshot and exit (a replay: its final state)", NULL },
  { "record", 'o', 0, G_OPTION_ARG_FILENAME, &opt_record, "Record to a JSON Lines file", "FILE" },
  { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &opt_duration, "Stop after this many seconds (default: when the program exits)", "SECS" },
  { "export-chrome", 'e', 0, G_OPTION_ARG_FILENAME, &opt_export, "Export the recording (--replay FILE, or the one --record writes) as Chrome Trace Event JSON for Perfetto", "OUT" },
  { "speed", 's', 0, G_OPTION_ARG_DOUBLE, &opt_speed, "Replay speed (1 = real time, 0 = as fast as possible)", "X" },
  { "interval", 'i', 0, G_OPTION_ARG_INT, &opt_interval, "Refresh interval of the live view in ms (default 500)", "MS" },
  { "frame-stats", 0, 0, G_OPTION_ARG_DOUBLE, &opt_frame_stats, "Measure the window's frames for SECS per page, print them and quit (GUI; see bench/README.md)", "SECS" },
  { "frame-stats-pages", 0, 0, G_OPTION_ARG_STRING, &opt_frame_stats_pages, "Pages --frame-stats measures (default: pools,processes)", "PAGES" },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version", NULL },
  { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_command, NULL, "[-- PROGRAM ARGS…]" },
  { NULL }
};

static int
usage_error (GOptionContext *ctx, const char *message)
{
  g_printerr ("mpviewer: %s\n(see mpviewer --help)\n", message);
  return 2;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  MpViewerOptions o = { 0 };
  int n_sources;

  setlocale (LC_ALL, "");
  ctx = g_option_context_new ("— watch libmp programs");
  g_option_context_set_summary (ctx,
    "Attach to a running libmp program, launch one (-- PROGRAM ARGS), or replay a recording;\n"
    "show its processes, pools, queues, locks and shared memory; record and export traces.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error (ctx, error->message);

  if (opt_version)
    {
      printf ("mpviewer %s\n", MP_VERSION_S);
      return 0;
    }
  if (opt_list)
    return mpviewer_headless_list ();

  n_sources = (opt_attach != 0) + (opt_replay != NULL) + (opt_command != NULL && opt_command[0] != NULL);
  if (n_sources > 1)
    return usage_error (ctx, "give one of --attach PID, --replay FILE or -- PROGRAM ARGS");
  if (opt_attach < 0)
    return usage_error (ctx, "--attach needs a positive process id");
  if (opt_interval < 10)
    return usage_error (ctx, "--interval must be at least 10 ms");
  if (opt_frame_stats < 0)
    return usage_error (ctx, "--frame-stats cannot be negative");
  if (opt_frame_stats > 0 && (opt_headless || opt_once || opt_record != NULL || n_sources == 0))
    return usage_error (ctx, "--frame-stats measures the window: give a program to watch, "
                             "without --headless, --once or --record");
  if (opt_duration < 0 || opt_speed < 0)
    return usage_error (ctx, "--duration and --speed cannot be negative");
  if (opt_export != NULL && opt_replay == NULL && opt_record == NULL)
    return usage_error (ctx, "--export-chrome needs a recording: --replay FILE or --record FILE");
  if (opt_record != NULL && opt_replay != NULL)
    return usage_error (ctx, "--record records a live program; a replay is already a recording");

  /* A recording to convert: no monitor, no view. */
  if (opt_export != NULL && opt_replay != NULL && !opt_headless && !opt_once)
    return mpviewer_headless_export (opt_replay, opt_export);

  if (n_sources == 0)
    {
#ifdef MPVIEWER_HAVE_GUI
      if (!opt_headless && !opt_once && opt_record == NULL)
        return mpviewer_gui_run (&o, argc, argv);
#endif
      return usage_error (ctx, "nothing to watch: give --attach PID, --replay FILE, "
                               "-- PROGRAM ARGS, or --list");
    }

  o.attach_pid = opt_attach;
  o.replay_path = opt_replay;
  o.command = opt_command != NULL && opt_command[0] != NULL ? opt_command : NULL;
  o.record_path = opt_record;
  o.export_path = opt_export;
  o.once = opt_once;
  o.duration = opt_duration;
  o.speed = opt_speed;
  o.refresh_ms = (guint) opt_interval;
  /* Recording in the background is quiet unless a view was asked for. */
  o.quiet = opt_record != NULL && !opt_headless;
  o.frame_stats = opt_frame_stats;
  o.frame_stats_pages = opt_frame_stats_pages;

#ifdef MPVIEWER_HAVE_GUI
  /* The GUI starts here: whenever no terminal mode was asked for. */
  if (!opt_headless && !opt_once && opt_record == NULL)
    return mpviewer_gui_run (&o, argc, argv);
#endif
  if (o.frame_stats > 0)
    {
      g_printerr ("mpviewer: --frame-stats needs the GTK front end\n");
      return 1;
    }
  return mpviewer_headless_run (&o);
}
