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

/// A fresh store for one test: a SQLite file, or a scratch PostgreSQL database (dropped with
/// this value) when the test runs on both back ends.
pub struct TestStore {
    /// The `--db` value.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _scratch: Option<adscreen::db::scratch::ScratchDatabase>,
}

impl TestStore {
    /// A new SQLite file in `dir`.
    pub fn sqlite(dir: &Path) -> TestStore {
        TestStore {
            url: dir.join("store.db").to_string_lossy().into_owned(),
            _dir: None,
            _scratch: None,
        }
    }

    /// A new SQLite file in a directory of its own.
    pub fn temp_sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TestStore::sqlite(dir.path());
        store._dir = Some(dir);
        store
    }

    /// A new PostgreSQL database, or `None` (after saying so) when `ADSCREEN_TEST_POSTGRES` is
    /// unset.
    pub fn postgres(test: &str) -> Option<TestStore> {
        let scratch = adscreen::db::scratch::ScratchDatabase::from_env(test)?;
        Some(TestStore {
            url: scratch.url().to_string(),
            _dir: None,
            _scratch: Some(scratch),
        })
    }

    /// The `--db` value.
    pub fn arg(&self) -> String {
        self.url.clone()
    }

    /// A connection, for checks the CLI does not show.
    pub fn open(&self) -> Box<dyn adscreen::db::Db> {
        adscreen::db::open(&adscreen::db::Location::parse(&self.url)).unwrap()
    }
}

/// Runs each named check (a function taking a [`TestStore`]) as two tests: on SQLite, and on
/// PostgreSQL when `ADSCREEN_TEST_POSTGRES` is set (else it prints SKIPPED and passes).
#[macro_export]
macro_rules! on_both_stores {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $check() {
                super::$check($crate::common::TestStore::temp_sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            fn $check() {
                if let Some(store) = $crate::common::TestStore::postgres(stringify!($check)) {
                    super::$check(store);
                }
            })*
        }
    };
}

/// Asserts that `text` shows every one of `parts`.
pub fn assert_shows(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part}:\n{text}");
    }
}

/// A running `adscreen serve` on a fresh store, with one user per role, killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The store (`--db` value).
    pub db: String,
    /// API tokens by user name: `admin`, `analyst`, `sub_mx` (Mexico City), `sub_mn` (Manila).
    pub tokens: std::collections::HashMap<String, String>,
    _store: std::sync::Arc<TestStore>,
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

impl Server {
    /// Creates the users, then starts the server on a new SQLite store with the shipped model
    /// (or `model`).
    pub fn start(model: Option<&Path>) -> Server {
        Server::start_on(std::sync::Arc::new(TestStore::temp_sqlite()), model)
    }

    /// Creates the users in `store`, then starts the server on it.
    pub fn start_on(store: std::sync::Arc<TestStore>, model: Option<&Path>) -> Server {
        Server::add_users(&store.url);
        Server::start_another(store, model)
    }

    /// The test users, one per role, and their API tokens.
    fn add_users(db: &str) {
        for (name, role, office) in [
            ("admin", "admin", None),
            ("analyst", "analyst", None),
            ("sub_mx", "submitter", Some("Mexico City")),
            ("sub_mn", "submitter", Some("Manila")),
        ] {
            let mut args = vec!["users", "add", name, "--role", role, "--db", db];
            if let Some(o) = office {
                args.extend(["--office", o]);
            }
            let r = run_stdin(&args, format!("{PASSWORD}\n").as_bytes());
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
    }

    /// Starts a server on a store whose users exist (a second server on a shared store).
    pub fn start_another(store: std::sync::Arc<TestStore>, model: Option<&Path>) -> Server {
        let db = store.url.clone();
        let mut tokens = std::collections::HashMap::new();
        for name in ["admin", "analyst", "sub_mx", "sub_mn"] {
            let t = run(&["users", "token", name, "--db", &db]);
            assert_eq!(t.code, 0, "{}", t.stderr);
            tokens.insert(name.to_string(), t.stdout.trim().to_string());
        }
        let mut args = vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--reload-seconds",
            "0.2",
            "--db",
            &db,
        ];
        let model = model.map(|m| m.to_string_lossy().into_owned());
        if let Some(m) = &model {
            args.extend(["--model", m]);
        }
        let mut child = command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let base = line
            .trim()
            .strip_prefix("adscreen: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            db,
            tokens,
            _store: store,
        }
    }

    /// Calls the API as `user` (None: without credentials); returns the status and the JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(u) = user {
            req = req.set("Authorization", &format!("Bearer {}", self.tokens[u]));
        }
        let res = match body {
            Some(b) => req.send_json(b.clone()),
            None if method == "GET" => req.call(),
            None => req.send_string(""),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = res.status();
        let text = res.into_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store for one test and a temporary directory for the files beside it (a second store, an
/// export), both gone when the value is dropped.
pub struct DemoStore {
    pub dir: tempfile::TempDir,
    pub store: TestStore,
}

impl DemoStore {
    /// Empty stores for `test_name`, one per engine: a SQLite file and, when
    /// `ADSCREEN_TEST_POSTGRES` is set, a PostgreSQL database. A test runs its checks on each.
    pub fn on_each_engine(test_name: &str) -> Vec<DemoStore> {
        let postgres = TestStore::postgres(test_name).map(|store| DemoStore {
            dir: tempfile::tempdir().unwrap(),
            store,
        });
        std::iter::once(DemoStore::sqlite())
            .chain(postgres)
            .collect()
    }

    /// An empty SQLite store, for the checks whose engine does not matter.
    pub fn sqlite() -> DemoStore {
        let dir = tempfile::tempdir().unwrap();
        let store = TestStore::sqlite(dir.path());
        DemoStore { dir, store }
    }

    /// The store with `corpora/demo/ads.jsonl` (16 ads, 8 flagged) submitted with the CLI.
    pub fn with_demo_ads(self) -> DemoStore {
        self.run(&["submit", "corpora/demo/ads.jsonl"]);
        self
    }

    /// Runs `adscreen ARGS --db <this store>`, which must succeed.
    pub fn run(&self, args: &[&str]) -> Run {
        let db = self.store.arg();
        let mut all = args.to_vec();
        all.extend(["--db", &db]);
        let r = run(&all);
        assert_eq!(r.code, 0, "adscreen {all:?}: {}", r.stderr);
        r
    }

    /// A path for another file beside the store (a second store, an export).
    pub fn sibling(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// The store id of the ad submitted as `ext_id`.
    pub fn id(&self, ext_id: &str) -> String {
        let id: i64 = self
            .store
            .open()
            .value(
                "SELECT id FROM ads WHERE ext_id = ?1",
                adscreen::params![ext_id],
            )
            .unwrap();
        id.to_string()
    }
}
