/* mp-sharedctypes.c: RawValue and RawArray, typed storage in shared memory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Each value or array is its own memfd, sized to whole pages and sealed against shrinking
 * and growing before it is mapped, so no process can ever make another's mapping fault
 * (SIGBUS) by truncating it; a handle received from another process is only mapped if it
 * carries those seals and is large enough. Python instead carves values out of a shared
 * arena file with a per-process heap; one memfd per object costs a descriptor and a page
 * but makes lifetimes trivial: the memory lives while any process maps it, whoever created
 * it, and nothing is ever reused under another process's feet.
 *
 * Fork children inherit the mapping and a copy of the struct (the directory entry ignores
 * the copy, see mp-shared-memory.c); spawn and forkserver children map the descriptor their
 * handle carries and join the creator's directory entry by its id.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "mp-error.h"
#include "mp-sharedctypes.h"
#include "mp-shared-memory-private.h"
#include "mp-trace-private.h"

G_STATIC_ASSERT (sizeof (wchar_t) == 4);

typedef struct
{
  char        code;
  guint8      size;
  const char *vtype;     /* what get returns */
  gboolean    is_signed;
  gint64      min;
  guint64     max;
} TypeInfo;

static const TypeInfo type_infos[] = {
  { 'c', 1, "y", FALSE, 0, G_MAXUINT8 },
  { 'u', sizeof (wchar_t), "s", FALSE, 0, 0x10FFFF },
  { 'b', 1, "n", TRUE, G_MININT8, G_MAXINT8 },
  { 'B', 1, "y", FALSE, 0, G_MAXUINT8 },
  { 'h', sizeof (short), "n", TRUE, SHRT_MIN, SHRT_MAX },
  { 'H', sizeof (short), "q", FALSE, 0, USHRT_MAX },
  { 'i', sizeof (int), "i", TRUE, INT_MIN, INT_MAX },
  { 'I', sizeof (int), "u", FALSE, 0, UINT_MAX },
  { 'l', sizeof (long), "x", TRUE, LONG_MIN, LONG_MAX },
  { 'L', sizeof (long), "t", FALSE, 0, ULONG_MAX },
  { 'q', sizeof (long long), "x", TRUE, LLONG_MIN, LLONG_MAX },
  { 'Q', sizeof (long long), "t", FALSE, 0, ULLONG_MAX },
  { 'f', sizeof (float), "d", TRUE, 0, 0 },
  { 'd', sizeof (double), "d", TRUE, 0, 0 },
};

typedef struct
{
  gatomicrefcount  ref_count;
  const TypeInfo  *info;
  gsize            length;
  guint8          *data;
  gsize            map_size;
  int              fd;
  MpShmEntry       entry;
} Storage;

struct _MpRawValue
{
  Storage s;
};

struct _MpRawArray
{
  Storage s;
};

static MpRawValue *value_ref (MpRawValue *self) { return mp_raw_value_ref (self); }
static MpRawArray *array_ref (MpRawArray *self) { return mp_raw_array_ref (self); }

G_DEFINE_BOXED_TYPE (MpRawValue, mp_raw_value, value_ref, mp_raw_value_unref)
G_DEFINE_BOXED_TYPE (MpRawArray, mp_raw_array, array_ref, mp_raw_array_unref)

static const TypeInfo *
lookup_type (char typecode)
{
  for (guint i = 0; i < G_N_ELEMENTS (type_infos); i++)
    if (type_infos[i].code == typecode)
      return &type_infos[i];
  return NULL;
}

/**
 * mp_sharedctypes_get_itemsize:
 * @typecode: one of `c u b B h H i I l L q Q f d`
 *
 * Returns: the size in bytes of one element of @typecode, 0 for an unknown typecode
 */
gsize
mp_sharedctypes_get_itemsize (char typecode)
{
  const TypeInfo *info = lookup_type (typecode);
  return info ? info->size : 0;
}

