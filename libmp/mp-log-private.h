/* mp-log-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mp-log.h"

G_BEGIN_DECLS

gboolean _mp_log_enabled       (int level);
gboolean _mp_log_get_to_stderr (void);

#define _mp_debug(...)      mp_log (MP_LOG_DEBUG, __VA_ARGS__)
#define _mp_subdebug(...)   mp_log (MP_LOG_SUBDEBUG, __VA_ARGS__)
#define _mp_info(...)       mp_log (MP_LOG_INFO, __VA_ARGS__)
#define _mp_subwarning(...) mp_log (MP_LOG_SUBWARNING, __VA_ARGS__)
#define _mp_warning(...)    mp_log (MP_LOG_WARNING, __VA_ARGS__)

G_END_DECLS
