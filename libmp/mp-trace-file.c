/* mp-trace-file.c: recordings as JSON Lines
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Format (one JSON object per line, version MP_TRACE_FILE_VERSION):
 *
 *   {"r":"header","format":"libmp-trace","version":1,"program":"wordcount","root_pid":4242,
 *    "start_realtime_ns":…,"start_monotonic_ns":…,"trace_level":2,"source":"pid"}
 *   {"r":"event","t":…,"pid":4250,"type":"task-started","object":3,"a":17,"b":4250}
 *   {"r":"lost","t":…,"n":120}
 *   {"r":"snapshot","t":…,"full":true,"processes":[{…}],"objects":[{…,"stats":{…}}]}
 *   {"r":"end","t":…,"events":123456,"lost":120}
 *
 * Times are the recorded program's CLOCK_MONOTONIC in ns; start_realtime_ns maps them to wall
 * time. 64-bit unsigned values (object ids, user marks) are written as their signed 64-bit
 * two's complement, which JSON parsers keep exactly. Enums are written by name, so a reader
 * of a later version can tell an unknown value from a changed one. Stats blocks are written
 * field by field with the names of mp-object-private.h.
 *
 * Writing is by hand (the values are numbers and sanitized strings, escaped here); reading
 * goes through json-glib, one line at a time. A recording is untrusted input: lines are capped
 * at MP_TRACE_MAX_LINE; each line passes a strict, iterative JSON check (valid UTF-8, nesting
 * at most MP_TRACE_MAX_DEPTH) before json-glib sees it, since json-glib's parser recurses and
 * leaks the partial tree of a line with a syntax error; arrays are capped at the arena's own
 * capacities, strings at their field sizes; every member is type-checked; an incomplete last
 * line is reported as truncation. Any of these is a GError naming the line.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "mp-error.h"
#include "mp-trace-file-private.h"

void
_mp_trace_header_clear (MpTraceHeader *header)
{
  g_clear_pointer (&header->program, g_free);
  g_clear_pointer (&header->source, g_free);
}

void
_mp_trace_record_clear (MpTraceRecord *record)
{
  g_clear_pointer (&record->snapshot, _mp_monitor_snapshot_free);
  memset (record, 0, sizeof *record);
}

/* ---- the stats fields of each kind ------------------------------------------------------- */

typedef enum
{
  F_U32,
  F_I32,
  F_U64,
  F_I32_ARRAY,
  F_U32_ARRAY,
  F_STRING,
} FieldType;

typedef struct
{
  const char *name;
  FieldType   type;
  gsize       offset;
  guint       count;             /* array elements, string bytes */
} StatsField;

#define SF(T, f, type) { #f, type, G_STRUCT_OFFSET (T, f), 1 }
#define SFA(T, f, type, n) { #f, type, G_STRUCT_OFFSET (T, f), n }

static const StatsField sync_fields[] = {
  SF (MpSyncStats, word, F_U32), SF (MpSyncStats, nwaiters, F_U32),
  SF (MpSyncStats, holder_pid, F_I32), SF (MpSyncStats, holder_tid, F_I32),
  SF (MpSyncStats, count, F_U32), SF (MpSyncStats, limit, F_U32),
  SF (MpSyncStats, generation, F_U32), SF (MpSyncStats, flags, F_U32),
  SF (MpSyncStats, acquisitions, F_U64), SF (MpSyncStats, contended, F_U64),
  SF (MpSyncStats, total_wait_ns, F_U64), SF (MpSyncStats, max_wait_ns, F_U64),
  SF (MpSyncStats, owner_died, F_U64), SF (MpSyncStats, last_waiter_pid, F_I32),
  SF (MpSyncStats, aux, F_U32),
};

static const StatsField queue_fields[] = {
  SF (MpQueueStats, depth, F_U64), SF (MpQueueStats, max_depth, F_U64),
  SF (MpQueueStats, puts, F_U64), SF (MpQueueStats, gets, F_U64),
  SF (MpQueueStats, bytes_put, F_U64), SF (MpQueueStats, bytes_got, F_U64),
  SF (MpQueueStats, maxsize, F_U64), SF (MpQueueStats, capacity_bytes, F_U64),
  SF (MpQueueStats, unfinished_tasks, F_U64), SF (MpQueueStats, blocked_puts, F_U64),
  SF (MpQueueStats, blocked_gets, F_U64),
};

static const StatsField connection_fields[] = {
  SF (MpConnectionStats, messages_sent, F_U64), SF (MpConnectionStats, messages_received, F_U64),
  SF (MpConnectionStats, bytes_sent, F_U64), SF (MpConnectionStats, bytes_received, F_U64),
  SF (MpConnectionStats, peer_pid, F_I32), SF (MpConnectionStats, flags, F_U32),
  SF (MpConnectionStats, accepted, F_U64), SF (MpConnectionStats, auth_failures, F_U64),
};

static const StatsField pool_fields[] = {
  SF (MpPoolStats, workers, F_U32), SF (MpPoolStats, workers_alive, F_U32),
  SF (MpPoolStats, submitted, F_U64), SF (MpPoolStats, queued, F_U64),
  SF (MpPoolStats, running, F_U64), SF (MpPoolStats, completed, F_U64),
  SF (MpPoolStats, failed, F_U64), SF (MpPoolStats, replaced_workers, F_U64),
  SF (MpPoolStats, total_task_ns, F_U64),
  SFA (MpPoolStats, worker_pid, F_I32_ARRAY, MP_POOL_STATS_WORKERS),
  SFA (MpPoolStats, worker_task, F_U32_ARRAY, MP_POOL_STATS_WORKERS),
};

static const StatsField shm_fields[] = {
  SF (MpShmStats, size, F_U64),
  SFA (MpShmStats, name, F_STRING, sizeof (((MpShmStats *) 0)->name)),
  SFA (MpShmStats, attached_pid, F_I32_ARRAY, MP_SHM_STATS_ATTACHED),
  SF (MpShmStats, n_attached, F_U32), SF (MpShmStats, flags, F_U32),
};

