//! The cart's black-box tests: a real identity (for tokens), a real catalog with a small
//! seed (the source of product events), a stand-in orders log (the events crate's own
//! outbox and log, fed by the tests) and a real cart, each on port 0 with its own SQLite
//! file, talking over HTTP through the embedded event transport.

mod anonymous;
mod bad_input;
mod catalog_feed;
mod concurrency;
mod helpers;
mod holds;
mod openapi;
mod orders;
mod users;
