//! How a Lambda binary of the workspace is built for Amazon Linux 2023 ([`plan`]: cargo-zigbuild
//! when present, else cargo-lambda, else plain cargo for the target) and checked once built
//! ([`check_binary`]: the CPU matches, no glibc newer than the runtime's). Pure: the caller says
//! which tools it found and runs the command.

use std::path::PathBuf;

use super::{Arch, elf};

/// The glibc of the `provided.al2023` runtime: a binary needing a newer one does not start.
pub const RUNTIME_GLIBC: (u32, u32) = (2, 34);

/// One binary to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub package: String,
    pub bin: String,
    pub arch: Arch,
    /// A cargo profile (`release`, `dev`, a custom one).
    pub profile: String,
    pub features: Vec<String>,
}

/// The build tools found on the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tools {
    /// `cargo zigbuild` and `zig` (PyPI: `cargo-zigbuild`, `ziglang`).
    pub zigbuild: bool,
    /// `cargo lambda`.
    pub cargo_lambda: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Zigbuild,
    CargoLambda,
    Cargo,
}

/// A `cargo` command line and where its binary lands (relative to the cargo target directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub tool: Tool,
    /// The arguments after `cargo`.
    pub args: Vec<String>,
    pub output: PathBuf,
}

/// How to build `request` with the tools at hand, in that order of preference: cargo-zigbuild
/// links against glibc 2.34 whatever the host has (`<triple>.2.34`); cargo-lambda does the same
/// through zig; plain cargo works when the host's glibc is not newer than the runtime's (the
/// binary is checked afterwards either way).
pub fn plan(request: &BuildRequest, tools: Tools) -> BuildPlan {
    let triple = request.arch.triple();
    let selection =
        ["-p".to_owned(), request.package.clone(), "--bin".to_owned(), request.bin.clone()];
    let features = match request.features.is_empty() {
        true => Vec::new(),
        false => vec!["--features".to_owned(), request.features.join(",")],
    };
    // cargo puts the `dev` profile's output under `debug/`.
    let profile_dir = if request.profile == "dev" { "debug" } else { request.profile.as_str() };
    let profile = vec!["--profile".to_owned(), request.profile.clone()];
    let (tool, mut args, output) = match (tools.zigbuild, tools.cargo_lambda) {
        (true, _) => (
            Tool::Zigbuild,
            vec![
                "zigbuild".to_owned(),
                "--target".to_owned(),
                format!("{triple}.{}.{}", RUNTIME_GLIBC.0, RUNTIME_GLIBC.1),
            ],
            PathBuf::from(triple).join(profile_dir).join(&request.bin),
        ),
        (false, true) => (
            Tool::CargoLambda,
            vec!["lambda".to_owned(), "build".to_owned(), "--target".to_owned(), triple.to_owned()],
            PathBuf::from("lambda").join(&request.bin).join("bootstrap"),
        ),
        (false, false) => (
            Tool::Cargo,
            vec!["build".to_owned(), "--target".to_owned(), triple.to_owned()],
            PathBuf::from(triple).join(profile_dir).join(&request.bin),
        ),
    };
    args.extend(selection);
    args.extend(profile);
    args.extend(features);
    BuildPlan { tool, args, output }
}

/// A built binary that would not run on the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("`{bin}` is not a Linux executable Lambda can run: {source}")]
    NotElf {
        bin: String,
        #[source]
        source: elf::NotElf,
    },
    #[error("`{bin}` was built for another CPU (ELF machine {found}) than the function's `{arch}`: build for `{triple}` (`rustup target add {triple}`)", arch = .arch.lambda_name(), triple = .arch.triple())]
    WrongArch { bin: String, arch: Arch, found: u16 },
    #[error("`{bin}` needs glibc {}.{}, newer than the {}.{} of Lambda's provided.al2023 runtime: install cargo-zigbuild and zig (`pip install cargo-zigbuild ziglang`) so it links against {}.{}", need.0, need.1, RUNTIME_GLIBC.0, RUNTIME_GLIBC.1, RUNTIME_GLIBC.0, RUNTIME_GLIBC.1)]
    GlibcTooNew { bin: String, need: (u32, u32) },
}

