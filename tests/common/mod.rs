//! A real Kat server on a free port, for tests that speak HTTP to it.
#![allow(dead_code)]

pub mod brute;
pub mod in_process;
pub mod pg;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data_dir() -> PathBuf {
    manifest_dir().join("data")
}

/// A running `kat serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub port: u16,
}

impl Server {
    /// Serves the bundled data.
    pub fn start() -> Server {
        Server::start_with(&data_dir(), &[])
    }

    /// Serves `data` with extra arguments; waits until `/health` answers.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let server = Server::spawn_with(data, extra);
        server.wait_until_answering(Duration::from_millis(100));
        server
    }

    /// Starts `kat serve` on `data` without waiting for it to answer.
    pub fn spawn_with(data: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kat"));
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .arg("--static")
            .arg(manifest_dir().join("static"))
            .args(extra)
            .env("KAT_LOG", "warn")
            // The server exits when this process ends, even if a test never drops it.
            .env("KAT_EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().expect("kat starts");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// Asks `/health` every `every` until it answers 200, for up to 120 s.
    pub fn wait_until_answering(&self, every: Duration) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(r) = self.try_get("/health") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(every);
        }
        panic!("kat did not answer /health within 120 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET, any status.
    pub fn get(&self, path: &str) -> Response {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_get(&self, path: &str) -> std::io::Result<Response> {
        self.request("GET", path, &[])
    }

    /// A raw HTTP/1.1 request: the path is sent exactly as given, unnormalized.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        Response::parse(&raw, method == "HEAD")
    }

    /// A request with a body (`Content-Length` is added).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        s.write_all(&bytes)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        Response::parse(&raw, method == "HEAD")
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// The path of a page's `next` link on this server (links are absolute), if any.
    pub fn next_path(&self, page: &serde_json::Value) -> Option<String> {
        let next = page["links"]
            .as_array()
            .expect("a page has links")
            .iter()
            .find(|l| l["rel"] == "next")?;
        let href = next["href"].as_str().expect("a link has an href");
        Some(
            href.strip_prefix(&self.base)
                .expect("an absolute link to this server")
                .to_string(),
        )
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the server exited, once it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Closes the server's stdin, as a supervisor going away does (the server then exits).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A parsed HTTP response (chunked bodies are decoded).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8], head: bool) -> std::io::Result<Response> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no header end"))?;
        let head_text = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        if chunked && !head {
            let mut out = Vec::new();
            let mut rest = &body[..];
            loop {
                let line_end = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or_else(|| bad("bad chunk"))?;
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                        .map_err(|_| bad("bad chunk size"))?;
                rest = &rest[line_end + 2..];
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
            }
            body = out;
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Whether a missing tool may skip a test: never under CI=true.
pub fn skip_or_fail(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required under CI: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Copies a directory tree (a data directory a test may then change).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A document as Python's `json.dump` writes it by default: all on one line, `, ` and `: `
/// between tokens, and every non-ASCII character as a `\u` escape (surrogate pairs above the
/// BMP).
pub fn python_json_dump(v: &serde_json::Value) -> String {
    let compact = serde_json::to_string(v).unwrap();
    let mut out = String::with_capacity(compact.len() * 11 / 10);
    let (mut in_string, mut escaped) = (false, false);
    for c in compact.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            if c.is_ascii() {
                out.push(c);
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            continue;
        }
        out.push(c);
        match c {
            '"' => in_string = true,
            ',' | ':' => out.push(' '),
            _ => {}
        }
    }
    out
}
