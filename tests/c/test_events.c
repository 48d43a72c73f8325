/*
 * test_events - leadership a program can act on (issue 13), end to end on
 * loopback: graft_config_on_lease, graft_node_wait_lease,
 * graft_node_event_fd and graft_node_next_event.
 *
 * Every bad input of the four functions; a single node (the callbacks and
 * the queue carry one sequence, the descriptor is readable while events
 * are queued and until a call returned 0, a larger graft_event); waiting with and without a
 * limit, and close waking every waiter; three nodes (step-down reports the
 * loss before the state change, the loss of a leader cut off from its
 * followers arrives at its deadline); fork(); threads that keep popping
 * one node (they hold off no other node's start or close), a popping
 * thread that is cancelled and a close with a cancellation pending (they
 * take no lock with them), a pop held inside the registry (another node's
 * descriptor waits for it asleep, not spinning); and three epoll_worker
 * processes ($GRAFT_EPOLL_WORKER), the leader paused with SIGSTOP: on
 * SIGCONT it reports its loss before any work, and no two processes work
 * at overlapping times. Run by `make test-c`.
 */
#include <graft.h>

#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define HB 20
#define EMIN 120
#define EMAX 240
#define DEADLINE_MS 10000

static const char *certs;

/* ---- a node that records its callbacks as graft_events -------------------- */

typedef struct {
    graft_event ev;
    uint64_t at_ns; /* when the callback ran */
} seen;

typedef struct {
    pthread_mutex_t mu;
    seen ev[512];
    int n;
} journal;

static void journal_push(journal *j, graft_event e) {
    uint64_t at = now_ns();
    pthread_mutex_lock(&j->mu);
    if (j->n < 512)
        j->ev[j->n++] = (seen){e, at};
    pthread_mutex_unlock(&j->mu);
}

static int journal_len(journal *j) {
    pthread_mutex_lock(&j->mu);
    int n = j->n;
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* journal_find: the index of the first event of kind at or after from, or -1. */
static int journal_find(journal *j, int from, graft_event_kind kind) {
    pthread_mutex_lock(&j->mu);
    int at = -1;
    for (int i = from; i < j->n && at < 0; i++)
        if (j->ev[i].ev.kind == kind)
            at = i;
    pthread_mutex_unlock(&j->mu);
    return at;
}

static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    journal_push(ctx, (graft_event){.kind = GRAFT_EVENT_STATE, .from = from, .to = to, .term = term});
}

static void on_leader(void *ctx, const char *leader, uint64_t term) {
    graft_event e = {.kind = GRAFT_EVENT_LEADER, .term = term};
    snprintf(e.leader, sizeof e.leader, "%s", leader);
    journal_push(ctx, e);
}

static void on_lease(void *ctx, int held, uint64_t term, uint64_t deadline_ns) {
    journal_push(ctx, (graft_event){.kind = held ? GRAFT_EVENT_LEASE_ACQUIRED : GRAFT_EVENT_LEASE_LOST,
                                    .term = term, .deadline_ns = deadline_ns});
}

typedef struct {
    int n;
    char ids[3][8];
    char addrs[3][32];
    char state[3][256];
    journal j[3];
    graft_node *nodes[3];
} cluster;

static void cluster_init(cluster *c, int n, const char *tag) {
    memset(c, 0, sizeof *c);
    c->n = n;
    const char *dir = make_tempdir(tag);
    for (int i = 0; i < n; i++) {
        snprintf(c->ids[i], sizeof c->ids[i], "n%d", (i + 1) % 10);
        snprintf(c->addrs[i], sizeof c->addrs[i], "127.0.0.1:%d", free_udp_port());
        snprintf(c->state[i], sizeof c->state[i], "%s/%s.graft", dir, c->ids[i]);
        pthread_mutex_init(&c->j[i].mu, NULL);
    }
}

/* node_new: node i with every peer of c (started or not) and the recording
 * callbacks, its event queue off (no descriptor asked for). */
static int node_new(cluster *c, int i) {
    graft_config *cfg = graft_config_new("events", c->ids[i], c->addrs[i]);
    for (int k = 0; k < c->n; k++)
        if (k != i)
            graft_config_add_peer(cfg, c->ids[k], c->addrs[k]);
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/%s.pem", certs, c->ids[i]);
    snprintf(key, sizeof key, "%s/%s-key.pem", certs, c->ids[i]);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    graft_config_set_tls(cfg, cert, key, ca);
    graft_config_set_state_path(cfg, c->state[i]);
    graft_config_set_timeouts(cfg, HB, EMIN, EMAX);
    CHECK_EQ(graft_config_on_state_change(cfg, on_state, &c->j[i]), GRAFT_OK);
    CHECK_EQ(graft_config_on_leader_change(cfg, on_leader, &c->j[i]), GRAFT_OK);
    CHECK_EQ(graft_config_on_lease(cfg, on_lease, &c->j[i]), GRAFT_OK);
    char err[512] = "";
    int rc = graft_node_new(cfg, &c->nodes[i], err, sizeof err);
    CHECKF(rc == GRAFT_OK, "node %s: %s", c->ids[i], err);
    graft_config_free(cfg);
    return rc;
}

