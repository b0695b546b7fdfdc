//! Test builds check every event a producer records against its published contract.

use crate::helpers::scratch;
use events::{Event, outbox, testing, types::orders::ORDER_CONFIRMED};
use platform::db::Db;

#[tokio::test]
async fn the_outbox_of_a_test_build_refuses_data_that_breaks_its_contract() {
    let dir = scratch();
    let db = Db::connect(&dir.sqlite_url("producer"), outbox::MIGRATIONS)
        .await
        .unwrap();
    let broken = testing::poison("orders", ORDER_CONFIRMED, "o-1", |data| {
        data["total_cents"] = "a lot".into();
    });
    let good = testing::event("orders", ORDER_CONFIRMED, "o-2", |_| {});
    let untyped = Event::new(
        "testproducer",
        "bazaar.testproducer.thing.created.v1",
        "t",
        1,
    )
    .unwrap();

    let mut tx = db.begin_write().await.unwrap();
    let refused = outbox::enqueue(&mut tx, &broken).await.unwrap_err();
    outbox::enqueue(&mut tx, &good).await.unwrap();
    outbox::enqueue(&mut tx, &untyped).await.unwrap();
    tx.commit().await.unwrap();

    let text = refused.to_string();
    assert!(
        text.contains(ORDER_CONFIRMED) && text.contains("total_cents"),
        "{text}"
    );
    let kinds: Vec<String> = testing::recorded(&db)
        .await
        .into_iter()
        .map(|(_, e)| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [ORDER_CONFIRMED, "bazaar.testproducer.thing.created.v1"]
    );
}