fn elf_machine(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => elf::EM_X86_64,
        Arch::Arm64 => elf::EM_AARCH64,
    }
}

/// Checks a built binary's bytes against the function it is for.
pub fn check_binary(bin: &str, bytes: &[u8], arch: Arch) -> Result<(), BinaryError> {
    let found = elf::inspect(bytes)
        .map_err(|source| BinaryError::NotElf { bin: bin.to_owned(), source })?;
    if found.machine != elf_machine(arch) {
        return Err(BinaryError::WrongArch { bin: bin.to_owned(), arch, found: found.machine });
    }
    match found.max_glibc {
        Some(need) if need > RUNTIME_GLIBC => {
            Err(BinaryError::GlibcTooNew { bin: bin.to_owned(), need })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(arch: Arch, profile: &str, features: &[&str]) -> BuildRequest {
        BuildRequest {
            package: "orders-api".into(),
            bin: "orders".into(),
            arch,
            profile: profile.into(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn the_build_takes_the_best_tool_at_hand_and_says_where_the_binary_lands() {
        let zig = Tools { zigbuild: true, cargo_lambda: true };
        let p = plan(&request(Arch::Arm64, "release", &["tls", "otel"]), zig);
        assert_eq!(p.tool, Tool::Zigbuild);
        assert_eq!(
            p.args.join(" "),
            "zigbuild --target aarch64-unknown-linux-gnu.2.34 -p orders-api --bin orders --profile release --features tls,otel"
        );
        assert_eq!(p.output, PathBuf::from("aarch64-unknown-linux-gnu/release/orders"));
        let lambda = plan(
            &request(Arch::X86_64, "release", &[]),
            Tools { zigbuild: false, cargo_lambda: true },
        );
        assert_eq!(lambda.tool, Tool::CargoLambda);
        assert_eq!(
            lambda.args.join(" "),
            "lambda build --target x86_64-unknown-linux-gnu -p orders-api --bin orders --profile release"
        );
        assert_eq!(lambda.output, PathBuf::from("lambda/orders/bootstrap"));
        let plain = plan(&request(Arch::X86_64, "dev", &[]), Tools::default());
        assert_eq!(plain.tool, Tool::Cargo);
        assert_eq!(
            plain.args.join(" "),
            "build --target x86_64-unknown-linux-gnu -p orders-api --bin orders --profile dev"
        );
        assert_eq!(plain.output, PathBuf::from("x86_64-unknown-linux-gnu/debug/orders"));
    }

    #[test]
    fn a_binary_for_another_cpu_or_a_newer_glibc_is_refused_with_what_to_do() {
        let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let (host, other) = if cfg!(target_arch = "x86_64") {
            (Arch::X86_64, Arch::Arm64)
        } else {
            (Arch::Arm64, Arch::X86_64)
        };
        let wrong = check_binary("orders", &this, other).unwrap_err();
        assert!(matches!(wrong, BinaryError::WrongArch { .. }), "{wrong}");
        assert!(
            wrong.to_string().contains(&format!("rustup target add {}", other.triple())),
            "{wrong}"
        );
        // This test binary needs the host's glibc: accepted exactly when that is not newer than 2.34.
        let host_glibc = elf::inspect(&this).unwrap().max_glibc.unwrap();
        match check_binary("orders", &this, host) {
            Ok(()) => assert!(host_glibc <= RUNTIME_GLIBC),
            Err(e) => {
                assert!(host_glibc > RUNTIME_GLIBC, "{e}");
                assert!(e.to_string().contains("pip install cargo-zigbuild ziglang"), "{e}");
            }
        }
        assert!(matches!(
            check_binary("orders", b"#!/bin/sh", host),
            Err(BinaryError::NotElf { .. })
        ));
    }
}
