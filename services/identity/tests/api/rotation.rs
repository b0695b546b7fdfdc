//! Rotating the signing key: a new key is published before it signs, and tokens signed by
//! the old one stay valid until they expire, on identity and on every other verifier.

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Scratch, assert_problem, spawn_app, spawn_app_on, spawn_app_with,
};
use platform::auth::Verifier;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The ids of the keys identity's JWKS publishes, in order.
async fn published_kids(app: &crate::helpers::TestApp) -> Vec<String> {
    app.jwks().await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

async fn rotate(app: &crate::helpers::TestApp, access: &str, body: Value) -> reqwest::Response {
    app.client
        .request(Method::POST, app.url("/api/identity/keys"))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rotated_key_signs_new_tokens_while_the_old_ones_stay_valid() {
    // Arrange: a signed-in user, and a service that verified with the old keys.
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, before) = app.signed_in_user().await;
    let elsewhere = Verifier::remote(&app.address, "bazaar-identity", "bazaar");
    elsewhere.verify(&before.access).await.expect("verifies");

    // Act: rotate, signing at once.
    let res = rotate(&app, &admin.access, json!({"activate_in_secs": 0})).await;

    // Assert: the new key signs; both are published; old and new tokens verify here and
    // elsewhere.
    assert_eq!(res.status(), StatusCode::CREATED);
    let new: Value = res.json().await.unwrap();
    assert_eq!(new["state"], "signing", "{new}");
    let published = published_kids(&app).await;
    assert_eq!(
        published,
        [kid(&before.access), new["kid"].as_str().unwrap().to_owned()]
    );
    let (_, after) = app.signed_in_user().await;
    assert_eq!(kid(&after.access), new["kid"].as_str().unwrap());
    // (A verifier that fetched the keys under a second ago does not fetch them again for
    // an unknown kid yet. This one signs at once, so a fresh verifier stands in for
    // "later".)
    let later = Verifier::remote(&app.address, "bazaar-identity", "bazaar");
    for token in [&before.access, &after.access] {
        assert_eq!(app.me(token).await.status(), StatusCode::OK);
        later.verify(token).await.expect("verifies elsewhere");
    }
    elsewhere
        .verify(&before.access)
        .await
        .expect("still verifies");
    let keys: Value = app
        .get_with_token("/api/identity/keys", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["verifying", "signing"]);
    assert!(
        !keys.to_string().contains("private"),
        "no private halves: {keys}"
    );
}

/// A key superseded long enough ago is retired: it leaves the key set, and identity
/// itself takes none of its tokens any more (a review: identity's own routes, the admin's
/// among them, took a retired key's tokens until a restart, where every other service
/// refused them once its cached key set ran out).
#[tokio::test]
async fn a_retired_key_verifies_nothing_on_identity_either() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, before) = app.signed_in_user().await;
    let old = kid(&before.access);
    let new: Value = rotate(&app, &admin.access, json!({"activate_in_secs": 0}))
        .await
        .json()
        .await
        .unwrap();
    let new = new["kid"].as_str().unwrap().to_owned();
    let (_, after) = app.signed_in_user().await;
    assert_eq!(kid(&after.access), new);
    assert_eq!(app.me(&before.access).await.status(), StatusCode::OK);

    // The old key signed from two days ago and the new one took over a day ago, as far
    // as the database says: the old one signed nothing still valid by its rules, and is
    // retired when the keys are read again (here by the next rotation; every 10 s on
    // their own).
    let db = app.database().await;
    for (key, days) in [(&old, 2), (&new, 1)] {
        let at = chrono::Utc::now() - chrono::Duration::days(days);
        sqlx::query("UPDATE signing_keys SET activates_at = $1 WHERE kid = $2")
            .bind(events::envelope::to_rfc3339(at))
            .bind(key)
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;
    let next = rotate(&app, &admin.access, json!({"activate_in_secs": 3600})).await;
    assert_eq!(next.status(), StatusCode::CREATED);

    assert!(
        !published_kids(&app).await.contains(&old),
        "the retired key is no longer published"
    );
    let res = app.me(&before.access).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "a retired key's token").await;
    assert_eq!(app.me(&after.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_key_due_later_is_published_first_and_survives_a_restart() {
    let scratch = Scratch::new();
    let overrides = [
        ("admin_email", ADMIN_EMAIL),
        ("admin_password", ADMIN_PASSWORD),
    ];
    let app = spawn_app_with(scratch.clone(), &overrides).await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let next: Value = rotate(&app, &admin.access, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["state"], "next", "{next}");
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 2);
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(
        kid(&tokens.access),
        kid(&admin.access),
        "the old key signs until then"
    );
    app.stop().await;

    let app = spawn_app_with(scratch, &overrides).await;
    assert_eq!(app.me(&tokens.access).await.status(), StatusCode::OK);
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 2);
}

