//! The few domain values every service speaks alike: why an input was refused, and a
//! product's id as the services that did not issue it see it.

use std::fmt;

/// Why a value was refused; the message is shown next to the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// `Err(Invalid(message))`, for parsers.
pub fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// A product's id, as the catalog issued it: 1 to 64 characters of ASCII letters, digits,
/// `-` and `_`. The catalog's are UUIDs; the services that only refer to products do not
/// insist on that form, so that they are not coupled to how the catalog makes ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(String);

impl ProductId {
    pub const MAX_LEN: usize = 64;

    /// Parses an id, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return invalid("must not be empty");
        }
        if raw.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid("may contain only letters, digits, `-` and `_`");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_short_url_safe_text() {
        let uuid = "01a21b0a-9626-7067-bfaf-abb52fefe2bb";
        assert_eq!(ProductId::parse(uuid).unwrap().as_str(), uuid);
        assert_eq!(ProductId::parse("sku_42").unwrap().to_string(), "sku_42");
        for (raw, why) in [
            ("", "must not be empty"),
            (&"x".repeat(65), "must be at most 64 characters long"),
            ("a/b", "may contain only letters, digits, `-` and `_`"),
            ("caf\u{e9}", "may contain only letters, digits, `-` and `_`"),
        ] {
            assert_eq!(ProductId::parse(raw), Err(Invalid(why.into())), "{raw:?}");
        }
    }
}
