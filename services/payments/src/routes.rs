//! Payments' HTTP API under `/api/payments`: handlers, their request and response bodies,
//! and the OpenAPI document they make up.

use crate::{
    domain::{
        Action, Amount, Authorization, AuthorizationId, Card, CardNumber, Currency, Cvc, Expiry,
        ExpiryError, ExternalId, IdempotencyKey, Invalid, LedgerSummary, NewAuthorization,
        Transition,
    },
    error::{DeclineProblem, IDEMPOTENCY_KEY, PaymentsError},
    idempotency::{self, Claim, StoredResponse},
    processor::{Outcome, Processor},
    store::{KeyHolder, Store},
};
use axum::{
    extract::{FromRef, Path, State},
    http::HeaderMap,
};
use platform::{
    Failure, Problem,
    auth::{Admin, CalledBy, Verifier, callers::Orders},
    extract::{Json, Query, TraceParent, parse_json},
    failure::Fields,
    openapi::{AdminOnly, BearerAuth, ServiceOnly},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The path authorisations are created at; part of every request's fingerprint.
pub const AUTHORIZATIONS_PATH: &str = "/api/payments/authorizations";

/// How often a request waiting for another with the same key looks again.
const KEY_POLL: Duration = Duration::from_millis(25);

/// What every handler can reach (each field by its type: `State<Store>`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub verifier: Verifier,
    pub processor: Processor,
    /// How long a request waits for another with its idempotency key before giving up
    /// with 409 `request-in-progress`.
    pub in_progress_wait: Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar payments",
        description = "A simulated card processor for Bazaar's checkout. Another Bazaar \
            service (the orders service's token only) authorises an amount on a card, \
            then captures it, voids it or, once captured, refunds it. Test cards: \
            `4242424242424242` is approved; `4000000000000002` is declined \
            (`card_declined`); `4000000000009995` is declined (`insufficient_funds`); \
            `4000000000000119` fails with a processing error on every attempt; any other \
            valid card is approved. Only the card's brand and last four digits are kept. \
            Creating an authorisation needs an `Idempotency-Key`: repeating a request with \
            the same key and body answers the first answer again and moves no money. \
            Every movement of money is appended to a ledger and announced as \
            `bazaar.payments.payment.*.v1`. Errors are RFC 9457 problem documents \
            (`application/problem+json`); validation problems list each bad field in \
            `errors`."
    ),
    tags(
        (name = "authorizations", description = "Authorising, capturing, voiding and \
            refunding payments (Bazaar's services only)."),
        (name = "ledger", description = "The ledger of every movement of money \
            (administrators only).")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Payments' routes and their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(authorize))
        .routes(routes!(get_authorization))
        .routes(routes!(authorizations_of_order))
        .routes(routes!(capture))
        .routes(routes!(void))
        .routes(routes!(refund))
        .routes(routes!(ledger_summary))
        .with_state(state)
}

/// A card to charge. Only its brand and last four digits are kept.
#[derive(Deserialize, ToSchema)]
pub struct CardInput {
    /// 12 to 19 digits passing the Luhn check, optionally grouped with spaces.
    #[schema(example = "4242424242424242")]
    pub number: String,
    /// 1 to 12.
    #[schema(example = 12, minimum = 1, maximum = 12)]
    pub exp_month: i64,
    /// Four digits; the card is valid through the end of its expiry month.
    #[schema(example = 2030)]
    pub exp_year: i64,
    /// 3 or 4 digits; 4 for American Express.
    #[schema(example = "123")]
    pub cvc: String,
}

/// A request to hold an amount on a card.
#[derive(Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    /// The order the money is for (1 to 64 letters, digits, `-`, `_` or `:`).
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub order_id: String,
    /// The user who pays (same form as `order_id`).
    #[schema(example = "0193a5c2-0000-7cc0-9f1d-2b4e8a9c0d11")]
    pub user_id: String,
    /// 1 to 100 000 000 minor units.
    #[schema(example = 4999, minimum = 1, maximum = 100000000)]
    pub amount_cents: i64,
    /// ISO 4217, upper case.
    #[schema(example = "USD")]
    pub currency: String,
    pub card: CardInput,
}

