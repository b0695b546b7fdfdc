//! The recommendation service's black-box tests: a real identity (for tokens), a real
//! catalog with a small seed (the source of product events) and a real recommendation
//! service following it, each on port 0 with its own SQLite file. Confirmed orders are
//! delivered through the service's own consumer, as the transport would deliver them.

mod bad_input;
mod degradation;
mod helpers;
mod me;
mod openapi;
mod products;
