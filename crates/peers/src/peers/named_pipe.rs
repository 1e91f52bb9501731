//! pipework's named pipe (byte mode): the parent creates the server instance under a fresh
//! name, the child opens it by name, as a Win32 client does with `CreateFile`.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use pipework::named_pipe::{NamedPipeClient, ServerOptions};
use pipework_cli::workload::{Link, Session, Stream, Workload};

use super::{missing, spawn_child, unique_name, Implementation};

/// `pipework::named_pipe`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "pipework-named-pipe",
    label: "pipework::named_pipe",
    pipework: true,
    how: "named pipe in byte mode (`ServerOptions::create`, `connect`; the child opens it by \
          name with `NamedPipeClient::open`): a Unix-domain stream socket underneath, with the \
          named pipe's handshake at open",
    start,
    child,
};

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let name = format!(r"\\.\pipe\{}", unique_name("pipework-peers"));
    let mut server = ServerOptions::new().create(&name)?;
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
    let name = args.first().ok_or_else(|| missing("pipe name"))?;
    let end = Rc::new(RefCell::new(NamedPipeClient::open(name)?));
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
