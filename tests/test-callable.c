/* test-callable.c: MpCallable, its serialized form, and the wire layer that carries it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Children never assert: they report through their exit code or a pipe, and the parent
 * checks what they reported.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mp.h>

#include "mp-wire-private.h"

#define WIRE_MAGIC       0x3157504du
#define WIRE_HEADER_SIZE 16
#define TIMEOUT_US       (60 * G_USEC_PER_SEC)
#define FUZZ_ROUNDS      2000
#define FUZZ_SEED        0x6d706675u

/* ---- helpers -------------------------------------------------------------------------------- */

static void
check_error (const GError *error, GQuark domain, int code)
{
  if (error == NULL)
    fail_msg ("expected error %s/%d, got none", g_quark_to_string (domain), code);
  if (!g_error_matches (error, domain, code))
    fail_msg ("expected error %s/%d, got %s/%d: %s", g_quark_to_string (domain), code,
              g_quark_to_string (error->domain), error->code, error->message);
}

static void
check_contains (const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    fail_msg ("“%s” does not contain “%s”", haystack ? haystack : "(null)", needle);
}

static void
make_pipe (int p[2])
{
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
}

static void
make_socketpair (int sv[2])
{
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* A list holding a duplicate of fd; the caller's fd is closed. */
static GUnixFDList *
fd_list_take (int fd)
{
  g_autoptr(GError) error = NULL;
  GUnixFDList *list = g_unix_fd_list_new ();

  assert_int_equal (g_unix_fd_list_append (list, fd, &error), 0);
  close (fd);
  return list;
}

static int
count_open_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  int n = 0;

  assert_non_null (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* Reads until every write end is closed, or until a generous deadline. */
static GByteArray *
read_to_eof (int fd, gboolean *eof)
{
  GByteArray *out = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_US;

  *eof = FALSE;
  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      gint64 left = deadline - g_get_monotonic_time ();
      guint8 buf[4096];
      ssize_t n;
      int r;

      if (left <= 0)
        break;
      r = poll (&pfd, 1, (int) (left / 1000) + 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *eof = n == 0;
          break;
        }
      g_byte_array_append (out, buf, (guint) n);
    }
  return out;
}

static void
put_le32 (guint8 *p, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  memcpy (p, &le, sizeof le);
}

/* A frame as the wire format is documented: 4 little-endian words (magic, payload size,
 * number of descriptors, 0) and the payload, @message boxed in a "v" in normal form. */
static guint8 *
build_frame (GVariant *message, guint32 n_fds, gsize *len)
{
  g_autoptr(GVariant) boxed = g_variant_ref_sink (g_variant_new_variant (message));
  g_autoptr(GVariant) normal = g_variant_get_normal_form (boxed);
  gsize size = g_variant_get_size (normal);
  guint8 *frame = g_malloc0 (WIRE_HEADER_SIZE + size);

  put_le32 (frame, WIRE_MAGIC);
  put_le32 (frame + 4, (guint32) size);
  put_le32 (frame + 8, n_fds);
  put_le32 (frame + 12, 0);
  g_variant_store (normal, frame + WIRE_HEADER_SIZE);
  *len = WIRE_HEADER_SIZE + size;
  return frame;
}

static void
make_header (guint8 header[WIRE_HEADER_SIZE], guint32 magic, guint32 size, guint32 n_fds)
{
  put_le32 (header, magic);
  put_le32 (header + 4, size);
  put_le32 (header + 8, n_fds);
  put_le32 (header + 12, 0);
}

/* Sends bytes with descriptors (SCM_RIGHTS) on their first byte. */
static void
send_raw (int sock, const guint8 *data, gsize len, const int *fds, guint n_fds)
{
  union { struct cmsghdr align; char buf[CMSG_SPACE (sizeof (int) * 4)]; } u;
  struct iovec iov = { (void *) data, len };
  struct msghdr msg = { 0 };
  ssize_t n;

  assert_true (n_fds <= 4);
  assert_true (len > 0);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (n_fds > 0)
    {
      struct cmsghdr *c;

      memset (&u, 0, sizeof u);
      msg.msg_control = u.buf;
      msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
      c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * n_fds);
    }
  n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  assert_int_equal (n, (ssize_t) len);
}

static void
write_raw (int fd, const void *data, gsize len)
{
  assert_int_equal (write (fd, data, len), (ssize_t) len);
}



/* The executable segments of the main program, found independently of libmp. */
typedef struct
{
  guintptr base;
  guint64  lo[8];
  guint64  hi[8];
  int      n;
} ExecRanges;

static int
main_exec_cb (struct dl_phdr_info *info, size_t size, void *data)
{
  ExecRanges *r = data;

  /* dl_iterate_phdr() visits the main program first. */
  r->base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum && r->n < 8; i++)
    {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
        {
          r->lo[r->n] = ph->p_vaddr;
          r->hi[r->n] = ph->p_vaddr + ph->p_memsz;
          r->n++;
        }
    }
  return 1;
}

static ExecRanges
main_exec_ranges (void)
{
  ExecRanges r = { 0 };

  dl_iterate_phdr (main_exec_cb, &r);
  assert_true (r.n > 0);
  return r;
}

static gboolean
offset_is_main_code (const ExecRanges *r, guint64 offset)
{
  for (int i = 0; i < r->n; i++)
    if (offset >= r->lo[i] && offset < r->hi[i])
      return TRUE;
  return FALSE;
}

/* The fields of a serialized callable, "(saytvuuu)". */
typedef struct
{
  char     *module;
  GBytes   *build_id;
  guint64   offset;
  GVariant *args;       /* the value inside the "v" */
  guint32   base;
  guint32   count;
  guint32   flags;
} Parts;

static void
parts_from (GVariant *serialized, Parts *p)
{
  g_autoptr(GVariant) id = NULL;
  g_autoptr(GVariant) boxed = NULL;

  assert_true (g_variant_is_of_type (serialized, G_VARIANT_TYPE ("(saytvuuu)")));
  g_variant_get (serialized, "(s@ayt@vuuu)", &p->module, &id, &p->offset, &boxed, &p->base,
                 &p->count, &p->flags);
  p->build_id = g_variant_get_data_as_bytes (id);
  p->args = g_variant_get_variant (boxed);
}

