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
    // The encoded descriptors too, for the server reflection service.
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("demo_descriptor.bin"))
        .compile_with_config(config, &["proto/demo.proto"], &["proto"])
        .expect("compile proto/demo.proto");
}
