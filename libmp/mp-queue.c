/* mp-queue.c: Queue, JoinableQueue and SimpleQueue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A queue is a memfd shared by every process that has the queue: a QueueHeader, then a byte
 * ring of `capacity` bytes holding records (an 8-byte RecordHeader, the payload, padding to 8).
 * `head` and `tail` are byte positions that only grow; position % capacity is the offset. A
 * record never wraps: when it does not fit before the end, a WRAP marker fills the rest and
 * the record starts at offset 0.
 *
 * Two locks, one per side, each a futex word plus its holder's pid: producers serialize on
 * put_lock, which guards tail and n_put (records ever put); consumers on get_lock, which
 * guards head and n_got. A producer and a consumer never wait for each other's lock, and each
 * side's words live on its own cache line, so in the common one-producer, one-consumer case
 * each lock line stays with its process. A side reads the other side's index only to learn
 * whether there is an item (n_put) or room (head, n_got), and caches what it read in the
 * handle (seen_*): the indexes only grow, so a stale value only makes it look again.
 *
 * Ordering: a put copies the record in, then publishes tail and n_put (release); a get that
 * loads n_put (acquire) and finds it above n_got sees the whole record. A get copies the
 * record out, then publishes head and n_got (release); a put that loads head (acquire) may
 * reuse the space. A process killed inside either critical section leaves the ring as it
 * was: the next locker of that side notices the dead holder (it rechecks every RECHECK_NS
 * while waiting) and takes over. qsize is n_put - n_got (n_got loaded first, so never
 * negative). A JoinableQueue's unfinished count is incremented before the item is published,
 * so a task_done() can never see the item before its count.
 *
 * Waiting: `not_empty` and `not_full` are sequence words; a sleeper raises a flag
 * (get_waiters, put_waiters) on a line that is only written around sleeps, reads the
 * sequence, then looks at the other side's index once more before sleeping; the other side
 * publishes its index, fences, and if it sees the flag lowers it, bumps the sequence and wakes
 * every sleeper (one of the two sees the other). One wake-up per sleep, not one per item that
 * comes while the sleeper is waking up: a futex wake on shared memory costs a put several
 * times over. Every sleeper is woken because the flag is gone once the first wake is done; a
 * woken getter or putter that finds nothing for it raises the flag again. A getter spins
 * briefly before sleeping, which saves the wake-up round trip when items come fast (two
 * processes on two cores), and a producer held up by a full queue waits for a few slots rather
 * than one, so that it does not chase the consumer item by item.
 *
 * Descriptors cannot live in shared memory: a put with fds sends them over the queue's
 * socketpair (every process holds both ends) while it holds put_lock, before it publishes the
 * record, and the get that takes the record receives them while it holds get_lock, so the
 * socket's order is the ring's order.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp-cmsg-private.h"
#include "mp-error.h"
#include "mp-log-private.h"
#include "mp-queue.h"
#include "mp-sync-private.h"
#include "mp-trace-private.h"

#define QUEUE_MAGIC   0x5150424du   /* "MBPQ" */
#define QUEUE_VERSION 2
#define RECHECK_NS    (G_GINT64_CONSTANT (200) * 1000 * 1000)
#define SPIN_LIMIT    4000
#define PUT_HYSTERESIS 32
/* No deadline computed yet (real ones are -1 or a monotonic time in ns). */
#define DEADLINE_UNSET G_MININT64
#define LINE          64

/* A record's type; RECORD_BASIC carries the GVariant type character in its high byte. */
enum { RECORD_VARIANT = 1, RECORD_BYTES = 2, RECORD_BASIC = 3, RECORD_WRAP = 0xffff };

typedef struct
{
  uint32_t word;            /* 0 free, 1 held, 2 held and contended */
  int32_t  holder;          /* the holder's pid, for recovery */
} QueueLock;

typedef struct
{
  /* Fixed at creation. */
  uint32_t  magic;
  uint32_t  version;
  uint64_t  capacity;
  int64_t   maxsize;        /* 0 = unbounded */
  uint32_t  kind;
  uint32_t  reserved0;
  uint8_t   pad0[LINE - 32];
  /* The producers' side, under put_lock. */
  QueueLock put_lock;
  uint32_t  not_empty;      /* bumped by a put that sees a waiting getter */
  uint32_t  reserved1;
  uint64_t  tail;
  uint64_t  n_put;          /* records ever put */
  uint8_t   pad1[LINE - 32];
  /* The consumers' side, under get_lock. */
  QueueLock get_lock;
  uint32_t  not_full;       /* bumped by a get that sees a waiting putter */
  uint32_t  reserved2;
  uint64_t  head;
  uint64_t  n_got;          /* records ever taken */
  uint8_t   pad2[LINE - 32];
  /* Raised by a sleeper, lowered by the waker: written only around sleeps. */
  uint32_t  get_waiters;
  uint32_t  put_waiters;
  uint32_t  join_waiters;
  uint32_t  reserved3;
  uint8_t   pad3[LINE - 16];
  /* JoinableQueue. */
  uint64_t  unfinished;
  uint32_t  all_done;       /* bumped when unfinished reaches 0 and someone joins */
  uint32_t  reserved4;
  uint8_t   pad4[LINE - 16];
} QueueHeader;

typedef struct
{
  uint32_t length;
  uint16_t type;
  uint16_t n_fds;
} RecordHeader;

G_STATIC_ASSERT (sizeof (QueueHeader) == 5 * LINE);
G_STATIC_ASSERT (G_STRUCT_OFFSET (QueueHeader, put_lock) == LINE);
G_STATIC_ASSERT (G_STRUCT_OFFSET (QueueHeader, get_lock) == 2 * LINE);
G_STATIC_ASSERT (sizeof (RecordHeader) == 8);

