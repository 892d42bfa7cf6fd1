/* mp-version-macros.h: symbol export and availability annotations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(MP_INSIDE) && !defined(MP_COMPILATION)
# error "Only <mp.h> can be included directly."
#endif

#include <glib.h>

#ifndef _MP_EXTERN
# define _MP_EXTERN __attribute__((visibility ("default"))) extern
#endif

#define MP_AVAILABLE_IN_ALL _MP_EXTERN
#define MP_AVAILABLE_IN_1_0 _MP_EXTERN
