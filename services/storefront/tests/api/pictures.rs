//! Product pictures: drawn from a product's name and category, the same every time, safe
//! to show whatever the name holds; served for every product the catalog has.

use crate::helpers::{Browser, products, spawn_storefront};
use reqwest::StatusCode;
use storefront::images::{initials, product_svg};

#[test]
fn a_picture_is_the_same_every_time_and_differs_between_products() {
    let a = product_svg("Hearthstone Cast-Iron Skillet", "kitchen");
    assert_eq!(a, product_svg("Hearthstone Cast-Iron Skillet", "kitchen"));
    assert_ne!(
        a,
        product_svg("Copperline Kettle", "kitchen"),
        "colours follow the name"
    );
    assert_ne!(
        product_svg("Copperline Kettle", "kitchen"),
        product_svg("Copperline Kettle", "garden"),
        "shapes follow the category"
    );
    assert!(a.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(a.ends_with("</svg>"));
    assert!(a.contains(">HC</text>"), "initials of the first two words");
    assert!(a.contains("<title>Hearthstone Cast-Iron Skillet</title>"));
}

#[test]
fn names_cannot_inject_markup() {
    let svg = product_svg("<script>alert('x')</script> & \"Co\"", "x\"><script>");
    assert!(!svg.contains("<script>"), "{svg}");
    assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;"));
    assert_eq!(svg.matches("<svg").count(), 1);
}

#[test]
fn initials_are_at_most_two_letters() {
    for name in ["A", "Ab Cd Ef", "Über-Grater", "123 Main", ""] {
        let i = initials(name);
        assert!((1..=2).contains(&i.chars().count()), "{name:?} gave {i:?}");
    }
}

#[tokio::test]
async fn every_product_has_its_picture_and_others_none() {
    let sf = spawn_storefront(&[]).await;
    let mut browser = Browser::new(&sf);
    let product = &products(1).await[0];
    let id = product["id"].as_str().unwrap();
    let page = browser.get(&format!("/images/products/{id}.svg")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "image/svg+xml");
    assert!(page.header("cache-control").contains("max-age"));
    assert_eq!(page.header("content-security-policy"), "default-src 'none'");
    let expected = product_svg(
        product["name"].as_str().unwrap(),
        product["category"].as_str().unwrap(),
    );
    assert_eq!(page.body, expected);

    for (path, case) in [
        (
            "/images/products/0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11.svg".to_owned(),
            "an unknown product",
        ),
        (format!("/images/products/{id}.png"), "not an svg"),
        ("/images/products/..%2Fsecret.svg".to_owned(), "not an id"),
    ] {
        let page = browser.get(&path).await;
        page.assert_problem(StatusCode::NOT_FOUND, None, case);
    }
}
