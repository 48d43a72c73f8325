/*
 * bench_api - what the C API costs: ns per query call, and the latency
 * from an election event to the C callback running. Run by `make bench-c`.
 *
 * Queries: graft_node_state / _is_leader / _lease / _term on a leading node,
 * RUNS runs of CALLS calls each; the median run is reported (target <= 100 ns).
 * Callback latency: in a 3-node cluster on loopback, the leader steps down;
 * the time from just before graft_node_step_down to its state-change
 * callback (leader -> follower) running on the library's thread; HANDOVERS
 * samples, p50 and p99 reported (target p50 <= 10 us). This is an upper
 * bound on event -> callback: it includes the command's trip into the
 * election loop (the event happens there), shown on its own in the last row
 * (step_down on a follower: a round trip with no event). The callback
 * always ran before step_down returned.
 * Event -> callback latency proper: the same callback calls graft_node_stats
 * and reads its own callback_delay_last_ns, the time from the library
 * queueing it (right after the election loop produced the event) to calling
 * it; same HANDOVERS samples, p50 and p99.
 */
#include <graft.h>

#include "testlib.h"

#include <pthread.h>

#define RUNS 9
#define CALLS 1000000
#define HANDOVERS 200

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, int n, int p) {
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    int i = (n * p + 99) / 100 - 1;
    return v[i < 0 ? 0 : i];
}

static volatile uint64_t sink;

static double query_ns(graft_node *n, int which) {
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = now_ns(), acc = 0, term, dl;
        for (int i = 0; i < CALLS; i++) {
            switch (which) {
            case 0: acc += (uint64_t)graft_node_state(n); break;
            case 1: acc += (uint64_t)graft_node_is_leader(n); break;
            case 2: acc += (uint64_t)graft_node_lease(n, &term, &dl); break;
            default: acc += graft_node_term(n); break;
            }
        }
        sink += acc;
        runs[r] = (double)(now_ns() - t0) / CALLS;
    }
    for (int i = 1; i < RUNS; i++) /* insertion sort */
        for (int j = i; j > 0 && runs[j] < runs[j - 1]; j--) {
            double t = runs[j]; runs[j] = runs[j - 1]; runs[j - 1] = t;
        }
    return runs[RUNS / 2];
}

/* Per node: the time its latest leader -> follower callback ran, and that
 * callback's own delay as graft_node_stats reported it from inside. */
static uint64_t stepped_at[3], stepped_delay[3];
/* The 3-node cluster, set once started (NULL: no stats from the callback). */
static graft_node *cluster[3];

static void on_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)term;
    if (from != GRAFT_LEADER || to != GRAFT_FOLLOWER)
        return;
    uint64_t t = now_ns();
    intptr_t i = (intptr_t)ctx;
    graft_node *self = __atomic_load_n(&cluster[i], __ATOMIC_ACQUIRE);
    graft_stats st = {.size = sizeof st};
    uint64_t delay = self && graft_node_stats(self, &st) == GRAFT_OK ? st.callback_delay_last_ns : UINT64_MAX;
    __atomic_store_n(&stepped_delay[i], delay, __ATOMIC_RELAXED);
    __atomic_store_n(&stepped_at[i], t, __ATOMIC_RELEASE);
}

