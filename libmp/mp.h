/* mp.h: libmp, Python's multiprocessing for C and GLib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define MP_INSIDE

#include "mp-version.h"
#include "mp-version-macros.h"
#include "mp-types.h"
#include "mp-error.h"
#include "mp-log.h"
#include "mp-init.h"
#include "mp-callable.h"
#include "mp-trace.h"
#include "mp-process.h"
#include "mp-context.h"
#include "mp-lock.h"
#include "mp-semaphore.h"
#include "mp-event.h"
#include "mp-condition.h"
#include "mp-barrier.h"
#include "mp-queue.h"
#include "mp-connection.h"
#include "mp-listener.h"
#include "mp-shared-memory.h"
#include "mp-shareable-list.h"
#include "mp-sharedctypes.h"
#include "mp-value.h"
#include "mp-resource-tracker.h"
#include "mp-monitor-items.h"
#include "mp-monitor.h"
#include "mp-trace-file.h"
#include "mp-async-result.h"
#include "mp-pool.h"
#include "mp-thread-pool.h"

#undef MP_INSIDE
