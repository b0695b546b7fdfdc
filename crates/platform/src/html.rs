//! Text for HTML: what the storefront's pages and the gateway's error pages escape.

/// Text made safe for HTML content and quoted attributes: `& < > " '` (unlike minijinja's
/// default, `/` stays as it is, so paths read as paths in the markup).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
