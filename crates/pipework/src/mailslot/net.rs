//! Mailslots across machines: the network configuration, the listener that takes datagrams off
//! an interface for every serving slot of this machine, and the sender of remote writes.
//!
//! Two wires, chosen by [`NetworkConfig::wire`]:
//!
//! * [`Wire::Netbios`] (the default): NetBIOS datagrams on UDP 138 carrying SMB mailslot writes
//!   (`nbt.rs`), what Windows and Samba send and receive. `\\HOST\mailslot\x` is a direct unique
//!   datagram to `HOST<00>` at the address a NetBIOS name query on UDP 137 (then the system
//!   resolver) finds; `\\DOMAIN\mailslot\x` and `\\*\mailslot\x` are direct group datagrams to
//!   `DOMAIN<00>` (`*`: this machine's workgroup) sent to the interface's subnet broadcast
//!   address. The listener also answers name queries for this machine's names on UDP 137.
//! * [`Wire::Pipework`]: pipework's own format (`pwms.rs`), for what NetBIOS cannot carry:
//!   messages to one host above a NetBIOS datagram's few hundred bytes (up to 64 KB), and
//!   group messages to a multicast group that routes can carry past the segment.
//!
//! Nothing here touches the network unless asked: a listener exists only after
//! [`Mailslot::serve_network`](super::Mailslot::serve_network), and both listening and remote
//! writes need [`NetworkConfig::interface`], which has no default.
//!
//! **One listener per machine and interface.** The first serving slot binds the datagram port
//! on the interface's address and on its broadcast address (or multicast group), without
//! `SO_REUSEADDR`/`SO_REUSEPORT`: Linux gives a unicast datagram to one of the sockets sharing
//! a port, so a shared port would let one program take the other's datagrams. Other serving
//! slots of this user find the listener (a flag in their shared words) and follow it: the
//! listener hands them what is addressed to them through their local spool. A follower tries
//! to bind the port itself at most every [`FOLLOW_RETRY`] while it waits, and so takes over
//! when the listener goes. A port held by another program, such as Samba's `nmbd`, is an error
//! (`AddrInUse`) naming the port: pipework and `nmbd` cannot both serve one interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustix::net::{sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::nbt::{self, DatagramKind, DecodeError, MailslotDatagram, NamePacket, NbName};
use super::pwms;
use crate::sys::error::{error, invalid, named};
use crate::sys::ifaddr::{self, IfAddr};
use crate::sys::retry::retry;

pub use super::nbt::{DATAGRAM_PORT, MAX_BROADCAST_MESSAGE, MAX_DATAGRAM, NAME_SERVICE_PORT};

/// The workgroup of a machine whose configuration names none.
pub const DEFAULT_WORKGROUP: &str = "WORKGROUP";
/// The multicast group of `\\*` and domain messages on [`Wire::Pipework`]
/// (administratively scoped).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 80, 87);
/// How often a slot that follows another's listener tries to take the port over.
pub const FOLLOW_RETRY: Duration = Duration::from_secs(1);

/// How a NetBIOS name query waits for an answer: this long, this many times.
const QUERY_WAIT: Duration = Duration::from_millis(250);
const QUERY_TRIES: usize = 3;
/// What a listener reads at once: more than any datagram it takes, to see the oversized whole.
const RECEIVE_BUFFER: usize = 1 << 16;
/// The time to live of the answers a listener gives to name queries, in seconds.
const ANSWER_TTL: u32 = 300;

/// Which format mailslot datagrams take across machines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Wire {
    /// NetBIOS datagrams on UDP 138 carrying SMB mailslot writes: what Windows and Samba speak.
    #[default]
    Netbios,
    /// pipework's own datagram format: up to 64 KB to one host, and multicast groups; only
    /// other pipework processes understand it.
    Pipework,
}

