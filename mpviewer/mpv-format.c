/* mpv-format.c: how mpviewer writes sizes, times, states and events
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include "mpv-format.h"

char *
mpv_format_size (guint64 bytes)
{
  if (bytes == 0)
    return g_strdup ("–");
  if (bytes < 1024)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " B", bytes);
  if (bytes < 1024 * 1024)
    return g_strdup_printf ("%.1f KiB", (double) bytes / 1024.0);
  if (bytes < G_GUINT64_CONSTANT (1024) * 1024 * 1024)
    return g_strdup_printf ("%.1f MiB", (double) bytes / 1048576.0);
  return g_strdup_printf ("%.2f GiB", (double) bytes / 1073741824.0);
}

char *
mpv_format_duration_ns (guint64 ns)
{
  if (ns == 0)
    return g_strdup ("0");
  if (ns < 1000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " ns", ns);
  if (ns < 1000000)
    return g_strdup_printf ("%.1f µs", (double) ns / 1e3);
  if (ns < 1000000000)
    return g_strdup_printf ("%.1f ms", (double) ns / 1e6);
  if (ns < G_GUINT64_CONSTANT (120000000000))
    return g_strdup_printf ("%.2f s", (double) ns / 1e9);
  return g_strdup_printf ("%" G_GUINT64_FORMAT " min %02" G_GUINT64_FORMAT " s",
                          ns / G_GUINT64_CONSTANT (60000000000),
                          (ns / 1000000000) % 60);
}

char *
mpv_format_since_start (MpMonitor *monitor, guint64 t_ns)
{
  guint64 t0 = mp_monitor_get_start_monotonic_ns (monitor);

  if (t_ns == 0)
    return g_strdup ("–");
  if (t_ns >= t0)
    return g_strdup_printf ("+%.3f s", (double) (t_ns - t0) / 1e9);
  return g_strdup_printf ("−%.3f s", (double) (t0 - t_ns) / 1e9);
}

char *
mpv_format_process_state (MpMonitorProcess *p)
{
  MpMonitorProcessState state = mp_monitor_process_get_state (p);
  int code = mp_monitor_process_get_exit_code (p);

  if (state == MP_MONITOR_PROCESS_EXITED)
    return g_strdup_printf ("exited (%d)", code);
  if (state == MP_MONITOR_PROCESS_KILLED)
    {
      const char *abbrev = code < 0 ? sigabbrev_np (-code) : NULL;
      return abbrev ? g_strdup_printf ("killed (SIG%s)", abbrev)
                    : g_strdup_printf ("killed (%d)", -code);
    }
  return g_strdup (mp_monitor_process_state_to_string (state));
}

char *
mpv_format_object (MpMonitor *monitor, guint64 object_id)
{
  const char *label = monitor ? mp_monitor_lookup_object_label (monitor, object_id) : NULL;

  if (label != NULL && *label != '\0')
    return g_strdup (label);
  return g_strdup_printf ("#%" G_GUINT64_FORMAT, object_id);
}

char *
mpv_format_pids (const GPid *pids, guint n_pids)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n_pids; i++)
    g_string_append_printf (s, "%s%d", i ? ", " : "", (int) pids[i]);
  if (n_pids == 0)
    g_string_append (s, "–");
  return g_string_free (s, FALSE);
}

char *
mpv_format_event_details (MpMonitor *monitor, const MpTraceEvent *ev)
{
  g_autofree char *obj = NULL;
  g_autofree char *d = NULL;

  switch (ev->type)
    {
    case MP_EVENT_PROCESS_CREATED:
      return g_strdup_printf ("child %" G_GINT64_FORMAT, ev->a);
    case MP_EVENT_PROCESS_STARTED:
      return g_strdup_printf ("parent %" G_GINT64_FORMAT, ev->a);
    case MP_EVENT_PROCESS_EXITING:
      return g_strdup_printf ("exit code %" G_GINT64_FORMAT, ev->a);
    case MP_EVENT_PROCESS_EXITED:
      return g_strdup_printf ("child %" G_GINT64_FORMAT " exited, code %" G_GINT64_FORMAT,
                              ev->a, ev->b);
    case MP_EVENT_MARK:
      return g_strdup_printf ("mark %" G_GUINT64_FORMAT ": %" G_GINT64_FORMAT ", %"
                              G_GINT64_FORMAT, ev->object, ev->a, ev->b);
    default:
      break;
    }

  obj = mpv_format_object (monitor, ev->object);
  switch (ev->type)
    {
    case MP_EVENT_TASK_SUBMITTED:
      if (ev->b > 1)
        return g_strdup_printf ("%s: tasks %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT, obj, ev->a,
                                ev->a + ev->b - 1);
      return g_strdup_printf ("%s: task %" G_GINT64_FORMAT, obj, ev->a);
    case MP_EVENT_TASK_STARTED:
      return g_strdup_printf ("%s: task %" G_GINT64_FORMAT " on worker %" G_GINT64_FORMAT,
                              obj, ev->a, ev->b);
    case MP_EVENT_TASK_FINISHED:
      d = mpv_format_duration_ns ((guint64) MAX (ev->b, 0));
      return g_strdup_printf ("%s: task %" G_GINT64_FORMAT " took %s", obj, ev->a, d);
    case MP_EVENT_TASK_FAILED:
      return g_strdup_printf ("%s: task %" G_GINT64_FORMAT " failed (error %" G_GINT64_FORMAT ")",
                              obj, ev->a, ev->b);
    case MP_EVENT_QUEUE_PUT:
    case MP_EVENT_QUEUE_GET:
      return g_strdup_printf ("%s: depth %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " bytes",
                              obj, ev->a, ev->b);
    case MP_EVENT_LOCK_CONTENDED:
      d = mpv_format_duration_ns ((guint64) MAX (ev->b, 0));
      if (ev->a <= 0)   /* semaphores, barriers, events: nobody holds them */
        return g_strdup_printf ("%s: waited %s", obj, d);
      if (ev->b > 0)
        return g_strdup_printf ("%s: held by %" G_GINT64_FORMAT ", waited %s", obj, ev->a, d);
      return g_strdup_printf ("%s: held by %" G_GINT64_FORMAT ", waiting", obj, ev->a);
    case MP_EVENT_LOCK_ACQUIRED:
      d = mpv_format_duration_ns ((guint64) MAX (ev->a, 0));
      return g_strdup_printf ("%s: acquired after %s", obj, d);
    case MP_EVENT_LOCK_OWNER_DIED:
      return g_strdup_printf ("%s: holder %" G_GINT64_FORMAT " died", obj, ev->a);
    case MP_EVENT_BARRIER_WAIT:
    case MP_EVENT_CONDITION_WAIT:
      d = mpv_format_duration_ns ((guint64) MAX (ev->a, 0));
      return g_strdup_printf ("%s: waited %s", obj, d);
    case MP_EVENT_SHM_CREATED:
    case MP_EVENT_SHM_ATTACHED:
      d = mpv_format_size ((guint64) MAX (ev->a, 0));
      return g_strdup_printf ("%s: %s", obj, d);
    case MP_EVENT_WORKER_REPLACED:
      return g_strdup_printf ("%s: worker %" G_GINT64_FORMAT " replaced by %" G_GINT64_FORMAT,
                              obj, ev->a, ev->b);
    case MP_EVENT_CONNECTION_SEND:
    case MP_EVENT_CONNECTION_RECV:
      return g_strdup_printf ("%s: %" G_GINT64_FORMAT " bytes, %" G_GINT64_FORMAT " fds", obj,
                              ev->a, ev->b);
    case MP_EVENT_CONNECTION_ACCEPTED:
      return g_strdup_printf ("%s: peer %" G_GINT64_FORMAT, obj, ev->a);
    default:
      return g_strdup_printf ("%s  a=%" G_GINT64_FORMAT " b=%" G_GINT64_FORMAT, obj, ev->a, ev->b);
    }
}

