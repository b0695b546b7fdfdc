//! What the shop's pages share: the settings, the templates, the signal that the service
//! stops, and two small caches (categories, and the names behind product pictures).

use crate::{
    api::Category, config::Config, domain::ProductId, error::StorefrontError, session::Visitor,
    views::Views,
};
use platform::shutdown::Shutdown;
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

/// The pages' shared state. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    views: Views,
    shutdown: Shutdown,
    categories: Mutex<Option<(Instant, Vec<Category>)>>,
    picture_facts: Mutex<HashMap<String, (Instant, String, String)>>,
}

impl App {
    /// `shutdown` fires when the service stops (long-lived streams end then).
    pub fn new(config: Config, views: Views, shutdown: Shutdown) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                views,
                shutdown,
                categories: Mutex::new(None),
                picture_facts: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn views(&self) -> &Views {
        &self.inner.views
    }

    /// Fires when the service stops.
    pub fn shutdown(&self) -> Shutdown {
        self.inner.shutdown.clone()
    }

    /// Every category, reused for a minute.
    pub async fn categories(&self, v: &Visitor) -> Result<Vec<Category>, StorefrontError> {
        if let Ok(cache) = self.inner.categories.lock()
            && let Some((at, list)) = cache.as_ref()
            && at.elapsed() < CATEGORIES_FOR
        {
            return Ok(list.clone());
        }
        let list = v.shop().categories().await?;
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
        let product = v.shop().product_quickly(id).await?;
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
}