/* ---- storage ------------------------------------------------------------------------------- */

static gboolean
check_type (char typecode, const TypeInfo **info, GError **error)
{
  *info = lookup_type (typecode);
  if (*info == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "'%c' is not a typecode (one of c u b B h H i I l L q Q f d)",
                   g_ascii_isprint (typecode) ? typecode : '?');
      return FALSE;
    }
  return TRUE;
}

static gboolean
byte_size (const TypeInfo *info, gsize length, gsize *out, GError **error)
{
  if (length > (G_MAXSSIZE - 65536) / info->size)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "an array of %" G_GSIZE_FORMAT " elements is too large", length);
      return FALSE;
    }
  *out = length * info->size;
  return TRUE;
}

static void
storage_label (const Storage *s, gboolean is_array, char *buf, gsize len)
{
  if (is_array)
    g_snprintf (buf, len, "RawArray('%c', %" G_GSIZE_FORMAT ")", s->info->code, s->length);
  else
    g_snprintf (buf, len, "RawValue('%c')", s->info->code);
}

static Storage *
storage_map (const TypeInfo *info, gsize length, int fd, gsize map_size, gboolean is_array,
             guint64 join_id, GError **error)
{
  Storage *s;
  void *data;
  char label[MP_ARENA_LABEL_LEN];

  data = mmap (NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "cannot map shared memory: %s",
                   g_strerror (errsv));
      return NULL;
    }
  s = g_new0 (Storage, 1);
  g_atomic_ref_count_init (&s->ref_count);
  s->info = info;
  s->length = length;
  s->data = data;
  s->map_size = map_size;
  s->fd = fd;
  storage_label (s, is_array, label, sizeof label);
  _mp_shm_entry_open (&s->entry, is_array ? MP_OBJECT_ARRAY : MP_OBJECT_VALUE, label, label,
                      length * info->size, 0, FALSE, join_id);
  _mp_trace (MP_TRACE_LIFECYCLE, join_id ? MP_EVENT_SHM_ATTACHED : MP_EVENT_SHM_CREATED,
             s->entry.id, (gint64) (length * info->size), 0);
  return s;
}

static Storage *
storage_new (char typecode, gsize length, gboolean is_array, GError **error)
{
  const TypeInfo *info;
  gsize bytes, page = (gsize) sysconf (_SC_PAGESIZE), map_size;
  Storage *s;
  int fd;

  if (!check_type (typecode, &info, error) || !byte_size (info, length, &bytes, error))
    return NULL;
  map_size = MAX (page, (bytes + page - 1) / page * page);

  fd = memfd_create ("libmp-sharedctypes", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate (fd, (off_t) map_size) < 0 ||
      fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "cannot create shared memory: %s",
                   g_strerror (errsv));
      return NULL;
    }
  s = storage_map (info, length, fd, map_size, is_array, 0, error);
  if (s == NULL)
    close (fd);
  return s;
}

static void
storage_unref (Storage *s)
{
  if (!g_atomic_ref_count_dec (&s->ref_count))
    return;
  munmap (s->data, s->map_size);
  close (s->fd);
  _mp_shm_entry_close (&s->entry, FALSE);
  g_free (s);
}

static gboolean
resolve_index (const Storage *s, gssize index, gsize *pos, GError **error)
{
  gint64 i = index < 0 ? (gint64) index + (gint64) s->length : (gint64) index;

  if (i < 0 || (guint64) i >= s->length)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "invalid index %" G_GSSIZE_FORMAT
                   " for an array of %" G_GSIZE_FORMAT, index, s->length);
      return FALSE;
    }
  *pos = (gsize) i;
  return TRUE;
}

