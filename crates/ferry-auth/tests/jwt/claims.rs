//! Attacks on the claims: time, audience, issuer, role, agent id.

use ferry_auth::{JwtConfig, JwtError, JwtSpec, JwtVerifier, Role, VerifyingKey};

use crate::fixture::{ES_HEADER, NOW, claims, fixture};

#[test]
fn expired_and_not_yet_valid_are_refused_with_leeway() {
    let f = fixture();
    let t = f.sign_raw(ES_HEADER, &claims(&format!(r#","exp":{}"#, NOW - 61)));
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::Expired));
    let t = f.sign_raw(ES_HEADER, &claims(&format!(r#","exp":{}"#, NOW - 60)));
    f.verify(&t, Role::Client).unwrap(); // within the 60 s leeway
    let t = f.sign_raw(ES_HEADER, &claims(r#","exp":-5"#));
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::Expired));
    let t = f.sign_raw(
        ES_HEADER,
        &claims(&format!(r#","exp":{},"nbf":{}"#, NOW + 600, NOW + 61)),
    );
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::NotYetValid));
    let t = f.sign_raw(
        ES_HEADER,
        &claims(&format!(r#","exp":{},"nbf":{}"#, NOW + 600, NOW + 60)),
    );
    f.verify(&t, Role::Client).unwrap();
}

#[test]
fn missing_or_mistyped_exp_is_refused() {
    let f = fixture();
    assert_eq!(
        f.verify(&f.sign_raw(ES_HEADER, &claims("")), Role::Client),
        Err(JwtError::MissingExp)
    );
    assert_eq!(
        f.verify(
            &f.sign_raw(ES_HEADER, &claims(r#","exp":null"#)),
            Role::Client
        ),
        Err(JwtError::MissingExp)
    );
    assert_eq!(
        f.verify(
            &f.sign_raw(ES_HEADER, &claims(r#","exp":"9999999999""#)),
            Role::Client
        ),
        Err(JwtError::Json { part: "payload" })
    );
}

#[test]
fn wrong_or_missing_audience_is_refused() {
    let f = fixture();
    let t = f.sign(&JwtSpec::new(Role::Client, "edge-1", 600).with_audience("other"));
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::Audience));
    let t = f.sign(&JwtSpec::new(Role::Client, "edge-1", 600));
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::Audience));
    let t = f.sign_raw(
        ES_HEADER,
        &format!(
            r#"{{"role":"client","agent_id":"edge-1","aud":["x","ferry"],"exp":{}}}"#,
            NOW + 9
        ),
    );
    f.verify(&t, Role::Client).unwrap();
}

#[test]
fn issuer_is_checked_when_configured() {
    let f = fixture();
    let keys = VerifyingKey::from_pem(&f.es_pem.public_spki_pem, None).unwrap();
    let v = JwtVerifier::new(keys, JwtConfig::default().with_issuer("ops"));
    let t = f.sign(&JwtSpec::new(Role::Client, "edge-1", 600).with_issuer("mallory"));
    assert_eq!(
        v.verify(&t, Role::Client, "edge-1", NOW),
        Err(JwtError::Issuer)
    );
    let t = f.sign(&JwtSpec::new(Role::Client, "edge-1", 600).with_issuer("ops"));
    v.verify(&t, Role::Client, "edge-1", NOW).unwrap();
}

#[test]
fn client_token_used_as_agent_is_refused() {
    let f = fixture();
    let t = f.sign(&f.spec(Role::Client));
    assert_eq!(
        f.verify(&t, Role::Agent),
        Err(JwtError::Role {
            expected: Role::Agent,
            got: Role::Client
        })
    );
    let t = f.sign_raw(
        ES_HEADER,
        &format!(r#"{{"agent_id":"edge-1","aud":"ferry","exp":{}}}"#, NOW + 9),
    );
    assert_eq!(f.verify(&t, Role::Agent), Err(JwtError::MissingRole));
    let t = f.sign_raw(
        ES_HEADER,
        &format!(
            r#"{{"role":"admin","agent_id":"edge-1","aud":"ferry","exp":{}}}"#,
            NOW + 9
        ),
    );
    assert_eq!(f.verify(&t, Role::Agent), Err(JwtError::MissingRole));
}

#[test]
fn agent_id_mismatch_is_refused() {
    let f = fixture();
    let t = f.sign(&f.spec(Role::Client));
    assert_eq!(
        f.verifier.verify(&t, Role::Client, "edge-2", NOW),
        Err(JwtError::AgentId)
    );
    assert_eq!(
        f.verifier.verify(&t, Role::Client, "EDGE-1", NOW),
        Err(JwtError::AgentId)
    );
    let t = f.sign_raw(
        ES_HEADER,
        &format!(r#"{{"role":"client","aud":"ferry","exp":{}}}"#, NOW + 9),
    );
    assert_eq!(f.verify(&t, Role::Client), Err(JwtError::MissingAgentId));
}
