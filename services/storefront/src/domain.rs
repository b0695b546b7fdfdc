//! What the storefront accepts from browsers, parsed at the boundary: ids that go into
//! upstream URLs, quantities, prices typed by people, the checkout form; and how money,
//! dates and stock read on a page.

use platform::FieldError;
use serde::Serialize;
use std::fmt;

/// Why a value was refused, in words fit for the page next to the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// A product's id as the catalog gives it: a UUID, kept in lower-case hyphenated form so
/// that it is safe to put in an upstream URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductId(String);

impl ProductId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match uuid::Uuid::try_parse(raw.trim()) {
            Ok(id) => Ok(Self(id.hyphenated().to_string())),
            Err(_) => invalid("is not a product id"),
        }
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

/// Whether `raw` is 1 to `max_len` bytes, each of them `allowed`: a value that can go into
/// a URL path or a cookie as it is.
pub fn is_token(raw: &str, max_len: usize, allowed: impl Fn(u8) -> bool) -> bool {
    (1..=max_len).contains(&raw.len()) && raw.bytes().all(allowed)
}

/// `raw` as a token (see [`is_token`]), or `why` not.
fn token(
    raw: &str,
    max_len: usize,
    allowed: impl Fn(u8) -> bool,
    why: &str,
) -> Result<String, Invalid> {
    if is_token(raw, max_len, allowed) {
        Ok(raw.to_owned())
    } else {
        invalid(why)
    }
}

/// A letter, a digit, `-` or `_`: what ids and opaque cookie values are made of.
pub fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Any other id that goes into an upstream path (an order, a dead letter): 1 to 100
/// characters of letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathId(String);

impl PathId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        token(raw, 100, is_id_byte, "is not an id").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category's id, a slug (`coffee-tea`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryId(String);

impl CategoryId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if platform::domain::is_slug(raw, 64) {
            Ok(Self(raw.to_owned()))
        } else {
            invalid("is not a category")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many units of a product go in the cart: 1 to 99, as the cart allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 99;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().parse::<i64>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            Ok(_) => invalid(format!("must be between 1 and {}", Self::MAX)),
            Err(_) => invalid("must be a whole number"),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A price typed by a shopper in major units (`12`, `12.5`, `$1,299.99`), as cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceInput(i64);

impl PriceInput {
    /// The most a filter may say: a million in major units.
    pub const MAX_CENTS: i64 = 100_000_000;

    /// Parses a non-empty value; an empty one is "no filter" and is the caller's business.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let cleaned: String = raw
            .trim()
            .trim_start_matches(['$', '€', '£'])
            .chars()
            .filter(|c| *c != ',' && !c.is_whitespace())
            .collect();
        let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || !digits(whole)
            || !digits(fraction)
            || fraction.len() > 2
            || whole.len() > 9
        {
            return invalid("must be an amount like 25 or 19.99");
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| Invalid("must be an amount like 25 or 19.99".into()))?
        };
        let fraction: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().unwrap_or(0) * 10,
            _ => fraction.parse::<i64>().unwrap_or(0),
        };
        let cents = whole * 100 + fraction;
        if cents > Self::MAX_CENTS {
            return invalid("is too large");
        }
        Ok(Self(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// The value as a shopper would type it back (`12.50` → `12.5` is not done: `12.50`).
    pub fn display(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// An order a list of products can be sorted in: named in URLs and the APIs, and offered
/// in a `<select>`.
pub trait SortOrder: Copy + Default + PartialEq + 'static {
    /// Every order, as offered.
    const ALL: &'static [Self];

    /// The name in URLs and the APIs.
    fn as_str(self) -> &'static str;

    /// The name a shopper reads.
    fn label(self) -> &'static str;

    /// An unknown value falls back to the default order: it came from a URL.
    fn parse(raw: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == raw)
            .unwrap_or_default()
    }

    /// The value of a link's `sort` parameter: empty for the default order.
    fn in_link(self) -> String {
        if self == Self::default() {
            String::new()
        } else {
            self.as_str().to_owned()
        }
    }
}

/// The order of a category listing, as the catalog names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListingSort {
    #[default]
    Name,
    PriceAsc,
    PriceDesc,
    Newest,
}

