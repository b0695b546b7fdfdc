//! The live stream: new messages arrive as they are written, only the user's own; a
//! reconnect with `Last-Event-ID` gets what was missed, across a restart too; shutdown is
//! not held up by open streams.

use crate::helpers::{
    SseReader, USER_SIGNED_OUT, assert_problem, new_order_id, order_cancelled, order_confirmed,
    payment_failed, register, short, spawn_app,
};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn new_messages_arrive_live_and_only_the_users_own() {
    // Arrange: Sam is listening; Ann is not.
    let app = spawn_app().await;
    let (sam, ann) = (register("Sam").await, register("Ann").await);
    app.wait_for_message(&sam.token, "welcome").await;
    app.wait_for_message(&ann.token, "welcome").await;
    let mut stream = SseReader::open(&app, &sam.token, None).await;

    // Act: an order of Ann's, then one of Sam's.
    app.deliver(&order_confirmed(&ann, &new_order_id())).await;
    let order_id = new_order_id();
    app.deliver(&order_confirmed(&sam, &order_id)).await;

    // Assert: Sam's stream carries Sam's confirmation (and nothing older, nothing of Ann's).
    let event = stream.next().await;
    assert_eq!(event.event.as_deref(), Some("notification"));
    let message: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        message["subject"],
        format!("Your order {} is confirmed", short(&order_id))
    );
    assert_eq!(event.id.as_deref(), message["id"].as_str());
    let listed = app.messages(&sam.token).await;
    assert_eq!(listed[0], message, "the stream sends what the list shows");
    assert!(
        stream
            .next_within(Duration::from_millis(600))
            .await
            .is_none(),
        "nothing else was for Sam"
    );
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_gets_what_was_missed_even_across_a_restart() {
    // Arrange: Sam received one message live, then went away.
    let mut app = spawn_app().await;
    let sam = app.welcomed("Sam").await;
    let mut stream = SseReader::open(&app, &sam.token, None).await;
    let order_id = new_order_id();
    app.deliver(&payment_failed(&sam, &order_id, "card_declined"))
        .await;
    let seen = stream.next().await.id.expect("an id");
    drop(stream);

    // Act: two more messages, the second while the service is down; then a reconnect.
    app.deliver(&order_cancelled(&sam, &order_id, "payment_declined"))
        .await;
    app.stop().await;
    let retried = new_order_id();
    app.deliver(&order_confirmed(&sam, &retried)).await;
    app.start().await;
    let mut stream = SseReader::open(&app, &sam.token, Some(&seen)).await;

    // Assert: both missed messages, oldest first.
    let subjects: Vec<String> = [stream.next().await, stream.next().await]
        .iter()
        .map(|e| {
            let m: Value = serde_json::from_str(&e.data).unwrap();
            m["subject"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        subjects,
        [
            format!("Your order {} was cancelled", short(&order_id)),
            format!("Your order {} is confirmed", short(&retried)),
        ]
    );

    // An id that is not one of Sam's resends nothing and follows new messages.
    let mut fresh = SseReader::open(&app, &sam.token, Some("not-a-message")).await;
    assert!(
        fresh
            .next_within(Duration::from_millis(600))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn open_streams_end_when_the_service_stops() {
    // Arrange
    let mut app = spawn_app().await;
    let sam = register("Sam").await;
    let mut stream = SseReader::open(&app, &sam.token, None).await;

    // Act
    let took = app.stop().await;

    // Assert: well within the 10 s grace period.
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    assert!(stream.ends_within(Duration::from_secs(3)).await);
}

#[tokio::test]
async fn one_user_holds_a_bounded_number_of_streams() {
    let app = crate::helpers::spawn_app_with(&[("streams_per_user", "2")]).await;
    let sam = register("Sam").await;
    let first = SseReader::open(&app, &sam.token, None).await;
    let _second = SseReader::open(&app, &sam.token, None).await;

    let open = async || {
        app.client
            .get(app.url("/api/notifications/stream"))
            .bearer_auth(&sam.token)
            .send()
            .await
            .unwrap()
    };
    let third = open().await;
    assert_eq!(third.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    let problem: Value = third.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("2 live streams"),
        "{problem}"
    );
    // Another user is not affected, and a closed stream frees its place.
    let ann = register("Ann").await;
    let _anns = SseReader::open(&app, &ann.token, None).await;
    drop(first);
    crate::helpers::eventually("the closed stream's place is free", async || {
        let r = open().await;
        (r.status() == reqwest::StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stream_ends_when_the_token_that_opened_it_expires() {
    // Arrange: an identity of its own whose access tokens live 2 s, and a user of it.
    let scratch = platform::testing::Scratch::new("short-tokens");
    let identity = platform::testing::spawn(
        &identity::SERVICE,
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &scratch.sqlite_url("identity")),
            ("access_token_ttl_secs", "2"),
        ],
    )
    .await
    .unwrap();
    let brief = identity::testing::sign_up(identity.url(), "brief@test.local", "Brief")
        .await
        .unwrap();
    let token = &brief.token;
    let app = crate::helpers::spawn_app_with(&[("identity_url", identity.url())]).await;

    // Act
    let mut stream = SseReader::open(&app, token, None).await;

    // Assert: it ends at the token's expiry, not at the next keep-alive or never.
    assert!(
        stream.ends_within(Duration::from_secs(6)).await,
        "the stream outlived its token"
    );
    // Opened again with it, expired but within the clock leeway other calls still allow:
    // refused, so that the client refreshes it, rather than a stream that ends at once.
    let again = app.get_as("/api/notifications/stream", Some(token)).await;
    let problem = assert_problem(
        again,
        reqwest::StatusCode::UNAUTHORIZED,
        None,
        "a stream for an expired token",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
}

#[tokio::test]
async fn signing_out_ends_the_streams_of_older_tokens_and_they_open_no_more() {
    // Arrange: a shopper following their notifications, and another one.
    let app = spawn_app().await;
    let sam = register("Sam").await;
    let kim = register("Kim").await;
    let mut sams = SseReader::open(&app, &sam.token, None).await;
    let mut kims = SseReader::open(&app, &kim.token, None).await;

    // Act: identity announces Sam's sign-out, after their token was issued.
    let now = chrono::Utc::now().timestamp();
    let signed_out = events::testing::event("identity", USER_SIGNED_OUT, &sam.id, |data| {
        data["user_id"] = sam.id.clone().into();
        data["signed_out_at"] = (now + 1).into();
    });
    assert_eq!(
        app.deliver(&signed_out).await,
        events::consumer::Outcome::Handled
    );

    // Assert: Sam's stream ends, Kim's goes on; Sam's old token opens no stream.
    assert!(
        sams.ends_within(Duration::from_secs(4)).await,
        "the stream outlived the sign-out"
    );
    let r = app
        .get_as("/api/notifications/stream", Some(&sam.token))
        .await;
    let problem = assert_problem(
        r,
        reqwest::StatusCode::UNAUTHORIZED,
        None,
        "a stream for a token older than the sign-out",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("signed out"),
        "{problem}"
    );
    app.deliver(&order_confirmed(&kim, &new_order_id())).await;
    assert_eq!(kims.next().await.event.as_deref(), Some("notification"));
    // A sign-out heard late (an older one) changes nothing of the newer.
    let earlier = events::testing::event("identity", USER_SIGNED_OUT, &sam.id, |data| {
        data["user_id"] = sam.id.clone().into();
        data["signed_out_at"] = (now - 60).into();
    });
    app.deliver(&earlier).await;
    let r = app
        .get_as("/api/notifications/stream", Some(&sam.token))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// The `iat` of an access token (seconds since the epoch), read without checking it.
fn issued_at(token: &str) -> i64 {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice::<serde_json::Value>(&json).unwrap()["iat"]
        .as_i64()
        .expect("an iat")
}

#[tokio::test]
async fn a_sign_out_in_the_second_its_token_was_issued_ends_its_streams() {
    // Arrange: a token taken, and a sign-out in the same second (times are whole seconds).
    let app = spawn_app().await;
    let sam = register("Sam").await;
    let mut stream = SseReader::open(&app, &sam.token, None).await;

    // Act
    let signed_out = events::testing::event("identity", USER_SIGNED_OUT, &sam.id, |data| {
        data["user_id"] = sam.id.clone().into();
        data["signed_out_at"] = issued_at(&sam.token).into();
    });
    assert_eq!(
        app.deliver(&signed_out).await,
        events::consumer::Outcome::Handled
    );

    // Assert
    assert!(
        stream.ends_within(Duration::from_secs(4)).await,
        "the stream outlived a sign-out in its token's second"
    );
    let r = app
        .get_as("/api/notifications/stream", Some(&sam.token))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
}
