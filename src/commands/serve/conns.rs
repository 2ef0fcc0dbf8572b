//! The server's doors: connections accepted one by one (HTTP/1.1, hyper), each with a
//! header-read timeout (a client that trickles its request is cut off), the time limits of
//! `deadlines` on its body and its response, an idle timeout (a connection with no request
//! for a while is closed, after the response it is sending), and caps on open
//! connections, per address and in all: past them, the connection idle the longest is
//! closed to make room (of that address, or of the address holding most), so sockets held
//! open by anyone who can reach the port never lock teachers out. A connection is busy
//! until its response has been sent, so a course's stream is never taken for idle. Each
//! request carries its peer's address (for the sign-in limit).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

use super::deadlines::Stalling;

/// How long a client has to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections open at once; past this the longest idle one is closed.
pub const MAX_CONNECTIONS: usize = 512;
/// Connections one address (an IPv6 /64) may hold: the rest stay for everyone else.
pub const MAX_PER_ADDRESS: usize = MAX_CONNECTIONS / 2;

/// One open connection, as the cap sees it (a clone shares its state).
#[derive(Clone)]
struct Conn {
    /// Where it comes from (`limit::network` of its peer).
    from: IpAddr,
    /// Requests whose handler or response body is running.
    busy: Arc<AtomicUsize>,
    /// When it last started a request (or opened).
    last: Arc<Mutex<Instant>>,
    /// Asked to close: no longer a candidate to make room.
    closing: Arc<AtomicBool>,
    /// Tells its task to close it.
    close: Arc<Notify>,
}

