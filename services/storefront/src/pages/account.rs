//! The shopper's account: signing in, registering and signing out; orders; notifications,
//! with the live stream the header's badge listens to.

use super::{PageRequest, Pagination, pagination, product_url, sentence};
use crate::{
    api::Order,
    app::App,
    domain::{Address, PathId, format_money, format_time, page_number, safe_next, short_id},
    error::StorefrontError,
    form::Form,
    frame::{self, count_unread, here, render, see_other, to_signin},
    session::Visitor,
};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use platform::{FieldError, extract::Query};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sign-in and registration forms' page.
#[derive(Debug, Default, Serialize)]
struct AuthPage {
    name: String,
    email: String,
    next: String,
    errors: BTreeMap<String, String>,
    form_error: Option<String>,
    /// 200 for the form as asked for; a form sent and refused answers its refusal's
    /// status (see [`frame::refused_form`]).
    #[serde(skip)]
    status: StatusCode,
    /// A refusal's `Retry-After` (429), passed on with the page.
    #[serde(skip)]
    retry_after: Option<u64>,
}

/// The sign-in form or the registration form.
#[derive(Debug, Clone, Copy)]
enum AuthForm {
    SignIn,
    Register,
}

impl AuthForm {
    /// Shows the form, filled in or not.
    async fn show(self, app: &App, v: &Visitor, page: AuthPage) -> Response {
        let (template, title) = match self {
            AuthForm::SignIn => ("signin.html", "Sign in · Bazaar"),
            AuthForm::Register => ("register.html", "Create an account · Bazaar"),
        };
        // The header's own "Sign in" link returns where this form does: to `next`, not to
        // the form (whose `next` would then nest in the next one's, and so on).
        let chrome = frame::chrome(v, &page.next, "", None).await;
        let (status, retry_after) = (page.status, page.retry_after);
        let mut res = render(app.views(), v, &chrome, template, title, Ok(page));
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        frame::refused_form(res, status)
    }

    /// Shows the empty form (a signed-in visitor goes on to `next`).
    async fn show_empty(self, app: &App, v: &Visitor, params: NextParam) -> Response {
        let next = safe_next(params.next.as_deref());
        if v.user().await.is_some() {
            return see_other(&next);
        }
        let page = AuthPage {
            next,
            ..AuthPage::default()
        };
        self.show(app, v, page).await
    }
}

/// Where to go after signing in.
#[derive(Debug, Default, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// `GET /signin`.
pub async fn signin_form(
    PageRequest { app, v, .. }: PageRequest,
    Query(params): Query<NextParam>,
) -> Response {
    AuthForm::SignIn.show_empty(&app, &v, params).await
}

/// What the sign-in and registration forms send (the sign-in form has no name).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthFields {
    name: String,
    email: String,
    password: String,
    next: String,
}

