/* mp-wire-private.h: GVariant messages with file descriptors over a Unix stream socket
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

#define MP_WIRE_MAX_FDS 250

gboolean  _mp_wire_send (int            sock,
                         GVariant      *message,
                         GUnixFDList   *fds,
                         GError       **error);
GVariant *_mp_wire_recv (int            sock,
                         gsize          max_size,
                         GUnixFDList  **out_fds,
                         GError       **error);

G_END_DECLS