/* start: node_new, then its event queue is switched on at once. */
static int start(cluster *c, int i) {
    int rc = node_new(c, i);
    if (rc == GRAFT_OK)
        CHECK(graft_node_event_fd(c->nodes[i]) >= 0);
    return rc;
}

static int readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* same_event: what the queue and the callbacks must agree on. */
static int same_event(const graft_event *a, const graft_event *b) {
    return a->kind == b->kind && a->term == b->term && a->from == b->from && a->to == b->to &&
           a->deadline_ns == b->deadline_ns && strcmp(a->leader, b->leader) == 0;
}

/* drain_matches pops every queued event of node i and checks that they are,
 * in order, the callbacks of journal entries from *next on (queued events
 * and callbacks carry one sequence). It advances *next. On the first call
 * (*next 0) callbacks that ran before graft_node_event_fd switched the
 * queue on are skipped. */
static uint64_t last_acquired_at; /* drain_matches: at_ns of the last LEASE_ACQUIRED popped */

static void drain_matches(cluster *c, int i, int *next) {
    graft_event ev = {.size = sizeof ev};
    int rc;
    uint64_t prev_at = 0;
    while ((rc = graft_node_next_event(c->nodes[i], &ev)) == 1) {
        uint64_t popped = now_ns();
        /* at_ns: when the core emitted it, before it was popped, in order */
        CHECKF(ev.at_ns > 0 && ev.at_ns <= popped && ev.at_ns >= prev_at,
               "node %s: at_ns %llu (popped %llu, previous %llu)", c->ids[i], (unsigned long long)ev.at_ns,
               (unsigned long long)popped, (unsigned long long)prev_at);
        prev_at = ev.at_ns;
        if (ev.kind == GRAFT_EVENT_LEASE_ACQUIRED)
            last_acquired_at = ev.at_ns;
        int at = *next;
        CHECKF(WAIT_UNTIL(journal_len(&c->j[i]) > at, DEADLINE_MS), "node %s: event %d has no callback",
               c->ids[i], at);
        if (journal_len(&c->j[i]) <= at)
            return;
        while (*next == 0 && at + 1 < journal_len(&c->j[i]) && !same_event(&ev, &c->j[i].ev[at].ev))
            at++;
        *next = at;
        CHECKF(same_event(&ev, &c->j[i].ev[at].ev), "node %s: event %d: queued kind %d term %llu, callback kind %d",
               c->ids[i], at, ev.kind, (unsigned long long)ev.term, c->j[i].ev[at].ev.kind);
        CHECK_EQ(ev.size, sizeof ev);
        (*next)++;
        ev.size = sizeof ev;
    }
    CHECK_EQ(rc, 0);
}

/* check_pairs: in a journal every LOST follows exactly one ACQUIRED of the
 * same term with the same or a later deadline, terms never go down, and
 * the last lease event is a LOST (call after close). */
static void check_pairs(journal *j, const char *id) {
    int holding = 0, ok = 1;
    uint64_t term = 0, deadline = 0;
    for (int i = 0; i < j->n; i++) {
        graft_event *e = &j->ev[i].ev;
        ok &= e->term >= term;
        term = e->term;
        if (e->kind == GRAFT_EVENT_LEASE_ACQUIRED) {
            ok &= !holding;
            holding = 1;
            deadline = e->deadline_ns;
        } else if (e->kind == GRAFT_EVENT_LEASE_LOST) {
            ok &= holding && e->deadline_ns >= deadline;
            holding = 0;
        }
    }
    CHECKF(ok, "node %s: lease events do not pair in order", id);
    CHECKF(!holding, "node %s: a lease without its loss", id);
}

/* ---- scenarios ------------------------------------------------------------ */

