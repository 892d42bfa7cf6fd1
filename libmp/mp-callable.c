/* mp-callable.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A function pointer means nothing in another process, but (module build-id, offset from the
 * module's load base) does, for every process that runs the same build: that is what a
 * serialized callable carries. The module is found with dl_iterate_phdr(); the main executable
 * has an empty name there, shared objects their path. On the receiving side the offset is
 * accepted only if it falls inside an executable PT_LOAD segment of a module with the same
 * build-id, so a hostile message cannot make us jump to an arbitrary address, and a child that
 * runs a different build gets a clear error instead of calling the wrong code. A module that the
 * parent had dlopen()ed and the child has not is dlopen()ed by path before giving up.
 */

#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "mp-callable.h"
#include "mp-error.h"

#define MP_BUILD_ID_MAX 64

struct _MpCallable
{
  gatomicrefcount  ref_count;
  MpFunc           func;
  GVariant        *args;   /* a tuple, never NULL */
  GUnixFDList     *fds;    /* nullable */
  gboolean         batched;
};

/* The flags field of a serialized callable. */
#define FLAG_BATCHED (1u << 0)

G_DEFINE_BOXED_TYPE (MpCallable, mp_callable, mp_callable_ref, mp_callable_unref)

/**
 * mp_callable_new:
 * @func: the function
 * @args: (nullable): the bound arguments, a tuple (floating references are sunk)
 *
 * Returns: (transfer full): a new callable
 */
MpCallable *
mp_callable_new (MpFunc func, GVariant *args)
{
  return mp_callable_new_with_fds (func, args, NULL);
}

/**
 * mp_callable_new_with_fds:
 * @func: the function
 * @args: (nullable): the bound arguments, a tuple whose `h` values index @fds
 * @fds: (nullable): file descriptors that travel with the arguments
 *
 * Returns: (transfer full): a new callable
 */
MpCallable *
mp_callable_new_with_fds (MpFunc func, GVariant *args, GUnixFDList *fds)
{
  MpCallable *self;

  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (args == NULL || g_variant_is_of_type (args, G_VARIANT_TYPE_TUPLE), NULL);
  g_return_val_if_fail (fds == NULL || G_IS_UNIX_FD_LIST (fds), NULL);

  self = g_new0 (MpCallable, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->func = func;
  self->args = args ? g_variant_ref_sink (args) : g_variant_ref_sink (g_variant_new ("()"));
  self->fds = fds ? g_object_ref (fds) : NULL;
  return self;
}

/**
 * mp_callable_new_batched:
 * @func: a function over a whole chunk of items
 * @args: (nullable): the bound arguments, a tuple (floating references are sunk)
 *
 * A callable for the pool's map functions (map, imap, imap_unordered, starmap and their
 * asynchronous forms) that takes a chunk at a time instead of one item: @func is called once
 * per chunk with the bound arguments followed by one array, the chunk's items as the caller
 * gave them (a slice of the iterable, of the iterable's type), and returns an array of as many
 * results, in order. A map's results are the same as with a per-item function; what changes
 * is that a chunk costs one call and no #GVariant per item, which is what tiny functions over
 * large fixed-size arrays (`ai`, `ad`…) need. An error fails the whole chunk.
 *
 * apply() and apply_async() call it with an array of one argument tuple and return the one
 * result; mp_callable_invoke() (and a process target) calls @func as it is.
 *
 * Returns: (transfer full): a new callable
 */
MpCallable *
mp_callable_new_batched (MpFunc func, GVariant *args)
{
  MpCallable *self = mp_callable_new_with_fds (func, args, NULL);

  if (self != NULL)
    self->batched = TRUE;
  return self;
}

/**
 * mp_callable_is_batched:
 *
 * Returns: %TRUE if @self was made by mp_callable_new_batched()
 */
gboolean
mp_callable_is_batched (MpCallable *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->batched;
}

MpCallable *
mp_callable_ref (MpCallable *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
mp_callable_unref (MpCallable *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      g_variant_unref (self->args);
      g_clear_object (&self->fds);
      g_free (self);
    }
}

MpFunc
mp_callable_get_func (MpCallable *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->func;
}

/**
 * mp_callable_get_args:
 *
 * Returns: (transfer none): the bound arguments (a tuple, possibly empty)
 */
GVariant *
mp_callable_get_args (MpCallable *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->args;
}

/**
 * mp_callable_get_fds:
 *
 * Returns: (transfer none) (nullable): the file descriptors of the bound arguments
 */
GUnixFDList *
mp_callable_get_fds (MpCallable *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->fds;
}

/**
 * mp_callable_invoke:
 * @self: a callable
 * @extra_args: (nullable): a tuple appended to the bound arguments (`partial(f, a)(b)`)
 * @error: return location for an error
 *
 * Calls the function in this process.
 *
 * Returns: (transfer full) (nullable): what the function returned; %NULL with @error set on
 *   failure, or %NULL without error when it returned no value
 */
GVariant *
mp_callable_invoke (MpCallable *self, GVariant *extra_args, GError **error)
{
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) extra = NULL;
  GError *local_error = NULL;
  GVariant *ret;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (extra_args == NULL ||
                        g_variant_is_of_type (extra_args, G_VARIANT_TYPE_TUPLE), NULL);

  if (extra_args != NULL && g_variant_n_children (g_variant_ref_sink (extra = extra_args)) > 0)
    {
      GVariantBuilder b;
      GVariantIter iter;
      GVariant *child;

      g_variant_builder_init (&b, G_VARIANT_TYPE_TUPLE);
      g_variant_iter_init (&iter, self->args);
      while ((child = g_variant_iter_next_value (&iter)))
        {
          g_variant_builder_add_value (&b, child);
          g_variant_unref (child);
        }
      g_variant_iter_init (&iter, extra);
      while ((child = g_variant_iter_next_value (&iter)))
        {
          g_variant_builder_add_value (&b, child);
          g_variant_unref (child);
        }
      args = g_variant_ref_sink (g_variant_builder_end (&b));
    }
  else
    args = g_variant_ref (self->args);

  ret = self->func (args, self->fds, &local_error);
  /* "new or floating": sink a floating result, adopt a full reference as it is */
  if (ret != NULL)
    g_variant_take_ref (ret);
  if (local_error != NULL)
    {
      g_clear_pointer (&ret, g_variant_unref);
      g_propagate_error (error, local_error);
    }
  return ret;
}

