//! The checkout saga, orchestrated and persisted: take the lines out of the buyer's cart
//! and reserve the stock, authorise the
//! payment (the pivot), then commit the reservation and capture the payment. Every step
//! is written to the order before its call (and its outcome with the next step), so a
//! crash at any point leaves an order the recovery worker can finish: backwards (release,
//! cancel) before the pivot, forwards (commit, capture, confirm) after it.
//!
//! Transient failures (no answer, 5xx, timeouts) are retried — every call is idempotent,
//! keyed by the order id. Refusals (402, 409, 422) are business outcomes and compensate,
//! in reverse order: void the payment if it was authorised, release the stock, cancel.
//!
//! A reservation or an authorisation that keeps failing transiently does not end the
//! checkout at once: the order waits, resumable, for its client to send the same request
//! again (the card comes only with a request), which carries it on from its step. Only
//! when that window has passed does recovery compensate it, and 503 becomes the key's
//! answer.

use crate::{
    clients::{CallError, Services},
    domain::{Answer, CancelReason, Card, Order, OrderId, Status, Step},
    error::OrdersError,
    events::Announce,
    store::Store,
    view,
};
use events::{envelope::to_rfc3339, now_rfc3339};
use platform::shutdown::Shutdown;
use serde_json::Value;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::time::Instant;

/// Calls a checkout request makes at one step before it gives the step up (the
/// authorisation has its own budget, `payment_retries`).
const STEP_ATTEMPTS: u32 = 3;
/// Calls per step in one pass of the recovery worker; its next pass tries again.
const RECOVERY_ATTEMPTS: u32 = 1;
/// Orders the recovery worker takes on in one pass.
const RECOVERY_BATCH: i64 = 20;
/// How often a request waiting for another request's checkout looks at the order.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// How the saga paces itself.
#[derive(Debug, Clone)]
pub struct SagaSettings {
    /// Retries of an authorisation that failed transiently.
    pub payment_retries: u32,
    /// How long an order may go without progress before recovery takes it over.
    pub recovery_after: Duration,
    /// How often recovery looks.
    pub recovery_interval: Duration,
    /// How long a request waits for a checkout another request is driving.
    pub wait_bound: Duration,
    /// How long after it was placed a checkout stopped before its pivot (by an
    /// unavailable inventory or payments, or by its driver's end) may be resumed by a
    /// same-key retry; zero compensates at once.
    pub resumable_for: Duration,
    /// How long a request's checkout may call on before its client must be answered: no
    /// retry starts that could not end (`call_timeout` later) within it, and the client
    /// hears 503 with `resumable_until` (or 202) rather than the gateway's 504.
    pub answer_within: Duration,
    /// How long one call to another service may take.
    pub call_timeout: Duration,
}

tokio::task_local! {
    /// When the checkout a request drives must stop calling to answer in time; recovery
    /// runs without one.
    static ANSWER_BY: Instant;
}

/// The saga's driver: runs checkouts, answers repeated requests, recovers stuck orders.
/// Cheap to clone.
#[derive(Clone)]
pub struct Saga {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    services: Services,
    settings: SagaSettings,
    /// Orders driven by this process right now (a request or recovery): recovery leaves
    /// them alone.
    live: Mutex<HashSet<OrderId>>,
    /// This process's name as an order's driver in the database (its lease's holder):
    /// other replicas' recovery leaves the orders it holds alone.
    driver: String,
}

/// This process's lease on driving one order's saga, renewed in the background while it
/// is held; dropping it stops the renewal and gives the lease up.
struct Lease {
    saga: Saga,
    id: OrderId,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        let (saga, id) = (self.saga.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = saga.store().release(&id, &saga.inner.driver).await {
                    tracing::debug!(order_id = %id, error = %e, "the lease will expire instead");
                }
            });
        }
    }
}

/// The right to drive one order in this process; dropping it gives the right up.
pub struct Claim {
    inner: Arc<Inner>,
    id: OrderId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// A call of the saga to another service.
#[derive(Clone, Copy)]
enum Call<'a> {
    /// The cart's lines, taken so that no other checkout can buy them meanwhile.
    TakeCart,
    Reserve,
    Authorize(&'a Card),
    Commit,
    Capture,
    Void,
    Release,
}

impl Call<'_> {
    /// Its name in failpoints: `take_cart`, else the step it is made for.
    fn name(self) -> &'static str {
        match self {
            Call::TakeCart => Step::TakeCart.as_str(),
            Call::Reserve => Step::Reserve.as_str(),
            Call::Authorize(_) => Step::Authorize.as_str(),
            Call::Commit => Step::Commit.as_str(),
            Call::Capture => Step::Capture.as_str(),
            Call::Void => Step::Void.as_str(),
            Call::Release => Step::Release.as_str(),
        }
    }
}

