//! Encryption at rest and keyed fingerprints.
//!
//! Layout of every encrypted column (shared with services in other languages):
//! a format version byte || 12-byte random nonce || AES-256-GCM ciphertext
//! with its 16-byte tag appended; key = ENCRYPTION_KEY.
//!
//! - `0x02` (what this service writes): the associated data is the UTF-8 of
//!   `<project id>:<table>.<column>` (e.g. `shop:secrets.encrypted_value`),
//!   so a ciphertext only decrypts in a column of the project it was written
//!   for: copied into another project's row, or another column, it fails.
//! - `0x01` (older writers): no associated data. Still read; `rotate-key`
//!   rewrites it as `0x02`.
//!
//! A call site names where the ciphertext lives with an [`Aad`] built from a
//! [`Column`] (an enum of the encrypted columns), so it cannot get the
//! associated data's string wrong.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The layout without associated data (read, never written).
pub const FORMAT_V1: u8 = 0x01;
/// The layout bound to project and column (written).
pub const FORMAT_V2: u8 = 0x02;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Every column that holds a ciphertext. Adding an encrypted column means
/// adding it here (and `tests/it/rotation.rs` fails until `rotate-key` covers it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// `secrets.encrypted_value`
    SecretValue,
    /// `secrets.encrypted_comment`
    SecretComment,
    /// `app_connections.encrypted_credentials` (the JSON `{"apiToken": …}`)
    ConnectionCredentials,
    /// `notification_channels.encrypted_url`
    ChannelUrl,
    /// `notification_channels.encrypted_secret` (a webhook's signing secret)
    ChannelSecret,
}

impl Column {
    pub const ALL: [Column; 5] = [
        Column::SecretValue,
        Column::SecretComment,
        Column::ConnectionCredentials,
        Column::ChannelUrl,
        Column::ChannelSecret,
    ];

    /// The table that holds the column.
    pub const fn table(self) -> &'static str {
        match self {
            Column::SecretValue | Column::SecretComment => "secrets",
            Column::ConnectionCredentials => "app_connections",
            Column::ChannelUrl | Column::ChannelSecret => "notification_channels",
        }
    }

    /// The column's name within its table.
    pub const fn name(self) -> &'static str {
        match self {
            Column::SecretValue => "encrypted_value",
            Column::SecretComment => "encrypted_comment",
            Column::ConnectionCredentials => "encrypted_credentials",
            Column::ChannelUrl => "encrypted_url",
            Column::ChannelSecret => "encrypted_secret",
        }
    }
}

/// `table.column`
impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table(), self.name())
    }
}

/// Where a ciphertext belongs: the project of its row and its column. Its
/// bytes are the associated data of layout `0x02`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aad<'a> {
    project: &'a str,
    column: Column,
}

impl<'a> Aad<'a> {
    pub fn new(project: &'a str, column: Column) -> Self {
        Aad { project, column }
    }

    pub fn project(&self) -> &'a str {
        self.project
    }

    pub fn column(&self) -> Column {
        self.column
    }

    /// The associated data: UTF-8 of `<project id>:<table>.<column>`.
    /// Unambiguous: no table or column name holds a `:`, so the last one
    /// separates the project from the column.
    pub fn bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.project, self.column).into_bytes()
    }

    fn place(&self) -> Place {
        Place {
            column: self.column,
            project: self.project.to_string(),
        }
    }
}

