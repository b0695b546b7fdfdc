//! The Ed25519 signing keys (kept in the database, rotated without a restart), the JWKS
//! that publishes them, and the minting of access and refresh tokens.

use crate::{
    error::Error,
    store::{SigningKeyRecord, Store, UserRecord},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use platform::auth::{Claims, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// One public key as a JSON Web Key (RFC 8037's `OKP` form).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PublicJwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key id that tokens name in their header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// The key set served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// How old the keys read may be when a token is signed or the JWKS is asked for; see
/// [`Keys::freshen`].
const KEYS_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// How long a superseded key goes on verifying once its successor signs: the longest an
/// access token it signed can live, and the leeway verifiers allow.
const LEEWAY_SECS: i64 = 60;

/// The keys as loaded at one moment: those that sign or will (each from its time, in
/// that order), and what is published.
struct KeySet {
    signers: Vec<Signer>,
    jwks: Jwks,
}

struct Signer {
    kid: String,
    from: chrono::DateTime<chrono::Utc>,
    encoding: EncodingKey,
}

impl KeySet {
    /// The key that signs at `now`: the newest whose time has come (the first if none
    /// has), so a key due between two reloads signs on time.
    fn signer(&self, now: chrono::DateTime<chrono::Utc>) -> &Signer {
        self.signers
            .iter()
            .rev()
            .find(|s| s.from <= now)
            .or_else(|| self.signers.first())
            .expect("a key set has a signer")
    }
}

/// When a stored key starts signing.
fn activation(record: &SigningKeyRecord) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&record.activates_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// The signing key, every key still trusted, and what goes into each token.
///
/// Keys rotate without a restart: a new key is stored with a time it starts signing at
/// (a minute ahead by default), every replica reloads the keys every few seconds and
/// publishes the new one at once, and it signs from its time on; the key it replaces
/// goes on verifying until the tokens it signed have expired, then leaves the JWKS.
pub struct Keys {
    set: std::sync::RwLock<KeySet>,
    /// When `set` was loaded.
    loaded_at: std::sync::Mutex<std::time::Instant>,
    /// A request is reading the keys again ([`Keys::freshen`]): the others sign with those
    /// read, rather than all read at once.
    reading: std::sync::atomic::AtomicBool,
    /// Where the keys come from when not from the database.
    file: Option<std::path::PathBuf>,
    verifier: Verifier,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
}

/// A key's part in the key set at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet: verifiers learn it before it signs.
    Next,
    /// Signing every new token.
    Signing,
    /// Superseded; verifies the tokens it signed until they expire.
    Verifying,
    /// Superseded long enough that no token it signed is valid: not published.
    Retired,
}

/// A stored key and its part at `now`: the newest key whose time has come signs; one
/// superseded more than `ttl` (+ leeway) ago is retired.
fn states(
    records: &[SigningKeyRecord],
    now: chrono::DateTime<chrono::Utc>,
    ttl_secs: i64,
) -> Vec<KeyState> {
    let at = activation;
    // Records come ordered by activation; the signer is the last one due, or the first
    // if none is (a clock far behind the one that stored it).
    let signer = records.iter().rposition(|r| at(r) <= now).unwrap_or(0);
    let retire_after = chrono::Duration::seconds(ttl_secs.saturating_add(LEEWAY_SECS));
    records
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == signer {
                KeyState::Signing
            } else if i > signer {
                KeyState::Next
            } else if at(&records[i + 1]) + retire_after < now {
                KeyState::Retired
            } else {
                KeyState::Verifying
            }
        })
        .collect()
}

impl Keys {
    /// Loads the keys: from `file` when given (see [`load_file`]), else those stored,
    /// generating and storing the first one on a fresh database.
    pub async fn load_or_generate(
        store: &Store,
        file: Option<&std::path::Path>,
        verifier: Verifier,
        issuer: &str,
        audience: &str,
        access_ttl_secs: u64,
    ) -> Result<Self, Error> {
        let access_ttl_secs = i64::try_from(access_ttl_secs).unwrap_or(i64::MAX);
        let set = match file {
            Some(path) => load_file(path, &verifier)?.0,
            None => {
                let first = new_key_record(chrono::Utc::now())?;
                if store.insert_first_signing_key(&first).await? {
                    tracing::info!(kid = %first.kid, "generated the token signing key");
                }
                load(store, &verifier, access_ttl_secs).await?
            }
        };
        Ok(Self {
            set: std::sync::RwLock::new(set),
            loaded_at: std::sync::Mutex::new(std::time::Instant::now()),
            reading: std::sync::atomic::AtomicBool::new(false),
            file: file.map(std::path::Path::to_path_buf),
            verifier,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs,
        })
    }