static GVariant *
load (const Storage *s, gsize pos)
{
  const guint8 *p = s->data + pos * s->info->size;

  switch (s->info->code)
    {
    case 'c':
    case 'B':
      return g_variant_new_byte (*p);
    case 'b':
      return g_variant_new_int16 (*(const gint8 *) p);
    case 'u':
      {
        guint32 c;
        char utf8[8] = { 0 };

        memcpy (&c, p, 4);
        if (c == 0)
          return g_variant_new_string ("");
        /* Raw pointer writes may leave anything here. */
        if (!g_unichar_validate (c))
          c = 0xFFFD;
        g_unichar_to_utf8 (c, utf8);
        return g_variant_new_string (utf8);
      }
    case 'h':
      {
        short v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_int16 (v);
      }
    case 'H':
      {
        unsigned short v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_uint16 (v);
      }
    case 'i':
      {
        int v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_int32 (v);
      }
    case 'I':
      {
        unsigned int v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_uint32 (v);
      }
    case 'l':
      {
        long v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_int64 (v);
      }
    case 'L':
      {
        unsigned long v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_uint64 (v);
      }
    case 'q':
      {
        long long v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_int64 (v);
      }
    case 'Q':
      {
        unsigned long long v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_uint64 (v);
      }
    case 'f':
      {
        float v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_double (v);
      }
    case 'd':
    default:
      {
        double v;
        memcpy (&v, p, sizeof v);
        return g_variant_new_double (v);
      }
    }
}

/* An integer GVariant as (negative?, value): value is the int64 when signed, else the uint64. */
static gboolean
variant_integer (GVariant *v, gboolean *is_unsigned, gint64 *sv, guint64 *uv)
{
  *is_unsigned = FALSE;
  switch (g_variant_classify (v))
    {
    case G_VARIANT_CLASS_BOOLEAN: *sv = g_variant_get_boolean (v) ? 1 : 0; return TRUE;
    case G_VARIANT_CLASS_BYTE: *sv = g_variant_get_byte (v); return TRUE;
    case G_VARIANT_CLASS_INT16: *sv = g_variant_get_int16 (v); return TRUE;
    case G_VARIANT_CLASS_UINT16: *sv = g_variant_get_uint16 (v); return TRUE;
    case G_VARIANT_CLASS_INT32: *sv = g_variant_get_int32 (v); return TRUE;
    case G_VARIANT_CLASS_UINT32: *sv = g_variant_get_uint32 (v); return TRUE;
    case G_VARIANT_CLASS_INT64: *sv = g_variant_get_int64 (v); return TRUE;
    case G_VARIANT_CLASS_UINT64:
      *is_unsigned = TRUE;
      *uv = g_variant_get_uint64 (v);
      return TRUE;
    case G_VARIANT_CLASS_DOUBLE:
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
    case G_VARIANT_CLASS_HANDLE:
    case G_VARIANT_CLASS_VARIANT:
    case G_VARIANT_CLASS_MAYBE:
    case G_VARIANT_CLASS_ARRAY:
    case G_VARIANT_CLASS_TUPLE:
    case G_VARIANT_CLASS_DICT_ENTRY:
    default:
      return FALSE;
    }
}

static gboolean
type_error (const Storage *s, GVariant *v, GError **error)
{
  g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
               "a value of type %s cannot be stored in a '%c' element",
               g_variant_get_type_string (v), s->info->code);
  return FALSE;
}

