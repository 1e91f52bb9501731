//! The implementations measured: pipework's own mechanisms and its peers, each a small module
//! with a parent side (creates the connection, starts the child) and a child side.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, Command};

use pipework_cli::workload::{Link, Session, Workload};

mod iceoryx;
mod interprocess;
mod ipc_channel;
mod named_pipe;
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
    pipework::SHM_IN_PLACE,
    named_pipe::IMPLEMENTATION,
    named_pipe::SOCKET,
    std_pipe::IMPLEMENTATION,
    os_pipe::IMPLEMENTATION,
    interprocess::IMPLEMENTATION,
    ipc_channel::IMPLEMENTATION,
    shmem::IMPLEMENTATION,
    iceoryx::IMPLEMENTATION,
    iceoryx::COPIED,
];

/// The ids of the spinning shared-memory pipe, copying and in place: pipework's fastest
/// mechanism by design.
pub const SHM_SPIN_IDS: &[&str] = &[pipework::SHM_SPIN.id, pipework::SHM_IN_PLACE.id];

/// The implementation whose child role is `id`.
pub fn find(id: &str) -> io::Result<&'static Implementation> {
    ALL.iter().find(|i| i.id == id).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no implementation {id:?}"),
        )
    })
}

/// Starts this binary again as the child `__child IMPLEMENTATION ROLE ARGS... HANDLES...` running
/// `workload`, handing it `handles`.
pub fn spawn_child(
    implementation: &str,
    workload: Workload,
    args: &[String],
    handles: Vec<OwnedFd>,
) -> io::Result<Child> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("__child")
        .arg(implementation)
        .arg(workload.role())
        .args(args);
    pipework_cli::workload::spawn(command, handles)
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
            "Its subscriber looks at each sample where it lies in shared memory and both of its \
             sides poll without ever sleeping; the in-place shared-memory pipe row does the same \
             single copy (into the ring) and no copy out. Ahead of that row means the pipe's \
             sides slept where iceoryx2's kept polling (one side got ahead and the other paid a \
             cross-CPU wake-up on this shared machine), or its pool of 8 samples stayed in cache \
             where a 1 MiB ring did not. What would fix it: a ring sized to the cache \
             (`ShmPipeOptions::capacity`) and a longer spin (`ShmPipeOptions::spin`) when a \
             core can be spared."
        }
        ("iceoryx2-copy", Workload::Throughput) => {
            "Copied out, each sample costs what a `read` costs, but both iceoryx2 sides poll for \
             ever and each 64 KiB sample is handed over whole with one index update, where the \
             shared-memory pipe's writer and reader meet in a ring and sleep on a futex when one \
             gets too far ahead (on this shared 2-core machine, a sleeping side pays a cross-CPU \
             wake-up). What would fix it: a longer spin chosen by the caller \
             (`ShmPipeOptions::spin`) when a core can be spared, or the in-place read path."
        }
        ("iceoryx2" | "iceoryx2-copy", Workload::RoundTrip) => {
            "Both iceoryx2 sides poll for ever: each holds a whole core while it waits, so the \
             reply is seen as soon as it lands. The shared-memory pipe spins at most 50 µs and \
             less after spins that failed (a quarter each time), then sleeps on a futex; on \
             this 2-core virtual machine shared with other work, a waiter that went to sleep \
             pays a cross-CPU wake-up of tens of µs. What would fix it: a longer spin chosen by \
             the caller (`ShmPipeOptions::spin`) when a core can be spared; polling for ever, as \
             measured here for iceoryx2, is the price of its figure."
        }
        (_, Workload::RoundTrip) => {
            "This peer sleeps in the kernel on every wait, as the kernel pipe does: being ahead of \
             pipework's best means every figure of this run was bound by cross-CPU wake-ups (the \
             shared-memory pipe's spins kept failing because other work held the CPUs), and the \
             order among them is noise of this shared machine. What would fix it: more runs \
             (`--runs`) on a quieter machine."
        }
        (_, Workload::Throughput) => {
            "Every byte crosses this peer through the kernel (a copy into a kernel buffer and one \
             out) or through a single shared slot, which cannot beat a ring in shared memory \
             unless the pipe's waits failed: on this shared machine, that points to samples \
             disturbed by other work. What would fix it: more runs (`--runs`) on a quieter \
             machine."
        }
    }
}

/// Why the spinning shared-memory pipe was not pipework's best figure in `workload`.
pub fn why_spin_lost(workload: Workload) -> &'static str {
    match workload {
        Workload::RoundTrip => {
            "The spinning shared-memory pipe was not pipework's best round trip in this run \
             (a range from a fraction of a µs to tens of µs shows connections that kept \
             spinning and connections that slept). Its adaptive spin gives up when spinning \
             fails: a spin that outlasts the budget quarters it, down to none, and a sleep that \
             ends within the full budget restores it. When other work on this 2-core machine \
             holds the CPU the peer needs, spins fail, both sides sleep on every wait, and each \
             reply pays a cross-CPU wake-up, as with no spin at all. What would fix it: a quieter \
             machine, or a spin the caller sets longer (`ShmPipeOptions::spin`)."
        }
        Workload::Throughput => {
            "The spinning shared-memory pipe was not pipework's best throughput in this run: \
             its writer and reader spin while the other catches up, which on this 2-core machine \
             shared with other work can take the CPU the other side needs. What would fix it: \
             no spin (`ShmPipeOptions::spin(Duration::ZERO)`) on a machine without a core \
             to spare."
        }
    }
}
