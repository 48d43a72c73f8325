/*
 * graft.h - Raft leader election as a library.
 *
 * A program links libgraft, names its peers, and is told, by callback and by
 * query, whether it leads. The election runs inside the library (written in
 * Go); this header is the whole public interface, in plain C.
 *
 *     cc app.c $(pkg-config --cflags --libs graft)
 *
 * A MINIMAL PROGRAM
 *
 *     graft_config *c = graft_config_new("prod", "n1", "127.0.0.1:7001");
 *     graft_config_add_peer(c, "n2", "127.0.0.1:7002");
 *     graft_config_add_peer(c, "n3", "127.0.0.1:7003");
 *     graft_config_set_state_path(c, "/var/lib/app/n1.graft");
 *     graft_config_set_tls(c, "certs/n1.pem", "certs/n1-key.pem", "certs/ca.pem");
 *     graft_node *n;
 *     char err[256];
 *     if (graft_node_new(c, &n, err, sizeof err) != GRAFT_OK) { fprintf(stderr, "%s\n", err); exit(1); }
 *     graft_config_free(c);
 *     for (;;) {
 *         uint64_t term, deadline;
 *         if (graft_node_lease(n, &term, &deadline) == 1)
 *             do_leader_work(term, deadline);   // term is the fencing token
 *         ...
 *     }
 *     graft_node_close(n);
 *
 * RETURN CODES
 *   Functions returning int return GRAFT_OK (0) or more on success and a
 *   negative graft_error on failure; graft_strerror() names it. Codes are never
 *   renumbered; new codes are appended.
 *
 * HANDLES
 *   A graft_config * and a graft_node * are opaque handles, not memory: the
 *   library never dereferences them. A handle that was freed or closed makes
 *   every call return GRAFT_ECLOSED (queries return their "closed" value, see
 *   each function); a NULL or made-up handle returns GRAFT_EINVAL. Neither
 *   crashes nor hangs. Handles are never reused within a process.
 *
 * THREADS
 *   Every function may be called from any thread, concurrently, including
 *   threads the library did not create. The query functions (graft_node_state,
 *   _term, _leader, _is_leader, _lease, _stats) never block: they read values
 *   the election publishes and cost about one C-to-Go call (~50-100 ns).
 *   Each thread inside a call holds one of the Go runtime's processors
 *   (GOMAXPROCS), and a thread that calls again at once keeps it; so that
 *   threads polling in tight loops never starve the election, the library
 *   sets GOMAXPROCS to the number of CPUs + 16 when it loads, unless the
 *   GOMAXPROCS environment variable is set. A host that sets GOMAXPROCS
 *   itself must leave more processors than it has threads polling without
 *   pause.
 *
 * CALLBACKS
 *   The callbacks set on a config (state change, leader change, lease, error,
 *   log) run on a thread of the library, never on the caller's thread. For one
 *   node they run one at a time, in the order the events happened (a state
 *   change is delivered before the leader change it caused; terms never go
 *   down). A slow callback delays the node's later callbacks, never the
 *   election: keep them short and hand long work to your own threads.
 *   The queue of a node's callbacks is bounded (256): when a slow callback
 *   lets it fill, it is coalesced to what a slow consumer needs: one state
 *   change to the latest state (state changes always chain: each from is
 *   the previous to), the latest leader, the lease events still paired and
 *   in order (a gain and its loss that both never ran are dropped together,
 *   never one alone), the newest errors and log lines. graft_stats'
 *   callbacks_dropped counts what was left out.
 *   A callback may call the query functions, graft_node_step_down, and any
 *   function on other nodes or configs. graft_node_close on the callback's own
 *   node returns GRAFT_EBUSY (it would wait for itself). graft_node_close of
 *   another node from a callback stops that node but does not wait for its
 *   callbacks (two callbacks closing each other's node would wait for each
 *   other forever): its callback running then, if any, and its final ones
 *   (the loss of its lease, the change to GRAFT_CLOSED, which is the last)
 *   may run after the close returned, so the ctx pointers of its config must
 *   live until that change to GRAFT_CLOSED. Otherwise, once graft_node_close
 *   returns, no callback of that node runs again, and the ctx pointers given
 *   to its config may be freed. A callback must not unwind (longjmp, C++
 *   exception) out into the library; a crash in a callback ends the process
 *   with a Go stack dump.
 *   The vote hooks (graft_config_set_vote_hooks) are different: they run on
 *   helper threads, possibly concurrently with each other and with the other
 *   callbacks, and must return within the heartbeat interval.
 *
 * SIGNALS
 *   The library contains the Go runtime. At load time it installs handlers
 *   for SIGSEGV, SIGBUS, SIGFPE and SIGPIPE (among others it uses internally,
 *   such as SIGURG and SIGPROF), all with SA_ONSTACK, and forwards signals that
 *   do not concern Go code to handlers installed before it. It never installs
 *   handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 or SIGUSR2: they
 *   stay with the host. The host may install handlers for those freely. If the
 *   host replaces a handler for SIGSEGV, SIGBUS, SIGFPE, SIGPIPE, SIGURG or
 *   SIGPROF, it must use SA_ONSTACK (and should chain to the previous handler),
 *   otherwise a signal arriving on a library thread crashes the process.
 *   Writing to a closed socket in the host still delivers SIGPIPE as usual.
 *
 * FORK
 *   A child made by fork() cannot use the library: the library's threads do
 *   not exist in the child, and anything that waits would hang forever. In a
 *   child every function returns GRAFT_EFORK (queries return their "closed"
 *   value), whether or not a node was started before the fork. The child may
 *   exec() or _exit(). Use posix_spawn/fork+exec, or start the library in the
 *   child after exec.
 *
 * PROCESS RULES
 *   A process holds one Go runtime: do not load a second library built with Go
 *   (-buildmode=c-shared) in the same process. The library cannot be
 *   unloaded (dlclose keeps it mapped); graft_node_close stops every thread
 *   work of the node. Several nodes may run in one process. Go reads the
 *   environment once, at load time.
 *
 * ENVIRONMENT
 *   GOMAXPROCS                  kept if set (see THREADS).
 *   GRAFT_TEST_CLOCK_RATE, GRAFT_TEST_DISABLE_CHECK_QUORUM
 *                               read ONLY by the test build of the library
 *                               (make lib-test: build/test/libgraft.so, for
 *                               graft's own fault-injection tests, never
 *                               installed); the released library ignores
 *                               them. In the test build, RATE=r (0.5 < r < 2)
 *                               runs the clock of every node of the process
 *                               at r times CLOCK_MONOTONIC, lease deadlines
 *                               included, and DISABLE_CHECK_QUORUM=1 removes
 *                               check-quorum and the lease bound, so that two
 *                               nodes may lead at once (tests use it to show
 *                               their checkers catch it).
 */
