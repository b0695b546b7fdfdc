//! Idempotency keys: a repeated request is answered the first answer and moves no money,
//! whether the repeats come one after another or all at once.

use crate::helpers::{
    AUTHORIZATIONS, Answer, CARD_DECLINED, CARD_SUCCEEDS, FAILED, assert_problem, authorization,
    eventually, new_key, spawn_app, spawn_app_with,
};
use reqwest::{StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn the_same_request_five_times_is_answered_alike_and_authorized_once() {
    // Arrange
    let app = spawn_app().await;
    let key = new_key();
    let body = authorization("order-1", 3100, CARD_SUCCEEDS);

    // Act
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(app.authorize(&key, &body).await);
    }
    // The same body spelled differently (key order, spacing) is the same request.
    let respelled = format!(
        "{{ \"card\": {card}, \"currency\": \"USD\",  \"amount_cents\": 3100,\n \
         \"user_id\": {user}, \"order_id\": \"order-1\" }}",
        card = body["card"],
        user = body["user_id"]
    );
    let res = app
        .client
        .post(app.url(AUTHORIZATIONS))
        .bearer_auth(&app.service_token)
        .header("Idempotency-Key", &key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(respelled)
        .send()
        .await
        .unwrap();
    answers.push(Answer::read(res).await);

    // Assert
    let first = &answers[0];
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    for (i, repeat) in answers.iter().enumerate().skip(1) {
        assert_eq!(repeat.status, first.status, "answer {i}");
        assert_eq!(repeat.body, first.body, "answer {i}");
        assert_eq!(
            repeat.headers[header::LOCATION],
            first.headers[header::LOCATION],
            "answer {i}"
        );
        assert_eq!(repeat.headers["idempotent-replayed"], "true", "answer {i}");
    }
    let db = app.db().await;
    let ledger = app.ledger(&db).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].kind, "authorize");
    assert_eq!(app.count(&db, "authorizations").await, 1);
    assert_eq!(app.published(&db).await.len(), 1);
}

#[tokio::test]
async fn five_concurrent_requests_with_one_key_make_one_authorization() {
    // Arrange: a slow processor, so that the five overlap.
    let app = spawn_app_with(&[("processing_delay_ms", "300")]).await;
    let key = new_key();
    let body = authorization("order-1", 4200, CARD_SUCCEEDS);

    // Act
    let answers = futures_util::future::join_all((0..5).map(|_| app.authorize(&key, &body))).await;

    // Assert
    let first = &answers[0];
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.status, first.status, "answer {i}: {}", answer.body);
        assert_eq!(answer.body, first.body, "answer {i}");
    }
    let replayed = answers
        .iter()
        .filter(|a| a.headers.contains_key("idempotent-replayed"))
        .count();
    assert_eq!(replayed, 4, "exactly one request executed");
    let db = app.db().await;
    assert_eq!(app.count(&db, "authorizations").await, 1);
    assert_eq!(app.ledger(&db).await.len(), 1);
    assert_eq!(app.published(&db).await.len(), 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let key = new_key();
    let first = app
        .authorize(&key, &authorization("order-1", 1000, CARD_SUCCEEDS))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let mut other_card = authorization("order-1", 1000, "5555555555554444");
    other_card["card"]["cvc"] = json!("123");

    for (what, body) in [
        (
            "another amount",
            authorization("order-1", 1001, CARD_SUCCEEDS),
        ),
        (
            "another order",
            authorization("order-2", 1000, CARD_SUCCEEDS),
        ),
        ("another card", other_card),
    ] {
        // Act
        let answer = app.authorize(&key, &body).await;

        // Assert
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, None, what);
        assert_eq!(
            answer.body["type"], "urn:bazaar:problem:idempotency-key-reused",
            "{what}"
        );
    }
    let db = app.db().await;
    assert_eq!(app.ledger(&db).await.len(), 1);
}

#[tokio::test]
async fn a_decline_is_repeated_not_run_again() {
    let app = spawn_app().await;
    let key = new_key();
    let body = authorization("order-1", 1000, CARD_DECLINED);
    let first = app.authorize(&key, &body).await;
    let second = app.authorize(&key, &body).await;
    assert_problem(&first, StatusCode::PAYMENT_REQUIRED, None, "first");
    assert_problem(&second, StatusCode::PAYMENT_REQUIRED, None, "repeat");
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let db = app.db().await;
    let published = app.published(&db).await;
    assert_eq!(published.len(), 1, "one payment.failed: {published:?}");
    assert_eq!(published[0].kind, FAILED);
}

