//! Message data past the inline threshold: a sealed memfd that the sender fills and the
//! receiver maps read-only. The seals (no write, no shrink, no grow) are checked before the
//! bytes are believed, so the receiver can lend them out as a plain `&[u8]`: nobody, not even
//! the sender, can change or cut them while they are mapped.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{fcntl_add_seals, fcntl_get_seals, fstat, memfd_create, MemfdFlags, SealFlags};

use crate::sys::shm::{Copies, Protection, Region};

/// The seals a receiver requires.
fn required() -> SealFlags {
    SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW
}

/// A sealed memfd holding `data`.
pub(crate) fn seal(data: &[u8]) -> io::Result<OwnedFd> {
    let fd = memfd_create(
        "pipework-window-data",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    let fd = OwnedFd::from(file);
    fcntl_add_seals(&fd, required() | SealFlags::SEAL)?;
    Ok(fd)
}

/// Data mapped from a peer's sealed memfd, immutable for as long as it lives.
#[derive(Debug)]
pub(crate) struct Mapped {
    region: Region,
}

impl Mapped {
    /// Maps `len` bytes of `fd`, after checking that it is sealed against every change and
    /// exactly `len` bytes long (`InvalidData` otherwise).
    pub(crate) fn open(fd: &OwnedFd, len: u64) -> io::Result<Mapped> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let seals = fcntl_get_seals(fd).map_err(|_| bad("the attached handle is not a memfd"))?;
        if !seals.contains(required()) {
            return Err(bad("the attached memfd is not sealed against changes"));
        }
        let size = fstat(fd)?.st_size;
        if u64::try_from(size).ok() != Some(len) {
            return Err(bad("the attached memfd's size is not the data length"));
        }
        let len = usize::try_from(len).map_err(|_| bad("data too large for this process"))?;
        let region = Region::map_with(fd.as_fd(), 0, len, Protection::Read, Copies::Direct)?;
        Ok(Mapped { region })
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the region maps `len` bytes of a memfd sealed against writing, shrinking and
        // growing (checked in `open`): no process can change these pages or cut them away while
        // the mapping lives, and the mapping lives as long as `self`, which the slice borrows.
        unsafe { std::slice::from_raw_parts(self.region.as_ptr(), self.region.len()) }
    }
}
