//! A whole shop for a test, a bench or a browser session (feature `test-util`): `bazaar
//! up` started as a user starts it (real processes, a fresh data directory, free ports),
//! inspected through its processes, databases and control API, and cleaned up after.

pub mod wrk;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The services `bazaar up` runs, each its own process, in name order.
pub fn services() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::REGISTRY.names().collect();
    names.sort_unstable();
    names
}

/// Those with a database of their own, in name order.
pub fn with_database() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::REGISTRY
        .entries()
        .iter()
        .filter(|e| e.def.database)
        .map(|e| e.name())
        .collect();
    names.sort_unstable();
    names
}

pub const ADMIN_EMAIL: &str = "admin@system-test.local";
pub const ADMIN_PASSWORD: &str = "Correct-Horse-Battery-9";

/// The shapes the shop runs in: everything embedded (SQLite, embedded events), or the
/// production shape (a PostgreSQL database per service, RabbitMQ).
#[derive(Clone, Debug, Default)]
pub enum Shape {
    #[default]
    Embedded,
    Production {
        postgres: Option<String>,
        amqp: Option<String>,
    },
}

/// The production shape from `BAZAAR_TEST_POSTGRES_URL` and `BAZAAR_TEST_AMQP_URL`, or
/// `None` (the test is skipped) when neither is set.
pub fn production() -> Option<Shape> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let postgres = var("BAZAAR_TEST_POSTGRES_URL").map(|u| u.trim_end_matches('/').to_owned());
    let amqp = var("BAZAAR_TEST_AMQP_URL");
    if postgres.is_none() && amqp.is_none() {
        eprintln!(
            "skipped: set BAZAAR_TEST_POSTGRES_URL and BAZAAR_TEST_AMQP_URL to run the production shape"
        );
        return None;
    }
    Some(Shape::Production { postgres, amqp })
}

/// A running `bazaar up`, stopped (and its data, databases and queues removed) when
/// dropped.
pub struct Shop {
    pub url: String,
    /// The supervisor's control API.
    pub control_url: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
    /// The PostgreSQL server and the prefix of this shop's databases on it.
    postgres: Option<(String, String)>,
    /// The broker and this shop's namespace on it.
    amqp: Option<(String, String)>,
    /// The admin's token [`Shop::processes`] asks the control API with: signing in
    /// through the gateway for every look would fail while a test has a gateway replica
    /// frozen (its queued connections are reset when the supervisor kills it).
    control_token: tokio::sync::OnceCell<String>,
}

/// Options for [`Shop::start_with`].
#[derive(Default)]
pub struct Options {
    pub shape: Shape,
    /// Environment of `bazaar up`. Rate limits are off (`BAZAAR_RATE_LIMITS=off`): every
    /// test's traffic comes from one address, often faster than a person's; a test of the
    /// limits turns them on here.
    pub env: Vec<(&'static str, String)>,
    /// Overrides the broker URL (a proxy in front of the test broker).
    pub broker: Option<String>,
    /// `bazaar up`'s standard output and error on one pipe that nobody reads once the
    /// shop is ready, as when `bazaar up | tee log` loses its `tee` (the log then ends
    /// at the ready line).
    pub unread_output: bool,
}

impl Options {
    /// The default options but for `name=value` in `bazaar up`'s environment.
    pub fn env(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            env: vec![(name, value.into())],
            ..Self::default()
        }
    }

    /// These options for a shop in `shape`.
    pub fn in_shape(self, shape: Shape) -> Self {
        Self { shape, ..self }
    }
}

impl Shop {
    pub fn start() -> Shop {
        Self::start_with(Options::default())
    }