#[tokio::test]
async fn a_request_that_waits_too_long_for_its_twin_is_told_to_retry() {
    // Arrange: the processor outlasts the wait for a request in progress.
    let app = spawn_app_with(&[
        ("processing_delay_ms", "1500"),
        ("in_progress_wait_ms", "100"),
    ])
    .await;
    let key = new_key();
    let body = authorization("order-1", 1000, CARD_SUCCEEDS);
    let db = app.db().await;

    // Act
    let (first, second) = tokio::join!(app.authorize(&key, &body), async {
        eventually("the first request to claim the key", async || {
            (app.count(&db, "idempotency_keys").await == 1).then_some(())
        })
        .await;
        app.authorize(&key, &body).await
    });

    // Assert
    assert_problem(&second, StatusCode::CONFLICT, None, "while in progress");
    assert_eq!(
        second.body["type"],
        "urn:bazaar:problem:request-in-progress"
    );
    assert!(second.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let retried = app.authorize(&key, &body).await;
    assert_eq!(retried.status, StatusCode::CREATED);
    assert_eq!(retried.body, first.body);
    assert_eq!(app.ledger(&db).await.len(), 1);
}

#[tokio::test]
async fn a_key_abandoned_by_a_request_that_died_is_taken_over_after_its_lease() {
    // Arrange: two keys left `in_progress` by a request whose process died, one with its
    // lease run out and one still within it.
    let app = spawn_app_with(&[("in_progress_wait_ms", "100")]).await;
    let body = authorization("order-1", 1000, CARD_SUCCEEDS);
    let fingerprint = payments::idempotency::fingerprint(AUTHORIZATIONS, &body);
    let db = app.db().await;
    let (expired, leased) = (new_key(), new_key());
    for (key, locked_until) in [
        (&expired, "2000-01-01T00:00:00.000Z"),
        (&leased, "2999-01-01T00:00:00.000Z"),
    ] {
        sqlx::query(
            "INSERT INTO idempotency_keys \
             (caller, idem_key, fingerprint, state, token, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, 'in_progress', 'dead', $4, $5, $5)",
        )
        .bind("service:orders")
        .bind(key.as_str())
        .bind(&fingerprint)
        .bind(locked_until)
        .bind(events::now_rfc3339())
        .execute(db.pool())
        .await
        .expect("the key row goes in");
    }

    // Act
    let taken_over = app.authorize(&expired, &body).await;
    let still_held = app.authorize(&leased, &body).await;

    // Assert
    assert_eq!(
        taken_over.status,
        StatusCode::CREATED,
        "{}",
        taken_over.body
    );
    assert_problem(&still_held, StatusCode::CONFLICT, None, "within its lease");
    assert_eq!(
        still_held.body["type"],
        "urn:bazaar:problem:request-in-progress"
    );
    assert_eq!(app.ledger(&db).await.len(), 1);
}

#[tokio::test]
async fn a_request_at_work_keeps_its_key_past_the_lease() {
    // Arrange: processing that outlasts a key's lease (3 s, so that a dead request's key
    // is free again soon): the request renews the lease while it works.
    let app = spawn_app_with(&[
        // Long enough past the second request's 3.8 s that a busy machine still has the
        // first at work when the second arrives.
        ("processing_delay_ms", "6000"),
        ("in_progress_wait_ms", "100"),
    ])
    .await;
    let key = new_key();
    let body = authorization("order-1", 1000, CARD_SUCCEEDS);

    // Act: the same request again once the first has held the key longer than a lease.
    let later = async {
        tokio::time::sleep(std::time::Duration::from_millis(3800)).await;
        app.authorize(&key, &body).await
    };
    let (first, second) = tokio::join!(app.authorize(&key, &body), later);

    // Assert: the second waited its turn instead of taking the key over.
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_problem(&second, StatusCode::CONFLICT, None, "still at work");
    assert_eq!(
        second.body["type"],
        "urn:bazaar:problem:request-in-progress"
    );
    let db = app.db().await;
    assert_eq!(app.ledger(&db).await.len(), 1);
}

#[tokio::test]
async fn a_request_whose_caller_hangs_up_is_finished_and_its_retry_answered_the_outcome() {
    // Arrange: a caller that gives up long before the processor answers (orders' call
    // timing out), and a retry that waits for a request in progress long enough for a
    // busy machine (a request cut off with its caller left its key to a takeover after
    // the 3 s lease, which ran the authorisation afresh: no `Idempotent-Replayed`).
    let app = spawn_app_with(&[
        ("processing_delay_ms", "1000"),
        ("in_progress_wait_ms", "10000"),
    ])
    .await;
    let key = new_key();
    let body = authorization("order-1", 1000, CARD_SUCCEEDS);
    let gave_up = app
        .client
        .post(app.url(AUTHORIZATIONS))
        .bearer_auth(&app.service_token)
        .header("Idempotency-Key", &key)
        .json(&body)
        .timeout(std::time::Duration::from_millis(200))
        .send()
        .await;
    assert!(
        gave_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "{gave_up:?}"
    );

    // Act
    let retried = app.authorize(&key, &body).await;

    // Assert: the first request went on without its caller, recorded its authorisation
    // and freed its key; cut off with its caller, it left the key held for a lease with
    // nobody at work on it, and the retry was refused 409 after its wait.
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    let db = app.db().await;
    assert_eq!(app.ledger(&db).await.len(), 1);
}
