//! The storefront's errors: the problem document each becomes on its JSON endpoints, and
//! the friendly message each becomes on a page (never a raw error).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::{FieldError, Problem};

/// Everything a storefront request can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorefrontError {
    /// A service could not be reached, timed out or failed (5xx): 503.
    #[error("{service} is unavailable: {detail}")]
    Unavailable {
        service: &'static str,
        detail: String,
    },
    /// A service refused the request with a problem document (4xx); callers handle the
    /// statuses they expect, the rest pass through.
    #[error("{service} refused the request: {problem}")]
    Refused {
        service: &'static str,
        problem: Box<Problem>,
        /// A machine-readable reason the problem carries beside its standard members
        /// (payments' `decline_code`; for a reused key, the `order_status` of the order
        /// it placed).
        code: Option<String>,
        /// The order the problem is about (orders' `order_id`), when it names one.
        order_id: Option<String>,
    },
    /// A service answered 5xx with a problem document: it is up, and failed this
    /// request (payments' `processing-error`, say). 503 like [`Self::Unavailable`].
    #[error("{service} failed: {problem}")]
    Failed {
        service: &'static str,
        problem: Box<Problem>,
        /// The request may be sent again as it was (same `Idempotency-Key`) to carry on
        /// what it started: orders' checkout kept open after an outage
        /// (`resumable_until`).
        resumable: bool,
    },
    /// A service answered something that does not parse: 502.
    #[error("{service} answered something unexpected: {detail}")]
    Malformed {
        service: &'static str,
        detail: String,
    },
    /// 404.
    #[error("{0} was not found")]
    NotFound(String),
    /// The visitor must sign in first: 401 (pages redirect to the sign-in form).
    #[error("sign in first")]
    SignInRequired,
    /// 403.
    #[error("this page is for administrators only")]
    Forbidden,
    /// An unsafe request of a signed-in visitor without their session's CSRF token: 403.
    #[error(
        "this request does not carry the session's CSRF token (the `csrf_token` form field \
         or the `X-CSRF-Token` header, as the storefront's pages give it)"
    )]
    CsrfTokenMismatch,
    /// Bad input: 422 naming each field.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The supervisor's control API is not there: 503.
    #[error("process control is unavailable: {0}")]
    NoProcessControl(String),
    /// A template failed: 500.
    #[error("could not render the page: {0}")]
    Template(String),
    /// The request itself was refused before a page saw it (a body too large, not a form,
    /// compressed or not UTF-8; a time limit), as the platform's problem document: a
    /// browser is shown it as a page, with its status.
    #[error("{0}")]
    Rejected(Box<Problem>),
}

impl From<minijinja::Error> for StorefrontError {
    fn from(e: minijinja::Error) -> Self {
        // The whole chain: minijinja says where in which template.
        StorefrontError::Template(platform::failure::error_chain(&e))
    }
}

impl StorefrontError {
    /// What `service` answering anything but a success means: a 4xx is its refusal (with
    /// its problem document, or one made of the status), anything else is it being
    /// unavailable.
    pub async fn from_failed_answer(service: &'static str, res: reqwest::Response) -> Self {
        let status = res.status();
        if !status.is_client_error() {
            return StorefrontError::Unavailable {
                service,
                detail: format!("answered {status}"),
            };
        }
        let retry_after = retry_after_in(res.headers());
        let mut problem = res
            .json::<Problem>()
            .await
            .unwrap_or_else(|_| Problem::from_status(status, "refused"));
        problem.retry_after = retry_after;
        StorefrontError::Refused {
            service,
            problem: Box::new(problem),
            code: None,
            order_id: None,
        }
    }

