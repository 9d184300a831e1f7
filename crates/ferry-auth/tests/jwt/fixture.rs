//! The fixture: an ES256 key pair, a verifier with audience `ferry`, and raw signing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ferry_auth::{
    Algorithm, JwtConfig, JwtError, JwtSpec, JwtVerifier, Role, SigningKey, VerifyingKey,
    generate_key_pair, sign_jwt,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

pub(crate) const NOW: u64 = 1_800_000_000;

pub(crate) struct Fixture {
    pub(crate) rng: SystemRandom,
    pub(crate) es_pem: ferry_auth::KeyPairPem,
    pub(crate) signer: SigningKey,
    pub(crate) verifier: JwtVerifier,
}

pub(crate) fn fixture() -> Fixture {
    let rng = SystemRandom::new();
    let es_pem = generate_key_pair(Algorithm::Es256, &rng).unwrap();
    let signer = SigningKey::from_pem(&es_pem.private_pkcs8_pem, None, &rng).unwrap();
    let keys = VerifyingKey::from_pem(&es_pem.public_spki_pem, None).unwrap();
    let verifier = JwtVerifier::new(keys, JwtConfig::default().with_audience("ferry"));
    Fixture {
        rng,
        es_pem,
        signer,
        verifier,
    }
}

impl Fixture {
    pub(crate) fn spec(&self, role: Role) -> JwtSpec {
        JwtSpec::new(role, "edge-1", 600).with_audience("ferry")
    }

    pub(crate) fn sign(&self, spec: &JwtSpec) -> String {
        sign_jwt(&self.signer, spec, NOW, &self.rng).unwrap()
    }

    /// Signs an arbitrary header and payload with the configured P-256 key.
    pub(crate) fn sign_raw(&self, header: &str, payload: &str) -> String {
        let der = ferry_auth_test_pkcs8(&self.es_pem.private_pkcs8_pem);
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &self.rng).unwrap();
        let msg = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let sig = pair.sign(&self.rng, msg.as_bytes()).unwrap();
        format!("{msg}.{}", B64.encode(sig.as_ref()))
    }

    pub(crate) fn verify(&self, token: &str, role: Role) -> Result<ferry_auth::Identity, JwtError> {
        self.verifier.verify(token, role, "edge-1", NOW)
    }
}

pub(crate) fn ferry_auth_test_pkcs8(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

pub(crate) const ES_HEADER: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

pub(crate) fn claims(extra: &str) -> String {
    format!(r#"{{"role":"client","agent_id":"edge-1","aud":"ferry"{extra}}}"#)
}
