//! Writes each message: its subject and plain-text body, as a shop's email reads them.
//! Pure functions of parsed values, so every wording is tested here.

use crate::domain::{
    CancelReason, DeclineCode, DisplayName, EmailAddress, Id, LineItem, MessageKind, Money, short,
};
use std::fmt::Write as _;

/// A message ready to be stored (and mailed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub kind: MessageKind,
    pub subject: String,
    pub body: String,
}

const SIGN_OFF: &str = "Happy shopping,\nThe Bazaar team";

fn greeting(name: Option<&DisplayName>) -> String {
    match name {
        Some(n) => format!("Hi {},", n.as_str()),
        None => "Hello,".to_owned(),
    }
}

/// The lines of an order, one per item: `- 2 × Mug, $12.99 each: $25.98`.
fn item_lines(items: &[LineItem]) -> String {
    let mut out = String::new();
    for item in items {
        let quantity = item.quantity.get();
        let line_total = item
            .unit_price
            .times(item.quantity)
            .map(|m| m.to_string())
            .unwrap_or_else(|| "—".to_owned());
        if quantity == 1 {
            let _ = writeln!(out, "- 1 × {}: {line_total}", item.name.as_str());
        } else {
            let _ = writeln!(
                out,
                "- {quantity} × {}, {} each: {line_total}",
                item.name.as_str(),
                item.unit_price
            );
        }
    }
    out
}

/// "Welcome to Bazaar, Sam".
pub fn welcome(name: Option<&DisplayName>, email: &EmailAddress) -> Composed {
    let subject = match name {
        Some(n) => format!("Welcome to Bazaar, {}", n.as_str()),
        None => "Welcome to Bazaar".to_owned(),
    };
    let body = format!(
        "{}\n\n\
         Welcome to Bazaar! Your account is ready: sign in any time with {}.\n\n\
         Browse thousands of products across every category, keep what you like in your \
         cart, and check out in a few clicks. We will write to you here whenever \
         something happens to your orders.\n\n\
         {SIGN_OFF}\n",
        greeting(name),
        email.as_str()
    );
    Composed {
        kind: MessageKind::Welcome,
        subject,
        body,
    }
}

/// "Your order #8A9C0D11 is confirmed", with its items and total.
pub fn order_confirmed(
    name: Option<&DisplayName>,
    order: &Id,
    items: &[LineItem],
    total: Money,
) -> Composed {
    let short = short(order);
    let body = format!(
        "{}\n\n\
         Thank you for shopping at Bazaar! Your order {short} is confirmed and we are \
         getting it ready.\n\n\
         Order {short}\n\
         {}\n\
         Total charged: {total}\n\n\
         We will let you know when it ships. You can see your order at any time under \
         \"Your orders\".\n\n\
         {SIGN_OFF}\n",
        greeting(name),
        item_lines(items),
    );
    Composed {
        kind: MessageKind::OrderConfirmed,
        subject: format!("Your order {short} is confirmed"),
        body,
    }
}

