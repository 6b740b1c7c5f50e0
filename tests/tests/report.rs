//! `cargo jiti report` on a seeded emulator account (a protected environment, branches alive and
//! gone, an expired environment, a rollback in a history), checked in a real headless browser
//! (Debian's chromium): the DOM holds the rows and gc's plan, the script ran, and no request leaves
//! the page (the browser's proxy is a server of the test's, which logs every request and tunnel;
//! only the page and the browser's own update and clock checks may appear). A screenshot is left
//! at `target/jiti-report.png` for people to look at.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use jiti_tests::{Moto, Repo, assert_report_valid, repo_root, shop_on};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Serves `page` at `/report.html` on loopback, and logs every request line it gets.
fn serve(page: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            log.lock().expect("log").push(first.trim().to_owned());
            let mut stream = stream;
            let (status, body) = match first.starts_with("GET http://report.test/report.html ") {
                true => ("200 OK", page.as_str()),
                false => ("404 Not Found", ""),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// Headless chromium, the test's server as its proxy for every address.
fn chromium(port: u16, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} not found: the report is checked in a real browser; install it with `apt-get install chromium`"
    );
    let profile = tempfile::tempdir().expect("profile");
    Command::new(CHROMIUM)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(["--disable-background-networking", "--disable-component-update"])
        .args(args)
        .arg("http://report.test/report.html")
        .output()
        .expect("run chromium")
}

/// GET of an `http://host:port/…` URL: (status, body).
fn http_get(url: &str) -> (u16, String) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn expire(moto: &Moto, stack: &str) {
    moto.boto3(&format!(
        "cf = c('cloudformation')\ns = cf.describe_stacks(StackName={stack:?})['Stacks'][0]\ntags = [t if t['Key'] != 'jiti:expires-at' else {{'Key': t['Key'], 'Value': '2020-01-01T00:00:00Z'}} for t in s['Tags']]\ncf.update_stack(StackName={stack:?}, UsePreviousTemplate=True, Tags=tags)\nprint('null')"
    ));
}

fn seed(moto: &Moto) -> Repo {
    let repo = shop_on("feature/alive");
    let deploy = |args: &[&str]| moto.jiti(repo.path(), args).expect(0);
    repo.git(&["checkout", "-q", "main"]);
    deploy(&["deploy", "--method", "direct", "--yes"]);
    for branch in ["feature/gone", "feature/old"] {
        repo.git(&["checkout", "-q", "-b", branch]);
        deploy(&["deploy", "-p", "billing", "--method", "direct"]);
        repo.git(&["checkout", "-q", "main"]);
    }
    repo.git(&["branch", "-q", "-D", "feature/gone"]);
    // An environment whose branch lives on but whose time ran out.
    let old = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    let old = old["environments"]
        .as_array()
        .expect("envs")
        .iter()
        .find(|e| e["branch"] == "feature/old")
        .expect("feature/old")["stack_name"]
        .as_str()
        .expect("stack")
        .to_owned();
    expire(moto, &old);
    // Two releases on feature/alive, then a rollback to the first.
    repo.git(&["checkout", "-q", "feature/alive"]);
    deploy(&["deploy", "-p", "billing", "--method", "direct"]);
    let config = repo.read("billing/infra/jiti.toml");
    repo.write(
        "billing/infra/jiti.toml",
        &config.replace("visibility_timeout = 60", "visibility_timeout = 90"),
    );
    repo.commit("billing: longer visibility");
    deploy(&["deploy", "-p", "billing", "--method", "direct"]);
    deploy(&["rollback", "-p", "billing", "--steps", "1", "--yes", "--method", "direct"]);
    repo
}

fn env<'a>(report: &'a Value, app: &str, branch: &str) -> &'a Value {
    report["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .find(|e| e["app"] == app && e["branch"] == branch)
        .unwrap_or_else(|| panic!("{app} on {branch} in {report:#}"))
}

