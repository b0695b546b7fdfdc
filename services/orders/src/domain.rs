//! The orders domain: checkout input parsed into types at the boundary, the basket taken
//! from the cart, and an order with the state machine of its saga.

pub use platform::domain::Invalid;
use platform::domain::{TimeId, invalid, trimmed_name};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use utoipa::ToSchema;

/// An order's id: a UUIDv7, so that ids sort by creation time. It is also the id of the
/// order's stock reservation.
pub type OrderId = TimeId<Order>;

/// The client's `Idempotency-Key`: 1 to 255 printable ASCII characters, unique per user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// Parses the header's value (`None` when the header is missing).
    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        let Some(raw) = raw else {
            return invalid("is required: send a unique key per checkout (a UUID, say)");
        };
        if raw.is_empty() {
            return invalid("must not be empty");
        }
        if raw.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return invalid("may contain only printable ASCII characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One line of a shipping address: 1 to 200 characters once trimmed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressText(String);

impl AddressText {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        trimmed_name(raw, Self::MAX_LEN).map(Self)
    }

    /// A value read back from the database, where only parsed values are written.
    pub(crate) fn trusted(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 3166-1 alpha-2 country code (`DE`): one of those assigned to a country or
/// territory; lower case is accepted and upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code = raw.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return invalid("must be a two-letter country code (ISO 3166-1 alpha-2, e.g. `DE`)");
        }
        let code = code.to_ascii_uppercase();
        if !platform::domain::is_country(&code) {
            return Err(Invalid(format!(
                "`{code}` is not a country code ISO 3166-1 assigns (alpha-2, e.g. `DE`)"
            )));
        }
        Ok(Self(code))
    }

    pub(crate) fn trusted(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an order goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingAddress {
    /// Who receives the parcel.
    pub name: AddressText,
    /// Street and number.
    pub line1: AddressText,
    pub city: AddressText,
    pub postal_code: AddressText,
    pub country: CountryCode,
}

/// The card a checkout pays with. It lives only in memory for the duration of the
/// request: it is never written to the database nor logged (`Debug` shows the last four
/// digits only). Orders checks it as payments does (`platform::domain::card`), so that a
/// mistyped card is refused before any order is made; payments decides whether it pays.
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    number: String,
    exp_month: i64,
    exp_year: i64,
    cvc: String,
}

impl Card {
    /// A card of checked parts (see `routes::CheckoutRequest::parse`).
    pub fn new(number: String, exp_month: i64, exp_year: i64, cvc: String) -> Self {
        Self {
            number,
            exp_month,
            exp_year,
            cvc,
        }
    }

    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn exp_month(&self) -> i64 {
        self.exp_month
    }

    pub fn exp_year(&self) -> i64 {
        self.exp_year
    }

    pub fn cvc(&self) -> &str {
        &self.cvc
    }

    /// The last four digits, the only part of the number that is ever kept or shown.
    pub fn last4(&self) -> &str {
        &self.number[self.number.len().saturating_sub(4)..]
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("last4", &self.last4())
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

/// What a checkout request asks for, parsed.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub address: ShippingAddress,
    pub card: Card,
}

impl Checkout {
    /// A fingerprint of the request, stored with the order to tell "the same request
    /// again" from "another request with a reused key". It covers the address and the
    /// card's last four digits and expiry: never the full number nor the code, since a
    /// plain hash of a card number can be reversed by trying every number.
    pub fn fingerprint(&self) -> String {
        let a = &self.address;
        let canonical = serde_json::json!({
            "shipping_address": {
                "name": a.name.as_str(),
                "line1": a.line1.as_str(),
                "city": a.city.as_str(),
                "postal_code": a.postal_code.as_str(),
                "country": a.country.as_str(),
            },
            "card": {
                "last4": self.card.last4(),
                "exp_month": self.card.exp_month,
                "exp_year": self.card.exp_year,
            }
        });
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The signed-in user who checks out, from the token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The user's id (the token's `sub`).
    pub id: String,
    pub email: String,
    pub name: String,
}

/// A three-letter ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() != 3 || !raw.bytes().all(|b| b.is_ascii_uppercase()) {
            return invalid("must be a three-letter upper-case currency code");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One line of the cart, as the cart service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    /// `false` once the catalog deleted the product.
    #[serde(default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

/// One line of an order: what was bought, at what price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    /// The catalog's id of the product.
    pub product_id: String,
    /// The product's name when the order was placed.
    pub name: String,
    /// The price of one unit when the order was placed, in minor units.
    #[schema(minimum = 0)]
    pub unit_price_cents: i64,
    #[schema(minimum = 1)]
    pub quantity: i64,
}