#ifndef GRAFT_H
#define GRAFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef GRAFT_API
#  if defined(_WIN32)
#    define GRAFT_API __declspec(dllimport)
#  elif defined(__GNUC__) || defined(__clang__)
#    define GRAFT_API __attribute__((visibility("default")))
#  else
#    define GRAFT_API
#  endif
#endif

/* The version of this header. graft_version() gives the library's. */
#define GRAFT_VERSION_MAJOR 0
#define GRAFT_VERSION_MINOR 1
#define GRAFT_VERSION_PATCH 0
/* MAJOR * 1000000 + MINOR * 1000 + PATCH (0.1.0 is 1000), for #if
 * comparisons; graft_version_number() gives the library's. The same scheme
 * as SQLITE_VERSION_NUMBER. */
#define GRAFT_VERSION_NUMBER \
    (GRAFT_VERSION_MAJOR * 1000000 + GRAFT_VERSION_MINOR * 1000 + GRAFT_VERSION_PATCH)

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

/** graft_error - return codes. 0 is success, failures are negative. The
 *  numbers are part of the ABI: never renumbered, new codes appended. */
typedef enum graft_error {
    GRAFT_OK = 0,            /* success */
    GRAFT_EINVAL = -1,       /* an argument or the configuration was rejected
                                (NULL pointer, made-up handle, bad id, bad timeouts,
                                duplicate or self peer, malformed address) */
    GRAFT_ECLOSED = -2,      /* the node was closed or the config freed */
    GRAFT_ESTORAGE = -3,     /* the state file (or another file) could not be read or
                                written, or is corrupt */
    GRAFT_ETLS = -4,         /* a certificate, key or CA file is missing, unreadable or
                                unsuitable; or a TLS handshake with a peer failed */
    GRAFT_ENETWORK = -5,     /* the listen address could not be bound, or a peer could
                                not be reached or misbehaved */
    GRAFT_ERANGE = -6,       /* the caller's buffer is too small */
    GRAFT_EBUSY = -7,        /* graft_node_close called from a callback of the same node */
    GRAFT_ENOTLEADER = -8,   /* graft_node_step_down on a node that does not lead */
    GRAFT_EFORK = -9,        /* the process was forked after the library was loaded:
                                the library cannot be used in the child */
    GRAFT_EINTERNAL = -10,   /* a bug in the library (a recovered Go panic); the
                                error callback and errbuf say more */
    GRAFT_ENOPEER = -11,     /* graft_node_step_down: no peer answered recently enough
                                to take over the leadership */
    GRAFT_EHOOK = -12        /* (error callback only) one of the application's vote
                                hooks failed: it did not return within the heartbeat
                                interval, or the position hook returned more than
                                GRAFT_POSITION_MAX bytes; the vote was refused or the
                                campaign abandoned. Since 0.1. */
} graft_error;

/** graft_state - the role a node plays. The numbering is part of the ABI. */
typedef enum graft_state {
    GRAFT_FOLLOWER = 0,      /* follows a leader, or waits for one; votes */
    GRAFT_CANDIDATE = 1,     /* raised its term and asks for votes */
    GRAFT_LEADER = 2,        /* elected for its term; acts only while the lease holds */
    GRAFT_CLOSED = 3         /* closed (final); also the answer for a bad handle */
} graft_state;

/** graft_log_level - severity of a log line. */
typedef enum graft_log_level {
    GRAFT_LOG_DEBUG = 0,
    GRAFT_LOG_INFO = 1,
    GRAFT_LOG_WARN = 2,
    GRAFT_LOG_ERROR = 3
} graft_log_level;

/** graft_msg_kind - the election's message kinds; index the per-kind
 *  counters of graft_stats. */
typedef enum graft_msg_kind {
    GRAFT_MSG_PREVOTE = 0,
    GRAFT_MSG_PREVOTE_RESP = 1,
    GRAFT_MSG_VOTE = 2,
    GRAFT_MSG_VOTE_RESP = 3,
    GRAFT_MSG_HEARTBEAT = 4,
    GRAFT_MSG_HEARTBEAT_RESP = 5,
    GRAFT_MSG_TIMEOUT_NOW = 6
} graft_msg_kind;

/* Slots of the per-kind arrays in graft_stats (unused slots are 0). */
#define GRAFT_MSG_KIND_SLOTS 8
/* Longest node or cluster id, in bytes, plus the terminating NUL: a buffer of
 * this size always holds a leader id. */
#define GRAFT_ID_MAX 256
/* Capacity of the buffer passed to the position hook, in bytes. */
#define GRAFT_POSITION_MAX 1024

/** graft_config - an opaque node configuration, built with setters so that
 *  new options never change the ABI. */
