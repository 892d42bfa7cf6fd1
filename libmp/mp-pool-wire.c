/* mp-pool-wire.c: chunks of items, arrays of results, and the messages that carry them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Zero-copy chunks. In GVariant's serialization a tuple with one member is laid out exactly
 * as that member, so an array `aT` is byte for byte an array `a(T)` — an array of argument
 * tuples. A map chunk is therefore a slice of the caller's array, read by the worker with the
 * type `a(T)`: for fixed-size elements the slice is a sub-range of the caller's own buffer,
 * for variable-size elements the element bytes are copied once and the framing offsets
 * rebased (elements start aligned relative to the array, and the slice starts at an element,
 * so the alignment is kept). A dict entry `{kv}` is laid out as the tuple `(kv)` too.
 *
 * Results come back the same way: when every task of a chunk returned the same fixed-size
 * type, the chunk's result array is the concatenation of the values' bytes, and the chunks of
 * a map are concatenated into the final array without touching single items.
 *
 * Everything here that reads bytes from another process goes through MpPoolReader, which
 * checks each length against what is left, and GVariants from other processes are built as
 * untrusted (GLib then reads non-normal data safely).
 */

#include "config.h"

#include <string.h>

#include "mp-error.h"
#include "mp-pool-private.h"

static inline gsize
align_up (gsize n, gsize a)
{
  return (n + a - 1) & ~(a - 1);
}

/* ---- types ----------------------------------------------------------------------------- */

/* Parses one complete type at *p; returns its fixed size (0 when variable) and alignment. */
static gsize
parse_type (const char **p, gsize *alignment)
{
  char c = **p;

  if (c == '\0')
    {
      *alignment = 1;
      return 0;
    }
  (*p)++;
  switch (c)
    {
    case 'b': case 'y':
      *alignment = 1;
      return 1;
    case 'n': case 'q':
      *alignment = 2;
      return 2;
    case 'i': case 'u': case 'h':
      *alignment = 4;
      return 4;
    case 'x': case 't': case 'd':
      *alignment = 8;
      return 8;
    case 's': case 'o': case 'g':
      *alignment = 1;
      return 0;
    case 'v':
      *alignment = 8;
      return 0;
    case 'a': case 'm':
      (void) parse_type (p, alignment);
      return 0;
    case '(': case '{':
      {
        char close = c == '(' ? ')' : '}';
        gsize offset = 0, al = 1;
        gboolean fixed = TRUE;

        while (**p != close && **p != '\0')
          {
            gsize ma;
            gsize ms = parse_type (p, &ma);

            al = MAX (al, ma);
            if (fixed && ms > 0)
              offset = align_up (offset, ma) + ms;
            else
              fixed = FALSE;
          }
        if (**p == close)
          (*p)++;
        *alignment = al;
        if (!fixed)
          return 0;
        return offset == 0 ? 1 : align_up (offset, al);   /* `()` takes one byte */
      }
    default:
      *alignment = 1;
      return 0;
    }
}

/* The fixed size of a definite type (0 when its values vary in size) and its alignment. */
gsize
_mp_pool_type_fixed_size (const char *type_string, gsize *alignment)
{
  const char *p = type_string;
  gsize al;
  gsize size = parse_type (&p, &al);

  if (alignment)
    *alignment = al;
  return size;
}

/* ---- slicing an array into chunks ------------------------------------------------------- */

static inline gsize
offset_size_for (gsize container_size)
{
  if (container_size > G_MAXUINT32)
    return 8;
  if (container_size > G_MAXUINT16)
    return 4;
  if (container_size > G_MAXUINT8)
    return 2;
  return container_size > 0 ? 1 : 0;
}

static inline guint64
read_offset (const guint8 *p, gsize width)
{
  guint64 v = 0;

  /* Framing offsets are little-endian. */
  for (gsize i = 0; i < width; i++)
    v |= (guint64) p[i] << (8 * i);
  return v;
}

static inline void
write_offset (guint8 *p, guint64 v, gsize width)
{
  for (gsize i = 0; i < width; i++)
    p[i] = (guint8) (v >> (8 * i));
}

