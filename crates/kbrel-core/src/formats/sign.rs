//! ed25519 signatures over `index.json`: a detached `index.json.sig` next to the index signs the
//! exact bytes of `index.json`, so a consumer in any language verifies it without
//! re-serialising anything. Key rotation: a signature file may endorse the next public key with
//! the current key; a consumer that trusts the current key then also trusts the next one.

use std::path::Path;

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Error, KeyError, Result};
use crate::hash::sha256_hex;
use crate::manifest::SCHEMA_VERSION;

pub const SIG_FILE: &str = "index.json.sig";
const PRIVATE_PREFIX: &str = "kbrel-ed25519-private:";
const PUBLIC_PREFIX: &str = "ed25519:";
const ROTATION_CONTEXT: &[u8] = b"kbrel next-key endorsement v1:";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// `index.json.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSignature {
    pub schema_version: u32,
    /// The signing public key, `ed25519:<base64>`.
    pub key: String,
    /// sha256 of the signed `index.json` bytes (for diagnostics; the signature is what counts).
    pub index_sha256: String,
    /// base64 ed25519 signature over the exact bytes of `index.json`.
    pub signature: String,
    /// The key that will sign future indexes, endorsed by `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<Endorsement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endorsement {
    pub key: String,
    /// base64 signature by the current key over `"kbrel next-key endorsement v1:" + key`.
    pub signature: String,
}

/// A new random signing key.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::NoRandomness {
        reason: e.to_string(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn public_key_string(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", b64().encode(key.to_bytes()))
}

/// Parse `ed25519:<base64>` (the prefix is optional).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey> {
    let bad = |reason: &'static str| KeyError::InvalidPublicKey {
        value: s.to_string(),
        reason,
    };
    let raw = s.trim().strip_prefix(PUBLIC_PREFIX).unwrap_or(s.trim());
    let bytes = b64().decode(raw).map_err(|_| bad("not base64"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| bad("wrong length"))?;
    Ok(VerifyingKey::from_bytes(&arr).map_err(|_| bad("not a valid ed25519 point"))?)
}

/// The text of a private key file.
pub fn private_key_text(key: &SigningKey) -> String {
    format!("{PRIVATE_PREFIX}{}\n", b64().encode(key.to_bytes()))
}

pub fn read_private_key(path: &Path) -> Result<SigningKey> {
    let text =
        crate::fsx::read_to_string(path).map_err(|e| Error::io("read signing key", path, e))?;
    let bad = || {
        Error::from(ConfigError::file_problem(
            path,
            format!("not a kbrel private key (expected `{PRIVATE_PREFIX}<base64>`)"),
        ))
    };
    let raw = text.trim().strip_prefix(PRIVATE_PREFIX).ok_or_else(bad)?;
    let bytes = b64().decode(raw).map_err(|_| bad())?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
    Ok(SigningKey::from_bytes(&arr))
}

fn endorsement_message(next: &str) -> Vec<u8> {
    let mut m = ROTATION_CONTEXT.to_vec();
    m.extend_from_slice(next.as_bytes());
    m
}

/// Sign index bytes, optionally endorsing the next key.
pub fn sign_index(index_bytes: &[u8], key: &SigningKey, next: Option<&VerifyingKey>) -> Vec<u8> {
    let next_key = next.map(|n| {
        let k = public_key_string(n);
        Endorsement {
            signature: b64().encode(key.sign(&endorsement_message(&k)).to_bytes()),
            key: k,
        }
    });
    let sig = IndexSignature {
        schema_version: SCHEMA_VERSION,
        key: public_key_string(&key.verifying_key()),
        index_sha256: sha256_hex(index_bytes),
        signature: b64().encode(key.sign(index_bytes).to_bytes()),
        next_key,
    };
    crate::manifest::to_json_bytes(&sig)
}

/// Why `index.json.sig` does not vouch for `index.json`, as data (`kbrel sync --json` prints it
/// under `problem`). The messages are the ones a refusal shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum SignatureError {
    /// The file is not JSON of the signature's shape.
    #[error("index.json.sig is not a kbrel signature file: {message}")]
    Unreadable { message: String },
    /// A `schema_version` this kbrel does not understand.
    #[error("index.json.sig has schema_version {found}, this kbrel understands {SCHEMA_VERSION}{}", if *found > SCHEMA_VERSION { "; upgrade kbrel" } else { "" })]
    Schema { found: u32 },
    /// The signing key (or the endorsed next key) is not an ed25519 public key.
    #[error("{message}")]
    InvalidKey { key: String, message: String },
    /// A valid key none of the trusted keys is.
    #[error("index.json is signed by {key}, which is not a trusted key")]
    UntrustedKey { key: String },
    /// The signature is not base64.
    #[error("signature is not base64")]
    NotBase64,
    /// The signature is not 64 bytes.
    #[error("signature has the wrong length")]
    WrongLength,
    /// The signature is not the key's over these bytes (a tampered index).
    #[error("the signature by {key} does not match index.json (sha256 {index_sha256})")]
    Mismatch { key: String, index_sha256: String },
    /// The next-key endorsement is not base64.
    #[error("next-key endorsement is not base64")]
    EndorsementNotBase64,
    /// The next-key endorsement is not 64 bytes.
    #[error("next-key endorsement has the wrong length")]
    EndorsementWrongLength,
    /// The next-key endorsement is not the index key's.
    #[error("the next-key endorsement is not signed by the index key")]
    EndorsementMismatch,
}