typedef struct graft_config graft_config;
/** graft_node - an opaque handle to a running node. */
typedef struct graft_node graft_node;

/** graft_stats - a node's counters, filled by graft_node_stats. Counters only
 *  grow (except the gauges noted). Fields are only ever appended. */
typedef struct graft_stats {
    size_t   size;                 /* IN: sizeof(graft_stats) as the caller knows it.
                                      OUT: the number of bytes the library filled */
    int32_t  state;                /* a graft_state */
    uint32_t reserved0;            /* 0 */
    uint64_t term;                 /* current term (the fencing token) */
    char     leader[GRAFT_ID_MAX]; /* known leader id, "" when none */

    /* The election. */
    uint64_t prevotes_started;     /* pre-vote rounds begun */
    uint64_t prevotes_lost;        /* pre-vote rounds a majority refused */
    uint64_t elections_started;    /* real elections begun (the term raised) */
    uint64_t elections_won;
    uint64_t leader_changes;       /* times a new (leader, term) became known */
    uint64_t step_downs;           /* leaderships ended by check-quorum */
    uint64_t transfers;            /* leaderships handed over (step_down, close) */
    uint64_t storage_errors;       /* failed saves of the term and vote */
    uint64_t callbacks_queued;     /* gauge: callbacks waiting to run (<= 256) */
    int64_t  since_leader_contact_ns; /* time since a leader was last heard from;
                                      0 on the leader, -1 if never */
    /* Election messages by graft_msg_kind: handed to the transport, received
     * and accepted, dropped (refused by the transport, inbox full, invalid). */
    uint64_t msgs_sent[GRAFT_MSG_KIND_SLOTS];
    uint64_t msgs_received[GRAFT_MSG_KIND_SLOTS];
    uint64_t msgs_dropped[GRAFT_MSG_KIND_SLOTS];

    /* The QUIC transport. */
    uint64_t net_msgs_sent;        /* messages handed to QUIC */
    uint64_t net_bytes_sent;
    uint64_t net_msgs_received;    /* messages delivered to the election */
    uint64_t net_bytes_received;
    uint64_t net_reconnects;       /* connections re-established to a peer */
    /* Dropped by the transport, by reason (inbound except queue_full). */
    uint64_t drop_malformed;       /* not a well-formed message */
    uint64_t drop_wrong_cluster;   /* names another cluster */
    uint64_t drop_bad_version;     /* unknown wire version */
    uint64_t drop_oversized;       /* larger than the size limit */
    uint64_t drop_spoofed_sender;  /* sender differs from its certificate */
    uint64_t drop_unknown_peer;    /* valid certificate, id not a peer */
    uint64_t drop_handshake_failed;/* TLS handshake failed (other CA, no cert) */
    uint64_t drop_queue_full;      /* outbound queue to a peer was full */
    uint64_t drop_invalid_packet;  /* UDP datagram that is no QUIC packet */

    /* The callbacks: how late they start. A callback's delay runs from the
     * moment it was queued (right after the election event, on the election
     * thread) to the moment the library's callback thread calls it; a slow
     * callback delays the ones after it, and shows here. Nanoseconds of the
     * node's monotonic clock. Since 0.1. */
    uint64_t callback_delay_last_ns; /* gauge: of the callback running now (so a
                                      callback that calls graft_node_stats
                                      reads its own), else of the last one
                                      run; 0 before the first */
    uint64_t callback_delay_max_ns;  /* largest callback_delay_last_ns so far */
    /* Callbacks never run: coalesced away when the queue was full, or still
     * queued when graft_node_close stopped the node (see CALLBACKS). Since
     * 0.1 (appended: a caller whose size ends before it is not filled). */
    uint64_t callbacks_dropped;
    /* Succession (see graft_config_set_priority). Since 0.1 (appended: a
     * caller whose size ends before them is not filled). */
    uint32_t rank;                 /* gauge: this follower's place in the
                                      succession as its leader last told it
                                      (1 campaigns first when the leader goes
                                      silent); 0 when none is known (no leader,
                                      a leader of an older term), on a leader
                                      and on a witness */
    uint32_t reserved1;            /* 0 */
    uint64_t priority_takeovers;   /* handovers this node made, as leader, to
                                      a follower of higher priority */
    char     successor[GRAFT_ID_MAX]; /* gauge: on a leader, the follower it
                                      ranks first; "" when none can lead, and
                                      on the other nodes */
} graft_stats;

/** Callback types. ctx is the pointer given with the callback. */
typedef void (*graft_state_fn)(void *ctx, graft_state from, graft_state to, uint64_t term);
typedef void (*graft_leader_fn)(void *ctx, const char *leader_id, uint64_t term);
typedef void (*graft_error_fn)(void *ctx, int code, const char *message);
typedef void (*graft_log_fn)(void *ctx, int level, const char *message);
typedef size_t (*graft_position_fn)(void *ctx, uint8_t *buf, size_t cap);
typedef int (*graft_grant_fn)(void *ctx, const uint8_t *position, size_t len);
/* held = 1: this node now holds the lease for term, until deadline_ns
 * (CLOCK_MONOTONIC); held = 0: it no longer does (the deadline passed
 * without renewal, step-down, a higher term, close). Since 0.1. */
typedef void (*graft_lease_fn)(void *ctx, int held, uint64_t term, uint64_t deadline_ns);

/** graft_event_kind - what a graft_event reports. The numbering is part of
 *  the ABI; new kinds are appended: skip the kinds you do not know. */