impl Conn {
    fn new(from: IpAddr) -> Self {
        Conn {
            from,
            busy: Arc::new(AtomicUsize::new(0)),
            last: Arc::new(Mutex::new(Instant::now())),
            closing: Arc::new(AtomicBool::new(false)),
            close: Arc::new(Notify::new()),
        }
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Idle and not already closing: it may be closed to make room.
    fn may_go(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0 && !self.closing.load(Ordering::SeqCst)
    }
}

/// Every open connection.
#[derive(Default)]
struct Open {
    conns: Mutex<HashMap<u64, Conn>>,
    next: AtomicUsize,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for one more connection from `from`: at its address's cap, closes that
    /// address's longest idle connection; at the server's cap, the longest idle one of the
    /// address holding the most. Connections already closing are not counted as room
    /// (each counts until its socket is gone). `false` when nothing can go: the new
    /// connection is refused.
    fn make_room(&self, from: IpAddr, capped: bool) -> bool {
        let conns = self.lock();
        let mut per: HashMap<IpAddr, usize> = HashMap::new();
        for c in conns.values() {
            *per.entry(c.from).or_default() += 1;
        }
        let mine = per.get(&from).copied().unwrap_or(0);
        let victim = if capped && mine >= MAX_PER_ADDRESS {
            conns
                .values()
                .filter(|c| c.from == from && c.may_go())
                .min_by_key(|c| c.last())
        } else if conns.len() >= MAX_CONNECTIONS {
            conns
                .values()
                .filter(|c| c.may_go())
                .min_by_key(|c| (std::cmp::Reverse(per[&c.from]), c.last()))
        } else {
            return true;
        };
        match victim {
            Some(c) => {
                c.closing.store(true, Ordering::SeqCst);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks a request running on its connection while it lives (until its response body
/// has been sent or dropped).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its connection marked busy until it ends: a course's
/// stream of events is not an idle connection.
struct Held {
    body: Body,
    _running: Running,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connections a server has open, to wait for them at the end.
#[derive(Clone, Default)]
pub struct Doors(Arc<Open>);

impl Doors {
    /// Waits until every connection has closed, or `limit` has passed.
    pub async fn closed(&self, limit: Duration) {
        let start = Instant::now();
        while !self.0.lock().is_empty() && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Accepts connections on `listener` and serves `router` on each until `stop` turns true;
/// then stops accepting (connections finish what they are sending, then close).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    doors: &Doors,
    proxies: &[IpAddr],
    mut stop: watch::Receiver<bool>,
) {
    let open = &doors.0;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: wait, then go on.
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let from = super::limit::network(peer.ip());
        // A trusted proxy carries everyone's connections: only the server's cap holds it.
        let capped = !proxies.contains(&peer.ip());
        if !open.make_room(from, capped) {
            drop(stream);
            continue;
        }
        let id = open.next.fetch_add(1, Ordering::SeqCst) as u64;
        let conn = Conn::new(from);
        open.lock().insert(id, conn.clone());
        let (open, router, stop) = (Arc::clone(open), router.clone(), stop.clone());
        tokio::spawn(async move {
            connection(stream, peer, router, stop, conn).await;
            open.lock().remove(&id);
        });
        // Lets a connection closed to make room go before the next is taken.
        tokio::task::yield_now().await;
    }
}

/// Serves one connection until it ends, idles out, is closed for room, or the server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    Conn {
        busy, last, close, ..
    }: Conn,
) {
    let (busy_in, last_in) = (Arc::clone(&busy), Arc::clone(&last));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        busy_in.fetch_add(1, Ordering::SeqCst);
        *last_in.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let running = Running(Arc::clone(&busy_in));
        let router = router.clone();
        async move {
            let response = router.oneshot(req).await;
            response.map(|r| {
                r.map(|body| {
                    Body::new(Held {
                        body,
                        _running: running,
                    })
                })
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(Stalling::new(stream)), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_check = tokio::time::sleep(IDLE_TIMEOUT / 4);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = close.notified(), if !closing => {
                // Closed to make room: nothing is in flight, so the socket goes at once
                // (a graceful end would wait for a trickled request head).
                if busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = stop.wait_for(|s| *s), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = idle_check, if !closing => {
                let idle = last.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                if busy.load(Ordering::SeqCst) == 0 && idle >= IDLE_TIMEOUT {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    fn conn(from: &str, busy: usize, age_secs: u64) -> Conn {
        let c = Conn::new(from.parse().unwrap());
        c.busy.store(busy, Ordering::SeqCst);
        *c.last.lock().unwrap() = Instant::now() - Duration::from_secs(age_secs);
        c
    }

    fn closed(c: &Conn) -> bool {
        c.close.notified().now_or_never().is_some()
    }

    /// Connections asked to close.
    fn closing(open: &Open) -> usize {
        open.lock()
            .values()
            .filter(|c| c.closing.load(Ordering::SeqCst))
            .count()
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let open = Open::default();
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(open.make_room(here, true));
        {
            let mut conns = open.lock();
            for id in 0..MAX_CONNECTIONS as u64 {
                // Addresses of two; the oldest of all is busy; id 7 is the oldest idle one.
                let from = if id % 2 == 0 { "10.0.0.2" } else { "10.0.0.3" };
                let (busy, age) = match id {
                    0 => (1, 1000),
                    7 => (0, 500),
                    _ => (0, 10),
                };
                conns.insert(id, conn(from, busy, age));
            }
        }
        assert!(open.make_room(here, true));
        let conns = open.lock();
        assert!(closed(&conns[&7]));
        assert!(conns[&7].closing.load(Ordering::SeqCst));
        assert!(!closed(&conns[&0]), "busy kept");
        assert!(!closed(&conns[&8]));
        drop(conns);
        // A connection already closing is not room: the next oldest idle one goes.
        assert!(open.make_room(here, true));
        let conns = open.lock();
        assert!(!closed(&conns[&7]), "not asked twice");
        let asked: Vec<u64> = conns
            .iter()
            .filter(|(_, c)| c.closing.load(Ordering::SeqCst))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        drop(conns);
        for c in open.lock().values() {
            c.busy.store(1, Ordering::SeqCst);
        }
        assert!(
            !open.make_room(here, true),
            "every connection busy: the new one is refused"
        );
    }

    #[test]
    fn one_address_cannot_take_every_door() {
        let open = Open::default();
        {
            let mut conns = open.lock();
            for id in 0..MAX_PER_ADDRESS as u64 {
                conns.insert(id, conn("10.0.0.9", 0, 1_000 - id));
            }
            conns.insert(9_999, conn("10.0.0.1", 0, 5_000));
        }
        // The greedy address at its cap: its own oldest idle connection goes.
        assert!(open.make_room("10.0.0.9".parse().unwrap(), true));
        let conns = open.lock();
        assert!(!closed(&conns[&9_999]), "another address's connection kept");
        assert!(closed(&conns[&0]));
        drop(conns);
        // A trusted proxy at that count is not held to the address cap.
        assert!(open.make_room("10.0.0.9".parse().unwrap(), false));
        assert_eq!(closing(&open), 1);
        // Another address is let in without closing anything.
        assert!(open.make_room("10.0.0.1".parse().unwrap(), true));
        assert_eq!(closing(&open), 1);
    }

    #[test]
    fn at_the_servers_cap_the_address_holding_most_gives_way() {
        let open = Open::default();
        {
            let mut conns = open.lock();
            for id in 0..MAX_CONNECTIONS as u64 {
                // 10.0.0.5 holds 400 fresh connections; the rest are older, elsewhere.
                let (from, age) = if id < 400 {
                    ("10.0.0.5", 1)
                } else {
                    ("10.0.0.6", 1_000)
                };
                conns.insert(id, conn(from, 0, age));
            }
        }
        assert!(open.make_room("10.0.0.7".parse().unwrap(), true));
        let conns = open.lock();
        let gone: Vec<IpAddr> = conns
            .values()
            .filter(|c| c.closing.load(Ordering::SeqCst))
            .map(|c| c.from)
            .collect();
        assert_eq!(gone, vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
    }
}
