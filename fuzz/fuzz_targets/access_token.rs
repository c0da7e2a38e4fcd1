//! Any Authorization header through the JWT validator (ES256 key in a JWKS file) and the BSN
//! parser: every input is refused or accepted, never a panic. Half the inputs are built as
//! `base64url(header).base64url(payload).base64url(signature)` from three parts of the input,
//! so the claims checks behind the decoding are reached too.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dva_connector::auth::{Bsn, JwtValidator};
use dva_connector::config::{Algorithm, JwksSource, JwtSettings};
use libfuzzer_sys::fuzz_target;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

fn validator() -> &'static JwtValidator {
    static VALIDATOR: OnceLock<JwtValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key");
        let point = key.public_key().as_ref();
        let jwks = serde_json::json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        let path = std::env::temp_dir().join(format!("dva-fuzz-jwks-{}.json", std::process::id()));
        std::fs::write(&path, jwks.to_string()).expect("write JWKS");
        JwtValidator::load(&JwtSettings {
            jwks: JwksSource::File(path),
            issuer: "https://as.test".into(),
            audience: "https://dva.test".into(),
            algorithms: vec![Algorithm::Es256],
            patient_claim: "bsn".into(),
            scope_claim: "scope".into(),
            client_claim: "client_id".into(),
            max_clock_skew: Duration::from_secs(60),
        })
        .expect("validator")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Bsn::parse(&text);
    let header = if data.first().is_some_and(|b| b % 2 == 1) {
        let mut parts = data[1..].splitn(3, |b| *b == 0);
        let mut next = || URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
        format!("Bearer {}.{}.{}", next(), next(), next())
    } else {
        text.into_owned()
    };
    let _ = validator().authenticate(Some(&header), SystemTime::now());
});