/// Verify a detached signature against the trusted keys. Returns the key that signed and, when
/// the signature endorses a next key, that key.
pub fn verify_index(
    index_bytes: &[u8],
    sig_bytes: &[u8],
    trusted: &[String],
) -> std::result::Result<(String, Option<String>), SignatureError> {
    let sig: IndexSignature =
        serde_json::from_slice(sig_bytes).map_err(|e| SignatureError::Unreadable {
            message: e.to_string(),
        })?;
    if sig.schema_version != SCHEMA_VERSION {
        return Err(SignatureError::Schema {
            found: sig.schema_version,
        });
    }
    let invalid = |key: &str, e: Error| SignatureError::InvalidKey {
        key: key.to_string(),
        message: e.to_string(),
    };
    let signer = parse_public_key(&sig.key).map_err(|e| invalid(&sig.key, e))?;
    let signer_s = public_key_string(&signer);
    if !trusted
        .iter()
        .any(|t| parse_public_key(t).ok().as_ref() == Some(&signer))
    {
        return Err(SignatureError::UntrustedKey { key: signer_s });
    }
    let raw = b64()
        .decode(&sig.signature)
        .map_err(|_| SignatureError::NotBase64)?;
    let arr: [u8; 64] = raw.try_into().map_err(|_| SignatureError::WrongLength)?;
    signer
        .verify(index_bytes, &Signature::from_bytes(&arr))
        .map_err(|_| SignatureError::Mismatch {
            key: signer_s.clone(),
            index_sha256: sha256_hex(index_bytes),
        })?;
    let next = match &sig.next_key {
        Some(e) => {
            let raw = b64()
                .decode(&e.signature)
                .map_err(|_| SignatureError::EndorsementNotBase64)?;
            let arr: [u8; 64] = raw
                .try_into()
                .map_err(|_| SignatureError::EndorsementWrongLength)?;
            signer
                .verify(&endorsement_message(&e.key), &Signature::from_bytes(&arr))
                .map_err(|_| SignatureError::EndorsementMismatch)?;
            parse_public_key(&e.key).map_err(|err| invalid(&e.key, err))?;
            Some(e.key.clone())
        }
        None => None,
    };
    Ok((signer_s, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refusals_are_data_with_the_messages_they_had() {
        let e = parse_public_key(" ed25519:@@ ").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid public key ` ed25519:@@ `: not base64 (expected ed25519:<base64 of 32 bytes>)"
        );
        assert!(
            matches!(&e, Error::Key(k) if **k == KeyError::InvalidPublicKey { value: " ed25519:@@ ".into(), reason: "not base64" })
        );
        let e = parse_public_key("ed25519:AAAA").unwrap_err();
        assert!(
            matches!(&e, Error::Key(k) if matches!(**k, KeyError::InvalidPublicKey { reason: "wrong length", .. }))
        );
        let e: Error = KeyError::NoRandomness {
            reason: "getrandom: unsupported".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "no randomness available: getrandom: unsupported"
        );
        assert_eq!(e.hint(), None);
    }

    #[test]
    fn sign_verify_rotate() {
        let k1 = generate().unwrap();
        let k2 = generate().unwrap();
        let index = b"{\"x\":1}\n";
        let pk1 = public_key_string(&k1.verifying_key());
        let pk2 = public_key_string(&k2.verifying_key());
        let sig = sign_index(index, &k1, Some(&k2.verifying_key()));
        let (signer, next) = verify_index(index, &sig, std::slice::from_ref(&pk1)).unwrap();
        assert_eq!((signer, next.as_deref()), (pk1.clone(), Some(pk2.as_str())));
        assert!(
            verify_index(b"{\"x\":2}\n", &sig, std::slice::from_ref(&pk1))
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
        assert!(
            verify_index(index, &sig, std::slice::from_ref(&pk2))
                .unwrap_err()
                .to_string()
                .contains("not a trusted key")
        );
        // The reasons are data.
        assert_eq!(
            verify_index(index, &sig, std::slice::from_ref(&pk2)).unwrap_err(),
            SignatureError::UntrustedKey { key: pk1.clone() }
        );
        assert_eq!(
            verify_index(b"{\"x\":2}\n", &sig, std::slice::from_ref(&pk1)).unwrap_err(),
            SignatureError::Mismatch {
                key: pk1.clone(),
                index_sha256: sha256_hex(b"{\"x\":2}\n"),
            }
        );
        assert!(matches!(
            verify_index(index, b"{}", std::slice::from_ref(&pk1)).unwrap_err(),
            SignatureError::Unreadable { .. }
        ));
        let sig2 = sign_index(index, &k2, None);
        assert!(verify_index(index, &sig2, &[pk1, pk2]).is_ok());
        assert_eq!(
            read_private_key_text(&private_key_text(&k1)).to_bytes(),
            k1.to_bytes()
        );
    }

    fn read_private_key_text(t: &str) -> SigningKey {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, t).unwrap();
        read_private_key(&p).unwrap()
    }
}
