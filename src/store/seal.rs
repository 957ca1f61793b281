//! The seal: one BLAKE3 digest over everything a baseline asserts (schema version,
//! policy, metadata, every entry row in path order), optionally signed with ed25519.
//! Each row is hashed on its own as it is written, so the digest is the same whatever
//! order the parallel scan wrote the rows in.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::fs::{Attrs, Entry};

const DOMAIN: &[u8] = b"fim baseline seal v1\0";

/// The digest of one entry row, from its decoded values (canonical: fixed-width
/// little-endian integers, length-prefixed byte strings, presence flags).
pub fn row_digest(path: &[u8], a: &Attrs) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    bytes(&mut h, path);
    h.update(&a.file_type.code().to_le_bytes());
    for n in [
        a.size,
        a.mode.into(),
        a.uid.into(),
        a.gid.into(),
        a.inode,
        a.nlink,
    ] {
        h.update(&n.to_le_bytes());
    }
    for t in [a.mtime, a.ctime] {
        h.update(&t.sec.to_le_bytes());
        h.update(&t.nsec.to_le_bytes());
    }
    optional(&mut h, a.target.as_deref());
    h.update(&(a.xattrs.len() as u64).to_le_bytes());
    for (name, value) in &a.xattrs {
        bytes(&mut h, name);
        bytes(&mut h, value);
    }
    optional(&mut h, a.blake3.as_ref().map(|d| &d[..]));
    *h.finalize().as_bytes()
}

fn bytes(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

fn optional(h: &mut blake3::Hasher, b: Option<&[u8]>) {
    match b {
        None => {
            h.update(&[0]);
        }
        Some(b) => {
            h.update(&[1]);
            bytes(h, b);
        }
    }
}

/// What the seal covers besides the rows.
pub struct Header<'a> {
    pub schema_version: i64,
    pub policy: &'a str,
    pub host: &'a str,
    pub fim_version: &'a str,
    pub created: &'a str,
}

/// Collects row digests in any order.
#[derive(Default)]
pub struct Sealer {
    rows: Vec<(Vec<u8>, [u8; 32])>,
}

impl Sealer {
    pub fn add(&mut self, entry: &Entry) {
        self.rows
            .push((entry.path.clone(), row_digest(&entry.path, &entry.attrs)));
    }

    pub fn digest(mut self, header: &Header<'_>) -> [u8; 32] {
        self.rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        digest_sorted(header, self.rows.iter().map(|(_, d)| d))
    }
}

/// The seal digest from row digests already in path order.
pub fn digest_sorted<'a>(
    header: &Header<'_>,
    rows: impl Iterator<Item = &'a [u8; 32]>,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(&header.schema_version.to_le_bytes());
    for field in [
        header.policy,
        header.host,
        header.fim_version,
        header.created,
    ] {
        bytes(&mut h, field.as_bytes());
    }
    let mut count = 0u64;
    for row in rows {
        h.update(row);
        count += 1;
    }
    h.update(&count.to_le_bytes());
    *h.finalize().as_bytes()
}

pub fn sign(key: &SigningKey, digest: &[u8; 32]) -> [u8; 64] {
    key.sign(digest).to_bytes()
}

pub fn verify(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| key.verify(digest, &s).is_ok())
}
