/* mandelbrot.c: rendering the Mandelbrot set, one row per task, on a pool of workers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * For each pixel c of the image, iterate z ← z² + c from z = 0 and count the steps until
 * |z| > 2 (or give up after --iterations): points of the set never escape and are painted
 * black, the others get a colour from how fast they escaped. Each pixel depends only on its own
 * coordinates, so rows can be computed in any order by any worker.
 *
 * Two lessons hide in this picture:
 *
 * - Uneven work. Rows that cross the black set cost up to --iterations steps per pixel, rows far
 *   from it a handful. With big chunks (--chunksize 100) one worker may get all the expensive
 *   rows while the others are done: compare the times with --chunksize 1 and 100.
 * - Order. imap (not imap_unordered) returns the rows in order even though they finish in any
 *   order, so this program writes each row to the file as soon as it — and every row above it —
 *   is done, without keeping the whole image in memory.
 *
 * The output is a PPM (P6) image, which most image viewers open (or convert it to PNG with
 * ImageMagick: `convert mandelbrot.ppm mandelbrot.png`).
 *
 *     ./mandelbrot --width 1600 --height 1200 --iterations 2000
 *     ./mandelbrot --start-method spawn --chunksize 8
 *     ./mandelbrot --threads
 */

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include <mp.h>

/* The view: the whole set, from -2.5 - 1.25i to 1.0 + 1.25i. */
#define RE_MIN -2.5
#define RE_MAX 1.0
#define IM_MIN -1.25
#define IM_MAX 1.25

/* The task: bound arguments (width, height, max iterations), then the item: the row index.
 * Returns the row as RGB bytes (`ay`). */
static GVariant *
render_row (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 width, height, max_iter, y;
  guint8 *rgb;
  double ci;

  g_variant_get (args, "(iiii)", &width, &height, &max_iter, &y);
  rgb = g_malloc ((gsize) width * 3);
  ci = IM_MAX - (IM_MAX - IM_MIN) * y / (height - 1);
  for (gint32 x = 0; x < width; x++)
    {
      double cr = RE_MIN + (RE_MAX - RE_MIN) * x / (width - 1);
      double zr = 0, zi = 0, zr2 = 0, zi2 = 0;
      gint32 n = 0;
      guint8 *px = rgb + 3 * x;

      while (n < max_iter && zr2 + zi2 <= 4.0)
        {
          zi = 2 * zr * zi + ci;
          zr = zr2 - zi2 + cr;
          zr2 = zr * zr;
          zi2 = zi * zi;
          n++;
        }
      if (n == max_iter)
        px[0] = px[1] = px[2] = 0;          /* in the set */
      else
        {
          /* A smooth escape count, turned into a blue-gold gradient. */
          double smooth = n + 1 - log2 (log (sqrt (zr2 + zi2)));
          double t = fmod (smooth / 64.0, 1.0);

          px[0] = (guint8) (9 * (1 - t) * t * t * t * 255);
          px[1] = (guint8) (15 * (1 - t) * (1 - t) * t * t * 255);
          px[2] = (guint8) (8.5 * (1 - t) * (1 - t) * (1 - t) * t * 255);
        }
    }
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, rgb, (gsize) width * 3, TRUE,
                                  g_free, rgb);
}

static void
show_progress (guint64 done, guint64 total)
{
  const int width = 40;
  int filled = total ? (int) (done * width / total) : width;

  if (!isatty (STDERR_FILENO))
    return;
  fprintf (stderr, "\r[%.*s%*s] %3d%%", filled, "########################################",
           width - filled, "", total ? (int) (done * 100 / total) : 100);
  if (done == total)
    fprintf (stderr, "\n");
  fflush (stderr);
}