/* The slow path: serialize the children again. */
static GBytes *
slice_by_children (GVariant *array, guint start, guint count)
{
  g_autofree GVariant **children = g_new (GVariant *, count);
  g_autoptr(GVariant) sub = NULL;

  for (guint i = 0; i < count; i++)
    children[i] = g_variant_get_child_value (array, start + i);
  sub = g_variant_ref_sink (g_variant_new_array (g_variant_type_element (g_variant_get_type (array)),
                                                 children, count));
  for (guint i = 0; i < count; i++)
    g_variant_unref (children[i]);
  return g_variant_get_data_as_bytes (sub);
}

/*
 * The serialized form of elements [start, start + count) of @array (in normal form) as an
 * array of the same type.
 */
GBytes *
_mp_pool_slice_array (GVariant *array, guint start, guint count)
{
  g_autoptr(GBytes) bytes = NULL;
  const char *type = g_variant_get_type_string (array);
  const guint8 *data;
  gsize size, alignment, fixed, width, body, n_total, table;
  guint64 s0, e_last;
  guint8 *out;
  gsize out_width, out_size;

  g_assert (type[0] == 'a');
  if (count == 0)
    return g_bytes_new (NULL, 0);

  fixed = _mp_pool_type_fixed_size (type + 1, &alignment);
  bytes = g_variant_get_data_as_bytes (array);
  data = g_bytes_get_data (bytes, &size);

  if (fixed > 0)
    {
      if ((guint64) (start + count) * fixed > size)
        return slice_by_children (array, start, count);
      return g_bytes_new_from_bytes (bytes, start * fixed, (gsize) count * fixed);
    }

  width = offset_size_for (size);
  if (width == 0 || size < width)
    return slice_by_children (array, start, count);
  table = read_offset (data + size - width, width);       /* the last end = start of the table */
  if (table > size || (size - table) % width != 0)
    return slice_by_children (array, start, count);
  n_total = (size - table) / width;
  if ((guint64) start + count > n_total)
    return slice_by_children (array, start, count);

  s0 = start == 0 ? 0 : align_up (read_offset (data + table + (start - 1) * width, width), alignment);
  e_last = read_offset (data + table + (start + count - 1) * width, width);
  if (s0 > e_last || e_last > table)
    return slice_by_children (array, start, count);

  body = e_last - s0;
  if (body + count <= G_MAXUINT8)
    out_width = 1;
  else if (body + 2 * (gsize) count <= G_MAXUINT16)
    out_width = 2;
  else if (body + 4 * (gsize) count <= G_MAXUINT32)
    out_width = 4;
  else
    out_width = 8;
  out_size = body + out_width * count;
  out = g_malloc (out_size);
  memcpy (out, data + s0, body);
  for (guint i = 0; i < count; i++)
    {
      guint64 end = read_offset (data + table + (start + i) * width, width);
      if (end < s0 || end > e_last)
        {
          g_free (out);
          return slice_by_children (array, start, count);
        }
      write_offset (out + body + i * out_width, end - s0, out_width);
    }
  return g_bytes_new_take (out, out_size);
}

/* ---- types, validated once ---------------------------------------------------------------- */

#define TYPE_CACHE_MAX 4096

typedef struct
{
  const char *type;      /* interned */
  gsize       fixed;     /* of the element, for array types */
  GVariant   *keepalive; /* a value of the type, so GLib keeps its type info */
} TypeEntry;

static void
type_entry_free (TypeEntry *entry)
{
  g_clear_pointer (&entry->keepalive, g_variant_unref);
  g_free (entry);
}

static GMutex type_lock;
static GHashTable *type_cache;   /* "A:" or "T:" + type string → TypeEntry */

/*
 * Validates a type string of @len bytes (not necessarily NUL-terminated, e.g. from a message)
 * and returns it interned; with @array, returns the interned array type of that element type
 * and the element's fixed size in @fixed. NULL when the string is not one complete type.
 */
/* The last answers of this thread: most pools see one type again and again. */
typedef struct
{
  char         key[48];      /* 'A'/'T' + the type string */
  gsize        len;
  const char  *type;
  gsize        fixed;
} RecentType;

static __thread RecentType recent_types[4];
static __thread guint recent_next;

