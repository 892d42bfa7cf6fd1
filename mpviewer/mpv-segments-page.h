/* mpv-segments-page.h: shared-memory segments, who maps them, and leaks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"

G_BEGIN_DECLS

#define MPV_TYPE_SEGMENTS_PAGE (mpv_segments_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvSegmentsPage, mpv_segments_page, MPV, SEGMENTS_PAGE, MpvPage)

G_END_DECLS