static GVariant *
parts_to (const Parts *p)
{
  return g_variant_ref_sink (
    g_variant_new ("(s@ayt@vuuu)", p->module,
                   g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, p->build_id, TRUE),
                   p->offset, g_variant_new_variant (p->args), p->base, p->count, p->flags));
}

static void
parts_clear (Parts *p)
{
  g_clear_pointer (&p->module, g_free);
  g_clear_pointer (&p->build_id, g_bytes_unref);
  g_clear_pointer (&p->args, g_variant_unref);
}

/* ---- the functions callables refer to -------------------------------------------------------- */

/* Returns (a new reference to) the arguments it was called with. */
static GVariant *
echo_args (GVariant *args, GUnixFDList *fds, GError **error)
{
  return g_variant_ref (args);
}

static GVariant *
fail_func (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "denied %d", 7);
  return NULL;
}

static GVariant *
none_func (GVariant *args, GUnixFDList *fds, GError **error)
{
  return NULL;
}

/* A value whose storage reports when the last reference to it is gone. */
static gboolean tracked_freed;
static const gint32 tracked_storage = 1234;

static void
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
}

static GVariant *
tracked_new (void)
{
  g_autoptr(GBytes) bytes = g_bytes_new_with_free_func (&tracked_storage, sizeof tracked_storage,
                                                        set_flag, &tracked_freed);
  tracked_freed = FALSE;
  return g_variant_new_from_bytes (G_VARIANT_TYPE_INT32, bytes, TRUE);
}

/* (b floating): returns the tracked value, floating or as a full reference. */
static GVariant *
return_tracked (GVariant *args, GUnixFDList *fds, GError **error)
{
  gboolean floating;

  g_variant_get (args, "(b)", &floating);
  return floating ? tracked_new () : g_variant_ref_sink (tracked_new ());
}

/* Returns a value and sets an error: the value must be dropped, not leaked. */
static GVariant *
return_tracked_and_fail (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_set_error_literal (error, MP_ERROR, MP_ERROR_FAILED, "failed anyway");
  return g_variant_ref_sink (tracked_new ());
}

/* (ih value, handle): writes value to the descriptor the handle names. */
static GVariant *
write_to_fd (GVariant *args, GUnixFDList *fds, GError **error)
{
  const int *fdv = NULL;
  gint32 value, handle;
  int n = 0;

  g_variant_get (args, "(ih)", &value, &handle);
  if (fds != NULL)
    fdv = g_unix_fd_list_peek_fds (fds, &n);
  if (fdv == NULL || handle < 0 || handle >= n)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "no descriptor %d", handle);
      return NULL;
    }
  if (write (fdv[handle], &value, sizeof value) != sizeof value)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "write: %s", g_strerror (errno));
      return NULL;
    }
  return g_variant_new_int32 (value);
}

#define CHILD_EXIT_OK       42
#define CHILD_EXIT_BAD_ARGS 3
#define CHILD_EXIT_WRITE    4

/* The target of a spawned child: (iih a, b, handle) writes a*b to the descriptor. */
static GVariant *
child_multiply (GVariant *args, GUnixFDList *fds, GError **error)
{
  const int *fdv = NULL;
  gint32 a, b, handle, product;
  int n = 0;

  if (!g_variant_is_of_type (args, G_VARIANT_TYPE ("(iih)")))
    return g_variant_new_int32 (CHILD_EXIT_BAD_ARGS);
  g_variant_get (args, "(iih)", &a, &b, &handle);
  if (fds != NULL)
    fdv = g_unix_fd_list_peek_fds (fds, &n);
  if (fdv == NULL || handle < 0 || handle >= n)
    return g_variant_new_int32 (CHILD_EXIT_BAD_ARGS);
  product = a * b;
  if (write (fdv[handle], &product, sizeof product) != sizeof product)
    return g_variant_new_int32 (CHILD_EXIT_WRITE);
  return g_variant_new_int32 (CHILD_EXIT_OK);
}

/* Not code: a callable pointing here serializes, but must never deserialize. */
static const guint8 not_code[64] = { 0xcc };

/* ---- invoke ---------------------------------------------------------------------------------- */

static void
test_invoke_partial_semantics (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpCallable) bound = mp_callable_new (echo_args, g_variant_new ("(is)", 1, "a"));
  g_autoptr(MpCallable) unbound = mp_callable_new (echo_args, NULL);
  g_autoptr(GVariant) r1 = NULL;
  g_autoptr(GVariant) r2 = NULL;
  g_autoptr(GVariant) r3 = NULL;
  g_autoptr(GVariant) r4 = NULL;
  g_autoptr(GVariant) r5 = NULL;
  g_autoptr(GVariant) expected = g_variant_ref_sink (g_variant_new ("(isdb)", 1, "a", 2.5, TRUE));

  assert_ptr_equal (mp_callable_get_func (bound), echo_args);
  assert_null (mp_callable_get_fds (bound));

  /* partial(f, 1, "a")(2.5, True) == f(1, "a", 2.5, True) */
  r1 = mp_callable_invoke (bound, g_variant_new ("(db)", 2.5, TRUE), &error);
  assert_null (error);
  assert_non_null (r1);
  assert_true (g_variant_equal (r1, expected));

  /* no extra arguments, or an empty tuple: the bound ones alone */
  r2 = mp_callable_invoke (bound, NULL, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (r2), "(is)");
  r3 = mp_callable_invoke (bound, g_variant_new ("()"), &error);
  assert_null (error);
  assert_true (g_variant_equal (r2, r3));

  /* the bound arguments are not changed by a call */
  assert_string_equal (g_variant_get_type_string (mp_callable_get_args (bound)), "(is)");

  /* NULL bound arguments are the empty tuple */
  assert_string_equal (g_variant_get_type_string (mp_callable_get_args (unbound)), "()");
  r4 = mp_callable_invoke (unbound, NULL, &error);
  assert_null (error);
  assert_string_equal (g_variant_get_type_string (r4), "()");
  r5 = mp_callable_invoke (unbound, g_variant_new ("(u)", 9u), &error);
  assert_null (error);
  {
    g_autofree char *text = g_variant_print (r5, FALSE);
    assert_string_equal (text, "(9,)");
  }
}