/// Where mailslot datagrams travel and under which names this machine takes them.
///
/// Nothing has a default that reaches the network: without an [`interface`](Self::interface),
/// [`Mailslot::serve_network`](super::Mailslot::serve_network) and remote
/// [`MailslotClient::open_with`](super::MailslotClient::open_with) fail with `InvalidInput`.
///
/// ```
/// use pipework::mailslot::NetworkConfig;
///
/// let config = NetworkConfig {
///     interface: Some("eth0".into()), // or one of its addresses, "192.168.1.20"
///     workgroup: "SALES".into(),
///     ..NetworkConfig::default()
/// };
/// assert_eq!(config.port, 138);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The format on the wire (default: NetBIOS).
    pub wire: Wire,
    /// The interface to listen and send on: its name (`eth0`) or one of its IPv4 addresses.
    /// `None` (the default): no network at all.
    pub interface: Option<String>,
    /// This machine's NetBIOS name (at most 15 characters; upper-cased on the wire). `None`: the
    /// host name's first label, upper-cased and cut to 15 characters.
    pub netbios_name: Option<String>,
    /// This machine's workgroup or domain (default `WORKGROUP`): `\\*\mailslot\...` goes to it,
    /// and a listener takes what is sent to it. Names equal to it are taken as a domain without
    /// a lookup.
    pub workgroup: String,
    /// The NetBIOS scope (dot-separated labels; default none).
    pub scope: String,
    /// The suffix of the group name that `\\domain\...` and `\\*\...` writes go to: `0x00`
    /// (the default, as Windows sends), `0x1d` (the workgroup's master browser), `0x1e`
    /// (browser elections).
    pub group_suffix: u8,
    /// Further NetBIOS names (name, suffix) the listener takes datagrams for, beyond this
    /// machine's name (`<00>`, `<03>`, `<20>`), its workgroup (`<00>`, `<1e>`) and `*<00>`:
    /// for instance `(workgroup, 0x1d)` to hear what is sent to the workgroup's master browser
    /// (host announcements). The listener claims no name on the network; it only listens.
    pub extra_names: Vec<(String, u8)>,
    /// The UDP port of mailslot datagrams (default 138, [`DATAGRAM_PORT`]).
    pub port: u16,
    /// The UDP port of the NetBIOS name service (default 137, [`NAME_SERVICE_PORT`]).
    pub name_port: u16,
    /// [`Wire::Pipework`]: where `\\*` and domain messages go, a multicast group (joined by the
    /// listener on the interface) or a broadcast address.
    pub group: Ipv4Addr,
    /// [`Wire::Pipework`]: multicast time-to-live (hops); 1 keeps messages on the segment.
    pub ttl: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            wire: Wire::Netbios,
            interface: None,
            netbios_name: None,
            workgroup: DEFAULT_WORKGROUP.to_string(),
            scope: String::new(),
            group_suffix: 0x00,
            extra_names: Vec::new(),
            port: DATAGRAM_PORT,
            name_port: NAME_SERVICE_PORT,
            group: DEFAULT_GROUP,
            ttl: 1,
        }
    }
}

/// What a listener has seen since it started: the datagrams it took off the network and why it
/// dropped those it dropped ([`Mailslot::network_stats`](super::Mailslot::network_stats)).
/// Dropping is never fatal: the listener goes on serving.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Datagrams read from the network (name service packets not included).
    pub received: u64,
    /// Messages queued on the listening slot itself.
    pub delivered: u64,
    /// Messages handed to another serving slot of this machine.
    pub forwarded: u64,
    /// Datagrams whose bytes say something impossible or inconsistent.
    pub malformed: u64,
    /// Datagrams shorter than their own lengths state.
    pub truncated: u64,
    /// Datagrams larger than a receiver takes, or messages above the receiving slot's maximum.
    pub oversized: u64,
    /// Well-formed datagrams for a name that is not this machine's, or for a slot that nobody
    /// serves on the network here.
    pub misaddressed: u64,
    /// Well-formed packets that are not mailslot writes (datagram errors, other SMB commands).
    pub other: u64,
    /// NetBIOS name queries for this machine's names that the listener answered.
    pub name_queries_answered: u64,
}

