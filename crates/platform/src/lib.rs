//! The service platform: everything a Bazaar service needs besides its own domain.
//!
//! A service describes itself in a [`ServiceDef`] ([`registry`]) and assembles itself
//! from a [`Kit`] ([`kit`]): its routes go to [`service::Service`], which adds health
//! checks, metrics, request ids, problem documents, a body limit and graceful shutdown. Configuration ([`config`]), logging ([`telemetry`]), the database
//! ([`db`]), token verification ([`auth`]) and outbound HTTP ([`client`]) live here so that
//! every service does them the same way.
// One `unsafe fn` is needed: a subscriber wrapping another passes its downcasts on
// (`telemetry::request::Lazy`), as `tracing-subscriber`'s own layers do.
#![deny(unsafe_code)]

pub mod auth;
pub mod balance;
pub mod client;
pub mod config;
pub mod db;
pub mod discovery;
pub mod domain;
pub mod extract;
pub mod failure;
pub mod filter;
pub mod html;
pub mod kit;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod registry;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod traces;

pub use failure::Failure;
pub use kit::{Kit, Launch};
pub use problem::{FieldError, Problem};
pub use registry::{Access, Route, ServiceDef, Subscription};
