/* mp-shared-memory-private.h: segments in the arena's object directory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include "mp-arena-private.h"
#include "mp-object-private.h"
#include "mp-shared-memory.h"

G_BEGIN_DECLS

/* This process's handle on a directory entry of kind SHARED_MEMORY, SHAREABLE_LIST, VALUE or
 * ARRAY (MpShmStats). Empty (object == NULL) when there is no arena or the directory is full:
 * stats are best effort, the object works without them. */
typedef struct
{
  MpArenaObject *object;
  guint64        id;
  pid_t          pid;     /* the process that holds the handle; a fork child's copy is inert */
} MpShmEntry;

/* Joins an existing entry — the live one with id @join_id if nonzero, else (when
 * @reuse_named) the live entry of a not-yet-unlinked segment named @name — or creates one;
 * adds this process to its mappers either way. */
void     _mp_shm_entry_open         (MpShmEntry   *entry,
                                     MpObjectKind  kind,
                                     const char   *name,
                                     const char   *label,
                                     guint64       size,
                                     guint32       flags,
                                     gboolean      reuse_named,
                                     guint64       join_id);
/* This process no longer maps it. The entry is retired once nobody maps it and, for a named
 * segment, once it is unlinked (until then a monitor can show it as a possible leak). */
void     _mp_shm_entry_close        (MpShmEntry   *entry,
                                     gboolean      named);
void     _mp_shm_entry_mark_unlinked (MpShmEntry  *entry);

MpSharedMemory *_mp_shared_memory_new_internal (const char    *name,
                                                gboolean       create,
                                                gsize          size,
                                                gboolean       track,
                                                MpObjectKind   kind,
                                                GError       **error);

G_END_DECLS
