/* mp-process.h: processes (Python's multiprocessing.Process)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "mp-callable.h"
#include "mp-types.h"
#include "mp-version-macros.h"

G_BEGIN_DECLS

#define MP_TYPE_PROCESS (mp_process_get_type ())

MP_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MpProcess, mp_process, MP, PROCESS, GObject)

MP_AVAILABLE_IN_1_0
MpProcess   *mp_process_new            (MpCallable    *target);
MP_AVAILABLE_IN_1_0
const char  *mp_process_get_name       (MpProcess     *self);
MP_AVAILABLE_IN_1_0
void         mp_process_set_name       (MpProcess     *self,
                                        const char    *name);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_get_daemon     (MpProcess     *self);
MP_AVAILABLE_IN_1_0
void         mp_process_set_daemon     (MpProcess     *self,
                                        gboolean       daemon);
MP_AVAILABLE_IN_1_0
GBytes      *mp_process_get_authkey    (MpProcess     *self);
MP_AVAILABLE_IN_1_0
void         mp_process_set_authkey    (MpProcess     *self,
                                        GBytes        *authkey);
MP_AVAILABLE_IN_1_0
const char  *mp_process_get_start_method (MpProcess   *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_start          (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_join           (MpProcess     *self,
                                        gint64         timeout_us,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
void         mp_process_join_async     (MpProcess           *self,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_join_finish    (MpProcess     *self,
                                        GAsyncResult  *result,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_is_alive       (MpProcess     *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_terminate      (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_kill           (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_interrupt      (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_close          (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
GPid         mp_process_get_pid        (MpProcess     *self);
MP_AVAILABLE_IN_1_0
gboolean     mp_process_get_exitcode   (MpProcess     *self,
                                        int           *exitcode);
MP_AVAILABLE_IN_1_0
int          mp_process_get_sentinel   (MpProcess     *self,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
char        *mp_process_to_string      (MpProcess     *self);
MP_AVAILABLE_IN_1_0
GVariant    *mp_process_serialize      (MpProcess     *self,
                                        GUnixFDList   *fd_list,
                                        GError       **error);
MP_AVAILABLE_IN_1_0
MpProcess   *mp_process_deserialize    (GVariant      *serialized,
                                        GUnixFDList   *fd_list,
                                        GError       **error);

MP_AVAILABLE_IN_1_0
MpProcess   *mp_current_process        (void);
MP_AVAILABLE_IN_1_0
MpProcess   *mp_parent_process         (void);
MP_AVAILABLE_IN_1_0
GPtrArray   *mp_active_children        (void);
MP_AVAILABLE_IN_1_0
int          mp_cpu_count              (void);
MP_AVAILABLE_IN_1_0
G_GNUC_NORETURN
void         mp_process_exit           (int            exitcode);

G_END_DECLS
