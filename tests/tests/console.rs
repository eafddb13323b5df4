//! The operator console in headless Chromium (Debian `chromium` + `chromium-driver`, driven over
//! WebDriver): a dossier the portal refuses becomes a dead letter; the operator opens the console,
//! finds it among the dead letters, presses "Gửi lại / Replay", and — the portal now accepting it
//! — sees it delivered on the dossier page. Screenshots of the pages are written under
//! `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver child, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    assert!(
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
        "the console test needs Debian's chromium and chromium-driver (.ci/run installs them: apt-get install chromium chromium-driver)"
    );
    let port = free_port();
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_dead_letter_from_the_console() {
    let sim = DvcqgSim::start().await.expect("sim");
    sim.update_faults(|f| {
        f.reject_codes.insert("CONSOLE-1".into());
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig::default().render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let mut d = example("dossier-business-registration.json");
    d["code"] = Value::String("CONSOLE-1".into());
    let (s, v) = gw.post("/v1/dossiers", &d).await;
    assert_eq!(s, 202, "{v}");
    gw.wait_deliveries(Duration::from_secs(20), "a dead letter", |all| {
        all.iter().any(|d| d["state"] == "dead")
    })
    .await;
    // The portal's data problem is fixed on its side.
    sim.update_faults(|f| f.reject_codes.clear());

    let driver = chromedriver().await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session");
    let shots = screenshots();

    // The operator signs in with the admin token the gateway generated at its first start
    // (no address lets anyone in).
    browser
        .goto(&format!("{}/console", gw.base_url))
        .await
        .expect("open the console");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/console/login"),
        "the console opened without signing in"
    );
    browser
        .find(Locator::Css("input[name=token]"))
        .await
        .expect("the token field")
        .send_keys(gw.admin_token.as_deref().expect("generated admin token"))
        .await
        .expect("type the token");
    browser
        .find(Locator::Css("form[action='/console/login'] button"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("sign in");

    // The overview shows the destination, its dead letter and the deadline chart.
    browser
        .goto(&format!("{}/console", gw.base_url))
        .await
        .expect("open the console");
    let destinations = browser
        .find(Locator::Css("#destinations"))
        .await
        .expect("destinations table")
        .text()
        .await
        .expect("text");
    assert!(destinations.contains("dvcqg"), "{destinations}");
    assert!(
        destinations.contains("Bình thường"),
        "circuit closed: {destinations}"
    );
    browser
        .find(Locator::Css("#deadline-chart"))
        .await
        .expect("the deadline chart");
    std::fs::write(
        shots.join("overview.png"),
        browser.screenshot().await.expect("screenshot"),
    )
    .expect("write screenshot");

    // Dead letters: the dossier with the portal's reason and a replay button.
    browser
        .find(Locator::LinkText("Thư lỗi / Dead letters"))
        .await
        .expect("nav link")
        .click()
        .await
        .expect("click");
    let row = browser
        .find(Locator::XPath(
            "//table[@id='dead-letters']//tr[td/a[text()='CONSOLE-1']]",
        ))
        .await
        .expect("the dead letter's row");
    let text = row.text().await.expect("row text");
    assert!(text.contains("dvcqg"), "{text}");
    std::fs::write(
        shots.join("dead-letters.png"),
        browser.screenshot().await.expect("screenshot"),
    )
    .expect("write screenshot");
    row.find(Locator::Css("button"))
        .await
        .expect("replay button")
        .click()
        .await
        .expect("replay");
    let notice = match browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#replayed"))
        .await
    {
        Ok(e) => e.text().await.expect("text"),
        Err(e) => panic!(
            "no replay notice ({e}); the page is:\n{}",
            browser.source().await.unwrap_or_default()
        ),
    };
    assert!(notice.contains("Queued again"), "{notice}");

    // The dossier page shows it delivered.
    let start = Instant::now();
    loop {
        browser
            .goto(&format!("{}/console/dossier?code=CONSOLE-1", gw.base_url))
            .await
            .expect("dossier page");
        let state = browser
            .find(Locator::Css("#deliveries .state"))
            .await
            .expect("delivery state")
            .text()
            .await
            .expect("text");
        if state == "delivered" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still {state} after the replay"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let shot = shots.join("dossier-delivered.png");
    std::fs::write(&shot, browser.screenshot().await.expect("screenshot"))
        .expect("write screenshot");
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 1000);
    assert!(sim.hoso("CONSOLE-1").is_some(), "the portal has it");

    // The form without its CSRF token is refused.
    let dead_id = gw.deliveries().await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = gw
        .admin(
            gw.http
                .post(format!("{}/console/replay/{dead_id}", gw.base_url)),
        )
        .form(&[("csrf", "guess")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    browser.close().await.expect("close the browser");
}
