//! The few domain values every service speaks alike: why an input was refused, a
//! product's id as the services that did not issue it see it, currencies and amounts of
//! money. Each refusal is worded once, here.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, marker::PhantomData};

pub mod card;

/// Why a value was refused; the message is shown next to the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// `Err(Invalid(message))`, for parsers.
pub fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, in order.
pub const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `code` (upper case) is an assigned ISO 3166-1 alpha-2 code.
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

/// A product's id, as the catalog issued it: 1 to 64 characters of ASCII letters, digits,
/// `-` and `_`. The catalog's are UUIDs; the services that only refer to products do not
/// insist on that form, so that they are not coupled to how the catalog makes ids.
pub type ProductId = ChosenId<64>;

/// [`ChosenId`]'s `COLONS`: the id may hold `:` too (`orders:42`).
pub const WITH_COLONS: bool = true;

/// An id another service (or a caller) chose, kept as given: 1 to `LEN` ASCII letters,
/// digits, `-` and `_`, and `:` [`WITH_COLONS`] ([`check_id`]). Each service names its own
/// (`pub type ReservationId = ChosenId<128, WITH_COLONS>;`); the refusal is worded once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChosenId<const LEN: usize, const COLONS: bool = false>(String);

impl<const LEN: usize, const COLONS: bool> ChosenId<LEN, COLONS> {
    pub const MAX_LEN: usize = LEN;

    /// Parses an id, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        check_id(raw, LEN, if COLONS { b"-_:" } else { b"-_" })?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const LEN: usize, const COLONS: bool> fmt::Display for ChosenId<LEN, COLONS> {
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
    fn the_country_codes_are_in_order_each_once_and_only_assigned_ones() {
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        for code in ["DE", "GB", "US", "JP", "BR", "ZW", "AD"] {
            assert!(is_country(code), "{code}");
        }
        for code in ["XX", "ZZ", "UK", "EU", "AA", "de", "D", "DEU", ""] {
            assert!(!is_country(code), "{code}");
        }
    }

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

/// Whether `raw` is a slug (`coffee-tea`) of 1 to `max_len` characters of `a-z`, `0-9` and
/// `-`: how the catalog names its categories, and how the services that filter by category
/// check a name before they look it up.
pub fn is_slug(raw: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A name as people write it, kept as [`trimmed_name`] makes it: 1 to `LEN` characters.
/// Each service names its own (`pub type ProductName = TrimmedName<120>;`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrimmedName<const LEN: usize>(String);

impl<const LEN: usize> TrimmedName<LEN> {
    pub const MAX_LEN: usize = LEN;

    /// Parses a client's value, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        trimmed_name(raw, LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A name as people write it (a product's, say): trimmed, 1 to `max_len` characters, no
/// control characters. Services differ in how long they let a name be, not in the rest.
pub fn trimmed_name(raw: &str, max_len: usize) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return invalid("must not be empty");
    }
    if name.chars().count() > max_len {
        return invalid(format!("must be at most {max_len} characters long"));
    }
    if name.chars().any(char::is_control) {
        return invalid("must not contain control characters");
    }
    // A name shows as it is stored: no override of the text's direction (a name reading
    // "abcfed" stored as "abc\u{202e}def"); the marks right-to-left text uses (U+200E,
    // U+200F) are fine.
    if name.chars().any(is_bidi_override) {
        return invalid(
            "must not contain characters that override the text's direction (U+202A to U+202E, U+2066 to U+2069)",
        );
    }
    // Kept for a program's own use, never for text: XML refuses U+FFFE and U+FFFF, so a
    // name holding one broke its product's picture (an SVG) in every browser.
    if name.chars().any(is_noncharacter) {
        return invalid(
            "must not contain Unicode noncharacters (U+FDD0 to U+FDEF, U+FFFE, U+FFFF and the like)",
        );
    }
    if name.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return invalid("must contain a visible character");
    }
    Ok(name.to_owned())
}

/// Unicode's 66 noncharacters: U+FDD0 to U+FDEF, and the last two code points of every
/// plane.
pub fn is_noncharacter(c: char) -> bool {
    matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32) & 0xFFFE == 0xFFFE
}

/// The embeddings, overrides and isolates of Unicode's bidirectional algorithm.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing (zero-width spaces and joiners, the soft hyphen, the
/// byte-order mark, direction marks, the Hangul fillers, the blank Braille pattern): a name
/// of only these looks blank.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{2800}' | '\u{3164}'
            | '\u{FEFF}' | '\u{FFA0}'
    )
}