struct _MpQueue
{
  MpSync        sync;       /* the arena entry (its stats area is an MpQueueStats) */
  MpQueueStats *stats;
  int           memfd;
  int           sock[2];    /* fds travel from sock[0] to sock[1] */
  QueueHeader  *h;
  guint8       *data;
  gsize         map_size;
  gboolean      closed;     /* this process closed it (Python's close()) */
  /* The other side's indexes as last read (relaxed atomics: threads may share a handle;
   * any value once read is a lower bound of the real one). */
  guint64       seen_head;
  guint64       seen_n_got;
  guint64       seen_n_put;
};

static inline gsize
pad8 (gsize n)
{
  return (n + 7) & ~(gsize) 7;
}

/* ---- the side locks ---------------------------------------------------------------------- */

static void
lock_take (MpQueue *self, QueueLock *l)
{
  uint32_t c = 0;

  if (!__atomic_compare_exchange_n (&l->word, &c, 1, FALSE, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    {
      /* The holder is usually a put or get of another process of the same side, done
       * within a few hundred nanoseconds: wait for it in user space rather than sleep in the
       * kernel and make its unlock pay a wake-up. */
      int spins = _mp_sync_spin_count ();

      for (int i = 0; i < spins; i++)
        {
          _mp_cpu_relax ();
          c = __atomic_load_n (&l->word, __ATOMIC_RELAXED);
          if (c == 0 &&
              __atomic_compare_exchange_n (&l->word, &c, 1, FALSE, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED))
            {
              _mp_sync_spin_result (TRUE);
              goto acquired;
            }
        }
      if (spins > 0)
        _mp_sync_spin_result (FALSE);
      if (c != 2)
        c = __atomic_exchange_n (&l->word, 2, __ATOMIC_ACQUIRE);
      while (c != 0)
        {
          if (_mp_futex_wait (&l->word, 2, RECHECK_NS) == ETIMEDOUT)
            {
              pid_t holder = __atomic_load_n (&l->holder, __ATOMIC_RELAXED);

              if (holder != 0 && _mp_pid_is_dead (holder) &&
                  __atomic_compare_exchange_n (&l->holder, &holder, _mp_sync_self_pid (),
                                               FALSE, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                {
                  _mp_subwarning ("queue %" G_GUINT64_FORMAT ": a process (pid %d) died inside "
                                  "it; recovered", self->sync.id, holder);
                  __atomic_store_n (&l->word, 2, __ATOMIC_RELAXED);
                  break;
                }
            }
          c = __atomic_exchange_n (&l->word, 2, __ATOMIC_ACQUIRE);
        }
    }
acquired:
  __atomic_store_n (&l->holder, _mp_sync_self_pid (), __ATOMIC_RELAXED);
}

static void
lock_release (QueueLock *l)
{
  __atomic_store_n (&l->holder, 0, __ATOMIC_RELAXED);
  if (__atomic_exchange_n (&l->word, 0, __ATOMIC_RELEASE) == 2)
    _mp_futex_wake (&l->word, 1);
}

/* ---- what each side needs from the other ---------------------------------------------------- */

static guint64
load_n_put (MpQueue *self)
{
  guint64 v = __atomic_load_n (&self->h->n_put, __ATOMIC_ACQUIRE);

  __atomic_store_n (&self->seen_n_put, v, __ATOMIC_RELAXED);
  return v;
}

/* With get_lock held (or as a hint): is a record there? Reads n_put only when the cached value
 * does not say so already. */
static gboolean
has_item (MpQueue *self)
{
  guint64 n_got = __atomic_load_n (&self->h->n_got, __ATOMIC_RELAXED);

  return __atomic_load_n (&self->seen_n_put, __ATOMIC_RELAXED) > n_got ||
         load_n_put (self) > n_got;
}

/* Bytes the record needs at the current tail, wrap filler included. */
static gsize
space_needed (QueueHeader *h, gsize record)
{
  gsize off = h->tail % h->capacity;
  gsize to_end = h->capacity - off;

  return record <= to_end ? record : to_end + record;
}

static gboolean
room_with (MpQueue *self, gsize record, guint64 head, guint64 n_got)
{
  QueueHeader *h = self->h;
  guint64 n_put = __atomic_load_n (&h->n_put, __ATOMIC_RELAXED);
  guint64 used = __atomic_load_n (&h->tail, __ATOMIC_RELAXED) - head;

  if (h->maxsize > 0 && n_put - n_got >= (guint64) h->maxsize)
    return FALSE;
  /* A head cached by this process may be more than a whole ring behind a tail that other
   * producers moved: that says nothing, and must not wrap around into "room". */
  if (used > h->capacity)
    return FALSE;
  return h->capacity - used >= space_needed (h, record);
}

/* With put_lock held: is there room for a record of this size? Reads the consumers' side only
 * when the cached values say no. */
static gboolean
has_room (MpQueue *self, gsize record)
{
  guint64 head, n_got;

  if (room_with (self, record, __atomic_load_n (&self->seen_head, __ATOMIC_RELAXED),
                 __atomic_load_n (&self->seen_n_got, __ATOMIC_RELAXED)))
    return TRUE;
  /* n_got before head: a get publishes head first, so head is never behind this n_got. */
  n_got = __atomic_load_n (&self->h->n_got, __ATOMIC_ACQUIRE);
  head = __atomic_load_n (&self->h->head, __ATOMIC_ACQUIRE);
  __atomic_store_n (&self->seen_n_got, n_got, __ATOMIC_RELAXED);
  __atomic_store_n (&self->seen_head, head, __ATOMIC_RELAXED);
  return room_with (self, record, head, n_got);
}

/* ---- sleeping and waking -------------------------------------------------------------------- */

typedef enum { WAIT_ITEM, WAIT_ROOM, WAIT_DONE } WaitFor;

static gboolean
wait_ready (MpQueue *self, WaitFor what, gsize record)
{
  switch (what)
    {
    case WAIT_ITEM:
      return load_n_put (self) > __atomic_load_n (&self->h->n_got, __ATOMIC_SEQ_CST);
    case WAIT_ROOM:
      {
        guint64 n_got = __atomic_load_n (&self->h->n_got, __ATOMIC_SEQ_CST);
        return room_with (self, record, __atomic_load_n (&self->h->head, __ATOMIC_SEQ_CST),
                          n_got);
      }
    case WAIT_DONE:
    default:
      return __atomic_load_n (&self->h->unfinished, __ATOMIC_SEQ_CST) == 0;
    }
}

/* Without a lock: sleeps until *seq changes or the deadline passes, unless the awaited state
 * is there once this waiter has raised *sleeping (see NOTES). FALSE when the deadline had
 * passed. */
static gboolean
wait_on (MpQueue *self, uint32_t *seq, uint32_t *sleeping, gint64 deadline, WaitFor what,
         gsize record)
{
  gint64 left = _mp_remaining_ns (deadline);
  uint32_t s;

  if (left == 0)
    return FALSE;
  __atomic_store_n (sleeping, 1, __ATOMIC_SEQ_CST);
  s = __atomic_load_n (seq, __ATOMIC_SEQ_CST);
  if (!wait_ready (self, what, record))
    (void) _mp_futex_wait (seq, s, left);
  return TRUE;
}

/* After publishing: wakes the sleepers, if any, all at once, and lowers the flag, so that a
 * sleeper costs one wake-up however many puts or gets come while it wakes up. */
static void
wake_waiters (uint32_t *seq, uint32_t *sleeping)
{
  __atomic_thread_fence (__ATOMIC_SEQ_CST);
  if (__atomic_load_n (sleeping, __ATOMIC_SEQ_CST) != 0 &&
      __atomic_exchange_n (sleeping, 0, __ATOMIC_SEQ_CST) != 0)
    {
      __atomic_add_fetch (seq, 1, __ATOMIC_SEQ_CST);
      _mp_futex_wake (seq, G_MAXINT);
    }
}

/* ---- construction ------------------------------------------------------------------------ */

static gboolean
map_queue (MpQueue *self, GError **error)
{
  struct stat st;
  void *base;

  if (fstat (self->memfd, &st) < 0 || st.st_size < (off_t) sizeof (QueueHeader))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "Not a libmp queue");
      return FALSE;
    }
  base = mmap (NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->memfd, 0);
  if (base == MAP_FAILED)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot map the queue: %s", g_strerror (errsv));
      return FALSE;
    }
  self->h = base;
  self->data = (guint8 *) base + sizeof (QueueHeader);
  self->map_size = (gsize) st.st_size;
  if (self->h->magic != QUEUE_MAGIC || self->h->version != QUEUE_VERSION ||
      self->h->capacity + sizeof (QueueHeader) != self->map_size || self->h->capacity % 8 != 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "The queue's memory is not valid");
      return FALSE;
    }
  return TRUE;
}

