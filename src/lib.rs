//! The `bazaar` binary's library: the registry of the shop's services and the commands
//! that run them — `up` (the supervisor and its control API), `serve` (one service) and
//! `events` (dead letters) — and the command line itself (`cli`). `main.rs` only parses it
//! and runs the command.
#![forbid(unsafe_code)]

/// `println!` that drops a line it cannot write instead of panicking. `bazaar up` lives
/// longer than whoever reads its output may (`bazaar up | tee log` whose `tee` is gone, a
/// log shipper that died): `println!` would panic in the task that printed, and a keeper
/// that panics restarts nothing again, a rolling restart stops halfway.
///
/// A line lost for any reason but a reader gone (`| head`) is remembered
/// ([`output_lost`]): a command whose output is what it is for (`status --json >
/// status.json` on a full disk) then fails rather than exiting 0 with an empty file.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::lost_output(&e);
        }
    }};
}

static OUTPUT_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Remembers that a line of standard output could not be written, unless its reader is
/// gone (a broken pipe: `bazaar status | head` ends quietly).
#[doc(hidden)]
pub fn lost_output(e: &std::io::Error) {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        OUTPUT_LOST.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a line of standard output was lost other than to a reader gone.
pub fn output_lost() -> bool {
    OUTPUT_LOST.load(std::sync::atomic::Ordering::Relaxed)
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
