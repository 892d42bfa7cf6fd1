/* mpv-pools-page.h: a pool's counters, throughput and task stream
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"
#include "mpv-task-stream.h"

G_BEGIN_DECLS

#define MPV_TYPE_POOLS_PAGE (mpv_pools_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvPoolsPage, mpv_pools_page, MPV, POOLS_PAGE, MpvPage)

MpvTaskStream *mpv_pools_page_get_task_stream (MpvPoolsPage *self);

G_END_DECLS
