/* mp-trace-file-private.h: writing and reading recordings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mp-monitor-private.h"
#include "mp-trace-file.h"

G_BEGIN_DECLS

/* A reader refuses longer lines: a snapshot of a full arena (512 processes, 2048 objects)
 * takes about 1.5 MiB. */
#define MP_TRACE_MAX_LINE  (16u << 20)
/* JSON nesting a reader accepts: a recording needs 4. */
#define MP_TRACE_MAX_DEPTH 16

typedef struct
{
  guint    version;
  char    *program;
  char    *source;               /* "self", "pid", "launch" */
  gint32   root_pid;
  guint32  trace_level;
  guint64  start_realtime_ns;
  guint64  start_monotonic_ns;
} MpTraceHeader;

void _mp_trace_header_clear (MpTraceHeader *header);

typedef enum
{
  MP_TRACE_RECORD_EVENT,
  MP_TRACE_RECORD_LOST,
  MP_TRACE_RECORD_SNAPSHOT,
  MP_TRACE_RECORD_END,
} MpTraceRecordType;

typedef struct
{
  MpTraceRecordType  type;
  guint64            t_ns;
  MpTraceEvent            event;      /* EVENT */
  guint64            count;      /* LOST: events lost; END: events recorded */
  MpMonitorSnapshot *snapshot;   /* SNAPSHOT, owned */
} MpTraceRecord;

void _mp_trace_record_clear (MpTraceRecord *record);

typedef struct _MpTraceFileWriter MpTraceFileWriter;

MpTraceFileWriter *_mp_trace_file_writer_new      (const char              *path,
                                          const MpTraceHeader     *header,
                                          GError                 **error);
gboolean       _mp_trace_file_writer_events   (MpTraceFileWriter           *writer,
                                          const MpTraceEvent           *events,
                                          guint                    n_events,
                                          GError                 **error);
gboolean       _mp_trace_file_writer_lost     (MpTraceFileWriter           *writer,
                                          guint64                  t_ns,
                                          guint64                  n_lost,
                                          GError                 **error);
gboolean       _mp_trace_file_writer_snapshot (MpTraceFileWriter           *writer,
                                          const MpMonitorSnapshot *snapshot,
                                          GError                 **error);
gboolean       _mp_trace_file_writer_flush    (MpTraceFileWriter           *writer,
                                          GError                 **error);
/* Writes the end record and closes; frees @writer in every case. */
gboolean       _mp_trace_file_writer_close    (MpTraceFileWriter           *writer,
                                          guint64                  t_ns,
                                          GError                 **error);

typedef struct _MpTraceFileReader MpTraceFileReader;

MpTraceFileReader *_mp_trace_file_reader_new_for_path (const char      *path,
                                              GError         **error);
/* Reads @data in place; it must outlive the reader. */
MpTraceFileReader *_mp_trace_file_reader_new_for_data (const guint8    *data,
                                              gsize            len,
                                              GError         **error);
const MpTraceHeader *_mp_trace_file_reader_get_header (MpTraceFileReader *reader);
/* The next record; FALSE at the end of the input (@error unset) or on an error. */
gboolean       _mp_trace_file_reader_next     (MpTraceFileReader   *reader,
                                          MpTraceRecord   *record,
                                          GError         **error);
gboolean       _mp_trace_file_reader_rewind   (MpTraceFileReader   *reader,
                                          GError         **error);
/* Reads every record to check the whole input, then rewinds. */
gboolean       _mp_trace_file_reader_validate (MpTraceFileReader   *reader,
                                          GError         **error);
gboolean       _mp_trace_file_reader_is_complete (MpTraceFileReader *reader);
void           _mp_trace_file_reader_free     (MpTraceFileReader   *reader);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpTraceFileReader, _mp_trace_file_reader_free)

/* Appends @str as a JSON string literal, escaping quotes, backslashes and control bytes. */
void           _mp_json_append_string    (GString         *s,
                                          const char      *str);

/* One line of JSON into a record, for the fuzz target. */
gboolean       _mp_trace_parse_record    (const char      *line,
                                          gsize            len,
                                          MpTraceRecord   *record,
                                          GError         **error);

G_END_DECLS
