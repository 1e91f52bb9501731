//! Mailslots across machines: one UDP datagram per message.
//!
//! A client of `\\host\mailslot\name` sends the message to that host; a client of
//! `\\*\mailslot\name` or `\\domain\mailslot\name` sends it to the configured multicast group (or
//! broadcast address), where every server of that name that listens to the network takes it.
//! As in Win32, this is datagram delivery: no receipt, no retransmission, and a server that is not
//! there, or whose receive buffer is full, never gets the message.
//!
//! Wire format of a datagram (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `PWMS` |
//! | 1 | version, 1 |
//! | 1 | kind: 0 one host, 1 everyone (`*`), 2 one domain |
//! | 2 | length of the folded slot name |
//! | 2 | length of the folded domain (kind 2), else 0 |
//! | n | folded slot name (UTF-8) |
//! | d | folded domain (UTF-8) |
//! | rest | the message |
//!
//! A server drops, without a word, every datagram that is malformed, for another name or domain,
//! or larger than its maximum message size.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

use crate::sys::error::{invalid, named};
use crate::sys::retry::retry;

/// The largest message sent to every slot of a name in a domain (`\\*\...`, `\\domain\...`),
/// as Win32 enforces it.
pub const MAX_BROADCAST_MESSAGE: usize = 424;

/// The largest UDP datagram: a message to one host is at most this minus the header.
const MAX_DATAGRAM: usize = 65_507;

const MAGIC: &[u8; 4] = b"PWMS";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 10;

/// The default UDP port of mailslot datagrams.
pub const DEFAULT_PORT: u16 = 51_380;
/// The default multicast group of `\\*` and domain messages (administratively scoped).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 80, 87);
/// The default domain of a server.
pub const DEFAULT_DOMAIN: &str = "WORKGROUP";

/// Where mailslot datagrams travel: port, group, interface, domain.
///
/// Servers serve the network only when asked ([`crate::mailslot::Mailslot::serve_network`]); clients use this for
/// names whose server part is not `.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The UDP port servers listen on and clients send to.
    pub port: u16,
    /// Where `\\*` and domain messages go: a multicast group (joined by listening servers), or a
    /// broadcast address such as `255.255.255.255` or a subnet's broadcast address.
    pub group: Ipv4Addr,
    /// The local address of the interface to send and join on; unspecified: the kernel's choice.
    pub interface: Ipv4Addr,
    /// The domain a listening server belongs to (`\\domain\mailslot\...` reaches it). A
    /// client takes this name as a domain without asking the resolver whether it is a host.
    pub domain: String,
    /// Multicast time-to-live (hops); 1 keeps messages on the local segment.
    pub ttl: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            port: DEFAULT_PORT,
            group: DEFAULT_GROUP,
            interface: Ipv4Addr::UNSPECIFIED,
            domain: DEFAULT_DOMAIN.to_string(),
            ttl: 1,
        }
    }
}

/// What a datagram is addressed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Host,
    Everyone,
    Domain(String),
}

/// Encodes the header of datagrams for slot `folded` and `kind`.
pub(crate) fn header(folded: &str, kind: &Kind) -> Vec<u8> {
    let domain = match kind {
        Kind::Domain(d) => d.to_lowercase(),
        _ => String::new(),
    };
    let mut h = Vec::with_capacity(HEADER_LEN + folded.len() + domain.len());
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.push(match kind {
        Kind::Host => 0,
        Kind::Everyone => 1,
        Kind::Domain(_) => 2,
    });
    h.extend_from_slice(&(folded.len() as u16).to_le_bytes());
    h.extend_from_slice(&(domain.len() as u16).to_le_bytes());
    h.extend_from_slice(folded.as_bytes());
    h.extend_from_slice(domain.as_bytes());
    h
}

/// A decoded datagram.
pub(crate) struct Datagram<'a> {
    pub(crate) kind: Kind,
    pub(crate) name: &'a str,
    pub(crate) message: &'a [u8],
}

/// Decodes a datagram; `None` when malformed.
pub(crate) fn decode(bytes: &[u8]) -> Option<Datagram<'_>> {
    if bytes.len() < HEADER_LEN || &bytes[0..4] != MAGIC || bytes[4] != VERSION {
        return None;
    }
    let name_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let domain_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let name_end = HEADER_LEN.checked_add(name_len)?;
    let domain_end = name_end.checked_add(domain_len)?;
    let name = std::str::from_utf8(bytes.get(HEADER_LEN..name_end)?).ok()?;
    let domain = std::str::from_utf8(bytes.get(name_end..domain_end)?).ok()?;
    let kind = match (bytes[5], domain_len) {
        (0, 0) => Kind::Host,
        (1, 0) => Kind::Everyone,
        (2, 1..) => Kind::Domain(domain.to_string()),
        _ => return None,
    };
    Some(Datagram {
        kind,
        name,
        message: &bytes[domain_end..],
    })
}

