//! The checked-in corpus of the fuzz targets (`fuzz/corpus/<target>/`, kept by the fuzz
//! campaign, with the seeds of past findings) runs through the same harnesses in every
//! `cargo test`.

#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[
        ("chain_request", ferry_chain::fuzzing::request as fn(&[u8])),
        ("chain_response", ferry_chain::fuzzing::response),
        ("chain_udp", ferry_chain::fuzzing::udp),
        ("chain_text", ferry_chain::fuzzing::text),
    ]);
    assert!(seen >= 4, "expected the corpus under fuzz/corpus");
}
