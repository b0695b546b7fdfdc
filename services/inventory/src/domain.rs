//! The inventory's domain: inputs parsed into types at the boundary (from a request or
//! from another service's event), the stock of a product as inventory shows it, and the
//! reservations that hold units for checkouts.

use serde::{Deserialize, Serialize};
use std::{collections::HashSet, fmt};
use utoipa::ToSchema;

use platform::domain::{Bounded, ChosenId, WITH_COLONS, invalid};
pub use platform::domain::{Invalid, ProductId};

/// Several product ids looked up at once (a listing page): 1 to 100 of them, each asked
/// once, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductIds(Vec<ProductId>);

impl ProductIds {
    /// The most ids one request may name.
    pub const MAX: usize = 100;

    /// Parses a comma-separated list (`a,b,c`); repeated ids count once.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return invalid(format!(
                "give 1 to {} comma-separated product ids",
                Self::MAX
            ));
        }
        let entries: Vec<&str> = raw.split(',').map(str::trim).collect();
        if entries.len() > Self::MAX {
            return invalid(format!(
                "names {} product ids; at most {} may be asked for at once",
                entries.len(),
                Self::MAX
            ));
        }
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.is_empty() {
                return invalid(format!("entry {} of the list is empty", i + 1));
            }
            let id = ProductId::parse(entry)
                .map_err(|e| Invalid(format!("`{entry}` is not a product id: it {e}")))?;
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        Ok(Self(ids))
    }

    pub fn as_slice(&self) -> &[ProductId] {
        &self.0
    }
}

/// A product's stock-keeping unit, as the catalog announced it: 1 to 64 characters
/// without control characters. Kept for operators; inventory does not interpret it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len == 0 || len > Self::MAX_LEN {
            return invalid(format!("must be 1 to {} characters long", Self::MAX_LEN));
        }
        if raw.chars().any(char::is_control) {
            return invalid("must not contain control characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number of units in stock: 0 to 1 000 000.
pub type StockLevel = Bounded<0, 1_000_000>;

/// Why a stock level changed: the `reason` of a ledger movement and of `stock.changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The stock a product started with, from the catalog's `product.created`.
    Initial,
    /// An administrator set the level.
    Adjustment,
    /// A reservation moved units from available to reserved.
    Reserved,
    /// A reservation was committed: its units left the stock for good.
    Committed,
    /// A reservation was released: its units are available again.
    Released,
    /// A reservation ran out of time: its units are available again.
    Expired,
}

impl Reason {
    /// The name stored in the ledger and sent in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Adjustment => "adjustment",
            Reason::Reserved => "reserved",
            Reason::Committed => "committed",
            Reason::Released => "released",
            Reason::Expired => "expired",
        }
    }
}

/// A product inventory starts to keep, from the catalog's `product.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStock {
    pub product_id: ProductId,
    pub sku: Sku,
    pub initial: StockLevel,
}

/// A product's stock as inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stock {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// Units that can still be sold: in stock and not reserved by a checkout.
    #[schema(example = 42, minimum = 0)]
    pub available: i64,
    /// Units held for checkouts in progress.
    #[schema(example = 0, minimum = 0)]
    pub reserved: i64,
    /// The catalog deleted the product; its stock is kept for the record.
    pub discontinued: bool,
}

/// The id of a reservation, chosen by the caller (the orders service) so that a retried
/// request names the same reservation: 1 to 128 ASCII letters, digits, `-`, `_` and `:`.
pub type ReservationId = ChosenId<128, WITH_COLONS>;

/// A number of units one line of a reservation holds: 1 to 10 000.
pub type Quantity = Bounded<1, 10_000>;

/// How long a reservation holds its units before it expires, in seconds: 1 s to one day.
pub type Ttl = Bounded<1, 86_400>;

/// One product and how many of its units to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// A reservation asked for: 1 to [`NewReservation::MAX_LINES`] lines, each product once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub id: ReservationId,
    lines: Vec<ReservationLine>,
    pub ttl: Ttl,
}

impl NewReservation {
    /// The most lines one reservation may have.
    pub const MAX_LINES: usize = 100;

