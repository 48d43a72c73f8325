/*
 * node - a graft node that writes down every change of its belief, for the
 * fault-injection tests (tests/faults, `make test-faults`).
 *
 * One line per event, appended with one write(2) each (no stdio buffer:
 * a SIGKILL loses nothing already written), t = CLOCK_MONOTONIC in ns,
 * which every network namespace of the host shares. The format is the one
 * tests/faults/checker reads (see its package comment):
 *
 *   START t= id= term= pid= rate= anchor=    after graft_node_new (anchor: just before it)
 *   STATE t= from= to= term=                 state-change callback
 *   LEADER t= leader= term=                  leader-change callback
 *   TERM t= term=                            poller: graft_node_term changed
 *   LEAD t= term= deadline=                  poller: is_leader 0 -> 1, or a new lease (term/deadline)
 *   NOLEAD t=                                poller: is_leader 1 -> 0
 *   CLOSING t= / CLOSED t= rc=               on SIGTERM
 *
 * The poller asks graft_node_is_leader, then graft_node_lease, every
 * --poll-us microseconds (default 1000). t of a LEAD line is taken after
 * both calls returned.
 *
 * Usage:
 *   node --id ID --listen HOST:PORT --peer ID=HOST:PORT... --state FILE
 *        --certs DIR --log FILE [--cluster NAME] [--heartbeat-ms N]
 *        [--election-min-ms N] [--election-max-ms N] [--poll-us N]
 *   node gencerts DIR ID...
 * GRAFT_TEST_CLOCK_RATE and GRAFT_TEST_DISABLE_CHECK_QUORUM (test-only
 * hooks of the library) are read from the environment; the rate is
 * written into START so that the checker can convert deadlines.
 */
#include <graft.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static volatile sig_atomic_t stop;
static graft_node *node;

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* logline writes "KIND t=<now> ..." as one write(2). */
static void logline(unsigned long long t, const char *kind, const char *fmt, ...) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s t=%llu", kind, t);
    if (fmt && *fmt) {
        buf[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
        va_end(ap);
    }
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(log_fd, buf, (size_t)n);
    (void)w;
}

static const char *state_name(graft_state s) {
    static const char *names[] = {"follower", "candidate", "leader", "closed"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)ctx;
    logline(now_ns(), "STATE", "from=%s to=%s term=%llu", state_name(from), state_name(to), (unsigned long long)term);
}

static void on_leader(void *ctx, const char *id, uint64_t term) {
    (void)ctx;
    logline(now_ns(), "LEADER", "leader=%s term=%llu", *id ? id : "-", (unsigned long long)term);
}

static void on_error(void *ctx, int code, const char *msg) {
    (void)ctx;
    fprintf(stderr, "node: error %d: %s\n", code, msg);
}

static long poll_us = 1000;

