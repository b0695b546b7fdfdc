//! Search at catalog scale: `cargo bench -p bazaar-search`. Prints figures; asserts
//! nothing.
//!
//! 1. Generates 100 000 products with the catalog's own seed generator.
//! 2. Replays them as `product.created` events through search's real consumer and handler
//!    into a SQLite products table (what a rebuild by replay does, minus the HTTP reads).
//! 3. Builds the index from the table with `rebuild_index` (what start-up does with an
//!    empty index directory).
//! 4. Runs mixed searches (words, typos, prefixes, filters, sorts, pages) and suggestions
//!    through the same functions the HTTP handlers call, then a smaller round over HTTP
//!    through the real server.
//!
//! `BAZAAR_BENCH_PRODUCTS` and `BAZAAR_BENCH_QUERIES` scale it (defaults 100 000 and 5 000).

use catalog::seed::{SeedProduct, SplitMix64, generate};
use events::{Event, Outcome};
use platform::db::Db;
use search::{
    SERVICE,
    domain::{CategorySlug, Paging, PriceRange, SearchQuery, Sort, Words},
    engine::MAX_SUGGESTIONS,
    handler,
    index::SearchIndex,
    indexer::Indexer,
    rebuild_index,
    store::{self, Store},
};
use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A search as a client would send it.
#[derive(Debug, Clone)]
struct Spec {
    kind: &'static str,
    q: String,
    category: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    sort: Sort,
    page: u32,
}

