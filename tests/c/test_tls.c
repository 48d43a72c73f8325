/* test_tls.c - certificates that rotate (issue 15) and certificates bound
 * to a cluster (issue 18), through the C API: graft_node_reload_tls and
 * graft_generate_cluster_certs. A node on loopback, its files rewritten
 * under it: good files are taken, bad ones are reported naming the file and
 * change nothing, also when the node finds them by itself (error callback).
 * The rotation of a running 3-node cluster is checked in Go
 * (transport/rotation_test.go), where every reconnection can be forced. */
#include <graft.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"

#define DEADLINE_MS 10000

/* errors records what the error callback of a node received. */
typedef struct {
    pthread_mutex_t mu;
    int n, tls;          /* calls, of them GRAFT_ETLS */
    char last[1024];     /* the last GRAFT_ETLS message */
} errors;

static void cb_error(void *ctx, int code, const char *msg) {
    errors *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->n++;
    if (code == GRAFT_ETLS) {
        e->tls++;
        snprintf(e->last, sizeof e->last, "%s", msg);
    }
    pthread_mutex_unlock(&e->mu);
}

static int tls_errors(errors *e, char *msg, size_t len) {
    pthread_mutex_lock(&e->mu);
    int n = e->tls;
    if (msg)
        snprintf(msg, len, "%s", e->last);
    pthread_mutex_unlock(&e->mu);
    return n;
}

/* path_of writes DIR/NAME into buf. */
static const char *path_of(char *buf, size_t len, const char *dir, const char *name) {
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

/* copy_file replaces to with the contents of from, atomically (a new file
 * renamed over it, as rotation tools do). */
static int copy_file(const char *from, const char *to) {
    char tmp[600], buf[1 << 14];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = fopen(tmp, "wb");
    size_t n = 0;
    if (in && out)
        n = fread(buf, 1, sizeof buf, in);
    int ok = in && out && n > 0 && fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out)
        ok = fclose(out) == 0 && ok;
    return ok && rename(tmp, to) == 0;
}

