//! A call's text as it is written, for callers outside the pipeline (`serve`'s Ollama and
//! OpenAI APIs): pieces sent on as tokens come, and the strings that end the reply there.

use crate::engine::{CallOptions, Pieces};

/// The text side of one call with stop strings or a listener.
pub(super) struct Tail {
    stop: Vec<String>,
    pieces: Option<Pieces>,
    /// The reply's text so far, whole characters only.
    text: String,
    /// Bytes of a character whose last token has not come yet.
    pending: Vec<u8>,
    /// Tokens turned into text.
    seen: usize,
    /// Bytes of `text` sent to the listener.
    sent: usize,
    /// Where a stop string begins: the reply ends there.
    cut: Option<usize>,
}

impl Tail {
    /// The tail of a call with `options`, or `None` when nobody listens and nothing stops it.
    pub fn new(options: &CallOptions) -> Option<Self> {
        let stop: Vec<String> = options
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        (!stop.is_empty() || options.pieces.is_some()).then(|| Self {
            stop,
            pieces: options.pieces.clone(),
            text: String::new(),
            pending: Vec::new(),
            seen: 0,
            sent: 0,
            cut: None,
        })
    }

    /// Takes the tokens generated since the last call (their bytes from `piece`) and sends
    /// the text no stop string can still claim; true once a stop string has appeared.
    pub fn advance(&mut self, generated: &[i32], piece: impl Fn(i32, &mut Vec<u8>)) -> bool {
        if self.cut.is_some() {
            return true;
        }
        for &t in generated.get(self.seen..).unwrap_or_default() {
            piece(t, &mut self.pending);
        }
        self.seen = generated.len();
        self.take_whole_characters();
        // A stop string may start in text already sent only within its own length.
        let longest = self.stop.iter().map(String::len).max().unwrap_or(0);
        let from = floor_char(&self.text, self.sent.saturating_sub(longest));
        let found = self
            .stop
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|at| from + at))
            .min();
        if let Some(at) = found {
            self.cut = Some(at);
            self.send_to(at);
            return true;
        }
        // Text that may be the start of a stop string waits for the next token.
        let safe = self.text.len().saturating_sub(longest.saturating_sub(1));
        self.send_to(floor_char(&self.text, safe));
        false
    }

    /// The whole reply (up to a stop string), its last text sent.
    pub fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.text);
        text.push_str(&String::from_utf8_lossy(&std::mem::take(&mut self.pending)));
        let end = floor_char(&text, self.cut.unwrap_or(text.len()));
        text.truncate(end);
        if let Some(pieces) = &self.pieces {
            if let Some(rest) = text.get(self.sent..).filter(|r| !r.is_empty()) {
                pieces(rest);
            }
        }
        self.sent = text.len();
        text
    }

    /// Moves the whole characters of `pending` into `text` (an invalid sequence becomes
    /// U+FFFD, as `String::from_utf8_lossy` writes it); a character cut short waits.
    fn take_whole_characters(&mut self) {
        let mut rest = std::mem::take(&mut self.pending);
        loop {
            match std::str::from_utf8(&rest) {
                Ok(whole) => {
                    self.text.push_str(whole);
                    return;
                }
                Err(e) => {
                    let (whole, after) = rest.split_at(e.valid_up_to());
                    self.text
                        .push_str(std::str::from_utf8(whole).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            self.pending = after.to_vec();
                            return;
                        }
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            rest = after[bad..].to_vec();
                        }
                    }
                }
            }
        }
    }

    fn send_to(&mut self, end: usize) {
        if end <= self.sent {
            return;
        }
        if let (Some(pieces), Some(piece)) = (&self.pieces, self.text.get(self.sent..end)) {
            pieces(piece);
        }
        self.sent = end;
    }
}

/// `at`, moved back to the start of the character it falls in.
fn floor_char(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A tail over tokens that are indexes into `words`, collecting what it sends.
    fn run(words: &[&str], stop: &[&str]) -> (Vec<String>, String, bool) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&sent);
        let options = CallOptions {
            stop: stop.iter().map(|s| s.to_string()).collect(),
            pieces: Some(Arc::new(move |p: &str| {
                sink.lock().unwrap().push(p.to_string())
            })),
            ..CallOptions::default()
        };
        let mut tail = Tail::new(&options).unwrap();
        let ids: Vec<i32> = (0..words.len() as i32).collect();
        let mut stopped = false;
        for n in 1..=ids.len() {
            if tail.advance(&ids[..n], |t, out| {
                out.extend_from_slice(words[t as usize].as_bytes())
            }) {
                stopped = true;
                break;
            }
        }
        let text = tail.finish();
        let pieces = sent.lock().unwrap().clone();
        (pieces, text, stopped)
    }

    #[test]
    fn pieces_add_up_to_the_reply() {
        let (pieces, text, stopped) = run(&["Hel", "lo", " wor", "ld"], &[]);
        assert_eq!(pieces.concat(), "Hello world");
        assert_eq!((text.as_str(), stopped), ("Hello world", false));
        assert_eq!(pieces.len(), 4);
    }

    #[test]
    fn a_stop_string_across_tokens_ends_the_reply_before_it() {
        let (pieces, text, stopped) = run(&["one", " two", "\n\n", "Us", "er:", " x"], &["User:"]);
        assert!(stopped);
        assert_eq!(text, "one two\n\n");
        assert_eq!(pieces.concat(), "one two\n\n");
        // Nothing of the stop string was ever sent.
        assert!(pieces.iter().all(|p| !p.contains('U')), "{pieces:?}");
    }

    /// A tail whose pieces are written into the string returned beside it.
    fn listened() -> (Tail, Arc<Mutex<String>>) {
        let sent = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&sent);
        let options = CallOptions {
            pieces: Some(Arc::new(move |p: &str| sink.lock().unwrap().push_str(p))),
            ..CallOptions::default()
        };
        (Tail::new(&options).unwrap(), sent)
    }

    #[test]
    fn a_character_split_over_tokens_is_sent_whole() {
        let e = "é".as_bytes();
        let (mut tail, sent) = listened();
        let bytes = [b"caf".to_vec(), e[..1].to_vec(), e[1..].to_vec()];
        for n in 1..=3 {
            let ids: Vec<i32> = (0..n).collect();
            tail.advance(&ids, |t, out| out.extend_from_slice(&bytes[t as usize]));
            if n == 2 {
                assert_eq!(*sent.lock().unwrap(), "caf");
            }
        }
        assert_eq!(tail.finish(), "café");
        assert_eq!(*sent.lock().unwrap(), "café");
    }

    #[test]
    fn an_invalid_byte_is_written_as_lossy_decoding_writes_it_and_text_goes_on() {
        let (mut tail, sent) = listened();
        let bytes: [&[u8]; 3] = [b"a\xff", b"b", b"c"];
        for n in 1..=3 {
            let ids: Vec<i32> = (0..n).collect();
            tail.advance(&ids, |t, out| out.extend_from_slice(bytes[t as usize]));
        }
        assert_eq!(*sent.lock().unwrap(), "a\u{FFFD}bc");
        let whole = String::from_utf8_lossy(b"a\xffbc").into_owned();
        assert_eq!(tail.finish(), whole);
    }

    #[test]
    fn no_listener_and_no_stop_needs_no_tail() {
        assert!(Tail::new(&CallOptions::default()).is_none());
        let empty_stop = CallOptions {
            stop: vec![String::new()],
            ..CallOptions::default()
        };
        assert!(Tail::new(&empty_stop).is_none());
    }
}