const char *
_mp_pool_type_lookup (const char *str, gsize len, gboolean array, gsize *fixed)
{
  char stack[128];
  const char tag = array ? 'A' : 'T';

  for (guint i = 0; i < G_N_ELEMENTS (recent_types); i++)
    {
      RecentType *r = &recent_types[i];
      if (r->type != NULL && r->len == len && r->key[0] == tag && memcmp (r->key + 1, str, len) == 0)
        {
          if (fixed)
            *fixed = r->fixed;
          return r->type;
        }
    }
  char *key = len + 3 <= sizeof stack ? stack : g_malloc (len + 3);
  TypeEntry *entry;
  const char *ret = NULL;

  key[0] = array ? 'A' : 'T';
  key[1] = ':';
  memcpy (key + 2, str, len);
  key[len + 2] = '\0';

  g_mutex_lock (&type_lock);
  if (type_cache == NULL)
    type_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) type_entry_free);
  entry = g_hash_table_lookup (type_cache, key);
  if (entry == NULL && len > 0 && strlen (key + 2) == len && g_variant_type_string_is_valid (key + 2) &&
      g_hash_table_size (type_cache) < TYPE_CACHE_MAX)
    {
      entry = g_new0 (TypeEntry, 1);
      if (array)
        {
          g_autofree char *full = g_strconcat ("a", key + 2, NULL);
          entry->type = g_intern_string (full);
          entry->fixed = _mp_pool_type_fixed_size (key + 2, NULL);
        }
      else
        {
          entry->type = g_intern_string (key + 2);
          /* for an array type, its element's fixed size */
          entry->fixed = key[2] == 'a' ? _mp_pool_type_fixed_size (key + 3, NULL) : 0;
        }
      /* GLib frees a type's info with the last value of that type and builds it again for the
       * next one; pools make and drop values of the same few types for every task. */
      {
        g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
        entry->keepalive = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (entry->type),
                                                                         empty, FALSE));
      }
      g_hash_table_insert (type_cache, g_strdup (key), entry);
    }
  if (entry != NULL)
    {
      ret = entry->type;
      if (fixed)
        *fixed = entry->fixed;
      if (len + 1 < sizeof recent_types[0].key)
        {
          RecentType *r = &recent_types[recent_next++ % G_N_ELEMENTS (recent_types)];
          r->key[0] = tag;
          memcpy (r->key + 1, str, len);
          r->len = len;
          r->type = entry->type;
          r->fixed = entry->fixed;
        }
    }
  g_mutex_unlock (&type_lock);
  if (key != stack)
    g_free (key);
  return ret;
}

/* ---- results --------------------------------------------------------------------------- */

void
_mp_pool_results_clear (MpPoolResults *r)
{
  g_clear_pointer (&r->data, g_bytes_unref);
  r->type = NULL;
  r->n = 0;
  r->flags = 0;
  r->inline_len = 0;
}

GBytes *
_mp_pool_results_dup_bytes (const MpPoolResults *r)
{
  if (r->data != NULL)
    return g_bytes_ref (r->data);
  return g_bytes_new (r->inline_data, r->inline_len);
}

/* A new reference on the results as a GVariant array (read as untrusted data). */
GVariant *
_mp_pool_results_to_variant (const MpPoolResults *r)
{
  g_autoptr(GBytes) bytes = NULL;

  if (r->type == NULL)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));
  bytes = _mp_pool_results_dup_bytes (r);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (r->type), bytes, FALSE));
}

/* A new full reference on a GVariant made from @bytes, which it takes. */
static GVariant *
variant_take_bytes (const GVariantType *type, GBytes *bytes, gboolean trusted)
{
  GVariant *v = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, trusted));

  g_bytes_unref (bytes);
  return v;
}

static GVariant *
unit (void)
{
  return g_variant_ref_sink (g_variant_new_tuple (NULL, 0));
}

/*
 * Collects a chunk's results as they come. While every value has the same fixed-size type, only
 * their bytes are kept (each value is freed at once, so a big chunk stays small in memory and
 * in the cache); the first value that breaks the pattern turns the sink into a list of values.
 */
typedef struct
{
  GVariant    *first;     /* fast mode: a value of the common type */
  gsize        fixed;
  GByteArray  *bytes;
  GPtrArray   *values;    /* slow mode */
  guint        n;
} Sink;

