/*
 * shims.c - the public entry points of libgraft.
 *
 * Every graft_* function is defined here, in C, with the exact prototype of
 * graft.h (the compiler checks them against the header). Each refuses at
 * once in a child made by fork() after the library was loaded - before it
 * enters Go, because entering the Go runtime in such a child can hang: the
 * runtime's threads do not exist there - and otherwise calls the Go export
 * graft__go_<name> (see the .go files). graft_strerror, graft_version and
 * graft_version_number need no Go at all.
 */
#include "graft.h"

#include <pthread.h>
#include <stddef.h>

#include "_cgo_export.h"
#include "evq.h"

__attribute__((visibility("hidden"))) volatile int graft__forked = 0;

static void graft__in_child(void) { graft__forked = 1; }

/* Registered when the library is loaded, so that a fork at any later
 * moment marks the child. */
__attribute__((constructor)) static void graft__register_atfork(void) {
    pthread_atfork(NULL, NULL, graft__in_child);
}

#define FORKED __builtin_expect(graft__forked, 0)

/* ---- configuration ---------------------------------------------------- */

graft_config *graft_config_new(const char *cluster, const char *node_id, const char *listen_addr) {
    if (FORKED) return NULL;
    return graft__go_config_new((char *)cluster, (char *)node_id, (char *)listen_addr);
}

int graft_config_add_peer(graft_config *c, const char *node_id, const char *addr) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_add_peer(c, (char *)node_id, (char *)addr);
}

int graft_config_set_state_path(graft_config *c, const char *path) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_state_path(c, (char *)path);
}

int graft_config_set_tls(graft_config *c, const char *cert_file, const char *key_file, const char *ca_file) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_tls(c, (char *)cert_file, (char *)key_file, (char *)ca_file);
}

int graft_config_set_timeouts(graft_config *c, uint32_t heartbeat_ms, uint32_t election_min_ms,
                              uint32_t election_max_ms) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_timeouts(c, heartbeat_ms, election_min_ms, election_max_ms);
}

int graft_config_set_max_clock_drift(graft_config *c, double drift) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_max_clock_drift(c, drift);
}

int graft_config_set_priority(graft_config *c, uint32_t priority) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_priority(c, priority);
}

int graft_config_set_succession_delay(graft_config *c, uint32_t delay_ms) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_succession_delay(c, delay_ms);
}

int graft_config_set_log_level(graft_config *c, int level) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_log_level(c, level);
}

int graft_config_on_state_change(graft_config *c, graft_state_fn fn, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_on_state_change(c, fn, ctx);
}

int graft_config_on_leader_change(graft_config *c, graft_leader_fn fn, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_on_leader_change(c, fn, ctx);
}

int graft_config_on_error(graft_config *c, graft_error_fn fn, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_on_error(c, fn, ctx);
}

int graft_config_on_log(graft_config *c, graft_log_fn fn, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_on_log(c, fn, ctx);
}

int graft_config_on_lease(graft_config *c, graft_lease_fn fn, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_on_lease(c, fn, ctx);
}

int graft_config_set_vote_hooks(graft_config *c, graft_position_fn position, graft_grant_fn grant, void *ctx) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_config_set_vote_hooks(c, position, grant, ctx);
}

void graft_config_free(graft_config *c) {
    if (FORKED || c == NULL) return;
    graft__go_config_free(c);
}

/* ---- nodes --------------------------------------------------------------- */

static void graft__errbuf(char *errbuf, size_t errlen, const char *msg) {
    if (errbuf == NULL || errlen == 0) return;
    size_t i = 0;
    for (; msg[i] && i + 1 < errlen; i++) errbuf[i] = msg[i];
    errbuf[i] = 0;
}

int graft_node_new(const graft_config *c, graft_node **out, char *errbuf, size_t errlen) {
    if (FORKED) {
        if (out) *out = NULL;
        graft__errbuf(errbuf, errlen,
                      "graft: the process was forked after the library was loaded: "
                      "the library cannot be used in the child");
        return GRAFT_EFORK;
    }
    return graft__go_node_new((graft_config *)c, out, errbuf, errlen);
}

