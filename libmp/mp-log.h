/* mp-log.h: libmp's logger (Python's multiprocessing.get_logger())
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib.h>

#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MP_LOG_DOMAIN:
 *
 * The GLib log domain of every libmp message.
 */
#define MP_LOG_DOMAIN "libmp"

/**
 * MpLogLevel:
 * @MP_LOG_NOTSET: no level set: only warnings and errors are written
 * @MP_LOG_SUBDEBUG: very detailed tracing (Python's `SUBDEBUG`, 5)
 * @MP_LOG_DEBUG: debugging (10)
 * @MP_LOG_INFO: process and resource lifecycle (20)
 * @MP_LOG_SUBWARNING: unusual but handled situations (Python's `SUBWARNING`, 25)
 * @MP_LOG_WARNING: problems the program should hear of (30)
 * @MP_LOG_ERROR: failures (40)
 * @MP_LOG_CRITICAL: failures that leave the program unable to go on (50)
 *
 * Python's numeric logging levels. Messages go through GLib structured logging in
 * the %MP_LOG_DOMAIN domain with the field `MP_LEVEL` set to the number; SUBDEBUG and
 * DEBUG map to %G_LOG_LEVEL_DEBUG, INFO to %G_LOG_LEVEL_INFO, SUBWARNING to
 * %G_LOG_LEVEL_MESSAGE, WARNING to %G_LOG_LEVEL_WARNING and above to %G_LOG_LEVEL_CRITICAL.
 * Children inherit the level of their parent.
 */
typedef enum
{
  MP_LOG_NOTSET = 0,
  MP_LOG_SUBDEBUG = 5,
  MP_LOG_DEBUG = 10,
  MP_LOG_INFO = 20,
  MP_LOG_SUBWARNING = 25,
  MP_LOG_WARNING = 30,
  MP_LOG_ERROR = 40,
  MP_LOG_CRITICAL = 50,
} MpLogLevel;

MP_AVAILABLE_IN_1_0
void       mp_log_set_level (MpLogLevel level);
MP_AVAILABLE_IN_1_0
MpLogLevel mp_log_get_level (void);
MP_AVAILABLE_IN_1_0
void       mp_log_to_stderr (MpLogLevel level);
MP_AVAILABLE_IN_1_0
void       mp_log           (MpLogLevel  level,
                             const char *format,
                             ...) G_GNUC_PRINTF (2, 3);

G_END_DECLS
