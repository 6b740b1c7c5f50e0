//! `report --html`: the overview as one self-contained page. No request leaves it (styles and
//! script inline, a Content-Security-Policy that forbids anything else); readable without
//! JavaScript (plain accessible tables: captions, header scopes); the script only sorts, filters
//! and shows times in the reader's time zone (the UTC value stays on hover). Dark or light as the
//! reader's system says.

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

/// A UTC time the script shows in the reader's zone (keeping the UTC value for hover).
fn time(rfc3339: &str) -> String {
    let t = esc(rfc3339);
    format!("<time datetime=\"{t}\">{t}</time>")
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
code { font-family: ui-monospace, monospace; font-size: .92em; }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
dl.totals { display: flex; flex-wrap: wrap; gap: .5rem 2rem; margin: 1rem 0; }
dl.totals div { min-width: 8rem; } dl.totals dt { color: var(--muted); } dl.totals dd { margin: 0; font-size: 1.3rem; }
form.filters { display: flex; gap: 1rem; flex-wrap: wrap; margin: .5rem 0; }
details { margin: .25rem 0; } summary { cursor: pointer; }
"#;

/// Sorting by a header's column, filtering by app, status and free text, times in local time.
const SCRIPT: &str = r#"
(function () {
  for (const t of document.querySelectorAll('time[datetime]')) {
    const d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d)) { t.title = t.getAttribute('datetime'); t.textContent = d.toLocaleString(); }
  }
  const table = document.getElementById('environments');
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  table.querySelectorAll('thead th[data-sort]').forEach(function (th, index) {
    th.addEventListener('click', function () {
      const asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      const key = function (r) {
        const c = r.cells[index], t = c.querySelector('time');
        return (c.getAttribute('data-key') || (t && t.getAttribute('datetime')) || c.textContent).trim();
      };
      rows.sort(function (a, b) { return asc ? key(a).localeCompare(key(b)) : key(b).localeCompare(key(a)); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  const form = document.getElementById('filters');
  form.hidden = false;
  const apply = function () {
    const app = form.elements.app.value, status = form.elements.status.value;
    const text = form.elements.text.value.toLowerCase();
    rows.forEach(function (r) {
      r.hidden = (app && r.dataset.app !== app) || (status && r.dataset.state !== status)
        || (text && !r.textContent.toLowerCase().includes(text));
    });
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
    releases(&mut h, o);
    collect(&mut h, o);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn environments(h: &mut String, o: &Overview, now: SystemTime) {
    let apps: std::collections::BTreeSet<&str> =
        o.environments.iter().map(|e| e.stack.app.as_str()).collect();
    let options: String = apps.iter().map(|a| format!("<option>{}</option>", esc(a))).collect();
    let _ = write!(
        h,
        "<section aria-labelledby=\"envs\"><h2 id=\"envs\">Environments</h2>\n\
         <form id=\"filters\" class=\"filters\" hidden>\
         <label>App <select name=\"app\"><option value=\"\">all</option>{options}</select></label>\
         <label>State <select name=\"status\"><option value=\"\">all</option><option value=\"live\">live</option>\
         <option value=\"protected\">protected</option><option value=\"branch-gone\">branch gone</option>\
         <option value=\"expired\">expired</option></select></label>\
         <label>Search <input type=\"search\" name=\"text\"></label></form>\n\
         <table id=\"environments\"><caption>One row per app and environment: {} stacks</caption>\n<thead><tr>",
        o.environments.len()
    );
    for head in [
        "App",
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
    for e in &o.environments {
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
        let _ = writeln!(
            h,
            "<tr data-app=\"{app}\" data-state=\"{state}\"><th scope=\"row\">{app}</th>\
             <td>{env}{lock}</td><td class=\"{status_class}\">{status}</td>\
             <td><code>{branch}</code> <span class=\"{branch_class}\">({branch_state})</span></td>\
             <td>{region}</td><td>{version}</td><td><code>{commit}</code></td>\
             <td>{updated}{hotswapped}</td><td>{by}</td>\
             <td class=\"{left_class}\" data-key=\"{expires_key}\">{left}</td></tr>",
            app = esc(&s.app),
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
            expires_key = esc(&s.expires_at.map(rfc3339).unwrap_or_default()),
        );
    }
    h.push_str("</tbody></table></section>\n");
}

fn releases(h: &mut String, o: &Overview) {
    let with: Vec<&EnvOverview> =
        o.environments.iter().filter(|e| !e.releases.is_empty()).collect();
    h.push_str("<section aria-labelledby=\"releases\"><h2 id=\"releases\">Releases</h2>\n");
    if with.is_empty() {
        h.push_str("<p>None recorded.</p></section>\n");
        return;
    }
    // One table, a row group per environment: the header is written once, whatever their number.
    h.push_str(
        "<table id=\"timeline\"><caption>Each environment's releases, newest first</caption><thead><tr>\
         <th scope=\"col\">Time</th><th scope=\"col\">Outcome</th><th scope=\"col\">Version</th>\
         <th scope=\"col\">Commit</th><th scope=\"col\">By</th><th scope=\"col\">Code</th></tr></thead>\n",
    );
    for e in with {
        let _ = writeln!(
            h,
            "<tbody><tr><th colspan=\"6\" scope=\"rowgroup\">{} · {}</th></tr>",
            esc(&e.stack.app),
            esc(&e.stack.environment)
        );
        for r in &e.releases {
            let (outcome, class) = match (r.status, r.method) {
                (ReleaseStatus::Deployed, ReleaseMethod::Hotswap) => ("hotswapped", "good"),
                (ReleaseStatus::Deployed, _) => ("deployed", "good"),
                (ReleaseStatus::VerifyFailed, _) => ("verify failed", "bad"),
                (ReleaseStatus::Started, _) => ("started: outcome not recorded", "warn"),
                (ReleaseStatus::Failed, _) => ("failed", "bad"),
                (ReleaseStatus::NoChanges, _) => ("no changes", ""),
            };
            let outcome = match &r.rollback_of {
                Some(of) => format!("{outcome}, rollback of {}", esc(of)),
                None => outcome.to_owned(),
            };
            let code: Vec<String> = r
                .artifacts
                .iter()
                .map(|a| {
                    format!(
                        "{} <code>{}</code>",
                        esc(&a.name),
                        esc(&a.sha256[..a.sha256.len().min(12)])
                    )
                })
                .collect();
            let by = r.deployed_by.git.as_deref().or(r.deployed_by.aws.as_deref()).unwrap_or("");
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"{class}\">{outcome}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                time(&r.time),
                esc(&r.version),
                esc(jiti_core::git::short(&r.commit, 7)),
                esc(by.split(" <").next().unwrap_or(by)),
                code.join(", ")
            );
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("</table></section>\n");
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
    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            super::esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