impl SortOrder for ListingSort {
    const ALL: &'static [Self] = &[
        ListingSort::Name,
        ListingSort::PriceAsc,
        ListingSort::PriceDesc,
        ListingSort::Newest,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ListingSort::Name => "name",
            ListingSort::PriceAsc => "price_asc",
            ListingSort::PriceDesc => "price_desc",
            ListingSort::Newest => "newest",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ListingSort::Name => "Name, A to Z",
            ListingSort::PriceAsc => "Price, low to high",
            ListingSort::PriceDesc => "Price, high to low",
            ListingSort::Newest => "Newest first",
        }
    }
}

/// The order of search results, as the search service names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchSort {
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
}

/// Every order but relevance is the catalog's, named and labelled alike.
impl SortOrder for SearchSort {
    const ALL: &'static [Self] = &[
        SearchSort::Relevance,
        SearchSort::PriceAsc,
        SearchSort::PriceDesc,
        SearchSort::Newest,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SearchSort::Relevance => "relevance",
            other => other.for_catalog().as_str(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            SearchSort::Relevance => "Best match",
            other => other.for_catalog().label(),
        }
    }
}

impl SearchSort {
    /// The catalog's order closest to this one (the fallback when search is down).
    pub fn for_catalog(self) -> ListingSort {
        match self {
            SearchSort::Relevance => ListingSort::Name,
            SearchSort::PriceAsc => ListingSort::PriceAsc,
            SearchSort::PriceDesc => ListingSort::PriceDesc,
            SearchSort::Newest => ListingSort::Newest,
        }
    }
}

/// A page number from a URL: 1 to 10 000; anything else is page 1.
pub fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| (1..=10_000).contains(p))
        .unwrap_or(1)
}

/// What a shopper searches for: trimmed, at most [`SearchText::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return invalid(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if text.chars().any(char::is_control) {
            return invalid("must not contain control characters");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where to go after signing in: a path on this site only (never `//elsewhere`).
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Money as shoppers read it: `$1,234.50`, `€9.99`, `12.00 CHF`.
pub fn format_money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let amount = format!("{grouped}.{:02}", abs % 100);
    match currency {
        "USD" => format!("{sign}${amount}"),
        "EUR" => format!("{sign}€{amount}"),
        "GBP" => format!("{sign}£{amount}"),
        other => format!("{sign}{amount} {other}"),
    }
}

/// An RFC 3339 time as a page shows it (`12 Mar 2025, 14:03 UTC`); anything else as is.
pub fn format_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%-d %b %Y, %H:%M UTC")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// The time of day of an RFC 3339 time (`14:03:09`); anything else as is.
pub fn format_clock(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%H:%M:%S").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// The first characters of an id, enough for a person to tell orders apart.
pub fn short_id(id: &str) -> String {
    let tail: String = id.chars().filter(|c| *c != '-').collect();
    let n = tail.chars().count();
    tail.chars()
        .skip(n.saturating_sub(8))
        .collect::<String>()
        .to_uppercase()
}

/// Whether a product can be bought, as the product page says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StockStatus {
    InStock {
        available: i64,
    },
    Low {
        available: i64,
    },
    OutOfStock,
    Discontinued,
    /// Inventory could not be asked.
    Unknown,
}

impl StockStatus {
    pub fn new(available: i64, discontinued: bool, low_threshold: i64) -> Self {
        if discontinued {
            StockStatus::Discontinued
        } else if available <= 0 {
            StockStatus::OutOfStock
        } else if available <= low_threshold {
            StockStatus::Low { available }
        } else {
            StockStatus::InStock { available }
        }
    }

    pub fn label(&self) -> String {
        match self {
            StockStatus::InStock { .. } => "In stock".into(),
            StockStatus::Low { available } => format!("Only {available} left"),
            StockStatus::OutOfStock => "Out of stock".into(),
            StockStatus::Discontinued => "No longer sold".into(),
            StockStatus::Unknown => "Stock information is unavailable right now".into(),
        }
    }

    /// Whether the add-to-cart form is offered.
    pub fn can_buy(&self) -> bool {
        matches!(
            self,
            StockStatus::InStock { .. } | StockStatus::Low { .. } | StockStatus::Unknown
        )
    }

    /// The most the quantity field offers.
    pub fn max_quantity(&self) -> i64 {
        match self {
            StockStatus::InStock { available } | StockStatus::Low { available } => {
                (*available).min(Quantity::MAX)
            }
            _ => Quantity::MAX,
        }
    }
}

