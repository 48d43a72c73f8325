//! quickstart.rs - one node of a 3-node cluster; prints its fencing token while it leads.
//! Run: make certs; then in bindings/rust, for n1, n2 and n3 (from the repository root's certs):
//!   cargo run --offline --example quickstart -- n1 &   (likewise n2, n3)
use graft::Event;

fn main() -> Result<(), graft::Error> {
    let addrs = [("n1", "127.0.0.1:7301"), ("n2", "127.0.0.1:7302"), ("n3", "127.0.0.1:7303")];
    let me = std::env::args().nth(1).unwrap_or_else(|| "n1".into());
    let listen = addrs.iter().find(|(id, _)| *id == me).expect("n1, n2 or n3").1;
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../build/certs");
    let mut builder = graft::Node::builder("quickstart", me.as_str(), listen)
        .state_path(format!("/tmp/quickstart-rs-{me}.state"))
        .tls(format!("{certs}/{me}.pem"), format!("{certs}/{me}-key.pem"), format!("{certs}/ca.pem"));
    for (id, addr) in addrs.iter().filter(|(id, _)| *id != me) {
        builder = builder.peer(*id, *addr);
    }
    let node = builder.start()?;
    for event in node.events() {
        match event? {
            // act only between acquired and lost
            Event::LeaseAcquired(lease) => println!("{me} leads: fencing token {}", lease.term),
            Event::LeaseLost(lease) => println!("{me} lost the lease of term {}", lease.term),
            _ => {}
        }
    }
    Ok(())
}
