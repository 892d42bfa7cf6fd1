/* mp-resource-tracker.h: cleaning up named resources a crashed program leaked
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

MP_AVAILABLE_IN_1_0
gboolean mp_resource_tracker_ensure_running (GError **error);
MP_AVAILABLE_IN_1_0
GPid     mp_resource_tracker_get_pid        (void);

G_END_DECLS
