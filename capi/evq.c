/*
 * evq.c - the event queue of graft_node_event_fd, in C.
 *
 * Why C: a host thread that slept in epoll_wait and then calls into Go pays
 * 5-28 us to enter the Go runtime (measured; a thread that keeps calling
 * pays 0.2 us), which made "descriptor readable -> graft_node_next_event
 * returned" 19 us at the median. Here the pop is a lock, a copy and, for the
 * last event, a read(2) of the eventfd: no Go at all. Go pushes (the node's
 * callback goroutine, one cgo call per event) and frees the queue at close.
 *
 * Queues are found by the node's handle id in a small hash table under a
 * read-write lock: pops take it for reading (they run in parallel), free
 * takes it for writing, so a queue is never freed under a pop. Each queue is
 * a ring that grows by doubling up to its limit (a queue that is read never
 * holds more than a few events) under its own mutex.
 *
 * The eventfd: a push that makes the queue non-empty raises it (writes 1)
 * after it let go of the mutex, so that the reader it wakes never waits for
 * the pusher's write(2); a pop that finds the queue empty clears it (reads),
 * under the mutex. So the descriptor is readable whenever events are
 * queued (a clear never undoes the raise of an event still queued: that
 * raise comes after the event, which comes after the clear), and stops
 * being readable once a call returned 0 with nothing queued since. Clearing
 * only then, not when the last event is taken, keeps every call that returns
 * an event free of system calls; callers call until 0 anyway (graft.h).
 *
 * The registry's lock is two atomics, not a pthread_rwlock: a pop runs on
 * a thread that just woke from epoll_wait with cold caches and TLB, where
 * each page in a chain of dependent loads costs ~0.3-0.5 us, and libc's
 * rwlock code and lock were two more such pages (a standalone harness of
 * this file: pop 1.0-1.8 us at p50 with the rwlock and libc's
 * memcpy/strnlen/memset, 0.5-0.7 us with the atomics and inlined copies).
 * A reader counts itself in, then looks for a writer (Dekker: both
 * sequentially consistent, so a reader and a writer that arrive together
 * cannot both miss each other); a writer flags itself, then sleeps on a
 * futex until the last reader out wakes it (it used to yield in a loop,
 * which burnt a core for as long as a pop stayed inside: a page fault on
 * the caller's struct, a preempted or signalled thread;
 * writer_sleeps_while_pop_held in tests/c/test_events.c). It prefers
 * writers, as it must: pops from several host threads that overlap
 * without a break (threads that poll instead of waiting for the
 * descriptor) would otherwise keep graft__evq_new and
 * graft__evq_free - graft_node_event_fd and graft_node_close of any node -
 * waiting for as long as they go on (seconds were seen with glibc's
 * default rwlock). A reader holds it for a copy and at most one read(2)
 * of an eventfd that never blocks, and never waits under it for a lock
 * whose holder could be waiting for it (a push takes only the queue's
 * mutex), so a writer's wait ends.
 *
 * The read(2) of a pop is a cancellation point: it runs with cancellation
 * off, so that a host thread cancelled (pthread_cancel) while it pops does
 * not leave with the locks (every later push, pop and close would wait
 * for them forever). A pop is thus no cancellation point at all. The
 * close(2) of the eventfd too: new and free run inside Go on the host
 * thread of graft_node_event_fd and graft_node_close, under the node's
 * queue mutex in Go, and a thread unwound there left that mutex held
 * (tests/c/test_events.c, cancelled_closer).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif
#include "evq.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* qmutex is the queue's mutex: Drepper's futex mutex ("Futexes Are
 * Tricky", mutex3), inlined, instead of a pthread_mutex_t, whose code in
 * libc is one more cold page on a pop's path (a standalone harness of this
 * file on an idle machine: pop 2.8-3.1 us at p50 with pthread_mutex_lock,
 * 1.9-2.1 us with this one). 0: free; 1: held; 2: held, and a thread may
 * sleep on it. An uncontended lock and unlock are one atomic each and no
 * system call; a contended one sleeps in the kernel, as a pthread mutex
 * does. It is no cancellation point (a raw futex call). */
typedef _Atomic int qmutex;

struct graft__evq {
    uintptr_t id;
    graft__evq *next; /* the next queue of the same bucket */
    qmutex mu;
    int fd;
    graft_event *ring; /* cap slots; the events are head .. head+len-1 mod cap */
    size_t cap, head, len, limit;
};

#define BUCKETS 64

/* The slots a ring starts with, and shrinks back to once a backlog was
 * read (cut to the limit when that is smaller). */
#define FIRST_SLOTS 8