impl Spec {
    fn query(&self) -> SearchQuery {
        SearchQuery {
            words: Words::parse(&self.q).expect("bench words parse"),
            category: self
                .category
                .as_deref()
                .map(|c| CategorySlug::parse(c).expect("a slug")),
            price: PriceRange::new(self.min_price, self.max_price).expect("a range"),
            sort: self.sort,
            paging: Paging::new(self.page, 20).expect("a page"),
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("q", self.q.clone()), ("page", self.page.to_string())];
        if let Some(c) = &self.category {
            p.push(("category", c.clone()));
        }
        if let Some(v) = self.min_price {
            p.push(("min_price", v.to_string()));
        }
        if let Some(v) = self.max_price {
            p.push(("max_price", v.to_string()));
        }
        let sort = match self.sort {
            Sort::Relevance => "relevance",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Newest => "newest",
        };
        p.push(("sort", sort.into()));
        p
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A mix of searches drawn from the products, deterministic.
fn specs(products: &[SeedProduct], n: usize) -> Vec<Spec> {
    let mut rng = SplitMix64::new(0x5EA2_C4B3_4C40_0001);
    let mut out = Vec::with_capacity(n);
    let categories: Vec<&str> = {
        let mut c: Vec<&str> = products.iter().map(|p| p.category).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    while out.len() < n {
        let p = &products[rng.below(products.len() as u64) as usize];
        let ws = words(&p.name);
        let word = ws[rng.below(ws.len() as u64) as usize].clone();
        let long = ws
            .iter()
            .filter(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
            .max_by_key(|w| w.len())
            .cloned();
        let page = if rng.below(10) == 0 { 2 } else { 1 };
        let base = Spec {
            kind: "",
            q: String::new(),
            category: None,
            min_price: None,
            max_price: None,
            sort: Sort::Relevance,
            page,
        };
        let lo = rng.between(0, 200) as i64 * 100;
        let spec = match rng.below(100) {
            0..=19 => Spec {
                kind: "full name",
                q: p.name.clone(),
                ..base
            },
            20..=34 => Spec {
                kind: "two words",
                q: ws.iter().take(2).cloned().collect::<Vec<_>>().join(" "),
                ..base
            },
            35..=49 => match long {
                Some(w) => {
                    let mut chars: Vec<char> = w.chars().collect();
                    let at = rng.below(chars.len() as u64 - 1) as usize;
                    if rng.below(2) == 0 {
                        chars.swap(at, at + 1);
                    } else {
                        chars[at] = if chars[at] == 'e' { 'a' } else { 'e' };
                    }
                    Spec {
                        kind: "typo",
                        q: chars.into_iter().collect(),
                        ..base
                    }
                }
                None => continue,
            },
            50..=64 => {
                let keep = (rng.between(3, 6) as usize).min(word.chars().count());
                Spec {
                    kind: "prefix",
                    q: word.chars().take(keep).collect(),
                    ..base
                }
            }
            65..=74 => Spec {
                kind: "word + category",
                q: word,
                category: Some(p.category.to_owned()),
                ..base
            },
            75..=84 => Spec {
                kind: "word + price + sort",
                q: word,
                min_price: Some(lo),
                max_price: Some(lo + 5_000),
                sort: if rng.below(2) == 0 {
                    Sort::PriceAsc
                } else {
                    Sort::PriceDesc
                },
                ..base
            },
            85..=92 => Spec {
                kind: "category, newest",
                category: Some(categories[rng.below(categories.len() as u64) as usize].to_owned()),
                sort: Sort::Newest,
                ..base
            },
            _ => Spec {
                kind: "everything by price",
                min_price: Some(lo),
                sort: Sort::PriceAsc,
                ..base
            },
        };
        out.push(spec);
    }
    out
}

/// `p50 / p90 / p99 / max` of a set of latencies.
fn percentiles(mut d: Vec<Duration>) -> String {
    if d.is_empty() {
        return "-".into();
    }
    d.sort_unstable();
    let at = |q: f64| d[((d.len() as f64 * q) as usize).min(d.len() - 1)];
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(d[d.len() - 1])
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn created_event(p: &SeedProduct) -> Event {
    Event::new(
        "catalog",
        "bazaar.catalog.product.created.v1",
        p.id.to_string(),
        serde_json::json!({
            "id": p.id.to_string(), "sku": p.sku, "name": p.name, "description": p.description,
            "category": p.category, "price_cents": p.price_cents, "currency": p.currency,
            "created_at": p.created_at, "updated_at": p.created_at,
            "initial_stock": p.initial_stock
        }),
    )
    .expect("an event")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = env_count("BAZAAR_BENCH_PRODUCTS", 100_000);
    let queries = env_count("BAZAAR_BENCH_QUERIES", 5_000);
    let dir = std::env::temp_dir().join(format!("bazaar-search-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let database_url = format!("sqlite://{}/search.db", dir.display());
    let index_dir = dir.join("search-index");
    println!("search benchmark: {count} products, {queries} searches");

    let started = Instant::now();
    let products = generate(count as u32)?;
    println!(
        "  generated the catalog in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Replay: every product.created through the real consumer and handler.
    let db = Db::connect(&database_url, &store::migrations()).await?;
    let store = Store::new(db.clone());
    let index = SearchIndex::open(&index_dir, 15_000_000)?;
    let indexer = Indexer::new(store.clone(), index.clone());
    let consumer = handler::consumer(db.clone(), &indexer, 3);
    let events: Vec<Event> = products.iter().map(created_event).collect();
    let started = Instant::now();
    for event in &events {
        let outcome = consumer.process(event, None).await?;
        anyhow::ensure!(outcome == Outcome::Handled, "{outcome:?}");
    }
    let replay = started.elapsed();
    println!(
        "  replayed {count} product.created events into the table in {:.2} s ({:.0} events/s)",
        replay.as_secs_f64(),
        count as f64 / replay.as_secs_f64()
    );

    // Index build from the table.
    let started = Instant::now();
    let progress = rebuild_index(&indexer).await?;
    let build = started.elapsed();
    println!(
        "  built the index from the table in {:.2} s ({:.0} products/s; {} documents, {:.1} MB on disk)",
        build.as_secs_f64(),
        progress.changes as f64 / build.as_secs_f64(),
        index.num_docs(),
        dir_size(&index_dir) as f64 / 1e6
    );
    println!(
        "  rebuild by replay, end to end: {:.2} s",
        (replay + build).as_secs_f64()
    );

    // A running service shows merged segments within a second; here the merges are
    // waited for, and no more writes come.
    let segments = index.searcher().segment_readers().len();
    let started = Instant::now();
    index.close();
    println!(
        "  background merges: {segments} segments → {} in {:.2} s",
        index.searcher().segment_readers().len(),
        started.elapsed().as_secs_f64()
    );

    // Searches through the handlers' own function, on one thread.
    let specs = specs(&products, queries);
    for spec in specs.iter().take(200) {
        index.search(&spec.query())?;
    }
    let mut all = Vec::with_capacity(specs.len());
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut hits = 0u64;
    let started = Instant::now();
    for spec in &specs {
        let query = spec.query();
        let t = Instant::now();
        let results = index.search(&query)?;
        let took = t.elapsed();
        hits += u64::from(results.total > 0);
        all.push(took);
        by_kind.entry(spec.kind).or_default().push(took);
    }
    let elapsed = started.elapsed();
    println!(
        "  {} searches: {} — {:.0} searches/s on one thread; {:.1}% found something",
        specs.len(),
        percentiles(all),
        specs.len() as f64 / elapsed.as_secs_f64(),
        hits as f64 * 100.0 / specs.len() as f64
    );
    for (kind, d) in by_kind {
        println!("    {kind:<20} ×{:<5} {}", d.len(), percentiles(d));
    }

    // Suggestions.
    let mut latencies = Vec::new();
    for spec in specs.iter().filter(|s| s.kind == "prefix").take(1_000) {
        let words = Words::parse(&spec.q)?;
        let t = Instant::now();
        index.suggest(&words, MAX_SUGGESTIONS)?;
        latencies.push(t.elapsed());
    }
    println!(
        "  {} suggestions: {}",
        latencies.len(),
        percentiles(latencies)
    );

    // A smaller round over HTTP, through the real server on the same database and index.
    drop((indexer, index, consumer));
    let service = platform::Launch::for_tests(
        &SERVICE,
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &database_url),
            ("index_dir", &index_dir.display().to_string()),
            ("catalog_url", "http://127.0.0.1:9"),
            ("identity_url", "http://127.0.0.1:9"),
        ],
    )
    .build()
    .await?;
    let url = format!("http://{}/api/search", service.local_addr());
    let shutdown = service.shutdown_handle();
    let server = tokio::spawn(service.run());
    let client = reqwest::Client::new();
    let round: Vec<&Spec> = specs.iter().step_by(10).collect();
    let mut latencies = Vec::with_capacity(round.len());
    let started = Instant::now();
    for spec in &round {
        let t = Instant::now();
        let res = client.get(&url).query(&spec.params()).send().await?;
        anyhow::ensure!(res.status().is_success(), "{spec:?}: {}", res.status());
        res.bytes().await?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    println!(
        "  {} searches over HTTP: {} — {:.0} requests/s, one at a time",
        round.len(),
        percentiles(latencies),
        round.len() as f64 / elapsed.as_secs_f64()
    );
    shutdown.trigger();
    let _ = server.await;
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
