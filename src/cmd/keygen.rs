//! `fim keygen`: a key pair for sealed baselines.

use std::path::Path;

use crate::error::{Error, Result};
use crate::exit;
use crate::keys::{self, PASSPHRASE_ENV};

pub fn run(out: &Path, ask: bool) -> Result<i32> {
    let passphrase = match std::env::var(PASSPHRASE_ENV) {
        Ok(p) => Some(p),
        Err(_) if ask => {
            let first = rpassword::prompt_password("Passphrase for the new key: ")
                .map_err(|e| Error::io("<terminal>", e))?;
            let again = rpassword::prompt_password("The same passphrase again: ")
                .map_err(|e| Error::io("<terminal>", e))?;
            if first != again {
                return Err(Error::Usage("the passphrases differ".into()));
            }
            Some(first)
        }
        Err(_) => None,
    };
    if passphrase.as_deref() == Some("") {
        return Err(Error::Usage("an empty passphrase protects nothing".into()));
    }
    let (key, public) = keys::generate(out, passphrase.as_deref())?;
    eprintln!(
        "fim keygen: private key {} ({}), public key {}",
        key.display(),
        if passphrase.is_some() {
            "encrypted"
        } else {
            "not encrypted"
        },
        public.display()
    );
    Ok(exit::CLEAN)
}
