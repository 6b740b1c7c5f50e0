//! jiti-core: everything cargo-jiti knows, as data and typed errors; the `cargo-jiti` binary prints.
//!
//! The flow is [`discovery`] (which packages are apps) → [`resolve`] (one value merging cargo
//! metadata, `jiti.toml`, git and the caller's options) → [`render`] (Tera → [`template`] model →
//! [`tagging`] and retention policy) → [`check`] (findings) → [`deploy`] (read [`stacks`], decide,
//! execute through [`cloud`], followed by [`wait`]) → [`ledger`]. `destroy` and `gc` have the same
//! shape: look, plan (pure), execute. The modules form a DAG, listed here bottom-up; see
//! ARCHITECTURE.md.

// Workspace and templates: no AWS.
pub mod check;
pub mod ci;
pub mod config;
pub mod discovery;
pub mod environment;
pub mod git;
pub mod graph;
pub mod hooks;
pub mod layout;
pub mod parameters;
pub mod policy;
pub mod render;
pub mod resolve;
pub mod scaffold;
pub mod secrets;
pub mod tagging;
pub mod template;
// The AWS side, and what is built on it.
pub mod artifacts;
pub mod cloud;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod drift;
pub mod gc;
pub mod hotswap;
pub mod iam;
pub mod inventory;
pub mod ledger;
pub mod observe;
pub mod overview;
pub mod report;
pub mod rollback;
pub mod ship;
pub mod stacks;
pub mod wait;

#[cfg(test)]
pub(crate) mod testing;
