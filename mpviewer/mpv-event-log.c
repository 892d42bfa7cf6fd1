/* mpv-event-log.c: the most recent events of a monitor, as a bounded list model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The log is a ring of plain MpTraceEvent records (capacity fixed at creation); appending a
 * batch is a memcpy, whatever the batch size. Item objects are made only when a view asks for
 * a row, and the batch is cut to the capacity first, so a flood of events costs a copy, not an
 * object per event.
 *
 * An item is a position in the log, not a copy of an event: it reads the event found at its
 * position when asked. While the log fills, a batch is one "items-changed" (added at the end);
 * once it is full, a batch changes what every position holds but not the number of items, so
 * no "items-changed" is emitted at all and the view keeps its row widgets; the page rewrites
 * the text of the visible cells on its refresh schedule (and refilters if it filters). With
 * removals and additions instead, a column view tears down and rebuilds every visible row on
 * every batch: tens of milliseconds, twenty times a second, under a busy program.
 *
 * A filter cannot work on positions (what it matched moves away unannounced), so a filtered
 * page reads an MpvEventLogView instead: its items are sequence numbers, and each
 * mpv_event_log_view_sync() (once per page refresh, not per batch) announces the events the
 * log dropped since the last one (at the front) and those it added (at the end). A filter
 * model over it looks at the new events only, and the rows it already shows stay.
 */

#include <string.h>

#include "mpv-event-log.h"

struct _MpvEventItem
{
  GObject      parent_instance;
  MpvEventLog *log;              /* owned */
  guint        position;
  gboolean     by_seq;           /* an item of an MpvEventLogView: the event @seq, wherever it is */
  guint64      seq;
};

G_DEFINE_FINAL_TYPE (MpvEventItem, mpv_event_item, G_TYPE_OBJECT)

static void
mpv_event_item_finalize (GObject *object)
{
  g_clear_object (&MPV_EVENT_ITEM (object)->log);
  G_OBJECT_CLASS (mpv_event_item_parent_class)->finalize (object);
}

static void
mpv_event_item_class_init (MpvEventItemClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mpv_event_item_finalize;
}

static void
mpv_event_item_init (MpvEventItem *self)
{
}


struct _MpvEventLog
{
  GObject       parent_instance;
  MpTraceEvent *ring;
  guint         capacity;
  guint         start;
  guint         len;
  guint64       n_seen;          /* events ever appended: the sequence number of the next */
};

const MpTraceEvent *
mpv_event_item_get_event (MpvEventItem *self)
{
  static const MpTraceEvent none;
  MpvEventLog *log;

  guint64 first;

  g_return_val_if_fail (MPV_IS_EVENT_ITEM (self), NULL);
  log = self->log;
  first = log->n_seen - log->len;
  if (self->by_seq)
    {
      /* Overwritten since the view last moved on: the view drops it on its next sync. */
      if (self->seq < first || self->seq >= log->n_seen)
        return &none;
      return &log->ring[(log->start + (guint) (self->seq - first)) % log->capacity];
    }
  /* A row a view has not dropped yet after a clear. */
  if (self->position >= log->len)
    return &none;
  return &log->ring[(log->start + self->position) % log->capacity];
}

guint64
mpv_event_item_get_seq (MpvEventItem *self)
{
  g_return_val_if_fail (MPV_IS_EVENT_ITEM (self), 0);
  if (self->by_seq)
    return self->seq;
  return self->log->n_seen - self->log->len + self->position;
}

gboolean
mpv_event_item_is_kept (MpvEventItem *self)
{
  guint64 seq;

  g_return_val_if_fail (MPV_IS_EVENT_ITEM (self), FALSE);
  if (!self->by_seq)
    return self->position < self->log->len;
  seq = self->seq;
  return seq >= self->log->n_seen - self->log->len && seq < self->log->n_seen;
}

static GType
mpv_event_log_get_item_type (GListModel *model)
{
  return MPV_TYPE_EVENT_ITEM;
}

static guint
mpv_event_log_get_n_items (GListModel *model)
{
  return MPV_EVENT_LOG (model)->len;
}

