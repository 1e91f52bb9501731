//! With the `rpc` feature: the Rust code of the example gRPC service (`proto/demo.proto`),
//! compiled with the `protoc` that `protoc-bin-vendored` ships (no `protoc` needed on the
//! machine, nothing compiled for it). Without the feature, nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "rpc")]
    rpc();
}

#[cfg(feature = "rpc")]
fn rpc() {
    println!("cargo:rerun-if-changed=proto/demo.proto");
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("protoc-bin-vendored's protoc");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .compile_with_config(config, &["proto/demo.proto"], &["proto"])
        .expect("compile proto/demo.proto");
}
