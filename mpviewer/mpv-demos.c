/* mpv-demos.c: the bundled example programs the Demos menu launches
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The catalogue is data (data/demos.ini, compiled into the resources), so adding a demo is an
 * entry there plus the example's executable; an entry whose executable is not found is left out
 * (examples that are not built yet, an installation without them).
 */

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "mpv-demos.h"

#define CATALOGUE "/org/libmp/Viewer/demos.ini"

void
mpv_demo_free (MpvDemo *demo)
{
  if (demo == NULL)
    return;
  g_free (demo->id);
  g_free (demo->title);
  g_free (demo->summary);
  g_free (demo->description);
  g_free (demo->page);
  g_free (demo->path);
  g_strfreev (demo->args);
  g_free (demo);
}

char **
mpv_demo_dup_argv (const MpvDemo *demo)
{
  GStrvBuilder *b = g_strv_builder_new ();
  char **argv;

  g_strv_builder_add (b, demo->path);
  if (demo->args != NULL)
    g_strv_builder_addv (b, (const char **) demo->args);
  argv = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return argv;
}

static char *
find_program (const char *name, const char * const *dirs)
{
  /* A bare name only: the catalogue cannot point outside the examples directories. */
  if (name == NULL || *name == '\0' || strchr (name, '/') != NULL)
    return NULL;
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs[i], name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR) && access (path, X_OK) == 0)
        return g_steal_pointer (&path);
    }
  return NULL;
}

GPtrArray *
mpv_demos_load_from (const char *catalogue, gsize length, const char * const *dirs)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) groups = NULL;
  GPtrArray *demos = g_ptr_array_new_with_free_func ((GDestroyNotify) mpv_demo_free);

  if (!g_key_file_load_from_data (kf, catalogue, length, G_KEY_FILE_NONE, &error))
    {
      g_warning ("mpviewer: the demo catalogue is broken: %s", error->message);
      return demos;
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autoptr(MpvDemo) demo = g_new0 (MpvDemo, 1);
      g_autofree char *program = g_key_file_get_string (kf, groups[i], "Program", NULL);
      g_autofree char *args = g_key_file_get_string (kf, groups[i], "Arguments", NULL);

      demo->path = find_program (program, dirs);
      if (demo->path == NULL)
        continue;
      if (args != NULL && *args != '\0' && !g_shell_parse_argv (args, NULL, &demo->args, NULL))
        continue;
      demo->id = g_strdup (groups[i]);
      demo->title = g_key_file_get_string (kf, groups[i], "Title", NULL);
      demo->summary = g_key_file_get_string (kf, groups[i], "Summary", NULL);
      demo->description = g_key_file_get_string (kf, groups[i], "Description", NULL);
      demo->page = g_key_file_get_string (kf, groups[i], "Page", NULL);
      if (demo->title == NULL)
        demo->title = g_strdup (demo->id);
      g_ptr_array_add (demos, g_steal_pointer (&demo));
    }
  return demos;
}

GPtrArray *
mpv_demos_load (void)
{
  g_autoptr(GBytes) bytes = g_resources_lookup_data (CATALOGUE, 0, NULL);
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  const char *env = g_getenv ("MPVIEWER_EXAMPLES_DIR");
  gsize length = 0;
  const char *data;

  if (bytes == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) mpv_demo_free);
  data = g_bytes_get_data (bytes, &length);

  if (env != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (env, ":", -1);
      for (guint i = 0; parts[i] != NULL; i++)
        if (*parts[i] != '\0')
          g_ptr_array_add (dirs, g_strdup (parts[i]));
    }
  else
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

      if (exe != NULL)
        {
          g_autofree char *dir = g_path_get_dirname (exe);
          g_ptr_array_add (dirs, g_build_filename (dir, "..", "examples", NULL));
        }
#ifdef MPVIEWER_EXAMPLES_DIR
      g_ptr_array_add (dirs, g_strdup (MPVIEWER_EXAMPLES_DIR));
#endif
    }
  g_ptr_array_add (dirs, NULL);
  return mpv_demos_load_from (data, length, (const char * const *) dirs->pdata);
}

const MpvDemo *
mpv_demos_lookup (GPtrArray *demos, const char *id)
{
  for (guint i = 0; demos != NULL && i < demos->len; i++)
    {
      const MpvDemo *d = g_ptr_array_index (demos, i);
      if (g_strcmp0 (d->id, id) == 0)
        return d;
    }
  return NULL;
}