static void
append_fixed (Sink *s, GVariant *v)
{
  guint old = s->bytes->len;

  g_byte_array_set_size (s->bytes, (guint) (old + s->fixed));
  if (g_variant_get_size (v) == s->fixed)
    memcpy (s->bytes->data + old, g_variant_get_data (v), s->fixed);
  else
    {
      g_autoptr(GVariant) normal = g_variant_get_normal_form (v);
      g_variant_store (normal, s->bytes->data + old);
    }
}

static gboolean
same_type (GVariant *a, GVariant *b)
{
  const char *ta = g_variant_get_type_string (a);
  const char *tb = g_variant_get_type_string (b);

  return ta == tb || strcmp (ta, tb) == 0;
}

/* Takes @v (NULL for None). */
static void
sink_add (Sink *s, GVariant *v)
{
  if (s->values == NULL)
    {
      if (v != NULL && s->n == 0)
        {
          gsize fixed = _mp_pool_type_fixed_size (g_variant_get_type_string (v), NULL);
          if (fixed > 0)
            {
              s->first = g_variant_ref (v);
              s->fixed = fixed;
              s->bytes = g_byte_array_new ();
              append_fixed (s, v);
              s->n++;
              g_variant_unref (v);
              return;
            }
        }
      else if (v != NULL && s->first != NULL && same_type (v, s->first))
        {
          append_fixed (s, v);
          s->n++;
          g_variant_unref (v);
          return;
        }

      /* The pattern broke: every value so far becomes a GVariant again. */
      s->values = g_ptr_array_new_full (s->n + 1, (GDestroyNotify) g_variant_unref);
      for (guint i = 0; i < s->n; i++)
        g_ptr_array_add (s->values,
                         variant_take_bytes (g_variant_get_type (s->first),
                                             g_bytes_new (s->bytes->data + (gsize) i * s->fixed,
                                                          s->fixed),
                                             TRUE));
      g_clear_pointer (&s->bytes, g_byte_array_unref);
      g_clear_pointer (&s->first, g_variant_unref);
    }
  g_ptr_array_add (s->values, v ? v : unit ());
  s->n++;
}

static void
sink_finish (Sink *s, MpPoolResults *out)
{
  out->n = s->n;
  if (s->values == NULL && s->first != NULL)
    {
      const char *elem = g_variant_get_type_string (s->first);

      out->type = _mp_pool_type_lookup (elem, strlen (elem), TRUE, NULL);
      out->data = g_byte_array_free_to_bytes (g_steal_pointer (&s->bytes));
      g_clear_pointer (&s->first, g_variant_unref);
      g_assert (out->type != NULL);
      return;
    }
  if (s->values == NULL || s->values->len == 0)
    {
      out->type = _mp_pool_type_lookup ("v", 1, TRUE, NULL);
      out->data = g_bytes_new (NULL, 0);
    }
  else
    {
      GVariant **values = (GVariant **) s->values->pdata;
      gboolean same = TRUE;
      g_autoptr(GVariant) array = NULL;
      const char *type;

      for (guint i = 1; i < s->values->len && same; i++)
        same = same_type (values[i], values[0]);
      if (same)
        array = g_variant_ref_sink (g_variant_new_array (g_variant_get_type (values[0]), values,
                                                         s->values->len));
      else
        {
          g_autofree GVariant **boxed = g_new (GVariant *, s->values->len);
          for (guint i = 0; i < s->values->len; i++)
            boxed[i] = g_variant_new_variant (values[i]);
          array = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, boxed,
                                                           s->values->len));
        }
      type = g_variant_get_type_string (array);
      out->type = _mp_pool_type_lookup (type + 1, strlen (type + 1), TRUE, NULL);
      out->data = g_variant_get_data_as_bytes (array);
    }
  g_clear_pointer (&s->values, g_ptr_array_unref);
}

