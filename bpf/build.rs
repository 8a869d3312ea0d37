//! Compiles src/bpf/cni.bpf.c with clang and generates its libbpf skeleton.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/cni.bpf.c";
const HEADERS: [&str; 2] = ["src/bpf/cni.h", "src/bpf/kernel.h"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"))
        .join("cni.skel.rs");
    // The BPF object is built for the architecture the crate is built for:
    // bpf_tracing.h picks the register layout from it.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let arch = match arch.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        "powerpc64" => "powerpc",
        "s390x" => "s390",
        "riscv64" => "riscv",
        "loongarch64" => "loongarch",
        other => other,
    };
    if let Err(error) = SkeletonBuilder::new()
        .source(SRC)
        .clang_args([format!("-D__TARGET_ARCH_{arch}"), "-Wall".to_owned()])
        .build_and_generate(&out)
    {
        panic!("building {SRC} failed (is clang installed?): {error:#}");
    }
    println!("cargo:rerun-if-changed={SRC}");
    for header in HEADERS {
        println!("cargo:rerun-if-changed={header}");
    }
}
