/* mp-resource-tracker-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-resource-tracker.h"

G_BEGIN_DECLS

#define MP_RESOURCE_TRACKER_MARKER  "--libmp-resource-tracker"
/* One command per datagram, Python's limit. */
#define MP_RESOURCE_TRACKER_MSG_MAX 512

/* Registration never fails the caller: without a tracker, libmp warns once and goes on. */
void _mp_resource_tracker_register    (const char    *name,
                                       const char    *rtype);
void _mp_resource_tracker_unregister  (const char    *name,
                                       const char    *rtype);

/* The start message of spawn and forkserver children carries the tracker, so a whole
 * program tree shares one (as Python passes tracker_fd to spawn_main). */
void _mp_resource_tracker_prep_insert (GVariantDict  *prep,
                                       GUnixFDList   *fds);
void _mp_resource_tracker_prep_adopt  (GVariant      *prep,
                                       GUnixFDList   *fds);

G_END_DECLS