/// "Your order #8A9C0D11 was cancelled", saying why and what to do.
pub fn order_cancelled(
    name: Option<&DisplayName>,
    order: &Id,
    reason: &CancelReason,
    items: &[LineItem],
    total: Money,
) -> Composed {
    let short = short(order);
    let (why, next) = match reason {
        CancelReason::PaymentDeclined => (
            "your payment was declined".to_owned(),
            "Your items are still in your cart: you can check out again with another card.",
        ),
        CancelReason::InsufficientStock => (
            "some of its items sold out before we could set them aside for you".to_owned(),
            "Please review your cart, where the rest of your items are waiting, and check \
             out again.",
        ),
        CancelReason::PaymentError => (
            "we could not process your payment".to_owned(),
            "This was a problem on our side, not with your card. Your items are still in \
             your cart; please try again in a few minutes.",
        ),
        CancelReason::Expired => (
            "the checkout was not completed in time".to_owned(),
            "Your items are still in your cart whenever you are ready.",
        ),
        CancelReason::Interrupted => (
            "the checkout was interrupted on our side".to_owned(),
            "Your items are back in your cart; please check out again.",
        ),
        // The lines may have been bought by the other checkout: sending the shopper back
        // to the cart to "try again" could buy them twice.
        CancelReason::CartChanged => (
            "your cart changed while it was being checked out".to_owned(),
            "Perhaps another checkout of the same cart, in another tab or on another \
             device, went through first, or the cart was changed meanwhile. Please look at \
             \"Your orders\" before checking out again, so that you do not buy the same \
             items twice.",
        ),
        CancelReason::Other(code) if code.is_empty() => (
            "it could not be completed".to_owned(),
            "Your items are still in your cart; please try again.",
        ),
        CancelReason::Other(code) => (
            format!("it could not be completed ({code})"),
            "Your items are still in your cart; please try again.",
        ),
    };
    // Where the saga stopped before asking for the money, there was never a hold to
    // speak of.
    let charge = match reason {
        CancelReason::PaymentDeclined
        | CancelReason::InsufficientStock
        | CancelReason::CartChanged => format!("You have not been charged the {total} for it."),
        _ => format!(
            "You have not been charged for it; any hold on your card for {total} has been \
             released."
        ),
    };
    let mut body = format!(
        "{}\n\n\
         We are sorry: your order {short} was cancelled because {why}.\n\n\
         {charge}\n\n",
        greeting(name),
    );
    if !items.is_empty() {
        let _ = write!(body, "The order was for:\n{}\n", item_lines(items));
    }
    let _ = write!(body, "{next}\n\n{SIGN_OFF}\n");
    Composed {
        kind: MessageKind::OrderCancelled,
        subject: format!("Your order {short} was cancelled"),
        body,
    }
}

