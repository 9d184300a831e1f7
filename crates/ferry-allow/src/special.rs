//! The built-in set of special-purpose addresses denied by default after resolution.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address is special (not a public unicast destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialClass {
    /// `0.0.0.0/8` ("this network") and `::`.
    Unspecified,
    /// `127.0.0.0/8` and `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and unique local `fc00::/7`.
    Private,
    /// Shared address space for carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    /// `169.254.0.0/16` and `fe80::/10`.
    LinkLocal,
    /// Cloud instance metadata services: `169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`
    /// (Alibaba) and `192.0.0.192` (Oracle).
    CloudMetadata,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15` and `2001:2::/48`.
    Benchmarking,
    /// Other ranges that are not global unicast destinations: `192.0.0.0/24`, `192.88.99.0/24`,
    /// `240.0.0.0/4`, `100::/64`, `64:ff9b:1::/48`, `2001::/23`, `fec0::/10`.
    Reserved,
}

impl fmt::Display for SpecialClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedAddressSpace => "shared (CGNAT)",
            Self::LinkLocal => "link-local",
            Self::CloudMetadata => "cloud metadata",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        })
    }
}

/// How an IPv6 address embeds an IPv4 address.
///
/// IPv4-mapped addresses (`::ffff:a.b.c.d`) are not listed: they are treated as the IPv4
/// address itself everywhere in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Embedding {
    /// Deprecated IPv4-compatible form `::a.b.c.d` (`::/96`).
    Ipv4Compatible,
    /// NAT64 well-known prefix `64:ff9b::/96`.
    Nat64,
    /// 6to4 `2002:AABB:CCDD::/48`.
    SixToFour,
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4Compatible => "IPv4-compatible",
            Self::Nat64 => "NAT64",
            Self::SixToFour => "6to4",
        })
    }
}

/// A special address: its class and the special range it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecialAddr {
    addr: IpAddr,
    class: SpecialClass,
    range: IpNet,
    embedded: Option<(Embedding, Ipv4Addr)>,
}

impl SpecialAddr {
    /// The address as classified (IPv4-mapped addresses are given as IPv4).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Its class.
    pub fn class(&self) -> SpecialClass {
        self.class
    }

    /// The most specific special range that contains the address. An address rule allows the
    /// address explicitly only if the rule's network lies inside this range. For an embedded
    /// address this is the embedding of the IPv4 range (for `64:ff9b::7f00:1`, the NAT64 form of
    /// `127.0.0.0/8`: `64:ff9b::7f00:0/104`).
    pub fn range(&self) -> IpNet {
        self.range
    }

    /// The embedding and the embedded IPv4 address, for IPv6 forms that carry one.
    pub fn embedded(&self) -> Option<(Embedding, Ipv4Addr)> {
        self.embedded
    }
}

impl fmt::Display for SpecialAddr {
    /// For example `127.0.0.1 is loopback (127.0.0.0/8)` or
    /// `64:ff9b::7f00:1 is loopback 127.0.0.1 in NAT64 form (64:ff9b::7f00:0/104)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            None => write!(f, "{} is {} ({})", self.addr, self.class, self.range),
            Some((how, v4)) => write!(
                f,
                "{} is {} {v4} in {how} form ({})",
                self.addr, self.class, self.range
            ),
        }
    }
}

/// IPv4 special ranges, most specific first.
const V4: &[(u32, u8, SpecialClass)] = &[
    (0xa9fe_a9fe, 32, SpecialClass::CloudMetadata), // 169.254.169.254
    (0x6464_64c8, 32, SpecialClass::CloudMetadata), // 100.100.100.200
    (0xc000_00c0, 32, SpecialClass::CloudMetadata), // 192.0.0.192
    (0xffff_ffff, 32, SpecialClass::Broadcast),
    (0xc000_0000, 24, SpecialClass::Reserved), // 192.0.0.0/24
    (0xc000_0200, 24, SpecialClass::Documentation), // 192.0.2.0/24
    (0xc058_6300, 24, SpecialClass::Reserved), // 192.88.99.0/24
    (0xc633_6400, 24, SpecialClass::Documentation), // 198.51.100.0/24
    (0xcb00_7100, 24, SpecialClass::Documentation), // 203.0.113.0/24
    (0xa9fe_0000, 16, SpecialClass::LinkLocal), // 169.254.0.0/16
    (0xc0a8_0000, 16, SpecialClass::Private),  // 192.168.0.0/16
    (0xc612_0000, 15, SpecialClass::Benchmarking), // 198.18.0.0/15
    (0xac10_0000, 12, SpecialClass::Private),  // 172.16.0.0/12
    (0x6440_0000, 10, SpecialClass::SharedAddressSpace), // 100.64.0.0/10
    (0x0000_0000, 8, SpecialClass::Unspecified), // 0.0.0.0/8
    (0x0a00_0000, 8, SpecialClass::Private),   // 10.0.0.0/8
    (0x7f00_0000, 8, SpecialClass::Loopback),  // 127.0.0.0/8
    (0xe000_0000, 4, SpecialClass::Multicast), // 224.0.0.0/4
    (0xf000_0000, 4, SpecialClass::Reserved),  // 240.0.0.0/4
];

