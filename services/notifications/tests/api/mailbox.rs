//! The mailbox: a welcome from identity's real event, order and payment messages from
//! delivered events, each exactly once, newest first, each user seeing only their own.

use crate::helpers::{
    ORDER_CONFIRMED, USER_REGISTERED, identity, new_order_id, order_cancelled, order_confirmed,
    payment_failed, register, short, spawn_app,
};
use events::Outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn subjects(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["subject"].as_str().expect("a subject"))
        .collect()
}

#[tokio::test]
async fn a_new_account_is_welcomed_by_name() {
    // Arrange
    let app = spawn_app().await;

    // Act: a shopper registers with identity.
    let sam = register("Sam Shopper").await;

    // Assert: identity's event reaches the mailbox over the embedded transport.
    let welcome = app.wait_for_message(&sam.token, "welcome").await;
    assert_eq!(welcome["subject"], "Welcome to Bazaar, Sam Shopper");
    let body = welcome["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Sam Shopper,\n"), "{body}");
    assert!(body.contains(&sam.email), "{body}");
    let keys: Vec<&String> = welcome.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["body", "created_at", "id", "kind", "subject"]);
    assert!(chrono::DateTime::parse_from_rfc3339(welcome["created_at"].as_str().unwrap()).is_ok());
    let states = app.email_states(&sam.id).await;
    assert_eq!(
        states["Welcome to Bazaar, Sam Shopper"],
        ("skipped".to_owned(), 0),
        "without SMTP the email is skipped"
    );
}

#[tokio::test]
async fn order_and_payment_events_become_messages_newest_first_and_once() {
    // Arrange
    let app = spawn_app().await;
    let sam = app.welcomed("Sam").await;
    let (declined, confirmed) = (new_order_id(), new_order_id());

    // Act: a declined checkout, then one that goes through.
    let events = [
        payment_failed(&sam, &declined, "card_declined"),
        order_cancelled(&sam, &declined, "payment_declined"),
        order_confirmed(&sam, &confirmed),
    ];
    for event in &events {
        assert_eq!(app.deliver(event).await, Outcome::Handled, "{}", event.kind);
    }

    // Assert: one message each, newest first, reading like a shop's emails.
    let messages = app.messages(&sam.token).await;
    assert_eq!(
        subjects(&messages),
        [
            format!("Your order {} is confirmed", short(&confirmed)),
            format!("Your order {} was cancelled", short(&declined)),
            "Your payment was declined".to_owned(),
            "Welcome to Bazaar, Sam".to_owned(),
        ]
    );
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "order_confirmed",
            "order_cancelled",
            "payment_failed",
            "welcome"
        ]
    );
    let body = |i: usize| messages[i]["body"].as_str().unwrap();
    for line in [
        "Hi Sam,",
        "- 2 × Blue Mug, $12.99 each: $25.98",
        "- 1 × Kettle: $49.99",
        "Total charged: $75.97",
    ] {
        assert!(body(0).contains(line), "{line:?} not in:\n{}", body(0));
    }
    assert!(
        body(1).contains("because your payment was declined"),
        "{}",
        body(1)
    );
    assert!(body(1).contains("not been charged"), "{}", body(1));
    assert!(
        body(2).contains(&format!(
            "Your payment of $75.97 for order {} was declined: your bank declined the card.",
            short(&declined)
        )),
        "{}",
        body(2)
    );
    assert!(body(2).contains("What to do:"), "{}", body(2));

    // A limit keeps the newest, and names the next page; the pages hold them all, once.
    let newest = app
        .messages_at("/api/notifications?limit=2", &sam.token)
        .await;
    assert_eq!(subjects(&newest), subjects(&messages[..2]));
    let mut paged = Vec::new();
    let mut next = Some("/api/notifications?limit=3".to_owned());
    while let Some(path) = next.take() {
        let res = app.get_as(&path, Some(&sam.token)).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        next = res
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| {
                l.strip_prefix('<')?
                    .split_once(">; rel=\"next\"")
                    .map(|(p, _)| p.to_owned())
            });
        let page: Vec<Value> = res.json().await.unwrap();
        paged.extend(page);
        assert!(paged.len() <= messages.len(), "no message twice");
    }
    assert_eq!(subjects(&paged), subjects(&messages));
    let stranger = register("Stranger").await;
    let theirs = app
        .get_as(
            &format!(
                "/api/notifications?before={}",
                messages[0]["id"].as_str().unwrap()
            ),
            Some(&stranger.token),
        )
        .await;
    assert_eq!(
        theirs.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "another's message is no cursor"
    );

    // Act: the transport delivers an event again.
    let again = app.deliver(&events[2]).await;

    // Assert: no second message.
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(app.messages(&sam.token).await.len(), 4);
}