int graft_node_close(graft_node *n) {
    if (n == NULL) return GRAFT_OK;
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_close(n);
}

graft_state graft_node_state(graft_node *n) {
    if (FORKED) return GRAFT_CLOSED;
    return graft__go_node_state(n);
}

uint64_t graft_node_term(graft_node *n) {
    if (FORKED) return 0;
    return graft__go_node_term(n);
}

int graft_node_leader(graft_node *n, char *buf, size_t len) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_leader(n, buf, len);
}

int graft_node_is_leader(graft_node *n) {
    if (FORKED) return 0;
    return graft__go_node_is_leader(n);
}

int graft_node_lease(graft_node *n, uint64_t *term, uint64_t *deadline_ns) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_lease(n, term, deadline_ns);
}

int graft_node_step_down(graft_node *n) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_step_down(n);
}

int graft_node_reload_tls(graft_node *n, char *errbuf, size_t errlen) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_reload_tls(n, errbuf, errlen);
}

int graft_node_wait_lease(graft_node *n, int timeout_ms, uint64_t *term, uint64_t *deadline_ns) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_wait_lease(n, timeout_ms, term, deadline_ns);
}

int graft_node_event_fd(graft_node *n) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_event_fd(n);
}

int graft_node_next_event(graft_node *n, graft_event *ev) {
    if (FORKED) return GRAFT_EFORK;
    /* The queue is in C (evq.c): popped without entering Go. Go answers
     * only for a handle without a queue (not a node, closed, or no
     * descriptor asked for yet). */
    int rc = graft__evq_pop((uintptr_t)n, ev);
    if (rc != GRAFT__EVQ_ABSENT) return rc;
    return graft__go_node_next_event(n, ev);
}

int graft_node_stats(graft_node *n, graft_stats *out) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_node_stats(n, out);
}

/* ---- certificates, errors, version ------------------------------------ */

int graft_generate_certs(const char *dir, const char *const *node_ids, size_t n) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_generate_certs((char *)dir, (char **)node_ids, n);
}

int graft_generate_cluster_certs(const char *dir, const char *cluster, const char *const *node_ids,
                                 size_t n) {
    if (FORKED) return GRAFT_EFORK;
    return graft__go_generate_cluster_certs((char *)dir, (char *)cluster, (char **)node_ids, n);
}

/* Indexed by -code. codes_test.go checks it against the enum. */
static const char *const graft__errors[] = {
    /* GRAFT_OK */         "success",
    /* GRAFT_EINVAL */     "invalid argument or configuration",
    /* GRAFT_ECLOSED */    "node closed or config freed",
    /* GRAFT_ESTORAGE */   "state file or other file could not be read or written",
    /* GRAFT_ETLS */       "TLS certificate, key or handshake error",
    /* GRAFT_ENETWORK */   "network error (bind, unreachable or misbehaving peer)",
    /* GRAFT_ERANGE */     "buffer too small",
    /* GRAFT_EBUSY */      "close called from the node's own callback",
    /* GRAFT_ENOTLEADER */ "node is not the leader",
    /* GRAFT_EFORK */      "library used in a child process after fork()",
    /* GRAFT_EINTERNAL */  "internal error in the library",
    /* GRAFT_ENOPEER */    "no reachable peer to hand leadership to",
    /* GRAFT_EHOOK */      "an application vote hook failed or was too slow",
};

const char *graft_strerror(int code) {
    if (code <= 0 && -(long)code < (long)(sizeof graft__errors / sizeof graft__errors[0]))
        return graft__errors[-code];
    return "unknown error";
}

#define GRAFT__STR(x) #x
#define GRAFT__XSTR(x) GRAFT__STR(x)

const char *graft_version(void) {
    return GRAFT__XSTR(GRAFT_VERSION_MAJOR) "." GRAFT__XSTR(GRAFT_VERSION_MINOR) "." GRAFT__XSTR(GRAFT_VERSION_PATCH);
}

int graft_version_number(void) { return GRAFT_VERSION_NUMBER; }
