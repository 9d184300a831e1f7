//! JWTs and keys made by independent tools verify here: OpenSSL 3.0 (ES256 signed with
//! `openssl dgst -sha256 -sign`, DER converted to `r || s`; EdDSA signed with
//! `openssl pkeyutl -sign -rawin`) and RFC 8037 appendix A.4.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_auth::{
    Algorithm, JwtConfig, JwtError, JwtSpec, JwtVerifier, KeyError, Role, SigningKey, VerifyingKey,
    sign_jwt,
};
use ring::rand::SystemRandom;

const NOW: u64 = 1_800_000_000;

/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`, then `openssl pkey -pubout`.
const OPENSSL_EC_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3xmulKj6AUL2nF9E/KN0vWZMfqKZ
FYLk1wq8ekndXBBUIqY9rp3WlXzX37D2M9uVH/eh5uvJyeYhDBJxm+Vn+g==
-----END PUBLIC KEY-----
";
/// Header `{"alg":"ES256","typ":"JWT","kid":"openssl-1"}`, claims `{"role":"client",
/// "agent_id":"edge-1","exp":4102444800,"aud":"ferry-test","sub":"openssl"}`.
const OPENSSL_ES256_JWT: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im9wZW5zc2wtMSJ9.eyJyb2xlIjoiY2xpZW50IiwiYWdlbnRfaWQiOiJlZGdlLTEiLCJleHAiOjQxMDI0NDQ4MDAsImF1ZCI6ImZlcnJ5LXRlc3QiLCJzdWIiOiJvcGVuc3NsIn0.6Vc-9-qrCzxRLSDjAbd78hhZxDEKTO0BUSQ2fI2lS7G0LFH6MHBVVAxGM_3j1SYx4CLJC6fPIOZwBMcMM2usEw";

/// `openssl genpkey -algorithm ed25519` (a PKCS#8 v1 document, without the public key).
const OPENSSL_ED_PRIV: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEArWVDzn9bGV3F6SyFz0B92cnrea7+wye6i/YmfUVvv
-----END PRIVATE KEY-----
";
const OPENSSL_ED_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAFnqB4zlFceESInKlJ8j9jDZ1h6p9AQZFFs4wAlej/Ng=
-----END PUBLIC KEY-----
";
/// Header `{"alg":"EdDSA","typ":"JWT"}`, claims `{"role":"agent","agent_id":"edge-1",
/// "exp":4102444800,"nbf":1700000000}`.
const OPENSSL_EDDSA_JWT: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWdlbnQiLCJhZ2VudF9pZCI6ImVkZ2UtMSIsImV4cCI6NDEwMjQ0NDgwMCwibmJmIjoxNzAwMDAwMDAwfQ.nZzacTakGNijp2dZKdKZICcNokdoPm4mJW-2VWhwZamg8uB_jnQFpfqiN-FJ18OgVCSyltzQk9gr0GAg04AaDQ";

#[test]
fn openssl_es256_token_verifies() {
    let keys = VerifyingKey::from_pem(OPENSSL_EC_PUB, Some("openssl-1")).unwrap();
    assert_eq!(keys[0].algorithm(), Algorithm::Es256);
    let v = JwtVerifier::new(keys, JwtConfig::default().with_audience("ferry-test"));
    let id = v
        .verify(OPENSSL_ES256_JWT, Role::Client, "edge-1", NOW)
        .unwrap();
    assert_eq!(id.subject.as_deref(), Some("openssl"));
    assert_eq!(id.expires_at, Some(4_102_444_800));
    assert_eq!(
        v.verify(OPENSSL_ES256_JWT, Role::Client, "edge-1", 4_102_444_861),
        Err(JwtError::Expired)
    );
}

#[test]
fn openssl_eddsa_token_and_v1_private_key() {
    let keys = VerifyingKey::from_pem(OPENSSL_ED_PUB, None).unwrap();
    let v = JwtVerifier::new(keys, JwtConfig::default());
    v.verify(OPENSSL_EDDSA_JWT, Role::Agent, "edge-1", NOW)
        .unwrap();
    assert_eq!(
        v.verify(OPENSSL_EDDSA_JWT, Role::Agent, "edge-1", 1_699_999_000),
        Err(JwtError::NotYetValid)
    );
    // The OpenSSL private key loads, signs, and its public key is OpenSSL's.
    let rng = SystemRandom::new();
    let s = SigningKey::from_pem(OPENSSL_ED_PRIV, None, &rng).unwrap();
    assert_eq!(
        s.verifying_key(),
        VerifyingKey::from_pem(OPENSSL_ED_PUB, None).unwrap()[0]
    );
    let t = sign_jwt(&s, &JwtSpec::new(Role::Agent, "edge-1", 60), NOW, &rng).unwrap();
    v.verify(&t, Role::Agent, "edge-1", NOW).unwrap();
}

#[test]
fn rfc8037_a4_signature_verifies() {
    // RFC 8037 A.1 public key x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo as SPKI.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend(
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        )
        .unwrap(),
    );
    let v = JwtVerifier::new(
        vec![VerifyingKey::from_spki_der(&spki, None).unwrap()],
        JwtConfig::default(),
    );
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    // The signature verifies; the payload is text, not claims, so it then fails as JSON.
    assert_eq!(
        v.verify(jws, Role::Agent, "edge-1", NOW),
        Err(JwtError::Json { part: "payload" })
    );
    let tampered = jws.replace("RXhh", "RXhi");
    assert_eq!(
        v.verify(&tampered, Role::Agent, "edge-1", NOW),
        Err(JwtError::Signature)
    );
}

#[test]
fn unsupported_keys_are_refused() {
    // P-384 (openssl genpkey ... P-384) and a compressed P-256 point (openssl ec
    // -conv_form compressed): both refused.
    let p384 = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEB3s4Fj1YBk3tmHK4wvPwW72jVp/nmcEX
ROajKDP5OtKyGDCr9LEsGpVHaHufijITLma7q74fhsufFYjvLfEjpECIBElYkvWV
fgWVqQ+0/dboCCDnVkC1BiBEAtY2ZxY/
-----END PUBLIC KEY-----
";
    let compressed = "-----BEGIN PUBLIC KEY-----
MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgAC3xmulKj6AUL2nF9E/KN0vWZMfqKZ
FYLk1wq8ekndXBA=
-----END PUBLIC KEY-----
";
    assert_eq!(VerifyingKey::from_pem(p384, None), Err(KeyError::PublicKey));
    assert_eq!(
        VerifyingKey::from_pem(compressed, None),
        Err(KeyError::PublicKey)
    );
    assert!(VerifyingKey::from_pem("no pem here", None).is_err());
    assert!(VerifyingKey::from_pem(OPENSSL_EC_PUB, Some("")).is_err());
    let rng = SystemRandom::new();
    assert!(SigningKey::from_pem(OPENSSL_EC_PUB, None, &rng).is_err());
}
