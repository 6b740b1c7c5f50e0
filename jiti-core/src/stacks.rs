//! An app's stacks as cargo-jiti sees them: where they live ([`target`]), how they are found
//! (one paginated listing, or by name), what they are tagged with, and when a deployed stack is
//! already what a deploy would make ([`up_to_date`], [`Expiry`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;

use crate::cloud::{CloudError, Stack, StackApi, Target};
use crate::resolve::{Project, ResolvedApp};
use crate::tagging;

/// Stack tag holding the SHA-256 of the deployed template: equal hash and tags mean up to date.
pub const KEY_TEMPLATE_HASH: &str = "jiti:template-hash";
/// Stack tag of ephemeral environments: RFC 3339 time after which `gc` may collect them.
pub const KEY_EXPIRES_AT: &str = "jiti:expires-at";

/// Finding stacks failed.
#[derive(Debug, thiserror::Error)]
pub enum StacksError {
    // The cause in the same line: an unreachable endpoint is one line, as it is one fact.
    #[error("failed to list the stacks in {region}: {error}")]
    List { region: String, error: CloudError },
    #[error("no AWS client for region {region}")]
    NoClient { region: String },
}

/// Where `app` deploys.
pub fn target(app: &ResolvedApp) -> Target {
    Target { region: app.region.clone(), profile: app.profile.clone() }
}

/// Everywhere `app` has environments (see `ResolvedApp::places`): where `envs` and `gc` look.
pub fn targets(app: &ResolvedApp) -> Vec<Target> {
    let mut out = vec![target(app)];
    for (region, profile) in &app.places {
        let t = Target { region: region.clone(), profile: profile.clone() };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.retain(|t| !t.region.is_empty());
    out
}

/// Tags of the stack: the resources' tags, the template hash and, for an ephemeral environment
/// with a time to live, when it expires.
pub fn stack_tags(
    project: &Project,
    app: &ResolvedApp,
    hash: &str,
    ttl: Option<Duration>,
    now: SystemTime,
) -> Vec<(String, String)> {
    let mut tags = project.tags(app);
    tags.push((KEY_TEMPLATE_HASH.to_owned(), hash.to_owned()));
    tags.push((tagging::KEY_BRANCH_ID.to_owned(), tagging::branch_id(&project.git.branch)));
    if let Some(ttl) = ttl.or(app.ttl).filter(|_| app.environment.ephemeral()) {
        tags.push((
            KEY_EXPIRES_AT.to_owned(),
            humantime::format_rfc3339_seconds(now + ttl).to_string(),
        ));
    }
    tags
}

/// What a deploy wants the stack to be.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub app: &'a str,
    /// The stack's tags (the template hash among them).
    pub tags: &'a [(String, String)],
    pub expiry: Option<Expiry>,
    /// The stack parameters passed.
    pub parameters: &'a [(String, String)],
    pub template: &'a crate::template::Template,
}

/// What a deploy wants of an app's stack besides its template, owned: the stack's tags (the
/// template hash among them), the parameters given and the expiry. The deploy and the hotswap
/// decide from this one value ([`Goal::wanted`]).
#[derive(Debug, Clone)]
pub struct Goal {
    pub tags: Vec<(String, String)>,
    pub parameters: Vec<(String, String)>,
    pub expiry: Option<Expiry>,
}

impl Goal {
    /// For a deploy of the template whose hash is `hash`, with `--ttl` `ttl`, at `now`.
    pub fn new(
        project: &Project,
        app: &ResolvedApp,
        hash: &str,
        ttl: Option<Duration>,
        now: SystemTime,
    ) -> Goal {
        Goal {
            tags: stack_tags(project, app, hash, ttl, now),
            parameters: given_parameters(app),
            expiry: expiry(app, ttl),
        }
    }

    pub fn wanted<'a>(
        &'a self,
        app: &'a str,
        template: &'a crate::template::Template,
    ) -> Wanted<'a> {
        Wanted {
            app,
            tags: &self.tags,
            expiry: self.expiry,
            parameters: &self.parameters,
            template,
        }
    }
}

