//! `Basic` credentials (RFC 7617) in `Proxy-Authorization`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::{HttpError, HttpWriteError};

/// Standard alphabet; padding optional on input, always written on output.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A user id and password from `Proxy-Authorization: Basic`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BasicCredentials {
    /// The user id (no colon, no control characters; may be empty).
    pub username: String,
    /// The password (no control characters; may be empty or hold colons).
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicCredentials {
    /// Credentials, checked like received ones.
    ///
    /// # Errors
    ///
    /// [`HttpWriteError::Credentials`] when the user id holds a colon or either part holds a
    /// control character.
    pub fn new(username: &str, password: &str) -> Result<Self, HttpWriteError> {
        if username.contains(':') || has_control(username) || has_control(password) {
            return Err(HttpWriteError::Credentials);
        }
        Ok(Self {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    /// Parses a `Proxy-Authorization` field value: `Basic` (any case), one or more spaces,
    /// a base64 token of at most `max_token` bytes (padding optional) that decodes to UTF-8
    /// `user-id:password`.
    ///
    /// # Errors
    ///
    /// [`HttpError::AuthScheme`] for another scheme (status 407), otherwise
    /// [`HttpError::AuthTooLong`], [`HttpError::AuthBase64`], [`HttpError::AuthUtf8`],
    /// [`HttpError::AuthMissingColon`] or [`HttpError::AuthControl`] (status 400).
    pub fn parse(value: &[u8], max_token: usize) -> Result<Self, HttpError> {
        let value = value.trim_ascii();
        let (scheme, token) = match value.iter().position(|&b| b == b' ') {
            Some(sp) => value.split_at(sp),
            None => (value, &b""[..]),
        };
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return Err(HttpError::AuthScheme);
        }
        let token = token.trim_ascii_start();
        if token.len() > max_token {
            return Err(HttpError::AuthTooLong {
                len: token.len(),
                max: max_token,
            });
        }
        let decoded = LENIENT.decode(token).ok().ok_or(HttpError::AuthBase64)?;
        let text = String::from_utf8(decoded).ok().ok_or(HttpError::AuthUtf8)?;
        let (user, pass) = text.split_once(':').ok_or(HttpError::AuthMissingColon)?;
        if has_control(&text) {
            return Err(HttpError::AuthControl);
        }
        Ok(Self {
            username: user.to_owned(),
            password: pass.to_owned(),
        })
    }

    /// The field value `Basic <base64(user:password)>`.
    pub fn header_value(&self) -> String {
        let token =
            general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password));
        format!("Basic {token}")
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7617_example() {
        // RFC 7617 section 2: "Aladdin" / "open sesame".
        let c = BasicCredentials::parse(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 1024).unwrap();
        assert_eq!(c.username, "Aladdin");
        assert_eq!(c.password, "open sesame");
        assert_eq!(c.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{c:?}").contains("sesame"));
        let c = BasicCredentials::parse(b"  bAsIc   QWxhZGRpbjpvcGVuIHNlc2FtZQ ", 1024).unwrap();
        assert_eq!(c.password, "open sesame");
    }

    #[test]
    fn typed_errors() {
        let cases: [(&[u8], usize, HttpError); 7] = [
            (b"Bearer abc", 1024, HttpError::AuthScheme),
            (b"Basic", 1024, HttpError::AuthMissingColon), // empty token: no colon
            (b"Basic !!!!", 1024, HttpError::AuthBase64),
            (b"Basic dXNlcg==", 1024, HttpError::AuthMissingColon), // "user"
            (b"Basic //79", 1024, HttpError::AuthUtf8),
            (b"Basic dQpzZXI6cA==", 1024, HttpError::AuthControl), // "u\nser:p"
            (
                b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                8,
                HttpError::AuthTooLong { len: 28, max: 8 },
            ),
        ];
        for (value, max, want) in cases {
            let got = BasicCredentials::parse(value, max);
            assert_eq!(got, Err(want), "{}", String::from_utf8_lossy(value));
        }
        assert_eq!(HttpError::AuthScheme.status(), 407);
        assert_eq!(HttpError::AuthBase64.status(), 400);
    }

    #[test]
    fn new_checks_like_parse() {
        assert!(BasicCredentials::new("a:b", "c").is_err());
        assert!(BasicCredentials::new("a", "b\r\n").is_err());
        let c = BasicCredentials::new("agent-1", "tok:en").unwrap();
        assert_eq!(
            BasicCredentials::parse(c.header_value().as_bytes(), 1024).unwrap(),
            c
        );
    }
}
