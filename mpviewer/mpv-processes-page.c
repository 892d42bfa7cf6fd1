/* mpv-processes-page.c: the live process tree
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * Model stack: the monitor's roots → GtkTreeListModel (children from each process's own
 * children model) → GtkSortListModel with a GtkTreeListRowSorter around the column view's
 * sorter, so sorting orders siblings and keeps the tree → GtkSingleSelection → GtkColumnView.
 *
 * A sort list model does not notice that a sorted-by property changed (CPU % changes every
 * sample), so a refresh re-sorts when a sort column is set. A collapsed process shows the CPU
 * and memory of its whole subtree, marked with Σ.
 */

#include "mpv-cells.h"
#include "mpv-format.h"
#include "mpv-processes-page.h"

struct _MpvProcessesPage
{
  MpvPage               parent_instance;

  /* template */
  GtkColumnView        *column_view;
  GtkColumnViewColumn  *name_column;
  GtkColumnViewColumn  *pid_column;
  GtkColumnViewColumn  *role_column;
  GtkColumnViewColumn  *state_column;
  GtkColumnViewColumn  *cpu_column;
  GtkColumnViewColumn  *rss_column;
  GtkColumnViewColumn  *start_column;
  GtkColumnViewColumn  *activity_column;
  GtkLabel             *summary_label;

  /* owned */
  MpvCellSet           *cells;
  GtkTreeListModel     *tree;
  GtkSortListModel     *sorted;
  GtkSorter            *row_sorter;
};

G_DEFINE_FINAL_TYPE (MpvProcessesPage, mpv_processes_page, MPV_TYPE_PAGE)

/* ---- cells --------------------------------------------------------------------------------- */

static void
subtree_totals (MpMonitorProcess *p, double *cpu, guint64 *rss, guint depth)
{
  GListModel *children = mp_monitor_process_get_children (p);
  guint n = children ? g_list_model_get_n_items (children) : 0;

  if (mp_monitor_process_is_alive (p))
    {
      *cpu += mp_monitor_process_get_cpu_percent (p);
      *rss += mp_monitor_process_get_rss (p);
    }
  for (guint i = 0; i < n && depth < 64; i++)
    {
      g_autoptr(MpMonitorProcess) c = g_list_model_get_item (children, i);
      subtree_totals (c, cpu, rss, depth + 1);
    }
}

/* A collapsed row with children stands for its subtree. */
static gboolean
shows_totals (GObject *row, MpMonitorProcess *p)
{
  GListModel *children;

  if (!GTK_IS_TREE_LIST_ROW (row) || gtk_tree_list_row_get_expanded (GTK_TREE_LIST_ROW (row)))
    return FALSE;
  children = mp_monitor_process_get_children (p);
  return children != NULL && g_list_model_get_n_items (children) > 0;
}

static char *
name_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup (mp_monitor_process_get_name (item));
}

static char *
pid_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup_printf ("%d", (int) mp_monitor_process_get_pid (item));
}

static char *
role_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  return g_strdup (mp_monitor_process_role_to_string (mp_monitor_process_get_role (item)));
}

static char *
state_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  MpMonitorProcessState state = mp_monitor_process_get_state (item);

  if ((state == MP_MONITOR_PROCESS_EXITED && mp_monitor_process_get_exit_code (item) != 0) ||
      state == MP_MONITOR_PROCESS_KILLED)
    *css = "failed-text";
  return mpv_format_process_state (item);
}

static char *
cpu_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  if (shows_totals (row, item))
    {
      double cpu = 0;
      guint64 rss = 0;

      subtree_totals (item, &cpu, &rss, 0);
      *css = "total";
      return g_strdup_printf ("Σ %.1f", cpu);
    }
  if (!mp_monitor_process_is_alive (item))
    return g_strdup ("–");
  return g_strdup_printf ("%.1f", mp_monitor_process_get_cpu_percent (item));
}

static char *
rss_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  g_autofree char *size = NULL;

  if (shows_totals (row, item))
    {
      double cpu = 0;
      guint64 rss = 0;

      subtree_totals (item, &cpu, &rss, 0);
      size = mpv_format_size (rss);
      *css = "total";
      return g_strdup_printf ("Σ %s", size);
    }
  if (!mp_monitor_process_is_alive (item))
    return g_strdup ("–");
  return mpv_format_size (mp_monitor_process_get_rss (item));
}

static char *
start_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  MpMonitor *monitor = mpv_page_get_monitor (data);
  guint64 t = mp_monitor_process_get_start_time (item);

  return monitor ? mpv_format_since_start (monitor, t) : g_strdup ("");
}