static gboolean
store (Storage *s, gsize pos, GVariant *value, GError **error)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (value);
  const TypeInfo *info = s->info;
  guint8 *p = s->data + pos * info->size;
  gboolean is_unsigned;
  gint64 sv = 0;
  guint64 uv = 0;

  while (g_variant_is_of_type (v, G_VARIANT_TYPE_VARIANT))
    {
      GVariant *inner = g_variant_get_variant (v);
      g_variant_unref (v);
      v = inner;
    }

  if (info->code == 'f' || info->code == 'd')
    {
      double d;

      if (g_variant_is_of_type (v, G_VARIANT_TYPE_DOUBLE))
        d = g_variant_get_double (v);
      else if (variant_integer (v, &is_unsigned, &sv, &uv))
        d = is_unsigned ? (double) uv : (double) sv;
      else
        return type_error (s, v, error);
      if (info->code == 'f')
        {
          float f = (float) d;
          memcpy (p, &f, sizeof f);
        }
      else
        memcpy (p, &d, sizeof d);
      return TRUE;
    }

  if (info->code == 'c' && g_variant_is_of_type (v, G_VARIANT_TYPE_BYTESTRING))
    {
      gsize n;
      const guint8 *bytes = g_variant_get_fixed_array (v, &n, 1);

      if (n != 1)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "one character bytes, bytearray or integer expected (got %" G_GSIZE_FORMAT
                       " bytes)", n);
          return FALSE;
        }
      *p = bytes[0];
      return TRUE;
    }
  if (info->code == 'u' && g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    {
      const char *str = g_variant_get_string (v, NULL);
      guint32 c;

      if (g_utf8_strlen (str, -1) > 1)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                       "one character unicode string expected, not '%s'", str);
          return FALSE;
        }
      c = str[0] ? g_utf8_get_char (str) : 0;
      memcpy (p, &c, 4);
      return TRUE;
    }

  if (!variant_integer (v, &is_unsigned, &sv, &uv))
    return type_error (s, v, error);

  if (info->is_signed)
    {
      if (is_unsigned ? uv > (guint64) info->max : sv < info->min || sv > (gint64) info->max)
        goto range;
      if (is_unsigned)
        sv = (gint64) uv;
    }
  else
    {
      if (is_unsigned ? uv > info->max : sv < 0 || (guint64) sv > info->max)
        goto range;
      if (!is_unsigned)
        uv = (guint64) sv;
    }
  if (info->code == 'u' && !g_unichar_validate ((gunichar) uv) && uv != 0)
    goto range;

  switch (info->size)
    {
    case 1:
      {
        guint8 b = info->is_signed ? (guint8) (gint8) sv : (guint8) uv;
        *p = b;
      }
      break;
    case 2:
      {
        guint16 w = info->is_signed ? (guint16) (gint16) sv : (guint16) uv;
        memcpy (p, &w, 2);
      }
      break;
    case 4:
      {
        guint32 w = info->is_signed ? (guint32) (gint32) sv : (guint32) uv;
        memcpy (p, &w, 4);
      }
      break;
    case 8:
    default:
      {
        guint64 w = info->is_signed ? (guint64) sv : uv;
        memcpy (p, &w, 8);
      }
      break;
    }
  return TRUE;

range:
  {
    g_autofree char *printed = g_variant_print (v, FALSE);
    g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                 "%s is out of range for a '%c' element", printed, info->code);
  }
  return FALSE;
}

/* Maps the memfd of a handle, after checking it cannot shrink under us and is big enough. */
static Storage *
storage_from_handle (char typecode, guint64 length, gint32 h, guint64 id, gboolean is_array,
                     GUnixFDList *fd_list, GError **error)
{
  const TypeInfo *info;
  struct stat st;
  gsize bytes;
  Storage *s;
  int fd, seals;

  if (lookup_type (typecode) == NULL || length > G_MAXSIZE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The shared value handle has an invalid typecode or length");
      return NULL;
    }
  if (!check_type (typecode, &info, error) || !byte_size (info, (gsize) length, &bytes, error))
    return NULL;
  if (fd_list == NULL || h < 0 || h >= g_unix_fd_list_get_length (fd_list) ||
      (fd = g_unix_fd_list_get (fd_list, h, NULL)) < 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The shared value handle came without its descriptor");
      return NULL;
    }
  seals = fcntl (fd, F_GET_SEALS);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || seals < 0 || !(seals & F_SEAL_SHRINK) ||
      st.st_size <= 0 || (guint64) st.st_size < bytes || (guint64) st.st_size > G_MAXSSIZE)
    {
      close (fd);
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The shared value handle's memory is not a sealed memfd of %" G_GSIZE_FORMAT
                   " bytes", bytes);
      return NULL;
    }
  s = storage_map (info, (gsize) length, fd, (gsize) st.st_size, is_array, id, error);
  if (s == NULL)
    close (fd);
  return s;
}

