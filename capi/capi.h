/* capi.h - what every cgo preamble of package capi includes: the public
 * types (not the prototypes: cgo declares the exports itself, with char *
 * where graft.h says const char *), and the handle conversions. */
#ifndef GRAFT_CAPI_H
#define GRAFT_CAPI_H

#define GRAFT_TYPES_ONLY
#include "graft.h"
#include <stdint.h>

/* Handles are integers from the handle table, never Go pointers (cgo rules)
 * and never dereferenced. Go converts a pointer to an integer freely; the
 * way back happens here so that no uintptr becomes an unsafe.Pointer in Go. */
static inline graft_config *graft__config_handle(uintptr_t id) { return (graft_config *)id; }
static inline graft_node *graft__node_handle(uintptr_t id) { return (graft_node *)id; }

/* Set in the child by a pthread_atfork handler (shims.c). */
extern volatile int graft__forked;

/* Implemented in C (shims.c); Go calls it for error messages. */
const char *graft_strerror(int code);

#endif
