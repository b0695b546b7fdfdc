//! The shop's services, one row each: what the service is (its crate's `SERVICE`), its
//! default port, its start level, and whether the shop is ready without it. `bazaar
//! serve`, the supervisor, the gateway, the ops console, the tests and the docs all read
//! this list; adding a service is its crate plus one row here.

use platform::registry::{
    Entry,
    Readiness::{Optional, Required},
    Registry,
};

/// Every service of the shop, in start-up order: identity first (everyone verifies tokens
/// with its keys), then the domain services, then the gateway in front of them.
#[rustfmt::skip]
pub const REGISTRY: Registry = Registry::new(&[
    Entry { def: &identity::SERVICE, port: 8081, level: 0, readiness: Required },
    Entry { def: &catalog::SERVICE, port: 8082, level: 1, readiness: Required },
    Entry { def: &search::SERVICE, port: 8083, level: 1, readiness: Optional },
    Entry { def: &recommendations::SERVICE, port: 8084, level: 1, readiness: Optional },
    Entry { def: &cart::SERVICE, port: 8085, level: 1, readiness: Required },
    Entry { def: &inventory::SERVICE, port: 8086, level: 1, readiness: Required },
    Entry { def: &payments::SERVICE, port: 8087, level: 1, readiness: Required },
    Entry { def: &orders::SERVICE, port: 8088, level: 1, readiness: Required },
    Entry { def: &notifications::SERVICE, port: 8089, level: 1, readiness: Required },
    Entry { def: &storefront::SERVICE, port: 8090, level: 1, readiness: Required },
    Entry { def: &gateway::SERVICE, port: 8080, level: 2, readiness: Required },
]);

#[cfg(test)]
mod deployed;
#[cfg(test)]
mod documented;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_registry_is_consistent() {
        assert_eq!(REGISTRY.problems(), Vec::<String>::new());
    }

    #[test]
    fn every_service_crate_has_a_row_and_every_row_a_crate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("services");
        let crates: BTreeSet<String> = std::fs::read_dir(&dir)
            .expect("the services directory")
            .filter_map(Result::ok)
            .filter(|e| e.path().join("Cargo.toml").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let rows: BTreeSet<String> = REGISTRY.names().map(str::to_owned).collect();
        assert_eq!(
            crates, rows,
            "services/ and the registry name the same services"
        );
    }

    /// What the gateway does with `method path`, by the routes the service declares.
    fn verdict(method: http::Method, path: &str) -> gateway::policy::Verdict {
        let service = path.trim_start_matches("/api/").split('/').next().unwrap();
        gateway::policy::verdict(REGISTRY.get(service).unwrap().def, &method, path)
    }

    #[test]
    fn the_gateway_protects_what_each_service_declares() {
        use gateway::policy::Verdict::{Anonymous, Hidden, NeedsToken, Open};
        use http::Method;
        let cases = [
            (
                Method::GET,
                "/api/catalog/products",
                Open,
                "browsing is public",
            ),
            (
                Method::POST,
                "/api/catalog/products",
                NeedsToken,
                "catalog writes need a token",
            ),
            (
                Method::DELETE,
                "/api/catalog/products/x",
                NeedsToken,
                "catalog writes need a token",
            ),
            (
                Method::POST,
                "/api/identity/login",
                Anonymous,
                "login is public, and takes no bearer token",
            ),
            (
                Method::POST,
                "/api/identity/register",
                Anonymous,
                "registration is public, and takes no bearer token",
            ),
            (
                Method::GET,
                "/api/identity/me",
                NeedsToken,
                "me needs a token",
            ),
            (Method::GET, "/api/orders", NeedsToken, "orders are private"),
            (Method::GET, "/api/cart", Open, "anonymous carts exist"),
            (
                Method::GET,
                "/api/recommendations/me",
                NeedsToken,
                "personal recommendations",
            ),
            (
                Method::GET,
                "/api/recommendations/products/1",
                Open,
                "product recommendations",
            ),
            (
                Method::POST,
                "/api/inventory/reservations",
                Hidden,
                "the saga's reservations",
            ),
            (
                Method::POST,
                "/api/inventory/reservations/a/commit",
                Hidden,
                "below them too",
            ),
            (
                Method::GET,
                "/api/inventory/reservationsx",
                Open,
                "a prefix is a whole segment",
            ),
            (Method::GET, "/api/inventory/123", Open, "stock is public"),
            (
                Method::POST,
                "/api/payments/authorizations",
                Hidden,
                "the saga's payments",
            ),
            (
                Method::GET,
                "/api/payments/ledger/summary",
                NeedsToken,
                "the ledger is for admins",
            ),
        ];
        for (method, path, expected, why) in cases {
            assert_eq!(
                verdict(method.clone(), path),
                expected,
                "{method} {path}: {why}"
            );
        }
    }

    #[test]
    fn an_outbox_keeps_what_read_models_replay_and_waits_for_its_other_readers() {
        use events::retention::Retention;
        let keep = std::time::Duration::from_secs(3600);
        let orders = Retention::of(&REGISTRY, "orders", keep);
        assert_eq!(
            orders.replayed,
            ["bazaar.orders.order.confirmed.v1".to_owned()].into(),
            "recommendations replays the confirmed orders"
        );
        assert_eq!(orders.readers, ["cart", "notifications"]);
        let catalog = Retention::of(&REGISTRY, "catalog", keep);
        let published: BTreeSet<String> = REGISTRY
            .get("catalog")
            .unwrap()
            .def
            .publishes
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(
            catalog.replayed, published,
            "search replays every product change"
        );
        let payments = Retention::of(&REGISTRY, "payments", keep);
        assert!(payments.replayed.is_empty());
        assert_eq!(payments.readers, ["notifications"]);
        let inventory = Retention::of(&REGISTRY, "inventory", keep);
        assert!(inventory.replayed.is_empty() && inventory.readers.is_empty());
    }

    #[test]
    fn checkout_gets_a_longer_timeout_than_the_rest() {
        let orders = REGISTRY.get("orders").unwrap().def;
        let default = std::time::Duration::from_secs(5);
        let checkout = gateway::policy::timeout(orders, "/api/orders/checkout", default);
        assert!(checkout > default, "{checkout:?}");
        assert_eq!(
            gateway::policy::timeout(orders, "/api/orders", default),
            default
        );
    }

    #[test]
    fn the_gateway_listens_on_the_shops_port_and_starts_last() {
        let gateway = REGISTRY.get(platform::registry::GATEWAY).unwrap();
        assert_eq!(gateway.port, 8080);
        let last = REGISTRY.levels().pop().unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].name(), "gateway");
        let first = &REGISTRY.levels()[0];
        assert_eq!(first[0].name(), platform::registry::IDENTITY);
    }
}
