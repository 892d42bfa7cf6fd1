/* mp-monitor-model.c: turning event batches and snapshots into list models and alerts
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Everything here is a deterministic function of the input sequence (see
 * mp-monitor-private.h): no clock, no /proc, no arena. That is what makes a replay end with the
 * same models as the live run it recorded, and what lets tests feed hand-made snapshots.
 *
 * Sources of truth: the process table and the stats blocks (snapshots) win over events for the
 * fields they have; events add what sampling misses: processes that lived between two samples,
 * task start/end and who runs what, waits in progress. A snapshot never moves a process from a
 * final state (exited, killed, vanished) back to running: the root's table entry says RUNNING
 * forever after a kill -9, and partial snapshots (process table only) know nothing of /proc.
 *
 * Items change on the monitor's main context only. Setters record which properties changed;
 * _mp_monitor_models_flush() sends one "notify" per changed property per batch, so a batch of
 * ten thousand queue events costs one notification, not ten thousand.
 *
 * Bounds: exited processes and destroyed objects stay keep_exited_ns of data time (and at
 * most max_exited processes); pool task streams, duration samples and histories are rings;
 * workers per pool and waiters per lock are capped. A hostile input can make the models wrong,
 * never big.
 *
 * Items may form a tree (process → children). The parent links come from untrusted pids, so
 * placing a process under a parent first checks that this does not make a cycle, which would
 * send a GtkTreeListModel into endless recursion.
 *
 * The tree changes once per event batch or snapshot: the processes it creates or moves are
 * (re)placed at its end, removed from their old stores a run of neighbours at a time, added
 * with one splice per parent's children and one for the roots, children first. Placed one by
 * one, each new process would go among the roots and then move under its parent, two
 * "items-changed" each that a GtkTreeListModel and the view over it handle one at a time
 * (most of a viewer's work on attaching to a few hundred processes).
 */

#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mp-monitor-private.h"

#define MAX_ATTACHED 64
#define MAX_TREE_DEPTH 4096
/* Far above what an arena holds (MP_ARENA_PROCS process slots, MP_ARENA_OBJECTS objects): only
 * hostile or corrupt input reaches these, and then the models stop growing instead of the
 * monitor. */
#define MAX_PROCESSES 4096
#define MAX_OBJECTS   (2 * MP_ARENA_OBJECTS)
#define MAX_POOLS     256     /* each keeps a task stream of MP_POOL_RECENT_TASKS */

struct _MpMonitorModels
{
  MpAlertFunc           alert_raised;
  gpointer              user_data;
  MpMonitorModelConfig  config;

  GListStore           *processes;
  GListStore           *roots;
  GListStore           *pools;
  GListStore           *queues;
  GListStore           *locks;
  GListStore           *segments;
  GListStore           *alerts;

  GHashTable           *proc_by_pid;       /* pid → MpMonitorProcess (the store owns it) */
  GHashTable           *obj_by_id;         /* id (guint64 *) → pool/queue/lock/segment */
  GHashTable           *other_labels;      /* id → label, for kinds without a model */
  GHashTable           *alert_by_key;      /* key → MpMonitorAlert (the store owns it) */
  GPtrArray            *dirty;             /* items with notifications pending (refs) */

  guint64               now_ns;
  guint64               last_full_ns;      /* data time of the last full snapshot, 0 before one */
  gboolean              waiters_dirty;
  /* While a batch or a snapshot is applied: the processes to (re)place in the tree at its
   * end (see NOTES). */
  GPtrArray            *unplaced;          /* refs, or NULL outside one */
};

static guint
u64_hash (gconstpointer v)
{
  guint64 x = *(const guint64 *) v;
  return (guint) (x ^ (x >> 32));
}

static gboolean
u64_equal (gconstpointer a, gconstpointer b)
{
  return *(const guint64 *) a == *(const guint64 *) b;
}

MpMonitorModels *
_mp_monitor_models_new (MpAlertFunc alert_raised, gpointer user_data)
{
  MpMonitorModels *m = g_new0 (MpMonitorModels, 1);

  m->alert_raised = alert_raised;
  m->user_data = user_data;
  m->config.stuck_factor = 10.0;
  m->config.stuck_min_ns = G_GUINT64_CONSTANT (1000000000);
  m->config.stuck_min_samples = 3;
  m->config.keep_exited_ns = G_GUINT64_CONSTANT (60000000000);
  m->config.max_exited = 256;

  m->processes = g_list_store_new (MP_TYPE_MONITOR_PROCESS);
  m->roots = g_list_store_new (MP_TYPE_MONITOR_PROCESS);
  m->pools = g_list_store_new (MP_TYPE_MONITOR_POOL);
  m->queues = g_list_store_new (MP_TYPE_MONITOR_QUEUE);
  m->locks = g_list_store_new (MP_TYPE_MONITOR_LOCK);
  m->segments = g_list_store_new (MP_TYPE_MONITOR_SEGMENT);
  m->alerts = g_list_store_new (MP_TYPE_MONITOR_ALERT);
  m->proc_by_pid = g_hash_table_new (NULL, NULL);
  m->obj_by_id = g_hash_table_new_full (u64_hash, u64_equal, g_free, NULL);
  m->other_labels = g_hash_table_new_full (u64_hash, u64_equal, g_free, g_free);
  m->alert_by_key = g_hash_table_new (g_str_hash, g_str_equal);
  m->dirty = g_ptr_array_new ();
  return m;
}

void
_mp_monitor_models_free (MpMonitorModels *m)
{
  guint n;

  if (m == NULL)
    return;
  for (guint i = 0; i < m->dirty->len; i++)
    {
      MpItemHeader *h = (MpItemHeader *) ((guint8 *) m->dirty->pdata[i] + sizeof (GObject));
      h->queued = FALSE;
      g_object_unref (m->dirty->pdata[i]);
    }
  g_ptr_array_unref (m->dirty);
  /* Break the tree before dropping the stores: children stores are owned by their parents. */
  n = g_list_model_get_n_items (G_LIST_MODEL (m->processes));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (G_LIST_MODEL (m->processes), i);
      g_list_store_remove_all (p->children);
      p->container = NULL;
    }
  g_hash_table_unref (m->proc_by_pid);
  g_hash_table_unref (m->obj_by_id);
  g_hash_table_unref (m->other_labels);
  g_hash_table_unref (m->alert_by_key);
  g_object_unref (m->processes);
  g_object_unref (m->roots);
  g_object_unref (m->pools);
  g_object_unref (m->queues);
  g_object_unref (m->locks);
  g_object_unref (m->segments);
  g_object_unref (m->alerts);
  g_free (m);
}

MpMonitorModelConfig *
_mp_monitor_models_config (MpMonitorModels *m)
{
  return &m->config;
}

GListModel *_mp_monitor_models_get_processes (MpMonitorModels *m) { return G_LIST_MODEL (m->processes); }
GListModel *_mp_monitor_models_get_roots (MpMonitorModels *m) { return G_LIST_MODEL (m->roots); }
GListModel *_mp_monitor_models_get_pools (MpMonitorModels *m) { return G_LIST_MODEL (m->pools); }
GListModel *_mp_monitor_models_get_queues (MpMonitorModels *m) { return G_LIST_MODEL (m->queues); }
GListModel *_mp_monitor_models_get_locks (MpMonitorModels *m) { return G_LIST_MODEL (m->locks); }
GListModel *_mp_monitor_models_get_segments (MpMonitorModels *m) { return G_LIST_MODEL (m->segments); }
GListModel *_mp_monitor_models_get_alerts (MpMonitorModels *m) { return G_LIST_MODEL (m->alerts); }
guint64 _mp_monitor_models_get_now (MpMonitorModels *m) { return m->now_ns; }

MpMonitorProcess *
_mp_monitor_models_lookup_process (MpMonitorModels *m, gint32 pid)
{
  return g_hash_table_lookup (m->proc_by_pid, GINT_TO_POINTER (pid));
}

/* ---- change tracking --------------------------------------------------------------------- */

static void
mark (MpMonitorModels *m, gpointer item, MpItemHeader *h, guint prop)
{
  h->dirty |= G_GUINT64_CONSTANT (1) << (prop - 1);
  if (!h->queued)
    {
      h->queued = TRUE;
      g_ptr_array_add (m->dirty, g_object_ref (item));
    }
}

#define SET(m, item, field, value, prop) \
  G_STMT_START { \
    __typeof__ ((item)->field) set_v_ = (value); \
    if ((item)->field != set_v_) \
      { \
        (item)->field = set_v_; \
        mark ((m), (item), &(item)->h, (prop)); \
      } \
  } G_STMT_END

