/* mpv-window-private.h: what mpv-window.c and mpv-window-actions.c share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-event-log.h"
#include "mpv-events-page.h"
#include "mpv-locks-page.h"
#include "mpv-overview-page.h"
#include "mpv-pools-page.h"
#include "mpv-processes-page.h"
#include "mpv-queues-page.h"
#include "mpv-segments-page.h"
#include "mpv-window.h"

G_BEGIN_DECLS

typedef enum
{
  MPV_SOURCE_NONE,
  MPV_SOURCE_ATTACHED,
  MPV_SOURCE_LAUNCHED,
  MPV_SOURCE_REPLAY,
} MpvSourceKind;

struct _MpvWindow
{
  GtkApplicationWindow  parent_instance;

  /* template widgets (owned by the template) */
  GtkHeaderBar         *header_bar;
  GtkMenuButton        *program_button;
  GtkLabel             *program_label;
  GtkPopover           *program_popover;
  GtkListBox           *popover_programs;
  GtkToggleButton      *pause_button;
  GtkButton            *record_button;
  GtkMenuButton        *demos_button;
  GtkListBox           *popover_demos;
  GtkMenuButton        *window_button;
  GtkRevealer          *banner_revealer;
  GtkWidget            *banner;
  GtkLabel             *banner_label;
  GtkStack             *main_stack;
  GtkListBox           *welcome_programs;
  GtkWidget            *welcome_demos_heading;
  GtkListBox           *welcome_demos;
  GtkStack             *pages;
  GtkStackPage         *pools_stack_page;
  GtkStackPage         *locks_stack_page;
  GtkStackPage         *segments_stack_page;
  MpvOverviewPage      *overview_page;
  MpvProcessesPage     *processes_page;
  MpvPoolsPage         *pools_page;
  MpvQueuesPage        *queues_page;
  MpvLocksPage         *locks_page;
  MpvSegmentsPage      *segments_page;
  MpvEventsPage        *events_page;
  GtkActionBar         *replay_bar;
  GtkButton            *play_button;
  GtkLabel             *position_label;
  GtkScale             *scrubber;
  GtkAdjustment        *scrubber_adjustment;
  GtkDropDown          *speed_dropdown;

  /* owned */
  MpMonitor            *monitor;
  MpvEventLog          *log;
  GPtrArray            *demos;          /* MpvDemo */
  GSettings            *settings;       /* nullable */
  char                 *recording;      /* the replayed file, or the last one recorded */
  char                 *writing;        /* the file being recorded now */
  char                 *banner_text;
  MpvSourceKind         source;
  guint                 time_window;
  guint                 slowmo_ms;

  /* monitor signal handlers */
  gulong                events_id;
  gulong                updated_id;
  gulong                finished_id;
  gulong                running_id;
  gulong                recording_id;
  gulong                alerts_id;

  /* replay */
  guint64               replay_start_ns;
  guint64               replay_end_ns;
  guint64               replay_pos_ns;
  guint                 seek_id;
  guint                 tick_id;
  gboolean              updating_scrubber;
};

/* mpv-window.c */
void     _mpv_window_set_monitor   (MpvWindow     *self,
                                    MpMonitor     *monitor,
                                    MpvSourceKind  source);
void     _mpv_window_set_banner    (MpvWindow     *self,
                                    const char    *text,
                                    gboolean       error);
void     _mpv_window_update_state  (MpvWindow     *self);
gboolean _mpv_window_get_paused    (MpvWindow     *self);
void     _mpv_window_set_paused    (MpvWindow     *self,
                                    gboolean       paused);

/* mpv-window-actions.c */
void     _mpv_window_class_init_actions (GtkWidgetClass *widget_class);
void     _mpv_window_init_lists     (MpvWindow     *self);
void     _mpv_window_refresh_programs (MpvWindow   *self);
void     _mpv_window_stop_recording (MpvWindow     *self);
void     _mpv_window_on_program_activated (GtkListBox    *box,
                                           GtkListBoxRow *row,
                                           MpvWindow     *self);
void     _mpv_window_on_demo_activated    (GtkListBox    *box,
                                           GtkListBoxRow *row,
                                           MpvWindow     *self);

G_END_DECLS
