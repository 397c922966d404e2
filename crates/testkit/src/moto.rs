//! One moto launcher for the tests and the local stack: moto in server mode on
//! loopback, started from the project's virtualenv, stopped when its handle is
//! dropped (the server exits when its standard input closes).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The script that runs moto's server and prints its port.
const MOTO_SERVER_PY: &str = include_str!("../moto_server.py");

/// Why moto did not start.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The Python that should have moto[server] is not there.
    #[error("{0} not found: run `make venv` (creates .venv with moto[server]) or set MOTO_PYTHON")]
    NoPython(PathBuf),
    /// The process could not be started.
    #[error("cannot start moto: {0}")]
    Spawn(#[source] std::io::Error),
    /// It started but did not print a port (the port is taken, or moto is missing).
    #[error("moto did not start on port {port} (printed {printed:?}; port in use, or moto[server] missing?)")]
    NoPort {
        /// The port asked for (0: any free one).
        port: u16,
        /// What it printed instead.
        printed: String,
    },
}

/// The Python with moto[server]: `MOTO_PYTHON`, else `.venv/bin/python` under `repo_root`.
pub fn python(repo_root: &Path) -> PathBuf {
    std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join(".venv/bin/python"))
}

/// A running moto server; dropping it stops the server.
#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    process: Child,
}

impl MotoServer {
    /// Starts moto with `python` on loopback `port` (0: a free one) and waits
    /// until it answers with its port.
    pub fn start(python: &Path, port: u16) -> Result<Self, MotoError> {
        if !python.exists() {
            return Err(MotoError::NoPython(python.to_owned()));
        }
        let mut process = Command::new(python)
            .arg("-c")
            .arg(MOTO_SERVER_PY)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let mut line = String::new();
        let stdout = process.stdout.take().expect("stdout is piped");
        // An error reading leaves `line` empty, which the parse below reports.
        let _ = BufReader::new(stdout).read_line(&mut line);
        let bound: u16 = line.trim().parse().map_err(|_| MotoError::NoPort {
            port,
            printed: line.trim().to_owned(),
        })?;
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{bound}"),
            process,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for MotoServer {
    /// Closes moto's standard input (it stops its server and exits) and reaps
    /// it; one that has not exited after five seconds is killed.
    fn drop(&mut self) {
        drop(self.process.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if !matches!(self.process.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
