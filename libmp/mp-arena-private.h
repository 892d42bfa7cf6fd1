/* mp-arena-private.h: the shared-memory arena of a program tree
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The layout below is a wire format: other processes (children, monitors of other programs,
 * possibly built from another libmp version) read it. Every field has a fixed width, every
 * record is 8-byte aligned and its size is asserted, and everything is addressed by offset
 * from the start of the mapping, since each process maps it at a different address. Change
 * MP_ARENA_VERSION whenever any of it changes.
 *
 * Concurrency: slots and rings are shared by every process of the tree. Fields that more
 * than one process writes are only touched with the __atomic builtins; the pairs of
 * store-release / load-acquire are named where they happen.
 *
 * This file and mp-arena.c use POSIX and C11-style atomics only (no GLib allocation), so they
 * are safe right after fork().
 */

#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

#define MP_ARENA_MAGIC        "LIBMPARN"
#define MP_ARENA_VERSION      1
#define MP_ARENA_MEMFD_NAME   "libmp-arena"
#define MP_ARENA_PROCS        512
#define MP_ARENA_OBJECTS      8192
#define MP_ARENA_RING_EVENTS  4096   /* default; power of two; LIBMP_RING_EVENTS overrides */
#define MP_ARENA_NAME_LEN     64
#define MP_ARENA_LABEL_LEN    48
#define MP_ARENA_STATS_LEN    168

typedef enum
{
  MP_PROC_FREE = 0,      /* never used or reclaimed */
  MP_PROC_RESERVED = 1,  /* claimed by a parent that is about to start it */
  MP_PROC_RUNNING = 2,   /* started */
  MP_PROC_EXITING = 3,   /* the process returned from its target; exit_code is its own */
  MP_PROC_EXITED = 4,    /* reaped; exit_code is final (negative = signal) */
} MpProcState;

typedef enum
{
  MP_ROLE_MAIN = 0,
  MP_ROLE_PROCESS = 1,
  MP_ROLE_WORKER = 2,
  MP_ROLE_MANAGER = 3,
  MP_ROLE_FORKSERVER = 4,
  MP_ROLE_TRACKER = 5,
} MpProcRole;

typedef enum
{
  MP_START_FORK = 1,
  MP_START_SPAWN = 2,
  MP_START_FORKSERVER = 3,
} MpStartMethodId;

typedef struct
{
  char     magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t total_size;
  int32_t  root_pid;
  uint32_t trace_level;            /* the root's level, for monitors */
  uint64_t start_realtime_ns;
  uint64_t start_monotonic_ns;
  char     program[MP_ARENA_NAME_LEN];
  uint64_t procs_offset;
  uint32_t procs_capacity;
  uint32_t proc_size;
  uint64_t objects_offset;
  uint32_t objects_capacity;
  uint32_t object_size;
  uint64_t rings_offset;
  uint32_t ring_capacity;          /* events per ring, a power of two */
  uint32_t ring_size;              /* bytes per ring, header included */
  uint64_t next_object_id;         /* atomic */
  uint32_t procs_high_water;       /* atomic: slots ever used, for readers */
  uint32_t objects_high_water;     /* atomic */
  uint8_t  reserved[80];
} MpArenaHeader;

typedef struct
{
  uint32_t state;                  /* MpProcState, atomic */
  int32_t  pid;
  int32_t  ppid;                   /* the logical parent (the requester, for forkserver) */
  int32_t  exit_code;
  uint32_t role;                   /* MpProcRole */
  uint32_t start_method;           /* MpStartMethodId, 0 for the main process */
  uint32_t generation;             /* bumped when a slot is reused */
  uint32_t flags;                  /* MP_PROC_FLAG_* */
  uint64_t create_ns;              /* CLOCK_MONOTONIC */
  uint64_t start_ns;
  uint64_t exit_ns;
  uint64_t blocked_on;             /* atomic: id of the object (lock…) the process waits on, 0 when
                                    * none; written by the process itself through
                                    * _mp_arena_proc_set_blocked_on() around blocking waits, read
                                    * by monitors to build the wait-for graph */
  char     name[MP_ARENA_NAME_LEN];
} MpArenaProc;

#define MP_PROC_FLAG_DAEMON (1u << 0)

typedef struct
{
  uint32_t state;                  /* 0 free, 1 live, 2 dead (kept for monitors), atomic */
  uint32_t kind;
  uint64_t id;
  int32_t  creator_pid;
  uint32_t flags;
  uint64_t create_ns;
  char     label[MP_ARENA_LABEL_LEN];
  uint64_t stats[MP_ARENA_STATS_LEN / 8];  /* layout depends on kind: mp-object-private.h */
  uint64_t refs;                   /* atomic: handles open on it across the tree */
} MpArenaObject;

typedef struct
{
  uint64_t head;                   /* atomic: events ever reserved */
  uint64_t reserved[7];
} MpArenaRingHeader;

typedef struct
{
  uint64_t seq;                    /* position + 1 once published, 0 while written */
  uint64_t timestamp_ns;
  int32_t  pid;
  uint32_t type;
  uint64_t object;
  int64_t  a;
  int64_t  b;
} MpArenaEventRecord;

G_STATIC_ASSERT (sizeof (MpArenaHeader) == 256);
G_STATIC_ASSERT (sizeof (MpArenaProc) == 128);
G_STATIC_ASSERT (sizeof (MpArenaObject) == 256);
G_STATIC_ASSERT (sizeof (MpArenaRingHeader) == 64);
G_STATIC_ASSERT (sizeof (MpArenaEventRecord) == 48);

/* A mapped arena: ours (read-write) or another program's (read-only). */
typedef struct
{
  guint8   *base;
  gsize     size;
  int       fd;
  gboolean  writable;
} MpArena;

/* The process's own arena; NULL before _mp_arena_ensure(). */
extern MpArena *_mp_arena;
/* This process's slot in the process table, -1 if it has none. */
extern int _mp_arena_self_slot;

MpArena       *_mp_arena_ensure        (void);
gboolean       _mp_arena_adopt_fd      (int          fd,
                                        int          slot,
                                        GError     **error);
void           _mp_arena_forget_fd     (void);
MpArena       *_mp_arena_map           (int          fd,
                                        gboolean     writable,
                                        GError     **error);
gboolean       _mp_arena_validate      (const guint8 *base,
                                        gsize         size,
                                        GError      **error);
void           _mp_arena_unmap         (MpArena     *arena);

static inline MpArenaHeader *
_mp_arena_header (const MpArena *arena)
{
  return (MpArenaHeader *) arena->base;
}

MpArenaProc   *_mp_arena_proc          (const MpArena *arena,
                                        int            slot);
MpArenaObject *_mp_arena_object        (const MpArena *arena,
                                        int            index);
MpArenaRingHeader *_mp_arena_ring      (const MpArena *arena,
                                        int            slot);

int            _mp_arena_proc_claim    (const char  *name,
                                        MpProcRole   role,
                                        MpStartMethodId method,
                                        guint32      flags);
void           _mp_arena_proc_set_running (int       slot,
                                           pid_t     pid,
                                           pid_t     ppid);
void           _mp_arena_proc_set_exited  (int       slot,
                                           MpProcState state,
                                           int       exit_code);
void           _mp_arena_proc_abandon  (int          slot);
void           _mp_arena_proc_set_blocked_on (guint64 object_id);

MpArenaObject *_mp_arena_object_new    (guint32      kind,
                                        const char  *label,
                                        guint64     *out_id);
void           _mp_arena_object_retire (MpArenaObject *object);

guint64        _mp_monotonic_ns        (void);

G_END_DECLS
