//! The triage page in a real browser: Debian's chromium, headless, driven over WebDriver by
//! chromedriver (both installed by `tests/setup`). Logs in, reads the queue with the keyboard,
//! opens an ad whose text carries `<script>` and `<img onerror>`, checks nothing ran, labels it,
//! and sees it leave the `new` list. Screenshots go to target/tmp/browser/.

mod common;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Server, PASSWORD};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless chromium session on it.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    fn start() -> Browser {
        assert!(
            installed("chromium") && installed("chromedriver"),
            "this test needs Debian's chromium and chromedriver: run tests/setup"
        );
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().display()),
            ]}
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        b.session = b.post("/session", caps)["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        b
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = ureq::request(method, &url);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let v: Value = res.into_json().unwrap();
        assert!(v["value"]["error"].is_null(), "{method} {path}: {v}");
        v["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.request("POST", path, Some(body))
    }

    fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    fn run(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }

    /// Waits up to 10 s for a script to return true.
    fn wait_for(&self, what: &str, script: &str) {
        let started = Instant::now();
        while self.run(script) != json!(true) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find(&self, css: &str) -> String {
        self.post("/element", json!({"using": "css selector", "value": css}))[ELEMENT]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.post(&format!("/element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.post(&format!("/element/{e}/value"), json!({ "text": text }));
    }

    fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        );
    }

    fn screenshot(&self, path: &Path) {
        let png = self.request("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn analyst_triages_a_hostile_ad_in_headless_chromium() {
    let s = Server::start(None);
    let hostile = "¡Trabajo en Estados Unidos para señoritas de 18 a 25 años! <script>window.__pwned = 1</script> \
        Sin experiencia, sin inglés. Nosotros pagamos el pasaje y tramitamos la visa, se descuenta del sueldo. \
        <img src=x onerror=\"window.__pwned = 2\"> Hospedaje con la empresa. Salida inmediata, cupo limitado. \
        WhatsApp +52 55 3456 7890";
    let benign =
        "Se solicita contador con título y cédula profesional para despacho en Guadalajara. \
        Prestaciones de ley, horario de lunes a viernes. Enviar CV a rh@despachomartinez.mx";
    let (_, body) = s.call(
        "POST",
        "/api/ads",
        Some("analyst"),
        Some(&json!({"ads": [
            {"id": "hostile", "lang": "es", "text": hostile, "office": "Mexico City", "publication": "El Gráfico"},
            {"id": "lure-2", "lang": "es", "text": "Buscamos chicas para trabajar en Houston como meseras, ganarás 4000 dólares al mes, te damos casa y comida, viaje pagado. Solo mándanos foto.", "office": "Mexico City"},
            {"id": "benign", "lang": "es", "text": benign, "office": "Mexico City"},
        ]})),
    );
    let result = &body["results"][0];
    assert_eq!(
        result["flagged"], true,
        "the hostile ad must be in the queue: {body}"
    );
    let id = result["id"].as_i64().unwrap();
    let out = output_dir();

    let b = Browser::start();
    b.goto(&format!("{}/", s.base));
    b.wait_for(
        "the login page",
        "return document.getElementById('login') !== null",
    );
    b.type_into("#name", "analyst");
    b.type_into("#password", PASSWORD);
    b.click("#login-button");
    b.wait_for(
        "the queue",
        "return document.querySelectorAll('#queue tbody tr').length === 2",
    );
    b.screenshot(&out.join("queue.png"));

    // Keyboard: j moves to the second row, k back to the first, Enter opens it.
    b.press("j");
    b.wait_for("j", "return document.querySelector('#queue tbody tr:nth-child(2)').classList.contains('selected')");
    b.press("k");
    let first: i64 = b
        .run("return Number(document.querySelector('#queue tbody tr.selected').dataset.id)")
        .as_i64()
        .unwrap();
    b.press("\u{E007}");
    b.wait_for(
        "the ad page",
        &format!("return location.hash === '#/ad/{first}'"),
    );

    b.goto(&format!("{}/#/ad/{id}", s.base));
    b.wait_for(
        "the hostile ad",
        "return document.getElementById('text-text') !== null",
    );
    let shown = b.run("return document.getElementById('text-text').textContent");
    assert!(
        shown
            .as_str()
            .unwrap()
            .contains("<script>window.__pwned = 1</script>"),
        "the markup shows as text: {shown}"
    );
    let inert = b.run(
        "return [typeof window.__pwned, document.querySelectorAll('#view script, #view img').length]",
    );
    assert_eq!(
        inert,
        json!(["undefined", 0]),
        "nothing in the ad may run or load"
    );
    let marks = b.run("return document.querySelectorAll('#text-text mark.ev').length");
    assert!(marks.as_u64().unwrap() > 0, "evidence is highlighted");
    let tip = b.run("return document.querySelector('#text-text mark.ev').title");
    assert!(tip.as_str().unwrap().contains("weight"), "{tip}");
    let prefilled = b.run(
        "return [...document.querySelectorAll('input[name=indicators]:checked')].map(e => e.value)",
    );
    assert!(
        !prefilled.as_array().unwrap().is_empty(),
        "indicator boxes come from the model"
    );
    b.screenshot(&out.join("ad.png"));

    b.click("#verdict-suspicious");
    b.click("#label-button");
    b.wait_for(
        "the ad to leave the new list",
        &format!(
            "return location.hash.startsWith('#/?') && document.getElementById('f-status') !== null \
             && document.getElementById('f-status').value === 'new' \
             && document.querySelector('#queue tbody tr[data-id=\"{id}\"]') === null \
             && document.querySelectorAll('#queue tbody tr').length === 1"
        ),
    );
    let (_, ad) = s.call("GET", &format!("/api/ads/{id}"), Some("analyst"), None);
    assert_eq!(ad["status"], "in_review");
    assert_eq!(ad["label"]["suspicious"], true);
    assert_eq!(ad["history"][1]["user"], "analyst");
    eprintln!("screenshots: {}", out.display());
}
