/* mp-listener.h: listeners, clients and authentication (Python's multiprocessing.connection)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mp-connection.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MP_AUTH_TIMEOUT:
 *
 * How long (in microseconds) each side of the authentication handshake waits for the peer's
 * next message before it fails with %MP_ERROR_AUTHENTICATION, so a peer that never answers
 * (one without an authkey, say) cannot hang an accept or a client for ever.
 */
#define MP_AUTH_TIMEOUT ((gint64) 30 * G_USEC_PER_SEC)

/**
 * MpAddressFamily:
 * @MP_ADDRESS_FAMILY_DEFAULT: infer it from the address (Python's `address_type()`); with no
 *   address, a Unix socket
 * @MP_ADDRESS_FAMILY_UNIX: a Unix-domain socket (Python's `'AF_UNIX'`)
 * @MP_ADDRESS_FAMILY_INET: a TCP socket (Python's `'AF_INET'`; IPv6 works too)
 *
 * Addresses are strings, in one notation for Python's three kinds:
 * - `"/run/app.sock"`, `"./x.sock"`, `"name"`: a Unix socket path (Python's `str` address);
 * - `"@name"`: a Linux abstract Unix name (Python's `"\0name"`);
 * - `"host:port"`, `"[::1]:port"`: TCP (Python's `(host, port)` tuple); a host that is a name
 *   is resolved. A Unix path that looks like `host:port` must be written with a `/` in it
 *   (`"./host:80"`) or given with %MP_ADDRESS_FAMILY_UNIX.
 */
typedef enum
{
  MP_ADDRESS_FAMILY_DEFAULT,
  MP_ADDRESS_FAMILY_UNIX,
  MP_ADDRESS_FAMILY_INET,
} MpAddressFamily;

/**
 * MpListener:
 *
 * A bound, listening socket that hands out authenticated connections: Python's
 * `multiprocessing.connection.Listener`. A final #GObject; the last unref closes it.
 *
 * Without an address it listens on a new Unix socket in a private temporary directory (mode
 * 0700), removed again by close. Unix sockets are created mode 0600. With an authkey (even an
 * empty one) every accepted connection must pass Python's mutual HMAC challenge before
 * mp_listener_accept() returns it; see mp_connection_deliver_challenge().
 */
#define MP_TYPE_LISTENER (mp_listener_get_type ())

MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpListener, mp_listener, MP, LISTENER, GObject)

MP_AVAILABLE_IN_1_0
MpListener     *mp_listener_new               (const char       *address,
                                               GBytes           *authkey,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
MpListener     *mp_listener_new_full          (const char       *address,
                                               MpAddressFamily   family,
                                               int               backlog,
                                               GBytes           *authkey,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
MpConnection   *mp_listener_accept            (MpListener       *self,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
gboolean        mp_listener_close             (MpListener       *self,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
const char     *mp_listener_get_address       (MpListener       *self);
MP_AVAILABLE_IN_1_0
MpAddressFamily mp_listener_get_family        (MpListener       *self);
MP_AVAILABLE_IN_1_0
const char     *mp_listener_get_last_accepted (MpListener       *self);
MP_AVAILABLE_IN_1_0
int             mp_listener_fileno            (MpListener       *self,
                                               GError          **error);

MP_AVAILABLE_IN_1_0
MpConnection   *mp_client                     (const char       *address,
                                               GBytes           *authkey,
                                               GError          **error);
MP_AVAILABLE_IN_1_0
MpConnection   *mp_client_full                (const char       *address,
                                               MpAddressFamily   family,
                                               GBytes           *authkey,
                                               GError          **error);

MP_AVAILABLE_IN_1_0
MpAddressFamily mp_address_type               (const char       *address);

MP_AVAILABLE_IN_1_0
gboolean        mp_connection_deliver_challenge (MpConnection   *connection,
                                                 GBytes         *authkey,
                                                 const char     *digest_name,
                                                 GError        **error);
MP_AVAILABLE_IN_1_0
gboolean        mp_connection_answer_challenge  (MpConnection   *connection,
                                                 GBytes         *authkey,
                                                 GError        **error);

G_END_DECLS