static void events_misuse(void) {
    graft_node *bogus = (graft_node *)(uintptr_t)0x7fff1234;
    graft_node *bad[] = {NULL, bogus};
    uint64_t term = 7, dl = 7;
    graft_event ev = {.size = sizeof ev};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(graft_node_wait_lease(bad[i], 0, &term, &dl), GRAFT_EINVAL);
        CHECK_EQ(graft_node_wait_lease(bad[i], -1, &term, &dl), GRAFT_EINVAL); /* never blocks */
        CHECK_EQ(graft_node_event_fd(bad[i]), GRAFT_EINVAL);
        CHECK_EQ(graft_node_next_event(bad[i], &ev), GRAFT_EINVAL);
    }
    CHECK_EQ(graft_config_on_lease(NULL, on_lease, NULL), GRAFT_EINVAL);
    graft_config *cfg = graft_config_new("x", "y", "127.0.0.1:0");
    CHECK_EQ(graft_node_event_fd((graft_node *)cfg), GRAFT_EINVAL); /* a config is no node */
    CHECK_EQ(graft_node_next_event((graft_node *)cfg, &ev), GRAFT_EINVAL);
    CHECK_EQ(graft_node_next_event((graft_node *)cfg, NULL), GRAFT_EINVAL);
    CHECK_EQ(graft_config_on_lease(cfg, on_lease, NULL), GRAFT_OK);
    CHECK_EQ(graft_config_on_lease(cfg, NULL, NULL), GRAFT_OK); /* removes */
    graft_config_free(cfg);
    CHECK_EQ(graft_config_on_lease(cfg, on_lease, NULL), GRAFT_ECLOSED);

    cluster c;
    cluster_init(&c, 1, "evmisuse");
    if (start(&c, 0) != GRAFT_OK)
        return;
    graft_node *n = c.nodes[0];
    CHECK_EQ(graft_node_wait_lease(n, 0, NULL, &dl), GRAFT_EINVAL);
    CHECK_EQ(graft_node_wait_lease(n, 0, &term, NULL), GRAFT_EINVAL);
    CHECK_EQ(graft_node_wait_lease(n, -2, &term, &dl), GRAFT_EINVAL);
    CHECK_EQ(graft_node_next_event(n, NULL), GRAFT_EINVAL);
    graft_event small = {.size = 0};
    CHECK_EQ(graft_node_next_event(n, &small), GRAFT_EINVAL);
    small.size = offsetof(graft_event, leader) + GRAFT_ID_MAX - 1;
    CHECK_EQ(graft_node_next_event(n, &small), GRAFT_EINVAL);
    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    CHECK_EQ(graft_node_wait_lease(n, -1, &term, &dl), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_event_fd(n), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_next_event(n, &ev), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_next_event(n, &small), GRAFT_ECLOSED);
}

static void single_node(void) {
    cluster c;
    cluster_init(&c, 1, "evsingle");
    uint64_t t0 = now_ns();
    if (start(&c, 0) != GRAFT_OK)
        return;
    graft_node *n = c.nodes[0];
    int fd = graft_node_event_fd(n);
    CHECK_EQ(graft_node_event_fd(n), fd); /* the same descriptor every time */
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);

    uint64_t term = 0, dl = 0;
    CHECK_EQ(graft_node_wait_lease(n, -1, &term, &dl), 1);
    uint64_t woke = now_ns();
    CHECK_EQ(term, graft_node_term(n));
    CHECKF(dl > woke && dl <= woke + (uint64_t)EMIN * 1000000u, "deadline %llu, now %llu",
           (unsigned long long)dl, (unsigned long long)woke);
    CHECK_EQ(graft_node_wait_lease(n, 0, &term, &dl), 1); /* holds now: at once */
    printf("     lease after %llu ms\n", (unsigned long long)(woke - t0) / 1000000u);

    /* The callbacks: follower -> candidate -> leader, leader n1, acquired. */
    journal *j = &c.j[0];
    CHECK(WAIT_UNTIL(journal_find(j, 0, GRAFT_EVENT_LEASE_ACQUIRED) >= 0, DEADLINE_MS));
    int acq = journal_find(j, 0, GRAFT_EVENT_LEASE_ACQUIRED);
    int lead = journal_find(j, 0, GRAFT_EVENT_LEADER);
    CHECK(lead >= 0 && lead < acq);
    if (acq >= 0) {
        CHECK_EQ(j->ev[acq].ev.term, term);
        CHECK(j->ev[acq].ev.deadline_ns <= dl); /* a renewal may have moved it since */
    }
    /* The queue holds the same events, in order; readable until drained
     * (drain_matches calls until graft_node_next_event returns 0). */
    CHECK(readable(fd));
    /* A caller built against the first graft_event (its size ends at
     * leader, 288 bytes) gets those fields, is told 288, and nothing past
     * them is written. */
    graft_event old_ev; /* only its first 288 bytes are the caller's */
    const uint32_t first_size = (uint32_t)(offsetof(graft_event, leader) + GRAFT_ID_MAX);
    memset(&old_ev, 0xCD, sizeof old_ev);
    old_ev.size = first_size;
    CHECK_EQ(graft_node_next_event(n, &old_ev), 1);
    CHECK_EQ(old_ev.size, first_size);
    CHECK(old_ev.at_ns == 0xCDCDCDCDCDCDCDCDull); /* past the caller's size: untouched */
    int next = 0;
    while (next < journal_len(j) && !same_event(&old_ev, &j->ev[next].ev))
        next++;
    CHECKF(next < journal_len(j), "the first queued event (kind %d) has no callback", old_ev.kind);
    next++;
    last_acquired_at = 0;
    drain_matches(&c, 0, &next);
    CHECK(next > acq); /* the queue was on before the lease */
    /* The lease was acquired (at_ns) before the waiter woke, after start. */
    CHECKF(last_acquired_at > t0 && last_acquired_at <= woke, "acquired at %llu, start %llu, wait_lease back %llu",
           (unsigned long long)last_acquired_at, (unsigned long long)t0, (unsigned long long)woke);
    printf("     wait_lease back %llu us after the core emitted LEASE_ACQUIRED\n",
           (unsigned long long)(woke - last_acquired_at) / 1000);
    CHECK(!readable(fd));
    graft_event none = {.size = sizeof none, .kind = 99};
    CHECK_EQ(graft_node_next_event(n, &none), 0);
    CHECK_EQ(none.kind, 99); /* untouched */

    /* A refused step-down (no peer) changes nothing and queues nothing. */
    CHECK_EQ(graft_node_step_down(n), GRAFT_ENOPEER);
    CHECK(!readable(fd));

    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    /* close: the lease's loss, then the change to closed, last */
    int lost = journal_find(j, acq, GRAFT_EVENT_LEASE_LOST);
    CHECK(lost > acq);
    CHECK_EQ(j->n, lost + 2);
    CHECK(j->ev[j->n - 1].ev.kind == GRAFT_EVENT_STATE && j->ev[j->n - 1].ev.to == GRAFT_CLOSED);
    check_pairs(j, "n1");
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* the descriptor went with the node */
}

