//! The checked-in corpus of the fuzz targets runs in every `cargo test`.

use ferry_front::fuzzing;

#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[
        (
            "proxy_protocol_decode",
            fuzzing::proxy_protocol_decode as fn(&[u8]),
        ),
        ("http_connect_parse", fuzzing::http_connect_parse),
        ("socks5_server", fuzzing::socks5_server),
        ("socks5_client", fuzzing::socks5_client),
    ]);
    assert!(seen >= 13, "expected the corpus under fuzz/corpus");
}
