//! A named pipe's data through shared memory, when both ends are pipework.
//!
//! A pipework client asks for rings in its handshake address; a server that offers them makes
//! two rings ([`crate::shm_pipe`]'s, one per direction) and attaches their handles to its reply.
//! From then on the connection's bytes (framed as on the socket, for a message pipe) go through
//! the rings, and the socket stays open beside them as the liveness signal: a peer killed with
//! `kill -9` hangs it up, which a waiting side notices within one sleep slice (an error, never a
//! hang). A foreign client asks for nothing and keeps the plain socket.
//!
//! Rings hold no file descriptor of the connection beyond duplicates of its socket, so the
//! handle an end shows through `AsFd` is still the socket; on the ring path that socket
//! carries no data (readiness polling of it and a copy of it given to another process see no
//! bytes). Ends whose handle is to be handed on or polled turn the rings off
//! (`ServerOptions::shared_memory(false)`, `ClientOptions::shared_memory(false)`).

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use crate::shm_pipe::shared;
use crate::shm_pipe::{ShmReader, ShmWriter};

/// Whether an end takes rings, and how long it spins on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SharedMemory {
    pub(crate) on: bool,
    pub(crate) spin: Duration,
}

impl Default for SharedMemory {
    fn default() -> Self {
        SharedMemory {
            on: false,
            spin: crate::shm_pipe::ShmPipeOptions::default_spin(),
        }
    }
}

/// Bytes of each direction's ring (pages are only backed once written).
pub(crate) const RING_CAPACITY: usize = 1 << 20;

/// One end's two rings: what it reads from and what it writes to.
pub(crate) struct Rings {
    reader: ShmReader,
    writer: ShmWriter,
    /// A read found the peer vanished without closing (killed): writes fail from then on, as
    /// they would on its socket, instead of filling a ring nobody reads.
    peer_vanished: bool,
    /// The pipe, as errors name it.
    what: String,
}

impl Rings {
    /// The server's side: two fresh rings for the connection `socket`, and the handles to send
    /// the client (its reader's ring, then its writer's).
    pub(crate) fn create(
        socket: BorrowedFd<'_>,
        spin: Duration,
        what: &str,
    ) -> io::Result<(Rings, [OwnedFd; 2])> {
        let to_client = shared::new_ring(RING_CAPACITY)?;
        let to_server = shared::new_ring(RING_CAPACITY)?;
        let writer = shared::writer(
            to_client.try_clone()?,
            socket.try_clone_to_owned()?,
            spin,
            what,
        )?;
        let reader = shared::reader(
            to_server.try_clone()?,
            socket.try_clone_to_owned()?,
            spin,
            what,
        )?;
        Ok((
            Rings {
                reader,
                writer,
                peer_vanished: false,
                what: what.to_owned(),
            },
            [to_client, to_server],
        ))
    }

