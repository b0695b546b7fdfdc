//! Payments' black-box tests: a real identity (for user, admin and service tokens) and a
//! real payments service, each on port 0 with its own SQLite file, driven over HTTP.

mod access;
mod authorize;
mod bad_input;
mod helpers;
mod idempotency;
mod lifecycle;
mod openapi;
mod privacy;
