//! Signing keys for sealed baselines: ed25519. The private key may be encrypted with a
//! passphrase (Argon2id, XChaCha20-Poly1305). Keep it off the web server and seal
//! elsewhere (Tripwire's model): then even root on the host cannot reseal a baseline.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::Argon2;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::error::{Error, Result};

const PUBLIC_TAG: &str = "fim-ed25519-public";
const SECRET_TAG: &str = "fim-ed25519-secret";
const ENCRYPTED_TAG: &str = "fim-ed25519-secret-argon2id-xchacha20poly1305";
/// The environment variable holding the private key's passphrase.
pub const PASSPHRASE_ENV: &str = "FIM_PASSPHRASE";

/// Write `DIR/fim.key` (mode 0600, encrypted when a passphrase is given) and
/// `DIR/fim.pub`. An existing key is never overwritten.
pub fn generate(dir: &Path, passphrase: Option<&str>) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| Error::io("<random source>", std::io::Error::other(e.to_string())))?;
    let signing = SigningKey::from_bytes(&seed);
    let secret_line = match passphrase {
        None => format!("{SECRET_TAG} {}\n", B64.encode(seed)),
        Some(pass) => {
            let mut salt = [0u8; 16];
            let mut nonce = [0u8; 24];
            getrandom::getrandom(&mut salt)
                .and_then(|()| getrandom::getrandom(&mut nonce))
                .map_err(|e| Error::io("<random source>", std::io::Error::other(e.to_string())))?;
            let cipher = cipher(pass, &salt)?;
            let sealed = cipher
                .encrypt(XNonce::from_slice(&nonce), &seed[..])
                .map_err(|_| Error::Usage("cannot encrypt the key".into()))?;
            format!(
                "{ENCRYPTED_TAG} {} {} {}\n",
                B64.encode(salt),
                B64.encode(nonce),
                B64.encode(sealed)
            )
        }
    };
    let key_path = dir.join("fim.key");
    let pub_path = dir.join("fim.pub");
    write_new(&key_path, secret_line.as_bytes(), 0o600)?;
    let public_line = format!(
        "{PUBLIC_TAG} {}\n",
        B64.encode(signing.verifying_key().as_bytes())
    );
    write_new(&pub_path, public_line.as_bytes(), 0o644)?;
    Ok((key_path, pub_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn cipher(passphrase: &str, salt: &[u8]) -> Result<XChaCha20Poly1305> {
    let mut key = [0u8; 32];
    Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| Error::Usage(format!("cannot derive a key from the passphrase: {e}")))?;
    Ok(XChaCha20Poly1305::new((&key).into()))
}

/// Load a private key, refusing one that others can read, asking for its passphrase
/// (`FIM_PASSPHRASE`, else a prompt) when it is encrypted.
pub fn load_signing(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::Usage(format!(
            "{}: private key is accessible by group or others (mode {:04o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o7777
        )));
    }
    let text = read_key_file(path)?;
    let bad = |what: &str| {
        Error::Usage(format!(
            "{}: not a fim private key ({what})",
            path.display()
        ))
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let seed: Vec<u8> = match fields.as_slice() {
        [SECRET_TAG, seed] => B64.decode(seed).map_err(|_| bad("bad base64"))?,
        [ENCRYPTED_TAG, salt, nonce, sealed] => {
            let salt = B64.decode(salt).map_err(|_| bad("bad salt"))?;
            let nonce = B64.decode(nonce).map_err(|_| bad("bad nonce"))?;
            let sealed = B64.decode(sealed).map_err(|_| bad("bad ciphertext"))?;
            if nonce.len() != 24 {
                return Err(bad("bad nonce"));
            }
            let passphrase = match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => p,
                Err(_) => {
                    rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                        .map_err(|e| Error::io(path, e))?
                }
            };
            cipher(&passphrase, &salt)?
                .decrypt(XNonce::from_slice(&nonce), &sealed[..])
                .map_err(|_| Error::Usage(format!("{}: wrong passphrase", path.display())))?
        }
        _ => return Err(bad("unknown format")),
    };
    let seed: [u8; 32] = seed.try_into().map_err(|_| bad("bad length"))?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn load_verifying(path: &Path) -> Result<VerifyingKey> {
    let text = read_key_file(path)?;
    let bad =
        |what: &str| Error::Usage(format!("{}: not a fim public key ({what})", path.display()));
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [PUBLIC_TAG, key] = fields.as_slice() else {
        return Err(bad("unknown format"));
    };
    let bytes: [u8; 32] = B64
        .decode(key)
        .map_err(|_| bad("bad base64"))?
        .try_into()
        .map_err(|_| bad("bad length"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a valid ed25519 point"))
}

fn read_key_file(path: &Path) -> Result<String> {
    let bytes = crate::fs::open::read_regular_file(path, 4096).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{}: not a fim key (not text)", path.display())))
}

/// Refuse a file that someone other than its reader (or root) could have written: a
/// policy or baseline writable by group or others, or owned by another user, cannot
/// be trusted (sshd's StrictModes).
pub fn check_trusted(path: &Path, what: &str) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        // Missing files are reported by whoever opens them.
        Err(_) => return Ok(()),
    };
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Error::Usage(format!(
            "{}: {what} is owned by uid {}, not by you or root: refusing to trust it",
            path.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Error::Usage(format!(
            "{}: {what} is writable by group or others (mode {:04o}): refusing to trust it; chmod go-w it",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}
