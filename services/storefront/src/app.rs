//! What every handler reaches: the settings, the gateway client, token verification and
//! refresh, the templates, the ops monitor, and two small caches (categories, and the
//! names behind product pictures).

use crate::{
    config::Config,
    domain::ProductId,
    error::StorefrontError,
    ops::Monitor,
    session::{CookiePolicy, Refresher, Visitor},
    shop::{Category, Notification, Patience, Shop},
    views::{Chrome, UserView, Views},
};
use axum::extract::FromRef;
use platform::{auth::Verifier, shutdown::Shutdown};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How long the category list is reused.
const CATEGORIES_FOR: Duration = Duration::from_secs(60);
/// How long a product's name and category are reused for its picture.
const PICTURE_FACTS_FOR: Duration = Duration::from_secs(600);
/// Most products whose name and category are kept for pictures.
const PICTURE_FACTS_MAX: usize = 5_000;

/// The storefront's shared state. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    shop: Shop,
    verifier: Verifier,
    refresher: Refresher,
    views: Views,
    monitor: Monitor,
    shutdown: Shutdown,
    cookie_policy: CookiePolicy,
    streaming: reqwest::Client,
    categories: Mutex<Option<(Instant, Vec<Category>)>>,
    picture_facts: Mutex<HashMap<String, (Instant, String, String)>>,
}

/// The parts an [`App`] is made of.
pub struct Parts {
    pub config: Config,
    pub shop: Shop,
    pub verifier: Verifier,
    pub views: Views,
    pub monitor: Monitor,
    /// Fires when the service stops (long-lived streams end then).
    pub shutdown: Shutdown,
}

impl App {
    pub fn new(parts: Parts) -> anyhow::Result<Self> {
        let cookie_policy = CookiePolicy {
            max_age_secs: parts.config.session_max_age_secs,
            secure: parts.config.secure_cookies,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                cookie_policy,
                // Event streams stay open: no overall timeout, only one to connect.
                streaming: reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .user_agent(concat!("bazaar-storefront/", env!("CARGO_PKG_VERSION")))
                    .build()?,
                config: parts.config,
                shop: parts.shop,
                verifier: parts.verifier,
                refresher: Refresher::default(),
                views: parts.views,
                monitor: parts.monitor,
                shutdown: parts.shutdown,
                categories: Mutex::new(None),
                picture_facts: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn shop(&self) -> &Shop {
        &self.inner.shop
    }

    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    pub fn refresher(&self) -> &Refresher {
        &self.inner.refresher
    }

    pub fn views(&self) -> &Views {
        &self.inner.views
    }

    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }

    /// Fires when the service stops.
    pub fn shutdown(&self) -> Shutdown {
        self.inner.shutdown.clone()
    }

    pub fn cookie_policy(&self) -> CookiePolicy {
        self.inner.cookie_policy
    }

    /// A client for event streams (no overall timeout).
    pub fn streaming(&self) -> &reqwest::Client {
        &self.inner.streaming
    }

    /// Every category, reused for a minute.
    pub async fn categories(&self, v: &Visitor) -> Result<Vec<Category>, StorefrontError> {
        if let Ok(cache) = self.inner.categories.lock()
            && let Some((at, list)) = cache.as_ref()
            && at.elapsed() < CATEGORIES_FOR
        {
            return Ok(list.clone());
        }
        let list = self.shop().categories(v).await?;
        if let Ok(mut cache) = self.inner.categories.lock() {
            *cache = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// A category's name, from the cached list (its id when unknown).
    pub async fn category_name(&self, v: &Visitor, id: &str) -> String {
        self.categories(v)
            .await
            .ok()
            .and_then(|list| list.into_iter().find(|c| c.id == id).map(|c| c.name))
            .unwrap_or_else(|| id.to_owned())
    }

    /// A product's name and category, for its picture.
    pub async fn picture_facts(
        &self,
        v: &Visitor,
        id: &ProductId,
    ) -> Result<(String, String), StorefrontError> {
        if let Ok(cache) = self.inner.picture_facts.lock()
            && let Some((at, name, category)) = cache.get(id.as_str())
            && at.elapsed() < PICTURE_FACTS_FOR
        {
            return Ok((name.clone(), category.clone()));
        }
        let product = self.shop().product_quickly(v, id).await?;
        self.remember_picture_facts(&product.id, &product.name, &product.category);
        Ok((product.name, product.category))
    }

    /// Keeps what a page already learnt about a product, so its picture needs no call.
    pub fn remember_picture_facts(&self, id: &str, name: &str, category: &str) {
        if let Ok(mut cache) = self.inner.picture_facts.lock() {
            if cache.len() >= PICTURE_FACTS_MAX {
                cache.retain(|_, (at, _, _)| at.elapsed() < PICTURE_FACTS_FOR);
                if cache.len() >= PICTURE_FACTS_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                id.to_owned(),
                (Instant::now(), name.to_owned(), category.to_owned()),
            );
        }
    }

    /// The header of a page: the user, the cart's count and the unread notifications,
    /// each asked for with the optional patience. `cart_units` is given by pages that
    /// read the cart anyway.
    pub async fn chrome(
        &self,
        v: &Visitor,
        path: &str,
        query: &str,
        cart_units: Option<i64>,
    ) -> Chrome {
        let claims = v.user().await;
        let signed_in = claims.is_some();
        let cart_count = async {
            if cart_units.is_some() {
                return cart_units;
            }
            if !signed_in && v.cart_cookie().await.is_none() {
                return Some(0);
            }
            self.shop().cart_quickly(v).await.ok().map(|c| c.units())
        };
        let unread = async {
            if !signed_in {
                return None;
            }
            self.unread(v).await
        };
        let (cart_count, unread) = tokio::join!(cart_count, unread);
        Chrome {
            user: claims.map(|c| UserView {
                is_admin: c.is_admin(),
                name: c.name,
                email: c.email,
            }),
            cart_count,
            unread,
            query: query.to_owned(),
            path: path.to_owned(),
        }
    }

    /// How many of the user's notifications are newer than the newest they have seen.
    pub async fn unread(&self, v: &Visitor) -> Option<i64> {
        let list = self
            .shop()
            .notifications(v, Patience::Optional)
            .await
            .ok()?;
        let seen = v.seen_notifications().await;
        Some(count_unread(&list, seen.as_deref()))
    }
}

/// Notifications created after `seen` (all of them when nothing was seen).
pub fn count_unread(list: &[Notification], seen: Option<&str>) -> i64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let seen = seen.and_then(parse);
    list.iter()
        .filter(|n| match (&seen, parse(&n.created_at)) {
            (Some(s), Some(t)) => t > *s,
            (None, _) => true,
            (Some(_), None) => false,
        })
        .count() as i64
}

impl FromRef<App> for Verifier {
    fn from_ref(app: &App) -> Self {
        app.verifier().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(at: &str) -> Notification {
        Notification {
            id: at.into(),
            kind: "welcome".into(),
            subject: "s".into(),
            body: "b".into(),
            created_at: at.into(),
        }
    }

    #[test]
    fn unread_means_newer_than_the_newest_seen() {
        let list = [
            note("2025-01-03T00:00:00.000Z"),
            note("2025-01-02T00:00:00.000Z"),
            note("2025-01-01T00:00:00.000Z"),
        ];
        assert_eq!(count_unread(&list, None), 3);
        assert_eq!(count_unread(&list, Some("2025-01-02T00:00:00.000Z")), 1);
        assert_eq!(count_unread(&list, Some("2025-01-03T00:00:00+00:00")), 0);
    }
}