impl Line {
    /// `unit_price_cents × quantity` (checked when the basket was made).
    pub fn total_cents(&self) -> i64 {
        self.unit_price_cents.saturating_mul(self.quantity)
    }
}

/// Why a cart cannot be checked out: each names the cart line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BasketError {
    #[error("the cart is empty: add products before checking out")]
    Empty,
    /// A line's field is not usable (`cart.items[2].product_id`).
    #[error("{field}: {message}")]
    Line { field: String, message: String },
}

/// What a checkout buys: the cart's lines frozen with their prices, and the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub currency: Currency,
}

impl Basket {
    /// The most lines one order may have.
    pub const MAX_LINES: usize = 100;

    /// The largest total one order may have: the most payments authorises at once (its
    /// `amount_cents`, like a product's price, is at most a million in major units).
    pub const MAX_TOTAL_CENTS: i64 = 100_000_000;

    /// The basket of a cart; refuses an empty cart, a product no longer sold, and lines
    /// whose numbers make no sense.
    pub fn from_cart(lines: Vec<CartLine>, currency: &str) -> Result<Self, BasketError> {
        if lines.is_empty() {
            return Err(BasketError::Empty);
        }
        let line_error = |i: usize, field: &str, message: &str| BasketError::Line {
            field: format!("cart.items[{i}].{field}"),
            message: message.to_owned(),
        };
        if lines.len() > Self::MAX_LINES {
            return Err(BasketError::Line {
                field: "cart".into(),
                message: format!("an order has at most {} lines", Self::MAX_LINES),
            });
        }
        let currency = Currency::parse(currency).map_err(|e| BasketError::Line {
            field: "cart.currency".into(),
            message: e.to_string(),
        })?;
        let mut total: i64 = 0;
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.into_iter().enumerate() {
            if !line.available {
                return Err(line_error(
                    i,
                    "product_id",
                    "this product is no longer sold: remove it from the cart",
                ));
            }
            if line.product_id.is_empty() {
                return Err(line_error(i, "product_id", "is empty"));
            }
            if line.quantity < 1 {
                return Err(line_error(i, "quantity", "must be at least 1"));
            }
            if line.unit_price_cents < 0 {
                return Err(line_error(i, "unit_price_cents", "must not be negative"));
            }
            let line_total = line
                .unit_price_cents
                .checked_mul(line.quantity)
                .ok_or_else(|| line_error(i, "quantity", "the line total is too large"))?;
            total = total
                .checked_add(line_total)
                .ok_or_else(|| line_error(i, "quantity", "the order total is too large"))?;
            out.push(Line {
                product_id: line.product_id,
                name: line.name,
                unit_price_cents: line.unit_price_cents,
                quantity: line.quantity,
            });
        }
        if total <= 0 {
            return Err(BasketError::Line {
                field: "cart".into(),
                message: "the order total must be more than 0".into(),
            });
        }
        // Refused here, before anything is reserved: payments would refuse the amount,
        // and the order would read as cancelled for a declined card.
        if total > Self::MAX_TOTAL_CENTS {
            return Err(BasketError::Line {
                field: "cart".into(),
                message: format!(
                    "the order total, {total} in minor units, is more than one order may be \
                     ({}): remove some items or lower their quantities",
                    Self::MAX_TOTAL_CENTS
                ),
            });
        }
        Ok(Self {
            lines: out,
            total_cents: total,
            currency,
        })
    }

