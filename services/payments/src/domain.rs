//! The payments domain: inputs parsed into types at the boundary (ids, money, the card),
//! the states of an authorisation, and the kinds of ledger entries.
//!
//! A card number lives only in a [`CardNumber`], which shows nothing but its brand and
//! last four digits, in `Debug` as anywhere else.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use platform::domain::{Bounded, ChosenId, TimeId, WITH_COLONS, invalid};
pub use platform::domain::{Currency, Invalid};

/// Another service's id of something (an order, a user): 1 to 64 ASCII letters, digits,
/// `-`, `_` or `:`. Payments does not insist on the UUID form, so that it is not coupled
/// to how other services make ids.
pub type ExternalId = ChosenId<64, WITH_COLONS>;

/// The id payments gives an authorisation (a UUIDv7, time-ordered).
pub type AuthorizationId = TimeId<Authorization>;

/// An amount of money to authorise, in minor units (cents): 1 to 100 000 000 (one million
/// in a currency of cents). Unlike a price, never zero: an authorisation holds money.
pub type Amount = Bounded<1, 100_000_000>;

pub use platform::domain::card::{CardBrand, CardNumber, Cvc, Expiry, ExpiryError, luhn};

/// A card, every part of it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub number: CardNumber,
    pub expiry: Expiry,
    pub cvc: Cvc,
}

/// An authorisation to be made: what the caller asked for, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthorization {
    pub order_id: ExternalId,
    pub user_id: ExternalId,
    pub amount: Amount,
    pub currency: Currency,
    pub card: Card,
}

/// The key a caller sends to make a request safe to repeat: 1 to 255 visible ASCII
/// characters (`order-0193…-authorize`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return invalid(format!("must be 1 to {} characters long", Self::MAX_LEN));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return invalid("may contain only visible ASCII characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an authorisation is in its life: `authorized` → `captured` → `refunded`, or
/// `authorized` → `voided`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The money is held on the card, not yet taken.
    Authorized,
    /// The money was taken.
    Captured,
    /// The hold was released; no money moved.
    Voided,
    /// The captured money was given back.
    Refunded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Authorized => "authorized",
            Status::Captured => "captured",
            Status::Voided => "voided",
            Status::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Status::Authorized,
            Status::Captured,
            Status::Voided,
            Status::Refunded,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A change of an existing authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Capture,
    Void,
    Refund,
}

/// What an action does to an authorisation in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move it to the new state, with a ledger entry and an event.
    To(Status),
    /// It is in the action's target state already: answer it as it is.
    Already,
    /// The action does not apply in this state.
    Refused,
}

impl Action {
    /// The verb, as in the path (`capture`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Capture => "capture",
            Action::Void => "void",
            Action::Refund => "refund",
        }
    }

    /// The state the action leads to.
    pub fn target(self) -> Status {
        match self {
            Action::Capture => Status::Captured,
            Action::Void => Status::Voided,
            Action::Refund => Status::Refunded,
        }
    }

    /// The ledger entry the action appends.
    pub fn ledger_kind(self) -> LedgerKind {
        match self {
            Action::Capture => LedgerKind::Capture,
            Action::Void => LedgerKind::Void,
            Action::Refund => LedgerKind::Refund,
        }
    }

    /// What the action does to an authorisation that is `from`. Each action is
    /// idempotent by state: repeating it once it has happened changes nothing.
    pub fn from_state(self, from: Status) -> Transition {
        let source = match self {
            Action::Capture | Action::Void => Status::Authorized,
            Action::Refund => Status::Captured,
        };
        if from == self.target() {
            Transition::Already
        } else if from == source {
            Transition::To(self.target())
        } else {
            Transition::Refused
        }
    }
}

/// The kind of a ledger entry: one per movement of money an authorisation goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Authorize,
    Capture,
    Void,
    Refund,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Authorize => "authorize",
            LedgerKind::Capture => "capture",
            LedgerKind::Void => "void",
            LedgerKind::Refund => "refund",
        }
    }
}

/// An authorisation as payments shows it. The card appears as brand and last four only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Authorization {
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    /// The order the money is for, as the caller named it.
    pub order_id: String,
    /// The user who pays, as the caller named them.
    pub user_id: String,
    pub status: Status,
    #[schema(example = 4999, minimum = 1)]
    pub amount_cents: i64,
    #[schema(example = "USD")]
    pub currency: String,
    pub card_brand: CardBrand,
    #[schema(example = "4242")]
    pub card_last4: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC: when the status last changed.
    pub updated_at: String,
}

