//! The recommendation service's domain: the values it takes from requests and from other
//! services' events, parsed into types at the boundary, and the recommendations it shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::{collections::HashSet, fmt};
use utoipa::ToSchema;

pub use platform::domain::{Currency, Invalid, ProductId};
use platform::domain::{TrimmedName, invalid};

/// A name another service gave (an id, a category's): 1 to `max_len` characters, none of
/// them blank or control characters. Its form is the issuer's business.
fn opaque(raw: &str, max_len: usize) -> Result<String, Invalid> {
    let len = raw.chars().count();
    if len == 0 || len > max_len {
        return invalid(format!("must be 1 to {max_len} characters long"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain blanks or control characters");
    }
    Ok(raw.to_owned())
}

/// An id issued by another service (a user's, an order's): 1 to 128 characters, none of
/// them blank or control characters.
fn opaque_id(raw: &str) -> Result<String, Invalid> {
    opaque(raw, 128)
}

/// A shopper's id, as identity issued it (the `sub` of their token).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        opaque_id(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An order's id, as the orders service issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        opaque_id(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's name as the catalog shows it: 1 to 200 characters after trimming, no
/// control characters.
pub type ProductName = TrimmedName<200>;

/// A category's id as the catalog names it (`kitchen`): 1 to 64 characters, no blanks or
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Category(String);

impl Category {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        opaque(raw, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in minor units (cents): 0 to 100 000 000 000. Looser than the catalog's own
/// bounds, so a catalog that widens them is not refused here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(i64);

impl Price {
    pub const MAX_CENTS: i64 = 100_000_000_000;

    pub fn from_cents(cents: i64) -> Result<Self, Invalid> {
        if !(0..=Self::MAX_CENTS).contains(&cents) {
            return invalid(format!(
                "must be between 0 and {} (in minor units)",
                Self::MAX_CENTS
            ));
        }
        Ok(Self(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// A moment, kept as RFC 3339 in UTC with millisecond precision so that stored times
/// compare correctly as text, whatever offset the producer wrote them with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Ok(Self(events::envelope::to_rfc3339(t.with_timezone(&Utc)))),
            Err(_) => invalid("must be an RFC 3339 date and time"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many products one request asks for: 1 to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// The most products one request may ask for.
    pub const MAX: u32 = 20;
    /// How many a request gets unless it says (or the configuration says) otherwise.
    pub const DEFAULT: u32 = 6;

    pub fn new(n: i64) -> Result<Self, Invalid> {
        match u32::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => invalid(format!("must be a whole number from 1 to {}", Self::MAX)),
        }
    }

    /// The `limit` of a query string, `default` when it is absent.
    pub fn parse(raw: Option<&str>, default: Limit) -> Result<Self, Invalid> {
        match raw {
            None => Ok(default),
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) => Self::new(n),
                Err(_) => invalid(format!("must be a whole number from 1 to {}", Self::MAX)),
            },
        }
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// Units of a product in an order: 1 to 1 000 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000;

    pub fn new(units: i64) -> Result<Self, Invalid> {
        if !(1..=Self::MAX).contains(&units) {
            return invalid(format!("must be between 1 and {}", Self::MAX));
        }
        Ok(Self(units))
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

/// This service's copy of a catalog product: what a recommendation shows and ranks by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductCopy {
    pub id: ProductId,
    pub name: ProductName,
    pub category: Category,
    pub price: Price,
    pub currency: Currency,
    /// When the catalog created it: "newest" breaks ties between equally popular products.
    pub created_at: Timestamp,
}

/// One product of a confirmed order, with every line of it added up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub units: i64,
}

/// A confirmed order, as far as recommendations care: who bought which products, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedOrder {
    pub order_id: OrderId,
    pub user_id: UserId,
    lines: Vec<OrderLine>,
    pub confirmed_at: Timestamp,
}

/// Why an order's lines were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLines {
    #[error("an order must have at least one item")]
    Empty,
    #[error("names {0} distinct products; at most {max} are counted", max = ConfirmedOrder::MAX_PRODUCTS)]
    TooMany(usize),
}

impl ConfirmedOrder {
    /// The most distinct products one order may have: its pairs grow with the square.
    pub const MAX_PRODUCTS: usize = 100;

    /// An order of these lines; lines of the same product are added up, in the order the
    /// product first appears.
    pub fn new(
        order_id: OrderId,
        user_id: UserId,
        lines: impl IntoIterator<Item = (ProductId, Quantity)>,
        confirmed_at: Timestamp,
    ) -> Result<Self, BadLines> {
        let mut merged: Vec<OrderLine> = Vec::new();
        for (product_id, quantity) in lines {
            match merged.iter_mut().find(|l| l.product_id == product_id) {
                Some(line) => line.units = line.units.saturating_add(quantity.units()),
                None => merged.push(OrderLine {
                    product_id,
                    units: quantity.units(),
                }),
            }
        }
        if merged.is_empty() {
            return Err(BadLines::Empty);
        }
        if merged.len() > Self::MAX_PRODUCTS {
            return Err(BadLines::TooMany(merged.len()));
        }
        Ok(Self {
            order_id,
            user_id,
            lines: merged,
            confirmed_at,
        })
    }

    /// Each distinct product once.
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }

    /// Every ordered pair of two distinct products of the order: `(a, b)` and `(b, a)`,
    /// so that "bought with `a`" is one lookup by `a`.
    pub fn pairs(&self) -> impl Iterator<Item = (&ProductId, &ProductId)> {
        self.lines.iter().flat_map(move |a| {
            self.lines
                .iter()
                .filter(move |b| b.product_id != a.product_id)
                .map(move |b| (&a.product_id, &b.product_id))
        })
    }
}

/// Why a product is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Shoppers who bought the product also bought this one.
    BoughtTogether,
    /// Among the most ordered (then newest) of the product's or shopper's categories.
    PopularInCategory,
    /// Among the most ordered (then newest) products of the shop.
    Popular,
    /// Bought together with what the shopper bought.
    ForYou,
}

/// A product that could be recommended, as the store reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub currency: String,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    #[schema(example = "Stoneware Mug")]
    pub name: String,
    /// The product's category id.
    #[schema(example = "kitchen")]
    pub category: String,
    /// The current price in minor units.
    #[schema(example = 1299)]
    pub price_cents: i64,
    #[schema(example = "USD")]
    pub currency: String,
    pub reason: Reason,
}

/// The list being built: best first, each product once, never an excluded one, at most
/// `limit` long. Sources are offered in order of preference.
#[derive(Debug)]
pub struct Picks {
    limit: usize,
    seen: HashSet<String>,
    items: Vec<Recommendation>,
}

impl Picks {
    /// An empty list of at most `limit` products, none of them in `excluded`.
    pub fn new<'a>(limit: Limit, excluded: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            limit: limit.get(),
            seen: excluded.into_iter().map(str::to_owned).collect(),
            items: Vec::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.limit
    }

    /// How many candidates the next source should give so that, after leaving out what
    /// is excluded or picked already, the list can still be filled.
    pub fn wanted(&self) -> i64 {
        let missing = self.limit.saturating_sub(self.items.len());
        i64::try_from(missing + self.seen.len()).unwrap_or(i64::MAX)
    }

    /// Adds the candidates, in their order, that are neither excluded nor picked already,
    /// until the list is full.
    pub fn offer(&mut self, candidates: Vec<Candidate>, reason: Reason) {
        for c in candidates {
            if self.is_full() {
                return;
            }
            if self.seen.insert(c.id.clone()) {
                self.items.push(Recommendation {
                    id: c.id,
                    name: c.name,
                    category: c.category,
                    price_cents: c.price_cents,
                    currency: c.currency,
                    reason,
                });
            }
        }
    }

    pub fn into_items(self) -> Vec<Recommendation> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ProductId {
        ProductId::parse(s).unwrap()
    }

    fn candidate(id: &str) -> Candidate {
        Candidate {
            id: id.into(),
            name: format!("Product {id}"),
            category: "kitchen".into(),
            price_cents: 100,
            currency: "USD".into(),
        }
    }

    fn order(lines: &[(&str, i64)]) -> Result<ConfirmedOrder, BadLines> {
        ConfirmedOrder::new(
            OrderId::parse("o-1").unwrap(),
            UserId::parse("u-1").unwrap(),
            lines
                .iter()
                .map(|(p, q)| (pid(p), Quantity::new(*q).unwrap())),
            Timestamp::parse("2025-01-01T00:00:00Z").unwrap(),
        )
    }

    #[test]
    fn user_and_order_ids_are_opaque_but_bounded() {
        assert!(UserId::parse("0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11").is_ok());
        assert!(UserId::parse("service:orders").is_ok());
        for bad in ["", "a b", "a\nb", &"u".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} was accepted");
            assert!(OrderId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_categories_prices_and_currencies_are_bounded() {
        assert_eq!(ProductName::parse("  Mug ").unwrap().as_str(), "Mug");
        for bad in ["", "   ", "a\u{7}b", &"n".repeat(201)] {
            assert!(ProductName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            Category::parse("coffee-tea").unwrap().as_str(),
            "coffee-tea"
        );
        for bad in ["", "a b", &"c".repeat(65)] {
            assert!(Category::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Price::from_cents(0).unwrap().cents(), 0);
        assert!(Price::from_cents(-1).is_err());
        assert!(Price::from_cents(Price::MAX_CENTS + 1).is_err());
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn timestamps_are_normalised_to_utc_milliseconds() {
        let t = Timestamp::parse("2025-03-01T10:00:00+02:00").unwrap();
        assert_eq!(t.as_str(), "2025-03-01T08:00:00.000Z");
        assert!(
            Timestamp::parse("2025-03-01T08:00:00.5Z").unwrap()
                > Timestamp::parse("2025-03-01T10:00:00+02:00").unwrap()
        );
        for bad in ["", "yesterday", "2025-03-01", "2025-13-01T00:00:00Z"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn limits_are_whole_numbers_from_one_to_twenty() {
        let default = Limit::default();
        assert_eq!(Limit::parse(None, default).unwrap().get(), 6);
        assert_eq!(Limit::parse(Some("1"), default).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("20"), default).unwrap().get(), 20);
        for bad in ["0", "21", "-1", "", "abc", "1.5", "99999999999999999999"] {
            assert!(
                Limit::parse(Some(bad), default).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn quantities_are_positive_and_bounded() {
        assert_eq!(Quantity::new(1).unwrap().units(), 1);
        for bad in [0, -1, Quantity::MAX + 1] {
            assert!(Quantity::new(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn orders_add_up_repeated_products_and_pair_distinct_ones() {
        let o = order(&[("a", 1), ("b", 2), ("a", 3), ("c", 1)]).unwrap();
        let lines: Vec<(&str, i64)> = o
            .lines()
            .iter()
            .map(|l| (l.product_id.as_str(), l.units))
            .collect();
        assert_eq!(lines, [("a", 4), ("b", 2), ("c", 1)]);
        let pairs: Vec<(&str, &str)> = o.pairs().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("a", "b"),
                ("a", "c"),
                ("b", "a"),
                ("b", "c"),
                ("c", "a"),
                ("c", "b")
            ]
        );
        assert_eq!(order(&[("a", 2), ("a", 1)]).unwrap().pairs().count(), 0);
    }

    #[test]
    fn orders_need_one_to_a_hundred_products() {
        assert_eq!(order(&[]), Err(BadLines::Empty));
        let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
        let lines: Vec<(&str, i64)> = many.iter().map(|p| (p.as_str(), 1)).collect();
        assert_eq!(order(&lines), Err(BadLines::TooMany(101)));
        assert!(order(&lines[..100]).is_ok());
    }

    #[test]
    fn picks_keep_order_skip_excluded_and_repeated_and_stop_when_full() {
        let mut picks = Picks::new(Limit::new(3).unwrap(), ["self"]);
        assert_eq!(picks.wanted(), 4);
        picks.offer(
            vec![candidate("b"), candidate("self")],
            Reason::BoughtTogether,
        );
        assert_eq!(picks.wanted(), 4, "two missing, two seen");
        picks.offer(
            vec![
                candidate("b"),
                candidate("c"),
                candidate("d"),
                candidate("e"),
            ],
            Reason::PopularInCategory,
        );
        assert!(picks.is_full());
        let got: Vec<(String, Reason)> = picks
            .into_items()
            .into_iter()
            .map(|r| (r.id, r.reason))
            .collect();
        assert_eq!(
            got,
            [
                ("b".to_owned(), Reason::BoughtTogether),
                ("c".to_owned(), Reason::PopularInCategory),
                ("d".to_owned(), Reason::PopularInCategory)
            ]
        );
    }

    #[test]
    fn reasons_are_snake_case() {
        for (r, s) in [
            (Reason::BoughtTogether, "bought_together"),
            (Reason::PopularInCategory, "popular_in_category"),
            (Reason::Popular, "popular"),
            (Reason::ForYou, "for_you"),
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), s);
        }
    }
}
