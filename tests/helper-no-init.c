/* helper-no-init.c: a program that forgets mp_init(), for test-start-methods
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * It starts one spawn child and prints the child's exit code. Since main() does not call
 * mp_init(), the spawned copy runs main() from the top again; libmp must refuse to start a
 * grandchild there and say why, instead of recursing or hanging.
 */

#include <stdio.h>

#include <mp.h>

static GVariant *
never_runs (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_new_int32 (0);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpCallable) target = mp_callable_new (never_runs, NULL);
  g_autoptr(MpProcess) p = mp_context_process_new (mp_get_context ("spawn", NULL), target);
  int code = -1000;

  if (!mp_process_start (p, &error))
    {
      fprintf (stderr, "start failed: %s\n", error->message);
      return 2;
    }
  if (!mp_process_join (p, 30 * G_USEC_PER_SEC, &error))
    {
      fprintf (stderr, "join failed: %s\n", error->message);
      (void) mp_process_kill (p, NULL);
      return 3;
    }
  mp_process_get_exitcode (p, &code);
  printf ("child exitcode=%d\n", code);
  return 0;
}
