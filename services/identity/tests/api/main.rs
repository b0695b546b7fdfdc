//! Black-box tests of the identity service over HTTP, one binary for all of them.

mod admin;
mod bad_input;
mod helpers;
mod limits;
mod memory;
mod rotation;
mod service;
mod service_tokens;
mod sessions;
mod tokens;
