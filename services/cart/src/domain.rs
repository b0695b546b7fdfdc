//! The cart's domain: inputs parsed into types at the boundary (from a request, a cookie or
//! another service's event), whose cart a request is about, and the cart as it is shown.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use utoipa::ToSchema;

use platform::domain::invalid;
pub use platform::domain::{Currency, Invalid, ProductId};

/// The most lines one cart holds.
pub const MAX_LINES: usize = 50;

/// How many units of a product one cart line holds: 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i64);

impl Quantity {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 99;

    /// A quantity of `units`, if within bounds.
    pub fn new(units: i64) -> Result<Self, Invalid> {
        if !(Self::MIN..=Self::MAX).contains(&units) {
            return invalid(format!("must be between {} and {}", Self::MIN, Self::MAX));
        }
        Ok(Self(units))
    }

    /// Two quantities together, capped at [`Quantity::MAX`] (how carts are merged).
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity((self.0 + other.0).min(Self::MAX))
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

/// The id of an anonymous cart, as its cookie carries it: 128 random bits in 32
/// lower-case hex digits.
///
/// Whoever holds the id holds the cart, so it is a credential: it never prints, and the
/// database keeps only its SHA-256 ([`Owner::key`]), so a leaked database opens no cart.
#[derive(Clone, PartialEq, Eq)]
pub struct AnonymousId(String);

impl AnonymousId {
    /// Hex digits in an id.
    pub const LEN: usize = 32;

    /// A fresh id from the thread's cryptographically secure generator.
    pub fn generate() -> Self {
        use rand::RngExt;
        let bytes: [u8; 16] = rand::rng().random();
        Self(hex(&bytes))
    }

    /// Parses a cookie's value; anything but 32 hex digits is refused.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            invalid(format!("must be {} hexadecimal digits", Self::LEN))
        }
    }

    /// The id itself, for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AnonymousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnonymousId([redacted])")
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whose cart: a signed-in user's (by the token's subject) or an anonymous visitor's
/// (by cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
    Anonymous(AnonymousId),
}

impl Owner {
    /// The user with this id (a verified token's `sub`).
    pub fn user(id: &str) -> Self {
        Owner::User(id.to_owned())
    }

    /// How the cart is keyed in the database: `user:<id>`, or `anon:<sha256 of the id>`.
    pub fn key(&self) -> String {
        match self {
            Owner::User(id) => format!("user:{id}"),
            Owner::Anonymous(id) => {
                format!("anon:{}", hex(&Sha256::digest(id.expose().as_bytes())))
            }
        }
    }

    /// `user` or `anonymous`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::User(_) => "user",
            Owner::Anonymous(_) => "anonymous",
        }
    }
}

/// A product as the cart knows it, from the catalog's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductCopy {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
}

/// One line of a cart as shown: the product as the cart knows it now, and the quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartLine {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// The product's current name.
    #[schema(example = "Ridgeline 28L Daypack")]
    pub name: String,
    /// The product's current price, in minor units of the cart's `currency`.
    #[schema(example = 8999)]
    pub unit_price_cents: i64,
    #[schema(example = 2, minimum = 1, maximum = 99)]
    pub quantity: i64,
    /// `unit_price_cents × quantity`.
    #[schema(example = 17998)]
    pub line_total_cents: i64,
    /// `false` once the catalog has deleted the product: the line stays, shown with the
    /// last known name and price, but counts for nothing and cannot be bought.
    pub available: bool,
}

/// A cart as shown: its lines in the order they were first added, and what the available
/// ones cost together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub items: Vec<CartLine>,
    /// The sum of the `line_total_cents` of the available lines.
    #[schema(example = 17998)]
    pub total_cents: i64,
    /// The currency of every price in the cart.
    #[schema(example = "USD")]
    pub currency: String,
}

impl Cart {
    /// A cart of `items`, totalled.
    pub fn new(items: Vec<CartLine>, currency: &Currency) -> Self {
        let total_cents = items
            .iter()
            .filter(|l| l.available)
            .map(|l| l.line_total_cents)
            .sum();
        Self {
            items,
            total_cents,
            currency: currency.to_string(),
        }
    }

