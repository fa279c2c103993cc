//! The `humanitec-sandbox` binary as its users run it (their own tests,
//! `scripts/fuzz-api.sh`): it starts on the address given, says where,
//! answers the demo tokens and refuses others, and names a config file it
//! cannot read. (Its being a test of this package is also what makes
//! `cargo test --workspace --no-run` build the binary.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const EXE: &str = env!("CARGO_BIN_EXE_humanitec-sandbox");

/// Kills the sandbox however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 GET over a plain socket: the status and the body.
fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the sandbox");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn starts_says_where_and_answers_its_tokens() {
    let child = Command::new(EXE)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the first line");
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .expect("an address")
        .to_string();
    assert!(
        first.starts_with("humanitec-sandbox listening on http://127.0.0.1:"),
        "{first}"
    );

    assert_eq!(get(&addr, "/_sandbox/health", "none").0, 200);
    let (status, body) = get(&addr, "/orgs", "sandbox-admin-token");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("demo-org"), "{body}");
    assert_eq!(get(&addr, "/orgs", "not-a-token").0, 401);
}

#[test]
fn a_config_it_cannot_read_is_named_and_it_exits() {
    let out = Command::new(EXE)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/sandbox.json",
        ])
        .output()
        .expect("the sandbox runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("/nonexistent/sandbox.json"), "{said}");
}