typedef struct {
    graft_node *n;
    int rc;
    uint64_t back_ns;
} waiter;

static void *wait_forever(void *arg) {
    waiter *w = arg;
    uint64_t term = 1, dl = 1;
    w->rc = graft_node_wait_lease(w->n, -1, &term, &dl);
    w->back_ns = now_ns();
    return NULL;
}

static void waiting(void) {
    /* One node of three whose peers never run: it never holds a lease. */
    cluster c;
    cluster_init(&c, 3, "evwait");
    if (start(&c, 0) != GRAFT_OK)
        return;
    graft_node *n = c.nodes[0];
    uint64_t term = 1, dl = 1, t0 = now_ms();
    CHECK_EQ(graft_node_wait_lease(n, 0, &term, &dl), 0);
    CHECK(now_ms() - t0 < 100);
    CHECK_EQ(term, 0);
    CHECK_EQ(dl, 0);
    t0 = now_ms();
    CHECK_EQ(graft_node_wait_lease(n, 150, &term, &dl), 0);
    uint64_t took = now_ms() - t0;
    CHECKF(took >= 150 && took < 2000, "a 150 ms wait took %llu ms", (unsigned long long)took);

    waiter w[2] = {{n, 1, 0}, {n, 1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, wait_forever, &w[i]);
    sleep_ms(50); /* let them block; if not yet, they find the node closed: same answer */
    uint64_t closed_at = now_ns();
    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].rc, GRAFT_ECLOSED);
        CHECKF(w[i].back_ns - closed_at < 2000000000ull, "waiter back %llu ms after close",
               (unsigned long long)(w[i].back_ns - closed_at) / 1000000u);
    }
}

static int holder(cluster *c) {
    for (int i = 0; i < c->n; i++) {
        uint64_t t, d;
        if (c->nodes[i] && graft_node_wait_lease(c->nodes[i], 0, &t, &d) == 1)
            return i;
    }
    return -1;
}

