//! Proptest strategies and helpers the services' property tests share.

use crate::{domain::Invalid, extract::Query};
use axum::extract::FromRequestParts;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use serde::de::DeserializeOwned;
use std::{
    fmt::Debug,
    future::Future,
    ops::RangeInclusive,
    pin::pin,
    task::{Context, Poll, Waker},
};

/// Any text at all: arbitrary characters (control characters and all), short or up to
/// 1000 characters long.
pub fn any_text() -> impl Strategy<Value = String> {
    any_text_up_to(1000)
}

/// [`any_text`] that also reaches past a limit: short, or up to `longest` characters.
pub fn any_text_up_to(longest: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..100),
        prop::collection::vec(any::<char>(), 0..longest),
    ]
    .prop_map(String::from_iter)
}

/// Whitespace `trim` removes, ASCII and beyond: up to three characters.
pub fn padding() -> impl Strategy<Value = String> {
    "[ \t\r\n\u{a0}\u{2003}]{0,3}"
}

/// A control character: C0 (newline and tab included), DEL or C1.
pub fn control() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{0}', '\u{1f}'),
        prop::char::range('\u{7f}', '\u{9f}'),
    ]
}

/// A [`control`] character other than a newline or a tab, which multi-line text allows.
pub fn control_but_newline_and_tab() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{0}', '\u{8}'),
        prop::char::range('\u{b}', '\u{1f}'),
        prop::char::range('\u{7f}', '\u{9f}'),
    ]
}

/// Any character a name may be made of alone: not whitespace, a control character, an
/// override of the text's direction, a noncharacter, nor one that shows nothing (each
/// of those made an `x`: filtering them out rejects too many of a long text's characters).
pub fn visible() -> impl Strategy<Value = char> {
    any::<char>().prop_map(|c| {
        if crate::domain::trimmed_name(c.encode_utf8(&mut [0; 4]), 1).is_ok() {
            c
        } else {
            'x'
        }
    })
}

/// `len` characters, [`visible`] with spaces between some and at neither end: trimming
/// leaves them as they are.
pub fn visible_text(len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![4 => visible(), 1 => Just(' ')], len).prop_map(|mut cs| {
        for end in [0, cs.len().saturating_sub(1)] {
            if cs.get(end) == Some(&' ') {
                cs[end] = 'x';
            }
        }
        cs.into_iter().collect()
    })
}

/// Integers from a little below `lo` to a little above `hi`, and any at all.
pub fn around(lo: i64, hi: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        lo.saturating_sub(3)..=lo.saturating_add(3),
        hi.saturating_sub(3)..=hi.saturating_add(3),
        any::<i64>(),
    ]
}

/// The law every parsed text type keeps: `raw` is refused with a message, or accepted as
/// a value that reads as `kept` (`raw` itself, or trimmed) and parses again to itself.
/// The accepted value, for a test's own further checks.
pub fn parsed_or_refused<T: Clone + Debug + PartialEq>(
    parse: impl Fn(&str) -> Result<T, Invalid>,
    text: impl Fn(&T) -> &str,
    raw: &str,
    kept: &str,
) -> Result<Option<T>, TestCaseError> {
    match parse(raw) {
        Ok(value) => {
            prop_assert_eq!(text(&value), kept);
            prop_assert_eq!(parse(text(&value)), Ok(value.clone()));
            Ok(Some(value))
        }
        Err(Invalid(why)) => {
            prop_assert!(!why.is_empty());
            Ok(None)
        }
    }
}

/// Checks the laws of a type parsed by [`trimmed_name`](crate::domain::trimmed_name) with
/// `max_len`: any text is one or a clear refusal; 1 to `max_len` visible characters are one
/// once trimmed; a longer one is refused naming the limit, and so is one with a control
/// character inside. Panics with the first counterexample.
pub fn check_trimmed_name<T: Clone + Debug + PartialEq>(
    parse: impl Fn(&str) -> Result<T, Invalid>,
    text: impl Fn(&T) -> &str,
    max_len: usize,
) {
    // No regression file: a runner outside `proptest!` has no test source to keep one by.
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let check = |law: &str, result: Result<(), String>| {
        if let Err(failure) = result {
            panic!("{law}: {failure}");
        }
    };
    check(
        "any text is a name or a clear refusal",
        runner
            .run(&any_text_up_to(max_len + 1000), |raw| {
                if let Some(name) = parsed_or_refused(&parse, &text, &raw, raw.trim())? {
                    let len = text(&name).chars().count();
                    prop_assert!((1..=max_len).contains(&len));
                    prop_assert!(!text(&name).chars().any(char::is_control));
                }
                Ok(())
            })
            .map_err(|e| e.to_string()),
    );
    check(
        "up to the limit, visible characters are a name once trimmed",
        runner
            .run(
                &(visible_text(1..=max_len), padding(), padding()),
                |(name, before, after)| {
                    let parsed = parse(&format!("{before}{name}{after}"));
                    prop_assert_eq!(parsed.as_ref().map(&text), Ok(name.as_str()));
                    Ok(())
                },
            )
            .map_err(|e| e.to_string()),
    );
    check(
        "a name past the limit is refused naming it",
        runner
            .run(&visible_text(max_len + 1..=max_len * 2 + 100), |long| {
                prop_assert_eq!(
                    parse(&long).err(),
                    Some(Invalid(format!(
                        "must be at most {max_len} characters long"
                    )))
                );
                Ok(())
            })
            .map_err(|e| e.to_string()),
    );
    let half = ((max_len - 1) / 2).clamp(1, 50);
    check(
        "a control character inside a name is refused",
        runner
            .run(
                &(visible_text(1..=half), control(), visible_text(1..=half)),
                |(start, bad, end)| {
                    prop_assert_eq!(
                        parse(&format!("{start}{bad}{end}")).err(),
                        Some(Invalid("must not contain control characters".into()))
                    );
                    Ok(())
                },
            )
            .map_err(|e| e.to_string()),
    );
}

/// Every byte percent-encoded: the value arrives as it is, whatever it holds.
pub fn percent_encoded(value: &str) -> String {
    value.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// What the [`Query`] extractor makes of this query string: the parameters, or the fields
/// its 422 names (any other refusal as its description).
pub fn query_params<T: DeserializeOwned>(query: &str) -> Result<T, Vec<String>> {
    let request = http::Request::get(format!("/?{query}"))
        .body(())
        .map_err(|e| vec![format!("not a request: {e}")])?;
    let (mut parts, ()) = request.into_parts();
    // The extractor reads the URI and waits on nothing: one poll finishes it.
    let extracted = pin!(Query::<T>::from_request_parts(&mut parts, &()))
        .poll(&mut Context::from_waker(Waker::noop()));
    match extracted {
        Poll::Ready(Ok(Query(params))) => Ok(params),
        Poll::Ready(Err(problem)) if problem.status == 422 => {
            Err(problem.errors.into_iter().map(|e| e.field).collect())
        }
        Poll::Ready(Err(problem)) => Err(vec![format!("{problem:?}")]),
        Poll::Pending => Err(vec!["the extractor waited".into()]),
    }
}
