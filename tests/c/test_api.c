/*
 * test_api - the C API of libgraft, end to end, on loopback.
 *
 * Every function; every misuse (NULL everywhere, double close, use after
 * close, made-up handles, bad addresses, certificates and configs, a
 * corrupt state file); a single node; a 3-node cluster in this process
 * (callback order, vote hooks, step-down handover); close from a callback;
 * fork(); and failover when a leader's process is killed with SIGKILL
 * (three leader_worker processes, $GRAFT_WORKER). Run by `make test-c`.
 * GRAFT_QUICK=1 skips the multi-process failover.
 */
#include <graft.h>

#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

#define HB 20
#define EMIN 120
#define EMAX 240
#define DEADLINE_MS 10000

static const char *certs, *other_certs;

/* ---- recording callbacks ------------------------------------------------ */

enum { EV_STATE, EV_LEADER };
typedef struct {
    int kind;
    graft_state from, to;
    uint64_t term;
    char leader[GRAFT_ID_MAX];
} event;

typedef struct rec {
    pthread_mutex_t mu;
    char id[32];
    event ev[1024];
    int nev;
    int logs, bad_log_level, errors, last_error;
    int positions, grants;
    char seen_pos[64];
    graft_node *self;        /* set after graft_node_new (atomic) */
    int close_from_cb;       /* try graft_node_close(self) when leading */
    int close_rc;            /* its result; 1 = not tried yet */
    int query_state_in_cb;   /* state queried from inside the callback */
} rec;

static void rec_init(rec *r, const char *id) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->close_rc = 1;
    r->query_state_in_cb = -1;
}

static void push(rec *r, event e) {
    pthread_mutex_lock(&r->mu);
    if (r->nev < 1024)
        r->ev[r->nev++] = e;
    pthread_mutex_unlock(&r->mu);
}

static void cb_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    rec *r = ctx;
    event e = {EV_STATE, from, to, term, ""};
    push(r, e);
    graft_node *self = __atomic_load_n(&r->self, __ATOMIC_ACQUIRE);
    if (self && to != GRAFT_CLOSED)
        __atomic_store_n(&r->query_state_in_cb, (int)graft_node_state(self), __ATOMIC_RELEASE);
    if (self && r->close_from_cb && to == GRAFT_LEADER)
        __atomic_store_n(&r->close_rc, graft_node_close(self), __ATOMIC_RELEASE);
}

static void cb_leader(void *ctx, const char *leader, uint64_t term) {
    rec *r = ctx;
    event e = {EV_LEADER, 0, 0, term, ""};
    snprintf(e.leader, sizeof e.leader, "%s", leader);
    push(r, e);
}

static void cb_error(void *ctx, int code, const char *msg) {
    rec *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->errors++;
    r->last_error = code;
    pthread_mutex_unlock(&r->mu);
    (void)msg;
}

static void cb_log(void *ctx, int level, const char *msg) {
    rec *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->logs++;
    if (level < GRAFT_LOG_DEBUG || level > GRAFT_LOG_ERROR || !msg || !*msg)
        r->bad_log_level++;
    pthread_mutex_unlock(&r->mu);
    if (getenv("GRAFT_TEST_VERBOSE"))
        fprintf(stderr, "  log %s %d %s\n", r->id, level, msg);
}

static size_t cb_position(void *ctx, uint8_t *buf, size_t cap) {
    rec *r = ctx;
    __atomic_add_fetch(&r->positions, 1, __ATOMIC_RELAXED);
    int n = snprintf((char *)buf, cap, "pos-%s", r->id);
    return (size_t)n;
}

/* cb_position_too_long claims one byte more than the buffer holds. */
static size_t cb_position_too_long(void *ctx, uint8_t *buf, size_t cap) {
    (void)ctx;
    memset(buf, 'x', cap);
    return cap + 1;
}

static int cb_grant(void *ctx, const uint8_t *pos, size_t len) {
    rec *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->grants++;
    snprintf(r->seen_pos, sizeof r->seen_pos, "%.*s", (int)len, (const char *)pos);
    pthread_mutex_unlock(&r->mu);
    return 1;
}

static int errors_of(rec *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->errors;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int nev(rec *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->nev;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* check_order: state changes chain (each from is the previous to, starting
 * as a follower), terms never go down, the last event is the change to
 * GRAFT_CLOSED. Call after close. */
static void check_order(rec *r) {
    graft_state cur = GRAFT_FOLLOWER;
    uint64_t term = 0;
    int ok_chain = 1, ok_terms = 1;
    for (int i = 0; i < r->nev; i++) {
        event *e = &r->ev[i];
        if (e->term < term)
            ok_terms = 0;
        term = e->term;
        if (e->kind == EV_STATE) {
            if (e->from != cur || e->to == e->from)
                ok_chain = 0;
            cur = e->to;
        }
    }
    CHECKF(ok_chain, "node %s: state changes do not chain", r->id);
    CHECKF(ok_terms, "node %s: a term went down", r->id);
    CHECKF(r->nev > 0 && r->ev[r->nev - 1].kind == EV_STATE && r->ev[r->nev - 1].to == GRAFT_CLOSED,
           "node %s: last event is not the change to closed", r->id);
    CHECKF(r->bad_log_level == 0, "node %s: bad log line", r->id);
}

/* ---- building nodes ----------------------------------------------------- */

typedef struct {
    int n;
    char ids[5][8];
    int ports[5];
    char addrs[5][32];
    char state[5][256];
    rec recs[5];
    graft_node *nodes[5];
} cluster;

static void cluster_init(cluster *c, int n, const char *tag) {
    memset(c, 0, sizeof *c);
    c->n = n;
    const char *dir = make_tempdir(tag);
    for (int i = 0; i < n; i++) {
        snprintf(c->ids[i], sizeof c->ids[i], "n%d", i + 1);
        c->ports[i] = free_udp_port();
        snprintf(c->addrs[i], sizeof c->addrs[i], "127.0.0.1:%d", c->ports[i]);
        snprintf(c->state[i], sizeof c->state[i], "%s/%s.graft", dir, c->ids[i]);
        rec_init(&c->recs[i], c->ids[i]);
    }
}

static void set_tls(graft_config *cfg, const char *dir, const char *id) {
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, id);
    snprintf(key, sizeof key, "%s/%s-key.pem", dir, id);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    CHECK_EQ(graft_config_set_tls(cfg, cert, key, ca), GRAFT_OK);
}

/* node_config builds the config of member i with every callback recording
 * into its rec. */
static graft_config *node_config(cluster *c, int i) {
    graft_config *cfg = graft_config_new("test", c->ids[i], c->addrs[i]);
    CHECK(cfg != NULL);
    for (int j = 0; j < c->n; j++)
        if (j != i)
            CHECK_EQ(graft_config_add_peer(cfg, c->ids[j], c->addrs[j]), GRAFT_OK);
    CHECK_EQ(graft_config_set_state_path(cfg, c->state[i]), GRAFT_OK);
    set_tls(cfg, certs, c->ids[i]);
    CHECK_EQ(graft_config_set_timeouts(cfg, HB, EMIN, EMAX), GRAFT_OK);
    CHECK_EQ(graft_config_set_max_clock_drift(cfg, 0.01), GRAFT_OK);
    rec *r = &c->recs[i];
    CHECK_EQ(graft_config_on_state_change(cfg, cb_state, r), GRAFT_OK);
    CHECK_EQ(graft_config_on_leader_change(cfg, cb_leader, r), GRAFT_OK);
    CHECK_EQ(graft_config_on_error(cfg, cb_error, r), GRAFT_OK);
    CHECK_EQ(graft_config_on_log(cfg, cb_log, r), GRAFT_OK);
    CHECK_EQ(graft_config_set_log_level(cfg, GRAFT_LOG_ERROR + 1), GRAFT_EINVAL);
    CHECK_EQ(graft_config_set_log_level(cfg, -1), GRAFT_EINVAL);
    CHECK_EQ(graft_config_set_log_level(cfg, GRAFT_LOG_DEBUG), GRAFT_OK);
    CHECK_EQ(graft_config_set_vote_hooks(cfg, cb_position, cb_grant, r), GRAFT_OK);
    return cfg;
}

/* start_config starts member i from cfg, which it frees. */
static int start_config(cluster *c, int i, graft_config *cfg) {
    char err[512] = "";
    int rc = graft_node_new(cfg, &c->nodes[i], err, sizeof err);
    CHECKF(rc == GRAFT_OK, "node %s: %s", c->ids[i], err);
    __atomic_store_n(&c->recs[i].self, c->nodes[i], __ATOMIC_RELEASE);
    graft_config_free(cfg);
    return rc;
}

static int start_node(cluster *c, int i) { return start_config(c, i, node_config(c, i)); }

static int leaders(cluster *c, int *which) {
    int count = 0;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i] && graft_node_is_leader(c->nodes[i])) {
            count++;
            if (which)
                *which = i;
        }
    return count;
}