typedef enum graft_event_kind {
    GRAFT_EVENT_STATE = 1,          /* the state changed: from, to, term */
    GRAFT_EVENT_LEADER = 2,         /* the known leader changed: leader ("" when
                                       none), term */
    GRAFT_EVENT_LEASE_ACQUIRED = 3, /* this node holds the lease: term, deadline_ns */
    GRAFT_EVENT_LEASE_LOST = 4,     /* it no longer does: term, deadline_ns (the
                                       deadline it had) */
    GRAFT_EVENT_OVERFLOW = 5        /* the queue was full: older events were
                                       dropped; read the state with the query
                                       functions. term: the newest dropped */
} graft_event_kind;

/** graft_event - one event of the queue behind graft_node_event_fd, filled by
 *  graft_node_next_event. The caller sets size to sizeof(graft_event): fields
 *  are only ever appended, and the library fills what both sides know. */
typedef struct graft_event {
    uint32_t size;                 /* IN: sizeof(graft_event) as the caller knows
                                      it. OUT: the number of bytes filled */
    graft_event_kind kind;
    graft_state from, to;          /* GRAFT_EVENT_STATE; otherwise 0 */
    uint64_t term;                 /* every kind */
    uint64_t deadline_ns;          /* LEASE_ACQUIRED and LEASE_LOST: the lease's
                                      CLOCK_MONOTONIC deadline; otherwise 0 */
    char leader[GRAFT_ID_MAX];     /* GRAFT_EVENT_LEADER: the leader's id, "" when
                                      none; otherwise "" */
    uint64_t at_ns;                /* every kind but OVERFLOW (0): the
                                      CLOCK_MONOTONIC instant the node's core
                                      emitted the event (the step or timer that
                                      produced it; for the events of
                                      graft_node_close, the close), on the
                                      clock of deadline_ns. The instant it was
                                      popped less at_ns is how late the host
                                      learnt of it. Since 0.1 (appended: a
                                      caller whose size ends before it is not
                                      filled) */
} graft_event;

/* The library's own build declares the functions itself. */
#ifndef GRAFT_TYPES_ONLY

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** graft_config_new - start a node configuration.
 *  cluster names the cluster (nodes of other clusters are refused), node_id
 *  this node (unique in the cluster, the name in its certificate; node ids
 *  are 1..253 characters of A-Z a-z 0-9 . _ -, not starting with . or -,
 *  and not "ca") and listen_addr the UDP
 *  "host:port" to listen on ("0.0.0.0:7001" or "[::]:7001" listen on every
 *  address, IPv4 and IPv6). The strings are copied. Nothing is validated
 *  here: graft_node_new checks everything and says what is wrong. A NULL
 *  string counts as "" (and is then rejected by graft_node_new).
 *  Defaults: heartbeat 50 ms, election timeout 300-450 ms, max clock drift 1%,
 *  priority 1, no callbacks.
 *  Ownership: the caller frees the result with graft_config_free. Any thread.
 *  Returns the new config, or NULL in a forked child. Since 0.1. */
GRAFT_API graft_config *graft_config_new(const char *cluster, const char *node_id,
                                         const char *listen_addr);

/** graft_config_add_peer - add a peer: its node id and UDP "host:port".
 *  host is an IP address ("10.0.0.2", "[fd00::2]") or a DNS name, port a
 *  number. A name is resolved at every dial, so a peer back at a new address
 *  is reached again; one that does not resolve yet is reported through
 *  graft_config_on_error (GRAFT_ENETWORK) and retried, not refused. A bad
 *  syntax (no port, port 0, a bad character) makes graft_node_new fail with
 *  GRAFT_EINVAL. Membership is static; add every other member of the
 *  cluster. Strings are copied. Duplicates and the node itself are reported
 *  by graft_node_new.
 *  Returns 0; GRAFT_EINVAL if c is NULL or not a config or node_id or addr is
 *  NULL; GRAFT_ECLOSED if c was freed; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_add_peer(graft_config *c, const char *node_id, const char *addr);

/** graft_config_set_state_path - the file that persists the term and vote.
 *  Required. Created if missing (its directory must exist and be writable:
 *  graft_node_new writes, fsyncs and removes a probe file in it); a corrupt
 *  file makes graft_node_new fail with GRAFT_ESTORAGE rather than reset it.
 *  A symlink is followed once, at graft_node_new: the real file is replaced
 *  and the link stays. The node holds an exclusive lock (flock) on
 *  "<file>.lock" beside it from graft_node_new until graft_node_close (or
 *  the process's death): a second node on the same file, in this process or
 *  another, fails with GRAFT_ESTORAGE naming the file and the holder's pid.
 *  Returns 0; GRAFT_EINVAL (c or path NULL, not a config); GRAFT_ECLOSED;
 *  GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_set_state_path(graft_config *c, const char *path);

/** graft_config_set_tls - PEM files for mutual TLS: this node's certificate
 *  (whose name is the node id), its private key, and the CA that signed
 *  every node's certificate. Required. graft_generate_certs writes such files
 *  for development. The files are read by graft_node_new, and again when
 *  they change: the node looks at them (stat) every 2 s and at new
 *  connections, and uses new files for connections made from then on;
 *  files that fail the checks change nothing and are reported to the error
 *  callback (GRAFT_ETLS, naming the file). graft_node_reload_tls forces
 *  it. The CA file may hold several CA certificates (a bundle), so a
 *  cluster can rotate its CA: add the new CA to every node's CA file,
 *  reissue the node certificates, then remove the old CA.
 *  Returns 0; GRAFT_EINVAL (a NULL argument, not a config); GRAFT_ECLOSED;
 *  GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_set_tls(graft_config *c, const char *cert_file,
                                   const char *key_file, const char *ca_file);

/** graft_config_set_timeouts - election timings in milliseconds; 0 keeps a
 *  default (50, 300, 450). A leader heartbeats every heartbeat_ms; a follower
 *  that hears no leader for a random time in [election_min_ms,
 *  election_max_ms] campaigns. election_min_ms is also the leader lease. Rules
 *  checked by graft_node_new: heartbeat >= 1, election_min >= 3 * heartbeat,
 *  election_max > election_min, election_max <= 1 hour.
 *  Returns 0; GRAFT_EINVAL (not a config); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_config_set_timeouts(graft_config *c, uint32_t heartbeat_ms,
                                        uint32_t election_min_ms, uint32_t election_max_ms);

/** graft_config_set_max_clock_drift - the bound on how much any node's
 *  monotonic clock may run faster or slower than real time (0.01 = 1%, the
 *  default; must be in [0, 0.2], checked by graft_node_new; 0 means the
 *  default, so the margin cannot be turned off). The lease is shortened by
 *  it. Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_config_set_max_clock_drift(graft_config *c, double drift);

/** graft_config_set_priority - this node's claim to the leadership. 1 is the
 *  default; higher is preferred. A leader ranks its followers as its
 *  successors (priority first, then how recently each answered) and tells
 *  each its rank in the heartbeats: when the leader dies, they campaign in
 *  that order (see graft_config_set_succession_delay), so a failover
 *  needs no random wait and no split vote. A leader also hands the
 *  leadership over (as graft_node_step_down, about one round trip) to a
 *  follower of strictly higher priority than its own once that follower
 *  has answered every heartbeat for a stable period (5 x election_max_ms),
 *  and makes at most one such handover per stable period, so leadership
 *  never moves back and forth: a preferred node that restarts gets it back.
 *  0 makes the node a WITNESS: it votes and acknowledges heartbeats, so it
 *  counts in every majority, but it never campaigns, is never ranked as a
 *  successor nor handed the leadership, and ignores a handover: it never
 *  leads. Two data sites and a witness at a third site survive the loss of
 *  any one site (see README, "Preferred leaders and witnesses"). A cluster
 *  needs a node that can lead: graft_node_new refuses a witness without
 *  peers (GRAFT_EINVAL, "a cluster needs a node that can lead"); a node
 *  cannot see its peers' settings, so a cluster made only of witnesses is
 *  not detected: it never elects anyone.
 *  Returns 0; GRAFT_EINVAL (not a config); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Any thread. Since 0.1. */
