//! Search's black-box tests: a real identity (for tokens), a real catalog with its default
//! seed (the source of product events) and a real search, each on port 0 with its own
//! SQLite file, talking over HTTP through the embedded event transport.

mod bad_input;
mod dead_letters;
mod freshness;
mod helpers;
mod openapi;
mod recovery;
mod relevance;
