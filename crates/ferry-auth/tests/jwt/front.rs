//! The authenticator front: routing between tokens and JWTs, no secret in errors.

use ferry_auth::{AuthError, Authenticator, JwtError, Role, TokenStore, token_line};

use crate::fixture::{NOW, fixture};

#[test]
fn authenticator_routes_and_never_echoes_the_secret() {
    let f = fixture();
    let token = "fy1_not-a-real-token-but-long-enough";
    let auth = Authenticator::new()
        .with_tokens(TokenStore::parse(&token_line(Role::Client, "*", token).unwrap()).unwrap())
        .with_jwt(f.verifier.clone());
    auth.verify(Role::Client, "edge-9", token, NOW).unwrap();
    assert_eq!(
        auth.verify(Role::Agent, "edge-9", token, NOW),
        Err(AuthError::UnknownToken)
    );
    let jwt = f.sign(&f.spec(Role::Client));
    auth.verify(Role::Client, "edge-1", &jwt, NOW).unwrap();
    let err = auth.verify(Role::Agent, "edge-1", &jwt, NOW).unwrap_err();
    assert!(matches!(err, AuthError::Jwt(JwtError::Role { .. })));
    for e in [
        auth.verify(Role::Agent, "edge-1", &jwt, NOW).unwrap_err(),
        auth.verify(Role::Agent, "edge-1", token, NOW).unwrap_err(),
    ] {
        let line = ferry_auth_error_line(&e);
        assert!(
            !line.contains(token) && !line.contains(&jwt[..20]),
            "{line}"
        );
    }
    assert_eq!(
        auth.verify(Role::Client, "", token, NOW),
        Err(AuthError::InvalidAgentId)
    );
    assert_eq!(
        auth.verify(Role::Client, "a:b", token, NOW),
        Err(AuthError::InvalidAgentId)
    );
    assert_eq!(
        auth.verify(Role::Client, "edge-1", "", NOW),
        Err(AuthError::Empty)
    );
    assert!(matches!(
        auth.verify(Role::Client, "edge-1", &"x".repeat(9000), NOW),
        Err(AuthError::TooLong { .. })
    ));
    let tokens_only = Authenticator::new().with_tokens(TokenStore::default());
    assert_eq!(
        tokens_only.verify(Role::Client, "edge-1", &jwt, NOW),
        Err(AuthError::JwtNotConfigured)
    );
    let jwt_only = Authenticator::new().with_jwt(f.verifier);
    assert_eq!(
        jwt_only.verify(Role::Client, "edge-1", token, NOW),
        Err(AuthError::TokensNotConfigured)
    );
    assert!(!Authenticator::new().is_configured());
}

fn ferry_auth_error_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