static const StatsField *
fields_for_kind (guint32 kind, guint *n)
{
  if (_mp_object_kind_is_sync (kind))
    {
      *n = G_N_ELEMENTS (sync_fields);
      return sync_fields;
    }
  if (_mp_object_kind_is_queue (kind))
    {
      *n = G_N_ELEMENTS (queue_fields);
      return queue_fields;
    }
  if (kind == MP_OBJECT_CONNECTION || kind == MP_OBJECT_LISTENER)
    {
      *n = G_N_ELEMENTS (connection_fields);
      return connection_fields;
    }
  if (kind == MP_OBJECT_POOL)
    {
      *n = G_N_ELEMENTS (pool_fields);
      return pool_fields;
    }
  if (_mp_object_kind_is_segment (kind))
    {
      *n = G_N_ELEMENTS (shm_fields);
      return shm_fields;
    }
  *n = 0;
  return NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

struct _MpTraceFileWriter
{
  FILE    *file;
  char    *path;
  guint64  n_events;
  guint64  n_lost;
  GString *buf;
};

void
_mp_json_append_string (GString *s, const char *str)
{
  g_string_append_c (s, '"');
  for (const guchar *p = (const guchar *) str; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        {
          g_string_append_c (s, '\\');
          g_string_append_c (s, (char) *p);
        }
      else if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf (s, "\\u%04x", *p);
      else
        g_string_append_c (s, (char) *p);
    }
  g_string_append_c (s, '"');
}

/* A string of a fixed field: at most @len bytes, valid UTF-8. */
static void
append_json_field_string (GString *s, const char *field, gsize len)
{
  char tmp[256];

  len = MIN (len, sizeof tmp);
  _mp_monitor_copy_name (tmp, field, len);
  _mp_json_append_string (s, tmp);
}

/* A NUL-terminated string, cut to 255 bytes of valid UTF-8. */
static void
append_json_cstring (GString *s, const char *str)
{
  char tmp[256];

  g_strlcpy (tmp, str, sizeof tmp);
  _mp_monitor_copy_name (tmp, tmp, sizeof tmp);
  _mp_json_append_string (s, tmp);
}

static void
append_double (GString *s, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append (s, g_ascii_dtostr (buf, sizeof buf, isfinite (v) ? v : 0.0));
}

static gboolean
writer_put (MpTraceFileWriter *w, GError **error)
{
  if (fwrite (w->buf->str, 1, w->buf->len, w->file) != w->buf->len)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot write the recording %s: %s", w->path,
                   g_strerror (errsv));
      g_string_truncate (w->buf, 0);
      return FALSE;
    }
  g_string_truncate (w->buf, 0);
  return TRUE;
}

MpTraceFileWriter *
_mp_trace_file_writer_new (const char *path, const MpTraceHeader *header, GError **error)
{
  MpTraceFileWriter *w;
  int fd;

  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create the recording %s: %s", path,
                   g_strerror (errsv));
      return NULL;
    }
  w = g_new0 (MpTraceFileWriter, 1);
  w->file = fdopen (fd, "w");
  if (w->file == NULL)
    {
      close (fd);
      g_free (w);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create the recording %s", path);
      return NULL;
    }
  setvbuf (w->file, NULL, _IOFBF, 1 << 20);
  w->path = g_strdup (path);
  w->buf = g_string_sized_new (4096);

  g_string_append_printf (w->buf, "{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":%d,"
                          "\"program\":", MP_TRACE_FILE_VERSION);
  append_json_cstring (w->buf, header->program ? header->program : "");
  g_string_append_printf (w->buf, ",\"root_pid\":%d,\"start_realtime_ns\":%" G_GINT64_FORMAT
                          ",\"start_monotonic_ns\":%" G_GINT64_FORMAT ",\"trace_level\":%u,"
                          "\"source\":",
                          header->root_pid, (gint64) header->start_realtime_ns,
                          (gint64) header->start_monotonic_ns, header->trace_level);
  _mp_json_append_string (w->buf, header->source ? header->source : "pid");
  g_string_append (w->buf, "}\n");
  if (!writer_put (w, error))
    {
      fclose (w->file);
      g_string_free (w->buf, TRUE);
      g_free (w->path);
      g_free (w);
      return NULL;
    }
  return w;
}

gboolean
_mp_trace_file_writer_events (MpTraceFileWriter *w, const MpTraceEvent *events, guint n_events, GError **error)
{
  for (guint i = 0; i < n_events; i++)
    {
      const MpTraceEvent *ev = &events[i];
      const char *type = mp_trace_event_type_to_string (ev->type);

      g_string_append_printf (w->buf, "{\"r\":\"event\",\"t\":%" G_GINT64_FORMAT ",\"pid\":%d,",
                              (gint64) ev->timestamp_ns, ev->pid);
      if (g_str_equal (type, "unknown"))
        g_string_append_printf (w->buf, "\"type\":%u", ev->type);
      else
        g_string_append_printf (w->buf, "\"type\":\"%s\"", type);
      g_string_append_printf (w->buf, ",\"object\":%" G_GINT64_FORMAT ",\"a\":%" G_GINT64_FORMAT
                              ",\"b\":%" G_GINT64_FORMAT "}\n",
                              (gint64) ev->object, ev->a, ev->b);
      if (w->buf->len > 60000 && !writer_put (w, error))
        return FALSE;
    }
  w->n_events += n_events;
  return writer_put (w, error);
}

gboolean
_mp_trace_file_writer_lost (MpTraceFileWriter *w, guint64 t_ns, guint64 n_lost, GError **error)
{
  g_string_append_printf (w->buf, "{\"r\":\"lost\",\"t\":%" G_GINT64_FORMAT ",\"n\":%" G_GINT64_FORMAT "}\n",
                          (gint64) t_ns, (gint64) n_lost);
  w->n_lost += n_lost;
  return writer_put (w, error);
}

