//! Inventory's black-box tests: a real identity (for user and service tokens), the
//! catalog's event log with a small seed (the events crate's stand-in producer, fed by the
//! tests) and a real inventory, each on port 0 with its own SQLite file, talking over HTTP
//! through the embedded event transport.

mod bad_input;
mod dead_letters;
mod feed;
mod helpers;
mod openapi;
mod reservations;
mod stock;
