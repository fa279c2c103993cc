//! Encryption at rest and keyed fingerprints.
//!
//! Layout of every encrypted column (shared with services in other languages):
//! `0x01` (format version) || 12-byte random nonce || AES-256-GCM ciphertext
//! with its 16-byte tag appended; key = ENCRYPTION_KEY, no associated data.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

const FORMAT_V1: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "expected the base64 of exactly 32 bytes ({0}); \
         generate one with `secret-sync keygen`"
    )]
    BadKey(String),
    #[error("encrypted data is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "encrypted data could not be decrypted: it was written under a different \
         ENCRYPTION_KEY or has been altered"
    )]
    Undecryptable,
    #[error("decrypted data is not valid UTF-8")]
    NotUtf8,
}

/// Makes a new random key, base64-encoded, for ENCRYPTION_KEY.
pub fn generate_key() -> String {
    let mut key = [0u8; 32];
    // The thread's generator is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(&mut key);
    BASE64.encode(key)
}

/// Encrypts and decrypts column values; computes keyed fingerprints.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    fingerprint_key: [u8; 32],
    /// During a key rotation: the old key, still accepted for reading.
    previous: Option<Box<Cipher>>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<key>)")
    }
}

impl Cipher {
    /// Builds a cipher from the base64 ENCRYPTION_KEY.
    pub fn from_base64_key(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadKey("it is not valid base64".into()))?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadKey(format!("it decodes to {} bytes", bytes.len())))?;
        Ok(Self::from_key(key))
    }

    pub fn from_key(key: [u8; 32]) -> Self {
        // The fingerprint key is derived, so a fingerprint never equals a
        // MAC anyone could compute with the encryption key itself.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"secret-sync/fingerprint/v1");
        let fingerprint_key: [u8; 32] = mac.finalize().into_bytes().into();
        Cipher {
            aead: Aes256Gcm::new(&key.into()),
            fingerprint_key,
            previous: None,
        }
    }

    /// Also reads what `previous` (the key being rotated out) encrypted.
    /// Writes and fingerprints always use the current key.
    pub fn with_previous(mut self, previous: Cipher) -> Self {
        self.previous = Some(Box::new(Cipher {
            previous: None,
            ..previous
        }));
        self
    }

    /// The key being rotated out, if any.
    pub fn previous(&self) -> Option<&Cipher> {
        self.previous.as_deref()
    }

    /// Whether `data` is encrypted under the current key.
    pub fn is_current(&self, data: &[u8]) -> bool {
        self.decrypt_current(data).is_ok()
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = Nonce::from(nonce);
        let ciphertext = self
            .aead
            .encrypt(&nonce, plaintext)
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption fails only past 64 GiB"));
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts under the current key, else under the previous one.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match (self.decrypt_current(data), &self.previous) {
            (Err(CryptoError::Undecryptable), Some(previous)) => previous.decrypt_current(data),
            (result, _) => result,
        }
    }

    fn decrypt_current(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = data
            .split_first()
            .ok_or(CryptoError::Malformed("it is empty"))?;
        if version != FORMAT_V1 {
            return Err(CryptoError::Malformed("unknown format version byte"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("it is too short"));
        }
        let (nonce, ciphertext) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(CryptoError::Malformed("it is too short"))?;
        self.aead
            .decrypt(&Nonce::from(*nonce), ciphertext)
            .map_err(|_| CryptoError::Undecryptable)
    }

    pub fn encrypt_str(&self, plaintext: &str) -> Vec<u8> {
        self.encrypt(plaintext.as_bytes())
    }

    pub fn decrypt_string(&self, data: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(data)?).map_err(|_| CryptoError::NotUtf8)
    }

    /// A keyed hash (HMAC-SHA256) of the given parts, length-prefixed so that
    /// ("ab","c") and ("a","bc") differ. Never a plain hash: a stolen database
    /// must not let anyone test guesses of a secret.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.fingerprint_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::from_key([7u8; 32])
    }

    #[test]
    fn round_trip_uses_the_documented_layout() {
        let c = cipher();
        let sealed = c.encrypt_str("hunter2");
        assert_eq!(sealed[0], 0x01);
        assert_eq!(sealed.len(), 1 + 12 + "hunter2".len() + 16);
        assert_eq!(c.decrypt_string(&sealed).ok().as_deref(), Some("hunter2"));
    }

    #[test]
    fn nonces_are_random() {
        let c = cipher();
        assert_ne!(c.encrypt_str("same"), c.encrypt_str("same"));
    }

    #[test]
    fn decrypts_what_another_implementation_wrote() {
        // Built by hand from the documented layout with a fixed nonce, as a
        // service in another language would.
        let key = [7u8; 32];
        let aead = Aes256Gcm::new(&key.into());
        let nonce = [9u8; 12];
        let ct = aead
            .encrypt(&Nonce::from(nonce), b"from-node".as_ref())
            .expect("encrypt");
        let mut blob = vec![0x01];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        assert_eq!(
            cipher().decrypt_string(&blob).ok().as_deref(),
            Some("from-node")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    #[test]
    fn matches_fixed_vectors_from_another_implementation() {
        // Computed with Python's `hmac` and `cryptography` (AESGCM): pins the
        // bytes across crate upgrades, not only the round trip.
        let blob = hex("01090909090909090909090909\
             41f7ebf9939eae05c5be31b775d20a038d7d91c0214d4e783f");
        assert_eq!(
            cipher().decrypt_string(&blob).ok().as_deref(),
            Some("from-node")
        );
        assert_eq!(
            cipher().fingerprint(&[b"ab", b"c"]),
            hex("8f9f21afb16b21648b9da6c8ec169ad7e1a31fd2f735080cf6ecccd0085c00c3")
        );
    }

    #[test]
    fn wrong_key_or_tampering_is_reported() {
        let sealed = cipher().encrypt_str("v");
        let other = Cipher::from_key([8u8; 32]);
        assert!(matches!(
            other.decrypt(&sealed),
            Err(CryptoError::Undecryptable)
        ));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            cipher().decrypt(&tampered),
            Err(CryptoError::Undecryptable)
        ));
        assert!(matches!(
            cipher().decrypt(&[]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            cipher().decrypt(&[2, 0, 0]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(Cipher::from_base64_key(&generate_key()).is_ok());
        let short = BASE64.encode([1u8; 16]);
        let err = Cipher::from_base64_key(&short).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("decodes to 16 bytes") && e.contains("keygen")));
        assert!(Cipher::from_base64_key("not base64!").is_err());
    }

    #[test]
    fn fingerprints_are_keyed_and_unambiguous() {
        let c = cipher();
        let a = c.fingerprint(&[b"ab", b"c"]);
        assert_ne!(a, c.fingerprint(&[b"a", b"bc"]));
        assert_eq!(a, c.fingerprint(&[b"ab", b"c"]));
        assert_ne!(a, Cipher::from_key([8u8; 32]).fingerprint(&[b"ab", b"c"]));
    }

    #[test]
    fn a_previous_key_is_read_but_never_written() {
        let old = Cipher::from_key([1u8; 32]);
        let new = Cipher::from_key([2u8; 32]);
        let rotating = new.clone().with_previous(old.clone());
        let under_old = old.encrypt(b"v");
        assert_eq!(rotating.decrypt(&under_old).ok(), Some(b"v".to_vec()));
        assert!(!rotating.is_current(&under_old));
        let rewritten = rotating.encrypt(b"v");
        assert!(rotating.is_current(&rewritten));
        assert!(
            old.decrypt(&rewritten).is_err(),
            "written under the new key"
        );
        assert_eq!(rotating.fingerprint(&[b"k"]), new.fingerprint(&[b"k"]));
        let previous = rotating.previous().map(|p| p.fingerprint(&[b"k"]));
        assert_eq!(previous, Some(old.fingerprint(&[b"k"])));
        assert!(
            matches!(new.decrypt(&under_old), Err(CryptoError::Undecryptable)),
            "without the previous key, old data stays unreadable"
        );
    }
}
