//! The service answers from its own model: with the catalog down it still answers, and
//! it still learns from orders.

use crate::helpers::{identity, ids, spawn_app};

#[tokio::test]
async fn answers_from_its_own_model_while_the_catalog_is_down() {
    // Arrange: A sold with B; then the catalog goes away.
    let mut app = spawn_app().await;
    let (a, b, c) = (
        app.seed[0].id.clone(),
        app.seed[1].id.clone(),
        app.seed[2].id.clone(),
    );
    app.confirm_order("u-1", &[&a, &b]).await;
    app.stop_catalog().await;

    // Act
    let items = app.for_product(&a, Some(3)).await;
    let mine = app.for_me(&identity().shopper.token, Some(3)).await;

    // Assert: answered as before. (Not timed: a call to the stopped catalog is refused
    // at once, so a time bound caught nothing a wrong answer would not, and on a busy
    // machine two answers once took 2.5 s of its 2 s.)
    assert_eq!(ids(&items)[0], b.as_str());
    assert_eq!(mine.len(), 3);
    let ready = app.get("/health/ready", None).await;
    let status = ready.status();
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "{}",
        ready.text().await.unwrap_or_default()
    );

    // Orders still count while the catalog is away.
    app.confirm_order("u-2", &[&a, &c]).await;
    app.confirm_order("u-3", &[&a, &c]).await;
    assert_eq!(
        ids(&app.for_product(&a, Some(2)).await),
        [c.as_str(), b.as_str()]
    );
}
