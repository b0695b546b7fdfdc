//! Refresh tokens are single-use and reusing one revokes the whole sign-in, so concurrent
//! requests of one browser that all find the access token expired share one refresh.

use crate::{
    api::{self, Caller, TokenPair},
    error::StorefrontError,
};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::OnceCell;

/// How long a refresh's result is shared with requests that present the same spent
/// refresh token (a page and the console's polls or the event stream arriving together).
/// Short: past it, the spent token is refused as identity refuses any reused one.
const SHARED_FOR: Duration = Duration::from_secs(10);

type Shared = Arc<OnceCell<Result<TokenPair, StorefrontError>>>;

/// Refreshes sessions, one upstream refresh per refresh token: concurrent requests with
/// the same token wait for and share the first one's answer.
#[derive(Default)]
pub struct Refresher {
    inflight: std::sync::Mutex<HashMap<String, (Instant, Shared)>>,
}

impl Refresher {
    /// Spends `refresh_token` at identity, or shares the answer of whoever is spending it.
    pub async fn refresh(
        &self,
        client: &api::Client,
        caller: &Caller,
        refresh_token: &str,
    ) -> Result<TokenPair, StorefrontError> {
        let cell = {
            let Ok(mut map) = self.inflight.lock() else {
                return client.refresh(caller, refresh_token).await;
            };
            map.retain(|_, (at, _)| at.elapsed() < SHARED_FOR);
            map.entry(refresh_token.to_owned())
                .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
                .1
                .clone()
        };
        let result = cell
            .get_or_init(|| client.refresh(caller, refresh_token))
            .await
            .clone();
        if matches!(result, Err(ref e) if e.status().is_none_or(|s| s >= 500))
            && let Ok(mut map) = self.inflight.lock()
        {
            // Identity could not answer: the token is unspent, so a later try may work.
            map.remove(refresh_token);
        }
        result
    }

    /// Forgets the answer shared for `refresh_token`: its session has ended, and nobody
    /// presenting it again is to be given the pair it brought.
    pub fn forget(&self, refresh_token: &str) {
        if let Ok(mut map) = self.inflight.lock() {
            map.remove(refresh_token);
        }
    }
}
