/*
 * node - a graft node that writes down every change of its belief, for the
 * fault-injection tests (tests/faults, `make test-faults`).
 *
 * One line per event, appended with one write(2) each (no stdio buffer:
 * a SIGKILL loses nothing already written), t = CLOCK_MONOTONIC in ns,
 * which every network namespace of the host shares. The format is the one
 * tests/faults/checker reads (see its package comment):
 *
 *   START t= id= term= pid= rate= anchor= anchor1=   after graft_node_new
 *                                            (anchor: just before it, anchor1: just after)
 *   STATE t= from= to= term=                 state-change callback
 *   LEADER t= leader= term=                  leader-change callback
 *   TERM t= term=                            poller: graft_node_term changed
 *   LEASE t= held= term= deadline= cbdelay=  lease callback (graft_config_on_lease): held 1
 *                                            acquired, 0 lost; t is when it ran, cbdelay
 *                                            its own delay in the library's queue
 *                                            (graft_stats.callback_delay_last_ns, read
 *                                            inside the callback; -1 if unknown)
 *   LEAD t= t0= term= deadline=              poller: graft_node_lease returned 1 with a new
 *                                            term or deadline (t0: before the call, t: after)
 *   NOLEAD t= t0= last=                      poller: graft_node_lease went 1 -> 0 (last: the
 *                                            return of the last poll that saw the lease)
 *   GAP t= from=                             poller: it did not run from `from` (the end of
 *                                            its previous poll) to t, over 1 ms more than
 *                                            its sleep: the process was starved
 *   STEPDOWN t= t0= term= rc= tries= delay_us= kick=
 *                                            handover: graft_node_step_down's result (kick=1: the
 *                                            leader in office when the mode came on)
 *   HANDOVER t= on=                          handover mode switched (--handover-file appeared
 *                                            or went)
 *   CLOSING t= / CLOSED t= rc=               on SIGTERM
 *
 * The poller asks graft_node_lease, then graft_node_term, every --poll-us
 * microseconds (default 250): the lease intervals the checker compares are
 * the node's own, from the first poll that saw a lease to its latest
 * deadline.
 *
 * Handover mode (while the file named by --handover-file exists): each time
 * the node becomes leader it steps down (graft_node_step_down) at once, or
 * after a random delay of up to two heartbeats; a step-down that finds no
 * peer answered yet (GRAFT_ENOPEER, until the first heartbeat is
 * acknowledged) is retried every 50 us, so "at once" means "at the first
 * acknowledgement". It aims at the moments right after an election, where
 * late votes of the candidacy are still in flight. A file, not signals: two
 * signals sent to a stopped process may be handled by two threads in either
 * order on resume, and a node resumed from SIGSTOP must see the mode as it
 * is now; the file is looked at again before every step-down.
 *
 * Usage:
 *   node --id ID --listen HOST:PORT --peer ID=HOST:PORT... --state FILE
 *        --certs DIR --log FILE [--cluster NAME] [--heartbeat-ms N]
 *        [--election-min-ms N] [--election-max-ms N] [--poll-us N] [--handover-file PATH]
 *   node gencerts DIR ID...
 * Built twice (mk/faults.mk): against the TEST build of the library, which
 * reads GRAFT_TEST_CLOCK_RATE and GRAFT_TEST_DISABLE_CHECK_QUORUM, and, with
 * -DGRAFT_FAULTS_RELEASE_LIB, against the released one, which ignores them.
 * START's rate is the one in effect (1 for the released library), so that
 * the checker converts deadlines right; envrate is what the environment
 * said.
 */
#include <graft.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static volatile sig_atomic_t stop;
static graft_node *node;
/* node, for the lease callback: written once graft_node_new returned, which
 * a plain pointer read on the callback thread would race with. */
static _Atomic(graft_node *) live_node;

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

/* Handover mode: on_state hands the handover thread each term this node
 * wins while the mode is on. */
static const char *handover_file;
static atomic_int handover_on; /* the file existed at the last look */
static pthread_mutex_t ho_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ho_cv = PTHREAD_COND_INITIALIZER;
static uint64_t ho_term; /* a term just won, 0 for none */
static int ho_kick;      /* ho_term is the leader in office when the mode came on */
static unsigned hb_ms = 20, emax_ms = 180;

