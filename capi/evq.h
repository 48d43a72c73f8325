/* evq.h - the event queue behind graft_node_event_fd, kept in C memory so
 * that graft_node_next_event pops it without entering the Go runtime (see
 * evq.c). Internal to libgraft: no symbol here is exported (libgraft.map). */
#ifndef GRAFT_EVQ_H
#define GRAFT_EVQ_H

#include <stddef.h>
#include <stdint.h>

#define GRAFT_TYPES_ONLY
#include "graft.h"

/* What graft__evq_pop returns when no queue is registered under the id: the
 * caller asks Go (which knows whether the handle is a node at all). */
#define GRAFT__EVQ_ABSENT (-1000)

/* The smallest size a caller's graft_event may have: the first graft_event
 * (0.1). Fields are only ever appended after leader. */
#define GRAFT__EVENT_SIZE_MIN (offsetof(graft_event, leader) + GRAFT_ID_MAX)

typedef struct graft__evq graft__evq;

/* graft__evq_new creates the queue of the node whose handle is id, with its
 * eventfd, holding at most limit (>= 2) events, and registers it under id.
 * NULL with *err = errno when the system gives no descriptor or memory. */
graft__evq *graft__evq_new(uintptr_t id, int limit, int *err);

/* graft__evq_fd is the queue's eventfd: readable while events are queued,
 * and until a pop has found the queue empty (evq.c says why). */
int graft__evq_fd(graft__evq *q);

/* graft__evq_push appends one event (at_ns: when the core emitted it; leader: leader_len bytes, not
 * terminated, cut to GRAFT_ID_MAX-1). A full queue keeps its newest limit-2
 * events behind one GRAFT_EVENT_OVERFLOW, then appends. */
void graft__evq_push(graft__evq *q, int kind, int from, int to, uint64_t term, uint64_t deadline_ns,
                     uint64_t at_ns, const char *leader, size_t leader_len);

/* graft__evq_pop pops the oldest event of the queue registered under id into
 * *out (at most out->size bytes): 1, or 0 when it is empty; GRAFT_EINVAL
 * when out is NULL or too small; GRAFT__EVQ_ABSENT when no queue is
 * registered under id. Any thread. */
int graft__evq_pop(uintptr_t id, graft_event *out);

/* graft__evq_free unregisters q (waiting for pops in progress), closes its
 * eventfd and frees it. The caller guarantees that no push runs. */
void graft__evq_free(graft__evq *q);

#endif
