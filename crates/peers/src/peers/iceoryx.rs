//! iceoryx2 publish-subscribe over `[u8]` slices in shared memory, one service each way.
//! Backpressure as a stream needs it: no safe overflow, and a publisher whose subscriber's
//! buffer is full retries until delivered (it blocks) instead of dropping data. Receivers poll
//! busily (`Subscriber::receive` in a loop), both for the throughput sink and for round trips
//! (pub/sub both ways, no request-response, no event notification). Samples are sent by copying
//! each write into a loaned slice; the receiver reads them in place (zero copy on that side). An
//! empty sample ends the data.

use std::io;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use pipework_cli::workload::{Link, Session, Workload, CHUNK};

use super::{missing, other, spawn_child, unique_name, Implementation};

/// `iceoryx2`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "iceoryx2",
    label: "iceoryx2 (pub/sub, polling)",
    pipework: false,
    how: "iceoryx2 0.10 publish-subscribe of `[u8]` slices both ways, no safe overflow, \
          publisher backpressure `RetryUntilDelivered`, subscriber buffer of 8 samples, busy \
          polling on receive; round trip = pub/sub both ways",
    start,
    child,
};

/// The same, with each received sample copied out into the receiver's buffer before it is
/// released, as the byte streams' `read` does: the like-for-like comparison with them.
pub const COPIED: Implementation = Implementation {
    id: "iceoryx2-copy",
    label: "iceoryx2 (pub/sub, polling, copied out)",
    pipework: false,
    how: "as above, but the receiver copies each sample into its own buffer before releasing \
          it, as a `read` into the caller's buffer does",
    start,
    child: child_copied,
};

/// Samples a subscriber's buffer holds before the publisher waits.
const BUFFER: usize = 8;

struct PubSub {
    publisher: Publisher<ipc::Service, [u8], ()>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
    /// Where received samples are copied before use, if they are not read in place.
    copy: Option<Vec<u8>>,
    _node: Node<ipc::Service>,
}

impl PubSub {
    /// Opens (or creates) the two services `{name}/to-child` and `{name}/to-parent`.
    fn new(name: &str, parent: bool, copy: bool) -> io::Result<PubSub> {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .create::<ipc::Service>()
            .map_err(|e| other("iceoryx2 node", e))?;
        let service = |direction: &str| {
            let service_name: ServiceName = format!("{name}/{direction}")
                .as_str()
                .try_into()
                .map_err(|e| other("iceoryx2 service name", e))?;
            node.service_builder(&service_name)
                .publish_subscribe::<[u8]>()
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(BUFFER)
                .history_size(0)
                .max_publishers(1)
                .max_subscribers(1)
                .open_or_create()
                .map_err(|e| other("iceoryx2 service", e))
        };
        let (to_child, to_parent) = (service("to-child")?, service("to-parent")?);
        let (outgoing, incoming) = if parent {
            (to_child, to_parent)
        } else {
            (to_parent, to_child)
        };
        let subscriber = incoming
            .subscriber_builder()
            .buffer_size(BUFFER)
            .create()
            .map_err(|e| other("iceoryx2 subscriber", e))?;
        let publisher = outgoing
            .publisher_builder()
            .initial_max_slice_len(CHUNK)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(|e| other("iceoryx2 publisher", e))?;
        Ok(PubSub {
            publisher,
            subscriber,
            copy: copy.then(|| vec![0; CHUNK]),
            _node: node,
        })
    }

    fn publish(&self, data: &[u8]) -> io::Result<()> {
        let sample = self
            .publisher
            .loan_slice_uninit(data.len())
            .map_err(|e| other("iceoryx2 loan", e))?;
        sample
            .write_from_slice(data)
            .send()
            .map_err(|e| other("iceoryx2 send", e))?;
        Ok(())
    }
}

impl Link for PubSub {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.publish(data)
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        loop {
            let received = self
                .subscriber
                .receive()
                .map_err(|e| other("iceoryx2 receive", e))?;
            if let Some(sample) = received {
                let payload = sample.payload();
                if payload.is_empty() {
                    return Ok(false);
                }
                match &mut self.copy {
                    Some(buf) => {
                        let n = payload.len().min(buf.len());
                        buf[..n].copy_from_slice(&payload[..n]);
                        drop(sample);
                        f(&buf[..n]);
                    }
                    None => f(payload),
                }
                return Ok(true);
            }
            std::hint::spin_loop();
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.publish(&[])
    }
}

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let name = unique_name("pipework-peers");
    let mut link = PubSub::new(&name, true, me.id == COPIED.id)?;
    let child = spawn_child(me.id, workload, std::slice::from_ref(&name), vec![])?;
    // The child says hello once its subscriber exists: samples sent before that would reach no
    // one. Then the publisher picks up the child's subscriber before the first sample.
    let mut hello = [0u8; 1];
    link.recv_exact(&mut hello)?;
    link.publisher
        .update_connections()
        .map_err(|e| other("iceoryx2 connect", e))?;
    Ok(Session::new(me.label, Box::new(link), child))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_as(args, false)
}

fn child_copied(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_as(args, true)
}

fn child_as(args: &[String], copy: bool) -> io::Result<Box<dyn Link>> {
    let name = args.first().ok_or_else(|| missing("service name"))?;
    let link = PubSub::new(name, false, copy)?;
    link.publish(b"?")?;
    Ok(Box::new(link))
}