/* The arguments of one call: the bound ones, then the item's. Takes @item. */
static GVariant *
join_args (GVariant *bound, GVariant *item)
{
  gsize nb = g_variant_n_children (bound);
  gsize ni = g_variant_n_children (item);
  g_autofree GVariant **children = g_new (GVariant *, nb + ni);
  GVariant *ret;

  for (gsize i = 0; i < nb; i++)
    children[i] = g_variant_get_child_value (bound, i);
  for (gsize i = 0; i < ni; i++)
    children[nb + i] = g_variant_get_child_value (item, i);
  ret = g_variant_ref_sink (g_variant_new_tuple (children, nb + ni));
  for (gsize i = 0; i < nb + ni; i++)
    g_variant_unref (children[i]);
  g_variant_unref (item);
  return ret;
}

/* Calls @func with @args (taken) and the callable's bound arguments in front. Returns what it
 * returned (a full reference), or NULL; @error is set when the call failed. */
static GVariant *
call_func (MpFunc func, GVariant *bound, GUnixFDList *fds, GVariant *args, GError **error)
{
  GVariant *r;

  if (bound != NULL && g_variant_n_children (bound) > 0)
    args = join_args (bound, args);
  r = func (args, fds, error);
  /* "new or floating", as MpFunc says */
  if (r != NULL)
    g_variant_take_ref (r);
  g_variant_unref (args);
  if (error != NULL && *error != NULL)
    g_clear_pointer (&r, g_variant_unref);
  return r;
}

/* One call: @args is taken. Returns FALSE with @error set when the call failed. */
static gboolean
run_item (MpFunc       func,
          GVariant    *bound,
          GUnixFDList *fds,
          GVariant    *args,
          guint32      task_flags,
          gsize        index,
          gboolean     single,
          Sink        *sink,
          guint32     *flags,
          GError     **error)
{
  GVariant *r;

  if (task_flags & MP_POOL_TASK_UNWRAP)
    {
      GVariant *inner = g_variant_get_variant (args);

      g_variant_unref (args);
      if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_TUPLE))
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "starmap: item %" G_GSIZE_FORMAT " is a %s, not an argument tuple",
                       index, g_variant_get_type_string (inner));
          g_variant_unref (inner);
          return FALSE;
        }
      args = inner;
    }

  r = call_func (func, bound, fds, args, error);
  if (error != NULL && *error != NULL)
    return FALSE;
  if (single && r == NULL)
    *flags |= MP_POOL_RESULT_NONE;
  sink_add (sink, r);
  return TRUE;
}

/* A batched function's one call over the whole chunk: its result must be an array of one
 * value per item. */
static gboolean
run_batch (MpFunc         func,
           GVariant      *bound,
           GUnixFDList   *fds,
           GVariant      *chunk,
           guint          first_item,
           Sink          *sink,
           MpPoolResults *out,
           GError       **error)
{
  gsize n = g_variant_n_children (chunk);
  GVariant *r;
  const char *type;
  gsize fixed;

  r = call_func (func, bound, fds, g_variant_ref_sink (g_variant_new_tuple (&chunk, 1)), error);
  if (error != NULL && *error != NULL)
    return FALSE;
  if (r == NULL || !g_variant_is_of_type (r, G_VARIANT_TYPE_ARRAY) ||
      g_variant_n_children (r) != n)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "a batched function must return an array of %" G_GSIZE_FORMAT " results for "
                   "items %u to %" G_GSIZE_FORMAT ", not %s", n, first_item,
                   first_item + MAX (n, 1) - 1,
                   r == NULL ? "nothing" : g_variant_get_type_string (r));
      g_clear_pointer (&r, g_variant_unref);
      return FALSE;
    }

  type = g_variant_get_type_string (r);
  fixed = _mp_pool_type_fixed_size (type + 1, NULL);
  if (fixed > 0 && g_variant_get_size (r) == n * fixed)
    {
      /* The results are the array's bytes: no value is taken apart. */
      out->n = (guint) n;
      out->type = _mp_pool_type_lookup (type + 1, strlen (type + 1), TRUE, NULL);
      out->data = g_variant_get_data_as_bytes (r);
    }
  else
    {
      for (gsize i = 0; i < n; i++)
        sink_add (sink, g_variant_get_child_value (r, i));
      sink_finish (sink, out);
    }
  g_variant_unref (r);
  return TRUE;
}

/*
 * Runs @func over the items of @chunk (an array of argument tuples, or of variants holding
 * them with MP_POOL_TASK_UNWRAP), in order, stopping at the first error. Fills @out with the
 * results of the items that succeeded and sets @error on a failure. Runs in a worker process
 * or a pool thread.
 */
