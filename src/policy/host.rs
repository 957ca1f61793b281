//! `[host]`: which host checks run (`updates`, `packages`, `exposure`), the `sites`
//! whose served files are asked for over HTTP, and `root`, where the package manager's
//! state is read from (`/`; a test points it at a fake tree). Read by hand from the
//! table, like `[processes]`, so every key is checked and named in errors.

use std::path::PathBuf;

use super::detect::Fail;

/// One site of `sites`: its base URL and the tree it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Without a trailing slash.
    pub url: String,
    /// Absolute, without a trailing slash.
    pub docroot: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSettings {
    /// security-updates and reboot-required.
    pub updates: bool,
    /// The full package-integrity pass of the watched trees (`verify`, and `watch`
    /// daily); file events on package files are checked whatever this says.
    pub packages: bool,
    /// exposed-file.
    pub exposure: bool,
    pub sites: Vec<Site>,
    /// Where `/var/lib/dpkg`, `/var/lib/apt/lists`, `/var/log/dpkg.log` and
    /// `/run/reboot-required` are read from.
    pub root: PathBuf,
}

const KEYS: &str = "updates, packages, exposure, sites, root";

pub(super) fn host(raw: &toml::Table, fail: Fail<'_>) -> crate::Result<HostSettings> {
    let mut settings = HostSettings {
        updates: true,
        packages: false,
        exposure: true,
        sites: Vec::new(),
        root: PathBuf::from("/"),
    };
    let flag = |key: &str, value: &toml::Value| {
        value
            .as_bool()
            .ok_or_else(|| fail(0, format!("[host] {key} must be true or false")))
    };
    for (key, value) in raw {
        match key.as_str() {
            "updates" => settings.updates = flag(key, value)?,
            "packages" => settings.packages = flag(key, value)?,
            "exposure" => settings.exposure = flag(key, value)?,
            "root" => {
                let root = value
                    .as_str()
                    .filter(|r| r.starts_with('/'))
                    .ok_or_else(|| fail(0, "[host] root must be an absolute path".into()))?;
                settings.root = PathBuf::from(root);
            }
            "sites" => settings.sites = sites(value, fail)?,
            other => return Err(fail(0, format!("[host] {other}: unknown (known: {KEYS})"))),
        }
    }
    Ok(settings)
}

fn sites(value: &toml::Value, fail: Fail<'_>) -> crate::Result<Vec<Site>> {
    let list = value.as_array().ok_or_else(|| {
        fail(
            0,
            "[host] sites must be a list of { url = \"https://…\", docroot = \"/var/www/html\" }"
                .into(),
        )
    })?;
    let mut sites: Vec<Site> = Vec::with_capacity(list.len());
    for item in list {
        let table = item
            .as_table()
            .ok_or_else(|| fail(0, format!("[host] sites: {item} is not a table")))?;
        let text = |key: &str| -> crate::Result<String> {
            table
                .get(key)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| fail(0, format!("[host] sites: {item} needs a string `{key}`")))
        };
        if let Some(other) = table.keys().find(|k| *k != "url" && *k != "docroot") {
            return Err(fail(
                0,
                format!("[host] sites: {other}: unknown (known: url, docroot)"),
            ));
        }
        let url = text("url")?;
        super::sink::url(&url).map_err(|m| fail(0, format!("[host] sites: {m}")))?;
        let docroot = text("docroot")?;
        if !docroot.starts_with('/') {
            return Err(fail(
                0,
                format!("[host] sites: docroot {docroot:?} is not absolute"),
            ));
        }
        let site = Site {
            url: url.trim_end_matches('/').to_owned(),
            docroot: match docroot.trim_end_matches('/') {
                "" => "/".to_owned(),
                d => d.to_owned(),
            },
        };
        if sites.contains(&site) {
            return Err(fail(
                0,
                format!("[host] sites: {} is listed twice", site.url),
            ));
        }
        sites.push(site);
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    fn parse(text: &str) -> crate::Result<Policy> {
        Policy::parse(text, Path::new("p.toml"))
    }

    const WATCH: &str = "[[watch]]\npath = \"/var/www/html\"\n";

    #[test]
    fn host_table_defaults_and_sites() {
        let p = parse(&format!(
            "{WATCH}\n[host]\npackages = true\nroot = \"/tmp/fake\"\nsites = [{{ url = \"https://example.com/\", docroot = \"/var/www/html/\" }}]\n"
        ))
        .unwrap();
        let host = p.host.expect("[host]");
        assert!(host.updates && host.packages && host.exposure);
        assert_eq!(host.root, Path::new("/tmp/fake"));
        assert_eq!(host.sites[0].url, "https://example.com");
        assert_eq!(host.sites[0].docroot, "/var/www/html");
        assert!(parse(WATCH).unwrap().host.is_none());
        // A policy of host checks alone watches no tree, and is still a policy.
        assert!(parse("[host]\n").unwrap().host.is_some());
    }

    #[test]
    fn bad_host_tables_name_the_line_and_key() {
        for (table, says) in [
            ("updates = \"yes\"", "updates must be true or false"),
            ("packges = true", "packges: unknown"),
            ("root = \"fake\"", "root must be an absolute path"),
            (
                "sites = [{ url = \"ftp://x\", docroot = \"/w\" }]",
                "must start with http",
            ),
            (
                "sites = [{ url = \"http://x\", docroot = \"w\" }]",
                "not absolute",
            ),
            (
                "sites = [{ url = \"http://x\" }]",
                "needs a string `docroot`",
            ),
            (
                "sites = [{ url = \"http://x\", docroot = \"/w\", port = 1 }]",
                "port: unknown",
            ),
            ("sites = \"http://x\"", "must be a list"),
        ] {
            let e = parse(&format!("{WATCH}\n[host]\n{table}\n"))
                .expect_err(table)
                .to_string();
            assert!(e.contains("p.toml:4") && e.contains(says), "{table}: {e}");
        }
    }
}
