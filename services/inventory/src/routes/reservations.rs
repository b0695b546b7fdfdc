//! The reservations API (internal: the checkout saga's): hold units, commit or release
//! them, look them up.

use super::AppState;
use crate::{
    domain::{
        NewReservation, ProductId, Quantity, Reservation, ReservationId, ReservationLine,
        ReservationStatus, Ttl,
    },
    error::InventoryError,
    store::Store,
};
use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use platform::{
    Failure, Problem,
    auth::{CalledBy, callers::Orders},
    extract::{InPath, Json, Names, Query, TraceParent},
    failure::Fields,
    openapi::ServiceOnly,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reserve, list_reservations))
        .routes(routes!(get_reservation))
        .routes(routes!(commit_reservation))
        .routes(routes!(release_reservation))
}

/// Units to hold for a checkout.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReserveRequest {
    /// The caller's id for this reservation, 1 to 128 letters, digits, `-`, `_` or `:`.
    /// Asking again with the same id returns the reservation made the first time.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d99")]
    pub reservation_id: String,
    /// 1 to 100 lines, each naming a different product.
    pub items: Vec<ReserveItem>,
    /// How long to hold the units, 1 to 86 400 seconds; the service's
    /// `BAZAAR_RESERVATION_TTL_SECS` (default 900) when absent.
    #[schema(example = 900, minimum = 1, maximum = 86400)]
    pub ttl_secs: Option<i64>,
}

/// One line of a [`ReserveRequest`].
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReserveItem {
    /// The catalog's id of the product.
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub product_id: String,
    /// Units to hold, 1 to 10 000.
    #[schema(example = 2, minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

impl ReserveRequest {
    /// The reservation asked for, or every field at fault.
    fn parse(self, default_ttl: Ttl) -> Result<NewReservation, InventoryError> {
        let mut fields = Fields::new();
        let id = fields.take("reservation_id", ReservationId::parse(&self.reservation_id));
        let ttl = match self.ttl_secs {
            None => Some(default_ttl),
            Some(secs) => fields.take("ttl_secs", Ttl::new(secs)),
        };
        let mut lines = Vec::with_capacity(self.items.len());
        if self.items.is_empty() || self.items.len() > NewReservation::MAX_LINES {
            let lines = NewReservation::MAX_LINES;
            fields.refuse("items", format!("must have 1 to {lines} lines"));
        } else {
            for (i, item) in self.items.iter().enumerate() {
                let product_id = fields.take(
                    format!("items[{i}].product_id"),
                    ProductId::parse(&item.product_id),
                );
                let quantity =
                    fields.take(format!("items[{i}].quantity"), Quantity::new(item.quantity));
                if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
                    lines.push(ReservationLine {
                        product_id,
                        quantity,
                    });
                }
            }
        }
        match (id, ttl) {
            (Some(id), Some(ttl)) if fields.is_empty() => NewReservation::new(id, lines, ttl)
                .map_err(|(line, e)| {
                    let name = match line {
                        Some(i) => format!("items[{i}].product_id"),
                        None => "items".to_owned(),
                    };
                    InventoryError::invalid(&name, e.to_string())
                }),
            _ => Err(Failure::from(fields).into()),
        }
    }
}

/// Reservations, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReservationList {
    pub items: Vec<Reservation>,
}

/// Which reservations to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListReservationsParams {
    /// Only reservations in this state: `held`, `committed` or `released`; all when absent.
    #[param(example = "held")]
    status: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    #[param(example = 100, minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// How many reservations one listing returns.
type Limit = platform::domain::Bounded<1, 500>;

impl ListReservationsParams {
    const DEFAULT_LIMIT: i64 = 100;

    fn parse(self) -> Result<(Option<ReservationStatus>, i64), InventoryError> {
        let mut fields = Fields::new();
        let status = match self.status.as_deref() {
            None => None,
            Some(raw) => fields.take("status", ReservationStatus::parse(raw)),
        };
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        fields.take("limit", Limit::new(limit));
        fields.check()?;
        Ok((status, limit))
    }
}

platform::problem_responses! {
    /// `404`: no reservation has the id in the path.
    NoSuchReservation { "404" => "No reservation has this id" }
}

/// The reservation a path names (`/reservations/{reservation_id}/...`): an id that cannot
/// be a reservation's names none (404).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // declares the parameter; `InPath` reads it
struct Named {
    /// The id the caller gave the reservation
    reservation_id: String,
}

impl Names for Named {
    type Id = ReservationId;

    fn parse(raw: &str) -> Option<ReservationId> {
        ReservationId::parse(raw).ok()
    }

    fn none(raw: String) -> Response {
        InventoryError::ReservationNotFound(raw).into_response()
    }
}

