//! The demo catalog: a deterministic generator of believable products, and the start-up
//! step that writes it into a fresh database through the store's normal create path.
//!
//! Everything is derived from a fixed-seed splitmix64 stream with integer arithmetic only
//! and fixed iteration order, so the same `count` gives a byte-identical catalog (ids,
//! names, prices, dates) on every machine. The words come from `data/seed-vocabulary.toml`.

use crate::{
    domain::{
        CategoryId, Currency, Description, InitialStock, Invalid, NewProduct, Price, ProductId,
        ProductName, Sku,
    },
    error::CatalogError,
    store::{CategoryDef, ProductRecord, SeedOutcome, Store},
};
use std::collections::HashSet;
use vocabulary::{Category, FEATURES_PER_PRODUCT, Kind, Vocabulary};

mod vocabulary;

pub use vocabulary::VocabularyError;

/// The seed of the generator's random stream.
const SEED: u64 = 0x0BA2_AA2C_A7A1_0600;

/// Seeded products were "created" during the year starting here (2025-01-01T00:00:00Z).
const EPOCH_SECS: i64 = 1_735_689_600;
const YEAR_SECS: u64 = 365 * 24 * 60 * 60;

/// A tiny deterministic PRNG (splitmix64): good enough to make a catalog, and the same
/// everywhere, unlike a crate whose algorithm may change between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible for these small `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One generated product, in the same raw shape an administrator would post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedProduct {
    pub id: uuid::Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: &'static str,
    pub price_cents: i64,
    pub currency: &'static str,
    pub initial_stock: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl SeedProduct {
    /// Parses the product with the same domain types the API uses.
    pub fn to_record(&self) -> Result<ProductRecord, Invalid> {
        Ok(ProductRecord {
            id: ProductId::from_uuid(self.id),
            product: NewProduct {
                sku: Sku::parse(&self.sku)?,
                name: ProductName::parse(&self.name)?,
                description: Description::parse(&self.description)?,
                category: CategoryId::parse(self.category)?,
                price: Price::from_cents(self.price_cents)?,
                currency: Currency::parse(self.currency)?,
                initial_stock: InitialStock::new(self.initial_stock)?,
            },
            created_at: self.created_at.clone(),
        })
    }
}

/// The categories of the shop, in display order.
pub fn categories() -> Result<Vec<CategoryDef>, VocabularyError> {
    Ok(Vocabulary::embedded()?
        .categories
        .iter()
        .map(|c| CategoryDef {
            id: &c.id,
            name: &c.name,
            description: &c.description,
        })
        .collect())
}

/// Generates `count` products. Deterministic: the same `count` gives the same catalog,
/// and a smaller `count` gives a prefix of a larger one.
pub fn generate(count: u32) -> Result<Vec<SeedProduct>, VocabularyError> {
    let categories = &Vocabulary::embedded()?.categories;
    let mut rng = SplitMix64::new(SEED);
    let total_weight: u64 = categories.iter().map(|c| c.weight).sum();
    let mut next_sku = vec![1_u32; categories.len()];
    let mut names: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        // Every category gets one product first, then they are drawn by weight.
        let ci = if i < categories.len() {
            i
        } else {
            let mut roll = rng.below(total_weight);
            categories
                .iter()
                .position(|c| {
                    if roll < c.weight {
                        true
                    } else {
                        roll -= c.weight;
                        false
                    }
                })
                .unwrap_or(0)
        };
        let cat = &categories[ci];
        let sku = format!("{}-{:05}", cat.sku_prefix, next_sku[ci]);
        next_sku[ci] += 1;
        out.push(product(&mut rng, cat, sku, &mut names));
    }
    Ok(out)
}

