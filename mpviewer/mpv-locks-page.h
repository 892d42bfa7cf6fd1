/* mpv-locks-page.h: synchronization objects, their contention, and the wait-for graph
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"
#include "mpv-wait-graph.h"

G_BEGIN_DECLS

#define MPV_TYPE_LOCKS_PAGE (mpv_locks_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvLocksPage, mpv_locks_page, MPV, LOCKS_PAGE, MpvPage)

MpvWaitGraph *mpv_locks_page_get_wait_graph (MpvLocksPage *self);

G_END_DECLS