static void three_nodes(void) {
    cluster c;
    cluster_init(&c, 3, "evthree");
    for (int i = 0; i < 3; i++)
        start(&c, i);
    int next[3] = {0, 0, 0};
    int l = -1;
    CHECK(WAIT_UNTIL((l = holder(&c)) >= 0, DEADLINE_MS));
    if (l < 0)
        goto out;
    /* A follower waits in vain while another node holds the lease. */
    uint64_t term = 1, dl = 1;
    CHECK_EQ(graft_node_wait_lease(c.nodes[(l + 1) % 3], 30, &term, &dl), 0);

    /* Step-down: the loss comes before the change of state, in the
     * callbacks and in the queue; the successor acquires a later term. */
    CHECK(WAIT_UNTIL(journal_find(&c.j[l], 0, GRAFT_EVENT_LEASE_ACQUIRED) >= 0, DEADLINE_MS));
    int from = journal_len(&c.j[l]);
    CHECK_EQ(graft_node_step_down(c.nodes[l]), GRAFT_OK);
    CHECK(WAIT_UNTIL(journal_find(&c.j[l], from, GRAFT_EVENT_STATE) >= 0, DEADLINE_MS));
    int lost = journal_find(&c.j[l], from, GRAFT_EVENT_LEASE_LOST);
    int st = journal_find(&c.j[l], from, GRAFT_EVENT_STATE);
    CHECKF(lost >= 0 && lost < st, "lost at %d, state change at %d", lost, st);
    if (st >= 0)
        CHECK(c.j[l].ev[st].ev.from == GRAFT_LEADER && c.j[l].ev[st].ev.to == GRAFT_FOLLOWER);
    uint64_t old_term = lost >= 0 ? c.j[l].ev[lost].ev.term : 0;
    int l2 = -1;
    CHECK(WAIT_UNTIL((l2 = holder(&c)) >= 0 && l2 != l, DEADLINE_MS));
    if (l2 < 0)
        goto out;
    CHECK(WAIT_UNTIL(journal_find(&c.j[l2], 0, GRAFT_EVENT_LEASE_ACQUIRED) >= 0, DEADLINE_MS));
    int acq = journal_find(&c.j[l2], 0, GRAFT_EVENT_LEASE_ACQUIRED);
    CHECK(acq >= 0 && c.j[l2].ev[acq].ev.term > old_term);
    for (int i = 0; i < 3; i++)
        drain_matches(&c, i, &next[i]);

    /* Cut the leader off (close its followers): the loss arrives at the
     * deadline itself, not at the check-quorum step-down. */
    from = journal_len(&c.j[l2]);
    for (int i = 0; i < 3; i++)
        if (i != l2) {
            CHECK_EQ(graft_node_close(c.nodes[i]), GRAFT_OK);
            c.nodes[i] = NULL;
        }
    CHECK(WAIT_UNTIL(journal_find(&c.j[l2], from, GRAFT_EVENT_LEASE_LOST) >= 0, DEADLINE_MS));
    lost = journal_find(&c.j[l2], from, GRAFT_EVENT_LEASE_LOST);
    if (lost >= 0) {
        seen *s = &c.j[l2].ev[lost];
        CHECK(s->at_ns >= s->ev.deadline_ns);
        uint64_t late = s->at_ns - s->ev.deadline_ns;
        CHECKF(late < 50000000ull, "the loss came %llu us after the deadline", (unsigned long long)late / 1000);
        printf("     loss reported %llu us after the deadline\n", (unsigned long long)late / 1000);
        /* before check-quorum's step-down, if that came at all by now */
        st = journal_find(&c.j[l2], from, GRAFT_EVENT_STATE);
        CHECK(st < 0 || st > lost);
        uint64_t t, d;
        CHECK_EQ(graft_node_lease(c.nodes[l2], &t, &d), 0);
    }
    /* The queue: the same events, the larger struct filled as far as the
     * library knows it. */
    struct {
        graft_event ev;
        uint64_t canary;
    } big;
    memset(&big, 0xCD, sizeof big);
    big.ev.size = sizeof big;
    CHECK_EQ(graft_node_next_event(c.nodes[l2], &big.ev), 1);
    CHECK_EQ(big.ev.size, sizeof(graft_event));
    CHECK(big.canary == 0xCDCDCDCDCDCDCDCDull);
    CHECK(same_event(&big.ev, &c.j[l2].ev[next[l2]].ev));
    next[l2]++;
    drain_matches(&c, l2, &next[l2]);
out:
    for (int i = 0; i < 3; i++)
        if (c.nodes[i])
            CHECK_EQ(graft_node_close(c.nodes[i]), GRAFT_OK);
    for (int i = 0; i < 3; i++)
        check_pairs(&c.j[i], c.ids[i]);
}

static void fork_child(void) {
    cluster c;
    cluster_init(&c, 1, "evfork");
    if (start(&c, 0) != GRAFT_OK)
        return;
    graft_config *cfg = graft_config_new("a", "b", "127.0.0.1:0");
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        uint64_t t, d;
        graft_event ev = {.size = sizeof ev};
        bad += graft_node_wait_lease(c.nodes[0], -1, &t, &d) != GRAFT_EFORK;
        bad += graft_node_event_fd(c.nodes[0]) != GRAFT_EFORK;
        bad += graft_node_next_event(c.nodes[0], &ev) != GRAFT_EFORK;
        bad += graft_config_on_lease(cfg, on_lease, NULL) != GRAFT_EFORK;
        _exit(bad);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    uint64_t t, d;
    CHECK_EQ(graft_node_wait_lease(c.nodes[0], DEADLINE_MS, &t, &d), 1); /* the parent runs on */
    graft_config_free(cfg);
    CHECK_EQ(graft_node_close(c.nodes[0]), GRAFT_OK);
}

/* ---- hosts that poll without waiting, and threads that are cancelled ----- */

typedef struct {
    graft_node *n;
    volatile int stop;
    uint64_t until_ms;
} spinner;

/* spin: graft_node_next_event in a loop, as a host that polls instead of
 * waiting for the descriptor does (each call that finds the queue empty
 * clears the descriptor: a read(2)). Stops when told or at until_ms. */
static void *spin(void *arg) {
    spinner *s = arg;
    graft_event ev;
    while (!s->stop && now_ms() < s->until_ms) {
        for (int i = 0; i < 256; i++) {
            ev.size = sizeof ev;
            graft_node_next_event(s->n, &ev);
        }
    }
    return NULL;
}

/* Threads that keep popping one node's queue must not hold off the
 * functions that register or unregister a queue (graft_node_event_fd,
 * graft_node_close) of another node: with a reader-preferring lock over
 * the registry, overlapping pops kept close waiting for as long as they
 * ran (seconds on 2 cores with 4 pollers). */