MpvEventCategory
mpv_event_category (guint32 type)
{
  if (type >= MP_EVENT_PROCESS_CREATED && type <= MP_EVENT_PROCESS_EXITING)
    return MPV_EVENT_CATEGORY_PROCESSES;
  if ((type >= MP_EVENT_TASK_SUBMITTED && type <= MP_EVENT_TASK_FAILED) ||
      type == MP_EVENT_WORKER_REPLACED)
    return MPV_EVENT_CATEGORY_TASKS;
  if (type == MP_EVENT_QUEUE_PUT || type == MP_EVENT_QUEUE_GET)
    return MPV_EVENT_CATEGORY_QUEUES;
  if (type >= MP_EVENT_LOCK_CONTENDED && type <= MP_EVENT_CONDITION_WAIT)
    return MPV_EVENT_CATEGORY_LOCKS;
  if (type >= MP_EVENT_SHM_CREATED && type <= MP_EVENT_SHM_UNLINKED)
    return MPV_EVENT_CATEGORY_SHARED_MEMORY;
  if (type >= MP_EVENT_CONNECTION_SEND && type <= MP_EVENT_AUTH_FAILED)
    return MPV_EVENT_CATEGORY_CONNECTIONS;
  if (type == MP_EVENT_MARK)
    return MPV_EVENT_CATEGORY_MARKS;
  return MPV_EVENT_CATEGORY_ALL;
}