static void
append_stats (GString *s, const MpSnapObject *o)
{
  guint n;
  const StatsField *fields = fields_for_kind (o->kind, &n);
  const guint8 *base = (const guint8 *) o->stats;

  g_string_append (s, ",\"stats\":{");
  for (guint i = 0; i < n; i++)
    {
      const StatsField *f = &fields[i];
      const guint8 *p = base + f->offset;

      g_string_append_printf (s, "%s\"%s\":", i ? "," : "", f->name);
      switch (f->type)
        {
        case F_U32:
          g_string_append_printf (s, "%u", *(const guint32 *) (const void *) p);
          break;
        case F_I32:
          g_string_append_printf (s, "%d", *(const gint32 *) (const void *) p);
          break;
        case F_U64:
          g_string_append_printf (s, "%" G_GINT64_FORMAT, *(const gint64 *) (const void *) p);
          break;
        case F_I32_ARRAY:
        case F_U32_ARRAY:
          g_string_append_c (s, '[');
          for (guint k = 0; k < f->count; k++)
            {
              if (f->type == F_I32_ARRAY)
                g_string_append_printf (s, "%s%d", k ? "," : "", ((const gint32 *) (const void *) p)[k]);
              else
                g_string_append_printf (s, "%s%u", k ? "," : "", ((const guint32 *) (const void *) p)[k]);
            }
          g_string_append_c (s, ']');
          break;
        case F_STRING:
          append_json_field_string (s, (const char *) p, f->count);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_string_append_c (s, '}');
}

gboolean
_mp_trace_file_writer_snapshot (MpTraceFileWriter *w, const MpMonitorSnapshot *snap, GError **error)
{
  GString *s = w->buf;

  g_string_append_printf (s, "{\"r\":\"snapshot\",\"t\":%" G_GINT64_FORMAT ",\"full\":%s,\"processes\":[",
                          (gint64) snap->t_ns, snap->full ? "true" : "false");
  for (guint i = 0; i < snap->processes->len; i++)
    {
      const MpSnapProcess *p = &g_array_index (snap->processes, MpSnapProcess, i);

      g_string_append_printf (s, "%s{\"slot\":%u,\"gen\":%u,\"state\":\"%s\",\"role\":\"%s\","
                              "\"method\":\"%s\",\"flags\":%u,\"pid\":%d,\"ppid\":%d,\"exit_code\":%d,"
                              "\"create_ns\":%" G_GINT64_FORMAT ",\"start_ns\":%" G_GINT64_FORMAT
                              ",\"exit_ns\":%" G_GINT64_FORMAT ",\"blocked_on\":%" G_GINT64_FORMAT
                              ",\"name\":",
                              i ? "," : "", p->slot, p->generation, _mp_proc_state_to_string (p->state),
                              mp_monitor_process_role_to_string (p->role),
                              _mp_start_method_id_to_string (p->start_method), p->flags, p->pid,
                              p->ppid, p->exit_code, (gint64) p->create_ns, (gint64) p->start_ns,
                              (gint64) p->exit_ns, (gint64) p->blocked_on);
      append_json_field_string (s, p->name, sizeof p->name);
      if (p->has_os)
        {
          char st[2] = { p->os_state >= 'A' && p->os_state <= 'z' ? p->os_state : 0, 0 };

          g_string_append_printf (s, ",\"os\":{\"alive\":%s,\"state\":\"%s\",\"cpu\":",
                                  p->alive ? "true" : "false", st);
          append_double (s, p->cpu_percent);
          g_string_append_printf (s, ",\"rss\":%" G_GINT64_FORMAT "}", (gint64) p->rss_bytes);
        }
      g_string_append_c (s, '}');
    }
  g_string_append (s, "],\"objects\":[");
  for (guint i = 0; i < snap->objects->len; i++)
    {
      const MpSnapObject *o = &g_array_index (snap->objects, MpSnapObject, i);
      const char *kind = mp_object_kind_to_string (o->kind);

      g_string_append_printf (s, "%s{\"id\":%" G_GINT64_FORMAT ",", i ? "," : "", (gint64) o->id);
      if (g_str_equal (kind, "unknown"))
        g_string_append_printf (s, "\"kind\":%u", o->kind);
      else
        g_string_append_printf (s, "\"kind\":\"%s\"", kind);
      g_string_append_printf (s, ",\"state\":\"%s\",\"creator\":%d,\"flags\":%u,\"create_ns\":%"
                              G_GINT64_FORMAT ",\"label\":",
                              o->state == 2 ? "destroyed" : "live", o->creator_pid, o->flags,
                              (gint64) o->create_ns);
      append_json_field_string (s, o->label, sizeof o->label);
      append_stats (s, o);
      if (o->has_shm_info)
        {
          g_string_append_printf (s, ",\"shm\":{\"exists\":%s,\"n_mappers\":%u,\"mappers\":[",
                                  o->shm_exists ? "true" : "false", o->n_mappers);
          for (guint k = 0; k < MIN (o->n_mappers, MP_SNAP_MAPPERS); k++)
            g_string_append_printf (s, "%s%d", k ? "," : "", o->mappers[k]);
          g_string_append (s, "]}");
        }
      g_string_append_c (s, '}');
    }
  g_string_append (s, "]}\n");
  return writer_put (w, error);
}

gboolean
_mp_trace_file_writer_flush (MpTraceFileWriter *w, GError **error)
{
  if (fflush (w->file) != 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot write the recording %s: %s", w->path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

gboolean
_mp_trace_file_writer_close (MpTraceFileWriter *w, guint64 t_ns, GError **error)
{
  gboolean ok;

  g_string_append_printf (w->buf, "{\"r\":\"end\",\"t\":%" G_GINT64_FORMAT ",\"events\":%"
                          G_GINT64_FORMAT ",\"lost\":%" G_GINT64_FORMAT "}\n",
                          (gint64) t_ns, (gint64) w->n_events, (gint64) w->n_lost);
  ok = writer_put (w, error);
  if (fclose (w->file) != 0 && ok)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot write the recording %s: %s", w->path,
                   g_strerror (errsv));
      ok = FALSE;
    }
  g_string_free (w->buf, TRUE);
  g_free (w->path);
  g_free (w);
  return ok;
}

/* ---- parsing one line -------------------------------------------------------------------- */

static gboolean
fail (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, MP_ERROR, MP_ERROR_SERIALIZATION, msg);
  return FALSE;
}

/* A strict check of one line of JSON (RFC 8259), before json-glib sees it: json-glib's parser
 * recurses (deep nesting would overflow the stack) and leaks the part of the tree it built
 * when it meets a syntax error, so it only gets lines that are valid and at most
 * MP_TRACE_MAX_DEPTH deep. Iterative, one pass. */
typedef struct
{
  const char *p;
  const char *end;
} Cursor;

static void
skip_ws (Cursor *c)
{
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static gboolean
scan_string (Cursor *c)
{
  c->p++;   /* the opening quote */
  while (c->p < c->end)
    {
      guchar ch = (guchar) *c->p++;

      if (ch == '"')
        return TRUE;
      if (ch < 0x20)
        return FALSE;
      if (ch == '\\')
        {
          if (c->p >= c->end)
            return FALSE;
          ch = (guchar) *c->p++;
          if (ch == 'u')
            {
              for (int k = 0; k < 4; k++, c->p++)
                if (c->p >= c->end || !g_ascii_isxdigit (*c->p))
                  return FALSE;
            }
          else if (strchr ("\"\\/bfnrt", ch) == NULL || ch == 0)
            return FALSE;
        }
    }
  return FALSE;
}

static gboolean
scan_digits (Cursor *c)
{
  const char *start = c->p;

  while (c->p < c->end && g_ascii_isdigit (*c->p))
    c->p++;
  return c->p > start;
}

static gboolean
scan_number (Cursor *c)
{
  if (*c->p == '-')
    c->p++;
  if (c->p < c->end && *c->p == '0')
    c->p++;
  else if (!scan_digits (c))
    return FALSE;
  if (c->p < c->end && *c->p == '.')
    {
      c->p++;
      if (!scan_digits (c))
        return FALSE;
    }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
    {
      c->p++;
      if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
        c->p++;
      if (!scan_digits (c))
        return FALSE;
    }
  return TRUE;
}

static gboolean
scan_word (Cursor *c, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (c->end - c->p) < n || memcmp (c->p, word, n) != 0)
    return FALSE;
  c->p += n;
  return TRUE;
}

static gboolean
check_syntax (const char *line, gsize len, GError **error)
{
  Cursor c = { line, line + len };
  char stack[MP_TRACE_MAX_DEPTH];   /* '{' or '[' */
  guint depth = 0;
  gboolean want_value = TRUE;

  if (!g_utf8_validate_len (line, len, NULL))
    return fail (error, "not valid UTF-8");

  for (;;)
    {
      skip_ws (&c);
      if (want_value)
        {
          char ch;

          if (c.p >= c.end)
            return fail (error, "not valid JSON (it ends too early)");
          ch = *c.p;

          if (ch == '{' || ch == '[')
            {
              if (depth == MP_TRACE_MAX_DEPTH)
                return fail (error, "JSON nested deeper than %d levels", MP_TRACE_MAX_DEPTH);
              stack[depth++] = ch;
              c.p++;
              skip_ws (&c);
              if (c.p < c.end && *c.p == (ch == '{' ? '}' : ']'))
                {
                  c.p++;
                  depth--;
                  want_value = FALSE;
                }
              else if (ch == '{')
                {
                  /* A member: "key" : value */
                  if (c.p >= c.end || *c.p != '"' || !scan_string (&c))
                    return fail (error, "not valid JSON (expected a member name)");
                  skip_ws (&c);
                  if (c.p >= c.end || *c.p++ != ':')
                    return fail (error, "not valid JSON (expected ':')");
                }
              continue;
            }
          if (ch == '"' ? !scan_string (&c)
              : (ch == '-' || g_ascii_isdigit (ch)) ? !scan_number (&c)
              : !(scan_word (&c, "true") || scan_word (&c, "false") || scan_word (&c, "null")))
            return fail (error, "not valid JSON (a bad value)");
          want_value = FALSE;
        }

      /* After a value: the end of the line, a separator or a closing bracket. */
      skip_ws (&c);
      if (depth == 0)
        {
          if (c.p != c.end)
            return fail (error, "not valid JSON (data after the value)");
          return TRUE;
        }
      if (c.p >= c.end)
        return fail (error, "not valid JSON (it ends too early)");
      if (*c.p == ',')
        {
          c.p++;
          want_value = TRUE;
          if (stack[depth - 1] == '{')
            {
              skip_ws (&c);
              if (c.p >= c.end || *c.p != '"' || !scan_string (&c))
                return fail (error, "not valid JSON (expected a member name)");
              skip_ws (&c);
              if (c.p >= c.end || *c.p++ != ':')
                return fail (error, "not valid JSON (expected ':')");
            }
        }
      else if (*c.p == (stack[depth - 1] == '{' ? '}' : ']'))
        {
          c.p++;
          depth--;
        }
      else
        return fail (error, "not valid JSON (expected ',' or a closing bracket)");
    }
}

static JsonNode *
member (JsonObject *o, const char *name)
{
  return json_object_has_member (o, name) ? json_object_get_member (o, name) : NULL;
}

static gboolean
get_int (JsonObject *o, const char *name, gboolean required, gint64 min, gint64 max,
         gint64 *out, GError **error)
{
  JsonNode *n = member (o, name);

  if (n == NULL)
    {
      if (required)
        return fail (error, "member \"%s\" is missing", name);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return fail (error, "member \"%s\" is not an integer", name);
  *out = json_node_get_int (n);
  if (*out < min || *out > max)
    return fail (error, "member \"%s\" is out of range (%" G_GINT64_FORMAT ")", name, *out);
  return TRUE;
}

static gboolean
get_double (JsonObject *o, const char *name, double *out, GError **error)
{
  JsonNode *n = member (o, name);
  GType t;

  if (n == NULL)
    return TRUE;
  t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  if (t == G_TYPE_INT64)
    *out = (double) json_node_get_int (n);
  else if (t == G_TYPE_DOUBLE)
    *out = json_node_get_double (n);
  else
    return fail (error, "member \"%s\" is not a number", name);
  if (!isfinite (*out))
    return fail (error, "member \"%s\" is not finite", name);
  return TRUE;
}

static gboolean
get_bool (JsonObject *o, const char *name, gboolean *out, GError **error)
{
  JsonNode *n = member (o, name);

  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return fail (error, "member \"%s\" is not a boolean", name);
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* A borrowed string of at most @max_len bytes, or NULL when absent and optional. */
static gboolean
get_string (JsonObject *o, const char *name, gboolean required, gsize max_len,
            const char **out, GError **error)
{
  JsonNode *n = member (o, name);

  *out = NULL;
  if (n == NULL)
    {
      if (required)
        return fail (error, "member \"%s\" is missing", name);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return fail (error, "member \"%s\" is not a string", name);
  *out = json_node_get_string (n);
  if (strlen (*out) > max_len)
    return fail (error, "member \"%s\" is longer than %" G_GSIZE_FORMAT " bytes", name, max_len);
  return TRUE;
}

static gboolean
get_array (JsonObject *o, const char *name, guint max_len, JsonArray **out, GError **error)
{
  JsonNode *n = member (o, name);

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return fail (error, "member \"%s\" is not an array", name);
  *out = json_node_get_array (n);
  if (json_array_get_length (*out) > max_len)
    return fail (error, "member \"%s\" has more than %u elements", name, max_len);
  return TRUE;
}

static JsonObject *
element_object (JsonArray *a, guint i, const char *what, GError **error)
{
  JsonNode *n = json_array_get_element (a, i);

  if (!JSON_NODE_HOLDS_OBJECT (n))
    {
      fail (error, "an element of \"%s\" is not an object", what);
      return NULL;
    }
  return json_node_get_object (n);
}

/* An enum written by name (or, for values the writer did not know, by number). */
static gboolean
get_enum (JsonObject *o, const char *name, gboolean (*from_string) (const char *, guint32 *),
          guint32 *out, GError **error)
{
  JsonNode *n = member (o, name);
  gint64 v;

  if (n == NULL)
    return fail (error, "member \"%s\" is missing", name);
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    {
      if (!from_string (json_node_get_string (n), out))
        return fail (error, "member \"%s\" has an unknown value", name);
      return TRUE;
    }
  if (!get_int (o, name, TRUE, 0, G_MAXUINT32, &v, error))
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

static gboolean
parse_stats (JsonObject *o, MpSnapObject *so, GError **error)
{
  JsonNode *n = member (o, "stats");
  JsonObject *st;
  guint nf;
  const StatsField *fields = fields_for_kind (so->kind, &nf);
  guint8 *base = (guint8 *) so->stats;

  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, "member \"stats\" is not an object");
  st = json_node_get_object (n);
  for (guint i = 0; i < nf; i++)
    {
      const StatsField *f = &fields[i];
      guint8 *p = base + f->offset;
      gint64 v = 0;

      switch (f->type)
        {
        case F_U32:
          if (!get_int (st, f->name, FALSE, 0, G_MAXUINT32, &v, error))
            return FALSE;
          *(guint32 *) (void *) p = (guint32) v;
          break;
        case F_I32:
          if (!get_int (st, f->name, FALSE, G_MININT32, G_MAXINT32, &v, error))
            return FALSE;
          *(gint32 *) (void *) p = (gint32) v;
          break;
        case F_U64:
          if (!get_int (st, f->name, FALSE, G_MININT64, G_MAXINT64, &v, error))
            return FALSE;
          *(guint64 *) (void *) p = (guint64) v;
          break;
        case F_I32_ARRAY:
        case F_U32_ARRAY:
          {
            JsonArray *a;

            if (!get_array (st, f->name, f->count, &a, error))
              return FALSE;
            for (guint k = 0; a != NULL && k < json_array_get_length (a); k++)
              {
                JsonNode *e = json_array_get_element (a, k);
                if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
                  return fail (error, "an element of \"%s\" is not an integer", f->name);
                v = json_node_get_int (e);
                if (f->type == F_I32_ARRAY && v >= G_MININT32 && v <= G_MAXINT32)
                  ((gint32 *) (void *) p)[k] = (gint32) v;
                else if (f->type == F_U32_ARRAY && v >= 0 && v <= G_MAXUINT32)
                  ((guint32 *) (void *) p)[k] = (guint32) v;
                else
                  return fail (error, "an element of \"%s\" is out of range", f->name);
              }
          }
          break;
        case F_STRING:
          {
            const char *str;

            if (!get_string (st, f->name, FALSE, f->count - 1, &str, error))
              return FALSE;
            memset (p, 0, f->count);
            if (str != NULL)
              {
                memcpy (p, str, strlen (str));
                _mp_monitor_copy_name ((char *) p, (const char *) p, f->count);
              }
          }
          break;
        default:
          g_assert_not_reached ();
        }
    }
  return TRUE;
}

static gboolean
kind_from_string (const char *str, guint32 *kind)
{
  return _mp_object_kind_from_string (str, kind);
}

static gboolean
role_from_string (const char *str, guint32 *role)
{
  return _mp_monitor_role_from_string (str, role);
}

static gboolean
parse_process (JsonObject *o, MpSnapProcess *p, GError **error)
{
  gint64 v;
  const char *name;
  JsonNode *os;

  if (!get_int (o, "slot", TRUE, 0, MP_SNAP_MAX_PROCESSES - 1, &v, error))
    return FALSE;
  p->slot = (guint32) v;
  v = 0;
  if (!get_int (o, "gen", FALSE, 0, G_MAXUINT32, &v, error))
    return FALSE;
  p->generation = (guint32) v;
  if (!get_enum (o, "state", _mp_proc_state_from_string, &p->state, error) ||
      !get_enum (o, "role", role_from_string, &p->role, error) ||
      !get_enum (o, "method", _mp_start_method_id_from_string, &p->start_method, error))
    return FALSE;
  v = 0;
  if (!get_int (o, "flags", FALSE, 0, G_MAXUINT32, &v, error))
    return FALSE;
  p->flags = (guint32) v;
  if (!get_int (o, "pid", TRUE, 1, G_MAXINT32, &v, error))
    return FALSE;
  p->pid = (gint32) v;
  v = 0;
  if (!get_int (o, "ppid", FALSE, 0, G_MAXINT32, &v, error))
    return FALSE;
  p->ppid = (gint32) v;
  v = 0;
  if (!get_int (o, "exit_code", FALSE, G_MININT32, G_MAXINT32, &v, error))
    return FALSE;
  p->exit_code = (gint32) v;
#define U64_MEMBER(field, name) \
  v = 0; \
  if (!get_int (o, name, FALSE, G_MININT64, G_MAXINT64, &v, error)) \
    return FALSE; \
  p->field = (guint64) v
  U64_MEMBER (create_ns, "create_ns");
  U64_MEMBER (start_ns, "start_ns");
  U64_MEMBER (exit_ns, "exit_ns");
  U64_MEMBER (blocked_on, "blocked_on");
#undef U64_MEMBER
  if (!get_string (o, "name", FALSE, sizeof p->name - 1, &name, error))
    return FALSE;
  if (name != NULL)
    {
      g_strlcpy (p->name, name, sizeof p->name);
      _mp_monitor_copy_name (p->name, p->name, sizeof p->name);
    }

  if ((os = member (o, "os")) != NULL)
    {
      JsonObject *oo;
      const char *st;

      if (!JSON_NODE_HOLDS_OBJECT (os))
        return fail (error, "member \"os\" is not an object");
      oo = json_node_get_object (os);
      p->has_os = TRUE;
      v = 0;
      if (!get_bool (oo, "alive", &p->alive, error) ||
          !get_string (oo, "state", FALSE, 1, &st, error) ||
          !get_double (oo, "cpu", &p->cpu_percent, error) ||
          !get_int (oo, "rss", FALSE, 0, G_MAXINT64, &v, error))
        return FALSE;
      p->rss_bytes = (guint64) v;
      p->os_state = st != NULL ? st[0] : 0;
    }
  return TRUE;
}

static gboolean
parse_object (JsonObject *o, MpSnapObject *so, GError **error)
{
  gint64 v;
  const char *label, *state;
  JsonNode *shm;

  if (!get_int (o, "id", TRUE, G_MININT64, G_MAXINT64, &v, error))
    return FALSE;
  so->id = (guint64) v;
  if (!get_enum (o, "kind", kind_from_string, &so->kind, error) ||
      !get_string (o, "state", FALSE, 16, &state, error))
    return FALSE;
  so->state = g_strcmp0 (state, "destroyed") == 0 ? 2 : 1;
  v = 0;
  if (!get_int (o, "creator", FALSE, G_MININT32, G_MAXINT32, &v, error))
    return FALSE;
  so->creator_pid = (gint32) v;
  v = 0;
  if (!get_int (o, "flags", FALSE, 0, G_MAXUINT32, &v, error))
    return FALSE;
  so->flags = (guint32) v;
  v = 0;
  if (!get_int (o, "create_ns", FALSE, G_MININT64, G_MAXINT64, &v, error))
    return FALSE;
  so->create_ns = (guint64) v;
  if (!get_string (o, "label", FALSE, sizeof so->label - 1, &label, error))
    return FALSE;
  if (label != NULL)
    {
      g_strlcpy (so->label, label, sizeof so->label);
      _mp_monitor_copy_name (so->label, so->label, sizeof so->label);
    }
  if (!parse_stats (o, so, error))
    return FALSE;

  if ((shm = member (o, "shm")) != NULL)
    {
      JsonObject *so_shm;
      JsonArray *mappers;

      if (!JSON_NODE_HOLDS_OBJECT (shm))
        return fail (error, "member \"shm\" is not an object");
      so_shm = json_node_get_object (shm);
      so->has_shm_info = TRUE;
      v = 0;
      if (!get_bool (so_shm, "exists", &so->shm_exists, error) ||
          !get_int (so_shm, "n_mappers", FALSE, 0, G_MAXINT32, &v, error) ||
          !get_array (so_shm, "mappers", MP_SNAP_MAPPERS, &mappers, error))
        return FALSE;
      so->n_mappers = (guint) v;
      for (guint k = 0; mappers != NULL && k < json_array_get_length (mappers); k++)
        {
          JsonNode *e = json_array_get_element (mappers, k);
          if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64 ||
              json_node_get_int (e) <= 0 || json_node_get_int (e) > G_MAXINT32)
            return fail (error, "an element of \"mappers\" is not a pid");
          so->mappers[k] = (gint32) json_node_get_int (e);
        }
    }
  return TRUE;
}

static gboolean
parse_snapshot (JsonObject *o, MpTraceRecord *rec, GError **error)
{
  g_autoptr(MpMonitorSnapshot) snap = _mp_monitor_snapshot_new (rec->t_ns, FALSE);
  JsonArray *procs, *objects;

  if (!get_bool (o, "full", &snap->full, error) ||
      !get_array (o, "processes", MP_SNAP_MAX_PROCESSES, &procs, error) ||
      !get_array (o, "objects", MP_SNAP_MAX_OBJECTS, &objects, error))
    return FALSE;
  for (guint i = 0; procs != NULL && i < json_array_get_length (procs); i++)
    {
      MpSnapProcess p = { 0 };
      JsonObject *po = element_object (procs, i, "processes", error);

      if (po == NULL || !parse_process (po, &p, error))
        return FALSE;
      g_array_append_val (snap->processes, p);
    }
  for (guint i = 0; objects != NULL && i < json_array_get_length (objects); i++)
    {
      MpSnapObject so = { 0 };
      JsonObject *oo = element_object (objects, i, "objects", error);

      if (oo == NULL || !parse_object (oo, &so, error))
        return FALSE;
      g_array_append_val (snap->objects, so);
    }
  rec->snapshot = g_steal_pointer (&snap);
  return TRUE;
}

static gboolean
event_type_from_string (const char *str, guint32 *type)
{
  return _mp_event_type_from_string (str, type);
}

static gboolean
parse_record_object (JsonObject *o, MpTraceRecord *rec, GError **error)
{
  const char *r;
  gint64 v;

  if (!get_string (o, "r", TRUE, 16, &r, error))
    return FALSE;
  if (!g_str_equal (r, "event") && !g_str_equal (r, "lost") && !g_str_equal (r, "snapshot") &&
      !g_str_equal (r, "end"))
    return fail (error, "unknown record type \"%s\"", r);
  if (!get_int (o, "t", TRUE, 0, G_MAXINT64, &v, error))
    return FALSE;
  rec->t_ns = (guint64) v;

  if (g_str_equal (r, "event"))
    {
      rec->type = MP_TRACE_RECORD_EVENT;
      rec->event.timestamp_ns = rec->t_ns;
      if (!get_int (o, "pid", TRUE, G_MININT32, G_MAXINT32, &v, error))
        return FALSE;
      rec->event.pid = (gint32) v;
      if (!get_enum (o, "type", event_type_from_string, &rec->event.type, error))
        return FALSE;
      v = 0;
      if (!get_int (o, "object", FALSE, G_MININT64, G_MAXINT64, &v, error))
        return FALSE;
      rec->event.object = (guint64) v;
      if (!get_int (o, "a", FALSE, G_MININT64, G_MAXINT64, &rec->event.a, error) ||
          !get_int (o, "b", FALSE, G_MININT64, G_MAXINT64, &rec->event.b, error))
        return FALSE;
      return TRUE;
    }
  if (g_str_equal (r, "lost"))
    {
      rec->type = MP_TRACE_RECORD_LOST;
      if (!get_int (o, "n", TRUE, 0, G_MAXINT64, &v, error))
        return FALSE;
      rec->count = (guint64) v;
      return TRUE;
    }
  if (g_str_equal (r, "snapshot"))
    {
      rec->type = MP_TRACE_RECORD_SNAPSHOT;
      return parse_snapshot (o, rec, error);
    }
  if (g_str_equal (r, "end"))
    {
      rec->type = MP_TRACE_RECORD_END;
      v = 0;
      if (!get_int (o, "events", FALSE, 0, G_MAXINT64, &v, error))
        return FALSE;
      rec->count = (guint64) v;
      return TRUE;
    }
  return fail (error, "unknown record type \"%s\"", r);
}

static JsonObject *
parse_line_object (JsonParser *parser, const char *line, gsize len, GError **error)
{
  JsonNode *root;
  g_autoptr(GError) local = NULL;

  if (len == 0 || line == NULL)
    {
      fail (error, "an empty line");
      return NULL;
    }
  if (!check_syntax (line, len, error))
    return NULL;
  if (!json_parser_load_from_data (parser, line, (gssize) len, &local))
    {
      fail (error, "not valid JSON (%s)", local ? local->message : "unreadable");
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, "not a JSON object");
      return NULL;
    }
  return json_node_get_object (root);
}

gboolean
_mp_trace_parse_record (const char *line, gsize len, MpTraceRecord *record, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *o;

  memset (record, 0, sizeof *record);
  if ((o = parse_line_object (parser, line, len, error)) == NULL)
    return FALSE;
  if (!parse_record_object (o, record, error))
    {
      _mp_trace_record_clear (record);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_header (JsonParser *parser, const char *line, gsize len, MpTraceHeader *h, GError **error)
{
  g_autoptr(GError) local = NULL;
  JsonObject *o = parse_line_object (parser, line, len, &local);
  const char *r, *format, *program, *source;
  gint64 v;

  if (o == NULL)
    return fail (error, "not a libmp recording (the first line is %s)", local->message);
  if (!get_string (o, "r", TRUE, 16, &r, error) || !g_str_equal (r, "header") ||
      !get_string (o, "format", TRUE, 32, &format, error) || !g_str_equal (format, "libmp-trace"))
    {
      g_clear_error (error);
      return fail (error, "not a libmp recording (no libmp-trace header line)");
    }
  if (!get_int (o, "version", TRUE, 0, G_MAXINT32, &v, error))
    return FALSE;
  if (v != MP_TRACE_FILE_VERSION)
    return fail (error, "recording format version %" G_GINT64_FORMAT " is not supported (this "
                 "libmp reads version %d)", v, MP_TRACE_FILE_VERSION);
  h->version = (guint) v;
  if (!get_string (o, "program", TRUE, 255, &program, error) ||
      !get_string (o, "source", FALSE, 16, &source, error))
    return FALSE;
  h->program = g_strdup (program);
  _mp_monitor_copy_name (h->program, h->program, strlen (h->program) + 1);
  h->source = g_strdup (source ? source : "pid");
  v = 0;
  if (!get_int (o, "root_pid", FALSE, 0, G_MAXINT32, &v, error))
    return FALSE;
  h->root_pid = (gint32) v;
  v = 0;
  if (!get_int (o, "start_realtime_ns", FALSE, 0, G_MAXINT64, &v, error))
    return FALSE;
  h->start_realtime_ns = (guint64) v;
  v = 0;
  if (!get_int (o, "start_monotonic_ns", FALSE, 0, G_MAXINT64, &v, error))
    return FALSE;
  h->start_monotonic_ns = (guint64) v;
  v = MP_TRACE_NORMAL;
  if (!get_int (o, "trace_level", FALSE, MP_TRACE_OFF, MP_TRACE_VERBOSE, &v, error))
    return FALSE;
  h->trace_level = (guint32) v;
  return TRUE;
}

/* ---- reading lines ----------------------------------------------------------------------- */

struct _MpTraceFileReader
{
  char          *path;
  int            fd;             /* -1 for in-memory data */
  const guint8  *data;
  gsize          data_len;
  gsize          data_pos;

  guint8        *chunk;          /* file input buffer */
  gsize          chunk_len;
  gsize          chunk_pos;
  gboolean       eof;

  GByteArray    *line;
  guint64        line_no;
  gboolean       seen_end;
  gboolean       complete;
  gboolean       validated_complete;
  JsonParser    *parser;
  MpTraceHeader  header;
};

#define CHUNK (64 * 1024)

static gboolean
reader_error (MpTraceFileReader *r, GError **error, GError *cause)
{
  g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "%s:%" G_GUINT64_FORMAT ": %s",
               r->path, r->line_no, cause->message);
  g_error_free (cause);
  return FALSE;
}

/* The next line without its newline into r->line; FALSE at the end of input or on error. */
static gboolean
read_line (MpTraceFileReader *r, gboolean *got, GError **error)
{
  g_byte_array_set_size (r->line, 0);
  *got = FALSE;

  for (;;)
    {
      const guint8 *buf, *nl;
      gsize avail;

      if (r->fd < 0)
        {
          buf = r->data + r->data_pos;
          avail = r->data_len - r->data_pos;
        }
      else
        {
          if (r->chunk_pos == r->chunk_len && !r->eof)
            {
              ssize_t n;

              do
                n = read (r->fd, r->chunk, CHUNK);
              while (n < 0 && errno == EINTR);
              if (n < 0)
                {
                  int errsv = errno;
                  g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot read %s: %s", r->path,
                               g_strerror (errsv));
                  return FALSE;
                }
              r->chunk_len = (gsize) n;
              r->chunk_pos = 0;
              r->eof = n == 0;
            }
          buf = r->chunk + r->chunk_pos;
          avail = r->chunk_len - r->chunk_pos;
        }

      if (avail == 0)
        {
          if (r->line->len > 0)
            {
              r->line_no++;
              g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                           "%s:%" G_GUINT64_FORMAT ": the recording is truncated (its last line "
                           "is incomplete)", r->path, r->line_no);
              return FALSE;
            }
          return TRUE;   /* end of input */
        }

      nl = memchr (buf, '\n', avail);
      {
        gsize take = nl ? (gsize) (nl - buf) : avail;

        if (r->line->len + take > MP_TRACE_MAX_LINE)
          {
            g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                         "%s:%" G_GUINT64_FORMAT ": line longer than %u bytes", r->path,
                         r->line_no + 1, MP_TRACE_MAX_LINE);
            return FALSE;
          }
        g_byte_array_append (r->line, buf, (guint) take);
        if (r->fd < 0)
          r->data_pos += take + (nl ? 1 : 0);
        else
          r->chunk_pos += take + (nl ? 1 : 0);
        if (nl)
          {
            r->line_no++;
            if (r->line->len > 0 && r->line->data[r->line->len - 1] == '\r')
              g_byte_array_set_size (r->line, r->line->len - 1);
            *got = TRUE;
            return TRUE;
          }
      }
    }
}

