//! `[logins]`: `files` (auth logs), `quiet_hours`, `learning`, `allow`, and
//! a `[logins.KIND]` table per auth detector, as `[web]`. Read by hand from the table
//! for the same reason (toml cannot span a table of tables).

use std::collections::BTreeMap;

use super::detect::{allow_list, overrides, raw_detector, Fail, RawDetector};
use crate::auth::settings::{configurable, QuietHours};
use crate::auth::LoginSettings;

pub(super) fn logins(
    raw: Option<&toml::Table>,
    at: usize,
    fail: Fail<'_>,
) -> crate::Result<LoginSettings> {
    let mut settings = LoginSettings::default();
    let Some(raw) = raw else {
        return Ok(settings);
    };
    let text = |key: &str, v: &toml::Value| -> crate::Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| fail(at, format!("[logins] {key} must be a string")))
    };
    let mut detectors: BTreeMap<String, RawDetector> = BTreeMap::new();
    for (key, value) in raw {
        match key.as_str() {
            "files" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| fail(at, "[logins] files must be a list of paths".into()))?;
                for item in list {
                    let path = text("files", item)?;
                    if !path.starts_with('/') {
                        return Err(fail(at, format!("[logins] file {path:?} is not absolute")));
                    }
                    if let Err(e) = globset::Glob::new(&path) {
                        return Err(fail(at, format!("[logins] file {path:?}: {}", e.kind())));
                    }
                    if !settings.files.contains(&path) {
                        settings.files.push(path);
                    }
                }
            }
            "journal" => {
                return Err(fail(
                    at,
                    "[logins] journal: this fim does not read the systemd journal yet; \
                     install rsyslog (it writes /var/log/auth.log) and list that in files"
                        .into(),
                ))
            }
            "quiet_hours" => {
                let t = text("quiet_hours", value)?;
                settings.quiet_hours = Some(QuietHours::parse(&t).map_err(|m| fail(at, m))?);
            }
            "learning" => {
                let t = text("learning", value)?;
                settings.learning = humantime::parse_duration(&t).map_err(|e| {
                    fail(
                        at,
                        format!("[logins] learning {t:?}: {e} (write e.g. \"7d\")"),
                    )
                })?;
            }
            "allow" => settings.allow = allow_list("logins", value, at, fail)?,
            _ => {
                detectors.insert(key.clone(), raw_detector("logins", key, value, at, fail)?);
            }
        }
    }
    let known: Vec<&str> = ["files", "journal", "quiet_hours", "learning", "allow"]
        .into_iter()
        .chain(configurable())
        .collect();
    settings.overrides = overrides("logins", &detectors, &known, at, fail)?;
    Ok(settings)
}
