//! Mailslots: one-way message drops (Win32 `CreateMailslot`, `GetMailslotInfo`,
//! `SetMailslotInfo`, and a client's `CreateFile` + `WriteFile`).
//!
//! A *mailslot server* creates a slot by name and reads messages from it; any number of *clients*
//! in any processes open the slot by name and drop messages into it. Every message is kept, whole
//! and in order, until the server reads it; no writer waits for the server to read (at most a
//! 50 µs retry when the slot's socket is momentarily full, then the spool takes the message).
//!
//! ```
//! use std::time::Duration;
//! use pipework::mailslot::{MailslotClient, MailslotOptions, MessageRead};
//!
//! # let name = format!(r"\\.\mailslot\doc\{}", std::process::id());
//! // The server: any message size, reads wait up to one second.
//! let mut slot = MailslotOptions::new()
//!     .read_timeout(Some(Duration::from_secs(1)))
//!     .create(&name)?;
//!
//! // A client, normally in another process.
//! let client = MailslotClient::open(&name)?;
//! client.write_message(b"first")?;
//! client.write_message(b"")?; // a 0-byte message is a message
//!
//! let info = slot.info()?;
//! assert_eq!((info.message_count, info.next_message_size), (2, Some(5)));
//! let mut buf = [0u8; 16];
//! assert_eq!(slot.read_message(&mut buf)?, MessageRead::Complete(5));
//! assert_eq!(&buf[..5], b"first");
//! assert_eq!(slot.read_message(&mut buf)?, MessageRead::Complete(0));
//! // Empty and the timeout expires: TimedOut.
//! slot.set_read_timeout(Some(Duration::ZERO));
//! assert_eq!(slot.read_message(&mut buf).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateMailslot(name, maxSize, readTimeout, sa)` | [`MailslotOptions::create`] |
//! | `ReadFile(slot, ...)` | [`Mailslot::read`] (whole message or `ERROR_INSUFFICIENT_BUFFER`) |
//! | a message read as on a named pipe (`ERROR_MORE_DATA`) | [`Mailslot::read_message`] → [`MessageRead`], [`Mailslot::read_message_to_end`] |
//! | `GetMailslotInfo` | [`Mailslot::info`] → [`MailslotInfo`] |
//! | `SetMailslotInfo(slot, readTimeout)` | [`Mailslot::set_read_timeout`] |
//! | `MAILSLOT_WAIT_FOREVER` | `None` as the read timeout |
//! | `MAILSLOT_NO_MESSAGE` | `next_message_size: None` |
//! | `CreateFile(\\.\mailslot\x, GENERIC_WRITE, FILE_SHARE_READ, ...)` | [`MailslotClient::open`] |
//! | `CreateFile(\\host\mailslot\x)`, `\\*\...`, `\\domain\...` | [`MailslotClient::open_with`] + [`NetworkConfig`] (an interface chosen) |
//! | a server reachable from other computers | [`Mailslot::serve_network`] (opt-in, on one interface) |
//! | the computer name, the primary domain | [`NetworkConfig::netbios_name`], [`NetworkConfig::workgroup`] |
//! | `ReadFile` with `FILE_FLAG_OVERLAPPED` | `AsyncMailslot` (feature `tokio`): `Mailslot::into_async` |
//! | `WriteFile(client, ...)` | [`MailslotClient::write_message`], or [`Write`](std::io::Write) |
//! | `CloseHandle` | `drop` |
//! | `ERROR_ALREADY_EXISTS` / `ERROR_FILE_NOT_FOUND` | [`ErrorKind::AlreadyExists`](std::io::ErrorKind::AlreadyExists) / [`ErrorKind::NotFound`](std::io::ErrorKind::NotFound) |
//! | `ERROR_SEM_TIMEOUT` | [`ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut) |
//! | `ERROR_INSUFFICIENT_BUFFER` | [`ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput), size from [`required_size`] |
//! | `ERROR_INVALID_NAME` | [`ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput) |
//!
//! ## Across machines
//!
//! Remote mailslots travel as Windows sends them: NetBIOS datagrams on UDP port 138 (RFC 1002)
//! carrying an SMB mailslot write ([MS-MAIL]), so Windows machines and Samba hear pipework and
//! pipework hears them. Nothing reaches the network unless asked, and only on the interface
//! [`NetworkConfig::interface`] names:
//!
//! ```no_run
//! use pipework::mailslot::{MailslotClient, MailslotOptions, NetworkConfig};
//!
//! let config = NetworkConfig {
//!     interface: Some("eth0".into()),
//!     workgroup: "SALES".into(),
//!     ..NetworkConfig::default()
//! };
//! // A server other computers reach as \\THISHOST\mailslot\jobs, \\SALES\mailslot\jobs or
//! // \\*\mailslot\jobs.
//! let mut slot = MailslotOptions::new().create(r"\\.\mailslot\jobs")?;
//! slot.serve_network(&config)?;
//! // A client of every `jobs` slot of the workgroup on eth0's subnet (a broadcast).
//! MailslotClient::open_with(r"\\*\mailslot\jobs", &config)?.write_message(b"anyone?")?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `\\host\mailslot\x` is a datagram to that host, found by a NetBIOS name query on the
//! interface's subnet (then the system resolver); `\\domain\...` and `\\*\...` are
//! broadcast to the domain's (the workgroup's) name. A datagram holds at most
//! [`MAX_DATAGRAM`] bytes and a message to a domain at most [`MAX_BROADCAST_MESSAGE`]: writes
//! above are refused with the size. One listener per machine and interface takes the
//! datagrams for every serving slot of its user; what it drops (malformed, truncated,
//! oversized, for another machine) it counts ([`Mailslot::network_stats`]). [`Wire::Pipework`]
//! keeps pipework's own datagram format for what NetBIOS cannot carry (up to 64 KB to one
//! host, multicast groups).
//!
//! Behaviour is listed on [`Mailslot`]; how a slot keeps every message without making a writer
//! wait (a socket for speed, a spool for the rest), what it believes of other processes, and
//! how the network side is built, is in `docs/design/mailslot.md`.

