//! The service platform: everything a Bazaar service needs besides its own domain.
//!
//! A service is a library that builds an axum `Router` and hands it to [`service::Service`],
//! which adds health checks, metrics, request ids, problem documents, a body limit and
//! graceful shutdown. Configuration ([`config`]), logging ([`telemetry`]), the database
//! ([`db`]), token verification ([`auth`]) and outbound HTTP ([`client`]) live here so that
//! every service does them the same way.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod domain;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;

pub use problem::{FieldError, Problem};
