//! The JSON members read from a JWT's header and payload.

use serde::de::{Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};

/// The protected header. Unknown members are ignored; a duplicated known member is an error
/// (serde's derive refuses duplicate fields), so `{"alg":"none","alg":"ES256"}` cannot pass.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: String,
    #[serde(default)]
    pub(super) kid: Option<String>,
    /// Whether a `crit` member is present, whatever its value (even `null`).
    #[serde(default, deserialize_with = "present")]
    pub(super) crit: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_any| true)
}

/// A NumericDate (RFC 7519 section 2): seconds since the epoch, integer or not. Negative values
/// count as 0 and fractions are truncated; values beyond `u64` saturate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NumericDate(pub(super) u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(u) = n.as_u64() {
            return Ok(Self(u));
        }
        match n.as_f64() {
            // `as` saturates (and a negative value becomes 0), which is what we want here.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(f) if f.is_finite() => Ok(Self(f.max(0.0) as u64)),
            _ => Err(serde::de::Error::custom("numeric date out of range")),
        }
    }
}

/// `aud`: one string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(super) fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(a) => a == wanted,
            Self::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

/// The registered and private claims used; others are ignored.
#[derive(Deserialize)]
pub(super) struct Claims {
    #[serde(default)]
    pub(super) exp: Option<NumericDate>,
    #[serde(default)]
    pub(super) nbf: Option<NumericDate>,
    #[serde(default)]
    pub(super) aud: Option<Audience>,
    #[serde(default)]
    pub(super) iss: Option<String>,
    #[serde(default)]
    pub(super) sub: Option<String>,
    #[serde(default)]
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) agent_id: Option<String>,
}

/// The header written when signing.
#[derive(Serialize)]
pub(super) struct HeaderOut<'a> {
    pub(super) alg: &'a str,
    pub(super) typ: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) kid: Option<&'a str>,
}

/// The claims written when signing.
#[derive(Serialize)]
pub(super) struct ClaimsOut<'a> {
    pub(super) role: &'a str,
    pub(super) agent_id: &'a str,
    pub(super) iat: u64,
    pub(super) exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sub: Option<&'a str>,
}
