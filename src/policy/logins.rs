//! `[logins]`: `files` (auth logs), `journal` and `journal_namespace` (the systemd
//! journal), `quiet_hours`, `learning`, `allow`, and
//! a `[logins.KIND]` table per auth detector, as `[web]`. Read by hand from the table
//! for the same reason (toml cannot span a table of tables).

use super::detect::{allow_list, detector, Fail};
use super::locate::Locator;
use crate::auth::journal::JournalSpec;
use crate::auth::settings::{configurable, QuietHours};
use crate::auth::LoginSettings;

pub(super) fn logins(
    raw: Option<&toml::Table>,
    loc: &Locator<'_>,
    fail: Fail<'_>,
) -> crate::Result<LoginSettings> {
    let mut settings = LoginSettings::default();
    let Some(raw) = raw else {
        return Ok(settings);
    };
    let text = |key: &str, v: &toml::Value| -> crate::Result<String> {
        v.as_str().map(str::to_owned).ok_or_else(|| {
            fail(
                loc.key(&["logins"], key),
                format!("[logins] {key} must be a string"),
            )
        })
    };
    let detectors: Vec<&str> = configurable().collect();
    let known: Vec<&str> = [
        "files",
        "journal",
        "journal_namespace",
        "quiet_hours",
        "learning",
        "allow",
    ]
    .into_iter()
    .chain(configurable())
    .collect();
    let (mut journal, mut namespace) = (None, None);
    for (key, value) in raw {
        // Where the key is, found only for a message.
        let at = || loc.key(&["logins"], key);
        match key.as_str() {
            "files" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| fail(at(), "[logins] files must be a list of paths".into()))?;
                for item in list {
                    let path = text("files", item)?;
                    if !path.starts_with('/') {
                        return Err(fail(
                            at(),
                            format!("[logins] file {path:?} is not absolute"),
                        ));
                    }
                    if let Err(e) = globset::Glob::new(&path) {
                        return Err(fail(at(), format!("[logins] file {path:?}: {}", e.kind())));
                    }
                    if !settings.files.contains(&path) {
                        settings.files.push(path);
                    }
                }
            }
            "journal" => {
                let on = value
                    .as_bool()
                    .ok_or_else(|| fail(at(), "[logins] journal must be true or false".into()))?;
                journal = Some(on);
            }
            "journal_namespace" => {
                let ns = text("journal_namespace", value)?;
                let valid = !ns.is_empty()
                    && ns.len() <= 64
                    && ns
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                    && !ns.starts_with(['-', '.']);
                if !valid {
                    return Err(fail(
                        at(),
                        format!(
                            "[logins] journal_namespace {ns:?}: a journald namespace is letters, \
                             digits, '_', '-' and '.' (up to 64)"
                        ),
                    ));
                }
                namespace = Some(ns);
            }
            "quiet_hours" => {
                let t = text("quiet_hours", value)?;
                settings.quiet_hours = Some(QuietHours::parse(&t).map_err(|m| fail(at(), m))?);
            }
            "learning" => {
                let t = text("learning", value)?;
                settings.learning = humantime::parse_duration(&t).map_err(|e| {
                    fail(
                        at(),
                        format!("[logins] learning {t:?}: {e} (write e.g. \"7d\")"),
                    )
                })?;
            }
            "allow" => settings.allow = allow_list("logins", value, at(), fail)?,
            kind => {
                let path = ["logins", kind];
                let detector = detector(path, value, &detectors, &known, loc, fail)?;
                settings.overrides.insert(kind.to_owned(), detector);
            }
        }
    }
    settings.journal = match (journal, namespace) {
        (Some(false), Some(_)) => {
            return Err(fail(
                loc.key(&["logins"], "journal_namespace"),
                "[logins] journal_namespace is set but journal = false".into(),
            ))
        }
        (Some(false), None) | (None, None) => None,
        (_, namespace) => Some(JournalSpec { namespace }),
    };
    Ok(settings)
}