GRAFT_API int graft_config_set_priority(graft_config *c, uint32_t priority);

/** graft_config_set_succession_delay - the step, in milliseconds, between the
 *  ranked successors of a silent leader: the follower of rank r campaigns
 *  election_min_ms + (r - 1) x delay_ms after the last heartbeat it
 *  received, instead of at a random time in [election_min_ms,
 *  election_max_ms], so each successor has one delay to win before the
 *  next one tries. Set it just above what one campaign takes: a pre-vote
 *  and a vote round trip plus two fsyncs of the state file, on the slowest
 *  node. 0 keeps the default: 10 ms, or (election_max_ms - election_min_ms)
 *  / number of peers if that is less. Checked by graft_node_new: with two
 *  peers or more, election_min_ms + (peers - 1) x delay_ms must be below
 *  election_max_ms (GRAFT_EINVAL naming SuccessionDelay otherwise).
 *  Returns 0; GRAFT_EINVAL (not a config); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Any thread. Since 0.1. */
GRAFT_API int graft_config_set_succession_delay(graft_config *c, uint32_t delay_ms);

/** graft_config_on_state_change - call fn(ctx, from, to, term) on every
 *  change of state, with the term at which the new state began. The last
 *  call of a node is the change to GRAFT_CLOSED, made by graft_node_close.
 *  fn NULL removes the callback. See CALLBACKS above for the thread rules;
 *  ctx must stay valid until graft_node_close returns.
 *  Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_on_state_change(graft_config *c, graft_state_fn fn, void *ctx);

/** graft_config_on_leader_change - call fn(ctx, leader_id, term) when the
 *  known leader changes. leader_id is "" when no leader is known; it is valid
 *  only during the call (copy it). fn NULL removes the callback.
 *  Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_on_leader_change(graft_config *c, graft_leader_fn fn, void *ctx);

/** graft_config_on_error - call fn(ctx, code, message) with problems the node
 *  cannot fix by itself: a state file that cannot be written
 *  (GRAFT_ESTORAGE), a peer whose TLS handshake fails (GRAFT_ETLS), a peer
 *  that cannot be reached or sends garbage (GRAFT_ENETWORK). Reports are rate
 *  limited. message is valid only during the call. fn NULL removes it.
 *  Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_on_error(graft_config *c, graft_error_fn fn, void *ctx);

/** graft_config_on_log - call fn(ctx, level, message) with the node's log
 *  lines (a graft_log_level; "node n2 became leader at term 7"), those of its
 *  transport, and lines the Go runtime or quic-go log process-wide (those go
 *  to every node that has a log callback; without any they go to stderr).
 *  message has no trailing newline and is valid only during the call.
 *  fn NULL removes it. Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_config_on_log(graft_config *c, graft_log_fn fn, void *ctx);

/** graft_config_on_lease - call fn(ctx, held, term, deadline_ns) when this
 *  node starts to hold the lease (held 1: term is the fencing token,
 *  deadline_ns the CLOCK_MONOTONIC instant, in nanoseconds, by which it must
 *  stop acting unless the lease is renewed) and when it stops (held 0: the
 *  deadline passed without renewal, graft_node_step_down, a higher term,
 *  graft_node_close; term and deadline_ns of the lease that ended). This,
 *  not the state change to GRAFT_LEADER (about one round trip earlier), is
 *  the signal to start and stop leader work.
 *  Every held 0 follows exactly one held 1 of the same term, in order, and
 *  terms never go down. Renewals are silent: graft_node_lease gives the
 *  current deadline. The loss is due at the deadline itself (a timer of the
 *  node's own, not the next check-quorum tick); a process paused past its
 *  deadline gets held 0 at once when it runs again (and, if a heartbeat
 *  renews the lease then, a new held 1), and the callback of the loss may
 *  run up to the callback delay after the deadline (graft_stats): check
 *  the deadline against CLOCK_MONOTONIC before acting. The last call of a
 *  node that held the lease is a held 0 made by graft_node_close, before
 *  its change to GRAFT_CLOSED. Same thread rules and order as the other
 *  callbacks (see CALLBACKS); the events of graft_node_event_fd carry the
 *  same sequence. fn NULL removes the callback; ctx must stay valid until
 *  graft_node_close returns.
 *  Returns 0; GRAFT_EINVAL (c NULL, not a config); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_config_on_lease(graft_config *c, graft_lease_fn fn, void *ctx);

/** graft_config_set_log_level - the least severe graft_log_level passed to the
 *  log callback; lines below it are not even formatted. Default
 *  GRAFT_LOG_INFO (GRAFT_LOG_DEBUG adds a line per vote and pre-vote).
 *  Returns 0; GRAFT_EINVAL for a level outside GRAFT_LOG_DEBUG..GRAFT_LOG_ERROR
 *  or a bad handle; GRAFT_ECLOSED; GRAFT_EFORK. Any thread. Since 0.1. */
