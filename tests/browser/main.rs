//! Browser tests: the whole shop started as a user starts it (`bazaar up`, real processes,
//! a fresh data directory, free ports), driven through headless Chromium by chromedriver
//! the way a shopper and an operator drive it. Screenshots of the main pages are saved
//! under `target/screenshots/`.
//!
//! Without `chromedriver` on the PATH the test is skipped with a message, unless
//! `BAZAAR_TEST_BROWSER=1` (CI) makes its absence a failure.

use bazaar::testing::{Options, Shop};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The longest any one scenario may take.
const SCENARIO: Duration = Duration::from_secs(90);
/// The longest a page may take to show what a step waits for.
const STEP: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_in_a_browser() {
    let Some(driver) = Driver::start() else {
        return;
    };
    // Every request traced, so that the checkout the operator looks for is among the
    // traces whatever the pace of the pages before it (the default starts at most 20 new
    // traces a second).
    let shop = Shop::start_with(Options::env("OTEL_TRACES_SAMPLER", "always_on"));
    scenario(
        "a new shopper buys two things",
        &driver,
        &shop,
        shopper_buys,
    )
    .await;
    scenario(
        "a declined card keeps the cart",
        &driver,
        &shop,
        card_declined,
    )
    .await;
    phone_scenario(
        "a shopper on a phone sees the whole cart and checkout",
        &driver,
        &shop,
        on_a_phone,
    )
    .await;
    scenario(
        "the operator kills and watches catalog",
        &driver,
        &shop,
        ops_console,
    )
    .await;
    scenario(
        "the operator follows a checkout's trace",
        &driver,
        &shop,
        checkout_trace,
    )
    .await;
}

