/* mp-shareable-list.c: Python's ShareableList, byte for byte
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The layout is CPython 3.11's (Lib/multiprocessing/shared_memory.py), native byte order and
 * sizes, everything 8-byte aligned:
 *
 *   0                 int64 N, the number of items
 *   8                 int64 offsets[N + 1]: where each item's slot starts in the data area,
 *                     relative to the data area; offsets[N] is the data area's size
 *   8·(N+2)           the data area: one slot per item, 8 bytes or, for str/bytes,
 *                     8·(len/8 + 1) bytes
 *   8·(N+2)+offs[N]   char formats[N][8]: each item's struct format, NUL-padded: "q", "d",
 *                     "xxxxxxx?" (bool, in the slot's last byte), "xxxxxx?x" (None: a zero
 *                     byte at 6), "<len>s" (str and bytes, NUL-padded to len)
 *   … + 8·N           int8 codes[N]: how to turn the unpacked value back into an object:
 *                     0 as is, 1 str (strip trailing NULs, decode UTF-8), 2 bytes (strip
 *                     trailing NULs), 3 None
 *
 * A slot's size is fixed at creation; an item may change type within it as long as it fits.
 * Writing an item writes its format and code first, then the value, as Python does; readers
 * in other processes are not synchronized with that (nor are Python's).
 *
 * The segment may have been written by another program (Python, or something hostile): every
 * read validates N, the offsets, each format and each code against the mapping's size, and a
 * bad one is an error, never a read out of bounds. Offsets are copied at attach time (Python
 * caches them too: a slot's extent never changes).
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mp-error.h"
#include "mp-shareable-list.h"
#include "mp-shared-memory-private.h"

#define ALIGNMENT 8
/* Python asserts a format fits its 8 bytes: "9999999s" is the largest slot. */
#define MAX_SLOT 9999999

struct _MpShareableList
{
  gatomicrefcount  ref_count;
  MpSharedMemory  *shm;
  gint64           len;
  guint64         *offsets;    /* len + 1, validated */
};

G_DEFINE_BOXED_TYPE (MpShareableList, mp_shareable_list, mp_shareable_list_ref,
                     mp_shareable_list_unref)

typedef enum
{
  ITEM_INT,
  ITEM_FLOAT,
  ITEM_BOOL,
  ITEM_STR,
  ITEM_BYTES,
  ITEM_NONE,
} ItemKind;

typedef enum
{
  CODE_AS_IS = 0,
  CODE_STR = 1,
  CODE_BYTES = 2,
  CODE_NONE = 3,
} BackTransform;

typedef struct
{
  ItemKind      kind;
  gint64        i;       /* INT, and BOOL as 0/1 */
  double        d;
  const guint8 *data;    /* STR (UTF-8) and BYTES, borrowed */
  gsize         len;
} Item;

/* ---- items and GVariants ------------------------------------------------------------------- */

