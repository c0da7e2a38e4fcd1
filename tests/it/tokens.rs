//! JWT access tokens with real signatures (keys generated per test run): every way a token can
//! be wrong gets a 401 or 403 and never data; the right token reads its own patient only.

use crate::harness::{spawn_scoped, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value as Json};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const ISSUER: &str = "https://as.demo-his.test";
const AUDIENCE: &str = "https://dva.demo-his.test/fhir";
const SCOPE: &str = "demo-his~49";

/// The authorization server's keys: one P-256 and one RSA key, and their JWKS.
struct Keys {
    ec: EcdsaKeyPair,
    rsa: RsaKeyPair,
    jwks: Json,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("EC key");
        let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("EC");
        // ring cannot generate RSA keys; the openssl command-line tool can.
        let der = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER"])
            .output()
            .expect("openssl genpkey")
            .stdout;
        // With -outform DER, openssl writes PKCS#1 RSAPrivateKey.
        let rsa = RsaKeyPair::from_der(&der).expect("RSA key");
        let point = ec.public_key().as_ref();
        let rsa_public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig", "x": b64(&point[1..33]), "y": b64(&point[33..65])},
            {"kty": "RSA", "kid": "rsa-1", "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        ]});
        Keys { ec, rsa, jwks }
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn b64_json(v: &Json) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token signed with `alg` by the matching key (`kid` as given).
fn sign(alg: &str, kid: &str, claims: &Json) -> String {
    sign_with_header(json!({"alg": alg, "kid": kid, "typ": "JWT"}), claims)
}

/// A token with this JOSE header, signed by the key its `alg` names.
fn sign_with_header(header: Json, claims: &Json) -> String {
    let alg = header["alg"].as_str().unwrap_or_default().to_owned();
    let alg = alg.as_str();
    let signing_input = format!("{}.{}", b64_json(&header), b64_json(claims));
    let rng = SystemRandom::new();
    let signature = match alg {
        "ES256" => keys().ec.sign(&rng, signing_input.as_bytes()).expect("sign").as_ref().to_vec(),
        "RS256" | "PS256" => {
            let padding: &dyn signature::RsaEncoding =
                if alg == "RS256" { &signature::RSA_PKCS1_SHA256 } else { &signature::RSA_PSS_SHA256 };
            let mut sig = vec![0; keys().rsa.public().modulus_len()];
            keys().rsa.sign(padding, &rng, signing_input.as_bytes(), &mut sig).expect("sign");
            sig
        }
        other => panic!("test cannot sign {other}"),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims(bsn: &str) -> Json {
    json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "nbf": now() - 10, "bsn": bsn, "scope": SCOPE, "client_id": "pgo.test"})
}

fn with(mut base: Json, key: &str, value: Json) -> Json {
    base[key] = value;
    base
}

fn spawn_jwt() -> TestApp {
    spawn_scoped(
        &format!("mode = \"jwt\"\njwks_file = \"jwks.json\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\""),
        |dir| std::fs::write(dir.join("jwks.json"), keys().jwks.to_string()).expect("jwks"),
    )
}

/// HMAC-SHA256 with the RSA public key as the secret: the classic algorithm-confusion forgery.
fn hs256_with_public_key(claims: &Json) -> String {
    let input = format!("{}.{}", b64_json(&json!({"alg": "HS256", "kid": "rsa-1"})), b64_json(claims));
    let secret = keys().jwks.to_string();
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[test]
fn valid_tokens_read_their_own_patient_and_every_bad_token_is_refused() {
    let app = spawn_jwt();
    let bsn = app.tokens[0].bsn.clone();
    let other_bsn = app.tokens[1].bsn.clone();
    let good = claims(&bsn);

    let own_patient = |token: &str| {
        let reply = app.get("Patient", Some(token));
        assert_eq!(reply.status, 200, "{}", reply.text);
        crate::harness::resources(&reply.body)
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let mine = own_patient(&sign("ES256", "ec-1", &good));
    assert_eq!(mine.len(), 1);
    assert_eq!(own_patient(&sign("RS256", "rsa-1", &good)), mine);
    assert_eq!(own_patient(&sign("PS256", "rsa-1", &good)), mine);
    assert_ne!(own_patient(&sign("ES256", "ec-1", &claims(&other_bsn))), mine, "another BSN, another patient");
    assert_eq!(
        own_patient(&sign("ES256", "ec-1", &with(good.clone(), "scope", json!("demo-his")))),
        mine,
        "a bare provider scope"
    );
    assert_eq!(
        own_patient(&sign("ES256", "ec-1", &with(good.clone(), "aud", json!(["x", AUDIENCE])))),
        mine,
        "aud as a list"
    );

    let valid = sign("ES256", "ec-1", &good);
    let (header, rest) = valid.split_once('.').expect("jws");
    let signature = rest.split_once('.').expect("jws").1;
    let refused: Vec<(&str, String, u16)> = vec![
        ("expired", sign("ES256", "ec-1", &with(good.clone(), "exp", json!(now() - 120))), 401),
        ("not yet valid", sign("ES256", "ec-1", &with(good.clone(), "nbf", json!(now() + 600))), 401),
        ("no exp", sign("ES256", "ec-1", &with(good.clone(), "exp", Json::Null)), 401),
        ("wrong iss", sign("ES256", "ec-1", &with(good.clone(), "iss", json!("https://evil.test"))), 401),
        ("wrong aud", sign("ES256", "ec-1", &with(good.clone(), "aud", json!("https://other-dva.test"))), 401),
        ("unknown kid", sign("ES256", "ec-9", &good), 401),
        ("key of another type", sign("ES256", "rsa-1", &good), 401),
        ("tampered payload", format!("{header}.{}.{signature}", b64_json(&claims(&other_bsn))), 401),
        ("alg none", format!("{}.{}.", b64_json(&json!({"alg": "none", "kid": "ec-1"})), b64_json(&good)), 401),
        ("HS256 with the public key", hs256_with_public_key(&good), 401),
        ("no patient claim", sign("ES256", "ec-1", &with(good.clone(), "bsn", Json::Null)), 401),
        ("not a BSN", sign("ES256", "ec-1", &with(good.clone(), "bsn", json!("123456789"))), 401),
        ("no scope", sign("ES256", "ec-1", &with(good.clone(), "scope", Json::Null)), 401),
        ("another data service", sign("ES256", "ec-1", &with(good.clone(), "scope", json!("demo-his~50"))), 403),
        ("another provider", sign("ES256", "ec-1", &with(good.clone(), "scope", json!("other-gp~49 other-gp"))), 403),
        ("garbage", "abc.def.ghi".to_owned(), 401),
        // RFC 7515 4.1.11: critical extensions this server does not understand are refused.
        (
            "crit: an unknown extension",
            sign_with_header(json!({"alg": "ES256", "kid": "ec-1", "crit": ["x-unknown"], "x-unknown": 1}), &good),
            401,
        ),
        ("crit: an empty list", sign_with_header(json!({"alg": "ES256", "kid": "ec-1", "crit": []}), &good), 401),
        ("crit: naming exp", sign_with_header(json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"]}), &good), 401),
    ];
    for (what, token, status) in refused {
        let reply = app.get("Observation?_count=5", Some(&token));
        assert_eq!(reply.status, status, "{what}: {}", reply.text);
        assert_eq!(reply.body["resourceType"], "OperationOutcome", "{what}");
        assert!(!reply.text.contains(&bsn), "{what}: a BSN in the answer");
    }
}

#[test]
fn a_rotated_key_is_picked_up_without_a_restart() {
    let app = spawn_jwt();
    let bsn = app.tokens[0].bsn.clone();
    let token = sign("ES256", "ec-2", &claims(&bsn));
    // The authorization server publishes the same key under a new kid.
    let mut jwks = keys().jwks.clone();
    let mut rotated = jwks["keys"][0].clone();
    rotated["kid"] = json!("ec-2");
    jwks["keys"].as_array_mut().expect("keys").push(rotated);
    std::fs::write(app.dir.path().join("jwks.json"), jwks.to_string()).expect("jwks");
    assert_eq!(app.get("Patient", Some(&token)).status, 200);
}

#[test]
fn keys_can_come_from_the_authorization_servers_jwks_url() {
    let endpoint = crate::introspection::start_endpoint([(String::new(), keys().jwks.clone())].into());
    let (ca, port) = (endpoint.ca.pem(), endpoint.port);
    let app = spawn_scoped(
        &format!(
            "mode = \"jwt\"\njwks_url = \"https://localhost:{port}/jwks\"\nca_file = \"as-ca.pem\"\n\
             issuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\""
        ),
        |dir| std::fs::write(dir.join("as-ca.pem"), &ca).expect("ca"),
    );
    let token = sign("RS256", "rsa-1", &claims(&app.tokens[0].bsn));
    assert_eq!(app.get("Patient", Some(&token)).status, 200);
    assert_eq!(app.get("Patient", Some(&sign("ES256", "ec-7", &claims(&app.tokens[0].bsn)))).status, 401);
}

#[test]
fn static_tokens_are_refused_in_production_unless_allowed() {
    let dir = tempfile::tempdir().expect("dir");
    let config =
        crate::harness::write_config(dir.path(), &crate::harness::demo_db().path, &crate::harness::repo_mappings());
    crate::harness::write_tokens(&dir.path().join("tokens.json"), &crate::harness::demo_db().tokens);
    let text = std::fs::read_to_string(&config).expect("config").replace("production = false\n", "");
    std::fs::write(&config, &text).expect("config");
    let errors = dva_connector::runtime::Snapshot::load(&config).err().expect("refused in production");
    assert!(errors.iter().any(|d| d.message.contains("static tokens are for qualification and tests")), "{errors:?}");
    std::fs::write(
        &config,
        text.replace("mode = \"static\"", "mode = \"static\"\nallow_static_tokens_in_production = true"),
    )
    .expect("config");
    assert!(dva_connector::runtime::Snapshot::load(&config).is_ok(), "explicitly allowed");
}

/// Regression: with two `Authorization` headers the first one's patient was served. Which of
/// two tokens counts is not the server's to guess: 400, no data.
#[test]
fn two_authorization_headers_are_a_bad_request() {
    let app = crate::harness::spawn_app();
    let (mine, other) = (app.token(0).to_owned(), app.token(1).to_owned());
    let request = format!(
        "GET {}/Patient HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {mine}\r\nAuthorization: Bearer {other}\r\nConnection: close\r\n\r\n",
        crate::harness::BASE_PATH
    );
    let responses = crate::harness::exchange(&app, request.as_bytes());
    assert_eq!(responses.len(), 1, "{responses:?}");
    let (status, response) = &responses[0];
    assert_eq!(*status, 400, "{response}");
    assert!(response.contains("OperationOutcome") && response.contains("more than one Authorization header"));
    assert!(!response.contains("\"Patient\""), "no data: {response}");
}
