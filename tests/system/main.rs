//! Whole-system tests: `bazaar up` started as a user starts it (real processes, a fresh
//! data directory, free ports), driven through the gateway. Scenarios marked
//! `in_both_shapes!` run embedded (SQLite, embedded events) and in the production shape
//! (PostgreSQL and RabbitMQ, when `BAZAAR_TEST_POSTGRES_URL` / `BAZAAR_TEST_AMQP_URL` are set).

mod chaos;
mod checkout;
mod degradation;
mod events;
use bazaar::testing as helpers;
mod load;
mod replicas;
mod security;
mod shop;
mod traces;

/// Runs the scenario `async fn $name(shape: Shape)` as two tests, `$name::embedded` and
/// `$name::production`.
#[macro_export]
macro_rules! in_both_shapes {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn embedded() {
                super::$name($crate::helpers::Shape::Embedded).await;
            }

            #[tokio::test]
            async fn production() {
                if let Some(shape) = $crate::helpers::production() {
                    super::$name(shape).await;
                }
            }
        }
    };
}
