//! The implementations measured: pipework's own mechanisms and its peers, each a small module
//! with a parent side (creates the connection, starts the child) and a child side.

use std::io;

use crate::workload::{Link, Session, Workload};

mod iceoryx;
mod interprocess;
mod ipc_channel;
mod os_pipe;
mod pipework;
mod shmem;
mod std_pipe;

/// One implementation in the table.
pub struct Implementation {
    /// Command-line identifier of the child role.
    pub id: &'static str,
    /// Name in the table.
    pub label: &'static str,
    /// Whether this is one of pipework's mechanisms.
    pub pipework: bool,
    /// How the implementation is used, for the report.
    pub how: &'static str,
    /// Creates the connection and starts a child running `workload` at the other end.
    pub start: fn(&Implementation, Workload) -> io::Result<Session>,
    /// The child's side of the connection, from its arguments after the role.
    pub child: fn(&[String]) -> io::Result<Box<dyn Link>>,
}

/// Every implementation, pipework's first.
pub const ALL: &[Implementation] = &[
    pipework::PIPE,
    pipework::SHM_SPIN,
    pipework::SHM_BLOCK,
    std_pipe::IMPLEMENTATION,
    os_pipe::IMPLEMENTATION,
    interprocess::IMPLEMENTATION,
    ipc_channel::IMPLEMENTATION,
    shmem::IMPLEMENTATION,
    iceoryx::IMPLEMENTATION,
];

/// The implementation whose child role is `id`.
pub fn find(id: &str) -> io::Result<&'static Implementation> {
    ALL.iter().find(|i| i.id == id).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no implementation {id:?}"),
        )
    })
}

/// A unique name for a rendezvous between this process and one child.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The error for a child started without a needed argument.
pub fn missing(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("missing {what}"))
}

/// Turns a peer crate's error into an `io::Error` saying what failed.
pub fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// Why the peer `id` is ahead of every pipework mechanism in `workload`, and what would fix it.
pub fn why_ahead(id: &str, workload: Workload) -> &'static str {
    let _ = (id, workload);
    "No explanation has been written for this result yet."
}