/* agreed: every running node names the same leader, which leads. */
static int agreed(cluster *c, int *which) {
    int l = -1;
    if (leaders(c, &l) != 1)
        return 0;
    for (int i = 0; i < c->n; i++) {
        char buf[GRAFT_ID_MAX];
        if (!c->nodes[i])
            continue;
        if (graft_node_leader(c->nodes[i], buf, sizeof buf) != GRAFT_OK || strcmp(buf, c->ids[l]) != 0)
            return 0;
    }
    *which = l;
    return 1;
}

/* ---- scenarios ---------------------------------------------------------- */

static void version_and_strerror(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR, GRAFT_VERSION_PATCH);
    CHECK_STR(graft_version(), want);
    CHECK(graft_version_number() == GRAFT_VERSION_NUMBER);
    CHECK(graft_version_number() ==
          GRAFT_VERSION_MAJOR * 1000000 + GRAFT_VERSION_MINOR * 1000 + GRAFT_VERSION_PATCH);
    for (int code = GRAFT_OK; code >= GRAFT_ENOPEER; code--) {
        const char *s = graft_strerror(code);
        CHECKF(s && *s && strcmp(s, "unknown error") != 0, "code %d", code);
        for (int other = code + 1; other <= 0; other++)
            CHECKF(strcmp(s, graft_strerror(other)) != 0, "codes %d and %d share a text", code, other);
    }
    CHECK_STR(graft_strerror(-1000), "unknown error");
    CHECK_STR(graft_strerror(7), "unknown error");
}

static void config_misuse(void) {
    graft_config *bogus = (graft_config *)(uintptr_t)0x7fff1234;
    graft_config *fns[] = {NULL, bogus};
    for (int i = 0; i < 2; i++) {
        graft_config *c = fns[i];
        CHECK_EQ(graft_config_add_peer(c, "a", "127.0.0.1:1"), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_state_path(c, "/tmp/x"), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_tls(c, "a", "b", "c"), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_timeouts(c, 1, 2, 3), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_max_clock_drift(c, 0.01), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_priority(c, 2), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_succession_delay(c, 5), GRAFT_EINVAL);
        CHECK_EQ(graft_config_on_state_change(c, cb_state, NULL), GRAFT_EINVAL);
        CHECK_EQ(graft_config_on_leader_change(c, cb_leader, NULL), GRAFT_EINVAL);
        CHECK_EQ(graft_config_on_error(c, cb_error, NULL), GRAFT_EINVAL);
        CHECK_EQ(graft_config_on_log(c, cb_log, NULL), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_log_level(c, GRAFT_LOG_INFO), GRAFT_EINVAL);
        CHECK_EQ(graft_config_set_vote_hooks(c, cb_position, cb_grant, NULL), GRAFT_EINVAL);
        graft_config_free(c); /* no-op */
    }
    graft_config *c = graft_config_new(NULL, NULL, NULL); /* NULL counts as "" */
    CHECK(c != NULL);
    CHECK_EQ(graft_config_add_peer(c, NULL, "127.0.0.1:1"), GRAFT_EINVAL);
    CHECK_EQ(graft_config_add_peer(c, "a", NULL), GRAFT_EINVAL);
    CHECK_EQ(graft_config_set_state_path(c, NULL), GRAFT_EINVAL);
    CHECK_EQ(graft_config_set_tls(c, NULL, "b", "c"), GRAFT_EINVAL);
    CHECK_EQ(graft_config_on_state_change(c, NULL, NULL), GRAFT_OK); /* removes */
    graft_node *n = (graft_node *)1;
    char err[256] = "";
    CHECK_EQ(graft_node_new(c, &n, err, sizeof err), GRAFT_EINVAL);
    CHECK(n == NULL);
    CHECK_CONTAINS(err, "Cluster");
    graft_config_free(c);
    /* use after free, double free */
    CHECK_EQ(graft_config_add_peer(c, "a", "127.0.0.1:1"), GRAFT_ECLOSED);
    CHECK_EQ(graft_config_set_timeouts(c, 0, 0, 0), GRAFT_ECLOSED);
    CHECK_EQ(graft_config_set_priority(c, 0), GRAFT_ECLOSED);
    CHECK_EQ(graft_config_set_succession_delay(c, 0), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_new(c, &n, err, sizeof err), GRAFT_ECLOSED);
    CHECK(err[0] != 0);
    graft_config_free(c);
}