#[test]
fn the_report_shows_every_environment_its_releases_and_the_gc_plan_in_a_real_browser() {
    let moto = Moto::start();
    let repo = seed(&moto);

    let report = moto.jiti(repo.path(), &["report", "--json"]).expect(0).json();
    assert_report_valid(&report);
    let totals = &report["totals"];
    assert_eq!(totals["stacks"], 5, "production ×2, alive, gone, old: {totals}");
    assert_eq!(totals["protected"], 2, "{totals}");
    assert_eq!(totals["branch_gone"], 1, "{totals}");
    assert_eq!(totals["collectable"], 2, "gone and expired: {totals}");
    assert!(totals["artifact_bytes"].as_u64().unwrap_or(0) > 0, "orders-api's build: {totals}");
    let alive = env(&report, "billing", "feature/alive");
    let releases = alive["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 3, "{alive:#}");
    assert!(releases[0]["rollback_of"].is_string(), "the newest is the rollback: {alive:#}");
    assert_eq!(env(&report, "billing", "feature/gone")["branch_presence"], "gone");
    let collected: Vec<&str> = report["gc"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| c["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(collected.len(), 2, "{:#}", report["gc"]);
    assert!(collected.contains(&"branch-gone") && collected.contains(&"expired"), "{collected:?}");

    let out = repo.path().join("target/jiti/report.html");
    let wrote =
        moto.jiti(repo.path(), &["report", "--html", "-o", "target/jiti/report.html"]).expect(0);
    assert!(
        wrote.stdout.contains("wrote target/jiti/report.html (5 environments"),
        "{}",
        wrote.stdout
    );
    let page = std::fs::read_to_string(&out).expect("the page");
    assert!(!page.contains("http://") && !page.contains("https://"), "no address in the page");

    let (port, requests) = serve(page);
    let dom = chromium(port, &["--dump-dom", "--virtual-time-budget=3000"]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    for state in ["protected", "branch-gone", "expired", "live"] {
        assert!(dom.contains(&format!("data-state=\"{state}\"")), "a {state} row:\n{dom}");
    }
    let gc_table = &dom[dom.find("id=\"collect\"").expect("the gc table")..];
    for branch in ["feature-gone", "feature-old"] {
        assert!(gc_table.contains(&format!("billing-{branch}")), "{branch} in the gc table");
    }
    assert!(dom.contains("rollback of "), "the rollback in the timeline");
    // A section per app: its environments, then each one's releases.
    for app in ["billing", "orders-api"] {
        assert!(dom.contains(&format!("<section class=\"app\" data-app=\"{app}\"")), "{app}");
    }
    assert!(dom.contains("<tbody data-env=\"production\">"), "production's timeline");
    assert!(dom.contains("data-load-ms="), "the script ran");
    // Times shown in the reader's zone, the UTC value kept for hover.
    let shown = dom.split("<time datetime=\"").nth(1).expect("a time");
    let (utc, rest) = shown.split_once('"').expect("datetime");
    let text = rest.split('>').nth(1).and_then(|r| r.split('<').next()).expect("its text");
    assert!(rest.contains(&format!("title=\"{utc}\"")) && text != utc, "{utc} → {text}");

    // Published: private in the bucket, readable through the presigned URL only.
    let published = moto
        .jiti(repo.path(), &["report", "--publish", "--expires", "1h", "--json"])
        .expect(0)
        .json();
    let url = published["published"]["url"].as_str().expect("a presigned URL");
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=3600"), "{url}");
    let (status, body) = http_get(url);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<!doctype html>") && body.contains("id=\"collect\""), "{body}");
    let (unsigned, _) = http_get(url.split('?').next().expect("path"));
    assert_eq!(unsigned, 403, "the object is private");
    let refused = moto.jiti(repo.path(), &["report", "--publish", "--expires", "8d"]).expect(2);
    assert!(refused.stderr.contains("longer than 7d"), "{}", refused.stderr);

    let screenshot = repo_root().join("target/jiti-report.png");
    let shot = chromium(
        port,
        &[&format!("--screenshot={}", screenshot.display()), "--window-size=1400,1200"],
    );
    assert!(screenshot.is_file(), "{}", String::from_utf8_lossy(&shot.stderr));
    let asked = requests.lock().expect("requests").clone();
    // Chromium checks its clock and its components on its own, whatever the page: Google's hosts.
    let browsers_own = |r: &str| {
        ["google.com", "googleapis.com", "gvt1.com"].iter().any(|h| {
            r.split_whitespace().nth(1).is_some_and(|target| {
                let host = target.trim_start_matches("http://").split(['/', ':']).next();
                host.is_some_and(|host| host == *h || host.ends_with(&format!(".{h}")))
            })
        })
    };
    let pages: Vec<&String> = asked.iter().filter(|r| r.contains("report.test")).collect();
    assert_eq!(pages.len(), 2, "one load per browser run: {asked:?}");
    // A connection opened and closed unused (a preconnect) asks for nothing.
    let others: Vec<&String> = asked
        .iter()
        .filter(|r| !r.is_empty() && !r.contains("report.test") && !browsers_own(r))
        .collect();
    eprintln!("requests the browser made: {asked:?}");
    assert!(others.is_empty(), "the page asked for something else: {others:?}");
}
