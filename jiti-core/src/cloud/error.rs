//! What a failed AWS call means: [`CloudError`] classified from the SDK's error (service answer,
//! connection, credentials, timeout), and the questions callers ask of it (a busy stack, "no
//! updates", an operation that may have started anyway). Pure functions over the error's parts, so
//! they are unit-tested without a network.

use std::fmt;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service answered with an error (`code` says which).
    Service,
    /// No connection: refused, DNS, TLS.
    Connect,
    /// No usable AWS credentials.
    Credentials,
    Timeout,
    Other,
}

/// A failed AWS call: which operation, and what the service (or the network) said.
#[derive(Debug, Clone, thiserror::Error)]
pub struct CloudError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// HTTP status of the service's answer, when there was one.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub endpoint: Option<String>,
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        match (self.kind, &self.endpoint) {
            (ErrorKind::Connect, Some(e)) => write!(f, ": cannot connect to {e}: {}", self.message),
            (ErrorKind::Connect, None) => write!(f, ": cannot connect to AWS: {}", self.message),
            (ErrorKind::Timeout, Some(e)) => {
                write!(f, ": {e} did not answer in time: {}", self.message)
            }
            (ErrorKind::Credentials, _) => write!(
                f,
                ": no usable AWS credentials ({}); set AWS_PROFILE (and run `aws sso login` for SSO profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.message
            ),
            _ => write!(f, ": {}", self.message),
        }
    }
}

impl CloudError {
    /// The service says the stack does not exist.
    pub fn is_missing_stack(&self) -> bool {
        self.code.as_deref() == Some("ValidationError") && self.message.contains("does not exist")
    }

    /// Another operation holds the stack: CloudFormation's "… is in UPDATE_IN_PROGRESS state and
    /// can not be updated", or a create that lost the race to another ("… already exists").
    pub fn is_busy(&self) -> bool {
        self.code.as_deref() == Some("ValidationError")
            && (self.message.contains("_IN_PROGRESS state")
                || self.message.contains("already exists and cannot be created again"))
    }

    /// The caller may not make this call (IAM): `AccessDenied`, `AccessDeniedException`.
    pub fn is_access_denied(&self) -> bool {
        matches!(self.code.as_deref(), Some("AccessDenied" | "AccessDeniedException"))
    }

    /// "No updates are to be performed": a change that changes nothing.
    pub fn is_no_updates(&self) -> bool {
        self.message.contains("No updates are to be performed")
            || self.message.contains("didn't contain changes")
    }

    /// Whether CloudFormation may have started the operation despite the error: a server error or
    /// a timeout leaves it unknown, and the SDK's retry of a create that did start answers
    /// `AlreadyExistsException`.
    pub fn may_have_started(&self) -> bool {
        self.kind == ErrorKind::Timeout
            || self.status.is_some_and(|s| s >= 500)
            || self.code.as_deref() == Some("AlreadyExistsException")
    }

    pub fn other(operation: &'static str, message: impl Into<String>) -> CloudError {
        CloudError {
            operation,
            kind: ErrorKind::Other,
            status: None,
            code: None,
            message: message.into(),
            endpoint: None,
        }
    }
}

/// The error's own message and its causes', joined, without the SDK's debug dump.
pub(crate) fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// ` Internal Server Error` for 500, and so on for the statuses an API answers with.
fn http_reason(code: u16) -> &'static str {
    match code {
        400 => " Bad Request",
        403 => " Forbidden",
        404 => " Not Found",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

/// The [`CloudError`] of a failed SDK call to `operation` through `endpoint`.
pub(crate) fn classify<E>(
    operation: &'static str,
    e: SdkError<E, HttpResponse>,
    endpoint: Option<&str>,
) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &e {
        SdkError::ServiceError(_) => ErrorKind::Service,
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::Timeout,
        SdkError::DispatchFailure(_) => ErrorKind::Connect,
        _ => ErrorKind::Other,
    };
    let chain = cause_chain(&e);
    let status = e.raw_response().map(|r| r.status().as_u16());
    from_parts(operation, kind, status, e.code(), e.message(), chain, endpoint)
}

