//! The seed corpus of the fuzz targets runs in every `cargo test`.

use ferry_front::fuzzing;

#[test]
fn fuzz_seed_corpus_passes() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus");
    let mut seen = 0;
    for (target, harness) in [
        (
            "proxy_protocol_decode",
            fuzzing::proxy_protocol_decode as fn(&[u8]),
        ),
        ("http_connect_parse", fuzzing::http_connect_parse),
        ("socks5_server", fuzzing::socks5_server),
    ] {
        let dir = std::path::Path::new(root).join(target);
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            harness(&std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 9, "expected seed files under {root}");
}
