/* mpv-overview-page.h: the program at a glance
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"

G_BEGIN_DECLS

#define MPV_TYPE_OVERVIEW_PAGE (mpv_overview_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvOverviewPage, mpv_overview_page, MPV, OVERVIEW_PAGE, MpvPage)

/* What to look at, for a demo (NULL hides it). */
void mpv_overview_page_set_notes (MpvOverviewPage *self,
                                  const char      *title,
                                  const char      *text);

G_END_DECLS
