//! Named pipes against strangers and hostile peers.
mod common;
fn main() {
    common::main(&[], &[])
}
