//! The response decoder under proptest: the fuzz harness body on arbitrary bytes and on
//! generated responses, fed whole and one byte at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_memcache::codec::{Parsed, Response, decode};
use ferry_memcache::fuzzing::{self, MAX_VALUE};
use proptest::prelude::*;

fn response_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<u64>(),
            -1i64..100_000
        )
            .prop_map(|(v, cas, ttl)| {
                let mut out = format!("VA {} c{cas} t{ttl}\r\n", v.len()).into_bytes();
                out.extend_from_slice(&v);
                out.extend_from_slice(b"\r\n");
                out
            }),
        any::<u64>().prop_map(|cas| format!("HD c{cas}\r\n").into_bytes()),
        Just(b"EN\r\n".to_vec()),
        Just(b"NS\r\n".to_vec()),
        Just(b"EX\r\n".to_vec()),
        Just(b"NF\r\n".to_vec()),
        Just(b"MN\r\n".to_vec()),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::response(&data);
    }

    #[test]
    fn generated_responses_decode_whole_and_byte_by_byte(bytes in response_bytes()) {
        fuzzing::response(&bytes);
        let Parsed::Complete { value, consumed } = decode(&bytes, MAX_VALUE).unwrap() else {
            panic!("complete");
        };
        prop_assert_eq!(consumed, bytes.len());
        if let Response::Value { data, meta } = &value {
            prop_assert!(data.len() < 64);
            prop_assert!(meta.cas.is_some());
        }
        // Growing the input one byte at a time: incomplete until the last byte.
        for n in 0..bytes.len() {
            prop_assert_eq!(decode(&bytes[..n], MAX_VALUE).unwrap(), Parsed::Incomplete);
        }
    }
}
