//! The page templates (minijinja, embedded in the binary and loaded once at start), the
//! filters they use, and the data every page shares: the header's user, cart count and
//! unread notifications.

use crate::{assets, domain, error::StorefrontError};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};
use serde::Serialize;
use std::sync::Arc;

/// The templates named, each with its text from `templates/`.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "home.html",
    "category.html",
    "search.html",
    "product.html",
    "cart.html",
    "signin.html",
    "register.html",
    "signout.html",
    "checkout.html",
    "orders.html",
    "order.html",
    "notifications.html",
    "ops.html",
    "ops_traces.html",
    "ops_trace.html",
    "error.html",
];

/// What the header of every page shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Chrome {
    pub user: Option<UserView>,
    /// Units in the cart; `None` when the cart could not be asked in time.
    pub cart_count: Option<i64>,
    /// Unread notifications; `None` when unknown.
    pub unread: Option<i64>,
    /// Whether there are more unread than `unread` counts, a page's worth (the badge
    /// then says "50+").
    pub unread_more: bool,
    /// The newest notification counted: the live badge streams those after it, so none
    /// that arrives while the page loads is missed.
    pub newest_notification: Option<String>,
    /// What the search box holds.
    pub query: String,
    /// This page's path and query (where signing in returns to).
    pub path: String,
    /// The session's CSRF token, which every form that changes something carries (the
    /// `csrf` macro); `None` without a session.
    pub csrf_token: Option<String>,
}

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    pub email: String,
    pub is_admin: bool,
}

/// The templates, ready to render. Built once at start; cheap to clone.
#[derive(Clone)]
pub struct Views {
    env: Arc<Environment<'static>>,
}

impl Views {
    /// Loads every template; a template that does not parse fails the start.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_formatter(|out, state, value| {
            if state.auto_escape() != AutoEscape::Html || value.is_safe() {
                return minijinja::escape_formatter(out, state, value);
            }
            out.write_str(&escape_html(&value.to_string()))
                .map_err(minijinja::Error::from)
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_filter("money", |cents: i64, currency: Option<String>| {
            domain::format_money(cents, currency.as_deref().unwrap_or("USD"))
        });
        env.add_filter("datetime", |t: String| domain::format_time(&t));
        env.add_filter("clock", |t: String| domain::format_clock(&t));
        env.add_filter("short_id", |id: String| domain::short_id(&id));
        env.add_filter("urlencode", |v: String| urlencode(&v));
        env.add_filter("duration", |secs: i64| format_duration(secs));
        env.add_filter("percent", |fraction: f64| {
            format!("{:.1}%", fraction * 100.0)
        });
        env.add_filter("fixed", |v: f64, digits: Option<usize>| {
            format!("{:.*}", digits.unwrap_or(1), v)
        });
        env.add_global("css_url", Value::from(assets::css_url()));
        env.add_global("js_url", Value::from(assets::js_url()));
        env.add_global("icon_url", Value::from(assets::icon_url()));
        Ok(Self { env: Arc::new(env) })
    }

    /// Renders a template with a context.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, StorefrontError> {
        Ok(self.env.get_template(name)?.render(ctx)?)
    }

    /// Renders a page: `page` is the template's own data, `title` the document title.
    pub fn page(
        &self,
        name: &str,
        title: &str,
        chrome: &Chrome,
        page: impl Serialize,
    ) -> Result<String, StorefrontError> {
        self.render(
            name,
            context! { title => title, chrome => chrome, page => Value::from_serialize(&page) },
        )
    }

    /// Renders the error page for `err` (falling back to plain text if even that fails).
    pub fn error_page(&self, chrome: &Chrome, err: &StorefrontError) -> Response {
        let message = err.page_message();
        // The page says only that the shop is unavailable; the log says why, for the
        // operator (a service's answer, the transport's error).
        if message.status.is_server_error() {
            tracing::warn!(status = message.status.as_u16(), error = %err, "answered with an error page");
        }
        let page = context! {
            status => message.status.as_u16(),
            heading => message.title,
            message => message.message,
            retry => matches!(
                message.status,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
            ),
        };
        let title = format!("{} · Bazaar", message.title);
        let mut res = match self.page("error.html", &title, chrome, page) {
            Ok(html) => html_response(message.status, html),
            Err(e) => {
                tracing::error!(error = %e, "the error page failed to render");
                (message.status, message.message).into_response()
            }
        };
        if err.is_upstream() {
            platform::problem::mark_dependency(res.headers_mut());
        }
        if let Some(secs) = err.retry_after() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// An HTML response.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

/// Text made safe for HTML content and quoted attributes (`platform::html::escape`).
pub use platform::html::escape as escape_html;

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// `3h 07m`, `12m 05s`, `42s`.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        Views::new().unwrap();
    }

    #[test]
    fn markup_is_escaped_and_paths_are_not() {
        assert_eq!(
            escape_html(r#"<a href="/x?a=1&b='2'">"#),
            "&lt;a href=&quot;/x?a=1&amp;b=&#39;2&#39;&quot;&gt;"
        );
        let html = Views::new()
            .unwrap()
            .render("error.html", context! {
                title => "<t>",
                chrome => Chrome { path: "/c/<x>".into(), ..Chrome::default() },
                page => context! { status => 503, heading => "<h>", message => "m", retry => true },
            })
            .unwrap();
        assert!(
            html.contains(r#"<a href="/c/&lt;x&gt;">Try again</a>"#),
            "{html}"
        );
        assert!(html.contains("<title>&lt;t&gt;</title>"));
    }

    /// An error page of a 5xx says why in the log (the page itself only says the shop
    /// is unavailable); a visitor's own mistake does not.
    #[test]
    fn an_error_page_of_the_shops_own_failure_says_why_in_the_log() {
        let views = Views::new().unwrap();
        let log = platform::testing::logged("info", || {
            let down = StorefrontError::Unavailable {
                service: "catalog",
                detail: "answered 503 Service Unavailable".into(),
            };
            assert_eq!(
                views.error_page(&Chrome::default(), &down).status(),
                StatusCode::SERVICE_UNAVAILABLE
            );
            let missing = StorefrontError::NotFound("product p-1".into());
            assert_eq!(
                views.error_page(&Chrome::default(), &missing).status(),
                StatusCode::NOT_FOUND
            );
        });
        assert!(
            log.contains("WARN")
                && log.contains("catalog is unavailable: answered 503 Service Unavailable"),
            "{log}"
        );
        assert!(
            !log.contains("p-1"),
            "a 404 is not the shop's failure: {log}"
        );
    }

    #[test]
    fn values_are_url_encoded() {
        assert_eq!(urlencode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(urlencode(""), "");
    }

    #[test]
    fn durations_read_shortly() {
        assert_eq!(format_duration(42), "42s");
        assert_eq!(format_duration(125), "2m 05s");
        assert_eq!(format_duration(3 * 3600 + 7 * 60), "3h 07m");
        assert_eq!(format_duration(2 * 86_400 + 3600), "2d 1h");
        assert_eq!(format_duration(-5), "0s");
    }
}