fn udp_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
}

/// The server's UDP socket: bound to the port on every address, member of the group.
pub(crate) fn listen(config: &NetworkConfig) -> io::Result<UdpSocket> {
    let fd = udp_socket()?;
    // Several servers of different names on one host share the port.
    sockopt::set_socket_reuseaddr(&fd, true)?;
    let _ = sockopt::set_socket_recv_buffer_size(&fd, 4 << 20);
    let bind_to = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, config.port);
    rustix::net::bind(&fd, &SocketAddr::V4(bind_to))
        .map_err(|e| named(format_args!("cannot serve on UDP port {}", config.port), e))?;
    if config.group.is_multicast() {
        sockopt::set_ip_add_membership(&fd, &config.group, &config.interface).map_err(|e| {
            named(
                format_args!("cannot join multicast group {}", config.group),
                e,
            )
        })?;
    }
    Ok(UdpSocket::from(fd))
}

/// A client's socket towards `\\server\mailslot\...`, and where it sends.
pub(crate) struct Sender {
    pub(crate) socket: UdpSocket,
    pub(crate) to: SocketAddrV4,
    pub(crate) kind: Kind,
}

/// Resolves the server part of a name: the configured domain is a domain (no lookup); an address
/// or a host name that resolves is one host; anything else is a domain.
pub(crate) fn sender(server: Option<&str>, config: &NetworkConfig) -> io::Result<Sender> {
    let (kind, to) = match server {
        None => (Kind::Everyone, SocketAddrV4::new(config.group, config.port)),
        Some(domain) if domain.eq_ignore_ascii_case(&config.domain) => (
            Kind::Domain(domain.to_string()),
            SocketAddrV4::new(config.group, config.port),
        ),
        Some(host) => match resolve(host, config.port) {
            Some(addr) => (Kind::Host, addr),
            None => (
                Kind::Domain(host.to_string()),
                SocketAddrV4::new(config.group, config.port),
            ),
        },
    };
    let fd = udp_socket()?;
    if !config.interface.is_unspecified() {
        rustix::net::bind(&fd, &SocketAddr::V4(SocketAddrV4::new(config.interface, 0)))?;
    }
    if kind != Kind::Host {
        if to.ip().is_multicast() {
            sockopt::set_ip_multicast_ttl(&fd, config.ttl)?;
            sockopt::set_ip_multicast_loop(&fd, true)?;
            if !config.interface.is_unspecified() {
                sockopt::set_ip_multicast_if(&fd, &config.interface)?;
            }
        } else {
            sockopt::set_socket_broadcast(&fd, true)?;
        }
    }
    // Writes never wait: a full send buffer drops the datagram, as a network would.
    Ok(Sender {
        socket: UdpSocket::from(fd),
        to,
        kind,
    })
}

fn resolve(host: &str, port: u16) -> Option<SocketAddrV4> {
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

/// Sends one datagram; a full buffer or an unreachable peer loses it, as datagrams are lost.
pub(crate) fn send(sender: &Sender, datagram: &[u8]) -> io::Result<()> {
    match retry(|| {
        rustix::net::sendto(
            sender.socket.as_fd(),
            datagram,
            rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
            &SocketAddr::V4(sender.to),
        )
    }) {
        Ok(_) => Ok(()),
        Err(rustix::io::Errno::AGAIN)
        | Err(rustix::io::Errno::CONNREFUSED)
        | Err(rustix::io::Errno::HOSTUNREACH) => Ok(()),
        Err(e) => Err(named(
            format_args!("cannot send to {}", IpAddr::V4(*sender.to.ip())),
            e,
        )),
    }
}

/// Checks the size of a network message before it is sent.
pub(crate) fn check_size(display: &str, kind: &Kind, len: usize, header: usize) -> io::Result<()> {
    let (limit, what) = match kind {
        Kind::Host => (MAX_DATAGRAM - header, "one datagram"),
        _ => (MAX_BROADCAST_MESSAGE, "a message to every slot of a domain"),
    };
    if len > limit {
        return Err(invalid(
            format_args!("mailslot {display}"),
            format_args!("a message holds at most {limit} bytes ({what}); this one has {len}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut d = header("a\\b", &Kind::Domain("WorkGroup".into()));
        d.extend_from_slice(b"hi");
        let got = decode(&d).unwrap();
        assert_eq!(got.kind, Kind::Domain("workgroup".into()));
        assert_eq!((got.name, got.message), ("a\\b", &b"hi"[..]));
        for bad in [
            &b""[..],
            b"PWMS",
            b"XXXX\x01\x00\x00\x00\x00\x00",
            b"PWMS\x01\x00\xff\xff\x00\x00",
        ] {
            assert!(decode(bad).is_none());
        }
        let mut d = header("x", &Kind::Everyone);
        d[5] = 2; // a domain kind without a domain
        assert!(decode(&d).is_none());
    }
}