static void
test_invoke_error_and_none (void **state)
{
  g_autoptr(MpCallable) failing = mp_callable_new (fail_func, NULL);
  g_autoptr(MpCallable) none = mp_callable_new (none_func, g_variant_new ("(i)", 3));
  g_autoptr(GError) error = NULL;
  GVariant *r;

  r = mp_callable_invoke (failing, NULL, &error);
  assert_null (r);
  check_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  assert_string_equal (error->message, "denied 7");
  g_clear_error (&error);

  /* a NULL error location is allowed: the error is dropped */
  assert_null (mp_callable_invoke (failing, NULL, NULL));

  /* NULL without error: "no value" */
  r = mp_callable_invoke (none, g_variant_new ("(s)", "x"), &error);
  assert_null (r);
  assert_null (error);
}

static void
test_invoke_result_ownership (void **state)
{
  g_autoptr(MpCallable) floating = mp_callable_new (return_tracked, g_variant_new ("(b)", TRUE));
  g_autoptr(MpCallable) full = mp_callable_new (return_tracked, g_variant_new ("(b)", FALSE));
  g_autoptr(MpCallable) both = mp_callable_new (return_tracked_and_fail, NULL);
  g_autoptr(GError) error = NULL;
  GVariant *r;

  /* A floating result: the caller gets the one reference. */
  r = mp_callable_invoke (floating, NULL, &error);
  assert_null (error);
  assert_non_null (r);
  assert_false (g_variant_is_floating (r));
  assert_int_equal (g_variant_get_int32 (r), tracked_storage);
  g_variant_unref (r);
  assert_true (tracked_freed);

  /* A new (non-floating) reference, as #MpFunc allows: handed over, not leaked. */
  r = mp_callable_invoke (full, NULL, &error);
  assert_null (error);
  assert_non_null (r);
  assert_false (g_variant_is_floating (r));
  g_variant_unref (r);
  assert_true (tracked_freed);

  /* A value together with an error: the error wins and the value is freed. */
  r = mp_callable_invoke (both, NULL, &error);
  assert_null (r);
  check_error (error, MP_ERROR, MP_ERROR_FAILED);
  assert_true (tracked_freed);
}

static void
test_ref_counting (void **state)
{
  MpCallable *c = mp_callable_new (echo_args, NULL);
  MpCallable *copy;

  assert_ptr_equal (mp_callable_ref (c), c);
  mp_callable_unref (c);
  copy = g_boxed_copy (MP_TYPE_CALLABLE, c);
  assert_ptr_equal (copy, c);
  g_boxed_free (MP_TYPE_CALLABLE, copy);
  assert_ptr_equal (mp_callable_get_func (c), echo_args);
  mp_callable_unref (c);
}

/* ---- serialize / deserialize in this process ------------------------------------------------- */

static void
test_round_trip_same_process (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  g_autoptr(MpCallable) c = mp_callable_new (echo_args, g_variant_new ("(sav)", "x", NULL));
  g_autoptr(MpCallable) back = NULL;
  g_autoptr(GVariant) serialized = NULL;
  Parts p = { 0 };

  serialized = mp_callable_serialize (c, list, &error);
  assert_null (error);
  assert_non_null (serialized);
  g_variant_ref_sink (serialized);
  assert_string_equal (g_variant_get_type_string (serialized), "(saytvuuu)");

  /* a static function of the main program: empty module name, a build-id, no descriptors */
  parts_from (serialized, &p);
  assert_string_equal (p.module, "");
  assert_true (g_bytes_get_size (p.build_id) > 0);
  assert_int_equal (p.count, 0);
  assert_int_equal (g_unix_fd_list_get_length (list), 0);
  parts_clear (&p);

  back = mp_callable_deserialize (serialized, NULL, &error);
  assert_null (error);
  assert_non_null (back);
  assert_ptr_equal (mp_callable_get_func (back), echo_args);
  assert_true (g_variant_equal (mp_callable_get_args (back), mp_callable_get_args (c)));
  assert_null (mp_callable_get_fds (back));
}

static void
test_round_trip_shared_library_function (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  /* Only serialized and looked up, never called. */
  MpFunc in_glib = (MpFunc) (void (*) (void)) g_strdup;
  g_autoptr(MpCallable) c = mp_callable_new (in_glib, NULL);
  g_autoptr(MpCallable) back = NULL;
  g_autoptr(GVariant) serialized = NULL;
  Parts p = { 0 };

  serialized = mp_callable_serialize (c, list, &error);
  assert_null (error);
  g_variant_ref_sink (serialized);
  parts_from (serialized, &p);
  assert_true (p.module[0] == '/');
  check_contains (p.module, "libglib-2.0");
  parts_clear (&p);

  back = mp_callable_deserialize (serialized, NULL, &error);
  assert_null (error);
  assert_ptr_equal (mp_callable_get_func (back), in_glib);
}

static void
test_serialize_function_outside_modules (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  guint8 on_stack[16] = { 0 };
  /* Never called: a stack address is in no module. */
  g_autoptr(MpCallable) c = mp_callable_new ((MpFunc) (guintptr) on_stack, NULL);

  assert_null (mp_callable_serialize (c, list, &error));
  check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
}

static void
test_round_trip_with_fds (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  g_autoptr(GVariant) serialized = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GByteArray) got = NULL;
  MpCallable *c, *back;
  GUnixFDList *fds;
  int p[2], devnull;
  gboolean eof;
  gint32 value;
  Parts parts = { 0 };

  make_pipe (p);
  fds = fd_list_take (p[1]);
  c = mp_callable_new_with_fds (write_to_fd, g_variant_new ("(ih)", 0x1234, 0), fds);
  g_object_unref (fds);
  assert_int_equal (g_unix_fd_list_get_length (mp_callable_get_fds (c)), 1);

  /* The list already holds an unrelated descriptor: the callable's come after it. */
  devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true (devnull >= 0);
  assert_int_equal (g_unix_fd_list_append (list, devnull, &error), 0);
  close (devnull);

  serialized = g_variant_ref_sink (mp_callable_serialize (c, list, &error));
  assert_null (error);
  parts_from (serialized, &parts);
  assert_int_equal (parts.base, 1);
  assert_int_equal (parts.count, 1);
  parts_clear (&parts);
  assert_int_equal (g_unix_fd_list_get_length (list), 2);

  back = mp_callable_deserialize (serialized, list, &error);
  assert_null (error);
  assert_non_null (back);
  assert_ptr_equal (mp_callable_get_func (back), write_to_fd);
  assert_int_equal (g_unix_fd_list_get_length (mp_callable_get_fds (back)), 1);

  /* Only the deserialized callable holds the write end now. */
  mp_callable_unref (c);
  g_clear_object (&list);
  result = mp_callable_invoke (back, NULL, &error);
  assert_null (error);
  assert_int_equal (g_variant_get_int32 (result), 0x1234);
  mp_callable_unref (back);

  got = read_to_eof (p[0], &eof);
  close (p[0]);
  assert_true (eof);
  assert_int_equal (got->len, sizeof value);
  memcpy (&value, got->data, sizeof value);
  assert_int_equal (value, 0x1234);
}