/// An emergency rotation through one replica, with two: the other replica takes the new
/// key's tokens on its own routes and publishes the key in its JWKS at once, and a verifier
/// that fetched the keys just before takes them within a second. (They waited for the
/// other replica's 10 s reload, and the verifier 5 s more: every new sign-in's token was
/// refused for some 10 s, the storefront-replicas review.)
#[tokio::test]
async fn a_key_signing_at_once_is_taken_by_every_replica_and_verifier_at_once() {
    let scratch = Scratch::new();
    let url = scratch.database_url();
    let admin = [
        ("admin_email", ADMIN_EMAIL),
        ("admin_password", ADMIN_PASSWORD),
    ];
    let a = spawn_app_on(scratch.clone(), &url, &admin).await;
    let b = spawn_app_on(scratch, &url, &admin).await;
    let verifier = Verifier::remote(&b.address, "bazaar-identity", "bazaar");
    let (_, before) = b.signed_in_user().await;
    verifier.verify(&before.access).await.expect("verifies");
    let admin = a.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let new: Value = rotate(&a, &admin.access, json!({"activate_in_secs": 0}))
        .await
        .json()
        .await
        .unwrap();
    let (_, after) = a.signed_in_user().await;
    assert_eq!(kid(&after.access), new["kid"].as_str().unwrap());
    // The other replica signs with it too, within its keys' freshness (a quarter of a
    // second), not at its next routine reload (it signed with the replaced key for
    // seconds: the keys review). Asked before anything there met the new key.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, from_b) = b.signed_in_user().await;
    assert_eq!(kid(&from_b.access), new["kid"].as_str().unwrap());

    assert_eq!(
        b.me(&after.access).await.status(),
        StatusCode::OK,
        "the other replica's own routes"
    );
    assert!(
        published_kids(&b)
            .await
            .contains(&new["kid"].as_str().unwrap().to_owned()),
        "the other replica's JWKS"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    verifier
        .verify(&after.access)
        .await
        .expect("a verifier that fetched the keys a second ago");
}

/// A key due in a minute, then one due at once (a key found compromised meanwhile): the
/// newest rotation signs, and the key it overtook, which never signed, is withdrawn. (It
/// took over from the emergency key when its minute came.)
#[tokio::test]
async fn a_rotation_withdraws_a_key_that_was_to_sign_after_it() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let pending: Value = rotate(&app, &admin.access, json!({"activate_in_secs": 2}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["state"], "next");
    let now: Value = rotate(&app, &admin.access, json!({"activate_in_secs": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["state"], "signing");
    let published = published_kids(&app).await;
    assert_eq!(
        published,
        [kid(&admin.access), now["kid"].as_str().unwrap().to_owned()],
        "the pending key is withdrawn"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(
        kid(&tokens.access),
        now["kid"].as_str().unwrap(),
        "past the withdrawn key's time, the newest key signs"
    );
    // A rotation due later than the one signing withdraws nothing.
    let later: Value = rotate(&app, &admin.access, json!({"activate_in_secs": 60}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published_kids(&app).await.len(), 3, "{later}");
}

#[tokio::test]
async fn only_administrators_rotate_and_only_within_a_day() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, customer) = app.signed_in_user().await;
    let res = rotate(&app, &customer.access, json!({})).await;
    assert_problem(res, StatusCode::FORBIDDEN, None, "a customer").await;
    let res = app.post_json("/api/identity/keys", &json!({})).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, None, "nobody").await;
    let res = rotate(&app, &admin.access, json!({"activate_in_secs": 86_401})).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("activate_in_secs"),
        "too late",
    )
    .await;
    let res = rotate(&app, &admin.access, json!({"activate_in_secs": -1})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.jwks().await["keys"].as_array().unwrap().len(),
        1,
        "nothing rotated"
    );
}

#[tokio::test]
async fn a_key_signs_from_its_time_without_waiting_for_a_reload() {
    let app = spawn_app().await;
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let next: Value = rotate(&app, &admin.access, json!({"activate_in_secs": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["state"], "next");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(kid(&tokens.access), next["kid"].as_str().unwrap());
}

/// A PEM file of new Ed25519 keys, with `mode`; returns its path and the keys' ids in order.
fn key_file(scratch: &Scratch, mode: u32, keys: usize) -> (String, Vec<String>) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    use std::os::unix::fs::PermissionsExt;
    let mut pem = String::new();
    let mut kids = Vec::new();
    for _ in 0..keys {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        pem.push_str(&key.to_pkcs8_pem(LineEnding::LF).unwrap());
        // The kid: the first 16 hex digits of the public key's SHA-256.
        use sha2::Digest;
        let hash = sha2::Sha256::digest(key.verifying_key().as_bytes());
        kids.push(hash.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_owned());
    }
    let path = scratch.dir().join(format!("keys-{mode:o}.pem"));
    std::fs::write(&path, pem).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (path.display().to_string(), kids)
}

#[tokio::test]
async fn keys_from_a_file_sign_and_verify_and_are_not_rotated_here() {
    let scratch = Scratch::new();
    let (path, kids) = key_file(&scratch, 0o600, 2);
    let app = spawn_app_with(
        scratch.clone(),
        &[
            ("admin_email", ADMIN_EMAIL),
            ("admin_password", ADMIN_PASSWORD),
            ("signing_key_file", &path),
        ],
    )
    .await;
    let published = published_kids(&app).await;
    assert_eq!(
        published, kids,
        "every key in the file, none from the database"
    );
    let admin = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(kid(&admin.access), kids[0], "the first key signs");
    assert_eq!(app.me(&admin.access).await.status(), StatusCode::OK);
    let res = rotate(&app, &admin.access, json!({})).await;
    assert_problem(res, StatusCode::CONFLICT, None, "rotating a file's keys").await;
}

#[tokio::test]
async fn a_key_file_others_may_read_is_refused_at_start() {
    let scratch = Scratch::new();
    let (path, _) = key_file(&scratch, 0o644, 1);
    let database_url = scratch.database_url();
    let started = platform::testing::spawn(
        &identity::SERVICE,
        &[
            ("listen", "127.0.0.1:0"),
            ("database_url", &database_url),
            ("signing_key_file", &path),
        ],
    )
    .await;
    let Err(error) = started else {
        panic!("identity started with a key file others may read");
    };
    let error = format!("{error:#}");
    assert!(
        error.contains("chmod 600") && error.contains("644"),
        "{error}"
    );
    // A setting to fix, not damaged data (the docs review).
    assert!(!error.contains("corrupt"), "{error}");

    use std::os::unix::fs::PermissionsExt;
    // A directory was said to be readable by others; a key of another algorithm (X25519
    // here, RSA alike) was said to be of an unknown OID, Ed25519's (the settings review).
    let dir = scratch.dir().join("keys-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let other = scratch.dir().join("x25519.pem");
    std::fs::write(
        &other,
        "-----BEGIN PRIVATE KEY-----\n\
         MC4CAQAwBQYDK2VuBCIEINgqnjmyUmG21/RyWamP0F1qhdr1qO1NKecPDMpXprtE\n\
         -----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    for (file, said) in [
        (&dir, "is not a file"),
        (&other, "key of another algorithm"),
    ] {
        let file = file.display().to_string();
        let started = platform::testing::spawn(
            &identity::SERVICE,
            &[
                ("listen", "127.0.0.1:0"),
                ("database_url", &database_url),
                ("signing_key_file", &file),
            ],
        )
        .await;
        let Err(error) = started else {
            panic!("identity started with {file}");
        };
        let error = format!("{error:#}");
        assert!(error.contains(said), "{error}");
        assert!(!error.contains("1.3.101"), "{error}");
    }
}
