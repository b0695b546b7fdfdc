//! The few domain values every service speaks alike: why an input was refused, a
//! product's id as the services that did not issue it see it, currencies and amounts of
//! money. Each refusal is worded once, here.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a value was refused; the message is shown next to the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// `Err(Invalid(message))`, for parsers.
pub fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// A product's id, as the catalog issued it: 1 to 64 characters of ASCII letters, digits,
/// `-` and `_`. The catalog's are UUIDs; the services that only refer to products do not
/// insist on that form, so that they are not coupled to how the catalog makes ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(String);

impl ProductId {
    pub const MAX_LEN: usize = 64;

    /// Parses an id, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return invalid("must not be empty");
        }
        if raw.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid("may contain only letters, digits, `-` and `_`");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 4217 currency code: exactly three upper-case letters (`USD`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The shop's default currency.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses a code, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => invalid("must be a three-letter upper-case ISO 4217 code such as `USD`"),
        }
    }

    pub fn as_str(&self) -> &str {
        // Three ASCII letters, as `parse` made sure.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point: none for the currencies without minor units.
    pub fn decimals(self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" | "TWD" | "UGX" | "XAF" | "XOF" => 0,
            _ => 2,
        }
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self::USD
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("An ISO 4217 currency code"))
            .examples([serde_json::json!("USD")])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// An amount of money in a currency's minor units (cents), never negative: a price, a
