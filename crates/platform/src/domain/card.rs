//! A payment card's parts, checked as every card network would: the number (its brand's
//! length and the Luhn check digit), the expiry month and the security code. Payments
//! authorises with them; orders checks a checkout's card with them before it makes an
//! order, so that a mistyped card is a `422` and not a cancelled order.
//!
//! A card number lives only in a [`CardNumber`], which shows nothing but its brand and
//! last four digits, in `Debug` as anywhere else.

use super::{Invalid, invalid};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// A card network, told from the number's leading digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    /// Numbers starting with 4; 13, 16 or 19 digits.
    Visa,
    /// Numbers starting with 51–55 or 2221–2720; 16 digits.
    Mastercard,
    /// Numbers starting with 34 or 37; 15 digits, 4-digit security code.
    Amex,
    /// Any other network; 12 to 19 digits.
    Unknown,
}

impl CardBrand {
    /// The brand of a number of ASCII digits.
    pub fn of(digits: &str) -> Self {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        if digits.starts_with('4') {
            CardBrand::Visa
        } else if prefix(2).is_some_and(|p| (51..=55).contains(&p))
            || prefix(4).is_some_and(|p| (2221..=2720).contains(&p))
        {
            CardBrand::Mastercard
        } else if prefix(2).is_some_and(|p| p == 34 || p == 37) {
            CardBrand::Amex
        } else {
            CardBrand::Unknown
        }
    }

    /// The lengths a number of this brand may have.
    pub fn lengths(self) -> &'static [usize] {
        match self {
            CardBrand::Visa => &[13, 16, 19],
            CardBrand::Mastercard => &[16],
            CardBrand::Amex => &[15],
            CardBrand::Unknown => &[12, 13, 14, 15, 16, 17, 18, 19],
        }
    }

    /// The name stored and shown (`visa`).
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Unknown => "unknown",
        }
    }

    /// The brand of a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Unknown,
        ]
        .into_iter()
        .find(|b| b.as_str() == raw)
    }

    fn display_name(self) -> &'static str {
        match self {
            CardBrand::Visa => "a Visa",
            CardBrand::Mastercard => "a Mastercard",
            CardBrand::Amex => "an American Express",
            CardBrand::Unknown => "this",
        }
    }
}

/// A card number that passed the Luhn check and fits its brand's length. Its digits are
/// kept only for the simulated processor; it prints as brand and last four.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber {
    digits: String,
    brand: CardBrand,
}

impl CardNumber {
    /// Parses a number of digits, optionally grouped with spaces. The messages never
    /// repeat the number.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let digits: String = raw.chars().filter(|c| *c != ' ').collect();
        if digits.is_empty() {
            return invalid("must not be empty");
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("must contain only digits (spaces between groups are allowed)");
        }
        if !(12..=19).contains(&digits.len()) {
            return invalid("must have 12 to 19 digits");
        }
        let brand = CardBrand::of(&digits);
        if !brand.lengths().contains(&digits.len()) {
            return invalid(format!(
                "has {} digits, which {} card number cannot have",
                digits.len(),
                brand.display_name()
            ));
        }
        if !luhn(&digits) {
            return invalid("is not a valid card number (its check digit is wrong)");
        }
        Ok(Self { digits, brand })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// The last four digits: all of the number that is ever stored or shown.
    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// The whole number, for the processor only.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({} …{})", self.brand.as_str(), self.last4())
    }
}

/// The Luhn (mod 10) check of a string of ASCII digits.
pub fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The month a card expires at the end of. Which of month and year is at fault is told
/// apart, so that the error names the right field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub month: u32,
    pub year: i32,
}

/// Why an expiry was refused, per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryError {
    Month(Invalid),
    Year(Invalid),
}

impl Expiry {
    /// How many years ahead an expiry may be.
    pub const MAX_YEARS_AHEAD: i32 = 20;

    /// Parses a month and a four-digit year against the current month `today` (year,
    /// month): a card is valid through the end of its expiry month.
    pub fn parse(month: i64, year: i64, today: (i32, u32)) -> Result<Self, Vec<ExpiryError>> {
        let mut errors = Vec::new();
        let month = match u32::try_from(month).ok().filter(|m| (1..=12).contains(m)) {
            Some(m) => Some(m),
            None => {
                errors.push(ExpiryError::Month(Invalid(
                    "must be between 1 and 12".into(),
                )));
                None
            }
        };
        let (this_year, this_month) = today;
        // Compared as given: a year no `i32` holds is long past as often as far ahead.
        let year = match year {
            y if (0..100).contains(&y) => {
                errors.push(ExpiryError::Year(Invalid(format!(
                    "must be a four-digit year ({}, not {y:02})",
                    2000 + y
                ))));
                None
            }
            y if y < i64::from(this_year) => {
                errors.push(ExpiryError::Year(Invalid("the card has expired".into())));
                None
            }
            y if y <= i64::from(this_year + Self::MAX_YEARS_AHEAD) => i32::try_from(y).ok(),
            _ => {
                errors.push(ExpiryError::Year(Invalid(format!(
                    "must be at most {} years ahead",
                    Self::MAX_YEARS_AHEAD
                ))));
                None
            }
        };
        if let (Some(month), Some(year)) = (month, year) {
            if year == this_year && month < this_month {
                errors.push(ExpiryError::Month(Invalid("the card has expired".into())));
            } else {
                return Ok(Self { month, year });
            }
        }
        Err(errors)
    }

    /// The current month, in UTC.
    pub fn this_month() -> (i32, u32) {
        let now = chrono::Utc::now();
        (now.year(), now.month())
    }
}

/// A card's security code: 3 or 4 digits, 4 for American Express. Never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    pub fn parse(raw: &str, brand: Option<CardBrand>) -> Result<Self, Invalid> {
        if !(3..=4).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("must be 3 or 4 digits");
        }
        if brand == Some(CardBrand::Amex) && raw.len() != 4 {
            return invalid("must be 4 digits for an American Express card");
        }
        Ok(Self(raw.to_owned()))
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}