/// The interface a configuration names, as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Iface {
    pub(crate) address: Ipv4Addr,
    /// The subnet's broadcast address (`address | !netmask` when the interface states none).
    pub(crate) broadcast: Ipv4Addr,
}

fn no_interface() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "no network interface chosen (NetworkConfig::interface): pipework reaches the network \
         only on an interface it is given",
    )
}

/// Finds the interface `config` names (by name or by one of its IPv4 addresses).
pub(crate) fn interface(config: &NetworkConfig) -> io::Result<Iface> {
    let wanted = config.interface.as_deref().ok_or_else(no_interface)?;
    let all = ifaddr::ipv4_addresses()?;
    let by_address = wanted.parse::<Ipv4Addr>().ok();
    let found: Option<&IfAddr> = match by_address {
        Some(ip) => all.iter().find(|a| a.address == ip),
        None => all.iter().find(|a| a.name == wanted),
    };
    let a = found.ok_or_else(|| {
        error(
            io::ErrorKind::NotFound,
            format_args!("interface {wanted}"),
            "no such interface with an IPv4 address on this machine",
        )
    })?;
    // An address added without `brd` lists no broadcast address of its own (0.0.0.0, or the
    // address itself, depending on the C library), while the kernel routes the subnet's
    // all-ones address as broadcast anyway: take that one unless the interface states another
    // broadcast address inside its subnet.
    let (address, mask) = (u32::from(a.address), u32::from(a.netmask));
    let broadcast = match a.broadcast.map(u32::from) {
        Some(b) if b != 0 && b != address && b & mask == address & mask => Ipv4Addr::from(b),
        _ => Ipv4Addr::from(address | !mask),
    };
    Ok(Iface {
        address: a.address,
        broadcast,
    })
}

/// This machine's NetBIOS name: the configured one, else the host name's first label.
pub(crate) fn netbios_name(config: &NetworkConfig) -> io::Result<String> {
    if let Some(name) = &config.netbios_name {
        return Ok(name.to_ascii_uppercase());
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| named("cannot read this machine's host name", e))?;
    let first = host.trim().split('.').next().unwrap_or("");
    let name: String = first
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_uppercase();
    if name.is_empty() {
        return Err(invalid(
            "NetBIOS name",
            "the host name is empty; set NetworkConfig::netbios_name",
        ));
    }
    Ok(name)
}

fn nb_name(name: &str, suffix: u8, scope: &str) -> io::Result<NbName> {
    NbName::new(name, suffix, scope)
        .map_err(|why| invalid(format_args!("NetBIOS name {name:?}"), why))
}

/// A key for what a listener serves: wire, address, port; kept in a slot's shared words.
pub(crate) fn listen_key(wire: Wire, iface: &Iface, port: u16) -> u64 {
    let wire = match wire {
        Wire::Netbios => 1u64,
        Wire::Pipework => 2,
    };
    (wire << 56) | (u64::from(port) << 32) | u64::from(u32::from(iface.address))
}

fn udp_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
}

/// A UDP socket bound to `ip:port` alone (no address or port sharing).
fn bind_exclusive(ip: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let fd = udp_socket()?;
    let _ = sockopt::set_socket_recv_buffer_size(&fd, 1 << 20);
    rustix::net::bind(&fd, &SocketAddr::V4(SocketAddrV4::new(ip, port)))
        .map_err(|e| named(format_args!("cannot bind UDP {ip}:{port}"), e))?;
    Ok(UdpSocket::from(fd))
}

/// The listeners of this process, by [`listen_key`]: a client of the same process sends from
/// the listener's socket, so that answers (a backup list, say) come back to the port it serves.
static LISTENERS: Mutex<Vec<(u64, Weak<UdpSocket>)>> = Mutex::new(Vec::new());