GRAFT_API int graft_config_set_log_level(graft_config *c, int level);

/** graft_config_set_vote_hooks - let the application refuse votes to
 *  candidates whose data is behind. position(ctx, buf, cap) writes this
 *  node's position (for example a log index, in any encoding) into buf (cap
 *  is GRAFT_POSITION_MAX) and returns its length; it is sent with every vote
 *  request. grant(ctx, pos, len) receives a candidate's position and returns
 *  nonzero to allow the vote. Either may be NULL (no position; grant all).
 *  Both run on helper threads, possibly concurrently with each other and
 *  with the callbacks, and must return within the heartbeat interval: a late
 *  grant counts as a refusal, a late position abandons the campaign. A
 *  position longer than cap is refused. Either failure reaches the error
 *  callback as GRAFT_EHOOK (a late grant at most once a second). pos is valid only during the call.
 *  Returns 0; GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_config_set_vote_hooks(graft_config *c, graft_position_fn position,
                                          graft_grant_fn grant, void *ctx);

/** graft_config_free - free a config. Nodes started from it are not
 *  affected (they copied it). NULL, and a config already freed, are no-ops.
 *  Any thread. Since 0.1. */
GRAFT_API void graft_config_free(graft_config *c);

/* ------------------------------------------------------------------------ */
/* Nodes                                                                    */
/* ------------------------------------------------------------------------ */

/** graft_node_new - validate c, load the state file, bind the listen
 *  address and start a node. It joins the election at once (as a follower)
 *  and returns without waiting for a leader. c is copied: it may be freed or
 *  changed afterwards.
 *  On success *out is the node, to be closed with graft_node_close. On
 *  failure *out is NULL, no callback of c is ever called, and if errbuf is
 *  not NULL a human-readable reason (naming the field or file at fault) is
 *  written into it, truncated to errlen - 1 bytes and NUL-terminated.
 *  Any thread, including a callback of another node.
 *  Returns 0; GRAFT_EINVAL (c or out NULL, c not a config, a bad id, peer,
 *  address or timing); GRAFT_ECLOSED (c freed); GRAFT_ESTORAGE (state file
 *  corrupt or unreadable, its folder not writable, or the file in use by
 *  another node); GRAFT_ETLS (certificate, key or CA missing or
 *  unsuitable); GRAFT_ENETWORK (listen address cannot be bound); GRAFT_EFORK;
 *  GRAFT_EINTERNAL. Since 0.1. */
GRAFT_API int graft_node_new(const graft_config *c, graft_node **out, char *errbuf, size_t errlen);

/** graft_node_close - stop a node, wait for its callbacks, free it.
 *  A leader first hands over to a peer when one is reachable (waiting at
 *  most the minimum election timeout), so that the cluster does not wait an
 *  election timeout. Then the node stops, its sockets close, the loss of a
 *  lease it still held and the final state change (to GRAFT_CLOSED) are
 *  delivered and every thread of the node ends. Close waits for the
 *  callback running, if any, and those two: the callbacks still queued are
 *  dropped (graft_stats' callbacks_dropped counts them), so a close never
 *  runs a backlog. Threads blocked in
 *  graft_node_wait_lease return GRAFT_ECLOSED. The descriptor of
 *  graft_node_event_fd is closed and events still queued are discarded:
 *  remove it from your event loop first (its number may be reused at once).
 *  Once it returns no callback of n runs again. The state file is kept.
 *  NULL is a no-op. Any thread except a callback of n itself; from a
 *  callback of another node it does not wait for n's callbacks, which may
 *  still run after it returns, the change to GRAFT_CLOSED last (CALLBACKS).
 *  Returns 0; GRAFT_EBUSY from a callback of n (nothing is done: close it
 *  from another thread); GRAFT_ECLOSED if n was already closed; GRAFT_EINVAL
 *  if n is not a node; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_node_close(graft_node *n);

/** graft_node_state - the node's current state. Never blocks.
 *  Returns a graft_state; GRAFT_CLOSED if n is closed, NULL, not a node, or
 *  in a forked child. Any thread or callback. Since 0.1. */
GRAFT_API graft_state graft_node_state(graft_node *n);

/** graft_node_term - the node's current term, the fencing token: it only
 *  grows. Never blocks. Returns 0 if n is closed, NULL, not a node, or in a
 *  forked child. Any thread or callback. Since 0.1. */
GRAFT_API uint64_t graft_node_term(graft_node *n);

