//! The checked-in corpus of the fuzz targets (`fuzz/corpus/<target>/`, kept by the fuzz
//! campaign, with the seeds of past findings) runs through the same harnesses in every
//! `cargo test`.

#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[
        ("tunnel_auth", ferry_tunnel::fuzzing::auth as fn(&[u8])),
        ("tunnel_header", ferry_tunnel::fuzzing::header),
        ("tunnel_datagram", ferry_tunnel::fuzzing::datagram),
        ("tunnel_tcp", ferry_tunnel::fuzzing::tcp_gateway),
    ]);
    assert!(seen >= 3, "expected the corpus under fuzz/corpus");
}