/// Holds units for a checkout, all lines or none (for Bazaar's services). Each line's
/// units move from `available` to `reserved` until the reservation is committed, released
/// or expires (`expires_at`); the expiry worker releases it then. Asking again with a
/// `reservation_id` seen before holds nothing more and returns that reservation as it is
/// now (200).
#[utoipa::path(
    post,
    path = "/api/inventory/reservations",
    tag = "reservations",
    security(("bearer" = [])),
    request_body(content = ReserveRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The units are held", body = Reservation,
            headers(("Location" = String, description = "The reservation's URL"))),
        (status = 200, description = "A reservation by this id exists already: returned as it is now, nothing more held", body = Reservation),
        ServiceOnly,
        (status = 409, description = "`urn:bazaar:problem:insufficient-stock`: a line cannot be held; `errors` names each such line (`items[i].quantity`: only N left; `items[i].product_id`: unknown or discontinued product). Nothing was held.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or out of bounds (named in `errors`): `reservation_id`, `items` (1 to 100 lines), `items[i].product_id` (malformed, or named twice), `items[i].quantity` (1 to 10 000), `ttl_secs` (1 to 86 400)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(reservation_id = %body.reservation_id))]
async fn reserve(
    State(state): State<AppState>,
    CalledBy(caller, _): CalledBy<Orders>,
    trace: TraceParent,
    Json(body): Json<ReserveRequest>,
) -> Result<Response, InventoryError> {
    let asked = body.parse(state.reservation_ttl)?;
    let (reservation, created) = state
        .store
        .reserve(&asked, &caller.sub, trace.as_deref())
        .await?;
    // Held and committed, but the caller has not heard: it must ask again.
    events::faults::point("inventory.reserve.after_commit");
    if created {
        tracing::info!(caller = %caller.sub, lines = reservation.items.len(), expires_at = %reservation.expires_at, "reservation held");
        let url = format!("/api/inventory/reservations/{}", reservation.reservation_id);
        Ok(platform::service::created(&url, reservation))
    } else {
        if !reservation.holds(&asked) {
            tracing::warn!(caller = %caller.sub, "a reservation id was reused with other items; the existing reservation is returned");
        }
        Ok(Json(reservation).into_response())
    }
}

/// Gets a reservation (for Bazaar's services).
#[utoipa::path(
    get,
    path = "/api/inventory/reservations/{reservation_id}",
    tag = "reservations",
    security(("bearer" = [])),
    params(Named),
    responses(
        (status = 200, description = "The reservation", body = Reservation),
        ServiceOnly,
        NoSuchReservation
    )
)]
#[tracing::instrument(skip_all, fields(reservation_id = %id))]
async fn get_reservation(
    State(store): State<Store>,
    _caller: CalledBy<Orders>,
    InPath(id): InPath<Named>,
) -> Result<Json<Reservation>, InventoryError> {
    store
        .reservation(&id)
        .await?
        .map(Json)
        .ok_or_else(|| InventoryError::ReservationNotFound(id.to_string()))
}

/// Commits a held reservation (for Bazaar's services): its units leave the stock for
/// good. Committing a committed reservation returns it unchanged.
#[utoipa::path(
    post,
    path = "/api/inventory/reservations/{reservation_id}/commit",
    tag = "reservations",
    security(("bearer" = [])),
    params(Named),
    responses(
        (status = 200, description = "The reservation, committed", body = Reservation),
        ServiceOnly,
        NoSuchReservation,
        (status = 409, description = "`urn:bazaar:problem:reservation-state`: the reservation was released; `urn:bazaar:problem:reservation-expired`: its time was up (its units are released now)", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(reservation_id = %id))]
async fn commit_reservation(
    State(store): State<Store>,
    CalledBy(caller, _): CalledBy<Orders>,
    InPath(id): InPath<Named>,
    trace: TraceParent,
) -> Result<Json<Reservation>, InventoryError> {
    let reservation = store.commit(&id, trace.as_deref()).await?;
    events::faults::point("inventory.commit.after_commit");
    tracing::info!(caller = %caller.sub, "reservation committed");
    Ok(Json(reservation))
}

/// Releases a held reservation (for Bazaar's services): its units are available again.
/// Releasing a released (or expired) reservation returns it unchanged.
#[utoipa::path(
    post,
    path = "/api/inventory/reservations/{reservation_id}/release",
    tag = "reservations",
    security(("bearer" = [])),
    params(Named),
    responses(
        (status = 200, description = "The reservation, released", body = Reservation),
        ServiceOnly,
        NoSuchReservation,
        (status = 409, description = "`urn:bazaar:problem:reservation-state`: the reservation was committed", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all, fields(reservation_id = %id))]
async fn release_reservation(
    State(store): State<Store>,
    CalledBy(caller, _): CalledBy<Orders>,
    InPath(id): InPath<Named>,
    trace: TraceParent,
) -> Result<Json<Reservation>, InventoryError> {
    let reservation = store.release(&id, trace.as_deref()).await?;
    // Released and committed, but the saga has not heard: it must ask again.
    events::faults::point("inventory.release.after_commit");
    tracing::info!(caller = %caller.sub, reason = ?reservation.reason, "reservation released");
    Ok(Json(reservation))
}