static char *
activity_text (GObject *row, gpointer item, gpointer data, const char **css)
{
  MpMonitor *monitor = mpv_page_get_monitor (data);
  guint64 blocked = mp_monitor_process_get_blocked_on (item);
  guint64 task = mp_monitor_process_get_current_task (item);
  guint64 done = mp_monitor_process_get_tasks_done (item);

  if (blocked != 0 && mp_monitor_process_is_alive (item))
    {
      g_autofree char *obj = mpv_format_object (monitor, blocked);
      *css = "failed-text";
      return g_strdup_printf ("waits for %s", obj);
    }
  if (task != 0)
    return g_strdup_printf ("task %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " done)", task, done);
  if (done != 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " tasks done", done);
  return g_strdup ("");
}

/* ---- tree ---------------------------------------------------------------------------------- */

static GListModel *
create_children (gpointer item, gpointer user_data)
{
  GListModel *children = mp_monitor_process_get_children (item);

  return children ? g_object_ref (children) : NULL;
}

GListModel *
mpv_processes_page_get_rows (MpvProcessesPage *self)
{
  g_return_val_if_fail (MPV_IS_PROCESSES_PAGE (self), NULL);
  return self->sorted ? G_LIST_MODEL (self->sorted) : NULL;
}

static void
mpv_processes_page_monitor_changed (MpvPage *page, MpMonitor *monitor)
{
  MpvProcessesPage *self = MPV_PROCESSES_PAGE (page);
  g_autoptr(GtkSingleSelection) selection = NULL;

  gtk_column_view_set_model (self->column_view, NULL);
  g_clear_object (&self->sorted);
  g_clear_object (&self->tree);
  if (monitor == NULL)
    return;

  self->tree = gtk_tree_list_model_new (g_object_ref (mp_monitor_get_process_roots (monitor)),
                                        FALSE, TRUE, create_children, NULL, NULL);
  self->sorted = gtk_sort_list_model_new (g_object_ref (G_LIST_MODEL (self->tree)),
                                          g_object_ref (self->row_sorter));
  selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->sorted)));
  gtk_single_selection_set_autoselect (selection, FALSE);
  gtk_single_selection_set_can_unselect (selection, TRUE);
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (selection));
}

static void
mpv_processes_page_refresh (MpvPage *page)
{
  MpvProcessesPage *self = MPV_PROCESSES_PAGE (page);
  MpMonitor *monitor = mpv_page_get_monitor (page);
  GListModel *all;
  guint n, alive = 0;

  if (monitor == NULL)
    {
      gtk_label_set_text (self->summary_label, "");
      return;
    }
  all = mp_monitor_get_processes (monitor);
  n = g_list_model_get_n_items (all);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(MpMonitorProcess) p = g_list_model_get_item (all, i);
      alive += mp_monitor_process_is_alive (p);
    }
  {
    g_autofree char *text = g_strdup_printf ("%u processes, %u running", n, alive);
    gtk_label_set_text (self->summary_label, text);
  }

  if (gtk_sorter_get_order (gtk_column_view_get_sorter (self->column_view)) != GTK_SORTER_ORDER_NONE)
    gtk_sorter_changed (self->row_sorter, GTK_SORTER_CHANGE_DIFFERENT);
  mpv_cell_set_refresh (self->cells);
}

static void
set_all_expanded (MpvProcessesPage *self, gboolean expanded)
{
  GListModel *rows;

  if (self->tree == NULL)
    return;
  gtk_tree_list_model_set_autoexpand (self->tree, expanded);
  rows = G_LIST_MODEL (self->tree);
  /* Collapsing from the end keeps the positions of the rows still to visit; expanding from
   * the start visits the rows each expansion adds. */
  if (expanded)
    {
      for (guint i = 0; i < g_list_model_get_n_items (rows) && i < 100000; i++)
        {
          g_autoptr(GtkTreeListRow) row = g_list_model_get_item (rows, i);
          gtk_tree_list_row_set_expanded (row, TRUE);
        }
    }
  else
    {
      for (guint i = g_list_model_get_n_items (rows); i-- > 0;)
        {
          g_autoptr(GtkTreeListRow) row = g_list_model_get_item (rows, i);
          gtk_tree_list_row_set_expanded (row, FALSE);
        }
    }
  mpv_page_queue_refresh (MPV_PAGE (self));
}

static void
expand_all (GtkWidget *widget, const char *action, GVariant *param)
{
  set_all_expanded (MPV_PROCESSES_PAGE (widget), TRUE);
}

