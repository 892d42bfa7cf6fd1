/* fuzz-trace.c: fuzz target for the recording parser and the arena reader
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The first input byte picks the target:
 *   even: the rest is a recording (JSON Lines): read every record and feed it to the models;
 *   odd:  the rest patches a small valid arena (8-byte offset, then bytes to write there):
 *         validate it, sample its tables, drain its rings, feed the models.
 * Whatever the input, the code under test must return (an error is fine) without crashing,
 * hanging or growing without bound.
 *
 * Built with clang -fsanitize=fuzzer when clang exists (meson test --setup fuzz --suite fuzz
 * runs it for a bounded time). Without libFuzzer, main() below replays the files it is given,
 * or runs a short deterministic mutation loop over built-in seeds.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "mp-monitor-private.h"
#include "mp-trace-file-private.h"

#define T_PROCS   4
#define T_OBJECTS 8
#define T_RING    16

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint8 *template_arena;
static gsize template_size;

static void
build_template (void)
{
  MpArenaHeader *h;
  guint64 off = sizeof (MpArenaHeader);

  /* The layout mp-arena.c writes, with small capacities. */
  template_size = off + T_PROCS * sizeof (MpArenaProc) + T_OBJECTS * sizeof (MpArenaObject);
  template_size = (template_size + 4095) & ~(gsize) 4095;
  template_size += T_PROCS * (sizeof (MpArenaRingHeader) + T_RING * sizeof (MpArenaEventRecord));
  template_arena = g_malloc0 (template_size);
  h = (MpArenaHeader *) template_arena;
  memcpy (h->magic, MP_ARENA_MAGIC, 8);
  h->version = MP_ARENA_VERSION;
  h->header_size = sizeof *h;
  h->total_size = template_size;
  h->root_pid = 1;
  h->trace_level = MP_TRACE_NORMAL;
  g_strlcpy (h->program, "fuzz", sizeof h->program);
  h->procs_offset = off;
  h->procs_capacity = T_PROCS;
  h->proc_size = sizeof (MpArenaProc);
  off += T_PROCS * sizeof (MpArenaProc);
  h->objects_offset = off;
  h->objects_capacity = T_OBJECTS;
  h->object_size = sizeof (MpArenaObject);
  off += T_OBJECTS * sizeof (MpArenaObject);
  h->rings_offset = (off + 4095) & ~(guint64) 4095;
  h->ring_capacity = T_RING;
  h->ring_size = sizeof (MpArenaRingHeader) + T_RING * sizeof (MpArenaEventRecord);
  h->procs_high_water = T_PROCS;
  h->objects_high_water = T_OBJECTS;

  for (int i = 0; i < T_PROCS; i++)
    {
      MpArenaProc *p = (MpArenaProc *) (template_arena + h->procs_offset) + i;
      MpArenaRingHeader *ring = (MpArenaRingHeader *) (template_arena + h->rings_offset +
                                                       (guint64) i * h->ring_size);
      MpArenaEventRecord *rec = (MpArenaEventRecord *) (ring + 1);

      p->state = i == 3 ? MP_PROC_EXITED : MP_PROC_RUNNING;
      p->pid = 1 + i;
      p->ppid = i;
      p->role = i == 0 ? MP_ROLE_MAIN : MP_ROLE_PROCESS;
      p->blocked_on = i == 1 ? 1 : i == 2 ? 2 : 0;
      g_snprintf (p->name, sizeof p->name, "Process-%d", i);
      ring->head = 3;
      for (int k = 0; k < 3; k++)
        {
          rec[k].seq = (guint64) k + 1;
          rec[k].timestamp_ns = 1000 + (guint64) k;
          rec[k].pid = 1 + i;
          rec[k].type = k == 0 ? MP_EVENT_PROCESS_STARTED : k == 1 ? MP_EVENT_TASK_STARTED
                                                                   : MP_EVENT_LOCK_CONTENDED;
          rec[k].object = (guint64) k + 1;
          rec[k].a = i;
        }
    }
  for (int i = 0; i < T_OBJECTS; i++)
    {
      static const guint32 kinds[] = { MP_OBJECT_LOCK, MP_OBJECT_LOCK, MP_OBJECT_QUEUE,
                                       MP_OBJECT_POOL, MP_OBJECT_SHARED_MEMORY, MP_OBJECT_RLOCK,
                                       MP_OBJECT_CONNECTION, MP_OBJECT_BARRIER };
      MpArenaObject *o = (MpArenaObject *) (template_arena + h->objects_offset) + i;

      o->state = 1;
      o->kind = kinds[i];
      o->id = (guint64) i + 1;
      o->creator_pid = 1;
      g_snprintf (o->label, sizeof o->label, "Object-%d", i);
      if (kinds[i] == MP_OBJECT_LOCK)
        MP_OBJECT_STATS (o, MpSyncStats)->holder_pid = i == 0 ? 3 : 2;
      if (kinds[i] == MP_OBJECT_SHARED_MEMORY)
        g_strlcpy (MP_OBJECT_STATS (o, MpShmStats)->name, "fuzz-no-such-segment",
                   sizeof MP_OBJECT_STATS (o, MpShmStats)->name);
    }
}

