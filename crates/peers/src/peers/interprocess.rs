//! The `interprocess` crate's local sockets (Unix-domain stream sockets on Linux, a name in the
//! abstract namespace): the parent listens, the child connects by name.

use std::io::{self, Read, Write};
use std::rc::Rc;

use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{GenericNamespaced, ListenerOptions};
use pipework_cli::workload::{Link, Session, Stream, Workload};

use super::{missing, spawn_child, unique_name, Implementation};

/// `interprocess::local_socket`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "interprocess",
    label: "interprocess (local socket)",
    pipework: false,
    how: "`interprocess::local_socket` stream (namespaced name: an abstract Unix-domain stream \
          socket), the child connects by name; read and written through `&Stream`",
    start,
    child,
};

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let name = unique_name("pipework-peers");
    let listener = ListenerOptions::new()
        .name(name.as_str().to_ns_name::<GenericNamespaced>()?)
        .create_sync()?;
    let child = spawn_child(me.id, workload, std::slice::from_ref(&name), vec![])?;
    let stream = Rc::new(listener.accept()?);
    Ok(Session::new(
        me.label,
        Stream::boxed(Shared(stream.clone()), Shared(stream)),
        child,
    ))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    let name = args.first().ok_or_else(|| missing("socket name"))?;
    let stream = LocalSocketStream::connect(name.as_str().to_ns_name::<GenericNamespaced>()?)?;
    let stream = Rc::new(stream);
    Ok(Stream::boxed(Shared(stream.clone()), Shared(stream)))
}

/// A local socket read and written through shared references (`&Stream` is `Read` and
/// `Write`), as the crate recommends instead of splitting it.
struct Shared(Rc<LocalSocketStream>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}
