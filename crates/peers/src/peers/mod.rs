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
    iceoryx::COPIED,
];

/// The id of the spinning shared-memory pipe, pipework's fastest mechanism by design.
pub const SHM_SPIN_ID: &str = pipework::SHM_SPIN.id;

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
    match (id, workload) {
        ("std-pipe" | "os-pipe", _) => {
            "It is the same kernel pipe as `pipework::pipe`, driven by the same `read(2)` and \
             `write(2)` calls: the gap between them is this machine's noise, not a cost of \
             either."
        }
        ("iceoryx2", Workload::Throughput) => {
            "Its subscriber reads every sample in place in shared memory, so each byte is copied \
             once (into the loaned sample); the shared-memory pipe copies it twice (into the ring \
             by `write`, out of it by `read`) because its contract is `Read`/`Write` on the \
             caller's buffers. Both iceoryx2 sides also poll without ever sleeping. What would fix \
             it: a zero-copy interface on the shared-memory pipe, a `BufRead`-style \
             `fill_buf`/`consume` on `ShmReader` lending slices of the ring (and a reserve/commit \
             on `ShmWriter` for data produced in place), which takes it to one copy or none."
        }
        ("iceoryx2-copy", Workload::Throughput) => {
            "Even with each sample copied out, as `read` does, both iceoryx2 sides poll for ever \
             and never sleep, and each 64 KiB sample is handed over whole with one index update, \
             where the shared-memory pipe's writer and reader meet in a ring and may sleep on a \
             futex when one gets ahead (on this shared 2-core machine, a sleeping side pays a \
             cross-CPU wake-up). What would fix it: spinning that adapts to whether the peer is \
             running (below), and the zero-copy `BufRead`-style read path."
        }
        ("iceoryx2" | "iceoryx2-copy", Workload::RoundTrip) => {
            "Both iceoryx2 sides poll for ever: each holds a whole core while it waits, so the \
             reply is seen as soon as it lands. The shared-memory pipe spins at most 50 µs (less \
             after spins that failed) and then sleeps on a futex; on this 2-core virtual machine \
             shared with other work, a waiter that went to sleep pays a cross-CPU wake-up of \
             several µs, and the pipe's adaptive budget is a ratchet: waits that outlast it halve \
             it down to 1 µs, only waits won while spinning double it, so once both sides sleep \
             on every wait it never grows back. What would fix it: a budget that recovers, or a \
             longer one chosen by the caller (`ShmPipeOptions::spin`) when a core can be spared; polling \
             for ever, as measured here for iceoryx2, is the price of its figure."
        }
        (_, Workload::RoundTrip) => {
            "This peer sleeps in the kernel on every wait, as the kernel pipe does: being ahead of \
             pipework's best means every figure of this run was bound by cross-CPU wake-ups, and \
             the order among them is noise of this shared machine. What would fix it: a \
             shared-memory pipe whose spinning survives a loaded machine (below)."
        }
        (_, Workload::Throughput) => {
            "Every byte crosses this peer through the kernel (a copy into a kernel buffer and one \
             out) or through a single shared slot, which cannot beat a ring in shared memory \
             unless the pipe's waits failed: on this shared machine, that points to samples \
             disturbed by other work. What would fix it: more runs (`--runs`) on a quieter \
             machine, and a zero-copy read path on the shared-memory pipe."
        }
    }
}

/// Why the spinning shared-memory pipe was not pipework's best figure in `workload`.
pub fn why_spin_lost(workload: Workload) -> &'static str {
    match workload {
        Workload::RoundTrip => {
            "The spinning shared-memory pipe was not pipework's best round trip in this run \
             (a range from a fraction of a µs to several µs shows connections that kept spinning \
             and connections that stopped). Its \
             adaptive spin is a ratchet: every wait that outlasts the budget halves it, down to \
             1 µs, and only a wait that succeeds while spinning doubles it back. When a few \
             waits fail (the peer was preempted by other work on this 2-core machine), both \
             sides end up at 1 µs, both sleep on every wait, each reply then needs a futex \
             wake-up that takes longer than 1 µs, so no spin ever succeeds again and the budget \
             never grows back: the pipe runs as in blocking mode plus the wasted spin for the \
             rest of the connection. What would fix it: let the budget grow back when a sleep \
             ended soon (a wake-up within the maximum budget means a longer spin would have \
             caught it), or reset it periodically; and spin only while the peer is known to be \
             on a CPU (a running/sleeping flag each side publishes in the ring header)."
        }
        Workload::Throughput => {
            "The spinning shared-memory pipe was not pipework's best throughput in this run: \
             its writer and reader spin while the other catches up, which on this 2-core machine \
             shared with other work steals the CPU the other side needs. What would fix it: \
             spinning only while the peer is known to be on a CPU."
        }
    }
}