#define SET_STR(m, item, field, value, prop) \
  G_STMT_START { \
    const char *set_s_ = (value); \
    if (g_strcmp0 ((item)->field, set_s_) != 0) \
      { \
        g_free ((item)->field); \
        (item)->field = g_strdup (set_s_); \
        mark ((m), (item), &(item)->h, (prop)); \
      } \
  } G_STMT_END

void
_mp_monitor_models_flush (MpMonitorModels *m)
{
  g_autoptr(GPtrArray) items = NULL;

  if (m->dirty->len == 0)
    return;
  /* Handlers may run arbitrary code: take the list first. */
  items = m->dirty;
  m->dirty = g_ptr_array_new ();
  for (guint i = 0; i < items->len; i++)
    {
      GObject *obj = items->pdata[i];
      MpItemHeader *h = (MpItemHeader *) ((guint8 *) obj + sizeof (GObject));
      guint64 bits = h->dirty;

      h->dirty = 0;
      h->queued = FALSE;
      g_object_freeze_notify (obj);
      for (guint b = 0; bits != 0; b++, bits >>= 1)
        if (bits & 1)
          g_object_notify_by_pspec (obj, h->pspecs[b + 1]);
      g_object_thaw_notify (obj);
      g_object_unref (obj);
    }
}

/* ---- processes --------------------------------------------------------------------------- */

static gboolean
is_final (int state)
{
  return state == MP_MONITOR_PROCESS_EXITED || state == MP_MONITOR_PROCESS_KILLED ||
         state == MP_MONITOR_PROCESS_VANISHED;
}

static void
store_remove_item (GListStore *store, gpointer item)
{
  guint pos;

  if (store != NULL && g_list_store_find (store, item, &pos))
    g_list_store_remove (store, pos);
}

static MpMonitorProcess *
tree_parent (MpMonitorModels *m, MpMonitorProcess *p)
{
  MpMonitorProcess *parent;

  if (p->container == NULL || p->container == m->roots)
    return NULL;
  parent = _mp_monitor_models_lookup_process (m, p->ppid);
  return parent != NULL && parent->children == p->container ? parent : NULL;
}

/* The list @p belongs in: its parent's children, or the roots when its ppid names no known
 * process or one that descends from @p (a cycle from reused pids or a hostile recording). The
 * containers set so far count. */
static GListStore *
tree_target (MpMonitorModels *m, MpMonitorProcess *p)
{
  MpMonitorProcess *parent = NULL;
  guint depth = 0;

  if (p->ppid > 0 && p->ppid != p->pid)
    parent = _mp_monitor_models_lookup_process (m, p->ppid);
  if (parent == NULL)
    return m->roots;
  for (MpMonitorProcess *a = parent; a != NULL; a = tree_parent (m, a), depth++)
    if (a == p || depth > MAX_TREE_DEPTH)
      return m->roots;
  return parent->children;
}

/* Puts @p under the process its ppid names, or among the roots. */
static void
place (MpMonitorModels *m, MpMonitorProcess *p)
{
  GListStore *target = tree_target (m, p);

  if (p->container == target && !p->unplaced)
    return;
  if (m->unplaced != NULL)
    {
      /* In a batch: placed at its end, where the parent is checked again. */
      if (!p->unplaced)
        {
          p->unplaced = TRUE;
          g_ptr_array_add (m->unplaced, g_object_ref (p));
        }
      return;
    }
  g_object_ref (p);
  store_remove_item (p->container, p);
  p->container = target;
  g_list_store_append (target, p);
  g_object_unref (p);
}

static MpMonitorProcess *
ensure_process (MpMonitorModels *m, gint32 pid)
{
  MpMonitorProcess *p = _mp_monitor_models_lookup_process (m, pid);
  guint n;

  if (p != NULL)
    return p;
  if (pid <= 0 || g_hash_table_size (m->proc_by_pid) >= MAX_PROCESSES)
    return NULL;
  p = _mp_monitor_process_new (pid);
  g_hash_table_insert (m->proc_by_pid, GINT_TO_POINTER (pid), p);
  g_list_store_append (m->processes, p);
  if (m->unplaced != NULL)
    {
      p->unplaced = TRUE;
      g_ptr_array_add (m->unplaced, g_object_ref (p));
    }
  else
    {
      p->container = m->roots;
      g_list_store_append (m->roots, p);
    }
  g_object_unref (p);

  /* Roots that were waiting for this parent, in their order. */
  n = g_list_model_get_n_items (G_LIST_MODEL (m->roots));
  {
    g_autoptr(GPtrArray) waiting = g_ptr_array_new_with_free_func (g_object_unref);

    for (guint i = 0; i < n; i++)
      {
        MpMonitorProcess *r = g_list_model_get_item (G_LIST_MODEL (m->roots), i);
        if (r != p && r->ppid == pid)
          g_ptr_array_add (waiting, r);
        else
          g_object_unref (r);
      }
    for (guint i = 0; i < waiting->len; i++)
      place (m, waiting->pdata[i]);
  }
  return p;
}

static void
remove_process (MpMonitorModels *m, MpMonitorProcess *p)
{
  g_autoptr(MpMonitorProcess) keep = g_object_ref (p);

  /* Orphans become roots. */
  while (g_list_model_get_n_items (G_LIST_MODEL (p->children)) > 0)
    {
      g_autoptr(MpMonitorProcess) c = g_list_model_get_item (G_LIST_MODEL (p->children), 0);
      g_list_store_remove (p->children, 0);
      c->container = m->roots;
      g_list_store_append (m->roots, c);
    }
  store_remove_item (p->container, p);
  p->container = NULL;
  g_hash_table_remove (m->proc_by_pid, GINT_TO_POINTER (p->pid));
  store_remove_item (m->processes, p);
}

static void
begin_placing (MpMonitorModels *m)
{
  g_assert (m->unplaced == NULL);
  m->unplaced = g_ptr_array_new_with_free_func (g_object_unref);
}

