/* mp-cmsg-private.h: descriptors as SCM_RIGHTS control messages
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything that passes descriptors over a Unix socket (the start messages, queues,
 * connections) builds and reads its control messages here.
 */

#pragma once

#include <string.h>
#include <sys/socket.h>

#include <unistd.h>

#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

/* The kernel's SCM_MAX_FD: the most descriptors one sendmsg() may carry. */
#define MP_CMSG_MAX_FDS 253

/* Room for MP_CMSG_MAX_FDS descriptors, aligned for cmsghdr. */
typedef union
{
  struct cmsghdr align;
  char           buf[CMSG_SPACE (sizeof (int) * MP_CMSG_MAX_FDS)];
} MpCmsgBuffer;

/* Attaches @n_fds descriptors to @msg, in @u's storage (n_fds ≤ MP_CMSG_MAX_FDS). */
static inline void
_mp_cmsg_attach_fds (struct msghdr *msg, MpCmsgBuffer *u, const int *fds, guint n_fds)
{
  struct cmsghdr *c;

  if (n_fds == 0)
    return;
  memset (u, 0, sizeof *u);
  msg->msg_control = u->buf;
  msg->msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
  c = CMSG_FIRSTHDR (msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
  memcpy (CMSG_DATA (c), fds, sizeof (int) * n_fds);
}

/* Gives @msg room to receive descriptors (use MSG_CMSG_CLOEXEC with recvmsg()). */
static inline void
_mp_cmsg_prepare_receive (struct msghdr *msg, MpCmsgBuffer *u)
{
  msg->msg_control = u->buf;
  msg->msg_controllen = sizeof u->buf;
}

/* Hands every descriptor that arrived with @msg to @take, which owns it from then on. */
static inline void
_mp_cmsg_foreach_fd (struct msghdr  *msg,
                     void          (*take) (int fd, gpointer data),
                     gpointer        data)
{
  if (msg->msg_controllen == 0)
    return;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        guint n = (guint) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int));
        const guint8 *p = CMSG_DATA (c);

        for (guint i = 0; i < n; i++)
          {
            int fd;
            memcpy (&fd, p + i * sizeof (int), sizeof fd);
            take (fd, data);
          }
      }
}

/* A _mp_cmsg_foreach_fd() taker that adds each descriptor to a GUnixFDList. */
static inline void
_mp_cmsg_append_to_fd_list (int fd, gpointer fd_list)
{
  (void) g_unix_fd_list_append (fd_list, fd, NULL);
  close (fd);
}

G_END_DECLS
