//! The notifications domain: values parsed at the boundary (from another service's event
//! or a request), money as shoppers read it, and the message a user receives.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

use platform::domain::{Bounded, Cents, ChosenId, invalid};
pub use platform::domain::{Currency, Invalid};

/// The id of an aggregate another service issued (a user, an order): 1 to 64 ASCII
/// letters, digits, `-` and `_`. Their UUID form is not insisted on, so notifications is
/// not coupled to how other services make ids.
pub type Id = ChosenId<64>;

/// The short form of an id shown to shoppers: `#` and the last 8 characters, upper-cased.
/// The last ones, because the first characters of a UUIDv7 are its timestamp and orders
/// placed within a minute of each other would share them.
pub fn short(id: &Id) -> String {
    let raw = id.as_str();
    let start = raw.len().saturating_sub(8);
    format!("#{}", raw[start..].to_ascii_uppercase())
}

/// A deliverable email address (what `lettre` accepts as a recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return invalid(format!("must be 1 to {} characters long", Self::MAX_LEN));
        }
        raw.parse::<lettre::Address>()
            .map_err(|e| Invalid(format!("is not an email address ({e})")))?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a shopper is greeted: their name with control characters and runs of white space
/// folded into single spaces, at most 100 characters. A name that is blank after that is
/// no name (the message greets "Hello" instead), never an error: a missing greeting is
/// no reason to withhold a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Option<Self> {
        let folded = fold_text(raw, Self::MAX_CHARS);
        (!folded.is_empty()).then_some(Self(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text fit for one line of an email: control characters and white space runs become one
/// space, trimmed, cut at `max` characters (with `…` when cut).
pub(crate) fn fold_text(raw: &str, max: usize) -> String {
    let words: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let folded = words.join(" ");
    if folded.chars().count() <= max {
        folded
    } else {
        let cut: String = folded.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// A product's name on one line of an order email (at most 80 characters; a nameless
/// product is "an item").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemName(String);

impl ItemName {
    pub const MAX_CHARS: usize = 80;

    pub fn parse(raw: &str) -> Self {
        let folded = fold_text(raw, Self::MAX_CHARS);
        if folded.is_empty() {
            Self("An item".to_owned())
        } else {
            Self(folded)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in a currency, as a shopper reads it in a message: its own display
/// (`$1,234.56`), not the platform's plain `1234.56 USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    cents: Cents,
    currency: Currency,
}

impl Money {
    pub fn new(cents: i64, currency: Currency) -> Result<Self, Invalid> {
        Ok(Self {
            cents: Cents::new(cents)?,
            currency,
        })
    }

    pub fn cents(self) -> i64 {
        self.cents.get()
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    /// `self` times `quantity`, unless that overflows.
    pub fn times(self, quantity: Quantity) -> Option<Self> {
        self.cents.times(quantity.get()).map(|cents| Self {
            cents,
            currency: self.currency,
        })
    }
}

/// The symbol written before an amount, for the currencies that have a familiar one.
fn symbol(currency: Currency) -> Option<&'static str> {
    match currency.as_str() {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        _ => None,
    }
}

/// As a shopper reads it: `$1,234.56`, `€0.99`, `¥1,200`, or `12.00 CHF`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = self.currency.decimals();
        let unit = 10_i64.pow(decimals);
        let (major, minor) = (self.cents() / unit, self.cents() % unit);
        let digits = major.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(d);
        }
        let number = if decimals == 0 {
            grouped
        } else {
            format!("{grouped}.{minor:0width$}", width = decimals as usize)
        };
        match symbol(self.currency) {
            Some(symbol) => write!(f, "{symbol}{number}"),
            None => write!(f, "{number} {}", self.currency.as_str()),
        }
    }
}

/// How many units of a product an order line holds: 1 to 10 000.
pub type Quantity = Bounded<1, 10_000>;

/// One line of an order, as its emails list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub name: ItemName,
    pub unit_price: Money,
    pub quantity: Quantity,
}

/// Why an order was cancelled, as the orders service names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    PaymentDeclined,
    InsufficientStock,
    PaymentError,
    Expired,
    /// The checkout stopped midway (a crash, inventory unreachable).
    Interrupted,
    /// The cart no longer held what the checkout read: another checkout of it (another
    /// tab, another device) went through first, or the shopper changed it meanwhile.
    CartChanged,
    /// A reason this service does not know yet (orders may add some): still worth
    /// telling, in words.
    Other(String),
}

impl CancelReason {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "payment_declined" => Self::PaymentDeclined,
            "insufficient_stock" => Self::InsufficientStock,
            "payment_error" => Self::PaymentError,
            "expired" => Self::Expired,
            "interrupted" => Self::Interrupted,
            "cart_changed" => Self::CartChanged,
            // Shown to the shopper: `fraud_review` reads as "fraud review".
            other => Self::Other(fold_text(&other.replace('_', " "), 40)),
        }
    }
}

