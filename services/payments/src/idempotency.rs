//! Idempotency keys: what makes a repeated request safe.
//!
//! Each `(caller, key)` has one row. The first request inserts it as `in_progress`, in a
//! transaction of its own that commits at once, so a concurrent duplicate finds it and
//! waits; the request's outcome is then written to the row in the same transaction as
//! the money it moves. A later request with the key and the same fingerprint (the
//! SHA-256 of the path and the canonical JSON body) gets the recorded answer; one with a
//! different fingerprint is refused.

use axum::{
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The header set on an answer replayed from an idempotency record.
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The fingerprint of a request: hex SHA-256 of its path and its body in canonical JSON
/// (object keys sorted, no insignificant white space), so that key order and spacing do
/// not make two requests differ.
///
/// Card data is left out: the card number counts only by its last four digits and the
/// security code not at all. A hash of the whole number, stored next to its brand and
/// last four, could be reversed by trying the few million numbers that fit.
pub fn fingerprint(path: &str, body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(&without_card_secrets(body), &mut canonical);
    let digest = Sha256::new()
        .chain_update(path.as_bytes())
        .chain_update(b"\n")
        .chain_update(canonical.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn without_card_secrets(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(card) = body.get_mut("card").and_then(Value::as_object_mut) {
        card.remove("cvc");
        if let Some(number) = card.get("number").and_then(Value::as_str) {
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            let last4 = digits[digits.len().saturating_sub(4)..].to_owned();
            card.insert("number".into(), Value::String(last4));
        }
    }
    body
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// An answer as recorded for its key: given to the first request and to every repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// The `Location` header, if the answer created something.
    pub location: Option<String>,
    /// Whether this is a repeat of an earlier answer.
    pub replayed: bool,
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if status.is_success() {
            "application/json"
        } else {
            platform::problem::CONTENT_TYPE
        };
        let mut res = (status, self.body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(location) = self.location {
            headers.insert(header::LOCATION, platform::service::location(&location));
        }
        if self.replayed {
            headers.insert(REPLAYED.clone(), HeaderValue::from_static("true"));
        }
        res
    }
}

/// What a request finds when it presents its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's to execute; the token proves it when the outcome is
    /// recorded.
    Claimed { token: String },
    /// The key was used before for this request: its answer.
    Done(StoredResponse),
    /// The key was used before for a different request.
    Reused,
    /// Another request with the key is being handled.
    InProgress,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_holds_no_card_secret() {
        let a = serde_json::json!({"amount_cents": 100, "card": {"number": "4242424242424242", "cvc": "123", "exp_month": 1}});
        let b = serde_json::json!({"amount_cents": 100, "card": {"number": "4000056655664242", "cvc": "999", "exp_month": 1}});
        let c = serde_json::json!({"amount_cents": 101, "card": {"number": "4242424242424242", "cvc": "123", "exp_month": 1}});
        assert_eq!(
            fingerprint("/p", &a),
            fingerprint("/p", &b),
            "only the last four digits count"
        );
        assert_ne!(fingerprint("/p", &a), fingerprint("/p", &c));
        let mut canonical = String::new();
        write_canonical(&without_card_secrets(&a), &mut canonical);
        assert!(
            !canonical.contains("4242424242424242") && !canonical.contains("123\""),
            "{canonical}"
        );
    }
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_change_the_fingerprint() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "é"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"é","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(fingerprint("/p", &a), fingerprint("/p", &b));
        assert_eq!(fingerprint("/p", &a).len(), 64);
    }

    #[test]
    fn any_difference_of_body_or_path_does() {
        let base = json!({"amount_cents": 100, "card": {"number": "4242424242424242"}});
        let other = json!({"amount_cents": 101, "card": {"number": "4242424242424242"}});
        let nested = json!({"amount_cents": 100, "card": {"number": "5555555555554444"}});
        let f = fingerprint("/p", &base);
        assert_ne!(f, fingerprint("/p", &other));
        assert_ne!(f, fingerprint("/p", &nested));
        assert_ne!(f, fingerprint("/q", &base));
    }

    #[test]
    fn canonical_json_escapes_keys_and_strings() {
        let mut out = String::new();
        write_canonical(&json!({"k\"": ["a\nb", null, true, 1.5]}), &mut out);
        assert_eq!(out, r#"{"k\"":["a\nb",null,true,1.5]}"#);
    }

    #[test]
    fn stored_answers_keep_their_status_and_say_when_replayed() {
        let res = StoredResponse {
            status: 402,
            body: "{}".into(),
            location: None,
            replayed: true,
        }
        .into_response();
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            platform::problem::CONTENT_TYPE
        );
        assert_eq!(res.headers()[&REPLAYED], "true");
        let res = StoredResponse {
            status: 201,
            body: "{}".into(),
            location: Some("/api/payments/authorizations/x".into()),
            replayed: false,
        }
        .into_response();
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            res.headers()[header::LOCATION],
            "/api/payments/authorizations/x"
        );
        assert!(res.headers().get(&REPLAYED).is_none());
    }
}
