/*
 * lease_probe - one graft node that times how its lease events reach a C
 * program, for make bench's events section (issue 13). The harness runs
 * three of them, waits until one holds the lease, stops the other two
 * (SIGSTOP) so that the lease runs out at its deadline without renewal, and
 * lets them go on again (SIGCONT). MODE picks how the program learns of its
 * lease, one way per process so that they do not wait for one another:
 *
 *   cb   the callbacks (state, leader, lease), and a thread blocked in
 *        graft_node_wait_lease that, once it returns, reads the event
 *        queue (graft_node_event_fd) for the instant the lease was acquired
 *   fd   no callback: a thread in an epoll loop on graft_node_event_fd,
 *        popping with graft_node_next_event
 *
 * It prints these lines (times are CLOCK_MONOTONIC ns unless noted):
 *
 *   EVENT t=<ms> id=ID kind=state from=S state=S term=N leader=L   (as leader_worker)
 *   EVENT t=<ms> id=ID kind=leader state=S term=N leader=L
 *   ACQ   id=ID term=N deadline_ns=D ns=T   the lease reached the program at T
 *   WAKE  id=ID term=N ns=W enter_ns=E [at_ns=A]   (cb) graft_node_wait_lease
 *         entered at E returned at W; A: the at_ns of the LEASE_ACQUIRED
 *         event of that term emitted between E and W (the instant the
 *         node's core acquired the lease), absent when there is none (the
 *         lease was held before the call)
 *   LOST  id=ID term=N deadline_ns=D ns=T   the loss reached the program at T
 *   NEXT  id=ID ns=X    (fd) epoll_wait returned, then the first
 *                       graft_node_next_event returned X ns later
 *
 * The main thread sleeps; SIGKILL ends the probe.
 *
 *   lease_probe MODE ID LISTEN STATE CERTS PEER_ID=ADDR...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <graft.h>

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static const char *self_id;
static graft_node *node;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* say prints one whole line; the threads share stdout. */
static void say(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&out_mu);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static const char *state_name(graft_state s) {
    switch (s) {
    case GRAFT_FOLLOWER: return "follower";
    case GRAFT_CANDIDATE: return "candidate";
    case GRAFT_LEADER: return "leader";
    case GRAFT_CLOSED: return "closed";
    }
    return "unknown";
}

static graft_state cur_state = GRAFT_FOLLOWER;
static char cur_leader[256] = "-";

/* on_state and on_leader print the EVENT lines; in fd mode the poller
 * calls them for the queued events (one thread either way). */
static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)ctx;
    cur_state = to;
    say("EVENT t=%.3f id=%s kind=state from=%s state=%s term=%llu leader=%s", now_ns() / 1e6, self_id,
        state_name(from), state_name(to), (unsigned long long)term, cur_leader);
}

static void on_leader(void *ctx, const char *leader, uint64_t term) {
    (void)ctx;
    snprintf(cur_leader, sizeof cur_leader, "%s", leader[0] ? leader : "-");
    say("EVENT t=%.3f id=%s kind=leader state=%s term=%llu leader=%s", now_ns() / 1e6, self_id,
        state_name(cur_state), (unsigned long long)term, cur_leader);
}

/* Losses so far: the waiter waits for one after each lease it got (a
 * lease lost and regained in the same term is a new lease). */
static pthread_mutex_t lost_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lost_cv = PTHREAD_COND_INITIALIZER;
static uint64_t losses;

static void on_lease(void *ctx, int held, uint64_t term, uint64_t deadline_ns) {
    (void)ctx;
    uint64_t t = now_ns();
    if (held) {
        say("ACQ id=%s term=%llu deadline_ns=%llu ns=%llu", self_id, (unsigned long long)term,
            (unsigned long long)deadline_ns, (unsigned long long)t);
        return;
    }
    say("LOST id=%s term=%llu deadline_ns=%llu ns=%llu", self_id, (unsigned long long)term,
        (unsigned long long)deadline_ns, (unsigned long long)t);
    pthread_mutex_lock(&lost_mu);
    losses++;
    pthread_cond_broadcast(&lost_cv);
    pthread_mutex_unlock(&lost_mu);
}

/* acquired_at returns the at_ns of the LEASE_ACQUIRED of term that the
 * core emitted between since (the call's start) and until (its return),
 * popped from the event queue (fd) within 2 s, or 0: the call found the
 * lease held (an event later than until is another lease's, of a later
 * wait). The events before it are dropped: the callbacks report them. The
 * event may be queued after the waiter woke (the callback goroutine queues
 * it after the loop published the lease), hence the wait. */
static uint64_t acquired_at(int fd, uint64_t term, uint64_t since, uint64_t until) {
    uint64_t end = now_ns() + 2000000000ull;
    for (;;) {
        graft_event ev = {.size = sizeof ev};
        int rc;
        while ((rc = graft_node_next_event(node, &ev)) == 1) {
            if (ev.at_ns > until)
                return 0;
            if (ev.kind == GRAFT_EVENT_LEASE_ACQUIRED && ev.term == term && ev.at_ns >= since)
                return ev.at_ns;
            ev.size = sizeof ev;
        }
        uint64_t now = now_ns();
        if (rc != 0 || now >= end)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, (int)((end - now) / 1000000u) + 1);
    }
}

