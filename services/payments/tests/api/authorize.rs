//! Authorising with each test card: the answer, the ledger and the events.

use crate::helpers::{
    AUTHORIZATIONS, AUTHORIZED, CARD_DECLINED, CARD_INSUFFICIENT_FUNDS, CARD_PROCESSING_ERROR,
    CARD_SUCCEEDS, Entry, FAILED, assert_problem, authorization, new_key, spawn_app,
};
use reqwest::{StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn the_card_that_succeeds_is_authorized_recorded_and_announced() {
    // Arrange
    let app = spawn_app().await;
    let body = authorization("order-1", 4999, CARD_SUCCEEDS);

    // Act
    let answer = app.authorize(&new_key(), &body).await;

    // Assert
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let auth = &answer.body;
    let id = auth["id"].as_str().expect("an id").to_owned();
    for (field, expected) in [
        ("order_id", json!("order-1")),
        ("user_id", body["user_id"].clone()),
        ("status", json!("authorized")),
        ("amount_cents", json!(4999)),
        ("currency", json!("USD")),
        ("card_brand", json!("visa")),
        ("card_last4", json!("4242")),
    ] {
        assert_eq!(auth[field], expected, "{field} of {auth}");
    }
    assert_eq!(
        answer.headers[header::LOCATION],
        format!("{AUTHORIZATIONS}/{id}").as_str()
    );
    let fetched = app.authorization(&id).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, auth);

    let db = app.db().await;
    assert_eq!(
        app.ledger(&db).await,
        [Entry {
            authorization_id: id.clone(),
            order_id: "order-1".into(),
            kind: "authorize".into(),
            amount_cents: 4999,
            currency: "USD".into(),
        }]
    );
    let published = app.published(&db).await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].kind, AUTHORIZED);
    assert_eq!(published[0].subject, id);
    assert_eq!(
        published[0].data,
        json!({
            "authorization_id": id, "order_id": "order-1", "user_id": body["user_id"],
            "amount_cents": 4999, "currency": "USD"
        })
    );
}

#[tokio::test]
async fn declined_cards_answer_402_with_their_code_and_announce_the_failure() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        ("order-d1", CARD_DECLINED, "card_declined"),
        ("order-d2", CARD_INSUFFICIENT_FUNDS, "insufficient_funds"),
    ];

    for (order, card, code) in cases {
        // Act
        let answer = app
            .authorize(&new_key(), &authorization(order, 2500, card))
            .await;

        // Assert
        assert_problem(&answer, StatusCode::PAYMENT_REQUIRED, None, code);
        assert_eq!(answer.body["type"], "urn:bazaar:problem:card-declined");
        assert_eq!(answer.body["decline_code"], code);
        assert!(answer.body["detail"].is_string(), "{}", answer.body);
    }
    let db = app.db().await;
    assert!(app.ledger(&db).await.is_empty(), "a decline moves no money");
    assert_eq!(app.count(&db, "authorizations").await, 0);
    let published = app.published(&db).await;
    assert_eq!(published.len(), 2, "{published:?}");
    for (event, (order, _, code)) in published.iter().zip(cases) {
        assert_eq!(event.kind, FAILED);
        assert_eq!(event.subject, order);
        let data = &event.data;
        assert_eq!(data["order_id"], order);
        assert_eq!(data["amount_cents"], 2500);
        assert_eq!(data["currency"], "USD");
        assert_eq!(data["decline_code"], code);
        assert!(
            data["user_id"].is_string() && data["message"].is_string(),
            "{data}"
        );
    }
}

#[tokio::test]
async fn the_processing_error_card_answers_503_every_time_and_records_nothing() {
    // Arrange
    let app = spawn_app().await;
    let key = new_key();
    let body = authorization("order-t", 1200, CARD_PROCESSING_ERROR);

    for attempt in 1..=3 {
        // Act: the caller retries with the same key, as it should.
        let answer = app.authorize(&key, &body).await;

        // Assert
        let case = format!("attempt {attempt}");
        assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE, None, &case);
        assert_eq!(answer.body["type"], "urn:bazaar:problem:processing-error");
        assert!(
            answer.headers.contains_key(header::RETRY_AFTER),
            "{case}: no Retry-After"
        );
        assert!(
            !answer.headers.contains_key("idempotent-replayed"),
            "{case}: a processing error is run again, not replayed"
        );
    }
    let db = app.db().await;
    assert!(app.ledger(&db).await.is_empty());
    assert!(
        app.published(&db).await.is_empty(),
        "no event for a transient error"
    );
    assert_eq!(
        app.count(&db, "idempotency_keys").await,
        0,
        "the key is free"
    );
}

#[tokio::test]
async fn any_other_valid_card_is_authorized_with_its_brand() {
    let app = spawn_app().await;
    for (number, cvc, brand, last4) in [
        ("5555555555554444", "123", "mastercard", "4444"),
        ("2223003122003222", "123", "mastercard", "3222"),
        ("378282246310005", "1234", "amex", "0005"),
        ("6011111111111117", "123", "unknown", "1117"),
        ("4242 4242 4242 4242", "123", "visa", "4242"),
    ] {
        let mut body = authorization("order-b", 100, number);
        body["card"]["cvc"] = json!(cvc);
        let answer = app.authorize(&new_key(), &body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{number}: {}",
            answer.body
        );
        assert_eq!(answer.body["card_brand"], brand, "{number}");
        assert_eq!(answer.body["card_last4"], last4, "{number}");
    }
    let db = app.db().await;
    assert_eq!(app.ledger(&db).await.len(), 5);
}