impl AuthorizeRequest {
    /// Parses every field, reporting every bad one at once; `today` is the current
    /// (year, month), against which the expiry is checked.
    fn parse(self, today: (i32, u32)) -> Result<NewAuthorization, PaymentsError> {
        let mut fields = Fields::new();
        let order_id = fields.take("order_id", ExternalId::parse(&self.order_id));
        let user_id = fields.take("user_id", ExternalId::parse(&self.user_id));
        let amount = fields.take("amount_cents", Amount::new(self.amount_cents));
        let currency = fields.take("currency", Currency::parse(&self.currency));
        let number = fields.take("card.number", CardNumber::parse(&self.card.number));
        let expiry = match Expiry::parse(self.card.exp_month, self.card.exp_year, today) {
            Ok(e) => Some(e),
            Err(problems) => {
                for p in problems {
                    let (field, Invalid(message)) = match p {
                        ExpiryError::Month(i) => ("card.exp_month", i),
                        ExpiryError::Year(i) => ("card.exp_year", i),
                    };
                    fields.refuse(field, message);
                }
                None
            }
        };
        let brand = number.as_ref().map(CardNumber::brand);
        let cvc = fields.take("card.cvc", Cvc::parse(&self.card.cvc, brand));
        match (order_id, user_id, amount, currency, number, expiry, cvc) {
            (
                Some(order_id),
                Some(user_id),
                Some(amount),
                Some(currency),
                Some(number),
                Some(expiry),
                Some(cvc),
            ) if fields.is_empty() => Ok(NewAuthorization {
                order_id,
                user_id,
                amount,
                currency,
                card: Card {
                    number,
                    expiry,
                    cvc,
                },
            }),
            _ => Err(Failure::from(fields).into()),
        }
    }
}

/// The idempotency key of a request: 400 when absent, 422 when malformed.
fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, PaymentsError> {
    let value = headers
        .get(IDEMPOTENCY_KEY)
        .ok_or(PaymentsError::MissingHeader(IDEMPOTENCY_KEY))?;
    let text = value
        .to_str()
        .map_err(|_| PaymentsError::invalid(IDEMPOTENCY_KEY, "must be visible ASCII"))?;
    IdempotencyKey::parse(text).map_err(|Invalid(m)| PaymentsError::invalid(IDEMPOTENCY_KEY, m))
}

/// An id that cannot be an authorisation's names none.
fn authorization_id(raw: &str) -> Result<AuthorizationId, PaymentsError> {
    AuthorizationId::parse(raw).ok_or_else(|| PaymentsError::NotFound(raw.to_owned()))
}

platform::problem_responses! {
    /// `404`: no authorisation has the id in the path.
    NoSuchAuthorization { "404" => "No such authorisation" }
}

/// Either the answer an earlier request with the key left, or the key, held.
enum Acquired {
    Answer(StoredResponse),
    Held(KeyHolder),
}

/// Presents the key until it is this request's or another request's answer is there,
/// waiting (up to the configured time) while another request with it is in progress.
async fn acquire(
    state: &AppState,
    caller: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Acquired, PaymentsError> {
    let deadline = Instant::now() + state.in_progress_wait;
    let mut claim = state.store.claim(caller, key.as_str(), fingerprint).await?;
    loop {
        match claim {
            Claim::Claimed { token } => {
                return Ok(Acquired::Held(KeyHolder {
                    caller: caller.to_owned(),
                    key: key.as_str().to_owned(),
                    token,
                }));
            }
            Claim::Done(answer) => return Ok(Acquired::Answer(answer)),
            Claim::Reused => return Err(PaymentsError::KeyReused),
            Claim::InProgress => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(PaymentsError::InProgress);
        }
        tokio::time::sleep(KEY_POLL.min(deadline - now)).await;
        claim = match state.store.look(caller, key.as_str(), fingerprint).await? {
            Some(found) => found,
            None => state.store.claim(caller, key.as_str(), fingerprint).await?,
        };
    }
}

/// Holds an amount on a card (Bazaar's services only). Safe to repeat: a request with
/// an `Idempotency-Key` seen before from the same caller and the same body is answered
/// the first answer (same status and body, with `Idempotent-Replayed: true`) and moves no
/// money; requests arriving while the first is handled wait for its answer. A declined
/// card is answered 402 (and repeated as such); a processing error 503, which is not
/// recorded, so a retry with the same key runs afresh.
#[utoipa::path(
    post,
    path = "/api/payments/authorizations",
    tag = "authorizations",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header, description = "1 to 255 visible ASCII characters, unique per distinct request of the caller (`order-<id>-authorize`)")
    ),
    request_body(content = AuthorizeRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Authorised: the money is held on the card",
            body = Authorization,
            headers(("Location" = String, description = "The authorisation's URL"))),
        (status = 400, description = "No `Idempotency-Key` header, or the body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        ServiceOnly,
        (status = 402, description = "The card was declined (`urn:bazaar:problem:card-declined`, with `decline_code`)", body = DeclineProblem, content_type = "application/problem+json"),
        (status = 409, description = "Another request with this key is still being handled (`urn:bazaar:problem:request-in-progress`); retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid (named in `errors`: `order_id`, `user_id`, `amount_cents`, `currency`, `card.number`, `card.exp_month`, `card.exp_year`, `card.cvc`, `Idempotency-Key`), or the key was used for a different request (`urn:bazaar:problem:idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The card processor failed (`urn:bazaar:problem:processing-error`); retry after `Retry-After`, with the same key", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(caller = %caller.sub))]
