//! Search's domain: a product as the catalog announced it, parsed at the boundary, and a
//! search request (words, filters, order, page) parsed from the query string.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use platform::domain::invalid;
pub use platform::domain::{Currency, Invalid, ProductId};

/// Text of 1 to `max` characters (after trimming) without control characters.
fn bounded_text(raw: &str, max: usize, allow_empty: bool) -> Result<String, Invalid> {
    let text = raw.trim();
    let len = text.chars().count();
    if len == 0 && !allow_empty {
        return invalid("must not be empty");
    }
    if len > max {
        return invalid(format!("must be at most {max} characters long"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return invalid("must not contain control characters");
    }
    Ok(text.to_owned())
}

/// A category's id, a slug (`coffee-tea`): 1 to 64 characters of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategorySlug(String);

impl CategorySlug {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            invalid(format!(
                "must be a category slug: 1 to {} characters of a-z, 0-9 and `-`",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in minor units: 0 or more. The catalog bounds prices itself; search only
/// refuses what cannot be a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

impl Price {
    pub const MAX_CENTS: i64 = 1_000_000_000_000;

    pub fn from_cents(cents: i64) -> Result<Self, Invalid> {
        if (0..=Self::MAX_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            invalid(format!("must be between 0 and {}", Self::MAX_CENTS))
        }
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// An RFC 3339 instant, kept as given and as milliseconds since the epoch (for sorting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    millis: i64,
}

impl Timestamp {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| Self {
                text: raw.to_owned(),
                millis: t.timestamp_millis(),
            })
            .map_err(|e| Invalid(format!("must be an RFC 3339 time: {e}")))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn millis(&self) -> i64 {
        self.millis
    }
}

/// A product as search keeps it: what the catalog's `product.created` and
/// `product.updated` carry, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    /// Kept for operators; not searched.
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: CategorySlug,
    pub price: Price,
    pub currency: Currency,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Product {
    /// Longest name kept, in characters.
    pub const MAX_NAME: usize = 200;
    /// Longest description kept, in characters.
    pub const MAX_DESCRIPTION: usize = 10_000;
    /// Longest SKU kept, in characters.
    pub const MAX_SKU: usize = 64;

    /// A name: 1 to [`Product::MAX_NAME`] characters.
    pub fn parse_name(raw: &str) -> Result<String, Invalid> {
        bounded_text(raw, Self::MAX_NAME, false)
    }

    /// A description: up to [`Product::MAX_DESCRIPTION`] characters, possibly empty.
    pub fn parse_description(raw: &str) -> Result<String, Invalid> {
        bounded_text(raw, Self::MAX_DESCRIPTION, true)
    }

    /// A SKU: 1 to [`Product::MAX_SKU`] characters.
    pub fn parse_sku(raw: &str) -> Result<String, Invalid> {
        bounded_text(raw, Self::MAX_SKU, false)
    }
}

/// The words of a search: the text split at every character that is not a letter or a
/// digit, lower-cased. Quotes, operators and other syntax are therefore plain separators:
/// nothing a user types is interpreted as query syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words(Vec<String>);

impl Words {
    /// Longest search text, in characters.
    pub const MAX_CHARS: usize = 200;
    /// Most words in one search.
    pub const MAX_WORDS: usize = 12;
    /// Longest word, in characters (longer ones are never indexed).
    pub const MAX_WORD_CHARS: usize = 40;

    /// Parses search text; blank text is no words.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.trim().chars().count();
        if chars > Self::MAX_CHARS {
            return invalid(format!(
                "must be at most {} characters long, got {chars}",
                Self::MAX_CHARS
            ));
        }
        let words: Vec<String> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.len() > Self::MAX_WORDS {
            return invalid(format!(
                "must have at most {} words, got {}",
                Self::MAX_WORDS,
                words.len()
            ));
        }
        if let Some(long) = words
            .iter()
            .find(|w| w.chars().count() > Self::MAX_WORD_CHARS)
        {
            return invalid(format!(
                "words must be at most {} characters long; `{}…` is longer",
                Self::MAX_WORD_CHARS,
                long.chars().take(12).collect::<String>()
            ));
        }
        Ok(Self(words))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The order of search results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; without search words, by name A to Z.
    #[default]
    Relevance,
    /// Cheapest first, better matches first among equal prices.
    PriceAsc,
    /// Dearest first, better matches first among equal prices.
    PriceDesc,
    /// Most recently created first.
    Newest,
}

/// An inclusive price range in minor units; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PriceRange {
    min: Option<i64>,
    max: Option<i64>,
}

impl PriceRange {
    /// A range, if both ends are 0 or more and `min` is not above `max`. The error names
    /// the field at fault.
    pub fn new(min: Option<i64>, max: Option<i64>) -> Result<Self, (&'static str, Invalid)> {
        for (field, value) in [("min_price", min), ("max_price", max)] {
            if value.is_some_and(|v| v < 0) {
                return Err((field, Invalid("must be 0 or more".into())));
            }
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            return Err((
                "min_price",
                Invalid("must not be greater than max_price".into()),
            ));
        }
        Ok(Self { min, max })
    }

    pub fn min(&self) -> Option<i64> {
        self.min
    }

    pub fn max(&self) -> Option<i64> {
        self.max
    }

    pub fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

/// Which page of results: 1-based, 1 to 100 per page, within the first
/// [`Paging::MAX_WINDOW`] results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    page: u32,
    per_page: u32,
}

impl Paging {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;
    /// Results beyond this many are not served (deep pages cost memory for every
    /// result before them); narrowing the search reaches them.
    pub const MAX_WINDOW: u64 = 10_000;

    /// A page; the error names the field at fault.
    pub fn new(page: u32, per_page: u32) -> Result<Self, (&'static str, Invalid)> {
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err((
                "per_page",
                Invalid(format!("must be between 1 and {}", Self::MAX_PER_PAGE)),
            ));
        }
        if page == 0 {
            return Err(("page", Invalid("must be 1 or more".into())));
        }
        if u64::from(page) * u64::from(per_page) > Self::MAX_WINDOW {
            return Err((
                "page",
                Invalid(format!(
                    "only the first {} results can be paged through; narrow the search",
                    Self::MAX_WINDOW
                )),
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn page(&self) -> u32 {
        self.page
    }

    pub fn per_page(&self) -> u32 {
        self.per_page
    }

    /// Results before this page.
    pub fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: Self::DEFAULT_PER_PAGE,
        }
    }
}

/// A parsed search request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub words: Words,
    /// Only this category (an exact slug).
    pub category: Option<CategorySlug>,
    pub price: PriceRange,
    pub sort: Sort,
    pub paging: Paging,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_short_slugs() {
        for ok in ["0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11", "p_1", "A"] {
            assert_eq!(ProductId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(ProductId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn categories_are_slugs() {
        assert_eq!(
            CategorySlug::parse("coffee-tea").unwrap().as_str(),
            "coffee-tea"
        );
        for bad in ["", "Kitchen", "a b", "a_b", &"k".repeat(65)] {
            assert!(CategorySlug::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn product_fields_are_bounded() {
        assert_eq!(Product::parse_name("  Mug ").unwrap(), "Mug");
        assert!(Product::parse_name(" ").is_err());
        assert!(Product::parse_name(&"n".repeat(201)).is_err());
        assert!(Product::parse_name("a\u{7}b").is_err());
        assert_eq!(Product::parse_description("").unwrap(), "");
        assert!(Product::parse_description(&"d".repeat(10_001)).is_err());
        assert!(Currency::parse("USD").is_ok());
        for bad in ["usd", "US", "EURO"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        assert!(Price::from_cents(0).is_ok());
        assert!(Price::from_cents(-1).is_err());
        let t = Timestamp::parse("2025-01-01T00:00:01.000Z").unwrap();
        assert_eq!(t.millis(), 1_735_689_601_000);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn words_are_plain_lower_case_text() {
        let w = Words::parse(r#"  "Cast-Iron" SKILLET -pan +  AND ( "#).unwrap();
        assert_eq!(w.as_slice(), ["cast", "iron", "skillet", "pan", "and"]);
        assert!(Words::parse("").unwrap().is_empty());
        assert!(Words::parse(" \" - ) ").unwrap().is_empty());
        assert_eq!(
            Words::parse("Crème brûlée").unwrap().as_slice(),
            ["crème", "brûlée"]
        );
    }

    #[test]
    fn words_refuse_long_text_many_words_and_long_words() {
        for (bad, why) in [
            ("x".repeat(201), "201 characters"),
            ("a ".repeat(13), "13 words"),
            ("y".repeat(41), "a 41-character word"),
        ] {
            assert!(Words::parse(&bad).is_err(), "{why} accepted");
        }
        assert!(Words::parse(&"x".repeat(40)).is_ok());
        assert!(Words::parse(&"a ".repeat(12)).is_ok());
    }

    #[test]
    fn price_ranges_are_inclusive_and_ordered() {
        let r = PriceRange::new(Some(100), Some(100)).unwrap();
        assert_eq!((r.min(), r.max()), (Some(100), Some(100)));
        assert!(PriceRange::new(None, None).unwrap().is_open());
        for (min, max, field) in [
            (Some(-1), None, "min_price"),
            (None, Some(-5), "max_price"),
            (Some(10), Some(9), "min_price"),
        ] {
            assert_eq!(PriceRange::new(min, max).unwrap_err().0, field);
        }
    }

    #[test]
    fn paging_is_bounded() {
        let p = Paging::new(3, 20).unwrap();
        assert_eq!(p.offset(), 40);
        assert_eq!(Paging::new(100, 100).unwrap().offset(), 9_900);
        for (page, per_page, field) in [
            (0, 20, "page"),
            (1, 0, "per_page"),
            (1, 101, "per_page"),
            (101, 100, "page"),
            (u32::MAX, 100, "page"),
        ] {
            assert_eq!(Paging::new(page, per_page).unwrap_err().0, field);
        }
    }

    #[test]
    fn sorts_are_snake_case() {
        for (sort, name) in [
            (Sort::Relevance, "relevance"),
            (Sort::PriceAsc, "price_asc"),
            (Sort::PriceDesc, "price_desc"),
            (Sort::Newest, "newest"),
        ] {
            assert_eq!(serde_json::to_value(sort).unwrap(), name);
        }
    }
}
