//! Bad input to the authorisation endpoint: every case answers a problem document with
//! the right status, naming the field at fault, and records nothing.

use crate::helpers::{
    AUTHORIZATIONS, Answer, CARD_SUCCEEDS, assert_problem, authorization, spawn_app,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    key: Option<String>,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    field: Option<&'static str>,
}

/// A valid request changed by `change`, answered 422 naming `field`.
fn invalid(what: &'static str, field: &'static str, change: impl FnOnce(&mut Value)) -> Case {
    let mut body = authorization("order-1", 1000, CARD_SUCCEEDS);
    change(&mut body);
    Case {
        what,
        key: Some(format!("bad-{}", what.replace(' ', "-"))),
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: Some(field),
    }
}

#[tokio::test]
async fn authorizing_refuses_bad_input_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let valid = serde_json::to_vec(&authorization("order-1", 1000, CARD_SUCCEEDS)).unwrap();
    let raw = |what, key: Option<&str>, content_type, body: &[u8], status, field| Case {
        what,
        key: key.map(str::to_owned),
        content_type,
        body: body.to_vec(),
        status,
        field,
    };
    let cases = vec![
        invalid("bad Luhn", "card.number", |b| {
            b["card"]["number"] = json!("4242424242424241")
        }),
        invalid("expired year", "card.exp_year", |b| {
            b["card"]["exp_year"] = json!(2020)
        }),
        invalid("two-digit year", "card.exp_year", |b| {
            b["card"]["exp_year"] = json!(35)
        }),
        invalid("month 13", "card.exp_month", |b| {
            b["card"]["exp_month"] = json!(13)
        }),
        invalid("month 0", "card.exp_month", |b| {
            b["card"]["exp_month"] = json!(0)
        }),
        invalid("month as text", "card.exp_month", |b| {
            b["card"]["exp_month"] = json!("12")
        }),
        invalid("cvc of 2 digits", "card.cvc", |b| {
            b["card"]["cvc"] = json!("12")
        }),
        invalid("cvc as a number", "card.cvc", |b| {
            b["card"]["cvc"] = json!(123)
        }),
        invalid("amex with a 3-digit cvc", "card.cvc", |b| {
            b["card"]["number"] = json!("378282246310005");
            b["card"]["cvc"] = json!("123");
        }),
        invalid("letters in the number", "card.number", |b| {
            b["card"]["number"] = json!("4242abcd42424242")
        }),
        invalid("missing number", "card.number", |b| {
            b["card"].as_object_mut().unwrap().remove("number");
        }),
        invalid("amount 0", "amount_cents", |b| b["amount_cents"] = json!(0)),
        invalid("negative amount", "amount_cents", |b| {
            b["amount_cents"] = json!(-100)
        }),
        invalid("fractional amount", "amount_cents", |b| {
            b["amount_cents"] = json!(10.5)
        }),
        invalid("lower-case currency", "currency", |b| {
            b["currency"] = json!("usd")
        }),
        invalid("empty order id", "order_id", |b| b["order_id"] = json!("")),
        invalid("missing user id", "user_id", |b| {
            b.as_object_mut().unwrap().remove("user_id");
        }),
        raw(
            "not an object",
            Some("k-body"),
            "application/json",
            b"\"just text\"",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        raw(
            "malformed JSON",
            Some("k-malformed"),
            "application/json",
            b"{\"order_id\": ",
            StatusCode::BAD_REQUEST,
            None,
        ),
        raw(
            "not JSON",
            Some("k-text"),
            "text/plain",
            &valid,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        raw(
            "no Idempotency-Key",
            None,
            "application/json",
            &valid,
            StatusCode::BAD_REQUEST,
            Some("Idempotency-Key"),
        ),
        raw(
            "Idempotency-Key too long",
            Some(&"k".repeat(256)),
            "application/json",
            &valid,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Idempotency-Key"),
        ),
    ];

    for case in cases {
        // Act
        let mut req = app
            .client
            .post(app.url(AUTHORIZATIONS))
            .bearer_auth(&app.service_token)
            .header("content-type", case.content_type)
            .body(case.body);
        if let Some(key) = &case.key {
            req = req.header("Idempotency-Key", key);
        }
        let answer = Answer::read(req.send().await.expect("request sent")).await;

        // Assert
        assert_problem(&answer, case.status, case.field, case.what);
    }
    let db = app.db().await;
    for table in [
        "authorizations",
        "ledger_entries",
        "idempotency_keys",
        "outbox",
    ] {
        assert_eq!(
            app.count(&db, table).await,
            0,
            "bad input left rows in {table}"
        );
    }
}

#[tokio::test]
async fn every_bad_field_is_named_at_once() {
    let app = spawn_app().await;
    let body = json!({
        "order_id": "order-1", "user_id": "user-1", "amount_cents": 0, "currency": "usd",
        "card": {"number": "1234", "exp_month": 13, "exp_year": 2035, "cvc": "1"}
    });
    let answer = app.authorize("k-many", &body).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, None, "many");
    let mut named: Vec<&str> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(
        named,
        [
            "amount_cents",
            "card.cvc",
            "card.exp_month",
            "card.number",
            "currency"
        ]
    );
}
