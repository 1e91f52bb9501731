//! gRPC over named pipes (feature `rpc`).