static void
queue_free (MpQueue *self)
{
  if (self->h != NULL)
    munmap (self->h, self->map_size);
  if (self->memfd >= 0)
    close (self->memfd);
  for (int i = 0; i < 2; i++)
    if (self->sock[i] >= 0)
      close (self->sock[i]);
  g_free (self);
}

static MpQueue *
queue_new (MpObjectKind kind, gint maxsize, gsize capacity, const char *label, GError **error)
{
  MpQueue *self = g_new0 (MpQueue, 1);
  QueueHeader *h;

  self->memfd = self->sock[0] = self->sock[1] = -1;
  capacity = pad8 (MAX (capacity, 4096));
  if (capacity > G_MAXUINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "queue capacity is too large");
      g_free (self);
      return NULL;
    }

  self->memfd = memfd_create ("libmp-queue", MFD_CLOEXEC);
  if (self->memfd < 0 || ftruncate (self->memfd, (off_t) (sizeof (QueueHeader) + capacity)) < 0 ||
      socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, self->sock) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create a queue: %s", g_strerror (errsv));
      queue_free (self);
      return NULL;
    }
  /* Build the header in the file before mapping, so map_queue's checks apply to ours too. */
  {
    QueueHeader init = { 0 };
    init.magic = QUEUE_MAGIC;
    init.version = QUEUE_VERSION;
    init.capacity = capacity;
    init.maxsize = maxsize > 0 ? maxsize : 0;
    init.kind = kind;
    if (pwrite (self->memfd, &init, sizeof init, 0) != sizeof init)
      {
        g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot initialize a queue");
        queue_free (self);
        return NULL;
      }
  }
  if (!map_queue (self, error) || !_mp_sync_init (&self->sync, kind, label, error))
    {
      queue_free (self);
      return NULL;
    }
  h = self->h;
  self->stats = MP_OBJECT_STATS (self->sync.object, MpQueueStats);
  self->stats->maxsize = (guint64) h->maxsize;
  self->stats->capacity_bytes = capacity;
  return self;
}

/**
 * mp_queue_new:
 * @maxsize: the most items it holds; 0 or less for no limit
 * @error: return location for an error
 *
 * Returns: (transfer full): a new empty queue
 */
MpQueue *
mp_queue_new (gint maxsize, GError **error)
{
  return queue_new (MP_OBJECT_QUEUE, maxsize, MP_QUEUE_DEFAULT_CAPACITY, "Queue", error);
}