/* Fills @item from @value; returns the (unwrapped) variant @item borrows from, or NULL. */
static GVariant *
item_from_variant (GVariant *value, Item *item, GError **error)
{
  GVariant *v = g_variant_ref (value);

  memset (item, 0, sizeof *item);
  for (;;)
    {
      GVariant *inner;

      if (g_variant_is_of_type (v, G_VARIANT_TYPE_VARIANT))
        inner = g_variant_get_variant (v);
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_MAYBE))
        {
          inner = g_variant_get_maybe (v);
          if (inner == NULL)
            {
              item->kind = ITEM_NONE;
              return v;
            }
        }
      else
        break;
      g_variant_unref (v);
      v = inner;
    }

  switch (g_variant_classify (v))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      item->kind = ITEM_BOOL;
      item->i = g_variant_get_boolean (v) ? 1 : 0;
      return v;
    case G_VARIANT_CLASS_BYTE:
      item->kind = ITEM_INT;
      item->i = g_variant_get_byte (v);
      return v;
    case G_VARIANT_CLASS_INT16:
      item->kind = ITEM_INT;
      item->i = g_variant_get_int16 (v);
      return v;
    case G_VARIANT_CLASS_UINT16:
      item->kind = ITEM_INT;
      item->i = g_variant_get_uint16 (v);
      return v;
    case G_VARIANT_CLASS_INT32:
      item->kind = ITEM_INT;
      item->i = g_variant_get_int32 (v);
      return v;
    case G_VARIANT_CLASS_UINT32:
      item->kind = ITEM_INT;
      item->i = g_variant_get_uint32 (v);
      return v;
    case G_VARIANT_CLASS_INT64:
      item->kind = ITEM_INT;
      item->i = g_variant_get_int64 (v);
      return v;
    case G_VARIANT_CLASS_UINT64:
      if (g_variant_get_uint64 (v) > G_MAXINT64)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "%" G_GUINT64_FORMAT " does not fit in a 64-bit signed item",
                       g_variant_get_uint64 (v));
          break;
        }
      item->kind = ITEM_INT;
      item->i = (gint64) g_variant_get_uint64 (v);
      return v;
    case G_VARIANT_CLASS_DOUBLE:
      item->kind = ITEM_FLOAT;
      item->d = g_variant_get_double (v);
      return v;
    case G_VARIANT_CLASS_STRING:
      item->kind = ITEM_STR;
      item->data = (const guint8 *) g_variant_get_string (v, &item->len);
      return v;
    case G_VARIANT_CLASS_ARRAY:
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_BYTESTRING))
        {
          item->kind = ITEM_BYTES;
          item->data = g_variant_get_fixed_array (v, &item->len, 1);
          return v;
        }
      G_GNUC_FALLTHROUGH;
    case G_VARIANT_CLASS_HANDLE:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
    case G_VARIANT_CLASS_VARIANT:
    case G_VARIANT_CLASS_MAYBE:
    case G_VARIANT_CLASS_TUPLE:
    case G_VARIANT_CLASS_DICT_ENTRY:
    default:
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "a ShareableList item must be an int, float, bool, str, bytes or None, "
                   "not a value of type %s", g_variant_get_type_string (v));
      break;
    }
  g_variant_unref (v);
  return NULL;
}

static GVariant *
none_variant (void)
{
  return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
}

/* Python's ==: numbers compare by value across int, float and bool; str never equals bytes. */
static gboolean
int_equals_double (gint64 i, double d)
{
  if (isnan (d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0 || d != floor (d))
    return FALSE;
  return (gint64) d == i;
}

static gboolean
items_equal (const Item *a, const Item *b)
{
  gboolean a_num = a->kind == ITEM_INT || a->kind == ITEM_FLOAT || a->kind == ITEM_BOOL;
  gboolean b_num = b->kind == ITEM_INT || b->kind == ITEM_FLOAT || b->kind == ITEM_BOOL;

  if (a_num && b_num)
    {
      if (a->kind == ITEM_FLOAT && b->kind == ITEM_FLOAT)
        return a->d == b->d;
      if (a->kind == ITEM_FLOAT)
        return int_equals_double (b->i, a->d);
      if (b->kind == ITEM_FLOAT)
        return int_equals_double (a->i, b->d);
      return a->i == b->i;
    }
  if (a->kind != b->kind)
    return FALSE;
  if (a->kind == ITEM_NONE)
    return TRUE;
  return a->len == b->len && (a->len == 0 || memcmp (a->data, b->data, a->len) == 0);
}

/* Items read back without trailing NULs, so a probe is compared the same way (and a value
 * made with g_variant_new_bytestring(), which includes its terminating NUL, matches). */
static void
strip_probe (Item *item)
{
  if (item->kind == ITEM_BYTES)
    while (item->len > 0 && item->data[item->len - 1] == 0)
      item->len--;
}

/* ---- the layout ---------------------------------------------------------------------------- */

static guint64
data_start (gint64 len)
{
  return ((guint64) len + 2) * 8;
}

static guint64
formats_start (MpShareableList *self)
{
  return data_start (self->len) + self->offsets[self->len];
}

static guint64
codes_start (MpShareableList *self)
{
  return formats_start (self) + (guint64) self->len * 8;
}

static guint8 *
list_buf (MpShareableList *self, gsize *size, GError **error)
{
  guint8 *buf = mp_shared_memory_get_buf (self->shm, size);

  if (buf == NULL)
    g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED,
                         "the ShareableList's shared memory is closed");
  return buf;
}

