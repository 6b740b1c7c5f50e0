//! Test doubles shared by the unit tests: a fake [`StackApi`]/[`ReleaseStore`] answering as the
//! CloudFormation API reference documents (per-resource events, `CREATE_FAILED`,
//! `ROLLBACK_COMPLETE`, stacks that never settle: what moto cannot show), an [`Observer`] that
//! logs, and a one-app project.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::cloud::{
    Change, ChangeSetOutcome, ChangeSetRequest, CloudError, FunctionApi, Method, ReleaseStore,
    Stack, StackApi, StackEvent,
};
use crate::observe::Observer;
use crate::resolve::Project;
use crate::tagging;

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::environment::Environment;
use crate::git::{BranchSource, GitContext};
use crate::resolve::ResolvedApp;

#[derive(Default)]
pub(crate) struct Fake {
    /// Statuses DescribeStacks reports, one per call; the last one repeats. `None`: no stack.
    pub(crate) statuses: Mutex<VecDeque<Option<&'static str>>>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) events: Vec<StackEvent>,
    /// How many of `events` (the oldest) are there before this deploy executes anything.
    pub(crate) past_events: usize,
    pub(crate) calls: Mutex<Vec<&'static str>>,
    /// The account's stacks by name, page by page, for the listing tests.
    pub(crate) pages: Vec<Vec<&'static str>>,
    /// UpdateStack answers "No updates are to be performed", having applied the update first
    /// (`Some(true)`: an earlier attempt's answer was lost) or not (`Some(false)`).
    pub(crate) update_answers_no_updates: Option<bool>,
    /// ListStackResources' functions (logical, physical) and GetFunction's `CodeSha256` by name.
    pub(crate) functions: Vec<(String, String)>,
    pub(crate) code: BTreeMap<String, String>,
    /// Code put by UpdateFunctionCode (by function name), over `code`; and, when set, the reason
    /// an update fails with (`LastUpdateStatus: Failed`).
    pub(crate) updated: Mutex<BTreeMap<String, String>>,
    pub(crate) update_fails: Option<String>,
    /// DescribeStackDriftDetectionStatus' answers, one per call (the last repeats), and
    /// DescribeStackResourceDrifts' resources; DetectStackDrift fails with this when set.
    pub(crate) detections: Mutex<VecDeque<Option<crate::cloud::Detection>>>,
    pub(crate) drifts: Vec<crate::cloud::ResourceDrift>,
    pub(crate) detect_fails: Option<CloudError>,
}

