//! `ferry-gateway token/jwt` logic: what it writes verifies with ferry-auth, secrets are never
//! written over existing files, and secret files are private.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_auth::{Authenticator, JwtConfig, JwtVerifier, Method, Role, TokenStore, VerifyingKey};
use ferry_cli::credentials::{
    AlgArg, CredentialsError, JwtCommand, RoleArg, TokenCommand, run_jwt, run_token,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-cred-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[allow(clippy::disallowed_methods)]
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn token_new_appends_a_line_that_verifies_the_printed_token() {
    let dir = scratch("token");
    let tokens = dir.join("tokens");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for agent in ["edge-1", "edge-2"] {
        out.clear();
        run_token(
            &TokenCommand::New {
                role: RoleArg::Client,
                agent_id: agent.into(),
                token_file: Some(tokens.clone()),
            },
            &mut out,
            &mut err,
        )
        .unwrap();
    }
    let token = String::from_utf8(out).unwrap().trim().to_owned();
    let text = std::fs::read_to_string(&tokens).unwrap();
    assert_eq!(text.lines().count(), 2, "appended, not overwritten");
    assert!(!text.contains(&token), "the file holds hashes only");
    let auth = Authenticator::new().with_tokens(TokenStore::parse(&text).unwrap());
    let id = auth.verify(Role::Client, "edge-2", &token, now()).unwrap();
    assert_eq!(id.method, Method::StaticToken);
    assert!(auth.verify(Role::Client, "edge-1", &token, now()).is_err());
    assert!(auth.verify(Role::Agent, "edge-2", &token, now()).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "token file is private: {mode:o}");
    }
}

#[test]
fn token_new_without_a_file_prints_the_line_on_stderr() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run_token(
        &TokenCommand::New {
            role: RoleArg::Agent,
            agent_id: "edge-9".into(),
            token_file: None,
        },
        &mut out,
        &mut err,
    )
    .unwrap();
    let token = String::from_utf8(out).unwrap().trim().to_owned();
    let err = String::from_utf8(err).unwrap();
    let line = err.lines().last().unwrap();
    let auth = Authenticator::new().with_tokens(TokenStore::parse(line).unwrap());
    assert!(auth.verify(Role::Agent, "edge-9", &token, now()).is_ok());
    // An invalid agent id is refused.
    let bad = run_token(
        &TokenCommand::New {
            role: RoleArg::Agent,
            agent_id: "has space".into(),
            token_file: None,
        },
        &mut Vec::new(),
        &mut Vec::new(),
    );
    assert!(matches!(bad, Err(CredentialsError::Key(_))));
}

#[test]
fn keygen_then_sign_verifies_for_both_algorithms() {
    for (alg, name) in [(AlgArg::Es256, "es256"), (AlgArg::Eddsa, "eddsa")] {
        let dir = scratch(name);
        let (private, public) = (dir.join("jwt.key"), dir.join("jwt.pub"));
        let keygen = JwtCommand::Keygen {
            alg,
            private: private.clone(),
            public: public.clone(),
        };
        run_jwt(&keygen, &mut Vec::new()).unwrap();
        // Never over an existing file.
        assert!(matches!(
            run_jwt(&keygen, &mut Vec::new()),
            Err(CredentialsError::File { .. })
        ));
        let mut out = Vec::new();
        run_jwt(
            &JwtCommand::Sign {
                key: private.clone(),
                role: RoleArg::Agent,
                agent_id: "edge-1".into(),
                ttl: Duration::from_secs(600),
                aud: Some("gw".into()),
                iss: None,
                kid: None,
            },
            &mut out,
        )
        .unwrap();
        let jwt = String::from_utf8(out).unwrap().trim().to_owned();
        let keys =
            VerifyingKey::from_pem(&std::fs::read_to_string(&public).unwrap(), None).unwrap();
        let auth = Authenticator::new().with_jwt(JwtVerifier::new(
            keys,
            JwtConfig::default().with_audience("gw"),
        ));
        let id = auth.verify(Role::Agent, "edge-1", &jwt, now()).unwrap();
        assert_eq!(id.method, Method::Jwt);
        assert!(
            auth.verify(Role::Agent, "edge-1", &jwt, now() + 3600)
                .is_err(),
            "expires"
        );
        assert!(
            auth.verify(Role::Client, "edge-1", &jwt, now()).is_err(),
            "role bound"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "private key is private: {mode:o}");
        }
    }
}

#[test]
fn sign_with_a_missing_key_names_the_file() {
    let err = run_jwt(
        &JwtCommand::Sign {
            key: "/nonexistent/ferry.key".into(),
            role: RoleArg::Client,
            agent_id: "edge-1".into(),
            ttl: Duration::from_secs(60),
            aud: None,
            iss: None,
            kid: None,
        },
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ferry.key"), "{err}");
}
