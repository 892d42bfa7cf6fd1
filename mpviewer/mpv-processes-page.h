/* mpv-processes-page.h: the live process tree
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpv-page.h"

G_BEGIN_DECLS

#define MPV_TYPE_PROCESSES_PAGE (mpv_processes_page_get_type ())
G_DECLARE_FINAL_TYPE (MpvProcessesPage, mpv_processes_page, MPV, PROCESSES_PAGE, MpvPage)

/* The tree as the view shows it (GtkTreeListRow items, sorted), for tests. */
GListModel *mpv_processes_page_get_rows (MpvProcessesPage *self);

G_END_DECLS
