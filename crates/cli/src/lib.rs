//! The workloads `pipework bench` measures byte streams with, as a library, so that
//! `crates/peers` runs exactly the same traffic on other crates: see [`workload`].
//!
//! The `pipework` command itself is the binary of this package (`src/main.rs`); nothing else of
//! it is public.

pub mod workload;