static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)ctx;
    logline(now_ns(), "STATE", "from=%s to=%s term=%llu", state_name(from), state_name(to), (unsigned long long)term);
    if (to == GRAFT_LEADER && handover_on) {
        pthread_mutex_lock(&ho_mu);
        ho_term = term;
        pthread_cond_signal(&ho_cv);
        pthread_mutex_unlock(&ho_mu);
    }
}

static void on_leader(void *ctx, const char *id, uint64_t term) {
    (void)ctx;
    logline(now_ns(), "LEADER", "leader=%s term=%llu", *id ? id : "-", (unsigned long long)term);
}

/* on_lease logs each lease event with the instant it ran and its own
 * delay in the library's callback queue, so that the checker can tell how
 * late a "lost" was and why: the deadline timer, or the queue. */
static void on_lease(void *ctx, int held, uint64_t term, uint64_t deadline_ns) {
    (void)ctx;
    unsigned long long t = now_ns();
    long long cbdelay = -1;
    graft_node *n = atomic_load(&live_node);
    graft_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (n && graft_node_stats(n, &st) == GRAFT_OK)
        cbdelay = (long long)st.callback_delay_last_ns;
    logline(t, "LEASE", "held=%d term=%llu deadline=%llu cbdelay=%lld", held, (unsigned long long)term,
            (unsigned long long)deadline_ns, cbdelay);
}

static void on_error(void *ctx, int code, const char *msg) {
    (void)ctx;
    fprintf(stderr, "node: error %d: %s\n", code, msg);
}

static int handover_wanted(void) {
    struct stat st;
    return handover_file && stat(handover_file, &st) == 0;
}

static long poll_us = 250;

