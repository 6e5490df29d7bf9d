//! Generates the CRI client and server (`src/node/cri.proto`, package runtime.v1) with
//! protox, a protobuf compiler written in Rust: building podflow needs no protoc.

fn main() {
    let proto = "src/node/cri.proto";
    println!("cargo:rerun-if-changed={proto}");
    let files = match protox::compile([proto], ["src/node"]) {
        Ok(files) => files,
        Err(e) => panic!("{proto}: {e}"),
    };
    tonic_prost_build::configure()
        .build_transport(true)
        .compile_fds(files)
        .unwrap_or_else(|e| panic!("generating the CRI code from {proto}: {e}"));
}