/// The checkout form as the browser sends it: every field text, none trusted.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct CheckoutForm {
    pub idempotency_key: String,
    /// The cart's total the form showed, in minor units (a hidden field).
    pub expected_total_cents: String,
    pub name: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub card_number: String,
    pub exp_month: String,
    pub exp_year: String,
    pub cvc: String,
}

/// A checkout the orders service can be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub idempotency_key: String,
    /// The total the shopper was shown: orders refuses the checkout if the cart's total
    /// changed since (a price did), rather than charging what they did not see.
    pub expected_total_cents: Option<i64>,
    pub address: Address,
    pub card: Card,
}

/// Where an order goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// A payment card, held only for the length of the request.
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: String,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last4: String = self
            .number
            .chars()
            .skip(self.number.len().saturating_sub(4))
            .collect();
        write!(f, "Card(…{last4})")
    }
}

impl CheckoutForm {
    /// The longest address field the orders service takes.
    pub const MAX_FIELD: usize = 200;

    /// Parses the form, naming every bad field (with the form's own field names).
    pub fn parse(&self) -> Result<Checkout, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut text = |field: &str, raw: &str, what: &str| {
            let v = raw.trim();
            if v.is_empty() {
                errors.push(FieldError::new(field, format!("Enter {what}.")));
            } else if v.chars().count() > Self::MAX_FIELD {
                errors.push(FieldError::new(
                    field,
                    format!("Use at most {} characters.", Self::MAX_FIELD),
                ));
            }
            v.to_owned()
        };
        let name = text("name", &self.name, "the name for the delivery");
        let line1 = text("line1", &self.line1, "the street address");
        let city = text("city", &self.city, "the town or city");
        let postal_code = text("postal_code", &self.postal_code, "the postal code");
        let country = self.country.trim().to_ascii_uppercase();
        if !platform::domain::is_country(&country) {
            errors.push(FieldError::new(
                "country",
                "Enter the two-letter country code, like US or DE.",
            ));
        }
        let number: String = self
            .card_number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if number.is_empty() {
            errors.push(FieldError::new("card_number", "Enter the card number."));
        } else if let Err(why) = platform::domain::card::CardNumber::parse(&number) {
            // Checked as orders and payments will (digits, a length its brand can have,
            // the check digit), so that it is named with the form's other mistakes.
            errors.push(FieldError::new(
                "card_number",
                format!("The card number {}.", why.0),
            ));
        }
        let exp_month = match self.exp_month.trim().parse::<i64>() {
            Ok(m) if (1..=12).contains(&m) => m,
            _ => {
                errors.push(FieldError::new(
                    "exp_month",
                    "Enter the expiry month, 1 to 12.",
                ));
                0
            }
        };
        let exp_year = match self.exp_year.trim() {
            y if y.len() == 2 && y.bytes().all(|b| b.is_ascii_digit()) => {
                2000 + y.parse::<i64>().unwrap_or(0)
            }
            y if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
                y.parse::<i64>().unwrap_or(0)
            }
            _ => {
                errors.push(FieldError::new(
                    "exp_year",
                    "Enter the expiry year, like 2030.",
                ));
                0
            }
        };
        let cvc = self.cvc.trim().to_owned();
        if !((3..=4).contains(&cvc.len()) && cvc.bytes().all(|b| b.is_ascii_digit())) {
            errors.push(FieldError::new(
                "cvc",
                "Enter the 3 or 4 digits on the back of the card.",
            ));
        }
        let key = self.idempotency_key.trim();
        let key_ok = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        if !key_ok {
            errors.push(FieldError::new(
                "idempotency_key",
                "This form has expired; please submit it again.",
            ));
        }
        let expected_total_cents = match self.expected_total_cents.trim() {
            "" => None,
            shown => match shown.parse::<i64>() {
                Ok(cents) if cents >= 0 => Some(cents),
                _ => {
                    errors.push(FieldError::new(
                        "idempotency_key",
                        "This form has expired; please submit it again.",
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Checkout {
            idempotency_key: key.to_owned(),
            expected_total_cents,
            address: Address {
                name,
                line1,
                city,
                postal_code,
                country,
            },
            card: Card {
                number,
                exp_month,
                exp_year,
                cvc,
            },
        })
    }
}

/// The checkout form's field an API's field name is about (`shipping_address.city` →
/// `city`, `payment.card_number` or payments' `card.number` → `card_number`), or `None`
/// when it is about no field of the form.
pub fn checkout_field(api_field: &str) -> Option<&'static str> {
    let leaf = api_field.rsplit('.').next().unwrap_or(api_field);
    let in_card = api_field.starts_with("payment") || api_field.starts_with("card");
    let field = match leaf {
        "name" => "name",
        "line1" => "line1",
        "city" => "city",
        "postal_code" => "postal_code",
        "country" => "country",
        "card_number" => "card_number",
        "number" if in_card => "card_number",
        "exp_month" => "exp_month",
        "exp_year" => "exp_year",
        "cvc" => "cvc",
        _ => return None,
    };
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_uuids_in_one_form() {
        let id = ProductId::parse("0193A5C2-7B1E-7CC0-9F1D-2B4E8A9C0D11").unwrap();
        assert_eq!(id.as_str(), "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11");
        for bad in [
            "",
            "../../admin",
            "abc",
            "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d1/x",
        ] {
            assert!(ProductId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn path_ids_cannot_leave_their_segment() {
        assert!(PathId::parse("0193a5c2-7b1e_x").is_ok());
        for bad in ["", "a/b", "..", "a b", "a?b", &"x".repeat(101)] {
            assert!(PathId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn category_ids_are_slugs() {
        assert!(CategoryId::parse("coffee-tea").is_ok());
        for bad in ["", "Coffee", "a/b", "a b", &"a".repeat(65)] {
            assert!(CategoryId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert_eq!(Quantity::parse(" 2 ").unwrap().get(), 2);
        assert_eq!(Quantity::parse("99").unwrap().get(), 99);
        for (bad, why) in [
            ("0", "between"),
            ("100", "between"),
            ("-1", "between"),
            ("x", "whole"),
            ("1.5", "whole"),
            ("", "whole"),
        ] {
            let err = Quantity::parse(bad).unwrap_err();
            assert!(err.0.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn prices_are_read_as_people_type_them() {
        for (raw, cents) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.05", 1205),
            ("$1,299.99", 129_999),
            (" 0 ", 0),
            (".5", 50),
        ] {
            assert_eq!(
                PriceInput::parse(raw).map(|p| p.cents()),
                Ok(cents),
                "{raw}"
            );
        }
        for bad in ["", "abc", "1.234", "-5", "1e3", ".", "1.2.3", "99999999999"] {
            assert!(PriceInput::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(PriceInput::parse("12.5").unwrap().display(), "12.50");
    }

    #[test]
    fn unknown_sorts_fall_back_to_the_default() {
        assert_eq!(ListingSort::parse("price_desc"), ListingSort::PriceDesc);
        assert_eq!(ListingSort::parse("drop table"), ListingSort::Name);
        assert_eq!(SearchSort::parse("newest"), SearchSort::Newest);
        assert_eq!(SearchSort::parse(""), SearchSort::Relevance);
        assert_eq!(SearchSort::Relevance.for_catalog(), ListingSort::Name);
        let names: Vec<_> = SearchSort::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["relevance", "price_asc", "price_desc", "newest"]);
    }

    #[test]
    fn page_numbers_default_to_one() {
        assert_eq!(page_number(Some("3")), 3);
        for bad in [None, Some("0"), Some("-2"), Some("x"), Some("10001")] {
            assert_eq!(page_number(bad), 1, "{bad:?}");
        }
    }

    #[test]
    fn search_text_is_trimmed_and_bounded() {
        assert_eq!(SearchText::parse("  mug ").unwrap().as_str(), "mug");
        assert!(SearchText::parse(&"é".repeat(100)).is_ok());
        assert!(SearchText::parse(&"a".repeat(101)).is_err());
        assert!(SearchText::parse("a\u{0}b").is_err());
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/orders?page=2")), "/orders?page=2");
        for bad in [
            None,
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("orders"),
            Some("/a\nb"),
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn money_reads_like_money() {
        assert_eq!(format_money(123_456, "USD"), "$1,234.56");
        assert_eq!(format_money(5, "EUR"), "€0.05");
        assert_eq!(format_money(100_000_000, "GBP"), "£1,000,000.00");
        assert_eq!(format_money(-250, "USD"), "-$2.50");
        assert_eq!(format_money(1200, "CHF"), "12.00 CHF");
    }

    #[test]
    fn times_and_ids_read_like_a_receipt() {
        assert_eq!(
            format_time("2025-03-12T14:03:09.123Z"),
            "12 Mar 2025, 14:03 UTC"
        );
        assert_eq!(format_time("yesterday"), "yesterday");
        assert_eq!(format_clock("2025-03-12T14:03:09.123Z"), "14:03:09");
        assert_eq!(short_id("0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11"), "8A9C0D11");
    }

    #[test]
    fn stock_reads_as_a_shopper_needs_it() {
        assert_eq!(StockStatus::new(40, false, 5).label(), "In stock");
        assert_eq!(StockStatus::new(3, false, 5).label(), "Only 3 left");
        assert_eq!(StockStatus::new(0, false, 5).label(), "Out of stock");
        assert_eq!(StockStatus::new(9, true, 5), StockStatus::Discontinued);
        assert!(!StockStatus::OutOfStock.can_buy());
        assert!(StockStatus::Unknown.can_buy(), "the cart decides then");
        assert_eq!(StockStatus::new(3, false, 5).max_quantity(), 3);
        assert_eq!(StockStatus::new(500, false, 5).max_quantity(), 99);
    }

    fn form() -> CheckoutForm {
        CheckoutForm {
            idempotency_key: "k-1".into(),
            expected_total_cents: "2598".into(),
            name: "Ada Shopper".into(),
            line1: "1 Analytical Way".into(),
            city: "London".into(),
            postal_code: "N1 9GU".into(),
            country: "gb".into(),
            card_number: "4242 4242 4242 4242".into(),
            exp_month: "12".into(),
            exp_year: "34".into(),
            cvc: "123".into(),
        }
    }

    #[test]
    fn a_good_checkout_form_parses() {
        let c = form().parse().unwrap();
        assert_eq!(c.card.number, "4242424242424242");
        assert_eq!(c.card.exp_year, 2034);
        assert_eq!(c.address.country, "GB");
        assert_eq!(c.expected_total_cents, Some(2598));
        let without_total = CheckoutForm {
            expected_total_cents: " ".into(),
            ..form()
        };
        assert_eq!(without_total.parse().unwrap().expected_total_cents, None);
        assert_eq!(
            format!("{:?}", c.card),
            "Card(…4242)",
            "never the whole number"
        );
    }

    #[test]
    fn a_bad_checkout_form_names_each_field() {
        type Change = Box<dyn Fn(&mut CheckoutForm)>;
        let cases: Vec<(&str, Change)> = vec![
            ("name", Box::new(|f| f.name = "  ".into())),
            ("line1", Box::new(|f| f.line1 = "x".repeat(201))),
            ("city", Box::new(|f| f.city.clear())),
            ("postal_code", Box::new(|f| f.postal_code.clear())),
            ("country", Box::new(|f| f.country = "GBR".into())),
            ("country", Box::new(|f| f.country = "xx".into())),
            ("card_number", Box::new(|f| f.card_number = "4242".into())),
            (
                "card_number",
                Box::new(|f| f.card_number = "4242x4242x4242".into()),
            ),
            (
                "card_number",
                Box::new(|f| f.card_number = "4242 4242 4242 4241".into()),
            ),
            ("exp_month", Box::new(|f| f.exp_month = "13".into())),
            ("exp_year", Box::new(|f| f.exp_year = "203".into())),
            ("cvc", Box::new(|f| f.cvc = "12".into())),
            ("idempotency_key", Box::new(|f| f.idempotency_key.clear())),
            (
                "idempotency_key",
                Box::new(|f| f.expected_total_cents = "-5".into()),
            ),
        ];
        for (field, change) in cases {
            let mut f = form();
            change(&mut f);
            let errors = f.parse().unwrap_err();
            assert_eq!(errors.len(), 1, "{field}: {errors:?}");
            assert_eq!(errors[0].field, field);
        }
    }

    #[test]
    fn api_fields_map_to_form_fields() {
        for (api, form) in [
            ("shipping_address.city", Some("city")),
            ("shipping_address.name", Some("name")),
            ("payment.card_number", Some("card_number")),
            ("card.number", Some("card_number")),
            ("payment.exp_month", Some("exp_month")),
            ("card.cvc", Some("cvc")),
            ("cart", None),
            ("items[0].quantity", None),
        ] {
            assert_eq!(checkout_field(api), form, "{api}");
        }
    }
}
