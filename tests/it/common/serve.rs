//! Child processes (killed on drop, their output collected), `kbrel serve`, and a raw HTTP/1.1
//! client over `std::net::TcpStream` (no URL normalisation).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::kbrel;

/// A free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Wait until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration, child: &mut Child, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on {addr}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Collected output lines of a child, read by a background thread.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Collect the lines of `stream` (until its end or an error) on a background thread.
    pub fn collect(&self, stream: impl Read + Send + 'static) {
        let l = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                match line {
                    Ok(line) => l.0.lock().unwrap().push(line),
                    Err(_) => break,
                }
            }
        });
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// Wait until some line satisfies `f`; returns it.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| f(l)) {
                return Some(l.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub output: Lines,
}

impl Proc {
    /// Spawn with stdout and stderr both collected into `output`.
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let output = Lines::default();
        output.collect(child.stdout.take().unwrap());
        output.collect(child.stderr.take().unwrap());
        Proc {
            child,
            name: name.to_string(),
            output,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`TERM`, `INT`, …).
    pub fn signal(&self, sig: &str) {
        // The shell's builtin kill: no procps needed.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -{sig} {}", self.pid())])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {} failed", self.pid());
    }

    /// Wait for the exit status, at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kbrel serve` as a child process, killed on drop.
pub struct Serve {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Serve {
    /// `kbrel serve DIR --addr 127.0.0.1:0 <args>`, its address read from its "serving … on"
    /// line (at most 20 s).
    pub fn start(dir: &Path, args: &[&str]) -> Serve {
        let mut cmd = kbrel();
        cmd.arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .args(args);
        Serve::spawn(&mut cmd, Duration::from_secs(20))
    }

    /// A prepared `kbrel serve … --addr 127.0.0.1:0` command (its own environment, a remote
    /// registry), its address read from its "serving … on" line within `timeout`.
    pub fn spawn(cmd: &mut Command, timeout: Duration) -> Serve {
        let proc = Proc::spawn("kbrel serve", cmd);
        let line = proc.output.wait_for(timeout, |l| l.starts_with("serving "));
        let Some(line) = line else {
            panic!("kbrel serve did not start:\n{}", proc.output.text());
        };
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Serve { proc, addr }
    }

    /// `kbrel serve --quiet --addr 127.0.0.1:<free port> DIR` (no "serving" line), once it
    /// accepts connections (at most 20 s).
    pub fn start_quiet(dir: &Path) -> Serve {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = kbrel();
        cmd.args(["serve", "--quiet", "--addr", &addr.to_string()])
            .arg(dir);
        let mut proc = Proc::spawn("kbrel serve", &mut cmd);
        wait_for_port(
            addr,
            Duration::from_secs(20),
            &mut proc.child,
            "kbrel serve",
        );
        Serve { proc, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn log(&self) -> String {
        self.proc.output.text()
    }

    pub fn get(&self, path: &str) -> Resp {
        get(self.addr, path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        get(self.addr, path, headers)
    }

    /// The process is still running.
    pub fn alive(&mut self) -> bool {
        self.proc.child.try_wait().expect("try_wait").is_none()
    }
}

// --- raw HTTP ------------------------------------------------------------------------------

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Everything the server sent on the connection.
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body, which must be UTF-8.
    pub fn utf8(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        self.parse()
    }

    /// The body deserialised into `T` (e.g. `kbrel::manifest::Index` for `/index.json`).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not a {} ({e}): {}",
                std::any::type_name::<T>(),
                self.text()
            )
        })
    }

    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub fn decoded(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .expect("valid gzip body");
            out
        } else {
            self.body.clone()
        }
    }
}

/// Parse one response from the bytes of a connection (`None`: not a complete head).
pub fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
        raw: raw.to_vec(),
    })
}

/// Write `request` as is, then read until the server closes the connection (or `timeout`).
/// Write and reset errors are tolerated: the server may close early.
pub fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(request);
    read_to_close(&mut s, timeout)
}

/// Read until EOF, a connection error, or `timeout` overall.
pub fn read_to_close(s: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    out
}

/// One request on its own connection (`Connection: close`) with `method` and raw `target`,
/// answered within 20 s.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    request_within(addr, method, target, headers, Duration::from_secs(20))
}

/// [`request`], answered within `timeout`.
pub fn request_within(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Resp {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let raw = exchange(addr, req.as_bytes(), timeout);
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "no HTTP response to {method} {target}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", target, headers)
}

/// nginx started as a foreground process under `dir` (its configuration, pid file, logs and
/// temporary folders), with `http` — the `server` blocks and whatever else the test needs —
/// inside the `http` block after the common settings; returns when it listens on each of
/// `ports` on 127.0.0.1.
pub fn nginx(bin: &Path, dir: &Path, http: &str, ports: &[u16]) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         {http}}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path);
    let mut proc = Proc::spawn("nginx", &mut cmd);
    for port in ports {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_port(addr, Duration::from_secs(10), &mut proc.child, "nginx");
    }
    proc
}
