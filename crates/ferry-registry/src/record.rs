//! The record stored under an agent's key: a versioned byte layout, without I/O.
//!
//! The normative table is in `docs/wire/registry.md`:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version, `0x01` |
//! | 1 | 1 | address family: `0x04` IPv4, `0x06` IPv6 |
//! | 2 | 16 | instance id |
//! | 18 | 4 or 16 | IP address, network order |
//! | 22 or 34 | 2 | port, big endian, not 0 |
//!
//! A record is exactly 24 (IPv4) or 36 (IPv6) bytes; anything else is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::owner::{InstanceId, Owner};

/// The record version this crate writes and reads.
pub const RECORD_VERSION: u8 = 1;

/// Length of an IPv4 record.
pub const RECORD_LEN_V4: usize = 24;
/// Length of an IPv6 record (the longest record).
pub const RECORD_LEN_V6: usize = 36;

const FAMILY_V4: u8 = 0x04;
const FAMILY_V6: u8 = 0x06;

/// Why stored bytes are not a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer than 2 bytes, or fewer than the family needs.
    #[error("record is truncated ({len} bytes)")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// A version this crate does not read (written by a newer or foreign writer).
    #[error("record version {0} is not supported")]
    Version(u8),
    /// An address family byte other than 4 or 6.
    #[error("record address family {0:#04x} is unknown")]
    Family(u8),
    /// Bytes after the port.
    #[error("record has {extra} trailing bytes")]
    Trailing {
        /// How many.
        extra: usize,
    },
    /// Port 0.
    #[error("record names port 0")]
    PortZero,
}

/// Encodes `owner` (24 or 36 bytes).
#[must_use]
pub fn encode(owner: &Owner) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_LEN_V6);
    out.push(RECORD_VERSION);
    match owner.addr.ip() {
        IpAddr::V4(ip) => {
            out.push(FAMILY_V4);
            out.extend_from_slice(&owner.instance.0);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(FAMILY_V6);
            out.extend_from_slice(&owner.instance.0);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&owner.addr.port().to_be_bytes());
    out
}

/// Decodes a record. Never panics; reads at most [`RECORD_LEN_V6`] bytes before deciding.
///
/// # Errors
///
/// [`RecordError`] for a wrong version or family, a truncated or overlong record, port 0.
pub fn decode(bytes: &[u8]) -> Result<Owner, RecordError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(RecordError::Truncated { len: 0 })?;
    if version != RECORD_VERSION {
        return Err(RecordError::Version(version));
    }
    let (&family, rest) = rest
        .split_first()
        .ok_or(RecordError::Truncated { len: bytes.len() })?;
    let want = match family {
        FAMILY_V4 => RECORD_LEN_V4,
        FAMILY_V6 => RECORD_LEN_V6,
        other => return Err(RecordError::Family(other)),
    };
    if bytes.len() < want {
        return Err(RecordError::Truncated { len: bytes.len() });
    }
    if bytes.len() > want {
        return Err(RecordError::Trailing {
            extra: bytes.len() - want,
        });
    }
    let (instance, rest) = rest
        .split_first_chunk::<16>()
        .ok_or(RecordError::Truncated { len: bytes.len() })?;
    let (ip, port) = if family == FAMILY_V4 {
        let (ip, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(RecordError::Truncated { len: bytes.len() })?;
        (IpAddr::V4(Ipv4Addr::from(*ip)), rest)
    } else {
        let (ip, rest) = rest
            .split_first_chunk::<16>()
            .ok_or(RecordError::Truncated { len: bytes.len() })?;
        (IpAddr::V6(Ipv6Addr::from(*ip)), rest)
    };
    let port = port
        .first_chunk::<2>()
        .map(|p| u16::from_be_bytes(*p))
        .ok_or(RecordError::Truncated { len: bytes.len() })?;
    if port == 0 {
        return Err(RecordError::PortZero);
    }
    Ok(Owner::new(InstanceId(*instance), SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_record_bytes() {
        let owner = Owner::new(InstanceId([0xab; 16]), "10.0.0.5:7443".parse().unwrap());
        let bytes = encode(&owner);
        let mut want = vec![1, 4];
        want.extend_from_slice(&[0xab; 16]);
        want.extend_from_slice(&[10, 0, 0, 5, 0x1d, 0x13]);
        assert_eq!(bytes, want);
        assert_eq!(decode(&bytes), Ok(owner));
    }

    #[test]
    fn ipv6_round_trip_and_refusals() {
        let owner = Owner::new(InstanceId([7; 16]), "[2001:db8::1]:443".parse().unwrap());
        let bytes = encode(&owner);
        assert_eq!(bytes.len(), RECORD_LEN_V6);
        assert_eq!(decode(&bytes), Ok(owner));
        assert_eq!(
            decode(&bytes[..35]),
            Err(RecordError::Truncated { len: 35 })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(RecordError::Trailing { extra: 1 }));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(RecordError::Version(2)));
        let mut fam = bytes;
        fam[1] = 5;
        assert_eq!(decode(&fam), Err(RecordError::Family(5)));
        assert_eq!(decode(&[]), Err(RecordError::Truncated { len: 0 }));
        assert_eq!(decode(&[1]), Err(RecordError::Truncated { len: 1 }));
        let mut zero = encode(&Owner::new(
            InstanceId([0; 16]),
            "1.2.3.4:1".parse().unwrap(),
        ));
        zero[23] = 0;
        assert_eq!(decode(&zero), Err(RecordError::PortZero));
    }
}
