/* mp-process-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include "mp-arena-private.h"
#include "mp-process.h"

G_BEGIN_DECLS

typedef enum
{
  MP_PROCESS_CHILD,   /* created here, started (or to be started) by this process */
  MP_PROCESS_SELF,    /* mp_current_process() */
  MP_PROCESS_REMOTE,  /* known by handle: the parent, or a process passed as an argument */
} MpProcessKind;

typedef enum
{
  MP_PROCESS_INITIAL,
  MP_PROCESS_STARTED,
  MP_PROCESS_STOPPED,
  MP_PROCESS_CLOSED,
} MpProcessState;

struct _MpProcess
{
  GObject          parent_instance;

  GMutex           mutex;
  MpProcessKind    kind;
  MpProcessState   state;
  MpStartMethodId  method;
  char            *name;
  gboolean         daemon;
  int             *identity;       /* Process-1:2 → {1, 2} */
  guint            identity_len;
  GBytes          *authkey;
  MpCallable      *target;         /* dropped after start, as Python does */
  pid_t            creator_pid;
  pid_t            pid;
  pid_t            parent_pid;
  int              pidfd;          /* -1 when unknown */
  int              status_fd;      /* forkserver: the pipe the server writes the status to */
  int              sentinel_r;     /* without pidfds: a pipe the child holds open until exit */
  int              slot;           /* process table slot, -1 without one */
  MpProcRole       role;           /* what monitors show it as (a pool sets WORKER) */
  gboolean         has_exitcode;
  int              exitcode;
};

MpProcess  *_mp_process_new_for_method (MpStartMethodId  method,
                                         MpCallable      *target);

/* Start methods fill pid, pidfd and status_fd, or fail without side effects. */
gboolean    _mp_start_fork        (MpProcess  *self,
                                   GError    **error);
gboolean    _mp_start_spawn       (MpProcess  *self,
                                   GError    **error);
gboolean    _mp_start_forkserver  (MpProcess  *self,
                                   GError    **error);

GVariant   *_mp_process_build_prep (MpProcess    *self,
                                    GUnixFDList  *fds,
                                    GError      **error);
G_GNUC_NORETURN
void        _mp_bootstrap_child    (int sock);
G_GNUC_NORETURN
void        _mp_process_after_fork_child (MpProcess *self,
                                          int        sentinel_w);
gboolean    _mp_process_setup_from_prep (GVariant     *prep,
                                         GUnixFDList  *fds,
                                         MpCallable  **target,
                                         GError      **error);
G_GNUC_NORETURN
void        _mp_process_run_and_exit (MpCallable *target);

const char *_mp_process_current_name (void);
void        _mp_process_set_role    (MpProcess  *self,
                                     MpProcRole  role);
const char *_mp_start_method_name   (MpStartMethodId method);
MpStartMethodId _mp_default_start_method (void);
gboolean    _mp_check_initialized   (GError **error);
const char *_mp_get_argv0           (void);
int         _mp_self_pidfd          (void);
void        _mp_process_atexit      (void);

/* fd helpers */
int         _mp_pidfd_open          (pid_t pid);
gboolean    _mp_pidfd_available     (void);
int         _mp_pidfd_send_signal   (int pidfd,
                                     int sig);
gboolean    _mp_fd_wait_readable    (int     fd,
                                     gint64  timeout_us);
int         _mp_count_threads       (void);

G_END_DECLS