static void qmutex_lock(qmutex *m) {
    int c = 0;
    if (atomic_compare_exchange_strong(m, &c, 1)) return;
    if (c != 2) c = atomic_exchange(m, 2);
    while (c != 0) {
        syscall(SYS_futex, m, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = atomic_exchange(m, 2);
    }
}

static void qmutex_unlock(qmutex *m) {
    if (atomic_fetch_sub(m, 1) != 1) { /* it was 2: someone may sleep */
        atomic_store(m, 0);
        syscall(SYS_futex, m, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/* The registry's lock (see the top of this file). */
static struct {
    _Atomic unsigned readers; /* pops inside the registry */
    _Atomic int writing;      /* a writer waits for the readers to leave, or runs */
} registry_lock;
static pthread_mutex_t registry_writers = PTHREAD_MUTEX_INITIALIZER; /* one writer at a time */

/* registry_read_unlock: the last reader out wakes the writer that waits
 * for it (Dekker again: the writer flags itself, then reads the count). */
static void registry_read_unlock(void) {
    if (atomic_fetch_sub(&registry_lock.readers, 1) == 1 && atomic_load(&registry_lock.writing))
        syscall(SYS_futex, &registry_lock.readers, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void registry_read_lock(void) {
    for (;;) {
        atomic_fetch_add(&registry_lock.readers, 1);
        if (!atomic_load(&registry_lock.writing)) return;
        registry_read_unlock();
        pthread_mutex_lock(&registry_writers); /* sleep until the writer is done */
        pthread_mutex_unlock(&registry_writers);
    }
}

/* registry_write_lock sleeps until the readers left: a futex on the count,
 * which the kernel compares with what was read before it sleeps, so the
 * last reader's wake-up is never missed. */
static void registry_write_lock(void) {
    pthread_mutex_lock(&registry_writers);
    atomic_store(&registry_lock.writing, 1);
    unsigned n;
    while ((n = atomic_load(&registry_lock.readers)) != 0)
        syscall(SYS_futex, &registry_lock.readers, FUTEX_WAIT_PRIVATE, n, NULL, NULL, 0);
}

static void registry_write_unlock(void) {
    atomic_store(&registry_lock.writing, 0);
    pthread_mutex_unlock(&registry_writers);
}
static graft__evq *registry[BUCKETS];

static size_t bucket_of(uintptr_t id) { return (size_t)(id % BUCKETS); }

static void fd_raise(int fd) {
    uint64_t one = 1;
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* fd_clear runs under the locks: cancellation is off during its read(2)
 * (see the top of this file). */
static void fd_clear(int fd) {
    uint64_t v;
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    pthread_setcancelstate(cancel, NULL);
}

/* fd_close closes an eventfd with cancellation off: it runs inside Go
 * (see the top of this file). */
static void fd_close(int fd) {
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    close(fd);
    pthread_setcancelstate(cancel, NULL);
}

static graft_event *slot(graft__evq *q, size_t i) { return &q->ring[(q->head + i) % q->cap]; }

/* grow doubles the ring (up to limit), keeping the events in order at the
 * front of the new one. 0 when there is no memory: the caller then makes
 * room the way a full queue does. */
static int grow(graft__evq *q) {
    size_t cap = q->cap ? q->cap * 2 : FIRST_SLOTS;
    if (cap > q->limit) cap = q->limit;
    graft_event *ring = malloc(cap * sizeof *ring);
    if (ring == NULL) return 0;
    for (size_t i = 0; i < q->len; i++) ring[i] = *slot(q, i);
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 1;
}

graft__evq *graft__evq_new(uintptr_t id, int limit, int *err) {
    graft__evq *q = calloc(1, sizeof *q);
    if (q == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->fd < 0) {
        *err = errno;
        free(q);
        return NULL;
    }
    q->id = id;
    q->limit = limit < 2 ? 2 : (size_t)limit;
    /* The first slots exist from the start and are never given back, so
     * that a push short of memory can always make room with an OVERFLOW
     * marker instead of losing an event unannounced. */
    if (!grow(q)) {
        *err = ENOMEM;
        fd_close(q->fd);
        free(q);
        return NULL;
    }
    atomic_init(&q->mu, 0);
    registry_write_lock();
    q->next = registry[bucket_of(id)];
    registry[bucket_of(id)] = q;
    registry_write_unlock();
    return q;
}

int graft__evq_fd(graft__evq *q) { return q->fd; }

/* make_room drops the oldest events so that one OVERFLOW marker and one new
 * event fit: the newest cap-2 stay behind a marker that takes the term of
 * the newest event dropped (an existing marker at the head is replaced). */
static void make_room(graft__evq *q) {
    uint64_t term = 0;
    if (q->len > 0 && slot(q, 0)->kind == GRAFT_EVENT_OVERFLOW) {
        term = slot(q, 0)->term;
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    while (q->len > q->cap - 2) {
        term = slot(q, 0)->term;
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    q->head = (q->head + q->cap - 1) % q->cap;
    q->len++;
    graft_event *m = slot(q, 0);
    memset(m, 0, offsetof(graft_event, leader) + 1);
    m->kind = GRAFT_EVENT_OVERFLOW;
    m->term = term;
    m->at_ns = 0; /* the marker is no event of the core's */
}

void graft__evq_push(graft__evq *q, int kind, int from, int to, uint64_t term, uint64_t deadline_ns,
                     uint64_t at_ns, const char *leader, size_t leader_len) {
    qmutex_lock(&q->mu);
    if (q->len == q->cap && (q->cap == q->limit || !grow(q))) make_room(q); /* cap >= 2 always */
    /* Only the fields and the leader's bytes with their NUL are written
     * (and read by the pop): the rest of the slot's leader is never used,
     * and the reader, on another core, takes fewer cache lines from this
     * one. */
    graft_event *ev = slot(q, q->len);
    memset(ev, 0, offsetof(graft_event, leader));
    ev->kind = (graft_event_kind)kind;
    ev->from = (graft_state)from;
    ev->to = (graft_state)to;
    ev->term = term;
    ev->deadline_ns = deadline_ns;
    if (leader_len > GRAFT_ID_MAX - 1) leader_len = GRAFT_ID_MAX - 1;
    if (leader_len > 0) memcpy(ev->leader, leader, leader_len);
    ev->leader[leader_len] = 0;
    ev->at_ns = at_ns;
    int was_empty = q->len++ == 0;
    int fd = q->fd; /* q outlives the push: Go never frees it during one (eventQueue.mu) */
    qmutex_unlock(&q->mu);
    if (was_empty) fd_raise(fd);
}

static graft__evq *find(uintptr_t id) {
    for (graft__evq *q = registry[bucket_of(id)]; q != NULL; q = q->next)
        if (q->id == id) return q;
    return NULL;
}

/* copy_out fills the caller's event (out->size >= GRAFT__EVENT_SIZE_MIN):
 * the fields before leader, then the leader's bytes up to its NUL, the rest
 * of the caller's leader zeroed, then the fields appended after leader
 * (at_ns) that the caller's size holds whole: a caller built against the
 * first graft_event gets none, and no byte past its size is written. */
static void copy_out(graft_event *out, const graft_event *ev) {
    size_t n = out->size < sizeof *ev ? out->size : sizeof *ev;
    /* Constant sizes and a loop: inlined, no call into libc (whose code is
     * one more cold page; see the top of this file). */
    memcpy(out, ev, offsetof(graft_event, leader));
    memset(out->leader, 0, GRAFT_ID_MAX);
    for (size_t i = 0; i < GRAFT_ID_MAX - 1 && ev->leader[i] != 0; i++) out->leader[i] = ev->leader[i];
    if (n >= offsetof(graft_event, at_ns) + sizeof ev->at_ns)
        out->at_ns = ev->at_ns;
    else
        n = GRAFT__EVENT_SIZE_MIN; /* what was filled: the first graft_event */
    out->size = (uint32_t)n;
}

int graft__evq_pop(uintptr_t id, graft_event *out) {
    registry_read_lock();
    graft__evq *q = find(id);
    if (q == NULL) {
        registry_read_unlock();
        return GRAFT__EVQ_ABSENT;
    }
    if (out == NULL || out->size < GRAFT__EVENT_SIZE_MIN) {
        registry_read_unlock();
        return GRAFT_EINVAL;
    }
    qmutex_lock(&q->mu);
    int rc = 0;
    if (q->len > 0) {
        copy_out(out, slot(q, 0));
        q->head = (q->head + 1) % q->cap;
        if (--q->len == 0 && q->cap > FIRST_SLOTS) { /* a backlog was read: give its memory back */
            graft_event *ring = malloc(FIRST_SLOTS * sizeof *ring);
            if (ring != NULL) {
                free(q->ring);
                q->ring = ring;
                q->cap = FIRST_SLOTS;
                q->head = 0;
            }
        }
        rc = 1;
    } else {
        fd_clear(q->fd);
    }
    qmutex_unlock(&q->mu);
    registry_read_unlock();
    return rc;
}

void graft__evq_free(graft__evq *q) {
    registry_write_lock();
    graft__evq **p = &registry[bucket_of(q->id)];
    while (*p != NULL && *p != q) p = &(*p)->next;
    if (*p == q) *p = q->next;
    registry_write_unlock();
    fd_close(q->fd);
    free(q->ring);
    free(q);
}
