/* mp-object-private.h: the stats area of each kind of arena object
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Part of the arena's wire format (see mp-arena-private.h): each layout fills at most
 * MP_ARENA_STATS_LEN bytes of an MpArenaObject, has fixed-width fields and is asserted. Writers
 * update counters with relaxed atomics (__atomic_*_n (..., __ATOMIC_RELAXED)); monitors read
 * them the same way and accept that a snapshot of several fields is not atomic as a whole.
 */

#pragma once

#include "mp-arena-private.h"
#include "mp-trace.h"

G_BEGIN_DECLS

/* LOCK, RLOCK, SEMAPHORE, BOUNDED_SEMAPHORE, EVENT, CONDITION, BARRIER. The futex words that
 * implement them live here too, so every process of the tree reaches them through the arena. */
typedef struct
{
  uint32_t word;            /* the futex word; its meaning depends on the kind (mp-sync.c) */
  uint32_t nwaiters;        /* blocked in acquire/wait right now */
  int32_t  holder_pid;      /* LOCK, RLOCK: the holder, 0 when free */
  int32_t  holder_tid;
  uint32_t count;           /* RLOCK: recursion; BARRIER: arrived this cycle */
  uint32_t limit;           /* BOUNDED_SEMAPHORE: maximum value; BARRIER: parties */
  uint32_t generation;      /* BARRIER: cycle; CONDITION: notify sequence */
  uint32_t flags;           /* kind-specific state bits */
  uint64_t acquisitions;    /* successful acquires (or waits that returned) */
  uint64_t contended;       /* of which had to wait */
  uint64_t total_wait_ns;
  uint64_t max_wait_ns;
  uint64_t owner_died;      /* times a waiter recovered it from a dead holder */
  int32_t  last_waiter_pid;
  uint32_t aux;             /* kind-specific */
  uint64_t aux2[10];        /* kind-specific (e.g. the condition's semaphores) */
} MpSyncStats;

/* QUEUE, JOINABLE_QUEUE, SIMPLE_QUEUE */
typedef struct
{
  uint64_t depth;
  uint64_t max_depth;
  uint64_t puts;
  uint64_t gets;
  uint64_t bytes_put;
  uint64_t bytes_got;
  uint64_t maxsize;         /* 0 = unbounded */
  uint64_t capacity_bytes;
  uint64_t unfinished_tasks;
  uint64_t blocked_puts;    /* puts that had to wait for room */
  uint64_t blocked_gets;    /* gets that had to wait for an item */
  uint64_t reserved[10];
} MpQueueStats;

/* CONNECTION, LISTENER */
typedef struct
{
  uint64_t messages_sent;
  uint64_t messages_received;
  uint64_t bytes_sent;
  uint64_t bytes_received;
  int32_t  peer_pid;
  uint32_t flags;
  uint64_t accepted;        /* LISTENER */
  uint64_t auth_failures;
  uint64_t reserved[14];
} MpConnectionStats;

/* POOL */
#define MP_POOL_STATS_WORKERS 8
typedef struct
{
  uint32_t workers;
  uint32_t workers_alive;
  uint64_t submitted;
  uint64_t queued;
  uint64_t running;
  uint64_t completed;
  uint64_t failed;
  uint64_t replaced_workers;
  uint64_t total_task_ns;
  int32_t  worker_pid[MP_POOL_STATS_WORKERS];       /* the first workers; the events have all */
  uint32_t worker_task[MP_POOL_STATS_WORKERS];      /* task id running there, 0 when idle */
  uint64_t reserved[1];
} MpPoolStats;

/* SHARED_MEMORY, SHAREABLE_LIST, VALUE, ARRAY */
#define MP_SHM_STATS_ATTACHED 8
typedef struct
{
  uint64_t size;
  char     name[56];                                  /* without the leading '/' */
  int32_t  attached_pid[MP_SHM_STATS_ATTACHED];       /* processes that have it mapped */
  uint32_t n_attached;
  uint32_t flags;                                     /* MP_SHM_FLAG_* */
  uint64_t reserved[5];
} MpShmStats;

#define MP_SHM_FLAG_UNLINKED (1u << 0)
#define MP_SHM_FLAG_TRACKED  (1u << 1)

G_STATIC_ASSERT (sizeof (MpSyncStats) <= MP_ARENA_STATS_LEN);
G_STATIC_ASSERT (sizeof (MpQueueStats) <= MP_ARENA_STATS_LEN);
G_STATIC_ASSERT (sizeof (MpConnectionStats) <= MP_ARENA_STATS_LEN);
G_STATIC_ASSERT (sizeof (MpPoolStats) <= MP_ARENA_STATS_LEN);
G_STATIC_ASSERT (sizeof (MpShmStats) <= MP_ARENA_STATS_LEN);

#define MP_OBJECT_STATS(object, type) ((type *) (void *) (object)->stats)

G_END_DECLS
