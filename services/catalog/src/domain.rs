//! The catalog's domain: inputs parsed into types at the boundary, and the product and
//! category as the catalog stores and shows them.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

pub use platform::domain::{Currency, Invalid};
use platform::domain::{TrimmedName, invalid, is_slug};

/// A stock-keeping unit: 3 to 32 characters of `A-Z`, `0-9` and `-` (`KIT-00042`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    /// Parses a client's value, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return invalid(format!(
                "must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return invalid("may contain only upper-case letters A-Z, digits and `-`");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's display name: 1 to 120 characters after trimming, no control characters.
pub type ProductName = TrimmedName<120>;

/// A product's description: at most 2000 characters after trimming; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Description(String);

impl Description {
    pub const MAX_LEN: usize = 2000;

    /// Parses a client's value, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.chars().count() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return invalid("must not contain control characters other than newlines and tabs");
        }
        // As a name: kept for programs, never for text (the verification review).
        if text.chars().any(platform::domain::is_noncharacter) {
            return invalid(
                "must not contain Unicode noncharacters (U+FDD0 to U+FDEF, U+FFFE, U+FFFF and the like)",
            );
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in minor units (cents): 1 to 100 000 000 (one million in major units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

impl Price {
    pub const MIN_CENTS: i64 = 1;
    pub const MAX_CENTS: i64 = 100_000_000;

    /// A price of `cents` minor units, if within bounds.
    pub fn from_cents(cents: i64) -> Result<Self, Invalid> {
        if !(Self::MIN_CENTS..=Self::MAX_CENTS).contains(&cents) {
            return invalid(format!(
                "must be between {} and {} (in minor units)",
                Self::MIN_CENTS,
                Self::MAX_CENTS
            ));
        }
        Ok(Self(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// A category's id, a slug (`coffee-tea`): 1 to 64 characters of `a-z`, `0-9` and `-`.
///
/// Well-formed is not the same as known: the store checks that the category exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryId(String);

impl CategoryId {
    /// Parses a client's value, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if is_slug(raw, 64) {
            Ok(Self(raw.to_owned()))
        } else {
            invalid(format!("there is no category `{raw}`"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's id: a UUID, shown in its lower-case hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductId(uuid::Uuid);

impl ProductId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The id a client named, if it could be one; anything else names no product.
    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::try_parse(raw).ok().map(Self)
    }

    /// The id of a known UUID (the seed's deterministic ones).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl Default for ProductId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Units in stock when a product is created: 0 to 1 000 000. The catalog does not keep
/// stock; it hands this number to inventory in the `product.created` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitialStock(u32);

impl InitialStock {
    pub const MAX: u32 = 1_000_000;

    /// A starting stock of `units`, if within bounds.
    pub fn new(units: u32) -> Result<Self, Invalid> {
        if units > Self::MAX {
            return invalid(format!("must be at most {}", Self::MAX));
        }
        Ok(Self(units))
    }

    pub fn units(self) -> u32 {
        self.0
    }
}

/// A product to create, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    pub category: CategoryId,
    pub price: Price,
    pub currency: Currency,
    pub initial_stock: InitialStock,
}

/// A change to a product: the fields to set. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPatch {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub category: Option<CategoryId>,
    pub price: Option<Price>,
}

impl ProductPatch {
    /// Whether the patch sets no field at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.price.is_none()
    }
}

/// A product as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    /// The product's id (a UUID).
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    #[schema(example = "BAG-00042")]
    pub sku: String,
    #[schema(example = "Ridgeline 28L Daypack")]
    pub name: String,
    pub description: String,
    /// The category's id (a slug).
    #[schema(example = "bags-travel")]
    pub category: String,
    /// The price in minor units of `currency`.
    #[schema(example = 8999)]
    pub price_cents: i64,
    #[schema(example = "USD")]
    pub currency: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A category and how many products it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    /// The category's id (a slug).
    #[schema(example = "coffee-tea")]
    pub id: String,
    #[schema(example = "Coffee & Tea")]
    pub name: String,
    pub description: String,
    pub product_count: i64,
}

/// The order of a product listing; every order ends with the product id as tie-break.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// By name, A to Z.
    #[default]
    Name,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Most recently created first.
    Newest,
}

/// A parsed product listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    pub category: Option<CategoryId>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// A case-insensitive substring of the name.
    pub name_contains: Option<String>,
    pub sort: Sort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl ProductQuery {
    /// Page size when none is asked for.
    pub const DEFAULT_PER_PAGE: u32 = 20;
    /// Largest page size.
    pub const MAX_PER_PAGE: u32 = 100;
    /// Longest name filter, in characters.
    pub const MAX_QUERY_LEN: usize = 100;

    /// Rows to skip before this page.
    pub fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_accepts_upper_case_digits_and_dashes() {
        for ok in ["KIT-00042", "ABC", "A-1", &"X".repeat(32)] {
            assert_eq!(
                Sku::parse(ok).map(|s| s.as_str().to_owned()),
                Ok(ok.to_owned())
            );
        }
    }

    #[test]
    fn sku_refuses_bad_length_and_characters() {
        for (bad, why) in [
            ("AB", "too short"),
            (&"X".repeat(33) as &str, "too long"),
            ("kit-1", "lower case"),
            ("KIT 1", "space"),
            ("KIT_1", "underscore"),
            ("KÏT", "non-ASCII"),
            ("", "empty"),
        ] {
            assert!(Sku::parse(bad).is_err(), "{why}: {bad:?} was accepted");
        }
    }

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(ProductName::parse("  Mug ").unwrap().as_str(), "Mug");
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse("").is_err());
        assert!(
            ProductName::parse(&"é".repeat(120)).is_ok(),
            "counts characters, not bytes"
        );
        assert!(ProductName::parse(&"a".repeat(121)).is_err());
        assert!(ProductName::parse("Mug\u{7}").is_err());
    }

    #[test]
    fn description_may_be_empty_but_not_too_long() {
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert!(Description::parse("line one\nline two\tand a tab").is_ok());
        assert!(Description::parse(&"a".repeat(2000)).is_ok());
        assert!(Description::parse(&"a".repeat(2001)).is_err());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(Description::parse("a\u{ffff}").is_err(), "a noncharacter");
    }

    #[test]
    fn price_is_positive_and_bounded() {
        assert_eq!(Price::from_cents(1).unwrap().cents(), 1);
        assert_eq!(Price::from_cents(100_000_000).unwrap().cents(), 100_000_000);
        for bad in [0, -1, 100_000_001, i64::MAX, i64::MIN] {
            assert!(Price::from_cents(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert_eq!(Currency::USD.as_str(), "USD");
        for bad in ["usd", "US", "USDD", "U5D", "", "ÜSD"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn category_ids_are_slugs() {
        assert!(CategoryId::parse("coffee-tea").is_ok());
        for bad in ["", "Coffee", "coffee tea", "coffee_tea", &"a".repeat(65)] {
            assert!(CategoryId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn product_ids_are_uuids() {
        let id = ProductId::new();
        assert_eq!(ProductId::parse(&id.to_string()), Some(id));
        assert_eq!(ProductId::parse("not-a-uuid"), None);
        assert_eq!(ProductId::parse(""), None);
    }

    #[test]
    fn initial_stock_is_bounded() {
        assert_eq!(InitialStock::new(0).unwrap().units(), 0);
        assert!(InitialStock::new(1_000_000).is_ok());
        assert!(InitialStock::new(1_000_001).is_err());
    }

    #[test]
    fn empty_patch_is_detected() {
        let mut patch = ProductPatch {
            name: None,
            description: None,
            category: None,
            price: None,
        };
        assert!(patch.is_empty());
        patch.price = Some(Price::from_cents(100).unwrap());
        assert!(!patch.is_empty());
    }

    #[test]
    fn offset_counts_whole_pages() {
        let q = ProductQuery {
            category: None,
            min_price: None,
            max_price: None,
            name_contains: None,
            sort: Sort::Name,
            page: 3,
            per_page: 20,
        };
        assert_eq!(q.offset(), 40);
    }

    #[test]
    fn sort_names_are_snake_case() {
        assert_eq!(serde_json::to_value(Sort::PriceDesc).unwrap(), "price_desc");
        assert_eq!(Sort::default(), Sort::Name);
    }
}

/// Property tests of the catalog's parsers: what any input gives, what the documented
/// grammar gives, and where exactly the bounds are.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::{
        any_text_up_to, around, check_trimmed_name, control_but_newline_and_tab, visible,
        visible_text,
    };
    use proptest::prelude::*;

    #[test]
    fn a_product_name_is_a_trimmed_name_of_up_to_120_characters() {
        check_trimmed_name(ProductName::parse, ProductName::as_str, 120);
    }

    proptest! {
        #[test]
        fn any_text_is_a_sku_or_a_clear_refusal(raw in prop_oneof![any_text_up_to(3000), "[A-Za-z0-9 _-]{0,40}"]) {
            match Sku::parse(&raw) {
                Ok(sku) => {
                    prop_assert_eq!(sku.as_str(), raw.as_str());
                    prop_assert_eq!(Sku::parse(sku.as_str()), Ok(sku));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn skus_of_the_documented_grammar_are_accepted_as_given(raw in "[A-Z0-9-]{3,32}") {
            prop_assert_eq!(Sku::parse(&raw).map(|s| s.as_str().to_owned()), Ok(raw));
        }

        #[test]
        fn a_sku_of_the_wrong_length_is_refused_naming_the_bounds(
            raw in prop_oneof!["[A-Z0-9-]{0,2}", "[A-Z0-9-]{33,100}"],
        ) {
            prop_assert_eq!(
                Sku::parse(&raw),
                Err(Invalid("must be 3 to 32 characters long".into()))
            );
        }

        #[test]
        fn one_character_outside_a_to_z_digits_and_dash_spoils_a_sku(
            raw in "[A-Z0-9-]{2,31}",
            bad in any::<char>().prop_filter("not A-Z, 0-9 or -", |c| {
                !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-')
            }),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = raw.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let spoilt: String = chars.into_iter().collect();
            prop_assert_eq!(
                Sku::parse(&spoilt),
                Err(Invalid("may contain only upper-case letters A-Z, digits and `-`".into()))
            );
        }

        #[test]
        fn any_text_is_a_description_or_a_clear_refusal(raw in any_text_up_to(3000)) {
            match Description::parse(&raw) {
                Ok(text) => {
                    prop_assert_eq!(text.as_str(), raw.trim());
                    prop_assert!(text.as_str().chars().count() <= Description::MAX_LEN);
                    prop_assert_eq!(Description::parse(text.as_str()), Ok(text.clone()));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn lines_and_tabs_of_up_to_2000_characters_are_a_description(
            text in prop::collection::vec(
                prop_oneof![8 => visible(), 1 => Just(' '), 1 => Just('\n'), 1 => Just('\t')],
                0..=2000,
            )
            .prop_map(|cs| cs.into_iter().collect::<String>().trim().to_owned()),
        ) {
            prop_assert_eq!(Description::parse(&text).map(|d| d.as_str().to_owned()), Ok(text));
        }

        #[test]
        fn a_description_past_2000_characters_is_refused_naming_the_limit(
            long in visible_text(2001..=2100),
        ) {
            prop_assert_eq!(
                Description::parse(&long),
                Err(Invalid("must be at most 2000 characters long".into()))
            );
        }

        #[test]
        fn a_control_character_other_than_newline_and_tab_inside_a_description_is_refused(
            start in visible_text(1..=50),
            bad in control_but_newline_and_tab(),
            end in visible_text(1..=50),
        ) {
            prop_assert_eq!(
                Description::parse(&format!("{start}{bad}{end}")),
                Err(Invalid(
                    "must not contain control characters other than newlines and tabs".into()
                ))
            );
        }

        #[test]
        fn prices_are_exactly_one_cent_to_a_million(cents in around(1, 100_000_000)) {
            match Price::from_cents(cents) {
                Ok(price) => {
                    prop_assert!((1..=100_000_000).contains(&cents));
                    prop_assert_eq!(price.cents(), cents);
                }
                Err(why) => {
                    prop_assert!(!(1..=100_000_000).contains(&cents), "{} refused", cents);
                    prop_assert_eq!(
                        why,
                        Invalid("must be between 1 and 100000000 (in minor units)".into())
                    );
                }
            }
        }

        #[test]
        fn initial_stock_is_exactly_none_to_a_million(
            units in prop_oneof![999_997..=1_000_003u32, any::<u32>()],
        ) {
            match InitialStock::new(units) {
                Ok(stock) => {
                    prop_assert!(units <= 1_000_000);
                    prop_assert_eq!(stock.units(), units);
                }
                Err(why) => {
                    prop_assert!(units > 1_000_000, "{} refused", units);
                    prop_assert_eq!(why, Invalid("must be at most 1000000".into()));
                }
            }
        }

        #[test]
        fn any_text_is_a_category_id_or_a_refusal_naming_it(
            raw in prop_oneof![any_text_up_to(3000), "[a-z0-9 A_-]{0,70}"],
        ) {
            match CategoryId::parse(&raw) {
                Ok(id) => {
                    prop_assert_eq!(id.as_str(), raw.as_str());
                    prop_assert_eq!(CategoryId::parse(id.as_str()), Ok(id));
                }
                Err(why) => prop_assert_eq!(why, Invalid(format!("there is no category `{raw}`"))),
            }
        }

        #[test]
        fn slugs_are_category_ids_up_to_64_characters(
            slug in "[a-z0-9-]{1,64}",
            long in "[a-z0-9-]{65,100}",
        ) {
            prop_assert_eq!(CategoryId::parse(&slug).map(|c| c.as_str().to_owned()), Ok(slug));
            prop_assert!(CategoryId::parse(&long).is_err(), "{:?} was accepted", long);
        }

        #[test]
        fn a_product_id_reads_back_from_its_text_in_either_case(bits in any::<u128>()) {
            let id = ProductId::from_uuid(uuid::Uuid::from_u128(bits));
            let shown = id.to_string();
            prop_assert_eq!(shown.len(), 36);
            prop_assert_eq!(shown.to_ascii_lowercase(), shown.clone());
            prop_assert_eq!(ProductId::parse(&shown), Some(id));
            prop_assert_eq!(ProductId::parse(&shown.to_ascii_uppercase()), Some(id));
        }

        #[test]
        fn any_text_names_a_product_or_none_without_a_panic(raw in any_text_up_to(3000)) {
            if let Some(id) = ProductId::parse(&raw) {
                prop_assert_eq!(ProductId::parse(&id.to_string()), Some(id));
            }
        }

        #[test]
        fn consecutive_pages_neither_overlap_nor_leave_gaps(
            page in 1..=u32::MAX - 1,
            per_page in 1..=ProductQuery::MAX_PER_PAGE,
        ) {
            let query = |page| ProductQuery {
                category: None,
                min_price: None,
                max_price: None,
                name_contains: None,
                sort: Sort::default(),
                page,
                per_page,
            };
            prop_assert_eq!(query(1).offset(), 0);
            prop_assert_eq!(
                query(page + 1).offset() - query(page).offset(),
                i64::from(per_page)
            );
        }

        #[test]
        fn a_sort_reads_back_from_its_name_and_nothing_else_is_one(raw in "[a-z_]{0,12}") {
            let sorts = [Sort::Name, Sort::PriceAsc, Sort::PriceDesc, Sort::Newest];
            for sort in sorts {
                let name = serde_json::to_value(sort).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(serde_json::from_value::<Sort>(name).ok(), Some(sort));
            }
            let named = serde_json::from_value::<Sort>(serde_json::Value::String(raw.clone())).ok();
            let known = ["name", "price_asc", "price_desc", "newest"].contains(&raw.as_str());
            prop_assert_eq!(named.is_some(), known, "{:?}", raw);
        }
    }
}
