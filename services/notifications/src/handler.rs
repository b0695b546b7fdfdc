//! Turns the events notifications subscribes to into messages, written to the user's
//! mailbox inside the consumer's transaction (which also marks the event handled, so each
//! event writes exactly one message).

use crate::{
    compose::{self, Composed},
    domain::{
        CancelReason, Currency, DeclineCode, DisplayName, EmailAddress, EmailStatus, Id, ItemName,
        LineItem, Money, Quantity, fold_text,
    },
    error::NotificationsError,
    events::{
        ORDER_CANCELLED, ORDER_CONFIRMED, OrderCancelled, OrderConfirmed, OrderItem, OrderOf,
        PAYMENT_FAILED, PaymentFailed, USER_REGISTERED, USER_SIGNED_OUT, UserRegistered,
        UserSignedOut,
    },
    store::{self, NewMessage},
};
use events::{Event, Handler, HandlerError, decode};
use platform::{Failure, failure::Fields};
use sqlx::{Any, Transaction};

/// Whether the messages written are also to be mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailMode {
    /// SMTP is configured: each message waits for the mail worker (`pending`).
    Send,
    /// No SMTP: mailbox only (`skipped`).
    Skip,
}

/// Notifications' handler of identity's, orders' and payments' events.
///
/// `user.registered` remembers the user's address and name and writes a welcome (the
/// first time);
/// `order.confirmed`, `order.cancelled` and `payment.failed` write what happened to the
/// order, greeting the user by the name the event or identity gave. Data that does not
/// decode, or is out of bounds, is a permanent failure (the event is dead-lettered); an
/// unreadable address in an order's event only means the one identity announced is used.
#[derive(Debug, Clone, Copy)]
pub struct NotificationHandler {
    email: EmailMode,
}

impl NotificationHandler {
    pub fn new(email: EmailMode) -> Self {
        Self { email }
    }
}

/// What a message needs besides its text: whom it is for, and where its email goes.
struct Addressed {
    user_id: Id,
    email_to: Option<EmailAddress>,
    message: Composed,
}

/// Whom a message is for: the user, where its email goes, the name to greet them by.
struct Recipient {
    user_id: Id,
    email_to: Option<EmailAddress>,
    name: Option<DisplayName>,
}

impl Recipient {
    /// `message`, addressed to this recipient.
    fn gets(self, message: Composed) -> Addressed {
        Addressed {
            user_id: self.user_id,
            email_to: self.email_to,
            message,
        }
    }
}

impl Handler for NotificationHandler {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &Event,
    ) -> Result<(), HandlerError> {
        let addressed = match event.kind.as_str() {
            USER_REGISTERED => welcome(tx, decode(event)?).await?,
            USER_SIGNED_OUT => {
                let out: UserSignedOut = decode(event)?;
                let user = id("user_id", &out.user_id)?;
                store::record_sign_out(tx, user.as_str(), out.signed_out_at).await?;
                tracing::info!(user_id = %user, "signed out: older tokens' streams end");
                None
            }
            ORDER_CONFIRMED => Some(order_confirmed(tx, decode(event)?).await?),
            ORDER_CANCELLED => Some(order_cancelled(tx, decode(event)?).await?),
            PAYMENT_FAILED => Some(payment_failed(tx, decode(event)?).await?),
            other => {
                return Err(HandlerError::unhandled("notifications", other));
            }
        };
        let Some(addressed) = addressed else {
            return Ok(());
        };
        let kind = addressed.message.kind;
        let id = store::insert_message(
            tx,
            &NewMessage {
                user_id: &addressed.user_id,
                message: addressed.message,
                event_id: &event.id,
                email_to: addressed.email_to.as_ref(),
                email_status: match self.email {
                    EmailMode::Send => EmailStatus::Pending,
                    EmailMode::Skip => EmailStatus::Skipped,
                },
            },
        )
        .await?;
        tracing::info!(user_id = %addressed.user_id, message_id = %id, kind = kind.as_str(), "message written");
        Ok(())
    }
}