static void node_misuse(void) {
    char buf[GRAFT_ID_MAX];
    uint64_t term = 1, dl = 1;
    graft_stats st = {.size = sizeof st};
    graft_node *bogus = (graft_node *)(uintptr_t)0x7fff1234;
    graft_node *handles[] = {NULL, bogus};
    for (int i = 0; i < 2; i++) {
        graft_node *n = handles[i];
        CHECK_EQ(graft_node_state(n), GRAFT_CLOSED);
        CHECK_EQ(graft_node_term(n), 0);
        CHECK_EQ(graft_node_leader(n, buf, sizeof buf), GRAFT_EINVAL);
        CHECK_EQ(graft_node_is_leader(n), 0);
        CHECK_EQ(graft_node_lease(n, &term, &dl), GRAFT_EINVAL);
        CHECK_EQ(graft_node_step_down(n), GRAFT_EINVAL);
        CHECK_EQ(graft_node_stats(n, &st), GRAFT_EINVAL);
    }
    CHECK_EQ(graft_node_close(NULL), GRAFT_OK);
    CHECK_EQ(graft_node_close(bogus), GRAFT_EINVAL);
    char err[256] = "";
    graft_node *out = bogus;
    CHECK_EQ(graft_node_new(NULL, &out, err, sizeof err), GRAFT_EINVAL);
    CHECK(out == NULL);
    CHECK(err[0] != 0);
    graft_config *c = graft_config_new("x", "y", "127.0.0.1:0");
    CHECK_EQ(graft_node_new(c, NULL, err, sizeof err), GRAFT_EINVAL);
    CHECK_EQ(graft_node_new(c, &out, NULL, 0), GRAFT_EINVAL); /* no errbuf: fine */
    /* a config is not a node, and the other way round */
    CHECK_EQ(graft_node_close((graft_node *)c), GRAFT_EINVAL);
    CHECK_EQ(graft_node_state((graft_node *)c), GRAFT_CLOSED);
    graft_config_free(c);

    /* use after close, double close, on a real node */
    cluster cl;
    cluster_init(&cl, 1, "misuse");
    if (start_node(&cl, 0) != GRAFT_OK)
        return;
    graft_node *n = cl.nodes[0];
    CHECK_EQ(graft_config_set_timeouts((graft_config *)n, 0, 0, 0), GRAFT_EINVAL);
    CHECK_EQ(graft_node_lease(n, NULL, &dl), GRAFT_EINVAL);
    CHECK_EQ(graft_node_lease(n, &term, NULL), GRAFT_EINVAL);
    CHECK_EQ(graft_node_leader(n, NULL, 10), GRAFT_EINVAL);
    CHECK_EQ(graft_node_stats(n, NULL), GRAFT_EINVAL);
    graft_stats tiny = {.size = 1};
    CHECK_EQ(graft_node_stats(n, &tiny), GRAFT_EINVAL);
    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    CHECK_EQ(graft_node_close(n), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_state(n), GRAFT_CLOSED);
    CHECK_EQ(graft_node_term(n), 0);
    CHECK_EQ(graft_node_leader(n, buf, sizeof buf), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_is_leader(n), 0);
    CHECK_EQ(graft_node_lease(n, &term, &dl), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_step_down(n), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_stats(n, &st), GRAFT_ECLOSED);
}

/* A bad configuration: what to change, the code, a word of the message. */
typedef struct {
    const char *what;
    int code;
    const char *in_msg;
} bad_case;

static void try_bad(const char *what, graft_config *cfg, int code, const char *in_msg) {
    graft_node *n = (graft_node *)1;
    char err[512] = "";
    int rc = graft_node_new(cfg, &n, err, sizeof err);
    CHECKF(rc == code, "%s: rc %d (%s), want %d; errbuf: %s", what, rc, graft_strerror(rc), code, err);
    CHECKF(n == NULL, "%s: *out not NULL", what);
    CHECKF(strstr(err, in_msg) != NULL, "%s: errbuf \"%s\" lacks \"%s\"", what, err, in_msg);
    if (rc == GRAFT_OK)
        graft_node_close(n);
    graft_config_free(cfg);
}

static graft_config *base_config(cluster *c) {
    graft_config *cfg = graft_config_new("test", "n1", c->addrs[0]);
    graft_config_add_peer(cfg, "n2", c->addrs[1]);
    graft_config_set_state_path(cfg, c->state[0]);
    set_tls(cfg, certs, "n1");
    return cfg;
}

static void bad_configs(void) {
    cluster c;
    cluster_init(&c, 2, "bad");
    graft_config *cfg;

    try_bad("empty cluster", graft_config_new("", "n1", c.addrs[0]), GRAFT_EINVAL, "Cluster");
    cfg = graft_config_new("test", "", c.addrs[0]);
    graft_config_set_state_path(cfg, c.state[0]);
    try_bad("empty id", cfg, GRAFT_EINVAL, "ID");

    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n2", c.addrs[1]);
    try_bad("duplicate peer", cfg, GRAFT_EINVAL, "twice");

    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n1", c.addrs[0]);
    try_bad("self peer", cfg, GRAFT_EINVAL, "itself");

    cfg = base_config(&c);
    graft_config_add_peer(cfg, "", c.addrs[1]);
    try_bad("empty peer id", cfg, GRAFT_EINVAL, "Peers");

    cfg = base_config(&c);
    graft_config_set_timeouts(cfg, 50, 300, 300);
    try_bad("min == max", cfg, GRAFT_EINVAL, "ElectionMax");

    cfg = base_config(&c);
    graft_config_set_timeouts(cfg, 50, 400, 300);
    try_bad("min > max", cfg, GRAFT_EINVAL, "ElectionMax");

    cfg = base_config(&c);
    graft_config_set_timeouts(cfg, 200, 300, 450);
    try_bad("heartbeat too long", cfg, GRAFT_EINVAL, "Heartbeat");

    cfg = base_config(&c);
    graft_config_set_max_clock_drift(cfg, 0.5);
    try_bad("drift", cfg, GRAFT_EINVAL, "MaxClockDrift");

    /* succession: a lone witness; a delay that does not fit the timings */
    cfg = graft_config_new("test", "n1", c.addrs[0]);
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n1");
    CHECK_EQ(graft_config_set_priority(cfg, 0), GRAFT_OK);
    try_bad("a witness without peers", cfg, GRAFT_EINVAL, "a cluster needs a node that can lead");
    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "127.0.0.1:1");
    graft_config_set_timeouts(cfg, 50, 300, 450);
    CHECK_EQ(graft_config_set_succession_delay(cfg, 150), GRAFT_OK); /* 300 + 1 x 150 = 450 */
    try_bad("succession delay too long", cfg, GRAFT_EINVAL, "SuccessionDelay");
    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "127.0.0.1:1");
    CHECK_EQ(graft_config_set_succession_delay(cfg, UINT32_MAX), GRAFT_OK);
    try_bad("succession delay of 49 days", cfg, GRAFT_EINVAL, "SuccessionDelay");

    cfg = graft_config_new("test", "n1", c.addrs[0]);
    set_tls(cfg, certs, "n1");
    try_bad("no state path", cfg, GRAFT_EINVAL, "StatePath");

    cfg = graft_config_new("test", "n1", c.addrs[0]);
    graft_config_set_state_path(cfg, c.state[0]);
    try_bad("no TLS", cfg, GRAFT_EINVAL, "graft_config_set_tls");

    cfg = graft_config_new("test", "n1", "not-an-address");
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n1");
    try_bad("bad listen address", cfg, GRAFT_EINVAL, "not-an-address");

    cfg = graft_config_new("test", "n1", "");
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n1");
    try_bad("empty listen address", cfg, GRAFT_EINVAL, "listen");

    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "nowhere");
    try_bad("bad peer address", cfg, GRAFT_EINVAL, "nowhere");
    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "n3.example:0");
    try_bad("peer port zero", cfg, GRAFT_EINVAL, "n3.example:0");
    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "n3 example:7001");
    try_bad("space in a peer name", cfg, GRAFT_EINVAL, "n3 example");
    cfg = base_config(&c);
    graft_config_add_peer(cfg, "n3", "::1:7001");
    try_bad("IPv6 peer without brackets", cfg, GRAFT_EINVAL, "::1:7001");

    /* certificates */
    cfg = base_config(&c);
    graft_config_set_tls(cfg, "/nonexistent/n1.pem", "/nonexistent/n1-key.pem", "/nonexistent/ca.pem");
    try_bad("missing cert file", cfg, GRAFT_ETLS, "/nonexistent/");

    char cert[512], key[512], ca[512];
    cfg = base_config(&c);
    snprintf(cert, sizeof cert, "%s/n1.pem", other_certs);
    snprintf(key, sizeof key, "%s/n1-key.pem", other_certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    graft_config_set_tls(cfg, cert, key, ca);
    try_bad("certificate of another CA", cfg, GRAFT_ETLS, "n1.pem");

    cfg = base_config(&c);
    snprintf(cert, sizeof cert, "%s/n1.pem", certs);
    snprintf(key, sizeof key, "%s/n2-key.pem", certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    graft_config_set_tls(cfg, cert, key, ca);
    try_bad("key of another node", cfg, GRAFT_ETLS, "tls");

    cfg = graft_config_new("test", "n2", c.addrs[0]); /* n1's certificate for n2 */
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n1");
    try_bad("certificate names another node", cfg, GRAFT_ETLS, "n1");

    /* the listen address is taken */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)c.ports[0]);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    try_bad("address in use", base_config(&c), GRAFT_ENETWORK, c.addrs[0]);
    close(fd);

    /* a corrupt state file is refused, naming the file */
    FILE *f = fopen(c.state[0], "w");
    fputs("GRFT garbage that is not a state file", f);
    fclose(f);
    try_bad("corrupt state file", base_config(&c), GRAFT_ESTORAGE, c.state[0]);
    cfg = base_config(&c);
    graft_node *n = NULL;
    char err[512];
    graft_node_new(cfg, &n, err, sizeof err);
    CHECK_CONTAINS(err, "corrupt");
    graft_config_free(cfg);
    unlink(c.state[0]);

    /* the state file's directory is missing */
    cfg = base_config(&c);
    graft_config_set_state_path(cfg, "/nonexistent/dir/n1.graft");
    n = NULL;
    int rc = graft_node_new(cfg, &n, err, sizeof err);
    if (rc == GRAFT_OK) /* some stores only fail at the first save */
        graft_node_close(n);
    else
        CHECKF(rc == GRAFT_ESTORAGE, "missing state dir: %d %s", rc, err);
    graft_config_free(cfg);

    /* a small errbuf is truncated and NUL-terminated */
    cfg = graft_config_new("", "n1", c.addrs[0]);
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_EQ(graft_node_new(cfg, &n, small, sizeof small), GRAFT_EINVAL);
    CHECK_EQ(strlen(small), sizeof small - 1);
    graft_config_free(cfg);
}

