//! The IPv4 addresses of this machine's interfaces (`getifaddrs`): what a NetBIOS node needs to
//! know of the interface it was told to use (its address, its subnet's broadcast address).

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

/// One IPv4 address of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IfAddr {
    /// The interface's name (`eth0`, `lo`).
    pub(crate) name: String,
    pub(crate) address: Ipv4Addr,
    pub(crate) netmask: Ipv4Addr,
    /// The subnet's broadcast address, when the interface has one (`IFF_BROADCAST`).
    pub(crate) broadcast: Option<Ipv4Addr>,
    /// Whether the interface is up.
    pub(crate) up: bool,
}

/// The IPv4 address in `sa`, if it points to one.
///
/// # Safety
/// `sa` is null or points to a socket address as `getifaddrs` returns them (valid for its
/// family's size).
unsafe fn ipv4(sa: *const libc::sockaddr) -> Option<Ipv4Addr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null and valid per the caller; `sa_family` is the first field of every family.
    if libc::c_int::from(unsafe { (*sa).sa_family }) != libc::AF_INET {
        return None;
    }
    // SAFETY: an AF_INET address is a `sockaddr_in`; read unaligned, as the list gives no
    // alignment promise beyond `sockaddr`'s.
    let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
    Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
}

/// Every IPv4 address of every interface, in the kernel's order.
pub(crate) fn ipv4_addresses() -> io::Result<Vec<IfAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `getifaddrs` writes a list head into `list`, to be freed by `freeifaddrs`.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list `getifaddrs` returned, not freed until below.
        let node = unsafe { &*at };
        // SAFETY: the node's addresses are null or valid socket addresses of the list.
        if let Some(address) = unsafe { ipv4(node.ifa_addr) } {
            let name = if node.ifa_name.is_null() {
                String::new()
            } else {
                // SAFETY: a non-null interface name is a NUL-terminated string of the list.
                unsafe { CStr::from_ptr(node.ifa_name) }
                    .to_string_lossy()
                    .into_owned()
            };
            let flags = node.ifa_flags;
            let broadcast = if flags & libc::IFF_BROADCAST as libc::c_uint != 0 {
                // SAFETY: with IFF_BROADCAST, `ifa_ifu` is the broadcast address (or null).
                unsafe { ipv4(node.ifa_ifu) }
            } else {
                None
            };
            out.push(IfAddr {
                name,
                address,
                // SAFETY: as above.
                netmask: unsafe { ipv4(node.ifa_netmask) }.unwrap_or(Ipv4Addr::BROADCAST),
                broadcast,
                up: flags & libc::IFF_UP as libc::c_uint != 0,
            });
        }
        at = node.ifa_next;
    }
    // SAFETY: `list` came from `getifaddrs` and nothing refers to it any more.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let all = super::ipv4_addresses().unwrap();
        assert!(
            all.iter()
                .any(|a| a.address == std::net::Ipv4Addr::LOCALHOST && a.broadcast.is_none()),
            "{all:?}"
        );
    }
}
