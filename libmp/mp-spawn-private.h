/* mp-spawn-private.h: fork+exec of the program itself, with one socket to the child
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

#define MP_SPAWN_MARKER       "--libmp-spawn"
#define MP_FORKSERVER_MARKER  "--libmp-forkserver"
#define MP_CHILD_FD_ENV       "LIBMP_CHILD_FD"
#define MP_CHILD_FD           3
#define MP_START_MESSAGE_MAX  (64u << 20)

typedef struct
{
  pid_t pid;
  int   pidfd;
  int   sock;    /* our end of the socket the child has as fd 3 */
} MpSpawned;

gboolean _mp_spawn_exec        (const char  *marker,
                                int          sentinel_w,
                                MpSpawned   *out,
                                GError     **error);
void     _mp_spawn_abort       (MpSpawned   *spawned);

char   **_mp_get_forkserver_preload (void);
G_GNUC_NORETURN
void     _mp_forkserver_main   (int sock);
void     _mp_forkserver_reset_after_fork (void);
pid_t    _mp_forkserver_get_pid (void);

G_END_DECLS