static void pollers_do_not_starve_close(void) {
    cluster a, b;
    cluster_init(&a, 1, "evspinA");
    cluster_init(&b, 1, "evspinB");
    if (start(&a, 0) != GRAFT_OK)
        return;
    enum { SPINNERS = 4 };
    spinner s = {.n = a.nodes[0], .until_ms = now_ms() + 15000};
    pthread_t th[SPINNERS];
    for (int i = 0; i < SPINNERS; i++)
        pthread_create(&th[i], NULL, spin, &s);
    sleep_ms(50);
    uint64_t t0 = now_ms();
    int rc = start(&b, 0); /* graft_node_new, then graft_node_event_fd */
    uint64_t started = now_ms() - t0;
    uint64_t closed = 0;
    if (rc == GRAFT_OK) {
        sleep_ms(50);
        t0 = now_ms();
        CHECK_EQ(graft_node_close(b.nodes[0]), GRAFT_OK);
        closed = now_ms() - t0;
    }
    s.stop = 1;
    for (int i = 0; i < SPINNERS; i++)
        pthread_join(th[i], NULL);
    printf("     with %d threads popping another node: start %llu ms, close %llu ms\n", SPINNERS,
           (unsigned long long)started, (unsigned long long)closed);
    CHECKF(started < 1500, "starting a node (its descriptor) took %llu ms", (unsigned long long)started);
    CHECKF(closed < 1500, "closing a node took %llu ms", (unsigned long long)closed);
    CHECK_EQ(graft_node_close(a.nodes[0]), GRAFT_OK);
}

static void *spin_cancellable(void *arg) {
    graft_node *n = arg;
    graft_event ev;
    for (;;) {
        ev.size = sizeof ev;
        graft_node_next_event(n, &ev);
        pthread_testcancel();
    }
    return NULL;
}

typedef struct {
    graft_node *n;
    int rc;
} call;

static void *pop_once(void *arg) {
    call *c = arg;
    graft_event ev = {.size = sizeof ev};
    c->rc = graft_node_next_event(c->n, &ev);
    return NULL;
}

static void *close_once(void *arg) {
    call *c = arg;
    c->rc = graft_node_close(c->n);
    return NULL;
}

/* returns_in: runs fn(c) on a thread; 1 if it returned within ms (then
 * joined), 0 if not (the thread is left behind, stuck). */
static int returns_in(void *(*fn)(void *), call *c, int ms) {
    pthread_t t;
    pthread_create(&t, NULL, fn, c);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(t, NULL, &dl) == 0)
        return 1;
    pthread_detach(t);
    return 0;
}

/* A host thread cancelled (pthread_cancel, deferred) while it pops: the
 * call that finds the queue empty reads the eventfd, a cancellation point;
 * a thread cancelled there must not take the queue's locks with it (the
 * next pop, every push and close would wait forever). */
static void cancelled_poller(void) {
    cluster c;
    cluster_init(&c, 1, "evcancel");
    if (start(&c, 0) != GRAFT_OK)
        return;
    graft_node *n = c.nodes[0];
    for (int round = 0; round < 20; round++) {
        pthread_t t;
        pthread_create(&t, NULL, spin_cancellable, n);
        sleep_ms(2);
        pthread_cancel(t);
        pthread_join(t, NULL);
        call p = {n, 99};
        int back = returns_in(pop_once, &p, 3000);
        CHECKF(back, "round %d: graft_node_next_event stuck after a popping thread was cancelled", round);
        if (!back)
            return; /* the node is wedged: leave it */
        CHECK(p.rc == 0 || p.rc == 1);
    }
    call cl = {n, 99};
    CHECKF(returns_in(close_once, &cl, 5000), "graft_node_close stuck");
    CHECK_EQ(cl.rc, GRAFT_OK);
}

/* close_cancelled: graft_node_close on a thread whose cancellation
 * (pthread_cancel, deferred) is already pending, as when a host cancels a
 * worker that is shutting its node down. c->rc stays 99 if the call never
 * returned (the thread was unwound inside it). */
static void *close_cancelled(void *arg) {
    call *c = arg;
    pthread_cancel(pthread_self());
    c->rc = graft_node_close(c->n);
    pthread_testcancel(); /* the cancellation acts here, after the call */
    return NULL;
}

/* A thread with a cancellation pending that calls graft_node_close: close
 * runs to the end and returns; the cancellation acts at the thread's next
 * cancellation point. Closing the node's eventfd (close(2), a cancellation
 * point, under the node's queue lock in Go) used to unwind the thread out
 * of the library there: close never returned, and every later
 * graft_node_next_event or graft_node_close of the node waited forever. */
static void cancelled_closer(void) {
    cluster c;
    cluster_init(&c, 1, "evcancelclose");
    if (start(&c, 0) != GRAFT_OK) /* with its descriptor: close frees the queue */
        return;
    graft_node *n = c.nodes[0];
    call cl = {n, 99};
    pthread_t t;
    pthread_create(&t, NULL, close_cancelled, &cl);
    void *res = NULL;
    pthread_join(t, &res);
    CHECK(res == PTHREAD_CANCELED);
    CHECKF(cl.rc == GRAFT_OK, "graft_node_close under a pending cancellation: rc %d (99: it never returned)", cl.rc);
    call p = {n, 99};
    CHECKF(returns_in(pop_once, &p, 3000), "graft_node_next_event stuck after a cancelled close");
    CHECK_EQ(p.rc, GRAFT_ECLOSED);
    call again = {n, 99};
    CHECKF(returns_in(close_once, &again, 3000), "graft_node_close stuck after a cancelled close");
    CHECK_EQ(again.rc, GRAFT_ECLOSED);
}