gboolean
_mp_pool_run_chunk (MpFunc          func,
                    GVariant       *bound,
                    GUnixFDList    *fds,
                    GVariant       *chunk,
                    guint32         task_flags,
                    guint           first_item,
                    MpPoolResults  *out,
                    GError        **error)
{
  gsize n = g_variant_n_children (chunk);
  GError *local_error = NULL;
  Sink sink = { 0 };
  guint32 flags = 0;

  memset (out, 0, sizeof *out);
  if (task_flags & MP_POOL_TASK_BATCH)
    return run_batch (func, bound, fds, chunk, first_item, &sink, out, error);
  for (gsize i = 0; i < n; i++)
    if (!run_item (func, bound, fds, g_variant_get_child_value (chunk, i), task_flags,
                   first_item + i, n == 1, &sink, &flags, &local_error))
      break;

  sink_finish (&sink, out);
  out->flags = flags;
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

/* The same for a chunk of one item whose argument tuple is @args (taken). */
gboolean
_mp_pool_run_one (MpFunc          func,
                  GVariant       *bound,
                  GUnixFDList    *fds,
                  GVariant       *args,
                  guint32         task_flags,
                  guint           first_item,
                  MpPoolResults  *out,
                  GError        **error)
{
  GError *local_error = NULL;
  Sink sink = { 0 };
  guint32 flags = 0;

  memset (out, 0, sizeof *out);
  (void) run_item (func, bound, fds, args, task_flags, first_item, TRUE, &sink, &flags,
                   &local_error);
  sink_finish (&sink, out);
  out->flags = flags;
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

/* ---- merging the chunks of a map ------------------------------------------------------- */

GVariant *
_mp_pool_merge_chunks (const MpPoolResults *chunks, guint n_chunks)
{
  const char *type;
  gboolean same = TRUE;
  gsize total = 0, fixed;

  if (n_chunks == 0)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));
  if (n_chunks == 1)
    return _mp_pool_results_to_variant (&chunks[0]);

  /* Interned: equal types are equal pointers. */
  type = chunks[0].type;
  for (guint c = 0; c < n_chunks; c++)
    {
      same = same && chunks[c].type == type;
      total += chunks[c].n;
    }

  fixed = same ? _mp_pool_type_fixed_size (type + 1, NULL) : 0;
  if (fixed > 0)
    {
      gboolean sizes_ok = TRUE;

      for (guint c = 0; c < n_chunks && sizes_ok; c++)
        {
          gsize len;
          (void) _mp_pool_results_peek (&chunks[c], &len);
          sizes_ok = len == (gsize) chunks[c].n * fixed;
        }
      if (sizes_ok)
        {
          guint8 *buf = g_malloc (MAX (total * fixed, 1));
          gsize pos = 0;

          for (guint c = 0; c < n_chunks; c++)
            {
              gsize len;
              gconstpointer p = _mp_pool_results_peek (&chunks[c], &len);
              memcpy (buf + pos, p, len);
              pos += len;
            }
          return variant_take_bytes (G_VARIANT_TYPE (type), g_bytes_new_take (buf, total * fixed),
                                     TRUE);
        }
    }

  {
    g_autofree GVariant **children = g_new (GVariant *, MAX (total, 1));
    gsize k = 0;
    GVariant *ret;

    for (guint c = 0; c < n_chunks; c++)
      {
        g_autoptr(GVariant) array = _mp_pool_results_to_variant (&chunks[c]);
        gboolean boxed = g_variant_is_of_type (array, G_VARIANT_TYPE ("av"));
        gsize n = MIN (g_variant_n_children (array), total - k);

        for (gsize i = 0; i < n; i++)
          {
            GVariant *child = g_variant_get_child_value (array, i);
            if (!same && !boxed)
              {
                GVariant *v = g_variant_ref_sink (g_variant_new_variant (child));
                g_variant_unref (child);
                child = v;
              }
            children[k++] = child;
          }
      }
    if (same)
      ret = g_variant_new_array (g_variant_type_element (G_VARIANT_TYPE (type)), children, k);
    else
      ret = g_variant_new_array (G_VARIANT_TYPE_VARIANT, children, k);
    g_variant_ref_sink (ret);
    for (gsize i = 0; i < k; i++)
      g_variant_unref (children[i]);
    return ret;
  }
}