/// `POST /signin`.
#[tracing::instrument(skip_all)]
pub async fn signin(
    PageRequest { app, v, .. }: PageRequest,
    Form(form): Form<AuthFields>,
) -> Response {
    let mut page = AuthPage::filled(&form);
    if page.email.is_empty() {
        page.errors
            .insert("email".into(), "Enter your email address.".into());
    }
    if form.password.is_empty() {
        page.errors
            .insert("password".into(), "Enter your password.".into());
    }
    if page.errors.is_empty() {
        match start_session(&v, &page.email, &form.password).await {
            Ok(()) => return see_other(&page.next),
            Err(e) if e.status() == Some(401) => {
                page.form_error = Some("That email and password do not match an account.".into());
                // Not 401: that status asks for HTTP authentication (`WWW-Authenticate`).
                page.status = StatusCode::UNPROCESSABLE_ENTITY;
            }
            Err(e) => page.refused(&e, "Signing in"),
        }
    } else {
        page.status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    AuthForm::SignIn.show(&app, &v, page).await
}

/// Signs in at identity and starts the session; then asks for the cart once, which
/// merges an anonymous cart into the user's (its cookie is expired on the way back).
async fn start_session(v: &Visitor, email: &str, password: &str) -> Result<(), StorefrontError> {
    let claims = v.sign_in(email, password).await?;
    tracing::info!(user_id = %claims.sub, "signed in");
    if v.cart_cookie().await.is_some()
        && let Err(e) = v.shop().cart().await
    {
        tracing::info!(error = %e, "the anonymous cart could not be merged at sign-in");
    }
    Ok(())
}

impl AuthPage {
    /// The form as sent, to show back (never the password), going on to a safe `next`.
    fn filled(form: &AuthFields) -> Self {
        AuthPage {
            name: form.name.trim().to_owned(),
            email: form.email.trim().to_owned(),
            next: safe_next(Some(&form.next)),
            ..AuthPage::default()
        }
    }

    /// Shows why `doing` (signing in, creating accounts) failed, in a way the form does
    /// not handle itself: the fields identity named as invalid (422), or that it is
    /// unavailable.
    fn refused(&mut self, e: &StorefrontError, doing: &str) {
        self.status = e.form_status();
        if e.status() == Some(422) {
            self.field_errors(e);
            return;
        }
        if e.status() == Some(429) {
            // Limited, not down: too many tries for this account or from this address.
            self.retry_after = e.retry_after();
            let wait = match e.retry_after() {
                Some(secs) if secs >= 60 => format!("in {} minutes", secs.div_ceil(60)),
                Some(1) => "in a second".to_owned(),
                Some(secs) => format!("in {secs} seconds"),
                None => "in a moment".to_owned(),
            };
            self.form_error = Some(format!("Too many tries just now: please try again {wait}."));
            return;
        }
        tracing::warn!(error = %e, "{doing} failed");
        self.form_error = Some(format!(
            "{doing} is unavailable right now. Please try again in a moment."
        ));
    }

    fn field_errors(&mut self, e: &StorefrontError) {
        let Some(problem) = e.problem() else { return };
        for FieldError { field, message } in &problem.errors {
            let field = match field.as_str() {
                "email" | "password" | "name" => field.clone(),
                _ => continue,
            };
            self.errors
                .entry(field)
                .or_insert_with(|| sentence(message));
        }
        if self.errors.is_empty() {
            self.form_error = problem.detail.clone();
        }
    }
}

/// `GET /register`.
pub async fn register_form(
    PageRequest { app, v, .. }: PageRequest,
    Query(params): Query<NextParam>,
) -> Response {
    AuthForm::Register.show_empty(&app, &v, params).await
}

/// `POST /register`: creates the account and signs in.
#[tracing::instrument(skip_all)]
pub async fn register(
    PageRequest { app, v, .. }: PageRequest,
    Form(form): Form<AuthFields>,
) -> Response {
    let mut page = AuthPage::filled(&form);
    match v
        .shop()
        .register(&page.name, &page.email, &form.password)
        .await
    {
        Ok(()) => match start_session(&v, &page.email, &form.password).await {
            Ok(()) => return see_other(&page.next),
            Err(e) => {
                tracing::warn!(error = %e, "signing in after registering failed");
                return to_signin(&page.next);
            }
        },
        Err(e) if e.status() == Some(409) => {
            page.errors.insert(
                "email".into(),
                "An account with this email address already exists. Sign in instead?".into(),
            );
            page.status = StatusCode::CONFLICT;
        }
        Err(e) => page.refused(&e, "Creating accounts"),
    }
    AuthForm::Register.show(&app, &v, page).await
}

/// `GET /signout`: asks to confirm (signing out changes state, so it is a form).
pub async fn signout_form(PageRequest { app, v, uri }: PageRequest) -> Response {
    let chrome = frame::chrome(&v, &here(&uri), "", None).await;
    if chrome.user.is_none() {
        return see_other("/");
    }
    render(
        app.views(),
        &v,
        &chrome,
        "signout.html",
        "Sign out · Bazaar",
        Ok(()),
    )
}

/// `POST /signout`: ends the session here and at identity.
#[tracing::instrument(skip_all)]
pub async fn signout(v: Visitor) -> Response {
    v.sign_out().await;
    see_other("/")
}

#[derive(Serialize)]
struct OrdersPage {
    orders: Vec<OrderSummary>,
    total: i64,
    pagination: Option<Pagination>,
}

/// An order in the list.
#[derive(Serialize)]
struct OrderSummary {
    #[serde(flatten)]
    headline: OrderHeadline,
    url: String,
    units: i64,
}

/// What the list and an order's own page both show of an order.
#[derive(Serialize)]
struct OrderHeadline {
    id: String,
    short_id: String,
    status: String,
    status_label: &'static str,
    created_at: String,
    total: String,
}

impl OrderHeadline {
    fn of(o: &Order) -> Self {
        Self {
            id: o.id.clone(),
            short_id: short_id(&o.id),
            status: o.status.clone(),
            status_label: status_label(&o.status),
            created_at: format_time(&o.created_at),
            total: format_money(o.total_cents, &o.currency),
        }
    }
}

/// A page of the orders list.
#[derive(Debug, Default, Deserialize)]
pub struct PageParam {
    page: Option<String>,
}

/// How an order's status reads.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "confirmed" => "Confirmed",
        "cancelled" => "Cancelled",
        // pending, reserving, authorizing, confirming…: the saga is still running.
        _ => "Processing",
    }
}

