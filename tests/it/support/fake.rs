//! In-process fake HTTP/1.1 server for error paths (429s, 503s, 401s, lying
//! `Docker-Content-Digest` headers, ...), also used as the token issuer of
//! token-auth registries.
//!
//! One request per connection: every response carries `Connection: close`
//! and a `Content-Length`, and the connection is closed after it. Each
//! connection is served on its own thread, so parallel clients work.
//!
//! A [`Delivery`] other than the default misbehaves on the wire: a body that
//! trickles, no answer at all, or a flood of bytes (for the client's limits).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request as received (method, target, headers, body).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Request target as sent: path plus `?query`.
    pub path: String,
    /// Header names as sent; look up with [`Request::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    /// All values of query parameter `name`, percent-decoded.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        let Some((_, q)) = self.path.split_once('?') else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k) == name).then(|| percent_decode(v))
            })
            .collect()
    }

    /// First value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_all(name).into_iter().next()
    }

    /// `(user, password)` from an `Authorization: Basic` header.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        use base64::Engine as _;
        let v = self.header("authorization")?;
        let (scheme, b64) = v.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response to send: status, headers, body, and how it goes out.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

/// How a response goes out.
#[derive(Debug, Clone, Default)]
pub enum Delivery {
    /// Status, headers and body at once.
    #[default]
    Whole,
    /// Status and headers at once, then the body one byte at a time, `every` apart.
    Trickle(Duration),
    /// Nothing: the connection stays open and silent until the client closes it.
    Silent,
    /// Status and headers announcing `announced` bytes (chunked when `None`), then
    /// filler until the client stops reading or `at_most` bytes are out. Every byte
    /// written is counted in `sent`.
    Flood {
        announced: Option<u64>,
        at_most: usize,
        sent: Arc<AtomicUsize>,
    },
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delivery: Delivery::Whole,
        }
    }

    /// Sends the response as `delivery` says.
    pub fn delivery(mut self, delivery: Delivery) -> Response {
        self.delivery = delivery;
        self
    }

    pub fn ok() -> Response {
        Response::new(200)
    }

    /// Adds a header (several with the same name are allowed).
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// JSON body with `Content-Type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Response {
        self.header("Content-Type", "application/json")
            .body(serde_json::to_vec(value).unwrap())
    }

    /// A manifest response as a registry sends it: body, `Content-Type`, and
    /// a correct `Docker-Content-Digest` (override with [`Response::header`]
    /// after removing it via [`Response::without_header`] to lie).
    pub fn manifest(media_type: &str, body: &[u8]) -> Response {
        Response::ok()
            .header("Content-Type", media_type)
            .header(
                "Docker-Content-Digest",
                &crate::support::images::sha256_digest(body),
            )
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .body(body.to_vec())
    }

    /// Removes every header named `name` (case-insensitive).
    pub fn without_header(mut self, name: &str) -> Response {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            301 => "Moved Permanently",
            302 => "Found",
            307 => "Temporary Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Status",
        }
    }
}

/// A handler that answers the `n`-th request (0-based, counting every
/// request) with `responses[n]`, and every later one with the last response.
/// E.g. `[429, 429, 200]` for "rate-limited twice, then fine".
pub fn scripted(responses: Vec<Response>) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    assert!(
        !responses.is_empty(),
        "scripted() needs at least one response"
    );
    let n = AtomicUsize::new(0);
    move |_req: &Request| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        responses[i.min(responses.len() - 1)].clone()
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync + 'static;

/// The fake server; stops (and joins its threads) on drop.
pub struct FakeServer {
    addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts serving on a free 127.0.0.1 port.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding fake server");
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let acceptor = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("fake-http-{addr}"))
                .spawn(move || accept_loop(listener, handler, requests, stop))
                .expect("spawning fake server thread")
        };
        FakeServer {
            addr,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let (handler, requests) = (handler.clone(), requests.clone());
        workers.retain(|w| !w.is_finished());
        workers.push(std::thread::spawn(move || {
            serve(stream, &*handler, &requests)
        }));
    }
    for w in workers {
        let _ = w.join();
    }
}

fn serve(stream: TcpStream, handler: &Handler, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_request(&stream) else {
        return;
    };
    requests.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    let mut stream = stream;
    let length = match &resp.delivery {
        Delivery::Silent => {
            // Until the client gives up (bounded, so that a client that never does
            // cannot keep the server from stopping).
            let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
            return;
        }
        Delivery::Flood { announced, .. } => announced
            .map_or("Transfer-Encoding: chunked".to_string(), |n| {
                format!("Content-Length: {n}")
            }),
        Delivery::Whole | Delivery::Trickle(_) => {
            format!("Content-Length: {}", resp.body.len())
        }
    };
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason()).into_bytes();
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("{length}\r\nConnection: close\r\n\r\n").as_bytes());
    if matches!(resp.delivery, Delivery::Whole) && req.method != "HEAD" {
        out.extend_from_slice(&resp.body);
    }
    if stream.write_all(&out).is_err() {
        return;
    }
    match &resp.delivery {
        Delivery::Trickle(every) => {
            for byte in &resp.body {
                std::thread::sleep(*every);
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
            }
        }
        Delivery::Flood {
            announced,
            at_most,
            sent,
        } => flood(&mut stream, announced.is_none(), *at_most, sent),
        Delivery::Whole | Delivery::Silent => {}
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Drain what the client may still send so closing does not RST the response away.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = std::io::copy(&mut stream.take(1 << 20), &mut std::io::sink());
}

/// Filler bytes until a write fails (the client closed) or `at_most` are out.
fn flood(stream: &mut TcpStream, chunked: bool, at_most: usize, sent: &AtomicUsize) {
    let block = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while written < at_most {
        let framed = if chunked {
            [format!("{:x}\r\n", block.len()).as_bytes(), &block, b"\r\n"].concat()
        } else {
            block.clone()
        };
        if stream.write_all(&framed).is_err() {
            return;
        }
        written += block.len();
        sent.fetch_add(block.len(), Ordering::SeqCst);
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        req.body = body;
    }
    Some(req)
}
