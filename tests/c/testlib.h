/* testlib.h - a tiny test framework for the C API tests: checks that
 * report and count instead of aborting, waits with deadlines, free ports,
 * temporary directories. Header-only; one test program per binary. */
#ifndef GRAFT_TESTLIB_H
#define GRAFT_TESTLIB_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int t_failures, t_checks;
static const char *t_current = "";

#define CHECK(cond) t_check((cond), #cond, __FILE__, __LINE__, "")
#define CHECKF(cond, ...) t_checkf((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    t_checkf(_a == _b, #a " == " #b, __FILE__, __LINE__, "%lld != %lld", _a, _b); } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    t_checkf(_a && _b && strcmp(_a, _b) == 0, #a " == " #b, __FILE__, __LINE__, "\"%s\" != \"%s\"", \
             _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)
#define CHECK_CONTAINS(s, sub) do { const char *_s = (s), *_t = (sub); \
    t_checkf(_s && strstr(_s, _t), #s " contains " #sub, __FILE__, __LINE__, "\"%s\" lacks \"%s\"", \
             _s ? _s : "(null)", _t); } while (0)

__attribute__((unused)) static int t_checkf(int ok, const char *expr, const char *file, int line, const char *fmt, ...) {
    t_checks++;
    if (ok)
        return 1;
    t_failures++;
    fprintf(stderr, "FAIL %s: %s:%d: %s", t_current, file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(" (", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(")", stderr);
        va_end(ap);
    }
    fputc('\n', stderr);
    return 0;
}

__attribute__((unused)) static int t_check(int ok, const char *expr, const char *file, int line, const char *unused) {
    return t_checkf(ok, expr, file, line, "%s", unused);
}

/* RUN runs one scenario and prints what it checked. */
#define RUN(fn, what) do { int _f = t_failures, _c = t_checks; t_current = #fn; fn(); \
    printf("%-4s %-32s %s (%d checks)\n", t_failures == _f ? "ok" : "FAIL", #fn, what, t_checks - _c); \
    fflush(stdout); } while (0)

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void) { return now_ns() / 1000000u; }

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* WAIT_UNTIL polls cond every 5 ms until it holds or timeout_ms passes;
 * it evaluates to whether it held. Never a fixed sleep as synchronisation. */
#define WAIT_UNTIL(cond, timeout_ms) ({ uint64_t _end = now_ms() + (timeout_ms); int _ok; \
    while (!(_ok = !!(cond)) && now_ms() < _end) { sleep_ms(5); } \
    _ok; })

/* free_udp_port returns a UDP port of 127.0.0.1 that was free a moment ago. */
static int free_udp_port(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("free_udp_port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* make_tempdir creates a fresh directory and returns its path (valid for
 * the whole run; at most 64 per program). */
static const char *make_tempdir(const char *tag) {
    static char dirs[64][256];
    static int used;
    if (used == 64) {
        fprintf(stderr, "make_tempdir: too many\n");
        exit(2);
    }
    char *p = dirs[used++];
    snprintf(p, 256, "/tmp/graft-%s-XXXXXX", tag);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        exit(2);
    }
    return p;
}

/* spawn_piped starts argv[0] with argv, its stdout (fd 1, or 2 with
 * to_stderr) on a pipe whose non-blocking read end it returns, or -1. */
__attribute__((unused)) static int spawn_piped(const char *const *argv, int to_stderr, pid_t *pid) {
    extern char **environ;
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], to_stderr ? 2 : 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    int rc = posix_spawn(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    return p[0];
}

/* t_proc is a child process and what it wrote so far (the tail, if long). */
typedef struct {
    pid_t pid;
    int fd; /* the read end of its output, -1 at EOF */
    char out[1 << 16];
    size_t len;
} t_proc;

/* t_pump reads what the n processes wrote since the last call, without
 * blocking. */
__attribute__((unused)) static void t_pump(t_proc *p, int n) {
    for (int i = 0; i < n; i++) {
        while (p[i].fd >= 0) {
            if (p[i].len + 1 >= sizeof p[i].out) { /* keep the newer half */
                memmove(p[i].out, p[i].out + sizeof p[i].out / 2, p[i].len - sizeof p[i].out / 2);
                p[i].len -= sizeof p[i].out / 2;
            }
            ssize_t r = read(p[i].fd, p[i].out + p[i].len, sizeof p[i].out - 1 - p[i].len);
            if (r <= 0) {
                if (r == 0) {
                    close(p[i].fd);
                    p[i].fd = -1;
                }
                break;
            }
            p[i].len += (size_t)r;
            p[i].out[p[i].len] = 0;
        }
    }
}

__attribute__((unused)) static int t_summary(const char *prog) {
    printf("%s: %d checks, %d failures\n", prog, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

#endif
