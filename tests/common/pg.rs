//! A throwaway PostgreSQL cluster with PostGIS, for tests against a real database: made with
//! initdb in a temporary directory, served on a free port, and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster with one database, `kat`.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// `postgres://kat@127.0.0.1:PORT/kat`
    pub url: String,
}

/// Debian's PostgreSQL binaries: the newest version installed.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Cluster {
    /// A fresh cluster, or `None` (after [`super::skip_or_fail`]) when PostgreSQL or PostGIS
    /// is not installed.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            super::skip_or_fail(
                "PostgreSQL is not installed (apt-get install postgresql postgresql-15-postgis-3)",
            );
            return None;
        };
        let has_postgis = std::fs::read_dir("/usr/share/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|v| v.path().join("extension/postgis.control").is_file());
        if !has_postgis {
            super::skip_or_fail(
                "PostGIS is not installed (apt-get install postgresql-15-postgis-3)",
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kat-pg-")
            .tempdir()
            .expect("a temporary directory");
        if is_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the cluster's directory to postgres");
        }
        let port = super::free_port();
        let cluster = Cluster {
            url: format!("postgres://kat@127.0.0.1:{port}/kat"),
            dir,
            bin,
            port,
        };
        let data = cluster.data_dir();
        let out = cluster
            .as_owner("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "kat", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start_server();
        let created = Command::new(cluster.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "kat",
                "-d",
                "postgres",
            ])
            .args(["-qAt", "-c", "CREATE DATABASE kat"])
            .output()
            .expect("psql runs");
        assert!(
            created.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_owner(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the server and waits until it takes connections.
    pub fn start_server(&self) {
        let log = self.dir.path().join("postgres.log");
        let status = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
                self.port,
                self.dir.path().display()
            ))
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(
            status.success(),
            "pg_ctl start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.query("postgres", "SELECT 1").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("PostgreSQL did not take connections within 30 s");
    }

    /// Stops the server at once (`-m immediate`: as a crash would).
    pub fn stop_server(&self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The cluster's own psql.
    pub fn psql_bin(&self) -> PathBuf {
        self.bin.join("psql")
    }

    /// The rows of a query, `|`-separated, as psql prints them; `None` if it failed.
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        self.query("kat", sql)
    }

    fn query(&self, database: &str, sql: &str) -> Option<String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "kat",
                "-d",
                database,
            ])
            .args(["-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The rows of a query; panics if it fails.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|| panic!("psql failed: {sql}"))
    }

    /// Runs `kat ARGS --database URL`; returns its stdout, panicking on failure.
    pub fn kat(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_kat"))
            .args(args)
            .args(["--database", &self.url])
            .env("KAT_LOG", "warn")
            .output()
            .expect("kat runs");
        assert!(
            out.status.success(),
            "kat {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// `kat db init` and `kat db import` of `data`.
    pub fn load(&self, data: &Path) {
        self.kat(&["db", "init"]);
        self.kat(&["db", "import", "--data", data.to_str().unwrap()]);
    }

    /// A new token of `role`: the last line `kat token create` prints.
    pub fn token(&self, role: &str, name: &str) -> String {
        let out = self.kat(&["token", "create", "--role", role, "--name", name]);
        out.lines().last().expect("a token").trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server();
    }
}
