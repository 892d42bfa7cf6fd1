/* mp-condition.h: Condition across processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-lock.h"
#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpCondition:
 *
 * Python's `multiprocessing.Condition`: a condition variable over a Lock or an RLock (a new
 * RLock by default). Waiting or notifying without holding the lock is an error.
 */
typedef struct _MpCondition MpCondition;

/**
 * MpPredicate:
 * @user_data: what was given to mp_condition_wait_for()
 *
 * Returns: whether the condition waited for holds
 */
typedef gboolean (*MpPredicate) (gpointer user_data);

MP_AVAILABLE_IN_1_0
MpCondition *mp_condition_new            (MpRLock      *lock,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
MpCondition *mp_condition_new_with_lock  (MpLock       *lock,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
MpCondition *mp_condition_ref            (MpCondition  *self);
MP_AVAILABLE_IN_1_0
void         mp_condition_unref          (MpCondition  *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_acquire        (MpCondition  *self,
                                          gint64        timeout_us,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_release        (MpCondition  *self,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_wait           (MpCondition  *self,
                                          gint64        timeout_us,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_wait_for       (MpCondition  *self,
                                          MpPredicate   predicate,
                                          gpointer      user_data,
                                          gint64        timeout_us,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_notify         (MpCondition  *self,
                                          guint         n,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_condition_notify_all     (MpCondition  *self,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
GVariant    *mp_condition_serialize      (MpCondition  *self,
                                          GUnixFDList  *fd_list,
                                          GError      **error);
MP_AVAILABLE_IN_1_0
MpCondition *mp_condition_deserialize    (GVariant     *serialized,
                                          GUnixFDList  *fd_list,
                                          GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpCondition, mp_condition_unref)

G_END_DECLS