/* write_file replaces path with s, atomically. */
static int write_file(const char *path, const char *s) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return 0;
    int ok = fputs(s, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

/* start_single starts node n1 of cluster "tls" alone, its files in dir
 * (n1.pem, n1-key.pem, ca.pem), its errors into e. */
static graft_node *start_single(const char *dir, const char *cluster, errors *e, char *err, size_t errlen, int *rc) {
    char addr[32], state[512], cert[512], key[512], ca[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", free_udp_port());
    graft_config *cfg = graft_config_new(cluster, "n1", addr);
    graft_config_set_state_path(cfg, path_of(state, sizeof state, make_tempdir("tlsstate"), "n1.graft"));
    graft_config_set_tls(cfg, path_of(cert, sizeof cert, dir, "n1.pem"), path_of(key, sizeof key, dir, "n1-key.pem"),
                         path_of(ca, sizeof ca, dir, "ca.pem"));
    graft_config_set_timeouts(cfg, 20, 100, 150);
    graft_config_on_error(cfg, cb_error, e);
    graft_node *n = NULL;
    *rc = graft_node_new(cfg, &n, err, errlen);
    graft_config_free(cfg);
    return n;
}

static const char *ids3[] = {"n1", "n2", "n3"};

static void generate_cluster_certs(void) {
    const char *dir = make_tempdir("gencl");
    CHECK_EQ(graft_generate_cluster_certs(dir, "blue", ids3, 3), GRAFT_OK);
    char p[600];
    struct stat st;
    CHECKF(stat(path_of(p, sizeof p, dir, "n3-key.pem"), &st) == 0 && (st.st_mode & 0777) == 0600, "%s", p);
    CHECK_EQ(graft_generate_cluster_certs(dir, NULL, ids3, 3), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs(dir, "", ids3, 3), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs(dir, "blue/green", ids3, 3), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs(NULL, "blue", ids3, 3), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs(dir, "blue", NULL, 3), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs(dir, "blue", ids3, 0), GRAFT_EINVAL);
    const char *dup[] = {"n1", "n1"};
    CHECK_EQ(graft_generate_cluster_certs(dir, "blue", dup, 2), GRAFT_EINVAL);
    CHECK_EQ(graft_generate_cluster_certs("/proc/graft-cannot-write", "blue", ids3, 3), GRAFT_ESTORAGE);

    /* The binding is in the certificate: a node of cluster "blue" starts
     * with it, a node of cluster "red" is refused, naming both. */
    errors e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char err[1024] = "";
    int rc;
    graft_node *n = start_single(dir, "blue", &e, err, sizeof err, &rc);
    CHECKF(rc == GRAFT_OK, "%s", err);
    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    n = start_single(dir, "red", &e, err, sizeof err, &rc);
    CHECK_EQ(rc, GRAFT_ETLS);
    CHECK(n == NULL);
    CHECK_CONTAINS(err, "is for cluster \"blue\", this is cluster \"red\"");
    CHECK_CONTAINS(err, path_of(p, sizeof p, dir, "n1.pem"));
}

static void reload_tls(void) {
    const char *dir = make_tempdir("reload");
    const char *other = make_tempdir("reloadother");
    CHECK_EQ(graft_generate_cluster_certs(dir, "tls", ids3, 3), GRAFT_OK);
    CHECK_EQ(graft_generate_cluster_certs(other, "tls", ids3, 1), GRAFT_OK);
    errors e = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char err[1024] = "", cert[600], key[600], ca[600], src[600];
    int rc;
    graft_node *n = start_single(dir, "tls", &e, err, sizeof err, &rc);
    if (!CHECKF(rc == GRAFT_OK, "%s", err))
        return;
    CHECK(WAIT_UNTIL(graft_node_is_leader(n), DEADLINE_MS));
    uint64_t term = graft_node_term(n);
    path_of(cert, sizeof cert, dir, "n1.pem");
    path_of(key, sizeof key, dir, "n1-key.pem");
    path_of(ca, sizeof ca, dir, "ca.pem");

    /* unchanged files, then a new certificate from the same CA */
    strcpy(err, "x");
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_OK);
    CHECK_STR(err, "");
    CHECK_EQ(graft_generate_cluster_certs(dir, "tls", ids3, 1), GRAFT_OK);
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_OK);
    CHECK_EQ(graft_node_reload_tls(n, NULL, 0), GRAFT_OK); /* no errbuf: fine */

    /* bad files: GRAFT_ETLS naming the file, the node runs on */
    CHECK(write_file(cert, "-----BEGIN CERTIFICATE-----\ncut off"));
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_ETLS);
    CHECK_CONTAINS(err, cert);
    CHECK_CONTAINS(err, "cut off");
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_EQ(graft_node_reload_tls(n, small, sizeof small), GRAFT_ETLS);
    CHECK_EQ(strlen(small), sizeof small - 1);

    CHECK(copy_file(path_of(src, sizeof src, dir, "n2.pem"), cert));
    CHECK(copy_file(path_of(src, sizeof src, dir, "n2-key.pem"), key));
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_ETLS);
    CHECK_CONTAINS(err, "names node \"n2\", not \"n1\"");
    CHECK_CONTAINS(err, cert);

    CHECK(copy_file(path_of(src, sizeof src, other, "n1.pem"), cert));
    CHECK(copy_file(path_of(src, sizeof src, other, "n1-key.pem"), key));
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_ETLS);
    CHECK_CONTAINS(err, "not valid for CA");

    CHECK(write_file(ca, "garbage"));
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_ETLS);
    CHECK_CONTAINS(err, ca);

    /* the other CA's files, whole: good again */
    CHECK(copy_file(path_of(src, sizeof src, other, "ca.pem"), ca));
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_OK);
    CHECK_EQ(tls_errors(&e, NULL, 0), 0); /* forced reloads report to the caller only */

    /* broken behind its back: the node reports it by itself */
    CHECK(write_file(key, "garbage"));
    char msg[1024] = "";
    CHECKF(WAIT_UNTIL(tls_errors(&e, msg, sizeof msg) > 0, DEADLINE_MS), "no GRAFT_ETLS error callback");
    CHECK_CONTAINS(msg, key);

    CHECK_EQ(graft_node_is_leader(n), 1);
    CHECK_EQ(graft_node_term(n), term);
    CHECK_EQ(graft_node_close(n), GRAFT_OK);
    CHECK_EQ(graft_node_reload_tls(n, err, sizeof err), GRAFT_ECLOSED);
    CHECK_EQ(graft_node_reload_tls(NULL, err, sizeof err), GRAFT_EINVAL);
    CHECK(err[0] != 0);
    CHECK_EQ(graft_node_reload_tls((graft_node *)(uintptr_t)0x7fff1234, NULL, 0), GRAFT_EINVAL);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(generate_cluster_certs, "graft_generate_cluster_certs binds certificates to a cluster; bad input refused");
    RUN(reload_tls, "graft_node_reload_tls takes good files, refuses bad ones naming them; the node reports them too");
    return t_summary("test_tls");
}
