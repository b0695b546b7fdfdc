//! Search's domain: a product as the catalog announced it, parsed at the boundary, and a
//! search request (words, filters, order, page) parsed from the query string.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use platform::domain::{Currency, Invalid, ProductId};
use platform::domain::{invalid, is_slug};
use platform::filter::price_range_refusals;

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
        if is_slug(raw, Self::MAX_LEN) {
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
///
/// Blank text is no search at all (every product matches); text with nothing to search
/// for in it (`!!!`, an emoji) is a search that nothing matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words {
    words: Vec<String>,
    /// Something other than blanks was typed.
    typed: bool,
}

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
        Ok(Self {
            words,
            typed: chars > 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether text was typed that has no word in it: a search that nothing matches.
    pub fn match_nothing(&self) -> bool {
        self.typed && self.words.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.words
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
        match price_range_refusals(min, max).first() {
            Some(&(field, refusal)) => Err((field, Invalid(refusal.into()))),
            None => Ok(Self { min, max }),
        }
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
        assert!(
            !Words::parse("  ").unwrap().match_nothing(),
            "blank: no search"
        );
        for nothing in [" \" - ) ", "!!!", "🙂", "—"] {
            let w = Words::parse(nothing).unwrap();
            assert!(w.is_empty() && w.match_nothing(), "{nothing}");
        }
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

/// Property tests of search's parsers: the words of a search, its filters and its paging,
/// and the product fields the catalog's events carry.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::{any_text, control_but_newline_and_tab};
    use proptest::prelude::*;

    /// A word as a user may type it: letters (some beyond ASCII) and digits, any case.
    fn word(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                prop::char::range('a', 'z'),
                prop::char::range('A', 'Z'),
                prop::char::range('0', '9'),
                prop::sample::select(vec!['é', 'ß', 'Å', 'ø', 'Ж', 'ж', '中', '٣']),
            ],
            len,
        )
        .prop_map(String::from_iter)
    }

    /// What may stand between words: spaces and the syntax of other search engines.
    fn separator() -> impl Strategy<Value = String> {
        "[ \t\n\"'()+*~^:!?,.;/&|<>{}\\[\\]-]{1,2}"
    }

    /// `words` with a separator before each and after the last.
    fn typed(words: &[String], separators: &[String]) -> String {
        let mut text = String::new();
        for (word, sep) in words.iter().zip(separators) {
            text.push_str(sep);
            text.push_str(word);
        }
        text.push_str(separators.last().map_or("", String::as_str));
        text
    }

    /// A parser of one of a product's text fields.
    type FieldParser = fn(&str) -> Result<String, Invalid>;

    proptest! {
        #[test]
        fn any_text_is_words_or_a_clear_refusal(raw in prop_oneof![any_text(), "[a-zA-Z \"+-]{0,250}"]) {
            match Words::parse(&raw) {
                Ok(words) => {
                    let words = words.as_slice();
                    prop_assert!(words.len() <= Words::MAX_WORDS);
                    for w in words {
                        prop_assert!((1..=Words::MAX_WORD_CHARS).contains(&w.chars().count()), "{:?}", w);
                        prop_assert_eq!(w.to_lowercase(), w.clone());
                        prop_assert!(!w.contains(char::is_whitespace), "{:?}", w);
                    }
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn typed_words_are_found_lower_cased_whatever_stands_between_them(
            words in prop::collection::vec(word(1..=14), 0..=12),
            separators in prop::collection::vec(separator(), 13),
        ) {
            let text = typed(&words, &separators);
            let expected: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
            prop_assert_eq!(
                Words::parse(&text).map(|w| w.as_slice().to_vec()),
                Ok(expected),
                "{:?}",
                text
            );
        }

        #[test]
        fn more_than_twelve_words_are_refused_counting_them(
            words in prop::collection::vec(word(1..=5), 13..=30),
            separators in prop::collection::vec(separator(), 31),
        ) {
            let text = typed(&words, &separators);
            prop_assume!(text.trim().chars().count() <= Words::MAX_CHARS);
            prop_assert_eq!(
                Words::parse(&text),
                Err(Invalid(format!("must have at most 12 words, got {}", words.len())))
            );
        }

        #[test]
        fn a_word_past_forty_characters_is_refused_showing_only_its_beginning(
            before in prop::collection::vec(word(1..=10), 0..=5),
            long in word(41..=100),
            separators in prop::collection::vec(separator(), 7),
        ) {
            let mut words = before;
            words.push(long.clone());
            let text = typed(&words, &separators);
            let beginning: String = long.to_lowercase().chars().take(12).collect();
            prop_assert_eq!(
                Words::parse(&text),
                Err(Invalid(format!(
                    "words must be at most 40 characters long; `{beginning}…` is longer"
                )))
            );
        }

        #[test]
        fn text_past_200_characters_is_refused_counting_them_but_not_the_blanks_around_it(
            text in "[a-z]{1,9}( [a-z]{1,9}){0,11}",
            long in "[a-z][a-z ]{199,260}[a-z]",
            blanks in "[ \t\n]{0,30}",
        ) {
            let padded = format!("{blanks}{text}{blanks}");
            prop_assert!(Words::parse(&padded).is_ok(), "{:?}", padded);
            let count = long.chars().count();
            prop_assert_eq!(
                Words::parse(&format!("{blanks}{long}{blanks}")),
                Err(Invalid(format!("must be at most 200 characters long, got {count}")))
            );
        }

        #[test]
        fn a_page_is_served_exactly_within_the_first_10000_results(
            page in prop_oneof![0..=2u32, 99..=101u32, 9_999..=10_001u32, any::<u32>()],
            per_page in prop_oneof![0..=2u32, 99..=101u32, any::<u32>()],
        ) {
            let window = u64::from(page) * u64::from(per_page);
            match Paging::new(page, per_page) {
                Ok(paging) => {
                    prop_assert!(page >= 1 && (1..=100).contains(&per_page) && window <= 10_000);
                    prop_assert_eq!((paging.page(), paging.per_page()), (page, per_page));
                    prop_assert!(paging.offset() + per_page as usize <= 10_000);
                }
                Err((field, Invalid(why))) if !(1..=100).contains(&per_page) => {
                    prop_assert_eq!(field, "per_page");
                    prop_assert_eq!(why, "must be between 1 and 100");
                }
                Err((field, Invalid(why))) if page == 0 => {
                    prop_assert_eq!(field, "page");
                    prop_assert_eq!(why, "must be 1 or more");
                }
                Err((field, Invalid(why))) => {
                    prop_assert!(window > 10_000, "{}×{} refused: {}", page, per_page, why);
                    prop_assert_eq!(field, "page");
                    prop_assert_eq!(
                        why,
                        "only the first 10000 results can be paged through; narrow the search"
                    );
                }
            }
        }

        #[test]
        fn the_last_page_of_the_window_is_served_and_the_next_is_not(per_page in 1..=100u32) {
            let last = 10_000 / per_page;
            let served = Paging::new(last, per_page);
            prop_assert_eq!(served.map(|p| p.offset() + per_page as usize <= 10_000), Ok(true));
            prop_assert_eq!(Paging::new(last + 1, per_page).map_err(|(field, _)| field), Err("page"));
        }

        #[test]
        fn consecutive_pages_of_results_neither_overlap_nor_leave_gaps(
            per_page in 1..=100u32,
            page in any::<prop::sample::Index>(),
        ) {
            let last = 10_000 / per_page;
            prop_assume!(last >= 2);
            let page = 1 + page.index(last as usize - 1) as u32;
            let offset = |page| Paging::new(page, per_page).ok().map(|p| p.offset());
            prop_assert_eq!(offset(1), Some(0));
            prop_assert_eq!(offset(page + 1), offset(page).map(|o| o + per_page as usize));
        }

        #[test]
        fn price_ranges_from_zero_up_in_order_are_accepted_and_the_fault_is_named(
            min in prop::option::of(prop_oneof![-2..=2i64, any::<i64>()]),
            max in prop::option::of(prop_oneof![-2..=2i64, any::<i64>()]),
        ) {
            match PriceRange::new(min, max) {
                Ok(range) => {
                    prop_assert!(min.is_none_or(|m| m >= 0) && max.is_none_or(|m| m >= 0));
                    prop_assert!(!matches!((min, max), (Some(lo), Some(hi)) if lo > hi));
                    prop_assert_eq!((range.min(), range.max()), (min, max));
                    prop_assert_eq!(range.is_open(), min.is_none() && max.is_none());
                }
                Err((field, why)) if min.is_some_and(|m| m < 0) => {
                    prop_assert_eq!((field, why), ("min_price", Invalid("must be 0 or more".into())));
                }
                Err((field, why)) if max.is_some_and(|m| m < 0) => {
                    prop_assert_eq!((field, why), ("max_price", Invalid("must be 0 or more".into())));
                }
                Err((field, why)) => {
                    prop_assert!(matches!((min, max), (Some(lo), Some(hi)) if lo > hi));
                    prop_assert_eq!(
                        (field, why),
                        ("min_price", Invalid("must not be greater than max_price".into()))
                    );
                }
            }
        }

        #[test]
        fn slugs_are_categories_up_to_64_characters_and_nothing_else_is(
            slug in "[a-z0-9-]{1,64}",
            raw in prop_oneof![any_text(), "[a-z0-9A-Z _-]{0,70}"],
        ) {
            prop_assert_eq!(CategorySlug::parse(&slug).map(|s| s.as_str().to_owned()), Ok(slug));
            match CategorySlug::parse(&raw) {
                Ok(s) => prop_assert_eq!(CategorySlug::parse(s.as_str()), Ok(s.clone())),
                Err(why) => prop_assert_eq!(
                    why,
                    Invalid("must be a category slug: 1 to 64 characters of a-z, 0-9 and `-`".into())
                ),
            }
        }

        #[test]
        fn prices_are_exactly_zero_to_ten_billion_in_major_units(
            cents in prop_oneof![-2..=2i64, 999_999_999_998..=1_000_000_000_002i64, any::<i64>()],
        ) {
            let ok = (0..=Price::MAX_CENTS).contains(&cents);
            prop_assert_eq!(Price::from_cents(cents).ok().map(Price::cents), ok.then_some(cents));
        }

        #[test]
        fn an_rfc_3339_time_reads_back_as_its_instant_and_its_text(
            millis in -62_135_596_800_000i64..=253_402_300_799_999,
            offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59),
        ) {
            let offset = chrono::FixedOffset::east_opt(offset_minutes * 60)
                .ok_or_else(|| TestCaseError::fail("an offset within a day"))?;
            let instant = chrono::DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| TestCaseError::fail("an instant in years 1 to 9999"))?;
            let text = instant
                .with_timezone(&offset)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, offset_minutes == 0);
            let parsed = Timestamp::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(parsed.millis(), millis);
            prop_assert_eq!(parsed.as_str(), text.as_str());
        }

        #[test]
        fn any_text_is_a_time_or_a_clear_refusal(
            raw in prop_oneof![any_text(), "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"],
        ) {
            match Timestamp::parse(&raw) {
                Ok(t) => prop_assert_eq!(t.as_str(), raw.as_str()),
                Err(Invalid(why)) => prop_assert!(why.starts_with("must be an RFC 3339 time: "), "{}", why),
            }
        }

        #[test]
        fn any_text_is_a_product_field_or_a_clear_refusal(raw in any_text()) {
            let fields: [(FieldParser, usize); 3] = [
                (Product::parse_name, Product::MAX_NAME),
                (Product::parse_description, Product::MAX_DESCRIPTION),
                (Product::parse_sku, Product::MAX_SKU),
            ];
            for (parse, max) in fields {
                match parse(&raw) {
                    Ok(text) => {
                        prop_assert_eq!(text.as_str(), raw.trim());
                        prop_assert!(text.chars().count() <= max);
                        prop_assert_eq!(parse(&text), Ok(text.clone()));
                    }
                    Err(Invalid(why)) => prop_assert!(!why.is_empty()),
                }
            }
        }

        #[test]
        fn product_fields_are_bounded_exactly_and_refuse_controls_but_newlines_and_tabs(
            extra in 0..=2usize,
            inner in prop_oneof![Just('\n'), Just('\t'), control_but_newline_and_tab()],
        ) {
            let fields: [(FieldParser, usize, bool); 3] = [
                (Product::parse_name, Product::MAX_NAME, false),
                (Product::parse_description, Product::MAX_DESCRIPTION, true),
                (Product::parse_sku, Product::MAX_SKU, false),
            ];
            for (parse, max, may_be_empty) in fields {
                let text = "x".repeat(max - 1 + extra);
                if extra <= 1 {
                    prop_assert_eq!(parse(&text), Ok(text.clone()));
                } else {
                    prop_assert_eq!(parse(&text), Err(Invalid(format!("must be at most {max} characters long"))));
                }
                prop_assert_eq!(parse(" \n ").is_ok(), may_be_empty);
                let with_inner = parse(&format!("a{inner}b"));
                if inner == '\n' || inner == '\t' {
                    prop_assert!(with_inner.is_ok(), "{:?}", inner);
                } else {
                    prop_assert_eq!(with_inner, Err(Invalid("must not contain control characters".into())));
                }
            }
        }
    }
}