    /// The status of an upstream's refusal, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            StorefrontError::Refused { problem, .. } => Some(problem.status),
            _ => None,
        }
    }

    /// The problem document of an upstream's refusal, if this is one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            StorefrontError::Refused { problem, .. } | StorefrontError::Rejected(problem) => {
                Some(problem)
            }
            _ => None,
        }
    }

    /// Seconds after which the request may succeed, when a service said so in refusing it
    /// (a rate limit's `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        self.problem().and_then(|p| p.retry_after)
    }

    /// Whether this is a service the page needs failing, rather than the storefront.
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            StorefrontError::Unavailable { .. }
                | StorefrontError::Failed { .. }
                | StorefrontError::Malformed { .. }
        )
    }

    /// The status of a form shown again because of this error: the refusal's own (402,
    /// 409, 422, 429, ...), 422 for the storefront's own checks, 503 when the service
    /// behind failed or did not answer.
    pub fn form_status(&self) -> StatusCode {
        match self {
            StorefrontError::Refused { problem, .. } => StatusCode::from_u16(problem.status)
                .ok()
                .filter(StatusCode::is_client_error)
                .unwrap_or(StatusCode::BAD_REQUEST),
            StorefrontError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            other => other.page_message().status,
        }
    }

    /// What a page says about this error: its status, a title and a sentence for people.
    pub fn page_message(&self) -> PageMessage {
        match self {
            StorefrontError::Unavailable { service, .. }
            | StorefrontError::Failed { service, .. }
            | StorefrontError::Malformed { service, .. } => PageMessage {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "Something is not working right now".into(),
                message: format!(
                    "Our {} is unavailable at the moment. Please try again in a little while.",
                    service_noun(service)
                ),
            },
            StorefrontError::Refused { problem, .. } if problem.status == 404 => not_found(),
            // The shop's rate limit, met while making the page: the visitor's to wait out.
            StorefrontError::Refused { problem, .. } if problem.status == 429 => PageMessage {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Too many requests".into(),
                message: match problem.retry_after {
                    Some(secs) => {
                        format!("You have asked for a lot at once. Please try again in {secs} s.")
                    }
                    None => {
                        "You have asked for a lot at once. Please try again in a moment.".into()
                    }
                },
            },
            // The visitor's session was refreshed and its token still refused (a key
            // rotated a moment ago, not yet known where it was checked): nothing the
            // visitor did, and nothing to show of tokens or keys (the storefront-replicas
            // review saw "the token was signed with an unknown key" on a 400 page).
            StorefrontError::Refused {
                service, problem, ..
            } if problem.status == 401 => PageMessage {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "Something is not working right now".into(),
                message: format!(
                    "Our {} could not confirm you are signed in just now. Please try again in a moment.",
                    service_noun(service)
                ),
            },
            StorefrontError::Refused { problem, .. } if problem.status == 403 => forbidden(),
            StorefrontError::Refused { problem, .. } => PageMessage {
                status: StatusCode::BAD_REQUEST,
                title: "That did not work".into(),
                message: problem
                    .detail
                    .clone()
                    .unwrap_or_else(|| problem.title.clone()),
            },
            StorefrontError::NotFound(_) => not_found(),
            StorefrontError::Rejected(problem) => PageMessage {
                status: StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
                title: problem.title.clone(),
                message: problem
                    .detail
                    .clone()
                    .unwrap_or_else(|| problem.title.clone()),
            },
            StorefrontError::SignInRequired => PageMessage {
                status: StatusCode::UNAUTHORIZED,
                title: "Please sign in".into(),
                message: "You need to sign in to see this page.".into(),
            },
            StorefrontError::Forbidden => forbidden(),
            StorefrontError::CsrfTokenMismatch => PageMessage {
                status: StatusCode::FORBIDDEN,
                title: "That form has expired".into(),
                message: "We did not act on it: it did not come from a page of this shop \
                    opened since you last signed in. Go back, reload the page and try again."
                    .into(),
            },
            StorefrontError::Invalid(_) => PageMessage {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "That did not look right".into(),
                message: "Please check what you entered and try again.".into(),
            },
            StorefrontError::NoProcessControl(_) | StorefrontError::Template(_) => {
                if let StorefrontError::Template(t) = self {
                    tracing::error!(error = %t, "a page failed to render");
                }
                PageMessage {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    title: "Something went wrong on our side".into(),
                    message: "We could not show this page. It has been logged; please try again."
                        .into(),
                }
            }
        }
    }
}

fn not_found() -> PageMessage {
    PageMessage {
        status: StatusCode::NOT_FOUND,
        title: "We could not find that".into(),
        message: "The page you asked for does not exist, or is no longer here.".into(),
    }
}

/// The seconds of a refusal's `Retry-After`, if it gives them.
pub fn retry_after_in(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// How a page names a service to shoppers.
fn forbidden() -> PageMessage {
    PageMessage {
        status: StatusCode::FORBIDDEN,
        title: "Not for you, sorry".into(),
        message: "This page is for the shop's administrators only.".into(),
    }
}

fn service_noun(service: &str) -> &'static str {
    match service {
        "catalog" => "product catalogue",
        "cart" => "shopping cart",
        "identity" => "sign-in service",
        "orders" => "order service",
        "inventory" => "stock service",
        "search" => "search",
        "recommendations" => "recommendations service",
        "notifications" => "notification service",
        "payments" => "payment service",
        _ => "shop",
    }
}

