//! The anonymous cart's cookie, `bazaar_cart`: read from `Cookie` headers and written as
//! `Set-Cookie`, by hand (RFC 6265).

use crate::domain::AnonymousId;
use axum::http::{HeaderMap, HeaderValue};

/// The cookie's name.
pub const NAME: &str = "bazaar_cart";

/// What a request's cookies say about an anonymous cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartCookie {
    /// No `bazaar_cart` cookie.
    Absent,
    /// A `bazaar_cart` cookie whose value is not a cart id: treated as no cart.
    Malformed,
    /// The id of an anonymous cart.
    Present(AnonymousId),
}

impl CartCookie {
    /// Reads every `Cookie` header of a request. With several `bazaar_cart` cookies (a
    /// browser sends one per matching path), the first well-formed one counts.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut found = CartCookie::Absent;
        for (_, value) in platform::extract::cookies(headers).filter(|(n, _)| *n == NAME) {
            match AnonymousId::parse(value) {
                Ok(id) => return CartCookie::Present(id),
                Err(_) => found = CartCookie::Malformed,
            }
        }
        found
    }

    /// Whether the request carries a `bazaar_cart` cookie at all.
    pub fn is_sent(&self) -> bool {
        !matches!(self, CartCookie::Absent)
    }
}

/// How the cookie is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// `Max-Age` of a cart's cookie, in seconds.
    pub max_age_secs: u64,
    /// Adds `Secure`, for a shop served over HTTPS only.
    pub secure: bool,
}

impl CookiePolicy {
    /// `Set-Cookie` for an anonymous cart: kept for `max_age_secs` from now.
    pub fn issue(&self, id: &AnonymousId) -> HeaderValue {
        self.header(id.expose(), self.max_age_secs)
    }

    /// `Set-Cookie` that makes the browser drop the cookie (after a merge at sign-in).
    pub fn expire(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie =
            format!("{NAME}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
        // The id is hex and the attributes fixed: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(
                axum::http::header::COOKIE,
                HeaderValue::from_str(c).unwrap(),
            );
        }
        h
    }

    fn present() -> CartCookie {
        CartCookie::Present(AnonymousId::parse(ID).unwrap())
    }

    #[test]
    fn finds_the_cart_among_other_cookies() {
        for (cookies, want) in [
            (vec![], CartCookie::Absent),
            (vec!["theme=dark"], CartCookie::Absent),
            (vec![&format!("bazaar_cart={ID}")[..]], present()),
            (vec![&format!("a=1; bazaar_cart={ID}; b=2")[..]], present()),
            (vec!["a=1", &format!("bazaar_cart=\"{ID}\"")[..]], present()),
            (vec![&format!(" bazaar_cart = {ID} ")[..]], present()),
            (vec!["xbazaar_cart=1; bazaar_cartx=2"], CartCookie::Absent),
        ] {
            assert_eq!(
                CartCookie::from_headers(&headers(&cookies)),
                want,
                "{cookies:?}"
            );
        }
    }

    #[test]
    fn a_malformed_cookie_is_no_cart() {
        for value in [
            "",
            "abc",
            "../etc",
            &format!("{ID}0"),
            "zz112233445566778899aabbccddeeff",
        ] {
            let h = headers(&[&format!("bazaar_cart={value}")]);
            let c = CartCookie::from_headers(&h);
            assert_eq!(c, CartCookie::Malformed, "{value:?}");
            assert!(c.is_sent());
        }
        assert!(!CartCookie::Absent.is_sent());
    }

    #[test]
    fn a_well_formed_cookie_wins_over_a_malformed_one() {
        let h = headers(&[&format!("bazaar_cart=junk; bazaar_cart={ID}")]);
        assert_eq!(CartCookie::from_headers(&h), present());
    }

    #[test]
    fn set_cookie_has_the_contracted_attributes() {
        let policy = CookiePolicy {
            max_age_secs: 30 * 24 * 3600,
            secure: false,
        };
        let id = AnonymousId::parse(ID).unwrap();
        assert_eq!(
            policy.issue(&id),
            format!("bazaar_cart={ID}; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000")
        );
        assert_eq!(
            policy.expire(),
            "bazaar_cart=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
        );
        let secure = CookiePolicy {
            secure: true,
            ..policy
        };
        assert!(secure.issue(&id).to_str().unwrap().ends_with("; Secure"));
    }
}