    /// A cart with nothing in it.
    pub fn empty(currency: &Currency) -> Self {
        Self::new(Vec::new(), currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert_eq!(Quantity::new(1).unwrap().units(), 1);
        assert_eq!(Quantity::new(99).unwrap().units(), 99);
        for bad in [0, -1, 100, i64::MIN, i64::MAX] {
            assert!(Quantity::new(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn merged_quantities_are_capped() {
        let q = |n| Quantity::new(n).unwrap();
        assert_eq!(q(2).saturating_add(q(3)), q(5));
        assert_eq!(q(60).saturating_add(q(60)), q(99));
        assert_eq!(q(99).saturating_add(q(99)), q(99));
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["", "usd", "US", "USDX", "U$D"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn anonymous_ids_are_128_random_bits_in_hex() {
        let a = AnonymousId::generate();
        let b = AnonymousId::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert_eq!(AnonymousId::parse(a.expose()).unwrap(), a);
        assert_eq!(
            AnonymousId::parse("0123456789ABCDEF0123456789abcdef")
                .unwrap()
                .expose(),
            "0123456789abcdef0123456789abcdef"
        );
        for bad in [
            "",
            "0123",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef0",
            "../../../../../../etc/passwd/xxxx",
        ] {
            assert!(AnonymousId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn anonymous_ids_never_print_nor_reach_the_database() {
        let id = AnonymousId::generate();
        assert!(!format!("{id:?}").contains(id.expose()));
        let owner = Owner::Anonymous(id.clone());
        let key = owner.key();
        assert!(key.starts_with("anon:"), "{key}");
        assert!(!key.contains(id.expose()), "{key}");
        assert_eq!(key.len(), "anon:".len() + 64);
        assert_eq!(key, Owner::Anonymous(id).key(), "the key is stable");
        assert!(!format!("{owner:?}").contains(&key[5..]));
    }

    #[test]
    fn users_and_visitors_never_share_a_key() {
        let user = Owner::user("0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11");
        assert_eq!(user.key(), "user:0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11");
        assert_eq!(user.kind(), "user");
        let visitor = Owner::Anonymous(AnonymousId::generate());
        assert_eq!(visitor.kind(), "anonymous");
        assert_ne!(user.key(), visitor.key());
    }

    #[test]
    fn totals_count_only_available_lines() {
        let line = |price, quantity, available| CartLine {
            product_id: "p".into(),
            name: "P".into(),
            unit_price_cents: price,
            quantity,
            line_total_cents: price * quantity,
            available,
        };
        let usd = Currency::parse("USD").unwrap();
        let cart = Cart::new(vec![line(250, 2, true), line(1000, 1, false)], &usd);
        assert_eq!(cart.total_cents, 500);
        assert_eq!(cart.currency, "USD");
        assert_eq!(Cart::empty(&usd).total_cents, 0);
    }
}

/// Property tests of the cart's quantities and of the anonymous cart's id.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::any_text;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn quantities_are_exactly_one_to_ninety_nine(
            units in prop_oneof![-2..=2i64, 97..=101i64, any::<i64>()],
        ) {
            match Quantity::new(units) {
                Ok(q) => {
                    prop_assert!((1..=99).contains(&units), "{} was accepted", units);
                    prop_assert_eq!(q.units(), units);
                }
                Err(why) => {
                    prop_assert!(!(1..=99).contains(&units), "{} was refused", units);
                    prop_assert_eq!(why, Invalid("must be between 1 and 99".into()));
                }
            }
        }

        #[test]
        fn merged_lines_hold_both_quantities_up_to_ninety_nine(a in 1..=99i64, b in 1..=99i64) {
            let (qa, qb) = (Quantity::new(a), Quantity::new(b));
            let merged = qa
                .as_ref()
                .ok()
                .zip(qb.as_ref().ok())
                .map(|(qa, qb)| qa.saturating_add(*qb));
            prop_assert_eq!(merged.map(Quantity::units), Some((a + b).min(99)));
            prop_assert_eq!(merged, qb.ok().zip(qa.ok()).map(|(qb, qa)| qb.saturating_add(qa)));
            // Whatever merging gives is a quantity as a client could have sent it.
            prop_assert_eq!(merged.map(|m| Quantity::new(m.units())), merged.map(Ok));
        }

        #[test]
        fn thirty_two_hex_digits_in_either_case_are_an_anonymous_id(raw in "[0-9a-fA-F]{32}") {
            let id = AnonymousId::parse(&raw);
            let lower = raw.to_ascii_lowercase();
            prop_assert_eq!(id.as_ref().map(AnonymousId::expose), Ok(lower.as_str()));
            let again = id.as_ref().map(|id| AnonymousId::parse(id.expose()));
            prop_assert_eq!(again.ok(), id.clone().ok().map(Ok));
            prop_assert_eq!(
                id.map(|id| format!("{id:?}")),
                Ok("AnonymousId([redacted])".to_owned())
            );
        }

        #[test]
        fn anything_but_thirty_two_hex_digits_is_no_anonymous_id(
            raw in prop_oneof![
                any_text(),
                "[0-9a-f]{0,31}",
                "[0-9a-f]{33,64}",
                "[0-9a-f]{0,31}[g-z./ ][0-9a-f]{0,31}",
            ],
        ) {
            let hex = raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit());
            prop_assume!(!hex);
            prop_assert_eq!(
                AnonymousId::parse(&raw),
                Err(Invalid("must be 32 hexadecimal digits".into()))
            );
        }
    }
}