static void
fuzz_trace (const guint8 *data, gsize size)
{
  g_autoptr(MpTraceFileReader) reader = _mp_trace_file_reader_new_for_data (data, size, NULL);
  MpMonitorModels *models;
  MpTraceRecord rec;
  guint n = 0;

  {
    MpTraceRecord one;
    if (_mp_trace_parse_record ((const char *) data, size, &one, NULL))
      _mp_trace_record_clear (&one);
  }
  if (reader == NULL)
    return;
  models = _mp_monitor_models_new (NULL, NULL);
  while (n++ < 100000 && _mp_trace_file_reader_next (reader, &rec, NULL))
    {
      if (rec.type == MP_TRACE_RECORD_EVENT)
        _mp_monitor_models_apply_events (models, &rec.event, 1);
      else if (rec.type == MP_TRACE_RECORD_SNAPSHOT)
        _mp_monitor_models_apply_snapshot (models, rec.snapshot);
      _mp_trace_record_clear (&rec);
    }
  _mp_monitor_models_flush (models);
  _mp_monitor_models_free (models);
}

static void
fuzz_arena (const guint8 *data, gsize size)
{
  g_autofree guint8 *buf = NULL;
  MpArena arena;
  MpMonitorArena ma;
  guint64 offset = 0;
  MpMonitorModels *models;
  g_autoptr(MpMonitorSnapshot) snap = NULL;
  MpTraceEvent events[64];

  if (template_arena == NULL)
    build_template ();
  buf = g_memdup2 (template_arena, template_size);
  if (size >= 8)
    {
      memcpy (&offset, data, 8);
      data += 8;
      size -= 8;
    }
  offset %= template_size;
  memcpy (buf + offset, data, MIN (size, template_size - offset));

  arena.base = buf;
  arena.size = template_size;
  arena.fd = -1;
  arena.writable = FALSE;
  if (!_mp_monitor_arena_init (&ma, &arena, NULL))
    return;

  models = _mp_monitor_models_new (NULL, NULL);
  for (guint32 slot = 0; slot < ma.hdr.procs_capacity; slot++)
    {
      MpRingReader r;
      guint64 lost;
      guint n;

      _mp_monitor_arena_ring_reader_init (&ma, slot, &r);
      for (int round = 0; round < 4 && (n = _mp_ring_reader_read (&r, events, G_N_ELEMENTS (events), &lost)) > 0; round++)
        _mp_monitor_models_apply_events (models, events, n);
    }
  snap = _mp_monitor_snapshot_new (5000, TRUE);
  _mp_monitor_snapshot_read_arena (snap, &ma, TRUE);
  _mp_monitor_models_apply_snapshot (models, snap);
  _mp_monitor_models_flush (models);
  _mp_monitor_models_free (models);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  if (data[0] & 1)
    fuzz_arena (data + 1, size - 1);
  else
    fuzz_trace (data + 1, size - 1);
  return 0;
}

