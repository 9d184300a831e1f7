//! Sealing and opening one record: header, nonce, ChaCha20-Poly1305 with the header (and, for
//! responses, the request nonce) as associated data.

use bytes::BufMut;
use ring::aead::{Aad, Nonce as RingNonce};

use crate::error::SealError;
use crate::key::HopKey;
use crate::wire::{HEADER_LEN, Header, NONCE_LEN, Nonce, PREFIX_LEN};

/// Seals `plain` in place and appends header, ciphertext and tag to `out`.
pub(crate) fn seal_record(
    key: &HopKey,
    header: &Header,
    nonce: Nonce,
    aad_extra: &[u8],
    plain: &mut [u8],
    out: &mut impl BufMut,
) -> Result<(), SealError> {
    let prefix = header.prefix();
    let mut aad = [0u8; PREFIX_LEN + NONCE_LEN];
    let aad_len = PREFIX_LEN + aad_extra.len();
    let aad = aad.get_mut(..aad_len).ok_or(SealError::Key)?;
    let (a, b) = aad.split_at_mut(PREFIX_LEN);
    a.copy_from_slice(&prefix);
    b.copy_from_slice(aad_extra);
    let aead = key.aead().ok_or(SealError::Key)?;
    let tag = aead
        .seal_in_place_separate_tag(
            RingNonce::assume_unique_for_key(nonce),
            Aad::from(&*aad),
            plain,
        )
        .map_err(|_unspecified| SealError::Key)?;
    out.put_slice(&prefix);
    out.put_slice(&nonce);
    out.put_slice(plain);
    out.put_slice(tag.as_ref());
    Ok(())
}

/// Opens a complete record (`record` is exactly header plus ciphertext) into `scratch`,
/// returning the nonce and the plaintext, or `None` when the tag does not verify.
pub(crate) fn open_record<'s>(
    key: &HopKey,
    header: &Header,
    record: &[u8],
    aad_extra: &[u8],
    scratch: &'s mut [u8],
) -> Option<(Nonce, &'s [u8])> {
    let nonce: Nonce = record.get(PREFIX_LEN..HEADER_LEN)?.try_into().ok()?;
    let sealed = record.get(HEADER_LEN..)?;
    let buf = scratch.get_mut(..sealed.len())?;
    buf.copy_from_slice(sealed);
    let mut aad = [0u8; PREFIX_LEN + NONCE_LEN];
    let aad = aad.get_mut(..PREFIX_LEN + aad_extra.len())?;
    let (a, b) = aad.split_at_mut(PREFIX_LEN);
    a.copy_from_slice(&header.prefix());
    b.copy_from_slice(aad_extra);
    let plain = key
        .aead()?
        .open_in_place(
            RingNonce::assume_unique_for_key(nonce),
            Aad::from(&*aad),
            buf,
        )
        .ok()?;
    Some((nonce, plain))
}
