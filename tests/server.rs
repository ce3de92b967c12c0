//! `adscreen serve` over real HTTP: authentication and roles on every route, bad bodies, triage
//! and the audit entries each action writes, submitters' office scope, sessions and CSRF.

mod common;
use common::{data, run, Server, TestStore, PASSWORD};
use serde_json::{json, Value};

/// The test ads as API records.
fn ads() -> Vec<Value> {
    std::fs::read_to_string(data("ads.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Submits the test ads as `user`; returns the store ids of the flagged ones.
fn submit(s: &Server, user: &str) -> Vec<i64> {
    let (code, body) = s.call(
        "POST",
        "/api/ads",
        Some(user),
        Some(&json!({ "ads": ads() })),
    );
    assert_eq!(code, 200, "{body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["flagged"] == true)
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// Every documented route (as in openapi.json), the least role it needs, and a valid body.
/// `{id}` is the ad triaged, `{other}` a second ad (dismissed, since the first gets escalated).
fn routes() -> Vec<(&'static str, &'static str, &'static str, Option<Value>)> {
    let record = json!({"text": "Se busca cocinero, restaurante en Monterrey."});
    vec![
        ("GET", "/api/openapi.json", "submitter", None),
        ("GET", "/api/me", "submitter", None),
        ("GET", "/api/model", "submitter", None),
        ("POST", "/api/score", "submitter", Some(record.clone())),
        (
            "POST",
            "/api/ads",
            "submitter",
            Some(json!({"ads": [record]})),
        ),
        ("GET", "/api/ads", "submitter", None),
        ("GET", "/api/ads/{id}", "analyst", None),
        (
            "POST",
            "/api/ads/{id}/note",
            "analyst",
            Some(json!({"text": "seen"})),
        ),
        (
            "POST",
            "/api/ads/{id}/assign",
            "analyst",
            Some(json!({"to": "analyst"})),
        ),
        (
            "POST",
            "/api/ads/{id}/label",
            "analyst",
            Some(json!({"suspicious": true})),
        ),
        (
            "POST",
            "/api/ads/{id}/escalate",
            "analyst",
            Some(json!({"office": "Houston", "reason": "lure"})),
        ),
        (
            "POST",
            "/api/ads/{other}/dismiss",
            "analyst",
            Some(json!({})),
        ),
        ("POST", "/api/claim", "analyst", Some(json!({"minutes": 5}))),
        ("GET", "/api/users", "admin", None),
        (
            "POST",
            "/api/users",
            "admin",
            Some(json!({"name": "new", "role": "analyst", "password": PASSWORD})),
        ),
        ("POST", "/api/users/{name}/tokens", "admin", None),
        ("GET", "/api/audit", "admin", None),
        (
            "GET",
            "/api/report?period=2026Q4&format=json",
            "submitter",
            None,
        ),
        (
            "GET",
            "/api/export?status=new&format=jsonl",
            "analyst",
            None,
        ),
        ("POST", "/api/logout", "submitter", None),
    ]
}

fn every_route_answers_401_without_credentials_403_below_its_role_and_is_documented(
    store: TestStore,
) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    // Filed without an office: no submitter may read them.
    let flagged = submit(&s, "analyst");
    let (_, spec) = s.call("GET", "/api/openapi.json", Some("admin"), None);
    let mut documented: Vec<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .filter(|(_, p)| p != "/health")
        .collect();
    documented.sort();
    let mut tested: Vec<(String, String)> = routes()
        .iter()
        .map(|(m, p, _, _)| {
            let p = p.split('?').next().unwrap().replace("{other}", "{id}");
            (m.to_string(), p)
        })
        .collect();
    tested.sort();
    assert_eq!(documented, tested, "openapi.json and the routes differ");

    let below = |role: &str| match role {
        "analyst" => Some("sub_mx"),
        "admin" => Some("analyst"),
        _ => None,
    };
    for (method, template, role, body) in routes() {
        let path = template
            .replace("{id}", &flagged[0].to_string())
            .replace("{other}", &flagged[1].to_string())
            .replace("{name}", "analyst");
        let (code, err) = s.call(method, &path, None, body.as_ref());
        assert_eq!(code, 401, "{method} {path} without credentials: {err}");
        assert!(err["error"].as_str().unwrap().contains("log in"), "{err}");
        if let Some(weaker) = below(role) {
            let (code, err) = s.call(method, &path, Some(weaker), body.as_ref());
            assert_eq!(code, 403, "{method} {path} as {weaker}: {err}");
            assert!(err["error"].as_str().unwrap().contains("role"), "{err}");
        }
        let user = if role == "submitter" { "sub_mx" } else { role };
        let (code, body) = s.call(method, &path, Some(user), body.as_ref());
        assert!(
            (200..300).contains(&code),
            "{method} {path} as {user}: {code} {body}"
        );
    }
    let (code, health) = s.call("GET", "/health", None, None);
    assert_eq!((code, health["status"].as_str()), (200, Some("ok")));
}

fn bad_bodies_get_clear_errors_and_valid_records_are_still_stored(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    // `None` when the connection broke: the server answers an oversized body at once and may
    // close the connection while the client is still sending (EPIPE on the client's side).
    let try_post = |body: &str| {
        let r = ureq::post(&format!("{}/api/ads", s.base))
            .set("Authorization", &format!("Bearer {}", s.tokens["analyst"]))
            .send_string(body);
        let r = match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(_)) => return None,
        };
        let code = r.status();
        Some((
            code,
            serde_json::from_str::<Value>(&r.into_string().unwrap()).unwrap(),
        ))
    };
    let post = |body: &str| try_post(body).expect("the server answers");
    let (code, err) = post("{\"ads\": [");
    assert_eq!(code, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON body"),
        "{err}"
    );
    let (code, err) = post(r#"{"ads": [], "ofice": "Lima"}"#);
    assert_eq!(code, 422);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `ofice`"),
        "{err}"
    );
    let many = json!({"ads": vec![json!({"text": "x"}); 1001]}).to_string();
    let (code, err) = post(&many);
    assert_eq!(code, 413);
    assert!(
        err["error"].as_str().unwrap().contains("at most 1000"),
        "{err}"
    );
    let huge = json!({"ads": [{"text": "x".repeat(17 << 20)}]}).to_string();
    let (code, err) = (0..5)
        .find_map(|_| try_post(&huge))
        .expect("the server answers an oversized body");
    assert_eq!(code, 413, "{err}");
    assert!(err["error"].as_str().unwrap().contains("split"), "{err}");

    let mixed = json!({"ads": [
        {"id": "ok-1", "text": "Se necesita ayudante de cocina en Puebla. Horario de 8 a 4."},
        {"id": "bad-1", "lang": "fr", "text": "Cherche serveur"},
        "not an object",
        {"id": "ok-2", "text": "Taller mecánico busca aprendiz con ganas de aprender."}
    ]});
    let (code, body) = s.call("POST", "/api/ads", Some("analyst"), Some(&mixed));
    assert_eq!(code, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 3]
    );
    assert!(results.iter().all(|r| r["id"].as_i64().is_some()));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        (errors[0]["index"].as_u64(), errors[0]["field"].as_str()),
        (Some(1), Some("lang"))
    );
    assert_eq!(errors[1]["index"], 2);
    let (_, again) = s.call("POST", "/api/ads", Some("analyst"), Some(&mixed));
    assert_eq!(again["results"][0]["duplicate"], true);
    assert_eq!(again["results"][0]["id"], results[0]["id"]);

    let (code, err) = s.call("GET", "/api/ads?status=open", Some("analyst"), None);
    assert_eq!(code, 400);
    assert!(
        err["error"].as_str().unwrap().contains("unknown variant"),
        "{err}"
    );
    let (code, err) = s.call(
        "POST",
        "/api/ads/abc/label",
        Some("analyst"),
        Some(&json!({"suspicious": true})),
    );
    assert_eq!(code, 400, "{err}");
    let (code, err) = s.call(
        "POST",
        "/api/ads/999/label",
        Some("analyst"),
        Some(&json!({"suspicious": true})),
    );
    assert_eq!(code, 404, "{err}");
}