/**
 * mp_queue_new_full:
 * @maxsize: the most items it holds; 0 or less for no limit
 * @capacity_bytes: shared memory for the items (rounded up; at least 4 KiB)
 * @label: (nullable): a name monitors show
 * @error: return location for an error
 *
 * Returns: (transfer full): a new empty queue
 */
MpQueue *
mp_queue_new_full (gint maxsize, gsize capacity_bytes, const char *label, GError **error)
{
  return queue_new (MP_OBJECT_QUEUE, maxsize, capacity_bytes, label ? label : "Queue", error);
}

/**
 * mp_joinable_queue_new:
 *
 * Python's `JoinableQueue`: every put adds an unfinished task, mp_queue_task_done() finishes
 * one, and mp_queue_join() waits for none to be left.
 *
 * Returns: (transfer full): a new empty joinable queue
 */
MpQueue *
mp_joinable_queue_new (gint maxsize, GError **error)
{
  return queue_new (MP_OBJECT_JOINABLE_QUEUE, maxsize, MP_QUEUE_DEFAULT_CAPACITY,
                    "JoinableQueue", error);
}

/**
 * mp_simple_queue_new:
 *
 * Python's `SimpleQueue`: unbounded; once closed, mp_queue_empty() reports the closed handle.
 *
 * Returns: (transfer full): a new empty queue
 */
MpQueue *
mp_simple_queue_new (GError **error)
{
  return queue_new (MP_OBJECT_SIMPLE_QUEUE, 0, MP_QUEUE_DEFAULT_CAPACITY, "SimpleQueue", error);
}

MpQueue *
mp_queue_ref (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  _mp_sync_ref (&self->sync);
  return self;
}

void
mp_queue_unref (MpQueue *self)
{
  g_return_if_fail (self != NULL);
  if (_mp_sync_unref (&self->sync))
    queue_free (self);
}

/* ---- put --------------------------------------------------------------------------------- */

static gboolean
check_open (MpQueue *self, GError **error)
{
  if (self->closed)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_CLOSED, "Queue %" G_GUINT64_FORMAT " is closed",
                   self->sync.id);
      return FALSE;
    }
  return TRUE;
}