static int
cmp_uint_desc (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Removes the items at @positions (any order; sorted here) from @store, one splice per run
 * of neighbours. */
static void
store_remove_positions (GListStore *store, GArray *positions)
{
  g_array_sort (positions, cmp_uint_desc);
  for (guint i = 0; i < positions->len;)
    {
      guint last = g_array_index (positions, guint, i), first = last, j = i + 1;

      while (j < positions->len && g_array_index (positions, guint, j) == first - 1)
        first = g_array_index (positions, guint, j++);
      g_list_store_splice (store, first, last - first + 1, NULL, 0);
      i = j;
    }
}

/* Places the processes the batch created or moved (see NOTES), in their order: each under its
 * parent if that makes no cycle, else among the roots. */
static void
end_placing (MpMonitorModels *m)
{
  g_autoptr(GPtrArray) unplaced = g_steal_pointer (&m->unplaced);
  g_autoptr(GHashTable) removals = g_hash_table_new_full (NULL, NULL, NULL,
                                                          (GDestroyNotify) g_array_unref);
  g_autoptr(GHashTable) additions = g_hash_table_new_full (NULL, NULL, NULL,
                                                           (GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) stores = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  if (unplaced->len == 0)
    return;
  for (guint i = 0; i < unplaced->len; i++)
    {
      MpMonitorProcess *p = unplaced->pdata[i];
      GListStore *target;
      GPtrArray *items;

      p->unplaced = FALSE;
      /* Removed again during the batch: not in the tree. */
      if (_mp_monitor_models_lookup_process (m, p->pid) != p)
        continue;
      /* The containers set so far count: this checks the tree the splices below make. */
      target = tree_target (m, p);
      if (p->container == target)
        continue;
      if (p->container != NULL)
        {
          GArray *positions = g_hash_table_lookup (removals, p->container);
          guint pos;

          if (positions == NULL)
            {
              positions = g_array_new (FALSE, FALSE, sizeof (guint));
              g_hash_table_insert (removals, p->container, positions);
            }
          if (g_list_store_find (p->container, p, &pos))
            g_array_append_val (positions, pos);
        }
      p->container = target;
      items = g_hash_table_lookup (additions, target);
      if (items == NULL)
        {
          items = g_ptr_array_new_with_free_func (g_object_unref);
          g_hash_table_insert (additions, target, items);
          g_ptr_array_add (stores, target);
        }
      /* Held here while it is in no store. */
      g_ptr_array_add (items, g_object_ref (p));
    }
  g_hash_table_iter_init (&iter, removals);
  while (g_hash_table_iter_next (&iter, &key, &value))
    store_remove_positions (key, value);
  /* Children first, so a new subtree is complete when its root shows up. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < stores->len; i++)
      {
        GListStore *store = stores->pdata[i];
        GPtrArray *items = g_hash_table_lookup (additions, store);

        if ((store == m->roots) != (pass == 1))
          continue;
        g_list_store_splice (store, g_list_model_get_n_items (G_LIST_MODEL (store)), 0,
                             items->pdata, items->len);
      }
}

static void
set_final (MpMonitorModels *m, MpMonitorProcess *p, int state, int exit_code, guint64 t_ns)
{
  SET (m, p, state, state, MP_PROCESS_PROP_STATE);
  SET (m, p, exit_code, exit_code, MP_PROCESS_PROP_EXIT_CODE);
  if (p->exit_ns == 0 && t_ns != 0)
    SET (m, p, exit_ns, t_ns, MP_PROCESS_PROP_EXIT_TIME);
  SET (m, p, alive, FALSE, MP_PROCESS_PROP_ALIVE);
  SET (m, p, cpu_percent, 0.0, MP_PROCESS_PROP_CPU_PERCENT);
  SET (m, p, blocked_on, 0, MP_PROCESS_PROP_BLOCKED_ON);
  SET (m, p, current_task, 0, MP_PROCESS_PROP_CURRENT_TASK);
  p->pending_lock = 0;
  if (p->gone_ns == 0)
    p->gone_ns = MAX (t_ns, 1);
  m->waiters_dirty = TRUE;
}

/* A pid we had seen exit shows up running again: a new process got the number. */
static void
reset_process (MpMonitorModels *m, MpMonitorProcess *p)
{
  SET (m, p, state, MP_MONITOR_PROCESS_STARTING, MP_PROCESS_PROP_STATE);
  SET (m, p, exit_code, 0, MP_PROCESS_PROP_EXIT_CODE);
  SET (m, p, exit_ns, 0, MP_PROCESS_PROP_EXIT_TIME);
  SET (m, p, alive, TRUE, MP_PROCESS_PROP_ALIVE);
  SET (m, p, tasks_done, 0, MP_PROCESS_PROP_TASKS_DONE);
  SET (m, p, rss, 0, MP_PROCESS_PROP_RSS);
  p->gone_ns = 0;
  p->in_table = FALSE;
}

static const char *
method_name (guint32 method)
{
  return method == 0 || method > MP_START_FORKSERVER ? NULL
                                                     : _mp_start_method_id_to_string (method);
}

static void
apply_snap_process (MpMonitorModels *m, const MpSnapProcess *sp, guint64 t_ns)
{
  MpMonitorProcess *p;
  int role = sp->role <= MP_MONITOR_ROLE_TRACKER ? (int) sp->role : MP_MONITOR_ROLE_PROCESS;
  gboolean table_live = sp->state == MP_PROC_RESERVED || sp->state == MP_PROC_RUNNING ||
                        sp->state == MP_PROC_EXITING;

  if ((p = ensure_process (m, sp->pid)) == NULL)
    return;
  if (is_final (p->state) && table_live &&
      (!p->in_table || p->slot != sp->slot || p->generation != sp->generation) &&
      sp->start_ns > p->exit_ns)
    reset_process (m, p);
  p->in_table = TRUE;
  p->slot = sp->slot;
  p->generation = sp->generation;

  SET_STR (m, p, name, sp->name[0] ? sp->name : p->name, MP_PROCESS_PROP_NAME);
  SET (m, p, role, role, MP_PROCESS_PROP_ROLE);
  SET_STR (m, p, start_method, method_name (sp->start_method), MP_PROCESS_PROP_START_METHOD);
  SET (m, p, daemon, (sp->flags & MP_PROC_FLAG_DAEMON) != 0, MP_PROCESS_PROP_DAEMON);
  if (sp->create_ns)
    SET (m, p, create_ns, sp->create_ns, MP_PROCESS_PROP_CREATE_TIME);
  if (sp->start_ns)
    SET (m, p, start_ns, sp->start_ns, MP_PROCESS_PROP_START_TIME);
  if (sp->ppid > 0 && sp->ppid != p->ppid)
    {
      SET (m, p, ppid, sp->ppid, MP_PROCESS_PROP_PPID);
      place (m, p);
    }
  else if (p->container == m->roots && p->ppid > 0)
    place (m, p);

  if (!is_final (p->state))
    {
      if (p->blocked_on != sp->blocked_on)
        m->waiters_dirty = TRUE;
      SET (m, p, blocked_on, sp->blocked_on, MP_PROCESS_PROP_BLOCKED_ON);
    }

  switch (sp->state)
    {
    case MP_PROC_RESERVED:
      break;
    case MP_PROC_RUNNING:
      if (is_final (p->state))
        break;
      if (sp->has_os && !sp->alive)
        set_final (m, p, MP_MONITOR_PROCESS_VANISHED, 0, t_ns);
      else if (sp->has_os && (sp->os_state == 'T' || sp->os_state == 't'))
        SET (m, p, state, MP_MONITOR_PROCESS_STOPPED, MP_PROCESS_PROP_STATE);
      else if (p->state == MP_MONITOR_PROCESS_STARTING ||
               (sp->has_os && p->state == MP_MONITOR_PROCESS_STOPPED))
        SET (m, p, state, MP_MONITOR_PROCESS_RUNNING, MP_PROCESS_PROP_STATE);
      break;
    case MP_PROC_EXITING:
      if (is_final (p->state))
        break;
      if (sp->has_os && !sp->alive)
        set_final (m, p, MP_MONITOR_PROCESS_EXITED, sp->exit_code, sp->exit_ns ? sp->exit_ns : t_ns);
      else
        {
          SET (m, p, state, MP_MONITOR_PROCESS_EXITING, MP_PROCESS_PROP_STATE);
          SET (m, p, exit_code, sp->exit_code, MP_PROCESS_PROP_EXIT_CODE);
        }
      break;
    case MP_PROC_EXITED:
      set_final (m, p, sp->exit_code < 0 ? MP_MONITOR_PROCESS_KILLED : MP_MONITOR_PROCESS_EXITED,
                 sp->exit_code, sp->exit_ns ? sp->exit_ns : t_ns);
      if (sp->exit_ns)
        SET (m, p, exit_ns, sp->exit_ns, MP_PROCESS_PROP_EXIT_TIME);
      break;
    default:
      break;
    }

  if (sp->has_os && sp->alive && !is_final (p->state))
    {
      SET (m, p, cpu_percent, isfinite (sp->cpu_percent) ? sp->cpu_percent : 0.0,
           MP_PROCESS_PROP_CPU_PERCENT);
      SET (m, p, rss, sp->rss_bytes, MP_PROCESS_PROP_RSS);
    }
}

static gint
by_gone (gconstpointer a, gconstpointer b)
{
  const MpMonitorProcess *x = *(MpMonitorProcess * const *) a;
  const MpMonitorProcess *y = *(MpMonitorProcess * const *) b;

  return x->gone_ns < y->gone_ns ? -1 : x->gone_ns > y->gone_ns;
}

static void
prune_processes (MpMonitorModels *m)
{
  g_autoptr(GPtrArray) finals = g_ptr_array_new ();
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->processes));
  guint excess;

  /* In the order they were first seen, which a stable sort keeps among equal exit times. */
  for (guint i = 0; i < n; i++)
    {
      MpMonitorProcess *p = g_list_model_get_item (G_LIST_MODEL (m->processes), i);
      g_object_unref (p);   /* the store keeps it */
      if (is_final (p->state))
        g_ptr_array_add (finals, p);
    }
  g_ptr_array_sort (finals, by_gone);
  excess = finals->len > m->config.max_exited ? finals->len - m->config.max_exited : 0;
  for (guint i = 0; i < finals->len; i++)
    {
      MpMonitorProcess *p = finals->pdata[i];
      if (i < excess || p->gone_ns + m->config.keep_exited_ns < m->now_ns)
        remove_process (m, p);
    }
}

/* ---- objects ----------------------------------------------------------------------------- */

static MpObjCommon *
common_of (gpointer item)
{
  if (MP_IS_MONITOR_POOL (item))
    return &MP_MONITOR_POOL (item)->c;
  if (MP_IS_MONITOR_QUEUE (item))
    return &MP_MONITOR_QUEUE (item)->c;
  if (MP_IS_MONITOR_LOCK (item))
    return &MP_MONITOR_LOCK (item)->c;
  return &MP_MONITOR_SEGMENT (item)->c;
}

static GListStore *
store_of (MpMonitorModels *m, gpointer item)
{
  if (MP_IS_MONITOR_POOL (item))
    return m->pools;
  if (MP_IS_MONITOR_QUEUE (item))
    return m->queues;
  if (MP_IS_MONITOR_LOCK (item))
    return m->locks;
  return m->segments;
}

/* The item for @id, created with @type if it does not exist; NULL if @id names an item of
 * another type (an id reused with another kind can only come from corrupt input). */
static gpointer
ensure_object (MpMonitorModels *m, guint64 id, GType type)
{
  gpointer item = g_hash_table_lookup (m->obj_by_id, &id);
  guint64 *key;

  if (item != NULL)
    return G_TYPE_CHECK_INSTANCE_TYPE (item, type) ? item : NULL;
  if (id == 0 || g_hash_table_size (m->obj_by_id) >= MAX_OBJECTS)
    return NULL;
  if (type == MP_TYPE_MONITOR_POOL &&
      g_list_model_get_n_items (G_LIST_MODEL (m->pools)) >= MAX_POOLS)
    return NULL;
  if (type == MP_TYPE_MONITOR_POOL)
    item = _mp_monitor_pool_new (id);
  else if (type == MP_TYPE_MONITOR_QUEUE)
    item = _mp_monitor_queue_new (id);
  else if (type == MP_TYPE_MONITOR_LOCK)
    item = _mp_monitor_lock_new (id);
  else
    item = _mp_monitor_segment_new (id);
  key = g_new (guint64, 1);
  *key = id;
  g_hash_table_insert (m->obj_by_id, key, item);
  g_list_store_append (store_of (m, item), item);
  g_object_unref (item);
  return item;
}

static void
remove_object (MpMonitorModels *m, gpointer item)
{
  guint64 id = common_of (item)->id;

  g_object_ref (item);
  g_hash_table_remove (m->obj_by_id, &id);
  store_remove_item (store_of (m, item), item);
  g_object_unref (item);
}

const char *
_mp_monitor_models_lookup_label (MpMonitorModels *m, guint64 id)
{
  gpointer item = g_hash_table_lookup (m->obj_by_id, &id);

  if (item != NULL)
    return common_of (item)->label;
  return g_hash_table_lookup (m->other_labels, &id);
}

static void
set_common (MpMonitorModels *m, gpointer item, MpItemHeader *h, MpObjCommon *c,
            const MpSnapObject *so, guint64 t_ns)
{
  if (c->kind != (int) so->kind)
    {
      c->kind = (int) so->kind;
      mark (m, item, h, MP_OBJ_PROP_KIND);
      mark (m, item, h, MP_OBJ_PROP_KIND_NAME);
    }
  if (so->label[0] && g_strcmp0 (c->label, so->label) != 0)
    {
      g_free (c->label);
      c->label = g_strdup (so->label);
      mark (m, item, h, MP_OBJ_PROP_LABEL);
    }
  if (c->creator_pid != so->creator_pid)
    {
      c->creator_pid = so->creator_pid;
      mark (m, item, h, MP_OBJ_PROP_CREATOR_PID);
    }
  if (c->create_ns != so->create_ns)
    {
      c->create_ns = so->create_ns;
      mark (m, item, h, MP_OBJ_PROP_CREATE_TIME);
    }
  if (so->state == 2 && !c->destroyed)
    {
      c->destroyed = TRUE;
      c->destroyed_ns = t_ns;
      mark (m, item, h, MP_OBJ_PROP_DESTROYED);
    }
  c->seen_ns = t_ns;
}

static double
rate (guint64 now_count, guint64 last_count, guint64 t_ns, guint64 last_t_ns)
{
  if (last_t_ns == 0 || t_ns <= last_t_ns || now_count < last_count)
    return 0.0;
  return (double) (now_count - last_count) / ((double) (t_ns - last_t_ns) / 1e9);
}

static int
cmp_u64 (const void *a, const void *b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? -1 : x > y;
}

static void
update_pool_median (MpMonitorModels *m, MpMonitorPool *pool)
{
  g_autofree guint64 *v = NULL;

  if (!pool->median_dirty || pool->durations_len == 0)
    return;
  pool->median_dirty = FALSE;
  v = g_memdup2 (pool->durations, sizeof (guint64) * pool->durations_len);
  qsort (v, pool->durations_len, sizeof (guint64), cmp_u64);
  SET (m, pool, median_task_ns, v[pool->durations_len / 2], MP_POOL_PROP_MEDIAN_TASK_NS);
}

static void
apply_snap_pool (MpMonitorModels *m, const MpSnapObject *so, guint64 t_ns)
{
  const MpPoolStats *st = (const MpPoolStats *) (const void *) so->stats;
  MpMonitorPool *pool = ensure_object (m, so->id, MP_TYPE_MONITOR_POOL);
  guint64 done;

  if (pool == NULL)
    return;
  set_common (m, pool, &pool->h, &pool->c, so, t_ns);
  SET (m, pool, workers, st->workers, MP_POOL_PROP_WORKERS);
  SET (m, pool, workers_alive, st->workers_alive, MP_POOL_PROP_WORKERS_ALIVE);
  SET (m, pool, submitted, st->submitted, MP_POOL_PROP_SUBMITTED);
  SET (m, pool, queued, st->queued, MP_POOL_PROP_QUEUED);
  SET (m, pool, running, st->running, MP_POOL_PROP_RUNNING);
  SET (m, pool, completed, st->completed, MP_POOL_PROP_COMPLETED);
  SET (m, pool, failed, st->failed, MP_POOL_PROP_FAILED);
  SET (m, pool, replaced_workers, st->replaced_workers, MP_POOL_PROP_REPLACED_WORKERS);
  SET (m, pool, total_task_ns, st->total_task_ns, MP_POOL_PROP_TOTAL_TASK_NS);
  done = st->completed + st->failed;
  SET (m, pool, mean_task_ns, done ? st->total_task_ns / done : 0, MP_POOL_PROP_MEAN_TASK_NS);
  /* A pool born since the previous full snapshot had done nothing at its creation: that is
   * its first sample, so a pool (or a whole program) that lives less than two sample
   * intervals still gets a rate and a history point. One seen on attach has no such start. */
  if (pool->last_t_ns == 0 && pool->win_len == 0 && m->last_full_ns != 0 &&
      so->create_ns >= m->last_full_ns && so->create_ns < t_ns)
    {
      pool->last_t_ns = so->create_ns;
      pool->last_done = 0;
      pool->win_start = 0;
      pool->win_t[0] = so->create_ns;
      pool->win_done[0] = 0;
      pool->win_len = 1;
    }
  if (pool->last_t_ns != 0 && t_ns > pool->last_t_ns)
    {
      double r = rate (done, pool->last_done, t_ns, pool->last_t_ns);
      SET (m, pool, throughput, r, MP_POOL_PROP_THROUGHPUT);
      _mp_history_push (&pool->throughput_history, r);
    }
  if (t_ns > pool->last_t_ns)
    {
      guint oldest;

      pool->last_t_ns = t_ns;
      pool->last_done = done;
      /* The window: drop samples older than it (keeping one at its edge), add this one. */
      while (pool->win_len > 1 &&
             pool->win_t[(pool->win_start + 1) % MP_POOL_WINDOW_SAMPLES] + MP_POOL_WINDOW_NS <= t_ns)
        {
          pool->win_start = (pool->win_start + 1) % MP_POOL_WINDOW_SAMPLES;
          pool->win_len--;
        }
      if (pool->win_len == MP_POOL_WINDOW_SAMPLES)
        {
          pool->win_start = (pool->win_start + 1) % MP_POOL_WINDOW_SAMPLES;
          pool->win_len--;
        }
      pool->win_t[(pool->win_start + pool->win_len) % MP_POOL_WINDOW_SAMPLES] = t_ns;
      pool->win_done[(pool->win_start + pool->win_len) % MP_POOL_WINDOW_SAMPLES] = done;
      pool->win_len++;
      oldest = pool->win_start;
      SET (m, pool, throughput_window,
           rate (done, pool->win_done[oldest], t_ns, pool->win_len > 1 ? pool->win_t[oldest] : 0),
           MP_POOL_PROP_THROUGHPUT_WINDOW);
    }
}

static void
apply_snap_queue (MpMonitorModels *m, const MpSnapObject *so, guint64 t_ns)
{
  const MpQueueStats *st = (const MpQueueStats *) (const void *) so->stats;
  MpMonitorQueue *q = ensure_object (m, so->id, MP_TYPE_MONITOR_QUEUE);

  if (q == NULL)
    return;
  set_common (m, q, &q->h, &q->c, so, t_ns);
  SET (m, q, depth, st->depth, MP_QUEUE_PROP_DEPTH);
  SET (m, q, max_depth, MAX (q->max_depth, MAX (st->max_depth, st->depth)), MP_QUEUE_PROP_MAX_DEPTH);
  SET (m, q, maxsize, st->maxsize, MP_QUEUE_PROP_MAXSIZE);
  SET (m, q, puts, st->puts, MP_QUEUE_PROP_PUTS);
  SET (m, q, gets, st->gets, MP_QUEUE_PROP_GETS);
  SET (m, q, bytes_put, st->bytes_put, MP_QUEUE_PROP_BYTES_PUT);
  SET (m, q, bytes_got, st->bytes_got, MP_QUEUE_PROP_BYTES_GOT);
  SET (m, q, unfinished_tasks, st->unfinished_tasks, MP_QUEUE_PROP_UNFINISHED_TASKS);
  SET (m, q, blocked_puts, st->blocked_puts, MP_QUEUE_PROP_BLOCKED_PUTS);
  SET (m, q, blocked_gets, st->blocked_gets, MP_QUEUE_PROP_BLOCKED_GETS);
  if (q->last_t_ns != 0 && t_ns > q->last_t_ns)
    {
      SET (m, q, put_rate, rate (st->puts, q->last_puts, t_ns, q->last_t_ns), MP_QUEUE_PROP_PUT_RATE);
      SET (m, q, get_rate, rate (st->gets, q->last_gets, t_ns, q->last_t_ns), MP_QUEUE_PROP_GET_RATE);
    }
  if (t_ns > q->last_t_ns)
    {
      _mp_history_push (&q->depth_history, (double) st->depth);
      q->last_t_ns = t_ns;
      q->last_puts = st->puts;
      q->last_gets = st->gets;
    }
}

static void
apply_snap_lock (MpMonitorModels *m, const MpSnapObject *so, guint64 t_ns)
{
  const MpSyncStats *st = (const MpSyncStats *) (const void *) so->stats;
  MpMonitorLock *l = ensure_object (m, so->id, MP_TYPE_MONITOR_LOCK);
  gboolean has_holder = so->kind == MP_OBJECT_LOCK || so->kind == MP_OBJECT_RLOCK;
  int holder = has_holder && st->holder_pid > 0 ? st->holder_pid : 0;

  if (l == NULL)
    return;
  set_common (m, l, &l->h, &l->c, so, t_ns);
  if (l->holder_pid != holder)
    m->waiters_dirty = TRUE;
  SET (m, l, holder_pid, holder, MP_LOCK_PROP_HOLDER_PID);
  SET (m, l, acquisitions, st->acquisitions, MP_LOCK_PROP_ACQUISITIONS);
  SET (m, l, contended, st->contended, MP_LOCK_PROP_CONTENDED);
  SET (m, l, contended_percent,
       st->acquisitions ? (double) MIN (st->contended, st->acquisitions) * 100.0 / (double) st->acquisitions : 0.0,
       MP_LOCK_PROP_CONTENDED_PERCENT);
  SET (m, l, total_wait_ns, st->total_wait_ns, MP_LOCK_PROP_TOTAL_WAIT_NS);
  SET (m, l, max_wait_ns, st->max_wait_ns, MP_LOCK_PROP_MAX_WAIT_NS);
  SET (m, l, owner_died, st->owner_died, MP_LOCK_PROP_OWNER_DIED);
  SET (m, l, count, st->count, MP_LOCK_PROP_COUNT);
  SET (m, l, limit, st->limit, MP_LOCK_PROP_LIMIT);
  SET (m, l, last_waiter_pid, st->last_waiter_pid, MP_LOCK_PROP_LAST_WAITER_PID);
  l->nwaiters_stat = MIN (st->nwaiters, 1u << 20);
}

static void
add_pid (GArray *pids, GPid pid, guint max)
{
  for (guint i = 0; i < pids->len; i++)
    if (g_array_index (pids, GPid, i) == pid)
      return;
  if (pids->len < max)
    g_array_append_val (pids, pid);
}

static void
update_leaked (MpMonitorModels *m, MpMonitorSegment *s)
{
  gboolean leaked = s->has_shm_info && s->name != NULL && s->exists && !s->unlinked &&
                    s->n_mappers == 0;

  SET (m, s, leaked, leaked, MP_SEGMENT_PROP_LEAKED);
}

static void
apply_snap_segment (MpMonitorModels *m, const MpSnapObject *so, guint64 t_ns)
{
  const MpShmStats *st = (const MpShmStats *) (const void *) so->stats;
  MpMonitorSegment *s = ensure_object (m, so->id, MP_TYPE_MONITOR_SEGMENT);
  char name[sizeof st->name];

  if (s == NULL)
    return;
  set_common (m, s, &s->h, &s->c, so, t_ns);
  _mp_monitor_copy_name (name, st->name, sizeof name);
  SET_STR (m, s, name, name[0] ? name : NULL, MP_SEGMENT_PROP_NAME);
  SET (m, s, size, st->size, MP_SEGMENT_PROP_SIZE);
  SET (m, s, unlinked, s->unlinked || (st->flags & MP_SHM_FLAG_UNLINKED) != 0, MP_SEGMENT_PROP_UNLINKED);
  for (guint k = 0; k < MP_SHM_STATS_ATTACHED && k < st->n_attached; k++)
    if (st->attached_pid[k] > 0)
      add_pid (s->attached, st->attached_pid[k], MAX_ATTACHED);
  if (so->has_shm_info)
    {
      s->has_shm_info = TRUE;
      SET (m, s, exists, so->shm_exists, MP_SEGMENT_PROP_EXISTS);
      SET (m, s, n_mappers, MIN (so->n_mappers, 1u << 20), MP_SEGMENT_PROP_N_MAPPERS);
    }
  update_leaked (m, s);
}

static void
apply_snap_object (MpMonitorModels *m, const MpSnapObject *so, guint64 t_ns)
{
  if (so->id == 0)
    return;
  if (so->kind == MP_OBJECT_POOL)
    apply_snap_pool (m, so, t_ns);
  else if (_mp_object_kind_is_queue (so->kind))
    apply_snap_queue (m, so, t_ns);
  else if (_mp_object_kind_is_sync (so->kind))
    apply_snap_lock (m, so, t_ns);
  else if (_mp_object_kind_is_segment (so->kind))
    apply_snap_segment (m, so, t_ns);
  else if (so->label[0] && g_hash_table_size (m->other_labels) < MAX_OBJECTS)
    {
      guint64 *key = g_new (guint64, 1);
      *key = so->id;
      g_hash_table_replace (m->other_labels, key, g_strdup (so->label));
    }
}

/* Objects a full snapshot no longer lists were destroyed and their slot reused. */
static void
sweep_objects (MpMonitorModels *m, guint64 t_ns)
{
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, m->obj_by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      MpObjCommon *c = common_of (value);
      MpItemHeader *h = (MpItemHeader *) ((guint8 *) value + sizeof (GObject));

      if (c->seen_ns < t_ns && !c->destroyed)
        {
          c->destroyed = TRUE;
          c->destroyed_ns = t_ns;
          mark (m, value, h, MP_OBJ_PROP_DESTROYED);
        }
      if (c->destroyed && c->destroyed_ns + m->config.keep_exited_ns < m->now_ns &&
          !(MP_IS_MONITOR_SEGMENT (value) && MP_MONITOR_SEGMENT (value)->leaked))
        g_ptr_array_add (gone, value);
    }
  for (guint i = 0; i < gone->len; i++)
    remove_object (m, gone->pdata[i]);
}

