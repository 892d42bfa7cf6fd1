/* mp-error.h: the MP_ERROR domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib.h>

#include "mp-version-macros.h"

G_BEGIN_DECLS

#define MP_ERROR (mp_error_quark ())

/**
 * MpError:
 * @MP_ERROR_FAILED: an unspecified failure
 * @MP_ERROR_PROCESS: misuse of a process (Python's `ProcessError`/`AssertionError`/`ValueError`
 *   on a `Process`): started twice, joined before start, closed while running…
 * @MP_ERROR_BUFFER_TOO_SHORT: a receive buffer is smaller than the message (`BufferTooShort`)
 * @MP_ERROR_TIMEOUT: a timed wait ran out (`TimeoutError`)
 * @MP_ERROR_AUTHENTICATION: the peer failed the authkey challenge (`AuthenticationError`)
 * @MP_ERROR_BROKEN_BARRIER: a barrier was aborted or reset (`BrokenBarrierError`)
 * @MP_ERROR_FULL: a queue is full (`queue.Full`)
 * @MP_ERROR_EMPTY: a queue is empty (`queue.Empty`)
 * @MP_ERROR_CLOSED: the object was closed (`ValueError`/`OSError` "handle is closed")
 * @MP_ERROR_REMOTE: an error raised in another process (`RemoteError`)
 * @MP_ERROR_WORKER_DIED: a worker process died while running a task
 * @MP_ERROR_SERIALIZATION: a value or callable cannot cross a process boundary
 * @MP_ERROR_OWNER_DIED: a lock was acquired after its holder died holding it
 * @MP_ERROR_INVALID_ARGUMENT: an argument is out of range (`ValueError`/`TypeError`)
 * @MP_ERROR_EOF: the peer closed the connection (`EOFError`)
 * @MP_ERROR_NOT_FOUND: a named resource does not exist (`FileNotFoundError`)
 * @MP_ERROR_EXISTS: a named resource already exists (`FileExistsError`)
 * @MP_ERROR_START_METHOD: a start method is unknown, unavailable or already set
 * @MP_ERROR_IO: an operating-system call failed (`OSError`); the message names it
 *
 * Error codes in the %MP_ERROR domain. Each Python exception of the `multiprocessing` API maps to
 * one code; the message carries the details Python puts in the exception's text.
 */
typedef enum
{
  MP_ERROR_FAILED,
  MP_ERROR_PROCESS,
  MP_ERROR_BUFFER_TOO_SHORT,
  MP_ERROR_TIMEOUT,
  MP_ERROR_AUTHENTICATION,
  MP_ERROR_BROKEN_BARRIER,
  MP_ERROR_FULL,
  MP_ERROR_EMPTY,
  MP_ERROR_CLOSED,
  MP_ERROR_REMOTE,
  MP_ERROR_WORKER_DIED,
  MP_ERROR_SERIALIZATION,
  MP_ERROR_OWNER_DIED,
  MP_ERROR_INVALID_ARGUMENT,
  MP_ERROR_EOF,
  MP_ERROR_NOT_FOUND,
  MP_ERROR_EXISTS,
  MP_ERROR_START_METHOD,
  MP_ERROR_IO,
} MpError;

MP_AVAILABLE_IN_1_0
GQuark mp_error_quark (void);

G_END_DECLS