    /// Reads the stored keys again: a key added by another replica is published, and
    /// signs once its time comes.
    pub async fn reload(&self, store: &Store) -> Result<(), Error> {
        let set = match &self.file {
            Some(path) => load_file(path, &self.verifier)?.0,
            None => load(store, &self.verifier, self.access_ttl_secs).await?,
        };
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = set;
        *self.loaded_at.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    /// Has identity's own verifier read the keys again when a token names a key it does
    /// not know: another replica may have stored it a moment ago, to sign at once (an
    /// emergency rotation), and this replica refused its tokens until its next reload.
    pub fn reload_on_unknown_key(keys: &std::sync::Arc<Self>, store: Store) {
        let weak = std::sync::Arc::downgrade(keys);
        keys.verifier.reload_with(move || {
            let (weak, store) = (weak.clone(), store.clone());
            async move {
                match weak.upgrade() {
                    Some(keys) => keys.reload(&store).await.map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
        });
    }

    /// Reads the keys again when the last reading is older than [`KEYS_FRESH`] (and no
    /// other request is reading them): before a token is signed, and before the JWKS is
    /// answered. A key another replica stored a moment ago, to sign at once (an emergency
    /// rotation, `--activate-in 0`), then signs here within that time; with only the
    /// routine reload every 10 s, this replica went on signing with the key replaced (the
    /// keys review saw it for 3 s), and told a verifier asking for the JWKS the old set.
    /// When they cannot be read, the keys last read stay.
    pub async fn freshen(&self, store: &Store) {
        let stale = self
            .loaded_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            > KEYS_FRESH;
        if !stale || self.reading.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        // Cleared however the reading ends, the request dropped mid-way included: left
        // set, the keys would never be read again but every 10 s.
        struct Reading<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Reading<'_> {
            fn drop(&mut self) {
                self.0.store(false, std::sync::atomic::Ordering::Release);
            }
        }
        let _reading = Reading(&self.reading);
        if let Err(e) = self.reload(store).await {
            tracing::warn!(error = %e, "could not read the signing keys; using those last read");
        }
    }

    /// The published keys as stored now ([`Keys::freshen`]), for the JWKS: a verifier
    /// fetches them because it met a `kid` it does not know, and a key another replica
    /// stored a moment ago must be in the answer.
    pub async fn fresh_jwks(&self, store: &Store) -> Jwks {
        self.freshen(store).await;
        self.jwks()
    }

    /// Stores a new key that starts signing `activate_in` from now (every replica
    /// publishes it by then); returns it with its state.
    pub async fn rotate(
        &self,
        store: &Store,
        activate_in: std::time::Duration,
    ) -> Result<KeyInfo, Error> {
        if self.file.is_some() {
            return Err(Error::KeysFromFile);
        }
        let at = chrono::Utc::now() + chrono::Duration::from_std(activate_in).unwrap_or_default();
        let record = new_key_record(at)?;
        let withdrawn = store.insert_signing_key(&record).await?;
        tracing::warn!(kid = %record.kid, activates_at = %record.activates_at, "rotating the token signing key");
        for kid in withdrawn {
            tracing::warn!(%kid, "withdrew a key that was to sign after this one");
        }
        self.reload(store).await?;
        // The newest key of all (any due after it withdrawn): it signs once its time has
        // come.
        let state = if at <= chrono::Utc::now() {
            KeyState::Signing
        } else {
            KeyState::Next
        };
        Ok(KeyInfo {
            kid: record.kid,
            created_at: record.created_at,
            activates_at: record.activates_at,
            state,
        })
    }

    /// Every stored key and its state now.
    pub async fn list(&self, store: &Store) -> Result<Vec<KeyInfo>, Error> {
        if let Some(path) = &self.file {
            let (set, written) = load_file(path, &self.verifier)?;
            return Ok(set
                .jwks
                .keys
                .into_iter()
                .enumerate()
                .map(|(i, key)| KeyInfo {
                    kid: key.kid,
                    created_at: written.clone(),
                    activates_at: written.clone(),
                    state: if i == 0 {
                        KeyState::Signing
                    } else {
                        KeyState::Verifying
                    },
                })
                .collect());
        }
        let records = store.signing_keys().await?;
        let states = states(&records, chrono::Utc::now(), self.access_ttl_secs);
        Ok(records
            .into_iter()
            .zip(states)
            .map(|(r, state)| KeyInfo {
                kid: r.kid,
                created_at: r.created_at,
                activates_at: r.activates_at,
                state,
            })
            .collect())
    }

    /// The verifier that trusts exactly these keys.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The published keys.
    pub fn jwks(&self) -> Jwks {
        self.set
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .jwks
            .clone()
    }

    /// Seconds an access token lives.
    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// A signed access token for `user`.
    pub fn mint_access_token(&self, user: &UserRecord) -> Result<String, Error> {
        self.mint(
            user.id.clone(),
            user.email.clone(),
            user.name.clone(),
            user.roles.clone(),
        )
    }

    fn mint(
        &self,
        sub: String,
        email: String,
        name: String,
        roles: Vec<String>,
    ) -> Result<String, Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub,
            email,
            name,
            roles,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(self.access_ttl_secs),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        let signer = set.signer(chrono::Utc::now());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &signer.encoding)?)
    }
}