/// total, a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses an amount, or says what is wrong with it.
    pub fn new(cents: i64) -> Result<Self, Invalid> {
        if cents < 0 {
            return invalid("must not be negative");
        }
        Ok(Self(cents))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// `self × n`, or `None` past what an `i64` holds.
    pub fn times(self, n: i64) -> Option<Cents> {
        self.0.checked_mul(n).filter(|c| *c >= 0).map(Cents)
    }

    /// `self + other`, or `None` past what an `i64` holds.
    pub fn plus(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// The amount as people read it: `12.99 USD`, `1500 JPY`.
    pub fn display(self, currency: Currency) -> String {
        let decimals = currency.decimals();
        if decimals == 0 {
            return format!("{} {currency}", self.0);
        }
        let unit = 10_i64.pow(decimals);
        format!(
            "{}.{:0width$} {currency}",
            self.0 / unit,
            self.0 % unit,
            width = decimals as usize
        )
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cents::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_short_url_safe_text() {
        let uuid = "01a21b0a-9626-7067-bfaf-abb52fefe2bb";
        assert_eq!(ProductId::parse(uuid).unwrap().as_str(), uuid);
        assert_eq!(ProductId::parse("sku_42").unwrap().to_string(), "sku_42");
        for (raw, why) in [
            ("", "must not be empty"),
            (&"x".repeat(65), "must be at most 64 characters long"),
            ("a/b", "may contain only letters, digits, `-` and `_`"),
            ("caf\u{e9}", "may contain only letters, digits, `-` and `_`"),
        ] {
            assert_eq!(ProductId::parse(raw), Err(Invalid(why.into())), "{raw:?}");
        }
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert_eq!(Currency::default(), Currency::USD);
        for raw in ["usd", "US", "USDX", "", "U$D", "ÉUR"] {
            assert_eq!(
                Currency::parse(raw),
                Err(Invalid(
                    "must be a three-letter upper-case ISO 4217 code such as `USD`".into()
                )),
                "{raw:?}"
            );
        }
        let json: Currency = serde_json::from_str("\"JPY\"").unwrap();
        assert_eq!(json.decimals(), 0);
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"JPY\"");
        assert!(serde_json::from_str::<Currency>("\"jpy\"").is_err());
    }

    #[test]
    fn money_is_never_negative_and_reads_as_people_write_it() {
        assert_eq!(Cents::new(-1), Err(Invalid("must not be negative".into())));
        let price = Cents::new(1299).unwrap();
        assert_eq!(price.display(Currency::USD), "12.99 USD");
        assert_eq!(Cents::new(5).unwrap().display(Currency::USD), "0.05 USD");
        assert_eq!(
            Cents::new(1500)
                .unwrap()
                .display(Currency::parse("JPY").unwrap()),
            "1500 JPY"
        );
        assert_eq!(price.times(3), Some(Cents::new(3897).unwrap()));
        assert_eq!(price.times(i64::MAX), None);
        assert_eq!(price.plus(Cents::ZERO), Some(price));
        assert!(serde_json::from_str::<Cents>("-3").is_err());
    }
}

/// Checks an id another service (or a caller) chose: 1 to `max_len` ASCII letters and
/// digits, and the characters of `extra` (`b"-_"`). What such ids may hold differs from one
/// to the other; how a refusal is worded does not.
pub fn check_id(raw: &str, max_len: usize, extra: &[u8]) -> Result<(), Invalid> {
    if raw.is_empty() {
        return invalid("must not be empty");
    }
    if raw.len() > max_len {
        return invalid(format!("must be at most {max_len} characters long"));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        let mut allowed: Vec<String> = vec!["letters".into(), "digits".into()];
        allowed.extend(extra.iter().map(|b| format!("`{}`", char::from(*b))));
        let last = allowed.pop().unwrap_or_default();
        return invalid(format!(
            "may contain only {} and {last}",
            allowed.join(", ")
        ));
    }
    Ok(())
}

/// A whole number from `LO` to `HI`: a quantity, a stock level, a page size, a number of
/// seconds. Each service names its own bounds (`pub type Quantity = Bounded<1, 99>;`);
/// the refusal is worded once, here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Bounded<const LO: i64, const HI: i64>(i64);

impl<const LO: i64, const HI: i64> Bounded<LO, HI> {
    /// The least value.
    pub const MIN: i64 = LO;
    /// The greatest value.
    pub const MAX: i64 = HI;

    /// `N`, its bounds checked when the program is compiled: for defaults.
    pub const fn of<const N: i64>() -> Self {
        const { assert!(LO <= N && N <= HI, "a bounded default out of its bounds") };
        Self(N)
    }

    /// `n`, or why it is out of bounds.
    pub fn new(n: i64) -> Result<Self, Invalid> {
        if (LO..=HI).contains(&n) {
            Ok(Self(n))
        } else {
            invalid(format!("must be between {LO} and {HI}"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de, const LO: i64, const HI: i64> Deserialize<'de> for Bounded<LO, HI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        Self::new(n).map_err(|e| serde::de::Error::custom(format!("{e}, got {n}")))
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn ids_are_refused_naming_what_they_may_hold() {
        assert_eq!(check_id("order:42", 64, b"-_:"), Ok(()));
        let cases: [(&str, usize, &[u8], &str); 5] = [
            ("", 64, b"-_", "must not be empty"),
            ("abcd", 3, b"-_", "must be at most 3 characters long"),
            (
                "a:b",
                64,
                b"-_",
                "may contain only letters, digits, `-` and `_`",
            ),
            (
                "a/b",
                64,
                b"-_:",
                "may contain only letters, digits, `-`, `_` and `:`",
            ),
            ("a-b", 64, b"", "may contain only letters and digits"),
        ];
        for (raw, max, extra, why) in cases {
            assert_eq!(
                check_id(raw, max, extra),
                Err(Invalid(why.into())),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn bounded_numbers_stay_within_their_bounds() {
        type Quantity = Bounded<1, 99>;
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::of::<42>().get(), 42);
        assert_eq!(Quantity::new(Quantity::MAX).unwrap().get(), 99);
        for bad in [0, 100, -1, i64::MIN, i64::MAX] {
            assert_eq!(
                Quantity::new(bad),
                Err(Invalid("must be between 1 and 99".into())),
                "{bad}"
            );
        }
        assert_eq!(serde_json::from_str::<Quantity>("5").unwrap().get(), 5);
        let refused = serde_json::from_str::<Quantity>("0").unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("must be between 1 and 99, got 0"),
            "{refused}"
        );
        assert_eq!(
            serde_json::to_string(&Quantity::new(7).unwrap()).unwrap(),
            "7"
        );
    }
}