/// The service a checkout stopped for, before its payment.
#[derive(Clone, Copy)]
enum Unavailable {
    Cart,
    Inventory,
    Payments,
}

impl Unavailable {
    /// The service a stalled order waits for, from the step it stopped at.
    fn at(order: &Order) -> Self {
        match (order.status, order.step) {
            (Status::Authorizing, _) => Unavailable::Payments,
            (_, Step::TakeCart) => Unavailable::Cart,
            _ => Unavailable::Inventory,
        }
    }

    /// The step a stalled order records, so that [`Unavailable::at`] finds it again.
    fn step(self) -> Step {
        match self {
            Unavailable::Cart => Step::TakeCart,
            Unavailable::Inventory => Step::Reserve,
            Unavailable::Payments => Step::Authorize,
        }
    }

    /// The call that kept failing, for logs.
    fn call(self) -> &'static str {
        match self {
            Unavailable::Cart => "taking the cart's lines",
            Unavailable::Inventory => "the reservation",
            Unavailable::Payments => "the authorisation",
        }
    }

    /// Why the order is cancelled when it can wait no longer.
    fn reason(self) -> CancelReason {
        match self {
            Unavailable::Cart | Unavailable::Inventory => CancelReason::Interrupted,
            Unavailable::Payments => CancelReason::PaymentError,
        }
    }

    /// How its answers name it.
    fn outage(self) -> view::Outage {
        match self {
            Unavailable::Cart => view::Outage {
                slug: "cart-unavailable",
                title: "Cart unavailable",
                what: "the cart's lines could not be taken for the order because the cart is \
                       not answering",
            },
            Unavailable::Inventory => view::Outage {
                slug: "inventory-unavailable",
                title: "Inventory unavailable",
                what: "stock could not be reserved because inventory is not answering",
            },
            Unavailable::Payments => view::Outage {
                slug: "payment-unavailable",
                title: "Payment unavailable",
                what: "the payment could not be processed",
            },
        }
    }

    /// The key's final answer once the order is cancelled.
    fn final_answer(self, order: &Order) -> Answer {
        view::unavailable(order, self.outage())
    }

    /// The answer while the order waits for a retry (never stored as the key's answer).
    fn for_now(self, order: &Order, until: &str) -> Answer {
        view::unavailable_for_now(order, self.outage(), until)
    }
}

/// What became of a step's calls.
enum Outcome {
    /// It succeeded; an authorisation gives its id.
    Done(Option<String>),
    /// The other service refused it.
    Refused { status: u16, problem: Value },
    /// It kept failing transiently.
    GaveUp(String),
    /// Another driver moved the order meanwhile; this one stops.
    Lost,
}

impl Outcome {
    /// Logs a call for `order` that did not go through — a refusal as an error, transient
    /// failures as a warning — saying what happens `next`.
    fn report(&self, order: &OrderId, call: &str, next: &str) {
        match self {
            Outcome::Refused { status, problem } => {
                tracing::error!(order_id = %order, status, problem = %problem, "{call} was refused; {next}");
            }
            Outcome::GaveUp(why) => {
                tracing::warn!(order_id = %order, error = %why, "{call} kept failing; {next}")
            }
            Outcome::Done(_) | Outcome::Lost => {}
        }
    }
}

