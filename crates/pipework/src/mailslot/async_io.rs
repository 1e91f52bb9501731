//! The tokio front-end of a mailslot server: the same slot, its reads awaited instead of
//! blocking a thread (Win32: `ReadFile` on a mailslot opened with `FILE_FLAG_OVERLAPPED`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use pipework::mailslot::{MailslotClient, MailslotOptions};
//!
//! # let name = format!(r"\\.\mailslot\doc-async\{}", std::process::id());
//! let mut slot = MailslotOptions::new().create(&name)?.into_async()?;
//! MailslotClient::open(&name)?.write_message(b"later")?;
//! let mut message = Vec::new();
//! slot.read_message_to_end(&mut message).await?;
//! assert_eq!(message, b"later");
//! # Ok(())
//! # }
//! ```
//!
//! Everything but the waiting is the blocking server's own code: taking messages in, order,
//! checks, timeouts. Writers never wait, so
//! [`MailslotClient::write_message`](super::MailslotClient::write_message) needs no async twin.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::OwnedFd;
use std::task::Poll;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use super::server::Network;
use super::{Mailslot, MailslotInfo, MessageRead};

/// A mailslot server whose reads are awaited ([`Mailslot::into_async`]).
#[derive(Debug)]
pub struct AsyncMailslot {
    slot: Mailslot,
    socket: AsyncFd<OwnedFd>,
    network: Vec<AsyncFd<OwnedFd>>,
    /// The slot's network generation these sockets belong to.
    generation: u64,
}

/// The slot's network sockets, registered with the runtime.
fn register_network(slot: &Mailslot) -> io::Result<Vec<AsyncFd<OwnedFd>>> {
    match &slot.network {
        Some(Network::Listener(endpoint)) => endpoint
            .fds()
            .into_iter()
            .map(|fd| crate::sys::register_async(fd.try_clone_to_owned()?, Interest::READABLE))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

impl Mailslot {
    /// Registers the slot with the current tokio runtime for awaited reads. Call
    /// [`Mailslot::serve_network`] first if the slot takes messages from the network. Must be called
    /// within a tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncMailslot> {
        let socket = crate::sys::register_async(self.wakeup.try_clone()?, Interest::READABLE)?;
        let network = register_network(&self)?;
        Ok(AsyncMailslot {
            generation: self.network_generation,
            slot: self,
            socket,
            network,
        })
    }
}

impl AsyncMailslot {
    /// The slot's name.
    pub fn name(&self) -> &str {
        self.slot.name()
    }

    /// Waits for the next message and copies it into `buf`, as [`Mailslot::read`] does (same
    /// errors: a buffer too small keeps the message queued; the read timeout gives `TimedOut`).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait_for_message().await?;
        self.slot.read(buf)
    }

    /// Waits for the next message and reads (the rest of) it into `buf`, as
    /// [`Mailslot::read_message`] does (`MoreData` when it does not fit).
    pub async fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.wait_for_message().await?;
        self.slot.read_message(buf)
    }

    /// Waits for the next message and appends (the rest of) it to `out`, as
    /// [`Mailslot::read_message_to_end`] does.
    pub async fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        self.wait_for_message().await?;
        self.slot.read_message_to_end(out)
    }

    /// The slot's state, as [`Mailslot::info`].
    pub fn info(&mut self) -> io::Result<MailslotInfo> {
        self.slot.info()
    }

    /// Changes how long reads wait, as [`Mailslot::set_read_timeout`].
    pub fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.slot.set_read_timeout(timeout);
    }

    /// What the slot's network listener received and dropped, as [`Mailslot::network_stats`].
    pub fn network_stats(&self) -> Option<super::NetworkStats> {
        self.slot.network_stats()
    }

    /// Back to the blocking server.
    pub fn into_inner(self) -> Mailslot {
        self.slot
    }

    async fn wait_for_message(&mut self) -> io::Result<()> {
        // A timeout too long for a deadline (`Duration::MAX`) waits as forever does.
        match self
            .slot
            .read_timeout
            .and_then(crate::sys::time::deadline)
            .map(::tokio::time::Instant::from_std)
        {
            None => self.wait().await,
            Some(deadline) => match ::tokio::time::timeout_at(deadline, self.wait()).await {
                Ok(result) => result,
                Err(_) => {
                    // One last look: a message that came just at the deadline is not lost,
                    // and an empty slot gives the blocking read's TimedOut.
                    if self.slot.ready_or_idle()? {
                        Ok(())
                    } else {
                        Err(self.slot.timed_out())
                    }
                }
            },
        }
    }

    /// Until a message is queued: take in what is there, else sleep until a socket turns
    /// readable. Readiness is cleared before taking in, so a datagram that arrives after the
    /// take-in marks the socket ready again.
    async fn wait(&mut self) -> io::Result<()> {
        loop {
            if self.slot.ready_or_idle()? {
                return Ok(());
            }
            // A follower that took the listener over has sockets to wait on now.
            if self.generation != self.slot.network_generation {
                self.network = register_network(&self.slot)?;
                self.generation = self.slot.network_generation;
            }
            // A follower wakes to try taking the listener over.
            let mut follow = self.slot.follow_deadline().map(|at| {
                Box::pin(::tokio::time::sleep_until(
                    ::tokio::time::Instant::from_std(at),
                ))
            });
            let socket = &self.socket;
            let network = &self.network;
            poll_fn(|cx| {
                let mut woke = false;
                if let Poll::Ready(guard) = socket.poll_read_ready(cx) {
                    guard?.clear_ready();
                    woke = true;
                }
                for fd in network {
                    if let Poll::Ready(guard) = fd.poll_read_ready(cx) {
                        guard?.clear_ready();
                        woke = true;
                    }
                }
                if let Some(sleep) = follow.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        woke = true;
                    }
                }
                if woke {
                    Poll::Ready(Ok::<(), io::Error>(()))
                } else {
                    Poll::Pending
                }
            })
            .await?;
        }
    }
}
