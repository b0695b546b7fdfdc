//! `bazaar load`: scenario runs against a running shop at any address, open loop
//! (`--rate`) or closed loop (`--users`), measured in HDR histograms and reported on
//! stdout, as JSON (`--json`) and as an HTML report (`--report`).

mod engine;
mod progress;
mod report;
mod scenario;
mod shop;
mod stats;

use anyhow::Context;
use clap::Args;
use engine::{Model, Plan};
use scenario::{Scenario, Shopping};
use shop::Shop;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Options of `bazaar load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The shop's address: its gateway, an ingress, a port-forward (plain HTTP).
    #[arg(long, env = "BAZAAR_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// What each run does. `mixed` is 85% browse, 12% cart (filled, then left), 3%
    /// checkout.
    #[arg(long, value_enum, default_value_t = Scenario::Mixed)]
    scenario: Scenario,
    /// Open loop: start this many runs per second on a fixed schedule, however long the
    /// shop takes to answer; latency counts from each run's scheduled start.
    #[arg(long, value_parser = parse_rate, conflicts_with = "users")]
    rate: Option<f64>,
    /// Closed loop: this many virtual users, each starting a run when its last one ends
    /// (the default, with 16 users).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    users: Option<u32>,
    /// How long to start runs for: `30s`, `2m`, `1m30s`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an HTML report (index.html, with charts, and summary.json) into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Seed of the random choices (products, categories, search words, cards): the same
    /// seed makes the same choices. Random by default, and printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Time allowed for one request; runs still going this long × 3 after the end are
    /// cut off and counted as timeouts.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Open loop: at most this many runs in flight; a run due beyond it fails as
    /// `overload` instead of starting late.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_in_flight: u32,
    /// Shopper accounts to register and sign in before the load starts (default: enough
    /// for the checkouts expected in flight). More are registered during the load if
    /// none is ready, and show as `register` and `sign_in` steps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    accounts: Option<u32>,
    /// Exit with status 1 (after the summary and reports) when more than this share of
    /// runs failed: `0` for none at all, `0.01` for 1%. Unset, the status is 0 whatever
    /// the errors.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    max_error_rate: Option<f64>,
}

/// The longest load: a week (a load's deadline is a point in time, which a longer one
/// would put past what the clock can say).
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (say `30s`, `2m`)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    if d > MAX_DURATION {
        return Err(format!(
            "`{s}` is longer than a load may last (a week, `7d`)"
        ));
    }
    Ok(d)
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}`: a share of runs between 0 and 1 (0.01 is 1%)"
        )),
    }
}

/// Why the load fails the run: more of its runs failed than `max` (a share) allows.
fn too_many_errors(runs: u64, errors: u64, max: Option<f64>) -> Option<String> {
    let max = max?;
    let share = if runs == 0 {
        0.0
    } else {
        errors as f64 / runs as f64
    };
    (share > max).then(|| {
        format!(
            "{errors} of {runs} runs failed ({:.2}%), more than --max-error-rate allows ({:.2}%)",
            share * 100.0,
            max * 100.0
        )
    })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e6 => Ok(r),
        _ => Err(format!(
            "`{s}`: a number of runs per second, above 0 and at most 1000000"
        )),
    }
}

/// The closed-loop model's users when neither `--rate` nor `--users` is given.
const DEFAULT_USERS: u32 = 16;

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let model = match (args.rate, args.users) {
        (Some(rate), _) => Model::Open {
            rate,
            max_in_flight: args.max_in_flight as usize,
        },
        (None, users) => Model::Closed {
            users: users.unwrap_or(DEFAULT_USERS) as usize,
        },
    };
    report::check_outputs(args.json.as_deref(), args.report.as_deref())?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let scenario = args.scenario;
    let shop = Shop::connect(&args.url, args.timeout, scenario.buys()).await?;
    let accounts = if scenario.buys() {
        let n = args
            .accounts
            .map_or_else(|| accounts_for(model, scenario), |n| n as usize);
        shop.prepare_accounts(n).await.context(
            "preparing shopper accounts (run the shop with BAZAAR_RATE_LIMITS=off for load)",
        )?;
        n
    } else {
        0
    };
    let catalog = &shop.catalog;
    eprintln!(
        "bazaar load: {} products in {} categories{}, {accounts} shoppers signed in; seed {seed}",
        catalog.products.len(),
        catalog.categories.len(),
        if scenario.buys() {
            format!(" ({} stocked)", catalog.stocked.len())
        } else {
            String::new()
        },
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    // Ctrl-C or SIGTERM (how a container or a job runner stops it) ends the load early
    // with its summary, JSON and report written; a second one quits at once.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::spawn(async move {
        interrupted(&mut terminate).await;
        eprintln!(
            "bazaar load: stopping; runs in flight may finish (Ctrl-C or SIGTERM again to quit now)"
        );
        let _ = stop_tx.send(true);
        // Listening for them replaced their default action: restore it by hand.
        std::process::exit(interrupted(&mut terminate).await);
    });
    let plan = Plan {
        model,
        duration: args.duration,
        drain: args.timeout * 3,
        seed,
    };
    let progress = progress::Progress::new(args.duration);
    let shop = Arc::new(shop);
    let workload = Arc::new(Shopping {
        shop: shop.clone(),
        scenario,
    });
    let outcome = engine::execute(workload, &plan, stop_rx, progress.on_tick()).await;
    progress.finish();
    ctrl_c.abort();

    let setup = report::Setup {
        scenario: scenario.name(),
        url: &args.url,
        model,
        duration: args.duration,
        seed,
        accounts,
    };
    let summary = report::Summary::new(&setup, &outcome).with_examples(&shop.examples());
    print!("{}", report::text(&summary));
    if let Some(path) = &args.json {
        report::write_json(path, &summary)?;
    }
    if let Some(dir) = &args.report {
        report::write_html(dir, &summary)?;
        eprintln!(
            "bazaar load: report in {}",
            dir.join("index.html").display()
        );
    }
    if let Some(why) = too_many_errors(summary.runs, summary.errors, args.max_error_rate) {
        anyhow::bail!(why);
    }
    Ok(())
}

