//! Issue 19: two callbacks that close each other's node deadlocked forever
//! (each close waited for the other node's callback). A close from a
//! callback of another node no longer waits for the closed node's
//! callbacks, so both return.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use graft::{Node, State};

const T: Duration = Duration::from_secs(20);

type Slot = Arc<Mutex<Option<Node>>>;

#[test]
fn callbacks_closing_each_others_node_both_return() {
    let (ca, cb) = (Cluster::new("mutual-a", 1), Cluster::new("mutual-b", 1));
    let (slot_a, slot_b): (Slot, Slot) = (Arc::default(), Arc::default());
    let inside = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<String>();
    let closer = |me: &'static str, other: Slot| {
        let (inside, tx) = (inside.clone(), Mutex::new(tx.clone()));
        let fired = Mutex::new(false);
        move |_: State, to: State, _: u64| {
            let tx = tx.lock().unwrap().clone();
            if to == State::Closed {
                let _ = tx.send(format!("{me} closed"));
                return;
            }
            if to != State::Leader || std::mem::replace(&mut *fired.lock().unwrap(), true) {
                return;
            }
            inside.fetch_add(1, Ordering::SeqCst);
            let start = Instant::now();
            // Both callbacks run now, each holding the other's node.
            let node = loop {
                if inside.load(Ordering::SeqCst) >= 2 || start.elapsed() > T {
                    if let Some(n) = other.lock().unwrap().take() {
                        break n;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let _ = tx.send(format!("{me}: close {:?}", node.close().map_err(|e| e.kind())));
        }
    };
    let a = ca.builder(0).on_state_change(closer("a", slot_b.clone())).start().unwrap();
    let b = cb.builder(0).on_state_change(closer("b", slot_a.clone())).start().unwrap();
    *slot_a.lock().unwrap() = Some(a);
    *slot_b.lock().unwrap() = Some(b);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match rx.recv_timeout(T) {
            Ok(s) => seen.push(s),
            Err(_) => {
                // The callbacks wait for each other: dropping the nodes
                // would hang too. Fail now.
                eprintln!("the two closes wait for each other; seen {seen:?}");
                std::process::exit(1);
            }
        }
    }
    seen.sort();
    assert_eq!(seen, ["a closed", "a: close Ok(())", "b closed", "b: close Ok(())"]);
    println!("checked: two callbacks closing each other's node both returned, both nodes closed");
}
