//! fim on a pseudo-terminal, as an operator at a shell runs it: stdin, stdout and
//! stderr are one terminal.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

pub struct PtyRun {
    pub code: i32,
    /// Everything written to the terminal (and the echo of `input`), as bytes.
    pub output: Vec<u8>,
}

/// Run fim with `args` on a new 100×30 terminal, typing `input` into it.
pub fn fim_on_pty<S: AsRef<OsStr>>(args: &[S], input: &[u8]) -> PtyRun {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&slave, size).unwrap();
    let mut child = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fim"));
        command
            .args(args)
            .env_remove("FIM_DB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        command.spawn().unwrap()
        // The command, and with it the test's copies of the terminal, is dropped here:
        // the master reads end of file once fim exits.
    };
    let mut master = File::from(master);
    master.write_all(input).unwrap();
    let mut reader = master.try_clone().unwrap();
    let output = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        // A terminal whose other side is closed reads EIO, not 0.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        bytes
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("fim hung on the terminal");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    PtyRun {
        code: status.code().unwrap_or(-1),
        output: output.join().unwrap(),
    }
}

/// What a terminal shows after `output`: the lines of the screen (and of what has
/// scrolled off), interpreting carriage returns, line feeds, "erase line" and "cursor
/// up" as a terminal does; other escape sequences are dropped.
pub fn screen(output: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(output);
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                if row == lines.len() {
                    lines.push(Vec::new());
                }
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        end = c;
                        break;
                    }
                    arg.push(c);
                }
                match end {
                    'K' => lines[row].truncate(if arg == "2" { 0 } else { col }),
                    'A' => row = row.saturating_sub(arg.parse().unwrap_or(1)),
                    _ => {}
                }
            }
            c => {
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_owned())
        .collect()
}