/// Where a ciphertext that failed was read, for errors: table, column and
/// project; the caller adds the row. Never the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub column: Column,
    pub project: String,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` of project `{}`", self.column, self.project)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "expected the base64 of exactly 32 bytes ({0}); \
         generate one with `secret-sync keygen`"
    )]
    BadKey(String),
    #[error("{at} is malformed: {reason}")]
    Malformed { at: Place, reason: &'static str },
    #[error("{at} (layout 0x01) was written under a different ENCRYPTION_KEY or has been altered")]
    UndecryptableV1 { at: Place },
    #[error(
        "{at} (layout 0x02) was written under a different ENCRYPTION_KEY, or for another \
         project or column (copied from another row), or has been altered"
    )]
    Undecryptable { at: Place },
    #[error("{at} decrypts to something that is not UTF-8")]
    NotUtf8 { at: Place },
}

impl CryptoError {
    /// Readable under neither key (as opposed to malformed).
    pub fn is_undecryptable(&self) -> bool {
        matches!(
            self,
            CryptoError::Undecryptable { .. } | CryptoError::UndecryptableV1 { .. }
        )
    }
}

/// The layout version byte of a stored value, if it has one.
pub fn layout_version(data: &[u8]) -> Option<u8> {
    data.first().copied()
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

    /// Whether `data` needs no rewrite: layout `0x02`, under the current
    /// key, bound to `aad`.
    pub fn is_current(&self, data: &[u8], aad: Aad<'_>) -> bool {
        layout_version(data) == Some(FORMAT_V2) && self.decrypt_current(data, aad).is_ok()
    }

    /// Encrypts in layout `0x02`, bound to `aad`.
    pub fn encrypt(&self, plaintext: &[u8], aad: Aad<'_>) -> Vec<u8> {
        self.seal(FORMAT_V2, plaintext, &aad.bytes())
    }

    pub fn encrypt_str(&self, plaintext: &str, aad: Aad<'_>) -> Vec<u8> {
        self.encrypt(plaintext.as_bytes(), aad)
    }

    /// Encrypts in the old layout `0x01` (no associated data), as a writer
    /// that predates `0x02` does. The product never writes it: this is for
    /// tests and tools that must produce such rows.
    pub fn encrypt_v1(&self, plaintext: &[u8]) -> Vec<u8> {
        self.seal(FORMAT_V1, plaintext, &[])
    }

    fn seal(&self, version: u8, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = Nonce::from(nonce);
        let ciphertext = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption fails only past 64 GiB"));
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts what was stored at `aad` (layout `0x02` bound to it, or
    /// `0x01`), under the current key, else under the previous one. Errors
    /// name the table, column and project, never the value.
    pub fn decrypt(&self, data: &[u8], aad: Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        match (self.decrypt_current(data, aad), &self.previous) {
            (Err(e), Some(previous)) if e.is_undecryptable() => previous.decrypt_current(data, aad),
            (result, _) => result,
        }
    }

    pub fn decrypt_string(&self, data: &[u8], aad: Aad<'_>) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(data, aad)?)
            .map_err(|_| CryptoError::NotUtf8 { at: aad.place() })
    }

    fn decrypt_current(&self, data: &[u8], aad: Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let malformed = |reason| CryptoError::Malformed {
            at: aad.place(),
            reason,
        };
        let (&version, rest) = data.split_first().ok_or_else(|| malformed("it is empty"))?;
        let bound = match version {
            FORMAT_V1 => None,
            FORMAT_V2 => Some(aad.bytes()),
            _ => return Err(malformed("unknown format version byte")),
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed("it is too short"));
        }
        let (nonce, ciphertext) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| malformed("it is too short"))?;
        let payload = Payload {
            msg: ciphertext,
            aad: bound.as_deref().unwrap_or_default(),
        };
        self.aead
            .decrypt(&Nonce::from(*nonce), payload)
            .map_err(|_| match bound {
                Some(_) => CryptoError::Undecryptable { at: aad.place() },
                None => CryptoError::UndecryptableV1 { at: aad.place() },
            })
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

    fn at(project: &str) -> Aad<'_> {
        Aad::new(project, Column::SecretValue)
    }

    #[test]
    fn round_trip_uses_the_documented_layout() {
        let c = cipher();
        let sealed = c.encrypt_str("hunter2", at("shop"));
        assert_eq!(sealed[0], 0x02);
        assert_eq!(sealed.len(), 1 + 12 + "hunter2".len() + 16);
        assert_eq!(
            c.decrypt_string(&sealed, at("shop")).ok().as_deref(),
            Some("hunter2")
        );
        assert!(c.is_current(&sealed, at("shop")));
    }

    #[test]
    fn the_associated_data_is_project_table_and_column() {
        assert_eq!(at("shop").bytes(), b"shop:secrets.encrypted_value");
        let names: Vec<String> = Column::ALL
            .iter()
            .map(|c| String::from_utf8_lossy(&Aad::new("p", *c).bytes()).into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "p:secrets.encrypted_value",
                "p:secrets.encrypted_comment",
                "p:app_connections.encrypted_credentials",
                "p:notification_channels.encrypted_url",
                "p:notification_channels.encrypted_secret",
            ]
        );
        assert!(Column::ALL
            .iter()
            .all(|c| !c.table().contains(':') && !c.name().contains(':')));
    }

    #[test]
    fn a_ciphertext_only_decrypts_where_it_was_written() {
        let c = cipher();
        let sealed = c.encrypt_str("v", at("shop"));
        let elsewhere = [
            at("other"),
            at("shop:x"),
            at("sho"),
            Aad::new("shop", Column::SecretComment),
            Aad::new("shop", Column::ChannelSecret),
        ];
        for aad in elsewhere {
            let err = c.decrypt(&sealed, aad).err();
            assert!(
                matches!(err, Some(CryptoError::Undecryptable { .. })),
                "{aad:?}: {err:?}"
            );
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.contains(&format!("`{}`", aad.column())),
                "{message}"
            );
            assert!(message.contains(aad.project()), "{message}");
            assert!(message.contains("another project or column"), "{message}");
            assert!(!c.is_current(&sealed, aad));
        }
        // The previous key does not change that.
        let rotating = Cipher::from_key([1u8; 32]).with_previous(c.clone());
        assert!(rotating.decrypt(&sealed, at("other")).is_err());
        assert!(rotating.decrypt(&sealed, at("shop")).is_ok());
    }

    #[test]
    fn the_old_layout_is_read_anywhere_and_never_current() {
        let c = cipher();
        let old = c.encrypt_v1(b"legacy");
        assert_eq!(old[0], 0x01);
        assert_eq!(c.decrypt(&old, at("shop")).ok(), Some(b"legacy".to_vec()));
        assert_eq!(c.decrypt(&old, at("other")).ok(), Some(b"legacy".to_vec()));
        assert!(!c.is_current(&old, at("shop")), "rotate-key rewrites it");
    }

    #[test]
    fn nonces_are_random() {
        let c = cipher();
        assert_ne!(
            c.encrypt_str("same", at("p")),
            c.encrypt_str("same", at("p"))
        );
    }

    #[test]
    fn decrypts_what_another_implementation_wrote() {
        // Built by hand from the documented layouts with a fixed nonce, as a
        // service in another language would.
        let key = [7u8; 32];
        let aead = Aes256Gcm::new(&key.into());
        let nonce = [9u8; 12];
        for (version, aad) in [(0x01, &b""[..]), (0x02, b"shop:secrets.encrypted_value")] {
            let payload = Payload {
                msg: b"from-node",
                aad,
            };
            let ct = aead.encrypt(&Nonce::from(nonce), payload).expect("encrypt");
            let mut blob = vec![version];
            blob.extend_from_slice(&nonce);
            blob.extend_from_slice(&ct);
            assert_eq!(
                cipher().decrypt_string(&blob, at("shop")).ok().as_deref(),
                Some("from-node")
            );
        }
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
            cipher().decrypt_string(&blob, at("shop")).ok().as_deref(),
            Some("from-node")
        );
        // AESGCM(key).encrypt(nonce, b"from-node", b"shop:secrets.encrypted_value")
        let bound = hex("02090909090909090909090909\
             41f7ebf9939eae05c5781e3b082349c59233ce512f5bd11105");
        assert_eq!(
            cipher().decrypt_string(&bound, at("shop")).ok().as_deref(),
            Some("from-node")
        );
        assert!(cipher().decrypt_string(&bound, at("shop2")).is_err());
        assert_eq!(
            cipher().fingerprint(&[b"ab", b"c"]),
            hex("8f9f21afb16b21648b9da6c8ec169ad7e1a31fd2f735080cf6ecccd0085c00c3")
        );
    }

    #[test]
    fn wrong_key_or_tampering_is_reported() {
        let sealed = cipher().encrypt_str("v", at("p"));
        let other = Cipher::from_key([8u8; 32]);
        assert!(matches!(
            other.decrypt(&sealed, at("p")),
            Err(CryptoError::Undecryptable { .. })
        ));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            cipher().decrypt(&tampered, at("p")),
            Err(CryptoError::Undecryptable { .. })
        ));
        // Relabelled as 0x01 (to drop the binding): no longer authentic.
        let mut relabelled = sealed.clone();
        relabelled[0] = 0x01;
        assert!(matches!(
            cipher().decrypt(&relabelled, at("p")),
            Err(CryptoError::UndecryptableV1 { .. })
        ));
        for bad in [&[][..], &[2, 0, 0], &[3; 40]] {
            assert!(matches!(
                cipher().decrypt(bad, at("p")),
                Err(CryptoError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn errors_name_the_place_never_the_value() {
        let c = cipher();
        let value = "hunter2-very-secret";
        let sealed = c.encrypt_str(value, at("shop"));
        let aad = Aad::new("other", Column::ConnectionCredentials);
        let message = c
            .decrypt(&sealed, aad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`app_connections.encrypted_credentials` of project `other`"));
        assert!(!message.contains(value));
        let not_utf8 = c.encrypt(&[0xff, 0xfe], at("shop"));
        let message = c
            .decrypt_string(&not_utf8, at("shop"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`secrets.encrypted_value`"), "{message}");
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
        for under_old in [old.encrypt(b"v", at("p")), old.encrypt_v1(b"v")] {
            assert_eq!(
                rotating.decrypt(&under_old, at("p")).ok(),
                Some(b"v".to_vec())
            );
            assert!(!rotating.is_current(&under_old, at("p")));
            assert!(
                new.decrypt(&under_old, at("p"))
                    .is_err_and(|e| e.is_undecryptable()),
                "without the previous key, old data stays unreadable"
            );
        }
        let rewritten = rotating.encrypt(b"v", at("p"));
        assert!(rotating.is_current(&rewritten, at("p")));
        assert!(
            old.decrypt(&rewritten, at("p")).is_err(),
            "written under the new key"
        );
        assert_eq!(rotating.fingerprint(&[b"k"]), new.fingerprint(&[b"k"]));
        let previous = rotating.previous().map(|p| p.fingerprint(&[b"k"]));
        assert_eq!(previous, Some(old.fingerprint(&[b"k"])));
    }
}