/* ---- in a spawned child ---------------------------------------------------------------------- */

static void
test_round_trip_in_spawned_child (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) proc = NULL;
  g_autoptr(GByteArray) got = NULL;
  MpContext *ctx = mp_get_context ("spawn", &error);
  MpCallable *target;
  GUnixFDList *fds;
  gboolean eof;
  gint32 product;
  int p[2], code = -1;

  assert_null (error);
  assert_non_null (ctx);
  make_pipe (p);
  fds = fd_list_take (p[1]);
  target = mp_callable_new_with_fds (child_multiply, g_variant_new ("(iih)", 6, 9, 0), fds);
  g_object_unref (fds);
  proc = mp_context_process_new (ctx, target);
  mp_callable_unref (target);
  assert_string_equal (mp_process_get_start_method (proc), "spawn");

  assert_true (mp_process_start (proc, &error));
  assert_null (error);
  /* The process dropped the target at start: the child holds the only write end. */
  got = read_to_eof (p[0], &eof);
  close (p[0]);

  assert_true (mp_process_join (proc, TIMEOUT_US, &error));
  assert_null (error);
  assert_true (mp_process_get_exitcode (proc, &code));
  assert_int_equal (code, CHILD_EXIT_OK);
  assert_true (eof);
  assert_int_equal (got->len, sizeof product);
  memcpy (&product, got->data, sizeof product);
  assert_int_equal (product, 54);
}

static void
test_spawned_child_target_error (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MpProcess) proc = NULL;
  g_autoptr(MpCallable) target = NULL;
  int code = -1;

  target = mp_callable_new (fail_func, NULL);
  proc = mp_context_process_new (mp_get_context ("spawn", NULL), target);
  assert_true (mp_process_start (proc, &error));
  assert_true (mp_process_join (proc, TIMEOUT_US, &error));
  assert_true (mp_process_get_exitcode (proc, &code));
  assert_int_equal (code, 1);
}

/* ---- hostile serialized callables ------------------------------------------------------------ */

static GVariant *
valid_serialized (MpFunc func, GVariant *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  g_autoptr(MpCallable) c = mp_callable_new (func, args);
  GVariant *s = mp_callable_serialize (c, list, &error);

  assert_null (error);
  return g_variant_ref_sink (s);
}

/* Deserialization must fail with MP_ERROR_SERIALIZATION; returns the message. */
static char *
deserialize_fails (GVariant *serialized, GUnixFDList *fds)
{
  g_autoptr(GError) error = NULL;
  MpCallable *c = mp_callable_deserialize (serialized, fds, &error);

  if (c != NULL)
    {
      g_autofree char *text = g_variant_print (serialized, TRUE);
      mp_callable_unref (c);
      fail_msg ("a hostile callable was accepted: %s", text);
    }
  check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
  return g_strdup (error->message);
}

/* The batched flag travels; a flag this build does not know is refused. */
static void
test_batched_flag_round_trip (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  g_autoptr(MpCallable) batched = mp_callable_new_batched (echo_args, NULL);
  g_autoptr(MpCallable) plain = mp_callable_new (echo_args, NULL);
  g_autoptr(MpCallable) back = NULL;
  g_autoptr(MpCallable) back_plain = NULL;
  g_autoptr(GVariant) s_batched = NULL;
  g_autoptr(GVariant) s_plain = NULL;
  g_autoptr(GVariant) hostile = NULL;
  g_autofree char *msg = NULL;
  Parts p = { 0 };

  assert_true (mp_callable_is_batched (batched));
  assert_false (mp_callable_is_batched (plain));
  s_batched = g_variant_ref_sink (mp_callable_serialize (batched, list, &error));
  assert_null (error);
  s_plain = g_variant_ref_sink (mp_callable_serialize (plain, list, &error));
  assert_null (error);

  back = mp_callable_deserialize (s_batched, list, &error);
  assert_null (error);
  assert_true (mp_callable_is_batched (back));
  assert_ptr_equal (mp_callable_get_func (back), echo_args);
  back_plain = mp_callable_deserialize (s_plain, list, &error);
  assert_null (error);
  assert_false (mp_callable_is_batched (back_plain));

  parts_from (s_batched, &p);
  assert_int_equal (p.flags, 1);
  p.flags = 0x80;
  hostile = parts_to (&p);
  msg = deserialize_fails (hostile, list);
  check_contains (msg, "unknown flags");
  parts_clear (&p);
}

static void
test_hostile_wrong_type (void **state)
{
  const char *bad[] = { "42", "('', @ay [], @t 0)", "('', @ay [1], @t 0, <()>, @u 0, @i 0)",
                        "(@ay [], @s '', @t 0, <()>, @u 0, @u 0)", "<('', @ay [], @t 0)>" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* g_variant_parse() returns a full reference */
      g_autoptr(GVariant) v = g_variant_parse (NULL, bad[i], NULL, NULL, NULL);
      g_autofree char *msg = NULL;

      assert_non_null (v);
      msg = deserialize_fails (v, NULL);
      check_contains (msg, "(saytvuuu)");
    }
}

