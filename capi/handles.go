package main

import (
	"sync"
	"sync/atomic"
)

// handleTable maps the integers C holds as graft_config * and graft_node *
// to their Go objects. Ids come from a counter that only grows, so an id is
// never reused: a handle that was freed or closed is told apart from one
// that never existed, and neither can reach another object. Lookups are
// lock-free (an immutable map behind an atomic pointer, replaced on every
// add or remove), which keeps the query functions near the cgo floor.
type handleTable struct {
	mu   sync.Mutex // serialises writers
	next atomic.Uintptr
	m    atomic.Pointer[map[uintptr]any]
}

var handles = newHandleTable()

func newHandleTable() *handleTable {
	t := &handleTable{}
	t.next.Store(1) // 0 is NULL
	t.m.Store(&map[uintptr]any{})
	return t
}

// add stores v and returns its new id.
func (t *handleTable) add(v any) uintptr {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.next.Add(1) - 1
	old := *t.m.Load()
	m := make(map[uintptr]any, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[id] = v
	t.m.Store(&m)
	return id
}

// remove deletes id and reports whether it was there.
func (t *handleTable) remove(id uintptr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if _, ok := old[id]; !ok {
		return false
	}
	m := make(map[uintptr]any, len(old))
	for k, x := range old {
		if k != id {
			m[k] = x
		}
	}
	t.m.Store(&m)
	return true
}

// get returns the object of id, or the code for its absence:
// GRAFT_ECLOSED for an id that existed once, GRAFT_EINVAL for NULL and
// for ids never handed out.
func (t *handleTable) get(id uintptr) (any, int) {
	if v, ok := (*t.m.Load())[id]; ok {
		return v, codeOK
	}
	if id != 0 && id < t.next.Load() {
		return nil, codeClosed
	}
	return nil, codeInval
}

// each calls f for every live object (a snapshot).
func (t *handleTable) each(f func(any)) {
	for _, v := range *t.m.Load() {
		f(v)
	}
}

// lookup returns the object of id if it has type T. An object of another
// type (a config passed as a node) is GRAFT_EINVAL.
func lookup[T any](id uintptr) (T, int) {
	var zero T
	v, code := handles.get(id)
	if code != codeOK {
		return zero, code
	}
	x, ok := v.(T)
	if !ok {
		return zero, codeInval
	}
	return x, codeOK
}