/// The id a service gives what it creates: a UUIDv7, so that ids sort by creation time,
/// kept hyphenated. `K` is the type of what it names (`pub type OrderId = TimeId<Order>;`),
/// so that one kind of id is never taken for another.
pub struct TimeId<K>(String, PhantomData<fn() -> K>);

impl<K> TimeId<K> {
    /// A fresh id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string(), PhantomData)
    }

    /// An id as a client or the database writes it (any UUID form); `None` for anything
    /// that is not a UUID, which names nothing of this kind.
    pub fn parse(raw: &str) -> Option<Self> {
        let uuid = uuid::Uuid::try_parse(raw).ok()?;
        Some(Self(uuid.hyphenated().to_string(), PhantomData))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<K> Default for TimeId<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Clone for TimeId<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<K> PartialEq for TimeId<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K> Eq for TimeId<K> {}

impl<K> std::hash::Hash for TimeId<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<K> fmt::Debug for TimeId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimeId").field(&self.0).finish()
    }
}

impl<K> fmt::Display for TimeId<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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
    fn slugs_are_lower_case_letters_digits_and_dashes() {
        assert!(is_slug("coffee-tea", 64) && is_slug("a1", 2));
        for bad in ["", "Coffee", "coffee tea", "coffee_tea", "abc"] {
            assert!(!is_slug(bad, 2), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_refused_saying_why() {
        assert_eq!(trimmed_name("  Mug ", 3), Ok("Mug".to_owned()));
        for (raw, why) in [
            (" ", "must not be empty"),
            ("Mugs", "must be at most 3 characters long"),
            ("M\ng", "must not contain control characters"),
            ("\u{200b}", "must contain a visible character"),
            ("\u{200b} \u{feff}", "must contain a visible character"),
            ("\u{3164}", "must contain a visible character"),
            ("\u{2800} \u{115f}", "must contain a visible character"),
        ] {
            assert_eq!(trimmed_name(raw, 3), Err(Invalid(why.into())), "{raw:?}");
        }
        let turned = trimmed_name("abc\u{202e}def", 10).unwrap_err();
        assert!(turned.0.contains("direction"), "{turned:?}");
        assert!(trimmed_name("a\u{2067}b", 10).is_err(), "an isolate");
        for kept_for_programs in ["a\u{ffff}b", "\u{fffe}", "a\u{fdd0}", "a\u{10ffff}"] {
            let refused = trimmed_name(kept_for_programs, 10).unwrap_err();
            assert!(
                refused.0.contains("noncharacters"),
                "{kept_for_programs:?}: {refused:?}"
            );
        }
        // Right-to-left text with its marks, and a joined emoji, are names.
        for fine in ["\u{5e9}\u{5dc}\u{5d5}\u{5dd}\u{200f}", "👩\u{200d}🍳 Chef"] {
            assert_eq!(trimmed_name(fine, 20), Ok(fine.to_owned()), "{fine:?}");
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

/// Property tests of the parsers above: what any input gives, what the documented grammar
/// gives, and where exactly the bounds are.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::testing::strategies::{any_text_up_to, around, parsed_or_refused};
    use proptest::prelude::*;

    /// Characters a product id may not hold.
    fn not_id_char() -> impl Strategy<Value = char> {
        any::<char>().prop_filter("a character outside [A-Za-z0-9_-]", |c| {
            !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        })
    }

    /// A currency, with the ones without minor units well represented.
    fn currency() -> impl Strategy<Value = Currency> {
        prop_oneof![
            "[A-Z]{3}",
            prop::sample::select(vec!["JPY", "KRW", "ISK", "XOF"]).prop_map(str::to_owned),
        ]
        .prop_filter_map("a currency code", |code| Currency::parse(&code).ok())
    }

    /// `ChosenId::<LEN, COLONS>::parse(raw)` against its contract: an id of the grammar is
    /// taken as given up to `LEN` characters and refused naming the limit past it; anything
    /// else is refused.
    fn chosen_id_laws<const LEN: usize, const COLONS: bool>(
        raw: &str,
    ) -> Result<(), TestCaseError> {
        let parse = ChosenId::<LEN, COLONS>::parse;
        let parsed = parsed_or_refused(parse, ChosenId::as_str, raw, raw)?;
        let of_the_grammar = !raw.is_empty()
            && raw.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (COLONS && b == b':')
            });
        if !of_the_grammar {
            prop_assert!(parsed.is_none(), "{:?} was accepted", raw);
        } else if raw.len() <= LEN {
            prop_assert_eq!(parsed.map(|id| id.to_string()), Some(raw.to_owned()));
        } else {
            let limit = format!("must be at most {LEN} characters long");
            prop_assert_eq!(parse(raw).err(), Some(Invalid(limit)));
        }
        Ok(())
    }

    /// `Bounded::<LO, HI>::new(n)` against its contract, serde included.
    fn bounded_keeps_its_bounds<const LO: i64, const HI: i64>(n: i64) -> Result<(), TestCaseError> {
        let parsed = Bounded::<LO, HI>::new(n);
        let from_json = serde_json::from_str::<Bounded<LO, HI>>(&n.to_string());
        if (LO..=HI).contains(&n) {
            prop_assert_eq!(parsed.map(Bounded::get), Ok(n));
            prop_assert_eq!(from_json.ok(), Some(Bounded::<LO, HI>(n)));
            prop_assert_eq!(
                serde_json::to_string(&Bounded::<LO, HI>(n)).ok(),
                Some(n.to_string())
            );
        } else {
            let why = format!("must be between {LO} and {HI}");
            prop_assert_eq!(parsed, Err(Invalid(why.clone())));
            let refused = from_json.err().map(|e| e.to_string()).unwrap_or_default();
            prop_assert!(
                refused.starts_with(&format!("{why}, got {n}")),
                "JSON {} was refused with {:?}",
                n,
                refused
            );
        }
        Ok(())
    }

    proptest! {
        /// Each kind of chosen id the services name: products' and notifications' ids,
        /// payments' `ExternalId`, inventory's `ReservationId`.
        #[test]
        fn any_text_is_a_chosen_id_as_given_or_a_clear_refusal(
            raw in prop_oneof![
                any_text_up_to(2000),
                "[A-Za-z0-9_-]{1,300}",
                "[A-Za-z0-9_:-]{1,200}",
                "[A-Za-z0-9_:/ .-]{0,140}",
            ],
        ) {
            chosen_id_laws::<64, false>(&raw)?;
            chosen_id_laws::<64, WITH_COLONS>(&raw)?;
            chosen_id_laws::<128, WITH_COLONS>(&raw)?;
        }

        #[test]
        fn one_foreign_character_spoils_an_id(
            raw in "[A-Za-z0-9_-]{0,63}",
            bad in not_id_char(),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = raw.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let spoilt: String = chars.into_iter().collect();
            // A multi-byte character may take the id past 64 bytes: refused either way.
            prop_assert!(ProductId::parse(&spoilt).is_err(), "{:?} was accepted", spoilt);
            if spoilt.len() <= ProductId::MAX_LEN {
                prop_assert_eq!(
                    ProductId::parse(&spoilt),
                    Err(Invalid("may contain only letters, digits, `-` and `_`".into()))
                );
            }
        }

        #[test]
        fn product_ids_are_checked_and_refused_as_check_id_does(raw in any_text_up_to(2000)) {
            prop_assert_eq!(
                ProductId::parse(&raw).map(|_| ()),
                check_id(&raw, ProductId::MAX_LEN, b"-_")
            );
        }

        #[test]
        fn any_text_is_a_currency_or_a_clear_refusal_and_serde_agrees(
            raw in prop_oneof![any_text_up_to(2000), "[A-Za-z]{2,4}"],
        ) {
            let parsed = Currency::parse(&raw);
            let from_json = serde_json::from_value::<Currency>(serde_json::Value::String(raw.clone()));
            prop_assert_eq!(from_json.ok(), parsed.clone().ok());
            match parsed {
                Ok(code) => {
                    prop_assert_eq!(code.as_str(), raw.as_str());
                    prop_assert_eq!(Currency::parse(&code.to_string()), Ok(code));
                    prop_assert_eq!(
                        serde_json::to_value(code).ok(),
                        Some(serde_json::Value::String(raw))
                    );
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn three_upper_case_letters_are_a_currency(raw in "[A-Z]{3}") {
            prop_assert_eq!(Currency::parse(&raw).map(|c| c.to_string()), Ok(raw));
        }

        #[test]
        fn a_lower_case_letter_or_a_fourth_letter_spoils_a_currency(
            raw in "[A-Z]{3}",
            at in 0..3usize,
            extra in "[A-Z]",
        ) {
            let mut lowered = raw.clone();
            lowered.replace_range(at..=at, &raw[at..=at].to_ascii_lowercase());
            prop_assert!(Currency::parse(&lowered).is_err(), "{:?} was accepted", lowered);
            let longer = format!("{raw}{extra}");
            prop_assert!(Currency::parse(&longer).is_err(), "{:?} was accepted", longer);
            prop_assert!(Currency::parse(&raw[..2]).is_err(), "{:?} was accepted", &raw[..2]);
        }

        #[test]
        fn every_amount_from_zero_up_is_money_and_none_below(cents in around(0, 0)) {
            let parsed = Cents::new(cents);
            let from_json = serde_json::from_str::<Cents>(&cents.to_string());
            if cents >= 0 {
                prop_assert_eq!(parsed.map(Cents::get), Ok(cents));
                prop_assert_eq!(from_json.map(Cents::get).ok(), Some(cents));
                prop_assert_eq!(
                    serde_json::to_string(&Cents(cents)).ok(),
                    Some(cents.to_string())
                );
            } else {
                prop_assert_eq!(parsed, Err(Invalid("must not be negative".into())));
                prop_assert!(from_json.is_err(), "JSON {} was accepted", cents);
            }
        }

        #[test]
        fn multiplying_money_is_exact_or_none(cents in 0..=i64::MAX, n in any::<i64>()) {
            let exact = i128::from(cents) * i128::from(n);
            let expected = i64::try_from(exact).ok().filter(|c| *c >= 0);
            prop_assert_eq!(Cents(cents).times(n).map(Cents::get), expected);
        }

        #[test]
        fn small_multiples_of_money_are_exact(cents in 0..=100_000_000i64, n in 0..=10_000i64) {
            prop_assert_eq!(Cents(cents).times(n).map(Cents::get), Some(cents * n));
        }

        #[test]
        fn adding_money_is_exact_or_none(a in 0..=i64::MAX, b in 0..=i64::MAX) {
            let exact = i128::from(a) + i128::from(b);
            prop_assert_eq!(
                Cents(a).plus(Cents(b)).map(Cents::get),
                i64::try_from(exact).ok()
            );
            prop_assert_eq!(Cents(a).plus(Cents(b)), Cents(b).plus(Cents(a)));
        }

        #[test]
        fn money_as_displayed_reads_back_as_the_same_cents(
            cents in prop_oneof![0..1000i64, 0..=i64::MAX],
            currency in currency(),
        ) {
            let shown = Cents(cents).display(currency);
            let Some((number, code)) = shown.split_once(' ') else {
                return Err(TestCaseError::fail(format!("{shown:?} has no space")));
            };
            prop_assert_eq!(code, currency.as_str());
            let decimals = currency.decimals() as usize;
            match number.split_once('.') {
                Some((whole, fraction)) => {
                    prop_assert_eq!(fraction.len(), decimals, "{:?}", shown);
                    prop_assert!(!whole.is_empty(), "{:?}", shown);
                }
                None => prop_assert_eq!(decimals, 0, "{:?}", shown),
            }
            prop_assert!(
                number.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "{:?}",
                shown
            );
            prop_assert_eq!(number.replace('.', "").parse::<i64>().ok(), Some(cents));
        }

        #[test]
        fn any_id_is_accepted_or_refused_with_the_right_reason(
            raw in prop_oneof![any_text_up_to(2000), "[a-z0-9:./_-]{0,20}"],
            max_len in 1..80usize,
            extra in prop::sample::select(vec![&b""[..], b"-_", b"-_:", b"._:-"]),
        ) {
            let allowed = |c: char| c.is_ascii_alphanumeric() || (c.is_ascii() && extra.contains(&(c as u8)));
            match check_id(&raw, max_len, extra) {
                Ok(()) => {
                    prop_assert!((1..=max_len).contains(&raw.len()), "{:?}", raw);
                    prop_assert!(raw.chars().all(allowed), "{:?}", raw);
                }
                Err(Invalid(why)) if raw.is_empty() => prop_assert_eq!(why, "must not be empty"),
                Err(Invalid(why)) if raw.len() > max_len => {
                    prop_assert_eq!(why, format!("must be at most {max_len} characters long"));
                }
                Err(Invalid(why)) => {
                    prop_assert!(!raw.chars().all(allowed), "{:?} refused: {}", raw, why);
                    prop_assert!(why.starts_with("may contain only letters"), "{}", why);
                    for b in extra {
                        let shown = format!("`{}`", char::from(*b));
                        prop_assert!(why.contains(&shown), "{} does not name {}", why, shown);
                    }
                }
            }
        }

        #[test]
        fn quantities_are_exactly_the_numbers_within_their_bounds(n in around(1, 99)) {
            bounded_keeps_its_bounds::<1, 99>(n)?;
        }

        #[test]
        fn stock_levels_are_exactly_the_numbers_within_their_bounds(n in around(0, 1_000_000)) {
            bounded_keeps_its_bounds::<0, 1_000_000>(n)?;
        }

        #[test]
        fn bounds_reaching_the_ends_of_i64_hold_there_too(n in around(i64::MIN + 1, i64::MAX)) {
            bounded_keeps_its_bounds::<{ i64::MIN + 1 }, { i64::MAX }>(n)?;
            bounded_keeps_its_bounds::<-5, 5>(n)?;
        }
    }
}