static void generate_certs(void) {
    const char *dir = make_tempdir("gen");
    const char *ids[] = {"a1", "b2"};
    CHECK_EQ(graft_generate_certs(dir, ids, 2), GRAFT_OK);
    const char *files[] = {"ca.pem", "ca-key.pem", "a1.pem", "a1-key.pem", "b2.pem", "b2-key.pem"};
    for (int i = 0; i < 6; i++) {
        char p[512];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        CHECKF(stat(p, &st) == 0, "%s missing", p);
        if (strstr(files[i], "key"))
            CHECKF((st.st_mode & 0777) == 0600, "%s mode %o", p, st.st_mode & 0777);
    }
    CHECK_EQ(graft_generate_certs(NULL, ids, 2), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_certs(dir, NULL, 2), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_certs(dir, ids, 0), GRAFT_EINVAL);
    const char *nulls[] = {"a1", NULL};
    CHECK_EQ(graft_generate_certs(dir, nulls, 2), GRAFT_EINVAL);
    const char *bad[] = {"../evil"};
    CHECK_EQ(graft_generate_certs(dir, bad, 1), GRAFT_EINVAL);
    const char *dup[] = {"a1", "a1"};
    CHECK_EQ(graft_generate_certs(dir, dup, 2), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_certs("/proc/graft-cannot-write", ids, 2), GRAFT_ESTORAGE);
}

/* ids up to 253 characters are valid, but <id>-key.pem must fit a file
 * name (255 bytes): ids of 248-253 characters used to fail half-way with
 * GRAFT_ESTORAGE; they are refused up front with GRAFT_EINVAL. */
static void generate_certs_long_ids(void) {
    const char *dir = make_tempdir("genlong");
    char id[254];
    memset(id, 'a', sizeof id - 1);
    id[247] = 0; /* the longest id that fits */
    const char *one[] = {id};
    CHECK_EQ(graft_generate_certs(dir, one, 1), GRAFT_OK);
    char p[600];
    snprintf(p, sizeof p, "%s/%s-key.pem", dir, id);
    CHECKF(access(p, F_OK) == 0, "%s missing", p);
    for (int len = 248; len <= 253; len++) {
        memset(id, 'b', (size_t)len);
        id[len] = 0;
        const char *two[] = {"short", id};
        int rc = graft_generate_certs(dir, two, 2);
        CHECKF(rc == GRAFT_EINVAL, "id of %d characters: rc %d (%s), want GRAFT_EINVAL", len, rc, graft_strerror(rc));
        snprintf(p, sizeof p, "%s/short.pem", dir);
        CHECKF(access(p, F_OK) != 0, "id of %d characters: short.pem written before the refusal", len);
    }
}

/* Two nodes on one state file overwrote each other's term, so a restart
 * could vote twice in a term: the file is locked for the node's lifetime,
 * against a node of this process and one of another, and the error names
 * the file and the holder's pid. */