static void sleep_ns(unsigned long long ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

static void *poller(void *arg) {
    (void)arg;
    uint64_t last_term = graft_node_term(node), last_lterm = 0, last_deadline = 0;
    unsigned long long last_seen = 0, prev = 0;
    int leading = 0;
    while (!stop) {
        uint64_t lterm = 0, deadline = 0;
        unsigned long long t0 = now_ns();
        /* This thread did not run for a millisecond beyond its sleep: the
         * process was starved (a loaded machine); the checker does not
         * blame the library for what it could not do meanwhile. */
        if (prev && t0 - prev > (unsigned long long)poll_us * 1000ull + 1000000ull)
            logline(t0, "GAP", "from=%llu", prev);
        int is = graft_node_lease(node, &lterm, &deadline) == 1;
        unsigned long long t1 = now_ns();
        uint64_t term = graft_node_term(node);
        if (stop)
            break;
        if (is && (!leading || lterm != last_lterm || deadline != last_deadline)) {
            logline(t1, "LEAD", "t0=%llu term=%llu deadline=%llu", t0, (unsigned long long)lterm, (unsigned long long)deadline);
            last_lterm = lterm, last_deadline = deadline;
        } else if (!is && leading) {
            logline(t1, "NOLEAD", "t0=%llu last=%llu", t0, last_seen);
        }
        if (is)
            last_seen = t1;
        leading = is;
        if (term != last_term) {
            logline(now_ns(), "TERM", "term=%llu", (unsigned long long)term);
            last_term = term;
        }
        prev = now_ns();
        sleep_ns((unsigned long long)poll_us * 1000ull);
    }
    return NULL;
}

/* handover steps down from each term won in handover mode: half of the
 * time at once, otherwise after a delay drawn from [0, 2 heartbeats]. */
static void *handover(void *arg) {
    (void)arg;
    unsigned seed = (unsigned)getpid() ^ (unsigned)now_ns();
    int was_on = -1;
    while (!stop) {
        int kick = 0;
        handover_on = handover_wanted();
        if (was_on != handover_on) {
            was_on = handover_on;
            logline(now_ns(), "HANDOVER", "on=%d", was_on);
            /* A leader in office when the mode comes on starts the chain. */
            kick = was_on && graft_node_state(node) == GRAFT_LEADER;
        }
        pthread_mutex_lock(&ho_mu);
        if (kick && !ho_term)
            ho_term = graft_node_term(node), ho_kick = 1;
        if (!ho_term) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 20 * 1000 * 1000;
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&ho_cv, &ho_mu, &dl);
        }
        uint64_t won = ho_term;
        int kicked = ho_kick;
        ho_term = 0, ho_kick = 0;
        pthread_mutex_unlock(&ho_mu);
        if (!won || stop || !handover_on)
            continue;
        unsigned long long delay_us = rand_r(&seed) % 2 ? 0 : (unsigned long long)(rand_r(&seed) % (2 * hb_ms * 1000 + 1));
        sleep_ns(delay_us * 1000ull);
        unsigned long long start = now_ns(), t0 = 0, t1 = 0;
        int rc = GRAFT_ENOPEER, tries = 0;
        uint64_t term = 0;
        while (handover_wanted() && !stop) {
            term = graft_node_term(node);
            t0 = now_ns();
            rc = graft_node_step_down(node);
            t1 = now_ns();
            tries++;
            if (rc != GRAFT_ENOPEER || t1 - start > emax_ms * 1000000ull)
                break;
            sleep_ns(50 * 1000);
        }
        if (tries > 0)
            logline(t1, "STEPDOWN", "t0=%llu term=%llu rc=%d tries=%d delay_us=%llu kick=%d", t0, (unsigned long long)term, rc,
                    tries, delay_us, kicked);
    }
    return NULL;
}

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: node --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR\n"
            "            --log FILE [--cluster NAME] [--heartbeat-ms N] [--election-min-ms N]\n"
            "            [--election-max-ms N] [--poll-us N] [--handover-file PATH]\n"
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
        else if (!strcmp(a, "--handover-file")) handover_file = v;
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
    if (hb)
        hb_ms = hb;
    if (emax)
        emax_ms = emax;
    rc |= graft_config_on_state_change(c, on_state, NULL);
    rc |= graft_config_on_leader_change(c, on_leader, NULL);
    rc |= graft_config_on_error(c, on_error, NULL);
    rc |= graft_config_on_lease(c, on_lease, NULL);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "node: config: %s\n", graft_strerror(rc));
        return 1;
    }

    /* SA_ONSTACK: a signal may land on a library thread (graft.h, SIGNALS). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const char *envrate = getenv("GRAFT_TEST_CLOCK_RATE");
    if (!envrate || !*envrate)
        envrate = "1";
#ifdef GRAFT_FAULTS_RELEASE_LIB
    const char *rate = "1"; /* the released library ignores the variable */
#else
    const char *rate = envrate;
#endif
    char err[512];
    unsigned long long anchor = now_ns();
    rc = graft_node_new(c, &node, err, sizeof err);
    unsigned long long anchor1 = now_ns();
    graft_config_free(c);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "node: %s (%s)\n", err, graft_strerror(rc));
        return 1;
    }
    atomic_store(&live_node, node);
    logline(now_ns(), "START", "id=%s term=%llu pid=%d rate=%s anchor=%llu anchor1=%llu envrate=%s", id,
            (unsigned long long)graft_node_term(node), (int)getpid(), rate, anchor, anchor1, envrate);

    pthread_t th, ho;
    if (pthread_create(&th, NULL, poller, NULL) != 0 || pthread_create(&ho, NULL, handover, NULL) != 0) {
        fprintf(stderr, "node: pthread_create failed\n");
        return 1;
    }
    /* SIGTERM may land on any thread (the library's too): poll the flag. */
    struct timespec tick = {0, 20 * 1000 * 1000};
    while (!stop)
        nanosleep(&tick, NULL);
    pthread_join(th, NULL);
    pthread_mutex_lock(&ho_mu);
    pthread_cond_signal(&ho_cv);
    pthread_mutex_unlock(&ho_mu);
    pthread_join(ho, NULL);
    logline(now_ns(), "CLOSING", NULL);
    rc = graft_node_close(node);
    logline(now_ns(), "CLOSED", "rc=%d", rc);
    return 0;
}