fn register(key: u64, socket: &Arc<UdpSocket>) {
    let mut all = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(_, w)| w.strong_count() > 0);
    all.push((key, Arc::downgrade(socket)));
}

fn registered(key: u64) -> Option<Arc<UdpSocket>> {
    let all = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .filter(|(k, _)| *k == key)
        .find_map(|(_, w)| w.upgrade())
}

/// The listener: the sockets of one wire on one interface, and what it takes datagrams for.
pub(crate) struct Endpoint {
    wire: Wire,
    pub(crate) key: u64,
    iface: Iface,
    /// Datagram sockets: the interface's address first, then its broadcast address or group.
    datagram: Vec<Arc<UdpSocket>>,
    /// Name service sockets (NetBIOS): none when another program holds the port.
    names: Vec<UdpSocket>,
    /// NetBIOS: every name datagrams are taken for; unique names answered on the name service.
    accept: Vec<NbName>,
    unique: Vec<NbName>,
    /// Pipework wire: the folded workgroup.
    domain: String,
    stats: NetworkStats,
    buf: Box<[u8]>,
}

/// What became of a message the listener took for a slot.
pub(crate) enum Delivery {
    /// Queued on the listening slot.
    Delivered,
    /// Handed to another serving slot of this machine.
    Forwarded,
    /// No slot of that name serves the network here.
    NoSuchSlot,
    /// Above the receiving slot's maximum.
    TooLarge,
}

impl Endpoint {
    /// Binds the wire's sockets on the interface `config` names. `AddrInUse` when the port is
    /// held (by another pipework listener, or another program).
    pub(crate) fn open(config: &NetworkConfig) -> io::Result<Endpoint> {
        let iface = interface(config)?;
        let key = listen_key(config.wire, &iface, config.port);
        let mut datagram = vec![Arc::new(bind_exclusive(iface.address, config.port)?)];
        let mut names = Vec::new();
        let (mut accept, mut unique) = (Vec::new(), Vec::new());
        match config.wire {
            Wire::Netbios => {
                if iface.broadcast != iface.address {
                    datagram.push(Arc::new(bind_exclusive(iface.broadcast, config.port)?));
                }
                let me = netbios_name(config)?;
                let scope = &config.scope;
                for suffix in [0x00, 0x03, 0x20] {
                    unique.push(nb_name(&me, suffix, scope)?);
                }
                accept.extend(unique.iter().cloned());
                for suffix in [0x00, 0x1e] {
                    accept.push(nb_name(&config.workgroup, suffix, scope)?);
                }
                accept.push(nb_name("*", 0x00, scope)?);
                for (name, suffix) in &config.extra_names {
                    accept.push(nb_name(name, *suffix, scope)?);
                }
                // Answering name queries is what lets others find this machine by name; when
                // another program holds the name service port, this listener only listens.
                if let Ok(socket) = bind_exclusive(iface.address, config.name_port) {
                    names.push(socket);
                    if iface.broadcast != iface.address {
                        if let Ok(socket) = bind_exclusive(iface.broadcast, config.name_port) {
                            names.push(socket);
                        }
                    }
                }
            }
            Wire::Pipework => {
                if config.group.is_multicast() {
                    let group = bind_exclusive(config.group, config.port)?;
                    sockopt::set_ip_add_membership(&group, &config.group, &iface.address).map_err(
                        |e| {
                            named(
                                format_args!("cannot join multicast group {}", config.group),
                                e,
                            )
                        },
                    )?;
                    datagram.push(Arc::new(group));
                } else if config.group != iface.address {
                    datagram.push(Arc::new(bind_exclusive(config.group, config.port)?));
                }
            }
        }
        register(key, &datagram[0]);
        Ok(Endpoint {
            wire: config.wire,
            key,
            iface,
            datagram,
            names,
            accept,
            unique,
            domain: config.workgroup.to_lowercase(),
            stats: NetworkStats::default(),
            buf: vec![0u8; RECEIVE_BUFFER].into_boxed_slice(),
        })
    }

