//! Every page template rendered with fixture data, without the rest of the shop: what
//! each page shows, that every field is labelled, and that nothing a shopper or a
//! product carries can inject markup.

use crate::helpers::assert_accessible;
use serde_json::{Value, json};
use storefront::views::{Chrome, UserView, Views};

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
        newest_notification: Some("n-1".into()),
        query: "kettle".into(),
        path: "/p/x".into(),
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
    let mine = render("cart.html", &signed_in(), cart_page(true, line));
    assert!(mine.contains(r#"href="/checkout""#));
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
            "values": {"name": "Ada", "line1": "1 Way", "city": "London", "postal_code": "N1",
                       "country": "GB", "exp_month": "12", "exp_year": "2034"},
            "errors": {"card_number": "This card was declined."},
            "banner": {"title": "Payment declined", "message": "Your card was declined. Nothing was charged and your cart has been kept: please try another card.",
                       "items": [], "link": null},
            "idempotency_key": "key-123",
        }),
    );
    assert!(html.contains(r#"name="idempotency_key" value="key-123""#));
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
}

#[test]
fn the_ops_console_shows_every_part() {
    let chrome = Chrome {
        user: Some(UserView {
            name: "Admin".into(),
            email: "admin@x".into(),
            is_admin: true,
        }),
        ..Chrome::default()
    };
    let html = render(
        "ops.html",
        &chrome,
        json!({
            "generated_at": "2025-01-01T10:00:00.000Z",
            "services": [
                {"name": "catalog", "url": "http://127.0.0.1:8082", "health": "up", "health_detail": null, "checked_at": null,
                 "down_since": null, "pid": 42, "process_state": "ready", "restarts": 1, "uptime_secs": 125, "last_exit": null,
                 "replicas": [{"replica": 1, "pid": 42, "port": 8082, "state": "ready"}],
                 "requests_per_sec": 3.24, "error_rate": 0.01, "p99_ms": 12.4},
                {"name": "search", "url": "http://127.0.0.1:8083", "health": "down", "health_detail": "not reachable", "checked_at": null,
                 "down_since": null, "pid": null, "process_state": null, "restarts": null, "uptime_secs": null, "last_exit": null,
                 "replicas": [],
                 "requests_per_sec": null, "error_rate": null, "p99_ms": null},
            ],
            "outboxes": [{"service": "catalog", "head": 640, "undelivered": 0, "consumers": [{"consumer": "inventory", "position": 630, "backlog": 10}], "error": null}],
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
        "pid 42, restarted 1×",
        "2m 05s",
        "3.2",
        "1.0%",
        "12 ms",
        r#"data-action="kill" data-service="catalog""#,
        "inventory: 10",
        r#"data-replay="d1""#,
        "09:59:58",
        "not reachable",
    ] {
        assert!(html.contains(snippet), "`{snippet}` is not on the console");
    }
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
