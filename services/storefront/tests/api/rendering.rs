//! Every page template rendered with fixture data, without the rest of the shop: what
//! each page shows, that every field is labelled, and that nothing a shopper or a
//! product carries can inject markup.

use crate::helpers::{
    BROWSE_TRACE, CHECKOUT_TRACE, assert_accessible, checkout_trace, row, service_map, trace_list,
};
use platform::traces::{ServiceMap, TraceFilter, TraceList, TraceView};
use serde_json::{Value, json};
use std::time::Duration;
use storefront::{
    ops::{
        charts::{self, Metric, Point},
        traces::{self, TracePage, TracesPage},
    },
    views::{Chrome, UserView, Views},
};

fn views() -> Views {
    Views::new().expect("the templates load")
}

fn signed_in() -> Chrome {
    Chrome {
        user: Some(UserView {
            name: "Ada <b>Shopper</b>".into(),
            email: "ada@example.com".into(),
            is_admin: false,
        }),
        cart_count: Some(3),
        unread: Some(2),
        unread_more: false,
        newest_notification: Some("n-1".into()),
        query: "kettle".into(),
        path: "/p/x".into(),
        csrf_token: Some("the-sessions-csrf-token".into()),
    }
}

/// Asserts every form that changes something carries the session's CSRF token (and the
/// page its `<meta>` for scripts), or, without a session, that none does.
fn assert_forms_carry_the_token(html: &str, chrome: &Chrome) {
    let forms = html.matches(r#"method="post""#).count();
    assert!(forms > 0, "a form that changes something: {html}");
    match &chrome.csrf_token {
        Some(token) => {
            let field = format!(r#"<input type="hidden" name="csrf_token" value="{token}">"#);
            assert_eq!(
                html.matches(&field).count(),
                forms,
                "a token per form: {html}"
            );
            assert!(html.contains(&format!(r#"<meta name="csrf-token" content="{token}">"#)));
        }
        None => assert!(!html.contains("csrf"), "no token without a session"),
    }
}

fn card(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "category": "kitchen", "price": "$12.50",
        "url": format!("/p/{id}"), "image_url": format!("/images/products/{id}.svg")
    })
}

fn render(template: &str, chrome: &Chrome, page: Value) -> String {
    let html = views()
        .page(template, "Title", chrome, page)
        .unwrap_or_else(|e| panic!("{template} does not render: {e}"));
    assert_accessible(&html);
    html
}

#[test]
fn the_header_shows_the_user_their_cart_and_unread_count() {
    let html = render(
        "home.html",
        &signed_in(),
        json!({"categories": [], "shelves": [], "recommended": null}),
    );
    assert!(
        html.contains("Ada &lt;b&gt;Shopper&lt;/b&gt;"),
        "the name is escaped"
    );
    assert!(
        html.contains(r#"data-count="2""#),
        "the badge shows 2 unread"
    );
    assert!(
        html.contains(r#"<span class="count">3"#),
        "the cart shows 3 items"
    );
    assert!(
        html.contains(r#"value="kettle""#),
        "the search box keeps the query"
    );
    assert!(!html.contains("Ops console"), "customers get no ops link");
    let anonymous = render(
        "home.html",
        &Chrome::default(),
        json!({"categories": [], "shelves": [], "recommended": null}),
    );
    assert!(anonymous.contains("Sign in") && anonymous.contains("Create account"));
    assert!(!anonymous.contains("notification-badge"));
}

#[test]
fn home_lists_categories_and_shelves() {
    let html = render(
        "home.html",
        &Chrome::default(),
        json!({
            "categories": [{"id": "kitchen", "name": "Kitchen", "description": "", "product_count": 12, "url": "/c/kitchen"}],
            "shelves": [{"category": {"id": "kitchen", "name": "Kitchen", "description": "", "product_count": 12, "url": "/c/kitchen"},
                         "products": [card("p1", "Copper <script>alert(1)</script> Kettle")]}],
            "recommended": [card("p2", "Teapot")],
        }),
    );
    assert!(html.contains("12 products"));
    assert!(html.contains("Picked for you"));
    assert!(html.contains("/images/products/p1.svg"));
    assert!(
        !html.contains("<script>alert(1)"),
        "product names are escaped"
    );
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn a_category_shows_its_filters_errors_and_pages() {
    let html = render(
        "category.html",
        &Chrome::default(),
        json!({
            "category": {"id": "kitchen", "name": "Kitchen", "description": "Pots.", "product_count": 50, "url": "/c/kitchen"},
            "products": [card("p1", "Kettle")],
            "total": 50,
            "min_price": "cheap",
            "max_price": "",
            "sort_options": [{"value": "name", "label": "Name, A to Z", "selected": false},
                             {"value": "price_asc", "label": "Price, low to high", "selected": true}],
            "errors": {"min_price": "The price must be an amount like 25 or 19.99."},
            "pagination": {"page": 2, "pages": 3, "prev_url": "/c/kitchen", "next_url": "/c/kitchen?page=3",
                           "links": [{"number": 1, "url": "/c/kitchen", "current": false},
                                     {"number": 2, "url": "/c/kitchen?page=2", "current": true},
                                     {"number": 3, "url": "/c/kitchen?page=3", "current": false}]},
        }),
    );
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="f-min_price-error""#));
    assert!(html.contains("must be an amount like 25"));
    assert!(html.contains(r#"<option value="price_asc" selected>"#));
    assert!(html.contains(r#"aria-current="page">2<"#));
    assert!(html.contains(r#"rel="next""#));
    assert!(html.contains("50 products"));
}

#[test]
fn search_shows_facets_or_says_it_fell_back() {
    let page = |fallback: bool| {
        json!({
            "query": "ketle", "error": null, "products": [card("p1", "Kettle")], "total": 1,
            "fallback": fallback,
            "facets": [{"id": "kitchen", "name": "Kitchen", "count": 1, "url": "/search?q=ketle&category=kitchen", "selected": true}],
            "all_categories_url": "/search?q=ketle", "category": "kitchen",
            "sort_options": [{"value": "relevance", "label": "Best match", "selected": true}],
            "pagination": null,
        })
    };
    let html = render("search.html", &Chrome::default(), page(false));
    assert!(html.contains("Results for “ketle”"));
    assert!(html.contains(r#"aria-current="true">Kitchen"#));
    assert!(!html.contains("Search is unavailable"));
    let fallback = render("search.html", &Chrome::default(), page(true));
    assert!(fallback.contains("Search is unavailable right now"));
}

#[test]
fn a_search_page_past_the_last_says_so_and_links_to_the_first() {
    let page = |total: i64, past_the_end: bool, error: Option<&str>| {
        json!({
            "query": "lamp", "error": error, "products": [], "total": total, "fallback": false,
            "facets": [], "all_categories_url": "/search?q=lamp", "category": null,
            "sort_options": [], "pagination": null,
            "first_page_url": "/search?q=lamp&sort=price_desc", "past_the_end": past_the_end,
        })
    };
    let link = r#"<a href="/search?q=lamp&amp;sort=price_desc">see the first page</a>"#;
    // Results, but not this far.
    let past = render("search.html", &Chrome::default(), page(33, false, None));
    assert!(
        past.contains("This page is past the last one") && past.contains(link),
        "{past}"
    );
    assert!(!past.contains("Nothing matches"));
    // Deeper than search lets anyone page: refused, not an outage.
    let deep = render(
        "search.html",
        &Chrome::default(),
        page(
            0,
            true,
            Some("That page cannot be shown: only the first 10000 results can be paged through"),
        ),
    );
    assert!(
        deep.contains("That page cannot be shown") && deep.contains(link),
        "{deep}"
    );
    assert!(!deep.contains("Nothing matches") && !deep.contains("Search is unavailable"));
    // Nothing at all.
    let none = render("search.html", &Chrome::default(), page(0, false, None));
    assert!(none.contains("Nothing matches “lamp”"));
}

#[test]
fn a_product_shows_price_stock_and_what_else_to_buy() {
    let product = json!({
        "id": "p1", "sku": "KIT-00001", "name": "Kettle", "description": "Boils.\nFast.",
        "price": "$45.00", "image_url": "/images/products/p1.svg",
        "category": {"id": "kitchen", "name": "Kitchen", "description": "", "product_count": 0, "url": "/c/kitchen"},
    });
    let html = render(
        "product.html",
        &Chrome::default(),
        json!({
            "product": product,
            "stock": {"status": {"status": "low", "available": 3}, "label": "Only 3 left", "can_buy": true, "max_quantity": 3},
            "recommendations": null, "added": 2, "cart_error": null,
        }),
    );
    assert!(html.contains("$45.00"));
    assert!(html.contains(r#"class="stock stock-low""#) && html.contains("Only 3 left"));
    assert!(html.contains(r#"max="3""#));
    assert!(html.contains("Added 2 to your cart"));
    assert!(html.contains("Recommendations are unavailable right now."));
    let sold_out = render(
        "product.html",
        &Chrome::default(),
        json!({
            "product": product,
            "stock": {"status": {"status": "out_of_stock"}, "label": "Out of stock", "can_buy": false, "max_quantity": 99},
            "recommendations": [card("p2", "Teapot")], "added": null, "cart_error": "Choose a quantity between 1 and 99.",
        }),
    );
    assert!(
        !sold_out.contains("Add to cart"),
        "nothing to add when sold out"
    );
    assert!(sold_out.contains("Teapot"));
    assert!(sold_out.contains(r#"role="alert">Choose a quantity"#));
}

fn cart_page(signed_in: bool, lines: Value) -> Value {
    json!({
        "lines": lines, "total": "$25.00", "units": 2, "notice": "Quantity updated.", "error": null,
        "signed_in": signed_in, "has_unavailable": false,
    })
}

#[test]
fn the_cart_lists_lines_with_their_forms() {
    let line = json!([{
        "product_id": "p1", "name": "Kettle", "url": "/p/p1", "image_url": "/images/products/p1.svg",
        "unit_price": "$12.50", "quantity": 2, "line_total": "$25.00", "available": true,
    }]);
    let html = render(
        "cart.html",
        &Chrome::default(),
        cart_page(false, line.clone()),
    );
    assert!(html.contains(r#"action="/cart/items/p1""#));
    assert!(html.contains(r#"action="/cart/items/p1/remove""#));
    assert!(html.contains("Quantity of Kettle"));
    assert!(html.contains("$25.00"));
    assert!(html.contains("Sign in to check out"));
    assert_forms_carry_the_token(&html, &Chrome::default());
    let mine = render("cart.html", &signed_in(), cart_page(true, line));
    assert!(mine.contains(r#"href="/checkout""#));
    assert_forms_carry_the_token(&mine, &signed_in());
    let empty = render("cart.html", &Chrome::default(), cart_page(false, json!([])));
    assert!(empty.contains("Your cart is empty."));
}

#[test]
fn the_checkout_form_explains_a_decline_and_never_echoes_the_card() {
    let html = render(
        "checkout.html",
        &signed_in(),
        json!({
            "empty": false,
            "lines": [{"name": "Kettle", "quantity": 2, "line_total": "$25.00", "available": true}],
            "total": "$25.00",
            "total_cents": 2500,
            "values": {"name": "Ada", "line1": "1 Way", "city": "London", "postal_code": "N1",
                       "country": "GB", "exp_month": "12", "exp_year": "2034"},
            "errors": {"card_number": "This card was declined.", "city": "Enter the town or city.", "name": "Enter the name."},
            "banner": {"title": "Payment declined", "message": "Your card was declined. Nothing was charged and your cart has been kept: please try another card.",
                       "items": [], "link": null},
            "idempotency_key": "key-123",
        }),
    );
    assert!(html.contains(r#"name="idempotency_key" value="key-123""#));
    assert!(
        html.contains(r##"<a href="#f-card_number">Card number: This card was declined.</a>"##),
        "the summary links each mistake to its field, named: {html}"
    );
    let at = |text: &str| html.find(text).unwrap_or_else(|| panic!("{text}: {html}"));
    assert!(
        at("Name: Enter the name.") < at("Town or city: Enter")
            && at("Town or city: Enter") < at("Card number: This card"),
        "in the form's order, not the alphabet's"
    );
    assert!(html.contains(r#"<html lang="en" class="no-js">"#));
    assert!(
        html.contains(r#"name="expected_total_cents" value="2500""#),
        "the total shown goes back with the form"
    );
    assert_forms_carry_the_token(&html, &signed_in());
    assert!(html.contains("Your card was declined"));
    assert!(
        html.contains(r#"id="f-card_number" name="card_number" type="text" value="""#),
        "{html}"
    );
    assert!(html.contains(r#"aria-describedby="f-card_number-error"#));
    assert!(html.contains(r#"value="London""#));
    assert!(html.contains(r#"autocomplete="cc-number""#));
}

#[test]
fn orders_and_an_order_read_like_receipts() {
    let list = render(
        "orders.html",
        &signed_in(),
        json!({
            "orders": [{"id": "o-1", "short_id": "8A9C0D11", "url": "/orders/o-1", "status": "confirmed",
                        "status_label": "Confirmed", "created_at": "1 Jan 2025, 10:00 UTC", "total": "$25.00", "units": 2}],
            "total": 1, "pagination": null,
        }),
    );
    assert!(list.contains("Order 8A9C0D11") && list.contains("Confirmed"));
    let order = render(
        "order.html",
        &signed_in(),
        json!({
            "order": {"id": "o-1", "short_id": "8A9C0D11", "status": "confirmed", "status_label": "Confirmed",
                      "reason": null, "total": "$25.00", "created_at": "1 Jan 2025, 10:00 UTC",
                      "items": [{"name": "Kettle", "url": "/p/p1", "image_url": "/images/products/p1.svg",
                                 "quantity": 2, "unit_price": "$12.50", "line_total": "$25.00"}],
                      "shipping": {"name": "Ada", "line1": "1 Way", "city": "London", "postal_code": "N1", "country": "GB"}},
            "placed": true,
        }),
    );
    assert!(order.contains("Thank you! Your order is confirmed."));
    assert!(order.contains("<address>Ada<br>1 Way"));
}

#[test]
fn notifications_mark_the_unread_ones() {
    let html = render(
        "notifications.html",
        &signed_in(),
        json!({"items": [
            {"id": "n2", "kind": "order_confirmed", "subject": "Your order 8A9C0D11 is confirmed", "body": "Thanks!", "created_at": "2 Jan 2025, 10:00 UTC", "unread": true},
            {"id": "n1", "kind": "welcome", "subject": "Welcome to Bazaar", "body": "Hello", "created_at": "1 Jan 2025, 10:00 UTC", "unread": false},
        ]}),
    );
    assert_eq!(html.matches("notification unread").count(), 1);
    assert!(html.contains("Welcome to Bazaar"));
    assert!(!html.contains("Older messages") && !html.contains("Newest messages"));
}

/// More messages than a page holds: the page links to the older ones (and an older page
/// back to the newest), and a badge that counts a whole page of unread ones says "50+",
/// not 50 (a shopper with 123 unread saw "50" and no way past the 50th).
#[test]
fn notifications_page_on_and_the_badge_says_when_there_are_more() {
    let item = json!({"id": "n9", "kind": "welcome", "subject": "Hello", "body": "Hi", "created_at": "1 Jan 2025, 10:00 UTC", "unread": true});
    let html = render(
        "notifications.html",
        &signed_in(),
        json!({"items": [item], "older": "/account/notifications?before=n9", "earlier_page": false}),
    );
    assert!(
        html.contains(
            r#"<a href="/account/notifications?before=n9" rel="next">Older messages</a>"#
        ),
        "{html}"
    );
    assert!(!html.contains("Newest messages"));
    let older = render(
        "notifications.html",
        &signed_in(),
        json!({"items": [item], "older": null, "earlier_page": true}),
    );
    assert!(older.contains(r#"<a href="/account/notifications">Newest messages</a>"#));
    assert!(!older.contains("Older messages"));

    let many = Chrome {
        unread: Some(50),
        unread_more: true,
        ..signed_in()
    };
    let html = render("notifications.html", &many, json!({"items": []}));
    assert!(html.contains(r#"data-more="+""#), "{html}");
    assert!(
        html.contains(r#">50+<span class="visually-hidden"> or more unread</span>"#),
        "{html}"
    );
    let some = render("notifications.html", &signed_in(), json!({"items": []}));
    assert!(
        some.contains(r#">2<span class="visually-hidden"> unread</span>"#),
        "{some}"
    );
    assert!(!some.contains("data-more"));
}

#[test]
fn the_auth_forms_show_errors_next_to_their_fields() {
    let html = render(
        "register.html",
        &Chrome::default(),
        json!({"name": "Ada", "email": "not-an-email", "next": "/checkout",
               "errors": {"email": "Is not an email address.", "password": "Is too short."}, "form_error": null}),
    );
    assert!(html.contains(r#"id="f-email-error""#) && html.contains("Is not an email address."));
    assert!(html.contains(r#"id="f-password-error""#));
    assert!(html.contains(r#"value="not-an-email""#));
    assert!(
        !html.contains(r#"type="password" value"#),
        "passwords are never shown back"
    );
    let signin = render(
        "signin.html",
        &Chrome::default(),
        json!({"name": "", "email": "a@b.c", "next": "/", "errors": {}, "form_error": "That email and password do not match an account."}),
    );
    assert!(signin.contains(r#"role="alert" id="form-error""#));
    assert_forms_carry_the_token(&signin, &Chrome::default());
    // A visitor whose session identity no longer honours (so no user) still has a token.
    let lapsed = Chrome {
        user: None,
        ..signed_in()
    };
    for template in ["signin.html", "register.html"] {
        let html = render(
            template,
            &lapsed,
            json!({"name": "", "email": "", "next": "/", "errors": {}, "form_error": null}),
        );
        assert_forms_carry_the_token(&html, &lapsed);
    }
    let signout = render("signout.html", &signed_in(), json!({}));
    assert_forms_carry_the_token(&signout, &signed_in());
}

fn admin() -> Chrome {
    Chrome {
        user: Some(UserView {
            name: "Admin".into(),
            email: "admin@x".into(),
            is_admin: true,
        }),
        ..Chrome::default()
    }
}

/// The catalog's charts: a rate that rose to 20 req/s five minutes ago and fell to 10.
fn catalog_charts() -> Value {
    let at = |secs: u64, value: f64| Point {
        age: Duration::from_secs(secs),
        value: Some(value),
    };
    let gap = Duration::from_secs(400);
    json!([
        charts::chart(
            "catalog",
            Metric::Rate,
            &[at(600, 0.0), at(300, 20.0), at(0, 10.0)],
            gap
        ),
        charts::chart("catalog", Metric::Errors, &[at(300, 0.0), at(0, 0.02)], gap),
        charts::chart("catalog", Metric::P99, &[], gap),
    ])
}

#[test]
fn the_ops_console_shows_every_part() {
    let chrome = admin();
    let html = render(
        "ops.html",
        &chrome,
        json!({
            "generated_at": "2025-01-01T10:00:00.000Z",
            "services": [
                {"name": "catalog", "url": "http://127.0.0.1:8082", "health": "up", "health_detail": null, "checked_at": null,
                 "down_since": null, "pid": 42, "cpus": "0-1", "process_state": "ready", "restarts": 1, "uptime_secs": 125, "last_exit": null,
                 "replicas": [{"replica": 1, "pid": 42, "port": 8082, "state": "ready", "cpus": "0-1"}],
                 "process": "pid 42 on CPUs 0-1, restarted 1×",
                 "requests_per_sec": 3.24, "error_rate": 0.01, "p99_ms": 12.4,
                 "slowest_trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "ms": 41.7}, "charts": catalog_charts()},
                {"name": "search", "url": "http://127.0.0.1:8083", "health": "down", "health_detail": "not reachable", "checked_at": null,
                 "down_since": null, "pid": null, "process_state": null, "restarts": null, "uptime_secs": null, "last_exit": null,
                 "replicas": [], "process": "—",
                 "requests_per_sec": null, "error_rate": null, "p99_ms": null, "charts": []},
            ],
            "outboxes": [{"service": "catalog", "head": 640, "undelivered": 0, "consumers": [{"consumer": "inventory", "position": 630, "backlog": 10}], "error": null},
                         {"service": "orders", "head": 90, "undelivered": 3, "stuck": "3 retried; the oldest, #88 bazaar.orders.order.confirmed.v1, 4 tries: queue is missing", "consumers": [], "error": null}],
            "queues": "notifications 239",
            "dead_letters": [{"service": "inventory", "count": 1, "error": null,
                              "items": [{"id": "d1", "type": "bazaar.catalog.product.created.v1", "error": "bad", "attempts": 5, "dead_at": "2025-01-01T09:00:00.000Z"}]}],
            "feed": [{"producer": "catalog", "seq": 640, "id": "e1", "type": "bazaar.catalog.product.created.v1", "subject": "p1", "time": "2025-01-01T09:59:58.000Z"}],
            "incidents": [{"service": "search", "health": "down", "at": "2025-01-01T09:59:00.000Z", "detail": "not reachable"}],
            "process_control": {"available": true, "message": null},
        }),
    );
    for snippet in [
        r#"data-service="catalog" data-health="up""#,
        r#"data-service="search" data-health="down""#,
        "pid 42 on CPUs 0-1, restarted 1×",
        "2m 05s",
        "3.2",
        "1.0%",
        "12 ms",
        r#"<a class="slowest" href="/ops/traces/4bf92f3577b34da6a3ce929d0e0e4736""#,
        "slowest: 42 ms",
        r#"data-action="kill" data-service="catalog""#,
        "inventory: 10",
        // What keeps an outbox's events undelivered.
        r#"<td>3 <span class="detail">3 retried; the oldest, #88 bazaar.orders.order.confirmed.v1, 4 tries: queue is missing</span></td>"#,
        // RabbitMQ's backlog, beside the embedded transport's.
        r#"<tfoot id="queues-foot"><tr><th scope="row">In RabbitMQ queues</th><td colspan="3" id="queues">notifications 239</td>"#,
        r#"data-replay="d1""#,
        r#"data-discard="d1""#,
        "09:59:58",
        "not reachable",
        r#"<a href="/ops/traces" id="traces-link">"#,
    ] {
        assert!(html.contains(snippet), "`{snippet}` is not on the console");
    }
}

#[test]
fn the_console_charts_each_services_traffic() {
    let html = render(
        "ops.html",
        &admin(),
        json!({
            "generated_at": "2025-01-01T10:00:00.000Z",
            "services": [
                {"name": "catalog", "url": "http://127.0.0.1:8082", "health": "up", "health_detail": null, "checked_at": null,
                 "down_since": null, "pid": null, "process_state": null, "restarts": null, "uptime_secs": null, "last_exit": null,
                 "replicas": [], "process": "—", "requests_per_sec": 10.0, "error_rate": 0.02, "p99_ms": null, "charts": catalog_charts()},
            ],
            "outboxes": [], "dead_letters": [], "feed": [], "incidents": [],
            "process_control": {"available": false, "message": "no"},
        }),
    );
    let card = &html[html
        .find(r#"data-chart-service="catalog""#)
        .expect("the catalog's charts")..];
    let chart = |metric: &str| {
        let at = card
            .find(&format!(r#"data-metric="{metric}""#))
            .unwrap_or_else(|| panic!("no {metric} chart"));
        let rest = &card[at..];
        &rest[..rest.find("</svg>").unwrap()]
    };
    let rate = chart("rate");
    assert!(
        rate.contains(r#"d="M0.0 31.0 L60.0 1.0 L120.0 16.0""#),
        "ten minutes ago at zero on the left, the peak at the top, now on the right: {rate}"
    );
    assert!(rate.contains(r#"<span class="chart-max" aria-hidden="true">20 req/s</span>"#));
    assert!(rate.contains(r#"<span class="chart-latest">10 req/s</span>"#));
    assert!(rate.contains(r#"viewBox="0 0 120 32""#));
    assert!(
        rate.contains(r#"aria-label="catalog: requests per second over the last 10 minutes, 10 req/s now, at most 20 req/s""#),
        "{rate}"
    );
    let errors = chart("errors");
    assert!(
        errors.contains("5.0%"),
        "the scale tops at 5% at least: {errors}"
    );
    assert!(errors.contains(r#"<span class="chart-latest">2.0%</span>"#));
    assert!(
        errors.contains(r#"class="chart-line chart-errors" d="M60.0 31.0 L120.0 19.0""#),
        "{errors}"
    );
    let p99 = chart("p99");
    assert!(p99.contains(r#"d="""#) && p99.contains(r#"<span class="chart-latest">—</span>"#));
    assert!(html.contains("Traffic, last 10 minutes"));
}

fn waterfall_page() -> String {
    let trace: TraceView = serde_json::from_value(checkout_trace()).expect("a trace view");
    let page = TracePage {
        trace_id: CHECKOUT_TRACE.into(),
        trace: Some(traces::waterfall(&trace)),
        ..TracePage::default()
    };
    render(
        "ops_trace.html",
        &admin(),
        serde_json::to_value(page).unwrap(),
    )
}

#[test]
fn a_trace_is_a_waterfall_of_its_spans() {
    let html = waterfall_page();
    let root = traces::waterfall(&serde_json::from_value(checkout_trace()).unwrap()).rows[0]
        .name
        .clone();
    assert!(
        html.contains(&format!("<title>{root} · Title</title>")),
        "each trace's page is titled by its root: {root}"
    );
    let spans: Vec<&str> = html
        .match_indices(r#"data-span=""#)
        .map(|(i, m)| &html[i + m.len()..i + m.len() + 16])
        .collect();
    assert_eq!(
        spans,
        (1..=8).map(|i| format!("{i:016x}")).collect::<Vec<_>>(),
        "one row a span, each after its parent"
    );
    for (span, depth) in [(1, 0), (2, 1), (5, 4), (7, 6), (8, 0)] {
        let r = row(&html, &format!(r#"data-span="{span:016x}""#));
        assert!(r.contains(&format!(r#"data-depth="{depth}""#)), "{r}");
        assert_eq!(
            r.matches(r#"<span class="wf-indent""#).count(),
            depth,
            "span {span} is indented {depth} steps: {r}"
        );
    }
    // The payment call starts 10 ms into a 40 ms trace and lasts 10 ms: a quarter in.
    let payment = row(&html, r#"data-span="0000000000000006""#);
    assert!(
        payment.contains(
            r#"<rect class="bar bar-client" x="250.0" y="1" width="250.0" height="10"/>"#
        ),
        "{payment}"
    );
    assert!(payment.contains(r#"aria-label="starts at 10.0 ms, lasts 10.0 ms""#));
    let root = row(&html, r#"data-span="0000000000000001""#);
    assert!(
        root.contains(r#"x="0.0" y="1" width="1000.0""#),
        "the root spans the trace"
    );
    assert!(root.contains("POST /checkout") && root.contains(">gateway<"));
    assert!(
        root.contains("<dt><code>http.route</code></dt><dd>/checkout</dd>"),
        "the attributes are in the details: {root}"
    );
    assert!(root.contains("<details>") && root.contains("<dt>Instance</dt><dd>gateway-1</dd>"));

    // Failures in red, and said in words.
    for failed in ["0000000000000006", "0000000000000007"] {
        let r = row(&html, &format!(r#"data-span="{failed}""#));
        assert!(r.starts_with(&format!(r#"data-span="{failed}""#)));
        let tag = &html[..html.find(&format!(r#"data-span="{failed}""#)).unwrap()];
        assert!(
            tag.ends_with(r#"<tr class="span-row span-error" "#),
            "{failed} is marked failed"
        );
        assert!(r.contains(r#"<span class="tag tag-error">Error</span>"#));
    }
    assert!(!root.contains("tag-error"), "the root did not fail");

    let orphan = row(&html, r#"data-span="0000000000000008""#);
    assert!(orphan.contains("Parent missing") && orphan.contains("00f067aa0ba902b7"));
    assert!(html.contains(r#"<tr class="span-row span-orphan" data-span="0000000000000008""#));
    assert!(
        orphan.contains(&format!(
            r#"<a href="/ops/traces/{BROWSE_TRACE}">trace 0af76519</a>"#
        )),
        "its link leads to the linked trace: {orphan}"
    );

    assert!(html.contains(r#"<dd id="trace-duration">40.0 ms</dd>"#));
    assert!(html.contains(r#"<dt>Failed</dt><dd class="bad">2 spans</dd>"#));
    assert!(html.contains("gateway, notifications, orders, payments, storefront"));
    for tick in ["0.00 ms", "10.0 ms", "20.0 ms", "30.0 ms", "40.0 ms"] {
        assert!(
            html.contains(&format!("<span>{tick}</span>")),
            "the axis shows {tick}"
        );
    }
    assert!(!html.contains("<script>"), "span names are escaped");
    assert!(html.contains("/api/payments/&lt;script&gt;"));
}

fn traces_page(filter: TraceFilter, list: Value) -> TracesPage {
    let services: Vec<String> = ["gateway", "orders", "payments"].map(String::from).to_vec();
    let mut page = TracesPage::new(&filter, &services);
    let list: TraceList = serde_json::from_value(list).unwrap();
    page.traces = traces::rows(&list.traces);
    page
}

#[test]
fn the_traces_list_links_each_trace_and_keeps_the_filter() {
    let filter = TraceFilter {
        route: Some("/checkout".into()),
        service: Some("orders".into()),
        errors: true,
        limit: None,
    };
    let html = render(
        "ops_traces.html",
        &admin(),
        serde_json::to_value(traces_page(filter, trace_list())).unwrap(),
    );
    let checkout = row(&html, &format!(r#"data-trace="{CHECKOUT_TRACE}""#));
    assert!(
        checkout.contains(&format!(
            r#"<a href="/ops/traces/{CHECKOUT_TRACE}">POST /checkout</a>"#
        )),
        "{checkout}"
    );
    assert!(checkout.contains("40.0 ms") && checkout.contains(">8<"));
    assert!(checkout.contains(r#"<span class="tag tag-error">Error</span>"#));
    assert!(
        checkout.contains(r#"<rect width="100.0""#),
        "the slowest fills its bar"
    );
    let browse = row(&html, &format!(r#"data-trace="{BROWSE_TRACE}""#));
    assert!(
        browse.contains(r#"<rect width="10.0""#),
        "a tenth as slow: {browse}"
    );
    assert!(!browse.contains("tag-error"));
    assert!(
        html.find(CHECKOUT_TRACE) < html.find(BROWSE_TRACE),
        "slowest first"
    );
    assert!(html.contains(r#"value="/checkout""#));
    assert!(html.contains(r#"<option value="orders" selected>orders</option>"#));
    assert!(html.contains(r#"<option value="gateway">gateway</option>"#));
    assert!(html.contains(r#"value="true" checked>"#));
    assert!(html.contains(r#"<a href="/ops/traces">Show all</a>"#));

    let none = |filter: TraceFilter, exported_to: Option<&str>| {
        let mut page = traces_page(filter, json!({"traces": []}));
        page.exported_to = exported_to.map(str::to_owned);
        render(
            "ops_traces.html",
            &admin(),
            serde_json::to_value(page).unwrap(),
        )
    };
    assert!(none(TraceFilter::default(), None).contains("No traces yet."));
    let errors_only = TraceFilter {
        errors: true,
        ..TraceFilter::default()
    };
    assert!(none(errors_only, None).contains("No trace kept matches these filters."));
    let elsewhere = none(TraceFilter::default(), Some("http://jaeger:4318"));
    assert!(elsewhere.contains("None are kept here: they go to <code>http://jaeger:4318</code>"));
    assert!(elsewhere.contains("OTLP endpoint the environment names"));
}

#[test]
fn without_bazaar_up_the_trace_view_says_where_traces_go() {
    let page = |exported_to: Option<&str>| {
        let mut page = TracesPage::new(&TraceFilter::default(), &[]);
        page.unavailable = Some(traces::NOT_UNDER_UP.into());
        page.exported_to = exported_to.map(str::to_owned);
        render(
            "ops_traces.html",
            &admin(),
            serde_json::to_value(page).unwrap(),
        )
    };
    let alone = page(None);
    assert!(alone.contains("not running under it"), "{alone}");
    assert!(alone.contains("set <code>OTEL_EXPORTER_OTLP_ENDPOINT</code> to send them to Jaeger"));
    assert!(!alone.contains("Recent traces"), "no empty list");
    let exporting = page(Some("http://collector:4318"));
    assert!(exporting.contains(
        "send their traces to the OTLP endpoint the environment names (<code>OTEL_EXPORTER_OTLP_ENDPOINT</code>): <code>http://collector:4318</code>"
    ));
    let trace = render(
        "ops_trace.html",
        &admin(),
        serde_json::to_value(TracePage {
            trace_id: CHECKOUT_TRACE.into(),
            unavailable: Some(traces::NOT_UNDER_UP.into()),
            ..TracePage::default()
        })
        .unwrap(),
    );
    assert!(trace.contains("not running under it") && !trace.contains("waterfall-body"));
}

#[test]
fn the_service_map_draws_calls_and_events_with_their_rates_and_failures() {
    let map: ServiceMap = serde_json::from_value(service_map()).unwrap();
    let order: Vec<String> = [
        "gateway",
        "identity",
        "catalog",
        "orders",
        "payments",
        "notifications",
        "storefront",
    ]
    .map(String::from)
    .to_vec();
    let mut page = TracesPage::new(&TraceFilter::default(), &order);
    page.map = Some(traces::map_view(&map, &order));
    let html = render(
        "ops_traces.html",
        &admin(),
        serde_json::to_value(page).unwrap(),
    );
    let svg = &html[html.find(r#"<svg id="service-map""#).expect("the map")..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    let edge = |from: &str, to: &str, kind: &str| {
        let at = svg
            .find(&format!(
                r#"data-from="{from}" data-to="{to}" data-kind="{kind}""#
            ))
            .unwrap_or_else(|| panic!("no {kind} from {from} to {to}: {svg}"));
        let rest = &svg[at..];
        &rest[..rest.find("</g>").unwrap()]
    };
    let event = edge("orders", "notifications", "event");
    assert!(
        event.contains(r#"stroke-dasharray="6 4""#),
        "events are dashed: {event}"
    );
    assert!(event.contains(r#"marker-end="url(#arrow-event)""#));
    assert!(event.contains(">0.40/s</text>"));
    let payments = edge("orders", "payments", "call");
    assert!(!payments.contains("stroke-dasharray"), "calls are solid");
    assert!(
        payments.contains(">0.40/s · 25.0% failed</text>"),
        "{payments}"
    );
    assert!(payments.contains(r#"marker-end="url(#arrow-error)""#));
    assert!(payments.contains("orders → payments: 4 calls, 0.40/s, 1 failed (25.0%)"));
    assert!(svg.contains(r#"<g class="edge edge-call edge-error" data-from="orders""#));
    let there = edge("gateway", "storefront", "call");
    let back = edge("storefront", "gateway", "call");
    assert!(there.contains(">1.2/s</text>") && there.contains(r#"marker-end="url(#arrow)""#));
    let path = |e: &str| {
        e.split(r#"<path d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_ne!(path(there), path(back), "the two ways are drawn apart");
    for service in &order {
        assert!(
            svg.contains(&format!(r#"data-service="{service}""#)),
            "{service} is on the map"
        );
    }
    assert!(svg.contains(r#"<g class="node node-idle" data-service="identity">"#));
    assert!(svg.contains(r#"<g class="node" data-service="gateway">"#));
    assert!(
        svg.contains(r#"<circle cx="340.0" cy="50.0" r="9.0"/>"#),
        "the gateway at the top: {svg}"
    );
    assert!(html.contains("over the 10 s the kept traces cover"));
    assert!(html.contains(r#"<tr data-edge="orders payments call"><td>orders</td><td>payments</td><td>call</td><td>4</td><td>0.40/s</td><td>1 (25.0%)</td></tr>"#));
}

#[tokio::test]
async fn the_error_page_is_friendly_and_offers_a_way_on() {
    let res = views().error_page(
        &Chrome {
            path: "/c/kitchen".into(),
            ..Chrome::default()
        },
        &storefront::error::StorefrontError::Unavailable {
            service: "catalog",
            detail: "could not connect to 10.1.2.3".into(),
        },
    );
    assert_eq!(res.status(), 503);
    let html = platform::service::body_text(res.into_body()).await;
    assert_accessible(&html);
    assert!(
        html.contains("Our product catalogue is unavailable at the moment"),
        "{html}"
    );
    assert!(html.contains(r#"<a href="/c/kitchen">Try again</a>"#));
    assert!(!html.contains("10.1.2.3"), "no internals");
}