static void
test_hostile_unknown_build_id (void **state)
{
  g_autoptr(GVariant) valid = valid_serialized (echo_args, NULL);
  Parts p = { 0 };
  gsize len;
  guint8 *id;

  parts_from (valid, &p);
  len = g_bytes_get_size (p.build_id);
  id = g_memdup2 (g_bytes_get_data (p.build_id, NULL), len);
  for (gsize i = 0; i < len; i++)
    id[i] ^= 0x5a;
  g_bytes_unref (p.build_id);
  p.build_id = g_bytes_new_take (id, len);

  {
    g_autoptr(GVariant) v = parts_to (&p);
    g_autofree char *msg = deserialize_fails (v, NULL);
    check_contains (msg, "different build");
  }

  /* the same, naming a module that does not exist on disk */
  g_free (p.module);
  p.module = g_strdup ("/nonexistent/libmp-test-missing.so");
  {
    g_autoptr(GVariant) v = parts_to (&p);
    g_autofree char *msg = deserialize_fails (v, NULL);
    check_contains (msg, "different build");
    check_contains (msg, "/nonexistent/libmp-test-missing.so");
  }

  /* an empty build-id, and one longer than any real one */
  g_bytes_unref (p.build_id);
  p.build_id = g_bytes_new (NULL, 0);
  {
    g_autoptr(GVariant) v = parts_to (&p);
    g_free (deserialize_fails (v, NULL));
  }
  g_bytes_unref (p.build_id);
  p.build_id = g_bytes_new_take (g_malloc0 (4096), 4096);
  {
    g_autoptr(GVariant) v = parts_to (&p);
    g_free (deserialize_fails (v, NULL));
  }
  parts_clear (&p);
}

static void
test_hostile_library_not_left_loaded (void **state)
{
  const char *lib = "/lib/x86_64-linux-gnu/libanl.so.1";
  g_autoptr(GVariant) valid = valid_serialized (echo_args, NULL);
  Parts p = { 0 };

  if (!g_file_test (lib, G_FILE_TEST_EXISTS) || dlopen (lib, RTLD_NOW | RTLD_NOLOAD) != NULL)
    {
      skip ();
      return;
    }

  /* A library on disk that this process has not loaded, with a build-id it does not have. */
  parts_from (valid, &p);
  g_free (p.module);
  p.module = g_strdup (lib);
  g_bytes_unref (p.build_id);
  p.build_id = g_bytes_new_take (g_malloc0 (20), 20);
  {
    g_autoptr(GVariant) v = parts_to (&p);
    g_autofree char *msg = deserialize_fails (v, NULL);
    check_contains (msg, "different build");
  }
  parts_clear (&p);
  /* A failed lookup leaves no module behind. */
  assert_null (dlopen (lib, RTLD_NOW | RTLD_NOLOAD));
}

static void
test_hostile_offset (void **state)
{
  g_autoptr(GVariant) valid = valid_serialized (echo_args, NULL);
  ExecRanges r = main_exec_ranges ();
  guint64 data_offset = (guint64) ((guintptr) not_code - r.base);
  guint64 offsets[] = { 0, 1, G_MAXUINT64, G_MAXUINT64 - 8, (guint64) 1 << 62, r.hi[0],
                        r.lo[0] - 1, data_offset };
  Parts p = { 0 };

  assert_false (offset_is_main_code (&r, data_offset));
  parts_from (valid, &p);
  for (guint i = 0; i < G_N_ELEMENTS (offsets); i++)
    {
      g_autoptr(GVariant) v = NULL;
      g_autofree char *msg = NULL;

      if (offset_is_main_code (&r, offsets[i]))
        continue;   /* r.hi[0] may start another code segment */
      p.offset = offsets[i];
      v = parts_to (&p);
      msg = deserialize_fails (v, NULL);
      check_contains (msg, "not code");
    }

  /* The last byte of the code segment is accepted: the check is on the segment's bounds. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) v = NULL;
    g_autoptr(MpCallable) c = NULL;

    p.offset = r.hi[0] - 1;
    v = parts_to (&p);
    c = mp_callable_deserialize (v, NULL, &error);
    assert_null (error);
    assert_ptr_equal ((gpointer) (guintptr) mp_callable_get_func (c),
                      (gpointer) (r.base + r.hi[0] - 1));
  }
  parts_clear (&p);
}

static void
test_hostile_data_pointer_is_refused (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  /* A data address inside the program: it is in a module, but it is not code. */
  g_autoptr(MpCallable) c = mp_callable_new ((MpFunc) (guintptr) not_code, NULL);
  g_autoptr(GVariant) s = mp_callable_serialize (c, list, &error);
  g_autofree char *msg = NULL;

  if (s == NULL)
    {
      /* refusing it at once is just as good */
      check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
      return;
    }
  g_variant_ref_sink (s);
  msg = deserialize_fails (s, NULL);
  check_contains (msg, "not code");
}

static void
test_hostile_fd_range (void **state)
{
  g_autoptr(GVariant) valid = valid_serialized (echo_args, NULL);
  g_autoptr(GUnixFDList) one = NULL;
  struct { guint32 base, count; gboolean with_list; } cases[] = {
    { 0, 1, FALSE },             /* descriptors announced, none came */
    { 1, 1, TRUE },              /* past the end */
    { 0, 2, TRUE },              /* more than there are */
    { G_MAXUINT32, 2, TRUE },    /* base + count overflows */
    { 1, G_MAXUINT32, TRUE },
    { G_MAXUINT32, G_MAXUINT32, TRUE },
  };
  Parts p = { 0 };
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int before;

  assert_true (fd >= 0);
  one = fd_list_take (fd);
  before = count_open_fds ();
  parts_from (valid, &p);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GVariant) v = NULL;
      g_autofree char *msg = NULL;

      p.base = cases[i].base;
      p.count = cases[i].count;
      v = parts_to (&p);
      msg = deserialize_fails (v, cases[i].with_list ? one : NULL);
      check_contains (msg, "file descriptors");
    }
  parts_clear (&p);
  assert_int_equal (count_open_fds (), before);
}