/// An id, or a permanent failure naming the field.
fn id(field: &str, raw: &str) -> Result<Id, Failure> {
    Failure::field(field, Id::parse(raw))
}

/// An order's amount and lines, all in its currency.
fn order_lines(
    items: &[OrderItem],
    total_cents: i64,
    currency: &str,
) -> Result<(Money, Vec<LineItem>), NotificationsError> {
    let mut fields = Fields::new();
    let currency = fields.take("currency", Currency::parse(currency));
    let mut lines = Vec::with_capacity(items.len());
    let mut total = None;
    if let Some(currency) = currency {
        total = fields.take("total_cents", Money::new(total_cents, currency));
        for (i, item) in items.iter().enumerate() {
            let unit_price = fields.take(
                format!("items[{i}].unit_price_cents"),
                Money::new(item.unit_price_cents, currency),
            );
            let quantity =
                fields.take(format!("items[{i}].quantity"), Quantity::new(item.quantity));
            if let (Some(unit_price), Some(quantity)) = (unit_price, quantity) {
                lines.push(LineItem {
                    name: ItemName::parse(&item.name),
                    unit_price,
                    quantity,
                });
            }
        }
    }
    fields.check()?;
    match total {
        Some(total) => Ok((total, lines)),
        None => Err(NotificationsError::invalid("total_cents", "is missing")),
    }
}

/// The address an order's event carries, if it is one.
fn optional_email(raw: Option<&str>) -> Option<EmailAddress> {
    let raw = raw?;
    match EmailAddress::parse(raw) {
        Ok(email) => Some(email),
        Err(e) => {
            tracing::warn!(error = %e, "the event's user_email is unusable; using the one identity announced");
            None
        }
    }
}

/// The name to greet: the event's, else the one identity announced.
fn greet_as(event_name: Option<&str>, known: Option<&str>) -> Option<DisplayName> {
    event_name
        .and_then(DisplayName::parse)
        .or_else(|| known.and_then(DisplayName::parse))
}

/// A welcome, once per user: identity announces an account again when it is changed (the
/// configured admin's), which updates its details but is not news to its owner.
async fn welcome(
    tx: &mut Transaction<'static, Any>,
    data: UserRegistered,
) -> Result<Option<Addressed>, NotificationsError> {
    let user_id = id("user_id", &data.user_id)?;
    let email = Failure::field("email", EmailAddress::parse(&data.email))?;
    let name = DisplayName::parse(&data.name);
    store::remember_user(
        tx,
        &user_id,
        Some(&email),
        name.as_ref().map(DisplayName::as_str),
        true,
    )
    .await?;
    if store::was_welcomed(tx, &user_id).await? {
        tracing::info!(user_id = %user_id, "account announced again; details updated, no second welcome");
        return Ok(None);
    }
    Ok(Some(Addressed {
        message: compose::welcome(name.as_ref(), &email),
        user_id,
        email_to: Some(email),
    }))
}

/// An order's message parts: who it goes to, the order's id, its total and its lines.
type OrderParts = (Recipient, Id, Money, Vec<LineItem>);

async fn order_parts(
    tx: &mut Transaction<'static, Any>,
    order: &OrderOf,
    items: &[OrderItem],
) -> Result<OrderParts, NotificationsError> {
    let (email, name) = (order.user_email.as_deref(), order.user_name.as_deref());
    let to = recipient(tx, &order.user_id, email, name).await?;
    let order_id = id("order_id", &order.order_id)?;
    let (total, lines) = order_lines(items, order.total_cents, &order.currency)?;
    Ok((to, order_id, total, lines))
}

async fn order_confirmed(
    tx: &mut Transaction<'static, Any>,
    data: OrderConfirmed,
) -> Result<Addressed, NotificationsError> {
    let (to, order_id, total, lines) = order_parts(tx, &data.order, &data.items).await?;
    let message = compose::order_confirmed(to.name.as_ref(), &order_id, &lines, total);
    Ok(to.gets(message))
}

