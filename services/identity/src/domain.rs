//! Account input parsed at the boundary: an email address, a password that meets the policy,
//! a display name. Raw strings do not travel past the handlers.

use std::{collections::HashSet, fmt};

/// Why a value was refused; the message completes a sentence about the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// An email address, trimmed and lower-cased, so that one address is one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address SMTP can carry (RFC 5321 §4.5.3.1).
    pub const MAX_LEN: usize = 254;
    /// The longest local part (RFC 5321 §4.5.3.1.1).
    pub const MAX_LOCAL_LEN: usize = 64;

    /// Parses an address in the common `local@domain.tld` form (ASCII only).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_ascii_lowercase();
        if email.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(Invalid::new(format!(
                "must be at most {} characters long",
                Self::MAX_LEN
            )));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(Invalid::new("is not an email address: it has no `@`"));
        };
        if local.is_empty() || local.len() > Self::MAX_LOCAL_LEN {
            return Err(Invalid::new(format!(
                "is not an email address: the part before `@` must have 1 to {} characters",
                Self::MAX_LOCAL_LEN
            )));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(Invalid::new(
                "is not an email address: the part before `@` has characters an address cannot have",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if !domain_ok {
            return Err(Invalid::new(
                "is not an email address: the part after `@` must be a domain such as `example.com`",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the policy. It never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Fewest characters (NIST SP 800-63B asks for at least 8; we ask for a little more).
    pub const MIN_LEN: usize = 10;
    /// Most characters: long enough for any passphrase, short enough to bound hashing work.
    pub const MAX_LEN: usize = 256;
    /// Fewest distinct characters, which refuses `aaaaaaaaaa` and `1212121212`.
    pub const MIN_DISTINCT: usize = 5;
    /// A local part shorter than this is not looked for inside the password: refusing every
    /// password containing `a` helps nobody.
    const MIN_LOCAL_PART_CHECKED: usize = 3;

    /// Checks `raw` against the policy; `email` is the account's address, whose local part
    /// the password must not contain.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(Invalid::new(format!(
                "is too short: use at least {} characters",
                Self::MIN_LEN
            )));
        }
        if len > Self::MAX_LEN {
            return Err(Invalid::new(format!(
                "is too long: use at most {} characters",
                Self::MAX_LEN
            )));
        }
        if raw.chars().collect::<HashSet<_>>().len() < Self::MIN_DISTINCT {
            return Err(Invalid::new(format!(
                "is too easy to guess: use at least {} different characters",
                Self::MIN_DISTINCT
            )));
        }
        if let Some(email) = email {
            let local = email.local_part();
            if local.len() >= Self::MIN_LOCAL_PART_CHECKED && raw.to_lowercase().contains(local) {
                return Err(Invalid::new(
                    "is too easy to guess: it must not contain your email address",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself; call only to hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(Invalid::new(format!(
                "must be at most {} characters long",
                Self::MAX_LEN
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let e = Email::parse("  Ada.Lovelace+shop@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace+shop@example.com");
        assert_eq!(e.local_part(), "ada.lovelace+shop");
    }

    #[test]
    fn bad_emails_are_refused() {
        let cases = [
            ("", "empty"),
            ("   ", "blank"),
            ("ada", "no @"),
            ("@example.com", "no local part"),
            ("ada@", "no domain"),
            ("ada@localhost", "single-label domain"),
            ("ada@@example.com", "two @"),
            ("a da@example.com", "space in local part"),
            (".ada@example.com", "leading dot"),
            ("ada..l@example.com", "double dot"),
            ("ada@-example.com", "label starts with hyphen"),
            ("ada@example..com", "empty label"),
            ("ada@example.c", "one-letter TLD"),
            ("ada@example.c0m", "digit in TLD"),
            ("adä@example.com", "non-ASCII"),
        ];
        for (raw, why) in cases {
            assert!(Email::parse(raw).is_err(), "{why}: {raw:?} was accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err(), "local part over 64");
        let long = format!("a@{}.com", "b".repeat(250));
        assert!(Email::parse(&long).is_err(), "address over 254");
    }

    #[test]
    fn good_emails_are_accepted() {
        for raw in [
            "a@b.co",
            "admin@bazaar.local",
            "o'brien@mail.example.org",
            "x-y_z@sub-domain.io",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw} was refused");
        }
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("margaret@example.com").unwrap();
        let cases: &[(&str, bool, &str)] = &[
            ("correct horse battery", true, "a passphrase"),
            ("short1!", false, "fewer than 10 characters"),
            ("aaaaaaaaaaaa", false, "one distinct character"),
            ("abcdabcdabcd", false, "four distinct characters"),
            ("abcdeabcde", true, "exactly 10 chars, 5 distinct"),
            (
                "xMargaret-2024!",
                false,
                "contains the local part, any case",
            ),
            ("ÿäöüßÿäöüß", true, "counts characters, not bytes"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(Password::parse(raw, Some(&email)).is_ok(), *ok, "{why}");
        }
        assert!(
            Password::parse(&"ab3de".repeat(52), None).is_err(),
            "over 256"
        );
        assert!(
            Password::parse(&"ab3de".repeat(51), None).is_ok(),
            "exactly 255"
        );
    }

    #[test]
    fn short_local_parts_are_not_checked() {
        let email = Email::parse("al@example.com").unwrap();
        assert!(Password::parse("always-allowed", Some(&email)).is_ok());
    }

    #[test]
    fn passwords_do_not_print() {
        let p = Password::parse("correct horse battery", None).unwrap();
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }

    #[test]
    fn names() {
        assert_eq!(Name::parse("  Ada  ").unwrap().into_string(), "Ada");
        assert!(Name::parse("").is_err());
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert!(Name::parse(&"é".repeat(101)).is_err());
        assert!(Name::parse("Ada\u{0}").is_err());
    }
}
