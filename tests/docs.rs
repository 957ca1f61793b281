//! `fim manpage` and `fim completions`: generated from the command line itself.

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn manpage_writes_a_page_per_subcommand_that_man_can_render() {
    let env = Env::new();
    let dir = env.base.join("man/man1");
    fim(&["manpage", "--out", dir.to_str().unwrap()]).success();
    for page in [
        "fim.1",
        "fim-init.1",
        "fim-verify.1",
        "fim-watch.1",
        "fim-accept.1",
        "fim-events.1",
        "fim-keygen.1",
        "fim-policy-check.1",
        "fim-policy-explain.1",
        "fim-policy-update.1",
        "fim-completions.1",
        "fim-manpage.1",
    ] {
        let text = fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page} is not roff");
        assert!(text.contains(".TH "), "{page}");
    }
    // On stdout without --out: the main page, listing the subcommands.
    let page = fim(&["manpage"]);
    assert!(
        page.success().stdout.contains("fim\\-policy(1)"),
        "{}",
        page.stdout
    );

    let Some(man) = tool("man") else {
        eprintln!("skipped: rendering with man(1): man is not installed");
        return;
    };
    let rendered = Command::new(man)
        .args(["-l", "-Tutf8"])
        .arg(dir.join("fim-policy-update.1"))
        .output()
        .unwrap();
    assert!(rendered.status.success());
    // man marks bold and underline with backspaces when not on a terminal.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&rendered.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    // Justified text: compare words.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("SYNOPSIS fim policy update"), "{text}");
    assert!(text.contains("--sign-key"), "{text}");
}

#[test]
fn bash_completion_completes_subcommands_and_their_options() {
    let script = fim(&["completions", "bash"]);
    script.success();
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let other = fim(&["completions", shell]);
        assert!(other.success().stdout.contains("policy"), "{shell}");
    }
    let Some(bash) = tool("bash") else {
        eprintln!("skipped: running the bash completion: bash is not installed");
        return;
    };
    let env = Env::new();
    let file = env.base.join("fim.bash");
    fs::write(&file, &script.stdout).unwrap();
    // What bash offers after `fim pol<TAB>` and `fim policy update --s<TAB>`.
    // bash calls the function with the command, the word being completed and the one
    // before it.
    let complete = |words: &str, cword: usize| -> String {
        let out = Command::new(&bash)
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; \
                 COMP_POINT=${{#COMP_LINE}}; \
                 _fim fim \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                file.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("fim pol", 1).trim(), "policy");
    let options = complete("fim policy update --s", 3);
    assert_eq!(options.trim(), "--sign-key", "{options}");
}