/// Why a card was declined, as payments names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
    /// Another code, or none: the message payments gave is shown instead.
    Other,
}

impl DeclineCode {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("card_declined") => Self::CardDeclined,
            Some("insufficient_funds") => Self::InsufficientFunds,
            _ => Self::Other,
        }
    }
}

/// What a message is about; stored and shown as its `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Sent once an account exists.
    Welcome,
    /// An order went through: stock reserved and payment taken.
    OrderConfirmed,
    /// An order could not be completed; nothing was charged.
    OrderCancelled,
    /// A card was declined at checkout.
    PaymentFailed,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::OrderConfirmed => "order_confirmed",
            Self::OrderCancelled => "order_cancelled",
            Self::PaymentFailed => "payment_failed",
        }
    }
}

/// What happened to a message's email copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailStatus {
    /// Waiting for the mail worker (or for its next try).
    Pending,
    /// A worker holds it and is sending it now (until its lease runs out).
    Sending,
    /// The SMTP server accepted it.
    Sent,
    /// Every try failed, or there is no address to send it to.
    Failed,
    /// Email is not configured (`BAZAAR_SMTP_URL`): mailbox only.
    Skipped,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// How many messages one listing returns: 1 to 100.
pub type Limit = Bounded<1, 100>;

/// A message in a user's mailbox, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// The message's id (time-ordered); also the `id` of its server-sent event.
    #[schema(example = "0193f1c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    pub kind: MessageKind,
    #[schema(example = "Your order #8A9C0D11 is confirmed")]
    pub subject: String,
    /// Plain text, lines separated by `\n`: the email's body.
    pub body: String,
    /// When it was written, RFC 3339 UTC.
    #[schema(example = "2026-11-27T01:02:03.456Z")]
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::parse("USD").unwrap()).unwrap()
    }

    #[test]
    fn ids_are_short_slugs_with_a_short_form_from_their_end() {
        let id = Id::parse("0193f1c2-7b1e-7cc0-9f1d-2b4e8a9c0d11").unwrap();
        assert_eq!(short(&id), "#8A9C0D11");
        assert_eq!(short(&Id::parse("ab").unwrap()), "#AB");
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(Id::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn email_addresses_are_what_smtp_can_deliver_to() {
        assert_eq!(
            EmailAddress::parse(" sam@example.com ").unwrap().as_str(),
            "sam@example.com"
        );
        for bad in ["", "sam", "sam@", "@example.com", "a b@example.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_are_folded_onto_one_line_and_blank_ones_are_none() {
        assert_eq!(
            DisplayName::parse("  Sam \r\n Shopper\t").unwrap().as_str(),
            "Sam Shopper"
        );
        assert_eq!(DisplayName::parse(" \n "), None);
        let long = DisplayName::parse(&"n".repeat(300)).unwrap();
        assert_eq!(long.as_str().chars().count(), DisplayName::MAX_CHARS);
        assert!(long.as_str().ends_with('…'));
        assert_eq!(ItemName::parse("").as_str(), "An item");
    }

    #[test]
    fn money_reads_like_a_price_tag() {
        let cases = [
            (1234, "USD", "$12.34"),
            (5, "USD", "$0.05"),
            (0, "USD", "$0.00"),
            (123_456_789, "USD", "$1,234,567.89"),
            (99, "EUR", "€0.99"),
            (100_000, "GBP", "£1,000.00"),
            (1200, "JPY", "¥1,200"),
            (1200, "CHF", "12.00 CHF"),
        ];
        for (cents, currency, shown) in cases {
            let m = Money::new(cents, Currency::parse(currency).unwrap()).unwrap();
            assert_eq!(m.to_string(), shown, "{cents} {currency}");
        }
        assert!(Money::new(-1, Currency::parse("USD").unwrap()).is_err());
    }

    #[test]
    fn line_totals_multiply_and_refuse_overflow() {
        let q = Quantity::new(3).unwrap();
        assert_eq!(usd(1299).times(q).unwrap().cents(), 3897);
        assert_eq!(usd(i64::MAX / 2).times(q), None);
        for bad in [0, -1, Quantity::MAX + 1] {
            assert!(Quantity::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_and_codes_are_known_or_kept() {
        assert_eq!(
            CancelReason::parse("insufficient_stock"),
            CancelReason::InsufficientStock
        );
        assert_eq!(
            CancelReason::parse("fraud_suspected"),
            CancelReason::Other("fraud suspected".into())
        );
        assert_eq!(
            DeclineCode::parse(Some("insufficient_funds")),
            DeclineCode::InsufficientFunds
        );
        assert_eq!(DeclineCode::parse(None), DeclineCode::Other);
    }

    #[test]
    fn kinds_are_snake_case_everywhere() {
        for k in [
            MessageKind::Welcome,
            MessageKind::OrderConfirmed,
            MessageKind::OrderCancelled,
            MessageKind::PaymentFailed,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