async fn authorize(
    State(state): State<AppState>,
    CalledBy(caller, _): CalledBy<Orders>,
    headers: HeaderMap,
    trace: TraceParent,
    Json(body): Json<Value>,
) -> Result<StoredResponse, PaymentsError> {
    let key = idempotency_key(&headers)?;
    let request: AuthorizeRequest = parse_json(&serde_json::to_vec(&body)?)?;
    let new = request.parse(Expiry::this_month())?;
    let fingerprint = idempotency::fingerprint(AUTHORIZATIONS_PATH, &body);
    let holder = match acquire(&state, &caller.sub, &key, &fingerprint).await? {
        Acquired::Answer(answer) => {
            tracing::info!(status = answer.status, "answered a repeated request");
            return Ok(answer);
        }
        Acquired::Held(holder) => holder,
    };
    // The work goes on when the caller stops waiting for it. Cut off with the caller (its
    // call timing out while this request waited out a dead process's lease), it left an
    // approval the processor gave unrecorded, and the key held for a lease with nothing
    // working on it: the caller's retry waited that lease out in turn, timed out the same
    // way, and so on until the checkout gave up (the idempotency review). Finished, its
    // answer is stored, and a retry gets it.
    tokio::spawn(platform::telemetry::in_this_request(authorize_held(
        state, holder, new, trace,
    )))
    .await
    .unwrap_or_else(|interrupted| {
        tracing::error!(error = %interrupted, "an authorization was interrupted");
        Err(Failure::Unavailable(
            "the authorization was interrupted; retry with the same Idempotency-Key".into(),
        )
        .into())
    })
}

/// Authorises `new` under the key `holder` claimed, and records the outcome as the key's
/// answer, or frees the key when nothing was recorded.
async fn authorize_held(
    state: AppState,
    holder: KeyHolder,
    new: NewAuthorization,
    trace: TraceParent,
) -> Result<StoredResponse, PaymentsError> {
    // The key stays this request's while it works, and only while it does.
    let _kept = state.store.keep(&holder);
    let traceparent = trace.as_deref();
    let result = match state.processor.authorize(&new.card).await {
        Outcome::Approved => {
            // The processor approved; nothing is recorded yet.
            events::faults::point("payments.authorize.after_processor");
            state
                .store
                .record_authorization(&holder, &new, traceparent)
                .await
        }
        Outcome::Declined(decline) => {
            state
                .store
                .record_decline(&holder, &new, &decline, traceparent)
                .await
        }
        Outcome::ProcessingError => Err(PaymentsError::ProcessingError),
    };
    match &result {
        Ok(answer) => tracing::info!(
            status = answer.status,
            order_id = new.order_id.as_str(),
            amount_cents = new.amount.get(),
            card = ?new.card.number,
            "authorization answered"
        ),
        Err(e) => {
            // Nothing was recorded: free the key so that a retry runs afresh.
            if let Err(release) = state.store.release(&holder).await {
                tracing::warn!(error = %release, "could not release an idempotency key; it frees itself when its lease ends");
            }
            tracing::info!(error = %e, order_id = new.order_id.as_str(), "authorization failed");
        }
    }
    result
}

/// Query of the authorisations of one order.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// The order whose authorisations to list.
    pub order_id: String,
}

/// The authorisations of one order.
#[derive(Serialize, ToSchema)]
pub struct Authorizations {
    pub items: Vec<Authorization>,
}

/// The authorisations made for an order (Bazaar's services only): how the checkout saga
/// finds, after a crash, an authorisation it never learnt the id of, to void it.
#[utoipa::path(
    get,
    path = "/api/payments/authorizations",
    tag = "authorizations",
    security(("bearer" = [])),
    params(OrderQuery),
    responses(
        (status = 200, description = "The order's authorisations, oldest first", body = Authorizations),
        ServiceOnly,
        (status = 422, description = "No order id", body = Problem, content_type = "application/problem+json")
    )
)]
async fn authorizations_of_order(
    State(state): State<AppState>,
    CalledBy(_caller, _): CalledBy<Orders>,
    Query(q): Query<OrderQuery>,
) -> Result<Json<Authorizations>, PaymentsError> {
    if q.order_id.trim().is_empty() || q.order_id.len() > 100 {
        return Err(PaymentsError::invalid(
            "order_id",
            "must be 1 to 100 characters",
        ));
    }
    Ok(Json(Authorizations {
        items: state.store.for_order(&q.order_id).await?,
    }))
}