/// Runs one scenario in a fresh browser session, within [`SCENARIO`].
async fn scenario<F, Fut>(name: &str, driver: &Driver, shop: &Shop, run: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Client>,
{
    run_in(name, driver.session(None).await, shop, run).await;
}

/// [`scenario`] in a browser the size of a phone's screen (375 × 812 CSS pixels).
async fn phone_scenario<F, Fut>(name: &str, driver: &Driver, shop: &Shop, run: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Client>,
{
    run_in(name, driver.session(Some((375, 812))).await, shop, run).await;
}

async fn run_in<F, Fut>(name: &str, client: Client, shop: &Shop, run: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Client>,
{
    eprintln!("scenario: {name}");
    let started = Instant::now();
    let outcome = tokio::time::timeout(SCENARIO, run(client, shop.url.clone())).await;
    match outcome {
        Ok(client) => {
            let _ = client.close().await;
            eprintln!("scenario: {name}: passed in {:?}", started.elapsed());
        }
        Err(_) => panic!(
            "scenario `{name}` took longer than {SCENARIO:?}; the shop's log:\n{}",
            shop.log_tail(60)
        ),
    }
}

// ---- The scenarios

async fn shopper_buys(c: Client, base: String) -> Client {
    let email = register(&c, &base, "Ada Browser").await;
    screenshot(&c, "home").await;
    assert!(
        text(&c, "header").await.contains("Ada Browser"),
        "{email} is signed in"
    );

    // Search with a typo in the longest word of a real product's name.
    let product = first_product(&base).await;
    let name = product["name"].as_str().unwrap().to_owned();
    let typo = with_typo(&name);
    fill(&c, "#q", &typo).await;
    click(&c, "form.search button[type=submit]").await;
    let card = wait_for_card(&c, &name).await;
    card.click().await.expect("the product card opens");
    wait_for(&c, "#product-title").await;
    assert_eq!(text(&c, "#product-title").await, name);
    screenshot(&c, "product").await;

    add_to_cart(&c, 1).await;
    // A second, different product, from the home page's shelves.
    c.goto(&format!("{base}/")).await.unwrap();
    let links = c.find_all(Locator::Css("a.card-link")).await.unwrap();
    let mut other = None;
    for link in links {
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        if !href.ends_with(product["id"].as_str().unwrap()) {
            other = Some(href);
            break;
        }
    }
    c.goto(&format!("{base}{}", other.expect("another product")))
        .await
        .unwrap();
    add_to_cart(&c, 1).await;

    c.goto(&format!("{base}/cart")).await.unwrap();
    wait_for(&c, "#cart-total").await;
    let lines = c.find_all(Locator::Css("tr[data-product]")).await.unwrap();
    assert_eq!(lines.len(), 2, "two products in the cart");
    screenshot(&c, "cart").await;
    click(&c, "a.button.primary[href='/checkout']").await;

    wait_for(&c, "#f-card_number").await;
    fill_checkout(&c, "4242424242424242").await;
    screenshot(&c, "checkout").await;
    click(&c, "#place-order").await;

    let placed = wait_for(&c, "#order-placed").await;
    assert!(placed.text().await.unwrap().contains("confirmed"));
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/orders/")
    );
    screenshot(&c, "order").await;

    // The confirmation arrives as a notification: the badge counts it (with the welcome).
    eventually(
        &c,
        "the badge to count the order's notification",
        async |c: &Client| {
            let badge = c.find(Locator::Css("#notification-badge")).await.ok()?;
            let count: i64 = badge.attr("data-count").await.ok()??.parse().ok()?;
            (count >= 2 && badge.is_displayed().await.ok()?).then_some(())
        },
    )
    .await;
    c.goto(&format!("{base}/account/notifications"))
        .await
        .unwrap();
    let list = wait_for(&c, "#notification-list").await;
    let messages = list.text().await.unwrap();
    assert!(messages.contains("is confirmed"), "{messages}");
    c
}

/// At a phone's width nothing of the cart or the checkout form lies off the screen or on
/// top of something else (a review found the cart's total off to the side and the card's
/// expiry fields overlapping).
async fn on_a_phone(c: Client, base: String) -> Client {
    register(&c, &base, "Pat Phone").await;
    let product = first_product(&base).await;
    c.goto(&format!("{base}/p/{}", product["id"].as_str().unwrap()))
        .await
        .unwrap();
    add_to_cart(&c, 2).await;
    c.goto(&format!("{base}/cart")).await.unwrap();
    wait_for(&c, "#cart-total").await;
    screenshot(&c, "phone-cart").await;
    fits_the_screen(&c, "the cart").await;

    c.goto(&format!("{base}/checkout")).await.unwrap();
    wait_for(&c, "#f-card_number").await;
    screenshot(&c, "phone-checkout").await;
    fits_the_screen(&c, "the checkout").await;
    let overlapping = c
        .execute(
            r#"
            const boxes = [...document.querySelectorAll(".field-row input")]
                .map(e => e.getBoundingClientRect());
            return boxes.some((a, i) => boxes.some((b, j) => i < j
                && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom));
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overlapping, false, "the card's fields overlap at 375 px");

    // A name of one long word (a German compound, 93 letters) wraps: its page, and the
    // cards that show it, stay as wide as the screen.
    let long = long_named_product(&base).await;
    c.goto(&format!("{base}/p/{long}")).await.unwrap();
    wait_for(&c, "h1").await;
    screenshot(&c, "phone-long-name").await;
    fits_the_screen(&c, "a long name's page").await;
    // Its card, first among its category's newest.
    c.goto(&format!("{base}/c/books?sort=newest"))
        .await
        .unwrap();
    wait_for_card(&c, LONG_NAME).await;
    fits_the_screen(&c, "a long name's category").await;
    c
}

/// Asserts that the page shown does not scroll sideways and that nothing in it reaches
/// past the screen's right edge; `what` names it in the failure.
async fn fits_the_screen(c: &Client, what: &str) {
    let off_screen = r#"
        const width = document.documentElement.clientWidth;
        const over = [...document.querySelectorAll(arguments[0])]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right));
        return [document.documentElement.scrollWidth <= width, over, width];
    "#;
    let seen = c.execute(off_screen, vec![json!("main *")]).await.unwrap();
    assert_eq!(seen[0], true, "{what} scrolls sideways: {seen}");
    assert_eq!(seen[1], json!([]), "{what}: off the screen: {seen}");
}

