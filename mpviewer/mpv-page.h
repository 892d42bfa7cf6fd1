/* mpv-page.h: a page of the main window's stack, showing one aspect of a monitor
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>
#include <mp.h>

G_BEGIN_DECLS

#define MPV_TYPE_PAGE (mpv_page_get_type ())
G_DECLARE_DERIVABLE_TYPE (MpvPage, mpv_page, MPV, PAGE, GtkWidget)

struct _MpvPageClass
{
  GtkWidgetClass parent_class;

  /* The monitor changed (it may be NULL): rebind models. */
  void (*monitor_changed) (MpvPage *self,
                           MpMonitor *monitor);
  /* New data arrived since the last call (at most every MPV_PAGE_REFRESH_MS): update what
   * is not bound to models (text of visible cells, graphs). */
  void (*refresh)         (MpvPage *self);
};

/* Refreshes are coalesced: a program emitting 100k events/s costs a page ten refreshes a
 * second, each proportional to what is visible. */
#define MPV_PAGE_REFRESH_MS 100

MpMonitor *mpv_page_get_monitor     (MpvPage   *self);
void       mpv_page_set_monitor     (MpvPage   *self,
                                     MpMonitor *monitor);
guint      mpv_page_get_time_window (MpvPage   *self);
void       mpv_page_set_time_window (MpvPage   *self,
                                     guint      seconds);
void       mpv_page_queue_refresh   (MpvPage   *self);
/* Runs a pending refresh now (tests, screenshots). */
void       mpv_page_flush_refresh   (MpvPage   *self);

G_END_DECLS
