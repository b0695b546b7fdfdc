//! `bazaar`: the one binary of the shop.
//!
//! `bazaar up` (what `cargo run --release` runs) starts every service as its own process
//! and supervises them; `bazaar serve <service>` runs one service, configured by the
//! environment, which is what the supervisor starts and what a container runs.
#![forbid(unsafe_code)]

mod control;
mod events_cli;
mod serve;
mod supervisor;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bazaar",
    version,
    about = "Bazaar: an online shop built the microservices way"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole shop: every service as its own process, supervised (the default).
    Up(UpArgs),
    /// Operate on events: list and replay dead letters through the gateway (as an admin).
    Events(events_cli::EventsArgs),
    /// Run one service in this process, configured by `BAZAAR_*` environment variables.
    Serve {
        /// The service to run.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(serve::SERVICES))]
        service: String,
    },
}

/// Options of `bazaar up`.
#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    /// Port of the gateway (the shop's address); the services take the ports after it.
    /// 0 picks free ports for all of them.
    #[arg(long, env = "BAZAAR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Directory for the services' SQLite databases and other state.
    #[arg(long, env = "BAZAAR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL server URL (`postgres://user@host:5432`): each service then gets its
    /// own database `bazaar_<service>` there, created if missing, instead of SQLite.
    #[arg(long, env = "BAZAAR_DATABASE")]
    pub database: Option<String>,
    /// Where events travel: `embedded` (the default: services read each other's outboxes,
    /// nothing to install) or a RabbitMQ URL (`amqp://guest:guest@127.0.0.1:5672/%2f`).
    #[arg(long, env = "BAZAAR_BROKER", default_value = "embedded")]
    pub broker: String,
}

impl Default for UpArgs {
    fn default() -> Self {
        Self {
            port: 8080,
            data_dir: PathBuf::from("data"),
            database: None,
            broker: "embedded".into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bazaar: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Serve { service }) => serve::serve(&service).await,
            Some(Command::Up(args)) => supervisor::up(args).await,
            Some(Command::Events(args)) => events_cli::run(args).await,
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bazaar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