impl Keys {
    /// A token for another Bazaar service: role `service`, subject `service:<name>`.
    pub fn mint_service_token(&self, service: &str) -> Result<String, Error> {
        self.mint(
            format!("service:{service}"),
            format!("{service}@services.bazaar.internal"),
            service.to_owned(),
            vec![platform::auth::ROLE_SERVICE.to_owned()],
        )
    }
}

/// A stored key as an administrator sees it (never its private half).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyInfo {
    /// The key id tokens name.
    pub kid: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it starts (or started) signing; RFC 3339, UTC.
    pub activates_at: String,
    pub state: KeyState,
}

/// A new random key, to sign from `activates_at`.
fn new_key_record(activates_at: chrono::DateTime<chrono::Utc>) -> Result<SigningKeyRecord, Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    let key = SigningKey::from_bytes(&seed);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| Error::Corrupt(format!("could not encode a new key: {e}")))?;
    Ok(SigningKeyRecord {
        kid: kid_of(&key),
        private_key: STANDARD.encode(der.as_bytes()),
        created_at: events::envelope::now_rfc3339(),
        activates_at: events::envelope::to_rfc3339(activates_at),
    })
}

/// The stored keys as a key set: the signer, and every key not retired published (and
/// trusted by identity's own verifier, which trusts no other: a retired key verified
/// nothing on other services, yet identity's own admin routes took its tokens until a
/// restart, a review found).
async fn load(store: &Store, verifier: &Verifier, ttl_secs: i64) -> Result<KeySet, Error> {
    let records = store.signing_keys().await?;
    let states = states(&records, chrono::Utc::now(), ttl_secs);
    let mut jwks = Jwks { keys: Vec::new() };
    let mut trusted = Vec::new();
    let mut signers = Vec::new();
    for (record, state) in records.iter().zip(states) {
        if state == KeyState::Retired {
            continue;
        }
        let der = STANDARD
            .decode(&record.private_key)
            .map_err(|e| Error::Corrupt(format!("signing key {}: {e}", record.kid)))?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|e| Error::Corrupt(format!("signing key {}: {e}", record.kid)))?;
        if kid_of(&key) != record.kid {
            return Err(Error::Corrupt(format!(
                "signing key {} does not match its id",
                record.kid
            )));
        }
        let x = b64url(key.verifying_key().as_bytes());
        trusted.push((record.kid.clone(), DecodingKey::from_ed_components(&x)?));
        jwks.keys.push(public_jwk(&record.kid, x));
        if matches!(state, KeyState::Signing | KeyState::Next) {
            signers.push(Signer {
                kid: record.kid.clone(),
                from: activation(record),
                encoding: EncodingKey::from_ed_der(&der),
            });
        }
    }
    if signers.is_empty() {
        return Err(Error::Corrupt("no signing key is stored".into()));
    }
    verifier.set_keys(trusted);
    Ok(KeySet { signers, jwks })
}