static gboolean
resolve_index (MpShareableList *self, gssize index, guint64 *pos, const char *what,
               GError **error)
{
  gint64 i = index < 0 ? (gint64) index + self->len : (gint64) index;

  if (i < 0 || i >= self->len)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "%s index out of range", what);
      return FALSE;
    }
  *pos = (guint64) i;
  return TRUE;
}

typedef enum
{
  FMT_INT,
  FMT_FLOAT,
  FMT_BOOL,
  FMT_NONE,
  FMT_BYTES,
  FMT_INVALID,
} FormatKind;

/* Reads and validates the format of item @pos: returns its kind and, for "<n>s", n. */
static FormatKind
read_format (MpShareableList *self, const guint8 *buf, guint64 pos, char out[9], guint64 *n)
{
  guint64 slot = self->offsets[pos + 1] - self->offsets[pos];
  gsize len;

  memcpy (out, buf + formats_start (self) + pos * 8, 8);
  out[8] = 0;
  /* Python strips trailing NULs only; an embedded one makes an invalid format. */
  len = 8;
  while (len > 0 && out[len - 1] == 0)
    len--;
  if (memchr (out, 0, len) != NULL)
    return FMT_INVALID;

  *n = 8;
  if (strcmp (out, "q") == 0)
    return slot >= 8 ? FMT_INT : FMT_INVALID;
  if (strcmp (out, "d") == 0)
    return slot >= 8 ? FMT_FLOAT : FMT_INVALID;
  if (strcmp (out, "xxxxxxx?") == 0)
    return slot >= 8 ? FMT_BOOL : FMT_INVALID;
  if (strcmp (out, "xxxxxx?x") == 0)
    return slot >= 8 ? FMT_NONE : FMT_INVALID;
  if (len >= 2 && out[len - 1] == 's')
    {
      guint64 v = 0;

      for (gsize i = 0; i < len - 1; i++)
        {
          if (!g_ascii_isdigit (out[i]))
            return FMT_INVALID;
          v = v * 10 + (guint64) (out[i] - '0');
        }
      if (v > slot)
        return FMT_INVALID;
      *n = v;
      return FMT_BYTES;
    }
  return FMT_INVALID;
}

static gboolean
corrupt (GError **error, guint64 pos, const char *what)
{
  g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
               "item %" G_GUINT64_FORMAT " of the ShareableList is corrupt (%s)", pos, what);
  return FALSE;
}

/* Decodes item @pos. Borrowed pointers in @item point into the mapping. */
static gboolean
read_item (MpShareableList *self, guint64 pos, Item *item, GError **error)
{
  gsize size;
  const guint8 *buf = list_buf (self, &size, error);
  const guint8 *slot;
  char fmt[9];
  guint64 n;
  gint8 code;

  if (buf == NULL)
    return FALSE;
  memset (item, 0, sizeof *item);
  slot = buf + data_start (self->len) + self->offsets[pos];
  code = (gint8) buf[codes_start (self) + pos];

  switch (read_format (self, buf, pos, fmt, &n))
    {
    case FMT_INT:
      memcpy (&item->i, slot, 8);
      item->kind = ITEM_INT;
      break;
    case FMT_FLOAT:
      memcpy (&item->d, slot, 8);
      item->kind = ITEM_FLOAT;
      break;
    case FMT_BOOL:
      item->i = slot[7] != 0;
      item->kind = ITEM_BOOL;
      break;
    case FMT_NONE:
      item->i = slot[6] != 0;
      item->kind = ITEM_BOOL;
      break;
    case FMT_BYTES:
      item->data = slot;
      item->len = n;
      item->kind = ITEM_BYTES;
      if (code == CODE_STR || code == CODE_BYTES)
        while (item->len > 0 && item->data[item->len - 1] == 0)
          item->len--;
      if (code == CODE_STR)
        {
          if (memchr (item->data, 0, item->len) != NULL ||
              !g_utf8_validate_len ((const char *) item->data, item->len, NULL))
            return corrupt (error, pos, "a str that is not valid UTF-8 without NULs");
          item->kind = ITEM_STR;
        }
      break;
    case FMT_INVALID:
    default:
      return corrupt (error, pos, "unknown format");
    }

  switch (code)
    {
    case CODE_AS_IS:
      return TRUE;
    case CODE_NONE:
      memset (item, 0, sizeof *item);
      item->kind = ITEM_NONE;
      return TRUE;
    case CODE_STR:
    case CODE_BYTES:
      if (item->kind == ITEM_STR || item->kind == ITEM_BYTES)
        return TRUE;
      return corrupt (error, pos, "a str/bytes code on a number");
    default:
      return corrupt (error, pos, "unknown back-transform code");
    }
}