/// IPv6 special ranges, most specific first (embedded forms are handled separately).
const V6: &[(u128, u8, SpecialClass)] = &[
    (0, 128, SpecialClass::Unspecified),
    (1, 128, SpecialClass::Loopback),
    (
        0xfd00_0ec2_u128 << 96 | 0x254,
        128,
        SpecialClass::CloudMetadata,
    ),
    (0x0100_u128 << 112, 64, SpecialClass::Reserved), // 100::/64
    (0x0064_ff9b_0001_u128 << 80, 48, SpecialClass::Reserved), // 64:ff9b:1::/48
    (0x2001_0002_u128 << 96, 48, SpecialClass::Benchmarking), // 2001:2::/48
    (0x2001_0db8_u128 << 96, 32, SpecialClass::Documentation), // 2001:db8::/32
    (0x2001_u128 << 112, 23, SpecialClass::Reserved), // 2001::/23
    (0x3fff_u128 << 112, 20, SpecialClass::Documentation), // 3fff::/20
    (0xfe80_u128 << 112, 10, SpecialClass::LinkLocal), // fe80::/10
    (0xfec0_u128 << 112, 10, SpecialClass::Reserved), // fec0::/10
    (0xff00_u128 << 112, 8, SpecialClass::Multicast), // ff00::/8
    (0xfc00_u128 << 112, 7, SpecialClass::Private),   // fc00::/7
];

const NAT64: u128 = 0x0064_ff9b_u128 << 96;

/// `ip` with IPv4-mapped IPv6 addresses replaced by the IPv4 address they carry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Classifies `ip` against the built-in special set; `None` for an ordinary address.
///
/// IPv4-mapped addresses are classified as the IPv4 address they carry; IPv4-compatible, NAT64
/// and 6to4 addresses are special when the IPv4 address they embed is.
pub fn special_address(ip: IpAddr) -> Option<SpecialAddr> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let (range, class) = classify_v4(v4)?;
            Some(SpecialAddr {
                addr: IpAddr::V4(v4),
                class,
                range: IpNet::V4(range),
                embedded: None,
            })
        }
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(v4: Ipv4Addr) -> Option<(Ipv4Net, SpecialClass)> {
    let bits = u32::from(v4);
    V4.iter()
        .find(|&&(net, len, _)| prefix_eq_u32(bits, net, len))
        .and_then(|&(net, len, class)| Some((Ipv4Net::new(Ipv4Addr::from(net), len).ok()?, class)))
}

fn classify_v6(v6: Ipv6Addr) -> Option<SpecialAddr> {
    let bits = u128::from(v6);
    if let Some(&(net, len, class)) = V6
        .iter()
        .find(|&&(net, len, _)| prefix_eq_u128(bits, net, len))
    {
        return Some(SpecialAddr {
            addr: IpAddr::V6(v6),
            class,
            range: IpNet::V6(Ipv6Net::new(Ipv6Addr::from(net), len).ok()?),
            embedded: None,
        });
    }
    // (embedding, prefix of the embedding, prefix length, bit offset of the IPv4 address)
    let (how, prefix, prefix_len, shift) = if prefix_eq_u128(bits, NAT64, 96) {
        (Embedding::Nat64, NAT64, 96u8, 0u32)
    } else if prefix_eq_u128(bits, 0, 96) {
        (Embedding::Ipv4Compatible, 0, 96, 0)
    } else if prefix_eq_u128(bits, 0x2002_u128 << 112, 16) {
        (Embedding::SixToFour, 0x2002_u128 << 112, 16, 80)
    } else {
        return None;
    };
    let v4_bits = u32::try_from((bits >> shift) & u128::from(u32::MAX)).ok()?;
    let v4 = Ipv4Addr::from(v4_bits);
    let (v4_range, class) = classify_v4(v4)?;
    let range_net = prefix | (u128::from(u32::from(v4_range.network())) << shift);
    let range_len = prefix_len + v4_range.prefix_len();
    Some(SpecialAddr {
        addr: IpAddr::V6(v6),
        class,
        range: IpNet::V6(Ipv6Net::new(Ipv6Addr::from(range_net), range_len).ok()?),
        embedded: Some((how, v4)),
    })
}