fn triage_over_http_moves_the_ad_and_audits_every_action(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    let flagged = submit(&s, "sub_mx");
    let (_, page) = s.call("GET", "/api/ads?status=new", Some("analyst"), None);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let mut sorted = flagged.clone();
    sorted.sort();
    let mut listed = ids.clone();
    listed.sort();
    assert_eq!(listed, sorted);
    let scores: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "riskiest first: {scores:?}"
    );

    let ad = ids[0];
    let call = |path: &str, body: Value| {
        s.call(
            "POST",
            &format!("/api/ads/{ad}/{path}"),
            Some("analyst"),
            Some(&body),
        )
    };
    assert_eq!(
        s.call("GET", &format!("/api/ads/{ad}"), Some("analyst"), None)
            .0,
        200
    );
    assert_eq!(call("assign", json!({"to": "analyst"})).0, 200);
    assert_eq!(
        call("assign", json!({"to": "sub_mx"})).0,
        404,
        "only analysts take ads"
    );
    assert_eq!(
        call("note", json!({"text": "same phone as last week"})).0,
        200
    );
    let (code, body) = call(
        "label",
        json!({"suspicious": true, "indicators": ["travel_arranged"]}),
    );
    assert_eq!((code, body["status"].as_str()), (200, Some("in_review")));
    let (code, body) = call(
        "escalate",
        json!({"office": "Houston", "reason": "recruiter network"}),
    );
    assert_eq!((code, body["status"].as_str()), (200, Some("escalated")));
    let (code, err) = call("dismiss", json!({}));
    assert_eq!(code, 409);
    assert!(
        err["error"].as_str().unwrap().contains("is escalated"),
        "{err}"
    );
    let (code, err) = call("escalate", json!({"office": "", "reason": "x"}));
    assert_eq!(code, 422, "{err}");

    let (_, ad_json) = s.call("GET", &format!("/api/ads/{ad}"), Some("analyst"), None);
    assert_eq!(ad_json["escalated_to"], "Houston");
    assert!(
        ad_json["links"]["network_size"].as_u64().unwrap() >= 1,
        "{ad_json}"
    );
    assert!(page["items"][0]["linked"].is_u64());
    assert_eq!(ad_json["assigned_to"], "analyst");
    let actions: Vec<&str> = ad_json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["submitted", "assign", "note", "label", "escalate"]
    );

    let (_, audit) = s.call(
        "GET",
        &format!("/api/audit?target={ad}"),
        Some("admin"),
        None,
    );
    let entries = audit["entries"].as_array().unwrap();
    let seen: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        ["read", "assign", "note", "label", "escalate", "read"]
    );
    let escalation = &entries[1];
    assert_eq!(escalation["user"], "analyst");
    assert_eq!(escalation["before"]["status"], "in_review");
    assert_eq!(escalation["after"]["status"], "escalated");
    assert_eq!(escalation["after"]["escalated_to"], "Houston");
    let label = &entries[2];
    assert_eq!(label["before"]["label"], Value::Null);
    assert_eq!(label["after"]["label"], true);

    // The same log from the command line, and the submission that started it.
    let r = run(&["audit", "--json", "--action", "submit", "--db", &s.db]);
    let submits = r.json_lines();
    assert_eq!(submits[0]["user"], "sub_mx");
    assert_eq!(submits[0]["after"]["stored"], 8);
}

