//! The checked-in corpus of the fuzz targets (`fuzz/corpus/<target>/`, kept by the fuzz
//! campaign, with the seeds of past findings) runs through the same harnesses in every
//! `cargo test`.

#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[
        ("auth_jwt", ferry_auth::fuzzing::jwt as fn(&[u8])),
        ("auth_token_file", ferry_auth::fuzzing::token_file),
    ]);
    assert!(seen >= 2, "expected the corpus under fuzz/corpus");
}