static gboolean
send_fds_locked (MpQueue *self, GUnixFDList *fds, GError **error)
{
  int n = g_unix_fd_list_get_length (fds);
  MpCmsgBuffer u;
  char byte = 0;
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { 0 };

  if (n > MP_CMSG_MAX_FDS)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "An item can carry at most %d file descriptors", MP_CMSG_MAX_FDS);
      return FALSE;
    }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  _mp_cmsg_attach_fds (&msg, &u, g_unix_fd_list_peek_fds (fds, NULL), (guint) n);
  /* Never block with the mutex held: a full socket buffer is a full queue. */
  while (sendmsg (self->sock[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    {
      int errsv = errno;
      if (errsv == EINTR)
        continue;
      g_set_error (error, MP_ERROR, errsv == EAGAIN ? MP_ERROR_FULL : MP_ERROR_IO,
                   "Cannot pass file descriptors through the queue: %s", g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

static gboolean
put_record (MpQueue     *self,
            guint16      type,
            const void  *payload,
            gsize        length,
            GUnixFDList *fds,
            gint64       timeout_us,
            GError     **error)
{
  QueueHeader *h = self->h;
  gsize record = sizeof (RecordHeader) + pad8 (length);
  gint64 deadline = DEADLINE_UNSET;
  RecordHeader rh;
  gsize off;
  guint64 depth;
  guint n_fds = fds ? (guint) g_unix_fd_list_get_length (fds) : 0;

  if (!check_open (self, error))
    return FALSE;
  if (record > h->capacity || length > G_MAXUINT32)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "An item of %" G_GSIZE_FORMAT " bytes does not fit in the queue's %"
                   G_GUINT64_FORMAT " bytes; create it with a larger capacity",
                   length, h->capacity);
      return FALSE;
    }

  lock_take (self, &h->put_lock);
  while (!has_room (self, record))
    {
      /* Read the clock only when there is waiting to do (it costs as much as a put). */
      if (deadline == DEADLINE_UNSET)
        deadline = _mp_deadline_ns (timeout_us);
      __atomic_add_fetch (&self->stats->blocked_puts, 1, __ATOMIC_RELAXED);
      lock_release (&h->put_lock);
      /* A consumer usually makes room within microseconds: watch for it before sleeping, so
       * the consumer does not have to pay a wake-up syscall per item it takes. Wait for a
       * few free slots when the queue holds many items: a producer that refills each slot
       * the moment it frees chases the consumer line by line. */
      if (timeout_us != 0)
        {
          guint64 n_got = __atomic_load_n (&self->seen_n_got, __ATOMIC_RELAXED);
          guint64 count = __atomic_load_n (&h->n_put, __ATOMIC_RELAXED) - n_got;
          guint64 target = n_got + MAX (MIN (count / 4, PUT_HYSTERESIS), 1);

          for (int i = 0; i < SPIN_LIMIT && __atomic_load_n (&h->n_got, __ATOMIC_RELAXED) < target; i++)
            _mp_cpu_relax ();
          lock_take (self, &h->put_lock);
          if (has_room (self, record))
            break;
          lock_release (&h->put_lock);
        }
      if (!wait_on (self, &h->not_full, &h->put_waiters, deadline, WAIT_ROOM, record))
        {
          g_set_error (error, MP_ERROR, MP_ERROR_FULL, "The queue is full");
          return FALSE;
        }
      lock_take (self, &h->put_lock);
    }

  if (n_fds > 0 && !send_fds_locked (self, fds, error))
    {
      lock_release (&h->put_lock);
      return FALSE;
    }

  off = h->tail % h->capacity;
  if (h->capacity - off < record)
    {
      RecordHeader wrap = { 0, RECORD_WRAP, 0 };
      memcpy (self->data + off, &wrap, sizeof wrap);
      __atomic_store_n (&h->tail, h->tail + (h->capacity - off), __ATOMIC_RELAXED);
      off = 0;
    }
  rh.length = (uint32_t) length;
  rh.type = type;
  rh.n_fds = (uint16_t) n_fds;
  memcpy (self->data + off, &rh, sizeof rh);
  if (length > 0)
    memcpy (self->data + off + sizeof rh, payload, length);
  /* A task_done() for this item must find its count (see NOTES). */
  if (self->sync.kind == MP_OBJECT_JOINABLE_QUEUE)
    {
      guint64 unfinished = __atomic_add_fetch (&h->unfinished, 1, __ATOMIC_SEQ_CST);
      __atomic_store_n (&self->stats->unfinished_tasks, unfinished, __ATOMIC_RELAXED);
    }
  /* Publish after the copy: a process killed above leaves the ring as it was. */
  __atomic_store_n (&h->tail, h->tail + record, __ATOMIC_RELEASE);
  __atomic_store_n (&h->n_put, h->n_put + 1, __ATOMIC_RELEASE);

  {
    /* Only producers write puts (under put_lock), only consumers gets: the depth from the two
     * is close enough for a monitor, and costs no look at the consumers' side. Gets counted
     * late would make it more than a bounded queue can hold: never report that. */
    guint64 puts = self->stats->puts + 1;
    guint64 gets = __atomic_load_n (&self->stats->gets, __ATOMIC_RELAXED);

    depth = puts > gets ? puts - gets : 0;
    if (h->maxsize > 0)
      depth = MIN (depth, (guint64) h->maxsize);
    __atomic_store_n (&self->stats->puts, puts, __ATOMIC_RELAXED);
    __atomic_store_n (&self->stats->bytes_put, self->stats->bytes_put + length, __ATOMIC_RELAXED);
    __atomic_store_n (&self->stats->depth, depth, __ATOMIC_RELAXED);
    if (depth > self->stats->max_depth)
      __atomic_store_n (&self->stats->max_depth, depth, __ATOMIC_RELAXED);
  }
  lock_release (&h->put_lock);
  wake_waiters (&h->not_empty, &h->get_waiters);
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_QUEUE_PUT, self->sync.id, (gint64) depth, (gint64) length);
  return TRUE;
}

/**
 * mp_queue_put_with_fds:
 * @self: a queue
 * @item: the value (floating references are sunk)
 * @fds: (nullable): descriptors that travel with it (`h` values in @item index them)
 * @timeout_us: 0 fails at once when full (put_nowait), %MP_TIMEOUT_INFINITE waits for room
 * @error: return location for an error
 *
 * Returns: %TRUE once the item is in the queue; %FALSE with %MP_ERROR_FULL when there was no
 *   room in time, %MP_ERROR_CLOSED after mp_queue_close()
 */
gboolean
mp_queue_put_with_fds (MpQueue      *self,
                       GVariant     *item,
                       GUnixFDList  *fds,
                       gint64        timeout_us,
                       GError      **error)
{
  g_autoptr(GVariant) sunk = NULL;
  g_autoptr(GVariant) boxed = NULL;
  gconstpointer data;
  gsize size;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (item != NULL, FALSE);

  sunk = g_variant_ref_sink (item);

  /* Numbers, booleans and strings — most items — skip the boxing: their serialized form and
   * one type character say everything (measured: 3× the items per second of boxing). */
  if (fds == NULL && g_variant_type_is_basic (g_variant_get_type (sunk)) &&
      strchr ("bynqiuxtds", g_variant_get_type_string (sunk)[0]) != NULL)
    {
      char c = g_variant_get_type_string (sunk)[0];
      return put_record (self, (guint16) (RECORD_BASIC | ((guint) c << 8)),
                         g_variant_get_data (sunk), g_variant_get_size (sunk), NULL,
                         timeout_us, error);
    }

  /* A byte array is raw bytes: it comes back as `ay` from get(), as itself from get_bytes(). */
  if (fds == NULL && g_variant_is_of_type (sunk, G_VARIANT_TYPE_BYTESTRING))
    return put_record (self, RECORD_BYTES, g_variant_get_data (sunk), g_variant_get_size (sunk),
                       NULL, timeout_us, error);

  boxed = g_variant_ref_sink (g_variant_new_variant (sunk));
  /* Serialized as is: rewriting into normal form costs as much as the rest of a put, and
   * the reader does not rely on it (GVariant reads non-normal data safely). */
  size = g_variant_get_size (boxed);
  data = g_variant_get_data (boxed);
  return put_record (self, RECORD_VARIANT, data, size, fds, timeout_us, error);
}

/**
 * mp_queue_put:
 * @self: a queue
 * @item: the value (floating references are sunk)
 * @timeout_us: 0 fails at once when full, %MP_TIMEOUT_INFINITE waits for room
 * @error: return location for an error
 *
 * Returns: %TRUE once the item is in the queue
 */
gboolean
mp_queue_put (MpQueue *self, GVariant *item, gint64 timeout_us, GError **error)
{
  return mp_queue_put_with_fds (self, item, NULL, timeout_us, error);
}

gboolean
mp_queue_put_nowait (MpQueue *self, GVariant *item, GError **error)
{
  return mp_queue_put_with_fds (self, item, NULL, 0, error);
}

/**
 * mp_queue_put_bytes:
 *
 * Puts raw bytes, without GVariant serialization (the fast path for large payloads).
 */
gboolean
mp_queue_put_bytes (MpQueue *self, GBytes *bytes, gint64 timeout_us, GError **error)
{
  gsize size;
  gconstpointer data;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (bytes != NULL, FALSE);
  data = g_bytes_get_data (bytes, &size);
  return put_record (self, RECORD_BYTES, data, size, NULL, timeout_us, error);
}

/* ---- get --------------------------------------------------------------------------------- */

static GUnixFDList *
recv_fds_locked (MpQueue *self, guint n_fds, GError **error)
{
  MpCmsgBuffer u;
  char byte;
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { 0 };
  GUnixFDList *fds = g_unix_fd_list_new ();
  ssize_t r;

  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  _mp_cmsg_prepare_receive (&msg, &u);
  do
    r = recvmsg (self->sock[1], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r >= 0)
    _mp_cmsg_foreach_fd (&msg, _mp_cmsg_append_to_fd_list, fds);
  if (r < 0 || (guint) g_unix_fd_list_get_length (fds) != n_fds)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO,
                   "The file descriptors of a queue item were lost");
      g_object_unref (fds);
      return NULL;
    }
  return fds;
}