/* ---- events ------------------------------------------------------------------------------ */

static MpPoolWorkerState *
pool_worker (MpMonitorPool *pool, gint32 pid, gboolean create)
{
  MpPoolWorkerState w = { .pid = pid };

  for (guint i = 0; i < pool->workers_state->len; i++)
    if (g_array_index (pool->workers_state, MpPoolWorkerState, i).pid == pid)
      return &g_array_index (pool->workers_state, MpPoolWorkerState, i);
  if (!create || pid <= 0 || pool->workers_state->len >= MP_POOL_MAX_WORKERS)
    return NULL;
  g_array_append_val (pool->workers_state, w);
  return &g_array_index (pool->workers_state, MpPoolWorkerState, pool->workers_state->len - 1);
}

static void
task_ended (MpMonitorModels *m, MpMonitorPool *pool, const MpTraceEvent *ev, gboolean failed)
{
  MpPoolWorkerState *w = pool_worker (pool, ev->pid, FALSE);
  MpMonitorTaskSpan span = { 0 };
  guint64 duration = 0;
  MpMonitorProcess *proc;

  if (w == NULL || w->task_id != (guint64) ev->a)
    {
      w = NULL;
      for (guint i = 0; i < pool->workers_state->len; i++)
        {
          MpPoolWorkerState *c = &g_array_index (pool->workers_state, MpPoolWorkerState, i);
          if (c->task_id == (guint64) ev->a && c->task_start_ns != 0)
            w = c;
        }
    }
  if (!failed && ev->b > 0)
    duration = (guint64) ev->b;
  else if (w != NULL && ev->timestamp_ns > w->task_start_ns)
    duration = ev->timestamp_ns - w->task_start_ns;

  span.worker_pid = w ? w->pid : ev->pid;
  span.task_id = (guint64) ev->a;
  span.end_ns = ev->timestamp_ns;
  span.start_ns = w && w->task_start_ns ? w->task_start_ns
                  : ev->timestamp_ns > duration ? ev->timestamp_ns - duration : 0;
  span.failed = failed;
  if (pool->recent == NULL)
    {
      pool->recent = g_new0 (MpMonitorTaskSpan, MP_POOL_RECENT_TASKS);
      pool->durations = g_new0 (guint64, MP_POOL_DURATIONS);
    }
  if (pool->recent_len < MP_POOL_RECENT_TASKS)
    pool->recent[(pool->recent_start + pool->recent_len++) % MP_POOL_RECENT_TASKS] = span;
  else
    {
      pool->recent[pool->recent_start] = span;
      pool->recent_start = (pool->recent_start + 1) % MP_POOL_RECENT_TASKS;
    }
  if (!failed)
    {
      if (pool->durations_len < MP_POOL_DURATIONS)
        pool->durations[(pool->durations_start + pool->durations_len++) % MP_POOL_DURATIONS] = duration;
      else
        {
          pool->durations[pool->durations_start] = duration;
          pool->durations_start = (pool->durations_start + 1) % MP_POOL_DURATIONS;
        }
      pool->median_dirty = TRUE;
    }
  if (w != NULL)
    {
      w->task_id = 0;
      w->task_start_ns = 0;
      w->tasks_done++;
    }
  proc = _mp_monitor_models_lookup_process (m, span.worker_pid);
  if (proc != NULL)
    {
      SET (m, proc, current_task, 0, MP_PROCESS_PROP_CURRENT_TASK);
      SET (m, proc, tasks_done, proc->tasks_done + 1, MP_PROCESS_PROP_TASKS_DONE);
    }
}