    /// Every socket to wait on.
    pub(crate) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.datagram
            .iter()
            .map(|s| s.as_fd())
            .chain(self.names.iter().map(|s| s.as_fd()))
            .collect()
    }

    pub(crate) fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// Takes every datagram waiting: a mailslot write for this machine goes to `deliver` with
    /// the folded slot path; name queries for this machine's names are answered; everything
    /// else is dropped and counted.
    pub(crate) fn receive(&mut self, mut deliver: impl FnMut(&str, &[u8]) -> Delivery) {
        for i in 0..self.datagram.len() {
            loop {
                let socket = Arc::clone(&self.datagram[i]);
                let n = match retry(|| {
                    rustix::net::recv(
                        socket.as_fd(),
                        &mut self.buf[..],
                        RecvFlags::DONTWAIT | RecvFlags::TRUNC,
                    )
                }) {
                    Ok((_, full)) => full,
                    // Drained (or an ICMP report, which ends this round only).
                    Err(_) => break,
                };
                self.stats.received += 1;
                if n > self.buf.len() {
                    self.stats.oversized += 1;
                    continue;
                }
                self.take(n, &mut deliver);
            }
        }
        for i in 0..self.names.len() {
            while let Ok((_, n, from)) = retry(|| {
                rustix::net::recvfrom(
                    self.names[i].as_fd(),
                    &mut self.buf[..],
                    RecvFlags::DONTWAIT | RecvFlags::TRUNC,
                )
            }) {
                if n > self.buf.len() {
                    continue;
                }
                let Some(SocketAddr::V4(from)) = from.and_then(|a| SocketAddr::try_from(a).ok())
                else {
                    continue;
                };
                self.answer(n, from);
            }
        }
    }

    fn take(&mut self, n: usize, deliver: &mut impl FnMut(&str, &[u8]) -> Delivery) {
        let bytes = &self.buf[..n];
        let (folded, message) = match self.wire {
            Wire::Netbios => match nbt::decode_mailslot(bytes) {
                Err(DecodeError::Truncated(_)) => return self.stats.truncated += 1,
                Err(DecodeError::Oversized) => return self.stats.oversized += 1,
                Err(DecodeError::Malformed(_)) => return self.stats.malformed += 1,
                Err(DecodeError::Other(_)) => return self.stats.other += 1,
                Ok(d) => {
                    if !self.accept.iter().any(|n| n.same(&d.destination)) {
                        return self.stats.misaddressed += 1;
                    }
                    let Some(path) = d.slot_path().and_then(fold_path) else {
                        return self.stats.malformed += 1;
                    };
                    (path, d.data)
                }
            },
            Wire::Pipework => match pwms::decode(bytes) {
                None => return self.stats.malformed += 1,
                Some(d) => {
                    if let pwms::Kind::Domain(domain) = &d.kind {
                        if *domain != self.domain {
                            return self.stats.misaddressed += 1;
                        }
                    }
                    let Some(path) = fold_path(d.name) else {
                        return self.stats.malformed += 1;
                    };
                    (path, d.message)
                }
            },
        };
        match deliver(&folded, message) {
            Delivery::Delivered => self.stats.delivered += 1,
            Delivery::Forwarded => self.stats.forwarded += 1,
            Delivery::NoSuchSlot => self.stats.misaddressed += 1,
            Delivery::TooLarge => self.stats.oversized += 1,
        }
    }

    /// Answers a name query for one of this machine's unique names, from the interface's
    /// address to the asker.
    fn answer(&mut self, n: usize, from: SocketAddrV4) {
        let Ok(NamePacket::Query(q)) = nbt::decode_name_packet(&self.buf[..n]) else {
            return;
        };
        let Some(name) = self.unique.iter().find(|u| u.same(&q.name)) else {
            return;
        };
        let response = nbt::NameQueryResponse {
            id: q.id,
            name: name.clone(),
            rcode: 0,
            ttl: ANSWER_TTL,
            // A B node's unique name.
            addresses: vec![(0x0000, self.iface.address)],
        };
        let Some(bytes) = nbt::encode_name_query_response(&response) else {
            return;
        };
        let sent = retry(|| {
            rustix::net::sendto(
                self.names[0].as_fd(),
                &bytes,
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
                &SocketAddr::V4(from),
            )
        });
        if sent.is_ok() {
            self.stats.name_queries_answered += 1;
        }
    }
}

