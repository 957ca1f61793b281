//! Values a sink reads at start-up: written in the policy, from an environment
//! variable, or from a file only its owner (root, or the user fim runs as) can read.

use std::os::unix::fs::MetadataExt;

use crate::policy::sink::Value;

/// Secret files are a line or two; anything bigger is not one.
const MAX_SECRET_BYTES: u64 = 64 << 10;

pub fn resolve(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::Plain(text) => Ok(text.clone()),
        Value::Env { env } => {
            std::env::var(env).map_err(|_| format!("{what}: environment variable {env} is not set"))
        }
        Value::File { file } => read_secret_file(file).map_err(|e| format!("{what}: {file}: {e}")),
    }
}

fn read_secret_file(file: &str) -> Result<String, String> {
    let path = std::path::Path::new(file);
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "secret file is owned by uid {}, not by root or you: refusing it",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "secret file is open to group or others (mode {:04o}): chmod 600 it",
            meta.mode() & 0o7777
        ));
    }
    let bytes =
        crate::fs::open::read_regular_file(path, MAX_SECRET_BYTES).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "secret file is not UTF-8".to_owned())?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}
