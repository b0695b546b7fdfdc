//! The published contract of every event type: a JSON Schema of its `data`, generated from
//! the producer's Rust type and kept in `crates/events/contracts/<type>.json`, with one
//! example the producer made from that type.
//!
//! Both sides check against it (feature `test-util`):
//! - a producer's test publishes its types ([`assert_published`]) and fails when the
//!   checked-in schema no longer says what the type serialises to; every event any test
//!   makes a producer record is validated as it enters the outbox ([`check`]);
//! - a consumer's tests build their events from the published example
//!   ([`crate::testing::payload`]), validated too, and decode the example with the
//!   consumer's own types, so neither side can drift from the other unseen.
//!
//! The schemas do not forbid members they do not name: a producer may add members, and
//! consumers read only what they need of an event (see `docs/events.md`).

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

macro_rules! contracts {
    ($($kind:literal),* $(,)?) => {
        /// Every published contract: the event type and its schema's text.
        const CONTRACTS: &[(&str, &str)] = &[
            $(($kind, include_str!(concat!("../contracts/", $kind, ".json")))),*
        ];
    };
}

contracts![
    "bazaar.catalog.product.created.v1",
    "bazaar.catalog.product.updated.v1",
    "bazaar.catalog.product.price_changed.v1",
    "bazaar.catalog.product.deleted.v1",
    "bazaar.inventory.stock.changed.v1",
    "bazaar.inventory.reservation.held.v1",
    "bazaar.inventory.reservation.committed.v1",
    "bazaar.inventory.reservation.released.v1",
    "bazaar.orders.order.placed.v1",
    "bazaar.orders.order.confirmed.v1",
    "bazaar.orders.order.cancelled.v1",
    "bazaar.payments.payment.authorized.v1",
    "bazaar.payments.payment.captured.v1",
    "bazaar.payments.payment.voided.v1",
    "bazaar.payments.payment.refunded.v1",
    "bazaar.payments.payment.failed.v1",
    "bazaar.identity.user.registered.v1",
    "bazaar.identity.user.signed_out.v1",
];

/// Every event type with a published contract.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    CONTRACTS.iter().map(|(kind, _)| *kind)
}

/// The JSON Schema of `kind`'s data, if `kind` has a published contract.
pub fn schema(kind: &str) -> Option<&'static Value> {
    static PARSED: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            CONTRACTS
                .iter()
                .map(|(kind, text)| {
                    let schema = serde_json::from_str(text)
                        .unwrap_or_else(|e| panic!("the contract of {kind} is not JSON: {e}"));
                    (*kind, schema)
                })
                .collect()
        })
        .get(kind)
}

/// The example its producer published with `kind`'s schema.
pub fn example(kind: &str) -> Option<&'static Value> {
    schema(kind)?.get("examples")?.get(0)
}

