/* testlib.h - a tiny test framework for the C API tests: checks that
 * report and count instead of aborting, waits with deadlines, free ports,
 * temporary directories. Header-only; one test program per binary. */
#ifndef GRAFT_TESTLIB_H
#define GRAFT_TESTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
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

__attribute__((unused)) static int t_summary(const char *prog) {
    printf("%s: %d checks, %d failures\n", prog, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

#endif