/// One authorisation (Bazaar's services only).
#[utoipa::path(
    get,
    path = "/api/payments/authorizations/{id}",
    tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The authorisation's id")),
    responses(
        (status = 200, description = "The authorisation", body = Authorization),
        ServiceOnly,
        NoSuchAuthorization
    )
)]
#[tracing::instrument(skip_all, fields(authorization_id = %id))]
async fn get_authorization(
    State(state): State<AppState>,
    CalledBy(_caller, _): CalledBy<Orders>,
    Path(id): Path<String>,
) -> Result<Json<Authorization>, PaymentsError> {
    state
        .store
        .get(&authorization_id(&id)?)
        .await?
        .map(Json)
        .ok_or(PaymentsError::NotFound(id))
}

/// Applies an action through the processor, skipping its latency when the action has
/// happened already or does not apply.
async fn change(
    state: &AppState,
    raw_id: &str,
    action: Action,
    trace: TraceParent,
) -> Result<Json<Authorization>, PaymentsError> {
    let id = authorization_id(raw_id)?;
    let current = state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| PaymentsError::NotFound(raw_id.to_owned()))?;
    if let Transition::To(_) = action.from_state(current.status) {
        state.processor.settle().await;
        // The processor moved the money (or released the hold); nothing is recorded yet.
        events::faults::point(&format!("payments.{}.after_processor", action.as_str()));
    }
    let after = state
        .store
        .transition(&id, action, trace.as_deref())
        .await?;
    tracing::info!(
        status = after.status.as_str(),
        "authorization {}",
        action.as_str()
    );
    Ok(Json(after))
}

