//! Headless Chromium for pages the program writes: a screenshot, the DOM as rendered, and
//! a page driven over the DevTools protocol (headless_chrome).
//! `.ci/run` installs Chromium and sets SYLLABUS_REQUIRE_CHROMIUM, so CI never skips these.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use headless_chrome::{Browser, LaunchOptions, Tab};

/// Chromium's path; `None` (allowed only outside CI) when it is not installed.
pub fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("SYLLABUS_REQUIRE_CHROMIUM").is_none(),
            ".ci/run installs chromium to check pages"
        );
        eprintln!("SKIPPED the browser check: no chromium here");
    }
    found
}

fn headless(chromium: &str, profile: PathBuf) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// A PNG screenshot of `page` at `width`x`height`, checked to be a real picture.
pub fn screenshot(page: &Path, (width, height): (u32, u32)) -> Option<Vec<u8>> {
    let chromium = chromium()?;
    let dir = page.parent().unwrap();
    let png = dir.join(format!(
        "{}.png",
        page.file_name().unwrap().to_string_lossy()
    ));
    let out = headless(chromium, dir.join("profile"))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        bytes.len() > 5_000,
        "the page rendered next to nothing ({} bytes)",
        bytes.len()
    );
    Some(bytes)
}

/// The DOM of `page` after Chromium has rendered it.
pub fn dom(page: &Path) -> Option<String> {
    let chromium = chromium()?;
    let dir = page.parent().unwrap();
    let out = headless(chromium, dir.join("profile"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tab of a new headless Chromium at `url`; keep the browser alive while using the tab.
pub fn open_tab(chromium: &str, url: &str) -> (std::sync::Arc<Tab>, Browser) {
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(chromium)))
        .headless(true)
        .sandbox(false)
        .idle_browser_timeout(Duration::from_secs(900))
        .args(
            [
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
            ]
            .map(OsStr::new)
            .to_vec(),
        )
        .build()
        .unwrap();
    let browser = Browser::new(options).unwrap();
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(60));
    tab.navigate_to(url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    (tab, browser)
}

/// Clicks the field `selector` and types `text` into it, as a person would.
pub fn type_into(tab: &Tab, selector: &str, text: &str) {
    tab.wait_for_element(selector).unwrap().click().unwrap();
    tab.type_str(text).unwrap();
}

/// Polls the expression `js` until it is true, for up to `limit`; whether it became true.
pub fn wait_for(tab: &Tab, limit: Duration, js: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if tab.evaluate(js, false).unwrap().value == Some(serde_json::Value::Bool(true)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}
