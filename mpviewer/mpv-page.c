/* mpv-page.c: the base class of the window's pages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A page holds a reference on the monitor it shows and listens to its "events" and "updated"
 * signals only to schedule a refresh: a timer of MPV_PAGE_REFRESH_MS, so the work per second is
 * bounded whatever the event rate. Models (processes, locks, …) are bound directly by the
 * subclasses; the monitor notifies their items once per batch.
 *
 * A page that is not shown (not mapped) does not refresh: it only remembers that it is stale
 * and refreshes when it is shown again, so the hidden pages cost nothing per batch.
 */

#include "mpv-page.h"

typedef struct
{
  MpMonitor *monitor;            /* owned */
  gulong     events_id;
  gulong     updated_id;
  guint      refresh_id;
  guint      time_window;
  gboolean   stale;              /* data came while the page was hidden */
} MpvPagePrivate;

enum
{
  PROP_0,
  PROP_MONITOR,
  PROP_TIME_WINDOW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE_WITH_PRIVATE (MpvPage, mpv_page, GTK_TYPE_WIDGET)

static gboolean
refresh_timeout (gpointer user_data)
{
  MpvPage *self = user_data;
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  priv->refresh_id = 0;
  priv->stale = FALSE;
  if (MPV_PAGE_GET_CLASS (self)->refresh != NULL)
    MPV_PAGE_GET_CLASS (self)->refresh (self);
  return G_SOURCE_REMOVE;
}

void
mpv_page_queue_refresh (MpvPage *self)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_if_fail (MPV_IS_PAGE (self));
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    {
      priv->stale = TRUE;
      return;
    }
  if (priv->refresh_id == 0)
    priv->refresh_id = g_timeout_add_full (G_PRIORITY_DEFAULT_IDLE, MPV_PAGE_REFRESH_MS,
                                           refresh_timeout, self, NULL);
}

void
mpv_page_flush_refresh (MpvPage *self)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_if_fail (MPV_IS_PAGE (self));
  g_clear_handle_id (&priv->refresh_id, g_source_remove);
  refresh_timeout (self);
}

static void
on_events (MpMonitor *monitor, gpointer events, guint n, guint64 lost, MpvPage *self)
{
  mpv_page_queue_refresh (self);
}

static void
on_updated (MpMonitor *monitor, MpvPage *self)
{
  mpv_page_queue_refresh (self);
}

MpMonitor *
mpv_page_get_monitor (MpvPage *self)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_val_if_fail (MPV_IS_PAGE (self), NULL);
  return priv->monitor;
}

void
mpv_page_set_monitor (MpvPage *self, MpMonitor *monitor)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_if_fail (MPV_IS_PAGE (self));
  g_return_if_fail (monitor == NULL || MP_IS_MONITOR (monitor));

  if (priv->monitor == monitor)
    return;
  if (priv->monitor != NULL)
    {
      g_clear_signal_handler (&priv->events_id, priv->monitor);
      g_clear_signal_handler (&priv->updated_id, priv->monitor);
    }
  g_set_object (&priv->monitor, monitor);
  if (monitor != NULL)
    {
      priv->events_id = g_signal_connect (monitor, "events", G_CALLBACK (on_events), self);
      priv->updated_id = g_signal_connect (monitor, "updated", G_CALLBACK (on_updated), self);
    }
  if (MPV_PAGE_GET_CLASS (self)->monitor_changed != NULL)
    MPV_PAGE_GET_CLASS (self)->monitor_changed (self, monitor);
  mpv_page_queue_refresh (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MONITOR]);
}

guint
mpv_page_get_time_window (MpvPage *self)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_val_if_fail (MPV_IS_PAGE (self), 60);
  return priv->time_window;
}

void
mpv_page_set_time_window (MpvPage *self, guint seconds)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  g_return_if_fail (MPV_IS_PAGE (self));
  seconds = CLAMP (seconds, 5, 120);
  if (priv->time_window == seconds)
    return;
  priv->time_window = seconds;
  mpv_page_queue_refresh (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIME_WINDOW]);
}

static void
mpv_page_map (GtkWidget *widget)
{
  MpvPage *self = MPV_PAGE (widget);
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  GTK_WIDGET_CLASS (mpv_page_parent_class)->map (widget);
  /* Shown again: catch up at once rather than after a refresh interval. */
  if (priv->stale)
    {
      g_clear_handle_id (&priv->refresh_id, g_source_remove);
      priv->refresh_id = g_timeout_add_full (G_PRIORITY_DEFAULT, 0, refresh_timeout, self, NULL);
    }
}

static void
mpv_page_dispose (GObject *object)
{
  MpvPage *self = MPV_PAGE (object);
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);
  GtkWidget *child;

  g_clear_handle_id (&priv->refresh_id, g_source_remove);
  if (priv->monitor != NULL)
    {
      g_clear_signal_handler (&priv->events_id, priv->monitor);
      g_clear_signal_handler (&priv->updated_id, priv->monitor);
      g_clear_object (&priv->monitor);
    }
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (mpv_page_parent_class)->dispose (object);
}

static void
mpv_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MpvPage *self = MPV_PAGE (object);

  switch (prop_id)
    {
    case PROP_MONITOR:
      g_value_set_object (value, mpv_page_get_monitor (self));
      break;
    case PROP_TIME_WINDOW:
      g_value_set_uint (value, mpv_page_get_time_window (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mpv_page_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MpvPage *self = MPV_PAGE (object);

  switch (prop_id)
    {
    case PROP_MONITOR:
      mpv_page_set_monitor (self, g_value_get_object (value));
      break;
    case PROP_TIME_WINDOW:
      mpv_page_set_time_window (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mpv_page_class_init (MpvPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = mpv_page_dispose;
  object_class->get_property = mpv_page_get_property;
  object_class->set_property = mpv_page_set_property;

  properties[PROP_MONITOR] =
    g_param_spec_object ("monitor", NULL, NULL, MP_TYPE_MONITOR,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TIME_WINDOW] =
    g_param_spec_uint ("time-window", NULL, NULL, 5, 120, 60,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  widget_class->map = mpv_page_map;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
mpv_page_init (MpvPage *self)
{
  MpvPagePrivate *priv = mpv_page_get_instance_private (self);

  priv->time_window = 60;
}