static void *poller(void *arg) {
    (void)arg;
    uint64_t last_term = graft_node_term(node), last_lterm = 0, last_deadline = 0;
    int leading = 0;
    struct timespec gap = {poll_us / 1000000, (poll_us % 1000000) * 1000};
    while (!stop) {
        uint64_t term = graft_node_term(node);
        int is = graft_node_is_leader(node);
        uint64_t lterm = 0, deadline = 0;
        if (is == 1 && graft_node_lease(node, &lterm, &deadline) != 1)
            is = 0; /* the lease ended between the two calls */
        unsigned long long t = now_ns();
        if (stop)
            break;
        if (term != last_term) {
            logline(t, "TERM", "term=%llu", (unsigned long long)term);
            last_term = term;
        }
        if (is && (!leading || lterm != last_lterm || deadline != last_deadline)) {
            logline(t, "LEAD", "term=%llu deadline=%llu", (unsigned long long)lterm, (unsigned long long)deadline);
            last_lterm = lterm, last_deadline = deadline;
        } else if (!is && leading) {
            logline(t, "NOLEAD", NULL);
        }
        leading = is;
        nanosleep(&gap, NULL);
    }
    return NULL;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

static void usage(void) {
    fprintf(stderr,
            "usage: node --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR\n"
            "            --log FILE [--cluster NAME] [--heartbeat-ms N] [--election-min-ms N]\n"
            "            [--election-max-ms N] [--poll-us N]\n"
            "       node gencerts DIR ID...\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "gencerts")) {
        int rc = graft_generate_certs(argv[2], (const char *const *)argv + 3, (size_t)(argc - 3));
        if (rc != GRAFT_OK) {
            fprintf(stderr, "node: gencerts: %s\n", graft_strerror(rc));
            return 1;
        }
        return 0;
    }
    const char *id = NULL, *listen = NULL, *state_path = NULL, *certs = NULL, *log_path = NULL;
    const char *cluster = "graft-faults";
    unsigned hb = 0, emin = 0, emax = 0;
    const char *peers[64];
    int npeers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--id")) id = v;
        else if (!strcmp(a, "--listen")) listen = v;
        else if (!strcmp(a, "--state")) state_path = v;
        else if (!strcmp(a, "--certs")) certs = v;
        else if (!strcmp(a, "--log")) log_path = v;
        else if (!strcmp(a, "--cluster")) cluster = v;
        else if (!strcmp(a, "--heartbeat-ms")) hb = (unsigned)atoi(v);
        else if (!strcmp(a, "--election-min-ms")) emin = (unsigned)atoi(v);
        else if (!strcmp(a, "--election-max-ms")) emax = (unsigned)atoi(v);
        else if (!strcmp(a, "--poll-us")) poll_us = atol(v);
        else if (!strcmp(a, "--peer") && npeers < 64) peers[npeers++] = v;
        else usage();
    }
    if (!id || !listen || !state_path || !certs || !log_path || poll_us <= 0)
        usage();
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "node: %s: %s\n", log_path, strerror(errno));
        return 1;
    }

    graft_config *c = graft_config_new(cluster, id, listen);
    if (!c) {
        fprintf(stderr, "node: graft_config_new failed\n");
        return 1;
    }
    for (int i = 0; i < npeers; i++) {
        char pid[GRAFT_ID_MAX];
        const char *eq = strchr(peers[i], '=');
        if (!eq || (size_t)(eq - peers[i]) >= sizeof pid)
            usage();
        snprintf(pid, sizeof pid, "%.*s", (int)(eq - peers[i]), peers[i]);
        if (graft_config_add_peer(c, pid, eq + 1) != GRAFT_OK)
            usage();
    }
    char cert[4096], key[4096], ca[4096];
    snprintf(cert, sizeof cert, "%s/%s.pem", certs, id);
    snprintf(key, sizeof key, "%s/%s-key.pem", certs, id);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    int rc = 0;
    rc |= graft_config_set_state_path(c, state_path);
    rc |= graft_config_set_tls(c, cert, key, ca);
    rc |= graft_config_set_timeouts(c, hb, emin, emax);
    rc |= graft_config_on_state_change(c, on_state, NULL);
    rc |= graft_config_on_leader_change(c, on_leader, NULL);
    rc |= graft_config_on_error(c, on_error, NULL);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "node: config: %s\n", graft_strerror(rc));
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const char *rate = getenv("GRAFT_TEST_CLOCK_RATE");
    char err[512];
    unsigned long long anchor = now_ns();
    rc = graft_node_new(c, &node, err, sizeof err);
    graft_config_free(c);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "node: %s (%s)\n", err, graft_strerror(rc));
        return 1;
    }
    logline(now_ns(), "START", "id=%s term=%llu pid=%d rate=%s anchor=%llu", id,
            (unsigned long long)graft_node_term(node), (int)getpid(), rate && *rate ? rate : "1", anchor);

    pthread_t th;
    if (pthread_create(&th, NULL, poller, NULL) != 0) {
        fprintf(stderr, "node: pthread_create failed\n");
        return 1;
    }
    /* SIGTERM may land on any thread (the library's too): poll the flag. */
    struct timespec tick = {0, 20 * 1000 * 1000};
    while (!stop)
        nanosleep(&tick, NULL);
    pthread_join(th, NULL);
    logline(now_ns(), "CLOSING", NULL);
    rc = graft_node_close(node);
    logline(now_ns(), "CLOSED", "rc=%d", rc);
    return 0;
}
