/* mp-context.c: start methods, contexts and the settings that go with them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "mp-context.h"
#include "mp-error.h"
#include "mp-process-private.h"

struct _MpContext
{
  MpStartMethodId method;
  const char     *name;
};

static MpContext contexts[] = {
  { MP_START_FORK, "fork" },
  { MP_START_SPAWN, "spawn" },
  { MP_START_FORKSERVER, "forkserver" },
};

static GMutex settings_lock;
static MpContext *default_context;   /* NULL until fixed */
static char *executable;
static char **forkserver_preload;

const char *
_mp_start_method_name (MpStartMethodId method)
{
  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    if (contexts[i].method == method)
      return contexts[i].name;
  return NULL;
}

static MpContext *
lookup (const char *method, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    if (g_strcmp0 (contexts[i].name, method) == 0)
      return &contexts[i];
  g_set_error (error, MP_ERROR, MP_ERROR_START_METHOD,
               "cannot find context for '%s' (start methods are fork, spawn and forkserver)",
               method);
  return NULL;
}

/* Fixes the default on first use, as Python's DefaultContext does. The default is fork, as
 * in the multiprocess package; LIBMP_START_METHOD overrides it for a whole program tree. */
static MpContext *
ensure_default (void)
{
  MpContext *ctx;

  g_mutex_lock (&settings_lock);
  if (default_context == NULL)
    {
      const char *env = g_getenv ("LIBMP_START_METHOD");
      default_context = env ? lookup (env, NULL) : NULL;
      if (default_context == NULL)
        default_context = &contexts[0];
    }
  ctx = default_context;
  g_mutex_unlock (&settings_lock);
  return ctx;
}

MpStartMethodId
_mp_default_start_method (void)
{
  return ensure_default ()->method;
}

/**
 * mp_get_context:
 * @method: (nullable): "fork", "spawn", "forkserver", or %NULL for the default
 * @error: return location for an error
 *
 * Returns: (transfer none): the context, or %NULL with %MP_ERROR_START_METHOD for an unknown
 *   method. Asking for the default fixes it (mp_set_start_method() then needs @force).
 */
MpContext *
mp_get_context (const char *method, GError **error)
{
  if (method == NULL)
    return ensure_default ();
  return lookup (method, error);
}

const char *
mp_context_get_start_method (MpContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->name;
}

/**
 * mp_context_process_new:
 * @context: a context
 * @target: (nullable): what the process runs
 *
 * Returns: (transfer full): a process that will start with @context's method
 */
MpProcess *
mp_context_process_new (MpContext *context, MpCallable *target)
{
  g_return_val_if_fail (context != NULL, NULL);
  return _mp_process_new_for_method (context->method, target);
}

/**
 * mp_set_start_method:
 * @method: (nullable): the method, or %NULL with @force to reset to the initial default
 * @force: replace a default that is already fixed
 * @error: return location for an error
 *
 * Returns: %TRUE on success; %FALSE with %MP_ERROR_START_METHOD if the default was already fixed
 *   (and @force is %FALSE) or @method is unknown
 */
gboolean
mp_set_start_method (const char *method, gboolean force, GError **error)
{
  MpContext *ctx = NULL;
  gboolean ret = TRUE;

  if (method != NULL && (ctx = lookup (method, error)) == NULL)
    return FALSE;

  g_mutex_lock (&settings_lock);
  if (default_context != NULL && !force)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_START_METHOD, "context has already been set");
      ret = FALSE;
    }
  else if (method == NULL && !force)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_START_METHOD,
                   "a NULL start method is only accepted with force");
      ret = FALSE;
    }
  else
    default_context = ctx;
  g_mutex_unlock (&settings_lock);
  return ret;
}

/**
 * mp_get_start_method:
 * @allow_none: return %NULL instead of fixing the default when none is set yet
 *
 * Returns: (nullable): the name of the default start method
 */
const char *
mp_get_start_method (gboolean allow_none)
{
  MpContext *ctx;

  if (allow_none)
    {
      g_mutex_lock (&settings_lock);
      ctx = default_context;
      g_mutex_unlock (&settings_lock);
      return ctx ? ctx->name : NULL;
    }
  return ensure_default ()->name;
}

/**
 * mp_get_all_start_methods:
 *
 * Returns: (transfer none) (array zero-terminated=1): the available methods, the default first
 */
const char * const *
mp_get_all_start_methods (void)
{
  static const char *fork_first[] = { "fork", "spawn", "forkserver", NULL };
  static const char *spawn_first[] = { "spawn", "fork", "forkserver", NULL };
  static const char *forkserver_first[] = { "forkserver", "fork", "spawn", NULL };

  switch (ensure_default ()->method)
    {
    case MP_START_SPAWN: return spawn_first;
    case MP_START_FORKSERVER: return forkserver_first;
    case MP_START_FORK:
    default: return fork_first;
    }
}

/**
 * mp_set_executable:
 * @path: (nullable): the program spawn and forkserver children run, or %NULL for the
 *   calling program itself (`/proc/self/exe`)
 *
 * The program must call mp_init() first thing in main() and be the same build: callables are
 * found in it by build-id.
 */
void
mp_set_executable (const char *path)
{
  g_mutex_lock (&settings_lock);
  g_free (executable);
  executable = g_strdup (path && *path ? path : NULL);
  g_mutex_unlock (&settings_lock);
}

/**
 * mp_get_executable:
 *
 * Returns: the program spawn children run; "" when it is the calling program itself
 */
const char *
mp_get_executable (void)
{
  const char *ret;

  g_mutex_lock (&settings_lock);
  ret = executable ? g_intern_string (executable) : "";
  g_mutex_unlock (&settings_lock);
  return ret;
}

/**
 * mp_set_forkserver_preload:
 * @libraries: (nullable) (array zero-terminated=1): shared libraries (paths or sonames) the
 *   forkserver loads when it starts, so that their functions can be run by its children
 *
 * Python's `set_forkserver_preload()`, for C: modules are shared libraries. A library that
 * fails to load is skipped with a debug message, as Python ignores import errors.
 */
void
mp_set_forkserver_preload (const char * const *libraries)
{
  g_mutex_lock (&settings_lock);
  g_strfreev (forkserver_preload);
  forkserver_preload = g_strdupv ((char **) libraries);
  g_mutex_unlock (&settings_lock);
}

char **_mp_get_forkserver_preload (void);

char **
_mp_get_forkserver_preload (void)
{
  char **ret;

  g_mutex_lock (&settings_lock);
  ret = g_strdupv (forkserver_preload);
  g_mutex_unlock (&settings_lock);
  return ret;
}
