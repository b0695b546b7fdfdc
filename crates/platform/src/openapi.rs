//! What every service's OpenAPI document shares: the bearer-token security scheme, the
//! problem responses every operation can give (added by the kit, so handlers document
//! only what is particular to them), and reusable sets of problem responses for
//! `#[utoipa::path(responses(...))]`.

use crate::problem::{CONTENT_TYPE, Problem};
use std::collections::BTreeMap;
use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        Components, Content, OpenApi, Ref, RefOr, Required, Schema, Type,
        path::Operation,
        response::Response,
        schema::SchemaType,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

/// The name endpoints use in `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// Adds the `bearer` scheme (a JWT from identity) to a document's components.
pub fn add_bearer(components: &mut Components) {
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}

/// `#[openapi(modifiers(&BearerAuth))]`: documents the bearer-token scheme.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        add_bearer(openapi.components.get_or_insert_with(Default::default));
    }
}

/// A problem-document response with `description`, referring to the `Problem` schema.
pub fn problem(description: &str) -> Response {
    Response::builder()
        .description(description)
        .content(
            CONTENT_TYPE,
            Content::new(Some(Ref::from_schema_name(Problem::name()))),
        )
        .build()
}

/// Adds, to every operation that does not document them itself, the problems any
/// operation can answer with: 500 always, and 400, 413 and 415 for a JSON body (its
/// syntax, its size, its media type). Registers the `Problem` schema they refer to.
pub fn add_standard_problems(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_parameter = path.contains('{');
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ];
        for op in operations.into_iter().flatten() {
            add_to(op, has_parameter);
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry(Problem::name().into_owned())
        .or_insert_with(Problem::schema);
    let mut schemas = Vec::new();
    Problem::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

fn add_to(op: &mut Operation, has_parameter: bool) {
    let json_body = op.request_body.as_ref().is_some_and(|b| match b {
        RefOr::T(body) => body.content.keys().any(|c| c.contains("json")),
        RefOr::Ref(_) => true,
    });
    let mut standard = vec![("500", "Unexpected failure")];
    match (json_body, has_parameter) {
        (true, true) => standard.push(("400", "The body is not valid JSON, or the path cannot be read one way only (see below)")),
        (true, false) => standard.push(("400", "The body is not valid JSON")),
        (false, true) => standard.push(("400", "The path cannot be read one way only: a parameter is not UTF-8 once percent-decoded, or holds an encoded separator (`%2F`, `%5C`, `%25`) or dot segment, which the gateway refuses")),
        (false, false) => {}
    }
    if json_body {
        standard.extend([
            ("413", "The body is too large"),
            ("415", "The body is not `application/json`"),
        ]);
    }
    for (status, description) in standard {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    }
}

/// Documents a body that may be left out (`request_body(content = Option<T>)`) as absent
/// or a `T`, without the `null` utoipa offers beside it: no handler takes `null` for "no
/// body".
pub fn optional_bodies_not_null(doc: &mut OpenApi) {
    let is_null = |item: &RefOr<Schema>| match item {
        RefOr::T(Schema::Object(o)) => o.schema_type == SchemaType::Type(Type::Null),
        _ => false,
    };
    let operations = doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
    });
    for op in operations.flatten() {
        let Some(RefOr::T(body)) = &mut op.request_body else {
            continue;
        };
        if body.required == Some(Required::True) {
            continue;
        }
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content
                && let Some(RefOr::T(Schema::OneOf(one))) = &mut content.schema
                && one.items.len() == 2
                && let Some(null) = one.items.iter().position(is_null)
            {
                content.schema = Some(one.items.swap_remove(1 - null));
            }
        }
    }
}

/// The document the public reads through the gateway: `doc` without the paths of
/// `service` that the gateway does not route ([`Access::Internal`]: what only Bazaar's
/// own services call, documented in the service's full document on its own port).
pub fn public(doc: &OpenApi, service: &crate::registry::ServiceDef) -> OpenApi {
    let prefix = format!("/api/{}", service.name);
    let mut public = doc.clone();
    public.paths.paths.retain(|path, _| {
        let internal = path
            .strip_prefix(&prefix)
            .and_then(|rest| service.route(rest))
            .is_some_and(|route| route.access == crate::registry::Access::Internal);
        !internal
    });
    public
}

/// Problem-document responses with these `(status, description)` pairs: what the sets
/// [`problem_responses!`](crate::problem_responses) defines answer.
pub fn problems(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| ((*status).to_owned(), RefOr::T(problem(description))))
        .collect()
}

