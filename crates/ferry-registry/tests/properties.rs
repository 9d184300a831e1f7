//! Property tests: the record decoder on arbitrary and mutated input, and the key builder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};

use ferry_registry::record::{decode, encode};
use ferry_registry::{InstanceId, Owner, agent_key, fuzzing};
use proptest::prelude::*;

fn any_owner() -> impl Strategy<Value = Owner> {
    (any::<[u8; 16]>(), any::<IpAddr>(), 1..=u16::MAX)
        .prop_map(|(id, ip, port)| Owner::new(InstanceId(id), SocketAddr::new(ip, port)))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        fuzzing::record(&data);
    }

    #[test]
    fn records_round_trip(owner in any_owner()) {
        let bytes = encode(&owner);
        prop_assert_eq!(decode(&bytes), Ok(owner));
        fuzzing::record(&bytes);
    }

    #[test]
    fn mutated_records_never_panic(owner in any_owner(), at in any::<usize>(), b in any::<u8>()) {
        let mut bytes = encode(&owner);
        let i = at % bytes.len();
        bytes[i] = b;
        fuzzing::record(&bytes);
    }

    #[test]
    fn every_id_gets_a_valid_key(id in any::<String>()) {
        let key = agent_key(&id);
        prop_assert!(key.as_str().len() <= 250);
        prop_assert!(key.as_str().bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }

    #[test]
    fn distinct_ids_get_distinct_keys(a in "[a-z.:_ -]{0,12}", b in "[a-z.:_ -]{0,12}") {
        prop_assume!(a != b);
        prop_assert_ne!(agent_key(&a), agent_key(&b));
    }
}
