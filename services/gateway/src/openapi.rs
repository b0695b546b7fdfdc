//! The gateway's own OpenAPI document, at its `/openapi.json`: what it does to every
//! request it forwards, and the answers it gives itself. Each service's operations are in
//! that service's public document, which the gateway serves at
//! `/api/<service>/openapi.json`.

use platform::{Problem, openapi::BearerAuth};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bazaar gateway",
        description = "The shop's one public address. `/api/<service>/...` is forwarded to a \
            replica of that service (balanced, with a timeout, a circuit breaker and one retry \
            on another replica where that is safe), every other path to the storefront. A bearer \
            token, when sent, is verified before anything is forwarded (except to the routes that \
            take none: identity's sign-in, registration, refresh and token keys, where it is \
            dropped). Every answer carries \
            `X-Request-ID` (the caller's, or a new one). The answers below are the gateway's \
            own; everything else is the service's."
    ),
    paths(forward),
    modifiers(&BearerAuth)
)]
pub struct Doc;

/// Forward a request to `service`.
///
/// The path, query and body go to the service unchanged, with `X-Request-ID`,
/// `X-Forwarded-For`, `X-Forwarded-Proto` and (when traced) `traceparent` set, and the
/// hop-by-hop headers removed. Bodies are read whole first, up to
/// `BAZAAR_BODY_LIMIT_BYTES`. Only the routes a service declares public or signed-in are
/// forwarded; its internal ones answer 404 here.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/{service}/{path}",
    params(
        ("service" = String, Path, description = "The service: identity, catalog, search, recommendations, cart, inventory, payments, orders or notifications"),
        ("path" = String, Path, description = "The rest of the service's path"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The service's answer, whatever its status, as it gave it"),
        (status = 400, description = "The path cannot be read one way only (an encoded separator or dot segment, or not UTF-8 once percent-decoded)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The bearer token is invalid or expired, or the route needs one and none was sent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service, or no route of it that the gateway forwards", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The request's body did not arrive within the request's time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than `BAZAAR_BODY_LIMIT_BYTES`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client (`Retry-After` says when to try again)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The service's connection failed before it answered", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No replica of the service is reachable, its circuit is open, or the request's whole time ran out (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The service did not answer within its timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
#[allow(dead_code)]
fn forward() {}