#[cfg(feature = "tokio")]
mod async_io;
mod client;
mod nbt;
mod net;
#[cfg(test)]
mod proptests;
mod pwms;
mod queue;
mod ring;
mod server;
mod spool;

#[cfg(feature = "tokio")]
pub use self::async_io::AsyncMailslot;
pub use self::client::MailslotClient;
pub use self::net::{
    NetworkConfig, NetworkStats, Wire, DATAGRAM_PORT, DEFAULT_GROUP, DEFAULT_WORKGROUP,
    FOLLOW_RETRY, MAX_BROADCAST_MESSAGE, MAX_DATAGRAM, NAME_SERVICE_PORT,
};
pub use self::server::{required_size, Mailslot, MailslotInfo, MailslotOptions};
/// What a message read got: the same type as named pipes' message reads.
pub use crate::named_pipe::MessageRead;

use std::io;

use self::spool::Spool;

/// The largest message any slot takes, whatever its maximum: lengths are 32-bit on the spool.
pub const MAX_MESSAGE_SIZE: usize = u32::MAX as usize;

/// A mailslot of this user, as [`list`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailslotEntry {
    /// Its name, `\\.\mailslot\...` as its server spelled it.
    pub name: String,
    /// Messages written and not yet read by the server.
    pub queued: u64,
}

/// This user's living mailslots with their queued message counts, by name.
pub fn list() -> io::Result<Vec<MailslotEntry>> {
    let dir = crate::name::place::mailslot_dir()?;
    spool::collect_stale(&dir, None);
    let mut entries = Vec::new();
    for path in spool::spool_files(&dir)? {
        let Ok(spool) = Spool::open(&path) else {
            continue;
        };
        if !spool.is_alive().unwrap_or(false) {
            continue;
        }
        let Ok(header) = spool.header() else { continue };
        entries.push(MailslotEntry {
            name: format!(r"\\.\mailslot\{}", header.name),
            // A server whose shared state this process cannot reach shows nothing queued.
            queued: spool.shared().map_or(0, |shared| shared.queued()),
        });
    }
    entries.sort_by_key(|e| e.name.to_lowercase());
    Ok(entries)
}