static void
collapse_all (GtkWidget *widget, const char *action, GVariant *param)
{
  set_all_expanded (MPV_PROCESSES_PAGE (widget), FALSE);
}

static void
mpv_processes_page_dispose (GObject *object)
{
  MpvProcessesPage *self = MPV_PROCESSES_PAGE (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), MPV_TYPE_PROCESSES_PAGE);
  g_clear_object (&self->sorted);
  g_clear_object (&self->tree);
  g_clear_object (&self->row_sorter);
  G_OBJECT_CLASS (mpv_processes_page_parent_class)->dispose (object);
}

static void
mpv_processes_page_finalize (GObject *object)
{
  MpvProcessesPage *self = MPV_PROCESSES_PAGE (object);

  mpv_cell_set_free (self->cells);
  G_OBJECT_CLASS (mpv_processes_page_parent_class)->finalize (object);
}

static void
mpv_processes_page_class_init (MpvProcessesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  MpvPageClass *page_class = MPV_PAGE_CLASS (klass);

  object_class->dispose = mpv_processes_page_dispose;
  object_class->finalize = mpv_processes_page_finalize;
  page_class->monitor_changed = mpv_processes_page_monitor_changed;
  page_class->refresh = mpv_processes_page_refresh;

  g_type_ensure (MP_TYPE_MONITOR_PROCESS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/libmp/Viewer/ui/mpv-processes-page.ui");
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, name_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, pid_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, role_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, state_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, cpu_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, rss_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, start_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, activity_column);
  gtk_widget_class_bind_template_child (widget_class, MpvProcessesPage, summary_label);

  gtk_widget_class_install_action (widget_class, "processes.expand-all", NULL, expand_all);
  gtk_widget_class_install_action (widget_class, "processes.collapse-all", NULL, collapse_all);
}

static void
set_factory (GtkColumnViewColumn *column, MpvCellSet *cells, MpvCellTextFunc func,
             gpointer data, MpvCellFlags flags)
{
  g_autoptr(GtkListItemFactory) factory = mpv_cell_set_text_factory (cells, func, data, flags);
  gtk_column_view_column_set_factory (column, factory);
}

/* Role and state are enums, which GtkNumericSorter does not take. */
static int
compare_role (gconstpointer a, gconstpointer b, gpointer data)
{
  int x = mp_monitor_process_get_role ((MpMonitorProcess *) a);
  int y = mp_monitor_process_get_role ((MpMonitorProcess *) b);
  return x < y ? GTK_ORDERING_SMALLER : x > y ? GTK_ORDERING_LARGER : GTK_ORDERING_EQUAL;
}

static int
compare_state (gconstpointer a, gconstpointer b, gpointer data)
{
  int x = mp_monitor_process_get_state ((MpMonitorProcess *) a);
  int y = mp_monitor_process_get_state ((MpMonitorProcess *) b);
  return x < y ? GTK_ORDERING_SMALLER : x > y ? GTK_ORDERING_LARGER : GTK_ORDERING_EQUAL;
}

static void
set_custom_sorter (GtkColumnViewColumn *column, GCompareDataFunc func)
{
  g_autoptr(GtkCustomSorter) sorter = gtk_custom_sorter_new (func, NULL, NULL);
  gtk_column_view_column_set_sorter (column, GTK_SORTER (sorter));
}

static void
mpv_processes_page_init (MpvProcessesPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cells = mpv_cell_set_new ();
  set_factory (self->name_column, self->cells, name_text, self, MPV_CELL_EXPANDER);
  set_factory (self->pid_column, self->cells, pid_text, self, MPV_CELL_NUMERIC);
  set_factory (self->role_column, self->cells, role_text, self, MPV_CELL_NONE);
  set_factory (self->state_column, self->cells, state_text, self, MPV_CELL_NONE);
  set_factory (self->cpu_column, self->cells, cpu_text, self, MPV_CELL_NUMERIC);
  set_factory (self->rss_column, self->cells, rss_text, self, MPV_CELL_NUMERIC);
  set_factory (self->start_column, self->cells, start_text, self, MPV_CELL_NUMERIC);
  set_factory (self->activity_column, self->cells, activity_text, self, MPV_CELL_NONE);
  set_custom_sorter (self->role_column, compare_role);
  set_custom_sorter (self->state_column, compare_state);

  self->row_sorter = GTK_SORTER (gtk_tree_list_row_sorter_new (
    g_object_ref (gtk_column_view_get_sorter (self->column_view))));
}
