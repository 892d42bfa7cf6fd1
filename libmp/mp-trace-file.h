/* mp-trace-file.h: recordings (JSON Lines) and their export to other formats
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

/**
 * MP_TRACE_FILE_VERSION:
 *
 * The format version written in the header line of a recording. A reader accepts this
 * version only; a recording of another version gives an error naming both.
 */
#define MP_TRACE_FILE_VERSION 1

MP_AVAILABLE_IN_1_0
gboolean mp_trace_file_export_chrome (const char  *trace_path,
                                      const char  *output_path,
                                      GError     **error);

G_END_DECLS