static void state_file_has_one_owner(void) {
    cluster c;
    cluster_init(&c, 2, "owner");
    if (start_node(&c, 0) != GRAFT_OK)
        return;
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)getpid());

    /* another cluster's node in this process, given the same file */
    graft_config *cfg = graft_config_new("other", "n2", c.addrs[1]);
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n2");
    graft_node *n = (graft_node *)1;
    char err[512] = "";
    int rc = graft_node_new(cfg, &n, err, sizeof err);
    CHECKF(rc == GRAFT_ESTORAGE, "same state file: rc %d (%s), errbuf: %s", rc, graft_strerror(rc), err);
    CHECK(n == NULL);
    CHECK_CONTAINS(err, c.state[0]);
    CHECK_CONTAINS(err, pid);
    printf("     in this process: %s\n", err);
    if (rc == GRAFT_OK)
        graft_node_close(n);
    graft_config_free(cfg);

    /* a second process (leader_worker) on the same file */
    const char *worker = getenv("GRAFT_WORKER");
    CHECK(worker != NULL); /* make test-c sets it */
    if (worker) {
        int p[2];
        CHECK(pipe(p) == 0);
        const char *argv[] = {worker, "--id", "n2", "--listen", c.addrs[1], "--state", c.state[0],
                              "--certs", certs, "--cluster", "other", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        posix_spawn_file_actions_addclose(&fa, p[0]);
        pid_t child;
        CHECK(posix_spawn(&child, worker, &fa, NULL, (char *const *)argv, environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        /* A worker that started would run until killed: give it the deadline. */
        int status = 0;
        CHECK(WAIT_UNTIL(waitpid(child, &status, WNOHANG) == child, DEADLINE_MS));
        if (kill(child, SIGKILL) == 0)
            waitpid(child, &status, 0);
        char out[1024] = "";
        ssize_t got = read(p[0], out, sizeof out - 1);
        out[got > 0 ? got : 0] = 0;
        close(p[0]);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 1, "second process status %d", status);
        CHECK_CONTAINS(out, c.state[0]);
        CHECK_CONTAINS(out, pid);
        printf("     another process: %s", out);
    }

    /* the lock goes with close */
    CHECK_EQ(graft_node_close(c.nodes[0]), GRAFT_OK);
    cfg = graft_config_new("other", "n2", c.addrs[1]);
    graft_config_set_state_path(cfg, c.state[0]);
    set_tls(cfg, certs, "n2");
    rc = graft_node_new(cfg, &n, err, sizeof err);
    CHECKF(rc == GRAFT_OK, "after close: rc %d, errbuf: %s", rc, err);
    if (rc == GRAFT_OK)
        CHECK_EQ(graft_node_close(n), GRAFT_OK);
    graft_config_free(cfg);
}

/* A position hook that claims more than GRAFT_POSITION_MAX bytes is the
 * application's failure, reported as GRAFT_EHOOK (it used to be
 * GRAFT_EINTERNAL, which graft.h reserves for bugs of the library); the
 * campaign is abandoned, so the node never leads. */
static void vote_hook_error(void) {
    cluster c;
    cluster_init(&c, 1, "hookerr");
    graft_config *cfg = node_config(&c, 0);
    CHECK_EQ(graft_config_set_vote_hooks(cfg, cb_position_too_long, cb_grant, &c.recs[0]), GRAFT_OK);
    char err[512] = "";
    int rc = graft_node_new(cfg, &c.nodes[0], err, sizeof err);
    graft_config_free(cfg);
    CHECKF(rc == GRAFT_OK, "%s", err);
    if (rc != GRAFT_OK)
        return;
    rec *r = &c.recs[0];
    CHECK(WAIT_UNTIL(errors_of(r) > 0, DEADLINE_MS));
    pthread_mutex_lock(&r->mu);
    CHECKF(r->last_error == GRAFT_EHOOK, "error callback code %d, want GRAFT_EHOOK", r->last_error);
    pthread_mutex_unlock(&r->mu);
    CHECK_EQ(graft_node_is_leader(c.nodes[0]), 0);
    CHECK_EQ(graft_node_term(c.nodes[0]), 0);
    CHECK_STR(graft_strerror(GRAFT_EHOOK), "an application vote hook failed or was too slow");
    CHECK_EQ(graft_node_close(c.nodes[0]), GRAFT_OK);
}

static void single_node(void) {
    cluster c;
    cluster_init(&c, 1, "single");
    if (start_node(&c, 0) != GRAFT_OK)
        return;
    graft_node *n = c.nodes[0];
    CHECK(WAIT_UNTIL(graft_node_is_leader(n), DEADLINE_MS));
    CHECK_EQ(graft_node_state(n), GRAFT_LEADER);
    CHECK(graft_node_term(n) >= 1);
    char buf[GRAFT_ID_MAX];
    CHECK_EQ(graft_node_leader(n, buf, sizeof buf), GRAFT_OK);
    CHECK_STR(buf, "n1");
    char two[2] = "x";
    CHECK_EQ(graft_node_leader(n, two, sizeof two), GRAFT_ERANGE);
    CHECK_EQ(two[0], 0);
    CHECK_EQ(graft_node_leader(n, buf, 0), GRAFT_ERANGE);
    uint64_t term = 0, dl = 0;
    CHECK_EQ(graft_node_lease(n, &term, &dl), 1);
    CHECK_EQ(term, graft_node_term(n));
    uint64_t now = now_ns();
    CHECKF(dl > now && dl <= now + (uint64_t)EMIN * 1000000u, "deadline %llu, now %llu",
           (unsigned long long)dl, (unsigned long long)now);
    /* nobody to hand over to */
    CHECK_EQ(graft_node_step_down(n), GRAFT_ENOPEER);
    CHECK_EQ(graft_node_is_leader(n), 1);

    graft_stats st;
    memset(&st, 0xAB, sizeof st);
    st.size = sizeof st;
    CHECK_EQ(graft_node_stats(n, &st), GRAFT_OK);
    CHECK_EQ(st.size, sizeof st);
    CHECK_EQ(st.state, GRAFT_LEADER);
    CHECK_EQ(st.term, term);
    CHECK_STR(st.leader, "n1");
    CHECK(st.elections_won >= 1);
    CHECK_EQ(st.since_leader_contact_ns, 0);
    CHECK_EQ(st.msgs_sent[7], 0);
    /* a lone leader: no rank, no successor, nobody to hand over to */
    CHECK_EQ(st.rank, 0);
    CHECK_EQ(st.reserved1, 0);
    CHECK_STR(st.successor, "");
    CHECK_EQ(st.priority_takeovers, 0);
    /* callbacks have run (state, leader, logs), each a little late */
    CHECK(st.callback_delay_max_ns > 0);
    CHECK(st.callback_delay_last_ns <= st.callback_delay_max_ns);
    CHECKF(st.callback_delay_max_ns < 1000000000ull, "callback delay max %llu ns",
           (unsigned long long)st.callback_delay_max_ns);
    /* an older, shorter struct: only what fits is written */
    struct { graft_stats s; uint64_t canary; } old;
    memset(&old, 0xCD, sizeof old);
    old.s.size = offsetof(graft_stats, leader);
    CHECK_EQ(graft_node_stats(n, &old.s), GRAFT_OK);
    CHECK_EQ(old.s.size, offsetof(graft_stats, leader));
    CHECK_EQ(old.s.term, term);
    CHECK_EQ((unsigned char)old.s.leader[0], 0xCD);
    /* a newer, longer struct: the extra is untouched */
    old.s.size = sizeof old;
    CHECK_EQ(graft_node_stats(n, &old.s), GRAFT_OK);
    CHECK_EQ(old.s.size, sizeof(graft_stats));
    CHECK(old.canary == 0xCDCDCDCDCDCDCDCDull);

    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    rec *r = &c.recs[0];
    int after = nev(r);
    check_order(r);
    CHECK(r->logs > 0);
    CHECK_EQ(r->query_state_in_cb >= 0, 1); /* queries work inside callbacks */
    sleep_ms(3 * EMAX); /* nothing may arrive after close: look for a while */
    CHECK_EQ(nev(r), after);
}

static void close_from_callback(void) {
    cluster c;
    cluster_init(&c, 1, "cbclose");
    c.recs[0].close_from_cb = 1;
    if (start_node(&c, 0) != GRAFT_OK)
        return;
    rec *r = &c.recs[0];
    CHECK(WAIT_UNTIL(__atomic_load_n(&r->close_rc, __ATOMIC_ACQUIRE) != 1, DEADLINE_MS));
    CHECK_EQ(__atomic_load_n(&r->close_rc, __ATOMIC_ACQUIRE), GRAFT_EBUSY);
    CHECK(graft_node_state(c.nodes[0]) != GRAFT_CLOSED); /* the refused close did nothing */
    CHECK_EQ(graft_node_close(c.nodes[0]), GRAFT_OK);
}

/* Two nodes whose callbacks, running at the same time, close each other's
 * node (issue 19: each waited for the other's callback forever). */
typedef struct {
    graft_node *other; /* atomic */
    int *inside;       /* both callbacks count in here */
    int rc, done;      /* the close's result, then 1 (atomic) */
    int closed;        /* the change to GRAFT_CLOSED ran (atomic) */
} mutual;

static void cb_mutual(void *ctx, graft_state from, graft_state to, uint64_t term) {
    mutual *m = ctx;
    (void)from, (void)term;
    if (to == GRAFT_CLOSED)
        __atomic_store_n(&m->closed, 1, __ATOMIC_RELEASE);
    if (to != GRAFT_LEADER || __atomic_load_n(&m->done, __ATOMIC_ACQUIRE))
        return;
    __atomic_add_fetch(m->inside, 1, __ATOMIC_ACQ_REL);
    WAIT_UNTIL(__atomic_load_n(m->inside, __ATOMIC_ACQUIRE) >= 2 && __atomic_load_n(&m->other, __ATOMIC_ACQUIRE),
               DEADLINE_MS); /* both callbacks run now */
    __atomic_store_n(&m->rc, graft_node_close(__atomic_load_n(&m->other, __ATOMIC_ACQUIRE)), __ATOMIC_RELEASE);
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
}

static void close_each_other(void) {
    cluster a, b;
    cluster_init(&a, 1, "mutual-a");
    cluster_init(&b, 1, "mutual-b");
    int inside = 0;
    mutual ma = {.inside = &inside, .rc = 1}, mb = {.inside = &inside, .rc = 1};
    cluster *cs[2] = {&a, &b};
    mutual *ms[2] = {&ma, &mb};
    for (int i = 0; i < 2; i++) {
        graft_config *cfg = node_config(cs[i], 0);
        CHECK_EQ(graft_config_on_state_change(cfg, cb_mutual, ms[i]), GRAFT_OK);
        char err[512] = "";
        CHECKF(graft_node_new(cfg, &cs[i]->nodes[0], err, sizeof err) == GRAFT_OK, "%s", err);
        graft_config_free(cfg);
    }
    __atomic_store_n(&ma.other, b.nodes[0], __ATOMIC_RELEASE);
    __atomic_store_n(&mb.other, a.nodes[0], __ATOMIC_RELEASE);
    int ok = WAIT_UNTIL(__atomic_load_n(&ma.done, __ATOMIC_ACQUIRE) && __atomic_load_n(&mb.done, __ATOMIC_ACQUIRE),
                        2 * DEADLINE_MS);
    CHECKF(ok, "the two closes wait for each other");
    if (!ok)
        return; /* the nodes are stuck: leave them */
    CHECK_EQ(ma.rc, GRAFT_OK);
    CHECK_EQ(mb.rc, GRAFT_OK);
    /* the final callbacks may run after such a close; the change to
     * GRAFT_CLOSED is the last, and the ctx lives until then */
    CHECK(WAIT_UNTIL(__atomic_load_n(&ma.closed, __ATOMIC_ACQUIRE) && __atomic_load_n(&mb.closed, __ATOMIC_ACQUIRE),
                     DEADLINE_MS));
    CHECK_EQ(graft_node_close(a.nodes[0]), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_close(b.nodes[0]), GRAFT_ECLOSED);
}

/* Callbacks that take 30 ms while leadership moves as fast as step_down
 * moves it (issue 19: the queue grew without bound, a close ran all of
 * it): the queue stays bounded, the rest is coalesced (callbacks_dropped),
 * and a close takes the callback running and the final ones only. */
static int slow_cb_ms = 30;
static void cb_slow_state(void *ctx, graft_state from, graft_state to, uint64_t term) {
    (void)ctx, (void)from, (void)to, (void)term;
    sleep_ms(slow_cb_ms);
}
static void cb_slow_leader(void *ctx, const char *leader, uint64_t term) {
    (void)ctx, (void)leader, (void)term;
    sleep_ms(slow_cb_ms);
}
static void cb_slow_log(void *ctx, int level, const char *msg) {
    (void)ctx, (void)level, (void)msg;
    sleep_ms(slow_cb_ms);
}

/* The resident set of this process, in KiB (0 if unknown). */
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void slow_callbacks_bounded(void) {
    cluster c;
    cluster_init(&c, 3, "slowcb");
    for (int i = 0; i < 3; i++) {
        graft_config *cfg = node_config(&c, i);
        CHECK_EQ(graft_config_on_state_change(cfg, cb_slow_state, NULL), GRAFT_OK);
        CHECK_EQ(graft_config_on_leader_change(cfg, cb_slow_leader, NULL), GRAFT_OK);
        CHECK_EQ(graft_config_on_log(cfg, cb_slow_log, NULL), GRAFT_OK);
        char err[512] = "";
        CHECKF(graft_node_new(cfg, &c.nodes[i], err, sizeof err) == GRAFT_OK, "%s", err);
        graft_config_free(cfg);
    }
    long rss0 = rss_kib();
    uint64_t end = now_ms() + 3000, queued_max = 0;
    int moves = 0;
    while (now_ms() < end) {
        for (int i = 0; i < 3; i++) {
            if (graft_node_is_leader(c.nodes[i]) && graft_node_step_down(c.nodes[i]) == GRAFT_OK)
                moves++;
            graft_stats st = {.size = sizeof st};
            if (graft_node_stats(c.nodes[i], &st) == GRAFT_OK && st.callbacks_queued > queued_max)
                queued_max = st.callbacks_queued;
        }
        sleep_ms(1);
    }
    CHECKF(queued_max <= 256, "%llu callbacks queued", (unsigned long long)queued_max);
    printf("     RSS %ld KiB before, %ld KiB after 3 s\n", rss0, rss_kib());
    uint64_t dropped = 0;
    for (int i = 0; i < 3; i++) {
        graft_stats st = {.size = sizeof st};
        CHECK_EQ(graft_node_stats(c.nodes[i], &st), GRAFT_OK);
        dropped += st.callbacks_dropped;
        uint64_t t0 = now_ms();
        CHECK_EQ(graft_node_close(c.nodes[i]), GRAFT_OK);
        uint64_t took = now_ms() - t0;
        CHECKF(took < 3000, "close of %s took %llu ms with %llu queued", c.ids[i], (unsigned long long)took,
               (unsigned long long)st.callbacks_queued);
        printf("     %s: close with %llu queued took %llu ms\n", c.ids[i], (unsigned long long)st.callbacks_queued,
               (unsigned long long)took);
    }
    printf("     %d hand-overs in 3 s, at most %llu callbacks queued, %llu dropped\n", moves,
           (unsigned long long)queued_max, (unsigned long long)dropped);
    CHECK(dropped > 0);
}

static void three_nodes(void) {
    cluster c;
    cluster_init(&c, 3, "three");
    for (int i = 0; i < 3; i++)
        start_node(&c, i);
    int l = -1;
    CHECK(WAIT_UNTIL(agreed(&c, &l), DEADLINE_MS));
    if (l < 0)
        goto out;
    uint64_t term1 = graft_node_term(c.nodes[l]);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(graft_node_term(c.nodes[i]), term1);
        CHECK_EQ(graft_node_state(c.nodes[i]), i == l ? GRAFT_LEADER : GRAFT_FOLLOWER);
    }
    /* the vote hooks ran: some node granted a vote to a position */
    int grants = 0, positions = 0;
    for (int i = 0; i < 3; i++) {
        grants += c.recs[i].grants;
        positions += c.recs[i].positions;
    }
    CHECK(positions > 0);
    CHECK(grants > 0);
    for (int i = 0; i < 3; i++)
        if (c.recs[i].grants)
            CHECK_CONTAINS(c.recs[i].seen_pos, "pos-n");
    /* heartbeats flow over QUIC */
    graft_stats st = {.size = sizeof st};
    CHECK(WAIT_UNTIL(graft_node_stats(c.nodes[l], &st) == 0 && st.msgs_sent[GRAFT_MSG_HEARTBEAT] > 2 &&
                         st.net_msgs_received > 2, DEADLINE_MS));
    CHECK(st.net_bytes_sent > 0);

    /* step-down handover: the lease ends at once, another node leads soon,
     * well within an election timeout of the next one */
    uint64_t t0 = now_ms();
    CHECK_EQ(graft_node_step_down(c.nodes[l]), GRAFT_OK);
    CHECK_EQ(graft_node_is_leader(c.nodes[l]), 0);
    CHECK_EQ(graft_node_step_down(c.nodes[l]), GRAFT_ENOTLEADER);
    int l2 = -1;
    CHECK(WAIT_UNTIL(agreed(&c, &l2) && l2 != l, DEADLINE_MS));
    CHECK(l2 != l);
    if (l2 >= 0) {
        CHECK(graft_node_term(c.nodes[l2]) > term1);
        printf("     handover to %s in %llu ms\n", c.ids[l2], (unsigned long long)(now_ms() - t0));
    }
    /* never two leaders at once, sampled */
    for (int k = 0; k < 50; k++) {
        CHECK(leaders(&c, NULL) <= 1);
        sleep_ms(2);
    }
out:
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(graft_node_close(c.nodes[i]), GRAFT_OK);
        check_order(&c.recs[i]);
    }
}

