//! YARA rules named by `[heuristics] yara`: matches are reasons `yara RULE` in the
//! events of the real binary, broken rule files are policy errors, and
//! php-malware-finder's rule set (the anchor of issue 16) loads and flags a webshell.
#![cfg(feature = "yara")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const RULES: &str = r#"
rule PlantedMarker
{
    strings:
        $marker = "fim-yara-marker-7c1e"
    condition:
        $marker
}

rule QuietMarker
{
    meta:
        severity = "low"
    strings:
        $marker = "fim-yara-quiet-2b9d"
    condition:
        $marker
}
"#;

fn yara_reasons(event: &serde_json::Value) -> Vec<&str> {
    reasons(event)
        .into_iter()
        .filter(|r| r.starts_with("yara "))
        .collect()
}

#[test]
fn a_matching_rule_is_a_reason_and_the_rules_are_recorded_with_the_policy() {
    let env = Env::new();
    fs::create_dir_all(env.base.join("rules")).unwrap();
    fs::write(env.base.join("rules/local.yar"), RULES).unwrap();
    env.init_with_policy("[heuristics]\nyara = [\"rules/*.yar\"]\n\n[[watch]]\npath = \"ROOT\"\n");
    // verify runs the rules recorded in the baseline, not the files.
    fs::remove_dir_all(env.base.join("rules")).unwrap();
    let planted = env.path("notes.txt");
    let quiet = env.path("quiet.txt");
    let plain = env.path("plain.txt");
    fs::write(&planted, "header\nfim-yara-marker-7c1e\n").unwrap();
    fs::write(&quiet, "fim-yara-quiet-2b9d").unwrap();
    fs::write(&plain, "fim-yara-marker but not the whole marker\n").unwrap();
    let events = env.verify();

    let e = event_for(&events, &planted);
    assert_eq!(yara_reasons(e), ["yara PlantedMarker"], "{e}");
    assert_eq!(e["severity"], "critical", "{e}");
    let e = event_for(&events, &quiet);
    assert_eq!(yara_reasons(e), ["yara QuietMarker"], "{e}");
    assert_eq!(
        e["severity"], "medium",
        "a low reason does not lower the event: {e}"
    );
    assert!(yara_reasons(event_for(&events, &plain)).is_empty());
}

#[test]
fn a_broken_rule_file_is_a_policy_error_naming_its_file_and_line() {
    let env = Env::new();
    let bad = env.base.join("bad.yar");
    fs::write(
        &bad,
        "rule Fine { condition: true }\n\nrule Broken {\n    strings:\n        $a = \"x\"\n    condition:\n        $missing\n}\n",
    )
    .unwrap();
    let policy =
        env.write_policy("[heuristics]\nyara = [\"bad.yar\"]\n\n[[watch]]\npath = \"ROOT\"\n");
    let policy = policy.to_str().unwrap();
    let check = fim(&["policy", "check", policy]);
    let init = env.fim(&["init", "--policy", policy]);
    for (run, what) in [(check, "policy check"), (init, "init")] {
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        let message = run.stderr.trim();
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.contains(&format!("{}:7:", bad.display())) && message.contains("$missing"),
            "{message}"
        );
    }
    assert!(!env.db.exists(), "init refused the policy");

    let none =
        env.write_policy("[heuristics]\nyara = [\"rules/*.yar\"]\n\n[[watch]]\npath = \"ROOT\"\n");
    let run = fim(&["policy", "check", none.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("rules/*.yar") && run.stderr.contains("policy.toml:2:"),
        "{}",
        run.stderr
    );
}

/// php-malware-finder's rules, from the anchors beside the repository.
fn php_malware_finder() -> Option<PathBuf> {
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/anchors/php-malware-finder/php.yar");
    rules.is_file().then(|| rules.canonicalize().unwrap())
}

#[test]
fn php_malware_finder_rules_load_and_flag_a_one_liner() {
    let Some(rules) = php_malware_finder() else {
        return skip(
            "php-malware-finder's rules are not in ../shared/anchors",
            Some("FIM_REQUIRE_PMF"),
        );
    };
    let env = Env::new();
    let policy = env.write_policy(&format!(
        "[heuristics]\nbuiltin_signatures = false\nyara = [{:?}]\n\n[[watch]]\npath = \"ROOT\"\n",
        rules.display()
    ));
    let check = fim(&["policy", "check", policy.to_str().unwrap()]);
    assert!(
        check.success().stdout.contains(" YARA rules"),
        "{}",
        check.stdout
    );
    env.fim(&["init", "--policy", policy.to_str().unwrap()])
        .success();
    let dir = env.path("wp-content/themes/site");
    fs::create_dir_all(&dir).unwrap();
    let shell = dir.join("footer.php");
    let page = dir.join("header.php");
    fs::write(&shell, "<?php @eval($_POST['cmd']); ?>\n").unwrap();
    fs::write(&page, "<?php echo esc_html( get_bloginfo( 'name' ) ); ?>\n").unwrap();
    let events = env.verify();
    let flagged = yara_reasons(event_for(&events, &shell));
    assert!(flagged.contains(&"yara DodgyPhp"), "{flagged:?}");
    assert!(yara_reasons(event_for(&events, &page)).is_empty());
}
