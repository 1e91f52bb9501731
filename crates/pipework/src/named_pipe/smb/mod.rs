//! Named pipes across machines, through Samba.

pub(crate) mod npa;
#[cfg(test)]
mod proptests;

pub use npa::{RemoteClient, Sid};