/* Item @index of an array of results, as the task returned it. */
GVariant *
_mp_pool_unbox_item (GVariant *array, guint index)
{
  GVariant *child = g_variant_get_child_value (array, index);

  if (g_variant_is_of_type (array, G_VARIANT_TYPE ("av")))
    {
      GVariant *inner = g_variant_get_variant (child);
      g_variant_unref (child);
      return inner;
    }
  return child;
}

/* ---- messages -------------------------------------------------------------------------- */

void
_mp_pool_msg_begin (GByteArray *out, guint16 kind, guint16 n_fds, guint64 id, gsize *start)
{
  MpPoolMsgHeader h = { 0, kind, n_fds, id };

  g_assert (out->len % 8 == 0);
  *start = out->len;
  g_byte_array_append (out, (const guint8 *) &h, sizeof h);
}

void
_mp_pool_msg_append (GByteArray *out, gconstpointer data, gsize len)
{
  if (len > 0)
    g_byte_array_append (out, data, (guint) len);
}

void
_mp_pool_msg_pad (GByteArray *out)
{
  static const guint8 zeros[8];
  gsize pad = align_up (out->len, 8) - out->len;

  if (pad)
    g_byte_array_append (out, zeros, (guint) pad);
}

void
_mp_pool_msg_end (GByteArray *out, gsize start)
{
  MpPoolMsgHeader *h;

  _mp_pool_msg_pad (out);
  h = (MpPoolMsgHeader *) (void *) (out->data + start);
  h->size = (guint32) (out->len - start - sizeof *h);
}

void
_mp_pool_msg_append_result (GByteArray          *out,
                            guint16              kind,
                            guint64              id,
                            const MpPoolResults *results,
                            guint64              duration_ns,
                            const GError        *error)
{
  MpPoolMsgHeader h = { 0, kind, 0, id };
  MpPoolResultHeader rh = { 0 };
  const char *elem = results && results->type ? results->type + 1 : "";
  const char *domain = error ? g_quark_to_string (error->domain) : "";
  gsize data_len = 0, elen = 0, payload;
  gconstpointer data = NULL;
  guint8 *p;
  guint old;

  g_assert (out->len % 8 == 0);
  if (results)
    data = _mp_pool_results_peek (results, &data_len);
  rh.status = error ? 1 : 0;
  rh.n_done = results ? results->n : 0;
  rh.flags = results ? results->flags : 0;
  rh.type_len = (guint32) strlen (elem);
  rh.data_len = data_len;
  rh.duration_ns = duration_ns;
  if (error)
    {
      rh.error_code = error->code;
      rh.error_domain_len = (guint32) strlen (domain);
      rh.error_message_len = (guint32) strlen (error->message);
      elen = rh.error_domain_len + rh.error_message_len;
    }
  payload = sizeof rh + align_up (rh.type_len, 8) + align_up (data_len, 8) + align_up (elen, 8);
  h.size = (guint32) payload;

  old = out->len;
  g_byte_array_set_size (out, (guint) (old + sizeof h + payload));
  p = out->data + old;
  memcpy (p, &h, sizeof h);
  p += sizeof h;
  memcpy (p, &rh, sizeof rh);
  p += sizeof rh;
  p = _mp_pool_put_padded (p, elem, rh.type_len);
  p = _mp_pool_put_padded (p, data, data_len);
  if (error)
    {
      memcpy (p, domain, rh.error_domain_len);
      memcpy (p + rh.error_domain_len, error->message, rh.error_message_len);
      memset (p + elen, 0, align_up (elen, 8) - elen);
      p += align_up (elen, 8);
    }
  g_assert (p == out->data + out->len);
}

gboolean
_mp_pool_reader_take (MpPoolReader *r, gsize len, const guint8 **out)
{
  if (len > r->size - r->pos)
    return FALSE;
  *out = r->data + r->pos;
  r->pos += len;
  return TRUE;
}