/// Why an order was cancelled, for its owner.
pub fn reason_label(reason: &str) -> String {
    match reason {
        "payment_declined" => "Your card was declined.".into(),
        "insufficient_stock" => "Some items were no longer in stock.".into(),
        "payment_error" => "The payment could not be processed.".into(),
        "expired" => "The order was not completed in time.".into(),
        "interrupted" => "The order was interrupted and cancelled; nothing was charged.".into(),
        "cart_changed" => {
            "Your cart changed while the order was placed (another checkout of it went \
             through first); nothing was charged for this one."
                .into()
        }
        other => sentence(&other.replace('_', " ")),
    }
}

/// `GET /orders`.
#[tracing::instrument(skip_all)]
pub async fn orders(req: PageRequest, Query(params): Query<PageParam>) -> Response {
    let page_no = page_number(params.page.as_deref());
    let page = async {
        let list = req.v.shop().orders(page_no).await?;
        Ok(OrdersPage {
            pagination: pagination(page_no, list.per_page, list.total, |n| {
                format!("/orders?page={n}")
            }),
            total: list.total,
            orders: list
                .items
                .iter()
                .map(|o| OrderSummary {
                    headline: OrderHeadline::of(o),
                    url: format!("/orders/{}", super::urlencode(&o.id)),
                    units: o.items.iter().map(|l| l.quantity).sum(),
                })
                .collect(),
        })
    };
    let title = "Your orders · Bazaar";
    req.show_loading("", "orders.html", page, |_| title.into(), title)
        .await
}

#[derive(Serialize)]
struct OrderPage {
    order: OrderView,
    placed: bool,
}

#[derive(Serialize)]
struct OrderView {
    #[serde(flatten)]
    headline: OrderHeadline,
    reason: Option<String>,
    items: Vec<OrderLineView>,
    shipping: Option<Address>,
}

#[derive(Serialize)]
struct OrderLineView {
    name: String,
    url: String,
    image_url: String,
    quantity: i64,
    unit_price: String,
    line_total: String,
}

impl OrderView {
    fn new(o: Order) -> Self {
        Self {
            headline: OrderHeadline::of(&o),
            reason: o.reason.as_deref().map(reason_label),
            items: o
                .items
                .iter()
                .map(|l| OrderLineView {
                    name: l.name.clone(),
                    url: product_url(&l.product_id),
                    image_url: super::image_url(&l.product_id),
                    quantity: l.quantity,
                    unit_price: format_money(l.unit_price_cents, &o.currency),
                    line_total: format_money(
                        l.line_total_cents
                            .unwrap_or(l.unit_price_cents * l.quantity),
                        &o.currency,
                    ),
                })
                .collect(),
            shipping: o.shipping_address.filter(|a| !a.line1.is_empty()),
        }
    }
}

/// Whether the order page greets a just-placed order.
#[derive(Debug, Default, Deserialize)]
pub struct PlacedParam {
    placed: Option<String>,
}

/// `GET /orders/{id}`.
#[tracing::instrument(skip_all, fields(order_id = %raw))]
pub async fn order(
    req: PageRequest,
    Path(raw): Path<String>,
    Query(params): Query<PlacedParam>,
) -> Response {
    let page = async {
        let id =
            PathId::parse(&raw).map_err(|_| StorefrontError::NotFound(format!("order {raw}")))?;
        Ok(OrderPage {
            order: OrderView::new(req.v.shop().order(&id).await?),
            placed: params.placed.is_some(),
        })
    };
    let title = |p: &OrderPage| format!("Order {} · Bazaar", p.order.headline.short_id);
    req.show_loading("", "order.html", page, title, "Order · Bazaar")
        .await
}

#[derive(Serialize)]
struct NotificationsPage {
    items: Vec<NotificationView>,
    /// The page of older messages, when there may be some.
    older: Option<String>,
    /// Whether this page is past the newest (it links back to them).
    earlier_page: bool,
}

/// Where a page of notifications starts: after the newest, or before `before`.
#[derive(Debug, Default, Deserialize)]
pub struct NotificationsFrom {
    before: Option<String>,
}

#[derive(Serialize)]
struct NotificationView {
    id: String,
    kind: String,
    subject: String,
    body: String,
    created_at: String,
    unread: bool,
}