/* ---- RawValue ------------------------------------------------------------------------------ */

/**
 * mp_raw_value_new:
 * @typecode: one of `c u b B h H i I l L q Q f d` (see #MpRawValue)
 * @init: (nullable): the initial value; %NULL for zero. A floating reference is sunk
 * @error: return location for an error
 *
 * Python's `RawValue(typecode, init)`.
 *
 * Returns: (transfer full): the value, or %NULL with %MP_ERROR_INVALID_ARGUMENT for an unknown
 *   typecode or an @init that does not fit, %MP_ERROR_IO when shared memory is unavailable
 */
MpRawValue *
mp_raw_value_new (char typecode, GVariant *init, GError **error)
{
  Storage *s = storage_new (typecode, 1, FALSE, error);

  if (s == NULL)
    {
      if (init != NULL)
        g_variant_unref (g_variant_ref_sink (init));
      return NULL;
    }
  if (init != NULL && !store (s, 0, init, error))
    {
      storage_unref (s);
      return NULL;
    }
  return (MpRawValue *) s;
}

/**
 * mp_raw_value_ref:
 *
 * Returns: (transfer full): @self
 */
MpRawValue *
mp_raw_value_ref (MpRawValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->s.ref_count);
  return self;
}

/**
 * mp_raw_value_unref:
 *
 * Drops a reference; the last one unmaps the value in this process.
 */
void
mp_raw_value_unref (MpRawValue *self)
{
  g_return_if_fail (self != NULL);
  storage_unref (&self->s);
}

/** mp_raw_value_get_typecode: Returns: the typecode */
char
mp_raw_value_get_typecode (MpRawValue *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->s.info->code;
}

/**
 * mp_raw_value_get_value:
 *
 * Python's `.value`.
 *
 * Returns: (transfer full): the value, of the #GVariant type its typecode maps to
 */
GVariant *
mp_raw_value_get_value (MpRawValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_variant_ref_sink (load (&self->s, 0));
}

/**
 * mp_raw_value_set_value:
 * @self: a value
 * @value: the new value; a floating reference is sunk
 * @error: return location for an error
 *
 * Python's `.value = value`.
 *
 * Returns: %TRUE, or %FALSE with %MP_ERROR_INVALID_ARGUMENT when @value has the wrong type or
 *   does not fit the C type
 */
gboolean
mp_raw_value_set_value (MpRawValue *self, GVariant *value, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  return store (&self->s, 0, value, error);
}

/**
 * mp_raw_value_get_pointer:
 *
 * The C object itself, for direct access (for typecode `i`, an `int *`); shared with every
 * process that has the value.
 *
 * Returns: (transfer none): the memory
 */
gpointer
mp_raw_value_get_pointer (MpRawValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->s.data;
}

/** mp_raw_value_get_size: Returns: the size of the C object in bytes */
gsize
mp_raw_value_get_size (MpRawValue *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->s.info->size;
}

/**
 * mp_raw_value_serialize:
 * @self: a value
 * @fd_list: the list the value's descriptor is appended to
 * @error: return location for an error
 *
 * A handle a spawn or forkserver child maps the same memory with: `(yht)`.
 *
 * Returns: (transfer floating): the handle
 */
GVariant *
mp_raw_value_serialize (MpRawValue *self, GUnixFDList *fd_list, GError **error)
{
  int h;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  if ((h = g_unix_fd_list_append (fd_list, self->s.fd, error)) < 0)
    return NULL;
  return g_variant_new ("(yht)", (guchar) self->s.info->code, h, self->s.entry.id);
}

