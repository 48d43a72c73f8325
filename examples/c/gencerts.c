/*
 * gencerts - write development certificates for a graft cluster.
 *
 * Shows graft_generate_certs. Usage: gencerts DIR ID...
 * Writes DIR/ca.pem, DIR/ca-key.pem, and DIR/<id>.pem, DIR/<id>-key.pem
 * for each id (an existing CA in DIR is reused).
 */
#include <graft.h>

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR ID...\n", argv[0]);
        return 2;
    }
    int rc = graft_generate_certs(argv[1], (const char *const *)&argv[2], (size_t)(argc - 2));
    if (rc != GRAFT_OK) {
        fprintf(stderr, "gencerts: %s\n", graft_strerror(rc));
        return 1;
    }
    printf("wrote certificates for %d nodes into %s\n", argc - 2, argv[1]);
    return 0;
}
