//! pipework's named pipe (byte mode): the parent creates the server instance under a fresh
//! name, the child opens it by name, as a Win32 client does with `CreateFile`. Two rows: the
//! default (two pipework ends move their data through shared-memory rings after the handshake)
//! and the socket path (rings off on both ends: what a foreign client such as socat or Samba
//! gets), which is the like-for-like row beside the socket-based peers.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use pipework::named_pipe::{ClientOptions, ServerOptions};
use pipework_cli::workload::{Link, Session, Stream, Workload};

use super::{missing, spawn_child, unique_name, Implementation};

/// `pipework::named_pipe` as it comes: shared-memory rings between two pipework ends.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "pipework-named-pipe",
    label: "pipework::named_pipe",
    pipework: true,
    how: "named pipe in byte mode with its defaults (`ServerOptions::create`, `connect`; the \
          child opens it by name with `NamedPipeClient::open`): a Unix-domain stream socket \
          carries the handshake, then both directions move to shared-memory rings with the \
          default spin",
    start,
    child,
};

/// `pipework::named_pipe` on its socket path, as a foreign client gets it.
pub const SOCKET: Implementation = Implementation {
    id: "pipework-named-pipe-socket",
    label: "pipework::named_pipe (socket path)",
    pipework: true,
    how: "the same named pipe with `shared_memory(false)` on both ends: every byte goes through \
          the Unix-domain stream socket, as it does for socat, Python or Samba at the other end",
    start: start_socket,
    child: child_socket,
};

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    start_with(me, workload, true)
}

fn start_socket(me: &Implementation, workload: Workload) -> io::Result<Session> {
    start_with(me, workload, false)
}

fn start_with(me: &Implementation, workload: Workload, rings: bool) -> io::Result<Session> {
    let name = format!(r"\\.\pipe\{}", unique_name("pipework-peers"));
    let mut server = ServerOptions::new().shared_memory(rings).create(&name)?;
    let child = spawn_child(me.id, workload, std::slice::from_ref(&name), vec![])?;
    server.connect()?;
    let end = Rc::new(RefCell::new(server));
    Ok(Session::new(
        me.label,
        Stream::boxed(Shared(end.clone()), Shared(end)),
        child,
    ))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_with(args, true)
}

fn child_socket(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_with(args, false)
}

fn child_with(args: &[String], rings: bool) -> io::Result<Box<dyn Link>> {
    let name = args.first().ok_or_else(|| missing("pipe name"))?;
    let client = ClientOptions::new().shared_memory(rings).open(name)?;
    let end = Rc::new(RefCell::new(client));
    Ok(Stream::boxed(Shared(end.clone()), Shared(end)))
}

/// One end read and written from both halves of the link (the workloads never do both at once).
struct Shared<T>(Rc<RefCell<T>>);

impl<T: Read> Read for Shared<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<T: Write> Write for Shared<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        // The named pipe's flush waits until the peer has read everything (FlushFileBuffers):
        // not what the workloads mean by it.
        Ok(())
    }
}
