//! Outbound HTTP: one way to build a client, with timeouts, for calls between services.

use std::time::Duration;

/// A client builder with Bazaar's defaults: a connect timeout, an overall timeout, a
/// pool of idle connections, and a user agent naming the caller.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("bazaar/", env!("CARGO_PKG_VERSION")))
}

/// A client with [`builder`]'s defaults.
pub fn client() -> reqwest::Client {
    builder()
        .build()
        .expect("a client with default settings always builds")
}