/// One German compound of 93 letters.
const LONG_NAME: &str =
    "Donaudampfschifffahrtsgesellschaftskapitänskajütenschlüsselanhängerbefestigungsvorrichtung";

/// A product named [`LONG_NAME`], created as the admin; its id.
async fn long_named_product(base: &str) -> String {
    let http = reqwest::Client::new();
    let signed_in = answer(
        http.post(format!("{base}/api/identity/login"))
            .json(&json!({"email": bazaar::testing::ADMIN_EMAIL, "password": bazaar::testing::ADMIN_PASSWORD})),
    )
    .await;
    let token = signed_in["access_token"]
        .as_str()
        .expect("the admin signs in");
    let created = answer(
        http.post(format!("{base}/api/catalog/products"))
            .bearer_auth(token)
            .json(&json!({"sku": format!("LONG-{}", &bazaar::testing::unique().replace('-', "")[..8].to_uppercase()),
                          "name": LONG_NAME, "description": "A very long word.", "category": "books",
                          "price_cents": 1500, "initial_stock": 5})),
    )
    .await;
    created["id"].as_str().expect("created").to_owned()
}

/// The JSON answer to `request`.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

async fn card_declined(c: Client, base: String) -> Client {
    register(&c, &base, "Bob Declined").await;
    let product = first_product(&base).await;
    c.goto(&format!("{base}/p/{}", product["id"].as_str().unwrap()))
        .await
        .unwrap();
    add_to_cart(&c, 1).await;
    c.goto(&format!("{base}/checkout")).await.unwrap();
    wait_for(&c, "#f-card_number").await;
    fill_checkout(&c, "4000000000000002").await;
    click(&c, "#place-order").await;
    let banner = wait_for(&c, "#checkout-banner").await;
    let said = banner.text().await.unwrap();
    assert!(said.contains("Your card was declined"), "{said}");
    assert!(said.contains("cart has been kept"), "{said}");
    let field = text(&c, "#f-card_number-error").await;
    assert!(field.contains("declined"), "{field}");
    screenshot(&c, "checkout-declined").await;

    c.goto(&format!("{base}/cart")).await.unwrap();
    wait_for(&c, "#cart-total").await;
    let lines = c.find_all(Locator::Css("tr[data-product]")).await.unwrap();
    assert_eq!(lines.len(), 1, "the cart is kept");
    c
}