static GVariant *
item_to_variant (const Item *item)
{
  switch (item->kind)
    {
    case ITEM_INT: return g_variant_new_int64 (item->i);
    case ITEM_FLOAT: return g_variant_new_double (item->d);
    case ITEM_BOOL: return g_variant_new_boolean (item->i != 0);
    case ITEM_STR: return g_variant_new_take_string (g_strndup ((const char *) item->data, item->len));
    case ITEM_BYTES: return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, item->data, item->len, 1);
    case ITEM_NONE:
    default: return none_variant ();
    }
}

/* The format and code Python would store for @item in a slot of @slot bytes. */
static gboolean
format_for (const Item *item, guint64 slot, char fmt[9], gint8 *code, GError **error)
{
  memset (fmt, 0, 9);
  switch (item->kind)
    {
    case ITEM_INT: strcpy (fmt, "q"); *code = CODE_AS_IS; break;
    case ITEM_FLOAT: strcpy (fmt, "d"); *code = CODE_AS_IS; break;
    case ITEM_BOOL: strcpy (fmt, "xxxxxxx?"); *code = CODE_AS_IS; break;
    case ITEM_NONE: strcpy (fmt, "xxxxxx?x"); *code = CODE_NONE; break;
    case ITEM_STR:
    case ITEM_BYTES:
    default:
      if (slot > MAX_SLOT)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "a str/bytes slot of %" G_GUINT64_FORMAT " bytes has no format that "
                       "fits in 8 characters (Python's limit is %d)", slot, MAX_SLOT);
          return FALSE;
        }
      g_snprintf (fmt, 9, "%" G_GUINT64_FORMAT "s", slot);
      *code = item->kind == ITEM_STR ? CODE_STR : CODE_BYTES;
      break;
    }
  return TRUE;
}

/* Writes @item into a slot whose format is already @fmt (struct.pack_into's bytes). */
static void
pack_value (guint8 *slot, const Item *item, const char *fmt)
{
  guint64 n;

  switch (item->kind)
    {
    case ITEM_INT: memcpy (slot, &item->i, 8); break;
    case ITEM_FLOAT: memcpy (slot, &item->d, 8); break;
    case ITEM_BOOL: memset (slot, 0, 7); slot[7] = item->i != 0; break;
    case ITEM_NONE: memset (slot, 0, 8); break;
    case ITEM_STR:
    case ITEM_BYTES:
    default:
      n = g_ascii_strtoull (fmt, NULL, 10);
      memcpy (slot, item->data, MIN (item->len, n));
      if (n > item->len)
        memset (slot + item->len, 0, n - item->len);
      break;
    }
}

static gboolean
validate_layout (MpShareableList *self, const guint8 *buf, gsize size, GError **error)
{
  gint64 len;

  if (size < 16)
    goto bad;
  memcpy (&len, buf, 8);
  if (len < 0 || (guint64) len > size / 8 - 2)
    goto bad;
  self->len = len;
  self->offsets = g_new (guint64, (gsize) len + 1);
  for (gint64 i = 0; i <= len; i++)
    {
      gint64 off;

      memcpy (&off, buf + 8 + i * 8, 8);
      if (off < 0 || (guint64) off > size || (i > 0 && (guint64) off < self->offsets[i - 1]))
        goto bad;
      self->offsets[i] = (guint64) off;
    }
  /* data area + formats + codes within the mapping, without overflow (all terms ≤ size). */
  if (data_start (len) + self->offsets[len] > size ||
      size - (data_start (len) + self->offsets[len]) < (guint64) len * 9)
    goto bad;
  return TRUE;

bad:
  g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
               "the shared memory segment '%s' does not hold a ShareableList",
               mp_shared_memory_get_name (self->shm));
  return FALSE;
}