/// The folded form of a slot path from the network, if it is a valid local name.
fn fold_path(path: &str) -> Option<String> {
    let parsed = crate::name::mailslot::parse(&format!(r"\\.\mailslot\{path}")).ok()?;
    Some(parsed.folded)
}

/// How a remote write is built and where it goes.
pub(crate) struct Sender {
    /// A socket of this client's own, on the interface's address.
    own: UdpSocket,
    /// The listener of this process on the same interface and port, if there was one when the
    /// client opened: writes go from its socket while it lives, so that answers come back to
    /// the port it serves. Not kept alive by the client: once the listener goes, the port is
    /// free for the slot that takes over, and writes go from `own`.
    listener: Option<Weak<UdpSocket>>,
    to: SocketAddrV4,
    form: Form,
}

enum Form {
    Netbios {
        kind: DatagramKind,
        source: NbName,
        destination: NbName,
        source_ip: Ipv4Addr,
        mailslot: Vec<u8>,
    },
    Pipework {
        header: Vec<u8>,
        group: bool,
    },
}

static DATAGRAM_ID: AtomicU16 = AtomicU16::new(0);

fn next_id() -> u16 {
    // Distinct per process start as well as per datagram.
    let base = (std::process::id() as u16).wrapping_mul(0x9e37);
    base.wrapping_add(DATAGRAM_ID.fetch_add(1, Ordering::Relaxed))
}

impl Sender {
    /// Resolves the server part of a remote name (`None`: `*`) for the slot `path` and opens
    /// the socket to send from.
    pub(crate) fn open(
        server: Option<&str>,
        path: &str,
        config: &NetworkConfig,
    ) -> io::Result<Sender> {
        let iface = interface(config)?;
        match config.wire {
            Wire::Netbios => Self::open_netbios(server, path, config, &iface),
            Wire::Pipework => Self::open_pipework(server, path, config, &iface),
        }
    }

    fn open_netbios(
        server: Option<&str>,
        path: &str,
        config: &NetworkConfig,
        iface: &Iface,
    ) -> io::Result<Sender> {
        let scope = &config.scope;
        let group_to = SocketAddrV4::new(iface.broadcast, config.port);
        let (kind, destination, to) = match server {
            None => (
                DatagramKind::DirectGroup,
                nb_name(&config.workgroup, config.group_suffix, scope)?,
                group_to,
            ),
            Some(domain) if domain.eq_ignore_ascii_case(&config.workgroup) => (
                DatagramKind::DirectGroup,
                nb_name(domain, config.group_suffix, scope)?,
                group_to,
            ),
            Some(ip) if ip.parse::<Ipv4Addr>().is_ok() => (
                DatagramKind::DirectUnique,
                nb_name("*", 0x00, scope)?,
                SocketAddrV4::new(ip.parse().expect("checked"), config.port),
            ),
            Some(host) => {
                let first = host.split('.').next().unwrap_or(host);
                let unique = NbName::new(first, 0x00, scope).ok();
                let found = match &unique {
                    Some(name) if !host.contains('.') => query_name(iface, name, config)?,
                    _ => None,
                }
                .or_else(|| system_resolve(host, config.port).map(|a| *a.ip()));
                match found {
                    Some(ip) => (
                        DatagramKind::DirectUnique,
                        match unique {
                            Some(name) => name,
                            None => nb_name("*", 0x00, scope)?,
                        },
                        SocketAddrV4::new(ip, config.port),
                    ),
                    // Not a machine anyone answers for: a domain.
                    None => (
                        DatagramKind::DirectGroup,
                        nb_name(host, config.group_suffix, scope)?,
                        group_to,
                    ),
                }
            }
        };
        let own = bound_on(iface)?;
        let listener = registered(listen_key(Wire::Netbios, iface, config.port));
        if kind != DatagramKind::DirectUnique {
            sockopt::set_socket_broadcast(&own, true)?;
            if let Some(listener) = &listener {
                sockopt::set_socket_broadcast(&**listener, true)?;
            }
        }
        let mut mailslot = nbt::MAILSLOT_PREFIX.to_vec();
        mailslot.extend_from_slice(path.as_bytes());
        Ok(Sender {
            own,
            listener: listener.as_ref().map(Arc::downgrade),
            to,
            form: Form::Netbios {
                kind,
                source: nb_name(&netbios_name(config)?, 0x00, scope)?,
                destination,
                source_ip: iface.address,
                mailslot,
            },
        })
    }