/// What an error page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl From<StorefrontError> for Problem {
    fn from(err: StorefrontError) -> Self {
        match err {
            StorefrontError::Unavailable { .. } | StorefrontError::Failed { .. } => {
                tracing::warn!(error = %err, "an upstream call failed");
                Problem::dependency_unavailable(err.to_string(), 2)
            }
            StorefrontError::Refused { problem, .. } | StorefrontError::Rejected(problem) => {
                *problem
            }
            StorefrontError::Malformed { .. } => {
                tracing::warn!(error = %err, "an upstream answered something unexpected");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "bad-gateway",
                    "Bad gateway",
                    err.to_string(),
                )
            }
            StorefrontError::NotFound(_) => Problem::not_found(err.to_string()),
            StorefrontError::SignInRequired => Problem::unauthorized(
                "sign in first: this endpoint needs the storefront's session cookie",
            ),
            StorefrontError::Forbidden | StorefrontError::CsrfTokenMismatch => {
                Problem::forbidden(err.to_string())
            }
            StorefrontError::Invalid(errors) => Problem::validation(errors),
            StorefrontError::NoProcessControl(_) => Problem::unavailable(err.to_string(), 5),
            StorefrontError::Template(_) => Problem::internal(&err),
        }
    }
}

impl IntoResponse for StorefrontError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: StatusCode) -> StorefrontError {
        StorefrontError::Refused {
            service: "catalog",
            problem: Box::new(Problem::from_status(status, "no")),
            code: None,
            order_id: None,
        }
    }

    #[test]
    fn each_error_has_its_status_on_the_wire() {
        let cases: Vec<(StorefrontError, u16)> = vec![
            (
                StorefrontError::Unavailable {
                    service: "cart",
                    detail: "timed out".into(),
                },
                503,
            ),
            (refused(StatusCode::CONFLICT), 409),
            (
                StorefrontError::Malformed {
                    service: "cart",
                    detail: "x".into(),
                },
                502,
            ),
            (StorefrontError::NotFound("x".into()), 404),
            (StorefrontError::SignInRequired, 401),
            (StorefrontError::Forbidden, 403),
            (StorefrontError::CsrfTokenMismatch, 403),
            (
                StorefrontError::Invalid(vec![FieldError::new("service", "unknown")]),
                422,
            ),
            (StorefrontError::NoProcessControl("x".into()), 503),
            (StorefrontError::Template("secret".into()), 500),
        ];
        for (err, status) in cases {
            let label = format!("{err:?}");
            assert_eq!(Problem::from(err).status, status, "{label}");
        }
    }

    #[test]
    fn a_rate_limit_met_while_making_a_page_is_the_visitors_to_wait_out() {
        let mut limited = refused(StatusCode::TOO_MANY_REQUESTS);
        if let StorefrontError::Refused { problem, .. } = &mut limited {
            problem.retry_after = Some(3);
        }
        let page = limited.page_message();
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(page.message.contains("in 3 s"), "{}", page.message);
        assert_eq!(limited.retry_after(), Some(3));
        // Another refusal is still the visitor's request at fault.
        assert_eq!(refused(StatusCode::CONFLICT).page_message().status, 400);
    }

    #[test]
    fn pages_never_show_internals() {
        let p = StorefrontError::Template("templates/x.html line 3: secret".into()).page_message();
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!p.message.contains("secret"));
        let down = StorefrontError::Unavailable {
            service: "catalog",
            detail: "could not connect to 10.0.0.7".into(),
        }
        .page_message();
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            down.message.contains("product catalogue"),
            "{}",
            down.message
        );
        assert!(!down.message.contains("10.0.0.7"));
        assert_eq!(refused(StatusCode::NOT_FOUND).page_message().status, 404);
        // A token refused after its session was refreshed: nothing the visitor did, and
        // nothing of tokens or keys.
        let mut unknown_key = refused(StatusCode::UNAUTHORIZED);
        if let StorefrontError::Refused { problem, .. } = &mut unknown_key {
            problem.detail = Some("the token was signed with an unknown key".into());
        }
        let page = unknown_key.page_message();
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!page.message.contains("key"), "{}", page.message);
        assert_eq!(refused(StatusCode::FORBIDDEN).page_message().status, 403);
    }
}