/* ---- public API ---------------------------------------------------------------------------- */

static MpShareableList *
list_create (GVariant *sequence, const char *name, GError **error)
{
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(MpShareableList) self = NULL;
  g_autofree Item *items = NULL;
  g_autofree guint64 *slots = NULL;
  gsize n = 0, size;
  guint64 data = 0;
  guint8 *buf;

  if (sequence != NULL)
    {
      GVariantClass cls = g_variant_classify (sequence);

      if (cls != G_VARIANT_CLASS_ARRAY && cls != G_VARIANT_CLASS_TUPLE)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "a ShareableList is made from an array or a tuple, not from a %s",
                       g_variant_get_type_string (sequence));
          return NULL;
        }
      n = g_variant_n_children (sequence);
    }

  items = g_new0 (Item, MAX (n, 1));
  slots = g_new0 (guint64, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (sequence, i);
      GVariant *v = item_from_variant (child, &items[i], error);

      if (v == NULL)
        return NULL;
      g_ptr_array_add (keep, v);
      if (items[i].kind == ITEM_STR || items[i].kind == ITEM_BYTES)
        {
          /* Python: alignment * (len // alignment + 1), len counted in encoded bytes here. */
          slots[i] = ALIGNMENT * (items[i].len / ALIGNMENT + 1);
          if (slots[i] > MAX_SLOT)
            {
              g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                           "item %" G_GSIZE_FORMAT " is too long for a ShareableList "
                           "(%" G_GSIZE_FORMAT " bytes; the limit is %d)", i, items[i].len,
                           MAX_SLOT - ALIGNMENT);
              return NULL;
            }
        }
      else
        slots[i] = ALIGNMENT;
      data += slots[i];
    }

  /* "q" + "q"*(N+1) + formats + "8s"*N + "b"*N: no padding anywhere, every part is aligned. */
  size = 8 + 8 * (n + 1) + data + 8 * n + n;

  self = g_new0 (MpShareableList, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->shm = _mp_shared_memory_new_internal (name, TRUE, size, TRUE,
                                              MP_OBJECT_SHAREABLE_LIST, error);
  if (self->shm == NULL)
    return NULL;
  self->len = (gint64) n;
  self->offsets = g_new (guint64, n + 1);
  self->offsets[0] = 0;
  for (gsize i = 0; i < n; i++)
    self->offsets[i + 1] = self->offsets[i] + slots[i];

  buf = mp_shared_memory_get_buf (self->shm, NULL);
  memcpy (buf, &self->len, 8);
  for (gsize i = 0; i <= n; i++)
    memcpy (buf + 8 + 8 * i, &self->offsets[i], 8);
  for (gsize i = 0; i < n; i++)
    {
      char fmt[9];
      gint8 code;

      if (!format_for (&items[i], slots[i], fmt, &code, error))
        return NULL;
      memcpy (buf + formats_start (self) + 8 * i, fmt, 8);
      buf[codes_start (self) + i] = (guint8) code;
      pack_value (buf + data_start (self->len) + self->offsets[i], &items[i], fmt);
    }
  return g_steal_pointer (&self);
}

/**
 * mp_shareable_list_new:
 * @sequence: (nullable): the items: an array or a tuple (`av` is the general case; `ax`, `as`,
 *   `(xsdb)`… work too), or %NULL for an empty list
 * @name: (nullable): the name of the segment to create, %NULL to generate one
 * @error: return location for an error
 *
 * Python's `ShareableList(sequence, name=name)`. With @sequence %NULL and @name set it
 * attaches, as Python does (see mp_shareable_list_attach()); otherwise it creates a new
 * segment (with resource tracking) holding the items. A #GVariantBuilder of type `av` is
 * the natural builder. Items of unsupported types, and str/bytes items of 10 MB or more,
 * fail with %MP_ERROR_INVALID_ARGUMENT; the name, as for mp_shared_memory_new().
 *
 * Returns: (transfer full): the list, or %NULL with @error set
 */
MpShareableList *
mp_shareable_list_new (GVariant *sequence, const char *name, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (sequence == NULL && name != NULL)
    return mp_shareable_list_attach (name, error);
  return list_create (sequence, name, error);
}

