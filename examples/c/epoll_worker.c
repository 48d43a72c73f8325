/*
 * epoll_worker - leader work driven by an epoll loop, without callbacks.
 *
 * Shows: graft_node_event_fd in an epoll set next to the program's own
 * descriptors (here a self-pipe for SIGINT/SIGTERM), graft_node_next_event
 * until it returns 0, and leader work only between LEASE_ACQUIRED and
 * LEASE_LOST, each piece checked against the current deadline (renewals
 * are silent: graft_node_lease gives the newest deadline).
 *
 * Run three (after `make examples-c`; build/gencerts writes certificates):
 *   build/gencerts /tmp/certs n1 n2 n3
 *   build/epoll_worker --id n1 --listen 127.0.0.1:7001 --peer n2=127.0.0.1:7002 \
 *       --peer n3=127.0.0.1:7003 --state /tmp/n1.graft --certs /tmp/certs &
 *   ... likewise n2 and n3; `kill -STOP` the leader, watch another take
 *   over, then `kill -CONT` it: it prints its loss at once, before any work.
 *
 * Output, one line per event (tests/c/test_events.c parses it):
 *   EVENT t=<CLOCK_MONOTONIC ms> id=<id> kind=state from=<s> state=<s> term=<n>
 *   EVENT t=<ms> id=<id> kind=leader term=<n> leader=<id or ->
 *   LEASE t=<ms> id=<id> held=<0|1> term=<n> deadline=<CLOCK_MONOTONIC ms>
 *   WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
 *   EXIT  t=<ms> id=<id> close=<rc>
 */
#include <graft.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define WORK_EVERY_MS 50

static int sig_pipe[2];
static const char *my_id = "";

