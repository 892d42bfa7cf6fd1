/* mp-value.c: Value and Array (Python's synchronized sharedctypes)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The storage is an MpRawValue/MpRawArray (its own memfd); the lock is an RLock in the arena.
 * Both travel in the handle, so a child that receives a Value shares the storage and the lock.
 * The lock is taken around each get/set, as Python's generated properties do; an owner that
 * died is not a reason to fail a read (the storage is a plain value either way).
 */

#include "config.h"

#include <string.h>

#include "mp-error.h"
#include "mp-value.h"

struct _MpValue
{
  gatomicrefcount  ref_count;
  MpRawValue      *obj;
  MpRLock         *lock;
};

struct _MpArray
{
  gatomicrefcount  ref_count;
  MpRawArray      *obj;
  MpRLock         *lock;
};

static void
lock_ignoring_owner_death (MpRLock *lock)
{
  g_autoptr(GError) error = NULL;

  if (!mp_rlock_acquire (lock, MP_TIMEOUT_INFINITE, &error))
    g_assert (g_error_matches (error, MP_ERROR, MP_ERROR_OWNER_DIED));
}

/* ---- Value ------------------------------------------------------------------------------ */

/**
 * mp_value_new:
 * @typecode: one of Python's typecodes: `c u b B h H i I l L q Q f d`
 * @init: (nullable): the initial value (zero when %NULL)
 * @error: return location for an error
 *
 * Returns: (transfer full): a new shared value with a new RLock
 */
MpValue *
mp_value_new (char typecode, GVariant *init, GError **error)
{
  g_autoptr(MpRawValue) obj = mp_raw_value_new (typecode, init, error);

  if (obj == NULL)
    return NULL;
  return mp_value_new_synchronized (obj, NULL, error);
}

/**
 * mp_value_new_synchronized:
 * @obj: the storage to wrap
 * @lock: (nullable): the lock to use, or %NULL for a new RLock
 * @error: return location for an error
 *
 * Python's `sharedctypes.synchronized()`.
 *
 * Returns: (transfer full): a value sharing @obj's storage
 */
MpValue *
mp_value_new_synchronized (MpRawValue *obj, MpRLock *lock, GError **error)
{
  MpValue *self;
  MpRLock *l;

  g_return_val_if_fail (obj != NULL, NULL);
  l = lock ? mp_rlock_ref (lock) : mp_rlock_new_labeled ("Value.lock", error);
  if (l == NULL)
    return NULL;
  self = g_new0 (MpValue, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->obj = mp_raw_value_ref (obj);
  self->lock = l;
  return self;
}

MpValue *
mp_value_ref (MpValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
mp_value_unref (MpValue *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      mp_raw_value_unref (self->obj);
      mp_rlock_unref (self->lock);
      g_free (self);
    }
}

/**
 * mp_value_get:
 *
 * Returns: (transfer full): the value, read under the lock
 */
GVariant *
mp_value_get (MpValue *self)
{
  GVariant *v;

  g_return_val_if_fail (self != NULL, NULL);
  lock_ignoring_owner_death (self->lock);
  v = mp_raw_value_get_value (self->obj);
  mp_rlock_release (self->lock, NULL);
  return v;
}

/**
 * mp_value_set:
 *
 * Writes the value under the lock. Fails with %MP_ERROR_INVALID_ARGUMENT if it does not fit
 * the typecode.
 */
gboolean
mp_value_set (MpValue *self, GVariant *value, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (self != NULL, FALSE);
  lock_ignoring_owner_death (self->lock);
  ok = mp_raw_value_set_value (self->obj, value, error);
  mp_rlock_release (self->lock, NULL);
  return ok;
}

gboolean
mp_value_acquire (MpValue *self, gint64 timeout_us, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return mp_rlock_acquire (self->lock, timeout_us, error);
}

gboolean
mp_value_release (MpValue *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return mp_rlock_release (self->lock, error);
}

/**
 * mp_value_get_lock:
 *
 * Returns: (transfer none): the lock
 */
MpRLock *
mp_value_get_lock (MpValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->lock;
}

/**
 * mp_value_get_obj:
 *
 * Returns: (transfer none): the raw storage, for access without the lock
 */
MpRawValue *
mp_value_get_obj (MpValue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->obj;
}

/**
 * mp_value_serialize:
 *
 * Returns: (transfer floating): a handle carrying the storage and the lock
 */
GVariant *
mp_value_serialize (MpValue *self, GUnixFDList *fd_list, GError **error)
{
  GVariant *obj, *lock;

  g_return_val_if_fail (self != NULL, NULL);
  obj = mp_raw_value_serialize (self->obj, fd_list, error);
  if (obj == NULL)
    return NULL;
  lock = mp_rlock_serialize (self->lock, fd_list, error);
  return g_variant_new ("(vv)", obj, lock);
}

MpValue *
mp_value_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) obj_h = NULL, lock_h = NULL;
  g_autoptr(MpRawValue) obj = NULL;
  g_autoptr(MpRLock) lock = NULL;

  if (serialized == NULL || !g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(vv)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A Value handle must be of type (vv)");
      return NULL;
    }
  g_variant_get (serialized, "(vv)", &obj_h, &lock_h);
  if ((obj = mp_raw_value_deserialize (obj_h, fd_list, error)) == NULL ||
      (lock = mp_rlock_deserialize (lock_h, fd_list, error)) == NULL)
    return NULL;
  return mp_value_new_synchronized (obj, lock, error);
}

/* ---- Array ------------------------------------------------------------------------------ */

/**
 * mp_array_new:
 * @typecode: one of Python's typecodes
 * @size: the number of elements, zero-filled
 * @error: return location for an error
 *
 * Returns: (transfer full): a new shared array with a new RLock
 */
