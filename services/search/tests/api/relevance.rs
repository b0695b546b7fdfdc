//! Relevance over the seeded catalog: a table of searches built from the catalog's own
//! products (read through its API), checked once the seed is indexed and again after a
//! rebuild that replays the catalog's events from the start.

use crate::helpers::{SEED_PRODUCTS, TestApp, ids, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::{collections::BTreeMap, time::Instant};

/// A seeded product, as the catalog lists it.
#[derive(Debug, Clone)]
struct Product {
    id: String,
    name: String,
    description: String,
    category: String,
    price_cents: i64,
}

/// What a case expects of its answer.
#[derive(Debug, Clone)]
enum Expect {
    /// The product is among the first `n` hits.
    Within { id: String, n: usize },
    /// Every hit is of this category, and `total` products match.
    Category { slug: String, total: usize },
    /// Every hit costs within this range (inclusive), and `total` products match.
    Price { min: i64, max: i64, total: usize },
    /// The category facets add up to the total, which is `total` (when given).
    FacetsAddUp { total: Option<usize> },
}

#[derive(Debug, Clone)]
struct Case {
    what: String,
    params: Vec<(&'static str, String)>,
    expect: Expect,
}

/// What is compared before and after a rebuild: the total and the first page as (name,
/// score) pairs, so that products with equal names and scores may trade places.
type Answer = (u64, Vec<(String, i64)>);

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Edit distance counting a swap of neighbours as one edit (as the index does).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

async fn seeded_products(app: &TestApp) -> Vec<Product> {
    let products: Vec<Product> = app
        .catalog_products()
        .await
        .into_iter()
        .map(|p: Value| Product {
            id: p["id"].as_str().unwrap_or_default().to_owned(),
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            description: p["description"].as_str().unwrap_or_default().to_owned(),
            category: p["category"].as_str().unwrap_or_default().to_owned(),
            price_cents: p["price_cents"].as_i64().unwrap_or_default(),
        })
        .collect();
    assert_eq!(products.len(), SEED_PRODUCTS, "the catalog lists its seed");
    products
}

/// The table: built from the seed, so it follows the catalog's generator.
fn cases(products: &[Product]) -> Vec<Case> {
    let mut name_count: BTreeMap<String, usize> = BTreeMap::new();
    for p in products {
        *name_count.entry(p.name.to_lowercase()).or_default() += 1;
    }
    let unique: Vec<&Product> = products
        .iter()
        .filter(|p| name_count[&p.name.to_lowercase()] == 1)
        .collect();
    assert!(unique.len() > 100, "only {} unique names", unique.len());
    let pick = |k: usize| unique[unique.len() * k / 11];
    let mut cases = Vec::new();

    // The exact full name puts the product first.
    for k in [1, 4, 7] {
        let p = pick(k);
        cases.push(Case {
            what: format!("exact name {:?}", p.name),
            params: vec![("q", p.name.clone())],
            expect: Expect::Within {
                id: p.id.clone(),
                n: 1,
            },
        });
    }

    // One wrong letter in the name's longest word keeps it in the top three.
    for k in [2, 9] {
        let p = pick(k);
        let longest = words(&p.name)
            .into_iter()
            .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
            .max_by_key(|w| w.len())
            .expect("a name with a word");
        assert!(longest.len() >= 5, "{:?} has no long word", p.name);
        let mut typo: Vec<char> = longest.chars().collect();
        let mid = typo.len() / 2;
        typo[mid] = if typo[mid] == 'x' { 'q' } else { 'x' };
        let typo: String = typo.into_iter().collect();
        let query = words(&p.name)
            .into_iter()
            .map(|w| if w == longest { typo.clone() } else { w })
            .collect::<Vec<_>>()
            .join(" ");
        cases.push(Case {
            what: format!("typo {typo:?} in {:?}", p.name),
            params: vec![("q", query)],
            expect: Expect::Within {
                id: p.id.clone(),
                n: 3,
            },
        });
    }

    // The beginning of a distinctive word: no word of the catalog is it or one edit from
    // it, and at most three names have a word starting with it.
    let vocabulary: std::collections::BTreeSet<String> = products
        .iter()
        .flat_map(|p| words(&p.name).into_iter().chain(words(&p.description)))
        .collect();
    let mut prefixes = 0;
    'products: for p in &unique {
        for word in words(&p.name) {
            if word.len() < 7 || !word.chars().all(|c| c.is_ascii_alphabetic()) {
                continue;
            }
            let prefix = &word[..5];
            let ambiguous = vocabulary.iter().any(|w| distance(w, prefix) <= 1);
            let names = products
                .iter()
                .filter(|q| words(&q.name).iter().any(|w| w.starts_with(prefix)))
                .count();
            if !ambiguous && names <= 3 {
                cases.push(Case {
                    what: format!("prefix {prefix:?} of {:?}", p.name),
                    params: vec![("q", prefix.to_owned())],
                    expect: Expect::Within {
                        id: p.id.clone(),
                        n: 3,
                    },
                });
                prefixes += 1;
                if prefixes == 2 {
                    break 'products;
                }
                continue 'products;
            }
        }
    }
    assert_eq!(prefixes, 2, "the seed has distinctive words");

    // Filters, alone and with words.
    let first = pick(1);
    let in_category = products
        .iter()
        .filter(|p| p.category == first.category)
        .count();
    cases.push(Case {
        what: format!("category {}", first.category),
        params: vec![
            ("category", first.category.clone()),
            ("per_page", "100".into()),
        ],
        expect: Expect::Category {
            slug: first.category.clone(),
            total: in_category,
        },
    });
    let noun = words(&first.name).pop().expect("a name with words");
    let noun_in_category = products
        .iter()
        .filter(|p| p.category == first.category)
        .filter(|p| {
            words(&p.name)
                .iter()
                .chain(words(&p.description).iter())
                .any(|w| w == &noun)
        })
        .count();
    cases.push(Case {
        what: format!("{noun:?} in category {}", first.category),
        params: vec![
            ("q", noun.clone()),
            ("category", first.category.clone()),
            ("per_page", "100".into()),
        ],
        // At least the exact matches; stems, typos and prefixes may add more.
        expect: Expect::Category {
            slug: first.category.clone(),
            total: noun_in_category,
        },
    });
    let (min, max) = (2_000, 5_000);
    let in_range = products
        .iter()
        .filter(|p| (min..=max).contains(&p.price_cents))
        .count();
    cases.push(Case {
        what: format!("price {min}..={max}"),
        params: vec![
            ("min_price", min.to_string()),
            ("max_price", max.to_string()),
            ("sort", "price_asc".into()),
            ("per_page", "100".into()),
        ],
        expect: Expect::Price {
            min,
            max,
            total: in_range,
        },
    });
    cases.push(Case {
        what: "everything".into(),
        params: vec![],
        expect: Expect::FacetsAddUp {
            total: Some(SEED_PRODUCTS),
        },
    });
    cases.push(Case {
        what: format!("facets of {noun:?}"),
        params: vec![("q", noun)],
        expect: Expect::FacetsAddUp { total: None },
    });
    cases
}

/// Runs the table, asserting every case; returns each case's answer.
async fn run(app: &TestApp, cases: &[Case]) -> Vec<Answer> {
    let mut answers = Vec::new();
    for case in cases {
        let params: Vec<(&str, &str)> = case.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = app.search(&params).await;
        let total = body["total"].as_u64().expect("a total");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let what = &case.what;
        match &case.expect {
            Expect::Within { id, n } => {
                let found = ids(&body).iter().position(|i| i == id);
                assert!(
                    found.is_some_and(|at| at < *n),
                    "{what}: wanted in the top {n}, found at {found:?}: {body}"
                );
                eprintln!("{what}: #{} of {total}", found.map_or(0, |at| at + 1));
            }
            Expect::Category {
                slug,
                total: at_least,
            } => {
                assert!(
                    items.iter().all(|i| i["category"] == slug.as_str()),
                    "{what}: {body}"
                );
                assert!(
                    total as usize >= *at_least && total > 0,
                    "{what}: total {total}, expected ≥ {at_least}"
                );
                if case.params.iter().all(|(k, _)| *k != "q") {
                    assert_eq!(total as usize, *at_least, "{what}");
                }
            }
            Expect::Price {
                min,
                max,
                total: expected,
            } => {
                let prices: Vec<i64> = items
                    .iter()
                    .filter_map(|i| i["price_cents"].as_i64())
                    .collect();
                assert!(
                    prices.iter().all(|p| (min..=max).contains(&p)),
                    "{what}: {prices:?}"
                );
                assert!(prices.is_sorted(), "{what}: not cheapest first: {prices:?}");
                assert_eq!(total as usize, *expected, "{what}");
            }
            Expect::FacetsAddUp { total: expected } => {
                let sum: u64 = body["facets"]["category"]
                    .as_object()
                    .expect("category facets")
                    .values()
                    .filter_map(Value::as_u64)
                    .sum();
                assert_eq!(sum, total, "{what}: {body}");
                assert!(total > 0, "{what}");
                if let Some(expected) = expected {
                    assert_eq!(total as usize, *expected, "{what}");
                }
            }
        }
        let page = items
            .iter()
            .take(10)
            .map(|i| {
                let score = i["score"].as_f64().unwrap_or_default();
                (
                    i["name"].as_str().unwrap_or_default().to_owned(),
                    (score * 1000.0).round() as i64,
                )
            })
            .collect();
        answers.push((total, page));
    }
    answers
}

#[tokio::test]
async fn the_seeded_catalog_ranks_as_expected_and_again_after_a_replay() {
    // Arrange
    let app = spawn_app().await;
    let took = app.wait_until_indexed(SEED_PRODUCTS).await;
    eprintln!("the seed of {SEED_PRODUCTS} products was searchable after {took:?}");
    let products = seeded_products(&app).await;
    let cases = cases(&products);
    assert!(cases.len() >= 8, "{} cases", cases.len());

    // Act / Assert: the table, then the same table after a rebuild from scratch.
    let before = run(&app, &cases).await;

    let started = Instant::now();
    let res = app
        .send(
            Method::POST,
            "/api/search/admin/rebuild",
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(body["mode"], "replay", "{body}");
    let status = app.status().await;
    assert_eq!(
        status["products"], 0,
        "the reset forgot every product: {status}"
    );
    // Not ready (out of the gateway's rotation) until the replay and the index are whole.
    let once_ready = app.status_once_ready().await;
    assert_eq!(
        (&once_ready["products"], &once_ready["documents"]),
        (&SEED_PRODUCTS.into(), &SEED_PRODUCTS.into()),
        "{once_ready}"
    );
    app.wait_until_indexed(SEED_PRODUCTS).await;
    eprintln!(
        "rebuilt by replaying the catalog in {:?}",
        started.elapsed()
    );

    let after = run(&app, &cases).await;
    for ((case, b), a) in cases.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{}: the answer changed after the rebuild", case.what);
    }
}

#[tokio::test]
async fn suggestions_complete_the_words_typed() {
    // Arrange
    let app = spawn_app().await;
    app.wait_until_indexed(SEED_PRODUCTS).await;
    let products = seeded_products(&app).await;
    let name = &products[products.len() / 3].name;
    let first_words = words(name);

    // Act / Assert
    for typed in [
        first_words[0].chars().take(3).collect::<String>(),
        format!(
            "{} {}",
            first_words[0],
            first_words[1].chars().take(2).collect::<String>()
        ),
    ] {
        let body = app
            .get_json(&format!(
                "/api/search/suggest?q={}",
                typed.replace(' ', "%20")
            ))
            .await;
        let suggestions = body["suggestions"].as_array().expect("a list");
        assert!((1..=8).contains(&suggestions.len()), "{typed:?}: {body}");
        let typed_words = words(&typed);
        for s in suggestions {
            let name_words = words(s["name"].as_str().unwrap_or_default());
            for t in &typed_words {
                assert!(
                    name_words.iter().any(|w| w.starts_with(t.as_str())),
                    "{typed:?}: {s} has no word starting with {t:?}"
                );
            }
            assert!(s["id"].is_string(), "{s}");
        }
        let names: std::collections::HashSet<&str> = suggestions
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(
            names.len(),
            suggestions.len(),
            "{typed:?}: names repeat: {body}"
        );
    }
    let empty = app.get_json("/api/search/suggest?q=").await;
    assert_eq!(empty["suggestions"], serde_json::json!([]));
    let nothing = app.get_json("/api/search/suggest?q=qqqzzz").await;
    assert_eq!(nothing["suggestions"], serde_json::json!([]));
}
