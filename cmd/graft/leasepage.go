package main

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// leasePage is one page of memory shared by graft (writer) and its
// watchdog (reader) that holds the current lease: word 0 the term, word 1
// the deadline (CLOCK_MONOTONIC ns). graft stores each renewal there, a
// plain memory write; the watchdog reads it when its timer fires a third of
// the lease before the deadline it knows, and sleeps again if the lease
// moved on. Renewals over the pipe woke the watchdog at every heartbeat:
// 20 wake-ups a second, 0.5% of a core for the leader's watchdog; now it
// wakes about every two thirds of a lease.
//
// The writer changes the term as a seqlock would: term 0, then the
// deadline, then the new term; a reader that sees the same term before and
// after the deadline has a deadline of that term.
type leasePage struct {
	mem  []byte
	fd   int
	term uint64 // writer: the term last stored
}

// newLeasePage creates the page (memfd) for graft; fd goes to the watchdog.
func newLeasePage() (*leasePage, error) {
	fd, err := unix.MemfdCreate("graft-lease", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("graft: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, 4096); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("graft: ftruncate: %w", err)
	}
	return mapLeasePage(fd, unix.PROT_READ|unix.PROT_WRITE)
}

// mapLeasePage maps the page of descriptor fd.
func mapLeasePage(fd, prot int) (*leasePage, error) {
	mem, err := unix.Mmap(fd, 0, 4096, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("graft: mmap of the lease page: %w", err)
	}
	return &leasePage{mem: mem, fd: fd}, nil
}

func (p *leasePage) word(i int) *uint64 { return (*uint64)(unsafe.Pointer(&p.mem[8*i])) }

// store publishes the lease (graft).
func (p *leasePage) store(term uint64, deadline int64) {
	if term != p.term {
		atomic.StoreUint64(p.word(0), 0)
		atomic.StoreUint64(p.word(1), uint64(deadline))
		atomic.StoreUint64(p.word(0), term)
		p.term = term
		return
	}
	atomic.StoreUint64(p.word(1), uint64(deadline))
}

// load returns the deadline stored for term, if the page holds that term
// (watchdog).
func (p *leasePage) load(term uint64) (int64, bool) {
	t1 := atomic.LoadUint64(p.word(0))
	d := atomic.LoadUint64(p.word(1))
	t2 := atomic.LoadUint64(p.word(0))
	return int64(d), t1 == term && t2 == term
}
