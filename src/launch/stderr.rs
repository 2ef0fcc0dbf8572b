//! Everything the program says on stderr (logs, warnings, the run table) goes through one
//! writer thread, so a stderr that is closed (`2>&1 | head -1`), full (a reader that
//! stopped reading) or gone (a closed terminal) never ends or stalls a run: what cannot be
//! written is dropped. Progress bars (indicatif, terminals only) draw on their own and
//! ignore failed writes too.

use std::io::Write as _;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

/// Lines waiting for a slow stderr before new ones are dropped.
const QUEUE: usize = 1024;

enum Message {
    Bytes(Vec<u8>),
    Flushed(SyncSender<()>),
}

fn queue() -> &'static Option<SyncSender<Message>> {
    static SENDER: OnceLock<Option<SyncSender<Message>>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("stderr".into())
            .spawn(move || drain(rx))
            .ok()
            .map(|_| tx)
    })
}

fn drain(rx: Receiver<Message>) {
    let mut open = true;
    for message in rx {
        match message {
            Message::Bytes(bytes) if open => {
                let mut err = std::io::stderr().lock();
                if let Err(e) = err.write_all(&bytes).and_then(|()| err.flush()) {
                    // A closed pipe stays closed; other errors (EAGAIN, EIO) may pass.
                    open = e.kind() != std::io::ErrorKind::BrokenPipe;
                }
            }
            Message::Bytes(_) => {}
            Message::Flushed(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Queues `bytes` for stderr; dropped when the queue is full or stderr is closed.
pub fn write(bytes: &[u8]) {
    match queue() {
        Some(tx) => match tx.try_send(Message::Bytes(bytes.to_vec())) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        },
        None => {
            let _ = std::io::stderr().write_all(bytes);
        }
    }
}

/// Writes a line to stderr (through the queue).
pub fn say(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    write(line.as_bytes());
}

/// Waits up to `limit` for what is queued to reach stderr (before the process exits).
pub fn flush(limit: Duration) {
    let Some(tx) = queue() else { return };
    let (done, wait) = sync_channel(1);
    if tx.try_send(Message::Flushed(done)).is_ok() {
        let _ = wait.recv_timeout(limit);
    }
}

/// Stderr for the log subscriber: writes go through the queue and never fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_never_fail_and_flush_returns() {
        let mut err = Stderr;
        assert_eq!(std::io::Write::write(&mut err, b"").unwrap(), 0);
        say("stderr test line");
        flush(Duration::from_secs(1));
    }
}
