//! A browser asking for a page gets a page, even when the gateway answers for the
//! storefront: its own refusals (a rate limit, a storefront that is down or too slow) are
//! problem documents, which a browser shows as raw JSON. For a request that accepts
//! `text/html` they go out as a plain HTML page instead, with the same status and
//! headers (`Retry-After` among them) and the problem's title and detail.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use http_body_util::BodyExt;
use platform::html::escape;

/// The most of a problem document read to make its page.
const PROBLEM_LIMIT: usize = 16 * 1024;

/// Whether a request with `headers` asks for a page (a browser's navigation does).
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/html")))
}

/// `res` as a page, when it is a problem document; any other answer as it is.
pub async fn of_problem(res: Response) -> Response {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(platform::problem::CONTENT_TYPE));
    if !is_problem {
        return res;
    }
    let (mut head, body) = res.into_parts();
    let problem = http_body_util::Limited::new(body, PROBLEM_LIMIT)
        .collect()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<platform::Problem>(&b.to_bytes()).ok());
    let title = problem.as_ref().map_or_else(
        || head.status.canonical_reason().unwrap_or("Error").to_owned(),
        |p| p.title.clone(),
    );
    let detail = problem.and_then(|p| p.detail).unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Bazaar</title></head>\n<body><main>\n<h1>{title}</h1>\n\
         <p>{detail}</p>\n<p><a href=\"/\">Back to the shop</a></p>\n</main></body>\n</html>\n",
        title = escape(&title),
        detail = escape(&detail),
    );
    head.headers.remove(header::CONTENT_LENGTH);
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // As the storefront's pages: no framing, nothing loaded (the page has no script, style
    // or picture), no caching of an outage (the authorisation review found the page
    // framable).
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        head.headers.insert(name, HeaderValue::from_static(value));
    }
    Response::from_parts(head, Body::from(html))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn a_browser_navigation_wants_a_page_and_a_script_does_not() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            wanted(&h)
        };
        assert!(with(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!with("*/*"));
        assert!(!with("application/json"));
        assert!(!wanted(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_problem_becomes_a_page_with_its_status_and_headers() {
        let mut problem = platform::Problem::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "try again in 3 s <soon>",
        );
        problem.retry_after = Some(3);
        let page = of_problem(problem.into_response()).await;
        assert_eq!(page.status(), 429);
        assert_eq!(page.headers()[header::RETRY_AFTER], "3");
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = page.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<h1>Too many requests</h1>"), "{html}");
        assert!(html.contains("try again in 3 s &lt;soon&gt;"), "{html}");
        // Anything else passes as it is.
        let page = of_problem("<p>a page</p>".into_response()).await;
        let body = page.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"<p>a page</p>");
    }
}
