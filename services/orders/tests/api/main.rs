//! Orders' black-box tests: a real identity (for user and service tokens) and, per test,
//! a real catalog, inventory, payments, cart and orders, each on port 0 with its own
//! SQLite file, talking over HTTP and the embedded event transport.

mod bad_input;
mod checkout;
mod helpers;
mod idempotency;
mod openapi;
mod outage;
mod recovery;
