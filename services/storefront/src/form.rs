//! HTML form bodies (`application/x-www-form-urlencoded`), read the way the platform's
//! extractors read JSON: every rejection is a problem document.
//!
//! The storefront's own forms deserialize into structs of text fields with defaults, so a
//! browser's form never fails here; the page parses the text and names bad fields itself.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::HeaderMap,
};
use platform::{FieldError, Problem, extract::media_type};
use serde::de::DeserializeOwned;

/// A form body.
#[derive(Debug, Clone, Default)]
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(Problem::unsupported_media_type(
                "expected a form body (`application/x-www-form-urlencoded`)",
            ));
        }
        if let Some(charset) = platform::extract::charset(req.headers())
            && !matches!(charset.as_str(), "utf-8" | "utf8")
        {
            return Err(Problem::unsupported_media_type(format!(
                "forms are sent in UTF-8, as the shop's pages are; `charset={charset}` is not accepted"
            )));
        }
        let bytes = read_body(req, state).await?;
        // Read as it came, a name or value in another encoding had each bad byte made
        // U+FFFD and was kept so (the verification review signed up "Jos\u{fffd}").
        if let Some(bad) = bytes.split(|b| *b == b'&').find(|pair| {
            percent_encoding::percent_decode(pair)
                .decode_utf8()
                .is_err()
        }) {
            let name = String::from_utf8_lossy(bad.split(|b| *b == b'=').next().unwrap_or(bad))
                .into_owned();
            return Err(Problem::bad_request(format!(
                "the form's `{name}` is not UTF-8 once decoded; forms are sent in UTF-8"
            )));
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(|e| Problem::validation(vec![FieldError::new("body", e.to_string())]))
    }
}

/// Whether a request's body is a form.
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers) == "application/x-www-form-urlencoded"
}

/// A request's whole body, within the service's body limit.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    platform::extract::read_body(req, state, "the form").await
}

/// The first value of the field `name` in a form body.
pub fn field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