    /// A reservation of `lines`, in the order given. On failure, the message belongs to
    /// the list as a whole, or to the line at the index returned with it.
    pub fn new(
        id: ReservationId,
        lines: Vec<ReservationLine>,
        ttl: Ttl,
    ) -> Result<Self, (Option<usize>, Invalid)> {
        if lines.is_empty() || lines.len() > Self::MAX_LINES {
            return Err((
                None,
                Invalid(format!("must have 1 to {} lines", Self::MAX_LINES)),
            ));
        }
        let mut seen = HashSet::new();
        for (i, line) in lines.iter().enumerate() {
            if !seen.insert(&line.product_id) {
                return Err((
                    Some(i),
                    Invalid("names a product an earlier line names already".into()),
                ));
            }
        }
        Ok(Self { id, lines, ttl })
    }

    pub fn lines(&self) -> &[ReservationLine] {
        &self.lines
    }
}

/// Where a reservation stands. `held` is the only state that changes: to `committed`
/// (its units are sold) or to `released` (its units are available again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Held,
    Committed,
    Released,
}

impl ReservationStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Committed => "committed",
            Self::Released => "released",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "held" => Ok(Self::Held),
            "committed" => Ok(Self::Committed),
            "released" => Ok(Self::Released),
            _ => invalid("must be `held`, `committed` or `released`"),
        }
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a reservation was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// Its caller released it (a checkout that failed or was abandoned).
    Requested,
    /// It was neither committed nor released before `expires_at`.
    Expired,
}

impl ReleaseReason {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "requested" => Ok(Self::Requested),
            "expired" => Ok(Self::Expired),
            _ => invalid("must be `requested` or `expired`"),
        }
    }

    /// The reason of the ledger movements a release of this kind makes.
    pub fn movement(self) -> Reason {
        match self {
            Self::Requested => Reason::Released,
            Self::Expired => Reason::Expired,
        }
    }
}

/// One line of a reservation as shown (and as sent in reservation events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservedItem {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// Units held.
    #[schema(example = 2, minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// A reservation as inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    /// The id the caller gave it.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d99")]
    pub reservation_id: String,
    pub status: ReservationStatus,
    /// Why it was released; only on a released reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReleaseReason>,
    /// When a held reservation is released unless committed first (RFC 3339, UTC).
    #[schema(example = "2025-01-01T00:15:00.000Z")]
    pub expires_at: String,
    /// When it was made (RFC 3339, UTC).
    #[schema(example = "2025-01-01T00:00:00.000Z")]
    pub created_at: String,
    /// What it holds, in the order asked.
    pub items: Vec<ReservedItem>,
}

impl Reservation {
    /// Whether this reservation holds the same products and quantities as `asked`, in
    /// whatever order.
    pub fn holds(&self, asked: &NewReservation) -> bool {
        let mut have: Vec<(&str, i64)> = self
            .items
            .iter()
            .map(|i| (i.product_id.as_str(), i.quantity))
            .collect();
        let mut want: Vec<(&str, i64)> = asked
            .lines()
            .iter()
            .map(|l| (l.product_id.as_str(), l.quantity.get()))
            .collect();
        have.sort_unstable();
        want.sort_unstable();
        have == want
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_keep_order_and_drop_repeats() {
        let ids = ProductIds::parse("b, a,b,c").unwrap();
        let names: Vec<&str> = ids.as_slice().iter().map(ProductId::as_str).collect();
        assert_eq!(names, ["b", "a", "c"]);
        let hundred = vec!["p"; 100].join(",");
        assert_eq!(ProductIds::parse(&hundred).unwrap().as_slice().len(), 1);
    }

    #[test]
    fn id_lists_refuse_empty_long_and_malformed_lists() {
        let many = (0..101)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",");
        for (bad, why) in [
            ("", "empty"),
            ("  ", "blank"),
            ("a,,b", "empty entry"),
            ("a,", "trailing comma"),
            ("a,b c", "malformed entry"),
            (many.as_str(), "101 ids"),
        ] {
            assert!(
                ProductIds::parse(bad).is_err(),
                "{why}: {bad:?} was accepted"
            );
        }
    }

