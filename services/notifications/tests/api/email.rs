//! Email: with SMTP configured, each message is mailed to the user through a real SMTP
//! conversation (a minimal sink here), retried when the server defers it, given up when
//! it refuses it; the mailbox has every message whatever the mail does.

use crate::helpers::{
    Refusal, SmtpSink, eventually, new_order_id, order_confirmed, register, short, spawn_app_with,
};
use events::Outcome;
use notifications::handler::EmailMode;

#[tokio::test]
async fn each_message_is_mailed_to_the_user() {
    // Arrange
    let sink = SmtpSink::start(Vec::new()).await;
    let app = spawn_app_with(&[
        ("smtp_url", &sink.url()),
        ("smtp_from", "Bazaar Shop <shop@bazaar.test>"),
    ])
    .await;

    // Act: a shopper registers, then an order of theirs is confirmed.
    let sam = register("Sam Shopper").await;
    let welcome = sink.wait_for_mail(&sam.email, 1).await;
    let order_id = new_order_id();
    let outcome = app
        .deliver_with(&order_confirmed(&sam, &order_id), EmailMode::Send)
        .await;
    assert_eq!(outcome, Outcome::Handled);
    let mail = sink.wait_for_mail(&sam.email, 2).await;

    // Assert: real emails, to the shopper, from the shop, with the messages' subjects.
    assert_eq!(welcome[0].to, std::slice::from_ref(&sam.email));
    assert_eq!(welcome[0].from, "shop@bazaar.test");
    assert_eq!(
        welcome[0].header("Subject").as_deref(),
        Some("Welcome to Bazaar, Sam Shopper")
    );
    assert_eq!(
        welcome[0].header("From").as_deref(),
        Some("\"Bazaar Shop\" <shop@bazaar.test>")
    );
    assert!(
        welcome[0]
            .header("To")
            .is_some_and(|to| to.contains(&sam.email))
    );
    let confirmation = &mail[1];
    assert_eq!(
        confirmation.header("Subject"),
        Some(format!("Your order {} is confirmed", short(&order_id)))
    );
    assert!(
        confirmation
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        confirmation.header("Content-Type")
    );
    let messages = app.messages(&sam.token).await;
    assert!(
        confirmation
            .header("Message-ID")
            .is_some_and(|id| id.contains(messages[0]["id"].as_str().unwrap())),
        "the Message-ID names the message"
    );
    let states = eventually("both emails marked sent", async || {
        let states = app.email_states(&sam.id).await;
        let sent = states.len() == 2 && states.values().all(|(s, _)| s == "sent");
        sent.then_some(states)
    })
    .await;
    assert!(states.values().all(|(_, tries)| *tries == 1), "{states:?}");
}

#[tokio::test]
async fn a_deferred_email_is_retried_and_a_refused_one_given_up() {
    // Arrange: the server defers Ann's mail twice and refuses Bob's outright.
    let ann = register("Ann").await;
    let bob = register("Bob").await;
    let sink = SmtpSink::start(vec![
        Refusal {
            to: ann.email.clone(),
            reply: "451 4.3.0 try again later",
            times: 2,
        },
        Refusal {
            to: bob.email.clone(),
            reply: "550 5.1.1 no such mailbox",
            times: usize::MAX,
        },
    ])
    .await;
    let app = spawn_app_with(&[("smtp_url", &sink.url()), ("email_retry_base_ms", "50")]).await;

    // Act: their welcomes are mailed (their events came before this service started).
    let anns = sink.wait_for_mail(&ann.email, 1).await;

    // Assert: Ann's arrived on the third try; Bob's was tried once and given up.
    assert_eq!(sink.rcpt_count(&ann.email), 3);
    assert_eq!(
        anns[0].header("Subject").as_deref(),
        Some("Welcome to Bazaar, Ann")
    );
    let bobs_tries = app
        .wait_for_email(&bob.id, "Welcome to Bazaar, Bob", "failed")
        .await;
    assert_eq!(bobs_tries, 1, "a refusal is not retried");
    assert_eq!(sink.rcpt_count(&bob.email), 1);
    let anns_tries = app
        .wait_for_email(&ann.id, "Welcome to Bazaar, Ann", "sent")
        .await;
    assert_eq!(anns_tries, 3);

    // The mailbox has the message whatever the mail did.
    let bobs_mailbox = app.wait_for_message(&bob.token, "welcome").await;
    assert_eq!(bobs_mailbox["subject"], "Welcome to Bazaar, Bob");
}

#[tokio::test]
async fn an_unreachable_server_is_tried_five_times_then_given_up() {
    // Arrange: nothing listens where the SMTP server should be.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let sam = register("Sam").await;
    let app = spawn_app_with(&[
        ("smtp_url", &format!("smtp://{closed}")),
        ("email_retry_base_ms", "20"),
    ])
    .await;

    // Act / Assert: the welcome is in the mailbox at once; its email fails after 5 tries.
    app.wait_for_message(&sam.token, "welcome").await;
    let tries = app
        .wait_for_email(&sam.id, "Welcome to Bazaar, Sam", "failed")
        .await;
    assert_eq!(tries, 5);
}
