/* mpviewer-gui.h: the GTK front end's entry point
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mpviewer-headless.h"

G_BEGIN_DECLS

/* Runs the GTK front end on @options (the picker when nothing is given); without a display,
 * the terminal front end instead. Returns the exit status. */
int mpviewer_gui_run (const MpViewerOptions *options,
                      int                    argc,
                      char                 **argv);

G_END_DECLS