static void
test_hostile_args_not_tuple (void **state)
{
  g_autoptr(GVariant) valid = valid_serialized (echo_args, NULL);
  GVariant *not_tuples[] = { g_variant_new_int32 (5), g_variant_new_string ("()"),
                             g_variant_new_variant (g_variant_new ("()")),
                             g_variant_new ("a{sv}", NULL) };
  Parts p = { 0 };

  parts_from (valid, &p);
  for (guint i = 0; i < G_N_ELEMENTS (not_tuples); i++)
    {
      g_autoptr(GVariant) v = NULL;
      g_autofree char *msg = NULL;

      g_variant_unref (p.args);
      p.args = g_variant_ref_sink (not_tuples[i]);
      v = parts_to (&p);
      msg = deserialize_fails (v, NULL);
      check_contains (msg, "tuple");
    }
  parts_clear (&p);
}

/* ---- the wire layer -------------------------------------------------------------------------- */

static void
test_wire_round_trip_with_fds (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) got_fds = NULL;
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new ("(sih)", "hello", 7, 1));
  g_autoptr(GVariant) got = NULL;
  g_autoptr(GByteArray) piped = NULL;
  const int *fdv;
  int sv[2], p[2], devnull, n;
  gboolean eof;

  make_socketpair (sv);
  make_pipe (p);
  devnull = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  assert_int_equal (g_unix_fd_list_append (fds, devnull, &error), 0);
  assert_int_equal (g_unix_fd_list_append (fds, p[1], &error), 1);
  close (devnull);
  close (p[1]);

  assert_true (_mp_wire_send (sv[0], msg, fds, &error));
  assert_null (error);
  g_clear_object (&fds);

  got = _mp_wire_recv (sv[1], 1 << 20, &got_fds, &error);
  assert_null (error);
  assert_non_null (got);
  assert_true (g_variant_equal (got, msg));
  assert_non_null (got_fds);
  fdv = g_unix_fd_list_peek_fds (got_fds, &n);
  assert_int_equal (n, 2);
  for (int i = 0; i < n; i++)
    assert_true (fcntl (fdv[i], F_GETFD) & FD_CLOEXEC);

  /* descriptor 1 is the pipe: write through it */
  write_raw (fdv[1], "ok", 2);
  g_clear_object (&got_fds);
  piped = read_to_eof (p[0], &eof);
  assert_true (eof);
  assert_int_equal (piped->len, 2);
  assert_memory_equal (piped->data, "ok", 2);

  close (p[0]);
  close (sv[0]);
  close (sv[1]);
}

static void
test_wire_format_as_documented (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new ("(sau)", "wire", NULL));
  g_autofree guint8 *expected = NULL;
  guint8 buf[256];
  gsize len;
  ssize_t n;
  int sv[2];

  make_socketpair (sv);
  expected = build_frame (msg, 0, &len);
  assert_true (len < sizeof buf);
  assert_true (_mp_wire_send (sv[0], msg, NULL, &error));
  close (sv[0]);
  n = recv (sv[1], buf, sizeof buf, MSG_WAITALL);
  assert_int_equal (n, (ssize_t) len);
  assert_memory_equal (buf, expected, len);
  close (sv[1]);

  /* a hand-made frame is received as what it says */
  make_socketpair (sv);
  write_raw (sv[0], expected, len);
  {
    g_autoptr(GVariant) got = _mp_wire_recv (sv[1], len, NULL, &error);
    assert_null (error);
    assert_true (g_variant_equal (got, msg));
  }
  close (sv[0]);
  close (sv[1]);
}

/* Receives from a socket that holds @data (and @fd on its first byte if ≥ 0), the writer
 * closed; the receive must fail with @code. Returns the message. */
static char *
wire_recv_fails (const guint8 *data, gsize len, int fd, gsize max_size, int code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  GVariant *v;
  int sv[2];
  char *msg;

  make_socketpair (sv);
  if (len > 0)
    send_raw (sv[0], data, len, &fd, fd >= 0 ? 1 : 0);
  close (sv[0]);
  v = _mp_wire_recv (sv[1], max_size, &fds, &error);
  close (sv[1]);
  if (v != NULL)
    {
      g_variant_unref (v);
      fail_msg ("a malformed frame was accepted");
    }
  assert_null (fds);
  check_error (error, MP_ERROR, code);
  msg = g_strdup (error->message);
  return msg;
}

static void
test_wire_bad_magic (void **state)
{
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new_int32 (1));
  g_autofree guint8 *frame = NULL;
  g_autofree char *err = NULL;
  gsize len;

  frame = build_frame (msg, 0, &len);
  put_le32 (frame, 0x3257504du);   /* "MPW2" */
  err = wire_recv_fails (frame, len, -1, 1024, MP_ERROR_SERIALIZATION);
  check_contains (err, "magic");

  /* big-endian magic is not the magic either */
  g_free (err);
  put_le32 (frame, GUINT32_SWAP_LE_BE (WIRE_MAGIC));
  err = wire_recv_fails (frame, len, -1, 1024, MP_ERROR_SERIALIZATION);
  check_contains (err, "magic");
}

static void
test_wire_size_limit (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new_string ("0123456789abcdef"));
  g_autofree guint8 *frame = NULL;
  gsize len, payload;
  int sv[2];

  /* exactly the limit is fine, one byte less is not */
  frame = build_frame (msg, 0, &len);
  payload = len - WIRE_HEADER_SIZE;
  make_socketpair (sv);
  write_raw (sv[0], frame, len);
  {
    g_autoptr(GVariant) got = _mp_wire_recv (sv[1], payload, NULL, &error);
    assert_null (error);
    assert_true (g_variant_equal (got, msg));
  }
  close (sv[0]);
  close (sv[1]);
  g_free (wire_recv_fails (frame, len, -1, payload - 1, MP_ERROR_SERIALIZATION));
}

static void
test_wire_oversize_refused_without_allocation (void **state)
{
  g_autoptr(GError) error = NULL;
  guint8 header[WIRE_HEADER_SIZE];
  guint8 rest[32] = { 0 };
  guint8 left[64];
  int sv[2];

  make_header (header, WIRE_MAGIC, 0xfffffff0u, 0);

  /* The limit is checked before the payload is read: what follows the header stays unread. */
  make_socketpair (sv);
  write_raw (sv[0], header, sizeof header);
  write_raw (sv[0], rest, sizeof rest);
  assert_null (_mp_wire_recv (sv[1], 4096, NULL, &error));
  check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
  check_contains (error->message, "exceeds");
  assert_int_equal (recv (sv[1], left, sizeof left, MSG_DONTWAIT), (ssize_t) sizeof rest);
  close (sv[0]);
  close (sv[1]);
}