/// "Your payment was declined", with the decline reason and what to do about it.
/// `message` is what payments said, shown when the code is not one this service knows.
pub fn payment_failed(
    name: Option<&DisplayName>,
    order: &Id,
    amount: Money,
    code: &DeclineCode,
    message: Option<&str>,
) -> Composed {
    let (why, next) = match code {
        DeclineCode::CardDeclined => (
            "your bank declined the card".to_owned(),
            "Please check the card details, contact your bank, or pay with a different card.",
        ),
        DeclineCode::InsufficientFunds => (
            "the card does not have enough funds".to_owned(),
            "Please pay with a different card, or try again once the funds are available.",
        ),
        DeclineCode::Other => (
            message
                .map(|m| m.trim().trim_end_matches('.').to_owned())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the card could not be authorised".to_owned()),
            "Please check your card details or pay with a different card.",
        ),
    };
    let body = format!(
        "{}\n\n\
         Your payment of {amount} for order {} was declined: {why}.\n\n\
         What to do: {next} Your items are still in your cart, so checking out again \
         takes only a moment.\n\n\
         No money was taken from your account.\n\n\
         {SIGN_OFF}\n",
        greeting(name),
        short(order),
    );
    Composed {
        kind: MessageKind::PaymentFailed,
        subject: "Your payment was declined".to_owned(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, ItemName, Quantity};

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::parse("USD").unwrap()).unwrap()
    }

    fn order() -> Id {
        Id::parse("0193f1c2-7b1e-7cc0-9f1d-2b4e8a9c0d11").unwrap()
    }

    fn items() -> Vec<LineItem> {
        vec![
            LineItem {
                name: ItemName::parse("Blue Mug"),
                unit_price: usd(1299),
                quantity: Quantity::new(2).unwrap(),
            },
            LineItem {
                name: ItemName::parse("Kettle"),
                unit_price: usd(4999),
                quantity: Quantity::new(1).unwrap(),
            },
        ]
    }

    fn sam() -> Option<DisplayName> {
        DisplayName::parse("Sam")
    }

    #[test]
    fn a_welcome_greets_by_name_or_politely_without_one() {
        let email = EmailAddress::parse("sam@example.com").unwrap();
        let m = welcome(sam().as_ref(), &email);
        assert_eq!(m.kind, MessageKind::Welcome);
        assert_eq!(m.subject, "Welcome to Bazaar, Sam");
        assert!(m.body.starts_with("Hi Sam,\n\n"), "{}", m.body);
        assert!(m.body.contains("sam@example.com"), "{}", m.body);
        let anonymous = welcome(None, &email);
        assert_eq!(anonymous.subject, "Welcome to Bazaar");
        assert!(anonymous.body.starts_with("Hello,\n"));
    }

    #[test]
    fn a_confirmation_lists_items_and_the_total() {
        let m = order_confirmed(sam().as_ref(), &order(), &items(), usd(7597));
        assert_eq!(m.subject, "Your order #8A9C0D11 is confirmed");
        for line in [
            "- 2 × Blue Mug, $12.99 each: $25.98\n",
            "- 1 × Kettle: $49.99\n",
            "Total charged: $75.97\n",
        ] {
            assert!(m.body.contains(line), "{line:?} missing from:\n{}", m.body);
        }
        assert!(m.body.ends_with("The Bazaar team\n"));
    }

    #[test]
    fn a_cancellation_says_why_in_words() {
        let cases = [
            (CancelReason::PaymentDeclined, "your payment was declined"),
            (CancelReason::InsufficientStock, "sold out"),
            (CancelReason::PaymentError, "could not process your payment"),
            (CancelReason::Expired, "not completed in time"),
            (CancelReason::parse("interrupted"), "interrupted"),
            (CancelReason::parse("cart_changed"), "your cart changed"),
            (CancelReason::parse("fraud_review"), "(fraud review)"),
        ];
        for (reason, words) in cases {
            let m = order_cancelled(sam().as_ref(), &order(), &reason, &items(), usd(7597));
            assert_eq!(m.subject, "Your order #8A9C0D11 was cancelled");
            assert!(m.body.contains(words), "{reason:?}:\n{}", m.body);
            assert!(m.body.contains("not been charged"), "{reason:?}");
            assert!(m.body.contains("$75.97"), "{reason:?}");
            assert!(
                !m.body.contains('_'),
                "{reason:?} shows a code:\n{}",
                m.body
            );
        }
        assert!(
            !order_cancelled(None, &order(), &CancelReason::Expired, &[], usd(0))
                .body
                .contains("The order was for")
        );
    }

    #[test]
    fn a_cancellation_claims_no_hold_and_no_cart_it_cannot_know_of() {
        // Lost to another checkout of the same cart: its items may have been bought by
        // that one, and nothing was asked of the card.
        let changed = order_cancelled(
            sam().as_ref(),
            &order(),
            &CancelReason::CartChanged,
            &items(),
            usd(7597),
        );
        assert!(
            !changed.body.contains("still in your cart"),
            "{}",
            changed.body
        );
        assert!(changed.body.contains("Your orders"), "{}", changed.body);
        for reason in [
            CancelReason::CartChanged,
            CancelReason::InsufficientStock,
            CancelReason::PaymentDeclined,
        ] {
            let m = order_cancelled(None, &order(), &reason, &items(), usd(7597));
            assert!(!m.body.contains("hold"), "{reason:?}:\n{}", m.body);
        }
        // Stopped during or after the authorisation: a hold may have been made and voided.
        for reason in [CancelReason::PaymentError, CancelReason::Interrupted] {
            let m = order_cancelled(None, &order(), &reason, &items(), usd(7597));
            assert!(m.body.contains("any hold on your card"), "{reason:?}");
        }
    }

    #[test]
    fn a_decline_explains_and_advises() {
        let declined = payment_failed(
            sam().as_ref(),
            &order(),
            usd(7597),
            &DeclineCode::CardDeclined,
            None,
        );
        assert_eq!(declined.subject, "Your payment was declined");
        assert!(declined.body.contains("$75.97 for order #8A9C0D11"));
        assert!(declined.body.contains("your bank declined the card"));
        assert!(declined.body.contains("What to do:"));
        let funds = payment_failed(
            None,
            &order(),
            usd(100),
            &DeclineCode::InsufficientFunds,
            None,
        );
        assert!(funds.body.contains("does not have enough funds"));
        let other = payment_failed(
            None,
            &order(),
            usd(100),
            &DeclineCode::Other,
            Some("The card has expired."),
        );
        assert!(
            other.body.contains("declined: The card has expired.\n"),
            "{}",
            other.body
        );
    }
}
