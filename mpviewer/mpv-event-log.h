/* mpv-event-log.h: the most recent events of a monitor, as a bounded list model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <mp.h>

G_BEGIN_DECLS

#define MPV_TYPE_EVENT_ITEM (mpv_event_item_get_type ())
G_DECLARE_FINAL_TYPE (MpvEventItem, mpv_event_item, MPV, EVENT_ITEM, GObject)

/* The event now at the item's position in its log (the log moves on; see mpv-event-log.c). */
const MpTraceEvent *mpv_event_item_get_event (MpvEventItem *self);
guint64             mpv_event_item_get_seq   (MpvEventItem *self);
/* Whether the item's event is still in the log. */
gboolean            mpv_event_item_is_kept   (MpvEventItem *self);

#define MPV_TYPE_EVENT_LOG (mpv_event_log_get_type ())
G_DECLARE_FINAL_TYPE (MpvEventLog, mpv_event_log, MPV, EVENT_LOG, GObject)

#define MPV_EVENT_LOG_DEFAULT_CAPACITY 10000

MpvEventLog *mpv_event_log_new          (guint               capacity);
void         mpv_event_log_append       (MpvEventLog        *self,
                                         const MpTraceEvent *events,
                                         guint               n_events);
void         mpv_event_log_clear        (MpvEventLog        *self);
guint64      mpv_event_log_get_n_seen   (MpvEventLog        *self);

/* A view of a log whose items are events, not positions: it announces the events the log
 * dropped and added since the last mpv_event_log_view_sync(), so a filter over it only looks
 * at new events (see mpv-event-log.c). */
#define MPV_TYPE_EVENT_LOG_VIEW (mpv_event_log_view_get_type ())
G_DECLARE_FINAL_TYPE (MpvEventLogView, mpv_event_log_view, MPV, EVENT_LOG_VIEW, GObject)

MpvEventLogView *mpv_event_log_view_new     (MpvEventLog     *log);
void             mpv_event_log_view_sync    (MpvEventLogView *self);
MpvEventLog     *mpv_event_log_view_get_log (MpvEventLogView *self);

G_END_DECLS
