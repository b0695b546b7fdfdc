//! The shop as one visitor sees it: each API call made with the visitor's request id and,
//! where the API wants them, its token (refreshed once when refused) and cart cookie.

use super::Visitor;
use crate::{
    api::{
        self, Caller, Cart, CartAnswer, Category, Listing, Notification, Order, OrderPage,
        Patience, Product, ProductPage, SearchQuery, SearchResults, Stock, Summary,
    },
    domain::{Checkout, PathId, ProductId, Quantity},
    error::StorefrontError,
};
use std::future::Future;

/// The shop's APIs, called as one visitor. See [`Visitor::shop`].
#[derive(Clone, Copy)]
pub struct Shop<'v> {
    v: &'v Visitor,
}

impl Visitor {
    /// The shop's APIs, called as this visitor.
    pub fn shop(&self) -> Shop<'_> {
        Shop { v: self }
    }
}

impl<'v> Shop<'v> {
    fn client(self) -> &'v api::Client {
        self.v.client()
    }

    /// Calls the shop as the signed-in visitor: `call` is given the client and a caller
    /// with the visitor's token (see [`Visitor::with_token`]).
    async fn signed_in<T, F, Fut>(self, call: F) -> Result<T, StorefrontError>
    where
        F: Fn(&'v api::Client, Caller) -> Fut,
        Fut: Future<Output = Result<T, StorefrontError>>,
    {
        let client = self.client();
        self.v.with_token(|c| call(client, c)).await
    }

    // ---- catalog, inventory, search, recommendations: anyone may read them

    /// Every category.
    pub async fn categories(self) -> Result<Vec<Category>, StorefrontError> {
        self.client().categories(&self.v.anonymous()).await
    }

    /// A page of products.
    pub async fn products(self, q: &Listing) -> Result<ProductPage, StorefrontError> {
        self.client().products(&self.v.anonymous(), q).await
    }

    /// One product.
    pub async fn product(self, id: &ProductId) -> Result<Product, StorefrontError> {
        let caller = self.v.anonymous();
        self.client().product(&caller, id, Patience::Standard).await
    }

    /// One product, within the optional patience (a picture does without it).
    pub async fn product_quickly(self, id: &ProductId) -> Result<Product, StorefrontError> {
        let caller = self.v.anonymous();
        self.client().product(&caller, id, Patience::Optional).await
    }

    /// A product's stock.
    pub async fn stock(self, id: &ProductId) -> Result<Stock, StorefrontError> {
        self.client().stock(&self.v.anonymous(), id).await
    }

    /// Search results.
    pub async fn search(self, q: &SearchQuery) -> Result<SearchResults, StorefrontError> {
        self.client().search(&self.v.anonymous(), q).await
    }

    /// Products to show beside one.
    pub async fn recommendations(self, id: &ProductId) -> Result<Vec<Summary>, StorefrontError> {
        self.client().recommendations(&self.v.anonymous(), id).await
    }

    /// Products for the signed-in visitor.
    pub async fn recommended_for_me(self) -> Result<Vec<Summary>, StorefrontError> {
        self.signed_in(|client, c| async move { client.recommended_for_me(&c).await })
            .await
    }

    // ---- cart: the user's token if signed in, and the anonymous cart cookie

    /// Calls the cart service as the visitor, signed in or not, with its cart cookie (`call`
    /// is given the client and the caller); the cookie the cart service sets goes on to
    /// the browser.
    async fn cart_call<F, Fut>(self, call: F) -> Result<Option<Cart>, StorefrontError>
    where
        F: Fn(&'v api::Client, Caller) -> Fut,
        Fut: Future<Output = Result<CartAnswer, StorefrontError>>,
    {
        let (v, client, call) = (self.v, self.client(), &call);
        let answer = v
            .with_optional_token(|c| async move {
                let cart_cookie = v.cart_cookie().await;
                call(client, Caller { cart_cookie, ..c }).await
            })
            .await?;
        v.relay_cart_cookies(&answer.set_cookies).await;
        Ok(answer.cart)
    }

    async fn read_cart(self, patience: Patience) -> Result<Cart, StorefrontError> {
        self.cart_call(|client, c| async move { client.cart(&c, patience).await })
            .await?
            .ok_or_else(|| StorefrontError::Malformed {
                service: "cart",
                detail: "the cart answered without a cart".into(),
            })
    }

    /// The visitor's cart.
    pub async fn cart(self) -> Result<Cart, StorefrontError> {
        self.read_cart(Patience::Standard).await
    }

    /// The visitor's cart within the optional patience (the header's count).
    pub async fn cart_quickly(self) -> Result<Cart, StorefrontError> {
        self.read_cart(Patience::Optional).await
    }

    /// Adds units of a product.
    pub async fn add_to_cart(self, id: &ProductId, q: Quantity) -> Result<(), StorefrontError> {
        self.cart_call(|client, c| async move { client.add_to_cart(&c, id, q).await })
            .await
            .map(|_| ())
    }

    /// Sets a line's quantity.
    pub async fn set_quantity(self, id: &ProductId, q: Quantity) -> Result<(), StorefrontError> {
        self.cart_call(|client, c| async move { client.set_quantity(&c, id, q).await })
            .await
            .map(|_| ())
    }

    /// Removes a line.
    pub async fn remove_from_cart(self, id: &ProductId) -> Result<(), StorefrontError> {
        self.cart_call(|client, c| async move { client.remove_from_cart(&c, id).await })
            .await
            .map(|_| ())
    }

    // ---- identity (signing in and out is the visitor's: [`Visitor::sign_in`])

    /// Creates an account.
    pub async fn register(
        &self,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<(), StorefrontError> {
        let caller = self.v.anonymous();
        self.client().register(&caller, name, email, password).await
    }

    // ---- orders: the signed-in visitor's

    /// Places the order for the visitor's cart.
    pub async fn checkout(self, order: &Checkout) -> Result<Order, StorefrontError> {
        self.signed_in(|client, c| async move { client.checkout(&c, order).await })
            .await
    }

    /// A page of the visitor's orders.
    pub async fn orders(self, page: u32) -> Result<OrderPage, StorefrontError> {
        self.signed_in(|client, c| async move { client.orders(&c, page).await })
            .await
    }

    /// One of the visitor's orders.
    pub async fn order(self, id: &PathId) -> Result<Order, StorefrontError> {
        self.signed_in(|client, c| async move { client.order(&c, id).await })
            .await
    }

    // ---- notifications: the signed-in visitor's

    /// A page of the visitor's messages, newest first: the newest, or those older than
    /// `before`.
    pub async fn notifications(
        self,
        before: Option<&PathId>,
    ) -> Result<Vec<Notification>, StorefrontError> {
        self.read_notifications(Patience::Standard, before).await
    }

    /// The visitor's newest messages within the optional patience (the header's badge).
    pub async fn notifications_quickly(self) -> Result<Vec<Notification>, StorefrontError> {
        self.read_notifications(Patience::Optional, None).await
    }

    async fn read_notifications(
        &self,
        patience: Patience,
        before: Option<&PathId>,
    ) -> Result<Vec<Notification>, StorefrontError> {
        self.signed_in(|client, c| async move { client.notifications(&c, patience, before).await })
            .await
    }

    /// Opens the visitor's live notification stream (the response is streamed on).
    pub async fn notification_stream(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, StorefrontError> {
        self.signed_in(
            |client, c| async move { client.notification_stream(&c, last_event_id).await },
        )
        .await
    }

    // ---- operators: dead letters, with the administrator's own token

    /// A consumer's open dead letters (the oldest 500 at most), and whether more are open.
    pub async fn dead_letters(
        &self,
        service: &str,
    ) -> Result<(Vec<serde_json::Value>, bool), StorefrontError> {
        self.signed_in(|client, c| async move { client.dead_letters(&c, service).await })
            .await
    }

    /// Replays one dead letter; answers what the consumer reports.
    pub async fn replay(
        &self,
        service: &str,
        id: &PathId,
    ) -> Result<serde_json::Value, StorefrontError> {
        self.signed_in(|client, c| async move { client.replay(&c, service, id).await })
            .await
    }

    /// Closes one dead letter without replaying it.
    pub async fn discard(&self, service: &str, id: &PathId) -> Result<(), StorefrontError> {
        self.signed_in(|client, c| async move { client.discard(&c, service, id).await })
            .await
    }
}