/* Takes the next record. Returns its type (0 on error) and fills payload/fds. */
static guint16
get_record (MpQueue       *self,
            GBytes       **payload,
            GUnixFDList  **out_fds,
            gint64         timeout_us,
            GError       **error)
{
  QueueHeader *h = self->h;
  gint64 deadline = DEADLINE_UNSET;
  RecordHeader rh;
  gsize off;
  guint64 depth;

  if (!check_open (self, error))
    return 0;

  /* Items often arrive within microseconds: look before taking the lock and sleeping. The
   * clock is read only when there is waiting to do (it costs as much as a get). */
  if (timeout_us != 0 && !has_item (self))
    {
      deadline = _mp_deadline_ns (timeout_us);
      for (int i = 0; i < SPIN_LIMIT && !has_item (self); i++)
        _mp_cpu_relax ();
    }

  lock_take (self, &h->get_lock);
  while (!has_item (self))
    {
      if (deadline == DEADLINE_UNSET)
        deadline = _mp_deadline_ns (timeout_us);
      __atomic_add_fetch (&self->stats->blocked_gets, 1, __ATOMIC_RELAXED);
      lock_release (&h->get_lock);
      if (!wait_on (self, &h->not_empty, &h->get_waiters, deadline, WAIT_ITEM, 0))
        {
          g_set_error (error, MP_ERROR, MP_ERROR_EMPTY, "The queue is empty");
          return 0;
        }
      lock_take (self, &h->get_lock);
    }

  off = h->head % h->capacity;
  memcpy (&rh, self->data + off, sizeof rh);
  if (rh.type == RECORD_WRAP)
    {
      /* The filler holds nothing: producers may have its space back at once. */
      __atomic_store_n (&h->head, h->head + (h->capacity - off), __ATOMIC_RELEASE);
      off = 0;
      memcpy (&rh, self->data, sizeof rh);
    }
  if ((rh.type != RECORD_VARIANT && rh.type != RECORD_BYTES &&
       (rh.type & 0xff) != RECORD_BASIC) ||
      sizeof rh + pad8 (rh.length) > h->capacity - off)
    {
      lock_release (&h->get_lock);
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "The queue's memory is corrupt");
      return 0;
    }
  if (rh.n_fds > 0)
    {
      GUnixFDList *fds = recv_fds_locked (self, rh.n_fds, error);
      if (fds == NULL)
        {
          /* Drop the record anyway: leaving it would wedge the queue. */
          __atomic_store_n (&h->head, h->head + sizeof rh + pad8 (rh.length), __ATOMIC_RELEASE);
          __atomic_store_n (&h->n_got, h->n_got + 1, __ATOMIC_RELEASE);
          lock_release (&h->get_lock);
          wake_waiters (&h->not_full, &h->put_waiters);
          return 0;
        }
      if (out_fds)
        *out_fds = fds;
      else
        g_object_unref (fds);
    }
  *payload = g_bytes_new (self->data + off + sizeof rh, rh.length);
  /* head before n_got: a producer that reads n_got and then head never sees head behind. */
  __atomic_store_n (&h->head, h->head + sizeof rh + pad8 (rh.length), __ATOMIC_RELEASE);
  __atomic_store_n (&h->n_got, h->n_got + 1, __ATOMIC_RELEASE);

  {
    guint64 gets = self->stats->gets + 1;
    guint64 puts = __atomic_load_n (&self->stats->puts, __ATOMIC_RELAXED);

    depth = puts > gets ? puts - gets : 0;
    __atomic_store_n (&self->stats->gets, gets, __ATOMIC_RELAXED);
    __atomic_store_n (&self->stats->bytes_got, self->stats->bytes_got + rh.length,
                      __ATOMIC_RELAXED);
    __atomic_store_n (&self->stats->depth, depth, __ATOMIC_RELAXED);
  }
  lock_release (&h->get_lock);
  wake_waiters (&h->not_full, &h->put_waiters);
  _mp_trace (MP_TRACE_VERBOSE, MP_EVENT_QUEUE_GET, self->sync.id, (gint64) depth,
             (gint64) rh.length);
  return rh.type;
}

static GVariant *
variant_from_payload (GBytes *payload, GError **error)
{
  /* Other processes wrote it, so it is untrusted (trusted = FALSE): GVariant then bounds-checks
   * every access and reads malformed parts as default values, which is safe without paying
   * for a full normal-form check of every item. */
  g_autoptr(GVariant) boxed =
    g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARIANT, payload, FALSE));

  return g_variant_get_variant (boxed);
}

