/* mp-async-result.h: the results of pool work (Python's AsyncResult, MapResult, IMapIterator)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib-object.h>

#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

/**
 * MpResultCallback:
 * @value: (nullable): the result: what the task returned (%NULL for Python's `None`) for
 *   apply, the array of results for map and starmap. Borrowed: ref it to keep it.
 * @user_data: the data given with the callback
 *
 * Python's `callback=`: called once when the work succeeded. It runs on the #GMainContext
 * that was the thread default when the pool was created (see mp_pool_new()).
 */
typedef void (*MpResultCallback) (GVariant *value,
                                  gpointer  user_data);

/**
 * MpErrorCallback:
 * @error: the failure (domain, code and message as the task set them)
 * @user_data: the data given with the callback
 *
 * Python's `error_callback=`: called once when the work failed, on the same context as
 * #MpResultCallback.
 */
typedef void (*MpErrorCallback) (const GError *error,
                                 gpointer      user_data);

/**
 * MpAsyncResult:
 *
 * The result of mp_pool_apply_async_result(), mp_pool_map_async_result() or
 * mp_pool_starmap_async_result(): Python's `AsyncResult` / `MapResult`. A reference-counted
 * handle, safe to use from any thread; it keeps what it needs of its pool alive.
 *
 * Unlike Python's, a result never waits forever because a worker died: the task fails with
 * %MP_ERROR_WORKER_DIED, and the results of a terminated pool fail with %MP_ERROR_CLOSED.
 */
typedef struct _MpAsyncResult MpAsyncResult;

#define MP_TYPE_ASYNC_RESULT (mp_async_result_get_type ())

MP_AVAILABLE_IN_1_0
GType          mp_async_result_get_type     (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpAsyncResult *mp_async_result_ref          (MpAsyncResult  *self);
MP_AVAILABLE_IN_1_0
void           mp_async_result_unref        (MpAsyncResult  *self);
MP_AVAILABLE_IN_1_0
GVariant      *mp_async_result_get          (MpAsyncResult  *self,
                                             gint64          timeout_us,
                                             GError        **error);
MP_AVAILABLE_IN_1_0
gboolean       mp_async_result_wait         (MpAsyncResult  *self,
                                             gint64          timeout_us);
MP_AVAILABLE_IN_1_0
gboolean       mp_async_result_ready        (MpAsyncResult  *self);
MP_AVAILABLE_IN_1_0
gboolean       mp_async_result_successful   (MpAsyncResult  *self,
                                             GError        **error);
MP_AVAILABLE_IN_1_0
double         mp_async_result_get_progress (MpAsyncResult  *self,
                                             guint64        *completed,
                                             guint64        *total);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpAsyncResult, mp_async_result_unref)

/**
 * MpIMapIterator:
 *
 * The iterator mp_pool_imap() and mp_pool_imap_unordered() return: Python's `IMapIterator`.
 * Call mp_imap_iterator_next() until it returns %FALSE without an error.
 */
typedef struct _MpIMapIterator MpIMapIterator;

#define MP_TYPE_IMAP_ITERATOR (mp_imap_iterator_get_type ())

MP_AVAILABLE_IN_1_0
GType           mp_imap_iterator_get_type     (void) G_GNUC_CONST;
MP_AVAILABLE_IN_1_0
MpIMapIterator *mp_imap_iterator_ref          (MpIMapIterator  *self);
MP_AVAILABLE_IN_1_0
void            mp_imap_iterator_unref        (MpIMapIterator  *self);
MP_AVAILABLE_IN_1_0
gboolean        mp_imap_iterator_next         (MpIMapIterator  *self,
                                               GVariant       **value,
                                               gint64           timeout_us,
                                               GError         **error);
MP_AVAILABLE_IN_1_0
double          mp_imap_iterator_get_progress (MpIMapIterator  *self,
                                               guint64         *completed,
                                               guint64         *total);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpIMapIterator, mp_imap_iterator_unref)

G_END_DECLS