/**
 * mp_raw_value_deserialize:
 *
 * Returns: (transfer full): the value the handle describes, mapped in this process, or %NULL
 *   with %MP_ERROR_SERIALIZATION for a malformed handle
 */
MpRawValue *
mp_raw_value_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  guchar code;
  gint32 h;
  guint64 id;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(yht)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A RawValue handle must be of type (yht), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(yht)", &code, &h, &id);
  return (MpRawValue *) storage_from_handle ((char) code, 1, h, id, FALSE, fd_list, error);
}

/* ---- RawArray ------------------------------------------------------------------------------ */

/**
 * mp_raw_array_new:
 * @typecode: one of `c u b B h H i I l L q Q f d`
 * @size: the number of elements (0 is allowed)
 * @error: return location for an error
 *
 * Python's `RawArray(typecode, size)`: a zero-filled array.
 *
 * Returns: (transfer full): the array, or %NULL with @error set
 */
MpRawArray *
mp_raw_array_new (char typecode, gsize size, GError **error)
{
  return (MpRawArray *) storage_new (typecode, size, TRUE, error);
}

/**
 * mp_raw_array_new_from_variant:
 * @typecode: one of `c u b B h H i I l L q Q f d`
 * @initializer: the elements: an array or tuple whose children can be stored (as for
 *   mp_raw_array_set()); for `c` also a bytestring `ay`, for `u` also a string `s` (one
 *   element per character). A floating reference is sunk
 * @error: return location for an error
 *
 * Python's `RawArray(typecode, sequence)`: an array as long as @initializer, holding its
 * elements.
 *
 * Returns: (transfer full): the array, or %NULL with @error set
 */
MpRawArray *
mp_raw_array_new_from_variant (char typecode, GVariant *initializer, GError **error)
{
  g_autoptr(GVariant) init = NULL;
  GVariantClass cls;
  Storage *s;
  gsize n;

  g_return_val_if_fail (initializer != NULL, NULL);

  init = g_variant_ref_sink (initializer);
  if (typecode == 'u' && g_variant_is_of_type (init, G_VARIANT_TYPE_STRING))
    {
      const char *str = g_variant_get_string (init, NULL);
      guint32 *chars;

      s = storage_new (typecode, (gsize) g_utf8_strlen (str, -1), TRUE, error);
      if (s == NULL)
        return NULL;
      chars = (guint32 *) (void *) s->data;
      for (const char *c = str; *c; c = g_utf8_next_char (c))
        *chars++ = g_utf8_get_char (c);
      return (MpRawArray *) s;
    }

  cls = g_variant_classify (init);
  if (cls != G_VARIANT_CLASS_ARRAY && cls != G_VARIANT_CLASS_TUPLE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "a RawArray initializer is an array or a tuple, not a %s",
                   g_variant_get_type_string (init));
      return NULL;
    }
  n = g_variant_n_children (init);
  s = storage_new (typecode, n, TRUE, error);
  if (s == NULL)
    return NULL;
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (init, i);

      if (!store (s, i, child, error))
        {
          storage_unref (s);
          return NULL;
        }
    }
  return (MpRawArray *) s;
}

/**
 * mp_raw_array_ref:
 *
 * Returns: (transfer full): @self
 */
MpRawArray *
mp_raw_array_ref (MpRawArray *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->s.ref_count);
  return self;
}

/**
 * mp_raw_array_unref:
 *
 * Drops a reference; the last one unmaps the array in this process.
 */
void
mp_raw_array_unref (MpRawArray *self)
{
  g_return_if_fail (self != NULL);
  storage_unref (&self->s);
}

/** mp_raw_array_get_typecode: Returns: the typecode */
char
mp_raw_array_get_typecode (MpRawArray *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->s.info->code;
}

/** mp_raw_array_get_length: Returns: the number of elements (Python's `len()`) */
gsize
mp_raw_array_get_length (MpRawArray *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->s.length;
}

