/* mp-error.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "mp-error.h"

G_DEFINE_QUARK (mp-error-quark, mp_error)