    /// The client's side: the rings whose handles came with the server's reply, checked as
    /// anything from another process is.
    pub(crate) fn adopt(
        handles: Vec<OwnedFd>,
        socket: BorrowedFd<'_>,
        spin: Duration,
        what: &str,
    ) -> io::Result<Rings> {
        let [from_server, to_server]: [OwnedFd; 2] = handles.try_into().map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("named pipe {what}: the server's reply did not carry two rings"),
            )
        })?;
        let reader = shared::reader(from_server, socket.try_clone_to_owned()?, spin, what)?;
        let writer = shared::writer(to_server, socket.try_clone_to_owned()?, spin, what)?;
        Ok(Rings {
            reader,
            writer,
            peer_vanished: false,
            what: what.to_owned(),
        })
    }

    /// Receives into `buf` as a socket would: waits for bytes (unless `nonblocking`: then
    /// `WouldBlock`), `Ok(0)` at the end of data. A peer that vanished without closing is
    /// `UnexpectedEof`.
    pub(crate) fn recv(&mut self, buf: &mut [u8], nonblocking: bool) -> io::Result<usize> {
        let got = if nonblocking {
            shared::read_now(&mut self.reader, buf)
        } else {
            self.reader.read(buf)
        };
        self.note(got)
    }

    /// Notes a vanished peer from what a read gave.
    fn note(&mut self, got: io::Result<usize>) -> io::Result<usize> {
        if got
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::UnexpectedEof)
        {
            self.peer_vanished = true;
        }
        got
    }

    /// `BrokenPipe` once a read found the peer vanished.
    fn check_peer(&self) -> io::Result<()> {
        if self.peer_vanished {
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("{}: the peer vanished without closing (killed?)", self.what),
            ));
        }
        Ok(())
    }

    /// Receives what waits now without blocking (for a peek).
    pub(crate) fn recv_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = shared::read_now(&mut self.reader, buf);
        self.note(got)
    }

    /// Bytes waiting to be read.
    pub(crate) fn pending(&self) -> io::Result<usize> {
        self.reader.bytes_available()
    }

    /// Copies what waits into `buf` without consuming it.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        shared::peek(&self.reader, buf)
    }

    /// Sends all of `data`; in `nonblocking` mode `WouldBlock` when the ring has no room at all
    /// (once some went, the rest waits for room, as on the socket).
    pub(crate) fn send(&mut self, data: &[u8], nonblocking: bool) -> io::Result<()> {
        self.check_peer()?;
        if nonblocking && !data.is_empty() && shared::room(&self.writer)? == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.writer.write_all(data)
    }

    /// `Write::write` on a byte pipe: as much as the ring takes (all of it, blocking).
    pub(crate) fn send_some(&mut self, data: &[u8], nonblocking: bool) -> io::Result<usize> {
        self.check_peer()?;
        if nonblocking && !data.is_empty() {
            let room = shared::room(&self.writer)?;
            if room == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            return self.writer.write(&data[..room.min(data.len())]);
        }
        self.writer.write(data)
    }

    /// Waits until the peer has read everything written, or is gone (`FlushFileBuffers`).
    pub(crate) fn flush_to_peer(&self) -> io::Result<()> {
        let mut pause = Duration::from_micros(20);
        while shared::unread(&self.writer)? > 0 && !shared::reader_gone(&self.writer)? {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    fn socket() -> OwnedFd {
        socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
        .0
    }

    fn adopt(handles: Vec<OwnedFd>) -> io::Error {
        let sock = socket();
        match Rings::adopt(handles, sock.as_fd(), Duration::ZERO, "named pipe x") {
            Ok(_) => panic!("a hostile ring was adopted"),
            Err(e) => e,
        }
    }

    /// What a hostile server could attach to its reply is refused before it is used: too few
    /// handles, a memfd that is not sealed (it could shrink under the mapping), a sealed file
    /// whose header is not a ring's. Nothing panics.
    #[test]
    fn hostile_rings_are_refused() {
        assert_eq!(adopt(Vec::new()).kind(), ErrorKind::InvalidData);
        let unsealed = || {
            let fd =
                memfd_create("hostile", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
            ftruncate(&fd, (4096 + RING_CAPACITY) as u64).unwrap();
            fd
        };
        assert_eq!(
            adopt(vec![unsealed(), unsealed()]).kind(),
            ErrorKind::InvalidData
        );
        // Sealed as a ring, but the header was never written: no magic.
        let garbage = || {
            OwnedFd::try_from(
                crate::mapping::FileMapping::anonymous((4096 + RING_CAPACITY) as u64).unwrap(),
            )
            .unwrap()
        };
        let e = adopt(vec![garbage(), garbage()]);
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(e.to_string().contains("named pipe x"), "{e}");
    }

    /// A ring made here, adopted: what one end writes the other reads, and a peer position
    /// beyond the capacity is `InvalidData`, never an access outside the ring.
    #[test]
    fn rings_carry_bytes_and_check_positions() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let (mut server, handles) =
            Rings::create(a.as_fd(), Duration::ZERO, "named pipe x").unwrap();
        let raw = [
            handles[0].try_clone().unwrap(),
            handles[1].try_clone().unwrap(),
        ];
        let mut client =
            Rings::adopt(handles.into(), b.as_fd(), Duration::ZERO, "named pipe x").unwrap();
        server.send(b"hello", false).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(client.pending().unwrap(), 5);
        assert_eq!(client.peek(&mut buf).unwrap(), 5);
        assert_eq!(client.recv(&mut buf, false).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            client.recv(&mut buf, true).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // A peer writes a write position far beyond what the ring can hold.
        let view = crate::mapping::FileMapping::try_from(raw[0].try_clone().unwrap())
            .unwrap()
            .map_view(crate::mapping::Access::Write, 0, 0)
            .unwrap();
        view.atomic_u64(64)
            .unwrap()
            .store(u64::MAX / 2, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            client.recv(&mut buf, false).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(client.pending().unwrap_err().kind(), ErrorKind::InvalidData);
    }
}
