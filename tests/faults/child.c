/*
 * child - the command that `graft run` runs in the fault tests' graft-run
 * mode (tests/faults, `make test-faults-run`). It writes down its own
 * lifetime, so that the checker can compare the lifetimes of the children
 * of different nodes: they must never overlap.
 *
 * It forks a grandchild that leaves the process group (setsid), as a
 * daemonising program would: graft's watchdog must stop it too. Both
 * append one line per event to --log, each with one write(2) (O_APPEND: a
 * SIGKILL loses nothing already written), t = CLOCK_MONOTONIC in ns, which
 * every network namespace of the host shares:
 *
 *   CHILD t= node= term= run= pid= what=start deadline=   started (deadline:
 *                                                  GRAFT_LEASE_DEADLINE_NS)
 *   CHILD t= node= term= run= pid= what=tick       every millisecond while it lives
 *   CHILD t= node= term= run= pid= what=sigterm    SIGTERM received (and ignored
 *                                                  with --ignore-term)
 *   CHILD t= node= term= run= pid= what=stop       exiting on SIGTERM
 *   CHILD t= node= term= run= pid= what=exit       exiting on its own (--exit-file)
 *
 * run is the pid of the child (the run's first process), pid the writer's.
 * A process's last line is the end of its life by its own account: it does
 * nothing between ticks, so it acted at no instant later than that line.
 *
 * With --exit-file PATH, a child that finds PATH when it starts exits on its
 * own after a random 0-40 ms (its grandchild stays until the watchdog stops
 * it), so that `graft run --on-exit=step-down` hands leadership over right
 * after each election: the fault tests' handover mode.
 *
 * Usage: child --log FILE [--exit-file PATH] [--ignore-term]
 * (GRAFT_NODE_ID, GRAFT_TERM and GRAFT_LEASE_DEADLINE_NS from graft run).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static const char *node, *term, *deadline;
static int run_pid;
static volatile sig_atomic_t got_term;

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* logline writes one CHILD line with one write(2). */
static void logline(const char *what) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "CHILD t=%llu node=%s term=%s run=%d pid=%d what=%s", now_ns(), node, term, run_pid,
                     (int)getpid(), what);
    if (!strcmp(what, "start"))
        n += snprintf(buf + n, sizeof buf - (size_t)n, " deadline=%s", deadline);
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(log_fd, buf, (size_t)n);
    (void)w;
}

static void on_term(int sig) {
    (void)sig;
    got_term = 1;
}

static void usage(void) {
    fprintf(stderr, "usage: child --log FILE [--exit-file PATH] [--ignore-term] (run by graft run)\n");
    exit(2);
}

/* live ticks every millisecond until SIGTERM (unless ignored) or, when
 * exit_after_ns is not 0, until then. */
static int live(int ignore_term, unsigned long long exit_after_ns) {
    unsigned long long start = now_ns();
    int told = 0;
    struct timespec tick = {0, 1000 * 1000};
    for (;;) {
        if (got_term && !told) {
            logline("sigterm");
            told = 1;
        }
        if (got_term && !ignore_term) {
            logline("stop");
            return 0;
        }
        if (exit_after_ns && now_ns() - start >= exit_after_ns) {
            logline("exit");
            return 0;
        }
        nanosleep(&tick, NULL);
        logline("tick");
    }
}

int main(int argc, char **argv) {
    const char *log_path = NULL, *exit_file = NULL;
    int ignore_term = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ignore-term"))
            ignore_term = 1;
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log_path = argv[++i];
        else if (!strcmp(argv[i], "--exit-file") && i + 1 < argc)
            exit_file = argv[++i];
        else
            usage();
    }
    node = getenv("GRAFT_NODE_ID"), term = getenv("GRAFT_TERM"), deadline = getenv("GRAFT_LEASE_DEADLINE_NS");
    if (!log_path || !node || !term || !deadline) {
        fprintf(stderr, "child: needs --log and GRAFT_NODE_ID, GRAFT_TERM, GRAFT_LEASE_DEADLINE_NS (run it with graft run)\n");
        return 2;
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "child: %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);

    run_pid = (int)getpid();
    logline("start");
    struct stat st;
    unsigned long long exit_after = 0;
    if (exit_file && stat(exit_file, &st) == 0) {
        srand((unsigned)now_ns() ^ (unsigned)run_pid);
        exit_after = 1 + (unsigned long long)(rand() % 40001) * 1000ull;
    }
    pid_t g = fork();
    if (g < 0) {
        fprintf(stderr, "child: fork: %s\n", strerror(errno));
        return 1;
    }
    if (g == 0) {
        setsid(); /* out of the group: the watchdog must find it all the same */
        logline("start");
        return live(ignore_term, 0);
    }
    return live(ignore_term, exit_after);
}
