/* mpv-queues-page.h: queues, their depth over time and their rates
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"

G_BEGIN_DECLS

#define MPV_TYPE_QUEUES_PAGE (mpv_queues_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvQueuesPage, mpv_queues_page, MPV, QUEUES_PAGE, MpvPage)

G_END_DECLS
