//! Capturing, voiding and refunding: each idempotent by state, each change one ledger
//! entry and one event, each refusal a 409 that changes nothing.

use crate::helpers::{AUTHORIZED, CAPTURED, REFUNDED, VOIDED, assert_problem, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn capturing_twice_records_one_capture() {
    // Arrange
    let app = spawn_app().await;
    let auth = app.authorized("order-1", 5000).await;
    let id = auth["id"].as_str().unwrap();

    // Act
    let first = app.act(id, "capture").await;
    let second = app.act(id, "capture").await;

    // Assert
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["status"], "captured");
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        second.body, first.body,
        "the second capture changes nothing"
    );
    let db = app.db().await;
    let kinds: Vec<String> = app.ledger(&db).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["authorize", "capture"]);
    let published = app.published(&db).await;
    let types: Vec<&str> = published.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(types, [AUTHORIZED, CAPTURED]);
    assert_eq!(published[1].subject, id);
    assert_eq!(published[1].data["authorization_id"], id);
    assert_eq!(published[1].data["amount_cents"], 5000);
}

#[tokio::test]
async fn voiding_a_captured_or_refunding_an_uncaptured_authorization_conflicts() {
    // Arrange
    let app = spawn_app().await;
    let captured = app.authorized("order-1", 1000).await;
    let captured = captured["id"].as_str().unwrap();
    assert_eq!(app.act(captured, "capture").await.status, StatusCode::OK);
    let uncaptured = app.authorized("order-2", 2000).await;
    let uncaptured = uncaptured["id"].as_str().unwrap();
    let db = app.db().await;
    let before = app.ledger(&db).await;

    for (what, id, action) in [
        ("void after capture", captured, "void"),
        ("refund of uncaptured", uncaptured, "refund"),
    ] {
        // Act
        let answer = app.act(id, action).await;

        // Assert
        assert_problem(&answer, StatusCode::CONFLICT, None, what);
        assert_eq!(
            answer.body["type"], "urn:bazaar:problem:invalid-state",
            "{what}"
        );
    }
    assert_eq!(app.ledger(&db).await, before, "a refusal moves no money");
}

#[tokio::test]
async fn every_path_through_the_life_of_an_authorization() {
    let app = spawn_app().await;
    let refunded = app.authorized("order-1", 1500).await;
    let refunded = refunded["id"].as_str().unwrap();
    let voided = app.authorized("order-2", 700).await;
    let voided = voided["id"].as_str().unwrap();

    // id, action, status, answered status
    let steps = [
        (refunded, "capture", StatusCode::OK, Some("captured")),
        (refunded, "refund", StatusCode::OK, Some("refunded")),
        (refunded, "refund", StatusCode::OK, Some("refunded")),
        (refunded, "capture", StatusCode::CONFLICT, None),
        (refunded, "void", StatusCode::CONFLICT, None),
        (voided, "void", StatusCode::OK, Some("voided")),
        (voided, "void", StatusCode::OK, Some("voided")),
        (voided, "capture", StatusCode::CONFLICT, None),
        (voided, "refund", StatusCode::CONFLICT, None),
    ];
    for (i, (id, action, status, expected)) in steps.into_iter().enumerate() {
        let answer = app.act(id, action).await;
        let case = format!("step {i}: {action}");
        match expected {
            Some(s) => {
                assert_eq!(answer.status, status, "{case}: {}", answer.body);
                assert_eq!(answer.body["status"], s, "{case}");
            }
            None => assert_problem(&answer, status, None, &case),
        }
    }
    let db = app.db().await;
    let ledger: Vec<(String, String, i64)> = app
        .ledger(&db)
        .await
        .into_iter()
        .map(|e| (e.authorization_id, e.kind, e.amount_cents))
        .collect();
    let expected: Vec<(String, String, i64)> = [
        (refunded, "authorize", 1500),
        (voided, "authorize", 700),
        (refunded, "capture", 1500),
        (refunded, "refund", 1500),
        (voided, "void", 700),
    ]
    .into_iter()
    .map(|(id, kind, cents)| (id.to_owned(), kind.to_owned(), cents))
    .collect();
    assert_eq!(ledger, expected);
    let types: Vec<String> = app
        .published(&db)
        .await
        .into_iter()
        .map(|p| p.kind)
        .collect();
    assert_eq!(types, [AUTHORIZED, AUTHORIZED, CAPTURED, REFUNDED, VOIDED]);
}

#[tokio::test]
async fn unknown_authorizations_are_not_found() {
    let app = spawn_app().await;
    for id in ["0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11", "not-an-id"] {
        let answer = app.authorization(id).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, None, id);
        for action in ["capture", "void", "refund"] {
            let answer = app.act(id, action).await;
            assert_problem(
                &answer,
                StatusCode::NOT_FOUND,
                None,
                &format!("{action} {id}"),
            );
        }
    }
}

#[tokio::test]
async fn the_ledger_cannot_be_rewritten() {
    let app = spawn_app().await;
    app.authorized("order-1", 1000).await;
    let db = app.db().await;
    let update = sqlx::query("UPDATE ledger_entries SET amount_cents = 1")
        .execute(db.pool())
        .await;
    assert!(update.is_err(), "an update of the ledger went through");
    let delete = sqlx::query("DELETE FROM ledger_entries")
        .execute(db.pool())
        .await;
    assert!(delete.is_err(), "a delete from the ledger went through");
    assert_eq!(app.ledger(&db).await[0].amount_cents, 1000);
}