static graft_node *start(const char *certs, const char *dir, int i, int n, int *ports) {
    char id[8], addr[32], path[512], cert[512], key[512], ca[512];
    snprintf(id, sizeof id, "n%d", i + 1);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ports[i]);
    graft_config *c = graft_config_new("bench", id, addr);
    for (int j = 0; j < n; j++)
        if (j != i) {
            char pid[8], paddr[32];
            snprintf(pid, sizeof pid, "n%d", j + 1);
            snprintf(paddr, sizeof paddr, "127.0.0.1:%d", ports[j]);
            graft_config_add_peer(c, pid, paddr);
        }
    snprintf(path, sizeof path, "%s/%s.graft", dir, id);
    snprintf(cert, sizeof cert, "%s/%s.pem", certs, id);
    snprintf(key, sizeof key, "%s/%s-key.pem", certs, id);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    graft_config_set_state_path(c, path);
    graft_config_set_tls(c, cert, key, ca);
    graft_config_set_timeouts(c, 20, 120, 240);
    graft_config_on_state_change(c, on_state, (void *)(intptr_t)i);
    graft_node *node = NULL;
    char err[512];
    if (graft_node_new(c, &node, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    graft_config_free(c);
    return node;
}

int main(void) {
    const char *certs = make_tempdir("bench-certs"), *dir = make_tempdir("bench");
    const char *ids[] = {"n1", "n2", "n3"};
    if (graft_generate_certs(certs, ids, 3) != GRAFT_OK)
        return 1;
    int ports[3] = {free_udp_port(), free_udp_port(), free_udp_port()};

    /* queries, on a single leading node */
    graft_node *solo = start(certs, make_tempdir("bench-solo"), 0, 1, ports);
    if (!WAIT_UNTIL(graft_node_is_leader(solo), 10000)) {
        fprintf(stderr, "bench: no leader\n");
        return 1;
    }
    const char *names[] = {"graft_node_state", "graft_node_is_leader", "graft_node_lease", "graft_node_term"};
    printf("%-34s %10s %10s\n", "query (median of 9 runs x 1e6)", "ns/call", "target");
    for (int q = 0; q < 4; q++)
        printf("%-34s %10.1f %10s\n", names[q], query_ns(solo, q), "<= 100");
    graft_node_close(solo);

    /* event -> callback, over step-down handovers */
    graft_node *nodes[3];
    for (int i = 0; i < 3; i++) {
        nodes[i] = start(certs, dir, i, 3, ports);
        __atomic_store_n(&cluster[i], nodes[i], __ATOMIC_RELEASE);
    }
    uint64_t lat[HANDOVERS], ret[HANDOVERS], after[HANDOVERS], delay[HANDOVERS];
    int got = 0, ndelay = 0;
    for (int k = 0; k < HANDOVERS; k++) {
        int l = -1;
        if (!WAIT_UNTIL(({ l = -1; for (int i = 0; i < 3; i++) if (graft_node_is_leader(nodes[i])) l = i; l >= 0; }),
                        10000))
            break;
        __atomic_store_n(&stepped_at[l], 0, __ATOMIC_RELEASE);
        uint64_t t0 = now_ns();
        if (graft_node_step_down(nodes[l]) != GRAFT_OK)
            continue; /* the lease lapsed in between: try again */
        uint64_t t1 = now_ns();
        if (!WAIT_UNTIL(__atomic_load_n(&stepped_at[l], __ATOMIC_ACQUIRE) != 0, 5000))
            break;
        uint64_t cb = __atomic_load_n(&stepped_at[l], __ATOMIC_ACQUIRE);
        uint64_t d = __atomic_load_n(&stepped_delay[l], __ATOMIC_RELAXED);
        if (d != UINT64_MAX)
            delay[ndelay++] = d;
        ret[got] = t1 - t0;
        after[got] = cb > t1 ? cb - t1 : 0;
        lat[got++] = cb - t0;
    }
    /* For comparison: a command round trip into the election loop with no
     * event (step_down on a follower: GRAFT_ENOTLEADER). */
    uint64_t rt[HANDOVERS];
    int nrt = 0, f = -1;
    for (int i = 0; i < 3; i++)
        if (graft_node_state(nodes[i]) == GRAFT_FOLLOWER)
            f = i;
    for (int k = 0; f >= 0 && k < HANDOVERS; k++) {
        uint64_t t0 = now_ns();
        if (graft_node_step_down(nodes[f]) == GRAFT_ENOTLEADER)
            rt[nrt++] = now_ns() - t0;
        sleep_ms(1);
    }
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&cluster[i], NULL, __ATOMIC_RELEASE);
        graft_node_close(nodes[i]);
    }
    if (got < 10) {
        fprintf(stderr, "bench: only %d handovers\n", got);
        return 1;
    }
    printf("\n%-34s %10s %10s %10s\n", "event -> C callback", "p50 us", "p99 us", "samples");
    uint64_t p50, p99;
    if (ndelay > 0) {
        p50 = pct(delay, ndelay, 50), p99 = pct(delay, ndelay, 99);
        printf("%-34s %10.1f %10.1f %10d\n", "event -> callback latency", p50 / 1e3, p99 / 1e3, ndelay);
        printf("%-34s\n", "  (callback_delay_last_ns, from inside)");
    }
    p50 = pct(lat, got, 50), p99 = pct(lat, got, 99);
    printf("%-34s %10.1f %10.1f %10d\n", "step_down -> on_state_change", p50 / 1e3, p99 / 1e3, got);
    p50 = pct(ret, got, 50), p99 = pct(ret, got, 99);
    printf("%-34s %10.1f %10.1f %10d\n", "  of which step_down call returns", p50 / 1e3, p99 / 1e3, got);
    p50 = pct(after, got, 50), p99 = pct(after, got, 99);
    printf("%-34s %10.1f %10.1f %10d\n", "  step_down return -> callback", p50 / 1e3, p99 / 1e3, got);
    if (nrt > 0) {
        p50 = pct(rt, nrt, 50), p99 = pct(rt, nrt, 99);
        printf("%-34s %10.1f %10.1f %10d\n", "step_down round trip, no event", p50 / 1e3, p99 / 1e3, nrt);
    }
    printf("(target p50 <= 10 us)\n");
    return 0;
}
