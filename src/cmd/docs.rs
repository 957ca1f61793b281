//! `fim completions SHELL` and `fim manpage`: generated from the command line's own
//! definition (clap_complete, clap_mangen), so they never drift from `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::exit;

pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "fim", &mut script);
    write_stdout(&script)?;
    Ok(exit::CLEAN)
}

pub fn manpage(out: Option<&Path>) -> Result<i32> {
    match out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Error::io("<manual page>", e))?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            clap_mangen::generate_to(Cli::command(), dir).map_err(|e| Error::io(dir, e))?;
            println!("manual pages written to {}", dir.display());
        }
    }
    Ok(exit::CLEAN)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("<stdout>", e))
}
