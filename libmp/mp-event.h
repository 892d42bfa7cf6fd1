/* mp-event.h: Event across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpEvent:
 *
 * Python's `multiprocessing.Event`: a flag processes can wait for.
 */
typedef struct _MpEvent MpEvent;

MP_AVAILABLE_IN_1_0
MpEvent  *mp_event_new          (GError      **error);
MP_AVAILABLE_IN_1_0
MpEvent  *mp_event_ref          (MpEvent      *self);
MP_AVAILABLE_IN_1_0
void      mp_event_unref        (MpEvent      *self);
MP_AVAILABLE_IN_1_0
gboolean  mp_event_is_set       (MpEvent      *self);
MP_AVAILABLE_IN_1_0
void      mp_event_set          (MpEvent      *self);
MP_AVAILABLE_IN_1_0
void      mp_event_clear        (MpEvent      *self);
MP_AVAILABLE_IN_1_0
gboolean  mp_event_wait         (MpEvent      *self,
                                 gint64        timeout_us);
MP_AVAILABLE_IN_1_0
char     *mp_event_to_string    (MpEvent      *self);
MP_AVAILABLE_IN_1_0
GVariant *mp_event_serialize    (MpEvent      *self,
                                 GUnixFDList  *fd_list,
                                 GError      **error);
MP_AVAILABLE_IN_1_0
MpEvent  *mp_event_deserialize  (GVariant     *serialized,
                                 GUnixFDList  *fd_list,
                                 GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpEvent, mp_event_unref)

G_END_DECLS