static GVariant *
basic_from_payload (char c, GBytes *payload, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (payload, &size);
  const char type[2] = { c, 0 };

  if (c == 's')
    {
      /* Untrusted: it must be NUL-terminated valid UTF-8 without inner NULs. */
      if (size == 0 || data[size - 1] != 0 || !g_utf8_validate ((const char *) data, size - 1, NULL))
        goto bad;
      return g_variant_ref_sink (g_variant_new_string ((const char *) data));
    }
  if (strchr ("bynqiuxtd", c) == NULL || c == 0)
    goto bad;
  /* Fixed-size basics: the size must match exactly; then the bytes are the value. */
  {
    GVariant *v = g_variant_new_from_bytes ((const GVariantType *) type, payload, FALSE);
    if (g_variant_get_size (v) != size)
      {
        g_variant_unref (g_variant_ref_sink (v));
        goto bad;
      }
    return g_variant_ref_sink (v);
  }

bad:
  g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A queue item is malformed");
  return NULL;
}

/**
 * mp_queue_get_with_fds:
 * @self: a queue
 * @out_fds: (out) (optional) (nullable): the item's descriptors, if it has any
 * @timeout_us: 0 fails at once when empty (get_nowait), %MP_TIMEOUT_INFINITE waits
 * @error: return location for an error
 *
 * Items put as raw bytes come back as a `ay` value.
 *
 * Returns: (transfer full): the oldest item; %NULL with %MP_ERROR_EMPTY when none came in
 *   time
 */
GVariant *
mp_queue_get_with_fds (MpQueue      *self,
                       GUnixFDList **out_fds,
                       gint64        timeout_us,
                       GError      **error)
{
  g_autoptr(GBytes) payload = NULL;
  guint16 type;

  g_return_val_if_fail (self != NULL, NULL);
  if (out_fds)
    *out_fds = NULL;

  type = get_record (self, &payload, out_fds, timeout_us, error);
  if ((type & 0xff) == RECORD_BASIC)
    return basic_from_payload ((char) (type >> 8), payload, error);
  if (type == RECORD_BYTES)
    return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, payload, TRUE));
  if (type == RECORD_VARIANT)
    return variant_from_payload (payload, error);
  return NULL;
}

GVariant *
mp_queue_get (MpQueue *self, gint64 timeout_us, GError **error)
{
  return mp_queue_get_with_fds (self, NULL, timeout_us, error);
}

GVariant *
mp_queue_get_nowait (MpQueue *self, GError **error)
{
  return mp_queue_get_with_fds (self, NULL, 0, error);
}

/**
 * mp_queue_get_bytes:
 *
 * Takes the oldest item as bytes: the payload of an item put with mp_queue_put_bytes(), or
 * the serialized form (type `v`, normal form) of a #GVariant item.
 *
 * Returns: (transfer full): the bytes, or %NULL with an error
 */
GBytes *
mp_queue_get_bytes (MpQueue *self, gint64 timeout_us, GError **error)
{
  GBytes *payload = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  if (get_record (self, &payload, NULL, timeout_us, error) == 0)
    return NULL;
  return payload;
}

static void
get_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GVariant *item = NULL;

  /* Wake now and then to notice cancellation. */
  while (item == NULL && !g_cancellable_is_cancelled (cancellable))
    {
      g_clear_error (&error);
      item = mp_queue_get (data, 100 * 1000, &error);
      if (item == NULL && !g_error_matches (error, MP_ERROR, MP_ERROR_EMPTY))
        break;
    }
  if (item != NULL)
    g_task_return_pointer (task, item, (GDestroyNotify) g_variant_unref);
  else if (error != NULL && !g_error_matches (error, MP_ERROR, MP_ERROR_EMPTY))
    g_task_return_error (task, error);
  else
    {
      g_clear_error (&error);
      g_task_return_error_if_cancelled (task);
    }
}

/**
 * mp_queue_get_async:
 * @self: a queue
 * @cancellable: (nullable): cancels the wait
 * @callback: called on the thread-default main context with the item
 * @user_data: for @callback
 *
 * Waits for an item without blocking the caller's main loop (the wait runs in a worker
 * thread of GLib's pool).
 */
void
mp_queue_get_async (MpQueue             *self,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (self != NULL);
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, mp_queue_get_async);
  g_task_set_task_data (task, mp_queue_ref (self), (GDestroyNotify) mp_queue_unref);
  g_task_run_in_thread (task, get_in_thread);
}

GVariant *
mp_queue_get_finish (MpQueue *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- state --------------------------------------------------------------------------------- */

guint
mp_queue_qsize (MpQueue *self)
{
  guint64 n_got;

  g_return_val_if_fail (self != NULL, 0);
  /* n_got first: n_put can only have grown since, so the difference is never negative. */
  n_got = __atomic_load_n (&self->h->n_got, __ATOMIC_ACQUIRE);
  return (guint) (__atomic_load_n (&self->h->n_put, __ATOMIC_ACQUIRE) - n_got);
}

/**
 * mp_queue_empty:
 *
 * Returns: whether the queue holds no item. (A closed SimpleQueue logs a critical, as Python
 *   raises "handle is closed".)
 */
gboolean
mp_queue_empty (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, TRUE);
  g_return_val_if_fail (!(self->closed && self->sync.kind == MP_OBJECT_SIMPLE_QUEUE), TRUE);
  return mp_queue_qsize (self) == 0;
}

gboolean
mp_queue_full (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->h->maxsize > 0 && mp_queue_qsize (self) >= (guint64) self->h->maxsize;
}

gint
mp_queue_get_maxsize (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (gint) self->h->maxsize;
}

/**
 * mp_queue_close:
 *
 * This process will put and get no more. Items already put stay for the other processes.
 * Idempotent.
 */
void
mp_queue_close (MpQueue *self)
{
  g_return_if_fail (self != NULL);
  self->closed = TRUE;
}

gboolean
mp_queue_is_closed (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, TRUE);
  return self->closed;
}

