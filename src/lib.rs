//! The `bazaar` binary's library: the registry of the shop's services and the commands
//! that run them — `up` (the supervisor and its control API), `serve` (one service) and
//! `events` (dead letters) — and the command line itself (`cli`). `main.rs` only parses it
//! and runs the command.
#![forbid(unsafe_code)]

/// `println!` that drops a line it cannot write instead of panicking. `bazaar up` lives
/// longer than whoever reads its output may (`bazaar up | tee log` whose `tee` is gone, a
/// log shipper that died): `println!` would panic in the task that printed, and a keeper
/// that panics restarts nothing again, a rolling restart stops halfway.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`outln!`] for standard error: `eprintln!` that drops a line it cannot write.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

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
