//! [`Event`]: what the node's event descriptor reports, and [`Events`], the
//! blocking iterator over them.

use std::ffi::CStr;

use crate::{ffi, Error, Lease, Node, Result, State};

/// One event of a node, from [`Node::next_event`] or [`Node::events`]: the
/// same events as the callbacks, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// The state changed, at `term` (the term at which `to` began).
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// The term at which `to` began.
        term: u64,
    },
    /// The known leader changed; `None` when no leader is known.
    LeaderChanged {
        /// The leader's id.
        leader: Option<String>,
        /// The term.
        term: u64,
    },
    /// This node now holds the lease: act as the leader, carrying
    /// `lease.term` (the fencing token), until the deadline (renewals are
    /// silent: [`Node::lease`] gives the newest).
    LeaseAcquired(Lease),
    /// This node no longer holds the lease it acquired (the deadline passed
    /// without renewal, a step-down, a higher term, close): stop acting as
    /// the leader. The lease is the one that ended.
    LeaseLost(Lease),
    /// The bounded queue dropped older events (they were not read for a
    /// long time): read the state with the queries. `term` is that of the
    /// newest event dropped. Also what a kind unknown to this binding (a
    /// newer library) reads as.
    Overflow {
        /// The term of the newest event dropped.
        term: u64,
    },
}

impl Event {
    pub(crate) fn from_raw(e: &ffi::graft_event) -> Event {
        let lease = Lease { term: e.term, deadline_ns: e.deadline_ns };
        match e.kind {
            ffi::GRAFT_EVENT_STATE => {
                Event::StateChanged { from: State::from_raw(e.from_), to: State::from_raw(e.to), term: e.term }
            }
            ffi::GRAFT_EVENT_LEADER => {
                // SAFETY: `leader` is an initialized [c_char; N]; c_char and u8
                // have the same size and alignment. A missing NUL reads as "".
                let bytes: &[u8] =
                    unsafe { std::slice::from_raw_parts(e.leader.as_ptr().cast::<u8>(), e.leader.len()) };
                let id =
                    CStr::from_bytes_until_nul(bytes).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
                Event::LeaderChanged { leader: (!id.is_empty()).then_some(id), term: e.term }
            }
            ffi::GRAFT_EVENT_LEASE_ACQUIRED => Event::LeaseAcquired(lease),
            ffi::GRAFT_EVENT_LEASE_LOST => Event::LeaseLost(lease),
            _ => Event::Overflow { term: e.term },
        }
    }

    /// The term of the event.
    pub fn term(&self) -> u64 {
        match self {
            Event::StateChanged { term, .. } | Event::LeaderChanged { term, .. } | Event::Overflow { term } => *term,
            Event::LeaseAcquired(l) | Event::LeaseLost(l) => l.term,
        }
    }
}

/// An [`Event`] with the instant the node's core emitted it, from
/// [`Node::next_stamped_event`]. A separate type rather than a field of each
/// [`Event`] variant or of [`Lease`]: matches that name every field of a
/// variant, and `Lease { term, deadline_ns }` literals, keep compiling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StampedEvent {
    /// The event.
    pub event: Event,
    /// The `CLOCK_MONOTONIC` instant, in nanoseconds, at which the node's
    /// core emitted the event: the step or timer of the election that
    /// produced it (for the events of closing, the close). On the clock
    /// of [`Lease::deadline_ns`] and [`monotonic_ns`](crate::monotonic_ns):
    /// the instant it was read less `at_ns` is how late the program learnt
    /// of it. 0 for [`Event::Overflow`].
    pub at_ns: u64,
}

impl StampedEvent {
    pub(crate) fn from_raw(e: &ffi::graft_event) -> StampedEvent {
        StampedEvent { event: Event::from_raw(e), at_ns: e.at_ns }
    }
}

/// The blocking iterator of [`Node::events`]: each `next` waits (with
/// poll(2) on the node's descriptor) for the next event. It yields an error
/// once, then ends, if the descriptor cannot be made or read (a forked
/// child, no descriptor left).
#[derive(Debug)]
pub struct Events<'a> {
    pub(crate) node: &'a Node,
    pub(crate) failed: bool,
}

impl Iterator for Events<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.failed {
            return None;
        }
        let r = self.wait();
        self.failed = r.is_err();
        Some(r)
    }
}

impl Events<'_> {
    fn wait(&self) -> Result<Event> {
        let fd = self.node.event_fd()?;
        loop {
            if let Some(ev) = self.node.next_event()? {
                return Ok(ev);
            }
            let mut p = ffi::pollfd { fd, events: ffi::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd; the descriptor belongs to the node,
            // which outlives this borrow.
            if unsafe { ffi::poll(&mut p, 1, -1) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::new(ffi::GRAFT_EINTERNAL, format!("graft: poll on the event descriptor: {e}")));
                }
            }
        }
    }
}
