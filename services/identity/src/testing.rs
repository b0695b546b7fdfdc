//! A real identity service for other services' tests (feature `test-util`): one per test
//! binary, with a known administrator and service secret, signing customers up on demand.

use platform::{
    Launch, ServiceDef,
    auth::ServiceCredentials,
    config::Secret,
    testing::{Running, Scratch},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock, PoisonError},
};

/// The administrator the shared identity is configured with.
pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple-42";
/// The secret services present to the shared identity for their service tokens.
pub const SERVICE_SECRET: &str = platform::kit::TEST_SERVICE_SECRET;
/// The password of every customer signed up through the shared identity.
pub const PASSWORD: &str = "purple-monkey-dishwasher-7";
/// The customer of [`SharedIdentity::customer`].
pub const CUSTOMER_EMAIL: &str = "shopper@test.local";
pub const CUSTOMER_NAME: &str = "Sam Shopper";

/// A registered, signed-in customer.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub name: String,
    /// An access token.
    pub token: String,
}

/// The identity service a test binary's services verify tokens against.
#[derive(Debug)]
pub struct SharedIdentity {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// An access token of [`ADMIN_EMAIL`].
    pub admin_token: String,
    /// Identity's own runtime, where the fixed accounts and service tokens are fetched.
    runtime: tokio::runtime::Handle,
    accounts: Mutex<HashMap<String, Account>>,
    service_tokens: Mutex<HashMap<String, String>>,
}

/// The identity service of this test binary, started on first use.
///
/// One for the whole binary: each test has its own tokio runtime, which would take a
/// per-test identity down with it, and every start costs password hashes. It runs on a
/// thread and runtime of its own for as long as the binary does.
pub fn shared() -> &'static SharedIdentity {
    static SHARED: OnceLock<SharedIdentity> = OnceLock::new();
    SHARED.get_or_init(|| {
        platform::testing::start_for_binary("identity", |runtime| async move {
            let scratch = Scratch::for_binary("identity");
            let (running, admin_token) = start(&scratch).await?;
            let identity = SharedIdentity {
                url: running.url().to_owned(),
                admin_token,
                runtime,
                accounts: Mutex::default(),
                service_tokens: Mutex::default(),
            };
            Ok((identity, (running, scratch)))
        })
    })
}

/// Starts identity on a database in `scratch`; returns it and an administrator's token.
async fn start(scratch: &Scratch) -> anyhow::Result<(Running, String)> {
    let database_url = scratch.sqlite_url("identity");
    let running = platform::testing::spawn(
        &crate::SERVICE,
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &database_url),
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
            ("service_secret", SERVICE_SECRET),
        ],
    )
    .await?;
    let admin_token = login(running.url(), ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    Ok((running, admin_token))
}

impl SharedIdentity {
    /// The service `def` under test: on port 0, on `database_url`, trusting this identity,
    /// with the settings of `more` besides (`("catalog_url", …)`).
    pub fn launch(
        &self,
        def: &'static ServiceDef,
        database_url: &str,
        more: &[(&str, &str)],
    ) -> Launch {
        let mut settings = vec![
            ("listen", "127.0.0.1:0"),
            ("database_url", database_url),
            ("identity_url", self.url.as_str()),
        ];
        settings.extend_from_slice(more);
        Launch::for_tests(def, &settings)
    }

    /// [`SharedIdentity::launch`], built and running in the background.
    pub async fn spawn(
        &self,
        def: &'static ServiceDef,
        database_url: &str,
        more: &[(&str, &str)],
    ) -> Running {
        let service = self.launch(def, database_url, more).build().await;
        Running::spawn(service.unwrap_or_else(|e| panic!("{} builds: {e:#}", def.name)))
    }

    /// [`CUSTOMER_EMAIL`], signed up on first use.
    pub fn customer(&self) -> Account {
        self.account(CUSTOMER_EMAIL, CUSTOMER_NAME)
    }

    /// The customer `email`, signed up (as `name`, with [`PASSWORD`]) on first use: the
    /// same account every time in this test binary.
    pub fn account(&self, email: &str, name: &str) -> Account {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(account) = accounts.get(email) {
            return account.clone();
        }
        let (url, owned_email, owned_name) = (self.url.clone(), email.to_owned(), name.to_owned());
        let account = self
            .on_own_runtime(async move { sign_up(&url, &owned_email, &owned_name).await })
            .unwrap_or_else(|e| panic!("{email} did not sign up: {e:#}"));
        accounts.insert(email.to_owned(), account.clone());
        account
    }

    /// Signs up a new customer named `name` with an address of their own.
    pub async fn register(&self, name: &str) -> Account {
        let email = format!("shopper-{}@test.local", uuid::Uuid::new_v4().simple());
        sign_up(&self.url, &email, name)
            .await
            .unwrap_or_else(|e| panic!("{email} did not sign up: {e:#}"))
    }

    /// Signs in; returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        login(&self.url, email, password).await
    }

    /// A service token of `service`, fetched with [`SERVICE_SECRET`] on first use.
    pub fn service_token(&self, service: &str) -> String {
        let mut tokens = self
            .service_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = tokens.get(service) {
            return token.clone();
        }
        let credentials = ServiceCredentials::new(service, &self.url, Secret::new(SERVICE_SECRET));
        let token = self
            .on_own_runtime(async move { credentials.token().await })
            .unwrap_or_else(|e| panic!("no service token for {service}: {e}"));
        tokens.insert(service.to_owned(), token.clone());
        token
    }

    /// Runs `work` on identity's runtime, which outlives every test's, and waits for it.
    fn on_own_runtime<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().expect("identity's runtime finishes the work")
    }
}

/// Registers `email` as `name` with [`PASSWORD`] at the identity service at `url`
/// (`http://127.0.0.1:<port>`: the shared one, or one a test runs with settings of its
/// own) and signs in.
pub async fn sign_up(url: &str, email: &str, name: &str) -> anyhow::Result<Account> {
    let registered = reqwest::Client::new()
        .post(format!("{url}/api/identity/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": name}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == StatusCode::CREATED,
        "register answered {}: {}",
        registered.status(),
        registered.text().await.unwrap_or_default()
    );
    let body: Value = registered.json().await?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("register returned no id: {body}"))?
        .to_owned();
    let token = login(url, email, PASSWORD).await?;
    Ok(Account {
        id,
        email: email.to_owned(),
        name: name.to_owned(),
        token,
    })
}

async fn login(url: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let res = reqwest::Client::new()
        .post(format!("{url}/api/identity/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == StatusCode::OK,
        "login as {email} answered {}",
        res.status()
    );
    let body: Value = res.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login as {email} returned no access_token: {body}"))
}