async fn ops_console(c: Client, base: String) -> Client {
    c.goto(&format!("{base}/signin?next=%2Fops")).await.unwrap();
    fill(&c, "#f-email", bazaar::testing::ADMIN_EMAIL).await;
    fill(&c, "#f-password", bazaar::testing::ADMIN_PASSWORD).await;
    click(&c, "form.stacked button[type=submit]").await;
    wait_for(&c, "#services-body").await;

    let healthy = |c: &Client| {
        let c = c.clone();
        async move {
            let rows = c.find_all(Locator::Css("#services-body tr")).await.ok()?;
            let mut states = Vec::new();
            for row in &rows {
                states.push(row.attr("data-health").await.ok()??);
            }
            (!states.is_empty() && states.iter().all(|s| s == "up")).then_some(())
        }
    };
    eventually(&c, "every service to be up", async |c: &Client| {
        healthy(c).await
    })
    .await;
    screenshot(&c, "ops").await;

    // The table is brought up to date in place: a row's button is the same element poll
    // after poll (replaced every second, a click begun before a poll was lost, and a
    // focused link lost its focus: the console review).
    let kill = "button[data-action='kill'][data-service='catalog']";
    // Marked after the page's first update (which takes the server's indentation out of
    // the table), then two more updates seen, however long a busy machine takes for them.
    wait_for(&c, "#services-body[data-morphed]").await;
    let mark = format!("document.querySelector(\"{kill}\").bazaarKept = true;");
    c.execute(&mark, vec![]).await.unwrap();
    for _ in 0..2 {
        let before = text(&c, "#ops-updated").await;
        eventually(&c, "the console's next update", async |c: &Client| {
            (text(c, "#ops-updated").await != before).then_some(())
        })
        .await;
    }
    let kept = c
        .execute(
            &format!("return document.querySelector(\"{kill}\").bazaarKept === true;"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        kept,
        serde_json::json!(true),
        "the same button after two polls"
    );

    c.execute(
        r#"
        window.__catalogHealth = [];
        const body = document.getElementById("services-body");
        const look = () => {
          const row = body.querySelector('tr[data-service="catalog"]');
          const h = row && row.dataset.health;
          const seen = window.__catalogHealth;
          if (h && seen[seen.length - 1] !== h) seen.push(h);
        };
        look();
        new MutationObserver(look).observe(body, {subtree: true, childList: true, attributes: true});
        "#,
        vec![],
    )
    .await
    .unwrap();
    click(&c, "button[data-action='kill'][data-service='catalog']").await;

    let seen = |c: &Client| {
        let c = c.clone();
        async move {
            let v = c
                .execute("return window.__catalogHealth;", vec![])
                .await
                .ok()?;
            Some(
                v.as_array()?
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect::<Vec<String>>(),
            )
        }
    };
    eventually(&c, "catalog to turn red", async |c: &Client| {
        seen(c)
            .await
            .filter(|s| s.iter().any(|h| h == "down"))
            .map(|_| ())
    })
    .await;
    let row = "#services-body tr[data-service='catalog']";
    eventually(&c, "catalog to come back green", async |c: &Client| {
        let h = c
            .find(Locator::Css(row))
            .await
            .ok()?
            .attr("data-health")
            .await
            .ok()??;
        (h == "up").then_some(())
    })
    .await;
    let history = seen(&c).await.unwrap_or_default();
    let down = history.iter().position(|h| h == "down").unwrap();
    assert!(
        history[down..].iter().any(|h| h == "up"),
        "red, then green: {history:?}"
    );
    let process = text(&c, &format!("{row} td:nth-of-type(2)")).await;
    assert!(
        process.contains("restarted 1×"),
        "the supervisor restarted it: {process}"
    );
    screenshot(&c, "ops-recovered").await;

    // A restart is answered in about two seconds; its button stays disabled until then,
    // through the polls that redraw the table (a redraw enabled it after a second, and a
    // second click restarted again: the console review).
    let restart = "button[data-action='restart'][data-service='notifications']";
    c.execute(
        &format!(
            r#"
            window.__enabledTooSoon = false;
            const button = document.querySelector("{restart}");
            const message = document.getElementById("ops-message");
            new MutationObserver(() => {{
              if (!button.disabled && message.textContent.startsWith("Restarting")) window.__enabledTooSoon = true;
            }}).observe(button, {{attributes: true}});
            "#
        ),
        vec![],
    )
    .await
    .unwrap();
    click(&c, restart).await;
    eventually(&c, "the restart to be answered", async |c: &Client| {
        text(c, "#ops-message")
            .await
            .contains("a rolling restart has begun")
            .then_some(())
    })
    .await;
    let too_soon = c
        .execute("return window.__enabledTooSoon;", vec![])
        .await
        .unwrap();
    assert_eq!(
        too_soon,
        serde_json::json!(false),
        "the button was enabled before its restart was answered"
    );
    c
}

/// The trace of the first scenario's checkout, in the console: rooted at the gateway's
/// `POST /checkout`, through the storefront to orders.
async fn checkout_trace(c: Client, base: String) -> Client {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    if set("OTEL_EXPORTER_OTLP_ENDPOINT")
        || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        || is("OTEL_SDK_DISABLED", "true")
        || is("OTEL_TRACES_EXPORTER", "none")
    {
        eprintln!("scenario: the environment sends traces elsewhere (OTEL_*); not looked for");
        return c;
    }
    c.goto(&format!("{base}/signin?next=%2Fops%2Ftraces"))
        .await
        .unwrap();
    fill(&c, "#f-email", bazaar::testing::ADMIN_EMAIL).await;
    fill(&c, "#f-password", bazaar::testing::ADMIN_PASSWORD).await;
    click(&c, "form.stacked button[type=submit]").await;
    fill(&c, "#f-route", "POST /checkout").await;
    click(&c, "form.filters button[type=submit]").await;
    eventually(&c, "the filter to apply", async |c: &Client| {
        let url = c.current_url().await.ok()?;
        url.query()?.contains("route=").then_some(())
    })
    .await;

    // Services export their spans in batches every second: look again until it is in.
    let deadline = Instant::now() + Duration::from_secs(15);
    let link = loop {
        let mut found = None;
        if let Ok(links) = c.find_all(Locator::Css("#traces-body th a")).await {
            for link in links {
                if link
                    .text()
                    .await
                    .is_ok_and(|t| t.contains("POST /checkout"))
                {
                    found = Some(link);
                    break;
                }
            }
        }
        if let Some(link) = found {
            break link;
        }
        assert!(
            Instant::now() < deadline,
            "no `POST /checkout` trace in the console:\n{}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.unwrap();
    };
    link.click().await.unwrap();
    wait_for(&c, "#waterfall-body").await;
    assert!(text(&c, "h1").await.contains("POST /checkout"));
    let mut services = Vec::new();
    for row in c
        .find_all(Locator::Css("#waterfall-body tr"))
        .await
        .unwrap()
    {
        services.push(row.attr("data-service").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        services.first().map(String::as_str),
        Some("gateway"),
        "rooted at the gateway"
    );
    for service in ["storefront", "orders"] {
        assert!(
            services.iter().any(|s| s == service),
            "the checkout's trace reaches {service}: {services:?}"
        );
    }
    screenshot(&c, "trace").await;

    c.goto(&format!("{base}/ops/traces")).await.unwrap();
    wait_for(&c, "#service-map").await;
    screenshot(&c, "traces").await;

    // From the console's table, a service's slowest traced request (its latency
    // histogram's exemplar) opens as a waterfall. The console's own polling is traffic
    // through the gateway, so one shows within two scrapes of it.
    c.goto(&format!("{base}/ops")).await.unwrap();
    let slowest = eventually(
        &c,
        "a service's slowest traced request",
        async |c: &Client| c.find(Locator::Css("#services-body a.slowest")).await.ok(),
    )
    .await;
    let href = slowest.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("/ops/traces/"), "{href}");
    slowest.click().await.unwrap();
    // Its spans may still be in the services' export batches: look again until they are in.
    eventually(&c, "the slowest request's waterfall", async |c: &Client| {
        if c.find(Locator::Css("#waterfall-body tr")).await.is_ok() {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.ok()?;
        None
    })
    .await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        href,
        "the link opens its trace"
    );
    c
}

// ---- Steps

async fn register(c: &Client, base: &str, name: &str) -> String {
    let email = format!("browser-{}@example.com", bazaar::testing::unique());
    c.goto(&format!("{base}/register")).await.unwrap();
    fill(c, "#f-name", name).await;
    fill(c, "#f-email", &email).await;
    fill(c, "#f-password", "a-long-and-varied-passphrase").await;
    click(c, "form.stacked button[type=submit]").await;
    wait_for(c, "#notification-badge").await;
    email
}

async fn add_to_cart(c: &Client, quantity: u32) {
    let field = wait_for(c, "#f-quantity").await;
    field.clear().await.unwrap();
    field.send_keys(&quantity.to_string()).await.unwrap();
    click(c, "form.add-to-cart button[type=submit]").await;
    let notice = wait_for(c, ".notice-success").await;
    let said = notice.text().await.unwrap();
    assert!(said.contains(&format!("Added {quantity}")), "{said}");
}

async fn fill_checkout(c: &Client, card: &str) {
    let year = (chrono_year() + 3).to_string();
    for (field, value) in [
        ("#f-line1", "1 Analytical Engine Way"),
        ("#f-city", "London"),
        ("#f-postal_code", "N1 9GU"),
        ("#f-country", "GB"),
        ("#f-card_number", card),
        ("#f-exp_month", "12"),
        ("#f-exp_year", year.as_str()),
        ("#f-cvc", "123"),
    ] {
        fill(c, field, value).await;
    }
}

/// The current year, from the system clock.
fn chrono_year() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    1970 + secs / 31_556_952
}

/// The first product of the catalog, through the gateway.
async fn first_product(base: &str) -> Value {
    let page: Value = reqwest::get(format!("{base}/api/catalog/products?per_page=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"][0].clone()
}

/// A name with one letter dropped from its longest plain word (one typo).
fn with_typo(name: &str) -> String {
    let longest = name
        .split_whitespace()
        .filter(|w| w.chars().all(char::is_alphabetic))
        .max_by_key(|w| w.chars().count())
        .unwrap_or(name);
    let mut typo: String = longest.chars().take(2).collect();
    typo.extend(longest.chars().skip(3));
    name.replacen(longest, &typo, 1)
}

async fn wait_for_card(c: &Client, name: &str) -> Element {
    let deadline = Instant::now() + STEP;
    loop {
        if let Ok(cards) = c.find_all(Locator::Css("a.card-link")).await {
            for card in cards {
                if card.text().await.map(|t| t.trim() == name).unwrap_or(false) {
                    return card;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "`{name}` is not among the search results:\n{}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for(c: &Client, css: &str) -> Element {
    match c.wait().at_most(STEP).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!(
            "`{css}` did not appear ({e}) on {}:\n{}",
            c.current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default(),
            c.source().await.unwrap_or_default()
        ),
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = wait_for(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    wait_for(c, css).await.text().await.unwrap()
}

/// Looks every 100 ms, for up to a minute, until `check` finds what it looks for.
async fn eventually<T>(
    c: &Client,
    what: &str,
    mut check: impl AsyncFnMut(&Client) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check(c).await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
}

// ---- chromedriver

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    profiles: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free port, or `None` (the test is skipped) when it is not
    /// installed and `BAZAAR_TEST_BROWSER` is not `1`.
    fn start() -> Option<Driver> {
        let Some(binary) = on_path("chromedriver") else {
            if std::env::var("BAZAAR_TEST_BROWSER").as_deref() == Ok("1") {
                panic!("BAZAAR_TEST_BROWSER=1 but chromedriver is not on the PATH");
            }
            eprintln!(
                "skipped: chromedriver is not on the PATH (set BAZAAR_TEST_BROWSER=1 to require it)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = format!("{url}/status");
        loop {
            let ready = reqwest_blocking::ready(&status);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not answer at {status} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let profiles =
            std::env::temp_dir().join(format!("bazaar-browser-{}", bazaar::testing::unique()));
        Some(Driver {
            child,
            url,
            profiles,
        })
    }

    /// A new browser session with a fresh profile, with a phone's screen (`(width,
    /// height)` in CSS pixels, a touch screen) when `phone` is given.
    async fn session(&self, phone: Option<(u32, u32)>) -> Client {
        let profile = self.profiles.join(bazaar::testing::unique());
        std::fs::create_dir_all(&profile).expect("a profile directory");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,900"
                ]
            }
        });
        let mut capabilities = capabilities;
        if let Some((width, height)) = phone {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1, "touch": true}
            });
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A failed scenario leaves its browser open: stop it with its driver.
        for (pid, _) in bazaar::testing::children_of(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

/// The path of `program` if it is on the PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// A tiny blocking readiness probe (chromedriver starts before any runtime work).
mod reqwest_blocking {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    /// Whether `GET url` answers 200 (plain HTTP on 127.0.0.1 only).
    pub fn ready(url: &str) -> bool {
        let Some(rest) = url.strip_prefix("http://") else {
            return false;
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let Ok(mut stream) = TcpStream::connect(host) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 16];
        let Ok(n) = stream.read(&mut head) else {
            return false;
        };
        head[..n].starts_with(b"HTTP/1.1 200") || head[..n].starts_with(b"HTTP/1.0 200")
    }
}