/// The ledger added up: the money that went through each kind of entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerSummary {
    /// The currency summed, when one was asked for; otherwise every currency's cents are
    /// added together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// Money held by authorisations, whatever happened to them later.
    pub authorized_cents: i64,
    /// Money taken.
    pub captured_cents: i64,
    /// Holds released without taking money.
    pub voided_cents: i64,
    /// Captured money given back.
    pub refunded_cents: i64,
    /// Ledger entries counted.
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i32, u32) = (2026, 6);

    #[test]
    fn external_ids_are_short_slugs() {
        for ok in [
            "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11",
            "o_1",
            "service:orders",
        ] {
            assert_eq!(ExternalId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(ExternalId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn authorization_ids_are_uuids() {
        let id = AuthorizationId::new();
        assert_eq!(AuthorizationId::parse(id.as_str()), Some(id));
        assert_eq!(AuthorizationId::parse("nope"), None);
        assert_eq!(
            AuthorizationId::parse("0193A5C2-7B1E-7CC0-9F1D-2B4E8A9C0D11")
                .unwrap()
                .as_str(),
            "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11"
        );
    }

    #[test]
    fn the_test_cards_pass_luhn() {
        for n in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "4000000000000119",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn(n), "{n}");
        }
        assert!(!luhn("4242424242424241"));
    }

    #[test]
    fn brands_are_told_from_the_leading_digits() {
        for (number, brand) in [
            ("4242424242424242", CardBrand::Visa),
            ("4222222222222", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("371449635398431", CardBrand::Amex),
            ("6011111111111117", CardBrand::Unknown),
        ] {
            let card = CardNumber::parse(number).unwrap();
            assert_eq!(card.brand(), brand, "{number}");
            assert_eq!(card.last4(), &number[number.len() - 4..]);
        }
        let spaced = CardNumber::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(spaced.digits(), "4242424242424242");
    }

    #[test]
    fn bad_numbers_are_refused_without_repeating_them() {
        for bad in [
            "",
            "4242-4242-4242-4242",
            "4242424242424241",
            "42424242424",
            "42424242424242424242",
            "424242424242424",
            "37828224631000",
        ] {
            let err = CardNumber::parse(bad).unwrap_err();
            if bad.len() > 4 {
                assert!(!err.0.contains(bad), "{err} repeats {bad}");
            }
        }
    }

    #[test]
    fn card_numbers_do_not_print() {
        let card = CardNumber::parse("4242424242424242").unwrap();
        let shown = format!("{card:?}");
        assert!(!shown.contains("42424242"), "{shown}");
        assert!(shown.contains("4242"), "{shown}");
        assert_eq!(
            format!("{:?}", Cvc::parse("123", None).unwrap()),
            "Cvc(***)"
        );
    }

    fn fields(errors: Vec<ExpiryError>) -> Vec<&'static str> {
        errors
            .into_iter()
            .map(|e| match e {
                ExpiryError::Month(_) => "month",
                ExpiryError::Year(_) => "year",
            })
            .collect()
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        assert_eq!(
            Expiry::parse(6, 2026, TODAY).unwrap(),
            Expiry {
                month: 6,
                year: 2026
            }
        );
        assert!(Expiry::parse(1, 2027, TODAY).is_ok());
        assert!(Expiry::parse(12, 2046, TODAY).is_ok());
    }

    #[test]
    fn expiry_errors_name_the_field_at_fault() {
        for (month, year, expected) in [
            (5, 2026, vec!["month"]),
            (12, 2025, vec!["year"]),
            (13, 2030, vec!["month"]),
            (0, 2030, vec!["month"]),
            (6, 27, vec!["year"]),
            (6, 2047, vec!["year"]),
            (13, 2020, vec!["month", "year"]),
            (6, i64::MAX, vec!["year"]),
        ] {
            let errors = Expiry::parse(month, year, TODAY).unwrap_err();
            assert_eq!(fields(errors), expected, "{month}/{year}");
        }
    }

    #[test]
    fn security_codes_fit_the_brand() {
        assert!(Cvc::parse("123", Some(CardBrand::Visa)).is_ok());
        assert!(Cvc::parse("1234", Some(CardBrand::Amex)).is_ok());
        assert!(Cvc::parse("1234", None).is_ok());
        for (bad, brand) in [
            ("12", None),
            ("12345", None),
            ("12a", None),
            ("123", Some(CardBrand::Amex)),
        ] {
            assert!(Cvc::parse(bad, brand).is_err(), "{bad} {brand:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("order-0193-authorize").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "a b", "ключ", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actions_are_idempotent_by_state() {
        use Action::*;
        use Status::*;
        use Transition::*;
        let table = [
            (Capture, Authorized, To(Captured)),
            (Capture, Captured, Already),
            (Capture, Voided, Refused),
            (Capture, Refunded, Refused),
            (Void, Authorized, To(Voided)),
            (Void, Voided, Already),
            (Void, Captured, Refused),
            (Void, Refunded, Refused),
            (Refund, Captured, To(Refunded)),
            (Refund, Refunded, Already),
            (Refund, Authorized, Refused),
            (Refund, Voided, Refused),
        ];
        for (action, from, expected) in table {
            assert_eq!(
                action.from_state(from),
                expected,
                "{action:?} from {from:?}"
            );
        }
    }

    #[test]
    fn names_are_snake_case_everywhere() {
        for s in [
            Status::Authorized,
            Status::Captured,
            Status::Voided,
            Status::Refunded,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for k in [
            LedgerKind::Authorize,
            LedgerKind::Capture,
            LedgerKind::Void,
            LedgerKind::Refund,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for b in [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Unknown,
        ] {
            assert_eq!(serde_json::to_value(b).unwrap(), b.as_str());
            assert_eq!(CardBrand::parse(b.as_str()), Some(b));
        }
    }
}

/// Property tests of the payment parsers. Card numbers are built with their Luhn check
/// digit for each brand's prefixes and lengths, then spoilt one digit at a time.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::any_text;
    use proptest::prelude::*;

    const LUHN_REFUSAL: &str = "is not a valid card number (its check digit is wrong)";

    /// The digit that makes `body` followed by it pass the Luhn check: from the right,
    /// every second digit of the whole number (the body's last, to begin with) is doubled.
    fn check_digit(body: &str) -> char {
        let sum: u32 = body
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 0 {
                    (d * 2) / 10 + (d * 2) % 10
                } else {
                    d
                }
            })
            .sum();
        char::from(b'0' + ((10 - sum % 10) % 10) as u8)
    }

    /// The leading digits and the lengths of each brand, as documented on [`CardBrand`].
    fn prefix_of(brand: CardBrand) -> BoxedStrategy<String> {
        match brand {
            CardBrand::Visa => Just("4".to_owned()).boxed(),
            CardBrand::Mastercard => prop_oneof![
                (51..=55u32).prop_map(|p| p.to_string()),
                (2221..=2720u32).prop_map(|p| p.to_string()),
            ]
            .boxed(),
            CardBrand::Amex => prop::sample::select(vec!["34", "37"])
                .prop_map(str::to_owned)
                .boxed(),
            CardBrand::Unknown => {
                prop_oneof!["[016789]", "3[0-35689]", "5[06-9]", "2[0-1]", "2[8-9]",].boxed()
            }
        }
    }

    fn brand() -> impl Strategy<Value = CardBrand> {
        prop::sample::select(vec![
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Unknown,
        ])
    }

    /// A body of `len - 1` digits starting with a prefix of `brand`.
    fn body(brand: CardBrand, len: usize) -> impl Strategy<Value = String> {
        prefix_of(brand).prop_flat_map(move |prefix| {
            let rest = len - 1 - prefix.len();
            prop::collection::vec(prop::char::range('0', '9'), rest)
                .prop_map(move |digits| format!("{prefix}{}", String::from_iter(digits)))
        })
    }

    /// A body of `len - 1` digits: `prefix`, then the seed's digits.
    fn seeded_body(prefix: &str, seed: u64, len: usize) -> String {
        let digits = format!("{seed:020}");
        format!("{prefix}{}", &digits[..len - 1 - prefix.len()])
    }

    /// A card number's digits, once a test has spoilt them, as text again.
    fn spoilt_text(digits: Vec<u8>) -> Result<String, TestCaseError> {
        String::from_utf8(digits).map_err(|e| TestCaseError::fail(e.to_string()))
    }

    /// A valid number of any brand and of a length the brand allows, with its brand.
    fn valid_number() -> impl Strategy<Value = (String, CardBrand)> {
        brand()
            .prop_flat_map(|brand| (Just(brand), prop::sample::select(brand.lengths())))
            .prop_flat_map(|(brand, len)| (body(brand, len), Just(brand)))
            .prop_map(|(body, brand)| {
                let check = check_digit(&body);
                (format!("{body}{check}"), brand)
            })
    }

    /// The current month, in years around now.
    fn today() -> impl Strategy<Value = (i32, u32)> {
        (2000..=2100i32, 1..=12u32)
    }

    proptest! {
        #[test]
        fn a_number_with_its_check_digit_is_accepted_with_its_brand(
            (number, brand) in valid_number(),
        ) {
            let card = CardNumber::parse(&number)
                .map_err(|e| TestCaseError::fail(format!("{number} refused: {e}")))?;
            prop_assert_eq!(card.brand(), brand);
            prop_assert_eq!(card.digits(), number.as_str());
            prop_assert_eq!(card.last4(), &number[number.len() - 4..]);
        }

        #[test]
        fn exactly_one_final_digit_completes_a_card_number(
            (brand, len) in brand().prop_flat_map(|b| (Just(b), prop::sample::select(b.lengths()))),
            seed in any::<u64>(),
        ) {
            // The body from the seed's digits, with the brand's first prefix.
            let prefix = match brand {
                CardBrand::Visa => "4",
                CardBrand::Mastercard => "2720",
                CardBrand::Amex => "37",
                CardBrand::Unknown => "6",
            };
            let body = seeded_body(prefix, seed, len);
            let completions = ('0'..='9')
                .filter(|d| CardNumber::parse(&format!("{body}{d}")).is_ok())
                .count();
            prop_assert_eq!(completions, 1, "{}", body);
        }

        #[test]
        fn changing_any_one_digit_is_caught(
            (number, _) in valid_number(),
            at in any::<prop::sample::Index>(),
            by in 1..=9u8,
        ) {
            let at = at.index(number.len());
            let mut digits = number.into_bytes();
            digits[at] = b'0' + (digits[at] - b'0' + by) % 10;
            let spoilt = spoilt_text(digits)?;
            let refused = CardNumber::parse(&spoilt);
            // Past the digits that tell the brand, only the check digit can catch it.
            if at >= 4 {
                prop_assert_eq!(refused, Err(Invalid(LUHN_REFUSAL.into())), "{}", spoilt);
            } else {
                prop_assert!(refused.is_err(), "{} was accepted", spoilt);
            }
        }

        #[test]
        fn swapping_two_adjacent_digits_is_caught_unless_they_are_0_and_9(
            (number, _) in valid_number(),
            at in any::<prop::sample::Index>(),
        ) {
            let at = 4 + at.index(number.len() - 5);
            let mut digits = number.clone().into_bytes();
            let pair = (digits[at], digits[at + 1]);
            prop_assume!(pair.0 != pair.1 && !matches!(pair, (b'0', b'9') | (b'9', b'0')));
            digits.swap(at, at + 1);
            let spoilt = spoilt_text(digits)?;
            prop_assert_eq!(CardNumber::parse(&spoilt), Err(Invalid(LUHN_REFUSAL.into())), "{}", spoilt);
        }

        #[test]
        fn spaces_between_the_digits_change_nothing(
            (number, _) in valid_number(),
            spaces in prop::collection::vec(0..3usize, 20),
        ) {
            let spaced: String = number
                .chars()
                .zip(&spaces)
                .flat_map(|(d, n)| std::iter::repeat_n(' ', *n).chain([d]))
                .collect();
            prop_assert_eq!(CardNumber::parse(&spaced), CardNumber::parse(&number));
        }

        #[test]
        fn a_length_the_brand_cannot_have_is_refused_naming_the_brand(
            (brand, len) in brand()
                .prop_flat_map(|b| (Just(b), 12..=19usize))
                .prop_filter("a length the brand does not have", |(b, len)| !b.lengths().contains(len)),
            seed in any::<u64>(),
        ) {
            let prefix = match brand {
                CardBrand::Visa => "4",
                CardBrand::Mastercard => "51",
                CardBrand::Amex => "34",
                CardBrand::Unknown => "6",
            };
            let body = seeded_body(prefix, seed, len);
            let number = format!("{body}{}", check_digit(&body));
            let name = match brand {
                CardBrand::Visa => "a Visa",
                CardBrand::Mastercard => "a Mastercard",
                CardBrand::Amex => "an American Express",
                CardBrand::Unknown => "this",
            };
            prop_assert_eq!(
                CardNumber::parse(&number),
                Err(Invalid(format!("has {len} digits, which {name} card number cannot have")))
            );
        }

        #[test]
        fn any_text_is_a_card_number_or_a_refusal_that_never_repeats_it(
            raw in prop_oneof![any_text(), "[0-9 ]{0,30}", "[0-9]{10,21}[a-z-]?"],
        ) {
            match CardNumber::parse(&raw) {
                Ok(card) => {
                    prop_assert_eq!(card.digits(), raw.replace(' ', ""));
                    prop_assert_eq!(CardNumber::parse(card.digits()), Ok(card.clone()));
                    // Nothing of the number shows but its last four digits.
                    let shown: String = format!("{card:?}").chars().filter(char::is_ascii_digit).collect();
                    prop_assert_eq!(shown.as_str(), card.last4());
                }
                Err(Invalid(why)) => {
                    prop_assert!(!why.is_empty());
                    let longest_run = why
                        .split(|c: char| !c.is_ascii_digit())
                        .map(str::len)
                        .max()
                        .unwrap_or(0);
                    prop_assert!(longest_run <= 2, "{:?} repeats digits of {:?}", why, raw);
                }
            }
        }

        #[test]
        fn every_month_from_now_to_twenty_years_ahead_is_an_expiry(
            (this_year, this_month) in today(),
            ahead in 0..=20i32,
            month in 1..=12u32,
        ) {
            let year = this_year + ahead;
            prop_assume!(ahead > 0 || month >= this_month);
            prop_assert_eq!(
                Expiry::parse(month.into(), year.into(), (this_year, this_month)),
                Ok(Expiry { month, year })
            );
        }

        #[test]
        fn a_month_outside_one_to_twelve_is_refused_naming_the_month(
            today in today(),
            month in prop_oneof![-2..=0i64, 13..=15i64, any::<i64>()]
                .prop_filter("not a month", |m| !(1..=12).contains(m)),
            ahead in 1..=20i64,
        ) {
            prop_assert_eq!(
                Expiry::parse(month, i64::from(today.0) + ahead, today),
                Err(vec![ExpiryError::Month(Invalid("must be between 1 and 12".into()))])
            );
        }

        #[test]
        fn a_year_before_this_one_is_refused_as_expired(
            today in today(),
            year in prop_oneof![100..=2100i64, any::<i64>()],
            month in 1..=12i64,
        ) {
            prop_assume!(year < i64::from(today.0) && !(0..100).contains(&year));
            prop_assert_eq!(
                Expiry::parse(month, year, today),
                Err(vec![ExpiryError::Year(Invalid("the card has expired".into()))])
            );
        }

        #[test]
        fn a_year_past_twenty_years_ahead_is_refused_naming_the_limit(
            today in today(),
            past in prop_oneof![1..=3i64, any::<i64>().prop_map(i64::unsigned_abs).prop_map(|n| (n / 2) as i64)],
            month in 1..=12i64,
        ) {
            let year = (i64::from(today.0) + 20).saturating_add(past.max(1));
            prop_assert_eq!(
                Expiry::parse(month, year, today),
                Err(vec![ExpiryError::Year(Invalid("must be at most 20 years ahead".into()))])
            );
        }

        #[test]
        fn a_two_digit_year_is_refused_suggesting_the_four_digit_one(
            today in today(),
            year in 0..100i64,
            month in 1..=12i64,
        ) {
            prop_assert_eq!(
                Expiry::parse(month, year, today),
                Err(vec![ExpiryError::Year(Invalid(format!(
                    "must be a four-digit year ({}, not {year:02})",
                    2000 + year
                )))])
            );
        }

        #[test]
        fn an_earlier_month_of_this_year_is_refused_naming_the_month(
            (this_year, this_month) in (2000..=2100i32, 2..=12u32),
            earlier in any::<prop::sample::Index>(),
        ) {
            let month = 1 + earlier.index(this_month as usize - 1) as i64;
            prop_assert_eq!(
                Expiry::parse(month, this_year.into(), (this_year, this_month)),
                Err(vec![ExpiryError::Month(Invalid("the card has expired".into()))])
            );
        }

        #[test]
        fn any_month_and_year_give_an_expiry_or_errors_naming_each_field_once(
            today in today(),
            month in prop_oneof![0..=13i64, any::<i64>()],
            year in prop_oneof![0..=2130i64, any::<i64>()],
        ) {
            match Expiry::parse(month, year, today) {
                Ok(expiry) => {
                    prop_assert_eq!(i64::from(expiry.month), month);
                    prop_assert_eq!(i64::from(expiry.year), year);
                }
                Err(errors) => {
                    let months = errors.iter().filter(|e| matches!(e, ExpiryError::Month(_))).count();
                    prop_assert!(!errors.is_empty());
                    prop_assert!(months <= 1 && errors.len() - months <= 1, "{:?}", errors);
                }
            }
        }

        #[test]
        fn three_or_four_digits_are_a_security_code_but_american_express_needs_four(
            cvc in "[0-9]{3,4}",
            brand in prop::option::of(brand()),
        ) {
            let parsed = Cvc::parse(&cvc, brand);
            if brand == Some(CardBrand::Amex) && cvc.len() == 3 {
                prop_assert_eq!(
                    parsed,
                    Err(Invalid("must be 4 digits for an American Express card".into()))
                );
            } else {
                prop_assert_eq!(parsed.map(|c| format!("{c:?}")), Ok("Cvc(***)".to_owned()));
            }
        }

        #[test]
        fn anything_but_three_or_four_digits_is_no_security_code(
            raw in prop_oneof![any_text(), "[0-9]{0,2}", "[0-9]{5,9}", "[0-9a-z ]{3,4}"],
            brand in prop::option::of(brand()),
        ) {
            let digits = (3..=4).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
            prop_assume!(!digits);
            prop_assert_eq!(Cvc::parse(&raw, brand), Err(Invalid("must be 3 or 4 digits".into())));
        }

        #[test]
        fn visible_ascii_up_to_255_characters_is_an_idempotency_key(raw in "[!-~]{1,255}") {
            let key = IdempotencyKey::parse(&raw);
            prop_assert_eq!(key.as_ref().map(IdempotencyKey::as_str), Ok(raw.as_str()));
        }

        #[test]
        fn an_idempotency_key_too_long_or_empty_is_refused_naming_the_bounds(
            raw in prop_oneof![Just(String::new()), "[!-~]{256,400}"],
        ) {
            prop_assert_eq!(
                IdempotencyKey::parse(&raw),
                Err(Invalid("must be 1 to 255 characters long".into()))
            );
        }

        #[test]
        fn one_invisible_or_foreign_character_spoils_an_idempotency_key(
            raw in "[!-~]{0,200}",
            bad in any::<char>().prop_filter("not visible ASCII", |c| !c.is_ascii_graphic()),
            at in any::<prop::sample::Index>(),
        ) {
            let mut chars: Vec<char> = raw.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            let spoilt: String = chars.into_iter().collect();
            prop_assert_eq!(
                IdempotencyKey::parse(&spoilt),
                Err(Invalid("may contain only visible ASCII characters".into()))
            );
        }

        #[test]
        fn any_text_is_an_idempotency_key_or_a_clear_refusal(raw in any_text()) {
            match IdempotencyKey::parse(&raw) {
                Ok(key) => {
                    prop_assert_eq!(key.as_str(), raw.as_str());
                    prop_assert_eq!(IdempotencyKey::parse(key.as_str()), Ok(key.clone()));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn an_authorization_id_in_any_uuid_form_reads_as_its_lower_case_hyphenated_form(
            bits in any::<u128>(),
        ) {
            let uuid = uuid::Uuid::from_u128(bits);
            let canonical = uuid.hyphenated().to_string();
            for form in [
                canonical.clone(),
                canonical.to_ascii_uppercase(),
                uuid.simple().to_string(),
                uuid.braced().to_string(),
            ] {
                let id = AuthorizationId::parse(&form);
                prop_assert_eq!(id.as_ref().map(AuthorizationId::as_str), Some(canonical.as_str()));
                prop_assert_eq!(id.and_then(|id| AuthorizationId::parse(id.as_str())).map(|id| id.to_string()), Some(canonical.clone()));
            }
        }

        #[test]
        fn an_amount_is_exactly_one_cent_to_a_million(
            cents in prop_oneof![-2..=2i64, 99_999_998..=100_000_002i64, any::<i64>()],
        ) {
            let from_json = serde_json::from_str::<Amount>(&cents.to_string());
            let ok = (1..=100_000_000).contains(&cents);
            prop_assert_eq!(Amount::new(cents).map(Amount::get).ok(), ok.then_some(cents));
            prop_assert_eq!(from_json.map(Amount::get).ok(), ok.then_some(cents));
        }
    }

    /// The case the property above first found: a year no `i32` holds was told it was too
    /// far ahead.
    #[test]
    fn a_year_before_what_an_i32_holds_has_expired() {
        assert_eq!(
            Expiry::parse(6, i64::from(i32::MIN) - 1, (2026, 6)),
            Err(vec![ExpiryError::Year(Invalid(
                "the card has expired".into()
            ))])
        );
    }
}
