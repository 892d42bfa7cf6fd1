/* wordcount.c: counting words with map/reduce on a pool of worker processes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * map/reduce in two steps:
 *
 *   map      cut the text into blocks; a worker counts the words of a block and returns a
 *            small table {word: count}. Blocks do not depend on each other, so any number of
 *            workers can count at the same time.
 *   reduce   the main process merges the tables into one, as they come back.
 *
 *     text ─► block 1 ─► [worker] ─► {the: 12, ship: 3, …} ─┐
 *          ─► block 2 ─► [worker] ─► {the: 9, keeper: 4, …} ─┼─► merge ─► top words
 *          ─► block N ─► [worker] ─► {…}                     ─┘
 *
 * The size of the blocks matters (see the keeper's story in sample.txt): tiny blocks spend
 * more time travelling to the workers than being counted; a single block keeps every worker
 * but one idle.
 *
 * Things to try:
 *
 *     ./wordcount                          the sample text, repeated 2000 times
 *     ./wordcount --blocks 2 --processes 4      too few blocks for four workers
 *     ./wordcount --blocks 100000               blocks so small the overhead shows
 *     ./wordcount --start-method forkserver ../examples/sample.txt
 *     ./wordcount --threads                the same program on threads
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mp.h>

#ifndef EXAMPLES_SRCDIR
# define EXAMPLES_SRCDIR "."
#endif

/* The map step, run by a worker: (block) → a{su}, each word of the block with its count.
 * Words are runs of letters and digits (plus inner apostrophes), lower-cased. */
static GVariant *
count_words (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GString) word = g_string_new (NULL);
  const char *text, *p;
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer key, value;

  g_variant_get (args, "(&s)", &text);
  for (p = text;; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c != 0 && (g_unichar_isalnum (c) || (c == '\'' && word->len > 0)))
        g_string_append_unichar (word, g_unichar_tolower (c));
      else if (word->len > 0)
        {
          guint n;

          if (word->str[word->len - 1] == '\'')
            g_string_truncate (word, word->len - 1);
          n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, word->str));
          if (n == 0)
            g_hash_table_insert (counts, g_strdup (word->str), GUINT_TO_POINTER (1));
          else
            g_hash_table_insert (counts, g_strdup (word->str), GUINT_TO_POINTER (n + 1));
          g_string_truncate (word, 0);
        }
      if (c == 0)
        break;
    }

  /* The result crosses back to the main process as a GVariant: a dictionary. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{su}"));
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_variant_builder_add (&builder, "{su}", key, GPOINTER_TO_UINT (value));
  return g_variant_builder_end (&builder);
}

/* Cuts @text into about @n blocks, each ending at a line end: an `as` of blocks. */
static GVariant *
split_blocks (const char *text, gsize len, gint64 n)
{
  GVariantBuilder builder;
  gsize target = MAX (len / (gsize) MAX (n, 1), 1);
  gsize start = 0;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_STRING_ARRAY);
  while (start < len)
    {
      gsize end = MIN (start + target, len);
      const char *nl = end < len ? memchr (text + end, '\n', len - end) : NULL;
      g_autofree char *block = NULL;

      end = nl ? (gsize) (nl - text) + 1 : len;
      block = g_strndup (text + start, end - start);
      g_variant_builder_add (&builder, "s", block);
      start = end;
    }
  return g_variant_builder_end (&builder);
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

typedef struct
{
  const char *word;
  guint64     count;
} WordCount;

static int
by_count (const void *a, const void *b)
{
  const WordCount *x = a, *y = b;

  if (x->count != y->count)
    return x->count < y->count ? 1 : -1;
  return strcmp (x->word, y->word);
}

