/* mp.h: libmp, Python's multiprocessing for C and GLib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define MP_INSIDE

#include "mp-version.h"
#include "mp-version-macros.h"
#include "mp-error.h"
#include "mp-log.h"
#include "mp-init.h"
#include "mp-callable.h"
#include "mp-trace.h"
#include "mp-process.h"
#include "mp-context.h"
#include "mp-monitor-items.h"
#include "mp-monitor.h"
#include "mp-trace-file.h"

#undef MP_INSIDE