impl Saga {
    /// A driver writing through `store` and calling `services`.
    pub fn new(store: Store, services: Services, settings: SagaSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                services,
                settings,
                live: Mutex::new(HashSet::new()),
                driver: format!(
                    "{}/{}",
                    std::env::var("BAZAAR_INSTANCE").unwrap_or_else(|_| "orders".into()),
                    uuid::Uuid::new_v4().simple()
                ),
            }),
        }
    }

    /// The lease's length: as long as an order may go without progress before recovery
    /// takes it over, renewed three times in it.
    fn lease_for(&self) -> Duration {
        self.inner
            .settings
            .recovery_after
            .max(Duration::from_millis(300))
    }

    /// Takes the database lease on driving `id` for this process, renewed until dropped;
    /// `None` when another replica holds it (or the order is final).
    async fn lease(&self, id: &OrderId) -> Result<Option<Lease>, OrdersError> {
        if !self.renew(id).await? {
            return Ok(None);
        }
        Ok(Some(self.hold(id)))
    }

    /// Records a new order, leased to this process from the start (one transaction, not
    /// two): `false` when the user has an order with its idempotency key already.
    pub async fn place(&self, order: &Order) -> Result<bool, OrdersError> {
        let until = self.lease_until(chrono::Utc::now());
        self.store()
            .place(order, &self.inner.driver, &to_rfc3339(until))
            .await
    }

    /// The lease this process holds on `id` in the database, renewed from now on until
    /// it is dropped.
    fn hold(&self, id: &OrderId) -> Lease {
        let (saga, order) = (self.clone(), id.clone());
        let every = self.lease_for() / 3;
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match saga.renew(&order).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(order_id = %order, error = %e, "could not renew the lease on an order")
                    }
                }
            }
        });
        Lease {
            saga: self.clone(),
            id: id.clone(),
            heartbeat,
        }
    }

    async fn renew(&self, id: &OrderId) -> Result<bool, OrdersError> {
        let now = chrono::Utc::now();
        let until = self.lease_until(now);
        self.store()
            .lease(id, &self.inner.driver, &to_rfc3339(until), &to_rfc3339(now))
            .await
    }

    fn lease_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::from_std(self.lease_for())
            .unwrap_or_else(|_| chrono::Duration::seconds(5))
    }

    /// Whether a request or recovery drives the order in this process right now.
    fn is_live(&self, id: &OrderId) -> bool {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// Claims an order for this process; `None` if it is being driven here already.
    pub fn claim(&self, id: &OrderId) -> Option<Claim> {
        let mut live = self
            .inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        live.insert(id.clone()).then(|| Claim {
            inner: self.inner.clone(),
            id: id.clone(),
        })
    }

    /// Drives an order this process placed ([`Saga::place`], which leased it) to its end
    /// and returns the checkout's answer.
    pub async fn checkout_placed(
        &self,
        claim: Claim,
        order: Order,
        card: Card,
    ) -> Result<Answer, OrdersError> {
        let lease = self.hold(&order.id);
        let answer_by = Instant::now() + self.inner.settings.answer_within;
        self.drive(claim, lease, order, card, answer_by).await
    }

    /// Drives an order placed before (a request repeating the one that placed it) to its
    /// end and returns the checkout's answer.
    pub async fn checkout(
        &self,
        claim: Claim,
        order: Order,
        card: Card,
    ) -> Result<Answer, OrdersError> {
        // Another replica may drive it (a retry reaching another replica): its answer,
        // unless its lease lapses meanwhile (its process died): then this request carries
        // the order on.
        let Some(lease) = self.lease(&order.id).await? else {
            return self.wait_or_resume(order, Some((claim, card))).await;
        };
        let answer_by = Instant::now() + self.inner.settings.answer_within;
        self.drive(claim, lease, order, card, answer_by).await
    }

    /// Runs the saga in a task of its own, so that a client hanging up (or the request's
    /// timeout) cannot stop it between two steps. Its answer is due by `answer_by`.
    /// (A boxed future, `Send` by its type: a saga may wait for another driver and then
    /// drive the order itself, so the saga's future would contain its own type.)
    fn drive(
        &self,
        claim: Claim,
        lease: Lease,
        order: Order,
        card: Card,
        answer_by: Instant,
    ) -> futures_util::future::BoxFuture<'static, Result<Answer, OrdersError>> {
        let this = self.clone();
        let saga = async move {
            let _held = (claim, lease);
            let id = order.id.clone();
            let result = ANSWER_BY.scope(answer_by, this.run(order, card)).await;
            if let Err(e) = &result {
                tracing::error!(order_id = %id, error = %e, "checkout stopped; recovery will finish it");
            }
            result
        };
        // The saga's logs stay in the request's scope (its request id). The span current
        // here must be the request's own: at INFO the logs do not show a function's span,
        // and one carried alone into the new task would hide the request's from them (so
        // the checkout handler is not instrumented).
        let task = tokio::spawn(platform::telemetry::in_this_request(saga));
        Box::pin(async move { task.await? })
    }

    /// The answer to a request repeating the one that placed `existing` (same user, same
    /// key), if the body is the same: a checkout waiting for its client after an outage
    /// is carried on from where it stopped, with this request's `card`; otherwise the
    /// first request's answer, once its checkout has settled (waiting a bounded time).
    pub async fn replay(
        &self,
        existing: Order,
        fingerprint: &str,
        card: Card,
    ) -> Result<Answer, OrdersError> {
        if existing.fingerprint != fingerprint {
            return Ok(view::key_reused(&existing));
        }
        if self.may_resume(&existing)
            && let Some(claim) = self.claim(&existing.id)
        {
            tracing::info!(order_id = %existing.id, status = %existing.status, "a retry resumes the checkout");
            return self.checkout(claim, existing, card).await;
        }
        self.wait_for_answer(existing).await
    }

    /// Drives a checkout from where it stands: a placed order from the start, a resumed
    /// one from the step it stopped at (reserving, or authorising).
    #[tracing::instrument(skip_all, fields(otel.name = "saga checkout", order_id = %order.id))]
    async fn run(&self, mut order: Order, card: Card) -> Result<Answer, OrdersError> {
        // 1. Take the cart's lines and reserve the stock. No write comes first: the order
        // was placed `pending`, which recovery undoes as it would `reserving` (what older
        // versions wrote here), and both calls are keyed by the order, so a checkout carried
        // on after a stop makes them again without taking anything twice.
        if matches!(order.status, Status::Pending | Status::Reserving) {
            // The cart's lines, then the stock: each call is told apart, so that an outage
            // names the service that is down.
            for (call, outage) in [
                (Call::TakeCart, Unavailable::Cart),
                (Call::Reserve, Unavailable::Inventory),
            ] {
                match self.attempt(&mut order, call, STEP_ATTEMPTS).await? {
                    Outcome::Done(_) => {}
                    Outcome::Refused {
                        status: 409,
                        problem,
                    } => {
                        let (reason, answer) = if view::is_cart_changed(&problem) {
                            (
                                CancelReason::CartChanged,
                                view::cart_changed(&order, &problem),
                            )
                        } else {
                            (
                                CancelReason::InsufficientStock,
                                view::insufficient_stock(&order, &problem),
                            )
                        };
                        return self.compensate(order, reason, answer, STEP_ATTEMPTS).await;
                    }
                    Outcome::Lost => return self.settled(&order.id).await,
                    Outcome::GaveUp(why) => return self.stall(order, outage, why).await,
                    refused => {
                        refused.report(&order.id, outage.call(), "cancelling");
                        let answer = outage.final_answer(&order);
                        return self
                            .compensate(order, CancelReason::Interrupted, answer, STEP_ATTEMPTS)
                            .await;
                    }
                }
            }

            // 2. Authorise the payment: the pivot.
            if !self
                .step(
                    &mut order,
                    Status::Authorizing,
                    Step::Authorize,
                    "stock reserved; authorising the payment",
                )
                .await?
            {
                return self.settled(&order.id).await;
            }
        }
        let attempts = 1 + self.inner.settings.payment_retries;
        let authorized = self
            .attempt(&mut order, Call::Authorize(&card), attempts)
            .await?;
        // The card is not needed any more, whatever happened.
        drop(card);
        let authorization_id = match authorized {
            Outcome::Done(Some(id)) => id,
            Outcome::Refused {
                status: 402,
                problem,
            } => {
                let answer = view::declined(&order, &problem);
                return self
                    .compensate(order, CancelReason::PaymentDeclined, answer, STEP_ATTEMPTS)
                    .await;
            }
            Outcome::Refused {
                status: 422,
                problem,
            } if problem["type"].as_str() == Some("urn:bazaar:problem:validation") => {
                let answer = view::invalid_card(&order, &problem);
                return self
                    .compensate(order, CancelReason::PaymentDeclined, answer, STEP_ATTEMPTS)
                    .await;
            }
            Outcome::Lost => return self.settled(&order.id).await,
            Outcome::GaveUp(why) => return self.stall(order, Unavailable::Payments, why).await,
            refused => {
                refused.report(&order.id, Unavailable::Payments.call(), "cancelling");
                let answer = Unavailable::Payments.final_answer(&order);
                return self
                    .compensate(order, CancelReason::PaymentError, answer, STEP_ATTEMPTS)
                    .await;
            }
        };
        // Past the pivot, in one write: authorised, and on to committing the stock.
        let from = order.move_to(Status::Confirming, Step::Commit);
        order.authorization_id = Some(authorization_id.clone());
        if !self
            .store()
            .save(
                &mut order,
                from,
                "payment authorised; committing the reservation",
                None,
            )
            .await?
        {
            // Recovery (elsewhere) cancelled the order while payments was answering: the
            // authorisation must not hold the customer's money.
            tracing::warn!(order_id = %order.id, "order cancelled during its authorisation; voiding it");
            if let Err(e) = self.inner.services.void(&order, &authorization_id).await {
                tracing::error!(order_id = %order.id, authorization_id = %authorization_id, error = %e, "could not void an orphaned authorisation");
            }
            return self.settled(&order.id).await;
        }
        tracing::info!(order_id = %order.id, total_cents = order.total_cents, "payment authorised");

        // 3. Commit the stock and capture the payment.
        self.confirm(order, STEP_ATTEMPTS).await
    }

    /// Goes forward from the pivot: commit the reservation, capture the payment, confirm
    /// the order (with `order.confirmed`). A step that keeps failing leaves the order for
    /// recovery and answers 202.
    ///
    /// The commit and the capture are one step of the order's (`commit`): no write comes
    /// between them, since a driver carrying on after a stop commits again, which changes
    /// nothing once done, and then captures (`capture` is what older versions wrote in
    /// between).
    async fn confirm(&self, mut order: Order, attempts: u32) -> Result<Answer, OrdersError> {
        if order.status == Status::Authorized
            && !self
                .step(
                    &mut order,
                    Status::Confirming,
                    Step::Commit,
                    "confirming: committing the reservation",
                )
                .await?
        {
            return self.settled(&order.id).await;
        }
        if order.step == Step::Commit {
            match self.attempt(&mut order, Call::Commit, attempts).await? {
                Outcome::Done(_) => {}
                Outcome::Refused {
                    status: 404 | 409,
                    problem,
                } => {
                    // The stock is no longer held (the reservation expired): the order
                    // cannot be filled, so the uncaptured payment is voided.
                    tracing::warn!(order_id = %order.id, problem = %problem, "the reservation is gone; voiding the payment");
                    let answer = view::expired(&order);
                    return self
                        .compensate(order, CancelReason::Expired, answer, attempts)
                        .await;
                }
                Outcome::Lost => return self.settled(&order.id).await,
                trouble => {
                    trouble.report(
                        &order.id,
                        "committing the reservation",
                        "recovery will retry",
                    );
                    return Ok(view::in_progress(&order));
                }
            }
        }
        if matches!(order.step, Step::Commit | Step::Capture) {
            match self.attempt(&mut order, Call::Capture, attempts).await? {
                Outcome::Done(_) => {}
                Outcome::Lost => return self.settled(&order.id).await,
                trouble => {
                    trouble.report(&order.id, "capturing the payment", "recovery will retry");
                    return Ok(view::in_progress(&order));
                }
            }
        }
        let from = order.move_to(Status::Confirmed, Step::Done);
        order.confirmed_at = Some(now_rfc3339());
        let answer = view::confirmed(&order);
        order.answer = Some(answer.clone());
        let announce = Some(Announce::Confirmed);
        if !self
            .store()
            .save(&mut order, from, "order confirmed", announce)
            .await?
        {
            return self.settled(&order.id).await;
        }
        tracing::info!(order_id = %order.id, total_cents = order.total_cents, "order confirmed");
        Ok(answer)
    }

    /// A reservation or authorisation kept failing transiently: the order waits for its
    /// client to send the same request again (which carries it on from this step) until
    /// `resumable_for` after it was placed, and the answer now is a 503 that is not the
    /// key's. With no time left it is compensated, and the 503 is final.
    async fn stall(
        &self,
        mut order: Order,
        unavailable: Unavailable,
        why: String,
    ) -> Result<Answer, OrdersError> {
        let until = self.resumable_until(&order);
        if until <= chrono::Utc::now() {
            tracing::warn!(order_id = %order.id, error = %why, "{} kept failing; cancelling", unavailable.call());
            let answer = unavailable.final_answer(&order);
            return self
                .compensate(order, unavailable.reason(), answer, STEP_ATTEMPTS)
                .await;
        }
        let until = to_rfc3339(until);
        // `attempt` noted `why` as the order's last error already.
        order.resumable_until = Some(until.clone());
        let from = (order.status, order.step);
        // Where it stopped, so that a retry's answer and recovery name the same service.
        order.step = unavailable.step();
        let detail = format!(
            "{} kept failing; resumable until {until}",
            unavailable.call()
        );
        if !self.store().save(&mut order, from, &detail, None).await? {
            return self.settled(&order.id).await;
        }
        tracing::warn!(order_id = %order.id, error = %why, resumable_until = %until, "{} kept failing; the checkout waits for its client to retry", unavailable.call());
        Ok(unavailable.for_now(&order, &until))
    }

    /// Until when `order`'s client may carry its checkout on with a same-key retry: its
    /// placing plus `resumable_for`.
    fn resumable_until(&self, order: &Order) -> chrono::DateTime<chrono::Utc> {
        let placed = chrono::DateTime::parse_from_rfc3339(&order.created_at)
            .map(|t| t.to_utc())
            .unwrap_or_else(|_| chrono::Utc::now());
        placed + self.resumable_window()
    }

    fn resumable_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.settings.resumable_for)
            .unwrap_or_else(|_| chrono::Duration::zero())
    }

    /// Whether a same-key retry carries `order` on, with its card: before the pivot,
    /// unanswered, within [`Saga::resumable_until`], whatever stopped its driver: an
    /// outage it waited out in vain (the 503 with `resumable_until`), or an end without a
    /// word (its process killed, its database failing under it: orders' 503 that names
    /// no order told the client to send the same request again, and recovery cancelled
    /// the order before it could, the disk review). A driver still at work elsewhere
    /// holds the order's lease: the retry then waits for its answer
    /// ([`Saga::checkout`]).
    fn may_resume(&self, order: &Order) -> bool {
        order.answer.is_none()
            && order.status.is_before_pivot()
            && self.resumable_until(order) > chrono::Utc::now()
    }

    /// Undoes a checkout that failed: records the reason and the answer, then voids the
    /// payment (if authorised) and releases the stock, and cancels the order.
    #[tracing::instrument(skip_all, fields(otel.name = "saga compensate", order_id = %order.id, reason = reason.as_str()))]
    async fn compensate(
        &self,
        mut order: Order,
        reason: CancelReason,
        answer: Answer,
        attempts: u32,
    ) -> Result<Answer, OrdersError> {
        let from = (order.status, order.step);
        order.status = Status::Compensating;
        // Once authorisation was attempted, an authorisation may exist even if the order
        // never learnt its id (a crash between payments' answer and the pivot): void
        // whatever payments holds for the order.
        order.step = if order.authorization_id.is_some() || from.0 == Status::Authorizing {
            Step::Void
        } else {
            Step::Release
        };
        order.attempts = 0;
        order.cancel_reason = Some(reason);
        order.answer = Some(answer);
        let detail = format!("compensating: {}", reason.as_str());
        if !self.store().save(&mut order, from, &detail, None).await? {
            return self.settled(&order.id).await;
        }
        tracing::info!(order_id = %order.id, reason = reason.as_str(), "checkout failed; compensating");
        // The cart's lines first, whatever else is down: the shopper is told the cart is
        // kept and finds it so at once, not seconds later behind a void or a release that
        // waits on payments or inventory. The release gives them back again (a no-op once
        // given), as recovery's does.
        if let Err(e) = self.inner.services.give_back_cart(&order).await {
            tracing::info!(order_id = %order.id, error = %e, "the cart's lines go back with the stock instead");
        }
        self.finish_compensation(order, attempts).await
    }

    /// The rest of a compensation, from the step it is at. Stopping half-way leaves the
    /// order `compensating` for recovery; the answer is known already.
    async fn finish_compensation(
        &self,
        mut order: Order,
        attempts: u32,
    ) -> Result<Answer, OrdersError> {
        let answer = order
            .answer
            .clone()
            .unwrap_or_else(|| view::interrupted(&order));
        // The void and the release are one step of the order's when there is a payment to
        // void (`void`): a driver carrying on after a stop voids again, which changes
        // nothing once done, and then releases.
        if order.step == Step::Void {
            // A refused void leaves the authorisation for an operator to release.
            let undo = (Call::Void, "voiding the payment");
            if let Some(stop) = self.undo(&mut order, undo, attempts, &answer).await? {
                return Ok(stop);
            }
        }
        if matches!(order.step, Step::Void | Step::Release) {
            // Units a refused release holds come back when the reservation expires anyway.
            let undo = (Call::Release, "releasing the stock and the cart's lines");
            if let Some(stop) = self.undo(&mut order, undo, attempts, &answer).await? {
                return Ok(stop);
            }
        }
        let from = order.move_to(Status::Cancelled, Step::Done);
        order.cancelled_at = Some(now_rfc3339());
        let announce = Some(Announce::Cancelled);
        if !self
            .store()
            .save(&mut order, from, "order cancelled", announce)
            .await?
        {
            return self.settled(&order.id).await;
        }
        tracing::info!(order_id = %order.id, reason = order.cancel_reason.map(CancelReason::as_str), "order cancelled");
        Ok(answer)
    }

    /// Makes one undoing `call` of a compensation (described as `what`). A refusal is
    /// logged and the compensation goes on; `Some` answer when it stops here for now.
    async fn undo(
        &self,
        order: &mut Order,
        (call, what): (Call<'_>, &str),
        attempts: u32,
        answer: &Answer,
    ) -> Result<Option<Answer>, OrdersError> {
        match self.attempt(order, call, attempts).await? {
            Outcome::Done(_) => Ok(None),
            refused @ Outcome::Refused { .. } => {
                refused.report(&order.id, what, "going on");
                Ok(None)
            }
            gave_up @ Outcome::GaveUp(_) => {
                gave_up.report(&order.id, what, "recovery will retry");
                Ok(Some(answer.clone()))
            }
            Outcome::Lost => self.settled(&order.id).await.map(Some),
        }
    }

    /// Moves the order to `status` at `step` (a compare-and-set); `false` if another
    /// driver moved it first.
    async fn step(
        &self,
        order: &mut Order,
        status: Status,
        step: Step,
        detail: &str,
    ) -> Result<bool, OrdersError> {
        let from = order.move_to(status, step);
        self.store().save(order, from, detail, None).await
    }

    /// Where orders are kept.
    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Makes `call` up to `max` times while it fails transiently, with jittered backoff,
    /// counting each retry on the order before it is made.
    #[tracing::instrument(skip_all, fields(otel.name = %format_args!("saga {}", call.name()), order_id = %order.id))]
    async fn attempt(
        &self,
        order: &mut Order,
        call: Call<'_>,
        max: u32,
    ) -> Result<Outcome, OrdersError> {
        let mut last = String::from("not attempted");
        for n in 1..=max.max(1) {
            if n > 1 {
                let pause = ::events::consumer::backoff(n - 1);
                // A retry that could not end before the client must be answered is left
                // to the client's same-key retry, or to recovery.
                if ANSWER_BY
                    .try_with(|by| *by)
                    .is_ok_and(|by| Instant::now() + pause + self.inner.settings.call_timeout > by)
                {
                    tracing::info!(order_id = %order.id, call = call.name(), attempt = n, "no time left for another try before the answer is due");
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            order.attempts += 1;
            // A call's first try needs no write of its own: the order is saved at its
            // status and step already, which is all recovery goes by (every call is
            // idempotent by order id, and a step's calls are all made again when it is
            // carried on). A retry records the count, and checks no other driver moved
            // the order meanwhile.
            if n > 1 {
                let from = (order.status, order.step);
                let detail = format!("{} attempt {}", call.name(), order.attempts);
                if !self.store().save(order, from, &detail, None).await? {
                    return Ok(Outcome::Lost);
                }
            }
            match self.call(order, call).await {
                Ok(id) => {
                    // The other service acted; the order does not record it yet.
                    ::events::faults::point(&format!("orders.saga.{}.after_call", call.name()));
                    return Ok(Outcome::Done(id));
                }
                Err(CallError::Refused { status, problem }) => {
                    order.last_error = Some(format!("refused with {status}: {problem}"));
                    return Ok(Outcome::Refused { status, problem });
                }
                Err(CallError::Transient(why)) => {
                    tracing::warn!(order_id = %order.id, call = call.name(), attempt = n, error = %why, "call failed");
                    order.last_error = Some(why.clone());
                    last = why;
                }
            }
        }
        Ok(Outcome::GaveUp(last))
    }

    async fn call(&self, order: &Order, call: Call<'_>) -> Result<Option<String>, CallError> {
        let services = &self.inner.services;
        let authorization = || {
            order.authorization_id.clone().ok_or_else(|| {
                CallError::Transient("the order records no authorisation".to_owned())
            })
        };
        match call {
            // Both keyed by the order, so a step run again changes nothing twice.
            Call::TakeCart => services.take_cart(order).await.map(|()| None),
            Call::Reserve => services.reserve(order).await.map(|()| None),
            Call::Authorize(card) => services.authorize(order, card).await.map(Some),
            Call::Commit => services.commit(&order.id).await.map(|()| None),
            // The stock, then the cart's lines (given back at the start of the compensation
            // already, unless the cart could not be reached then).
            Call::Release => {
                services.release(&order.id).await?;
                services.give_back_cart(order).await.map(|()| None)
            }
            Call::Capture => services
                .capture(order, &authorization()?)
                .await
                .map(|()| None),
            Call::Void => match &order.authorization_id {
                Some(id) => services.void(order, id).await.map(|()| None),
                None => {
                    for id in services.authorized_for(order).await? {
                        services.void(order, &id).await?;
                    }
                    Ok(None)
                }
            },
        }
    }

    /// The answer of an order another driver moved: what it comes to.
    async fn settled(&self, id: &OrderId) -> Result<Answer, OrdersError> {
        match self.inner.store.get(id).await? {
            Some(order) => self.wait_for_answer(order).await,
            None => Err(OrdersError::NotFound(id.to_string())),
        }
    }

    /// The order's answer once it is known, looking again every 100 ms for a bounded
    /// time. A checkout past its pivot that has not finished answers 202 (it will be
    /// confirmed); one before it answers 409 "in progress".
    async fn wait_for_answer(&self, order: Order) -> Result<Answer, OrdersError> {
        self.wait_or_resume(order, None).await
    }

    /// [`Saga::wait_for_answer`]; with `resume` (a same-key retry's claim and card), once
    /// the driver's lease lapses unrenewed (its process died) while the order may still be
    /// carried on, the order is driven here instead. Either way the answer comes before
    /// the gateway stops waiting: a retry that waited out a dead driver's lease, then the
    /// whole of `wait_bound` (14 s), got the gateway's bare 504, which opened its breaker
    /// to orders for every shopper (the verification review).
    async fn wait_or_resume(
        &self,
        mut order: Order,
        mut resume: Option<(Claim, Card)>,
    ) -> Result<Answer, OrdersError> {
        let started = Instant::now();
        let answer_by = started + self.inner.settings.answer_within;
        let deadline = started
            + self
                .inner
                .settings
                .wait_bound
                .min(self.inner.settings.answer_within);
        loop {
            if let Some(answer) = &order.answer {
                return Ok(answer.clone());
            }
            match order.status {
                Status::Confirmed => return Ok(view::confirmed(&order)),
                Status::Cancelled => return Ok(view::interrupted(&order)),
                _ => {}
            }
            // The driver stopped for an outage and nobody here carries it on: this
            // request is told what the first was, to retry as it would.
            if is_resumable(&order) && !self.is_live(&order.id) {
                let until = order.resumable_until.clone().unwrap_or_default();
                return Ok(Unavailable::at(&order).for_now(&order, &until));
            }
            if resume.is_some()
                && self.may_resume(&order)
                && let Some(lease) = self.lease(&order.id).await?
                && let Some((claim, card)) = resume.take()
            {
                tracing::info!(order_id = %order.id, status = %order.status, "its driver's lease lapsed; the retry carries the checkout on");
                return self.drive(claim, lease, order, card, answer_by).await;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(WAIT_POLL).await;
            order = self
                .inner
                .store
                .get(&order.id)
                .await?
                .ok_or_else(|| OrdersError::NotFound(order.id.to_string()))?;
        }
        if order.status.is_past_pivot() {
            Ok(view::in_progress(&order))
        } else {
            Err(OrdersError::InProgress)
        }
    }

    /// The recovery worker: once at start, then every `recovery_interval` until
    /// shutdown, drives the orders that stopped making progress.
    pub async fn recover(self, shutdown: Shutdown) -> anyhow::Result<()> {
        loop {
            match self.recover_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(orders = n, "recovery drove stuck checkouts"),
                Err(e) => tracing::warn!(error = %e, "a recovery pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.settings.recovery_interval) => {}
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }

    /// One pass of recovery: every order not in a final state, not moved for
    /// `recovery_after`, not driven in this process and whose lease no replica holds,
    /// driven from its persisted step under a lease of its own. Returns how many it took
    /// on.
    pub async fn recover_once(&self) -> Result<usize, OrdersError> {
        let idle = chrono::Duration::from_std(self.inner.settings.recovery_after)
            .unwrap_or_else(|_| chrono::Duration::seconds(5));
        let now = chrono::Utc::now();
        let before = to_rfc3339(now - idle);
        let placed_before = to_rfc3339(now - self.resumable_window());
        let stuck = self
            .inner
            .store
            .stuck(&before, &to_rfc3339(now), &placed_before, RECOVERY_BATCH)
            .await?;
        let claimed: Vec<(Claim, Order)> = stuck
            .into_iter()
            .filter_map(|o| self.claim(&o.id).map(|c| (c, o)))
            .collect();
        let runs = claimed.into_iter().map(|(claim, order)| async move {
            let id = order.id.clone();
            // Another replica's recovery (or a driver whose lease just started) has it.
            let lease = match self.lease(&id).await {
                Ok(Some(lease)) => lease,
                Ok(None) => return false,
                Err(e) => {
                    tracing::warn!(order_id = %id, error = %e, "could not take the lease on a stuck order");
                    return false;
                }
            };
            let _held = (claim, lease);
            if let Err(e) = self.resume(order).await {
                tracing::warn!(order_id = %id, error = %e, "could not recover the order yet");
            }
            true
        });
        let taken = futures_util::future::join_all(runs).await;
        Ok(taken.into_iter().filter(|t| *t).count())
    }

    /// Drives a stuck order from its persisted state. Before the pivot the card is gone,
    /// so the checkout cannot go on: it is compensated (reason `interrupted`, or the
    /// outage it waited out in vain). After it, the order is confirmed.
    #[tracing::instrument(skip_all, fields(otel.name = "saga resume", order_id = %order.id, status = %order.status, step = order.step.as_str()))]
    async fn resume(&self, order: Order) -> Result<Answer, OrdersError> {
        tracing::info!(order_id = %order.id, status = %order.status, step = order.step.as_str(), attempts = order.attempts, "recovering a stuck checkout");
        match order.status {
            Status::Pending | Status::Reserving | Status::Authorizing => {
                if order.status == Status::Authorizing {
                    tracing::warn!(
                        order_id = %order.id,
                        "the checkout stopped while its payment was being authorised: any \
                         authorisation payments made for it is voided"
                    );
                }
                let (reason, answer) = if order.resumable_until.is_some() {
                    let unavailable = Unavailable::at(&order);
                    (unavailable.reason(), unavailable.final_answer(&order))
                } else {
                    (CancelReason::Interrupted, view::interrupted(&order))
                };
                self.compensate(order, reason, answer, RECOVERY_ATTEMPTS)
                    .await
            }
            Status::Compensating => self.finish_compensation(order, RECOVERY_ATTEMPTS).await,
            Status::Authorized | Status::Confirming => self.confirm(order, RECOVERY_ATTEMPTS).await,
            Status::Confirmed | Status::Cancelled => self.wait_for_answer(order).await,
        }
    }
}

/// Whether a checkout stopped by an outage still waits for its client's retry: before the
/// pivot, unanswered, and within its window.
fn is_resumable(order: &Order) -> bool {
    order.answer.is_none()
        && order.status.is_before_pivot()
        && order
            .resumable_until
            .as_deref()
            .is_some_and(|until| until > now_rfc3339().as_str())
}