/** graft_node_leader - copy the id of the leader this node follows (its own
 *  id on the leader) into buf, NUL-terminated; "" when no leader is known.
 *  A buffer of GRAFT_ID_MAX bytes is always large enough. Never blocks.
 *  Returns 0; GRAFT_ERANGE if len is too small (buf gets "" if len > 0);
 *  GRAFT_EINVAL (n or buf NULL, not a node); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Any thread or callback. Since 0.1. */
GRAFT_API int graft_node_leader(graft_node *n, char *buf, size_t len);

/** graft_node_is_leader - 1 if the node leads and its lease holds now,
 *  computed at the time of the call (a leader whose process was paused past
 *  its lease answers 0 at once); 0 otherwise, and for every error (closed,
 *  NULL, not a node, forked child). Never negative, never blocks. Under the
 *  configured clock drift, no two nodes of a cluster answer 1 at the same
 *  instant. Any thread or callback. Since 0.1. */
GRAFT_API int graft_node_is_leader(graft_node *n);

/** graft_node_lease - if the node leads now, store the term (the fencing
 *  token) in *term and the CLOCK_MONOTONIC instant, in nanoseconds, by which
 *  the leader must stop acting in *deadline_ns, and return 1. Work that must
 *  not run on two nodes at once should check clock_gettime(CLOCK_MONOTONIC)
 *  against the deadline and carry the term to the guarded resource. The
 *  lease is renewed by heartbeats: call again for a later deadline.
 *  graft_node_step_down and graft_node_close revoke every deadline handed
 *  out before (here, by graft_node_wait_lease or by the lease callback and
 *  events): from the moment they are called, stop acting even if the
 *  deadline is still ahead, since the successor may hold a lease one round
 *  trip later.
 *  Returns 1 (leads); 0 (does not lead; *term and *deadline_ns are set to 0);
 *  GRAFT_EINVAL (n, term or deadline_ns NULL, not a node); GRAFT_ECLOSED;
 *  GRAFT_EFORK. Test with `== 1`: errors are negative. Never blocks.
 *  Any thread or callback. Since 0.1. */
GRAFT_API int graft_node_lease(graft_node *n, uint64_t *term, uint64_t *deadline_ns);

/** graft_node_step_down - hand leadership over to the most recently heard
 *  peer, which campaigns at once: a new leader in about one round trip
 *  instead of an election timeout (use before a planned restart). The lease
 *  ends before it returns: graft_node_is_leader answers 0 from then on, and
 *  every deadline handed out before (by graft_node_lease,
 *  graft_node_wait_lease, the lease callback or events) is revoked: stop
 *  acting when you call it, not when that deadline passes, since the
 *  successor may hold a lease one round trip later. The lease callback
 *  reports the loss (held 0) afterwards, like any other.
 *  Waits briefly for the election thread, not for the new leader.
 *  Any thread or callback.
 *  Returns 0; GRAFT_ENOTLEADER (the node does not lead); GRAFT_ENOPEER (no
 *  peer answered within the election timeout; the node keeps leading);
 *  GRAFT_EINVAL; GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_node_step_down(graft_node *n);

/** graft_node_reload_tls - read the certificate, key and CA files of
 *  graft_config_set_tls again now, and use them for every connection made
 *  from now on (connections up stay; peers that reconnect meet the new
 *  files). The node does this by itself within about 2 s of a change of
 *  the files; call this after writing new files to know at once whether
 *  they are good. They are checked as by graft_node_new: the key matches the
 *  certificate, which names this node, is valid now (not expired), fits
 *  client and server authentication, is bound to no other cluster, and
 *  chains to a CA of the CA file. If they fail, the node keeps the files it
 *  uses and nothing changes. Reloading unchanged files is harmless.
 *  On failure, if errbuf is not NULL, a message naming the file at fault
 *  is written into it, truncated to errlen - 1 bytes and NUL-terminated
 *  ("" on success). Reads three small files: any thread or callback.
 *  Returns 0; GRAFT_ETLS (a file is missing, unreadable or unsuitable);
 *  GRAFT_EINVAL (n NULL, not a node); GRAFT_ECLOSED; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_node_reload_tls(graft_node *n, char *errbuf, size_t errlen);

/** graft_node_wait_lease - block until this node holds the lease, then
 *  store the term (the fencing token) in *term and the lease's
 *  CLOCK_MONOTONIC deadline in nanoseconds in *deadline_ns, as
 *  graft_node_lease does, and return 1: at once if it holds the lease now,
 *  else when it starts to (the instant of the lease callback's held 1).
 *  timeout_ms bounds the wait: -1 waits without
 *  limit, 0 only looks. graft_node_close from another thread wakes every
 *  waiter, which returns GRAFT_ECLOSED. The lease may end right after the
 *  return: check the deadline (or graft_node_lease) before each piece of
 *  leader work.
 *  Any thread. From a callback it works, but the node's later callbacks
 *  wait as long as it does.
 *  Returns 1 (leads); 0 (timeout_ms passed; *term and *deadline_ns are set
 *  to 0); GRAFT_EINVAL (n, term or deadline_ns NULL, not a node, timeout_ms
 *  below -1); GRAFT_ECLOSED (n is or gets closed); GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_node_wait_lease(graft_node *n, int timeout_ms, uint64_t *term,
                                    uint64_t *deadline_ns);

/** graft_node_stats - fill *out with the node's counters. Set out->size to
 *  sizeof(graft_stats) first: the library fills at most that many bytes
 *  (fields it does not know stay untouched) and stores the number of bytes
 *  it filled in out->size, so programs built against a newer or older header
 *  work. Never blocks. Any thread or callback.
 *  Returns 0; GRAFT_EINVAL (n or out NULL, not a node, out->size smaller
 *  than the size field); GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_node_stats(graft_node *n, graft_stats *out);

/* ------------------------------------------------------------------------ */
/* Events for event loops                                                   */
/* ------------------------------------------------------------------------ */