static void
apply_event (MpMonitorModels *m, const MpTraceEvent *ev)
{
  MpMonitorProcess *p;

  switch (ev->type)
    {
    case MP_EVENT_PROCESS_CREATED:
      if (ev->a <= 0 || ev->a > G_MAXINT32 || (p = ensure_process (m, (gint32) ev->a)) == NULL)
        break;
      if (is_final (p->state) && ev->timestamp_ns > p->exit_ns)
        reset_process (m, p);
      SET (m, p, create_ns, ev->timestamp_ns, MP_PROCESS_PROP_CREATE_TIME);
      SET_STR (m, p, start_method, method_name ((guint32) ev->b), MP_PROCESS_PROP_START_METHOD);
      if (p->ppid != ev->pid && !p->in_table)
        {
          SET (m, p, ppid, ev->pid, MP_PROCESS_PROP_PPID);
          place (m, p);
        }
      break;

    case MP_EVENT_PROCESS_STARTED:
      if ((p = ensure_process (m, ev->pid)) == NULL)
        break;
      if (is_final (p->state) && ev->timestamp_ns > p->exit_ns)
        reset_process (m, p);
      if (p->state == MP_MONITOR_PROCESS_STARTING)
        SET (m, p, state, MP_MONITOR_PROCESS_RUNNING, MP_PROCESS_PROP_STATE);
      SET (m, p, start_ns, ev->timestamp_ns, MP_PROCESS_PROP_START_TIME);
      if (ev->a > 0 && ev->a <= G_MAXINT32 && p->ppid != ev->a && !p->in_table)
        {
          SET (m, p, ppid, (int) ev->a, MP_PROCESS_PROP_PPID);
          place (m, p);
        }
      break;

    case MP_EVENT_PROCESS_EXITING:
      if ((p = ensure_process (m, ev->pid)) == NULL)
        break;
      if (!is_final (p->state))
        {
          SET (m, p, state, MP_MONITOR_PROCESS_EXITING, MP_PROCESS_PROP_STATE);
          SET (m, p, exit_code, (int) CLAMP (ev->a, G_MININT32, G_MAXINT32), MP_PROCESS_PROP_EXIT_CODE);
        }
      break;

    case MP_EVENT_PROCESS_EXITED:
      if (ev->a <= 0 || ev->a > G_MAXINT32 || (p = ensure_process (m, (gint32) ev->a)) == NULL)
        break;
      {
        int code = (int) CLAMP (ev->b, G_MININT32, G_MAXINT32);
        set_final (m, p, code < 0 ? MP_MONITOR_PROCESS_KILLED : MP_MONITOR_PROCESS_EXITED, code,
                   ev->timestamp_ns);
        SET (m, p, exit_ns, ev->timestamp_ns, MP_PROCESS_PROP_EXIT_TIME);
      }
      break;

    case MP_EVENT_TASK_SUBMITTED:
      (void) ensure_object (m, ev->object, MP_TYPE_MONITOR_POOL);
      break;

    case MP_EVENT_TASK_STARTED:
      {
        MpMonitorPool *pool = ensure_object (m, ev->object, MP_TYPE_MONITOR_POOL);
        gint32 worker = ev->b > 0 && ev->b <= G_MAXINT32 ? (gint32) ev->b : ev->pid;
        MpPoolWorkerState *w;

        if (pool == NULL || (w = pool_worker (pool, worker, TRUE)) == NULL)
          break;
        /* A worker runs one task at a time: an unfinished previous one ended unseen. */
        w->task_id = (guint64) ev->a;
        w->task_start_ns = ev->timestamp_ns;
        if ((p = ensure_process (m, worker)) != NULL)
          {
            SET (m, p, current_task, (guint64) ev->a, MP_PROCESS_PROP_CURRENT_TASK);
            if (p->role == MP_MONITOR_ROLE_PROCESS && !p->in_table)
              SET (m, p, role, MP_MONITOR_ROLE_WORKER, MP_PROCESS_PROP_ROLE);
          }
      }
      break;

    case MP_EVENT_TASK_FINISHED:
    case MP_EVENT_TASK_FAILED:
      {
        MpMonitorPool *pool = ensure_object (m, ev->object, MP_TYPE_MONITOR_POOL);
        if (pool != NULL)
          task_ended (m, pool, ev, ev->type == MP_EVENT_TASK_FAILED);
      }
      break;

    case MP_EVENT_WORKER_REPLACED:
      {
        MpMonitorPool *pool = ensure_object (m, ev->object, MP_TYPE_MONITOR_POOL);
        MpPoolWorkerState *w;

        if (pool == NULL)
          break;
        if (ev->a > 0 && ev->a <= G_MAXINT32 && (w = pool_worker (pool, (gint32) ev->a, FALSE)) != NULL)
          g_array_remove_index (pool->workers_state,
                                (guint) (w - &g_array_index (pool->workers_state, MpPoolWorkerState, 0)));
        if (ev->b > 0 && ev->b <= G_MAXINT32)
          (void) pool_worker (pool, (gint32) ev->b, TRUE);
      }
      break;

    case MP_EVENT_QUEUE_PUT:
    case MP_EVENT_QUEUE_GET:
      {
        MpMonitorQueue *q = ensure_object (m, ev->object, MP_TYPE_MONITOR_QUEUE);
        if (q != NULL && ev->a >= 0)
          {
            SET (m, q, depth, (guint64) ev->a, MP_QUEUE_PROP_DEPTH);
            if (q->depth > q->max_depth)
              SET (m, q, max_depth, q->depth, MP_QUEUE_PROP_MAX_DEPTH);
          }
      }
      break;

    case MP_EVENT_LOCK_CONTENDED:
    case MP_EVENT_LOCK_ACQUIRED:
    case MP_EVENT_LOCK_RELEASED:
    case MP_EVENT_LOCK_OWNER_DIED:
      {
        MpMonitorLock *l = ensure_object (m, ev->object, MP_TYPE_MONITOR_LOCK);

        if (l == NULL)
          break;
        p = ensure_process (m, ev->pid);
        if (ev->type == MP_EVENT_LOCK_CONTENDED && p != NULL)
          {
            /* b = 0: the wait starts; b > 0: it ended after b ns. */
            guint64 pending = ev->b == 0 ? ev->object : 0;
            if (p->pending_lock != pending)
              {
                p->pending_lock = pending;
                m->waiters_dirty = TRUE;
              }
          }
        else if (ev->type == MP_EVENT_LOCK_ACQUIRED)
          {
            if (p != NULL && p->pending_lock == ev->object)
              {
                p->pending_lock = 0;
                m->waiters_dirty = TRUE;
              }
            if (l->c.kind == MP_OBJECT_LOCK || l->c.kind == MP_OBJECT_RLOCK)
              {
                SET (m, l, holder_pid, ev->pid, MP_LOCK_PROP_HOLDER_PID);
                m->waiters_dirty = TRUE;
              }
          }
        else if (ev->type == MP_EVENT_LOCK_RELEASED && l->holder_pid == ev->pid)
          {
            SET (m, l, holder_pid, 0, MP_LOCK_PROP_HOLDER_PID);
            m->waiters_dirty = TRUE;
          }
      }
      break;

    case MP_EVENT_BARRIER_WAIT:
    case MP_EVENT_CONDITION_WAIT:
      (void) ensure_object (m, ev->object, MP_TYPE_MONITOR_LOCK);
      break;

    case MP_EVENT_SHM_CREATED:
    case MP_EVENT_SHM_ATTACHED:
    case MP_EVENT_SHM_UNLINKED:
      {
        MpMonitorSegment *s = ensure_object (m, ev->object, MP_TYPE_MONITOR_SEGMENT);

        if (s == NULL)
          break;
        if (ev->type == MP_EVENT_SHM_UNLINKED)
          {
            SET (m, s, unlinked, TRUE, MP_SEGMENT_PROP_UNLINKED);
            update_leaked (m, s);
          }
        else
          {
            if (ev->a > 0)
              SET (m, s, size, (guint64) ev->a, MP_SEGMENT_PROP_SIZE);
            add_pid (s->attached, ev->pid, MAX_ATTACHED);
          }
      }
      break;

    default:
      break;
    }
}

