//! Helpers for the integration tests: run the `adscreen` binary and read what it prints.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Path of a file under tests/data.
pub fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The repository root (where models/default lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_adscreen"));
    c.args(args)
        .current_dir(root())
        .env_remove("ADSCREEN_DB")
        .env("USER", "tester");
    c
}

/// Runs `adscreen ARGS`.
pub fn run(args: &[&str]) -> Run {
    finish(command(args).output().expect("the binary runs"))
}

/// Runs `adscreen ARGS` with `input` on stdin.
pub fn run_stdin(args: &[&str], input: &[u8]) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    finish(child.wait_with_output().unwrap())
}

/// Asserts that `text` shows every one of `parts`.
pub fn assert_shows(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part}:\n{text}");
    }
}

/// A temporary SQLite store holding `corpora/demo/ads.jsonl` (16 ads, 8 flagged), submitted with
/// the CLI. The directory goes away when the value is dropped.
pub struct DemoStore {
    pub dir: tempfile::TempDir,
    pub path: String,
}

impl DemoStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db").to_string_lossy().into_owned();
        let r = run(&["submit", "corpora/demo/ads.jsonl", "--db", &path]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        DemoStore { dir, path }
    }

    /// Runs `adscreen ARGS --db <this store>`, which must succeed.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--db", &self.path]);
        let r = run(&all);
        assert_eq!(r.code, 0, "adscreen {all:?}: {}", r.stderr);
        r
    }

    /// The store id of the ad submitted as `ext_id`.
    pub fn id(&self, ext_id: &str) -> String {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.query_row("SELECT id FROM ads WHERE ext_id = ?1", [ext_id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
        .to_string()
    }
}
