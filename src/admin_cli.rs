//! The commands an administrator runs against a running shop, through the gateway:
//! `bazaar events …` (dead letters listed and replayed) and `bazaar keys …` (the token
//! signing keys listed and rotated).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Where the shop is and whom to sign in as: before or after the subcommand
/// (`bazaar events dead-letters cart --url …` as well as `bazaar events --url … dead-letters
/// cart`).
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The shop's address.
    #[arg(
        long,
        env = "BAZAAR_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An admin account's email.
    #[arg(long, env = "BAZAAR_ADMIN_EMAIL", global = true)]
    email: Option<String>,
    /// Its password.
    #[arg(
        long,
        env = "BAZAAR_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    password: Option<String>,
}

/// The services that consume events, which alone have dead letters: the values `--help`
/// lists and a wrong name is told.
/// A dead letter's id: a UUID, as `dead-letters` lists them. Anything else is refused
/// here, not put into the request's path, where `../` would reach another endpoint with
/// the administrator's token (the dead-letter review).
fn letter_id(id: &str) -> Result<String, String> {
    uuid::Uuid::try_parse(id)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| {
            "not a dead letter's id: a UUID, as `bazaar events dead-letters` lists them".into()
        })
}

fn consumer() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::REGISTRY.consumers().map(|e| e.name()))
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// List a consuming service's dead letters.
    DeadLetters {
        /// The consuming service.
        #[arg(value_parser = consumer())]
        service: String,
    },
    /// Run a dead letter through its handler again.
    Replay {
        /// The consuming service.
        #[arg(value_parser = consumer())]
        service: String,
        /// The dead letters' ids, one or more: replayed in the order given, with one
        /// sign-in (a subject's letters together, oldest first).
        #[arg(value_parser = letter_id, num_args = 1.., required = true)]
        ids: Vec<String>,
    },
    /// Close a dead letter without replaying it: one whose payload is not an event, or
    /// whose effect is no longer wanted. It stays on record, closed, with your name.
    Discard {
        /// The consuming service.
        #[arg(value_parser = consumer())]
        service: String,
        /// The dead letters' ids, one or more: closed in the order given, with one
        /// sign-in.
        #[arg(value_parser = letter_id, num_args = 1.., required = true)]
        ids: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// List the signing keys: next, signing, verifying (superseded, its tokens still
    /// valid) or retired.
    List,
    /// Rotate: a new key is published now and signs from `--activate-in` on; the old one
    /// verifies until its tokens expire. No restart; nobody is signed out.
    Rotate {
        /// Seconds until the new key signs (0–86 400). Keep it above 15 s, the time every
        /// replica of identity and every verifier needs to learn the key; 0 is for a
        /// compromised key, accepting a few seconds of refused new tokens.
        #[arg(long, default_value_t = 60)]
        activate_in: u64,
    },
}

pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let (method, service, ids) = match &args.command {
        EventsCommand::DeadLetters { service } => {
            let path = format!("/api/{service}/events/dead-letters");
            return call(&args.admin, Method::GET, &path, None)
                .await
                .map(|_| ());
        }
        EventsCommand::Replay { service, ids } => (Method::POST, service, ids),
        EventsCommand::Discard { service, ids } => (Method::DELETE, service, ids),
    };
    // One sign-in for them all: the sign-in limit (10 a minute for an account) would
    // refuse a run of letters replayed one command each.
    let session = Session::sign_in(&args.admin).await?;
    for id in ids {
        let path = match method {
            Method::POST => format!("/api/{service}/events/dead-letters/{id}/replay"),
            _ => format!("/api/{service}/events/dead-letters/{id}"),
        };
        let answer = session.send(method.clone(), &path, None).await?;
        if method == Method::DELETE {
            // Said as a replay's answer is, one document per letter.
            let closed = json!({"id": id, "result": "discarded"});
            outln!("{}", serde_json::to_string_pretty(&closed)?);
        }
        if method == Method::POST && answer["result"] == "failed" {
            bail!(
                "the handler failed again on {id}; the letter stays open, with its new error, \
                 and the letters after it were not replayed (`bazaar events dead-letters {service}`)"
            );
        }
    }
    Ok(())
}

pub async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::List => call(&args.admin, Method::GET, "/api/identity/keys", None).await,
        KeysCommand::Rotate { activate_in } => {
            let body = json!({"activate_in_secs": activate_in});
            call(&args.admin, Method::POST, "/api/identity/keys", Some(body)).await
        }
    }
    .map(drop)
}

/// Signs in as the admin, sends one request, prints the JSON answer and returns it; fails
/// unless 2xx.
async fn call(
    admin: &AdminArgs,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    Session::sign_in(admin)
        .await?
        .send(method, path, body)
        .await
}

/// How often a command waits for identity's sign-in limit before it gives up.
const SIGN_IN_WAITS: u32 = 3;

/// How long to wait before signing in again, when `login` was refused for signing in too
/// often and says when to come back (within a minute).
fn wait_to_sign_in(login: &reqwest::Response) -> Option<std::time::Duration> {
    if login.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs: u64 = login
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs <= 60).then(|| std::time::Duration::from_secs(secs.max(1)))
}

/// The shop, signed in to as the administrator.
struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    async fn sign_in(admin: &AdminArgs) -> anyhow::Result<Self> {
        let email = admin
            .email
            .as_deref()
            .context("an admin's email is needed: --email, or BAZAAR_ADMIN_EMAIL")?;
        let password = admin
            .password
            .as_deref()
            .context("the admin's password is needed: --password, or BAZAAR_ADMIN_PASSWORD")?;
        let http = platform::client::client();
        let base = admin.url.trim_end_matches('/').to_owned();
        let mut waits = 0;
        let login = loop {
            let login = http
                .post(format!("{base}/api/identity/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .with_context(|| format!("could not reach the shop at {base}"))?;
            // Every command signs in afresh, and an account may sign in 10 times at once
            // and 5 a minute after: an operator going through the dead letters of each
            // service in turn meets that limit (the docs review). Waiting it out beats
            // failing the command.
            match wait_to_sign_in(&login) {
                Some(wait) if waits < SIGN_IN_WAITS => {
                    waits += 1;
                    errln!(
                        "bazaar: this account has signed in too often for a moment (identity's \
                         limit per account); signing in again in {} s",
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => break login,
            }
        };
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
        Ok(Self { http, base, token })
    }

    /// `method path` (with `body` as JSON), printing the answer; an error unless 2xx.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        // A refusal is the command's error, on standard error: standard output carries
        // only what was asked for (a script's `> letters.json` held a problem document).
        if !status.is_success() {
            let said = match (body["title"].as_str(), body["detail"].as_str()) {
                (Some(title), Some(detail)) => format!(": {title}: {detail}"),
                (Some(title), None) => format!(": {title}"),
                _ => String::new(),
            };
            bail!("the shop answered {status}{said}");
        }
        // A `204 No Content` has nothing to show.
        if !body.is_null() {
            outln!("{}", serde_json::to_string_pretty(&body)?);
        }
        Ok(body)
    }
}
