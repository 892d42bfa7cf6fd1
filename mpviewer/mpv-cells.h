/* mpv-cells.h: text cells for list and column views, refreshed on the page's schedule
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum
{
  MPV_CELL_NONE = 0,
  MPV_CELL_NUMERIC = 1 << 0,     /* right-aligned, tabular figures */
  MPV_CELL_EXPANDER = 1 << 1,    /* wrapped in a GtkTreeExpander (the tree's first column) */
} MpvCellFlags;

/* @row is what the model holds (a GtkTreeListRow in a tree), @item the monitor's item.
 * Returns the text; may set @css_class to a class to add to the cell (or leave it NULL). */
typedef char *(*MpvCellTextFunc) (GObject     *row,
                                  gpointer     item,
                                  gpointer     user_data,
                                  const char **css_class);

typedef struct _MpvCellSet MpvCellSet;

MpvCellSet         *mpv_cell_set_new          (void);
void                mpv_cell_set_free         (MpvCellSet      *set);
GtkListItemFactory *mpv_cell_set_text_factory (MpvCellSet      *set,
                                               MpvCellTextFunc  func,
                                               gpointer         user_data,
                                               MpvCellFlags     flags);
/* Recomputes the text of every bound cell (only the visible rows are bound). */
void                mpv_cell_set_refresh      (MpvCellSet      *set);
/* Rewrites only the bound cells that @viewport shows (all of them with @only_stale FALSE,
 * those a previous call skipped with @only_stale TRUE); see mpv-cells.c. */
void                mpv_cell_set_refresh_shown (MpvCellSet     *set,
                                                GtkWidget      *viewport,
                                                gboolean        only_stale);
guint               mpv_cell_set_get_n_bound  (MpvCellSet      *set);

/* The monitor's item behind @row (unwrapping a GtkTreeListRow). */
gpointer            mpv_cell_get_item         (GObject         *row);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MpvCellSet, mpv_cell_set_free)

G_END_DECLS

G_BEGIN_DECLS
/* Shows @model (or nothing) in @view, sorted by the view's columns, single selection. */
void     mpv_column_view_set_list (GtkColumnView *view,
                                   GListModel    *model);
/* Tells the view's sort model that the sorted-by values changed (they change every sample). */
void     mpv_column_view_resort   (GtkColumnView *view);
G_END_DECLS