/// `GET /account/notifications`: the user's newest messages, or (`?before=`) a page of
/// older ones; looking at the newest marks them read.
#[tracing::instrument(skip_all)]
pub async fn notifications(
    PageRequest { app, v, uri }: PageRequest,
    Query(from): Query<NotificationsFrom>,
) -> Response {
    let before = from.before.as_deref().map(PathId::parse).transpose();
    // Looking at the newest marks them read; an older page marks nothing.
    let newest_page = matches!(before, Ok(None));
    let seen = v.seen_notifications().await;
    let mut older = false;
    let list = match &before {
        Ok(before) => v
            .shop()
            .notifications(before.as_ref())
            .await
            .map(|mut list| {
                older = list.len() > crate::api::NOTIFICATIONS_PAGE;
                list.truncate(crate::api::NOTIFICATIONS_PAGE);
                list
            }),
        Err(_) => Err(StorefrontError::NotFound(
            "that page of notifications".into(),
        )),
    };
    if newest_page
        && let Ok(Some(newest)) = list.as_ref().map(|l| l.iter().map(|n| &n.created_at).max())
    {
        v.mark_seen(newest).await;
    }
    let mut chrome = frame::chrome(&v, &here(&uri), "", None).await;
    if list.is_ok() && newest_page {
        chrome.unread = Some(0);
        chrome.unread_more = false;
    }
    let page = list.map(|list| NotificationsPage {
        older: older.then(|| list.last()).flatten().map(|oldest| {
            format!(
                "/account/notifications?before={}",
                super::urlencode(&oldest.id)
            )
        }),
        earlier_page: !newest_page,
        items: list
            .into_iter()
            .map(|n| NotificationView {
                unread: count_unread(std::slice::from_ref(&n), seen.as_deref()) > 0,
                id: n.id,
                kind: n.kind,
                subject: n.subject,
                body: n.body,
                created_at: format_time(&n.created_at),
            })
            .collect(),
    });
    render(
        app.views(),
        &v,
        &chrome,
        "notifications.html",
        "Notifications · Bazaar",
        page,
    )
}

/// Where a page's stream starts.
#[derive(Debug, Deserialize)]
pub struct StreamFrom {
    after: Option<String>,
}

/// `GET /account/notifications/stream`: the user's new notifications as they arrive,
/// piped from the notifications service's stream with the session's token.
#[utoipa::path(
    get,
    path = "/account/notifications/stream",
    tag = "pages",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The last message received: those after it are sent first"),
        ("after" = Option<String>, Query, description = "The newest message the page showed, for the first connection (a reconnection's `Last-Event-ID` wins): those after it are sent first")
    ),
    responses(
        (status = 200, description = "Server-sent events (`event: notification`, `data`: the message as JSON). When notifications are unavailable the stream ends at once with a `retry` hint.", content_type = "text/event-stream", body = String),
        (status = 204, description = "Not signed in: there is nothing to stream (browsers stop reconnecting)")
    )
)]
#[tracing::instrument(skip_all)]
pub async fn notification_stream(
    State(app): State<App>,
    v: Visitor,
    headers: HeaderMap,
    Query(from): Query<StreamFrom>,
) -> Response {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .or(from.after.as_deref())
        .filter(|id| PathId::parse(id).is_ok());
    // A session that cannot be checked now is not over: the browser is told to come back
    // (a 204 would stop it reconnecting for good).
    let stream = match v.signed_in().await {
        Ok(_) => v.shop().notification_stream(last_event_id).await,
        Err(e) => Err(e),
    };
    let body = match stream {
        Ok(upstream) => {
            let chunks = futures_util::stream::unfold(upstream, |mut res| async move {
                match res.chunk().await {
                    Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), res)),
                    _ => None,
                }
            });
            let shutdown = app.shutdown();
            Body::from_stream(chunks.take_until(async move { shutdown.wait().await }))
        }
        Err(StorefrontError::SignInRequired) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::debug!(error = %e, "no notification stream");
            // Browsers reconnect after `retry` milliseconds.
            Body::from(": notifications are unavailable right now\nretry: 10000\n\n")
        }
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_reasons_read_for_shoppers() {
        assert_eq!(status_label("confirmed"), "Confirmed");
        assert_eq!(status_label("authorizing"), "Processing");
        assert_eq!(reason_label("payment_declined"), "Your card was declined.");
        assert_eq!(reason_label("new_reason"), "New reason.");
    }

    #[test]
    fn a_rate_limited_sign_in_says_to_wait_not_that_the_shop_is_down() {
        let limited = |retry_after: Option<u64>| {
            let mut problem = platform::Problem::from_status(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "slow down",
            );
            problem.retry_after = retry_after;
            StorefrontError::Refused {
                service: "identity",
                problem: Box::new(problem),
                code: None,
                order_id: None,
            }
        };
        for (retry_after, said) in [
            (Some(7), "again in 7 seconds"),
            (Some(1), "again in a second"),
            (Some(121), "again in 3 minutes"),
            (None, "again in a moment"),
        ] {
            let mut page = AuthPage::default();
            page.refused(&limited(retry_after), "Signing in");
            let error = page.form_error.unwrap();
            assert!(
                error.contains("Too many tries") && error.contains(said),
                "{error}"
            );
            assert_eq!(page.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(page.retry_after, retry_after, "passed on as Retry-After");
        }
    }
}
