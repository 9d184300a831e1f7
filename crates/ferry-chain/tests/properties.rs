//! Property tests: round trips, every split of the input, and the fuzz harness bodies
//! (`ferry_chain::fuzzing`) on generated and arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use ferry_chain::fuzzing::{self, Bytes, NOW, key7, keyring, request_from};
use ferry_chain::{Decoded, ReplayGuard, decode_request, seal_request};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `decode(encode(x)) == x` for requests built from arbitrary bytes, every hop index.
    #[test]
    fn request_round_trips(seed in proptest::collection::vec(any::<u8>(), 0..400), hop in 1u8..=16, nonce in any::<[u8; 12]>()) {
        let req = request_from(&mut Bytes(&seed), hop);
        let mut wire = Vec::new();
        seal_request(&key7(), hop, &req, nonce, &mut wire).unwrap();
        let got = decode_request(&wire, &keyring(), NOW, &mut ReplayGuard::default()).unwrap();
        prop_assert_eq!(got, Decoded::Done { value: ferry_chain::OpenedRequest {
            info: ferry_chain::RecordInfo { hop_index: hop, key_id: key7().id(), nonce },
            request: req,
        }, consumed: wire.len() });
    }

    /// Feeding a stream of records plus payload one byte at a time decodes the same records
    /// and leaves exactly the payload.
    #[test]
    fn streamed_one_byte_at_a_time(seeds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut wire = Vec::new();
        let mut reqs = Vec::new();
        for (i, seed) in seeds.iter().enumerate() {
            let req = request_from(&mut Bytes(seed), 1);
            seal_request(&key7(), 1, &req, [u8::try_from(i).unwrap(); 12], &mut wire).unwrap();
            reqs.push(req);
        }
        wire.extend_from_slice(&payload);
        let mut guard = ReplayGuard::default();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut fed = 0;
        while got.len() < reqs.len() {
            match decode_request(&buf, &keyring(), NOW, &mut guard).unwrap() {
                Decoded::NeedMore { at_least } => {
                    prop_assert!(at_least > buf.len());
                    buf.push(wire[fed]);
                    fed += 1;
                }
                Decoded::Done { value, consumed } => {
                    prop_assert_eq!(consumed, buf.len(), "decoded before the record was complete");
                    got.push(value.request);
                    buf.clear();
                }
            }
        }
        prop_assert_eq!(got, reqs);
        prop_assert_eq!(&wire[fed..], payload.as_slice());
    }

    /// Fuzz harness `chain_request` on arbitrary bytes.
    #[test]
    fn fuzz_request(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzzing::request(&data);
    }

    /// Fuzz harness `chain_request` on bytes that start like a valid header.
    #[test]
    fn fuzz_request_header_like(len in 0u16..400, tail in proptest::collection::vec(any::<u8>(), 0..340)) {
        let mut data = vec![1, 1, 1, 0, 7];
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&tail);
        fuzzing::request(&data);
    }

    /// Fuzz harness `chain_response` on arbitrary bytes.
    #[test]
    fn fuzz_response(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        fuzzing::response(&data);
    }

    /// Fuzz harness `chain_udp` on arbitrary bytes (1-3 hops, payload from the tail).
    #[test]
    fn fuzz_udp(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::udp(&data);
    }

    /// Fuzz harness `chain_text` on key-file-like and address-like text.
    #[test]
    fn fuzz_text(text in "([0-9a-f]{1,6} [0-9a-f]{60,68}|[a-z0-9.\\[\\]:-]{0,30}|#[ -~]{0,10})(\n|,)?([0-9]{1,3} [0-9a-f]{64})?") {
        fuzzing::text(text.as_bytes());
    }
}