fn prefix_eq_u32(a: u32, b: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    a & mask == b & mask
}

fn prefix_eq_u128(a: u128, b: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<SpecialClass> {
        special_address(s.parse().unwrap()).map(|s| s.class())
    }

    fn range(s: &str) -> String {
        special_address(s.parse().unwrap())
            .unwrap()
            .range()
            .to_string()
    }

    #[test]
    fn tables_are_ordered_most_specific_first() {
        assert!(V4.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(V6.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn classifies_ipv4() {
        use SpecialClass::*;
        let cases = [
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("10.20.30.40", Some(Private)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.100.100.200", Some(CloudMetadata)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("169.254.1.1", Some(LinkLocal)),
            ("169.254.169.254", Some(CloudMetadata)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.0.0.192", Some(CloudMetadata)),
            ("192.0.2.1", Some(Documentation)),
            ("192.168.1.1", Some(Private)),
            ("198.18.0.1", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("224.0.0.1", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("100.128.0.1", None),
        ];
        for (addr, want) in cases {
            assert_eq!(class(addr), want, "{addr}");
        }
    }

    #[test]
    fn classifies_ipv6() {
        use SpecialClass::*;
        let cases = [
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("fd00:ec2::253", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("3fff::1", Some(Documentation)),
            ("100::1", Some(Reserved)),
            ("2606:4700::1111", None),
            ("2a00:1450::1", None),
        ];
        for (addr, want) in cases {
            assert_eq!(class(addr), want, "{addr}");
        }
    }

    #[test]
    fn embedded_ipv4_is_extracted_and_rechecked() {
        use SpecialClass::*;
        // IPv4-mapped: treated as the IPv4 address itself.
        let mapped = special_address("::ffff:127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(mapped.addr(), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(mapped.range().to_string(), "127.0.0.0/8");
        assert_eq!(class("::ffff:169.254.169.254"), Some(CloudMetadata));
        assert_eq!(class("::ffff:8.8.8.8"), None);
        // NAT64
        assert_eq!(class("64:ff9b::7f00:1"), Some(Loopback));
        assert_eq!(range("64:ff9b::7f00:1"), "64:ff9b::7f00:0/104");
        assert_eq!(class("64:ff9b::a9fe:a9fe"), Some(CloudMetadata));
        assert_eq!(range("64:ff9b::a9fe:a9fe"), "64:ff9b::a9fe:a9fe/128");
        assert_eq!(class("64:ff9b::808:808"), None);
        // IPv4-compatible
        assert_eq!(class("::10.0.0.1"), Some(Private));
        assert_eq!(range("::10.0.0.1"), "::a00:0/104");
        assert_eq!(class("::8.8.8.8"), None);
        // 6to4: 2002:c0a8:0101::/48 carries 192.168.1.1
        assert_eq!(class("2002:c0a8:101::1"), Some(Private));
        assert_eq!(range("2002:c0a8:101::1"), "2002:c0a8::/32");
        assert_eq!(class("2002:0808:0808::1"), None);
        let nat = special_address("64:ff9b::7f00:1".parse().unwrap()).unwrap();
        assert_eq!(
            nat.embedded(),
            Some((Embedding::Nat64, Ipv4Addr::LOCALHOST))
        );
        assert_eq!(
            nat.to_string(),
            "64:ff9b::7f00:1 is loopback 127.0.0.1 in NAT64 form (64:ff9b::7f00:0/104)"
        );
    }
}