    /// Holds the basket to the total the shopper was shown, when the checkout names one:
    /// a price that changed since (an admin's edit reaching the cart) is told to the
    /// shopper before anything is reserved or charged, not charged without asking.
    pub fn agrees_with(&self, shown_total_cents: Option<i64>) -> Result<(), TotalChanged> {
        match shown_total_cents {
            Some(shown) if shown != self.total_cents => Err(TotalChanged {
                shown_cents: shown,
                now_cents: self.total_cents,
                currency: self.currency.as_str().to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// The cart's total is no longer the one the shopper was shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a price in the cart changed since its total was shown: the total is now {now_cents} in \
     minor units of {currency}, not {shown_cents}. Nothing was reserved or charged; check the \
     cart and check out again with the new total"
)]
pub struct TotalChanged {
    pub shown_cents: i64,
    pub now_cents: i64,
    pub currency: String,
}

/// Where an order's saga stands. The happy path is
/// `pending → authorizing → confirming → confirmed`; a failure before the payment is
/// authorised (the pivot) goes `→ compensating → cancelled`. (`reserving` and
/// `authorized` are what older versions wrote before the reservation and at the pivot;
/// orders still reads them, and recovery treats them as `pending` and `confirming`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded with its items; the cart's lines and the stock are being taken.
    Pending,
    /// Stock is being reserved (written by older versions only: now `pending`).
    Reserving,
    /// Stock is reserved; the payment is being authorised.
    Authorizing,
    /// The payment is authorised (the pivot): the order will be confirmed.
    Authorized,
    /// The reservation is being committed and the payment captured.
    Confirming,
    /// Done: stock taken, payment captured.
    Confirmed,
    /// Being undone: the payment voided if it was authorised, the stock released.
    Compensating,
    /// Undone; `cancel_reason` says why.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Reserving => "reserving",
            Status::Authorizing => "authorizing",
            Status::Authorized => "authorized",
            Status::Confirming => "confirming",
            Status::Confirmed => "confirmed",
            Status::Compensating => "compensating",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Status::Pending,
            "reserving" => Status::Reserving,
            "authorizing" => Status::Authorizing,
            "authorized" => Status::Authorized,
            "confirming" => Status::Confirming,
            "confirmed" => Status::Confirmed,
            "compensating" => Status::Compensating,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// Whether the saga has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Confirmed | Status::Cancelled)
    }

    /// Whether the payment is authorised, so the saga can only go forward.
    pub fn is_past_pivot(self) -> bool {
        matches!(self, Status::Authorized | Status::Confirming)
    }

    /// Whether the checkout has not reached its pivot (the payment's authorisation
    /// recorded): it can still be carried on with the card, or compensated.
    pub fn is_before_pivot(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::Reserving | Status::Authorizing
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The call to another service the saga is at (or will make next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Cart, then inventory: take the order's lines out of the cart, then reserve the
    /// items. An order that stopped because the cart did not answer records this one;
    /// it carries on as from `Reserve`.
    TakeCart,
    /// Inventory: reserve the items (the cart's lines taken first).
    Reserve,
    /// Payments: authorise the total.
    Authorize,
    /// Inventory: commit the reservation.
    Commit,
    /// Payments: capture the authorisation.
    Capture,
    /// Payments: void the authorisation (compensation after a reservation expired).
    Void,
    /// Inventory: release the reservation (compensation).
    Release,
    /// Nothing left to call.
    Done,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::TakeCart => "take_cart",
            Step::Reserve => "reserve",
            Step::Authorize => "authorize",
            Step::Commit => "commit",
            Step::Capture => "capture",
            Step::Void => "void",
            Step::Release => "release",
            Step::Done => "done",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "take_cart" => Step::TakeCart,
            "reserve" => Step::Reserve,
            "authorize" => Step::Authorize,
            "commit" => Step::Commit,
            "capture" => Step::Capture,
            "void" => Step::Void,
            "release" => Step::Release,
            "done" => Step::Done,
            _ => return None,
        })
    }
}

/// Why an order was cancelled (the `reason` of `order.cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The card was declined, or payments found it invalid.
    PaymentDeclined,
    /// Some item was short of stock.
    InsufficientStock,
    /// Payments kept failing transiently.
    PaymentError,
    /// The stock reservation expired before the order could be confirmed.
    Expired,
    /// The checkout stopped before the payment (a crash, or inventory unreachable).
    Interrupted,
    /// The cart no longer held what the checkout read: another checkout took those lines,
    /// or the shopper changed them.
    CartChanged,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::PaymentDeclined => "payment_declined",
            CancelReason::InsufficientStock => "insufficient_stock",
            CancelReason::PaymentError => "payment_error",
            CancelReason::Expired => "expired",
            CancelReason::Interrupted => "interrupted",
            CancelReason::CartChanged => "cart_changed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "payment_declined" => CancelReason::PaymentDeclined,
            "insufficient_stock" => CancelReason::InsufficientStock,
            "payment_error" => CancelReason::PaymentError,
            "expired" => CancelReason::Expired,
            "interrupted" => CancelReason::Interrupted,
            "cart_changed" => CancelReason::CartChanged,
            _ => return None,
        })
    }
}

