/* mp-log.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The level is a plain atomic int so that a check on a hot path costs one load. With
 * mp_log_to_stderr() the message is written in Python's format ("[LEVEL/ProcessName] text")
 * with a single write(2), so lines from concurrent processes do not interleave.
 */

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "mp-log-private.h"
#include "mp-process-private.h"

static int mp_log_level = MP_LOG_NOTSET;
static int mp_log_stderr = FALSE;

void
mp_log_set_level (MpLogLevel level)
{
  g_atomic_int_set (&mp_log_level, level);
}

MpLogLevel
mp_log_get_level (void)
{
  return (MpLogLevel) g_atomic_int_get (&mp_log_level);
}

/**
 * mp_log_to_stderr:
 * @level: the level to set, or %MP_LOG_NOTSET to keep the current one
 *
 * Writes libmp's messages to stderr in Python's format, `[LEVEL/ProcessName] message`,
 * bypassing the GLib log writer. Children inherit this.
 */
void
mp_log_to_stderr (MpLogLevel level)
{
  if (level != MP_LOG_NOTSET)
    mp_log_set_level (level);
  g_atomic_int_set (&mp_log_stderr, TRUE);
}

gboolean
_mp_log_get_to_stderr (void)
{
  return g_atomic_int_get (&mp_log_stderr);
}

static const char *
level_name (int level)
{
  if (level >= MP_LOG_CRITICAL) return "CRITICAL";
  if (level >= MP_LOG_ERROR) return "ERROR";
  if (level >= MP_LOG_WARNING) return "WARNING";
  if (level >= MP_LOG_SUBWARNING) return "SUBWARNING";
  if (level >= MP_LOG_INFO) return "INFO";
  if (level >= MP_LOG_DEBUG) return "DEBUG";
  return "SUBDEBUG";
}

static GLogLevelFlags
glib_level (int level)
{
  if (level >= MP_LOG_ERROR) return G_LOG_LEVEL_CRITICAL;
  if (level >= MP_LOG_WARNING) return G_LOG_LEVEL_WARNING;
  if (level >= MP_LOG_SUBWARNING) return G_LOG_LEVEL_MESSAGE;
  if (level >= MP_LOG_INFO) return G_LOG_LEVEL_INFO;
  return G_LOG_LEVEL_DEBUG;
}

gboolean
_mp_log_enabled (int level)
{
  int threshold = g_atomic_int_get (&mp_log_level);

  /* NOTSET behaves like Python's last-resort handler: warnings and worse only. */
  if (threshold == MP_LOG_NOTSET)
    threshold = MP_LOG_WARNING;
  return level >= threshold;
}

static void
mp_logv (int level, const char *format, va_list args)
{
  g_autofree char *message = NULL;
  char level_str[8];

  if (!_mp_log_enabled (level))
    return;

  message = g_strdup_vprintf (format, args);

  if (g_atomic_int_get (&mp_log_stderr))
    {
      g_autofree char *line = g_strdup_printf ("[%s/%s] %s\n", level_name (level),
                                               _mp_process_current_name (), message);
      gsize len = strlen (line);

      fflush (stderr);
      if (write (STDERR_FILENO, line, len) < 0)
        { /* Nowhere left to report it. */ }
      return;
    }

  g_snprintf (level_str, sizeof level_str, "%d", level);
  g_log_structured (MP_LOG_DOMAIN, glib_level (level),
                    "MP_LEVEL", level_str,
                    "MP_PROCESS", _mp_process_current_name (),
                    "MESSAGE", "%s", message);
}

void
mp_log (MpLogLevel level, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  mp_logv (level, format, args);
  va_end (args);
}
