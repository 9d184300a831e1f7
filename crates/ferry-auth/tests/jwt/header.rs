//! Attacks on the header, the encoding and the signature.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ferry_auth::{
    Algorithm, JwtConfig, JwtError, JwtSpec, JwtVerifier, MAX_JWT_LEN, Role, SigningKey,
    VerifyingKey, generate_key_pair, sign_jwt,
};
use ring::rand::SystemRandom;

use crate::fixture::{ES_HEADER, NOW, claims, ferry_auth_test_pkcs8, fixture};

#[test]
fn valid_token_is_accepted() {
    let f = fixture();
    let id = f
        .verify(&f.sign(&f.spec(Role::Client)), Role::Client)
        .unwrap();
    assert_eq!(id.agent_id, "edge-1");
    assert_eq!(id.expires_at, Some(NOW + 600));
    // And a hand-built one with the same key, with a fractional exp.
    let t = f.sign_raw(ES_HEADER, &claims(&format!(r#","exp":{}.5"#, NOW + 1)));
    f.verify(&t, Role::Client).unwrap();
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let payload = B64.encode(claims(&format!(r#","exp":{}"#, NOW + 60)));
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let h = B64.encode(header);
        // With an empty signature (the unsecured form) and with a dummy one.
        assert_eq!(
            f.verify(&format!("{h}.{payload}."), Role::Client),
            Err(JwtError::Malformed)
        );
        assert!(matches!(
            f.verify(&format!("{h}.{payload}.AAAA"), Role::Client),
            Err(JwtError::Algorithm { .. })
        ));
    }
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let f = fixture();
    let h = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let p = B64.encode(claims(&format!(r#","exp":{}"#, NOW + 60)));
    let msg = format!("{h}.{p}");
    for secret in [
        f.es_pem.public_spki_pem.as_bytes().to_vec(),
        ferry_auth_test_pkcs8(&f.es_pem.public_spki_pem),
    ] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, msg.as_bytes());
        let token = format!("{msg}.{}", B64.encode(tag.as_ref()));
        assert_eq!(
            f.verify(&token, Role::Client),
            Err(JwtError::Algorithm {
                alg: "HS256".into()
            })
        );
    }
}

#[test]
fn other_algorithms_are_refused() {
    let f = fixture();
    let good = f.sign(&f.spec(Role::Client));
    let rest = good.split_once('.').unwrap().1;
    for alg in [
        "RS256", "PS256", "ES384", "ES512", "HS512", "es256", "ES256 ", "Ed25519",
    ] {
        let h = B64.encode(format!(r#"{{"alg":"{alg}"}}"#));
        assert_eq!(
            f.verify(&format!("{h}.{rest}"), Role::Client),
            Err(JwtError::Algorithm { alg: alg.into() }),
            "{alg}"
        );
    }
}

#[test]
fn algorithm_must_match_the_key_type() {
    // An EdDSA token against an ES256-only verifier: no candidate key.
    let f = fixture();
    let ed = generate_key_pair(Algorithm::EdDsa, &f.rng).unwrap();
    let ed_signer = SigningKey::from_pem(&ed.private_pkcs8_pem, None, &f.rng).unwrap();
    let t = sign_jwt(&ed_signer, &f.spec(Role::Client), NOW, &f.rng).unwrap();
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::NoKey));
    // An ES256 signature relabelled EdDSA, against a verifier holding both keys: the Ed25519
    // key is tried and fails.
    let both: Vec<VerifyingKey> = [&f.es_pem.public_spki_pem, &ed.public_spki_pem]
        .iter()
        .flat_map(|p| VerifyingKey::from_pem(p, None).unwrap())
        .collect();
    let v = JwtVerifier::new(both, JwtConfig::default().with_audience("ferry"));
    let good = f.sign(&f.spec(Role::Client));
    let (_, rest) = good.split_once('.').unwrap();
    let relabelled = format!("{}.{rest}", B64.encode(r#"{"alg":"EdDSA"}"#));
    assert_eq!(
        v.verify(&relabelled, Role::Client, "edge-1", NOW),
        Err(JwtError::Signature)
    );
    v.verify(&good, Role::Client, "edge-1", NOW).unwrap();
    v.verify(&t, Role::Client, "edge-1", NOW).unwrap();
}

#[test]
fn crit_header_is_refused() {
    let f = fixture();
    let p = claims(&format!(r#","exp":{}"#, NOW + 60));
    for h in [
        r#"{"alg":"ES256","crit":["exp"]}"#,
        r#"{"alg":"ES256","crit":null}"#,
    ] {
        assert_eq!(
            f.verify(&f.sign_raw(h, &p), Role::Client),
            Err(JwtError::Crit)
        );
    }
}

#[test]
fn duplicate_alg_is_refused() {
    let f = fixture();
    let p = claims(&format!(r#","exp":{}"#, NOW + 60));
    let t = f.sign_raw(r#"{"alg":"none","alg":"ES256"}"#, &p);
    assert_eq!(
        f.verify(&t, Role::Client),
        Err(JwtError::Json { part: "header" })
    );
}

#[test]
fn tampered_payload_or_signature_is_refused() {
    let f = fixture();
    let t = f.sign(&f.spec(Role::Client));
    let parts: Vec<&str> = t.split('.').collect();
    let forged = B64.encode(claims(&format!(r#","exp":{}"#, NOW + 999_999)));
    assert_eq!(
        f.verify(&format!("{}.{forged}.{}", parts[0], parts[2]), Role::Client),
        Err(JwtError::Signature)
    );
    // Flip one bit of the signature.
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let t2 = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
    assert_eq!(f.verify(&t2, Role::Client), Err(JwtError::Signature));
    // A DER (ASN.1) signature instead of r||s is the wrong form.
    sig.truncate(63);
    let t3 = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
    assert_eq!(f.verify(&t3, Role::Client), Err(JwtError::Signature));
}

#[test]
fn truncated_oversized_and_garbage_are_refused() {
    let f = fixture();
    let t = f.sign(&f.spec(Role::Client));
    for cut in [
        0,
        1,
        10,
        t.find('.').unwrap(),
        t.find('.').unwrap() + 1,
        t.rfind('.').unwrap() + 1,
    ] {
        let err = f.verify(&t[..cut], Role::Client).unwrap_err();
        assert!(
            matches!(
                err,
                JwtError::Malformed | JwtError::Base64 { .. } | JwtError::Json { .. }
            ),
            "{cut}: {err:?}"
        );
    }
    // 84 of 86 characters: 63 bytes, valid base64, short signature.
    assert_eq!(
        f.verify(&t[..t.len() - 2], Role::Client),
        Err(JwtError::Signature)
    );
    // Non-zero trailing bits in the last character (value 1, `B`) are refused, so a signature
    // has exactly one encoding.
    let noncanonical = format!("{}B", &t[..t.len() - 1]);
    assert_eq!(
        f.verify(&noncanonical, Role::Client),
        Err(JwtError::Base64 { part: "signature" })
    );
    let big = format!("{t}{}", "A".repeat(MAX_JWT_LEN));
    assert_eq!(
        f.verify(&big, Role::Client),
        Err(JwtError::TooLong {
            len: big.len(),
            max: MAX_JWT_LEN
        })
    );
    assert_eq!(f.verify("a.b.c.d", Role::Client), Err(JwtError::Malformed));
    assert_eq!(
        f.verify("!!!.e30.AA", Role::Client),
        Err(JwtError::Base64 { part: "header" })
    );
    assert_eq!(
        f.verify("eyJhbGciOiJFUzI1NiJ9=.e30.AA", Role::Client),
        Err(JwtError::Base64 { part: "header" })
    );
    assert_eq!(
        f.verify("e30.e30.AA", Role::Client),
        Err(JwtError::Json { part: "header" })
    );
    assert_eq!(
        f.verify("W10.e30.AA", Role::Client),
        Err(JwtError::Json { part: "header" })
    );
    let (h, rest) = t.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    assert_eq!(
        f.verify(&format!("{h}.e30.!{s}"), Role::Client),
        Err(JwtError::Base64 { part: "signature" })
    );
}

#[test]
fn kid_selects_among_rotated_keys() {
    let rng = SystemRandom::new();
    let a = generate_key_pair(Algorithm::Es256, &rng).unwrap();
    let b = generate_key_pair(Algorithm::Es256, &rng).unwrap();
    let mut keys = VerifyingKey::from_pem(&a.public_spki_pem, Some("a")).unwrap();
    keys.extend(VerifyingKey::from_pem(&b.public_spki_pem, Some("b")).unwrap());
    let v = JwtVerifier::new(keys, JwtConfig::default());
    let spec = JwtSpec::new(Role::Agent, "edge-1", 60);
    for (pem, kid) in [(&a, "a"), (&b, "b")] {
        let s = SigningKey::from_pem(&pem.private_pkcs8_pem, Some(kid), &rng).unwrap();
        v.verify(
            &sign_jwt(&s, &spec, NOW, &rng).unwrap(),
            Role::Agent,
            "edge-1",
            NOW,
        )
        .unwrap();
        // Unknown kid: no candidate.
        let s = SigningKey::from_pem(&pem.private_pkcs8_pem, Some("c"), &rng).unwrap();
        assert_eq!(
            v.verify(
                &sign_jwt(&s, &spec, NOW, &rng).unwrap(),
                Role::Agent,
                "edge-1",
                NOW
            ),
            Err(JwtError::NoKey)
        );
    }
    // Key b's token claiming kid a: only key a is tried, and fails.
    let s = SigningKey::from_pem(&b.private_pkcs8_pem, Some("a"), &rng).unwrap();
    assert_eq!(
        v.verify(
            &sign_jwt(&s, &spec, NOW, &rng).unwrap(),
            Role::Agent,
            "edge-1",
            NOW
        ),
        Err(JwtError::Signature)
    );
}
