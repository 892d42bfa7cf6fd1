/* mp-types.h: definitions every part of libmp uses
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * MP_TIMEOUT_INFINITE:
 *
 * A timeout that never runs out. Timeouts are #gint64 microseconds; 0 means do not block,
 * and a negative value other than this one is treated as 0 (as Python treats negative timeouts).
 */
#define MP_TIMEOUT_INFINITE ((gint64) -1)

G_END_DECLS