#ifndef MP_FUZZING_ENGINE

static const char seed_trace[] =
  "\x00"
  "{\"r\":\"header\",\"format\":\"libmp-trace\",\"version\":1,\"program\":\"p\",\"root_pid\":1}\n"
  "{\"r\":\"event\",\"t\":1,\"pid\":1,\"type\":\"process-created\",\"object\":1,\"a\":2,\"b\":1}\n"
  "{\"r\":\"event\",\"t\":2,\"pid\":2,\"type\":\"task-started\",\"object\":5,\"a\":1,\"b\":2}\n"
  "{\"r\":\"snapshot\",\"t\":3,\"full\":true,\"processes\":[{\"slot\":0,\"state\":\"running\","
  "\"role\":\"main\",\"method\":\"none\",\"pid\":1,\"blocked_on\":7,\"os\":{\"alive\":true}}],"
  "\"objects\":[{\"id\":7,\"kind\":\"lock\",\"stats\":{\"holder_pid\":2}},{\"id\":5,\"kind\":\"pool\"}]}\n"
  "{\"r\":\"end\",\"t\":4}\n";

static void
mutate_and_run (GRand *rand, const guint8 *seed, gsize len)
{
  g_autofree guint8 *buf = g_malloc (len + 16);
  gsize n = len;

  memcpy (buf, seed, len);
  for (int k = g_rand_int_range (rand, 1, 8); k > 0 && n > 1; k--)
    {
      gsize at = 1 + (gsize) g_rand_int_range (rand, 0, (gint32) (n - 1));
      switch (g_rand_int_range (rand, 0, 3))
        {
        case 0:
          buf[at] = (guint8) g_rand_int_range (rand, 0, 256);
          break;
        case 1:
          n = at;   /* truncate */
          break;
        default:
          buf[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
          break;
        }
    }
  LLVMFuzzerTestOneInput (buf, n);
}

int
main (int argc, char **argv)
{
  GRand *rand;
  guint8 arena_seed[1 + 8 + 16] = { 1 };
  int iterations = 30000;

  if (argc > 1)
    {
      for (int i = 1; i < argc; i++)
        {
          g_autofree char *data = NULL;
          gsize len;

          if (!g_file_get_contents (argv[i], &data, &len, NULL))
            return 1;
          LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
        }
      return 0;
    }

  /* The seed corpus, which keeps the inputs that once crashed. */
  if (g_getenv ("G_TEST_SRCDIR") != NULL)
    {
      g_autofree char *dir_path = g_build_filename (g_getenv ("G_TEST_SRCDIR"), "fuzz-seeds", NULL);
      g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (dir_path, name, NULL);
          g_autofree char *data = NULL;
          gsize len;

          if (g_file_get_contents (path, &data, &len, NULL))
            LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
        }
    }

  /* A short deterministic run: plain builds check that the seeds and their mutations pass. */
  rand = g_rand_new_with_seed (1);
  for (int i = 0; i < iterations; i++)
    {
      mutate_and_run (rand, (const guint8 *) seed_trace, sizeof seed_trace - 1);
      /* Arena: a random offset, then 16 random bytes written there. */
      for (gsize k = 1; k < sizeof arena_seed; k++)
        arena_seed[k] = (guint8) g_rand_int_range (rand, 0, 256);
      LLVMFuzzerTestOneInput (arena_seed, sizeof arena_seed);
    }
  g_rand_free (rand);
  printf ("fuzz-trace: %d inputs of each kind ran\n", iterations);
  return 0;
}

#endif
