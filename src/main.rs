use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: the detectors make and drop many small
/// per-subject records (a window, evidence lines, names), and glibc spent more than half
/// of `fim analyze`'s time in malloc, free and their consolidation (benches/auth.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The same allocator's C functions, for tree-sitter's parser (linked through the
// `mimalloc` crate).
extern "C" {
    fn mi_malloc(size: usize) -> *mut std::ffi::c_void;
    fn mi_calloc(count: usize, size: usize) -> *mut std::ffi::c_void;
    fn mi_realloc(p: *mut std::ffi::c_void, size: usize) -> *mut std::ffi::c_void;
    fn mi_free(p: *mut std::ffi::c_void);
}

fn main() -> ExitCode {
    // No transparent huge pages: where THP is `always` the kernel backs mimalloc's
    // arenas with them (built `no_thp`, mimalloc no longer asks), and each 2 MiB page is
    // zeroed whole when first touched, however little of it a scan's short-lived buffers
    // use (a tenth of `init`'s time on a kernel tree). Failing, fim runs as before.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // tree-sitter allocates every node of a parse, through glibc's malloc unless told:
    // with mimalloc a PHP parse takes 10-35 % less (getid3.php, 80 KB: 11.8 ms, not
    // 16.8). Set before any parser exists: a tree is freed by the allocator that made it.
    // SAFETY: no tree-sitter object exists yet, and these are malloc's C signatures.
    unsafe {
        tree_sitter::set_allocator(
            Some(mi_malloc),
            Some(mi_calloc),
            Some(mi_realloc),
            Some(mi_free),
        )
    };
    let cli = fim::cli::Cli::parse();
    // The daemon says what it is doing (start, ready, reloads, overflows, health) by
    // default, for the journal; the one-shot commands stay quiet unless asked.
    let daemon = matches!(cli.command, fim::cli::Command::Watch(_));
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) if daemon => "info",
        (false, 0) => "warn",
        (false, 1) if !daemon => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();

    let code = match fim::cmd::run(cli).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("fim: {}", one_line(&err));
            fim::exit::code_for(&err)
        }
    };
    ExitCode::from(code as u8)
}

/// The error and its causes on one line, each cause once (typed errors already name
/// their cause in their message).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line.replace('\n', " ")
}
