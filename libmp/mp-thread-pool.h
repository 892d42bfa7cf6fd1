/* mp-thread-pool.h: a pool of threads with the Pool API (Python's multiprocessing.pool.ThreadPool)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include "mp-pool.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

MP_AVAILABLE_IN_1_0
MpPool *mp_thread_pool_new      (gint                  processes,
                                 GError              **error);
MP_AVAILABLE_IN_1_0
MpPool *mp_thread_pool_new_full (const MpPoolOptions  *options,
                                 GError              **error);

G_END_DECLS