/* waiter: wait for the lease, note when the call returned and when the
 * core acquired the lease, wait for its loss, again. */
static void *waiter(void *arg) {
    int fd = (int)(intptr_t)arg;
    for (;;) {
        pthread_mutex_lock(&lost_mu);
        uint64_t seen = losses;
        pthread_mutex_unlock(&lost_mu);
        uint64_t term = 0, deadline = 0, enter = now_ns();
        int rc = graft_node_wait_lease(node, -1, &term, &deadline);
        uint64_t t = now_ns();
        if (rc != 1) {
            fprintf(stderr, "lease_probe: graft_node_wait_lease: %s\n", graft_strerror(rc));
            return NULL;
        }
        uint64_t at = acquired_at(fd, term, enter, t);
        if (at)
            say("WAKE id=%s term=%llu ns=%llu enter_ns=%llu at_ns=%llu", self_id, (unsigned long long)term,
                (unsigned long long)t, (unsigned long long)enter, (unsigned long long)at);
        else
            say("WAKE id=%s term=%llu ns=%llu enter_ns=%llu", self_id, (unsigned long long)term, (unsigned long long)t,
                (unsigned long long)enter);
        pthread_mutex_lock(&lost_mu);
        while (losses == seen)
            pthread_cond_wait(&lost_cv, &lost_mu);
        pthread_mutex_unlock(&lost_mu);
    }
}

/* poller: an epoll loop on the event descriptor. */
static void *poller(void *arg) {
    int fd = (int)(intptr_t)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event want = {.events = EPOLLIN}, got;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want) != 0) {
        perror("lease_probe: epoll");
        exit(1);
    }
    for (;;) {
        if (epoll_wait(ep, &got, 1, -1) != 1)
            continue;
        uint64_t readable = now_ns();
        int first = 1;
        for (;;) {
            graft_event ev = {.size = sizeof ev};
            int rc = graft_node_next_event(node, &ev);
            uint64_t t = now_ns();
            if (rc != 1)
                break;
            if (first)
                say("NEXT id=%s ns=%llu", self_id, (unsigned long long)(t - readable));
            first = 0;
            switch (ev.kind) {
            case GRAFT_EVENT_STATE: on_state(NULL, ev.from, ev.to, ev.term); break;
            case GRAFT_EVENT_LEADER: on_leader(NULL, ev.leader, ev.term); break;
            case GRAFT_EVENT_LEASE_ACQUIRED:
                say("ACQ id=%s term=%llu deadline_ns=%llu ns=%llu", self_id, (unsigned long long)ev.term,
                    (unsigned long long)ev.deadline_ns, (unsigned long long)t);
                break;
            case GRAFT_EVENT_LEASE_LOST:
                say("LOST id=%s term=%llu deadline_ns=%llu ns=%llu", self_id, (unsigned long long)ev.term,
                    (unsigned long long)ev.deadline_ns, (unsigned long long)t);
                break;
            default: break;
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 7 || (strcmp(argv[1], "cb") != 0 && strcmp(argv[1], "fd") != 0)) {
        fprintf(stderr, "usage: lease_probe cb|fd ID LISTEN STATE CERTS PEER_ID=ADDR...\n");
        return 2;
    }
    int fd_mode = strcmp(argv[1], "fd") == 0;
    argv++, argc--;
    self_id = argv[1];
    char cert[1024], key[1024], ca[1024];
    snprintf(cert, sizeof cert, "%s/%s.pem", argv[4], self_id);
    snprintf(key, sizeof key, "%s/%s-key.pem", argv[4], self_id);
    snprintf(ca, sizeof ca, "%s/ca.pem", argv[4]);
    graft_config *c = graft_config_new("graft-bench", self_id, argv[2]);
    if (!c) {
        fprintf(stderr, "lease_probe: bad id or address\n");
        return 2;
    }
    for (int i = 5; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "lease_probe: want PEER_ID=ADDR, got %s\n", argv[i]);
            return 2;
        }
        *eq = 0;
        if (graft_config_add_peer(c, argv[i], eq + 1) != GRAFT_OK) {
            fprintf(stderr, "lease_probe: bad peer %s\n", argv[i]);
            return 2;
        }
    }
    if (graft_config_set_state_path(c, argv[3]) != GRAFT_OK || graft_config_set_tls(c, cert, key, ca) != GRAFT_OK ||
        (!fd_mode && (graft_config_on_state_change(c, on_state, NULL) != GRAFT_OK ||
                      graft_config_on_leader_change(c, on_leader, NULL) != GRAFT_OK ||
                      graft_config_on_lease(c, on_lease, NULL) != GRAFT_OK))) {
        fprintf(stderr, "lease_probe: configuration refused\n");
        return 2;
    }
    char err[512];
    int rc = graft_node_new(c, &node, err, sizeof err);
    graft_config_free(c);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "lease_probe: %s\n", err);
        return 1;
    }
    pthread_t t;
    int fd = graft_node_event_fd(node); /* cb: the waiter reads the acquisitions' at_ns */
    if (fd < 0) {
        fprintf(stderr, "lease_probe: graft_node_event_fd: %s\n", graft_strerror(fd));
        return 1;
    }
    pthread_create(&t, NULL, fd_mode ? poller : waiter, (void *)(intptr_t)fd);
    say("READY id=%s pid=%d", self_id, (int)getpid());
    for (;;)
        pause();
}