#[tokio::test]
async fn users_see_only_their_own_messages() {
    // Arrange
    let app = spawn_app().await;
    let (ann, bob) = (register("Ann").await, register("Bob").await);
    app.wait_for_message(&bob.token, "welcome").await;

    // Act: Ann orders.
    app.deliver(&order_confirmed(&ann, &new_order_id())).await;

    // Assert
    let anns = app.wait_for_message(&ann.token, "order_confirmed").await;
    let bobs = app.messages(&bob.token).await;
    assert_eq!(subjects(&bobs), ["Welcome to Bazaar, Bob"]);
    assert!(bobs.iter().all(|m| m["id"] != anns["id"]));
    let admins = app
        .messages(&identity().admin_token)
        .await
        .into_iter()
        .filter(|m| m["kind"] != "welcome")
        .count();
    assert_eq!(admins, 0, "an administrator has no view of others' mail");
}

#[tokio::test]
async fn a_payment_failure_greets_by_the_name_identity_announced() {
    // Arrange: payments' event carries no name; identity's did.
    let app = spawn_app().await;
    let zoe = app.welcomed("Zoë Quinn").await;

    // Act
    app.deliver(&payment_failed(&zoe, &new_order_id(), "insufficient_funds"))
        .await;

    // Assert
    let failed = app.wait_for_message(&zoe.token, "payment_failed").await;
    let body = failed["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Zoë Quinn,\n"), "{body}");
    assert!(
        body.contains("the card does not have enough funds"),
        "{body}"
    );
}

#[tokio::test]
async fn an_account_announced_again_is_not_welcomed_twice() {
    // Arrange
    let app = spawn_app().await;
    let sam = app.welcomed("Sam").await;
    let again = events::testing::event("identity", USER_REGISTERED, &sam.id, |data| {
        data["user_id"] = sam.id.as_str().into();
        data["email"] = sam.email.as_str().into();
        data["name"] = "Samuel".into();
    });

    // Act: identity announces the account again, renamed; then a card is declined.
    assert_eq!(app.deliver(&again).await, Outcome::Handled);
    app.deliver(&payment_failed(&sam, &new_order_id(), "card_declined"))
        .await;

    // Assert: still one welcome, and the new name is used from now on.
    let messages = app.messages(&sam.token).await;
    assert_eq!(
        subjects(&messages),
        ["Your payment was declined", "Welcome to Bazaar, Sam"]
    );
    let body = messages[0]["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Samuel,\n"), "{body}");
}

#[tokio::test]
async fn events_that_make_no_sense_are_dead_lettered_and_write_nothing() {
    // Arrange
    let app = spawn_app().await;
    let sam = app.welcomed("Sam").await;
    let order_id = new_order_id();
    let mut bad = order_confirmed(&sam, &order_id);
    bad.data["items"][0]["quantity"] = json!(0);
    bad.data["currency"] = json!("dollars");
    let mut undecodable = order_confirmed(&sam, &new_order_id());
    undecodable.data = json!({"order_id": 5});
    let mut unknown = order_confirmed(&sam, &new_order_id());
    unknown.kind = "bazaar.orders.order.shipped.v1".into();

    // Act / Assert: each goes straight to the dead letters.
    for event in [&bad, &undecodable, &unknown] {
        assert_eq!(
            app.deliver(event).await,
            Outcome::DeadLettered,
            "{}",
            event.data
        );
    }
    assert_eq!(app.messages(&sam.token).await.len(), 1, "only the welcome");

    // The operators see why.
    let res = app
        .get_as(
            "/api/notifications/events/dead-letters",
            Some(&identity().admin_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let letters: Value = res.json().await.unwrap();
    let letter = letters["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["event_id"] == bad.id.as_str())
        .expect("the bad event is a dead letter");
    assert_eq!(letter["type"], ORDER_CONFIRMED);
    let error = letter["error"].as_str().unwrap();
    assert!(error.contains("currency"), "{error}");
    let res = app
        .get_as("/api/notifications/events/dead-letters", Some(&sam.token))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