/// How a deploy treats a stack's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// From `[environments.ephemeral] ttl`: refreshed once less than half of it is left, so that
    /// redeploying keeps an environment alive without making every deploy an update.
    Config(Duration),
    /// `--ttl`: the user asked for this expiry; refreshed unless already within a minute of it.
    Asked(Duration),
}

/// A deployed stack is up to date when it is settled, its tags (the template hash among them) are
/// the ones a deploy would set, and its expiry needs no refresh (see [`Expiry`]).
pub fn up_to_date(stack: &Stack, tags: &[(String, String)], expiry: Option<Expiry>) -> bool {
    let wanted: BTreeMap<&str, &str> = tags
        .iter()
        .filter(|(k, _)| k != KEY_EXPIRES_AT)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let current: BTreeMap<&str, &str> = stack
        .tags
        .iter()
        .filter(|(k, _)| *k != KEY_EXPIRES_AT)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let time = |v: Option<&str>| v.and_then(|t| humantime::parse_rfc3339(t).ok());
    let has = time(stack.tags.get(KEY_EXPIRES_AT).map(String::as_str));
    let new = time(tags.iter().find(|(k, _)| k == KEY_EXPIRES_AT).map(|(_, v)| v.as_str()));
    let expiry_fresh = match (has, new, expiry) {
        (None, None, _) => true,
        (Some(has), Some(new), Some(Expiry::Config(ttl))) => has + ttl / 2 >= new,
        (Some(has), Some(new), Some(Expiry::Asked(_))) => has
            .duration_since(new)
            .or_else(|_| new.duration_since(has))
            .is_ok_and(|d| d <= Duration::from_secs(60)),
        _ => false,
    };
    stack.status.settled() && wanted == current && expiry_fresh
}

/// The stack parameters a deploy of `app` passes: `[parameters]` with a value (a missing one is a
/// `check` error, so a deploy never gets here without it).
pub fn given_parameters(app: &ResolvedApp) -> Vec<(String, String)> {
    app.parameters.iter().filter_map(|p| Some((p.name.clone(), p.value.clone()?))).collect()
}

/// The stack's parameters are the ones a deploy would pass: each given value, else the template's
/// `Default`. A value CloudFormation shows masked (`NoEcho`) cannot be compared: then only
/// CloudFormation can tell, and the deploy goes on (an unchanged change set is "no changes").
pub fn parameters_match(
    stack: &Stack,
    given: &[(String, String)],
    template: &crate::template::Template,
) -> bool {
    let declared: BTreeMap<&str, &Value> =
        template.section("Parameters").map(|(k, v)| (k.as_str(), v)).collect();
    let wanted = |name: &str| -> Option<String> {
        given.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| {
            declared.get(name).and_then(|p| p.get("Default")).and_then(|d| match d {
                Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(crate::template::scalar_text)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                other => crate::template::scalar_text(other),
            })
        })
    };
    let given_ok = given.iter().all(|(k, v)| stack.parameters.get(k) == Some(v));
    let stack_ok = stack
        .parameters
        .iter()
        .all(|(k, v)| v != crate::cloud::NOECHO_SHOWN && wanted(k).as_deref() == Some(v.as_str()));
    given_ok && stack_ok
}

/// Which expiry rule applies to `app`'s stack ([`Expiry`]); `None` when it never expires.
pub fn expiry(app: &ResolvedApp, asked: Option<Duration>) -> Option<Expiry> {
    if !app.environment.ephemeral() {
        return None;
    }
    asked.map(Expiry::Asked).or(app.ttl.map(Expiry::Config))
}

/// Stacks of every target by name, keyed by target.
pub type Stacks = HashMap<Target, HashMap<String, Stack>>;