static gboolean
reader_start (MpTraceFileReader *r, GError **error)
{
  gboolean got;
  GError *local = NULL;

  r->line_no = 0;
  r->seen_end = FALSE;
  r->complete = FALSE;
  r->data_pos = 0;
  r->chunk_pos = r->chunk_len = 0;
  r->eof = FALSE;
  if (!read_line (r, &got, error))
    return FALSE;
  if (!got)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "%s: the recording is empty", r->path);
      return FALSE;
    }
  _mp_trace_header_clear (&r->header);
  if (!parse_header (r->parser, (const char *) r->line->data, r->line->len, &r->header, &local))
    return reader_error (r, error, local);
  return TRUE;
}

static MpTraceFileReader *
reader_new (const char *path)
{
  MpTraceFileReader *r = g_new0 (MpTraceFileReader, 1);

  r->path = g_strdup (path);
  r->fd = -1;
  r->line = g_byte_array_new ();
  r->parser = json_parser_new_immutable ();
  return r;
}

MpTraceFileReader *
_mp_trace_file_reader_new_for_path (const char *path, GError **error)
{
  g_autoptr(MpTraceFileReader) r = reader_new (path);
  struct stat st;

  r->fd = open (path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, errsv == ENOENT ? MP_ERROR_NOT_FOUND : MP_ERROR_IO,
                   "Cannot open the recording %s: %s", path, g_strerror (errsv));
      return NULL;
    }
  if (fstat (r->fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "%s is not a regular file", path);
      return NULL;
    }
  r->chunk = g_malloc (CHUNK);
  if (!reader_start (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

MpTraceFileReader *
_mp_trace_file_reader_new_for_data (const guint8 *data, gsize len, GError **error)
{
  g_autoptr(MpTraceFileReader) r = reader_new ("(data)");

  r->data = data;
  r->data_len = len;
  if (!reader_start (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

const MpTraceHeader *
_mp_trace_file_reader_get_header (MpTraceFileReader *r)
{
  return &r->header;
}

gboolean
_mp_trace_file_reader_next (MpTraceFileReader *r, MpTraceRecord *record, GError **error)
{
  gboolean got;
  GError *local = NULL;
  JsonObject *o;

  memset (record, 0, sizeof *record);
  if (!read_line (r, &got, error) || !got)
    return FALSE;
  if (r->seen_end)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "%s:%" G_GUINT64_FORMAT ": data after the end record", r->path, r->line_no);
      return FALSE;
    }
  if ((o = parse_line_object (r->parser, (const char *) r->line->data, r->line->len, &local)) == NULL ||
      !parse_record_object (o, record, &local))
    {
      _mp_trace_record_clear (record);
      return reader_error (r, error, local);
    }
  if (record->type == MP_TRACE_RECORD_END)
    r->seen_end = r->complete = TRUE;
  return TRUE;
}

gboolean
_mp_trace_file_reader_rewind (MpTraceFileReader *r, GError **error)
{
  if (r->fd >= 0 && lseek (r->fd, 0, SEEK_SET) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot rewind %s: %s", r->path,
                   g_strerror (errsv));
      return FALSE;
    }
  return reader_start (r, error);
}

gboolean
_mp_trace_file_reader_validate (MpTraceFileReader *r, GError **error)
{
  MpTraceRecord rec;
  GError *local = NULL;

  while (_mp_trace_file_reader_next (r, &rec, &local))
    _mp_trace_record_clear (&rec);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  r->validated_complete = r->complete;
  return _mp_trace_file_reader_rewind (r, error);
}

gboolean
_mp_trace_file_reader_is_complete (MpTraceFileReader *r)
{
  return r->complete || r->validated_complete;
}

void
_mp_trace_file_reader_free (MpTraceFileReader *r)
{
  if (r == NULL)
    return;
  if (r->fd >= 0)
    close (r->fd);
  g_free (r->chunk);
  g_byte_array_unref (r->line);
  g_object_unref (r->parser);
  _mp_trace_header_clear (&r->header);
  g_free (r->path);
  g_free (r);
}