    fn open_pipework(
        server: Option<&str>,
        path: &str,
        config: &NetworkConfig,
        iface: &Iface,
    ) -> io::Result<Sender> {
        let group_to = SocketAddrV4::new(config.group, config.port);
        let (kind, to) = match server {
            None => (pwms::Kind::Everyone, group_to),
            Some(domain) if domain.eq_ignore_ascii_case(&config.workgroup) => {
                (pwms::Kind::Domain(domain.to_string()), group_to)
            }
            Some(host) => match system_resolve(host, config.port) {
                Some(addr) => (pwms::Kind::Host, addr),
                None => (pwms::Kind::Domain(host.to_string()), group_to),
            },
        };
        let fd = bound_on(iface)?;
        let group = kind != pwms::Kind::Host;
        if group {
            if to.ip().is_multicast() {
                sockopt::set_ip_multicast_ttl(&fd, config.ttl)?;
                sockopt::set_ip_multicast_loop(&fd, true)?;
                sockopt::set_ip_multicast_if(&fd, &iface.address)?;
            } else {
                sockopt::set_socket_broadcast(&fd, true)?;
            }
        }
        let folded = path.to_lowercase();
        Ok(Sender {
            own: fd,
            listener: None,
            to,
            form: Form::Pipework {
                header: pwms::header(&folded, &kind),
                group,
            },
        })
    }

    /// Sends `message` as one datagram, after checking it against the wire's size rules (an
    /// `InvalidInput` error naming `display` and both sizes). A full buffer or an unreachable
    /// peer loses it, as datagrams are lost.
    pub(crate) fn write(&self, display: &str, message: &[u8]) -> io::Result<()> {
        let listener = self.listener.as_ref().and_then(Weak::upgrade);
        let socket: &UdpSocket = listener.as_deref().unwrap_or(&self.own);
        let datagram = match &self.form {
            Form::Netbios {
                kind,
                source,
                destination,
                source_ip,
                mailslot,
            } => {
                let max = nbt::max_data(*kind, source, destination, mailslot.len());
                let d = MailslotDatagram {
                    kind: *kind,
                    flags: nbt::FLAGS_B_NODE,
                    id: next_id(),
                    source_ip: *source_ip,
                    source_port: socket.local_addr()?.port(),
                    source: source.clone(),
                    destination: destination.clone(),
                    mailslot,
                    data: message,
                };
                match nbt::encode_mailslot(&d) {
                    Some(bytes) => bytes,
                    None => {
                        let what = if *kind == DatagramKind::DirectUnique {
                            format!("one NetBIOS datagram of at most {MAX_DATAGRAM} bytes")
                        } else {
                            format!(
                                "a message to every slot of a domain, at most \
                                 {MAX_BROADCAST_MESSAGE} bytes in a datagram of at most \
                                 {MAX_DATAGRAM}"
                            )
                        };
                        return Err(too_large(display, max, message.len(), &what));
                    }
                }
            }
            Form::Pipework { header, group } => {
                let (max, what) = if *group {
                    (
                        MAX_BROADCAST_MESSAGE,
                        "a message to every slot of a domain".to_string(),
                    )
                } else {
                    (
                        pwms::MAX_DATAGRAM - header.len(),
                        "one datagram".to_string(),
                    )
                };
                if message.len() > max {
                    return Err(too_large(display, max, message.len(), &what));
                }
                let mut d = Vec::with_capacity(header.len() + message.len());
                d.extend_from_slice(header);
                d.extend_from_slice(message);
                d
            }
        };
        // Both sockets are non-blocking: a full buffer is `WouldBlock`, and the datagram lost.
        match crate::sys::retry_io(|| socket.send_to(&datagram, self.to)) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::HostUnreachable
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(named(
                format_args!(
                    "mailslot {display}: cannot send to {}",
                    IpAddr::V4(*self.to.ip())
                ),
                e,
            )),
        }
    }
}

