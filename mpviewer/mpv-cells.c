/* mpv-cells.c: text cells for list and column views, refreshed on the page's schedule
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * A cell does not listen to its item's "notify" signals: with eight columns and a batch that
 * changes every process, that would be eight handlers per changed property per row. Instead the
 * set remembers the bound cells (the visible rows only) and the page refreshes them all at most
 * every MPV_PAGE_REFRESH_MS. Tree rows also refresh when they are expanded or collapsed, since
 * a collapsed row shows its subtree's totals.
 *
 * A list view keeps far more rows bound than it shows (about two hundred in GTK 4.8), and a
 * cell whose text changes is measured again on the next frame. A page whose visible rows all
 * change on every refresh (the event log) therefore rewrites only the cells on screen
 * (mpv_cell_set_refresh_shown) and marks the others stale; they are rewritten when they come
 * into view (the page calls it again on scrolling) or at the next refresh.
 *
 * Items whose process exited or whose object was destroyed get the "exited" style class.
 */

#include <mp.h>

#include "mpv-cells.h"

struct _MpvCellSet
{
  GHashTable *bound;             /* GtkListItem → Cell (owned) */
};

typedef struct
{
  MpvCellTextFunc func;
  gpointer        user_data;
  MpvCellFlags    flags;
  MpvCellSet     *set;           /* borrowed: the set outlives the column views */
} Column;

typedef struct
{
  Column      *column;
  GtkListItem *list_item;
  GObject     *row;              /* owned */
  gulong       expanded_id;
  char        *css_class;
  gboolean     stale;            /* skipped by mpv_cell_set_refresh_shown() */
} Cell;

static void
cell_free (gpointer data)
{
  Cell *cell = data;

  if (cell->expanded_id != 0)
    g_signal_handler_disconnect (cell->row, cell->expanded_id);
  g_clear_object (&cell->row);
  g_free (cell->css_class);
  g_free (cell);
}

MpvCellSet *
mpv_cell_set_new (void)
{
  MpvCellSet *set = g_new0 (MpvCellSet, 1);

  set->bound = g_hash_table_new_full (NULL, NULL, NULL, cell_free);
  return set;
}

void
mpv_cell_set_free (MpvCellSet *set)
{
  if (set == NULL)
    return;
  g_hash_table_destroy (set->bound);
  g_free (set);
}

gpointer
mpv_cell_get_item (GObject *row)
{
  if (GTK_IS_TREE_LIST_ROW (row))
    {
      gpointer item = gtk_tree_list_row_get_item (GTK_TREE_LIST_ROW (row));

      /* The row holds its own reference while it has an item; a row being destroyed (its
       * process moved elsewhere in the tree) has none. */
      if (item != NULL)
        g_object_unref (item);
      return item;
    }
  return row;
}

static gboolean
item_is_gone (gpointer item)
{
  if (MP_IS_MONITOR_PROCESS (item))
    return !mp_monitor_process_is_alive (item);
  if (MP_IS_MONITOR_LOCK (item))
    return mp_monitor_lock_get_destroyed (item);
  if (MP_IS_MONITOR_QUEUE (item))
    return mp_monitor_queue_get_destroyed (item);
  if (MP_IS_MONITOR_SEGMENT (item))
    return mp_monitor_segment_get_destroyed (item);
  if (MP_IS_MONITOR_POOL (item))
    return mp_monitor_pool_get_destroyed (item);
  return FALSE;
}

static GtkWidget *
cell_label (Cell *cell)
{
  GtkWidget *child = gtk_list_item_get_child (cell->list_item);

  if (GTK_IS_TREE_EXPANDER (child))
    child = gtk_tree_expander_get_child (GTK_TREE_EXPANDER (child));
  return child;
}

static void
cell_update (Cell *cell)
{
  GtkWidget *label = cell_label (cell);
  gpointer item = mpv_cell_get_item (cell->row);
  const char *css_class = NULL;
  g_autofree char *text = NULL;

  if (label == NULL || item == NULL)
    return;
  text = cell->column->func (cell->row, item, cell->column->user_data, &css_class);
  gtk_label_set_text (GTK_LABEL (label), text ? text : "");
  if (g_strcmp0 (css_class, cell->css_class) != 0)
    {
      if (cell->css_class != NULL)
        gtk_widget_remove_css_class (label, cell->css_class);
      g_free (cell->css_class);
      cell->css_class = g_strdup (css_class);
      if (css_class != NULL)
        gtk_widget_add_css_class (label, css_class);
    }
  if (item_is_gone (item))
    gtk_widget_add_css_class (label, "exited");
  else
    gtk_widget_remove_css_class (label, "exited");

  /* A tree row without children has nothing to expand: hide its arrow. */
  if (cell->column->flags & MPV_CELL_EXPANDER)
    {
      GtkWidget *expander = gtk_list_item_get_child (cell->list_item);
      GListModel *children = MP_IS_MONITOR_PROCESS (item) ? mp_monitor_process_get_children (item)
                                                          : NULL;

      if (children != NULL && g_list_model_get_n_items (children) > 0)
        gtk_widget_remove_css_class (expander, "leaf");
      else
        gtk_widget_add_css_class (expander, "leaf");
    }
}