static gboolean
same_pids (GArray *a, GArray *b)
{
  guint blen = b ? b->len : 0;

  return a->len == blen && (blen == 0 || memcmp (a->data, b->data, sizeof (GPid) * blen) == 0);
}

/* The waiters of every lock: live processes whose table entry or contention event says they
 * wait on it. */
static void
update_waiters (MpMonitorModels *m)
{
  g_autoptr(GHashTable) fresh = NULL;   /* lock → GArray of pids */
  GHashTableIter iter;
  gpointer value;
  guint n;

  if (!m->waiters_dirty)
    return;
  m->waiters_dirty = FALSE;
  fresh = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_array_unref);

  n = g_list_model_get_n_items (G_LIST_MODEL (m->processes));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (G_LIST_MODEL (m->processes), i);
      guint64 ids[2] = { p->blocked_on, p->pending_lock };

      if (is_final (p->state))
        continue;
      for (guint k = 0; k < 2; k++)
        {
          gpointer item;
          GArray *pids;

          if (ids[k] == 0 || (k == 1 && ids[1] == ids[0]))
            continue;
          item = g_hash_table_lookup (m->obj_by_id, &ids[k]);
          if (item == NULL || !MP_IS_MONITOR_LOCK (item))
            continue;
          pids = g_hash_table_lookup (fresh, item);
          if (pids == NULL)
            {
              pids = g_array_new (FALSE, FALSE, sizeof (GPid));
              g_hash_table_insert (fresh, item, pids);
            }
          add_pid (pids, p->pid, MP_LOCK_MAX_WAITERS);
        }
    }

  g_hash_table_iter_init (&iter, m->obj_by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (MP_IS_MONITOR_LOCK (value))
      {
        MpMonitorLock *l = MP_MONITOR_LOCK (value);
        GArray *pids = g_hash_table_lookup (fresh, l);
        gboolean changed = FALSE;
        guint nw;

        if (!same_pids (l->waiters, pids))
          {
            g_array_set_size (l->waiters, 0);
            if (pids != NULL)
              g_array_append_vals (l->waiters, pids->data, pids->len);
            changed = TRUE;
          }
        nw = MAX (l->nwaiters_stat, l->waiters->len);
        if (changed || nw != l->n_waiters)
          {
            /* The list itself has no property: n-waiters announces it. */
            l->n_waiters = nw;
            mark (m, l, &l->h, MP_LOCK_PROP_N_WAITERS);
          }
      }
}