/// The answer a checkout got, kept with the order once the saga has settled it, so that
/// the same request again gets the same answer: an HTTP status and a JSON body (the
/// order, or a problem document).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// An order and where its saga stands: everything the saga needs to go on after a crash.
/// The card is not here; it never leaves the request that brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: OrderId,
    pub customer: Customer,
    /// The client's key; unique per user.
    pub idempotency_key: String,
    /// [`Checkout::fingerprint`] of the request that placed the order.
    pub fingerprint: String,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    pub address: ShippingAddress,
    pub status: Status,
    pub step: Step,
    /// Calls made at the current step.
    pub attempts: i64,
    pub cancel_reason: Option<CancelReason>,
    /// The payment's authorisation, once the pivot is passed.
    pub authorization_id: Option<String>,
    /// The checkout's answer, once it is known.
    pub answer: Option<Answer>,
    /// Why the last call failed, for operators.
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    pub cancelled_at: Option<String>,
    /// Set while the checkout, stopped before its payment by an unavailable service,
    /// waits for its client to retry with the same key (RFC 3339): until then recovery
    /// leaves it alone and a same-key retry carries it on.
    pub resumable_until: Option<String>,
}

impl Order {
    /// Moves the order on to `status` at `step`, with a fresh count of attempts; returns
    /// where it was (for the compare-and-set that writes it).
    pub fn move_to(&mut self, status: Status, step: Step) -> (Status, Step) {
        let from = (self.status, self.step);
        self.status = status;
        self.step = step;
        self.attempts = 0;
        self.last_error = None;
        from
    }

    /// A new order, `pending`, for `basket`, placed by `customer` with `checkout`.
    pub fn place(
        id: OrderId,
        customer: Customer,
        key: &IdempotencyKey,
        checkout: &Checkout,
        basket: Basket,
        now: String,
    ) -> Self {
        Self {
            id,
            customer,
            idempotency_key: key.as_str().to_owned(),
            fingerprint: checkout.fingerprint(),
            lines: basket.lines,
            total_cents: basket.total_cents,
            currency: basket.currency.as_str().to_owned(),
            address: checkout.address.clone(),
            status: Status::Pending,
            step: Step::Reserve,
            attempts: 0,
            cancel_reason: None,
            authorization_id: None,
            answer: None,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
            confirmed_at: None,
            cancelled_at: None,
            resumable_until: None,
        }
    }
}

/// A page of a listing: `page` from 1, `per_page` 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    page: u32,
    per_page: u32,
}

impl Page {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;

    pub fn new(page: u32, per_page: u32) -> Result<Self, (&'static str, Invalid)> {
        if page == 0 {
            return Err(("page", Invalid("must be 1 or more".into())));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err((
                "per_page",
                Invalid(format!("must be between 1 and {}", Self::MAX_PER_PAGE)),
            ));
        }
        Ok(Self { page, per_page })
    }

    pub fn page(self) -> u32 {
        self.page
    }

