/*
 * leader_worker - a task that runs on exactly one node of a cluster: the leader.
 *
 * Shows: building a config, reacting to callbacks, acting only while the
 * lease holds, using the term as a fencing token, and stepping down cleanly
 * on SIGTERM/SIGINT so that another node takes over at once.
 *
 * Run three (after `make examples-c`; build/gencerts writes certificates):
 *   build/gencerts /tmp/certs n1 n2 n3
 *   build/leader_worker --id n1 --listen 127.0.0.1:7001 --peer n2=127.0.0.1:7002 \
 *       --peer n3=127.0.0.1:7003 --state /tmp/n1.graft --certs /tmp/certs &
 *   ... likewise n2 and n3; kill the leader and watch another take over.
 *
 * Output, one line per event, parsed by `make demo` and the failover tests:
 *   EVENT t=<CLOCK_MONOTONIC ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
 *   EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
 *   WORK  t=<ms> id=<id> token=<term> lease_ms=<ms left>
 *   ERROR t=<ms> id=<id> code=<n> msg=<text>
 *   STEPDOWN t=<ms> id=<id> rc=<rc>     (on SIGUSR1: hand over, keep running)
 *   EXIT  t=<ms> id=<id> term=<n> step_down=<rc> close=<rc>
 */
#include <graft.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop, step_down;
static const char *my_id = "";
/* Written by the callbacks only (one at a time, on the library's thread). */
static char leader[GRAFT_ID_MAX] = "-";
static graft_state state = GRAFT_FOLLOWER;

static const char *state_name(graft_state s) {
    static const char *names[] = {"follower", "candidate", "leader", "closed"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

static unsigned long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)ctx;
    state = to;
    printf("EVENT t=%llu id=%s kind=state from=%s state=%s term=%llu leader=%s\n", mono_ms(), my_id,
           state_name(from), state_name(to), (unsigned long long)term, leader);
    fflush(stdout);
}

static void on_leader(void *ctx, const char *id, uint64_t term) {
    (void)ctx;
    snprintf(leader, sizeof leader, "%s", *id ? id : "-");
    printf("EVENT t=%llu id=%s kind=leader state=%s term=%llu leader=%s\n", mono_ms(), my_id,
           state_name(state), (unsigned long long)term, leader);
    fflush(stdout);
}

static void on_error(void *ctx, int code, const char *msg) {
    (void)ctx;
    printf("ERROR t=%llu id=%s code=%d msg=%s\n", mono_ms(), my_id, code, msg);
    fflush(stdout);
}

static void on_log(void *ctx, int level, const char *msg) {
    if (*(int *)ctx || level >= GRAFT_LOG_WARN)
        fprintf(stderr, "LOG id=%s level=%d %s\n", my_id, level, msg);
}

static void on_signal(int sig) {
    if (sig == SIGUSR1)
        step_down = 1;
    else
        stop = 1;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s --id ID --listen HOST:PORT [--peer ID=HOST:PORT]... --state FILE --certs DIR\n"
            "          [--cluster NAME] [--heartbeat-ms N] [--election-min-ms N] [--election-max-ms N]\n"
            "          [--verbose]\n"
            "  --certs DIR uses DIR/ca.pem, DIR/<id>.pem and DIR/<id>-key.pem\n",
            prog);
    exit(2);
}

int main(int argc, char **argv) {
    const char *listen = NULL, *state_path = NULL, *certs = NULL, *cluster = "graft-demo";
    unsigned hb = 0, emin = 0, emax = 0;
    int verbose = 0;
    const char *peers[64];
    int npeers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) { verbose = 1; continue; }
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
    setvbuf(stdout, NULL, _IOLBF, 0);

    graft_config *c = graft_config_new(cluster, my_id, listen);
    if (!c) { fprintf(stderr, "graft_config_new failed\n"); return 1; }
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
    graft_config_on_state_change(c, on_state, NULL);
    graft_config_on_leader_change(c, on_leader, NULL);
    graft_config_on_error(c, on_error, NULL);
    graft_config_on_log(c, on_log, &verbose);
    graft_config_set_log_level(c, verbose ? GRAFT_LOG_DEBUG : GRAFT_LOG_WARN);

    /* The host owns SIGINT/SIGTERM: the library never touches them. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* hand over, keep running */

    graft_node *n;
    char err[512];
    int rc = graft_node_new(c, &n, err, sizeof err);
    graft_config_free(c);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "leader_worker: %s (%s)\n", err, graft_strerror(rc));
        return 1;
    }

    /* The task: once per ~200 ms, only while the lease holds. A real task
     * would pass the token to the resource it writes, which rejects writes
     * carrying a term older than the newest it has seen. */
    while (!stop) {
        if (step_down) {
            step_down = 0;
            int rc = graft_node_step_down(n);
            printf("STEPDOWN t=%llu id=%s rc=%d\n", mono_ms(), my_id, rc);
        }
        uint64_t token, deadline_ns;
        if (graft_node_lease(n, &token, &deadline_ns) == 1) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
            if (now_ns < deadline_ns)
                printf("WORK t=%llu id=%s token=%llu lease_ms=%llu\n", mono_ms(), my_id,
                       (unsigned long long)token, (unsigned long long)((deadline_ns - now_ns) / 1000000));
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL); /* a signal cuts it short */
    }

    /* Hand over before leaving: a new leader in one round trip. close would
     * do it too; doing it explicitly shows the result. */
    uint64_t term = graft_node_term(n);
    int sd = graft_node_is_leader(n) ? graft_node_step_down(n) : GRAFT_ENOTLEADER;
    int cl = graft_node_close(n);
    printf("EXIT t=%llu id=%s term=%llu step_down=%d close=%d\n", mono_ms(), my_id,
           (unsigned long long)term, sd, cl);
    return cl == GRAFT_OK ? 0 : 1;
}