async fn order_cancelled(
    tx: &mut Transaction<'static, Any>,
    data: OrderCancelled,
) -> Result<Addressed, NotificationsError> {
    let (to, order_id, total, lines) = order_parts(tx, &data.order, &data.items).await?;
    let reason = CancelReason::parse(&data.reason);
    let message = compose::order_cancelled(to.name.as_ref(), &order_id, &reason, &lines, total);
    Ok(to.gets(message))
}

async fn payment_failed(
    tx: &mut Transaction<'static, Any>,
    data: PaymentFailed,
) -> Result<Addressed, NotificationsError> {
    let to = recipient(tx, &data.user_id, None, None).await?;
    let order_id = id("order_id", &data.order_id)?;
    let mut fields = Fields::new();
    let amount = fields
        .take("currency", Currency::parse(&data.currency))
        .and_then(|c| fields.take("amount_cents", Money::new(data.amount_cents, c)));
    fields.check()?;
    let amount = amount.ok_or_else(|| NotificationsError::invalid("amount_cents", "is missing"))?;
    let code = DeclineCode::parse(data.decline_code.as_deref());
    let said = data.message.as_deref().map(|m| fold_text(m, 200));
    let name = to.name.as_ref();
    let message = compose::payment_failed(name, &order_id, amount, &code, said.as_deref());
    Ok(to.gets(message))
}

/// Whom a message about an order is for. The event's copy of the user's details fills in
/// a user not known yet; the name it gives comes before the one identity announced.
async fn recipient(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    email: Option<&str>,
    event_name: Option<&str>,
) -> Result<Recipient, NotificationsError> {
    let user_id = id("user_id", user_id)?;
    let email_to = optional_email(email);
    let known = store::contact(tx, &user_id).await?;
    if known.email.is_none() && email_to.is_some() {
        let name = event_name.and_then(DisplayName::parse);
        let name = name.as_ref().map(DisplayName::as_str);
        store::remember_user(tx, &user_id, email_to.as_ref(), name, false).await?;
    }
    Ok(Recipient {
        name: greet_as(event_name, known.name.as_deref()),
        user_id,
        email_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: i64, unit_price_cents: i64) -> OrderItem {
        OrderItem {
            product_id: "p-1".into(),
            name: "Mug".into(),
            unit_price_cents,
            quantity,
        }
    }

    #[test]
    fn order_lines_take_the_orders_currency() {
        let (total, lines) = order_lines(&[item(2, 1299)], 2598, "USD").unwrap();
        assert_eq!(total.to_string(), "$25.98");
        assert_eq!(lines[0].quantity.get(), 2);
    }

    #[test]
    fn bad_order_data_names_every_field_at_fault() {
        let err = order_lines(&[item(0, 1299), item(1, -5)], -1, "USD").unwrap_err();
        let NotificationsError::Failure(Failure::Invalid(errors)) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "total_cents",
                "items[0].quantity",
                "items[1].unit_price_cents"
            ]
        );
        let err = order_lines(&[], 100, "usd").unwrap_err();
        assert!(
            matches!(err, NotificationsError::Failure(Failure::Invalid(e)) if e[0].field == "currency")
        );
    }

    #[test]
    fn the_events_name_comes_before_the_announced_one() {
        assert_eq!(
            greet_as(Some("Sam"), Some("Samantha")).unwrap().as_str(),
            "Sam"
        );
        assert_eq!(
            greet_as(Some(" "), Some("Samantha")).unwrap().as_str(),
            "Samantha"
        );
        assert_eq!(greet_as(None, None), None);
    }

    #[test]
    fn an_unusable_address_in_an_order_is_ignored() {
        assert_eq!(optional_email(Some("nope")), None);
        assert_eq!(
            optional_email(Some("sam@example.com")).unwrap().as_str(),
            "sam@example.com"
        );
    }
}
