//! `bazaar`: the one binary of the shop.
//!
//! `bazaar up` (what `cargo run --release` runs) starts every service as its own process
//! and supervises them; `bazaar serve <service>` runs one service, configured by the
//! environment, which is what the supervisor starts and what a container runs.
#![forbid(unsafe_code)]

use bazaar::{
    admin_cli,
    cli::{Cli, Command},
    cpus, load, serve, shop_cli, supervisor,
    supervisor::UpArgs,
};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        None | Some(Command::Up(_) | Command::Serve { .. })
    ) {
        // What the shop writes (databases with customers' data and identity's signing
        // keys, the data directory's files) is its owner's alone: 0600, directories 0700.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        // Every process's connection limit is a share of the files it may open: as many
        // as the hard limit allows, inherited by the processes `up` starts.
        platform::service::raise_open_files_limit();
    }
    // Before the runtime starts any thread: they all inherit the CPUs this one is held to.
    if let Err(e) = cpus::apply() {
        eprintln!("bazaar: {e}");
        return ExitCode::from(2);
    }
    let mut workers_refused = None;
    let mut builder = match cpus::worker_threads() {
        // One worker: the thread that waits for the work does it, with no second thread
        // to wake for every task (a multi-threaded runtime of one worker still has two).
        Ok(Some(1)) => tokio::runtime::Builder::new_current_thread(),
        Ok(Some(n)) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        Ok(None) => tokio::runtime::Builder::new_multi_thread(),
        // A service refuses it with its other settings' mistakes, all named at once.
        Err(e) if matches!(cli.command, Some(Command::Serve { .. })) => {
            workers_refused = Some(e);
            tokio::runtime::Builder::new_current_thread()
        }
        Err(e) => {
            eprintln!("bazaar: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bazaar: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Commands whose output is what they are for fail when it could not be written.
    let output_matters = matches!(
        cli.command,
        Some(Command::Events(_) | Command::Keys(_) | Command::Status(_) | Command::Restart(_))
    );
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Serve { service }) => serve::serve(&service, workers_refused).await,
            Some(Command::Up(args)) => supervisor::up(args).await,
            Some(Command::Events(args)) => admin_cli::events(args).await,
            Some(Command::Keys(args)) => admin_cli::keys(args).await,
            Some(Command::Load(args)) => load::run(args).await,
            Some(Command::Status(args)) => shop_cli::status(args).await,
            Some(Command::Restart(args)) => shop_cli::restart(args).await,
            None => {
                // `cargo run` with no arguments: `up`, still honouring BAZAAR_PORT etc.
                let cli = Cli::parse_from(["bazaar", "up"]);
                match cli.command {
                    Some(Command::Up(args)) => supervisor::up(args).await,
                    _ => supervisor::up(UpArgs::default()).await,
                }
            }
        }
    });
    if let Err(e) = std::io::Write::flush(&mut std::io::stdout()) {
        bazaar::lost_output(&e);
    }
    match result {
        Ok(()) if output_matters && bazaar::output_lost() => {
            eprintln!("bazaar: could not write the output (standard output is full or closed)");
            ExitCode::FAILURE
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bazaar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