void
_mp_monitor_models_apply_events (MpMonitorModels *m, const MpTraceEvent *events, guint n_events)
{
  begin_placing (m);
  for (guint i = 0; i < n_events; i++)
    {
      if (events[i].timestamp_ns > m->now_ns)
        m->now_ns = events[i].timestamp_ns;
      apply_event (m, &events[i]);
    }
  end_placing (m);
  update_waiters (m);
}

void
_mp_monitor_models_apply_lost (MpMonitorModels *m, guint64 t_ns, guint64 n_lost)
{
  if (t_ns > m->now_ns)
    m->now_ns = t_ns;
}

/* ---- analysis ---------------------------------------------------------------------------- */

static MpMonitorLock *
lock_waited_by (MpMonitorModels *m, MpMonitorProcess *p)
{
  guint64 ids[2] = { p->blocked_on, p->pending_lock };

  for (guint k = 0; k < 2; k++)
    {
      gpointer item;
      if (ids[k] == 0)
        continue;
      item = g_hash_table_lookup (m->obj_by_id, &ids[k]);
      if (item != NULL && MP_IS_MONITOR_LOCK (item))
        return MP_MONITOR_LOCK (item);
    }
  return NULL;
}

GArray *
_mp_monitor_models_wait_for_edges (MpMonitorModels *m)
{
  GArray *edges = g_array_new (FALSE, FALSE, sizeof (MpWaitEdge));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->processes));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (G_LIST_MODEL (m->processes), i);
      MpMonitorLock *l;
      MpMonitorProcess *holder;

      if (is_final (p->state) || (l = lock_waited_by (m, p)) == NULL)
        continue;
      if (l->holder_pid <= 0 || l->holder_pid == p->pid)
        continue;
      holder = _mp_monitor_models_lookup_process (m, l->holder_pid);
      if (holder != NULL && is_final (holder->state))
        continue;
      {
        MpWaitEdge e = { .waiter_pid = p->pid, .holder_pid = l->holder_pid, .lock_id = l->c.id };
        g_array_append_val (edges, e);
      }
    }
  return edges;
}

typedef struct
{
  const char *key;
  int         kind;
  GString    *message;
  GArray     *pids;
  GArray     *objects;
} Detected;

static void
raise_alert (MpMonitorModels *m, MpMonitorAlertKind kind, const char *key, const char *message,
             const GPid *pids, guint n_pids, const guint64 *objects, guint n_objects)
{
  MpMonitorAlert *a = g_hash_table_lookup (m->alert_by_key, key);

  if (a != NULL)
    {
      a->seen = TRUE;
      SET_STR (m, a, message, message, MP_ALERT_PROP_MESSAGE);
      return;
    }
  a = _mp_monitor_alert_new (kind, key);
  a->message = g_strdup (message);
  a->since = m->now_ns;
  a->seen = TRUE;
  g_array_append_vals (a->pids, pids, n_pids);
  g_array_append_vals (a->objects, objects, n_objects);
  g_hash_table_insert (m->alert_by_key, a->key, a);
  g_list_store_append (m->alerts, a);
  g_object_unref (a);
  if (m->alert_raised)
    m->alert_raised (a, m->user_data);
}

static const char *
proc_label (MpMonitorModels *m, GPid pid)
{
  MpMonitorProcess *p = _mp_monitor_models_lookup_process (m, pid);
  return p ? p->name : "?";
}

