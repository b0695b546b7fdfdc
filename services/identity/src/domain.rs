//! Account input parsed at the boundary: an email address, a password that meets the policy,
//! a display name. Raw strings do not travel past the handlers.

pub use platform::domain::Invalid;
use platform::domain::invalid;
use std::{collections::HashSet, fmt};

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
            return invalid("must not be empty");
        }
        if email.len() > Self::MAX_LEN {
            return invalid(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return invalid("is not an email address: it has no `@`");
        };
        if local.is_empty() || local.len() > Self::MAX_LOCAL_LEN {
            return invalid(format!(
                "is not an email address: the part before `@` must have 1 to {} characters",
                Self::MAX_LOCAL_LEN
            ));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return invalid(
                "is not an email address: the part before `@` has characters an address cannot have",
            );
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
            return invalid(
                "is not an email address: the part after `@` must be a domain such as `example.com`",
            );
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
    /// The least zxcvbn score (0–4) a password must have: 3 is at least 10¹⁰ guesses
    /// (2 let `Summer2024!` and `zaq12wsxcde3` through).
    const MIN_SCORE: u8 = 3;
    /// The characters of a password zxcvbn judges.
    const JUDGED_CHARS: usize = 64;
    /// A local part shorter than this is not looked for inside the password: refusing every
    /// password containing `a` helps nobody.
    const MIN_LOCAL_PART_CHECKED: usize = 3;

    /// Checks `raw` against the policy; `email` is the account's address, whose local part
    /// the password must not contain.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Invalid> {
        Self::parse_for(raw, email, None)
    }

    /// [`Password::parse`] for an account named `name` too: a password made of the name
    /// (or of the shop's) is an easy guess.
    pub fn parse_for(
        raw: &str,
        email: Option<&Email>,
        name: Option<&str>,
    ) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return invalid(format!(
                "is too short: use at least {} characters",
                Self::MIN_LEN
            ));
        }
        if len > Self::MAX_LEN {
            return invalid(format!(
                "is too long: use at most {} characters",
                Self::MAX_LEN
            ));
        }
        if raw.chars().collect::<HashSet<_>>().len() < Self::MIN_DISTINCT {
            return invalid(format!(
                "is too easy to guess: use at least {} different characters",
                Self::MIN_DISTINCT
            ));
        }
        if let Some(email) = email {
            let local = email.local_part();
            if local.len() >= Self::MIN_LOCAL_PART_CHECKED && raw.to_lowercase().contains(local) {
                return invalid(
                    "is too easy to guess: it must not contain the name in your email address",
                );
            }
        }
        // How many guesses it would take (zxcvbn): common passwords, words with digits or
        // symbols stuck on, keyboard and alphabet runs, repeats and dates are a few
        // thousand or million; the rule asks for ten thousand million at least. Judged on
        // its first characters: past them a password is long enough, and the estimate's
        // cost grows with the length.
        let judged: String = raw.chars().take(Self::JUDGED_CHARS).collect();
        let mut inputs: Vec<&str> = email.map(Email::local_part).into_iter().collect();
        inputs.extend(name.into_iter().flat_map(str::split_whitespace));
        inputs.push("bazaar");
        if u8::from(zxcvbn::zxcvbn(&judged, &inputs).score()) < Self::MIN_SCORE {
            return invalid(
                "is too easy to guess: it is a common password, a word with digits added, or a \
                 run of keys or letters; a few unrelated words make a strong one",
            );
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
pub type Name = platform::domain::TrimmedName<100>;

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
            ("abcdeabcde", false, "a run of letters, repeated"),
            ("plum-ink-oats", true, "exactly 13 chars, three words"),
            (
                "xMargaret-2024!",
                false,
                "contains the local part, any case",
            ),
            ("ÿäöüßéèñçå", true, "counts characters, not bytes"),
            ("1234567890", false, "a run of digits"),
            ("password123", false, "a common password with digits"),
            (
                "Password1!",
                false,
                "capitalised, a digit and a symbol added",
            ),
            ("qwertyuiop", false, "a row of keys"),
            ("1q2w3e4r5t", false, "a walk over the keys"),
            ("iloveyou123", false, "a common phrase with digits"),
            ("abcdefghij", false, "the alphabet"),
            ("Summer2024!", false, "a season and a year"),
            ("zaq12wsxcde3", false, "columns of keys"),
            ("Bazaar2026!", false, "the shop's name and a year"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(Password::parse(raw, Some(&email)).is_ok(), *ok, "{why}");
        }
        // The account's own name is an easy guess.
        let named = |raw| Password::parse_for(raw, None, Some("Tess Tessington"));
        assert!(named("Tess Tessington").is_err());
        assert!(named("plum-ink-oats").is_ok());
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

/// Property tests of the account parsers: what any input gives, what well-formed input
/// gives, and what a single fault does to it.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::{any_text, check_trimmed_name, padding};
    use proptest::prelude::*;

    /// Text that looks like an address, so that the checks past the `@` are reached.
    fn address_like() -> impl Strategy<Value = String> {
        "[ \t]{0,2}[A-Za-z0-9.!#'+_@-]{0,70}@[A-Za-z0-9.@-]{0,70}[ \t]{0,2}"
    }

    /// A local part as the parser documents it: atoms joined by single dots.
    fn local_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}){0,2}"
    }

    /// A domain: labels of letters, digits and inner hyphens, then a TLD of letters.
    fn domain() -> impl Strategy<Value = String> {
        "([A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?\\.){1,3}[A-Za-z]{2,6}"
    }

    proptest! {
        #[test]
        fn any_text_is_an_email_or_a_clear_refusal(
            raw in prop_oneof![any_text(), address_like()],
        ) {
            match Email::parse(&raw) {
                Ok(email) => {
                    prop_assert_eq!(email.as_str(), raw.trim().to_ascii_lowercase());
                    prop_assert!(email.as_str().len() <= Email::MAX_LEN);
                    prop_assert_eq!(email.as_str().matches('@').count(), 1);
                    prop_assert_eq!(
                        Some(email.local_part()),
                        email.as_str().split('@').next()
                    );
                    prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn well_formed_addresses_are_accepted_trimmed_and_lower_cased(
            local in local_part(),
            domain in domain(),
            before in padding(),
            after in padding(),
        ) {
            let address = format!("{local}@{domain}");
            let email = Email::parse(&format!("{before}{address}{after}"));
            prop_assert_eq!(
                email.as_ref().map(|e| e.as_str().to_owned()),
                Ok(address.to_ascii_lowercase())
            );
            prop_assert_eq!(
                email.as_ref().map(|e| e.local_part().to_owned()),
                Ok(local.to_ascii_lowercase())
            );
        }

        #[test]
        fn one_address_in_any_case_is_one_account(local in local_part(), domain in domain()) {
            let address = format!("{local}@{domain}");
            let upper = Email::parse(&address.to_ascii_uppercase());
            prop_assert!(upper.is_ok(), "{:?}", upper);
            prop_assert_eq!(upper, Email::parse(&address.to_ascii_lowercase()));
        }

        #[test]
        fn an_address_without_its_at_sign_is_refused(local in local_part(), domain in domain()) {
            prop_assert_eq!(
                Email::parse(&format!("{local}{domain}")),
                invalid("is not an email address: it has no `@`")
            );
        }

        #[test]
        fn a_local_part_past_sixty_four_characters_is_refused_naming_the_limit(
            local in "[a-z0-9]{65,100}",
            domain in domain(),
        ) {
            prop_assert_eq!(
                Email::parse(&format!("{local}@{domain}")),
                invalid(
                    "is not an email address: the part before `@` must have 1 to 64 characters"
                )
            );
        }

        #[test]
        fn an_address_past_254_characters_is_refused_naming_the_limit(
            local in "[a-z]{1,64}",
            labels in prop::collection::vec("[a-z]{50,63}", 4..6),
        ) {
            let address = format!("{local}@{}.com", labels.join("."));
            prop_assume!(address.len() > Email::MAX_LEN);
            prop_assert_eq!(
                Email::parse(&address),
                invalid("must be at most 254 characters long")
            );
        }

        #[test]
        fn a_stray_dot_in_the_local_part_is_refused(
            local in local_part(),
            domain in domain(),
            at in any::<prop::sample::Index>(),
        ) {
            let spoilt = [
                format!(".{local}@{domain}"),
                format!("{local}.@{domain}"),
                {
                    // Two dots before any character of an atom.
                    let atoms: Vec<usize> = local
                        .char_indices()
                        .filter(|(_, c)| *c != '.')
                        .map(|(i, _)| i)
                        .collect();
                    let i = atoms[at.index(atoms.len())];
                    format!("{}..{}@{domain}", &local[..i], &local[i..])
                },
            ];
            for raw in spoilt {
                let refused = Email::parse(&raw);
                prop_assert!(refused.is_err(), "{:?} was accepted", raw);
            }
        }

        #[test]
        fn a_top_level_domain_with_a_digit_or_one_letter_is_refused(
            local in local_part(),
            name in "[a-z0-9]{1,10}",
            tld in prop_oneof!["[a-z]", "[a-z]{0,3}[0-9][a-z]{0,3}"],
        ) {
            prop_assert_eq!(
                Email::parse(&format!("{local}@{name}.{tld}")),
                invalid(
                    "is not an email address: the part after `@` must be a domain such as `example.com`"
                )
            );
        }

        #[test]
        fn any_text_is_a_password_or_a_clear_refusal(
            raw in any_text(),
            local in prop::option::of("[a-z]{1,8}"),
        ) {
            let email = local.and_then(|l| Email::parse(&format!("{l}@example.com")).ok());
            match Password::parse(&raw, email.as_ref()) {
                Ok(password) => prop_assert_eq!(password.expose(), raw.as_str()),
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn ten_to_256_characters_with_five_different_ones_are_a_password(
            chars in prop::collection::vec(any::<char>(), 10..=256)
                .prop_filter("five different characters", |cs| {
                    cs.iter().collect::<HashSet<_>>().len() >= Password::MIN_DISTINCT
                }),
        ) {
            let raw: String = chars.into_iter().collect();
            let password = Password::parse(&raw, None);
            prop_assert_eq!(password.as_ref().map(Password::expose), Ok(raw.as_str()));
            prop_assert_eq!(
                password.map(|p| format!("{p:?}")),
                Ok("Password([redacted])".to_owned())
            );
        }

        #[test]
        fn password_lengths_count_characters_and_are_bounded_exactly(
            chars in prop::collection::vec(any::<char>(), 0..300),
        ) {
            let raw: String = chars.iter().collect();
            let refused = Password::parse(&raw, None).err();
            if chars.len() < Password::MIN_LEN {
                prop_assert_eq!(
                    refused,
                    Some(Invalid("is too short: use at least 10 characters".into()))
                );
            } else if chars.len() > Password::MAX_LEN {
                prop_assert_eq!(
                    refused,
                    Some(Invalid("is too long: use at most 256 characters".into()))
                );
            } else {
                prop_assert!(
                    refused.is_none_or(|why| why.0.starts_with("is too easy to guess")),
                    "{:?}",
                    raw
                );
            }
        }

        #[test]
        fn passwords_of_four_characters_or_fewer_are_refused_however_long(
            alphabet in prop::collection::vec(any::<char>(), 1..=4),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 10..=256),
        ) {
            let raw: String = picks.iter().map(|i| alphabet[i.index(alphabet.len())]).collect();
            prop_assert_eq!(
                Password::parse(&raw, None).err(),
                Some(Invalid("is too easy to guess: use at least 5 different characters".into()))
            );
        }

        #[test]
        fn a_password_holding_the_local_part_in_any_case_is_refused(
            local in "[a-z]{3,20}",
            upper in prop::collection::vec(any::<bool>(), 20),
            before in "[ -~]{0,20}",
            after in "[ -~]{0,20}",
        ) {
            let email = Email::parse(&format!("{local}@example.com"));
            prop_assert!(email.is_ok(), "{:?}", email);
            let cased: String = local
                .chars()
                .zip(&upper)
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect();
            // Seven different characters: long and varied enough whatever else is there.
            let raw = format!("Zq7!xYw{before}{cased}{after}");
            prop_assert_eq!(
                Password::parse(&raw, email.as_ref().ok()).err(),
                Some(Invalid("is too easy to guess: it must not contain the name in your email address".into()))
            );
            // Without the account's address, the same password is fine.
            prop_assert!(Password::parse(&raw, None).is_ok(), "{:?}", raw);
        }
    }

    #[test]
    fn a_name_is_a_trimmed_name_of_up_to_100_characters() {
        check_trimmed_name(Name::parse, Name::as_str, 100);
    }
}