/// Every stack of every target, by name: one paginated DescribeStacks per target.
pub async fn listing<A: StackApi>(apis: &BTreeMap<Target, A>) -> Result<Stacks, StacksError> {
    let mut existing = HashMap::new();
    for (target, api) in apis {
        let stacks = api
            .list_stacks()
            .await
            .map_err(|error| StacksError::List { region: target.region.clone(), error })?;
        existing.insert(target.clone(), stacks.into_iter().map(|s| (s.name.clone(), s)).collect());
    }
    Ok(existing)
}

/// Names looked up one by one, at most, once an account has more than one page of stacks.
pub const BY_NAME: usize = 20;

/// The stacks among `wanted` (target, stack name) that exist. The first DescribeStacks page answers
/// for a small account (a page holds 50 stacks on moto). In a larger one, up to [`BY_NAME`] names
/// still missing are asked for by name, 8 at a time, instead of paging through thousands of other
/// stacks (41 calls at 2,000 stacks); more missing names than that page through the account.
pub async fn stacks_named<'a, A: StackApi>(
    apis: &BTreeMap<Target, A>,
    wanted: impl IntoIterator<Item = (Target, &'a str)>,
) -> Result<Stacks, StacksError> {
    let mut names: HashMap<Target, HashSet<&str>> = HashMap::new();
    for (target, name) in wanted {
        names.entry(target).or_default().insert(name);
    }
    let mut found = Stacks::new();
    for (target, api) in apis {
        let Some(names) = names.get(target) else { continue };
        let list_error = |error| StacksError::List { region: target.region.clone(), error };
        let (first, mut token) = api.stacks_page(None).await.map_err(list_error)?;
        let mut stacks: HashMap<String, Stack> = first
            .into_iter()
            .filter(|s| names.contains(s.name.as_str()))
            .map(|s| (s.name.clone(), s))
            .collect();
        let missing: Vec<&str> =
            names.iter().copied().filter(|n| !stacks.contains_key(*n)).collect();
        if token.is_some() && missing.len() <= BY_NAME {
            let asked = futures_util::stream::iter(
                missing.into_iter().map(|name| api.describe_stack(name)),
            )
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
            for stack in asked {
                if let Some(s) = stack.map_err(list_error)? {
                    stacks.insert(s.name.clone(), s);
                }
            }
        } else {
            while token.is_some() {
                let (page, next) = api.stacks_page(token).await.map_err(list_error)?;
                stacks.extend(
                    page.into_iter()
                        .filter(|s| names.contains(s.name.as_str()))
                        .map(|s| (s.name.clone(), s)),
                );
                token = next;
            }
        }
        found.insert(target.clone(), stacks);
    }
    Ok(found)
}

