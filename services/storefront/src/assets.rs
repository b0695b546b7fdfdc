//! The stylesheet, the script and the icon, embedded in the binary and served under
//! `/static/` with a content hash in their URL, so browsers may keep them for a year (the
//! icon also at `/favicon.ico`, where browsers look for it unasked).

use crate::images::fnv1a;
use axum::{
    extract::{Path, RawQuery},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::sync::OnceLock;

/// The stylesheet.
pub const CSS: &str = include_str!("../static/app.css");
/// The script (type-ahead, notification badge, the ops console's live parts).
pub const JS: &str = include_str!("../static/app.js");
/// The shop's icon (a shopping bag), for browser tabs and bookmarks.
pub const ICON: &str = include_str!("../static/favicon.svg");

/// One of the embedded files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asset {
    Css,
    Js,
    Icon,
}

impl Asset {
    fn content(self) -> &'static str {
        match self {
            Asset::Css => CSS,
            Asset::Js => JS,
            Asset::Icon => ICON,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Asset::Css => "text/css; charset=utf-8",
            Asset::Js => "text/javascript; charset=utf-8",
            Asset::Icon => "image/svg+xml",
        }
    }

    /// A hash of the content: a new version gets a new URL.
    fn version(self) -> &'static str {
        static CSS_VERSION: OnceLock<String> = OnceLock::new();
        static JS_VERSION: OnceLock<String> = OnceLock::new();
        static ICON_VERSION: OnceLock<String> = OnceLock::new();
        let cell = match self {
            Asset::Css => &CSS_VERSION,
            Asset::Js => &JS_VERSION,
            Asset::Icon => &ICON_VERSION,
        };
        cell.get_or_init(|| format!("{:012x}", fnv1a(self.content()) & 0xffff_ffff_ffff))
    }
}

/// The stylesheet's URL.
pub fn css_url() -> String {
    format!("/static/app.css?v={}", Asset::Css.version())
}

/// The script's URL.
pub fn js_url() -> String {
    format!("/static/app.js?v={}", Asset::Js.version())
}

/// The icon's URL.
pub fn icon_url() -> String {
    format!("/static/favicon.svg?v={}", Asset::Icon.version())
}

/// `GET /static/{file}`.
pub async fn serve(
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let asset = match file.as_str() {
        "app.css" => Asset::Css,
        "app.js" => Asset::Js,
        "favicon.svg" => Asset::Icon,
        _ => {
            return platform::Problem::not_found(format!("there is no asset `{file}`"))
                .into_response();
        }
    };
    // Kept a year only under its own version: a page of a newer release asking an older
    // replica (a rolling restart, a Kubernetes rollout) for `?v=NEW` would otherwise have
    // the old file cached under the new URL for a year.
    let versioned = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(asset.version()));
    respond(asset, &headers, versioned)
}

/// `GET /favicon.ico`: the icon, where browsers ask for it before reading a page (and for
/// what is not a page). An SVG under that name: browsers go by its type, not its name.
pub async fn favicon(headers: HeaderMap) -> Response {
    respond(Asset::Icon, &headers, false)
}

/// The asset, or 304 when the browser's copy is this one; kept a year when `versioned`
/// (its URL names this very content), else checked again at each use.
fn respond(asset: Asset, headers: &HeaderMap, versioned: bool) -> Response {
    let etag = format!("\"{}\"", asset.version());
    // `If-None-Match` compares weakly (RFC 9110 §13.1.2), and `*` matches any.
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
        });
    let mut res = if matches {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        // The length of what the browser has, as a 200 would say; not the 0 of this
        // empty answer (RFC 9110 §8.6).
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, asset.content().len().into());
        res
    } else {
        asset.content().into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if versioned {
            "public, max-age=31536000, immutable"
        } else {
            "public, no-cache"
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}