    #[test]
    fn stock_levels_are_bounded() {
        assert_eq!(StockLevel::new(0).unwrap().get(), 0);
        assert_eq!(StockLevel::new(1_000_000).unwrap().get(), 1_000_000);
        for bad in [-1, 1_000_001, i64::MIN, i64::MAX] {
            assert!(StockLevel::new(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn skus_are_non_empty_text() {
        assert_eq!(Sku::parse("KIT-00001").unwrap().as_str(), "KIT-00001");
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("A\nB").is_err());
        assert!(Sku::parse(&"S".repeat(65)).is_err());
    }

    #[test]
    fn reasons_are_snake_case_everywhere() {
        for r in [
            Reason::Initial,
            Reason::Adjustment,
            Reason::Reserved,
            Reason::Committed,
            Reason::Released,
            Reason::Expired,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in [
            ReservationStatus::Held,
            ReservationStatus::Committed,
            ReservationStatus::Released,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(ReservationStatus::parse(s.as_str()), Ok(s));
        }
        for r in [ReleaseReason::Requested, ReleaseReason::Expired] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(ReleaseReason::parse(r.as_str()), Ok(r));
        }
        assert!(ReservationStatus::parse("expired").is_err());
        assert!(ReleaseReason::parse("").is_err());
    }

    #[test]
    fn reservation_ids_are_short_slugs() {
        for ok in ["0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11", "order:42", "r_1"] {
            assert_eq!(ReservationId::parse(ok).unwrap().as_str(), ok);
        }
        assert!(ReservationId::parse(&"r".repeat(128)).is_ok());
        for bad in ["", " ", "a b", "a/b", "a.b", "é", &"r".repeat(129)] {
            assert!(ReservationId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn quantities_and_ttls_are_bounded() {
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(10_000).unwrap().get(), 10_000);
        for bad in [0, -1, 10_001, i64::MIN, i64::MAX] {
            assert!(Quantity::new(bad).is_err(), "quantity {bad} was accepted");
        }
        assert_eq!(Ttl::new(1).unwrap().get(), 1);
        assert_eq!(Ttl::new(86_400).unwrap().get(), 86_400);
        for bad in [0, -1, 86_401] {
            assert!(Ttl::new(bad).is_err(), "ttl {bad} was accepted");
        }
    }

    fn line(product: &str, quantity: i64) -> ReservationLine {
        ReservationLine {
            product_id: ProductId::parse(product).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn reservation(
        lines: Vec<ReservationLine>,
    ) -> Result<NewReservation, (Option<usize>, Invalid)> {
        NewReservation::new(
            ReservationId::parse("r-1").unwrap(),
            lines,
            Ttl::new(60).unwrap(),
        )
    }

    #[test]
    fn a_reservation_has_one_to_a_hundred_distinct_lines() {
        let ok = reservation(vec![line("a", 1), line("b", 2)]).unwrap();
        assert_eq!(ok.lines().len(), 2);
        assert_eq!(ok.lines()[1], line("b", 2));
        let hundred = (0..100).map(|i| line(&format!("p{i}"), 1)).collect();
        assert!(reservation(hundred).is_ok());

        assert_eq!(reservation(vec![]).unwrap_err().0, None, "empty");
        let many = (0..101).map(|i| line(&format!("p{i}"), 1)).collect();
        assert_eq!(reservation(many).unwrap_err().0, None, "101 lines");
        let repeated = reservation(vec![line("a", 1), line("b", 1), line("a", 3)]);
        assert_eq!(repeated.unwrap_err().0, Some(2), "the repeat is named");
    }

    #[test]
    fn a_reservation_holds_what_was_asked_in_order() {
        let asked = reservation(vec![line("a", 1), line("b", 2)]).unwrap();
        let item = |p: &str, q| ReservedItem {
            product_id: p.into(),
            quantity: q,
        };
        let mut held = Reservation {
            reservation_id: "r-1".into(),
            status: ReservationStatus::Held,
            reason: None,
            expires_at: "2025-01-01T00:15:00.000Z".into(),
            created_at: "2025-01-01T00:00:00.000Z".into(),
            items: vec![item("a", 1), item("b", 2)],
        };
        assert!(held.holds(&asked));
        held.items = vec![item("b", 2), item("a", 1)];
        assert!(held.holds(&asked), "order does not matter");
        held.items[0].quantity = 3;
        assert!(!held.holds(&asked));
        held.items.pop();
        assert!(!held.holds(&asked));
        let shown = serde_json::to_value(&held).unwrap();
        assert!(shown.get("reason").is_none(), "{shown}");
    }
}

/// Property tests of inventory's parsers: the list of ids a listing asks for, SKUs,
/// reservation ids, the bounded numbers and the reservation's lines.
#[cfg(test)]
mod properties {
    use super::*;
    use platform::testing::strategies::{any_text, around, control};
    use proptest::prelude::*;

    /// Ids from a small pool, so that some lists name an id twice.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof!["[a-c]", "[A-Za-z0-9_-]{1,64}"]
    }

    /// Spaces and tabs around an entry of a list, which do not count.
    fn blank() -> impl Strategy<Value = String> {
        "[ \t]{0,2}"
    }

    fn line(product: &str, quantity: i64) -> Result<ReservationLine, TestCaseError> {
        let fail = |e: Invalid| TestCaseError::fail(e.0);
        Ok(ReservationLine {
            product_id: ProductId::parse(product).map_err(fail)?,
            quantity: Quantity::new(quantity).map_err(fail)?,
        })
    }

    proptest! {
        #[test]
        fn a_list_of_up_to_100_ids_gives_each_once_in_the_order_asked(
            entries in prop::collection::vec((blank(), id(), blank()), 1..=100),
        ) {
            let raw = entries
                .iter()
                .map(|(before, id, after)| format!("{before}{id}{after}"))
                .collect::<Vec<_>>()
                .join(",");
            let ids = ProductIds::parse(&raw)
                .map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
            let got: Vec<&str> = ids.as_slice().iter().map(ProductId::as_str).collect();
            let mut first_times: Vec<&str> = Vec::new();
            for (_, id, _) in &entries {
                if !first_times.contains(&id.as_str()) {
                    first_times.push(id);
                }
            }
            prop_assert_eq!(got, first_times);
        }

        #[test]
        fn a_list_of_more_than_100_entries_is_refused_naming_how_many(
            entries in prop::collection::vec(id(), 101..=200),
        ) {
            prop_assert_eq!(
                ProductIds::parse(&entries.join(",")),
                Err(Invalid(format!(
                    "names {} product ids; at most 100 may be asked for at once",
                    entries.len()
                )))
            );
        }

        #[test]
        fn an_empty_entry_is_refused_naming_its_place(
            before in prop::collection::vec(id(), 0..50),
            after in prop::collection::vec(id(), 0..49),
            gap in blank(),
        ) {
            let entries: Vec<String> = before
                .iter()
                .cloned()
                .chain([gap])
                .chain(after.iter().cloned())
                .collect();
            let refused = ProductIds::parse(&entries.join(","));
            if before.is_empty() && after.is_empty() {
                // A blank list names no entry.
                prop_assert_eq!(
                    refused,
                    Err(Invalid("give 1 to 100 comma-separated product ids".into()))
                );
            } else {
                prop_assert_eq!(
                    refused,
                    Err(Invalid(format!("entry {} of the list is empty", before.len() + 1)))
                );
            }
        }

        #[test]
        fn a_malformed_entry_is_refused_quoting_it(
            before in prop::collection::vec(id(), 0..50),
            bad in "[a-z]{1,5}[/ .:é][a-z]{1,5}",
        ) {
            let raw = before.iter().chain([&bad]).cloned().collect::<Vec<_>>().join(",");
            let refused = ProductIds::parse(&raw).err().map(|e| e.0).unwrap_or_default();
            prop_assert!(
                refused.starts_with(&format!("`{bad}` is not a product id: it ")),
                "{:?} refused with {:?}",
                raw,
                refused
            );
        }

        #[test]
        fn any_text_is_a_list_of_ids_or_a_clear_refusal(
            raw in prop_oneof![any_text(), "[a-c ,]{0,20}"],
        ) {
            match ProductIds::parse(&raw) {
                Ok(ids) => {
                    let ids = ids.as_slice();
                    prop_assert!((1..=ProductIds::MAX).contains(&ids.len()));
                    let again = ProductIds::parse(
                        &ids.iter().map(ProductId::as_str).collect::<Vec<_>>().join(","),
                    );
                    prop_assert_eq!(again.as_ref().map(ProductIds::as_slice), Ok(ids));
                }
                Err(Invalid(why)) => prop_assert!(!why.is_empty()),
            }
        }

        #[test]
        fn up_to_64_characters_without_controls_are_a_sku_as_given(
            raw in prop::collection::vec(
                any::<char>().prop_filter("not a control character", |c| !c.is_control()),
                1..=64,
            )
            .prop_map(String::from_iter),
        ) {
            prop_assert_eq!(Sku::parse(&raw).map(|s| s.as_str().to_owned()), Ok(raw));
        }

        #[test]
        fn a_sku_empty_past_64_characters_or_with_a_control_character_is_refused(
            long in "[A-Z0-9-]{65,100}",
            start in "[A-Z0-9-]{0,30}",
            bad in control(),
            end in "[A-Z0-9-]{0,30}",
        ) {
            for raw in [String::new(), long] {
                prop_assert_eq!(Sku::parse(&raw), Err(Invalid("must be 1 to 64 characters long".into())));
            }
            prop_assert_eq!(
                Sku::parse(&format!("{start}{bad}{end}")),
                Err(Invalid("must not contain control characters".into()))
            );
        }

        #[test]
        fn stock_levels_quantities_and_ttls_are_exactly_within_their_bounds(
            level in around(0, 1_000_000),
            quantity in around(1, 10_000),
            ttl in around(1, 86_400),
        ) {
            prop_assert_eq!(StockLevel::new(level).ok().map(StockLevel::get), (0..=1_000_000).contains(&level).then_some(level));
            prop_assert_eq!(Quantity::new(quantity).ok().map(Quantity::get), (1..=10_000).contains(&quantity).then_some(quantity));
            prop_assert_eq!(Ttl::new(ttl).ok().map(Ttl::get), (1..=86_400).contains(&ttl).then_some(ttl));
        }

        #[test]
        fn a_state_or_reason_reads_back_from_its_name_and_nothing_else_is_one(raw in "[a-z]{0,10}") {
            let statuses = [ReservationStatus::Held, ReservationStatus::Committed, ReservationStatus::Released];
            for s in statuses {
                prop_assert_eq!(ReservationStatus::parse(s.as_str()), Ok(s));
                prop_assert_eq!(s.to_string(), s.as_str());
            }
            match ReservationStatus::parse(&raw) {
                Ok(s) => prop_assert_eq!(s.as_str(), raw.as_str()),
                Err(why) => {
                    prop_assert!(statuses.iter().all(|s| s.as_str() != raw));
                    prop_assert_eq!(why, Invalid("must be `held`, `committed` or `released`".into()));
                }
            }
            let reasons = [ReleaseReason::Requested, ReleaseReason::Expired];
            for r in reasons {
                prop_assert_eq!(ReleaseReason::parse(r.as_str()), Ok(r));
            }
            match ReleaseReason::parse(&raw) {
                Ok(r) => prop_assert_eq!(r.as_str(), raw.as_str()),
                Err(why) => {
                    prop_assert!(reasons.iter().all(|r| r.as_str() != raw));
                    prop_assert_eq!(why, Invalid("must be `requested` or `expired`".into()));
                }
            }
        }

        #[test]
        fn one_to_100_lines_of_different_products_are_a_reservation_in_their_order(
            products in prop::collection::hash_set("[a-z0-9]{1,8}", 1..=100),
            quantity in 1..=10_000i64,
        ) {
            let lines = products
                .iter()
                .map(|p| line(p, quantity))
                .collect::<Result<Vec<_>, _>>()?;
            let id = ReservationId::parse("order:1").map_err(|e| TestCaseError::fail(e.0))?;
            let ttl = Ttl::of::<60>();
            let reservation = NewReservation::new(id, lines.clone(), ttl);
            prop_assert_eq!(reservation.as_ref().map(NewReservation::lines), Ok(&lines[..]));
        }

        #[test]
        fn a_reservation_naming_a_product_twice_is_refused_at_the_second_line(
            products in prop::collection::vec("[a-z0-9]{1,8}", 1..=60),
            again in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
        ) {
            let mut distinct: Vec<String> = Vec::new();
            for p in products {
                if !distinct.contains(&p) {
                    distinct.push(p);
                }
            }
            // A product of the list named again after its first line.
            let first = again.index(distinct.len());
            let at = first + 1 + at.index(distinct.len() - first);
            let mut names = distinct.clone();
            names.insert(at, distinct[first].clone());
            let lines = names.iter().map(|p| line(p, 1)).collect::<Result<Vec<_>, _>>()?;
            let id = ReservationId::parse("order:1").map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert_eq!(
                NewReservation::new(id, lines, Ttl::of::<60>()),
                Err((Some(at), Invalid("names a product an earlier line names already".into())))
            );
        }

        #[test]
        fn a_reservation_of_no_lines_or_more_than_100_is_refused(extra in 101..=150usize) {
            let lines = (0..extra).map(|i| line(&format!("p{i}"), 1)).collect::<Result<Vec<_>, _>>()?;
            for lines in [Vec::new(), lines] {
                let id = ReservationId::parse("order:1").map_err(|e| TestCaseError::fail(e.0))?;
                prop_assert_eq!(
                    NewReservation::new(id, lines, Ttl::of::<60>()),
                    Err((None, Invalid("must have 1 to 100 lines".into())))
                );
            }
        }
    }
}
