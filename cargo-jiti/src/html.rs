//! `report --html`: the overview as one self-contained page. No request leaves it (styles and
//! script inline, a Content-Security-Policy that forbids anything else); readable without
//! JavaScript (plain accessible tables: captions, header scopes); the script only sorts, filters
//! and shows times in the reader's time zone (the UTC value stays on hover). Dark or light as the
//! reader's system says.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use jiti_core::inventory::BranchPresence;
use jiti_core::ledger::{ReleaseMethod, ReleaseStatus};
use jiti_core::overview::{EnvOverview, Overview};

/// Text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A UTC time the script shows in the reader's zone (keeping the UTC value for hover). Its text
/// is the machine-readable value (RFC 3339), so no `datetime` attribute repeats it.
fn time(rfc3339: &str) -> String {
    format!("<time>{}</time>", esc(rfc3339))
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// "2d 3h left", "expired", or "never" (protected, or no time to live).
fn time_left(expires: Option<SystemTime>, now: SystemTime) -> (String, &'static str) {
    match expires {
        None => ("never".into(), ""),
        Some(at) => match at.duration_since(now) {
            Ok(left) => {
                let rounded = Duration::from_secs(left.as_secs() / 3600 * 3600);
                let text = match rounded.is_zero() {
                    true => "under an hour".to_owned(),
                    false => humantime::format_duration(rounded).to_string(),
                };
                (format!("{text} left"), "")
            }
            Err(_) => ("expired".into(), "bad"),
        },
    }
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0;
  --head: #f6f8fa; --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1;
  --line: #3d444d; --head: #151b23; --good: #3fb950; --bad: #f85149; --warn: #d29922; --accent: #4493f8; } }
body { background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.muted, caption { color: var(--muted); } caption { text-align: left; padding: .25rem 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; }
thead th[data-sort] { cursor: pointer; } thead th[aria-sort=ascending]::after { content: " ▲"; }
thead th[aria-sort=descending]::after { content: " ▼"; }
code, .envs td:nth-child(6), .timeline td:nth-child(4), .timeline td:nth-child(6) {
  font-family: ui-monospace, monospace; font-size: .92em; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .25rem; }
/* Apps off screen are not laid out until scrolled to: what keeps a page of thousands of
   environments quick to open. Each section says how much room to keep for it. */
section.app { content-visibility: auto; contain-intrinsic-size: auto 600px; }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
dl.totals { display: flex; flex-wrap: wrap; gap: .5rem 2rem; margin: 1rem 0; }
dl.totals div { min-width: 8rem; } dl.totals dt { color: var(--muted); } dl.totals dd { margin: 0; font-size: 1.3rem; }
form.filters { display: flex; gap: 1rem; flex-wrap: wrap; margin: .5rem 0; }
details { margin: .25rem 0; } summary { cursor: pointer; }
"#;

/// Sorting by a header's column, filtering by app, status and free text, times in local time.
const SCRIPT: &str = r#"
(function () {
  // One formatter for every time: thousands of them on a large page.
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  for (const t of document.getElementsByTagName('time')) {
    const utc = t.getAttribute('datetime') || t.textContent, d = new Date(utc);
    if (!isNaN(d)) { t.setAttribute('datetime', utc); t.title = utc; t.textContent = format.format(d); }
  }
  const key = function (r, index) {
    const c = r.cells[index], t = c.querySelector('time');
    return (c.getAttribute('data-key') || (t && t.getAttribute('datetime')) || c.textContent).trim();
  };
  for (const table of document.querySelectorAll('table.envs')) {
    const body = table.tBodies[0];
    table.querySelectorAll('thead th[data-sort]').forEach(function (th, index) {
      th.addEventListener('click', function () {
        const asc = th.getAttribute('aria-sort') !== 'ascending';
        table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const x = key(a, index), y = key(b, index);
          return asc ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  const form = document.getElementById('filters');
  if (!form) return;
  form.hidden = false;
  const sections = Array.from(document.querySelectorAll('section.app'));
  // Rows of the environments that match; each environment's releases follow its row.
  const apply = function () {
    const app = form.elements.app.value, status = form.elements.status.value;
    const text = form.elements.text.value.toLowerCase();
    for (const s of sections) {
      const shown = new Set();
      for (const r of s.querySelector('table.envs').tBodies[0].rows) {
        r.hidden = (app && s.dataset.app !== app) || (status && r.dataset.state !== status)
          || (text && !r.textContent.toLowerCase().includes(text));
        if (!r.hidden) shown.add(r.cells[0].firstChild.textContent);
      }
      s.querySelectorAll('table.timeline tbody').forEach(function (b) { b.hidden = !shown.has(b.dataset.env); });
      s.hidden = shown.size === 0;
    }
  };
  form.addEventListener('input', apply);
})();
// When the page finished loading, in ms since navigation: what the benchmark reads.
addEventListener('load', function () {
  document.documentElement.dataset.loadMs = String(Math.round(performance.now()));
});
"#;

fn presence(p: BranchPresence) -> (&'static str, &'static str) {
    match p {
        BranchPresence::LocalAndRemote => ("local and remote", "good"),
        BranchPresence::Local => ("local only", "warn"),
        BranchPresence::Remote => ("remote", "good"),
        BranchPresence::Gone => ("gone", "bad"),
    }
}

/// The state a row is filtered by.
fn state(e: &EnvOverview, now: SystemTime) -> &'static str {
    match (e.stack.protected, e.stack.branch_presence, e.stack.expires_at) {
        (true, _, _) => "protected",
        (false, BranchPresence::Gone, _) => "branch-gone",
        (false, _, Some(at)) if at <= now => "expired",
        _ => "live",
    }
}

/// The whole page.
pub fn page(o: &Overview) -> String {
    let now = humantime::parse_rfc3339(&o.generated_at).unwrap_or_else(|_| SystemTime::now());
    let t = &o.totals;
    let mut h = String::with_capacity(4096 + o.environments.len() * 1200);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>cargo jiti · environments</title>\n<style>{STYLE}</style></head>\n<body>\n\
         <header><h1>Environments</h1><p class=\"muted\">cargo jiti report, generated {}</p></header>\n",
        time(&o.generated_at)
    );
    let _ = writeln!(
        h,
        "<section aria-labelledby=\"totals\"><h2 id=\"totals\">Totals</h2><dl class=\"totals\">\
         <div><dt>Apps</dt><dd>{}</dd></div><div><dt>Environments</dt><dd>{}</dd></div>\
         <div><dt>Stacks</dt><dd>{}</dd></div><div><dt>Protected</dt><dd>{}</dd></div>\
         <div><dt>Branch gone</dt><dd>{}</dd></div><div><dt>gc would delete</dt><dd>{}</dd></div>\
         <div><dt>Regions</dt><dd>{}</dd></div><div><dt>Builds stored</dt><dd>{} ({} bytes)</dd></div></dl></section>",
        t.apps,
        t.environments,
        t.stacks,
        t.protected,
        t.branch_gone,
        t.collectable,
        esc(&t.regions.join(", ")),
        t.artifacts,
        t.artifact_bytes
    );
    environments(&mut h, o, now);
    collect(&mut h, o);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// The environments and their releases, a section per app: each its own tables, so the browser
/// lays out only the apps on screen (`content-visibility: auto`) and a page of thousands of
/// environments still loads at once. Sorting is per table; the filters span every app.
fn environments(h: &mut String, o: &Overview, now: SystemTime) {
    let mut apps: BTreeMap<&str, Vec<&EnvOverview>> = BTreeMap::new();
    for e in &o.environments {
        apps.entry(e.stack.app.as_str()).or_default().push(e);
    }
    let options: String = apps.keys().map(|a| format!("<option>{}</option>", esc(a))).collect();
    let _ = writeln!(
        h,
        "<section aria-labelledby=\"envs\"><h2 id=\"envs\">Environments and their releases</h2>\n\
         <p class=\"muted\">{} stacks of {} apps; each app's environments, then each environment's \
         releases, newest first.</p>\n\
         <form id=\"filters\" class=\"filters\" hidden>\
         <label>App <select name=\"app\"><option value=\"\">all</option>{options}</select></label>\
         <label>State <select name=\"status\"><option value=\"\">all</option><option value=\"live\">live</option>\
         <option value=\"protected\">protected</option><option value=\"branch-gone\">branch gone</option>\
         <option value=\"expired\">expired</option></select></label>\
         <label>Search <input type=\"search\" name=\"text\"></label></form>",
        o.environments.len(),
        apps.len()
    );
    for (n, (app, envs)) in apps.iter().enumerate() {
        let releases: usize = envs.iter().map(|e| e.releases.len() + 1).sum();
        // Where the browser has not laid the section out yet, the space it keeps for it: near
        // the real height, so the scroll bar does not jump.
        let height = 120 + 30 * (envs.len() + releases);
        let _ = writeln!(
            h,
            "<section class=\"app\" data-app=\"{app}\" aria-labelledby=\"app{n}\" \
             style=\"contain-intrinsic-size: auto {height}px\"><h3 id=\"app{n}\">{app}</h3>\n\
             <table class=\"envs\"><caption>{app}: {} environment{}</caption>\n<thead><tr>",
            envs.len(),
            if envs.len() == 1 { "" } else { "s" },
            app = esc(app),
        );
        for head in [
            "Environment",
            "Status",
            "Branch",
            "Region",
            "Version",
            "Commit",
            "Last deploy",
            "By",
            "Time to live",
        ] {
            let _ = write!(h, "<th scope=\"col\" data-sort>{head}</th>");
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for e in envs {
            environment_row(h, e, now);
        }
        h.push_str("</tbody></table>\n");
        timeline(h, app, envs);
        h.push_str("</section>\n");
    }
    h.push_str("</section>\n");
}

fn environment_row(h: &mut String, e: &EnvOverview, now: SystemTime) {
    let s = &e.stack;
    let (branch_state, branch_class) = presence(s.branch_presence);
    let (left, left_class) = match s.protected {
        true => ("never (protected)".to_owned(), ""),
        false => time_left(s.expires_at, now),
    };
    let status_class = if s.status.as_str().contains("FAILED")
        || s.status.as_str().ends_with("ROLLBACK_COMPLETE")
    {
        "bad"
    } else if s.status.in_progress() {
        "warn"
    } else {
        "good"
    };
    let hotswapped = match s.hotswaps {
        0 => String::new(),
        n => format!("<br><span class=\"warn\">code hotswapped {n}× since</span>"),
    };
    let updated = s.updated.map(rfc3339);
    // What the time-to-live column sorts by: the expiry, not its wording.
    let expires_key = match s.expires_at {
        Some(at) if !s.protected => format!(" data-key=\"{}\"", rfc3339(at)),
        _ => String::new(),
    };
    let _ = writeln!(
        h,
        "<tr data-state=\"{state}\"><th scope=\"row\">{env}{lock}</th>\
         <td class=\"{status_class}\">{status}</td>\
         <td>{branch} <span class=\"{branch_class}\">({branch_state})</span></td>\
         <td>{region}</td><td>{version}</td><td>{commit}</td>\
         <td>{updated}{hotswapped}</td><td>{by}</td>\
         <td{left_class}{expires_key}>{left}</td></tr>",
        branch = esc(&s.branch),
        state = state(e, now),
        env = esc(&s.environment),
        lock = if s.protected { " <span class=\"warn\">(protected)</span>" } else { "" },
        status = esc(s.status.as_str()),
        region = esc(&e.region),
        version = esc(&s.version),
        commit = esc(jiti_core::git::short(&s.commit, 7)),
        updated = updated.as_deref().map(time).unwrap_or_default(),
        // The name; the address on hover.
        by = esc(e.deployed_by.as_deref().map_or("", |b| b.split(" <").next().unwrap_or(b))),
        left_class = match left_class {
            "" => String::new(),
            class => format!(" class=\"{class}\""),
        },
    );
}

/// One app's release timelines: one table, a row group per environment.
fn timeline(h: &mut String, app: &str, envs: &[&EnvOverview]) {
    let with: Vec<&&EnvOverview> = envs.iter().filter(|e| !e.releases.is_empty()).collect();
    if with.is_empty() {
        let _ = writeln!(h, "<p class=\"muted\">No release of {} recorded.</p>", esc(app));
        return;
    }
    let _ = writeln!(
        h,
        "<table class=\"timeline\"><caption>{}: releases of each environment, newest first</caption>\
         <thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Outcome</th><th scope=\"col\">Version</th>\
         <th scope=\"col\">Commit</th><th scope=\"col\">By</th><th scope=\"col\">Code</th></tr></thead>",
        esc(app)
    );
    for e in with {
        let _ = writeln!(
            h,
            "<tbody data-env=\"{env}\"><tr><th colspan=\"6\" scope=\"rowgroup\">{env}</th></tr>",
            env = esc(&e.stack.environment)
        );
        for r in &e.releases {
            let (outcome, class) = match (r.status, r.method) {
                (ReleaseStatus::Deployed, ReleaseMethod::Hotswap) => ("hotswapped", ""),
                (ReleaseStatus::Deployed, _) => ("deployed", ""),
                (ReleaseStatus::VerifyFailed, _) => ("verify failed", " class=\"bad\""),
                (ReleaseStatus::Started, _) => ("started: outcome not recorded", " class=\"warn\""),
                (ReleaseStatus::Failed, _) => ("failed", " class=\"bad\""),
                (ReleaseStatus::NoChanges, _) => ("no changes", " class=\"muted\""),
            };
            let outcome = match &r.rollback_of {
                Some(of) => format!("{outcome}, rollback of {}", esc(of)),
                None => outcome.to_owned(),
            };
            let code: Vec<String> = r
                .artifacts
                .iter()
                .map(|a| format!("{} {}", esc(&a.name), esc(&a.sha256[..a.sha256.len().min(12)])))
                .collect();
            let by = r.deployed_by.git.as_deref().or(r.deployed_by.aws.as_deref()).unwrap_or("");
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td{class}>{outcome}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                time(&r.time),
                esc(&r.version),
                esc(jiti_core::git::short(&r.commit, 7)),
                esc(by.split(" <").next().unwrap_or(by)),
                code.join(", ")
            );
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("</table>\n");
}

fn collect(h: &mut String, o: &Overview) {
    let plan = &o.gc;
    h.push_str("<section aria-labelledby=\"gc\"><h2 id=\"gc\">What gc would collect now</h2>\n");
    for note in &plan.notes {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", esc(note));
    }
    if plan.collect.is_empty() && plan.resources.is_empty() {
        h.push_str("<p>Nothing: every environment has a live branch and time left.</p>\n");
    }
    if !plan.collect.is_empty() {
        h.push_str(
            "<table id=\"collect\"><caption>Environment stacks <code>cargo jiti gc --yes</code> would delete, and why</caption>\
             <thead><tr><th scope=\"col\">Stack</th><th scope=\"col\">App</th><th scope=\"col\">Environment</th>\
             <th scope=\"col\">Why</th></tr></thead><tbody>\n",
        );
        for c in &plan.collect {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.stack_name),
                esc(&c.app),
                esc(&c.environment),
                esc(&c.reason.to_string())
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if !plan.resources.is_empty() {
        h.push_str(
            "<table><caption>Resources that outlived their stack</caption><thead><tr>\
             <th scope=\"col\">Resource</th><th scope=\"col\">App</th><th scope=\"col\">Environment</th>\
             <th scope=\"col\">Deleted by gc</th></tr></thead><tbody>\n",
        );
        for r in &plan.resources {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.arn),
                esc(&r.app),
                esc(&r.environment),
                if r.delete.is_some() { "yes" } else { "no: left for you" }
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if !plan.kept.is_empty() {
        h.push_str("<details><summary>Kept, and why</summary><ul>\n");
        for k in &plan.kept {
            let _ = writeln!(
                h,
                "<li><code>{}</code> ({}): {}</li>",
                esc(&k.stack_name),
                esc(&k.app),
                esc(&k.why)
            );
        }
        h.push_str("</ul></details>\n");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use jiti_core::inventory::{BranchPresence, EnvStack};
    use jiti_core::overview::{EnvOverview, Overview};

    /// The issue's scale: 2,000 environments of 50 apps with 3 releases each, names as long as
    /// branch environments' are. The page must stay under 2 MB (its load time is measured by
    /// `scripts/bench-report.py`, not here).
    #[test]
    fn a_page_of_two_thousand_environments_stays_under_two_megabytes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let release = |app: &str, env: &str, n: usize| -> jiti_core::ledger::Release {
            serde_json::from_value(serde_json::json!({
                "id": format!("17960000{n:05}-0123456789ab-0000beef"), "app": app,
                "environment": env, "stack_name": format!("{app}-{env}"),
                "version": format!("0.1.{n}"), "commit": "0123456789abcdef0123456789abcdef01234567",
                "branch": "feature/x", "dirty": false, "template_hash": "h", "params": {},
                "outputs": {}, "time": "2026-11-30T10:00:00.123Z",
                "deployed_by": { "git": "Dev Eloper <dev@example.com>", "aws": null },
                "status": "deployed", "rollback_of": null,
                "artifacts": [{ "name": "api", "bucket": "b", "key": "k", "sha256": "a".repeat(64), "size": 1 }],
            }))
            .expect("a release")
        };
        let environments = (0..2000)
            .map(|i| {
                let (app, env) =
                    (format!("app-{:03}", i % 50), format!("feature-branch-{i}-1a2b3c4d"));
                EnvOverview {
                    releases: (0..3).map(|n| release(&app, &env, n)).collect(),
                    stack: EnvStack {
                        stack_name: format!("{app}-{env}"),
                        branch: format!("feature/branch-{i}"),
                        protected: false,
                        status: "UPDATE_COMPLETE".into(),
                        version: "0.1.2".into(),
                        commit: "0123456789abcdef0123456789abcdef01234567".into(),
                        updated: Some(now),
                        expires_at: Some(now + Duration::from_secs(86_400)),
                        branch_presence: BranchPresence::Remote,
                        hotswaps: 0,
                        app,
                        environment: env,
                    },
                    region: "eu-central-1".into(),
                    deployed_by: Some("Dev Eloper <dev@example.com>".into()),
                }
            })
            .collect();
        let overview = Overview {
            generated_at: humantime::format_rfc3339_seconds(now).to_string(),
            environments,
            gc: Default::default(),
            totals: Default::default(),
        };
        let page = super::page(&overview);
        assert!(page.len() < 2_000_000, "{} bytes", page.len());
        assert_eq!(page.matches("<section class=\"app\"").count(), 50);
        assert_eq!(page.matches("<tr data-state=\"live\">").count(), 2000);
        assert_eq!(page.matches("<td>0.1.2</td>").count(), 2000 * 2, "rows and releases");
    }

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            super::esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
