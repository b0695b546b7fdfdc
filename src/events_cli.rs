//! `bazaar events …`: dead letters listed and replayed through the gateway, as an admin.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The shop's address.
    #[arg(long, env = "BAZAAR_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin account's email.
    #[arg(long, env = "BAZAAR_ADMIN_EMAIL")]
    email: String,
    /// Its password.
    #[arg(long, env = "BAZAAR_ADMIN_PASSWORD", hide_env_values = true)]
    password: String,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// List a consuming service's dead letters.
    DeadLetters {
        /// The consuming service (`inventory`).
        service: String,
    },
    /// Run a dead letter through its handler again.
    Replay {
        /// The consuming service.
        service: String,
        /// The dead letter's id.
        id: String,
    },
}

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let http = platform::client::client();
    let base = args.url.trim_end_matches('/');
    let login = http
        .post(format!("{base}/api/identity/login"))
        .json(&json!({"email": args.email, "password": args.password}))
        .send()
        .await
        .with_context(|| format!("could not reach the shop at {base}"))?;
    if !login.status().is_success() {
        bail!(
            "signing in failed: {}",
            login.text().await.unwrap_or_default()
        );
    }
    let token = login.json::<Value>().await?["access_token"]
        .as_str()
        .context("login answered without an access token")?
        .to_owned();
    let res = match &args.command {
        EventsCommand::DeadLetters { service } => {
            http.get(format!("{base}/api/{service}/events/dead-letters"))
                .bearer_auth(&token)
                .send()
                .await?
        }
        EventsCommand::Replay { service, id } => {
            http.post(format!(
                "{base}/api/{service}/events/dead-letters/{id}/replay"
            ))
            .bearer_auth(&token)
            .send()
            .await?
        }
    };
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    println!("{}", serde_json::to_string_pretty(&body)?);
    if !status.is_success() {
        bail!("the shop answered {status}");
    }
    Ok(())
}
