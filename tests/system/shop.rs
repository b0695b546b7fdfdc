//! The shop as a user meets it: one command, several processes, one address.

use crate::helpers::{
    Options, Shape, Shop, alive, assert_problem, assert_success, send_json, send_status, services,
    unique, with_database,
};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

crate::in_both_shapes!(register_login_and_me_through_the_gateway);
async fn register_login_and_me_through_the_gateway(shape: Shape) {
    let shop = Shop::start_in(shape);
    let email = format!("ada-{}@example.com", unique());
    let r = shop.register(&email, "a long enough secret", "Ada").await;
    assert!(
        r.headers().contains_key("x-request-id"),
        "the gateway adds a request id"
    );
    let token = shop.login(&email, "a long enough secret").await;
    let me: Value = shop.json("/api/identity/me", Some(&token)).await;
    assert_eq!(me["email"], email);
    assert_eq!(me["roles"], json!(["customer"]));

    // The gateway refuses what no service should see.
    let r = shop.get("/api/identity/me").send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let r = shop
        .get("/api/identity/me")
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    // Without a token, a route or method that is not there is said so (the contract's
    // 404 for an unknown route), not that a token would help.
    let http = &shop.http;
    for (method, path, status) in [
        ("GET", "/api/orders", StatusCode::UNAUTHORIZED),
        (
            "GET",
            "/api/payments/ledger/summary",
            StatusCode::UNAUTHORIZED,
        ),
        ("GET", "/api/orders/x/y", StatusCode::NOT_FOUND),
        ("GET", "/api/payments/nonexistent", StatusCode::NOT_FOUND),
        ("OPTIONS", "/api/orders", StatusCode::METHOD_NOT_ALLOWED),
        (
            "DELETE",
            "/api/catalog/categories",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = http
            .request(method.clone(), format!("{}{path}", shop.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(r.headers().contains_key("allow"), "{method} {path}");
        }
        assert_problem(r, status).await;
    }
}

crate::in_both_shapes!(ready_means_the_seed_is_everywhere_and_the_catalog_browses);
async fn ready_means_the_seed_is_everywhere_and_the_catalog_browses(shape: Shape) {
    let shop = Shop::start_in(shape);
    every_seeded_product_is_served_the_moment_the_shop_is_ready(&shop).await;
    let cats: Value = shop.json("/api/catalog/categories", None).await;
    let cats = cats["items"].as_array().unwrap();
    assert!(cats.len() >= 10, "{} categories", cats.len());

    let all: Value = shop.json("/api/catalog/products?per_page=5", None).await;
    assert!(all["total"].as_u64().unwrap() >= 500, "{}", all["total"]);
    assert_eq!(all["items"].as_array().unwrap().len(), 5);

    let category = cats[0]["id"].as_str().unwrap();
    let filtered: Value = shop.json(&format!(
            "/api/catalog/products?category={category}&min_price=1000&max_price=20000&per_page=100"
        ), None).await;
    for item in filtered["items"].as_array().unwrap() {
        assert_eq!(item["category"], category);
        let price = item["price_cents"].as_i64().unwrap();
        assert!((1000..=20000).contains(&price), "{price}");
    }
    assert!(filtered["total"].as_u64().unwrap() < all["total"].as_u64().unwrap());

    let id = all["items"][0]["id"].as_str().unwrap();
    let one: Value = shop
        .json(&format!("/api/catalog/products/{id}"), None)
        .await;
    assert_eq!(one["id"], id);

    let r = shop
        .get("/api/catalog/products?page=0")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = shop.get("/api/nonexistent/things").send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    // A page that does not exist is the storefront's HTML 404; an API path a JSON problem.
    let r = shop.get("/nowhere").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let r = shop.get("/api/catalog/nowhere").send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = shop.get("/api/catalog/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
}

/// The instant `bazaar up` says ready, every seeded product can go in a cart, has stock
/// to buy (the contract: "each with stock"), has recommendations and is found by search:
/// no retries, no waiting (the products seeded last, whose events arrive last, are tried
/// first).
async fn every_seeded_product_is_served_the_moment_the_shop_is_ready(shop: &Shop) {
    use futures_util::{StreamExt, stream};
    let token = shop.customer_token().await;
    let mut products: Vec<(String, String)> = shop
        .catalog_products()
        .await
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(products.len() >= 500, "{} products", products.len());
    products.reverse();
    for batch in products.chunks(cart::domain::MAX_LINES) {
        for (id, _) in batch {
            let r = shop
                .post("/api/cart/items")
                .bearer_auth(&token)
                .json(&json!({"product_id": id, "quantity": 1}))
                .send()
                .await
                .unwrap();
            assert_success(r, &format!("cart refused seeded {id}")).await;
        }
        shop.clear_cart(&token).await;
    }
    let failures: Vec<String> = stream::iter(&products)
        .map(|(id, name)| async move {
            let stock = shop
                .get(&format!("/api/inventory/{id}"))
                .send()
                .await
                .unwrap();
            if stock.status() != StatusCode::OK {
                return Some(format!("no stock for {id}: {}", stock.status()));
            }
            let stock: Value = stock.json().await.unwrap_or_default();
            if stock["available"].as_i64().unwrap_or(0) < 1 {
                return Some(format!("{id} is seeded sold out: {stock}"));
            }
            let recommended = shop
                .get(&format!("/api/recommendations/products/{id}"))
                .send()
                .await
                .unwrap();
            if recommended.status() != StatusCode::OK {
                return Some(format!(
                    "recommendations do not know {id}: {}",
                    recommended.status()
                ));
            }
            let found = send_json(
                shop.get("/api/search")
                    .query(&[("q", name.as_str()), ("per_page", "50")]),
            )
            .await;
            let ids: Vec<&str> = found["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
                .unwrap_or_default();
            (!ids.contains(&id.as_str())).then(|| format!("search does not find “{name}” ({id})"))
        })
        .buffer_unordered(8)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {} products not served at ready: {:?}",
        failures.len(),
        products.len(),
        &failures[..failures.len().min(5)]
    );
}

crate::in_both_shapes!(an_admin_creates_products_and_a_customer_may_not);
async fn an_admin_creates_products_and_a_customer_may_not(shape: Shape) {
    let shop = Shop::start_in(shape);
    let admin = shop.admin_token().await;
    let customer = shop.customer_token().await;
    let cats: Value = shop.json("/api/catalog/categories", None).await;
    let category = cats["items"][0]["id"].as_str().unwrap().to_owned();
    let product = json!({
        "sku": "SYS-0001",
        "name": "Test Pattern Mug",
        "description": "A mug that only exists in a system test.",
        "category": category,
        "price_cents": 1299
    });

    let create = async |token: Option<&str>| {
        let mut req = shop.post("/api/catalog/products").json(&product);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    };
    assert_problem(create(None).await, StatusCode::UNAUTHORIZED).await;
    assert_problem(create(Some(&customer)).await, StatusCode::FORBIDDEN).await;
    let r = create(Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let fetched: Value = shop
        .json(&format!("/api/catalog/products/{id}"), None)
        .await;
    assert_eq!(fetched["name"], "Test Pattern Mug");
    assert_eq!(fetched["price_cents"], 1299);
    assert_problem(create(Some(&admin)).await, StatusCode::CONFLICT).await;
}

/// The CPUs a process may run on, as the kernel lists them (`0-1`, `0`).
fn cpus_allowed(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|l| l.trim().to_owned())
        .unwrap()
}

crate::in_both_shapes!(one_process_and_one_database_per_service_and_a_clean_stop);
async fn one_process_and_one_database_per_service_and_a_clean_stop(shape: Shape) {
    let mut shop = Shop::start_in(shape);
    let processes = shop.service_processes();
    let mut names: Vec<&str> = processes.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, services(), "{processes:?}");
    let mut pids: Vec<u32> = processes.iter().map(|(p, _)| *p).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        services().len(),
        "each service is its own process"
    );
    // Spread over the CPUs the shop may use, each process's threads held together
    // (`bazaar::cpus`): where there is more than one CPU, not all on the same ones.
    if cpus_allowed("self").contains(['-', ',']) && std::env::var_os("BAZAAR_CPUS").is_none() {
        let held: std::collections::BTreeSet<String> = pids
            .iter()
            .map(|pid| cpus_allowed(&pid.to_string()))
            .collect();
        assert!(held.len() > 1, "the processes share out the CPUs: {held:?}");
    }
    // The supervisor shows each process's CPUs as the kernel holds it to them.
    for p in shop.processes().await {
        let pid = p["pid"].as_u64().expect("a running process has a pid");
        assert_eq!(
            p["cpus"].as_str(),
            Some(cpus_allowed(&pid.to_string()).as_str()),
            "{p}"
        );
    }
    match shop.postgres() {
        None => {
            for service in with_database() {
                let db = format!("{service}.db");
                assert!(
                    shop.data_dir.join(&db).exists(),
                    "{db} in the data directory"
                );
            }
        }
        Some((server, base)) => {
            use sqlx::Connection;
            let mut conn = sqlx::postgres::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .expect("BAZAAR_TEST_POSTGRES_URL is reachable");
            let names: Vec<(String,)> = sqlx::query_as(
                "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
            )
            .bind(format!("{base}_%"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let names: Vec<String> = names.into_iter().map(|(n,)| n).collect();
            let expected: Vec<String> = with_database()
                .iter()
                .map(|s| format!("{base}_{s}"))
                .collect();
            assert_eq!(names, expected, "a database per service on the server");
        }
    }
    let health: Value = shop.json("/health/ready", None).await;
    assert_eq!(health["status"], "ready", "{health}");
    for service in services().into_iter().filter(|s| *s != "gateway") {
        assert_eq!(health["checks"][service], "ok", "{service}: {health}");
    }

    // Each service on a port of its own, and that port answered by that service: ports
    // are bound by the supervisor and handed over, never chosen and released.
    let urls = shop.service_urls().await;
    assert_eq!(urls.len(), services().len(), "{urls:?}");
    for (service, url) in &urls {
        let ready = send_json(shop.http.get(format!("{url}/health/ready"))).await;
        assert_eq!(ready["service"], service.as_str(), "{url}: {ready}");
    }
    let mut ports: Vec<&String> = urls.values().collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(
        ports.len(),
        services().len(),
        "a port per service: {urls:?}"
    );

    let code = shop.stop();
    assert_eq!(code, Some(0), "Ctrl-C is a clean stop");
    for pid in pids {
        assert!(!alive(pid), "service process {pid} outlived the supervisor");
    }
}

#[tokio::test]
async fn a_killed_service_is_refused_quickly_then_restarted() {
    let shop = Shop::start();
    let old = shop.service_pid("catalog").expect("catalog runs");
    signal::kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    // Until it is back, the gateway answers at once with a problem, never a hang.
    let started = Instant::now();
    let r = shop.get("/api/catalog/products").send().await.unwrap();
    if r.status() != StatusCode::OK {
        assert!(r.status().is_server_error(), "{}", r.status());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    shop.wait_for_restart("catalog", old, "/api/catalog/products")
        .await;
}

/// `bazaar up | tee log` whose `tee` is gone: the supervisor's output goes nowhere, and it
/// still starts again what dies, restarts a service on request and stops cleanly (a line
/// it could not write panicked the task writing it: the keeper of the killed service, the
/// rolling restart).
#[tokio::test]
async fn a_shop_whose_output_nobody_reads_still_keeps_its_services() {
    let mut shop = Shop::start_with(Options {
        unread_output: true,
        ..Options::default()
    });
    for _ in 0..2 {
        // Twice: a line written while the reader was still leaving may have reached the
        // pipe; the ones after it meet a closed one.
        let old = shop.service_pid("catalog").expect("catalog runs");
        signal::kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
        shop.wait_for_restart("catalog", old, "/api/catalog/products")
            .await;
    }
    let old = shop.service_pid("cart").expect("cart runs");
    let admin = shop.admin_token().await;
    let r = shop
        .http
        .post(format!(
            "{}/processes/cart/restart?wait=true",
            shop.control_url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("the control API answers");
    assert_success(r, "the rolling restart").await;
    let new = shop.service_pid("cart").expect("cart runs");
    assert_ne!(new, old, "cart was restarted");
    let pids: Vec<u32> = shop
        .service_processes()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(shop.stop(), Some(0), "a clean stop");
    for pid in pids {
        assert!(!alive(pid), "service process {pid} outlived the supervisor");
    }
}

/// The shop's address is held while its gateway is started again: a request made while
/// there is no gateway waits for the next one instead of being refused (other services'
/// ports refuse, so that callers fail over at once).
#[tokio::test]
async fn a_killed_gateway_leaves_the_shops_address_waiting_not_refusing() {
    let shop = Shop::start();
    let old = shop.service_pid("gateway").expect("the gateway runs");
    signal::kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    // Gone (its sockets closed), and its successor not yet started: the supervisor
    // waits 200 ms before it starts a crashed process again.
    while alive(old) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    // New connections, none kept from before.
    let http = reqwest::Client::new();
    let url = format!("{}/api/catalog/categories", shop.url);
    let asked = futures_util::future::join_all(
        (0..8).map(|_| http.get(&url).timeout(Duration::from_secs(20)).send()),
    )
    .await;
    for r in asked {
        let r = r.unwrap_or_else(|e| {
            panic!(
                "refused {:?} after the gateway died: {e}",
                started.elapsed()
            )
        });
        assert_eq!(r.status(), StatusCode::OK);
    }
    let new = shop.service_pid("gateway").expect("a new gateway");
    assert_ne!(new, old);
}

#[tokio::test]
async fn a_hung_service_times_out_at_the_gateway() {
    let shop = Shop::start_with(Options::env("BAZAAR_UPSTREAM_TIMEOUT_MS", "800"));
    let pid = shop.service_pid("catalog").expect("catalog runs");
    signal::kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    let started = Instant::now();
    let r = shop.get("/api/catalog/categories").send().await.unwrap();
    let took = started.elapsed();
    signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    assert_problem(r, StatusCode::GATEWAY_TIMEOUT).await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    shop.wait_for_status(
        "/api/catalog/categories",
        StatusCode::OK,
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test]
async fn the_supervisor_reports_its_processes_and_restarts_one_on_request() {
    let shop = Shop::start();
    let processes = format!("{}/processes", shop.control_url);
    assert_eq!(
        send_status(shop.http.get(&processes)).await,
        StatusCode::UNAUTHORIZED,
        "the control API needs a token"
    );
    let customer = shop.customer_token().await;
    let as_customer = shop.http.get(&processes).bearer_auth(&customer);
    assert_eq!(
        send_status(as_customer).await,
        StatusCode::FORBIDDEN,
        "a customer may not"
    );

    let admin = shop.admin_token().await;
    let list = send_json(shop.http.get(&processes).bearer_auth(&admin)).await;
    let catalog = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service"] == "catalog")
        .expect("catalog is listed")
        .clone();
    assert_eq!(catalog["state"], "ready", "{catalog}");
    assert_eq!(catalog["replica"], 1, "{catalog}");
    // The gateway is listed at the port only it answers on; the shop's address, which
    // `ready` printed, is the port its replicas share.
    let gateway = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service"] == "gateway")
        .expect("the gateway is listed")
        .clone();
    let shop_port = shop.url.rsplit(':').next().unwrap().trim_end_matches('/');
    assert_ne!(
        gateway["port"].to_string(),
        shop_port,
        "{gateway} {}",
        shop.url
    );
    let own = format!("http://127.0.0.1:{}/health/live", gateway["port"]);
    assert_eq!(send_status(shop.http.get(own)).await, StatusCode::OK);
    let old_pid = u32::try_from(catalog["pid"].as_u64().unwrap()).unwrap();
    assert_eq!(Some(old_pid), shop.service_pid("catalog"));

    let control = async |action: &str| {
        let url = format!("{}/processes/{action}", shop.control_url);
        shop.http
            .post(url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
    };
    let r = control("catalog/kill").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    shop.wait_for_restart("catalog", old_pid, "/api/catalog/categories")
        .await;
    let r = control("nonesuch/restart").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = control("catalog/kill?replica=9").await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a replica that is not there"
    );
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["detail"], "catalog has no replica 9", "{problem}");
    // Every other refusal is a problem document too, and a restart names no replica
    // (it replaces them all in turn).
    for (action, status) in [
        ("catalog/kill?replica=abc", StatusCode::UNPROCESSABLE_ENTITY),
        ("catalog/kill?replica=-1", StatusCode::UNPROCESSABLE_ENTITY),
        // Replicas are numbered from 1 (0 took the first one running).
        ("catalog/kill?replica=0", StatusCode::UNPROCESSABLE_ENTITY),
        // A name no service has is refused before the log says anything of it.
        (
            "x%0Abazaar%3A%20forged%0A/restart?wait=false",
            StatusCode::NOT_FOUND,
        ),
        (
            "catalog/restart?wait=maybe",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "catalog/restart?replica=7&wait=false",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("catalog/nonesuch", StatusCode::NOT_FOUND),
    ] {
        let r = control(action).await;
        assert_eq!(r.status(), status, "{action}");
        let kind = r.headers()[reqwest::header::CONTENT_TYPE].clone();
        assert_eq!(kind, "application/problem+json", "{action}");
    }
    let log = shop.log_tail(2_000);
    assert!(!log.contains("\nbazaar: forged"), "{log}");
    let r = shop
        .http
        .get(format!("{}/processes/catalog/kill", shop.control_url))
        .bearer_auth(&admin);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "application/problem+json"
    );

    // `bazaar status` lists them too, and a reader that goes away early (`| head`) ends
    // it quietly, not with a panic.
    let status = |json: bool| {
        let mut cmd = tokio::process::Command::new(bazaar::testing::bazaar_bin());
        cmd.arg("status").arg("--data-dir").arg(&shop.data_dir);
        if json {
            cmd.arg("--json");
        }
        cmd.kill_on_drop(true);
        cmd
    };
    let out = status(true).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .is_some_and(|all| all.iter().any(|p| p["service"] == "catalog")),
        "{listed}"
    );
    // Output that cannot be written (a full disk) fails the command; it exited 0 with an
    // empty file (the CLI review).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    // (Spawned: tokio's `output` would pipe the standard output it was given.)
    let out = status(true)
        .stdout(std::process::Stdio::from(full))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    assert!(!out.status.success(), "{:?}", out.status);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not write the output"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for json in [true, false] {
        let mut unread = status(json)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(unread.stdout.take());
        let out = unread.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "json: {json}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Through the gateway, each service's OpenAPI document describes what the gateway
/// routes: none of its internal paths (those are in the service's own document, on its
/// port), and every schema it refers to is in it.
#[tokio::test]
async fn the_public_documents_describe_what_the_gateway_routes_and_are_whole() {
    use platform::registry::Access;
    let shop = Shop::start();
    let direct = shop.service_urls().await;
    let mut internal_seen = 0;
    for entry in bazaar::REGISTRY.entries() {
        let name = entry.name();
        let r = shop
            .get(&format!("/api/{name}/openapi.json"))
            .send()
            .await
            .unwrap();
        if name == "gateway" {
            continue;
        }
        assert_eq!(r.status(), StatusCode::OK, "{name} publishes a document");
        let public: Value = r.json().await.unwrap();
        let full = send_json(shop.http.get(format!("{}/openapi.json", direct[name]))).await;
        let text = public.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let schema = &reference[..reference.find('"').unwrap()];
            assert!(
                public["components"]["schemas"][schema].is_object(),
                "{name}'s public document refers to a schema it lacks: {schema}"
            );
        }
        let paths = |doc: &Value| -> Vec<String> {
            doc["paths"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        let prefix = format!("/api/{name}");
        for path in paths(&full) {
            let internal = path
                .strip_prefix(&prefix)
                .and_then(|rest| entry.def.route(rest))
                .is_some_and(|route| route.access == Access::Internal);
            assert_eq!(
                public["paths"][&path].is_object(),
                !internal,
                "{name}: {path} is in the public document exactly when the gateway routes it"
            );
            internal_seen += usize::from(internal);
        }
    }
    assert!(
        internal_seen >= 5,
        "internal endpoints are documented on the services' own ports"
    );
}

/// `bazaar serve service` with `env`, which must refuse to start at once: what it said.
async fn refused_start(service: &str, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(bazaar::testing::bazaar_bin())
        .args(["serve", service])
        .env("BAZAAR_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), out)
        .await
        .unwrap_or_else(|_| panic!("{service} stops at once"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// `BAZAAR_WORKERS`, read before anything else (it shapes the runtime), is refused with
/// the other settings' mistakes, all named at once, not alone.
#[tokio::test]
async fn a_bad_worker_count_is_named_with_the_other_mistakes() {
    let stderr = refused_start(
        "catalog",
        &[
            ("BAZAAR_WORKERS", "abc"),
            ("BAZAAR_LOG_FORMAT", "yaml"),
            ("BAZAAR_DATABASE_URL", "mysql://nowhere/catalog"),
        ],
    )
    .await;
    for named in ["BAZAAR_WORKERS", "log_format", "BAZAAR_DATABASE_URL"] {
        assert!(
            stderr
                .to_ascii_lowercase()
                .contains(&named.to_ascii_lowercase()),
            "{named}: {stderr}"
        );
    }
}

/// A service's address that is not a URL is refused at start, naming the setting: not
/// taken, to fail every call to that service later.
#[tokio::test]
async fn a_service_url_that_is_not_one_is_refused_at_start() {
    let stderr = refused_start(
        "gateway",
        &[
            ("BAZAAR_CATALOG_URL", "127.0.0.1:28182"),
            ("BAZAAR_CART_URL", "http://127.0.0.1:1,ftp://127.0.0.1:2"),
        ],
    )
    .await;
    assert!(
        stderr.contains("BAZAAR_CATALOG_URL") && stderr.contains("`127.0.0.1:28182`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("BAZAAR_CART_URL") && stderr.contains("ftp://"),
        "{stderr}"
    );
}

/// A service that cannot start (here: its database cannot be opened) stops `bazaar up` with
/// its own error, at once, even while another service of its start level still waits (the
/// supervisor waited for them one at a time: recommendations, waiting for orders' events,
/// kept a crashing orders retried behind it for minutes).
#[tokio::test]
async fn a_service_that_cannot_start_stops_the_shop_with_its_own_error() {
    let data_dir = std::env::temp_dir().join(format!("bazaar-system-{}", unique()));
    // A directory where orders' database file goes: SQLite cannot open it.
    std::fs::create_dir_all(data_dir.join("orders.db")).unwrap();
    let out = tokio::process::Command::new(bazaar::testing::bazaar_bin())
        .args(["up", "--port", "0", "--data-dir"])
        .arg(&data_dir)
        .env("BAZAAR_LOG", "warn")
        .env_remove("BAZAAR_DATABASE")
        .env_remove("BAZAAR_PORT")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the shop stops within a minute, not after the waits of other services")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("orders") && stderr.contains("stopped before it was ready"),
        "{stderr}"
    );
    // Not started again on the way out (it said "restarting in 200 ms").
    assert!(!stderr.contains("restarting in"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A `--data-dir` that is a file is said to be one (it was "File exists").
#[tokio::test]
async fn a_data_directory_that_is_a_file_is_said_to_be_one() {
    let file = std::env::temp_dir().join(format!("bazaar-system-{}", unique()));
    std::fs::write(&file, "not a directory").unwrap();
    let out = tokio::process::Command::new(bazaar::testing::bazaar_bin())
        .args(["up", "--port", "0", "--data-dir"])
        .arg(&file)
        .env_remove("BAZAAR_DATABASE")
        .env_remove("BAZAAR_PORT")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is a file, not a directory"), "{stderr}");
    let _ = std::fs::remove_file(&file);
}