/* start_node_priority is start_node with graft_config_set_priority. */
static int start_node_priority(cluster *c, int i, uint32_t priority) {
    graft_config *cfg = node_config(c, i);
    CHECK_EQ(graft_config_set_priority(cfg, priority), GRAFT_OK);
    return start_config(c, i, cfg);
}

static graft_stats stats_of(graft_node *n) {
    graft_stats st = {.size = sizeof st};
    CHECK_EQ(graft_node_stats(n, &st), GRAFT_OK);
    return st;
}

/* n1 a witness, n2 of priority 1: n2 leads and has no successor (a witness
 * is never ranked). n3 of priority 2 joins: n2 hands over to it once it
 * answered for the stable period (5 x EMAX); n3 ranks n2 first. The witness
 * never started a pre-vote nor an election. */
static void priority_and_witness(void) {
    cluster c;
    cluster_init(&c, 3, "prio");
    start_node_priority(&c, 0, 0);
    start_node_priority(&c, 1, 1);
    CHECK(WAIT_UNTIL(graft_node_is_leader(c.nodes[1]), DEADLINE_MS));
    graft_stats st = stats_of(c.nodes[1]);
    CHECK_STR(st.successor, "");
    CHECK_EQ(stats_of(c.nodes[0]).rank, 0);

    uint64_t t0 = now_ms();
    start_node_priority(&c, 2, 2);
    int l = -1;
    CHECK(WAIT_UNTIL(agreed(&c, &l) && l == 2, 3 * DEADLINE_MS));
    uint64_t took = now_ms() - t0;
    st = stats_of(c.nodes[1]);
    if (st.step_downs == 0) { /* n2 stayed healthy (no lapse on a loaded machine): it handed over */
        CHECKF(st.priority_takeovers >= 1, "n2: %llu priority takeovers", (unsigned long long)st.priority_takeovers);
        CHECKF(took >= 5 * EMAX, "n3 led %llu ms after it joined, before the stable period", (unsigned long long)took);
    }
    CHECK(WAIT_UNTIL(strcmp(stats_of(c.nodes[2]).successor, "n2") == 0 && stats_of(c.nodes[1]).rank == 1, DEADLINE_MS));
    st = stats_of(c.nodes[0]);
    CHECK_EQ(st.rank, 0);
    CHECK_EQ(st.prevotes_started, 0);
    CHECK_EQ(st.elections_started, 0);
    CHECK_EQ(stats_of(c.nodes[2]).priority_takeovers, 0);
    printf("     n3 (priority 2) leads %llu ms after it joined (stable period %d ms); first successor n2, the witness unranked\n",
           (unsigned long long)took, 5 * EMAX);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(graft_node_close(c.nodes[i]), GRAFT_OK);
        check_order(&c.recs[i]);
    }
}