/**
 * mp_shareable_list_attach:
 * @name: the segment's name
 * @error: return location for an error
 *
 * Attaches to a list created by libmp or by Python (`ShareableList(name=name)`). Fails with
 * %MP_ERROR_NOT_FOUND if there is no such segment, %MP_ERROR_SERIALIZATION if it does not
 * hold a valid list.
 *
 * Returns: (transfer full): the list, or %NULL with @error set
 */
MpShareableList *
mp_shareable_list_attach (const char *name, GError **error)
{
  g_autoptr(MpShareableList) self = NULL;
  const guint8 *buf;
  gsize size;

  g_return_val_if_fail (name != NULL, NULL);

  self = g_new0 (MpShareableList, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->shm = _mp_shared_memory_new_internal (name, FALSE, 0, TRUE, MP_OBJECT_SHAREABLE_LIST,
                                              error);
  if (self->shm == NULL)
    return NULL;
  buf = mp_shared_memory_get_buf (self->shm, &size);
  if (!validate_layout (self, buf, size, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * mp_shareable_list_ref:
 *
 * Returns: (transfer full): @self
 */
MpShareableList *
mp_shareable_list_ref (MpShareableList *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * mp_shareable_list_unref:
 *
 * Drops a reference; the last one drops the list's #MpSharedMemory (which closes this
 * process's mapping but never unlinks: unlink through mp_shareable_list_get_shm()).
 */
void
mp_shareable_list_unref (MpShareableList *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_clear_pointer (&self->shm, mp_shared_memory_unref);
  g_free (self->offsets);
  g_free (self);
}

/**
 * mp_shareable_list_get_length:
 *
 * Returns: the number of items (fixed at creation)
 */
gsize
mp_shareable_list_get_length (MpShareableList *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (gsize) self->len;
}

/**
 * mp_shareable_list_get:
 * @self: a list
 * @index: the position; negative counts from the end
 * @error: return location for an error
 *
 * Python's `sl[index]`.
 *
 * Returns: (transfer full): the item (`x`, `d`, `b`, `s`, `ay` or `mv` Nothing), or %NULL
 *   with %MP_ERROR_INVALID_ARGUMENT for an index out of range
 */
GVariant *
mp_shareable_list_get (MpShareableList *self, gssize index, GError **error)
{
  guint64 pos;
  Item item;

  g_return_val_if_fail (self != NULL, NULL);

  if (!resolve_index (self, index, &pos, "", error) || !read_item (self, pos, &item, error))
    return NULL;
  return g_variant_ref_sink (item_to_variant (&item));
}

/**
 * mp_shareable_list_set:
 * @self: a list
 * @index: the position; negative counts from the end
 * @value: the new item (see #MpShareableList for the types); a floating reference is sunk
 * @error: return location for an error
 *
 * Python's `sl[index] = value`. The item may change type. A str or bytes value longer than
 * the slot fails with %MP_ERROR_INVALID_ARGUMENT ("bytes/str item exceeds available
 * storage") and changes nothing.
 *
 * Returns: %TRUE on success
 */
gboolean
mp_shareable_list_set (MpShareableList *self, gssize index, GVariant *value, GError **error)
{
  g_autoptr(GVariant) sunk = NULL;
  g_autoptr(GVariant) inner = NULL;
  guint64 pos, slot_len, n;
  char fmt[9], current[9];
  gint8 code;
  guint8 *buf;
  Item item;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  sunk = g_variant_ref_sink (value);
  if (!resolve_index (self, index, &pos, "assignment ", error))
    return FALSE;
  if ((inner = item_from_variant (sunk, &item, error)) == NULL)
    return FALSE;
  if ((buf = list_buf (self, NULL, error)) == NULL)
    return FALSE;

  slot_len = self->offsets[pos + 1] - self->offsets[pos];
  if (item.kind == ITEM_STR || item.kind == ITEM_BYTES)
    {
      if (item.len > slot_len)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "bytes/str item exceeds available storage (%" G_GSIZE_FORMAT " bytes "
                       "into a slot of %" G_GUINT64_FORMAT ")", item.len, slot_len);
          return FALSE;
        }
      if (!format_for (&item, slot_len, fmt, &code, error))
        return FALSE;
      /* Python keeps a str/bytes slot's current format. */
      if (read_format (self, buf, pos, current, &n) == FMT_BYTES && n >= item.len)
        memcpy (fmt, current, 9);
    }
  else
    {
      if (slot_len < 8)
        return corrupt (error, pos, "a slot shorter than 8 bytes");
      if (!format_for (&item, slot_len, fmt, &code, error))
        return FALSE;
    }

  memcpy (buf + formats_start (self) + 8 * pos, fmt, 8);
  buf[codes_start (self) + pos] = (guint8) code;
  pack_value (buf + data_start (self->len) + self->offsets[pos], &item, fmt);
  return TRUE;
}

/**
 * mp_shareable_list_dup_items:
 * @self: a list
 * @error: return location for an error
 *
 * All items at once (Python's `list(sl)`).
 *
 * Returns: (transfer full): an `av`, or %NULL if an item cannot be read
 */
GVariant *
mp_shareable_list_dup_items (MpShareableList *self, GError **error)
{
  GVariantBuilder b;

  g_return_val_if_fail (self != NULL, NULL);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("av"));
  for (gint64 i = 0; i < self->len; i++)
    {
      Item item;

      if (!read_item (self, (guint64) i, &item, error))
        {
          g_variant_builder_clear (&b);
          return NULL;
        }
      g_variant_builder_add (&b, "v", item_to_variant (&item));
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/**
 * mp_shareable_list_count:
 * @self: a list
 * @value: the value to count; a floating reference is sunk
 *
 * Python's `sl.count(value)`, with Python's equality: numbers compare by value across int,
 * float and bool (`1`, `1.0` and `TRUE` are equal), a str never equals bytes, NaN equals
 * nothing. One difference: a bytes @value is compared without its trailing NULs, as items
 * are read back (so a value made with g_variant_new_bytestring(), which includes the
 * terminating NUL, is found). Items that cannot be read count as different.
 *
 * Returns: the number of items equal to @value
 */
gsize
mp_shareable_list_count (MpShareableList *self, GVariant *value)
{
  g_autoptr(GVariant) sunk = NULL;
  g_autoptr(GVariant) inner = NULL;
  gsize count = 0;
  Item want;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (value != NULL, 0);

  sunk = g_variant_ref_sink (value);
  if ((inner = item_from_variant (sunk, &want, NULL)) == NULL)
    return 0;
  strip_probe (&want);
  for (gint64 i = 0; i < self->len; i++)
    {
      Item item;

      if (read_item (self, (guint64) i, &item, NULL) && items_equal (&item, &want))
        count++;
    }
  return count;
}

/**
 * mp_shareable_list_index:
 * @self: a list
 * @value: the value to find; a floating reference is sunk
 * @error: return location for an error
 *
 * Python's `sl.index(value)`, with the equality of mp_shareable_list_count(). Python raises
 * `ValueError` when the value is absent; here that is %MP_ERROR_INVALID_ARGUMENT (as every
 * `ValueError`), with Python's message "… not in this container".
 *
 * Returns: the first position holding @value, or -1 with @error set
 */
gssize
mp_shareable_list_index (MpShareableList *self, GVariant *value, GError **error)
{
  g_autoptr(GVariant) sunk = NULL;
  g_autoptr(GVariant) inner = NULL;
  g_autofree char *printed = NULL;
  Item want;

  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (value != NULL, -1);

  sunk = g_variant_ref_sink (value);
  inner = item_from_variant (sunk, &want, NULL);
  if (inner != NULL)
    strip_probe (&want);
  if (inner != NULL)
    for (gint64 i = 0; i < self->len; i++)
      {
        Item item;

        if (read_item (self, (guint64) i, &item, NULL) && items_equal (&item, &want))
          return (gssize) i;
      }
  printed = g_variant_print (sunk, FALSE);
  g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "%s not in this container", printed);
  return -1;
}

/**
 * mp_shareable_list_dup_format:
 * @self: a list
 * @error: return location for an error
 *
 * Python's `format`: the struct formats of all items, concatenated (`"q8sdxxxxxxx?"`).
 *
 * Returns: (transfer full): the format, or %NULL if an item's format is corrupt
 */
char *
mp_shareable_list_dup_format (MpShareableList *self, GError **error)
{
  g_autoptr(GString) s = g_string_new (NULL);
  const guint8 *buf;

  g_return_val_if_fail (self != NULL, NULL);

  if ((buf = list_buf (self, NULL, error)) == NULL)
    return NULL;
  for (gint64 i = 0; i < self->len; i++)
    {
      char fmt[9];
      guint64 n;

      if (read_format (self, buf, (guint64) i, fmt, &n) == FMT_INVALID)
        {
          corrupt (error, (guint64) i, "unknown format");
          return NULL;
        }
      g_string_append (s, fmt);
    }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/**
 * mp_shareable_list_get_shm:
 *
 * The segment that holds the list (Python's `shm`): unlink it through this when done.
 *
 * Returns: (transfer none): the segment
 */
MpSharedMemory *
mp_shareable_list_get_shm (MpShareableList *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->shm;
}

static void
append_repr (GString *s, const Item *item)
{
  switch (item->kind)
    {
    case ITEM_INT:
      g_string_append_printf (s, "%" G_GINT64_FORMAT, item->i);
      break;
    case ITEM_FLOAT:
      {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];

        if (isnan (item->d))
          g_string_append (s, "nan");
        else if (isinf (item->d))
          g_string_append (s, item->d > 0 ? "inf" : "-inf");
        else
          {
            g_ascii_dtostr (buf, sizeof buf, item->d);
            g_string_append (s, buf);
            if (strpbrk (buf, ".e") == NULL)
              g_string_append (s, ".0");
          }
      }
      break;
    case ITEM_BOOL:
      g_string_append (s, item->i ? "True" : "False");
      break;
    case ITEM_NONE:
      g_string_append (s, "None");
      break;
    case ITEM_STR:
    case ITEM_BYTES:
    default:
      if (item->kind == ITEM_BYTES)
        g_string_append_c (s, 'b');
      g_string_append_c (s, '\'');
      for (gsize i = 0; i < item->len; i++)
        {
          guint8 c = item->data[i];

          if (c == '\'' || c == '\\')
            g_string_append_printf (s, "\\%c", c);
          else if (c == '\n')
            g_string_append (s, "\\n");
          else if (c < 0x20 || c == 0x7f || (c >= 0x80 && item->kind == ITEM_BYTES))
            g_string_append_printf (s, "\\x%02x", c);
          else
            g_string_append_c (s, (char) c);
        }
      g_string_append_c (s, '\'');
      break;
    }
}

/**
 * mp_shareable_list_to_string:
 *
 * Returns: (transfer full): Python's repr, `ShareableList([1, 'a', None], name='psm_…')`
 */
char *
mp_shareable_list_to_string (MpShareableList *self)
{
  GString *s;

  g_return_val_if_fail (self != NULL, NULL);

  s = g_string_new ("ShareableList([");
  for (gint64 i = 0; i < self->len; i++)
    {
      Item item;

      if (i > 0)
        g_string_append (s, ", ");
      if (read_item (self, (guint64) i, &item, NULL))
        append_repr (s, &item);
      else
        g_string_append (s, "<corrupt>");
    }
  g_string_append_printf (s, "], name='%s')", mp_shared_memory_get_name (self->shm));
  return g_string_free (s, FALSE);
}

/**
 * mp_shareable_list_serialize:
 * @self: a list
 * @fd_list: (nullable): unused: the handle is the name, as Python pickles it
 * @error: return location for an error
 *
 * Returns: (transfer floating): a `(s)` handle for mp_shareable_list_deserialize()
 */
GVariant *
mp_shareable_list_serialize (MpShareableList *self, GUnixFDList *fd_list, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_variant_new ("(s)", mp_shared_memory_get_name (self->shm));
}

/**
 * mp_shareable_list_deserialize:
 * @serialized: a handle from mp_shareable_list_serialize()
 * @fd_list: (nullable): unused
 * @error: return location for an error
 *
 * Attaches to the list the handle names (%MP_ERROR_NOT_FOUND once it is unlinked).
 *
 * Returns: (transfer full): the list
 */
MpShareableList *
mp_shareable_list_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  const char *name;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(s)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A ShareableList handle must be of type (s), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(&s)", &name);
  return mp_shareable_list_attach (name, error);
}
