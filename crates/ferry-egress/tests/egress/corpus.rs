//! The checked-in corpus of the fuzz target runs in every `cargo test`.

use ferry_egress::fuzzing;

#[test]
fn fuzz_corpus_passes() {
    let seen =
        ferry_test_support::corpus::replay(&[("egress_parse", fuzzing::egress_parse as fn(&[u8]))]);
    assert!(
        seen >= 7,
        "expected the corpus under fuzz/corpus/egress_parse"
    );
}
