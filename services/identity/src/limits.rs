//! Identity's rate limits: sign-in, registration and token refresh, per account and per
//! client address, stricter than the gateway's (each guess costs an argon2id hash).

use crate::{config::Config, error::Error};
use axum::http::HeaderMap;
use platform::ratelimit::{Limiter, Switch, TrustedProxies};
use std::net::IpAddr;

/// Every limit identity applies.
pub(crate) struct Limits {
    sign_in_account: Limiter,
    sign_in_address: Limiter,
    register_account: Limiter,
    register_address: Limiter,
    refresh_address: Limiter,
    refresh_account: Limiter,
    trusted: TrustedProxies,
}

impl Limits {
    /// The limits `config` sets, unless `switch` is off; `trusted` are the proxies (the
    /// gateway) whose `X-Forwarded-For` names the client.
    pub fn new(config: &Config, switch: Switch, trusted: TrustedProxies) -> Self {
        Self {
            sign_in_account: Limiter::new(
                "sign-in-account",
                config.sign_in_rate_limit_per_account,
                switch,
            ),
            sign_in_address: Limiter::new(
                "sign-in-address",
                config.sign_in_rate_limit_per_address,
                switch,
            ),
            register_account: Limiter::new(
                "registration-account",
                config.registration_rate_limit_per_account,
                switch,
            ),
            register_address: Limiter::new(
                "registration-address",
                config.registration_rate_limit_per_address,
                switch,
            ),
            refresh_address: Limiter::new(
                "refresh-address",
                config.refresh_rate_limit_per_address,
                switch,
            ),
            refresh_account: Limiter::new(
                "refresh-account",
                config.refresh_rate_limit_per_account,
                switch,
            ),
            trusted,
        }
    }

    /// The client of a request from `peer` (none when the server does not know the peer).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        peer.map(|p| self.trusted.client(p, headers))
    }

    /// One sign-in attempt at `email` (as typed, normalised) from `client`.
    pub fn sign_in(&self, client: Option<IpAddr>, email: &str) -> Result<(), Error> {
        both(&self.sign_in_address, client, &self.sign_in_account, email)
    }

    /// One registration from `client`: every try counts, whatever it sends.
    pub fn register_from(&self, client: Option<IpAddr>) -> Result<(), Error> {
        from_client(&self.register_address, client)
    }

    /// One registration of `email`, counted once the request is valid: a newcomer
    /// whose passwords the policy refused has not used up the email's tries (the abuse
    /// review: three weak passwords locked the email out for 20 minutes).
    pub fn register_of(&self, email: &str) -> Result<(), Error> {
        self.register_account.check(email).map_err(Error::Limited)
    }

    /// One token refresh of `user_id`'s session (checked once the token's owner is
    /// known, before it is spent: see `Store::rotate_refresh_token`).
    pub fn refresh_of(&self, user_id: &str) -> Result<(), Error> {
        self.refresh_account.check(user_id).map_err(Error::Limited)
    }

    /// One token refresh from `client`.
    pub fn refresh(&self, client: Option<IpAddr>) -> Result<(), Error> {
        from_client(&self.refresh_address, client)
    }
}

/// The address's limit first, so that a flood from one address does not use up the
/// account's attempts as well.
fn both(
    by_address: &Limiter,
    client: Option<IpAddr>,
    by_account: &Limiter,
    account: &str,
) -> Result<(), Error> {
    from_client(by_address, client)?;
    by_account.check(account).map_err(Error::Limited)
}

/// One try from `client` against `by_address` (none counted when the server does not
/// know the client).
fn from_client(by_address: &Limiter, client: Option<IpAddr>) -> Result<(), Error> {
    match client {
        Some(ip) => by_address.check_address(ip).map_err(Error::Limited),
        None => Ok(()),
    }
}
