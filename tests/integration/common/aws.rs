//! AWS test harness: a moto_server per test on a free loopback port (killed on drop), SDK
//! clients pointed at it for setting up buckets and queues, and an IMDSv2 stub.
//!
//! moto comes from the venv that `tests/run.sh` creates (`.venv/bin/moto_server`), or from
//! `TRAWL_MOTO_SERVER`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use trawl::aws::runtime;

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TRAWL_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p = super::repo().join(".venv/bin/moto_server");
    assert!(p.exists(), "{} is missing: run tests/run.sh, which installs moto[server]==5.2.5 into .venv (or set TRAWL_MOTO_SERVER)", p.display());
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running moto_server.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts moto_server and waits until it answers.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts moto_server with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let m = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = s.write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return m;
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK config for setting things up in moto.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        self.sdk_with(Credentials::new("testing", "testing", None, None, "test"))
    }

    pub fn sdk_with(&self, creds: Credentials) -> aws_config::SdkConfig {
        runtime().block_on(
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).endpoint_url(self.url()).credentials_provider(creds).load(),
        )
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.sdk()).force_path_style(true).build())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk())
    }

    pub fn create_bucket(&self, bucket: &str) {
        runtime().block_on(self.s3().create_bucket().bucket(bucket).send()).unwrap();
    }

    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        runtime().block_on(self.s3().put_object().bucket(bucket).key(key).body(body.into()).send()).unwrap();
    }

    /// Creates a queue; returns its URL.
    pub fn create_queue(&self, name: &str) -> String {
        runtime().block_on(self.sqs().create_queue().queue_name(name).send()).unwrap().queue_url().unwrap().to_string()
    }

    /// Messages in the queue, visible and in flight.
    pub fn queue_depth(&self, url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = runtime().block_on(self.sqs().get_queue_attributes().queue_url(url).attribute_names(A::All).send()).unwrap();
        let a = out.attributes().unwrap();
        let n = |k: A| a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible)
    }

    /// Every key under `prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = runtime().block_on(self.s3().list_objects_v2().bucket(bucket).prefix(prefix).send()).unwrap();
        let mut v: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        v.sort();
        v
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let s3 = self.s3();
        runtime().block_on(async { s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap().to_vec() })
    }

    /// S3 → SQS notifications for every created object.
    pub fn notify_queue(&self, bucket: &str, queue_url: &str) {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", queue_url.rsplit('/').next().unwrap());
        let conf = NotificationConfiguration::builder()
            .queue_configurations(QueueConfiguration::builder().queue_arn(arn).events(Event::from("s3:ObjectCreated:*")).build().unwrap())
            .build();
        runtime().block_on(self.s3().put_bucket_notification_configuration().bucket(bucket).notification_configuration(conf).send()).unwrap();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An IMDSv2 stub: a session token (with the TTL header aws-config requires and moto does not
/// send), a role name, and credentials for it. Counts the token requests.
pub struct ImdsStub {
    pub port: u16,
    pub token_requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl ImdsStub {
    pub fn start(role: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tr, st) = (token_requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut token_header = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    token_header |= h.to_ascii_lowercase().starts_with("x-aws-ec2-metadata-token:");
                }
                let mut parts = request_line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let creds_path = format!("/latest/meta-data/iam/security-credentials/{role}");
                let (status, headers, body) = match (method, path) {
                    ("PUT", "/latest/api/token") => {
                        tr.fetch_add(1, Ordering::Relaxed);
                        ("200 OK", "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n", "stub-imds-token".to_string())
                    }
                    // IMDSv2 only: without the session token, refuse.
                    (_, _) if !token_header => ("401 Unauthorized", "", String::new()),
                    ("GET", "/latest/meta-data/iam/security-credentials/") => ("200 OK", "", role.to_string()),
                    ("GET", p) if p == creds_path => (
                        "200 OK",
                        "",
                        serde_json::json!({
                            "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC",
                            "AccessKeyId": "ASIAIMDSSTUBEXAMPLE", "SecretAccessKey": "stub-secret", "Token": "stub-session-token",
                            "Expiration": "2099-01-01T00:00:00Z"
                        })
                        .to_string(),
                    ),
                    _ => ("404 Not Found", "", String::new()),
                };
                let resp = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        ImdsStub { port, token_requests, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ImdsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// What [`FlakyProxy`] does to every `nth` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers itself with a retryable error (alternating 503 SlowDown and 500
    /// InternalError, S3's XML error body), as AWS does under throttling or a bad host.
    ErrorReply,
    /// Passes the first GET of every `nth` object on with only half its body, then closes
    /// the connection: a body cut off mid-stream. Later GETs of it, and other requests, pass.
    CutFirstBody,
    /// The same for every GET of every object: no retry can succeed.
    CutEveryBody,
    /// Closes the connection without answering (a reset).
    Reset,
}

/// An HTTP proxy in front of moto that injects a [`Fault`] into every `nth` request.
pub struct FlakyProxy {
    pub port: u16,
    failed: Arc<AtomicUsize>,
}

impl FlakyProxy {
    pub fn start(upstream: u16, nth: usize) -> Self {
        Self::start_with(upstream, nth, Fault::ErrorReply)
    }

    pub fn start_with(upstream: u16, nth: usize, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let failed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let objects: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let f = failed.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (f, seen, objects) = (f.clone(), seen.clone(), objects.clone());
                std::thread::spawn(move || proxy_connection(conn, upstream, nth, fault, &seen, &objects, &f));
            }
        });
        FlakyProxy { port, failed }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Reads one HTTP/1.1 request (head + Content-Length body); None at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        // Each proxied exchange is one upstream connection; keep the client's alive.
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

fn proxy_connection(client: TcpStream, upstream: u16, nth: usize, fault: Fault, seen: &AtomicUsize, objects: &std::sync::Mutex<Vec<String>>, failed: &AtomicUsize) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    while let Some(req) = read_request(&mut reader) {
        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
        // An object GET: `GET /bucket/key?x-id=GetObject` (listings have another query).
        let path = req.split(|b| *b == b' ').nth(1).map(String::from_utf8_lossy).unwrap_or_default();
        let object_get = req.starts_with(b"GET ") && (!path.contains('?') || path.contains("x-id=GetObject"));
        if n % nth == 0 && fault == Fault::Reset {
            failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let cut = object_get
            && match fault {
                Fault::CutEveryBody => true,
                Fault::CutFirstBody => {
                    let key = path.split('?').next().unwrap_or("").to_string();
                    let mut seen_objects = objects.lock().unwrap();
                    let first = !seen_objects.contains(&key);
                    if first {
                        seen_objects.push(key);
                    }
                    first && seen_objects.len() % nth == 0
                }
                _ => false,
            };
        if n % nth == 0 && fault == Fault::ErrorReply {
            let k = failed.fetch_add(1, Ordering::Relaxed);
            let (status, code) = if k % 2 == 0 { ("503 Slow Down", "SlowDown") } else { ("500 Internal Server Error", "InternalError") };
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>Please reduce your request rate.</Message><RequestId>FLAKY{n}</RequestId></Error>");
            let resp = format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            if client.write_all(resp.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
        if up.write_all(&req).is_err() {
            return;
        }
        // Read the upstream response and pass it on with its framing intact: moto closes the
        // connection after it because the request said Connection: close.
        let mut resp = Vec::new();
        if up.read_to_end(&mut resp).is_err() {
            return;
        }
        // The client expects a persistent connection: make sure the response carries a
        // Content-Length (werkzeug always sends one for these APIs) and strip Connection: close.
        let text_end = resp.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(resp.len());
        let head = String::from_utf8_lossy(&resp[..text_end]).replace("Connection: close\r\n", "");
        let mut out = head.into_bytes();
        let body = &resp[text_end..];
        if cut && body.len() > 1 {
            failed.fetch_add(1, Ordering::Relaxed);
            out.extend_from_slice(&body[..body.len() / 2]);
            let _ = client.write_all(&out);
            return; // the client is promised the whole Content-Length and gets half
        }
        out.extend_from_slice(body);
        if client.write_all(&out).is_err() {
            return;
        }
    }
}
