/* process-tree.c: a small tree of processes, narrated from its event rings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The main process starts three children, one per start method:
 *
 *   MainProcess
 *   ├── Process-1 (fork)        starts two grandchildren with spawn, then exits 0
 *   │   ├── Process-1:1         computes a sum, exits 0
 *   │   └── Process-1:2         exits with code 3
 *   ├── Process-2 (spawn)       returns 7, which becomes its exit code
 *   └── Process-3 (forkserver)  sleeps until the main process terminates it (exit code -15)
 *
 * While they run, the main loop reads every process's event ring and prints what happened.
 * Nothing here polls the processes themselves: the events are what any monitor (mpviewer) sees.
 *
 * Run it with LIBMP_TRACE=verbose to see every event, or LIBMP_START_METHOD to change the
 * default start method.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mp.h>

static GVariant *
sum_to (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint64 n, total = 0;

  g_variant_get (args, "(x)", &n);
  for (gint64 i = 1; i <= n; i++)
    total += i;
  mp_trace_mark (1, n, total);   /* shows up in the event stream */
  return g_variant_new_int32 (0);
}

static GVariant *
return_value (GVariant *args, GUnixFDList *fds, GError **error)
{
  gint32 code;

  g_variant_get (args, "(i)", &code);
  return g_variant_new_int32 (code);
}

static GVariant *
sleep_until_terminated (GVariant *args, GUnixFDList *fds, GError **error)
{
  for (;;)
    pause ();
  return NULL;
}

/* Process-1: a child that has children of its own. */
static GVariant *
start_grandchildren (GVariant *args, GUnixFDList *fds, GError **error)
{
  g_autoptr(MpCallable) sum = mp_callable_new (sum_to, g_variant_new ("(x)", (gint64) 1000000));
  g_autoptr(MpCallable) three = mp_callable_new (return_value, g_variant_new ("(i)", 3));
  MpContext *spawn = mp_get_context ("spawn", NULL);
  g_autoptr(MpProcess) a = mp_context_process_new (spawn, sum);
  g_autoptr(MpProcess) b = mp_context_process_new (spawn, three);

  if (!mp_process_start (a, error) || !mp_process_start (b, error))
    return NULL;
  if (!mp_process_join (a, MP_TIMEOUT_INFINITE, error) ||
      !mp_process_join (b, MP_TIMEOUT_INFINITE, error))
    return NULL;
  return g_variant_new_int32 (0);
}

typedef struct
{
  MpTraceReader *reader;
  guint64        t0;
  GMainLoop     *loop;
  MpProcess     *children[3];
  int            remaining;
} Demo;

static void
print_event (Demo *demo, const MpTraceEvent *ev)
{
  double ms = (double) (ev->timestamp_ns - demo->t0) / 1e6;

  printf ("[%+9.3f ms] pid %-7d %-16s", ms, ev->pid, mp_trace_event_type_to_string (ev->type));
  switch (ev->type)
    {
    case MP_EVENT_PROCESS_CREATED:
      printf (" child pid %" G_GINT64_FORMAT " (slot %" G_GUINT64_FORMAT ")", ev->a, ev->object);
      break;
    case MP_EVENT_PROCESS_STARTED:
      printf (" parent pid %" G_GINT64_FORMAT, ev->a);
      break;
    case MP_EVENT_PROCESS_EXITING:
      printf (" returning %" G_GINT64_FORMAT, ev->a);
      break;
    case MP_EVENT_PROCESS_EXITED:
      printf (" child pid %" G_GINT64_FORMAT " exit code %" G_GINT64_FORMAT "%s", ev->a, ev->b,
              ev->b < 0 ? " (killed by a signal)" : "");
      break;
    case MP_EVENT_MARK:
      printf (" mark %" G_GUINT64_FORMAT ": %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT,
              ev->object, ev->a, ev->b);
      break;
    default:
      printf (" object %" G_GUINT64_FORMAT " a=%" G_GINT64_FORMAT " b=%" G_GINT64_FORMAT,
              ev->object, ev->a, ev->b);
      break;
    }
  printf ("\n");
}

static int
by_time (const void *a, const void *b)
{
  const MpTraceEvent *x = a, *y = b;
  return x->timestamp_ns < y->timestamp_ns ? -1 : x->timestamp_ns > y->timestamp_ns;
}

static gboolean
drain_events (gpointer user_data)
{
  Demo *demo = user_data;
  MpTraceEvent events[256];
  guint64 lost;
  guint n;

  while ((n = mp_trace_reader_read (demo->reader, events, G_N_ELEMENTS (events), &lost)) > 0)
    {
      /* Each process's events are in order; sort the batch to interleave processes by time. */
      qsort (events, n, sizeof events[0], by_time);
      for (guint i = 0; i < n; i++)
        print_event (demo, &events[i]);
      if (lost)
        printf ("(%" G_GUINT64_FORMAT " events were overwritten before they were read)\n", lost);
    }
  fflush (stdout);
  return G_SOURCE_CONTINUE;
}

static void
child_joined (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Demo *demo = user_data;
  MpProcess *p = MP_PROCESS (source);
  g_autoptr(GError) error = NULL;
  g_autofree char *repr = NULL;

  if (!mp_process_join_finish (p, result, &error))
    g_printerr ("join failed: %s\n", error->message);
  drain_events (demo);
  repr = mp_process_to_string (p);
  printf ("joined %s\n", repr);
  if (--demo->remaining == 0)
    g_main_loop_quit (demo->loop);
}

static gboolean
terminate_sleeper (gpointer user_data)
{
  Demo *demo = user_data;

  printf ("main: terminating %s\n", mp_process_get_name (demo->children[2]));
  mp_process_terminate (demo->children[2], NULL);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  const char *methods[] = { "fork", "spawn", "forkserver" };
  g_autoptr(MpCallable) tree = mp_callable_new (start_grandchildren, NULL);
  g_autoptr(MpCallable) seven = mp_callable_new (return_value, g_variant_new ("(i)", 7));
  g_autoptr(MpCallable) sleeper = mp_callable_new (sleep_until_terminated, NULL);
  MpCallable *targets[] = { tree, seven, sleeper };
  Demo demo = { 0 };

  mp_init (&argc, &argv);

  demo.reader = mp_trace_reader_new (FALSE);
  demo.t0 = g_get_monotonic_time () * 1000;
  demo.loop = g_main_loop_new (NULL, FALSE);

  printf ("main: pid %d, %d usable CPUs, trace level %d\n", getpid (), mp_cpu_count (),
          mp_trace_get_level ());
  for (int i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;

      demo.children[i] = mp_context_process_new (mp_get_context (methods[i], NULL), targets[i]);
      if (!mp_process_start (demo.children[i], &error))
        {
          g_printerr ("cannot start %s: %s\n", methods[i], error->message);
          return 1;
        }
      printf ("main: started %s with %s (pid %d)\n", mp_process_get_name (demo.children[i]),
              methods[i], mp_process_get_pid (demo.children[i]));
      mp_process_join_async (demo.children[i], NULL, child_joined, &demo);
      demo.remaining++;
    }

  g_timeout_add (20, drain_events, &demo);
  g_timeout_add (500, terminate_sleeper, &demo);
  g_main_loop_run (demo.loop);

  for (int i = 0; i < 3; i++)
    g_object_unref (demo.children[i]);
  g_main_loop_unref (demo.loop);
  mp_trace_reader_free (demo.reader);
  return 0;
}
