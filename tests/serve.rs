//! `syllabus serve` on the real binary and the test model: the API, courses at once, the
//! queue limit, a client going away, the token, the stop signal, and the page in Chromium.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use common::browser;
use common::cli::{assert_fails, syllabus};
use common::server::{events_until, open, post_json, request, wait_for_load, Server};
use serde_json::{json, Value};

/// Requests the test model answers validly on this machine.
const GARDENING: &str = r#"{"topic":"Urban Gardening","modules":2}"#;

fn titles(syllabus: &Value) -> Vec<String> {
    syllabus["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_string())
        .collect()
}

fn assert_course(reply: &common::server::Reply, modules: usize) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let done = reply.json();
    let s = &done["syllabus"];
    assert_eq!(titles(s).len(), modules, "{done}");
    assert!(titles(s).iter().all(|t| !t.trim().is_empty()));
    assert!(done["record"]["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(!done["record"]["calls"].as_array().unwrap().is_empty());
    assert_eq!(s["provenance"]["request"]["modules"], modules);
    done
}

#[test]
fn api_writes_courses_one_and_two_at_once_and_refuses_bad_input() {
    let server = Server::start(&[]);
    let health = request(&server.at("healthz"), "GET", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let body: Value = serde_json::from_str(GARDENING).unwrap();
    let one = post_json(&server.at("api/syllabus"), &body);
    let done = assert_course(&one, 2);
    let md = request(
        &server.at(done["downloads"]["markdown"].as_str().unwrap()),
        "GET",
        &[],
        b"",
    );
    assert_eq!(md.status, 200);
    let disposition = md.header("content-disposition").unwrap();
    assert!(
        disposition.contains(".md\"") && disposition.contains("; filename*=UTF-8''"),
        "{disposition}"
    );
    assert_eq!(md.header("x-content-type-options"), Some("nosniff"));
    for t in titles(&done["syllabus"]) {
        assert!(md.body.contains(&t), "{t} not in the Markdown");
    }
    for (format, mime, start) in [
        ("docx", "wordprocessingml", "PK"),
        ("pdf", "application/pdf", "%PDF-"),
        ("imscc", "imsccv1p3", "PK"),
        ("imscc-1.1", "imsccv1p1", "PK"),
    ] {
        let file = request(
            &server.at(done["downloads"][format].as_str().unwrap()),
            "GET",
            &[],
            b"",
        );
        assert_eq!(file.status, 200, "{format}");
        assert!(
            file.header("content-type").unwrap().contains(mime),
            "{format}"
        );
        assert!(file.body.starts_with(start), "{format}");
    }

    // Module 2 written again: a new syllabus, the rest unchanged, the first one kept.
    let id = done["id"].as_u64().unwrap();
    let again = post_json(
        &server.at(&format!("api/syllabus/{id}/modules/2")),
        &json!({"note": "more hands-on activities"}),
    );
    let redone = assert_course(&again, 2);
    assert_ne!(redone["id"], done["id"]);
    let (old, new) = (&done["syllabus"]["modules"], &redone["syllabus"]["modules"]);
    assert_eq!(old.as_array().unwrap().len(), 2);
    assert_eq!(old[0], new[0]);
    assert_eq!(old[1]["title"], new[1]["title"]);
    assert_eq!(
        request(&server.at(&format!("api/syllabus/{id}")), "GET", &[], b"").status,
        200
    );
    let none = [("Content-Type", "application/json")];
    let out_of_range = request(
        &server.at(&format!("api/syllabus/{id}/modules/9")),
        "POST",
        &none,
        b"",
    );
    assert_eq!(out_of_range.status, 400, "{}", out_of_range.body);
    let unknown = request(&server.at("api/syllabus/999/modules/1"), "POST", &none, b"");
    assert_eq!(unknown.status, 404);

    // Two at once share the engine; both succeed. Control characters and bidirectional
    // overrides in the first one's fields never reach its course.
    let url = server.at("api/syllabus");
    let dirty = json!({
        "topic": "Tides\u{1b}[31m and\u{202e} Moon\u{0}",
        "audience": "adults\u{1b}]0;pwned\u{7}",
        "modules": 1,
    });
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| post_json(&url, &dirty));
        let b = s.spawn(|| {
            post_json(
                &url,
                &json!({"topic": "Introduction to Marine Biology", "modules": 1, "seed": 7}),
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let cleaned = assert_course(&a, 1);
    assert_course(&b, 1);
    let asked = &cleaned["syllabus"]["provenance"]["request"];
    for field in [
        &asked["topic"],
        &asked["audience"],
        &cleaned["syllabus"]["title"],
    ] {
        let text = field.as_str().unwrap();
        assert!(
            !text.contains(['\u{1b}', '\u{202e}', '\u{0}', '\u{7}']),
            "{text:?}"
        );
    }
    assert!(
        asked["topic"].as_str().unwrap().starts_with("Tides"),
        "{asked}"
    );

    let json_header = [("Content-Type", "application/json")];
    for (body, status, needle) in [
        (&b"{\"topic\":"[..], 400, "not valid JSON"),
        (
            &b"{\"topic\":\"X\",\"outline\":\"a.txt\"}"[..],
            400,
            "the server reads no files",
        ),
        (
            &b"{\"topic\":\"X\",\"colour\":\"red\"}"[..],
            400,
            "unknown field `colour`",
        ),
        (
            &b"{\"topic\":\"X\",\"modules\":99}"[..],
            400,
            "modules must be between 1 and 12",
        ),
        (&b"{\"topic\":\"  \"}"[..], 400, "topic"),
        (&[b' '; 40_000][..], 413, "larger than"),
    ] {
        let r = request(&url, "POST", &json_header, body);
        assert_eq!(r.status, status, "{}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(needle),
            "{}",
            r.body
        );
    }
    let other_site = [("Origin", "http://evil.example")];
    assert_eq!(
        request(&url, "POST", &other_site, GARDENING.as_bytes()).status,
        403
    );
    assert_eq!(
        request(&server.at("api/syllabus/999/markdown"), "GET", &[], b"").status,
        404
    );
    assert_eq!(request(&server.at("healthz"), "GET", &[], b"").status, 200);

    // The page without JavaScript: the form posts, the syllabus opens as its HTML page.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let posted = request(
        &server.at(""),
        "POST",
        &form,
        b"topic=Urban+Gardening&modules=1&seed=",
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let page = posted.header("location").unwrap().to_string();
    let html = request(&server.at(&page), "GET", &[], b"");
    let policy = html.header("content-security-policy").unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    assert!(html.body.contains("<html") && html.body.contains("Urban Gardening"));
    let bad = request(&server.at(""), "POST", &form, b"topic=X&modules=lots");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("modules must be a whole number"));
}

#[test]
fn the_queue_is_bounded_and_a_client_that_goes_away_is_cancelled() {
    let server = Server::start(&["--concurrent", "1", "--queue", "1"]);
    let url = server.at("api/syllabus");
    let sse = [("Content-Type", "application/json")];
    let body = |topic: &str| json!({"topic": topic, "modules": 3, "stream": true}).to_string();
    let mut first = BufReader::new(open(&url, "POST", &sse, body("History of Jazz").as_bytes()));
    let seen = events_until(&mut first, &["started"]);
    assert_eq!(seen.last().unwrap()["event"], "started");
    let mut second = BufReader::new(open(
        &url,
        "POST",
        &sse,
        body("Basic Photography").as_bytes(),
    ));
    let seen = events_until(&mut second, &["queued"]);
    assert_eq!(seen.last().unwrap()["position"], 0);

    let third = request(&url, "POST", &sse, body("The Solar System").as_bytes());
    assert_eq!(third.status, 503, "{}", third.body);
    assert!(third.json()["error"].as_str().unwrap().contains("busy"));
    assert_eq!(third.header("retry-after"), Some("30"));

    // The first client goes away: its course is cancelled and the waiting one starts.
    drop(first);
    let seen = events_until(&mut second, &["started"]);
    assert_eq!(seen.last().unwrap()["event"], "started");
    wait_for_load(&server, Duration::from_secs(10), |l| {
        l["running"] == 1 && l["queued"] == 0
    });
    drop(second);
    wait_for_load(&server, Duration::from_secs(10), |l| l["running"] == 0);
    // Healthy afterwards: a course is written in full (one module at seed 4: about 5 s here,
    // where the two-module course at the server's seed took about 10).
    let after = json!({"topic": "Urban Gardening", "modules": 1, "seed": 4});
    assert_course(&post_json(&url, &after), 1);
}

#[test]
fn the_token_guards_everything_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("SYLLABUS_TOKEN")
        .output()
        .unwrap();
    assert_fails(&out, 2, "--token");

    let server = Server::start(&["--token", "staff-room-42"]);
    assert_eq!(request(&server.at("healthz"), "GET", &[], b"").status, 200);
    let models = server.at("api/models");
    let no = request(&models, "GET", &[], b"");
    assert_eq!(no.status, 401);
    assert!(no.json()["error"].as_str().unwrap().contains("token"));
    let wrong = [("Authorization", "Bearer staff-room-41")];
    assert_eq!(request(&models, "GET", &wrong, b"").status, 401);
    let right = [("Authorization", "Bearer staff-room-42")];
    let listed = request(&models, "GET", &right, b"");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.json()["loaded"]["model"]
        .as_str()
        .unwrap()
        .contains("SmolLM2"));
    let post = request(
        &server.at("api/syllabus"),
        "POST",
        &[],
        GARDENING.as_bytes(),
    );
    assert_eq!(post.status, 401);

    let signin = request(&server.at(""), "GET", &[], b"");
    assert_eq!(signin.status, 200);
    assert!(signin.body.contains("needs its token") && !signin.body.contains("id=\"course\""));
    // A token in the address does not sign in (it would stay in history and logs).
    let in_url = request(&server.at("?token=staff-room-42"), "GET", &[], b"");
    assert_eq!(in_url.status, 200);
    assert!(in_url.header("set-cookie").is_none());
    assert!(!in_url.body.contains("id=\"course\""));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let nope = request(&server.at("signin"), "POST", &form, b"token=nope");
    assert_eq!(nope.status, 401);
    let ok = request(&server.at("signin"), "POST", &form, b"token=staff-room-42");
    assert_eq!(ok.status, 303);
    let cookie = ok
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = request(&server.at(""), "GET", &[("Cookie", &cookie)], b"");
    assert!(page.body.contains("id=\"course\""), "{}", page.body);
}

/// Whether the server closed `stream` within `limit` (a read sees the end).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read as _;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A signed-in request (`right`) is served within 5 s.
fn served_at_once(server: &Server, right: &[(&str, &str)]) {
    let start = Instant::now();
    let listed = request(&server.at("api/models"), "GET", right, b"");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// The doors of a server with a token: 200 idle connections and one trickling its request
/// head take nothing from a signed-in request; the head is cut at the header timeout, the
/// idle ones at the idle timeout.
fn idle_and_slow_connections_are_cut(server: &Server, addr: &str) {
    use std::io::Write as _;
    let mut idle: Vec<std::net::TcpStream> = (0..200)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let opened = Instant::now();
    let right = [("Authorization", "Bearer staff-room-42")];
    served_at_once(server, &right);
    assert!(closed_within(&mut slow, Duration::from_secs(15)));
    assert!(opened.elapsed() < Duration::from_secs(15));
    assert!(closed_within(&mut idle[0], Duration::from_secs(30)));
    assert!(
        opened.elapsed() < Duration::from_secs(30),
        "{:?}",
        opened.elapsed()
    );
    for s in idle.iter_mut().skip(1).take(20) {
        assert!(closed_within(s, Duration::from_secs(5)));
    }
}

/// Signed out, a client gets a few requests a minute; signed in, no limit.
fn signed_out_requests_are_limited(server: &Server) {
    let right = [("Authorization", "Bearer staff-room-42")];
    let statuses: Vec<u16> = (0..32)
        .map(|_| request(&server.at("api/models"), "GET", &[], b"").status)
        .collect();
    assert!(statuses.iter().take(30).all(|&s| s == 401), "{statuses:?}");
    let limited = request(&server.at("api/models"), "GET", &[], b"");
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        request(&server.at("api/models"), "GET", &right, b"").status,
        200
    );
    assert_eq!(request(&server.at("healthz"), "GET", &[], b"").status, 200);
}

/// Raises this process's open-file limit to `n` (or its hard limit), for tests that open
/// many sockets.
fn allow_open_files(n: u64) {
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Open file handles of process `pid`.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn the_doors_hold_while_a_course_streams_and_its_connections_come_and_go() {
    use std::io::{Read as _, Write as _};
    allow_open_files(4096);
    let server = Server::start(&["--token", "staff-room-42"]);
    let addr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let right = [("Authorization", "Bearer staff-room-42")];
    let sse = [
        ("Authorization", "Bearer staff-room-42"),
        ("Content-Type", "application/json"),
    ];
    // One course streaming, its connection past the idle timeout while it streams: four
    // modules at seed 3 take about 34 s here on one thread (by `generate`; six at seed 1, 60
    // s), longer than the idle timeout (20 s), about as long as the deadlines below.
    let body = json!({"topic": "History of Jazz", "modules": 4, "seed": 3, "stream": true});
    let body = body.to_string();
    let mut course = BufReader::new(open(
        &server.at("api/syllabus"),
        "POST",
        &sse,
        body.as_bytes(),
    ));
    let seen = events_until(&mut course, &["started"]);
    assert_eq!(seen.last().unwrap()["event"], "started");
    let reader = std::thread::spawn(move || events_until(&mut course, &["done", "failed"]));

    // A body trickled one byte a second is cut within its deadline.
    let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
    trickle
        .write_all(
            b"POST /api/syllabus HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer staff-room-42\r\n\
              Content-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        )
        .unwrap();
    let trickled = Instant::now();
    let trickler = std::thread::spawn(move || {
        let mut reply = Vec::new();
        trickle
            .set_read_timeout(Some(Duration::from_millis(900)))
            .unwrap();
        for _ in 0..200 {
            if trickle.write_all(b" ").is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            match trickle.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
            if reply.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        (
            String::from_utf8_lossy(&reply).to_string(),
            trickled.elapsed(),
        )
    });
    // Meanwhile idle and slow connections come and go (the course's connection is past the
    // idle timeout at the end of this, still streaming).
    idle_and_slow_connections_are_cut(&server, &addr);
    std::thread::sleep(Duration::from_secs(25).saturating_sub(trickled.elapsed()));

    // 1,500 connections opened and held by another client.
    let held: Vec<std::net::TcpStream> = (0..1500)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert_eq!(held.len(), 1500, "the kernel took every connection");
    std::thread::sleep(Duration::from_secs(1));
    let files = open_files(server.child.id());
    assert!(files < 1024, "the server holds {files} files");
    served_at_once(&server, &right);
    let files = open_files(server.child.id());
    assert!(files < 1024, "the server holds {files} files");

    let (reply, took) = trickler.join().unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    assert!(took < Duration::from_secs(40), "{took:?}");
    drop(held);
    // The course streamed to its end all along.
    let events = reader.join().unwrap();
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{events:?}");

    // Downloads render off the request threads: while six PDFs are made, the server
    // answers at once; the same file is the same bytes.
    let pdf = server.at(done["downloads"]["pdf"].as_str().unwrap());
    let downloads: Vec<_> = (0..6)
        .map(|_| {
            let pdf = pdf.clone();
            std::thread::spawn(move || {
                let right = [("Authorization", "Bearer staff-room-42")];
                request(&pdf, "GET", &right, b"")
            })
        })
        .collect();
    let start = Instant::now();
    assert_eq!(request(&server.at("healthz"), "GET", &[], b"").status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let files: Vec<_> = downloads.into_iter().map(|d| d.join().unwrap()).collect();
    assert!(files
        .iter()
        .all(|f| f.status == 200 && f.body.starts_with("%PDF")));
    assert!(files.iter().all(|f| f.body == files[0].body));
    signed_out_requests_are_limited(&server);
}

#[test]
fn a_stop_signal_cancels_courses_and_exits_cleanly() {
    let mut server = Server::start(&[]);
    let sse = [("Content-Type", "application/json")];
    let body = json!({"topic": "Urban Gardening", "modules": 3, "stream": true}).to_string();
    let mut client = BufReader::new(open(
        &server.at("api/syllabus"),
        "POST",
        &sse,
        body.as_bytes(),
    ));
    events_until(&mut client, &["started"]);
    let start = Instant::now();
    assert_eq!(server.stop(Duration::from_secs(30)), Some(0));
    let rest = events_until(&mut client, &["failed", "done"]);
    let last = rest.last().expect("the client heard why");
    assert_eq!(last["event"], "failed", "{last}");
    assert!(last["message"].as_str().unwrap().contains("stopping"));
    eprintln!("stopped in {:?}", start.elapsed());
}

/// The error the page shows, if any.
fn page_error(tab: &headless_chrome::Tab) -> String {
    let js = "(document.getElementById('error') || {}).textContent || ''";
    let v = tab.evaluate(js, false).unwrap().value;
    v.and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The module headings of the syllabus shown on the page.
fn module_titles(tab: &headless_chrome::Tab) -> Vec<String> {
    let js =
        "JSON.stringify([...document.querySelectorAll('.module-title')].map(h => h.textContent))";
    let v = tab.evaluate(js, false).unwrap().value.unwrap();
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

#[test]
fn the_page_writes_a_course_in_chromium() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let server = Server::start(&[]);
    let (tab, _browser) = browser::open_tab(chromium, &server.url);
    browser::type_into(&tab, "#topic", "Urban Gardening");
    tab.evaluate("document.getElementById('modules').value = '2'", false)
        .unwrap();
    // Seed 1: this course in about 8 s here, where the default seed (42) took 14. (Not in
    // GARDENING: the server writes a module again with a seed of its own, and the API
    // test's course and module 2 again took longer with it, 46 s against 42.)
    tab.evaluate("document.getElementById('seed').value = '1'", false)
        .unwrap();
    tab.find_element("#write").unwrap().click().unwrap();
    let shown = browser::wait_for(&tab, Duration::from_secs(600), "document.querySelectorAll('#downloads a').length > 0 || !!document.getElementById('error')");
    assert!(shown, "the page never finished");
    assert_eq!(page_error(&tab), "", "the page showed an error");
    let done = tab
        .evaluate(
            "document.querySelectorAll('#progress li.done').length",
            false,
        )
        .unwrap();
    assert_eq!(
        done.value,
        Some(json!(2)),
        "progress shows every module written"
    );
    let headings = module_titles(&tab);
    assert_eq!(headings.len(), 2, "{headings:?}");
    let md = tab
        .evaluate("fetch(document.querySelector('#downloads a[data-format=markdown]').href).then(r => r.text())", true)
        .unwrap();
    let md = md.value.unwrap().as_str().unwrap().to_string();
    for h in &headings {
        let title = h.split_once(": ").unwrap().1;
        assert!(
            md.contains(title),
            "{title} not in the Markdown download:\n{md}"
        );
    }

    // A picture of the finished page, for people (target/tmp/serve-page.png).
    let png = tab
        .capture_screenshot(
            headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
            None,
            None,
            true,
        )
        .unwrap();
    assert!(png.len() > 20_000, "the page rendered next to nothing");
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png"),
        png,
    )
    .unwrap();

    // Module 1 written again from the page: new downloads, the same titles.
    let link = "document.querySelector('#downloads a[data-format=markdown]').getAttribute('href')";
    let before = tab.evaluate(link, false).unwrap().value.unwrap();
    tab.find_element(".again button").unwrap().click().unwrap();
    let js = format!("{link} !== {before} || !!document.getElementById('error')");
    assert!(
        browser::wait_for(&tab, Duration::from_secs(600), &js),
        "never rewritten"
    );
    assert_eq!(page_error(&tab), "", "the page showed an error");
    let after = module_titles(&tab);
    assert_eq!(after, headings);
}