fn submitters_file_and_see_only_their_own_office(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    let mx = submit(&s, "sub_mx");
    let (_, body) = s.call(
        "POST",
        "/api/ads",
        Some("sub_mn"),
        Some(&json!({"ads": [{"text": "Trabajo en Estados Unidos para chicas jóvenes, pasaje y visa incluidos, sin experiencia, WhatsApp +52 55 1234 9876", "office": "Mexico City"}]})),
    );
    let mn = body["results"][0]["id"].as_i64().unwrap();
    let (_, page) = s.call("GET", "/api/ads?status=new", Some("sub_mx"), None);
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["office"] == "Mexico City"));
    let (_, page) = s.call(
        "GET",
        "/api/ads?status=new&office=Mexico%20City",
        Some("sub_mn"),
        None,
    );
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["office"] == "Manila"),
        "{page}"
    );
    assert_eq!(
        s.call("GET", &format!("/api/ads/{}", mx[0]), Some("sub_mx"), None)
            .0,
        200
    );
    let (code, err) = s.call("GET", &format!("/api/ads/{}", mx[0]), Some("sub_mn"), None);
    assert_eq!(code, 403, "{err}");
    assert_eq!(
        s.call("GET", &format!("/api/ads/{mn}"), Some("sub_mn"), None)
            .0,
        200
    );
}

