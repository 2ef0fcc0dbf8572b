//! The server's doors: connections accepted one by one (HTTP/1.1, hyper), each with a
//! header-read timeout (a client that trickles its request is cut off), an idle timeout
//! (a connection with no request for a while is closed, after the response it is
//! sending), and a cap on open connections: past it, the connection idle the longest is
//! closed to make room, so idle sockets held open by anyone who can reach the port never
//! lock teachers out. Each request carries its peer's address (for the sign-in limit).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

/// How long a client has to send a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections open at once; past this the longest idle one is closed.
pub const MAX_CONNECTIONS: usize = 512;

/// One open connection, as the cap sees it (a clone shares its state).
#[derive(Clone)]
struct Conn {
    /// Requests whose handler is running.
    busy: Arc<AtomicUsize>,
    /// When it last started a request (or opened).
    last: Arc<Mutex<Instant>>,
    /// Tells its task to close it.
    close: Arc<Notify>,
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

    /// Makes room for one more: closes the connection idle the longest when at the cap.
    /// `false` when every connection is busy (the new one is then refused).
    fn make_room(&self) -> bool {
        let conns = self.lock();
        if conns.len() < MAX_CONNECTIONS {
            return true;
        }
        let idle = conns
            .values()
            .filter(|c| c.busy.load(Ordering::SeqCst) == 0)
            .min_by_key(|c| *c.last.lock().unwrap_or_else(|e| e.into_inner()));
        match idle {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks a request running on its connection while it lives.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
        if !open.make_room() {
            drop(stream);
            continue;
        }
        let id = open.next.fetch_add(1, Ordering::SeqCst) as u64;
        let conn = Conn {
            busy: Arc::new(AtomicUsize::new(0)),
            last: Arc::new(Mutex::new(Instant::now())),
            close: Arc::new(Notify::new()),
        };
        open.lock().insert(id, conn.clone());
        let (open, router, stop) = (Arc::clone(open), router.clone(), stop.clone());
        tokio::spawn(async move {
            connection(stream, peer, (router, stop), conn).await;
            open.lock().remove(&id);
        });
    }
}

/// Serves one connection until it ends, idles out, is closed for room, or the server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    (router, mut stop): (Router, watch::Receiver<bool>),
    Conn { busy, last, close }: Conn,
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
            drop(running);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_check = tokio::time::sleep(IDLE_TIMEOUT / 4);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = close.notified(), if !closing => {
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
                    // Ends after the response it is sending, if any (a stream of events).
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

    fn conn(busy: usize, age_secs: u64) -> Conn {
        Conn {
            busy: Arc::new(AtomicUsize::new(busy)),
            last: Arc::new(Mutex::new(Instant::now() - Duration::from_secs(age_secs))),
            close: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let open = Open::default();
        assert!(open.make_room());
        {
            let mut conns = open.lock();
            for id in 0..MAX_CONNECTIONS as u64 {
                // The oldest of all is busy; id 7 is the oldest idle one.
                let (busy, age) = match id {
                    0 => (1, 1000),
                    7 => (0, 500),
                    _ => (0, 10),
                };
                conns.insert(id, conn(busy, age));
            }
        }
        assert!(open.make_room());
        let conns = open.lock();
        assert!(
            conns[&7].close.notified().now_or_never().is_some(),
            "closed"
        );
        assert!(
            conns[&0].close.notified().now_or_never().is_none(),
            "busy kept"
        );
        assert!(conns[&8].close.notified().now_or_never().is_none());
        drop(conns);
        for c in open.lock().values() {
            c.busy.store(1, Ordering::SeqCst);
        }
        assert!(
            !open.make_room(),
            "every connection busy: the new one waits outside"
        );
    }
}