static void fork_child(void) {
    cluster c;
    cluster_init(&c, 1, "fork");
    if (start_node(&c, 0) != GRAFT_OK)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        uint64_t t, d;
        char buf[64], err[128];
        graft_node *n2;
        bad += graft_node_state(c.nodes[0]) != GRAFT_CLOSED;
        bad += graft_node_term(c.nodes[0]) != 0;
        bad += graft_node_is_leader(c.nodes[0]) != 0;
        bad += graft_node_lease(c.nodes[0], &t, &d) != GRAFT_EFORK;
        bad += graft_node_leader(c.nodes[0], buf, sizeof buf) != GRAFT_EFORK;
        bad += graft_node_step_down(c.nodes[0]) != GRAFT_EFORK;
        bad += graft_node_close(c.nodes[0]) != GRAFT_EFORK;
        bad += graft_config_new("a", "b", "c") != NULL;
        bad += graft_node_new(NULL, &n2, err, sizeof err) != GRAFT_EFORK;
        bad += strstr(err, "fork") == NULL;
        bad += graft_generate_certs("/tmp", (const char *const *)&buf, 1) != GRAFT_EFORK;
        _exit(bad);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    /* the parent is unaffected */
    CHECK(WAIT_UNTIL(graft_node_is_leader(c.nodes[0]), DEADLINE_MS));
    CHECK_EQ(graft_node_close(c.nodes[0]), GRAFT_OK);
}

/* ---- failover across processes ------------------------------------------ */

typedef struct {
    pid_t pid;
    int fd;
    char out[1 << 16];
    size_t len;
} child;