static void
detect_deadlocks (MpMonitorModels *m)
{
  g_autoptr(GArray) edges = _mp_monitor_models_wait_for_edges (m);
  g_autoptr(GHashTable) out = g_hash_table_new (NULL, NULL);     /* waiter → edge index + 1 */
  g_autoptr(GHashTable) color = g_hash_table_new (NULL, NULL);   /* pid → 1 on path, 2 done */

  for (guint i = 0; i < edges->len; i++)
    g_hash_table_insert (out, GINT_TO_POINTER (g_array_index (edges, MpWaitEdge, i).waiter_pid),
                         GUINT_TO_POINTER (i + 1));

  for (guint i = 0; i < edges->len; i++)
    {
      g_autoptr(GArray) path = g_array_new (FALSE, FALSE, sizeof (guint));   /* edge indices */
      GPid pid = g_array_index (edges, MpWaitEdge, i).waiter_pid;

      /* Each waiter waits for one holder: follow the chain until it ends or closes. */
      while (GPOINTER_TO_UINT (g_hash_table_lookup (color, GINT_TO_POINTER (pid))) == 0)
        {
          guint e = GPOINTER_TO_UINT (g_hash_table_lookup (out, GINT_TO_POINTER (pid)));
          if (e == 0)
            break;
          g_hash_table_insert (color, GINT_TO_POINTER (pid), GUINT_TO_POINTER (1));
          e--;
          g_array_append_val (path, e);
          pid = g_array_index (edges, MpWaitEdge, e).holder_pid;
        }
      if (GPOINTER_TO_UINT (g_hash_table_lookup (color, GINT_TO_POINTER (pid))) == 1)
        {
          /* pid is on the current path: the cycle starts at its edge. */
          guint start = 0;
          g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (GPid));
          g_autoptr(GArray) locks = g_array_new (FALSE, FALSE, sizeof (guint64));
          g_autoptr(GString) key = g_string_new ("deadlock");
          g_autoptr(GString) msg = g_string_new ("Deadlock: ");
          guint first;

          while (g_array_index (edges, MpWaitEdge, g_array_index (path, guint, start)).waiter_pid != pid)
            start++;
          /* Start the cycle at its smallest pid so the same cycle always reads the same. */
          first = start;
          for (guint k = start; k < path->len; k++)
            if (g_array_index (edges, MpWaitEdge, g_array_index (path, guint, k)).waiter_pid <
                g_array_index (edges, MpWaitEdge, g_array_index (path, guint, first)).waiter_pid)
              first = k;
          for (guint j = 0; j < path->len - start; j++)
            {
              guint k = start + (first - start + j) % (path->len - start);
              const MpWaitEdge *e = &g_array_index (edges, MpWaitEdge, g_array_index (path, guint, k));
              const char *label = _mp_monitor_models_lookup_label (m, e->lock_id);

              g_array_append_val (pids, e->waiter_pid);
              g_array_append_val (locks, e->lock_id);
              g_string_append_printf (msg, "%spid %d (%s) waits for %s held by pid %d (%s)",
                                      j ? "; " : "", e->waiter_pid, proc_label (m, e->waiter_pid),
                                      label ? label : "?", e->holder_pid,
                                      proc_label (m, e->holder_pid));
            }
          for (guint k = 0; k < pids->len; k++)
            g_string_append_printf (key, ":%d", g_array_index (pids, GPid, k));
          raise_alert (m, MP_MONITOR_ALERT_DEADLOCK, key->str, msg->str,
                       (const GPid *) (void *) pids->data, pids->len,
                       (const guint64 *) (void *) locks->data, locks->len);
        }
      for (guint k = 0; k < path->len; k++)
        g_hash_table_insert (color,
                             GINT_TO_POINTER (g_array_index (edges, MpWaitEdge,
                                                             g_array_index (path, guint, k)).waiter_pid),
                             GUINT_TO_POINTER (2));
    }
}

static void
detect_stuck_workers (MpMonitorModels *m)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->pools));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorPool) pool = g_list_model_get_item (G_LIST_MODEL (m->pools), i);
      guint64 threshold;

      update_pool_median (m, pool);
      if (pool->durations_len < m->config.stuck_min_samples)
        continue;
      threshold = (guint64) MIN ((double) pool->median_task_ns * m->config.stuck_factor,
                                 (double) G_MAXUINT64 / 2);
      threshold = MAX (threshold, m->config.stuck_min_ns);
      for (guint k = 0; k < pool->workers_state->len; k++)
        {
          const MpPoolWorkerState *w = &g_array_index (pool->workers_state, MpPoolWorkerState, k);
          MpMonitorProcess *p = _mp_monitor_models_lookup_process (m, w->pid);
          guint64 running;
          g_autofree char *key = NULL, *msg = NULL;

          if (w->task_id == 0 || w->task_start_ns == 0 || m->now_ns <= w->task_start_ns)
            continue;
          if (p != NULL && is_final (p->state))
            continue;
          running = m->now_ns - w->task_start_ns;
          if (running <= threshold)
            continue;
          key = g_strdup_printf ("stuck:%" G_GUINT64_FORMAT ":%d:%" G_GUINT64_FORMAT,
                                 pool->c.id, w->pid, w->task_id);
          msg = g_strdup_printf ("Stuck worker: pid %d (%s) of %s has run task %" G_GUINT64_FORMAT
                                 " for %.1f s, %.0f× the pool's median task time (%.3f s)",
                                 w->pid, p ? p->name : "?", pool->c.label, w->task_id,
                                 (double) running / 1e9,
                                 pool->median_task_ns ? (double) running / (double) pool->median_task_ns : 0.0,
                                 (double) pool->median_task_ns / 1e9);
          raise_alert (m, MP_MONITOR_ALERT_STUCK_WORKER, key, msg, &w->pid, 1, &pool->c.id, 1);
        }
    }
}

static void
detect_leaks (MpMonitorModels *m)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->segments));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorSegment) s = g_list_model_get_item (G_LIST_MODEL (m->segments), i);
      g_autofree char *key = NULL, *msg = NULL, *size = NULL;
      GPid creator;

      if (!s->leaked)
        continue;
      creator = s->c.creator_pid;
      size = g_format_size_full (s->size, G_FORMAT_SIZE_IEC_UNITS);
      key = g_strdup_printf ("leak:%" G_GUINT64_FORMAT, s->c.id);
      msg = g_strdup_printf ("Leaked segment: '%s' (%s, %s, created by pid %d) is not unlinked "
                             "and no live process maps it",
                             s->name, s->c.label, size, creator);
      raise_alert (m, MP_MONITOR_ALERT_LEAKED_SEGMENT, key, msg, &creator, 1, &s->c.id, 1);
    }
}

static void
evaluate_alerts (MpMonitorModels *m)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->alerts));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorAlert) a = g_list_model_get_item (G_LIST_MODEL (m->alerts), i);
      a->seen = FALSE;
    }
  detect_deadlocks (m);
  detect_stuck_workers (m);
  detect_leaks (m);
  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (m->alerts)); i-- > 0;)
    {
      g_autoptr(MpMonitorAlert) a = g_list_model_get_item (G_LIST_MODEL (m->alerts), i);
      if (!a->seen)
        {
          g_hash_table_remove (m->alert_by_key, a->key);
          g_list_store_remove (m->alerts, i);
        }
    }
}

void
_mp_monitor_models_apply_snapshot (MpMonitorModels *m, const MpMonitorSnapshot *snap)
{
  if (snap->t_ns > m->now_ns)
    m->now_ns = snap->t_ns;
  begin_placing (m);
  for (guint i = 0; i < snap->processes->len; i++)
    apply_snap_process (m, &g_array_index (snap->processes, MpSnapProcess, i), snap->t_ns);
  end_placing (m);
  if (snap->full)
    {
      for (guint i = 0; i < snap->objects->len; i++)
        apply_snap_object (m, &g_array_index (snap->objects, MpSnapObject, i), snap->t_ns);
      sweep_objects (m, snap->t_ns);
      prune_processes (m);
      m->last_full_ns = MAX (m->last_full_ns, snap->t_ns);
    }
  m->waiters_dirty = TRUE;
  update_waiters (m);
  if (snap->full)
    evaluate_alerts (m);
}

gboolean
_mp_monitor_models_any_alive (MpMonitorModels *m)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (m->processes));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (G_LIST_MODEL (m->processes), i);
      if (!is_final (p->state))
        return TRUE;
    }
  return FALSE;
}
