/* mp-context.h: start methods and contexts (Python's multiprocessing.context)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib-object.h>

#include "mp-callable.h"
#include "mp-process.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpContext:
 *
 * A start method and the API bound to it: Python's `get_context("spawn")`. The three contexts
 * are process-wide singletons; they are never freed.
 */
typedef struct _MpContext MpContext;

MP_AVAILABLE_IN_1_0
MpContext          *mp_get_context              (const char          *method,
                                                 GError             **error);
MP_AVAILABLE_IN_1_0
const char         *mp_context_get_start_method (MpContext           *context);
MP_AVAILABLE_IN_1_0
MpProcess          *mp_context_process_new      (MpContext           *context,
                                                 MpCallable          *target);
MP_AVAILABLE_IN_1_0
gboolean            mp_set_start_method         (const char          *method,
                                                 gboolean             force,
                                                 GError             **error);
MP_AVAILABLE_IN_1_0
const char         *mp_get_start_method         (gboolean             allow_none);
MP_AVAILABLE_IN_1_0
const char * const *mp_get_all_start_methods    (void);
MP_AVAILABLE_IN_1_0
void                mp_set_executable           (const char          *path);
MP_AVAILABLE_IN_1_0
const char         *mp_get_executable           (void);
MP_AVAILABLE_IN_1_0
void                mp_set_forkserver_preload   (const char * const  *libraries);

G_END_DECLS
