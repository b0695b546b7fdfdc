//! The storefront's tests: page templates, pictures and the metrics parser on their own;
//! then a real storefront in front of a small real shop (identity, catalog, inventory,
//! cart, payments, orders, notifications and the gateway, each on port 0 with its own
//! SQLite file; search and recommendations left out), driven like a browser drives it.

mod accounts;
mod browsing;
mod cart;
mod checkout;
mod helpers;
mod metrics;
mod ops;
mod pictures;
mod rendering;
mod security;