/* ---- finding modules ---------------------------------------------------------------------- */

typedef struct
{
  /* in */
  guintptr      addr;           /* find the module containing addr, or … */
  const guint8 *want_id;        /* … the module with this build-id */
  gsize         want_id_len;
  guint64       want_offset;
  /* out */
  gboolean      found;
  gboolean      offset_ok;      /* want_offset is inside an executable segment */
  char         *name;
  guintptr      base;
  guint8        build_id[MP_BUILD_ID_MAX];
  gsize         build_id_len;
} ModuleSearch;

static gsize
module_build_id (struct dl_phdr_info *info, guint8 *out)
{
  for (int i = 0; i < info->dlpi_phnum; i++)
    {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      const guint8 *p, *end;

      if (ph->p_type != PT_NOTE)
        continue;
      p = (const guint8 *) (info->dlpi_addr + ph->p_vaddr);
      end = p + ph->p_memsz;
      while (p + sizeof (ElfW(Nhdr)) <= end)
        {
          const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *) p;
          const guint8 *name = p + sizeof *nh;
          const guint8 *desc = name + ((nh->n_namesz + 3) & ~3u);
          const guint8 *next = desc + ((nh->n_descsz + 3) & ~3u);

          if (next > end)
            break;
          if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp (name, "GNU", 4) == 0 &&
              nh->n_descsz > 0 && nh->n_descsz <= MP_BUILD_ID_MAX)
            {
              memcpy (out, desc, nh->n_descsz);
              return nh->n_descsz;
            }
          p = next;
        }
    }
  return 0;
}

static int
search_cb (struct dl_phdr_info *info, size_t size, void *data)
{
  ModuleSearch *s = data;
  guint8 id[MP_BUILD_ID_MAX];
  gsize id_len;

  if (s->want_id != NULL)
    {
      id_len = module_build_id (info, id);
      if (id_len != s->want_id_len || memcmp (id, s->want_id, id_len) != 0)
        return 0;
      for (int i = 0; i < info->dlpi_phnum; i++)
        {
          const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
          if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
              s->want_offset >= ph->p_vaddr && s->want_offset < ph->p_vaddr + ph->p_memsz)
            s->offset_ok = TRUE;
        }
      s->found = TRUE;
      s->base = info->dlpi_addr;
      return 1;
    }

  for (int i = 0; i < info->dlpi_phnum; i++)
    {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      guintptr start = info->dlpi_addr + ph->p_vaddr;

      if (ph->p_type == PT_LOAD && s->addr >= start && s->addr < start + ph->p_memsz)
        {
          s->found = TRUE;
          s->base = info->dlpi_addr;
          s->name = g_strdup (info->dlpi_name ? info->dlpi_name : "");
          s->build_id_len = module_build_id (info, s->build_id);
          return 1;
        }
    }
  return 0;
}