fn product(
    rng: &mut SplitMix64,
    cat: &'static Category,
    sku: String,
    names: &mut HashSet<String>,
) -> SeedProduct {
    // A few draws to find an unused name; past what the vocabulary can name (very large
    // catalogs) a name may repeat, which products are allowed to do.
    let mut draw = || {
        let kind = rng.pick(&cat.kinds);
        let line = rng.pick(cat.lines_of(kind));
        let size_index = rng.below(kind.sizes.len() as u64) as usize;
        let name = kind.name(line, &kind.sizes[size_index]);
        (kind, size_index, name)
    };
    let (mut kind, mut size_index, mut name) = draw();
    for _ in 0..16 {
        if !names.contains(&name) {
            break;
        }
        (kind, size_index, name) = draw();
    }
    names.insert(name.clone());

    let finish = rng.pick(&kind.finishes);
    let features = pick_distinct(rng, &kind.features, FEATURES_PER_PRODUCT);
    let closer = rng.pick(&cat.closers);
    let description = format!(
        "{} — {}. {} {}",
        kind.pitch,
        and_list(&features),
        kind.finish_as.replace("{}", finish),
        closer
    );

    SeedProduct {
        id: uuid::Builder::from_random_bytes(random_bytes(rng)).into_uuid(),
        sku,
        name,
        description,
        category: &cat.id,
        price_cents: price_cents(rng, kind, size_index),
        currency: "USD",
        initial_stock: initial_stock(rng),
        created_at: created_at(rng),
    }
}

/// Up to `n` distinct items, in the order drawn.
fn pick_distinct<'a>(rng: &mut SplitMix64, items: &'a [String], n: usize) -> Vec<&'a str> {
    let mut pool: Vec<&str> = items.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !pool.is_empty() {
        let i = rng.below(pool.len() as u64) as usize;
        out.push(pool.remove(i));
    }
    out
}

/// "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((only, _)) => (*only).to_owned(),
        None => String::new(),
    }
}

/// A price within the kind's range, larger sizes dearer, ending in .99, .49 or .00.
fn price_cents(rng: &mut SplitMix64, kind: &Kind, size_index: usize) -> i64 {
    let (lo, hi) = kind.price;
    let steps = kind.sizes.len() as u64;
    let band = (hi - lo) / steps;
    let base = lo + band * size_index as u64;
    let dollars = rng.between(base, base + band).max(1);
    let cents = match rng.below(100) {
        0..=64 => dollars * 100 - 1,   // 24.99
        65..=84 => dollars * 100 - 51, // 24.49
        _ => dollars * 100,            // 25.00
    };
    cents as i64
}

/// Mostly healthy stock, some running low; none sold out, since every seeded product must
/// be buyable once the shop is ready (the contract's "each with stock").
fn initial_stock(rng: &mut SplitMix64) -> u32 {
    match rng.below(100) {
        // The last few (without another draw, so the rest of the catalog stays as it was).
        roll @ 0..=3 => roll as u32 + 1,
        4..=14 => rng.between(1, 9) as u32,
        _ => rng.between(10, 250) as u32,
    }
}

fn created_at(rng: &mut SplitMix64) -> String {
    let secs = EPOCH_SECS + rng.below(YEAR_SECS) as i64;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    events::envelope::to_rfc3339(t)
}

fn random_bytes(rng: &mut SplitMix64) -> [u8; 16] {
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes
}

