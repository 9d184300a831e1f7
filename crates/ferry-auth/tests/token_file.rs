//! The token file: parsing, errors that name the line, scoping; and property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_auth::{Role, Scope, TokenFileErrorKind, TokenStore, token_line};
use proptest::prelude::*;

const H: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"; // "foo"

#[test]
fn parses_comments_blank_lines_and_scopes() {
    let text = format!(
        "# tokens\n\n  agent edge-1 {H}\nclient\t*\t{}\n   # indented comment\n",
        token_line(Role::Client, "*", "bar")
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
    );
    let store = TokenStore::parse(&text).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(store.entries()[0].line, 3);
    assert_eq!(store.entries()[0].scope, Scope::Agent("edge-1".into()));
    assert_eq!(store.entries()[1].scope, Scope::Any);
    assert!(store.contains(Role::Agent, "edge-1", "foo"));
    assert!(!store.contains(Role::Agent, "edge-2", "foo"));
    assert!(!store.contains(Role::Client, "edge-1", "foo"));
    assert!(store.contains(Role::Client, "anything", "bar"));
    assert!(!store.contains(Role::Agent, "anything", "bar"));
    assert!(!store.contains(Role::Agent, "edge-1", "Foo"));
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, usize, TokenFileErrorKind)] = &[
        ("agent edge-1", 1, TokenFileErrorKind::Fields(2)),
        (
            "#\nagent edge-1 sha256:00 extra",
            2,
            TokenFileErrorKind::Fields(4),
        ),
        ("admin edge-1 HASH", 1, TokenFileErrorKind::Role),
        ("\n\nagent * HASH", 3, TokenFileErrorKind::AgentId),
        ("agent a:b HASH", 1, TokenFileErrorKind::AgentId),
        ("agent edge-1 sha256:abc", 1, TokenFileErrorKind::Hash),
        (
            "agent edge-1 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            1,
            TokenFileErrorKind::Hash,
        ),
        (
            "agent edge-1 sha256:zc26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            1,
            TokenFileErrorKind::Hash,
        ),
        (
            "agent a HASH\nclient b HASH",
            2,
            TokenFileErrorKind::Duplicate(1),
        ),
    ];
    for (text, line, kind) in cases {
        let text = text.replace("HASH", H);
        let err = TokenStore::parse(&text).unwrap_err();
        assert_eq!((err.line, &err.kind), (*line, kind), "{text}");
        assert!(
            err.to_string()
                .starts_with(&format!("token file line {line}: "))
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_token_files_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        ferry_auth::fuzzing::token_file(&data);
    }

    #[test]
    fn arbitrary_lines_of_words_never_panic(
        lines in proptest::collection::vec("(agent|client|#|x)? ?[a-z0-9*:-]{0,8} ?(sha256:[0-9a-f]{0,66})?", 0..8)
    ) {
        ferry_auth::fuzzing::token_file(lines.join("\n").as_bytes());
    }

    #[test]
    fn arbitrary_credentials_never_panic_or_pass(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        ferry_auth::fuzzing::jwt(&data);
    }

    #[test]
    fn jwt_shaped_garbage_never_panics(s in "eyJ[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}") {
        ferry_auth::fuzzing::jwt(s.as_bytes());
    }
}

#[test]
fn fuzz_harness_accepts_the_valid_credentials() {
    let auth = ferry_auth::fuzzing::authenticator();
    let now = ferry_auth::fuzzing::NOW;
    auth.verify(Role::Client, "a1", "fy1_static", now).unwrap();
    auth.verify(
        Role::Agent,
        "a1",
        &ferry_auth::fuzzing::valid_jwt(Role::Agent),
        now,
    )
    .unwrap();
    ferry_auth::fuzzing::jwt(ferry_auth::fuzzing::valid_jwt(Role::Agent).as_bytes());
    ferry_auth::fuzzing::jwt(b"fy1_static");
}
