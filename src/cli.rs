//! The `bazaar` command line, as clap declares it; `main.rs` parses it and runs the
//! command. Kept in the library so that what it reads from the environment can be listed
//! ([`variables`]) and checked against the operations guide.

use crate::{REGISTRY, admin_cli, load, shop_cli, supervisor::UpArgs};
use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bazaar",
    version,
    about = "Bazaar: an online shop built the microservices way"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the whole shop: every service as its own process, supervised (the default).
    Up(UpArgs),
    /// Operate on events: list, replay and discard dead letters through the gateway (as an
    /// admin).
    Events(admin_cli::EventsArgs),
    /// The token signing keys: list them, or rotate without a restart (as an admin).
    Keys(admin_cli::KeysArgs),
    /// Put load on a running shop: scenario runs, open or closed loop, with a report.
    Load(load::LoadArgs),
    /// Show the running shop's processes: service, replica, pid, port, state, restarts.
    Status(shop_cli::StatusArgs),
    /// Restart a service of the running shop replica by replica, failing no request.
    Restart(shop_cli::RestartArgs),
    /// Run one service in this process, configured by `BAZAAR_*` environment variables.
    Serve {
        /// The service to run.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(REGISTRY.names()))]
        service: String,
    },
}

/// Every environment variable an option of any `bazaar` command reads, each once, in name
/// order.
pub fn variables() -> Vec<String> {
    fn walk(command: &clap::Command, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.push(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_options_environment_variables_are_listed() {
        let vars = super::variables();
        for expected in [
            "BAZAAR_PORT",
            "BAZAAR_REPLICAS",
            "BAZAAR_URL",
            "BAZAAR_DATA_DIR",
        ] {
            assert!(vars.iter().any(|v| v == expected), "{expected}: {vars:?}");
        }
    }

    #[test]
    fn an_admin_commands_options_go_before_or_after_its_subcommand() {
        use clap::Parser;
        for args in [
            &[
                "bazaar",
                "events",
                "--url",
                "http://h:1",
                "dead-letters",
                "cart",
            ][..],
            &[
                "bazaar",
                "events",
                "dead-letters",
                "cart",
                "--url",
                "http://h:1",
            ],
            &[
                "bazaar",
                "keys",
                "list",
                "--url",
                "http://h:1",
                "--email",
                "a@b.c",
            ],
        ] {
            let parsed = super::Cli::try_parse_from(args)
                .unwrap_or_else(|e| panic!("{args:?}: {e}"))
                .command;
            let read = match parsed {
                Some(super::Command::Events(e)) => format!("{e:?}"),
                Some(super::Command::Keys(k)) => format!("{k:?}"),
                _ => panic!("{args:?}: another command"),
            };
            assert!(read.contains(r#"url: "http://h:1""#), "{args:?}: {read}");
        }
        for id in [
            "../../../catalog/products/p-1",
            "0190b2a5-1c2d-7e3f-8a4b-5c6d7e8f9a0b/x",
        ] {
            for command in ["replay", "discard"] {
                let refused = super::Cli::try_parse_from(["bazaar", "events", command, "cart", id]);
                let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    message.contains("not a dead letter's id"),
                    "{command} {id}: {message}"
                );
            }
        }
        let unknown = super::Cli::try_parse_from(["bazaar", "events", "dead-letters", "gateway"]);
        let message = unknown.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("invalid value 'gateway'")
                && message.contains("possible values")
                && message.contains("notifications"),
            "{message}"
        );
        // `--help` names them too.
        let help = {
            use clap::CommandFactory;
            let mut cli = super::Cli::command();
            let events = cli.find_subcommand_mut("events").unwrap();
            events
                .find_subcommand_mut("dead-letters")
                .unwrap()
                .render_help()
                .to_string()
        };
        assert!(
            help.contains("possible values: ") && help.contains("cart"),
            "{help}"
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
