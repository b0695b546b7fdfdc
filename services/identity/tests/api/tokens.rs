//! Access tokens: published keys verify them, and forged or stale ones are refused.

use crate::helpers::{assert_problem, spawn_app};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn jwks_publishes_the_key_that_signs_tokens() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;

    let jwks = app.jwks().await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    let kid = key["kid"].as_str().expect("kid");
    assert_eq!(kid.len(), 16);

    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(kid));

    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let decoding = DecodingKey::from_jwk(set.find(kid).expect("the token's key")).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["bazaar-identity"]);
    validation.set_audience(&["bazaar"]);
    let claims =
        jsonwebtoken::decode::<platform::auth::Claims>(&tokens.access, &decoding, &validation)
            .expect("the published key verifies the token")
            .claims;
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.email, user.email);
    assert_eq!(claims.roles, vec!["customer".to_owned()]);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(!claims.jti.is_empty());
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let kid = app.jwks().await["keys"][0]["kid"].clone();
    let scratch = app.scratch.clone();
    app.stop().await;

    let app = crate::helpers::spawn_app_with(
        scratch,
        &[
            ("admin_email", crate::helpers::ADMIN_EMAIL),
            ("admin_password", crate::helpers::ADMIN_PASSWORD),
        ],
    )
    .await;

    assert_eq!(app.jwks().await["keys"][0]["kid"], kid);
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
}

fn claims_for(user_id: &str, now: i64) -> Value {
    json!({
        "sub": user_id,
        "email": "someone@example.com",
        "name": "Someone",
        "roles": ["customer", "admin"],
        "iss": "bazaar-identity",
        "aud": "bazaar",
        "iat": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn sign(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let der = key.to_pkcs8_der().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn forged_and_stale_tokens_are_refused() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let (kid, key) = app.signing_key().await;
    let now = chrono::Utc::now().timestamp();
    let good = claims_for(&user.id, now);

    // The baseline: a token built here with the real key is accepted, so each refusal
    // below is down to the one thing changed.
    assert_eq!(
        app.me(&sign(&key, &kid, &good)).await.status(),
        StatusCode::OK,
        "baseline"
    );

    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let tampered = {
        let mut parts: Vec<String> = tokens.access.split('.').map(str::to_owned).collect();
        let mut sig: Vec<char> = parts[2].chars().collect();
        let i = sig.len() / 2;
        sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
        parts[2] = sig.into_iter().collect();
        parts.join(".")
    };
    let other_key = SigningKey::from_bytes(&[42u8; 32]);
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&good)
    );
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(b"guess")).unwrap()
    };
    let unknown_kid = sign(&key, "0000000000000000", &good);

    let cases: Vec<(String, &str)> = vec![
        (
            sign(&key, &kid, &with("exp", json!(now - 120))),
            "expired (beyond the leeway)",
        ),
        (tampered, "signature with one character flipped"),
        (alg_none, "alg none"),
        (hs256, "HS256 with a guessed secret"),
        (
            sign(&other_key, &kid, &good),
            "another Ed25519 key, same kid",
        ),
        (unknown_kid, "unknown kid"),
        (
            sign(&key, &kid, &with("aud", json!("elsewhere"))),
            "wrong audience",
        ),
        (
            sign(&key, &kid, &with("iss", json!("evil-identity"))),
            "wrong issuer",
        ),
        ("not.a.jwt".to_owned(), "garbage"),
    ];
    for (token, case) in cases {
        let res = app.me(&token).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, None, case).await;
    }

    let no_kid = {
        let der = key.to_pkcs8_der().unwrap();
        jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &good,
            &EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap()
    };
    let res = app.me(&no_kid).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "no kid").await;

    let res = app
        .client
        .get(app.url("/api/identity/me"))
        .header("authorization", format!("Basic {}", tokens.access))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "not a bearer scheme").await;
}

#[tokio::test]
async fn a_token_of_a_vanished_account_is_refused_by_me() {
    let app = spawn_app().await;
    let (kid, key) = app.signing_key().await;
    let token = sign(
        &key,
        &kid,
        &claims_for(
            &uuid::Uuid::now_v7().to_string(),
            chrono::Utc::now().timestamp(),
        ),
    );

    let res = app.me(&token).await;

    assert_problem(res, StatusCode::UNAUTHORIZED, None, "no such account").await;
}
