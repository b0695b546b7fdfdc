//! What any service can fail with besides the refusals of its own domain: input out of
//! bounds, a dependency briefly away, the database. A service's error enum wraps it
//! (`#[error(transparent)] Failure(#[from] Failure)`, plus [`crate::failures!`] for the
//! conversions), so each becomes the same problem document — and, for an event
//! consumer, the same retry-or-dead-letter decision — in every service.

use crate::problem::{FieldError, Problem};

/// A failure every service has.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// 422: well-formed input with values out of bounds, each field named.
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// 503: something the request needs is stopping or briefly out of reach.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the database failed (or a constraint the caller could not know of).
    #[error("database failure")]
    Database(#[from] sqlx::Error),
}

impl Failure {
    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// The value of a parse, or a 422 naming `field` with why it was refused.
    pub fn field<T>(field: &str, parsed: Result<T, crate::domain::Invalid>) -> Result<T, Self> {
        parsed.map_err(|e| Self::invalid(field, e.to_string()))
    }
}

/// An error and each of its sources, `error: source: source…`, as one line: what logs,
/// problem details and tools say of an error, its causes included.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `field: message; …`, as logs and dead letters show invalid input.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<Failure> for Problem {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Invalid(errors) => Problem::validation(errors),
            Failure::Unavailable(detail) => Problem::unavailable(detail, 1),
            // A 503 to retry when the database failed for a moment, else a 500.
            Failure::Database(ref e) => Problem::database(e),
        }
    }
}

/// The conversions a service error enum with a `Failure(Failure)` variant wants: from
/// [`Failure`]'s causes (`sqlx::Error`), an `invalid` constructor, and the response it
/// becomes (its `From<_> for Problem` is the service's own).
///
/// ```ignore
/// platform::failures!(CartError);
/// ```
#[macro_export]
macro_rules! failures {
    ($error:ty) => {
        impl From<::sqlx::Error> for $error {
            fn from(e: ::sqlx::Error) -> Self {
                Self::Failure($crate::failure::Failure::from(e))
            }
        }

        impl $error {
            /// 422 for one field.
            pub fn invalid(field: &str, message: impl Into<String>) -> Self {
                Self::Failure($crate::failure::Failure::invalid(field, message))
            }
        }

        impl ::axum::response::IntoResponse for $error {
            fn into_response(self) -> ::axum::response::Response {
                $crate::Problem::from(self).into_response()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status_and_names_its_field() {
        let cases: Vec<(Failure, u16, Option<&str>)> = vec![
            (Failure::invalid("quantity", "bad"), 422, Some("quantity")),
            (Failure::Unavailable("stopping".into()), 503, None),
            (Failure::Database(sqlx::Error::RowNotFound), 500, None),
            // The database failed for a moment: retry.
            (Failure::Database(sqlx::Error::PoolTimedOut), 503, None),
        ];
        crate::testing::assert_problems(cases);
    }

    #[test]
    fn internal_failures_do_not_leak_their_cause() {
        let p = Problem::from(Failure::Database(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn a_refused_field_is_named_with_the_reason() {
        let refused = Failure::field::<()>("price", crate::domain::invalid("must not be negative"));
        assert_eq!(
            refused.unwrap_err().to_string(),
            "invalid input: price: must not be negative"
        );
    }
}

/// Every refused field of one input, collected so that one answer names them all (rather
/// than the first only): parse each field with [`Fields::take`], then [`Fields::check`].
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a parse, or `None` with `field` noted as refused and why.
    pub fn take<T>(
        &mut self,
        field: impl Into<String>,
        parsed: Result<T, crate::domain::Invalid>,
    ) -> Option<T> {
        parsed.map_err(|e| self.refuse(field, e.0)).ok()
    }

    /// Notes `field` as refused.
    pub fn refuse(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The refused fields, for a service whose own error carries them.
    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok` when no field was refused, else 422 naming every one.
    pub fn check(self) -> Result<(), Failure> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Failure::Invalid(self.0))
        }
    }
}

impl From<Fields> for Failure {
    fn from(fields: Fields) -> Self {
        Failure::Invalid(fields.0)
    }
}

#[cfg(test)]
mod fields_tests {
    use super::*;
    use crate::domain::invalid;

    #[test]
    fn every_refused_field_is_named_in_order() {
        let mut fields = Fields::new();
        assert_eq!(
            fields.take("a", Ok::<_, crate::domain::Invalid>(1)),
            Some(1)
        );
        assert_eq!(fields.take::<u8>("b", invalid("too big")), None);
        fields.refuse("c", "is missing");
        assert!(!fields.is_empty());
        let Err(Failure::Invalid(errors)) = fields.check() else {
            panic!("refused fields make a failure")
        };
        assert_eq!(
            errors,
            [
                FieldError::new("b", "too big"),
                FieldError::new("c", "is missing")
            ]
        );
        assert!(Fields::new().check().is_ok());
    }

    #[test]
    fn an_error_is_said_with_each_of_its_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("connecting to the shop")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(error_chain(&e), "connecting to the shop: refused");
        assert_eq!(error_chain(&e.0), "refused");
    }
}