fn too_large(display: &str, max: usize, len: usize, what: &str) -> io::Error {
    invalid(
        format_args!("mailslot {display}"),
        format_args!("a message holds at most {max} bytes ({what}); this one has {len}"),
    )
}

/// A client's socket, on the interface's address and a port of the kernel's choice.
fn bound_on(iface: &Iface) -> io::Result<UdpSocket> {
    let fd = udp_socket()?;
    rustix::net::bind(&fd, &SocketAddr::V4(SocketAddrV4::new(iface.address, 0)))?;
    Ok(UdpSocket::from(fd))
}

/// Asks the interface's subnet where `name` is (a broadcast NetBIOS name query on the name
/// service port), as a Windows machine on a LAN does: [`QUERY_TRIES`] times, each answer awaited
/// [`QUERY_WAIT`]. `None` when nobody answers.
fn query_name(
    iface: &Iface,
    name: &NbName,
    config: &NetworkConfig,
) -> io::Result<Option<Ipv4Addr>> {
    let fd = udp_socket()?;
    rustix::net::bind(&fd, &SocketAddr::V4(SocketAddrV4::new(iface.address, 0)))?;
    sockopt::set_socket_broadcast(&fd, true)?;
    let id = next_id();
    let query = nbt::encode_name_query(&nbt::NameQuery {
        id,
        name: name.clone(),
        broadcast: true,
    });
    let to = SocketAddr::V4(SocketAddrV4::new(iface.broadcast, config.name_port));
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    for _ in 0..QUERY_TRIES {
        let _ = retry(|| {
            rustix::net::sendto(&fd, &query, SendFlags::NOSIGNAL | SendFlags::DONTWAIT, &to)
        });
        let deadline = Instant::now() + QUERY_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&crate::sys::time::timespec(left))) {
                Ok(0) => break,
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let Ok((_, full)) = retry(|| {
                rustix::net::recv(&fd, &mut buf[..], RecvFlags::DONTWAIT | RecvFlags::TRUNC)
            }) else {
                continue;
            };
            if full > MAX_DATAGRAM {
                continue;
            }
            if let Ok(NamePacket::Response(r)) = nbt::decode_name_packet(&buf[..full]) {
                if r.id == id && r.rcode == 0 && r.name.same(name) {
                    if let Some(&(_, ip)) = r.addresses.first() {
                        return Ok(Some(ip));
                    }
                }
            }
        }
    }
    Ok(None)
}

fn system_resolve(host: &str, port: u16) -> Option<SocketAddrV4> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(SocketAddrV4::new(ip, port));
    }
    (host, port).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(v4),
        SocketAddr::V6(v6) => v6
            .ip()
            .to_ipv4_mapped()
            .map(|ip| SocketAddrV4::new(ip, port)),
    })
}