fn sessions_are_http_only_strict_cookies_and_changes_need_the_csrf_token(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    let ad = submit(&s, "analyst")[0];
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let form = agent.get(&format!("{}/login", s.base)).call().unwrap();
    let login_cookie = form
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = form.into_string().unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let login = |password: &str, csrf: &str| match agent
        .post(&format!("{}/login", s.base))
        .set("Cookie", &login_cookie)
        .send_form(&[("name", "analyst"), ("password", password), ("csrf", csrf)])
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(login("wrong password!", csrf).status(), 401);
    assert_eq!(login(PASSWORD, "forged").status(), 403);
    let ok = login(PASSWORD, csrf);
    assert_eq!(ok.status(), 303);
    let set = ok.header("set-cookie").unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let session = set.split(';').next().unwrap().to_string();

    let me: Value = agent
        .get(&format!("{}/api/me", s.base))
        .set("Cookie", &session)
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(me["user"]["name"], "analyst");
    let token = me["csrf"].as_str().unwrap();
    let label = |csrf: Option<&str>| {
        // Each on a connection of its own: a request refused before its body is read may leave
        // the server closing the pooled connection just as the client sends the next one on it
        // (an "Unexpected EOF" seen once in a CI run).
        let mut req = agent
            .post(&format!("{}/api/ads/{ad}/label", s.base))
            .set("Connection", "close")
            .set("Cookie", &session);
        if let Some(c) = csrf {
            req = req.set("X-CSRF-Token", c);
        }
        match req.send_json(json!({"suspicious": false})) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(label(None), 403);
    assert_eq!(label(Some("0000")), 403);
    assert_eq!(label(Some(token)), 200);
    let page = agent.get(&format!("{}/", s.base)).call().unwrap();
    assert_eq!(
        page.status(),
        303,
        "the page redirects to /login without a session"
    );
}

fn uncertain_first_orders_by_distance_to_the_threshold(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    submit(&s, "analyst");
    let (_, model) = s.call("GET", "/api/model", Some("analyst"), None);
    let t = model["threshold"].as_f64().unwrap();
    let (_, page) = s.call(
        "GET",
        "/api/ads?order=uncertain&limit=2",
        Some("analyst"),
        None,
    );
    let first: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["score"].as_f64().unwrap() - t).abs())
        .collect();
    let (_, rest) = s.call(
        "GET",
        &format!("/api/ads?order=uncertain&offset={}", page["next_offset"]),
        Some("analyst"),
        None,
    );
    let later: Vec<f64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["score"].as_f64().unwrap() - t).abs())
        .collect();
    assert_eq!(first.len() + later.len(), 4);
    assert!(first
        .iter()
        .chain(&later)
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| *w[0] <= w[1] + 1e-3));
}

fn report_and_export_downloads_are_the_cli_files_for_the_roles_allowed(store: TestStore) {
    let s = Server::start_on(std::sync::Arc::new(store), None);
    submit(&s, "sub_mx");
    let quarter = {
        let now = chrono::Utc::now();
        format!(
            "{}Q{}",
            now.format("%Y"),
            (now.format("%m").to_string().parse::<u32>().unwrap() - 1) / 3 + 1
        )
    };
    let (code, over_http) = s.call(
        "GET",
        &format!("/api/report?period={quarter}&format=json"),
        Some("analyst"),
        None,
    );
    assert_eq!(code, 200, "{over_http}");
    let cli = run(&[
        "report", "--period", &quarter, "--format", "json", "--db", &s.db,
    ]);
    let cli: Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(over_http, cli);
    let (code, html) = s.call(
        "GET",
        &format!("/api/report?period={quarter}"),
        Some("admin"),
        None,
    );
    assert_eq!(code, 200);
    assert!(
        html.as_str().unwrap().contains("<svg"),
        "the HTML report carries its charts"
    );
    let (code, err) = s.call("GET", "/api/report?period=2027Q5", Some("analyst"), None);
    assert_eq!(code, 400, "{err}");

    let (code, csv) = s.call(
        "GET",
        "/api/export?status=new&format=csv&redact=true",
        Some("analyst"),
        None,
    );
    assert_eq!(code, 200);
    let csv = csv.as_str().unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "a header and the 4 queued ads: {csv}"
    );
    let (code, _) = s.call("GET", "/api/export?status=new", Some("sub_mx"), None);
    assert_eq!(code, 403);
    let (_, audit) = s.call("GET", "/api/audit?action=export", Some("admin"), None);
    assert_eq!(audit["entries"][0]["after"]["ads"], 4);
    assert_eq!(audit["entries"][0]["after"]["redact"], true);
}

on_both_stores!(
    every_route_answers_401_without_credentials_403_below_its_role_and_is_documented,
    bad_bodies_get_clear_errors_and_valid_records_are_still_stored,
    triage_over_http_moves_the_ad_and_audits_every_action,
    submitters_file_and_see_only_their_own_office,
    sessions_are_http_only_strict_cookies_and_changes_need_the_csrf_token,
    uncertain_first_orders_by_distance_to_the_threshold,
    report_and_export_downloads_are_the_cli_files_for_the_roles_allowed,
);