static void
on_row_expanded (GObject *row, GParamSpec *pspec, Cell *cell)
{
  cell_update (cell);
}

static void
setup_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, Column *column)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (GTK_LABEL (label), column->flags & MPV_CELL_NUMERIC ? 1.0f : 0.0f);
  if (column->flags & MPV_CELL_NUMERIC)
    gtk_widget_add_css_class (label, "numeric");
  if (column->flags & MPV_CELL_EXPANDER)
    {
      GtkWidget *expander = gtk_tree_expander_new ();

      gtk_tree_expander_set_child (GTK_TREE_EXPANDER (expander), label);
      gtk_list_item_set_child (list_item, expander);
    }
  else
    gtk_list_item_set_child (list_item, label);
}

static void
bind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, Column *column)
{
  Cell *cell = g_new0 (Cell, 1);
  GObject *row = gtk_list_item_get_item (list_item);

  cell->column = column;
  cell->list_item = list_item;
  cell->row = row ? g_object_ref (row) : NULL;
  if (GTK_IS_TREE_LIST_ROW (row))
    {
      if (column->flags & MPV_CELL_EXPANDER)
        gtk_tree_expander_set_list_row (GTK_TREE_EXPANDER (gtk_list_item_get_child (list_item)),
                                        GTK_TREE_LIST_ROW (row));
      cell->expanded_id = g_signal_connect (row, "notify::expanded",
                                            G_CALLBACK (on_row_expanded), cell);
    }
  g_hash_table_replace (column->set->bound, list_item, cell);
  if (row != NULL)
    cell_update (cell);
}

static void
unbind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, Column *column)
{
  if (column->flags & MPV_CELL_EXPANDER)
    gtk_tree_expander_set_list_row (GTK_TREE_EXPANDER (gtk_list_item_get_child (list_item)), NULL);
  g_hash_table_remove (column->set->bound, list_item);
}

GtkListItemFactory *
mpv_cell_set_text_factory (MpvCellSet *set, MpvCellTextFunc func, gpointer user_data,
                           MpvCellFlags flags)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  Column *column = g_new0 (Column, 1);

  column->func = func;
  column->user_data = user_data;
  column->flags = flags;
  column->set = set;
  g_object_set_data_full (G_OBJECT (factory), "mpv-column", column, g_free);
  g_signal_connect (factory, "setup", G_CALLBACK (setup_cb), column);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_cb), column);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_cb), column);
  return factory;
}

void
mpv_cell_set_refresh (MpvCellSet *set)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, set->bound);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    cell_update (value);
}

/* Whether @viewport shows some of the cell; a cell not laid out yet counts as shown. */
static gboolean
cell_shown (Cell *cell, GtkWidget *viewport)
{
  GtkWidget *child = gtk_list_item_get_child (cell->list_item);
  graphene_rect_t bounds;

  if (child == NULL)
    return TRUE;
  /* Rows a list keeps beyond its view are not drawn (not child-visible in GTK 4.8). */
  for (GtkWidget *w = child; w != NULL && w != viewport; w = gtk_widget_get_parent (w))
    if (!gtk_widget_get_child_visible (w))
      return FALSE;
  if (!gtk_widget_compute_bounds (child, viewport, &bounds))
    return TRUE;
  return bounds.origin.y + bounds.size.height >= 0 &&
         bounds.origin.y <= gtk_widget_get_height (viewport);
}

void
mpv_cell_set_refresh_shown (MpvCellSet *set, GtkWidget *viewport, gboolean only_stale)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, set->bound);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Cell *cell = value;

      if (only_stale && !cell->stale)
        continue;
      if (cell_shown (cell, viewport))
        {
          cell_update (cell);
          cell->stale = FALSE;
        }
      else
        cell->stale = TRUE;
    }
}

guint
mpv_cell_set_get_n_bound (MpvCellSet *set)
{
  return g_hash_table_size (set->bound);
}

void
mpv_column_view_set_list (GtkColumnView *view, GListModel *model)
{
  g_autoptr(GtkSortListModel) sorted = NULL;
  g_autoptr(GtkSingleSelection) selection = NULL;

  if (model == NULL)
    {
      gtk_column_view_set_model (view, NULL);
      return;
    }
  sorted = gtk_sort_list_model_new (g_object_ref (model),
                                    g_object_ref (gtk_column_view_get_sorter (view)));
  selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (sorted)));
  gtk_single_selection_set_autoselect (selection, FALSE);
  gtk_single_selection_set_can_unselect (selection, TRUE);
  gtk_column_view_set_model (view, GTK_SELECTION_MODEL (selection));
}

void
mpv_column_view_resort (GtkColumnView *view)
{
  GtkSorter *sorter = gtk_column_view_get_sorter (view);

  if (gtk_sorter_get_order (sorter) != GTK_SORTER_ORDER_NONE)
    gtk_sorter_changed (sorter, GTK_SORTER_CHANGE_DIFFERENT);
}
