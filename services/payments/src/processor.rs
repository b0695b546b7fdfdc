//! The simulated card processor: what the card network answers for a card, after the
//! configured latency. The test cards behave as documented; any other valid card is
//! approved.

use crate::domain::Card;
use std::time::Duration;

/// Approved.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// Declined with `card_declined`.
pub const CARD_DECLINED: &str = "4000000000000002";
/// Declined with `insufficient_funds`.
pub const CARD_INSUFFICIENT_FUNDS: &str = "4000000000009995";
/// A processing error on every attempt: the caller's retries never succeed.
pub const CARD_PROCESSING_ERROR: &str = "4000000000000119";

/// Why the card network refused a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    /// Machine-readable (`card_declined`, `insufficient_funds`).
    pub code: &'static str,
    /// A sentence a shopper may be shown.
    pub message: &'static str,
}

/// The network's answer to an authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Declined(Decline),
    /// The network failed to answer; the same request may succeed later.
    ProcessingError,
}

/// The simulated processor. Cheap to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Processor {
    delay: Duration,
}

impl Processor {
    /// A processor that takes `delay` for each call.
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }

    /// Asks the network to hold money on `card`.
    pub async fn authorize(&self, card: &Card) -> Outcome {
        self.latency().await;
        outcome_for(card.number.digits())
    }

    /// Captures, voids or refunds an authorisation: always accepted by this network,
    /// after its latency.
    pub async fn settle(&self) {
        self.latency().await;
    }

    async fn latency(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

fn outcome_for(digits: &str) -> Outcome {
    match digits {
        CARD_DECLINED => Outcome::Declined(Decline {
            code: "card_declined",
            message: "The card was declined.",
        }),
        CARD_INSUFFICIENT_FUNDS => Outcome::Declined(Decline {
            code: "insufficient_funds",
            message: "The card has insufficient funds.",
        }),
        CARD_PROCESSING_ERROR => Outcome::ProcessingError,
        _ => Outcome::Approved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_cards_behave_as_documented() {
        assert_eq!(outcome_for(CARD_SUCCEEDS), Outcome::Approved);
        assert_eq!(outcome_for("5555555555554444"), Outcome::Approved);
        assert_eq!(outcome_for(CARD_PROCESSING_ERROR), Outcome::ProcessingError);
        for (card, code) in [
            (CARD_DECLINED, "card_declined"),
            (CARD_INSUFFICIENT_FUNDS, "insufficient_funds"),
        ] {
            match outcome_for(card) {
                Outcome::Declined(d) => assert_eq!(d.code, code),
                other => panic!("{card}: {other:?}"),
            }
        }
    }
}