    /// A shop in `shape`, otherwise as [`Shop::start`].
    pub fn start_in(shape: Shape) -> Shop {
        Self::start_with(Options {
            shape,
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> Shop {
        let data_dir = std::env::temp_dir().join(format!("bazaar-system-{}", unique()));
        let mut cmd = Command::new(bazaar_bin());
        cmd.args(["up", "--port", "0", "--data-dir"])
            .arg(&data_dir)
            .env("BAZAAR_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("BAZAAR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("BAZAAR_LOG", "warn")
            .env("BAZAAR_RATE_LIMITS", "off")
            .env_remove("BAZAAR_DATABASE")
            .env_remove("BAZAAR_PORT")
            .stdin(Stdio::null());
        // Both streams on one pipe when nobody is to read them after the ready line (the
        // pipe is closed then); each on its own otherwise.
        let merged = if options.unread_output {
            let (reader, writer) = std::io::pipe().expect("a pipe");
            cmd.stdout(writer.try_clone().expect("the pipe's writer, twice"))
                .stderr(writer);
            Some(reader)
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        };
        let mut postgres = None;
        let mut amqp = None;
        if let Shape::Production {
            postgres: pg,
            amqp: broker,
        } = &options.shape
        {
            if let Some(server) = pg {
                let base = format!("bz_{}", unique().replace('-', "_"));
                cmd.args(["--database", &format!("{server}/{base}")]);
                postgres = Some((server.clone(), base));
            }
            if let Some(url) = broker {
                let ns = format!("test-{}", unique());
                cmd.args(["--broker", options.broker.as_deref().unwrap_or(url)])
                    .env("BAZAAR_EVENTS_NAMESPACE", &ns);
                amqp = Some((url.clone(), ns));
            }
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("bazaar starts");
        // Our copies of the pipe's writer go with the command: the shop holds the only ones.
        drop(cmd);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<(String, String)>();
        let streams: Vec<(Box<dyn std::io::Read + Send>, _)> = match merged {
            Some(both) => vec![(Box::new(both), Some(ready_tx))],
            None => vec![
                (
                    Box::new(child.stdout.take().expect("piped stdout")),
                    Some(ready_tx),
                ),
                (Box::new(child.stderr.take().expect("piped stderr")), None),
            ],
        };
        let close_when_ready = options.unread_output;
        for (stream, tx) in streams {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("TEST_LOG").is_some() {
                        eprintln!("{line}");
                    }
                    if let (Some(tx), Some(rest)) = (&tx, line.strip_prefix("bazaar ready: ")) {
                        let url = rest.split_whitespace().next().unwrap_or_default();
                        let control = rest
                            .split("control API ")
                            .nth(1)
                            .map(|c| c.trim_end_matches(')'))
                            .unwrap_or_default();
                        let _ = tx.send((url.to_owned(), control.to_owned()));
                        if close_when_ready {
                            log.lock().unwrap().push(line);
                            return;
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let (url, control_url) = match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(urls) => urls,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "bazaar up did not print its ready line; its output:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Shop {
            url,
            control_url,
            data_dir,
            child: Some(child),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            postgres,
            amqp,
            control_token: tokio::sync::OnceCell::new(),
        }
    }

    /// The database URL of one service of this shop.
    pub fn database_url(&self, service: &str) -> String {
        match &self.postgres {
            Some((server, base)) => format!("{server}/{base}_{service}"),
            None => format!("sqlite://{}/{service}.db", self.data_dir.display()),
        }
    }

    /// A connection pool on one service's own database (to count what it did).
    pub async fn database(&self, service: &str) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url(service))
            .await
            .unwrap()
    }

    /// The PostgreSQL databases of this shop, if it runs on PostgreSQL.
    pub fn postgres(&self) -> Option<&(String, String)> {
        self.postgres.as_ref()
    }

    pub fn supervisor_pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The pid of the process running `bazaar serve <service>` under this shop.
    pub fn service_pid(&self, service: &str) -> Option<u32> {
        children_of(self.supervisor_pid())
            .into_iter()
            .find(|(_, cmdline)| cmdline.ends_with(&format!("serve\0{service}\0")))
            .map(|(pid, _)| pid)
    }

    /// Every service process of this shop: (pid, service).
    pub fn service_processes(&self) -> Vec<(u32, String)> {
        children_of(self.supervisor_pid())
            .into_iter()
            .filter_map(|(pid, cmdline)| {
                let args: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
                match args.as_slice() {
                    [_, "serve", name] => Some((pid, (*name).to_owned())),
                    _ => None,
                }
            })
            .collect()
    }

    /// Where each service listens (service → `http://127.0.0.1:<port>`), from the
    /// supervisor's control API: for calling a service directly, past the gateway.
    pub async fn service_urls(&self) -> std::collections::HashMap<String, String> {
        self.processes()
            .await
            .iter()
            .map(|p| {
                let service = p["service"].as_str().expect("a service name").to_owned();
                let port = p["port"].as_u64().expect("a port");
                (service, format!("http://127.0.0.1:{port}"))
            })
            .collect()
    }

    /// The supervisor's list of processes: one object per replica (`service`, `replica`,
    /// `pid`, `port`, `state`, `restarts`).
    pub async fn processes(&self) -> Vec<Value> {
        let admin = self.control_token.get_or_init(|| self.admin_token()).await;
        let list = send_json(
            self.http
                .get(format!("{}/processes", self.control_url))
                .bearer_auth(admin),
        )
        .await;
        list["processes"]
            .as_array()
            .expect("a process list")
            .clone()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the supervisor to exit; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("bazaar did not stop within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `n` lines the shop printed.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// `GET path` as JSON (whatever the status), with a bearer token when given.
    pub async fn json(&self, path: &str, token: Option<&str>) -> Value {
        let mut req = self.get(path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(format!("{}{path}", self.url))
    }

    /// Registers a customer and returns an access token.
    pub async fn customer_token(&self) -> String {
        let email = format!("shopper-{}@example.com", unique());
        let password = "correct horse battery staple";
        self.register(&email, password, "Ada Shopper").await;
        self.login(&email, password).await
    }

    /// Registers `email` as `name` through the gateway; fails the test unless the
    /// account is created. Returns the answer.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> reqwest::Response {
        let body = json!({"email": email, "password": password, "name": name});
        let r = self
            .post("/api/identity/register")
            .json(&body)
            .send()
            .await
            .unwrap();
        let r = assert_success(r, &format!("registering {email}")).await;
        assert_eq!(r.status(), StatusCode::CREATED, "registering {email}");
        r
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Signs in; returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.try_login(email, password).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /api/identity/login` with `email` and `password`: the answer, whatever it is.
    pub async fn try_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/api/identity/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Waits, for up to 15 s, until `path` answers 200 again after `service`'s process
    /// `old` ended, and asserts that a new process serves it.
    pub async fn wait_for_restart(&self, service: &str, old: u32, path: &str) {
        self.wait_for_status(path, StatusCode::OK, Duration::from_secs(15))
            .await;
        let new = self
            .service_pid(service)
            .unwrap_or_else(|| panic!("{service} was not restarted"));
        assert_ne!(new, old, "{service} runs in a new process");
    }

    /// Polls `path` until it answers `status`, for at most `within`.
    pub async fn wait_for_status(&self, path: &str, status: StatusCode, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self.get(path).send().await
                && r.status() == status
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not answer {status} within {within:?}; the shop's log:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The shopping steps the system tests and benches take, through the gateway.
impl Shop {
    /// The id of the catalog's first category.
    pub async fn first_category(&self) -> String {
        self.json("/api/catalog/categories", None).await["items"][0]["id"]
            .as_str()
            .expect("a category")
            .to_owned()
    }

    /// Every product of the catalog, page by page.
    pub async fn catalog_products(&self) -> Vec<Value> {
        let mut products = Vec::new();
        for page in 1.. {
            let listed = self
                .json(
                    &format!("/api/catalog/products?per_page=100&page={page}"),
                    None,
                )
                .await;
            let items = listed["items"].as_array().expect("a product page");
            products.extend(items.iter().cloned());
            if items.len() < 100 {
                break;
            }
        }
        products
    }

    /// Creates `product` in the first category as `admin`; returns the product's id.
    pub async fn create_product(&self, admin: &str, mut product: Value) -> String {
        product["category"] = self.first_category().await.into();
        let r = self
            .post("/api/catalog/products")
            .bearer_auth(admin)
            .json(&product)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{product}");
        let created: Value = r.json().await.unwrap();
        created["id"].as_str().expect("the product's id").to_owned()
    }

    /// The product's stock record, once inventory knows it (it learns products from
    /// events).
    pub async fn stock(&self, product: &str, within: Duration) -> Value {
        let path = format!("/api/inventory/{product}");
        eventually(within, Duration::from_millis(25), async || {
            let r = self.get(&path).send().await.unwrap();
            match r.status() {
                StatusCode::OK => Ok(r.json().await.unwrap()),
                other => Err(format!("inventory answers {other} for {product}")),
            }
        })
        .await
    }

    /// Adds `quantity` of `product` to the cart of the token's user (or the anonymous
    /// cart, without a token), waiting for the cart's copy of a brand new product to
    /// arrive. Returns the cart's answer.
    pub async fn add_to_cart(
        &self,
        token: Option<&str>,
        product: &str,
        quantity: u32,
        within: Duration,
    ) -> reqwest::Response {
        let body = json!({"product_id": product, "quantity": quantity});
        eventually(within, Duration::from_millis(50), async || {
            let mut req = self.post("/api/cart/items").json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            if status.is_success() {
                return Ok(r);
            }
            let text = r.text().await.unwrap_or_default();
            // 422: the cart has not heard of the product yet.
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "could not add {product} to the cart: {text}"
            );
            Err(format!("the cart does not know {product} yet: {text}"))
        })
        .await
    }

    /// `POST /api/orders/checkout` for the token's user with `key`, paying with `card`.
    pub async fn checkout(&self, token: &str, key: &str, card: &str) -> (StatusCode, Value) {
        let r = self
            .post("/api/orders/checkout")
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&checkout_body(card))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Empties the shopper's cart (`DELETE /api/cart`), which must succeed.
    pub async fn clear_cart(&self, token: &str) {
        let r = self.delete("/api/cart").bearer_auth(token).send().await;
        let status = r.as_ref().map(reqwest::Response::status);
        assert!(
            status.as_ref().is_ok_and(StatusCode::is_success),
            "clearing the cart: {status:?}"
        );
    }

    /// Starts the shopper's next visit from an empty cart, once every order of theirs is
    /// final: a cancelled order gives the lines its checkout took back to the cart, and
    /// one cancelled by recovery after a crash (its client already answered) may do so
    /// a while later. Orders or the cart may be restarting meanwhile: asked again.
    pub async fn fresh_cart(&self, token: &str, within: Duration) {
        eventually(within, Duration::from_millis(100), async || {
            let r = self
                .get("/api/orders?per_page=100")
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let page: Value = r.json().await.map_err(|e| e.to_string())?;
            let orders = page["items"]
                .as_array()
                .ok_or(format!("no orders: {page}"))?;
            let open = orders
                .iter()
                .filter(|o| !matches!(o["status"].as_str(), Some("confirmed" | "cancelled")))
                .count();
            match open {
                0 => Ok(()),
                n => Err(format!("{n} orders are not final yet")),
            }
        })
        .await;
        eventually(within, Duration::from_millis(100), async || {
            match self.delete("/api/cart").bearer_auth(token).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("clearing the cart: {}", r.status())),
                Err(e) => Err(format!("clearing the cart: {e}")),
            }
        })
        .await;
    }

    /// Waits until the token's user's cart is empty.
    pub async fn cart_emptied(&self, token: &str, within: Duration) {
        eventually(within, Duration::from_millis(50), async || {
            let cart = self.json("/api/cart", Some(token)).await;
            match cart["items"].as_array().is_some_and(|i| i.is_empty()) {
                true => Ok(()),
                false => Err(format!("the cart was not emptied: {cart}")),
            }
        })
        .await
    }
}

/// A card the simulated processor accepts.
pub const GOOD_CARD: &str = "4242424242424242";
/// A card the simulated processor declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// A checkout request paying with `card`.
pub fn checkout_body(card: &str) -> Value {
    json!({
        "payment": {"card_number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Square",
                             "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}
    })
}

/// The one number `sql` selects from `pool` (a count, a sum).
pub async fn scalar(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(sql).fetch_one(pool).await.unwrap();
    row.try_get(0).unwrap()
}

/// Runs `work` to its end on a multi-threaded runtime of its own: a bench's `main`.
pub fn block_on<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(work)
}

/// Fails the test unless `r` is a success (2xx), naming `what` and showing the body of
/// any other answer; returns it.
pub async fn assert_success(r: reqwest::Response, what: &str) -> reqwest::Response {
    let status = r.status();
    assert!(
        status.is_success(),
        "{what}: {status} {}",
        r.text().await.unwrap()
    );
    r
}

/// Sends `request` and reads its answer as text (whatever the status).
pub async fn send_text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Sends `request` and answers the status of its answer (the body left unread).
pub async fn send_status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

/// Sends `request` and reads its answer as JSON (whatever the status).
pub async fn send_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Sends what `request` builds until its answer's status is one `accepted` takes, trying
/// again every `every` for at most `within` while it cannot be sent or is answered 5xx (a
/// service restarting, say); any other answer fails the test at once, naming `what`.
pub async fn send_until(
    what: &str,
    within: Duration,
    every: Duration,
    accepted: impl Fn(StatusCode) -> bool,
    request: impl Fn() -> reqwest::RequestBuilder,
) {
    eventually(within, every, async || match request().send().await {
        Ok(r) if accepted(r.status()) => Ok(()),
        Ok(r) if r.status().is_server_error() => Err(format!("{what}: {}", r.status())),
        Ok(r) => panic!(
            "{what}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ),
        Err(e) => Err(format!("{what}: {e}")),
    })
    .await
}

/// Runs `probe` every `every` until it is `Ok`, for at most `within`; then panics with
/// its last `Err`.
pub async fn eventually<T>(
    within: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(why) => assert!(Instant::now() < deadline, "not within {within:?}: {why}"),
        }
        tokio::time::sleep(every).await;
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let postgres = self.postgres.take();
        let amqp = self.amqp.take();
        if postgres.is_none() && amqp.is_none() {
            return;
        }
        // Drop runs inside the test's runtime: clean up on a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Some((server, base)) = postgres {
                    drop_databases(&server, &base).await;
                }
                if let Some((url, ns)) = amqp {
                    let consumers: Vec<&str> =
                        crate::REGISTRY.consumers().map(|e| e.name()).collect();
                    let _ = events::amqp::delete_topology(&url, &ns, &consumers).await;
                }
            });
        })
        .join();
    }
}

async fn drop_databases(server: &str, base: &str) {
    use sqlx::{Connection, Executor};
    let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&format!("{server}/postgres")).await
    else {
        return;
    };
    for service in with_database() {
        let sql = format!("DROP DATABASE IF EXISTS \"{base}_{service}\" WITH (FORCE)");
        let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
    }
}

/// `(pid, cmdline)` of every process whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(fields) = proc_stat(pid) else {
            continue;
        };
        let (state, ppid) = (
            fields.first().map(String::as_str),
            fields.get(1).and_then(|p| p.parse::<u32>().ok()),
        );
        if ppid == Some(parent) && state != Some("Z") {
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            out.push((pid, cmdline));
        }
    }
    out
}

/// The fields of `/proc/<pid>/stat` from the third (the state) on: the command's name
/// before them, in parentheses, may hold spaces; the fields after it are fixed. `None`
/// when there is no such process.
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(") ")?;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
}

/// The `bazaar` executable of this build: `BAZAAR_BIN`, else the one beside the test or
/// bench executable that is running (`target/<profile>/deps/..`).
pub fn bazaar_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BAZAAR_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the running executable's path");
    let dir = exe.parent().expect("the executable is in a directory");
    let profile = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    profile.join(format!("bazaar{}", std::env::consts::EXE_SUFFIX))
}

/// A string no other test of this run has: the pid, a counter and the clock.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        Instant::now().elapsed().as_nanos()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos())
    )
}

/// Asserts that a response is a problem document with `status`, and returns it.
pub async fn assert_problem(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}
