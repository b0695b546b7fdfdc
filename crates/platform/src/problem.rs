//! RFC 9457 problem documents: the one shape every error takes on the wire.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// The media type of a problem document.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid input field, named by its path in the request (`shipping_address.city`,
/// `page`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
///
/// `type` is a URN naming the kind of problem (`urn:bazaar:problem:validation`), `title` is
/// short and fixed per type, `detail` says what happened in this case, `errors` lists the
/// fields at fault for validation problems.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Always sent by Bazaar's services (the outside contract); optional only when
    /// reading another's problem document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = true)]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// The problem reports another service's failure, not this one's: sent as
    /// `bazaar-fault: dependency`, so that callers do not take this replica out for it.
    #[serde(skip)]
    pub dependency: bool,
    /// A 401 for a bearer token that was presented and refused (expired, forged,
    /// revoked): its challenge says `error="invalid_token"` (RFC 6750 §3.1), so that a
    /// client knows to refresh or sign in again rather than that it sent nothing.
    #[serde(skip)]
    pub invalid_token: bool,
}

impl Problem {
    /// A problem of the given status; `slug` names its type.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:bazaar:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
            retry_after: None,
            dependency: false,
            invalid_token: false,
        }
    }

    /// A problem for a bare status code, titled by its canonical reason phrase.
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        let slug = title.to_ascii_lowercase().replace([' ', '\''], "-");
        Self::new(status, &slug, title, detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 422 with the offending fields named.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid input",
            detail,
        );
        p.errors = errors;
        p
    }

    /// 422 for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    /// 401 for a bearer token that does not verify (see [`Problem::invalid_token`]).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self {
            invalid_token: true,
            ..Self::unauthorized(detail)
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 415: the body is not of a type the endpoint reads; `detail` says which it reads.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// A 500 that tells the client nothing of the cause; the cause is logged here, with
    /// its whole chain.
    /// What a request its database failed gets: a 503 to retry in a moment when the
    /// failure may pass ([`crate::db::is_transient`]: a connection cut, a pool out of
    /// connections, a server restarting), else a 500.
    pub fn database(cause: &sqlx::Error) -> Self {
        if crate::db::is_transient(cause) {
            tracing::warn!(error = %cause, "the database failed for a moment");
            return Self::dependency_unavailable(
                "The database is unavailable for a moment; send the same request again.",
                1,
            );
        }
        Self::internal(cause)
    }

    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let chain = crate::failure::error_chain(cause);
        tracing::error!(error = %chain, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "The server failed to handle the request; it has been logged.",
        )
    }

    /// 503: the request's whole time ran out before it was answered (the standard
    /// middleware's timeout, and the gateway's own for what it forwards).
    pub fn took_too_long() -> Self {
        Self::unavailable("the request took too long to handle", 1)
    }

    /// 408: the request's time ran out while its body was still on its way (the client
    /// sent it too slowly, or stopped sending it).
    pub fn body_too_slow() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            "the request body did not arrive in time",
        )
    }

    /// 413: the request's body is larger than the service reads (`detail` says what).
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            detail,
        )
    }

    /// 503 with a hint of when to retry.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        p.retry_after = Some(retry_after_secs);
        p
    }

    /// 503 because a service this one needs failed (or is out of reach): said so in the
    /// `bazaar-fault` header, so that this replica is not blamed for it.
    pub fn dependency_unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::unavailable(detail, retry_after_secs).of_dependency()
    }

    /// The same problem, marked as reporting another service's failure.
    pub fn of_dependency(mut self) -> Self {
        self.dependency = true;
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.invalid_token {
                "Bearer realm=\"bazaar\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"bazaar\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.dependency {
            mark_dependency(headers);
        }
        res
    }
}

/// Marks a response as reporting another service's failure (see
/// [`crate::balance::FAULT_HEADER`]).
pub fn mark_dependency(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        crate::balance::FAULT_HEADER,
        HeaderValue::from_static(crate::balance::FAULT_DEPENDENCY),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_names_every_field() {
        let p = Problem::validation(vec![
            FieldError::new("email", "is not an email address"),
            FieldError::new("password", "is too short"),
        ]);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors.len(), 2);
        assert_eq!(
            p.detail.as_deref(),
            Some("email: is not an email address; password: is too short")
        );
    }

    #[test]
    fn from_status_uses_reason_phrase() {
        let p = Problem::from_status(StatusCode::METHOD_NOT_ALLOWED, "no");
        assert_eq!(p.title, "Method Not Allowed");
        assert_eq!(p.kind, "urn:bazaar:problem:method-not-allowed");
    }

    #[test]
    fn a_refused_token_is_challenged_as_invalid_and_a_missing_one_is_not() {
        let challenge = |p: Problem| {
            let res = p.into_response();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            res.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            challenge(Problem::unauthorized("sign in first")),
            "Bearer realm=\"bazaar\""
        );
        assert_eq!(
            challenge(Problem::invalid_token("the token has expired")),
            "Bearer realm=\"bazaar\", error=\"invalid_token\""
        );
        let expired = Problem::from(crate::auth::TokenError::Expired);
        assert!(challenge(expired).contains("invalid_token"));
    }
}