static void
test_wire_truncated (void **state)
{
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new_string ("a longer payload here"));
  g_autofree guint8 *frame = NULL;
  gsize len;

  frame = build_frame (msg, 0, &len);
  /* the peer closes mid-payload, mid-header, or before anything */
  g_free (wire_recv_fails (frame, len - 5, -1, 1024, MP_ERROR_EOF));
  g_free (wire_recv_fails (frame, WIRE_HEADER_SIZE + 1, -1, 1024, MP_ERROR_EOF));
  g_free (wire_recv_fails (frame, WIRE_HEADER_SIZE, -1, 1024, MP_ERROR_EOF));
  g_free (wire_recv_fails (frame, 7, -1, 1024, MP_ERROR_EOF));
  g_free (wire_recv_fails (frame, 0, -1, 1024, MP_ERROR_EOF));
}

static void
test_wire_not_normal_form (void **state)
{
  /* A "v" is the child's bytes, a 0 byte and the type string. */
  static const guint8 bad_bool[] = { 0x02, 0x00, 'b' };           /* a boolean that is 2 */
  static const guint8 bad_type[] = { 0x00, 0x00, '(' };           /* not a type */
  static const guint8 no_sep[] = { 'i', 'i', 'i', 'i' };          /* no separator */
  static const guint8 bad_string[] = { 'a', 'b', 0x00, 's' };     /* string without its nul */
  static const guint8 bad_offset[] = { 'x', 0, 'y', 0, 0xff, 0, 'a', 's' }; /* offset past end */
  static const guint8 wrong_size[] = { 0, 0, 0, 0, 5, 0, 0, 0, 0, 'i' };    /* 8 bytes for i */
  struct { const guint8 *data; gsize len; } cases[] = {
    { bad_bool, sizeof bad_bool }, { bad_type, sizeof bad_type }, { no_sep, sizeof no_sep },
    { bad_string, sizeof bad_string }, { bad_offset, sizeof bad_offset },
    { wrong_size, sizeof wrong_size },
  };
  guint8 frame[64];

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;

      make_header (frame, WIRE_MAGIC, (guint32) cases[i].len, 0);
      memcpy (frame + WIRE_HEADER_SIZE, cases[i].data, cases[i].len);
      err = wire_recv_fails (frame, WIRE_HEADER_SIZE + cases[i].len, -1, 1024,
                             MP_ERROR_SERIALIZATION);
      check_contains (err, "normal form");
    }

  /* an empty payload is no value at all */
  make_header (frame, WIRE_MAGIC, 0, 0);
  g_free (wire_recv_fails (frame, WIRE_HEADER_SIZE, -1, 1024, MP_ERROR_SERIALIZATION));
}

static void
test_wire_fd_count_mismatch (void **state)
{
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new ("(h)", 0));
  g_autofree guint8 *frame = NULL;
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int before;
  gsize len;

  assert_true (devnull >= 0);
  before = count_open_fds ();

  /* announced one, none came */
  frame = build_frame (msg, 1, &len);
  {
    g_autofree char *err = wire_recv_fails (frame, len, -1, 1024, MP_ERROR_SERIALIZATION);
    check_contains (err, "file descriptors");
  }
  g_free (frame);

  /* announced none, one came: and it is closed, not leaked */
  frame = build_frame (msg, 0, &len);
  g_free (wire_recv_fails (frame, len, devnull, 1024, MP_ERROR_SERIALIZATION));
  g_free (frame);

  /* announced two, one came */
  frame = build_frame (msg, 2, &len);
  g_free (wire_recv_fails (frame, len, devnull, 1024, MP_ERROR_SERIALIZATION));

  close (devnull);
  assert_int_equal (count_open_fds (), before - 1);
}

static void
test_wire_fds_must_come_with_header (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new ("(sh)", "late", 0));
  g_autoptr(GUnixFDList) fds = NULL;
  g_autofree guint8 *frame = NULL;
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  GVariant *got;
  int sv[2], before;
  gsize len;

  assert_true (devnull >= 0);
  before = count_open_fds ();
  /* The header announces no descriptor; one rides on the payload instead. */
  frame = build_frame (msg, 0, &len);
  make_socketpair (sv);
  send_raw (sv[0], frame, WIRE_HEADER_SIZE, NULL, 0);
  send_raw (sv[0], frame + WIRE_HEADER_SIZE, len - WIRE_HEADER_SIZE, &devnull, 1);
  close (sv[0]);
  got = _mp_wire_recv (sv[1], 1024, &fds, &error);
  close (sv[1]);
  if (got != NULL)
    {
      int n = g_unix_fd_list_get_length (fds);
      g_variant_unref (got);
      fail_msg ("a message announcing 0 descriptors was accepted with %d", n);
    }
  check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
  close (devnull);
  assert_int_equal (count_open_fds (), before - 1);
}

static void
test_wire_too_many_fds_to_send (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) msg = g_variant_ref_sink (g_variant_new_int32 (0));
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int sv[2];
  guint8 b;

  assert_true (devnull >= 0);
  for (int i = 0; i <= MP_WIRE_MAX_FDS; i++)
    assert_true (g_unix_fd_list_append (fds, devnull, NULL) >= 0);
  close (devnull);
  make_socketpair (sv);
  assert_false (_mp_wire_send (sv[0], msg, fds, &error));
  check_error (error, MP_ERROR, MP_ERROR_SERIALIZATION);
  /* nothing was sent */
  assert_int_equal (recv (sv[1], &b, 1, MSG_DONTWAIT), -1);
  close (sv[0]);
  close (sv[1]);
}

/* ---- fuzzing the receiving side --------------------------------------------------------------- */