/// The keys of a PEM file of PKCS#8 Ed25519 private keys: the first signs, the others
/// verify. The file must be readable by its owner only (it is refused, naming the fix,
/// when group or others may read or write it). Returns the set and when the file was
/// last written (RFC 3339).
fn load_file(path: &std::path::Path, verifier: &Verifier) -> Result<(KeySet, String), Error> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::KeyFile(format!("signing key file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Error::KeyFile(format!(
            "signing key file {shown} is not a file (a directory?): name the PEM file itself"
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::KeyFile(format!(
            "signing key file {shown} may be read or written by others (mode {:o}): \
             `chmod 600` it",
            mode & 0o777
        )));
    }
    let written = meta
        .modified()
        .map(|t| events::envelope::to_rfc3339(t.into()))
        .unwrap_or_default();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::KeyFile(format!("signing key file {shown}: {e}")))?;
    const END: &str = "-----END PRIVATE KEY-----";
    let mut signers = Vec::new();
    let mut jwks = Jwks { keys: Vec::new() };
    let mut trusted = Vec::new();
    for block in text.split_inclusive(END).filter(|b| b.contains(END)) {
        let key = SigningKey::from_pkcs8_pem(block.trim()).map_err(|e| {
            // Of another algorithm (an RSA key), the library names the OID it wanted,
            // Ed25519's, as if that were the one it met: said plainly instead.
            let why = e.to_string();
            let why = if why.contains("algorithm") {
                "it is a key of another algorithm".to_owned()
            } else {
                why
            };
            Error::KeyFile(format!(
                "signing key file {shown}: key {} is not a PKCS#8 Ed25519 key ({why}; \
                 make one with `openssl genpkey -algorithm ed25519`)",
                jwks.keys.len() + 1
            ))
        })?;
        let kid = kid_of(&key);
        let x = b64url(key.verifying_key().as_bytes());
        trusted.push((kid.clone(), DecodingKey::from_ed_components(&x)?));
        jwks.keys.push(public_jwk(&kid, x));
        if signers.is_empty() {
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::KeyFile(format!("signing key file {shown}: {e}")))?;
            signers.push(Signer {
                kid,
                from: chrono::DateTime::<chrono::Utc>::MIN_UTC,
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
            });
        }
    }
    if signers.is_empty() {
        return Err(Error::KeyFile(format!(
            "signing key file {shown} holds no PEM `PRIVATE KEY`"
        )));
    }
    // A key taken out of the file verifies no more once it is read again.
    verifier.set_keys(trusted);
    Ok((KeySet { signers, jwks }, written))
}

/// A public key as a JWK.
fn public_jwk(kid: &str, x: String) -> PublicJwk {
    PublicJwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x,
        kid: kid.to_owned(),
        alg: "EdDSA".into(),
        use_: "sig".into(),
    }
}

/// A fresh refresh token and the SHA-256 hash under which it is stored; the token itself
/// is never stored.
pub fn new_refresh_token() -> Result<(String, String), Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = b64url(&bytes);
    let hash = refresh_token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The key id: the first 16 hex digits of the SHA-256 of the public key.
fn kid_of(key: &SigningKey) -> String {
    let mut h = hex(&Sha256::digest(key.verifying_key().as_bytes()));
    h.truncate(16);
    h
}

/// Base64url without padding, as JOSE uses.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in base64url without padding");
        assert_eq!(ha, refresh_token_hash(&a));
        assert_eq!(ha.len(), 64);
        assert_ne!(ha, a);
    }

    #[test]
    fn kid_is_16_hex_digits_of_the_public_key_hash() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let kid = kid_of(&key);
        assert_eq!(kid.len(), 16);
        assert!(kid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(kid, kid_of(&SigningKey::from_bytes(&[7u8; 32])));
        assert_ne!(kid, kid_of(&SigningKey::from_bytes(&[8u8; 32])));
    }

    #[test]
    fn published_keys_parse_as_a_jwk_set() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let jwks = Jwks {
            keys: vec![PublicJwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: b64url(key.verifying_key().as_bytes()),
                kid: kid_of(&key),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            }],
        };
        let json = serde_json::to_value(&jwks).unwrap();
        assert_eq!(json["keys"][0]["use"], "sig");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(json).unwrap();
        let jwk = set.find(&kid_of(&key)).unwrap();
        assert!(DecodingKey::from_jwk(jwk).is_ok());
    }

    fn record(kid: &str, activates_at: &str) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            private_key: String::new(),
            created_at: "2030-01-01T00:00:00.000Z".into(),
            activates_at: activates_at.into(),
        }
    }

    #[test]
    fn the_newest_key_due_signs_and_superseded_keys_verify_until_their_tokens_expire() {
        use KeyState::*;
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let keys = [
            record("a", "2030-01-01T00:00:00.000Z"),
            record("b", "2030-01-02T00:00:00.000Z"),
            record("c", "2030-01-03T00:00:00.000Z"),
        ];
        let ttl = 900;
        // Before c's time: b signs, c is published ahead, a verifies no more (b took
        // over a day ago, far longer than a token lives).
        assert_eq!(
            states(&keys, at("2030-01-02T12:00:00Z"), ttl),
            [Retired, Signing, Next]
        );
        // Just after c's time: b's tokens are still valid for the TTL plus leeway...
        assert_eq!(
            states(&keys, at("2030-01-03T00:10:00Z"), ttl),
            [Retired, Verifying, Signing]
        );
        assert_eq!(
            states(&keys, at("2030-01-03T00:15:59Z"), ttl),
            [Retired, Verifying, Signing]
        );
        // ...and then b is retired too.
        assert_eq!(
            states(&keys, at("2030-01-03T00:16:01Z"), ttl),
            [Retired, Retired, Signing]
        );
        // A clock behind every key's time: the first one signs rather than none.
        assert_eq!(
            states(&keys, at("2029-12-31T00:00:00Z"), ttl),
            [Signing, Next, Next]
        );
    }
}