    pub fn per_page(self) -> u32 {
        self.per_page
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

/// Orders for the unit tests of the modules that show and announce them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A cart line of `quantity` mugs at `price` cents.
    pub fn cart_line(product_id: &str, price: i64, quantity: i64) -> CartLine {
        CartLine {
            product_id: product_id.into(),
            name: "Mug".into(),
            unit_price_cents: price,
            quantity,
            available: true,
        }
    }

    /// A pending order of `lines` in USD, placed by Sam (`u-1`, sam@example.com) for
    /// delivery in the US, paying with a good card.
    pub fn order(lines: Vec<CartLine>) -> Order {
        let checkout = Checkout {
            address: ShippingAddress {
                name: AddressText::parse("Sam").unwrap(),
                line1: AddressText::parse("1 Main St").unwrap(),
                city: AddressText::parse("Springfield").unwrap(),
                postal_code: AddressText::parse("12345").unwrap(),
                country: CountryCode::parse("us").unwrap(),
            },
            card: Card::new("4242424242424242".into(), 12, 2099, "123".into()),
        };
        let customer = Customer {
            id: "u-1".into(),
            email: "sam@example.com".into(),
            name: "Sam".into(),
        };
        Order::place(
            OrderId::new(),
            customer,
            &IdempotencyKey::parse(Some("k")).unwrap(),
            &checkout,
            Basket::from_cart(lines, "USD").unwrap(),
            "2030-01-01T00:00:00.000Z".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::cart_line;
    use super::*;

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: AddressText::parse("Sam Shopper").unwrap(),
            line1: AddressText::parse("1 Market Street").unwrap(),
            city: AddressText::parse("Springfield").unwrap(),
            postal_code: AddressText::parse("12345").unwrap(),
            country: CountryCode::parse("us").unwrap(),
        }
    }

    fn card(number: &str) -> Card {
        Card::new(number.to_owned(), 12, 2099, "123".into())
    }

    #[test]
    fn order_ids_are_uuids() {
        let id = OrderId::new();
        assert_eq!(OrderId::parse(id.as_str()), Some(id.clone()));
        for bad in ["", "x", "not-a-uuid", "0193a5c2-7b1e-7cc0-9f1d"] {
            assert_eq!(OrderId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_short_printable_text() {
        assert_eq!(IdempotencyKey::parse(Some("k-1")).unwrap().as_str(), "k-1");
        assert!(IdempotencyKey::parse(Some(&"k".repeat(255))).is_ok());
        for (bad, why) in [
            (None, "missing"),
            (Some(""), "empty"),
            (Some("a\tb"), "control character"),
            (Some("é"), "not ASCII"),
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{why}");
        }
        assert!(IdempotencyKey::parse(Some(&"k".repeat(256))).is_err());
    }

    #[test]
    fn address_lines_are_trimmed_and_bounded() {
        assert_eq!(
            AddressText::parse("  Main St ").unwrap().as_str(),
            "Main St"
        );
        assert!(AddressText::parse(&"x".repeat(200)).is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            assert!(AddressText::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn countries_are_two_letters() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        for bad in ["", "D", "DEU", "1A", "D-"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_card_never_prints_its_number_or_code() {
        let shown = format!("{:?}", card("4000000000009995"));
        assert!(shown.contains("9995"), "{shown}");
        assert!(!shown.contains("400000000000"), "{shown}");
        assert!(!shown.contains("123"), "{shown}");
    }

    #[test]
    fn fingerprints_tell_requests_apart_without_the_card_number() {
        let a = Checkout {
            address: address(),
            card: card("4242424242424242"),
        };
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let mut other_city = a.clone();
        other_city.address.city = AddressText::parse("Shelbyville").unwrap();
        assert_ne!(a.fingerprint(), other_city.fingerprint());
        let other_card = Checkout {
            card: card("4000000000000002"),
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), other_card.fingerprint());
        let digest_of_number = Sha256::digest(b"4242424242424242");
        let hex: String = digest_of_number
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(a.fingerprint(), hex);
    }

    #[test]
    fn a_basket_is_held_to_the_total_shown_only_when_one_was_shown() {
        let b = Basket::from_cart(vec![cart_line("a", 1299, 2)], "USD").unwrap();
        assert_eq!(b.agrees_with(None), Ok(()));
        assert_eq!(b.agrees_with(Some(2598)), Ok(()));
        let changed = b.agrees_with(Some(2400)).unwrap_err();
        assert_eq!(
            changed,
            TotalChanged {
                shown_cents: 2400,
                now_cents: 2598,
                currency: "USD".into()
            }
        );
        let said = changed.to_string();
        assert!(
            said.contains("now 2598") && said.contains("not 2400"),
            "{said}"
        );
    }

    #[test]
    fn a_basket_freezes_prices_and_totals_them() {
        let b = Basket::from_cart(vec![cart_line("a", 1299, 2), cart_line("b", 500, 1)], "USD")
            .unwrap();
        assert_eq!(b.total_cents, 3098);
        assert_eq!(b.lines[0].total_cents(), 2598);
        assert_eq!(b.currency.as_str(), "USD");
    }

    #[test]
    fn a_basket_refuses_what_cannot_be_bought() {
        assert_eq!(Basket::from_cart(vec![], "USD"), Err(BasketError::Empty));
        let gone = CartLine {
            available: false,
            ..cart_line("b", 100, 1)
        };
        let cases: Vec<(Vec<CartLine>, &str, &str)> = vec![
            (
                vec![cart_line("a", 100, 1), gone],
                "USD",
                "cart.items[1].product_id",
            ),
            (
                vec![cart_line("a", 100, 0)],
                "USD",
                "cart.items[0].quantity",
            ),
            (
                vec![cart_line("a", -1, 1)],
                "USD",
                "cart.items[0].unit_price_cents",
            ),
            (
                vec![cart_line("a", i64::MAX, 2)],
                "USD",
                "cart.items[0].quantity",
            ),
            (vec![cart_line("a", 100, 1)], "usd", "cart.currency"),
            (vec![cart_line("a", 0, 1)], "USD", "cart"),
            // More than payments takes at once: two lines at the highest price.
            (
                vec![cart_line("a", 100_000_000, 1), cart_line("b", 1, 1)],
                "USD",
                "cart",
            ),
        ];
        for (lines, currency, field) in cases {
            match Basket::from_cart(lines, currency) {
                Err(BasketError::Line { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn statuses_steps_and_reasons_round_trip() {
        for s in [
            Status::Pending,
            Status::Reserving,
            Status::Authorizing,
            Status::Authorized,
            Status::Confirming,
            Status::Confirmed,
            Status::Compensating,
            Status::Cancelled,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(Status::Confirmed.is_terminal() && Status::Cancelled.is_terminal());
        assert!(Status::Authorized.is_past_pivot() && Status::Confirming.is_past_pivot());
        assert!(!Status::Authorizing.is_past_pivot());
        for s in [
            Step::TakeCart,
            Step::Reserve,
            Step::Authorize,
            Step::Commit,
            Step::Capture,
            Step::Void,
            Step::Release,
            Step::Done,
        ] {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        for r in [
            CancelReason::PaymentDeclined,
            CancelReason::InsufficientStock,
            CancelReason::PaymentError,
            CancelReason::Expired,
            CancelReason::Interrupted,
            CancelReason::CartChanged,
        ] {
            assert_eq!(CancelReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn pages_are_bounded() {
        let p = Page::new(3, 10).unwrap();
        assert_eq!(p.offset(), 20);
        assert_eq!(Page::new(0, 10).unwrap_err().0, "page");
        assert_eq!(Page::new(1, 0).unwrap_err().0, "per_page");
        assert_eq!(Page::new(1, 101).unwrap_err().0, "per_page");
    }
}

/// Property tests of checkout's parsers, of the basket's money, and of paging.
#[cfg(test)]
mod properties {
    use super::fixtures::cart_line;
    use super::*;
    use platform::testing::strategies::{any_text, check_trimmed_name, padding};
    use proptest::prelude::*;

    #[test]
    fn an_address_line_is_a_trimmed_name_of_up_to_200_characters() {
        check_trimmed_name(AddressText::parse, AddressText::as_str, 200);
    }

    proptest! {
        #[test]
        fn printable_ascii_up_to_255_characters_is_an_idempotency_key(raw in "[ -~]{1,255}") {
            let key = IdempotencyKey::parse(Some(&raw));
            prop_assert_eq!(key.as_ref().map(IdempotencyKey::as_str), Ok(raw.as_str()));
        }

        #[test]
        fn an_idempotency_key_past_255_characters_is_refused_naming_the_limit(
            raw in "[ -~]{256,400}",
        ) {
            prop_assert_eq!(
                IdempotencyKey::parse(Some(&raw)),
                Err(Invalid("must be at most 255 characters long".into()))
            );
        }

        #[test]
        fn one_unprintable_or_foreign_character_spoils_an_idempotency_key(
            raw in "[ -~]{0,200}",
            bad in any::<char>().prop_filter("not printable ASCII", |c| !(' '..='~').contains(c)),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = raw.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let spoilt: String = chars.into_iter().collect();
            prop_assert_eq!(
                IdempotencyKey::parse(Some(&spoilt)),
                Err(Invalid("may contain only printable ASCII characters".into()))
            );
        }

        #[test]
        fn any_text_is_an_idempotency_key_or_a_clear_refusal(raw in any_text()) {
            match IdempotencyKey::parse(Some(&raw)) {
                Ok(key) => {
                    prop_assert_eq!(key.as_str(), raw.as_str());
                    prop_assert_eq!(IdempotencyKey::parse(Some(key.as_str())), Ok(key.clone()));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn an_assigned_code_in_either_case_is_a_country_code_in_upper_case(
            code in prop::sample::select(&platform::domain::COUNTRIES[..]),
            lower in prop::collection::vec(any::<bool>(), 2),
            before in padding(),
            after in padding(),
        ) {
            let typed: String = code
                .chars()
                .zip(&lower)
                .map(|(c, &l)| if l { c.to_ascii_lowercase() } else { c })
                .collect();
            let country = CountryCode::parse(&format!("{before}{typed}{after}"));
            prop_assert_eq!(
                country.as_ref().map(|c| c.as_str().to_owned()),
                Ok(code.to_owned())
            );
            let again = country.as_ref().map(|c| CountryCode::parse(c.as_str()));
            prop_assert_eq!(again.ok(), country.ok().map(Ok));
        }

        #[test]
        fn any_text_is_a_country_code_or_a_clear_refusal(
            raw in prop_oneof![any_text(), "[ A-Za-z0-9]{0,4}"],
        ) {
            match CountryCode::parse(&raw) {
                Ok(code) => {
                    prop_assert_eq!(code.as_str().len(), 2);
                    prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase()));
                    prop_assert_eq!(code.as_str(), raw.trim().to_ascii_uppercase());
                }
                Err(Invalid(why)) => prop_assert!(
                    why == "must be a two-letter country code (ISO 3166-1 alpha-2, e.g. `DE`)"
                        || why.ends_with("is not a country code ISO 3166-1 assigns (alpha-2, e.g. `DE`)"),
                    "{}", why
                ),
            }
        }

        #[test]
        fn orders_takes_the_currencies_the_platform_takes(
            raw in prop_oneof![any_text(), "[A-Za-z]{2,4}"],
        ) {
            let ours = Currency::parse(&raw);
            prop_assert_eq!(ours.is_ok(), platform::domain::Currency::parse(&raw).is_ok(), "{:?}", raw);
            if let Ok(code) = ours {
                prop_assert_eq!(code.as_str(), raw.as_str());
            }
        }

        #[test]
        fn a_basket_totals_its_lines_exactly_or_is_refused(
            lines in prop::collection::vec(
                (
                    prop_oneof![0..=10_000i64, 0..=i64::MAX],
                    prop_oneof![1..=99i64, 1..=i64::MAX],
                ),
                1..=5,
            ),
        ) {
            // Five lines of i64::MAX × i64::MAX overflow even i128: saturate, as any
            // total past i64::MAX is refused all the same.
            let exact: i128 = lines
                .iter()
                .map(|(p, q)| i128::from(*p) * i128::from(*q))
                .fold(0, i128::saturating_add);
            let cart = lines
                .iter()
                .enumerate()
                .map(|(i, (price, quantity))| cart_line(&format!("p-{i}"), *price, *quantity))
                .collect();
            match Basket::from_cart(cart, "USD") {
                Ok(basket) => {
                    prop_assert!(exact <= i128::from(Basket::MAX_TOTAL_CENTS));
                    prop_assert_eq!(i128::from(basket.total_cents), exact);
                    prop_assert_eq!(basket.lines.len(), lines.len());
                    let kept: Vec<(i64, i64)> = basket
                        .lines
                        .iter()
                        .map(|l| (l.unit_price_cents, l.quantity))
                        .collect();
                    prop_assert_eq!(kept, lines);
                }
                Err(BasketError::Line { field, .. }) if exact > i128::from(i64::MAX) => {
                    prop_assert!(
                        field.starts_with("cart.items[") && field.ends_with("].quantity"),
                        "{}",
                        field
                    );
                }
                Err(BasketError::Line { field, message })
                    if exact > i128::from(Basket::MAX_TOTAL_CENTS) =>
                {
                    prop_assert_eq!(field, "cart");
                    prop_assert!(message.contains("more than one order may be"), "{}", message);
                }
                Err(refused) => {
                    prop_assert_eq!(exact, 0, "{:?}", refused);
                    prop_assert_eq!(
                        refused,
                        BasketError::Line {
                            field: "cart".into(),
                            message: "the order total must be more than 0".into(),
                        }
                    );
                }
            }
        }

        #[test]
        fn the_first_line_with_a_quantity_below_one_or_a_negative_price_is_named(
            before in prop::collection::vec((0..=10_000i64, 1..=99i64), 0..5),
            bad_quantity in any::<bool>(),
            bad in prop_oneof![i64::MIN..=-1, -2..=-1i64],
        ) {
            let at = before.len();
            let mut cart: Vec<CartLine> = before
                .iter()
                .enumerate()
                .map(|(i, (price, quantity))| cart_line(&format!("p-{i}"), *price, *quantity))
                .collect();
            let (price, quantity, field) = if bad_quantity {
                (100, bad + 1, "quantity")
            } else {
                (bad, 1, "unit_price_cents")
            };
            cart.push(cart_line("bad", price, quantity));
            cart.push(cart_line("after", -1, 0));
            match Basket::from_cart(cart, "USD") {
                Err(BasketError::Line { field: named, .. }) => {
                    prop_assert_eq!(named, format!("cart.items[{at}].{field}"));
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn every_page_from_one_and_page_size_from_one_to_100_is_a_page(
            page in prop_oneof![0..=2u32, any::<u32>()],
            per_page in prop_oneof![0..=2u32, 99..=101u32, any::<u32>()],
        ) {
            match Page::new(page, per_page) {
                Ok(p) => {
                    prop_assert!(page >= 1 && (1..=100).contains(&per_page));
                    prop_assert_eq!((p.page(), p.per_page()), (page, per_page));
                }
                Err((field, why)) if page == 0 => {
                    prop_assert_eq!(field, "page");
                    prop_assert_eq!(why, Invalid("must be 1 or more".into()));
                }
                Err((field, why)) => {
                    prop_assert!(!(1..=100).contains(&per_page), "{}/{} refused", page, per_page);
                    prop_assert_eq!(field, "per_page");
                    prop_assert_eq!(why, Invalid("must be between 1 and 100".into()));
                }
            }
        }

        #[test]
        fn consecutive_pages_of_orders_neither_overlap_nor_leave_gaps(
            page in 1..u32::MAX,
            per_page in 1..=Page::MAX_PER_PAGE,
        ) {
            let offset = |page| Page::new(page, per_page).ok().map(Page::offset);
            prop_assert_eq!(offset(1), Some(0));
            prop_assert_eq!(offset(page + 1), offset(page).map(|o| o + i64::from(per_page)));
        }

        #[test]
        fn a_state_name_reads_back_as_its_state_and_nothing_else_is_one(raw in "[a-z_]{0,14}") {
            let statuses = [
                Status::Pending, Status::Reserving, Status::Authorizing, Status::Authorized,
                Status::Confirming, Status::Confirmed, Status::Compensating, Status::Cancelled,
            ];
            for s in statuses {
                prop_assert_eq!(Status::parse(s.as_str()), Some(s));
                prop_assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::from(s.as_str())));
            }
            match Status::parse(&raw) {
                Some(s) => prop_assert_eq!(s.as_str(), raw.as_str()),
                None => prop_assert!(statuses.iter().all(|s| s.as_str() != raw)),
            }
            let steps = [
                Step::TakeCart, Step::Reserve, Step::Authorize, Step::Commit, Step::Capture,
                Step::Void, Step::Release, Step::Done,
            ];
            for s in steps {
                prop_assert_eq!(Step::parse(s.as_str()), Some(s));
            }
            match Step::parse(&raw) {
                Some(s) => prop_assert_eq!(s.as_str(), raw.as_str()),
                None => prop_assert!(steps.iter().all(|s| s.as_str() != raw)),
            }
            let reasons = [
                CancelReason::PaymentDeclined, CancelReason::InsufficientStock,
                CancelReason::PaymentError, CancelReason::Expired, CancelReason::Interrupted,
                CancelReason::CartChanged,
            ];
            for r in reasons {
                prop_assert_eq!(CancelReason::parse(r.as_str()), Some(r));
                prop_assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::Value::from(r.as_str())));
            }
            match CancelReason::parse(&raw) {
                Some(r) => prop_assert_eq!(r.as_str(), raw.as_str()),
                None => prop_assert!(reasons.iter().all(|r| r.as_str() != raw)),
            }
        }

        #[test]
        fn an_order_id_in_any_uuid_form_reads_as_its_lower_case_hyphenated_form(bits in any::<u128>()) {
            let uuid = uuid::Uuid::from_u128(bits);
            let canonical = uuid.hyphenated().to_string();
            for form in [canonical.clone(), canonical.to_ascii_uppercase(), uuid.simple().to_string()] {
                let id = OrderId::parse(&form);
                prop_assert_eq!(id.as_ref().map(OrderId::as_str), Some(canonical.as_str()));
            }
        }
    }
}
