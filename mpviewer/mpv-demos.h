/* mpv-demos.h: the bundled example programs the Demos menu launches
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char  *id;
  char  *title;
  char  *summary;
  char  *description;
  char  *page;                   /* the page to show first, or NULL */
  char  *path;                   /* the executable found */
  char **args;                   /* its arguments */
} MpvDemo;

void       mpv_demo_free        (MpvDemo     *demo);
/* argv to launch @demo with (path, then the arguments); free with g_strfreev(). */
char     **mpv_demo_dup_argv    (const MpvDemo *demo);

/* The demos of the catalogue (demos.ini in the resources) whose program exists, in catalogue
 * order. Programs are looked up in $MPVIEWER_EXAMPLES_DIR (a colon-separated list) if set,
 * else next to the viewer (../examples from the executable) and in the build's examples
 * directory. */
GPtrArray *mpv_demos_load       (void);
GPtrArray *mpv_demos_load_from  (const char  *catalogue,
                                 gsize        length,
                                 const char * const *dirs);
const MpvDemo *mpv_demos_lookup (GPtrArray   *demos,
                                 const char  *id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpvDemo, mpv_demo_free)

G_END_DECLS