/**
 * mp_queue_join_thread:
 *
 * Python waits here for the feeder thread to flush; libmp queues have none — items are in
 * shared memory when put returns — so this only checks, as Python does, that the queue was
 * closed first.
 */
gboolean
mp_queue_join_thread (MpQueue *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  if (!self->closed)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_PROCESS, "Queue.join_thread() needs close() first");
      return FALSE;
    }
  return TRUE;
}

/**
 * mp_queue_cancel_join_thread:
 *
 * Nothing to cancel: there is no feeder thread, so exiting never waits on a queue.
 */
void
mp_queue_cancel_join_thread (MpQueue *self)
{
  g_return_if_fail (self != NULL);
}

/**
 * mp_queue_task_done:
 *
 * For a joinable queue: one item taken earlier is processed. Fails with
 * %MP_ERROR_INVALID_ARGUMENT when called more often than items were put.
 */
gboolean
mp_queue_task_done (MpQueue *self, GError **error)
{
  QueueHeader *h;

  g_return_val_if_fail (self != NULL, FALSE);
  h = self->h;
  if (self->sync.kind != MP_OBJECT_JOINABLE_QUEUE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "not a JoinableQueue");
      return FALSE;
    }
  {
    guint64 u = __atomic_load_n (&h->unfinished, __ATOMIC_RELAXED);

    do
      {
        if (u == 0)
          {
            g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                         "task_done() called too many times");
            return FALSE;
          }
      }
    while (!__atomic_compare_exchange_n (&h->unfinished, &u, u - 1, TRUE, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED));
    __atomic_store_n (&self->stats->unfinished_tasks, u - 1, __ATOMIC_RELAXED);
    if (u == 1)
      wake_waiters (&h->all_done, &h->join_waiters);
  }
  return TRUE;
}

/**
 * mp_queue_join:
 * @timeout_us: how long to wait, %MP_TIMEOUT_INFINITE for ever
 *
 * For a joinable queue: waits until every item put has been marked done.
 *
 * Returns: %TRUE then; %FALSE with %MP_ERROR_TIMEOUT
 */
gboolean
mp_queue_join (MpQueue *self, gint64 timeout_us, GError **error)
{
  QueueHeader *h;
  gint64 deadline;

  g_return_val_if_fail (self != NULL, FALSE);
  h = self->h;
  if (self->sync.kind != MP_OBJECT_JOINABLE_QUEUE)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "not a JoinableQueue");
      return FALSE;
    }
  deadline = _mp_deadline_ns (timeout_us);
  while (__atomic_load_n (&h->unfinished, __ATOMIC_SEQ_CST) > 0)
    if (!wait_on (self, &h->all_done, &h->join_waiters, deadline, WAIT_DONE, 0))
      {
        g_set_error (error, MP_ERROR, MP_ERROR_TIMEOUT, "Unfinished tasks remain");
        return FALSE;
      }
  return TRUE;
}

guint64
mp_queue_get_id (MpQueue *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->sync.id;
}

/* ---- handles ------------------------------------------------------------------------------- */

/**
 * mp_queue_serialize:
 * @self: a queue
 * @fd_list: its shared memory and socket are appended here
 * @error: return location for an error
 *
 * Returns: (transfer floating): a handle for another process of the program tree
 */
GVariant *
mp_queue_serialize (MpQueue *self, GUnixFDList *fd_list, GError **error)
{
  int hm, h0, h1;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), NULL);

  if ((hm = g_unix_fd_list_append (fd_list, self->memfd, error)) < 0 ||
      (h0 = g_unix_fd_list_append (fd_list, self->sock[0], error)) < 0 ||
      (h1 = g_unix_fd_list_append (fd_list, self->sock[1], error)) < 0)
    return NULL;
  return g_variant_new ("(@(uut)hhh)", _mp_sync_handle (&self->sync), hm, h0, h1);
}

MpQueue *
mp_queue_deserialize (GVariant *serialized, GUnixFDList *fd_list, GError **error)
{
  g_autoptr(GVariant) own = NULL;
  MpQueue *self;
  gint32 hm, h0, h1;
  guint32 kind;
  int n = fd_list ? g_unix_fd_list_get_length (fd_list) : 0;

  if (serialized == NULL || !g_variant_is_of_type (serialized, G_VARIANT_TYPE ("((uut)hhh)")))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION,
                   "A queue handle must be of type ((uut)hhh)");
      return NULL;
    }
  g_variant_get (serialized, "(@(uut)hhh)", &own, &hm, &h0, &h1);
  g_variant_get_child (own, 0, "u", &kind);
  if (hm < 0 || hm >= n || h0 < 0 || h0 >= n || h1 < 0 || h1 >= n ||
      (kind != MP_OBJECT_QUEUE && kind != MP_OBJECT_JOINABLE_QUEUE &&
       kind != MP_OBJECT_SIMPLE_QUEUE))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A queue handle is malformed");
      return NULL;
    }

  self = g_new0 (MpQueue, 1);
  self->memfd = g_unix_fd_list_get (fd_list, hm, NULL);
  self->sock[0] = g_unix_fd_list_get (fd_list, h0, NULL);
  self->sock[1] = g_unix_fd_list_get (fd_list, h1, NULL);
  if (self->memfd < 0 || self->sock[0] < 0 || self->sock[1] < 0 || !map_queue (self, error) ||
      !_mp_sync_init_from_handle (&self->sync, (MpObjectKind) kind, own, error))
    {
      if (error && *error == NULL)
        g_set_error (error, MP_ERROR, MP_ERROR_SERIALIZATION, "A queue handle is unusable");
      queue_free (self);
      return NULL;
    }
  self->stats = MP_OBJECT_STATS (self->sync.object, MpQueueStats);
  return self;
}
