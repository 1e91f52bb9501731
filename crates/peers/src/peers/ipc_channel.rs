//! The `ipc-channel` crate's byte channels (`ipc::bytes_channel`), one each way, bootstrapped
//! through an `IpcOneShotServer`: the child connects to the server by name and sends the parent
//! its ends. Every write is one message; an empty message ends the data.

use std::io;

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer};
use ipc_channel::IpcError;
use pipework_cli::workload::{Link, Session, Workload};

use super::{missing, other, spawn_child, Implementation};

/// `ipc-channel`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "ipc-channel",
    label: "ipc-channel",
    pipework: false,
    how: "`ipc::bytes_channel()` both ways, bootstrapped with `IpcOneShotServer`; one message \
          per write",
    start,
    child,
};

/// What the child sends the parent: the way to the child and the way back.
type Bootstrap = (IpcBytesSender, IpcBytesReceiver);

struct Channel {
    tx: IpcBytesSender,
    rx: IpcBytesReceiver,
}

impl Link for Channel {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.tx.send(data)
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        match self.rx.recv() {
            Ok(message) if message.is_empty() => Ok(false),
            Ok(message) => {
                f(&message);
                Ok(true)
            }
            Err(IpcError::Disconnected) => Ok(false),
            Err(IpcError::Io(e)) => Err(e),
            Err(e) => Err(other("ipc-channel receive", e)),
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.tx.send(&[])
    }
}

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let (server, name) = IpcOneShotServer::<Bootstrap>::new()?;
    let child = spawn_child(me.id, workload, &[name], vec![])?;
    let (_, (tx, rx)) = server
        .accept()
        .map_err(|e| other("ipc-channel bootstrap", e))?;
    Ok(Session::new(me.label, Box::new(Channel { tx, rx }), child))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    let name = args
        .first()
        .ok_or_else(|| missing("one-shot server name"))?;
    let (to_child_tx, to_child_rx) = ipc::bytes_channel()?;
    let (from_child_tx, from_child_rx) = ipc::bytes_channel()?;
    ipc::IpcSender::<Bootstrap>::connect(name.clone())?
        .send((to_child_tx, from_child_rx))
        .map_err(|e| other("ipc-channel bootstrap", e))?;
    Ok(Box::new(Channel {
        tx: from_child_tx,
        rx: to_child_rx,
    }))
}