/// The error from what the SDK said, separated so the rules are tested without the SDK's types.
fn from_parts(
    operation: &'static str,
    kind: ErrorKind,
    status: Option<u16>,
    code: Option<&str>,
    message: Option<&str>,
    chain: String,
    endpoint: Option<&str>,
) -> CloudError {
    let kind = if kind == ErrorKind::Connect && chain.contains("loading credentials") {
        ErrorKind::Credentials
    } else {
        kind
    };
    let message = match (kind, message, status) {
        (ErrorKind::Service, Some(m), _) => m.to_owned(),
        // An error answer without a body the SDK can read (a proxy's or a load balancer's 500,
        // say): the HTTP status is what there is to say, not the parser's complaint.
        (_, _, Some(code)) if code >= 400 => format!(
            "the service answered HTTP {code}{} with no readable error ({chain})",
            http_reason(code)
        ),
        _ => chain,
    };
    CloudError {
        operation,
        kind,
        status,
        code: code.map(str::to_owned),
        message,
        endpoint: endpoint.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, message: &str) -> CloudError {
        from_parts(
            "CloudFormation.UpdateStack",
            ErrorKind::Service,
            Some(400),
            Some(code),
            Some(message),
            String::new(),
            None,
        )
    }

    #[test]
    fn questions_asked_of_service_errors() {
        // (code, message, missing stack, busy, no updates, may have started)
        let table = [
            (
                "ValidationError",
                "Stack with id orders-main does not exist",
                true,
                false,
                false,
                false,
            ),
            (
                "ValidationError",
                "Stack:arn:aws:cloudformation:us-east-1:1:stack/a/b is in UPDATE_IN_PROGRESS state and can not be updated.",
                false,
                true,
                false,
                false,
            ),
            (
                "ValidationError",
                "Stack [a] already exists and cannot be created again with the changeSet [jiti-1].",
                false,
                true,
                false,
                false,
            ),
            ("ValidationError", "No updates are to be performed.", false, false, true, false),
            (
                "ValidationError",
                "The submitted information didn't contain changes. Submit different information to create a change set.",
                false,
                false,
                true,
                false,
            ),
            ("AlreadyExistsException", "Stack [a] already exists", false, false, false, true),
            (
                "AccessDenied",
                "User is not authorized to perform: cloudformation:UpdateStack",
                false,
                false,
                false,
                false,
            ),
        ];
        for (code, message, missing, busy, no_updates, started) in table {
            let e = service(code, message);
            assert_eq!(
                (e.is_missing_stack(), e.is_busy(), e.is_no_updates(), e.may_have_started()),
                (missing, busy, no_updates, started),
                "{code}: {message}"
            );
        }
    }

    #[test]
    fn an_unreadable_error_answer_is_its_http_status_and_server_errors_may_have_started() {
        let e = from_parts(
            "CloudFormation.UpdateStack",
            ErrorKind::Other,
            Some(500),
            None,
            None,
            "unhandled error (Unknown)".into(),
            Some("http://127.0.0.1:1"),
        );
        assert_eq!(
            e.message,
            "the service answered HTTP 500 Internal Server Error with no readable error (unhandled error (Unknown))"
        );
        assert!(e.may_have_started());
        let timeout = from_parts(
            "CloudFormation.CreateStack",
            ErrorKind::Timeout,
            None,
            None,
            None,
            "timed out".into(),
            Some("http://127.0.0.1:1"),
        );
        assert!(timeout.may_have_started());
        assert_eq!(
            timeout.to_string(),
            "CloudFormation.CreateStack failed: http://127.0.0.1:1 did not answer in time: timed out"
        );
    }

    #[test]
    fn connection_and_credential_failures_say_what_to_do() {
        let refused = from_parts(
            "CloudFormation.DescribeStacks",
            ErrorKind::Connect,
            None,
            None,
            None,
            "dispatch failure: io error: Connection refused".into(),
            Some("http://127.0.0.1:9"),
        );
        assert_eq!(refused.kind, ErrorKind::Connect);
        assert!(
            refused.to_string().contains("cannot connect to http://127.0.0.1:9: dispatch failure"),
            "{refused}"
        );
        let creds = from_parts(
            "CloudFormation.DescribeStacks",
            ErrorKind::Connect,
            None,
            None,
            None,
            "an error occurred while loading credentials: no providers".into(),
            None,
        );
        assert_eq!(creds.kind, ErrorKind::Credentials);
        assert!(creds.to_string().contains("set AWS_PROFILE"), "{creds}");
    }

    #[test]
    fn a_cause_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl fmt::Display for E {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "dispatch failure",
            Some(Box::new(E("io error", Some(Box::new(E("io error", None)))))),
        );
        assert_eq!(cause_chain(&e), "dispatch failure: io error");
    }
}
