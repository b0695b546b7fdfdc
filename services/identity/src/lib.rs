//! Bazaar's identity service: accounts, sign-in, and the EdDSA access tokens every other
//! service verifies against its JWKS.
#![forbid(unsafe_code)]

mod admin;
pub mod config;
mod domain;
mod error;
mod keys;
mod limits;
mod password;
mod published;
mod routes;
mod startup;
mod store;
#[cfg(feature = "test-util")]
pub mod testing;

use platform::{Access, Route, ServiceDef};

/// Identity, as the registry knows it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "identity",
    about: "accounts, argon2id passwords, EdDSA tokens, JWKS, service tokens",
    database: true,
    publishes: &[published::USER_REGISTERED, published::USER_SIGNED_OUT],
    subscriptions: &[],
    read_model: false,
    calls: &[],
    routes: &[
        // Credentials in the body, or none needed: a bearer sent along (an expired
        // access token, say) must not stop a client refreshing it.
        Route::new("/login", Access::Anonymous),
        Route::new("/register", Access::Anonymous),
        Route::new("/refresh", Access::Anonymous),
        Route::new("/.well-known", Access::Anonymous),
        Route::new("/me", Access::SignedIn),
        Route::new("/logout", Access::SignedIn),
        Route::new("/users", Access::SignedIn),
        Route::new("/keys", Access::SignedIn),
        // Services ask for their tokens directly; the gateway does not route it.
        Route::new("/service-tokens", Access::Internal),
    ],
    build: |launch| Box::pin(launch.start(startup::build)),
    settings: platform::config::variables::<config::Config>,
};