/// Enough accounts for the checkouts expected in flight at once, and as many again
/// whose cart is still emptying itself after their last order (under load the
/// confirmation event can take longer to reach the cart than a run takes).
fn accounts_for(model: Model, scenario: Scenario) -> usize {
    let share = scenario.checkout_share();
    let in_flight = match model {
        Model::Closed { users } => users as f64 * share,
        // A checkout run takes a fraction of a second on a healthy shop: those started
        // in half a second.
        Model::Open { rate, .. } => rate * share * 0.5,
    };
    ((in_flight * 2.0).ceil() as usize + 1).min(500)
}

/// Waits for Ctrl-C or, where it could be listened for, SIGTERM: the exit status the
/// signal's default action gives (130 or 143).
async fn interrupted(terminate: &mut Option<tokio::signal::unix::Signal>) -> i32 {
    let sigterm = async {
        match terminate {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        Ok(()) = tokio::signal::ctrl_c() => 130,
        () = sigterm => 143,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sigterm_stops_a_load_as_ctrl_c_does() {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        assert!(terminate.is_some(), "SIGTERM can be listened for");
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let status = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            interrupted(&mut terminate),
        )
        .await
        .expect("the SIGTERM is taken");
        assert_eq!(status, 143);
    }
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|c| c.load)
    }

    #[test]
    fn defaults_are_a_mixed_closed_loop_against_the_local_shop() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.url, "http://127.0.0.1:8080");
        assert_eq!(a.scenario, Scenario::Mixed);
        assert_eq!((a.rate, a.users), (None, None));
        assert_eq!(a.duration, Duration::from_secs(30));
        assert_eq!(a.timeout, Duration::from_secs(10));
    }

    #[test]
    fn durations_are_humane_and_rates_positive() {
        let a = parse(&[
            "--scenario",
            "checkout",
            "--rate",
            "12.5",
            "--duration",
            "1m30s",
        ])
        .unwrap();
        assert_eq!(a.rate, Some(12.5));
        assert_eq!(a.duration, Duration::from_secs(90));
        assert_eq!(
            parse(&["--duration", "2m"]).unwrap().duration,
            Duration::from_secs(120)
        );
        assert_eq!(
            parse(&["--duration", "250ms"]).unwrap().duration,
            Duration::from_millis(250)
        );
        for bad in [
            &["--duration", "soon"][..],
            &["--duration", "0s"],
            &["--duration", "9223372036854775807s"],
            &["--duration", "8d"],
            &["--timeout", "18446744073709551615s"],
            &["--rate", "0"],
            &["--rate", "-3"],
            &["--rate", "NaN"],
            &["--rate", "inf"],
            &["--users", "0"],
            &["--rate", "5", "--users", "5"],
            &["--scenario", "buy-everything"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_load_fails_when_more_runs_failed_than_the_share_allowed() {
        assert_eq!(too_many_errors(100, 5, None), None);
        assert_eq!(too_many_errors(100, 1, Some(0.01)), None);
        let why = too_many_errors(100, 2, Some(0.01)).unwrap();
        assert!(why.contains("2 of 100 runs failed (2.00%)"), "{why}");
        assert!(too_many_errors(100, 1, Some(0.0)).is_some());
        assert_eq!(too_many_errors(0, 0, Some(0.0)), None);
        let a = parse(&["--max-error-rate", "0.05"]).unwrap();
        assert_eq!(a.max_error_rate, Some(0.05));
        assert_eq!(parse(&[]).unwrap().max_error_rate, None);
        for bad in ["-0.1", "1.5", "5%", "NaN"] {
            assert!(parse(&["--max-error-rate", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn enough_accounts_are_prepared_for_the_checkouts_in_flight() {
        assert_eq!(
            accounts_for(Model::Closed { users: 16 }, Scenario::Checkout),
            33
        );
        assert_eq!(
            accounts_for(Model::Closed { users: 16 }, Scenario::Mixed),
            2
        );
        let open = Model::Open {
            rate: 10.0,
            max_in_flight: 100,
        };
        assert_eq!(accounts_for(open, Scenario::Checkout), 11);
        assert_eq!(accounts_for(open, Scenario::Browse), 1);
    }
}
