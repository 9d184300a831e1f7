//! The checked-in corpus of the fuzz targets (`fuzz/corpus/<target>/`, kept by the fuzz
//! campaign, with the seeds of past findings) runs through the same harnesses in every
//! `cargo test`.

#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[(
        "config_toml",
        ferry_cli::fuzzing::config_toml as fn(&[u8]),
    )]);
    assert!(seen >= 7, "expected the corpus under fuzz/corpus");
}
