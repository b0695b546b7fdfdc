//! Account administration, for administrators only.

use super::AppState;
use crate::{
    error::{Error, invalid},
    store::UserRecord,
};
use axum::extract::{Path, State};
use platform::{
    Problem,
    auth::Admin,
    extract::{Json, Query},
    openapi::AdminOnly,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

const DEFAULT_PER_PAGE: i64 = 20;
const MAX_PER_PAGE: i64 = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user))
}

/// Which page of accounts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1-based page number (default 1), at most 4294967295 as everywhere in the shop.
    #[param(minimum = 1, maximum = 4_294_967_295_u64)]
    pub page: Option<u32>,
    /// Accounts per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

/// An account, as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<UserRecord> for UserSummary {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            roles: u.roles,
            created_at: u.created_at,
        }
    }
}

/// One page of accounts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserSummary>,
    /// Accounts in all pages.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// Lists accounts, oldest first.
#[utoipa::path(
    get,
    path = "/api/identity/users",
    tag = "users",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of accounts", body = UserPage),
        AdminOnly,
        (status = 422, description = "Bad paging; `errors` names the parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
async fn list_users(
    State(state): State<AppState>,
    Admin(_): Admin,
    Query(paging): Query<Paging>,
) -> Result<Json<UserPage>, Error> {
    let page = i64::from(paging.page.unwrap_or(1));
    let per_page = paging.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if page < 1 {
        return Err(invalid("page", "must be at least 1"));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(invalid(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    let offset = (page - 1)
        .checked_mul(per_page)
        .ok_or_else(|| invalid("page", "is too large"))?;
    let (users, total) = state.store.list_users(per_page, offset).await?;
    Ok(Json(UserPage {
        items: users.into_iter().map(UserSummary::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// One account.
#[utoipa::path(
    get,
    path = "/api/identity/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The account's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserSummary),
        AdminOnly,
        (status = 404, description = "No account has this id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(id = %id))]
async fn get_user(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<UserSummary>, Error> {
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or(Error::UserNotFound)?;
    Ok(Json(user.into()))
}
