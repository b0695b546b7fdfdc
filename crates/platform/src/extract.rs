//! Request extractors whose every rejection is a precise problem document.
//!
//! axum's own extractors answer bad input with plain-text bodies; these parse the same
//! input but name the offending field and answer 400 (malformed), 413 (too large),
//! 415 (not JSON) or 422 (well-formed but wrong).

use crate::problem::{FieldError, Problem};
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

/// What a path's one parameter names: how its id is parsed, and the answer when it cannot
/// be one (the resource's 404; a malformed id names nothing). Implemented by the type
/// that declares the parameter for the OpenAPI document (its `IntoParams`).
pub trait Names {
    /// The parsed id.
    type Id: Send;

    /// The id `raw` spells, if it can be one.
    fn parse(raw: &str) -> Option<Self::Id>;

    /// The answer for `raw`, which names nothing.
    fn none(raw: String) -> Response;
}

/// The id a path names, parsed once (see [`Names`]): `InPath<ProductPath>` gives a
/// `ProductId` or answers the product's 404.
pub struct InPath<N: Names>(pub N::Id);

impl<N: Names, S: Send + Sync> FromRequestParts<S> for InPath<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        match N::parse(&raw) {
            Some(id) => Ok(InPath(id)),
            None => Err(N::none(raw)),
        }
    }
}

/// A JSON request body (or response body: it serialises like `axum::Json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Problem::unsupported_media_type(
                "expected a JSON body with `Content-Type: application/json`",
            ));
        }
        if let Some(charset) = charset(req.headers())
            && !matches!(charset.as_str(), "utf-8" | "utf8")
        {
            // JSON is UTF-8 (RFC 8259); a body in another encoding was read as UTF-8 and
            // refused as malformed, or taken as it happened to read (the input review).
            return Err(Problem::unsupported_media_type(format!(
                "JSON bodies are UTF-8; `charset={charset}` is not accepted"
            )));
        }
        let bytes = read_body(req, state, "the request body").await?;
        parse_json(&bytes).map(Json)
    }
}

/// A request's whole body, within the service's body limit: 413 past it, 400 when it
/// cannot be read. `what` names the body in the problem's detail (`the form`).
pub async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
    what: &str,
) -> Result<Bytes, Problem> {
    if let Some(refused) = transfer_coding_problem(req.headers()) {
        return Err(refused);
    }
    // No body is taken compressed: one was read as it came, and refused as malformed.
    if let Some(coding) = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    {
        return Err(Problem::unsupported_media_type(format!(
            "{what} must not be encoded (`Content-Encoding: {coding}` is not accepted)"
        )));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::too_large(format!("{what} is larger than this service accepts"))
        } else {
            Problem::bad_request(format!("could not read {what}: {rejection}"))
        }
    })
}

/// 501 for a body sent in a transfer coding other than `chunked` (RFC 9112 §6.1): the HTTP
/// server takes the chunks off and leaves the rest as it came, so `gzip, chunked` was read
/// as a plain body (the HTTP review), where a proxy before us that decodes it sees another.
pub fn transfer_coding_problem(headers: &HeaderMap) -> Option<Problem> {
    let coding = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"))?;
    Some(Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "transfer-coding-not-implemented",
        "Transfer coding not implemented",
        format!("`Transfer-Encoding: {coding}` is not taken: send the body as it is, or chunked"),
    ))
}

