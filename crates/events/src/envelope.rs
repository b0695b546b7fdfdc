//! The event envelope: CloudEvents 1.0 in its JSON form, plus the W3C `traceparent` of the
//! request that caused the event.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The CloudEvents spec version Bazaar speaks.
pub const SPEC_VERSION: &str = "1.0";

/// One event. `type` carries the schema version (`bazaar.catalog.product.created.v1`);
/// `subject` names the aggregate it is about (a product id), which is also the unit of
/// ordering: events of one subject are delivered in the order they were recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub specversion: String,
    pub id: String,
    /// The producing service, as a URI reference (`/bazaar/catalog`).
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub datacontenttype: String,
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Event {
    /// A new event with a fresh time-ordered id, stamped now.
    pub fn new(
        service: &str,
        kind: &str,
        subject: impl Into<String>,
        data: impl Serialize,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: SPEC_VERSION.to_owned(),
            id: uuid::Uuid::now_v7().to_string(),
            source: format!("/bazaar/{service}"),
            kind: kind.to_owned(),
            subject: subject.into(),
            time: now_rfc3339(),
            datacontenttype: "application/json".to_owned(),
            data: serde_json::to_value(data)?,
            traceparent: None,
        })
    }

    /// Sets the trace context the event continues.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }
}

/// Now, as RFC 3339 with millisecond precision in UTC.
pub fn now_rfc3339() -> String {
    to_rfc3339(Utc::now())
}

pub fn to_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_a_cloudevent() {
        let e = Event::new(
            "catalog",
            "bazaar.catalog.product.created.v1",
            "p-1",
            serde_json::json!({"name": "Mug"}),
        )
        .unwrap();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "bazaar.catalog.product.created.v1");
        assert_eq!(v["source"], "/bazaar/catalog");
        assert_eq!(v["subject"], "p-1");
        assert!(v.get("traceparent").is_none());
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
