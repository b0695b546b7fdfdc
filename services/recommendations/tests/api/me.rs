//! "For you": what others bought with the shopper's purchases, never the purchases
//! themselves; the popular products for a shopper who bought nothing yet.

use crate::helpers::{Product, identity, ids, spawn_app};
use std::collections::HashSet;

fn newest_first<'a>(products: impl IntoIterator<Item = &'a Product>) -> Vec<&'a Product> {
    let mut all: Vec<&Product> = products.into_iter().collect();
    all.sort_by(|x, y| y.created_at.cmp(&x.created_at).then(x.id.cmp(&y.id)));
    all
}

#[tokio::test]
async fn a_new_shopper_in_a_new_shop_gets_the_newest_products() {
    let app = spawn_app().await;

    let items = app.for_me(&identity().newcomer.token, None).await;

    let expected: Vec<&str> = newest_first(&app.seed)
        .into_iter()
        .take(6)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids(&items), expected);
    assert!(items.iter().all(|i| i["reason"] == "popular"), "{items:?}");
}

#[tokio::test]
async fn for_you_follows_what_the_shopper_bought_and_leaves_it_out() {
    // Arrange: the shopper bought A and B together. Others bought A with C twice, B with
    // D once, and E alone four times. Each is from a different category.
    let app = spawn_app().await;
    let shopper = &identity().shopper;
    let categories = app.categories_by_size();
    let pick = |i: usize| app.newest_in(&categories[i])[0].id.clone();
    let (a, b, c, d, e) = (pick(0), pick(1), pick(2), pick(3), pick(4));
    app.confirm_order(&shopper.id, &[&a, &b]).await;
    app.confirm_order("u-other", &[&a, &c]).await;
    app.confirm_order("u-other", &[&c, &a]).await;
    app.confirm_order("u-another", &[&b, &d]).await;
    for _ in 0..4 {
        app.confirm_order("u-fan", &[&e]).await;
    }

    // Act
    let items = app.for_me(&shopper.token, None).await;

    // Assert: C (with A twice) then D (with B once), then the newest of A's and B's
    // categories, then the shop's most popular (E); never A or B.
    let mut expected = vec![(c.clone(), "for_you"), (d.clone(), "for_you")];
    let theirs = newest_first(
        app.seed
            .iter()
            .filter(|p| p.category == categories[0] || p.category == categories[1]),
    );
    for p in theirs.iter().filter(|p| p.id != a && p.id != b).take(4) {
        expected.push((p.id.clone(), "popular_in_category"));
    }
    if expected.len() < 6 {
        expected.push((e.clone(), "popular"));
    }
    let got: Vec<(String, &str)> = items
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got[..expected.len()], expected[..]);
    let all = app.for_me(&shopper.token, Some(20)).await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 20);
    assert!(
        !all_ids.contains(&a.as_str()) && !all_ids.contains(&b.as_str()),
        "{all_ids:?}"
    );
    assert_eq!(
        all_ids.iter().collect::<HashSet<_>>().len(),
        20,
        "no repeats"
    );
    assert_eq!(
        ids(&app.for_me(&shopper.token, Some(2)).await),
        [c.as_str(), d.as_str()]
    );

    // A shopper with no history gets the shop's most ordered products, then the newest.
    let fresh = app.for_me(&identity().newcomer.token, None).await;
    assert!(fresh.iter().all(|i| i["reason"] == "popular"), "{fresh:?}");
    let fresh_ids = ids(&fresh);
    assert_eq!(
        &fresh_ids[..2],
        [e.as_str(), a.as_str()],
        "4 orders, then 3"
    );
    let tied: HashSet<&str> = fresh_ids[2..4].iter().copied().collect();
    assert_eq!(
        tied,
        HashSet::from([b.as_str(), c.as_str()]),
        "2 orders each"
    );
    assert_eq!(fresh_ids[4], d.as_str(), "1 order");
    let bought = [&a, &b, &c, &d, &e];
    let newest_unsold = newest_first(&app.seed)
        .into_iter()
        .find(|p| !bought.contains(&&p.id))
        .unwrap();
    assert_eq!(fresh_ids[5], newest_unsold.id);
}
