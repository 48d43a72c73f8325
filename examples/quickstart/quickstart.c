/* quickstart.c - one node of a 3-node cluster; prints its fencing token while it leads.
 * Build: cc quickstart.c $(pkg-config --cflags --libs graft) -o quickstart
 * Run:   make certs; ./quickstart n1 & ./quickstart n2 & ./quickstart n3 */
#include <graft.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *ids[] = {"n1", "n2", "n3"}, *addrs[] = {"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"};
    int me = argc > 1 ? argv[1][1] - '1' : -1;
    if (me < 0 || me > 2) { fprintf(stderr, "usage: quickstart n1|n2|n3\n"); return 2; }

    graft_config *c = graft_config_new("quickstart", ids[me], addrs[me]);
    for (int i = 0; i < 3; i++)
        if (i != me) graft_config_add_peer(c, ids[i], addrs[i]);
    char state[64], cert[64], key[64];
    snprintf(state, sizeof state, "/tmp/quickstart-%s.state", ids[me]);
    snprintf(cert, sizeof cert, "build/certs/%s.pem", ids[me]);
    snprintf(key, sizeof key, "build/certs/%s-key.pem", ids[me]);
    graft_config_set_state_path(c, state);
    graft_config_set_tls(c, cert, key, "build/certs/ca.pem");

    graft_node *n;
    char err[256];
    int rc = graft_node_new(c, &n, err, sizeof err);
    graft_config_free(c);
    if (rc != GRAFT_OK) { fprintf(stderr, "graft: %s\n", err); return 1; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct pollfd p = {graft_node_event_fd(n), POLLIN, 0}; /* readable while events are queued */
    while (poll(&p, 1, -1) >= 0) {
        graft_event ev = {.size = sizeof ev};
        while (graft_node_next_event(n, &ev) == 1) {       /* act only between acquired and lost */
            if (ev.kind == GRAFT_EVENT_LEASE_ACQUIRED)
                printf("%s leads: fencing token %llu\n", ids[me], (unsigned long long)ev.term);
            else if (ev.kind == GRAFT_EVENT_LEASE_LOST)
                printf("%s lost the lease of term %llu\n", ids[me], (unsigned long long)ev.term);
        }
    }
}
