//! The `bazaar` binary's library: the registry of the shop's services and the commands
//! that run them — `up` (the supervisor and its control API), `serve` (one service) and
//! `events` (dead letters) — and the command line itself (`cli`). `main.rs` only parses it
//! and runs the command.
#![forbid(unsafe_code)]

pub mod admin_cli;
pub mod cli;
pub mod control;
pub mod cpus;
pub mod load;
pub mod processes;
pub mod registry;
pub mod serve;
pub mod settings;
pub mod shop_cli;
pub mod supervisor;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod traces;

pub use registry::REGISTRY;
