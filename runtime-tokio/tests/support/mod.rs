//! The two daemons' binaries, for the daemon under test of `common::daemon`.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

/// The tokio binary of this package.
pub const TOKIO_BIN: &str = env!("CARGO_BIN_EXE_tapio-cni-collector");

/// The threaded runtime's binary. Cargo cannot name another package's binary to a test; it is
/// built beside this one by `cargo test --workspace` (`make test`), or by
/// `cargo build -p tapio-cni-collector-lite`.
pub fn lite_bin() -> PathBuf {
    let path = Path::new(TOKIO_BIN).with_file_name("tapio-cni-collector-lite");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p tapio-cni-collector-lite` (or run the \
         workspace's tests)",
        path.display()
    );
    path
}