static void
mutate (GRand *rand, guint8 *m, gsize *len)
{
  static const guint32 interesting[] = { 0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff,
                                         0x80000000u, 0xffffffffu };
  gsize n = *len;
  gsize pos;

  if (n == 0)
    return;
  /* Mostly the payload: the header has few states worth visiting. */
  if (n > WIRE_HEADER_SIZE && g_rand_int_range (rand, 0, 100) < 85)
    pos = (gsize) g_rand_int_range (rand, WIRE_HEADER_SIZE, (gint32) n);
  else
    pos = (gsize) g_rand_int_range (rand, 0, (gint32) MIN (n, WIRE_HEADER_SIZE));

  switch (g_rand_int_range (rand, 0, 10))
    {
    case 0: case 1: case 2: case 3: case 4:
      m[pos] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
      break;
    case 5: case 6: case 7:
      m[pos] = (guint8) g_rand_int_range (rand, 0, 256);
      break;
    case 8:
      if (pos + 4 <= n)
        put_le32 (m + pos, interesting[g_rand_int_range (rand, 0, G_N_ELEMENTS (interesting))]);
      break;
    case 9:
      *len = (gsize) g_rand_int_range (rand, 0, (gint32) n);
      break;
    default:
      break;
    }
}

static void
test_fuzz_serialized_callable (void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  g_autoptr(GVariant) serialized = NULL;
  g_autofree guint8 *frame = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (FUZZ_SEED);
  ExecRanges r = main_exec_ranges ();
  Parts orig = { 0 };
  guint n_received = 0, n_resolved = 0;
  int devnull, before;
  gsize len;

  devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true (devnull >= 0);
  {
    g_autoptr(GUnixFDList) own = g_unix_fd_list_new ();
    g_autoptr(MpCallable) c = NULL;

    assert_int_equal (g_unix_fd_list_append (own, devnull, NULL), 0);
    c = mp_callable_new_with_fds (write_to_fd, g_variant_new ("(ih)", 77, 0), own);
    serialized = g_variant_ref_sink (mp_callable_serialize (c, list, &error));
    assert_null (error);
  }
  parts_from (serialized, &orig);
  frame = build_frame (serialized, 1, &len);
  before = count_open_fds ();

  for (guint round = 0; round < FUZZ_ROUNDS; round++)
    {
      g_autoptr(GError) recv_error = NULL;
      g_autoptr(GError) deser_error = NULL;
      g_autoptr(GUnixFDList) fds = NULL;
      g_autoptr(GVariant) v = NULL;
      g_autoptr(MpCallable) c = NULL;
      g_autofree guint8 *m = g_memdup2 (frame, len);
      gsize mlen = len;
      int n_mut = g_rand_int_range (rand, 1, 5);
      int sv[2];

      for (int k = 0; k < n_mut; k++)
        mutate (rand, m, &mlen);

      make_socketpair (sv);
      if (mlen > 0)
        send_raw (sv[0], m, mlen, &devnull, 1);
      close (sv[0]);
      v = _mp_wire_recv (sv[1], 4096, &fds, &recv_error);
      close (sv[1]);
      if (v == NULL)
        {
          assert_non_null (recv_error);
          assert_true (recv_error->domain == MP_ERROR);
          continue;
        }
      n_received++;

      c = mp_callable_deserialize (v, fds, &deser_error);
      if (c == NULL)
        {
          check_error (deser_error, MP_ERROR, MP_ERROR_SERIALIZATION);
          continue;
        }
      n_resolved++;

      /* It resolved: then the build-id is ours and the offset is code of the program. */
      {
        Parts got = { 0 };
        GUnixFDList *cfds = mp_callable_get_fds (c);

        parts_from (v, &got);
        if (!g_bytes_equal (got.build_id, orig.build_id))
          fail_msg ("round %u: resolved with a foreign build-id", round);
        if (!offset_is_main_code (&r, got.offset))
          fail_msg ("round %u: resolved offset 0x%" G_GINT64_MODIFIER "x is not code", round,
                    got.offset);
        assert_ptr_equal ((gpointer) (guintptr) mp_callable_get_func (c),
                          (gpointer) (r.base + got.offset));
        assert_true (g_variant_is_of_type (mp_callable_get_args (c), G_VARIANT_TYPE_TUPLE));
        if (got.count == 0)
          assert_null (cfds);
        else
          assert_int_equal (g_unix_fd_list_get_length (cfds), got.count);
        parts_clear (&got);
      }
    }

  print_message ("# fuzz: %u rounds, %u received, %u resolved\n", FUZZ_ROUNDS, n_received,
                 n_resolved);
  /* Mutations that keep a message valid (an argument's bits) must still go through. */
  assert_true (n_received > 0);
  assert_true (n_resolved > 0);
  assert_int_equal (count_open_fds (), before);
  close (devnull);
  parts_clear (&orig);
}

int
main (int argc, char **argv)
{
  mp_init (&argc, &argv);

  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_invoke_partial_semantics),
    cmocka_unit_test (test_invoke_error_and_none),
    cmocka_unit_test (test_invoke_result_ownership),
    cmocka_unit_test (test_ref_counting),
    cmocka_unit_test (test_round_trip_same_process),
    cmocka_unit_test (test_round_trip_shared_library_function),
    cmocka_unit_test (test_serialize_function_outside_modules),
    cmocka_unit_test (test_round_trip_with_fds),
    cmocka_unit_test (test_round_trip_in_spawned_child),
    cmocka_unit_test (test_spawned_child_target_error),
    cmocka_unit_test (test_batched_flag_round_trip),
    cmocka_unit_test (test_hostile_wrong_type),
    cmocka_unit_test (test_hostile_unknown_build_id),
    cmocka_unit_test (test_hostile_library_not_left_loaded),
    cmocka_unit_test (test_hostile_offset),
    cmocka_unit_test (test_hostile_data_pointer_is_refused),
    cmocka_unit_test (test_hostile_fd_range),
    cmocka_unit_test (test_hostile_args_not_tuple),
    cmocka_unit_test (test_wire_round_trip_with_fds),
    cmocka_unit_test (test_wire_format_as_documented),
    cmocka_unit_test (test_wire_bad_magic),
    cmocka_unit_test (test_wire_size_limit),
    cmocka_unit_test (test_wire_oversize_refused_without_allocation),
    cmocka_unit_test (test_wire_truncated),
    cmocka_unit_test (test_wire_not_normal_form),
    cmocka_unit_test (test_wire_fd_count_mismatch),
    cmocka_unit_test (test_wire_fds_must_come_with_header),
    cmocka_unit_test (test_wire_too_many_fds_to_send),
    cmocka_unit_test (test_fuzz_serialized_callable),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
