//! The threaded runtime of tapio-cni-collector, and the offline commands (`parse`, `replay`)
//! that both binaries share: they are plain synchronous IO around the core.

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod files;
pub mod lines;
pub mod offline;
pub mod proc;
pub mod runloop;
pub mod tail;