static gpointer
mpv_event_log_get_item (GListModel *model, guint position)
{
  MpvEventLog *self = MPV_EVENT_LOG (model);
  MpvEventItem *item;

  if (position >= self->len)
    return NULL;
  item = g_object_new (MPV_TYPE_EVENT_ITEM, NULL);
  item->log = g_object_ref (self);
  item->position = position;
  return item;
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = mpv_event_log_get_item_type;
  iface->get_n_items = mpv_event_log_get_n_items;
  iface->get_item = mpv_event_log_get_item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (MpvEventLog, mpv_event_log, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

static void
mpv_event_log_finalize (GObject *object)
{
  g_free (MPV_EVENT_LOG (object)->ring);
  G_OBJECT_CLASS (mpv_event_log_parent_class)->finalize (object);
}

static void
mpv_event_log_class_init (MpvEventLogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mpv_event_log_finalize;
}

static void
mpv_event_log_init (MpvEventLog *self)
{
}

MpvEventLog *
mpv_event_log_new (guint capacity)
{
  MpvEventLog *self = g_object_new (MPV_TYPE_EVENT_LOG, NULL);

  self->capacity = MAX (capacity, 1);
  self->ring = g_new (MpTraceEvent, self->capacity);
  return self;
}

void
mpv_event_log_append (MpvEventLog *self, const MpTraceEvent *events, guint n_events)
{
  guint old_len, dropped = 0;
  guint64 total;

  g_return_if_fail (MPV_IS_EVENT_LOG (self));

  if (n_events == 0)
    return;
  total = n_events;
  if (n_events > self->capacity)
    {
      events += n_events - self->capacity;
      n_events = self->capacity;
    }
  old_len = self->len;
  if (self->len + n_events > self->capacity)
    {
      dropped = self->len + n_events - self->capacity;
      self->start = (self->start + dropped) % self->capacity;
      self->len -= dropped;
    }
  for (guint i = 0; i < n_events;)
    {
      guint at = (self->start + self->len + i) % self->capacity;
      guint run = MIN (n_events - i, self->capacity - at);

      memcpy (self->ring + at, events + i, run * sizeof (MpTraceEvent));
      i += run;
    }
  self->len += n_events;
  self->n_seen += total;
  /* Only growth is announced: positions keep existing (see NOTES). */
  if (self->len > old_len)
    g_list_model_items_changed (G_LIST_MODEL (self), old_len, 0, self->len - old_len);
}

void
mpv_event_log_clear (MpvEventLog *self)
{
  guint old = self->len;

  g_return_if_fail (MPV_IS_EVENT_LOG (self));
  self->start = 0;
  self->len = 0;
  self->n_seen = 0;
  if (old > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, old, 0);
}

guint64
mpv_event_log_get_n_seen (MpvEventLog *self)
{
  g_return_val_if_fail (MPV_IS_EVENT_LOG (self), 0);
  return self->n_seen;
}

/* ---- MpvEventLogView ------------------------------------------------------------------------ */

struct _MpvEventLogView
{
  GObject      parent_instance;
  MpvEventLog *log;              /* owned */
  gulong       changed_id;
  guint64      first;            /* the sequence numbers shown: [first, first + len) */
  guint        len;
};

static GType
mpv_event_log_view_get_item_type (GListModel *model)
{
  return MPV_TYPE_EVENT_ITEM;
}

static guint
mpv_event_log_view_get_n_items (GListModel *model)
{
  return MPV_EVENT_LOG_VIEW (model)->len;
}

static gpointer
mpv_event_log_view_get_item (GListModel *model, guint position)
{
  MpvEventLogView *self = MPV_EVENT_LOG_VIEW (model);
  MpvEventItem *item;

  if (position >= self->len)
    return NULL;
  item = g_object_new (MPV_TYPE_EVENT_ITEM, NULL);
  item->log = g_object_ref (self->log);
  item->by_seq = TRUE;
  item->seq = self->first + position;
  return item;
}

static void
view_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = mpv_event_log_view_get_item_type;
  iface->get_n_items = mpv_event_log_view_get_n_items;
  iface->get_item = mpv_event_log_view_get_item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (MpvEventLogView, mpv_event_log_view, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, view_model_iface_init))

static void
mpv_event_log_view_dispose (GObject *object)
{
  MpvEventLogView *self = MPV_EVENT_LOG_VIEW (object);

  if (self->log != NULL)
    g_clear_signal_handler (&self->changed_id, self->log);
  g_clear_object (&self->log);
  G_OBJECT_CLASS (mpv_event_log_view_parent_class)->dispose (object);
}

static void
mpv_event_log_view_class_init (MpvEventLogViewClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = mpv_event_log_view_dispose;
}

static void
mpv_event_log_view_init (MpvEventLogView *self)
{
}

static void
on_log_items_changed (MpvEventLog *log, guint position, guint removed, guint added,
                      MpvEventLogView *self)
{
  guint old = self->len;

  /* The log announces removals only when it is cleared: start over at once, so no row of
   * the view outlives its event by more than this call. Growth waits for the next sync. */
  if (removed == 0)
    return;
  self->first = log->n_seen - log->len;
  self->len = 0;
  if (old > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, old, 0);
}

MpvEventLogView *
mpv_event_log_view_new (MpvEventLog *log)
{
  MpvEventLogView *self;

  g_return_val_if_fail (MPV_IS_EVENT_LOG (log), NULL);
  self = g_object_new (MPV_TYPE_EVENT_LOG_VIEW, NULL);
  self->log = g_object_ref (log);
  self->first = log->n_seen - log->len;
  self->len = log->len;
  self->changed_id = g_signal_connect (log, "items-changed", G_CALLBACK (on_log_items_changed), self);
  return self;
}

void
mpv_event_log_view_sync (MpvEventLogView *self)
{
  MpvEventLog *log;
  guint64 first, end, dropped;
  guint old_len;

  g_return_if_fail (MPV_IS_EVENT_LOG_VIEW (self));
  log = self->log;
  first = log->n_seen - log->len;
  end = log->n_seen;
  /* Two steps, each announced before the next, as list models must. */
  if (first > self->first)
    {
      dropped = MIN (first - self->first, (guint64) self->len);
      self->len -= (guint) dropped;
      self->first = first;
      if (dropped > 0)
        g_list_model_items_changed (G_LIST_MODEL (self), 0, (guint) dropped, 0);
    }
  old_len = self->len;
  if (end > self->first + self->len)
    {
      self->len = (guint) (end - self->first);
      g_list_model_items_changed (G_LIST_MODEL (self), old_len, 0, self->len - old_len);
    }
}

MpvEventLog *
mpv_event_log_view_get_log (MpvEventLogView *self)
{
  g_return_val_if_fail (MPV_IS_EVENT_LOG_VIEW (self), NULL);
  return self->log;
}