/// Lists reservations, oldest first (for the checkout saga):
/// `?status=held` shows what is held right now.
#[utoipa::path(
    get,
    path = "/api/inventory/reservations",
    tag = "reservations",
    security(("bearer" = [])),
    params(ListReservationsParams),
    responses(
        (status = 200, description = "The reservations", body = ReservationList),
        ServiceOnly,
        (status = 422, description = "`status` is not a state or `limit` is not between 1 and 500", body = Problem, content_type = "application/problem+json")
    )
)]
#[tracing::instrument(skip_all)]
async fn list_reservations(
    State(store): State<Store>,
    _caller: CalledBy<Orders>,
    Query(params): Query<ListReservationsParams>,
) -> Result<Json<ReservationList>, InventoryError> {
    let (status, limit) = params.parse()?;
    Ok(Json(ReservationList {
        items: store.reservations(status, limit).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::testing::refused_fields;

    fn ttl() -> Ttl {
        Ttl::of::<900>()
    }

    fn request(id: &str, items: &[(&str, i64)], ttl_secs: Option<i64>) -> ReserveRequest {
        ReserveRequest {
            reservation_id: id.into(),
            items: items
                .iter()
                .map(|(p, q)| ReserveItem {
                    product_id: (*p).into(),
                    quantity: *q,
                })
                .collect(),
            ttl_secs,
        }
    }

    #[test]
    fn a_reservation_is_parsed_with_the_default_ttl() {
        let asked = request("r-1", &[("a", 2), ("b", 1)], None)
            .parse(ttl())
            .unwrap();
        assert_eq!(asked.id.as_str(), "r-1");
        assert_eq!(asked.ttl, ttl());
        assert_eq!(asked.lines().len(), 2);
        let short = request("r-1", &[("a", 2)], Some(1)).parse(ttl()).unwrap();
        assert_eq!(short.ttl.get(), 1);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: Vec<(ReserveRequest, &[&str])> = vec![
            (request("", &[("a", 1)], None), &["reservation_id"]),
            (request("r 1", &[("a", 1)], None), &["reservation_id"]),
            (request("r", &[], None), &["items"]),
            (request("r", &[("a", 0)], None), &["items[0].quantity"]),
            (
                request("r", &[("a", 1), ("b", -3)], None),
                &["items[1].quantity"],
            ),
            (request("r", &[("a", 10_001)], None), &["items[0].quantity"]),
            (request("r", &[("a/b", 1)], None), &["items[0].product_id"]),
            (
                request("r", &[("a", 1), ("a", 2)], None),
                &["items[1].product_id"],
            ),
            (request("r", &[("a", 1)], Some(0)), &["ttl_secs"]),
            (request("r", &[("a", 1)], Some(86_401)), &["ttl_secs"]),
            (
                request("", &[("", 0)], Some(-1)),
                &[
                    "reservation_id",
                    "ttl_secs",
                    "items[0].product_id",
                    "items[0].quantity",
                ],
            ),
        ];
        for (req, expected) in cases {
            let label = format!("{req:?}");
            let named = refused_fields(req.parse(ttl()).unwrap_err());
            assert_eq!(named, expected, "{label}");
        }
        let many: Vec<(String, i64)> = (0..101).map(|i| (format!("p{i}"), 1)).collect();
        let many: Vec<(&str, i64)> = many.iter().map(|(p, q)| (p.as_str(), *q)).collect();
        assert_eq!(
            refused_fields(request("r", &many, None).parse(ttl()).unwrap_err()),
            ["items"]
        );
    }

    #[test]
    fn listing_parameters_are_bounded() {
        let all = ListReservationsParams::default().parse().unwrap();
        assert_eq!(all, (None, 100));
        let held = ListReservationsParams {
            status: Some("held".into()),
            limit: Some(500),
        }
        .parse()
        .unwrap();
        assert_eq!(held, (Some(ReservationStatus::Held), 500));
        let bad = ListReservationsParams {
            status: Some("expired".into()),
            limit: Some(0),
        }
        .parse()
        .unwrap_err();
        assert_eq!(refused_fields(bad), ["status", "limit"]);
    }

    #[tokio::test]
    async fn a_path_names_a_reservation_or_none() {
        use tower::ServiceExt;
        let app = axum::Router::new().route(
            "/reservations/{reservation_id}",
            axum::routing::get(|InPath(id): InPath<Named>| async move { id.to_string() }),
        );
        let get = |path: &str| {
            let req = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(req)
        };
        let named = get("/reservations/order-1:r").await.unwrap();
        assert_eq!(named.status(), 200);
        let body = axum::body::to_bytes(named.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"order-1:r");
        for malformed in ["/reservations/no%20such", "/reservations/%C3%A9t%C3%A9"] {
            let none = get(malformed).await.unwrap();
            assert_eq!(none.status(), 404, "{malformed}");
            let body = axum::body::to_bytes(none.into_body(), 4096).await.unwrap();
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("there is no reservation"),
                "{problem}"
            );
        }
    }
}
