//! `tidings serve`: runs the `tidings-serve` binary (the crate `tidings-serve`), which holds the
//! server, so that this command — which build scripts depend on — stays free of it.

use std::ffi::OsString;
use std::path::PathBuf;

/// Arguments: passed on to `tidings-serve` as they are (`tidings serve --help` prints its help).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The arguments of `tidings-serve`: schema paths, `--config`, `--listen`, `--redis`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// The `tidings-serve` executable: next to this one (as `cargo install` and the workspace's
/// build place them), or on `PATH`.
fn server() -> Option<PathBuf> {
    let name = format!("tidings-serve{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|p| p.is_file())
        })
    })
}

/// Runs `tidings-serve` with `args`; on Unix it replaces this process, so that signals
/// (SIGTERM for a graceful shutdown) reach the server.
///
/// # Errors
/// When `tidings-serve` is not installed or cannot be run.
pub(crate) fn run(args: &Args) -> anyhow::Result<u8> {
    let Some(server) = server() else {
        anyhow::bail!(
            "`tidings serve` runs the `tidings-serve` executable, which is not installed next to `tidings` or on PATH: `cargo install --locked --path serve` in a checkout of Tidings, or `--git https://github.com/tidings-rs/tidings tidings-serve`"
        );
    };
    let mut command = std::process::Command::new(&server);
    command.args(&args.args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let err = command.exec();
        Err(anyhow::anyhow!("cannot run {}: {err}", server.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", server.display()))?;
        Ok(status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1))
    }
}
