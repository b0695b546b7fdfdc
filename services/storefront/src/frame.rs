//! What frames every HTML page, the shop's and the ops console's alike: the header as the
//! visitor's session fills it, rendering the page or its error page, and the redirects
//! between pages.

use crate::{
    api::Notification,
    error::StorefrontError,
    session::Visitor,
    views::{Chrome, UserView, Views, html_response, urlencode},
};
use axum::{
    http::{StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use serde::Serialize;

/// The header of a page: the user, the cart's count and the unread notifications, each
/// asked for with the optional patience. `cart_units` is given by pages that read the
/// cart anyway.
pub async fn chrome(v: &Visitor, path: &str, query: &str, cart_units: Option<i64>) -> Chrome {
    let claims = v.user().await;
    let signed_in = claims.is_some();
    let cart_count = async {
        if cart_units.is_some() {
            return cart_units;
        }
        if !signed_in && v.cart_cookie().await.is_none() {
            return Some(0);
        }
        v.shop().cart_quickly().await.ok().map(|c| c.units())
    };
    let unread = async {
        if !signed_in {
            return None;
        }
        unread(v).await
    };
    let (cart_count, unread) = tokio::join!(cart_count, unread);
    let unread_more = unread.as_ref().is_some_and(|u| u.more);
    let (unread, newest_notification) = unread.map(|u| (u.count, u.newest)).unzip();
    // After `user`, which may have ended the session.
    let csrf_token = v.csrf_token().await;
    Chrome {
        user: claims.map(|c| UserView {
            is_admin: c.is_admin(),
            name: c.name,
            email: c.email,
        }),
        cart_count,
        unread,
        unread_more,
        newest_notification: newest_notification.flatten(),
        query: query.to_owned(),
        path: path.to_owned(),
        csrf_token,
    }
}

/// What the header's badge says of the user's notifications.
struct Unread {
    /// How many of the newest page are newer than the newest the user has seen.
    count: i64,
    /// Whether more than a page are.
    more: bool,
    /// The newest one's id (where the page's live stream takes over from the count).
    newest: Option<String>,
}

async fn unread(v: &Visitor) -> Option<Unread> {
    let list = v.shop().notifications_quickly().await.ok()?;
    let seen = v.seen_notifications().await;
    // A page and one more were asked for: more unread than a page is "50+".
    let page = crate::api::NOTIFICATIONS_PAGE as i64;
    let count = count_unread(&list, seen.as_deref());
    Some(Unread {
        count: count.min(page),
        more: count > page,
        newest: list.first().map(|n| n.id.clone()),
    })
}

/// Notifications created after `seen` (all of them when nothing was seen).
pub fn count_unread(list: &[Notification], seen: Option<&str>) -> i64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let seen = seen.and_then(parse);
    list.iter()
        .filter(|n| match (&seen, parse(&n.created_at)) {
            (Some(s), Some(t)) => t > *s,
            (None, _) => true,
            (Some(_), None) => false,
        })
        .count() as i64
}

/// Renders a page, or its error page (or the sign-in form, when the visitor must sign
/// in), and logs how long the request took.
pub fn render<P: Serialize>(
    views: &Views,
    v: &Visitor,
    chrome: &Chrome,
    template: &str,
    title: &str,
    page: Result<P, StorefrontError>,
) -> Response {
    let res = match page {
        Ok(p) => match views.page(template, title, chrome, p) {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(e) => views.error_page(chrome, &e),
        },
        Err(StorefrontError::SignInRequired) => to_signin(&chrome.path),
        Err(e) => views.error_page(chrome, &e),
    };
    tracing::debug!(
        template,
        status = res.status().as_u16(),
        elapsed_ms = v.started().elapsed().as_millis() as u64,
        "page rendered"
    );
    res
}

/// A form shown again after it was sent, answering `status` (its refusal's, as
/// [`StorefrontError::form_status`] gives it) instead of 200, so that scripts, tests and
/// browsers' tools see the submission failed. Anything else the handler answered (a
/// redirect, an error page) keeps its own status.
pub fn refused_form(mut res: Response, status: StatusCode) -> Response {
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

/// This request's path and query.
pub fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

/// 303 to the sign-in form, coming back to `next` afterwards.
pub fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={}", urlencode(next))).into_response()
}

/// 303 to a path of this site.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(at: &str) -> Notification {
        Notification {
            id: at.into(),
            kind: "welcome".into(),
            subject: "s".into(),
            body: "b".into(),
            created_at: at.into(),
        }
    }

    #[test]
    fn unread_means_newer_than_the_newest_seen() {
        let list = [
            note("2025-01-03T00:00:00.000Z"),
            note("2025-01-02T00:00:00.000Z"),
            note("2025-01-01T00:00:00.000Z"),
        ];
        assert_eq!(count_unread(&list, None), 3);
        assert_eq!(count_unread(&list, Some("2025-01-02T00:00:00.000Z")), 1);
        assert_eq!(count_unread(&list, Some("2025-01-03T00:00:00+00:00")), 0);
    }
}