/* A pop held inside the registry: its graft_event is on a page that
 * faults, and the SIGSEGV handler holds the thread there for HELD_MS
 * before it lets the access through (as a major fault on a swapped-out or
 * file-backed page holds a real caller). */
#define HELD_MS 1000
static char *held_page;
static volatile sig_atomic_t held_inside;
static struct sigaction held_old;

static void held_fault(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    char *a = si->si_addr;
    if (a < held_page || a >= held_page + 4096) {
        sigaction(SIGSEGV, &held_old, NULL); /* not ours: the fault repeats under the old handler */
        return;
    }
    held_inside = 1;
    struct timespec d = {HELD_MS / 1000, (HELD_MS % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0) {
    }
    mprotect(held_page, 4096, PROT_READ | PROT_WRITE);
}

static void *pop_held(void *arg) {
    call *c = arg;
    c->rc = graft_node_next_event(c->n, (graft_event *)held_page);
    return NULL;
}

static uint64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* graft_node_event_fd of another node, while a pop is held inside the
 * registry, waits for it (a queue is never registered or freed under a
 * pop) asleep: the writer used to yield in a loop, burning a core for as
 * long as the pop was held (~HELD_MS of CPU). */
static void writer_sleeps_while_pop_held(void) {
    cluster a, b;
    cluster_init(&a, 1, "evheldA");
    cluster_init(&b, 1, "evheldB");
    if (start(&a, 0) != GRAFT_OK)
        return;
    if (node_new(&b, 0) != GRAFT_OK) { /* its descriptor is asked for below */
        graft_node_close(a.nodes[0]);
        return;
    }
    held_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(held_page != MAP_FAILED);
    ((graft_event *)held_page)->size = sizeof(graft_event);
    mprotect(held_page, 4096, PROT_NONE);
    held_inside = 0;
    struct sigaction sa = {.sa_sigaction = held_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &held_old);
    call p = {a.nodes[0], 99};
    pthread_t t;
    pthread_create(&t, NULL, pop_held, &p);
    CHECK(WAIT_UNTIL(held_inside, DEADLINE_MS));
    uint64_t cpu = thread_cpu_ns(), wall = now_ns();
    CHECK(graft_node_event_fd(b.nodes[0]) >= 0);
    cpu = thread_cpu_ns() - cpu;
    wall = now_ns() - wall;
    pthread_join(t, NULL);
    sigaction(SIGSEGV, &held_old, NULL);
    CHECK(p.rc == 0 || p.rc == 1);
    printf("     graft_node_event_fd with a pop held %d ms: %.1f ms, %.1f ms of CPU\n", HELD_MS, wall / 1e6,
           cpu / 1e6);
    CHECKF(cpu < 200000000u, "graft_node_event_fd burnt %.1f ms of CPU waiting for a held pop", cpu / 1e6);
    munmap(held_page, 4096);
    CHECK_EQ(graft_node_close(b.nodes[0]), GRAFT_OK);
    CHECK_EQ(graft_node_close(a.nodes[0]), GRAFT_OK);
}

/* ---- epoll_worker processes ---------------------------------------------- */

/* lease_term: the term of the latest "LEASE ... held=1" line if no
 * "held=0" line follows it, else 0. */
static uint64_t lease_term(t_proc *p) {
    const char *s = p->out, *last = NULL;
    while ((s = strstr(s, "LEASE ")) != NULL)
        last = s++;
    if (!last || !strstr(last, " held=1 "))
        return 0;
    return strtoull(strstr(last, " term=") + 6, NULL, 10);
}

/* work_span: the first and last t of the WORK lines with token term. */
static int work_span(t_proc *p, uint64_t term, uint64_t *first, uint64_t *last) {
    char want[48];
    snprintf(want, sizeof want, " token=%llu ", (unsigned long long)term);
    int found = 0;
    for (const char *s = p->out; (s = strstr(s, "WORK t=")) != NULL; s++) {
        const char *eol = strchr(s, '\n');
        const char *tok = strstr(s, want);
        if (!eol || !tok || tok > eol)
            continue;
        uint64_t t = strtoull(s + 7, NULL, 10);
        if (!found++)
            *first = t;
        *last = t;
    }
    return found;
}

static void epoll_workers(void) {
    const char *worker = getenv("GRAFT_EPOLL_WORKER");
    CHECK(worker != NULL); /* never skipped silently: make test-c sets it */
    if (!worker)
        return;
    cluster c;
    cluster_init(&c, 3, "evproc");
    t_proc p[3];
    for (int i = 0; i < 3; i++) {
        char hb[16], emin[16], emax[16], peer[2][64];
        snprintf(hb, sizeof hb, "%d", HB);
        snprintf(emin, sizeof emin, "%d", EMIN);
        snprintf(emax, sizeof emax, "%d", EMAX);
        const char *argv[32] = {worker, "--id", c.ids[i], "--listen", c.addrs[i], "--state", c.state[i],
                                "--certs", certs, "--cluster", "epoll", "--heartbeat-ms", hb,
                                "--election-min-ms", emin, "--election-max-ms", emax};
        int a = 17, k = 0;
        for (int o = 0; o < 3; o++)
            if (o != i) {
                snprintf(peer[k], sizeof peer[k], "%s=%s", c.ids[o], c.addrs[o]);
                argv[a++] = "--peer";
                argv[a++] = peer[k++];
            }
        argv[a] = NULL;
        p[i].fd = spawn_piped(argv, 0, &p[i].pid);
        CHECK(p[i].fd >= 0);
        p[i].len = 0;
        p[i].out[0] = 0;
    }
#define HOLDER(skip) ({ int _w = -1; t_pump(p, 3); for (int _i = 0; _i < 3; _i++) \
        if (_i != (skip) && lease_term(&p[_i]) && strstr(p[_i].out, "WORK ")) _w = _i; _w; })
    int l = -1, l2 = -1;
    uint64_t term1 = 0;
    CHECK(WAIT_UNTIL((l = HOLDER(-1)) >= 0, DEADLINE_MS));
    if (l >= 0) {
        term1 = lease_term(&p[l]);
        kill(p[l].pid, SIGSTOP); /* paused past its deadline */
        CHECK(WAIT_UNTIL((l2 = HOLDER(l)) >= 0 && lease_term(&p[l2]) > term1, DEADLINE_MS));
        size_t before = p[l].len;
        kill(p[l].pid, SIGCONT);
        CHECK(WAIT_UNTIL((t_pump(p, 3), lease_term(&p[l]) != term1), DEADLINE_MS));
        /* after the resume: the loss first, no work of the old term */
        const char *after = p[l].out + before;
        const char *lost = strstr(after, " held=0 ");
        char old_work[48];
        snprintf(old_work, sizeof old_work, " token=%llu ", (unsigned long long)term1);
        const char *work = strstr(after, old_work);
        CHECKF(lost != NULL && (work == NULL || work > lost), "after SIGCONT: %s", after);
        /* no two processes ever worked at overlapping times (one clock) */
        uint64_t f1 = 0, e1 = 0, f2 = 0, e2 = 0;
        if (l2 >= 0 && work_span(&p[l], term1, &f1, &e1) && work_span(&p[l2], lease_term(&p[l2]), &f2, &e2)) {
            CHECKF(e1 < f2, "old leader worked until %llu ms, the new one from %llu ms",
                   (unsigned long long)e1, (unsigned long long)f2);
            printf("     %s paused at term %llu; %s worked from %llu ms after %s's last work\n", c.ids[l],
                   (unsigned long long)term1, c.ids[l2], (unsigned long long)(f2 - e1), c.ids[l]);
        }
    }
    for (int i = 0; i < 3; i++) {
        kill(p[i].pid, SIGTERM);
        int status = 0;
        CHECK(waitpid(p[i].pid, &status, 0) == p[i].pid);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exit status %d", c.ids[i], status);
        t_pump(p, 3);
        CHECKF(strstr(p[i].out, "EXIT ") && strstr(p[i].out, "close=0"), "%s: no clean EXIT line", c.ids[i]);
        if (p[i].fd >= 0)
            close(p[i].fd);
        p[i].fd = -1;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    certs = make_tempdir("evcerts");
    const char *ids[] = {"n1", "n2", "n3"};
    if (graft_generate_certs(certs, ids, 3) != GRAFT_OK) {
        fprintf(stderr, "cannot generate certificates\n");
        return 2;
    }
    RUN(events_misuse, "NULL, made-up, config, closed, bad sizes and timeouts: right codes");
    RUN(single_node, "wait_lease, callbacks and queue agree; fd readable while queued, until a call returns 0");
    RUN(waiting, "timeouts of 0 and 150 ms; close wakes every waiter with ECLOSED");
    RUN(three_nodes, "step-down: loss before state change; cut off: loss at the deadline");
    RUN(fork_child, "a forked child gets GRAFT_EFORK from the four functions");
    RUN(pollers_do_not_starve_close, "threads popping one node's queue do not hold off another's start and close");
    RUN(cancelled_poller, "a thread cancelled while it pops leaves no lock held");
    RUN(cancelled_closer, "graft_node_close with a cancellation pending returns and leaves no lock held");
    RUN(writer_sleeps_while_pop_held, "graft_node_event_fd waits for a pop held inside the registry asleep");
    RUN(epoll_workers, "3 epoll_worker processes, leader paused: loss first on resume, no overlap");
    return t_summary("test_events");
}