static void pump(child *ch, int n) {
    for (int i = 0; i < n; i++) {
        if (ch[i].fd < 0)
            continue;
        for (;;) {
            if (ch[i].len + 1 >= sizeof ch[i].out) { /* keep the tail */
                memmove(ch[i].out, ch[i].out + sizeof ch[i].out / 2, ch[i].len - sizeof ch[i].out / 2);
                ch[i].len -= sizeof ch[i].out / 2;
            }
            ssize_t r = read(ch[i].fd, ch[i].out + ch[i].len, sizeof ch[i].out - 1 - ch[i].len);
            if (r <= 0) {
                if (r == 0) {
                    close(ch[i].fd);
                    ch[i].fd = -1;
                }
                break;
            }
            ch[i].len += (size_t)r;
            ch[i].out[ch[i].len] = 0;
        }
    }
}

/* leading_term: the term of the child's latest "state=leader" line if it
 * is its latest state line, else 0. */
static uint64_t leading_term(child *ch) {
    const char *p = ch->out, *last = NULL;
    while ((p = strstr(p, "kind=state")) != NULL) {
        last = p;
        p++;
    }
    if (!last || strncmp(strstr(last, "state=") + 0, "state=", 6) != 0)
        return 0;
    const char *s = strstr(last + 10, " state=");
    if (!s || strncmp(s, " state=leader ", 14) != 0)
        return 0;
    const char *t = strstr(s, "term=");
    return t ? strtoull(t + 5, NULL, 10) : 0;
}

static void leader_killed_failover(void) {
    const char *worker = getenv("GRAFT_WORKER");
    if (getenv("GRAFT_QUICK")) {
        printf("     (skipped on purpose: GRAFT_QUICK is set; the full run covers it)\n");
        return;
    }
    CHECK(worker != NULL); /* never skipped silently: make test-c sets it */
    if (!worker)
        return;
    cluster c;
    cluster_init(&c, 3, "kill");
    child ch[3];
    for (int i = 0; i < 3; i++) {
        int p[2];
        CHECK(pipe(p) == 0);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        char hb[16], emin[16], emax[16], peer[2][64];
        snprintf(hb, sizeof hb, "%d", HB);
        snprintf(emin, sizeof emin, "%d", EMIN);
        snprintf(emax, sizeof emax, "%d", EMAX);
        const char *argv[32];
        int a = 0, k = 0;
        argv[a++] = worker;
        argv[a++] = "--id"; argv[a++] = c.ids[i];
        argv[a++] = "--listen"; argv[a++] = c.addrs[i];
        argv[a++] = "--state"; argv[a++] = c.state[i];
        argv[a++] = "--certs"; argv[a++] = certs;
        argv[a++] = "--cluster"; argv[a++] = "kill-test";
        argv[a++] = "--heartbeat-ms"; argv[a++] = hb;
        argv[a++] = "--election-min-ms"; argv[a++] = emin;
        argv[a++] = "--election-max-ms"; argv[a++] = emax;
        for (int j = 0; j < 3; j++)
            if (j != i) {
                snprintf(peer[k], sizeof peer[k], "%s=%s", c.ids[j], c.addrs[j]);
                argv[a++] = "--peer";
                argv[a++] = peer[k++];
            }
        argv[a] = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_addclose(&fa, p[0]);
        CHECK(posix_spawn(&ch[i].pid, worker, &fa, NULL, (char *const *)argv, environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        ch[i].fd = p[0];
        ch[i].len = 0;
        ch[i].out[0] = 0;
    }
    int l = -1;
    uint64_t term1 = 0;
#define FIND_LEADER(skip) ({ int _w = -1; pump(ch, 3); for (int _i = 0; _i < 3; _i++) \
        if (_i != (skip) && leading_term(&ch[_i]) > term1) _w = _i; _w; })
    CHECK(WAIT_UNTIL((l = FIND_LEADER(-1)) >= 0 && strstr(ch[l].out, "WORK "), DEADLINE_MS));
    if (l >= 0) {
        term1 = leading_term(&ch[l]);
        uint64_t t0 = now_ms();
        kill(ch[l].pid, SIGKILL);
        int status;
        waitpid(ch[l].pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        int l2 = -1;
        CHECK(WAIT_UNTIL((l2 = FIND_LEADER(l)) >= 0, DEADLINE_MS));
        if (l2 >= 0) {
            CHECK(leading_term(&ch[l2]) > term1);
            CHECK(WAIT_UNTIL((pump(ch, 3), strstr(ch[l2].out, "WORK ") != NULL), DEADLINE_MS));
            printf("     %s killed at term %llu; %s leads at term %llu after %llu ms\n", c.ids[l],
                   (unsigned long long)term1, c.ids[l2], (unsigned long long)leading_term(&ch[l2]),
                   (unsigned long long)(now_ms() - t0));
        }
    }
    /* the others stop cleanly on SIGTERM */
    for (int i = 0; i < 3; i++) {
        if (i == l)
            continue;
        kill(ch[i].pid, SIGTERM);
        int status;
        CHECK(waitpid(ch[i].pid, &status, 0) == ch[i].pid);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exit status %d", c.ids[i], status);
        pump(ch, 3);
        CHECKF(strstr(ch[i].out, "EXIT ") && strstr(ch[i].out, "close=0"), "%s: no clean EXIT line", c.ids[i]);
        CHECK_CONTAINS(ch[i].out, "state=closed");
        if (ch[i].fd >= 0)
            close(ch[i].fd);
    }
    if (l >= 0 && ch[l].fd >= 0)
        close(ch[l].fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    certs = make_tempdir("certs");
    other_certs = make_tempdir("othercerts");
    const char *ids[] = {"n1", "n2", "n3"};
    if (graft_generate_certs(certs, ids, 3) != GRAFT_OK || graft_generate_certs(other_certs, ids, 1) != GRAFT_OK) {
        fprintf(stderr, "cannot generate certificates\n");
        return 2;
    }
    RUN(version_and_strerror, "graft_version and graft_version_number match the header; every code has a text");
    RUN(config_misuse, "NULL, made-up and freed configs give EINVAL/ECLOSED");
    RUN(node_misuse, "NULL, made-up, closed nodes: no crash, right codes");
    RUN(bad_configs, "bad ids, peers, timeouts, addresses, certificates, state file");
    RUN(generate_certs, "graft_generate_certs writes the files, refuses bad input");
    RUN(generate_certs_long_ids, "ids of 248-253 characters: GRAFT_EINVAL before any file is written");
    RUN(state_file_has_one_owner, "a second node on a state file (this process, another) is GRAFT_ESTORAGE");
    RUN(single_node, "elects itself; lease, leader, stats; nothing after close");
    RUN(vote_hook_error, "a position hook that overflows its buffer is GRAFT_EHOOK, the campaign abandoned");
    RUN(close_from_callback, "graft_node_close from its own callback is GRAFT_EBUSY");
    RUN(close_each_other, "two callbacks closing each other's node both return (no deadlock)");
    RUN(slow_callbacks_bounded, "slow callbacks while leadership moves: queue bounded, close quick");
    RUN(three_nodes, "3 nodes over QUIC: one leader, hooks, handover, callback order");
    RUN(priority_and_witness, "a witness is never ranked; priority 2 gets the leadership after its stable period");
    RUN(fork_child, "a forked child gets GRAFT_EFORK; the parent runs on");
    RUN(leader_killed_failover, "SIGKILL the leader process: another takes over");
    return t_summary("test_api");
}
