/*
 * run_child - the command that `graft run` starts in make bench's run
 * section: a program at rest whose start can be timed. At the top of main it
 * appends one line to the file named by argv[1]:
 *
 *     start NODE TERM NS PID
 *
 * (NODE and TERM from GRAFT_NODE_ID and GRAFT_TERM, NS its CLOCK_MONOTONIC
 * reading in nanoseconds), then sleeps until a signal ends it. It is C, not
 * Go, so that the start it reports is graft's work (fork, exec) and not a
 * runtime's start-up.
 *
 *     cc -O2 -o run_child run_child.c && graft run ... -- ./run_child LOG
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc != 2) {
        fprintf(stderr, "usage: run_child LOGFILE\n");
        return 2;
    }
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("run_child: open");
        return 1;
    }
    const char *node = getenv("GRAFT_NODE_ID"), *term = getenv("GRAFT_TERM");
    dprintf(fd, "start %s %s %lld %d\n", node ? node : "-", term ? term : "0",
            (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid());
    close(fd);
    for (;;)
        pause();
}
