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

/* ---- results --------------------------------------------------------------------------- */

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

/* An array of values that all have type @type and the fixed size @fixed, by concatenation. */
static GVariant *
concat_fixed (GVariant **values, guint n, const GVariantType *type, gsize fixed)
{
  g_autoptr(GVariantType) array_type = g_variant_type_new_array (type);
  guint8 *buf = g_malloc ((gsize) n * fixed);

  for (guint i = 0; i < n; i++)
    {
      if (g_variant_get_size (values[i]) == fixed)
        memcpy (buf + (gsize) i * fixed, g_variant_get_data (values[i]), fixed);
      else
        {
          g_autoptr(GVariant) normal = g_variant_get_normal_form (values[i]);
          g_variant_store (normal, buf + (gsize) i * fixed);
        }
    }
  return variant_take_bytes (array_type, g_bytes_new_take (buf, (gsize) n * fixed), TRUE);
}

/*
 * The array of a chunk's results: `aT` when all have type T, `av` otherwise, NULL results
 * counted as `()`. Takes the references in @results (NULL entries allowed).
 */
GVariant *
_mp_pool_results_to_array (GVariant **results, guint n, guint32 *result_flags)
{
  const char *type = NULL;
  gboolean same = TRUE;
  GVariant *ret;

  *result_flags = 0;
  if (n == 1 && results[0] == NULL)
    *result_flags |= MP_POOL_RESULT_NONE;
  if (n == 0)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));

  for (guint i = 0; i < n; i++)
    {
      const char *t;

      if (results[i] == NULL)
        results[i] = unit ();
      t = g_variant_get_type_string (results[i]);
      if (type == NULL)
        type = t;
      else if (t != type && strcmp (t, type) != 0)
        same = FALSE;
    }

  if (same)
    {
      gsize fixed = _mp_pool_type_fixed_size (type, NULL);

      if (fixed > 0)
        ret = concat_fixed (results, n, g_variant_get_type (results[0]), fixed);
      else
        ret = g_variant_ref_sink (g_variant_new_array (g_variant_get_type (results[0]), results, n));
    }
  else
    {
      g_autofree GVariant **boxed = g_new (GVariant *, n);

      for (guint i = 0; i < n; i++)
        boxed[i] = g_variant_new_variant (results[i]);
      ret = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, boxed, n));
    }
  for (guint i = 0; i < n; i++)
    g_variant_unref (results[i]);
  return ret;
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

/*
 * Runs @func over the items of @chunk (an array of argument tuples, or of variants holding
 * them with MP_POOL_TASK_UNWRAP), in order, stopping at the first error. Returns the array of
 * the results of the items that succeeded (*n_done of them) and sets @error on a failure.
 * Runs in a worker process or a pool thread.
 */
GVariant *
_mp_pool_run_chunk (MpFunc       func,
                    GVariant    *bound,
                    GUnixFDList *fds,
                    GVariant    *chunk,
                    guint32      task_flags,
                    guint       *n_done,
                    guint32     *result_flags,
                    GError     **error)
{
  gsize n = g_variant_n_children (chunk);
  g_autofree GVariant **results = g_new (GVariant *, MAX (n, 1));
  gboolean with_bound = bound != NULL && g_variant_n_children (bound) > 0;
  GError *local_error = NULL;
  GVariant *ret;
  guint done = 0;

  for (gsize i = 0; i < n; i++)
    {
      GVariant *args = g_variant_get_child_value (chunk, i);
      GVariant *r;

      if (task_flags & MP_POOL_TASK_UNWRAP)
        {
          GVariant *inner = g_variant_get_variant (args);

          g_variant_unref (args);
          if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_TUPLE))
            {
              g_set_error (&local_error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "starmap: item %" G_GSIZE_FORMAT " is a %s, not an argument tuple",
                           i, g_variant_get_type_string (inner));
              g_variant_unref (inner);
              break;
            }
          args = inner;
        }
      if (with_bound)
        args = join_args (bound, args);

      r = func (args, fds, &local_error);
      /* "new or floating", as MpFunc says */
      if (r != NULL)
        g_variant_take_ref (r);
      g_variant_unref (args);
      if (local_error != NULL)
        {
          g_clear_pointer (&r, g_variant_unref);
          break;
        }
      results[done++] = r;
    }

  ret = _mp_pool_results_to_array (results, done, result_flags);
  *n_done = done;
  if (local_error != NULL)
    g_propagate_error (error, local_error);
  return ret;
}

/* ---- merging the chunks of a map ------------------------------------------------------- */

