//! The catalog's black-box tests: a real catalog (and a real identity for tokens) on
//! port 0 with a fresh SQLite database, driven over HTTP.

mod admin;
mod bad_input;
mod helpers;
mod openapi;
mod products;
mod seed;