int
main (int argc, char **argv)
{
  gint64 blocks = 256, repeat = 0, top = 15;
  int processes = MP_POOL_DEFAULT_PROCESSES;
  gboolean threads = FALSE;
  g_autofree char *method = NULL;
  GOptionEntry entries[] = {
    { "blocks", 'b', 0, G_OPTION_ARG_INT64, &blocks, "Blocks to cut the text into (256)", "N" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT64, &repeat,
      "Repeat the text N times, for a longer run (2000 for the sample, else 1)", "N" },
    { "top", 0, 0, G_OPTION_ARG_INT64, &top, "Words to show (15)", "N" },
    { "processes", 'p', 0, G_OPTION_ARG_INT, &processes, "Workers (default: one per CPU)", "N" },
    { "start-method", 's', 0, G_OPTION_ARG_STRING, &method, "fork, spawn or forkserver", "M" },
    { "threads", 0, 0, G_OPTION_ARG_NONE, &threads, "Use threads instead of processes", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("[FILE] - count words on a pool");
  g_autoptr(GError) error = NULL;
  g_autoptr(MpPool) pool = NULL;
  g_autoptr(MpCallable) task = NULL;
  g_autoptr(MpIMapIterator) results = NULL;
  g_autoptr(GHashTable) totals = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *contents = NULL;
  g_autofree WordCount *sorted = NULL;
  g_autoptr(GString) text = NULL;
  MpPoolOptions pool_options = MP_POOL_OPTIONS_INIT;
  const char *path;
  gsize len;
  guint64 done = 0, n_blocks, words = 0;
  GHashTableIter iter;
  gpointer key, value;
  GVariant *items, *table;
  gint64 t0;
  guint n_words, i;

  mp_init (&argc, &argv);   /* first: spawned workers become workers here */

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || blocks < 1 || repeat < 0)
    {
      g_printerr ("wordcount: %s\n", error ? error->message : "bad arguments");
      return 2;
    }
  path = argc > 1 ? argv[1] : EXAMPLES_SRCDIR "/sample.txt";
  if (repeat == 0)
    repeat = argc > 1 ? 1 : 2000;
  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      g_printerr ("wordcount: %s\n", error->message);
      return 1;
    }
  text = g_string_sized_new (len * (gsize) repeat);
  for (gint64 r = 0; r < repeat; r++)
    g_string_append_len (text, contents, (gssize) len);

  pool_options.processes = processes;
  if (threads)
    pool = mp_thread_pool_new_full (&pool_options, &error);
  else if ((pool_options.context = mp_get_context (method, &error)) != NULL)
    pool = mp_pool_new_full (&pool_options, &error);
  if (pool == NULL)
    {
      g_printerr ("wordcount: %s\n", error->message);
      return 1;
    }

  items = split_blocks (text->str, text->len, blocks);
  n_blocks = g_variant_n_children (items);
  printf ("%s: %.1f MB in %" G_GUINT64_FORMAT " blocks on %d %s\n", path, text->len / 1e6,
          n_blocks, mp_pool_get_processes (pool), threads ? "threads" : "worker processes");
  t0 = g_get_monotonic_time ();

  /* map: every block to a worker. imap_unordered gives each table back as soon as its block
   * is counted, so the reduce step runs while the workers are still counting. */
  task = mp_callable_new (count_words, NULL);
  results = mp_pool_imap_unordered (pool, task, items, 1, &error);
  while (results != NULL && mp_imap_iterator_next (results, &table, MP_TIMEOUT_INFINITE, &error))
    {
      GVariantIter it;
      const char *word;
      guint32 count;

      /* reduce: add this block's counts to the totals */
      g_variant_iter_init (&it, table);
      while (g_variant_iter_next (&it, "{&su}", &word, &count))
        {
          guint64 *total = g_hash_table_lookup (totals, word);
          if (total == NULL)
            {
              total = g_new0 (guint64, 1);
              g_hash_table_insert (totals, g_strdup (word), total);
            }
          *total += count;
          words += count;
        }
      g_variant_unref (table);
      show_progress (++done, n_blocks);
    }
  if (error != NULL)
    {
      g_printerr ("wordcount: %s\n", error->message);
      return 1;
    }

  n_words = g_hash_table_size (totals);
  sorted = g_new (WordCount, MAX (n_words, 1));
  g_hash_table_iter_init (&iter, totals);
  for (i = 0; g_hash_table_iter_next (&iter, &key, &value); i++)
    {
      sorted[i].word = key;
      sorted[i].count = *(guint64 *) value;
    }
  qsort (sorted, n_words, sizeof *sorted, by_count);

  printf ("%" G_GUINT64_FORMAT " words, %u different, in %.2f s\n", words, n_words,
          (double) (g_get_monotonic_time () - t0) / 1e6);
  for (i = 0; i < n_words && i < (guint) top; i++)
    printf ("%10" G_GUINT64_FORMAT "  %s\n", sorted[i].count, sorted[i].word);

  mp_pool_close (pool);
  if (!mp_pool_join (pool, MP_TIMEOUT_INFINITE, &error))
    {
      g_printerr ("wordcount: %s\n", error->message);
      return 1;
    }
  return 0;
}