static void on_signal(int sig) {
    (void)sig;
    int saved = errno;
    if (write(sig_pipe[1], "x", 1) < 0) { /* full: a wake-up is pending anyway */ }
    errno = saved;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long long ms(uint64_t ns) { return (unsigned long long)(ns / 1000000u); }

static const char *state_name(graft_state s) {
    static const char *names[] = {"follower", "candidate", "leader", "closed"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR\n"
            "          [--cluster NAME] [--heartbeat-ms N] [--election-min-ms N] [--election-max-ms N]\n"
            "  --certs DIR uses DIR/ca.pem, DIR/<id>.pem and DIR/<id>-key.pem\n",
            prog);
    exit(2);
}

static graft_node *start(int argc, char **argv) {
    const char *listen = NULL, *state_path = NULL, *certs = NULL, *cluster = "graft-demo";
    unsigned hb = 0, emin = 0, emax = 0;
    graft_config *c = NULL;
    const char *peers[64];
    int npeers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage(argv[0]);
        i++;
        if (!strcmp(a, "--id")) my_id = v;
        else if (!strcmp(a, "--listen")) listen = v;
        else if (!strcmp(a, "--state")) state_path = v;
        else if (!strcmp(a, "--certs")) certs = v;
        else if (!strcmp(a, "--cluster")) cluster = v;
        else if (!strcmp(a, "--heartbeat-ms")) hb = (unsigned)atoi(v);
        else if (!strcmp(a, "--election-min-ms")) emin = (unsigned)atoi(v);
        else if (!strcmp(a, "--election-max-ms")) emax = (unsigned)atoi(v);
        else if (!strcmp(a, "--peer") && npeers < 64) peers[npeers++] = v;
        else usage(argv[0]);
    }
    if (!*my_id || !listen || !state_path || !certs)
        usage(argv[0]);
    c = graft_config_new(cluster, my_id, listen);
    if (!c) { fprintf(stderr, "graft_config_new failed\n"); exit(1); }
    for (int i = 0; i < npeers; i++) {
        char id[GRAFT_ID_MAX];
        const char *eq = strchr(peers[i], '=');
        if (!eq || (size_t)(eq - peers[i]) >= sizeof id) usage(argv[0]);
        snprintf(id, sizeof id, "%.*s", (int)(eq - peers[i]), peers[i]);
        graft_config_add_peer(c, id, eq + 1);
    }
    char cert[4096], key[4096], ca[4096];
    snprintf(cert, sizeof cert, "%s/%s.pem", certs, my_id);
    snprintf(key, sizeof key, "%s/%s-key.pem", certs, my_id);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    graft_config_set_state_path(c, state_path);
    graft_config_set_tls(c, cert, key, ca);
    graft_config_set_timeouts(c, hb, emin, emax);
    graft_node *n;
    char err[512];
    int rc = graft_node_new(c, &n, err, sizeof err);
    graft_config_free(c);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "epoll_worker: %s (%s)\n", err, graft_strerror(rc));
        exit(1);
    }
    return n;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* SIGINT/SIGTERM are the host's (the library never touches them); the
     * handler only wakes the loop through a pipe. */
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) { perror("pipe2"); return 1; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    graft_node *n = start(argc, argv);
    int efd = graft_node_event_fd(n); /* events are queued from here on */
    if (efd < 0) { fprintf(stderr, "graft_node_event_fd: %s\n", graft_strerror(efd)); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event in = {.events = EPOLLIN, .data.fd = efd};
    struct epoll_event sig = {.events = EPOLLIN, .data.fd = sig_pipe[0]};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &in) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, sig_pipe[0], &sig) != 0) {
        perror("epoll");
        return 1;
    }

    int holding = 0, stop = 0;
    uint64_t token = 0;
    while (!stop) {
        struct epoll_event ready[4];
        int k = epoll_wait(ep, ready, 4, holding ? WORK_EVERY_MS : -1);
        if (k < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < k; i++)
            if (ready[i].data.fd == sig_pipe[0])
                stop = 1;
        graft_event ev = {.size = sizeof ev};
        int rc;
        while ((rc = graft_node_next_event(n, &ev)) == 1) {
            switch (ev.kind) {
            case GRAFT_EVENT_STATE:
                printf("EVENT t=%llu id=%s kind=state from=%s state=%s term=%llu\n", ms(mono_ns()), my_id,
                       state_name(ev.from), state_name(ev.to), (unsigned long long)ev.term);
                break;
            case GRAFT_EVENT_LEADER:
                printf("EVENT t=%llu id=%s kind=leader term=%llu leader=%s\n", ms(mono_ns()), my_id,
                       (unsigned long long)ev.term, ev.leader[0] ? ev.leader : "-");
                break;
            case GRAFT_EVENT_LEASE_ACQUIRED:
            case GRAFT_EVENT_LEASE_LOST:
                holding = ev.kind == GRAFT_EVENT_LEASE_ACQUIRED;
                token = ev.term;
                printf("LEASE t=%llu id=%s held=%d term=%llu deadline=%llu\n", ms(mono_ns()), my_id, holding,
                       (unsigned long long)ev.term, ms(ev.deadline_ns));
                break;
            case GRAFT_EVENT_OVERFLOW: { /* events were dropped: ask for the state */
                uint64_t t, d;
                holding = graft_node_lease(n, &t, &d) == 1;
                token = t;
                break;
            }
            default: /* a kind added later */
                break;
            }
            ev.size = sizeof ev;
        }
        if (rc < 0) { fprintf(stderr, "graft_node_next_event: %s\n", graft_strerror(rc)); return 1; }
        if (holding && !stop) {
            /* The work: only with the newest deadline still ahead, carrying
             * the term to whatever it writes (the fencing token). */
            uint64_t t, deadline;
            uint64_t now = mono_ns();
            if (graft_node_lease(n, &t, &deadline) == 1 && t == token && now < deadline)
                printf("WORK t=%llu id=%s token=%llu lease_ms=%llu\n", ms(now), my_id,
                       (unsigned long long)token, ms(deadline - now));
        }
    }

    /* Out of the loop before close: close closes the descriptor. close
     * hands the leadership over first when this node leads. */
    epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL);
    close(ep);
    int rc = graft_node_close(n);
    printf("EXIT t=%llu id=%s close=%d\n", ms(mono_ns()), my_id, rc);
    return rc == GRAFT_OK ? 0 : 1;
}