/// `kind`'s example, with a field its producer may add some day, read as a consumer's
/// `T`: what a consumer's test that it reads only what it needs starts from.
#[cfg(feature = "test-util")]
pub fn read_example<T: serde::de::DeserializeOwned>(kind: &str) -> T {
    let mut data = example(kind)
        .unwrap_or_else(|| panic!("{kind} has no example"))
        .clone();
    data["some_future_field"] = true.into();
    serde_json::from_value(data).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

#[cfg(feature = "test-util")]
pub use checking::{Violation, assert_published, check, generate};

#[cfg(feature = "test-util")]
mod checking {
    use super::*;
    use serde::Serialize;
    use utoipa::ToSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    /// Why an event's data breaks its type's contract.
    #[derive(Debug, thiserror::Error)]
    #[error("{kind} breaks its contract: {}", .errors.join("; "))]
    pub struct Violation {
        pub kind: String,
        pub errors: Vec<String>,
    }

    /// Validates `data` against `kind`'s published schema. A kind without a contract (a
    /// test's own `bazaar.testproducer.*` events) passes.
    pub fn check(kind: &str, data: &Value) -> Result<(), Violation> {
        static VALIDATORS: OnceLock<HashMap<&'static str, jsonschema::Validator>> = OnceLock::new();
        let validators = VALIDATORS.get_or_init(|| {
            kinds()
                .map(|kind| {
                    let schema = schema(kind).expect("listed");
                    let validator = jsonschema::validator_for(schema).unwrap_or_else(|e| {
                        panic!("the contract of {kind} is not a valid JSON Schema: {e}")
                    });
                    (kind, validator)
                })
                .collect()
        });
        let Some(validator) = validators.get(kind) else {
            return Ok(());
        };
        let errors: Vec<String> = validator
            .iter_errors(data)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Violation {
                kind: kind.to_owned(),
                errors,
            })
        }
    }

    /// The schema `T` publishes: its own schema with the types it refers to under
    /// `$defs`, and `example` (which must be a `T`) as its one example.
    pub fn generate<T: ToSchema + Serialize>(kind: &str, example: &T) -> Value {
        let mut referenced: Vec<(String, RefOr<Schema>)> = Vec::new();
        T::schemas(&mut referenced);
        let mut schema = to_value(&T::schema());
        let object = schema.as_object_mut().expect("a schema is an object");
        let mut head = serde_json::Map::new();
        head.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
        head.insert("$id".into(), format!("urn:bazaar:event:{kind}").into());
        head.insert("title".into(), kind.into());
        head.extend(std::mem::take(object));
        if !referenced.is_empty() {
            let defs: serde_json::Map<String, Value> = referenced
                .iter()
                .map(|(name, schema)| (name.clone(), to_value(schema)))
                .collect();
            head.insert("$defs".into(), Value::Object(defs));
        }
        head.insert(
            "examples".into(),
            Value::Array(vec![
                serde_json::to_value(example).expect("an example serialises"),
            ]),
        );
        Value::Object(head)
    }

    /// utoipa writes OpenAPI's `#/components/schemas/X` references; a standalone JSON
    /// Schema keeps them under `#/$defs/X`.
    fn to_value(schema: &impl Serialize) -> Value {
        let mut value = serde_json::to_value(schema).expect("a schema serialises");
        rewrite_refs(&mut value);
        value
    }

    fn rewrite_refs(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, member) in map.iter_mut() {
                    match member {
                        Value::String(target) if key == "$ref" => {
                            if let Some(name) = target.strip_prefix("#/components/schemas/") {
                                *target = format!("#/$defs/{name}");
                            }
                        }
                        _ => rewrite_refs(member),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
            _ => {}
        }
    }

    /// A producer's test: `T` is what it records as `kind`. Fails when the checked-in
    /// contract differs from what `T` generates, or when `example` does not validate
    /// against it; with `BAZAAR_BLESS_CONTRACTS=1` it writes the contract instead (review
    /// the diff: a changed contract is a changed API).
    pub fn assert_published<T: ToSchema + Serialize>(kind: &str, example: &T) {
        let generated = generate(kind, example);
        let path = format!("{}/contracts/{kind}.json", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("BAZAAR_BLESS_CONTRACTS").is_some() {
            let text = serde_json::to_string_pretty(&generated).expect("serialises") + "\n";
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
            return;
        }
        let published = schema(kind).unwrap_or_else(|| {
            panic!("{kind} has no contract: add it to events::contract and run with BAZAAR_BLESS_CONTRACTS=1")
        });
        assert_eq!(
            &generated, published,
            "the contract of {kind} ({path}) no longer matches its type: \
             rerun with BAZAAR_BLESS_CONTRACTS=1 and review the change"
        );
        let data = serde_json::to_value(example).expect("serialises");
        if let Err(violation) = check(kind, &data) {
            panic!("{violation}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_contract_with_an_example_that_keeps_to_it() {
        let declared = crate::types::ALL;
        let published: Vec<&str> = kinds().collect();
        assert_eq!(
            declared, published,
            "events::types and the contracts list the same types"
        );
        for kind in kinds() {
            let schema = schema(kind).unwrap();
            assert_eq!(schema["title"], kind);
            let example = example(kind).unwrap_or_else(|| panic!("{kind} has no example"));
            check(kind, example).unwrap();
        }
    }

    #[test]
    fn data_that_breaks_a_contract_is_told_apart() {
        let kind = crate::types::orders::ORDER_CONFIRMED;
        let mut data = example(kind).unwrap().clone();
        data["total_cents"] = "lots".into();
        data.as_object_mut().unwrap().remove("order_id");
        let violation = check(kind, &data).unwrap_err();
        let text = violation.to_string();
        assert!(text.contains("order_id"), "{text}");
        assert!(text.contains("total_cents"), "{text}");
        // A member the contract does not name is allowed: producers may add.
        let mut extended = example(kind).unwrap().clone();
        extended["gift_wrap"] = true.into();
        check(kind, &extended).unwrap();
        // A kind with no contract (a test's own) is not checked.
        check("bazaar.testproducer.thing.created.v1", &data).unwrap();
    }
}