int
main (int argc, char **argv)
{
  int width = 800, height = 600, iterations = 1000, chunksize = 4;
  int processes = MP_POOL_DEFAULT_PROCESSES;
  gboolean threads = FALSE;
  g_autofree char *method = NULL;
  g_autofree char *output = NULL;
  GOptionEntry entries[] = {
    { "width", 'W', 0, G_OPTION_ARG_INT, &width, "Image width (800)", "PX" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &height, "Image height (600)", "PX" },
    { "iterations", 'i', 0, G_OPTION_ARG_INT, &iterations, "Iterations per pixel (1000)", "N" },
    { "chunksize", 'c', 0, G_OPTION_ARG_INT, &chunksize, "Rows per task (4)", "N" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Output file (mandelbrot.ppm)", "FILE" },
    { "processes", 'p', 0, G_OPTION_ARG_INT, &processes, "Workers (default: one per CPU)", "N" },
    { "start-method", 's', 0, G_OPTION_ARG_STRING, &method, "fork, spawn or forkserver", "M" },
    { "threads", 0, 0, G_OPTION_ARG_NONE, &threads, "Use threads instead of processes", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- render the Mandelbrot set");
  g_autoptr(GError) error = NULL;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) task = NULL;
  g_autoptr(MpIMapIterator) rows = NULL;
  g_autofree gint32 *ys = NULL;
  MpPoolOptions pool_options = MP_POOL_OPTIONS_INIT;
  GVariant *row;
  FILE *out;
  gint64 t0;
  guint64 done = 0;

  mp_init (&argc, &argv);   /* first: spawned workers become workers here */

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) ||
      width < 2 || height < 2 || iterations < 1 || chunksize < 1)
    {
      g_printerr ("mandelbrot: %s\n", error ? error->message : "bad arguments");
      return 2;
    }
  if (output == NULL)
    output = g_strdup ("mandelbrot.ppm");

  pool_options.processes = processes;
  if (threads)
    pool = mp_thread_pool_new_full (&pool_options, &error);
  else if ((pool_options.context = mp_get_context (method, &error)) != NULL)
    pool = mp_pool_new_full (&pool_options, &error);
  if (pool == NULL)
    {
      g_printerr ("mandelbrot: %s\n", error->message);
      return 1;
    }

  out = fopen (output, "wb");
  if (out == NULL)
    {
      g_printerr ("mandelbrot: cannot write %s\n", output);
      return 1;
    }
  fprintf (out, "P6\n%d %d\n255\n", width, height);

  ys = g_new (gint32, height);
  for (int y = 0; y < height; y++)
    ys[y] = y;
  task = mp_callable_new (render_row, g_variant_new ("(iii)", width, height, iterations));

  printf ("%dx%d, %d iterations, %d rows per task, on %d %s\n", width, height, iterations,
          chunksize, mp_pool_get_processes (pool), threads ? "threads" : "worker processes");
  t0 = g_get_monotonic_time ();
  rows = mp_pool_imap (pool, task,
                       g_variant_new_fixed_array (G_VARIANT_TYPE_INT32, ys, height, sizeof (gint32)),
                       chunksize, &error);
  while (rows != NULL && mp_imap_iterator_next (rows, &row, MP_TIMEOUT_INFINITE, &error))
    {
      gsize len;
      const guint8 *rgb = g_variant_get_fixed_array (row, &len, 1);

      if (fwrite (rgb, 1, len, out) != len)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "write failed");
      g_variant_unref (row);
      if (error != NULL)
        break;
      show_progress (++done, (guint64) height);
    }
  if (fclose (out) != 0 && error == NULL)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "write failed");
  if (error != NULL)
    {
      g_printerr ("mandelbrot: %s\n", error->message);
      return 1;
    }
  printf ("wrote %s in %.2f s\n", output, (double) (g_get_monotonic_time () - t0) / 1e6);

  mp_pool_close (pool);
  if (!mp_pool_join (pool, MP_TIMEOUT_INFINITE, &error))
    {
      g_printerr ("mandelbrot: %s\n", error->message);
      return 1;
    }
  return 0;
}