/// Defines a reusable set of problem responses for `#[utoipa::path(responses(...))]`: a
/// unit struct whose [`utoipa::IntoResponses`] are problem documents with these statuses and
/// descriptions.
///
/// ```ignore
/// platform::problem_responses! {
///     /// `404`: no product has the id in the path.
///     pub NoSuchProduct { "404" => "No such product" }
/// }
/// ```
#[macro_export]
macro_rules! problem_responses {
    ($(#[$doc:meta])* $vis:vis $name:ident { $($status:literal => $description:expr),+ $(,)? }) => {
        $(#[$doc])*
        $vis struct $name;

        impl ::utoipa::IntoResponses for $name {
            fn responses() -> ::std::collections::BTreeMap<
                ::std::string::String,
                ::utoipa::openapi::RefOr<::utoipa::openapi::response::Response>,
            > {
                $crate::openapi::problems(&[$(($status, $description)),+])
            }
        }
    };
}

crate::problem_responses! {
    /// `401` and `403`: the endpoint needs a signed-in user (a person: not a service).
    pub SignedIn {
        "401" => "No valid bearer token",
        "403" => "A service's token, which acts for no person",
    }
}

crate::problem_responses! {
    /// `401` and `403`: the endpoint is for administrators.
    pub AdminOnly {
        "401" => "No valid bearer token",
        "403" => "The caller is not an administrator",
    }
}

crate::problem_responses! {
    /// `401` and `403`: the endpoint is for Bazaar's own services (not administrators:
    /// the outside contract's internal endpoints).
    pub ServiceOnly {
        "401" => "No valid bearer token",
        "403" => "The caller is not a Bazaar service (an administrator is not one either)",
    }
}

crate::problem_responses! {
    /// `503`: a bearer token could not be checked because identity's keys are out of reach.
    pub KeysUnavailable {
        "503" => "A bearer token could not be checked: identity's keys are out of reach for now (`Retry-After`)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoResponses;
    use utoipa::openapi::{
        HttpMethod, OpenApiBuilder, PathItem, Paths, request_body::RequestBodyBuilder,
    };

    fn doc_with(op: Operation) -> OpenApi {
        OpenApiBuilder::new()
            .paths(Paths::builder().path("/x", PathItem::new(HttpMethod::Post, op)))
            .build()
    }

    fn statuses(doc: &OpenApi) -> Vec<String> {
        let op = doc.paths.paths["/x"].post.as_ref().unwrap();
        op.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn every_operation_gets_500_and_json_bodies_their_problems() {
        let mut bare = doc_with(Operation::new());
        add_standard_problems(&mut bare);
        assert_eq!(statuses(&bare), ["500"]);

        let mut op = Operation::new();
        op.request_body = Some(RefOr::T(
            RequestBodyBuilder::new()
                .content("application/json", Content::new(None::<Ref>))
                .build(),
        ));
        op.responses
            .responses
            .insert("400".into(), RefOr::T(problem("mine")));
        let mut with_body = doc_with(op);
        add_standard_problems(&mut with_body);
        assert_eq!(statuses(&with_body), ["400", "413", "415", "500"]);
        let kept = &with_body.paths.paths["/x"]
            .post
            .as_ref()
            .unwrap()
            .responses
            .responses["400"];
        assert!(
            matches!(kept, RefOr::T(r) if r.description == "mine"),
            "a handler's own description is kept"
        );
        assert!(
            with_body
                .components
                .unwrap()
                .schemas
                .contains_key("Problem")
        );
    }

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Session {
        token: String,
    }

    /// Ends `Session`, or every session without a body.
    #[utoipa::path(post, path = "/x", request_body(content = Option<Session>))]
    #[allow(dead_code)]
    async fn end() {}

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(end))]
    struct OptionalBody;

    #[test]
    fn a_body_that_may_be_left_out_is_not_also_null() {
        let mut doc = <OptionalBody as utoipa::OpenApi>::openapi();
        let schema = |doc: &OpenApi| {
            let Some(RefOr::T(body)) = &doc.paths.paths["/x"].post.as_ref().unwrap().request_body
            else {
                panic!("no body");
            };
            assert!(body.required != Some(Required::True), "it may be left out");
            let RefOr::T(content) = &body.content["application/json"] else {
                panic!("no JSON content");
            };
            serde_json::to_value(&content.schema).unwrap()
        };
        assert!(
            schema(&doc).to_string().contains("null"),
            "utoipa offers null: {}",
            schema(&doc)
        );
        optional_bodies_not_null(&mut doc);
        assert_eq!(
            schema(&doc),
            serde_json::json!({"$ref": "#/components/schemas/Session"})
        );
    }

    #[test]
    fn reusable_sets_name_their_statuses() {
        assert_eq!(AdminOnly::responses().len(), 2);
        assert!(matches!(
            &ServiceOnly::responses()["403"],
            RefOr::T(r) if r.description.contains("Bazaar service")
        ));
        assert!(SignedIn::responses().contains_key("401"));
    }
}
