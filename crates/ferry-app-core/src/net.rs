//! Source networks in config files: `10.0.0.0/8`, `2001:db8::/32` or one address, and a set of
//! them matched against client addresses.

use std::net::IpAddr;

pub use ipnet::IpNet;

/// Parses a network (`ADDRESS/PREFIX`) or one address (a /32 or /128). Host bits must be zero,
/// so that a typo such as `10.1.2.3/8` is not silently widened.
///
/// # Errors
///
/// A readable reason naming the text (at most 64 characters of it).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let shown: String = text.chars().take(64).collect();
    let net: IpNet = text
        .parse()
        .map_err(|_bad| format!("{shown:?} is not a network (ADDRESS/PREFIX) or an address"))?;
    if net.trunc() != net {
        return Err(format!(
            "{shown:?} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Whether `ip` is in one of `nets` (an IPv4-mapped IPv6 address is matched as IPv4).
#[must_use]
pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn networks_and_addresses_parse_and_host_bits_are_refused() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_net(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(
            parse_net("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(
            parse_net("10.1.2.3/8")
                .unwrap_err()
                .contains("did you mean 10.0.0.0/8")
        );
        assert!(parse_net("nope").unwrap_err().contains("is not a network"));
        let nets = [parse_net("127.0.0.1").unwrap()];
        assert!(contains(&nets, "127.0.0.1".parse().unwrap()));
        assert!(contains(&nets, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!contains(&nets, "127.0.0.2".parse().unwrap()));
    }
}
