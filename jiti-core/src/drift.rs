//! Drift you can see: CloudFormation's drift detection for an environment's stacks (detect, wait,
//! read each resource's drift), summarised per resource. A function hotswapped since the last
//! deploy runs other code than its template names on purpose: its `Code` differences are expected
//! drift, not an alarm ([`summarize`], pure and table-tested).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cloud::{
    CloudError, Detection, DriftApi, PropertyDifference, ReleaseStore, ResourceDrift, StackApi,
    Target,
};
use crate::resolve::{Project, ResolvedApp};
use crate::stacks::{self, StacksError, target};

/// One resource that is not as its template says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Drifted {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
    /// Drift cargo-jiti made on purpose: the code of a hotswapped function.
    pub expected: bool,
}

/// An app's stack and its drift.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AppDrift {
    pub app: String,
    pub environment: String,
    pub stack_name: String,
    /// `false`: the environment has no stack for this app (nothing to check).
    pub exists: bool,
    /// Resources not as their template says (in-sync ones are left out).
    pub drifted: Vec<Drifted>,
    /// Resources CloudFormation could not check (`NOT_CHECKED`, `UNKNOWN`): types drift detection
    /// does not cover, or a detection that failed part way (see `detection_error`).
    pub not_checked: Vec<String>,
    pub detection_error: Option<String>,
    /// Releases hotswapped since the last deploy (see `ledger::hotswaps_recorded`).
    pub hotswaps: usize,
}

impl AppDrift {
    /// Drift nobody meant: what `drift` exits 1 for.
    pub fn unexpected(&self) -> usize {
        self.drifted.iter().filter(|d| !d.expected).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Stacks(#[from] StacksError),
    #[error(
        "{endpoint} does not implement drift detection ({error}); run `cargo jiti drift` against AWS"
    )]
    Unsupported { endpoint: String, error: CloudError },
    #[error("drift detection of {stack} failed")]
    Cloud {
        stack: String,
        #[source]
        error: CloudError,
    },
    #[error("timed out after {seconds}s waiting for the drift detection of {stack}")]
    Timeout { stack: String, seconds: u64 },
}

/// The resources of one stack that drifted, from what CloudFormation reports: `MODIFIED` and
/// `DELETED` ones, those whose differences all lie in `Code` of a Lambda function marked expected
/// when the environment was hotswapped since its last deploy.
pub fn summarize(drifts: &[ResourceDrift], hotswapped: bool) -> (Vec<Drifted>, Vec<String>) {
    let mut drifted = Vec::new();
    let mut not_checked = Vec::new();
    for d in drifts {
        match d.status.as_str() {
            "MODIFIED" | "DELETED" => {
                let code_only = d.resource_type == "AWS::Lambda::Function"
                    && d.status == "MODIFIED"
                    && !d.differences.is_empty()
                    && d.differences.iter().all(|p| p.path.starts_with("/Code"));
                drifted.push(Drifted {
                    logical_id: d.logical_id.clone(),
                    physical_id: d.physical_id.clone(),
                    resource_type: d.resource_type.clone(),
                    status: d.status.clone(),
                    differences: d.differences.clone(),
                    expected: hotswapped && code_only,
                });
            }
            "NOT_CHECKED" | "UNKNOWN" => not_checked.push(d.logical_id.clone()),
            _ => {}
        }
    }
    (drifted, not_checked)
}

/// How often to ask whether a detection is done (it takes seconds to a minute on AWS).
const POLL: Duration = Duration::from_secs(2);

/// Detects the drift of each selected app's stack in its environment, one stack after another
/// (CloudFormation runs a limited number of detections at once per account).
pub async fn detect<A: StackApi + DriftApi + ReleaseStore>(
    project: &Project,
    apis: &BTreeMap<Target, A>,
    timeout: Duration,
) -> Result<Vec<AppDrift>, DriftError> {
    let existing = stacks::app_stacks(project, apis, project.selected_apps()).await?;
    let mut out = Vec::new();
    for app in project.selected_apps() {
        let api = apis
            .get(&target(app))
            .ok_or_else(|| StacksError::NoClient { region: app.region.clone() })?;
        let mut drift = AppDrift {
            app: app.name.clone(),
            environment: app.environment.name.clone(),
            stack_name: app.stack_name.clone(),
            exists: false,
            drifted: Vec::new(),
            not_checked: Vec::new(),
            detection_error: None,
            hotswaps: 0,
        };
        if existing.get(&target(app)).and_then(|s| s.get(&app.stack_name)).is_some() {
            drift.exists = true;
            one(app, api, (timeout, POLL), &mut drift).await?;
        }
        out.push(drift);
    }
    Ok(out)
}

