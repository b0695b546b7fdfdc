//! Whole-system tests: `bazaar up` started as a user starts it (real processes, a fresh
//! data directory, free ports), driven through the gateway.

mod helpers;
mod postgres;
mod shop;