/** graft_node_event_fd - a descriptor for epoll, poll, libuv, asyncio or
 *  tokio that is readable while events of n are queued; graft_node_next_event
 *  pops them. The events are those of the callbacks (state change, leader
 *  change, lease acquired and lost), in the same order, each queued just
 *  before its callback is called: a host may use either or both.
 *  The descriptor (an eventfd, O_NONBLOCK and close-on-exec) is created by
 *  the first call; later calls return the same one. Events are queued only
 *  from that first call on (a host that never calls it pays nothing): read
 *  the current state with the query functions after it. Do not read, write
 *  or close the descriptor: only wait for it to become readable.
 *  The queue is bounded (1024 events): when it is full the oldest events
 *  give way to one GRAFT_EVENT_OVERFLOW at its head; after it, read the state
 *  with the query functions.
 *  Ownership: the node's. graft_node_close closes it and discards the events
 *  still queued: remove it from your event loop before (its number may be
 *  reused at once). Any thread or callback.
 *  Returns the descriptor (>= 0); GRAFT_EINVAL (n NULL, not a node);
 *  GRAFT_ECLOSED; GRAFT_EFORK; GRAFT_EINTERNAL (the system gave no
 *  descriptor, for example EMFILE: the error callback says why). Since 0.1. */
GRAFT_API int graft_node_event_fd(graft_node *n);

/** graft_node_next_event - pop the oldest queued event of n into *ev. Set
 *  ev->size to sizeof(graft_event) first: the library fills at most that
 *  many bytes (fields it does not know stay untouched) and stores the number
 *  of bytes it filled in ev->size. Never blocks: wait for the descriptor of
 *  graft_node_event_fd to be readable, then call it until it returns 0 (the
 *  descriptor stays readable until a call has returned 0, so level- and
 *  edge-triggered loops both work; the call that returns 0 is the one that
 *  makes it unreadable, which keeps the calls that return an event free of
 *  system calls, and it runs without entering the Go runtime).
 *  Before graft_node_event_fd was first
 *  called nothing is queued and it returns 0. Any thread or callback; from
 *  several threads at once each event goes to exactly one caller.
 *  Returns 1 (*ev filled); 0 (no event queued; *ev untouched); GRAFT_EINVAL
 *  (n or ev NULL, not a node, ev->size smaller than the first graft_event);
 *  GRAFT_ECLOSED; GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_node_next_event(graft_node *n, graft_event *ev);

/* ------------------------------------------------------------------------ */
/* Certificates, errors, version                                            */
/* ------------------------------------------------------------------------ */

/** graft_generate_certs - write a development CA and one certificate per
 *  node into dir (created if missing): ca.pem, ca-key.pem, and for each id
 *  <id>.pem and <id>-key.pem (keys mode 0600). If dir already holds ca.pem
 *  and ca-key.pem that CA is reused (so nodes can be added later); node
 *  files are replaced.
 *  For tests and demos; production certificates come from your own CA (any
 *  CA works: each node's certificate must name its id as a DNS SAN).
 *  node_ids is an array of n strings. Any thread. An id may have at most
 *  247 characters here (not 253): <id>-key.pem must fit a 255-byte file
 *  name; a longer id is refused before any file is written.
 *  Returns 0; GRAFT_EINVAL (dir or node_ids NULL, n 0, a NULL, bad or
 *  repeated id, an id longer than 247 characters);
 *  GRAFT_ESTORAGE (a file cannot be written); GRAFT_EFORK. Since 0.1. */
GRAFT_API int graft_generate_certs(const char *dir, const char *const *node_ids, size_t n);

/** graft_generate_cluster_certs - graft_generate_certs, with each node
 *  certificate also bound to cluster: it names graft://CLUSTER/ID as a URI
 *  subject alternative name, and nodes of a cluster of another name refuse
 *  it at the handshake, even when the clusters share the CA (a stale node or
 *  another cluster can then not take a node's place). Certificates without
 *  the binding (graft_generate_certs, other CAs) are accepted by every
 *  cluster. cluster is the name given to graft_config_new, of the
 *  characters A-Z a-z 0-9 . _ - (at most 253). Any thread.
 *  Returns 0; GRAFT_EINVAL (as graft_generate_certs, and cluster NULL,
 *  empty or with another character); GRAFT_ESTORAGE; GRAFT_EFORK.
 *  Since 0.1. */
GRAFT_API int graft_generate_cluster_certs(const char *dir, const char *cluster,
                                           const char *const *node_ids, size_t n);

/** graft_strerror - a static English description of a return code ("node
 *  is closed"); "unknown error" for codes it does not know. Never NULL,
 *  never freed. Any thread. Since 0.1. */
GRAFT_API const char *graft_strerror(int code);

/** graft_version - the library's version, "MAJOR.MINOR.PATCH" (static,
 *  never freed). Compare with GRAFT_VERSION_* to detect a header/library
 *  mismatch. Any thread. Since 0.1. */
GRAFT_API const char *graft_version(void);

/** graft_version_number - the library's version as one integer, MAJOR *
 *  1000000 + MINOR * 1000 + PATCH (as sqlite3_libversion_number), to compare
 *  at run time with GRAFT_VERSION_NUMBER, the header's: a program built
 *  against a newer header than the library it loaded can refuse to start,
 *  or avoid the functions the library lacks ("Since" in each function's
 *  comment). The shared library's symbols carry the version node of the
 *  release that added them (GRAFT_0.1 for every function of 0.1), so a
 *  binary linked against a later libgraft fails at load time, naming the
 *  node, rather than at the first call. Any thread. Since 0.1. */
GRAFT_API int graft_version_number(void);

#endif /* GRAFT_TYPES_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* GRAFT_H */
