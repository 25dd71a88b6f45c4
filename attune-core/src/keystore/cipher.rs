//! The encryption of key-value store values: AES-256-GCM under an [`EncryptionKey`] handed
//! to the engine builder, never stored with the data.
//!
//! A sealed value is the string `attune:aes256gcm:<key id>:<hex of nonce ‖ ciphertext ‖
//! tag>`, where the key id is the first 8 bytes of the SHA-256 of the key, in hex: opening a
//! value sealed under another key is an error naming both ids (never garbage), and so is a
//! value whose ciphertext was altered (GCM's tag).

use crate::{Error, Result};
use aes_gcm::aead::{Aead, Generate, Key, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// What starts a sealed value.
pub(crate) const PREFIX: &str = "attune:aes256gcm:";
/// Bytes of an AES-GCM nonce.
const NONCE_BYTES: usize = 12;

/// A 256-bit key for the key-value store's encrypted values. Its bytes are wiped when it is
/// dropped and never printed (`Debug` shows its id only).
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let id = hex(&Sha256::digest(bytes)[..8]);
        EncryptionKey {
            bytes: Zeroizing::new(bytes),
            id,
        }
    }

    /// The key written as 64 hexadecimal digits (surrounding whitespace ignored): what
    /// [`EncryptionKey::to_hex`] writes, and what a key file holds.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid("encryption key", why.to_string());
        let text = text.trim();
        if text.len() != 64 {
            return Err(bad(&format!(
                "must be 64 hexadecimal digits (32 bytes), got {} characters",
                text.len()
            )));
        }
        let decoded =
            Zeroizing::new(unhex(text).ok_or_else(|| bad("must be hexadecimal digits only"))?);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        Ok(Self::from_bytes(*bytes))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..])
            .map_err(|e| Error::invalid("encryption key", format!("no random bytes: {e}")))?;
        Ok(Self::from_bytes(*bytes))
    }

    /// The key as 64 hexadecimal digits (for a key file; handle with care).
    pub fn to_hex(&self) -> String {
        hex(&self.bytes[..])
    }

    /// The key's id: the first 8 bytes of its SHA-256, in hex. Sealed values carry it, so that
    /// a value sealed under another key is named as such.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: Key<Aes256Gcm> = (*self.bytes).into();
        Aes256Gcm::new(&key)
    }

    /// `value` sealed: the string described in the module's documentation.
    pub fn seal(&self, value: &Value) -> Result<Value> {
        let plain = Zeroizing::new(
            serde_json::to_vec(value)
                .map_err(|e| Error::invalid("encrypted value", format!("is not JSON: {e}")))?,
        );
        let nonce = Nonce::generate();
        let sealed = self
            .cipher()
            .encrypt(&nonce, plain.as_slice())
            .map_err(|_| Error::invalid("encrypted value", "could not be encrypted"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(Value::String(format!(
            "{PREFIX}{}:{}",
            self.id,
            hex(&bytes)
        )))
    }

    /// The value `sealed` holds; `what` names it in errors (`key 'db.password' (system)`). A
    /// value sealed under another key, altered, or not sealed at all is an error saying so.
    pub fn open(&self, sealed: &Value, what: &str) -> Result<Value> {
        let bad = |why: String| Error::invalid(what, why);
        let Some(rest) = sealed.as_str().and_then(|s| s.strip_prefix(PREFIX)) else {
            return Err(bad(
                "is marked encrypted but does not hold an encrypted value".into(),
            ));
        };
        let Some((id, body)) = rest.split_once(':') else {
            return Err(bad("its encrypted value is damaged (no key id)".into()));
        };
        if id != self.id {
            return Err(bad(format!(
                "was encrypted under encryption key {id}, not under this engine's ({}): give \
                 the engine that key, or rotate the values to this one with the old key",
                self.id
            )));
        }
        let bytes = unhex(body)
            .filter(|b| b.len() > NONCE_BYTES)
            .ok_or_else(|| bad("its encrypted value is damaged".into()))?;
        let nonce = Nonce::try_from(&bytes[..NONCE_BYTES])
            .map_err(|_| bad("its encrypted value is damaged".into()))?;
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(&nonce, &bytes[NONCE_BYTES..])
                .map_err(|_| {
                    bad("its encrypted value is damaged (it does not authenticate)".into())
                })?,
        );
        serde_json::from_slice(&plain)
            .map_err(|e| bad(format!("its decrypted value is not JSON: {e}")))
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            u8::try_from(h * 16 + l).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sealed_value_opens_with_its_key_only() {
        let k = EncryptionKey::generate().unwrap();
        let v = json!({"user": "ann", "password": "hunter2"});
        let sealed = k.seal(&v).unwrap();
        let text = sealed.as_str().unwrap();
        assert!(
            text.starts_with(PREFIX) && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(k.open(&sealed, "key 'x'").unwrap(), v);
        // A fresh nonce each time.
        assert_ne!(k.seal(&v).unwrap(), sealed);

        let other = EncryptionKey::generate().unwrap();
        let e = other.open(&sealed, "key 'x'").unwrap_err().to_string();
        assert!(
            e.contains("key 'x'") && e.contains(k.id()) && e.contains(other.id()),
            "{e}"
        );
    }

    #[test]
    fn an_altered_or_foreign_value_is_an_error_never_garbage() {
        let k = EncryptionKey::from_bytes([3; 32]);
        let sealed = k.seal(&json!("s3cret")).unwrap();
        let mut text = sealed.as_str().unwrap().to_string();
        let last = text.pop().unwrap();
        text.push(if last == '0' { '1' } else { '0' });
        let e = k.open(&Value::String(text), "k").unwrap_err().to_string();
        assert!(e.contains("does not authenticate"), "{e}");
        for v in [
            json!("plain"),
            json!(5),
            json!(format!("{PREFIX}{}:zz", k.id())),
        ] {
            assert!(k.open(&v, "k").is_err(), "{v}");
        }
    }

    #[test]
    fn keys_read_from_hex_and_print_their_id_only() {
        let k = EncryptionKey::from_bytes([0xab; 32]);
        let again = EncryptionKey::from_hex(&format!(" {}\n", k.to_hex())).unwrap();
        assert_eq!(again.id(), k.id());
        assert!(!format!("{k:?}").contains(&k.to_hex()));
        for bad in ["abc", &"g".repeat(64)] {
            let e = EncryptionKey::from_hex(bad).unwrap_err().to_string();
            assert!(e.contains("encryption key"), "{e}");
        }
    }
}
