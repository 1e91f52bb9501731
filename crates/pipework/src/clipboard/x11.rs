//! The X11 backend (in progress).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::listen::Listener;
use super::render::Shared;
use crate::sync::Mutex;

#[derive(Debug)]
pub(crate) struct X11 {
    pub(crate) label: String,
    pub(crate) lock: Mutex,
}

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "X11 clipboard: not built yet")
}

impl X11 {
    pub(crate) fn connect(_display: Option<&str>) -> io::Result<X11> {
        Err(unsupported())
    }
    pub(crate) fn sequence_number(&self) -> io::Result<u64> {
        Err(unsupported())
    }
    pub(crate) fn formats(&self) -> io::Result<Vec<u32>> {
        Err(unsupported())
    }
    pub(crate) fn owner(&self) -> io::Result<Option<u32>> {
        Err(unsupported())
    }
    pub(crate) fn listen(&self) -> io::Result<Listener> {
        Err(unsupported())
    }
    pub(crate) fn render_all(&self, _s: &Arc<Shared>, _t: Duration) -> io::Result<usize> {
        Err(unsupported())
    }
    pub(crate) fn empty(&self, _r: Option<Arc<Shared>>) -> io::Result<()> {
        Err(unsupported())
    }
    pub(crate) fn owned_by(&self, _r: &Arc<Shared>) -> bool {
        false
    }
    pub(crate) fn put(&self, _f: u32, _d: Option<&[u8]>) -> io::Result<()> {
        Err(unsupported())
    }
    pub(crate) fn get(&self, _f: u32) -> io::Result<Option<Vec<u8>>> {
        Err(unsupported())
    }
}