async fn one<A: DriftApi + ReleaseStore>(
    app: &ResolvedApp,
    api: &A,
    (timeout, poll): (Duration, Duration),
    drift: &mut AppDrift,
) -> Result<(), DriftError> {
    let stack = &app.stack_name;
    let failed = |error: CloudError| DriftError::Cloud { stack: stack.clone(), error };
    let id = match api.detect_drift(stack).await {
        Ok(id) => id,
        // AWS answers a 5xx only briefly (the SDK retries it); an emulator that lacks the
        // operation answers it every time.
        Err(e)
            if e.status.is_some_and(|s| s >= 500)
                || e.code.as_deref() == Some("NotImplemented") =>
        {
            let endpoint = e.endpoint.clone().unwrap_or_else(|| "this endpoint".into());
            return Err(DriftError::Unsupported { endpoint, error: e });
        }
        Err(e) => return Err(failed(e)),
    };
    let start = Instant::now();
    let detection = loop {
        if let Some(d) = api.drift_detection(&id).await.map_err(failed)? {
            break d;
        }
        if start.elapsed() >= timeout {
            return Err(DriftError::Timeout { stack: stack.clone(), seconds: timeout.as_secs() });
        }
        tokio::time::sleep(poll).await;
    };
    if let Detection::Failed(reason) = detection {
        drift.detection_error = Some(reason);
    }
    if !app.artifacts.is_empty() {
        drift.hotswaps = crate::ledger::hotswaps_recorded(api, &app.name, &app.environment.name)
            .await
            .map_err(failed)?;
    }
    let resources = api.resource_drifts(stack).await.map_err(failed)?;
    (drift.drifted, drift.not_checked) = summarize(&resources, drift.hotswaps > 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fake;

    /// (timeout, poll) of the tests: no real waiting.
    const FAST: (Duration, Duration) = (Duration::from_millis(50), Duration::from_millis(1));

    fn app_drift() -> AppDrift {
        AppDrift {
            app: "queue".into(),
            environment: "feature-x".into(),
            stack_name: "queue-feature-x".into(),
            exists: true,
            drifted: Vec::new(),
            not_checked: Vec::new(),
            detection_error: None,
            hotswaps: 0,
        }
    }

    /// As the API reference's examples go: DetectStackDrift answers an id at once, the status is
    /// DETECTION_IN_PROGRESS a while, then DETECTION_COMPLETE with DRIFTED.
    #[tokio::test]
    async fn a_detection_is_started_waited_for_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let project = crate::testing::project(dir.path());
        let fake = Fake {
            drifts: vec![drift("Queue", "AWS::SQS::Queue", "MODIFIED", &["/VisibilityTimeout"])],
            ..Fake::default()
        };
        *fake.detections.lock().unwrap() =
            [None, None, Some(Detection::Complete { drifted: true })].into_iter().collect();
        let mut found = app_drift();
        one(&project.apps[0], &fake, FAST, &mut found).await.unwrap();
        assert_eq!(found.unexpected(), 1);
        assert_eq!(found.drifted[0].differences[0].path, "/VisibilityTimeout");
        assert_eq!(
            fake.calls(),
            [
                "DetectStackDrift",
                "DescribeStackDriftDetectionStatus",
                "DescribeStackDriftDetectionStatus",
                "DescribeStackDriftDetectionStatus",
                "DescribeStackResourceDrifts"
            ]
        );
        // A detection that never ends is given up, saying so.
        let stuck = Fake::default();
        *stuck.detections.lock().unwrap() = [None].into_iter().collect();
        let e = one(&project.apps[0], &stuck, FAST, &mut app_drift()).await.unwrap_err();
        assert!(matches!(e, DriftError::Timeout { .. }), "{e}");
    }

    /// moto answers DetectStackDrift with a 500: a clear error, not a retry loop or a stack trace.
    #[tokio::test]
    async fn an_endpoint_without_drift_detection_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let project = crate::testing::project(dir.path());
        let mut error = CloudError::other("CloudFormation.DetectStackDrift", "internal error");
        error.status = Some(500);
        error.endpoint = Some("http://127.0.0.1:4566".into());
        let fake = Fake { detect_fails: Some(error), ..Fake::default() };
        let e = one(&project.apps[0], &fake, FAST, &mut app_drift()).await.unwrap_err();
        assert!(
            e.to_string().starts_with("http://127.0.0.1:4566 does not implement drift detection"),
            "{e}"
        );
    }

    fn drift(id: &str, kind: &str, status: &str, paths: &[&str]) -> ResourceDrift {
        ResourceDrift {
            logical_id: id.into(),
            physical_id: format!("{id}-physical"),
            resource_type: kind.into(),
            status: status.into(),
            differences: paths
                .iter()
                .map(|p| PropertyDifference {
                    path: (*p).into(),
                    expected: "a".into(),
                    actual: "b".into(),
                    kind: "NOT_EQUAL".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn hotswapped_code_is_expected_drift_and_nothing_else_is() {
        let f = "AWS::Lambda::Function";
        let reported = [
            drift("Queue", "AWS::SQS::Queue", "IN_SYNC", &[]),
            drift("Api", f, "MODIFIED", &["/Code/S3Key"]),
            drift("Worker", f, "MODIFIED", &["/Code/S3Key", "/MemorySize"]),
            drift("Table", "AWS::DynamoDB::Table", "MODIFIED", &["/BillingMode"]),
            drift("Topic", "AWS::SNS::Topic", "DELETED", &[]),
            drift("Api2", f, "DELETED", &[]),
            drift("Custom", "Custom::Thing", "NOT_CHECKED", &[]),
        ];
        // (hotswapped since the last deploy, the expected flag of each drifted resource)
        let table = [
            (
                true,
                vec![
                    ("Api", true),
                    ("Worker", false),
                    ("Table", false),
                    ("Topic", false),
                    ("Api2", false),
                ],
            ),
            (
                false,
                vec![
                    ("Api", false),
                    ("Worker", false),
                    ("Table", false),
                    ("Topic", false),
                    ("Api2", false),
                ],
            ),
        ];
        for (hotswapped, expected) in table {
            let (drifted, not_checked) = summarize(&reported, hotswapped);
            let got: Vec<(&str, bool)> =
                drifted.iter().map(|d| (d.logical_id.as_str(), d.expected)).collect();
            assert_eq!(got, expected, "hotswapped: {hotswapped}");
            assert_eq!(not_checked, ["Custom"]);
        }
    }
}
