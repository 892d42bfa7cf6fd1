/* mpv-events-page.h: a filterable log of the most recent events
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-event-log.h"
#include "mpv-page.h"

G_BEGIN_DECLS

#define MPV_TYPE_EVENTS_PAGE (mpv_events_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvEventsPage, mpv_events_page, MPV, EVENTS_PAGE, MpvPage)

void        mpv_events_page_set_log      (MpvEventsPage *self,
                                          MpvEventLog   *log);
/* What the view shows after filtering (for tests). */
GListModel *mpv_events_page_get_filtered (MpvEventsPage *self);
void        mpv_events_page_set_search   (MpvEventsPage *self,
                                          const char    *text);

G_END_DECLS