impl Fake {
    pub(crate) fn new(statuses: &[Option<&'static str>], events: Vec<StackEvent>) -> Fake {
        let tags = BTreeMap::from([
            (tagging::KEY_APP.to_owned(), "queue".to_owned()),
            (tagging::KEY_MANAGED_BY.to_owned(), tagging::MANAGED_BY.to_owned()),
        ]);
        Fake {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            tags,
            events,
            ..Fake::default()
        }
    }
    fn call(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
    /// The code a function runs: what UpdateFunctionCode put, else what it was made with.
    fn code_of(&self, function: &str) -> Option<String> {
        let updated = self.updated.lock().unwrap().get(function).cloned();
        updated.or_else(|| self.code.get(function).cloned())
    }
    pub(crate) fn stack(&self, status: &str) -> Stack {
        let applied =
            self.update_answers_no_updates == Some(true) && self.calls().contains(&"UpdateStack");
        let updated = applied.then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        Stack {
            name: "queue-feature-x".into(),
            status: status.into(),
            tags: self.tags.clone(),
            updated,
            ..Stack::default()
        }
    }
}

impl StackApi for Fake {
    async fn stacks_page(
        &self,
        token: Option<String>,
    ) -> Result<(Vec<Stack>, Option<String>), CloudError> {
        self.call("ListStacks");
        let i: usize = token.map_or(0, |t| t.parse().unwrap());
        let page = self
            .pages
            .get(i)
            .map(|p| p.iter().map(|n| Stack { name: (*n).into(), ..Stack::default() }).collect())
            .unwrap_or_default();
        Ok((page, (i + 1 < self.pages.len()).then(|| (i + 1).to_string())))
    }
    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, CloudError> {
        self.call("DescribeStacks");
        if !self.pages.is_empty() {
            return Ok(self
                .pages
                .iter()
                .flatten()
                .find(|n| **n == name)
                .map(|n| Stack { name: (*n).into(), ..Stack::default() }));
        }
        let mut q = self.statuses.lock().unwrap();
        let status =
            if q.len() > 1 { q.pop_front().flatten() } else { q.front().copied().flatten() };
        Ok(status.map(|s| self.stack(s)))
    }
    async fn create_change_set(&self, _: &ChangeSetRequest) -> Result<String, CloudError> {
        self.call("CreateChangeSet");
        Ok("cs-1".into())
    }
    async fn change_set(&self, _: &str, _: &str) -> Result<Option<ChangeSetOutcome>, CloudError> {
        self.call("DescribeChangeSet");
        Ok(Some(ChangeSetOutcome::Ready(vec![Change {
            action: "Add".into(),
            logical_id: "Queue".into(),
            resource_type: "AWS::SQS::Queue".into(),
            replacement: None,
        }])))
    }
    async fn execute_change_set(&self, _: &str, _: &str) -> Result<(), CloudError> {
        self.call("ExecuteChangeSet");
        Ok(())
    }
    async fn create_stack(&self, _: &ChangeSetRequest) -> Result<(), CloudError> {
        self.call("CreateStack");
        Ok(())
    }
    async fn update_stack(&self, _: &ChangeSetRequest) -> Result<(), CloudError> {
        self.call("UpdateStack");
        match self.update_answers_no_updates {
            Some(_) => Err(CloudError {
                code: Some("ValidationError".into()),
                status: Some(400),
                ..CloudError::other("CloudFormation.UpdateStack", "No updates are to be performed.")
            }),
            None => Ok(()),
        }
    }
    async fn delete_change_set(&self, _: &str, _: &str) -> Result<(), CloudError> {
        self.call("DeleteChangeSet");
        Ok(())
    }
    async fn stack_events(&self, _: &str) -> Result<Vec<StackEvent>, CloudError> {
        self.call("DescribeStackEvents");
        // Newest first, as the API returns them; all of them appear once the stack moved on.
        let started = self.calls().contains(&"ExecuteChangeSet");
        let shown = if started { self.events.len() } else { self.past_events };
        Ok(self.events[..shown].iter().rev().cloned().collect())
    }
    async fn get_template(&self, _: &str) -> Result<String, CloudError> {
        self.call("GetTemplate");
        Ok("{}".into())
    }
    async fn delete_stack(&self, _: &str) -> Result<(), CloudError> {
        self.call("DeleteStack");
        Ok(())
    }
    async fn set_termination_protection(&self, _: &str, _: bool) -> Result<(), CloudError> {
        self.call("UpdateTerminationProtection");
        Ok(())
    }
    async fn upload_template(&self, _: &str, _: &str) -> Result<String, CloudError> {
        self.call("PutObject");
        Ok("https://bucket.s3.amazonaws.com/key".into())
    }
}

impl ReleaseStore for Fake {
    async fn put_object(&self, _: &str, _: &str) -> Result<(), CloudError> {
        self.call("PutObject");
        Ok(())
    }
    async fn list_keys(&self, _: &str) -> Result<Vec<String>, CloudError> {
        Ok(Vec::new())
    }
    async fn get_object(&self, key: &str) -> Result<String, CloudError> {
        Err(CloudError::other("GetObject", key))
    }
    async fn caller(&self) -> Result<String, CloudError> {
        Ok("arn:aws:iam::123456789012:user/test".into())
    }
}

impl crate::cloud::ArtifactStore for Fake {
    async fn bucket(&self) -> Result<String, CloudError> {
        self.call("HeadBucket");
        Ok("cargo-jiti-artifacts-123456789012-us-east-1".into())
    }
    async fn bucket_name(&self) -> Result<String, CloudError> {
        self.call("GetCallerIdentity");
        Ok("cargo-jiti-artifacts-123456789012-us-east-1".into())
    }
    async fn object_size(&self, _: &str) -> Result<Option<u64>, CloudError> {
        self.call("HeadObject");
        Ok(None)
    }
    async fn put_package(&self, _: &str, _: Vec<u8>) -> Result<(), CloudError> {
        self.call("PutObject");
        Ok(())
    }
    async fn put_new_package(&self, _: &str, _: Vec<u8>) -> Result<bool, CloudError> {
        self.call("PutObject");
        Ok(true)
    }
    async fn list_objects(&self, _: &str) -> Result<Vec<crate::cloud::StoredObject>, CloudError> {
        self.call("ListObjectsV2");
        Ok(Vec::new())
    }
    async fn delete_objects(&self, _: &[String]) -> Result<(), CloudError> {
        self.call("DeleteObjects");
        Ok(())
    }
    async fn publish(
        &self,
        key: &str,
        _: Vec<u8>,
        _: &str,
        _: Duration,
    ) -> Result<String, CloudError> {
        self.call("PutObject");
        Ok(format!("https://cargo-jiti-artifacts-123456789012-us-east-1.s3.amazonaws.com/{key}"))
    }
}

impl FunctionApi for Fake {
    async fn stack_functions(&self, _: &str) -> Result<Vec<(String, String)>, CloudError> {
        self.call("ListStackResources");
        Ok(self.functions.clone())
    }
    async fn code_sha256(&self, function: &str) -> Result<Option<String>, CloudError> {
        self.call("GetFunction");
        Ok(self.code_of(function))
    }
    /// As on AWS: the answer says `InProgress`; GetFunctionConfiguration then tells the outcome.
    async fn update_function_code(
        &self,
        function: &str,
        _: &str,
        key: &str,
    ) -> Result<crate::cloud::FunctionState, CloudError> {
        self.call("UpdateFunctionCode");
        let hex = key.rsplit('/').next().unwrap_or_default().trim_end_matches(".zip");
        let code = crate::artifacts::package::code_sha256(hex).unwrap_or_default();
        self.updated.lock().unwrap().insert(function.to_owned(), code.clone());
        Ok(crate::cloud::FunctionState {
            code_sha256: code,
            update: crate::cloud::UpdateStatus::InProgress,
        })
    }
    async fn function_state(
        &self,
        function: &str,
    ) -> Result<crate::cloud::FunctionState, CloudError> {
        self.call("GetFunctionConfiguration");
        let code = self.code_of(function).unwrap_or_default();
        let update = match &self.update_fails {
            Some(reason) => crate::cloud::UpdateStatus::Failed(reason.clone()),
            None => crate::cloud::UpdateStatus::Successful,
        };
        Ok(crate::cloud::FunctionState { code_sha256: code, update })
    }
}

impl crate::cloud::DriftApi for Fake {
    async fn detect_drift(&self, _: &str) -> Result<String, CloudError> {
        self.call("DetectStackDrift");
        match &self.detect_fails {
            Some(e) => Err(e.clone()),
            None => Ok("b78ac9b0-dec1-11e7-a451-503a3ad3ef11".into()),
        }
    }
    async fn drift_detection(
        &self,
        _: &str,
    ) -> Result<Option<crate::cloud::Detection>, CloudError> {
        self.call("DescribeStackDriftDetectionStatus");
        let mut answers = self.detections.lock().unwrap();
        let answer = if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() };
        Ok(answer.flatten())
    }
    async fn resource_drifts(
        &self,
        _: &str,
    ) -> Result<Vec<crate::cloud::ResourceDrift>, CloudError> {
        self.call("DescribeStackResourceDrifts");
        Ok(self.drifts.clone())
    }
}

#[derive(Default)]
pub(crate) struct Log(pub(crate) Mutex<Vec<String>>);

impl Observer for Log {
    fn note(&self, app: &str, message: &str) {
        self.0.lock().unwrap().push(format!("{app}: {message}"));
    }
    fn change_set(&self, _: &str, _: &str, changes: &[Change], _: Method) {
        self.0.lock().unwrap().push(format!("{} changes", changes.len()));
    }
    fn event(&self, _: &str, _: &str, e: &StackEvent) {
        self.0.lock().unwrap().push(format!("event {} {}", e.status, e.logical_id));
    }
}

pub(crate) fn event(n: u32, logical_id: &str, status: &str, reason: Option<&str>) -> StackEvent {
    StackEvent {
        id: format!("e{n}"),
        timestamp: None,
        logical_id: logical_id.into(),
        resource_type: "AWS::SQS::Queue".into(),
        status: status.into(),
        reason: reason.map(str::to_owned),
    }
}

/// A one-app project (`queue`, protected `production`) in `dir`.
pub(crate) fn project(dir: &std::path::Path) -> Project {
    let infra = dir.join("infra");
    std::fs::create_dir_all(&infra).unwrap();
    std::fs::write(infra.join("stack.yaml"), "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
        .unwrap();
    let git = GitContext {
        root: dir.to_owned(),
        branch: "feature/x".into(),
        branch_source: BranchSource::Flag,
        commit: "a".repeat(40),
        short_commit: "aaaaaaa".into(),
        dirty: false,
    };
    let app = ResolvedApp {
        name: "queue".into(),
        package: "queue".into(),
        version: "1.0.0".into(),
        package_dir: dir.to_owned(),
        infra_dir: infra,
        config_path: dir.join("infra/jiti.toml"),
        template: "stack.yaml".into(),
        environment: Environment {
            name: "feature-x".into(),
            branch: "feature/x".into(),
            protected: false,
        },
        stack_name: "queue-feature-x".into(),
        stack_prefix: String::new(),
        protected_envs: vec!["production".into()],
        protected_branches: vec!["main".into(), "master".into()],
        region: "us-east-1".into(),
        region_source: crate::resolve::RegionSource::App,
        profile: None,
        places: vec![("us-east-1".into(), None)],
        params: Default::default(),
        parameters: Vec::new(),
        parameter_config: Default::default(),
        user_tags: Vec::new(),
        depends_on: Vec::new(),
        keep_retained: false,
        own_logs: Some(7),
        ttl: None,
        verify: None,
        sources: None,
        policy: Default::default(),
        unprotected_envs: Vec::new(),
        artifacts: Vec::new(),
        built: Default::default(),
        packages: Default::default(),
        code_dirs: vec![dir.to_owned()],
    };
    Project {
        process_env: Default::default(),
        workspace_root: dir.to_owned(),
        target_dir: dir.join("target"),
        git,
        apps: vec![app],
        selected: vec![0],
    }
}

/// A release of `orders` in `production`, as the ledger holds it.
pub(crate) fn release(
    id: &str,
    version: &str,
    commit: &str,
    status: crate::ledger::ReleaseStatus,
) -> crate::ledger::Release {
    crate::ledger::Release {
        id: id.into(),
        app: "orders".into(),
        environment: "production".into(),
        stack_name: "orders-production".into(),
        version: version.into(),
        commit: commit.into(),
        branch: "main".into(),
        dirty: false,
        template_hash: "h".into(),
        params: Default::default(),
        parameters: Default::default(),
        outputs: Default::default(),
        time: "2026-11-23T00:00:00Z".into(),
        deployed_by: Default::default(),
        status,
        rollback_of: None,
        skip_checks: false,
        error: None,
        artifacts: Vec::new(),
        method: Default::default(),
    }
}
