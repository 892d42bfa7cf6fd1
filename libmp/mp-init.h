/* mp-init.h: the entry point every libmp program calls first
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
void     mp_init        (int    *argc,
                         char ***argv);
MP_AVAILABLE_IN_1_0
gboolean mp_is_child    (void);

G_END_DECLS