/// The media type a request's body says it is (`Content-Type` without its parameters),
/// lower-cased; empty without one.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The `charset` parameter of a request's `Content-Type`, lower-cased and unquoted.
pub fn charset(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// Every `name=value` pair of a request's `Cookie` headers, in the order sent (RFC 6265:
/// pairs split by `;`; a browser sends the cookie of the longest path first), name and
/// value trimmed and the value's surrounding quotes removed; a piece without `=` is
/// skipped.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim(), value))
        })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let mime = media_type(headers);
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a JSON document into `T`, naming the field at fault on failure.
///
/// Request bodies are JSON objects: serde would read a struct from an array too
/// (`["a", 1]`), which no client means, so a top-level array is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let inner = err.inner();
        match inner.classify() {
            // Well-formed but wrong: every field at fault is named, not only the first
            // serde met (see `every_bad_field`).
            // Only a well-formed document is judged field by field: serde reads as it
            // parses, so `{"a":` is "unknown field `a`" and `{} xyz` "missing field" to it
            // before the syntax error is met.
            serde_json::error::Category::Data => match serde_json::from_slice(bytes) {
                Err(syntax) => Problem::bad_request(format!(
                    "malformed JSON: {}",
                    strip_position(&syntax.to_string())
                )),
                Ok(doc) => {
                    let first = bad_field(&err);
                    let mut errors = every_bad_field::<T>(doc);
                    if !errors.iter().any(|e| e.field == first.field) {
                        errors.insert(0, first);
                    }
                    Problem::validation(errors)
                }
            },
            _ => Problem::bad_request(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The field a deserialisation error is about, and what is wrong with it: a missing
/// field is named at its own path (`address.city`), the document itself is `body`.
fn bad_field(err: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = match err.path().to_string() {
        p if p == "." => "body".to_owned(),
        p => p,
    };
    let message = in_json_words(&strip_position(&err.inner().to_string()));
    let field = missing_field(&message)
        .map(|missing| {
            if path == "body" {
                missing.to_owned()
            } else {
                format!("{path}.{missing}")
            }
        })
        .unwrap_or(path);
    FieldError::new(field, message)
}

/// Every field of `doc` that keeps it from being a `T`. serde stops at the first; so each
/// one found is noted and then stood in for (a missing or mistyped field by the first of a
/// few plain values `T` takes there, an unknown one removed) and `T` read again, until it
/// reads or nothing more can be stood in for. What is inside a stand-in is not reported:
/// a missing `payment` is one error, not one per field of a payment.
fn every_bad_field<T: DeserializeOwned>(mut doc: serde_json::Value) -> Vec<FieldError> {
    use serde_json::{Value, json};
    /// The `n`th of the values tried in turn where a field is missing or mistyped.
    fn stand_in(n: usize) -> Option<Value> {
        Some(match n {
            0 => Value::Null,
            1 => json!(""),
            2 => json!(0),
            3 => json!(false),
            4 => json!({}),
            5 => json!([]),
            _ => return None,
        })
    }
    let mut errors: Vec<FieldError> = Vec::new();
    // Where a stand-in went, and which of them it is now.
    let mut stood_in: Vec<(Vec<Step>, usize)> = Vec::new();
    for _ in 0..64 {
        let Err(err) = serde_path_to_error::deserialize::<_, T>(&doc) else {
            break;
        };
        let found = bad_field(&err);
        let mut at: Vec<Step> = err.path().iter().filter_map(Step::of).collect();
        if let Some(missing) = missing_field(&found.message) {
            at.push(Step::Key(missing.to_owned()));
        }
        if let Some(unknown) = unknown_field(&found.message) {
            // Removed where it is (its path names it, or the object it is in).
            if at.last() != Some(&Step::Key(unknown.to_owned())) {
                at.push(Step::Key(unknown.to_owned()));
            }
            let removed = remove_at(&mut doc, &at);
            errors.push(found);
            if !removed {
                break;
            }
            continue;
        }
        // A stand-in that did not do: the next one. Inside a stand-in: one of its own,
        // unsaid. Anywhere else: a field at fault, noted, then stood in for.
        let next = if let Some(i) = stood_in.iter().position(|(path, _)| *path == at) {
            stood_in[i].1 += 1;
            stood_in[i].1
        } else {
            let inside = stood_in
                .iter()
                .any(|(path, _)| at.len() > path.len() && at.starts_with(path));
            if !inside {
                if found.field == "body" || errors.iter().any(|e| e.field == found.field) {
                    break;
                }
                errors.push(found);
            }
            stood_in.push((at.clone(), 0));
            0
        };
        let Some(value) = stand_in(next) else {
            break;
        };
        if !set_at(&mut doc, &at, value) {
            break;
        }
    }
    errors
}

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    fn of(segment: &serde_path_to_error::Segment) -> Option<Self> {
        match segment {
            serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
            _ => None,
        }
    }
}

/// Puts `value` at `path` in `doc` (the last step's key added if need be); `false` when
/// the path leads through something that is not an object or array.
fn set_at(doc: &mut serde_json::Value, path: &[Step], value: serde_json::Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(here) = at_mut(doc, parents) else {
        return false;
    };
    match (last, here) {
        (Step::Key(k), serde_json::Value::Object(o)) => {
            o.insert(k.clone(), value);
            true
        }
        (Step::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

/// Removes the key `path` ends with from its object; `false` when it is not there.
fn remove_at(doc: &mut serde_json::Value, path: &[Step]) -> bool {
    let Some((Step::Key(last), parents)) = path.split_last() else {
        return false;
    };
    match at_mut(doc, parents) {
        Some(serde_json::Value::Object(o)) => o.remove(last).is_some(),
        _ => false,
    }
}

/// What `path` leads to in `doc`, if every step finds something.
fn at_mut<'a>(doc: &'a mut serde_json::Value, path: &[Step]) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(doc, |here, step| match (step, here) {
        (Step::Key(k), serde_json::Value::Object(o)) => o.get_mut(k),
        (Step::Index(i), serde_json::Value::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

/// Query-string parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = humane(err.into_inner().to_string());
                // A parameter given twice is refused before its value is read, at the
                // root (`.`): the message names it.
                let field = missing_field(&message)
                    .or_else(|| duplicate_field(&message))
                    .map(str::to_owned)
                    .unwrap_or(path);
                Problem::validation(vec![FieldError::new(field, message)])
            })
    }
}

/// serde's message about a JSON value in JSON's words, not Rust's: `invalid type:
/// floating point `1.5`, expected u32` is "invalid type: number `1.5`, expected a whole
/// number, 0 or more", and a body's type (`expected struct AddItemRequest`) "an object".
fn in_json_words(message: &str) -> String {
    let (found, expected) = match message.split_once(", expected ") {
        Some((found, expected)) => (found, Some(expected)),
        None => (message, None),
    };
    let found = found
        .replace("floating point `", "number `")
        .replace("integer `", "number `")
        .replace(": map", ": object")
        .replace(": sequence", ": array")
        .replace(": unit value", ": null");
    let Some(expected) = expected else {
        return found;
    };
    let expected = match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "an object",
        e if e.starts_with("struct ") || e.starts_with("tuple struct ") => "an object",
        e => e,
    };
    format!("{found}, expected {expected}")
}

/// The standard library's words for a number that did not parse, said for a person who
/// typed the parameter: `page=-1` is "invalid digit found in string" otherwise.
fn humane(message: String) -> String {
    match message.as_str() {
        "invalid digit found in string" => "must be a whole number, in digits only".into(),
        "number too large to fit in target type" => "is too large".into(),
        "cannot parse integer from empty string" | "cannot parse float from empty string" => {
            "must not be empty".into()
        }
        "invalid float literal" => "must be a number".into(),
        _ => message,
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn duplicate_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("duplicate field `")?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The W3C `traceparent` of the request, if it carries one: what a service records with
/// the events a request causes, so their handling joins the request's trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceParent(pub Option<String>);

impl TraceParent {
    /// The `traceparent` of a request with these headers.
    pub fn of(headers: &http::HeaderMap) -> Self {
        TraceParent(
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TraceParent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        quantity: u32,
        address: Address,
    }

    async fn json_of(headers: &[(&str, &str)], body: &'static str) -> Result<Address, Problem> {
        let mut req = axum::http::Request::post("/");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Json::<Address>::from_request(req.body(axum::body::Body::from(body)).unwrap(), &())
            .await
            .map(|Json(a)| a)
    }

    #[tokio::test]
    async fn a_body_in_another_charset_or_compressed_is_refused_saying_so() {
        let body = r#"{"city": "Zürich"}"#;
        for fine in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            let read = json_of(&[("content-type", fine)], body).await;
            assert_eq!(
                read.map(|a| a.city).ok().as_deref(),
                Some("Zürich"),
                "{fine}"
            );
        }
        for (headers, said) in [
            (
                &[("content-type", "application/json; charset=utf-16")][..],
                "`charset=utf-16` is not accepted",
            ),
            (
                &[("content-type", "application/json; Charset=latin1")][..],
                "`charset=latin1` is not accepted",
            ),
            (
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ][..],
                "`Content-Encoding: gzip` is not accepted",
            ),
            (
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "identity, br"),
                ][..],
                "`Content-Encoding: br` is not accepted",
            ),
        ] {
            let refused = json_of(headers, body).await.unwrap_err();
            assert_eq!(refused.status, 415, "{headers:?}");
            let detail = refused.detail.unwrap_or_default();
            assert!(detail.contains(said), "{headers:?}: {detail}");
        }
        let plain = json_of(
            &[
                ("content-type", "application/json"),
                ("content-encoding", "identity"),
            ],
            body,
        )
        .await;
        assert!(plain.is_ok(), "{plain:?}");
        // A transfer coding the server does not take off: 501 (the chunks alone are).
        for coding in ["gzip, chunked", "br,chunked", "foo, chunked"] {
            let refused = json_of(
                &[
                    ("content-type", "application/json"),
                    ("transfer-encoding", coding),
                ],
                body,
            )
            .await
            .unwrap_err();
            assert_eq!(refused.status, 501, "{coding}");
        }
        let chunked = json_of(
            &[
                ("content-type", "application/json"),
                ("transfer-encoding", "chunked"),
            ],
            body,
        )
        .await;
        assert!(chunked.is_ok(), "{chunked:?}");
    }

    #[test]
    fn names_the_missing_field() {
        let p = parse_json::<Body>(br#"{"quantity": 1, "address": {"city": "x"}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "name");
    }

    #[test]
    fn names_every_field_at_fault_not_only_the_first() {
        // Two missing (one of them a whole object: named once), one of the wrong type.
        let fields = |p: &Problem| {
            let mut f: Vec<String> = p.errors.iter().map(|e| e.field.clone()).collect();
            f.sort();
            f
        };
        let p = parse_json::<Body>(br#"{"quantity": "three"}"#).unwrap_err();
        assert_eq!(
            fields(&p),
            ["address", "name", "quantity"],
            "{:?}",
            p.errors
        );
        let said = |field: &str| &p.errors.iter().find(|e| e.field == field).unwrap().message;
        assert!(said("name").contains("missing field"), "{:?}", p.errors);
        assert!(said("quantity").contains("invalid type"), "{:?}", p.errors);
        // Inside an object as well, each once.
        let p = parse_json::<Body>(br#"{"name": 7, "quantity": 1, "address": {}}"#).unwrap_err();
        assert_eq!(fields(&p), ["address.city", "name"], "{:?}", p.errors);
        // Unknown fields of a strict body, each named.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            city: String,
            zip: u32,
        }
        let p = parse_json::<Strict>(br#"{"town": "x", "zip": "y", "extra": 1}"#).unwrap_err();
        let named = fields(&p);
        for field in ["city", "zip", "town", "extra"] {
            assert!(
                named.iter().any(|f| f.contains(field)),
                "{field}: {:?}",
                p.errors
            );
        }
    }

    #[test]
    fn names_a_nested_field_of_the_wrong_type() {
        let p = parse_json::<Body>(br#"{"name": "a", "quantity": 1, "address": {"city": 5}}"#)
            .unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "address.city");
    }

    #[test]
    fn negative_quantity_is_a_validation_error() {
        let p = parse_json::<Body>(br#"{"name": "a", "quantity": -1, "address": {"city": "c"}}"#)
            .unwrap_err();
        assert_eq!(p.errors[0].field, "quantity");
    }

    #[test]
    fn trailing_garbage_is_a_bad_request() {
        let p = parse_json::<Address>(br#"{"city": "x"} junk"#).unwrap_err();
        assert_eq!(p.status, 400);
    }

    #[test]
    fn a_body_of_the_wrong_shape_names_the_body() {
        let p = parse_json::<Address>(br#""just text""#).unwrap_err();
        assert_eq!(p.errors[0].field, "body");
    }

    #[test]
    fn a_top_level_array_is_not_a_body() {
        let p = parse_json::<Address>(br#"["x"]"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "body");
    }

    /// What a `?page=` query string is refused with.
    async fn page_refused(query: &str) -> Problem {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Params {
            page: Option<u32>,
        }
        let (mut parts, ()) = Request::get(format!("/?{query}"))
            .body(())
            .unwrap()
            .into_parts();
        Query::<Params>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_repeated_query_parameter_is_named() {
        let p = page_refused("page=1&page=2").await;
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "page");
    }

    #[tokio::test]
    async fn a_number_that_does_not_parse_is_explained() {
        for (query, said) in [
            ("page=-1", "must be a whole number, in digits only"),
            ("page=99999999999", "is too large"),
            ("page=", "must not be empty"),
        ] {
            let p = page_refused(query).await;
            assert_eq!(p.errors[0].field, "page", "{query}");
            assert_eq!(p.errors[0].message, said, "{query}");
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let p = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(p.status, 400);
    }

    /// serde reads while it parses: what it meets first in a document that is no JSON may
    /// be a field (unknown to a strict body, or one missing at the early end), yet the
    /// document is malformed, and said so, as any other malformed one.
    #[test]
    fn a_malformed_document_is_a_bad_request_whatever_serde_met_first() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            city: String,
        }
        for body in [
            &br#"{"a":"#[..],
            br#"{} xyz"#,
            br#"{"a": 1} {"#,
            br#"{"city": "x""#,
        ] {
            let text = String::from_utf8_lossy(body);
            let p = parse_json::<Strict>(body).unwrap_err();
            assert_eq!(p.status, 400, "{text}: {p:?}");
            assert!(p.detail.unwrap().starts_with("malformed JSON"), "{text}");
            let p = parse_json::<Body>(body).unwrap_err();
            assert_eq!(p.status, 400, "{text}: {p:?}");
        }
    }

    #[test]
    fn a_wrong_type_is_said_in_json_words_not_rusts() {
        let p = parse_json::<Body>(br#"{"name": "a", "quantity": 1.5, "address": {"city": "c"}}"#)
            .unwrap_err();
        assert_eq!(
            p.errors[0].message,
            "invalid type: number `1.5`, expected a whole number, 0 or more"
        );
        let p =
            parse_json::<Body>(br#"{"name": "a", "quantity": 1, "address": null}"#).unwrap_err();
        assert_eq!(p.errors[0].field, "address");
        assert_eq!(
            p.errors[0].message,
            "invalid type: null, expected an object"
        );
        let p = parse_json::<Body>(br#"{"name": [], "quantity": 1, "address": {"city": {}}}"#)
            .unwrap_err();
        for e in &p.errors {
            for rust in ["struct", "u32", "sequence", "map"] {
                assert!(!e.message.contains(rust), "{e:?}");
            }
        }
    }
}