GVariant *
_mp_pool_merge_chunks (GVariant **chunks, guint n_chunks)
{
  const char *type;
  gboolean same = TRUE;
  gsize total = 0;

  if (n_chunks == 0)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, NULL, 0));
  if (n_chunks == 1)
    return g_variant_ref (chunks[0]);

  type = g_variant_get_type_string (chunks[0]);
  for (guint c = 0; c < n_chunks; c++)
    {
      const char *t = g_variant_get_type_string (chunks[c]);
      if (t != type && strcmp (t, type) != 0)
        same = FALSE;
      total += g_variant_n_children (chunks[c]);
    }

  if (same)
    {
      gsize fixed = _mp_pool_type_fixed_size (type + 1, NULL);

      if (fixed > 0)
        {
          guint8 *buf = g_malloc (MAX (total * fixed, 1));
          gsize pos = 0;

          for (guint c = 0; c < n_chunks; c++)
            {
              gsize n = g_variant_n_children (chunks[c]);

              if (g_variant_get_size (chunks[c]) == n * fixed)
                memcpy (buf + pos, g_variant_get_data (chunks[c]), n * fixed);
              else
                {
                  g_autoptr(GVariant) normal = g_variant_get_normal_form (chunks[c]);
                  g_variant_store (normal, buf + pos);
                }
              pos += n * fixed;
            }
          return variant_take_bytes (g_variant_get_type (chunks[0]),
                                     g_bytes_new_take (buf, total * fixed), TRUE);
        }
      else
        {
          g_autofree GVariant **children = g_new (GVariant *, MAX (total, 1));
          GVariant *ret;
          gsize k = 0;

          for (guint c = 0; c < n_chunks; c++)
            {
              gsize n = g_variant_n_children (chunks[c]);
              for (gsize i = 0; i < n; i++)
                children[k++] = g_variant_get_child_value (chunks[c], i);
            }
          ret = g_variant_ref_sink (g_variant_new_array (g_variant_type_element (g_variant_get_type (chunks[0])),
                                                         children, total));
          for (gsize i = 0; i < total; i++)
            g_variant_unref (children[i]);
          return ret;
        }
    }
  else
    {
      g_autofree GVariant **children = g_new (GVariant *, MAX (total, 1));
      GVariant *ret;
      gsize k = 0;

      for (guint c = 0; c < n_chunks; c++)
        {
          gboolean boxed = g_variant_is_of_type (chunks[c], G_VARIANT_TYPE ("av"));
          gsize n = g_variant_n_children (chunks[c]);

          for (gsize i = 0; i < n; i++)
            {
              GVariant *child = g_variant_get_child_value (chunks[c], i);
              if (!boxed)
                {
                  GVariant *v = g_variant_ref_sink (g_variant_new_variant (child));
                  g_variant_unref (child);
                  child = v;
                }
              children[k++] = child;
            }
        }
      ret = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARIANT, children, total));
      for (gsize i = 0; i < total; i++)
        g_variant_unref (children[i]);
      return ret;
    }
}

/* Item @index of a chunk's results, as the task returned it. */
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
_mp_pool_msg_append_result (GByteArray   *out,
                            guint16       kind,
                            guint64       id,
                            GVariant     *results,
                            guint         n_done,
                            guint32       flags,
                            guint64       duration_ns,
                            const GError *error)
{
  MpPoolResultHeader rh = { 0 };
  const char *type = results ? g_variant_get_type_string (results) : "";
  const char *domain = error ? g_quark_to_string (error->domain) : "";
  gsize data_len = results ? g_variant_get_size (results) : 0;
  gsize start;

  rh.status = error ? 1 : 0;
  rh.n_done = n_done;
  rh.flags = flags;
  rh.type_len = (guint32) strlen (type);
  rh.data_len = data_len;
  rh.duration_ns = duration_ns;
  if (error)
    {
      rh.error_code = error->code;
      rh.error_domain_len = (guint32) strlen (domain);
      rh.error_message_len = (guint32) strlen (error->message);
    }

  _mp_pool_msg_begin (out, kind, 0, id, &start);
  _mp_pool_msg_append (out, &rh, sizeof rh);
  _mp_pool_msg_append (out, type, rh.type_len);
  _mp_pool_msg_pad (out);
  if (data_len > 0)
    {
      guint old = out->len;
      g_byte_array_set_size (out, (guint) (old + data_len));
      g_variant_store (results, out->data + old);
    }
  _mp_pool_msg_pad (out);
  if (error)
    {
      _mp_pool_msg_append (out, domain, rh.error_domain_len);
      _mp_pool_msg_append (out, error->message, rh.error_message_len);
    }
  _mp_pool_msg_end (out, start);
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

/* A type string, padding, the serialized value, padding: an untrusted GVariant. */
gboolean
_mp_pool_reader_variant (MpPoolReader *r, gsize type_len, gsize data_len, GVariant **out)
{
  g_autofree char *type = NULL;
  const guint8 *data;

  if (type_len == 0 || type_len > 4096 ||
      !_mp_pool_reader_string (r, type_len, &type) ||
      !g_variant_type_string_is_valid (type) ||
      !reader_pad (r) ||
      !_mp_pool_reader_take (r, data_len, &data) ||
      !reader_pad (r))
    return FALSE;
  *out = variant_take_bytes (G_VARIANT_TYPE (type), g_bytes_new (data, data_len), FALSE);
  return TRUE;
}

gboolean
_mp_pool_msg_parse_result (const guint8  *payload,
                           gsize          size,
                           GVariant     **results,
                           guint         *n_done,
                           guint32       *flags,
                           guint64       *duration_ns,
                           GError       **task_error,
                           GError       **error)
{
  MpPoolReader r = { payload, size, 0 };
  MpPoolResultHeader rh;
  const guint8 *p;
  g_autoptr(GVariant) v = NULL;

  *results = NULL;
  *task_error = NULL;
  if (!_mp_pool_reader_take (&r, sizeof rh, &p))
    goto bad;
  memcpy (&rh, p, sizeof rh);
  if (rh.status > 1)
    goto bad;
  if (rh.type_len > 0)
    {
      if (!_mp_pool_reader_variant (&r, rh.type_len, rh.data_len, &v) ||
          !g_variant_is_of_type (v, G_VARIANT_TYPE_ARRAY) ||
          g_variant_n_children (v) != rh.n_done)
        goto bad;
    }
  else if (rh.data_len != 0 || !reader_pad (&r))
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
  *results = g_steal_pointer (&v);
  *n_done = rh.n_done;
  *flags = rh.flags;
  *duration_ns = rh.duration_ns;
  return TRUE;

bad:
  g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION, "malformed result message");
  return FALSE;
}
