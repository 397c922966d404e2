//! The stack `load` starts when no `--url` is given: `contract-hooks-local dev`
//! on free loopback ports with a temporary state folder, stopped at the end.

use anyhow::{anyhow, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::args::LoadArgs;

/// The stack under load: its URL base and env file, and the child when we started it.
pub(super) struct Stack {
    pub(super) base: String,
    pub(super) env_file: PathBuf,
    pub(super) secrets_dir: PathBuf,
    pub(super) child: Option<Child>,
    pub(super) state_dir: Option<PathBuf>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SIGINT lets `dev` stop cargo-lambda and moto like Ctrl-C does.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(dir) = &self.state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

pub(super) fn start_stack(args: &LoadArgs) -> anyhow::Result<Stack> {
    if let Some(url) = &args.url {
        if !is_loopback(url) {
            return Err(anyhow!(
                "--url must be a loopback address (127.0.0.1, ::1, localhost)"
            ));
        }
        let secrets_dir = args
            .env_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        return Ok(Stack {
            base: url.trim_end_matches('/').to_owned(),
            env_file: args.env_file.clone(),
            secrets_dir,
            child: None,
            state_dir: None,
        });
    }
    let state = std::env::temp_dir().join(format!("contract-hooks-load-{}", std::process::id()));
    std::fs::create_dir_all(&state)?;
    let port = free_port()?;
    let log = std::fs::File::create(state.join("dev.log"))?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        // --no-reload: an edit in the workspace must not restart the functions
        // mid-run (RELIABILITY.md, "Found while running it" 1).
        .args(["dev", "--no-reload", "--moto-port", "0", "--port"])
        .arg(port.to_string())
        .arg("--state-dir")
        .arg(&state)
        .env_remove("CONTRACT_HOOKS_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting contract-hooks-local dev")?;
    let stdout = child.stdout.take().expect("piped");
    let stack = Stack {
        base: format!("http://127.0.0.1:{port}/lambda-url/ingest/webhooks"),
        env_file: state.join("env"),
        secrets_dir: state.clone(),
        child: Some(child),
        state_dir: Some(state),
    };
    // Keep draining dev's stdout (a full pipe would block it); report the banner.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    eprintln!("load: starting the local stack on 127.0.0.1:{port} (first start compiles)…");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| anyhow!("the dev stack did not come up (see its log)"))?;
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    Ok(stack)
}