/// The stacks `apps` need, as [`stacks_named`] finds them: their own, and their dependencies'
/// (whose outputs their templates read).
pub async fn app_stacks<'a, A: StackApi>(
    project: &'a Project,
    apis: &BTreeMap<Target, A>,
    apps: impl IntoIterator<Item = &'a ResolvedApp>,
) -> Result<Stacks, StacksError> {
    let needed = apps.into_iter().flat_map(|app| {
        std::iter::once(app).chain(app.depends_on.iter().filter_map(|d| project.app(d)))
    });
    stacks_named(apis, needed.map(|a| (target(a), a.stack_name.as_str()))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fake, project};

    #[test]
    fn a_stack_is_up_to_date_only_with_the_parameters_a_deploy_would_pass() {
        let t = crate::template::Template::parse("Parameters:\n  Name:\n    Type: String\n  Size:\n    Type: Number\n    Default: 3\n  Pw:\n    Type: String\n    NoEcho: true\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        let stack = |pairs: &[(&str, &str)]| Stack {
            parameters: pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            ..Stack::default()
        };
        let given = vec![("Name".to_owned(), "orders".to_owned())];
        // (stack's parameters, up to date)
        let table: [(&[(&str, &str)], bool); 5] = [
            (&[("Name", "orders"), ("Size", "3")], true),
            (&[("Name", "billing"), ("Size", "3")], false),
            (&[("Name", "orders"), ("Size", "4")], false),
            (&[("Size", "3")], false),
            (&[("Name", "orders"), ("Size", "3"), ("Pw", "****")], false),
        ];
        for (has, fresh) in table {
            assert_eq!(parameters_match(&stack(has), &given, &t), fresh, "{has:?}");
        }
    }

    #[test]
    fn stack_tags_and_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let mut project = project(dir.path());
        project.apps[0].ttl = Some(Duration::from_secs(3600));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tags = stack_tags(&project, &project.apps[0], "abc", None, now);
        assert!(
            tags.contains(&(KEY_EXPIRES_AT.to_owned(), "2027-01-15T09:00:00Z".to_owned())),
            "{tags:?}"
        );
        assert!(tags.contains(&(KEY_TEMPLATE_HASH.to_owned(), "abc".to_owned())));
        let mut stack = Stack {
            status: "UPDATE_COMPLETE".into(),
            tags: tags.iter().cloned().collect(),
            ..Stack::default()
        };
        let config = expiry(&project.apps[0], None);
        assert_eq!(config, Some(Expiry::Config(Duration::from_secs(3600))));
        // More than half the time to live left: no deploy needed; less: the expiry is refreshed.
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T08:31:00Z".into());
        assert!(up_to_date(&stack, &tags, config));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T08:29:00Z".into());
        assert!(!up_to_date(&stack, &tags, config));
        // `--ttl` asks for an expiry: a later one is not it either.
        let asked = expiry(&project.apps[0], Some(Duration::from_secs(3600)));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-16T00:00:00Z".into());
        assert!(up_to_date(&stack, &tags, config));
        assert!(!up_to_date(&stack, &tags, asked));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T09:00:30Z".into());
        assert!(up_to_date(&stack, &tags, asked));
        // An expiry the stack should no longer have is removed.
        let no_ttl = stack_tags(&project, &project.apps[0], "abc", None, now)
            .into_iter()
            .filter(|(k, _)| k != KEY_EXPIRES_AT)
            .collect::<Vec<_>>();
        assert!(!up_to_date(&stack, &no_ttl, None));
        stack.tags.insert(KEY_TEMPLATE_HASH.into(), "old".into());
        assert!(!up_to_date(&stack, &tags, config));
        // Protected environments never expire.
        project.apps[0].environment.protected = true;
        assert!(
            !stack_tags(&project, &project.apps[0], "abc", Some(Duration::from_secs(60)), now)
                .iter()
                .any(|(k, _)| k == KEY_EXPIRES_AT)
        );
    }

    #[test]
    fn stacks_are_found_in_the_first_page_then_by_name_then_by_listing() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let t = Target { region: "us-east-1".into(), profile: None };
        let account: Vec<Vec<&'static str>> = vec![vec!["a", "b"], vec!["c", "d"], vec!["e", "f"]];
        let find = |names: &[&str]| {
            let fake = Fake { pages: account.clone(), ..Fake::default() };
            let apis = BTreeMap::from([(t.clone(), fake)]);
            let found = runtime
                .block_on(stacks_named(&apis, names.iter().map(|n| (t.clone(), *n))))
                .unwrap();
            let mut got: Vec<String> = found[&t].keys().cloned().collect();
            got.sort();
            (got, apis[&t].calls())
        };
        // All in the first page: one call, however large the account.
        assert_eq!(find(&["a", "b"]), (vec!["a".into(), "b".into()], vec!["ListStacks"]));
        // Missing ones are asked for by name; an absent stack is simply not found.
        assert_eq!(
            find(&["a", "e", "zz"]),
            (vec!["a".into(), "e".into()], vec!["ListStacks", "DescribeStacks", "DescribeStacks"])
        );
        // More than BY_NAME missing: the rest of the listing is cheaper.
        let many: Vec<String> =
            (0..=BY_NAME).map(|i| format!("x{i}")).chain(["f".into()]).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(find(&many), (vec!["f".into()], vec!["ListStacks"; 3]));
    }
}