/// Ensures the categories exist and, if `count` products are wanted and the database is
/// fresh, writes the generated catalog through the store's create path, every product
/// priced in `currency`, the shop's.
pub async fn run(
    store: &Store,
    seed: bool,
    count: u32,
    currency: Currency,
) -> anyhow::Result<SeedOutcome> {
    store.ensure_categories(&categories()?).await?;
    if !seed {
        return Ok(SeedOutcome::NotFresh);
    }
    let records = generate(count)?
        .iter()
        .map(|p| {
            p.to_record()
                .map(|mut r| {
                    r.product.currency = currency;
                    r
                })
                .map_err(|e| anyhow::anyhow!("seed product {} is invalid: {e}", p.sku))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store
        .seed(&records)
        .await
        .map_err(|e: CatalogError| anyhow::Error::new(e).context("seeding the catalog"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    // The embedded vocabulary's own tests say why it would not load; here it just must.
    fn generate(count: u32) -> Vec<SeedProduct> {
        super::generate(count).unwrap_or_else(|e| panic!("{e}"))
    }

    fn categories() -> Vec<CategoryDef> {
        super::categories().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn splitmix64_matches_the_reference_values() {
        // Reference outputs of splitmix64 seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_count_gives_the_same_catalog() {
        assert_eq!(generate(600), generate(600));
    }

    #[test]
    fn a_smaller_catalog_is_a_prefix_of_a_larger_one() {
        let small = generate(60);
        assert_eq!(small[..], generate(600)[..60]);
    }

    /// A product as a line of a fingerprint: every field, `|`-separated, the currency
    /// only `with_currency` (the default catalog's fingerprint was pinned without it).
    fn fingerprint_line(p: &SeedProduct, with_currency: bool) -> String {
        let currency = if with_currency {
            format!("|{}", p.currency)
        } else {
            String::new()
        };
        format!(
            "{}|{}|{}|{}|{}|{}{currency}|{}|{}",
            p.id,
            p.sku,
            p.name,
            p.description,
            p.category,
            p.price_cents,
            p.initial_stock,
            p.created_at
        )
    }

    /// FNV-1a over the lines: a stable digest that needs no hashing crate.
    fn fingerprint(lines: impl IntoIterator<Item = String>) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for line in lines {
            for b in line.bytes().chain([b'\n']) {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    #[test]
    fn the_catalog_is_the_same_on_every_machine() {
        // A fingerprint of the whole default catalog: if this changes, every service that
        // copies the catalog sees a different shop. Change it on purpose only.
        let lines = generate(600)
            .into_iter()
            .map(|p| fingerprint_line(&p, false));
        let hash = fingerprint(lines);
        assert_eq!(hash, FINGERPRINT, "fingerprint is {hash:#x}");
    }

    #[test]
    fn the_categories_and_a_large_catalog_are_pinned_too() {
        // Beyond the default size names start to repeat and every draw path runs; with
        // the categories and the currency this pins everything the vocabulary feeds.
        let categories = categories()
            .into_iter()
            .map(|c| format!("{}|{}|{}", c.id, c.name, c.description));
        let products = generate(2000)
            .into_iter()
            .map(|p| fingerprint_line(&p, true));
        let hash = fingerprint(categories.chain(products));
        assert_eq!(hash, LARGE_FINGERPRINT, "fingerprint is {hash:#x}");
    }

    const LARGE_FINGERPRINT: u64 = 0xc849_8b51_cafa_28b1;

    const FINGERPRINT: u64 = 0xe77d_feb7_9694_eb4b;

    #[test]
    fn default_catalog_has_five_hundred_unique_names_and_skus() {
        let products = generate(600);
        assert_eq!(products.len(), 600);
        let names: HashSet<_> = products.iter().map(|p| &p.name).collect();
        let skus: HashSet<_> = products.iter().map(|p| &p.sku).collect();
        let ids: HashSet<_> = products.iter().map(|p| p.id).collect();
        assert!(names.len() >= 500, "only {} unique names", names.len());
        assert_eq!(skus.len(), 600);
        assert_eq!(ids.len(), 600);
    }

    #[test]
    fn every_category_is_used_and_there_are_at_least_twelve() {
        let categories = categories();
        assert!(categories.len() >= 12);
        let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
        for p in generate(600) {
            *per_category.entry(p.category).or_default() += 1;
        }
        for c in &categories {
            assert!(
                per_category.get(c.id).copied().unwrap_or(0) >= 10,
                "{} is thin: {per_category:?}",
                c.id
            );
        }
        // Even a tiny catalog shows every category.
        let small: HashSet<_> = generate(categories.len() as u32)
            .iter()
            .map(|p| p.category)
            .collect();
        assert_eq!(small.len(), categories.len());
    }

    #[test]
    fn every_product_passes_the_api_validation() {
        for p in generate(2000) {
            if let Err(e) = p.to_record() {
                panic!("{} ({}) is invalid: {e}", p.sku, p.name);
            }
        }
    }

    #[test]
    fn prices_look_like_prices_and_every_product_has_stock_some_little() {
        let products = generate(600);
        for p in &products {
            let cents = p.price_cents % 100;
            assert!(matches!(cents, 99 | 49 | 0), "{}: {}", p.sku, p.price_cents);
            assert!(p.price_cents >= 100, "{}: {}", p.sku, p.price_cents);
            assert!((1..=250).contains(&p.initial_stock), "{}", p.sku);
        }
        let low = products.iter().filter(|p| p.initial_stock < 10).count();
        assert!((30..=150).contains(&low), "{low} running low");
    }

    #[test]
    fn names_and_descriptions_read_like_a_shop() {
        let products = generate(600);
        let first_bag = products
            .iter()
            .find(|p| p.category == "bags-travel")
            .unwrap();
        assert!(first_bag.sku.starts_with("BAG-0000"));
        for p in &products {
            assert!(
                !p.name.contains("  ") && !p.name.contains('{'),
                "{}",
                p.name
            );
            assert!(
                p.description.contains(" — ") && p.description.ends_with('.'),
                "{}",
                p.description
            );
            assert!(p.created_at.starts_with("2025-"), "{}", p.created_at);
        }
    }
}
