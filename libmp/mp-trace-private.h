/* mp-trace-private.h: emitting events into the own ring, reading rings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "mp-arena-private.h"
#include "mp-trace.h"

G_BEGIN_DECLS

/* The process-wide level. Read with one relaxed load on every hot path. */
extern int _mp_trace_level;

#ifdef MP_ENABLE_TRACING
# define _mp_trace_enabled(level) \
  G_UNLIKELY (__atomic_load_n (&_mp_trace_level, __ATOMIC_RELAXED) >= (int) (level))
#else
# define _mp_trace_enabled(level) FALSE
#endif

/* Emits an event if the level allows it; costs a load and a branch otherwise. */
#define _mp_trace(level, type, object, a, b) \
  G_STMT_START { \
    if (_mp_trace_enabled (level)) \
      _mp_trace_emit ((type), (object), (a), (b)); \
  } G_STMT_END

void _mp_trace_emit (MpEventType type,
                     guint64     object,
                     gint64      a,
                     gint64      b);
void _mp_trace_emit_at (guint64     timestamp_ns,
                        MpEventType type,
                        guint64     object,
                        gint64      a,
                        gint64      b);
void _mp_trace_emit_to_slot (int         slot,
                             MpEventType type,
                             guint64     object,
                             gint64      a,
                             gint64      b);
void _mp_trace_init_from_env (void);
void _mp_trace_reset_pid_cache (void);

/* A reader's cursor over one ring. Any number of readers may read one ring. */
typedef struct
{
  const MpArenaRingHeader *ring;
  guint32                  capacity;
  guint64                  cursor;
  guint64                  stalled_at;
  guint                    stalled_reads;
} MpRingReader;

void  _mp_ring_reader_init (MpRingReader            *reader,
                            const MpArena           *arena,
                            int                      slot,
                            gboolean                 from_start);
guint _mp_ring_reader_read (MpRingReader            *reader,
                            MpTraceEvent                 *events,
                            guint                    max_events,
                            guint64                 *lost);

G_END_DECLS