static char *
hex (const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new (len * 2);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

/**
 * mp_callable_serialize:
 * @self: a callable
 * @fd_list: the list the callable's file descriptors are appended to (duplicated)
 * @error: return location for an error
 *
 * Turns @self into a #GVariant of type `(saytvuuu)`: module path, module build-id, offset,
 * bound arguments, the index and number of its descriptors in @fd_list, and flags (batched).
 *
 * Returns: (transfer floating): the serialized callable, or %NULL on error
 */
GVariant *
mp_callable_serialize (MpCallable *self, GUnixFDList *fd_list, GError **error)
{
  ModuleSearch s = { 0 };
  guint base_index, count = 0;
  GVariant *ret;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  s.addr = (guintptr) self->func;
  dl_iterate_phdr (search_cb, &s);
  if (!s.found)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Function %p is not inside any loaded module and cannot be sent to another "
                   "process", (gpointer) self->func);
      return NULL;
    }
  if (s.build_id_len == 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Module “%s” has no build-id, so its functions cannot be identified in "
                   "another process; link it with -Wl,--build-id",
                   s.name[0] ? s.name : "(main program)");
      g_free (s.name);
      return NULL;
    }

  base_index = (guint) g_unix_fd_list_get_length (fd_list);
  if (self->fds != NULL)
    {
      for (int i = 0; i < g_unix_fd_list_get_length (self->fds); i++)
        {
          int fd = g_unix_fd_list_get (self->fds, i, error);
          if (fd < 0 || g_unix_fd_list_append (fd_list, fd, error) < 0)
            {
              if (fd >= 0)
                close (fd);
              g_free (s.name);
              return NULL;
            }
          close (fd);
          count++;
        }
    }

  ret = g_variant_new ("(s@ayt@vuuu)", s.name,
                       g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, s.build_id,
                                                  s.build_id_len, 1),
                       (guint64) (s.addr - s.base),
                       g_variant_new_variant (self->args),
                       base_index, count, self->batched ? FLAG_BATCHED : 0u);
  g_free (s.name);
  return ret;
}

/**
 * mp_callable_deserialize:
 * @serialized: what mp_callable_serialize() returned, possibly from another process
 * @fd_list: (nullable): the descriptors that came with it
 * @error: return location for an error
 *
 * Finds the function in this process. Fails with %MP_ERROR_SERIALIZATION when the message is
 * malformed or when no loaded module has the same build-id (a different build of the
 * program or library).
 *
 * Returns: (transfer full): the callable, or %NULL on error
 */
MpCallable *
mp_callable_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) id = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  const char *module;
  ModuleSearch s = { 0 };
  guint64 offset;
  guint32 base_index, count, flags;
  gsize id_len;
  MpCallable *ret;
  void *handle = NULL;

  g_return_val_if_fail (serialized != NULL, NULL);

  if (!g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(saytvuuu)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A serialized callable must be of type (saytvuuu), not %s",
                   g_variant_get_type_string (serialized));
      return NULL;
    }
  g_variant_get (serialized, "(&s@ayt@vuuu)", &module, &id, &offset, &args, &base_index, &count,
                 &flags);
  if (flags & ~FLAG_BATCHED)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A serialized callable has unknown flags 0x%x", flags);
      return NULL;
    }
  {
    g_autoptr(GVariant) inner = g_variant_get_variant (args);
    g_variant_unref (args);
    args = g_steal_pointer (&inner);
  }
  if (!g_variant_is_of_type (args, G_VARIANT_TYPE_TUPLE))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The arguments of a callable must be a tuple, not %s",
                   g_variant_get_type_string (args));
      return NULL;
    }

  s.want_id = g_variant_get_fixed_array (id, &id_len, 1);
  s.want_id_len = id_len;
  s.want_offset = offset;
  if (id_len == 0 || id_len > MP_BUILD_ID_MAX)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A callable carries no valid build-id");
      return NULL;
    }

  dl_iterate_phdr (search_cb, &s);
  if (!s.found && module[0] == '/')
    {
      /* The parent had loaded a plugin this process has not: load it, then look again. */
      handle = dlopen (module, RTLD_NOW | RTLD_LOCAL);
      if (handle != NULL)
        dl_iterate_phdr (search_cb, &s);
    }
  if (handle != NULL && (!s.found || !s.offset_ok))
    {
      /* Not the module the callable needs: do not keep it loaded. */
      dlclose (handle);
      handle = NULL;
    }
  if (!s.found)
    {
      g_autofree char *id_hex = hex (s.want_id, id_len);
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "The function comes from “%s” with build-id %s, which this process does not "
                   "have: it runs a different build of the program (rebuild, or restart the "
                   "parent so both run the same binary)",
                   module[0] ? module : "the main program", id_hex);
      return NULL;
    }
  if (!s.offset_ok)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "Offset 0x%" G_GINT64_MODIFIER "x is not code of “%s”: refusing to call it",
                   offset, module[0] ? module : "the main program");
      return NULL;
    }

  if (count > 0)
    {
      guint have = fd_list ? (guint) g_unix_fd_list_get_length (fd_list) : 0;

      if (base_index > have || count > have - base_index)
        {
          g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                       "A callable refers to %u file descriptors from index %u, but only %u came "
                       "with it", count, base_index, have);
          return NULL;
        }
      fds = g_unix_fd_list_new ();
      for (guint i = 0; i < count; i++)
        {
          int fd = g_unix_fd_list_get (fd_list, (int) (base_index + i), error);
          if (fd < 0 || g_unix_fd_list_append (fds, fd, error) < 0)
            {
              if (fd >= 0)
                close (fd);
              return NULL;
            }
          close (fd);
        }
    }

  ret = mp_callable_new_with_fds ((MpFunc) (s.base + offset), args, fds);
  ret->batched = (flags & FLAG_BATCHED) != 0;
  return ret;
}