MpArray *
mp_array_new (char typecode, gsize size, GError **error)
{
  g_autoptr(MpRawArray) obj = mp_raw_array_new (typecode, size, error);

  if (obj == NULL)
    return NULL;
  return mp_array_new_synchronized (obj, NULL, error);
}

/**
 * mp_array_new_from_variant:
 * @typecode: one of Python's typecodes
 * @initializer: an array whose elements are copied in
 * @error: return location for an error
 *
 * Returns: (transfer full): a new shared array with a new RLock
 */
MpArray *
mp_array_new_from_variant (char typecode, GVariant *initializer, GError **error)
{
  g_autoptr(MpRawArray) obj = mp_raw_array_new_from_variant (typecode, initializer, error);

  if (obj == NULL)
    return NULL;
  return mp_array_new_synchronized (obj, NULL, error);
}

MpArray *
mp_array_new_synchronized (MpRawArray *obj, MpRLock *lock, GError **error)
{
  MpArray *self;
  MpRLock *l;

  g_return_val_if_fail (obj != NULL, NULL);
  l = lock ? mp_rlock_ref (lock) : mp_rlock_new_labeled ("Array.lock", error);
  if (l == NULL)
    return NULL;
  self = g_new0 (MpArray, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->obj = mp_raw_array_ref (obj);
  self->lock = l;
  return self;
}

MpArray *
mp_array_ref (MpArray *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
mp_array_unref (MpArray *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      mp_raw_array_unref (self->obj);
      mp_rlock_unref (self->lock);
      g_free (self);
    }
}

gsize
mp_array_get_length (MpArray *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return mp_raw_array_get_length (self->obj);
}

/**
 * mp_array_get:
 * @index: the element; negative counts from the end
 *
 * Returns: (transfer full): the element, read under the lock, or %NULL with an error
 */
GVariant *
mp_array_get (MpArray *self, gssize index, GError **error)
{
  GVariant *v;

  g_return_val_if_fail (self != NULL, NULL);
  lock_ignoring_owner_death (self->lock);
  v = mp_raw_array_get (self->obj, index, error);
  mp_rlock_release (self->lock, NULL);
  return v;
}

gboolean
mp_array_set (MpArray *self, gssize index, GVariant *value, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (self != NULL, FALSE);
  lock_ignoring_owner_death (self->lock);
  ok = mp_raw_array_set (self->obj, index, value, error);
  mp_rlock_release (self->lock, NULL);
  return ok;
}

/**
 * mp_array_dup_variant:
 *
 * Returns: (transfer full): all elements, read under the lock (Python's `arr[:]`)
 */
GVariant *
mp_array_dup_variant (MpArray *self)
{
  GVariant *v;

  g_return_val_if_fail (self != NULL, NULL);
  lock_ignoring_owner_death (self->lock);
  v = mp_raw_array_dup_variant (self->obj);
  mp_rlock_release (self->lock, NULL);
  return v;
}

gboolean
mp_array_acquire (MpArray *self, gint64 timeout_us, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return mp_rlock_acquire (self->lock, timeout_us, error);
}

gboolean
mp_array_release (MpArray *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return mp_rlock_release (self->lock, error);
}

MpRLock *
mp_array_get_lock (MpArray *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->lock;
}

MpRawArray *
mp_array_get_obj (MpArray *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->obj;
}

GVariant *
mp_array_serialize (MpArray *self, GUnixFDList *fd_list, GError **error)
{
  GVariant *obj, *lock;

  g_return_val_if_fail (self != NULL, NULL);
  obj = mp_raw_array_serialize (self->obj, fd_list, error);
  if (obj == NULL)
    return NULL;
  lock = mp_rlock_serialize (self->lock, fd_list, error);
  return g_variant_new ("(vv)", obj, lock);
}

MpArray *
mp_array_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) obj_h = NULL, lock_h = NULL;
  g_autoptr(MpRawArray) obj = NULL;
  g_autoptr(MpRLock) lock = NULL;

  if (serialized == NULL || !g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(vv)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "An Array handle must be of type (vv)");
      return NULL;
    }
  g_variant_get (serialized, "(vv)", &obj_h, &lock_h);
  if ((obj = mp_raw_array_deserialize (obj_h, fd_list, error)) == NULL ||
      (lock = mp_rlock_deserialize (lock_h, fd_list, error)) == NULL)
    return NULL;
  return mp_array_new_synchronized (obj, lock, error);
}

/* ---- copy ------------------------------------------------------------------------------- */

/**
 * mp_sharedctypes_copy_value:
 *
 * Python's `sharedctypes.copy()` for a value.
 *
 * Returns: (transfer full): new shared storage holding the same value
 */
MpRawValue *
mp_sharedctypes_copy_value (MpRawValue *obj, GError **error)
{
  g_autoptr(GVariant) v = NULL;

  g_return_val_if_fail (obj != NULL, NULL);
  v = mp_raw_value_get_value (obj);
  return mp_raw_value_new (mp_raw_value_get_typecode (obj), v, error);
}

/**
 * mp_sharedctypes_copy_array:
 *
 * Returns: (transfer full): new shared storage holding the same elements
 */
MpRawArray *
mp_sharedctypes_copy_array (MpRawArray *obj, GError **error)
{
  MpRawArray *copy;

  g_return_val_if_fail (obj != NULL, NULL);
  copy = mp_raw_array_new (mp_raw_array_get_typecode (obj), mp_raw_array_get_length (obj), error);
  if (copy != NULL)
    memcpy (mp_raw_array_get_pointer (copy), mp_raw_array_get_pointer (obj),
            mp_raw_array_get_size (obj));
  return copy;
}