/**
 * mp_raw_array_get:
 * @self: an array
 * @index: the position; negative counts from the end
 * @error: return location for an error
 *
 * Python's `arr[index]`.
 *
 * Returns: (transfer full): the element, or %NULL with %MP_ERROR_INVALID_ARGUMENT out of range
 */
GVariant *
mp_raw_array_get (MpRawArray *self, gssize index, GError **error)
{
  gsize pos;

  g_return_val_if_fail (self != NULL, NULL);

  if (!resolve_index (&self->s, index, &pos, error))
    return NULL;
  return g_variant_ref_sink (load (&self->s, pos));
}

/**
 * mp_raw_array_set:
 * @self: an array
 * @index: the position; negative counts from the end
 * @value: the new element; a floating reference is sunk
 * @error: return location for an error
 *
 * Python's `arr[index] = value`.
 *
 * Returns: %TRUE, or %FALSE with %MP_ERROR_INVALID_ARGUMENT (index out of range, wrong type,
 *   out of the C type's range)
 */
gboolean
mp_raw_array_set (MpRawArray *self, gssize index, GVariant *value, GError **error)
{
  gsize pos;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  if (!resolve_index (&self->s, index, &pos, error))
    {
      g_variant_unref (g_variant_ref_sink (value));
      return FALSE;
    }
  return store (&self->s, pos, value, error);
}

/**
 * mp_raw_array_dup_variant:
 *
 * All elements at once (Python's `arr[:]`), an array of the element #GVariant type (`ay`
 * for `c` and `B`, `as` for `u`, `ai` for `i`…).
 *
 * Returns: (transfer full): the elements
 */
GVariant *
mp_raw_array_dup_variant (MpRawArray *self)
{
  g_autofree char *type = NULL;
  GVariantBuilder b;

  g_return_val_if_fail (self != NULL, NULL);

  type = g_strconcat ("a", self->s.info->vtype, NULL);
  g_variant_builder_init (&b, G_VARIANT_TYPE (type));
  for (gsize i = 0; i < self->s.length; i++)
    g_variant_builder_add_value (&b, load (&self->s, i));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/**
 * mp_raw_array_get_pointer:
 *
 * The C array itself (for typecode `d`, a `double *` of mp_raw_array_get_length()
 * elements), shared with every process that has the array.
 *
 * Returns: (transfer none): the memory
 */
gpointer
mp_raw_array_get_pointer (MpRawArray *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->s.data;
}

/** mp_raw_array_get_size: Returns: the size of the C array in bytes */
gsize
mp_raw_array_get_size (MpRawArray *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->s.length * self->s.info->size;
}

/**
 * mp_raw_array_serialize:
 * @self: an array
 * @fd_list: the list the array's descriptor is appended to
 * @error: return location for an error
 *
 * A handle a spawn or forkserver child maps the same memory with: `(ytht)`.
 *
 * Returns: (transfer floating): the handle
 */
GVariant *
mp_raw_array_serialize (MpRawArray *self, GUnixFDList *fd_list, GError **error)
{
  int h;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  if ((h = g_unix_fd_list_append (fd_list, self->s.fd, error)) < 0)
    return NULL;
  return g_variant_new ("(ytht)", (guchar) self->s.info->code, (guint64) self->s.length, h,
                        self->s.entry.id);
}

/**
 * mp_raw_array_deserialize:
 *
 * Returns: (transfer full): the array the handle describes, mapped in this process, or %NULL
 *   with %MP_ERROR_SERIALIZATION for a malformed handle
 */
MpRawArray *
mp_raw_array_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  guchar code;
  guint64 length, id;
  gint32 h;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(ytht)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A RawArray handle must be of type (ytht), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(ytht)", &code, &length, &h, &id);
  return (MpRawArray *) storage_from_handle ((char) code, length, h, id, TRUE, fd_list, error);
}