/// Takes the held money (Bazaar's services only). Capturing a captured authorisation
/// answers it as it is; a voided or refunded one cannot be captured.
#[utoipa::path(
    post,
    path = "/api/payments/authorizations/{id}/capture",
    tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The authorisation's id")),
    responses(
        (status = 200, description = "The authorisation, `captured`", body = Authorization),
        ServiceOnly,
        NoSuchAuthorization,
        (status = 409, description = "The authorisation is voided or refunded (`urn:bazaar:problem:invalid-state`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(authorization_id = %id, caller = %caller.sub))]
async fn capture(
    State(state): State<AppState>,
    CalledBy(caller, _): CalledBy<Orders>,
    Path(id): Path<String>,
    trace: TraceParent,
) -> Result<Json<Authorization>, PaymentsError> {
    change(&state, &id, Action::Capture, trace).await
}

/// Releases the hold of an uncaptured authorisation (Bazaar's services only); no money
/// moves. Voiding a voided authorisation answers it as it is; a captured or refunded one
/// cannot be voided (refund it instead).
#[utoipa::path(
    post,
    path = "/api/payments/authorizations/{id}/void",
    tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The authorisation's id")),
    responses(
        (status = 200, description = "The authorisation, `voided`", body = Authorization),
        ServiceOnly,
        NoSuchAuthorization,
        (status = 409, description = "The authorisation is captured or refunded (`urn:bazaar:problem:invalid-state`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(authorization_id = %id, caller = %caller.sub))]
async fn void(
    State(state): State<AppState>,
    CalledBy(caller, _): CalledBy<Orders>,
    Path(id): Path<String>,
    trace: TraceParent,
) -> Result<Json<Authorization>, PaymentsError> {
    change(&state, &id, Action::Void, trace).await
}

/// Gives captured money back, all of it (Bazaar's services only). Refunding a refunded
/// authorisation answers it as it is; an uncaptured one cannot be refunded (void it).
#[utoipa::path(
    post,
    path = "/api/payments/authorizations/{id}/refund",
    tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The authorisation's id")),
    responses(
        (status = 200, description = "The authorisation, `refunded`", body = Authorization),
        ServiceOnly,
        NoSuchAuthorization,
        (status = 409, description = "The authorisation is not captured (`urn:bazaar:problem:invalid-state`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(authorization_id = %id, caller = %caller.sub))]
async fn refund(
    State(state): State<AppState>,
    CalledBy(caller, _): CalledBy<Orders>,
    Path(id): Path<String>,
    trace: TraceParent,
) -> Result<Json<Authorization>, PaymentsError> {
    change(&state, &id, Action::Refund, trace).await
}

/// Which part of the ledger to add up.
#[derive(Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// Only entries in this currency (ISO 4217, upper case). Absent: the one currency the
    /// ledger holds (a ledger of several must be asked one at a time).
    #[param(example = "USD")]
    currency: Option<String>,
}

/// The ledger added up by kind of entry (administrators only).
#[utoipa::path(
    get,
    path = "/api/payments/ledger/summary",
    tag = "ledger",
    security(("bearer" = [])),
    params(SummaryParams),
    responses(
        (status = 200, description = "The sums of the ledger", body = LedgerSummary),
        AdminOnly,
        (status = 422, description = "`currency` is not a currency code, or is absent while the ledger holds entries in several currencies (they are not added together)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn ledger_summary(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Query(params): Query<SummaryParams>,
) -> Result<Json<LedgerSummary>, PaymentsError> {
    let currency = match params.currency.as_deref() {
        Some(raw) => Some(Failure::field("currency", Currency::parse(raw))?),
        // Cents of different currencies do not add up: the one there is, or a refusal
        // naming them (a shop whose currency changed summed USD and EUR cents as one).
        None => match state.store.ledger_currencies().await?.as_slice() {
            [] => None,
            [one] => Some(Failure::field("currency", Currency::parse(one))?),
            several => {
                return Err(PaymentsError::invalid(
                    "currency",
                    format!(
                        "the ledger holds entries in {}: name one (`?currency=`)",
                        several.join(", ")
                    ),
                ));
            }
        },
    };
    Ok(Json(state.store.ledger_summary(currency.as_ref()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;
    use serde_json::json;

    const TODAY: (i32, u32) = (2026, 6);

    fn request(overrides: Value) -> AuthorizeRequest {
        let mut body = json!({
            "order_id": "o-1", "user_id": "u-1", "amount_cents": 4999, "currency": "USD",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
        });
        merge(&mut body, overrides);
        serde_json::from_value(body).unwrap()
    }

    fn merge(base: &mut Value, overrides: Value) {
        if let (Value::Object(b), Value::Object(o)) = (base, overrides) {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
    }

    #[test]
    fn a_valid_request_is_parsed() {
        let new = request(json!({})).parse(TODAY).unwrap();
        assert_eq!(new.amount.get(), 4999);
        assert_eq!(new.card.number.last4(), "4242");
    }

    #[test]
    fn each_bad_field_is_named() {
        for (overrides, field) in [
            (json!({"order_id": ""}), "order_id"),
            (json!({"user_id": "a b"}), "user_id"),
            (json!({"amount_cents": 0}), "amount_cents"),
            (json!({"currency": "usd"}), "currency"),
            (
                json!({"card": {"number": "4242424242424241"}}),
                "card.number",
            ),
            (json!({"card": {"exp_month": 13}}), "card.exp_month"),
            (json!({"card": {"exp_year": 2020}}), "card.exp_year"),
            (json!({"card": {"cvc": "12"}}), "card.cvc"),
            (
                json!({"card": {"number": "378282246310005", "cvc": "123"}}),
                "card.cvc",
            ),
        ] {
            let err = request(overrides.clone()).parse(TODAY).unwrap_err();
            assert_eq!(refused_fields(err), [field], "{overrides}");
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let err = request(json!({
            "amount_cents": -5, "currency": "usd",
            "card": {"number": "1", "exp_month": 0, "cvc": "x"}
        }))
        .parse(TODAY)
        .unwrap_err();
        assert_eq!(
            refused_fields(err),
            [
                "amount_cents",
                "currency",
                "card.number",
                "card.exp_month",
                "card.cvc"
            ]
        );
    }

    #[test]
    fn the_key_header_is_required_and_checked() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            idempotency_key(&headers),
            Err(PaymentsError::MissingHeader(_))
        ));
        headers.insert(IDEMPOTENCY_KEY, "k".repeat(256).parse().unwrap());
        assert_eq!(
            refused_fields(idempotency_key(&headers).unwrap_err()),
            [IDEMPOTENCY_KEY]
        );
        headers.insert(IDEMPOTENCY_KEY, "order-1-authorize".parse().unwrap());
        assert_eq!(
            idempotency_key(&headers).unwrap().as_str(),
            "order-1-authorize"
        );
    }

    #[test]
    fn malformed_ids_name_no_authorization() {
        assert!(matches!(
            authorization_id("no-such"),
            Err(PaymentsError::NotFound(_))
        ));
    }
}
