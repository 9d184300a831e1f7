//! Keys: public keys for verification (SPKI PEM), private keys for signing (PKCS#8 PEM), and
//! key-pair generation.

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};

use crate::error::KeyError;
use crate::pem;

/// DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (`04 || x || y`
/// follows): SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410; the 32-byte key follows).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Longest `kid` accepted, in bytes.
pub const MAX_KID_LEN: usize = 128;

/// A JWS algorithm this crate accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256, signature `r || s` (64 bytes) (RFC 7518 section 3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    /// The JWS `alg` value: `ES256` or `EdDSA`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm for an exact `alg` value (case-sensitive), if accepted.
    #[must_use]
    pub fn from_alg(alg: &str) -> Option<Self> {
        match alg {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn check_kid(kid: Option<String>) -> Result<Option<String>, KeyError> {
    match kid {
        Some(k) if k.is_empty() || k.len() > MAX_KID_LEN || k.chars().any(char::is_control) => {
            Err(KeyError::KeyId)
        }
        other => Ok(other),
    }
}

/// A public key that verifies JWTs: its algorithm follows from the key type.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    alg: Algorithm,
    kid: Option<String>,
    /// The uncompressed point (P-256) or the 32 key bytes (Ed25519), as ring takes them.
    public: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A key from a DER SubjectPublicKeyInfo: P-256 with an uncompressed point, or Ed25519.
    ///
    /// # Errors
    ///
    /// [`KeyError::PublicKey`] for any other key; [`KeyError::KeyId`] for an invalid `kid`.
    pub fn from_spki_der(der: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let kid = check_kid(kid)?;
        if let Some(point) = der.strip_prefix(&P256_SPKI_PREFIX[..])
            && point.len() == 65
            && point.first() == Some(&0x04)
        {
            return Ok(Self {
                alg: Algorithm::Es256,
                kid,
                public: point.to_vec(),
            });
        }
        if let Some(key) = der.strip_prefix(&ED25519_SPKI_PREFIX[..])
            && key.len() == 32
        {
            return Ok(Self {
                alg: Algorithm::EdDsa,
                kid,
                public: key.to_vec(),
            });
        }
        Err(KeyError::PublicKey)
    }

    /// Every `PUBLIC KEY` block of a PEM file, all with the same `kid` (usually one block).
    ///
    /// # Errors
    ///
    /// [`KeyError::Pem`] when there is no block; as [`VerifyingKey::from_spki_der`].
    pub fn from_pem(text: &str, kid: Option<&str>) -> Result<Vec<Self>, KeyError> {
        pem::decode_all(text, "PUBLIC KEY")?
            .iter()
            .map(|der| Self::from_spki_der(der, kid.map(str::to_owned)))
            .collect()
    }

    /// The algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if one was given.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> Vec<u8> {
        let prefix: &[u8] = match self.alg {
            Algorithm::Es256 => &P256_SPKI_PREFIX,
            Algorithm::EdDsa => &ED25519_SPKI_PREFIX,
        };
        [prefix, &self.public].concat()
    }

    /// Whether `sig` is this key's signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDsa => &signature::ED25519,
        };
        signature::UnparsedPublicKey::new(alg, &self.public)
            .verify(message, sig)
            .is_ok()
    }
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A private key that signs JWTs.
pub struct SigningKey {
    pair: Pair,
    kid: Option<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from a DER PKCS#8 document (P-256, or Ed25519 v1 or v2).
    ///
    /// # Errors
    ///
    /// [`KeyError::PrivateKey`] for anything else; [`KeyError::KeyId`] for an invalid `kid`.
    pub fn from_pkcs8_der(
        der: &[u8],
        kid: Option<String>,
        rng: &dyn SecureRandom,
    ) -> Result<Self, KeyError> {
        let kid = check_kid(kid)?;
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng) {
            return Ok(Self {
                pair: Pair::Es256(pair),
                kid,
            });
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(Self {
                pair: Pair::EdDsa(pair),
                kid,
            });
        }
        Err(KeyError::PrivateKey)
    }

    /// An Ed25519 key from its 32-byte seed (for the fuzz harnesses' fixed keys).
    pub(crate) fn from_ed25519_seed(seed: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_bad_seed| KeyError::PrivateKey)?;
        Ok(Self {
            pair: Pair::EdDsa(pair),
            kid: check_kid(kid)?,
        })
    }

    /// The first `PRIVATE KEY` block of a PEM file.
    ///
    /// # Errors
    ///
    /// [`KeyError::Pem`] when there is no block; as [`SigningKey::from_pkcs8_der`].
    pub fn from_pem(
        text: &str,
        kid: Option<&str>,
        rng: &dyn SecureRandom,
    ) -> Result<Self, KeyError> {
        let blocks = pem::decode_all(text, "PRIVATE KEY")?;
        let der = blocks.first().ok_or(KeyError::Pem {
            label: "PRIVATE KEY",
        })?;
        Self::from_pkcs8_der(der, kid.map(str::to_owned), rng)
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Es256(_) => Algorithm::Es256,
            Pair::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The key id, if one was given.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The matching public key (same `kid`).
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        let (alg, public) = match &self.pair {
            Pair::Es256(p) => (Algorithm::Es256, p.public_key().as_ref().to_vec()),
            Pair::EdDsa(p) => (Algorithm::EdDsa, p.public_key().as_ref().to_vec()),
        };
        VerifyingKey {
            alg,
            kid: self.kid.clone(),
            public,
        }
    }

    /// Signs `message` (ES256: `r || s`, 64 bytes; EdDSA: 64 bytes).
    pub(crate) fn sign(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Es256(p) => p
                .sign(rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_unspecified| KeyError::Sign),
            Pair::EdDsa(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}

/// A generated key pair, as PEM text.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyPairPem {
    /// The private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`). Keep it secret.
    pub private_pkcs8_pem: String,
    /// The public key, SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_spki_pem: String,
}

impl fmt::Debug for KeyPairPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPairPem")
            .field("public_spki_pem", &self.public_spki_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair for `alg`.
///
/// # Errors
///
/// [`KeyError::Random`] when the random source fails.
pub fn generate_key_pair(alg: Algorithm, rng: &dyn SecureRandom) -> Result<KeyPairPem, KeyError> {
    let pkcs8 = match alg {
        Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng),
        Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(rng),
    }
    .map_err(|_unspecified| KeyError::Random)?;
    let key = SigningKey::from_pkcs8_der(pkcs8.as_ref(), None, rng)?;
    Ok(KeyPairPem {
        private_pkcs8_pem: pem::encode("PRIVATE KEY", pkcs8.as_ref()),
        public_spki_pem: pem::encode("PUBLIC KEY", &key.verifying_key().spki_der()),
    })
}
