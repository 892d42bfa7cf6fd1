/* mp-futex-private.h: futexes on words in shared memory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The words live in MAP_SHARED memory used by several processes, so these are the shared
 * (non-PRIVATE) futex operations: the kernel keys them on the backing file and offset, not on
 * the address, and a wake in one process reaches a waiter in another.
 */

#pragma once

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

/* Sleeps while *word == expected, at most timeout_ns (< 0: forever). Returns 0 when woken (or
 * when *word had already changed), ETIMEDOUT, or EINTR. */
static inline int
_mp_futex_wait (uint32_t *word, uint32_t expected, gint64 timeout_ns)
{
  struct timespec ts, *tsp = NULL;

  if (timeout_ns >= 0)
    {
      ts.tv_sec = timeout_ns / G_GINT64_CONSTANT (1000000000);
      ts.tv_nsec = timeout_ns % G_GINT64_CONSTANT (1000000000);
      tsp = &ts;
    }
  if (syscall (SYS_futex, word, FUTEX_WAIT, expected, tsp, NULL, 0) == 0)
    return 0;
  return errno == EAGAIN ? 0 : errno;
}

static inline void
_mp_futex_wake (uint32_t *word, int n)
{
  syscall (SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}