static gboolean
reader_pad (MpPoolReader *r)
{
  gsize to = align_up (r->pos, 8);

  if (to > r->size)
    return FALSE;
  r->pos = to;
  return TRUE;
}

gboolean
_mp_pool_reader_string (MpPoolReader *r, gsize len, char **out)
{
  const guint8 *p;

  if (!_mp_pool_reader_take (r, len, &p))
    return FALSE;
  *out = g_strndup ((const char *) p, len);
  return strlen (*out) == len;
}

/* A type string, padding, a serialized value, padding: the validated interned type (with the
 * element's fixed size for an array type) and where the value's bytes are. */
gboolean
_mp_pool_reader_typed (MpPoolReader  *r,
                       gsize          type_len,
                       gsize          data_len,
                       const char   **type,
                       gsize         *fixed,
                       const guint8 **data)
{
  const guint8 *p;

  return type_len > 0 && type_len <= 1024 &&
         _mp_pool_reader_take (r, type_len, &p) &&
         (*type = _mp_pool_type_lookup ((const char *) p, type_len, FALSE, fixed)) != NULL &&
         reader_pad (r) &&
         _mp_pool_reader_take (r, data_len, data) &&
         reader_pad (r);
}

/* A type string, padding, the serialized value, padding: an untrusted GVariant. */
gboolean
_mp_pool_reader_variant (MpPoolReader *r, gsize type_len, gsize data_len, GVariant **out)
{
  const char *type;
  const guint8 *p;
  const guint8 *data;

  if (type_len == 0 || type_len > 1024 ||
      !_mp_pool_reader_take (r, type_len, &p) ||
      !(type = _mp_pool_type_lookup ((const char *) p, type_len, FALSE, NULL)) ||
      !reader_pad (r) ||
      !_mp_pool_reader_take (r, data_len, &data) ||
      !reader_pad (r))
    return FALSE;
  *out = variant_take_bytes (G_VARIANT_TYPE (type), g_bytes_new (data, data_len), FALSE);
  return TRUE;
}

/* A result message from a worker: every length checked, the type validated. */
gboolean
_mp_pool_msg_parse_result (const guint8   *payload,
                           gsize           size,
                           MpPoolResults  *results,
                           guint64        *duration_ns,
                           GError        **task_error,
                           GError        **error)
{
  MpPoolReader r = { payload, size, 0 };
  MpPoolResultHeader rh;
  const guint8 *p;
  gsize fixed = 0;

  memset (results, 0, sizeof *results);
  *task_error = NULL;
  if (!_mp_pool_reader_take (&r, sizeof rh, &p))
    goto bad;
  memcpy (&rh, p, sizeof rh);
  if (rh.status > 1)
    goto bad;
  if (rh.type_len > 0)
    {
      if (rh.type_len > 1024 || !_mp_pool_reader_take (&r, rh.type_len, &p) ||
          !(results->type = _mp_pool_type_lookup ((const char *) p, rh.type_len, TRUE, &fixed)) ||
          !reader_pad (&r) ||
          !_mp_pool_reader_take (&r, rh.data_len, &p) ||
          !reader_pad (&r) ||
          (fixed > 0 && rh.data_len != (guint64) rh.n_done * fixed))
        goto bad;
      if (rh.data_len <= MP_POOL_RESULTS_INLINE)
        {
          memcpy (results->inline_data, p, rh.data_len);
          results->inline_len = (guint32) rh.data_len;
        }
      else
        results->data = g_bytes_new (p, rh.data_len);
      results->n = rh.n_done;
      results->flags = rh.flags;
    }
  else if (rh.data_len != 0 || rh.n_done != 0 || !reader_pad (&r))
    goto bad;
  if (rh.status == 1)
    {
      g_autofree char *domain = NULL;
      g_autofree char *message = NULL;

      if (!_mp_pool_reader_string (&r, rh.error_domain_len, &domain) ||
          !_mp_pool_reader_string (&r, rh.error_message_len, &message))
        goto bad;
      *task_error = g_error_new_literal (domain[0] ? g_quark_from_string (domain) : MP_ERROR,
                                         rh.error_code, message);
    }
  *duration_ns = rh.duration_ns;
  return TRUE;

bad:
  _mp_pool_results_clear (results);
  g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION, "malformed result message");
  return FALSE;
}
