//! Characters that must not reach a file or a terminal, whoever wrote the text: C0 and C1
//! control characters (an escape sequence colours or retitles a terminal; XML 1.0 has no
//! place for them, so a Word or course-package file holding one is "damaged") and the
//! bidirectional overrides and isolates that make text read otherwise than it is stored.

/// Whether `c` is a bidirectional embedding, override, isolate or mark.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// `text` without control characters and bidirectional controls; line breaks are kept
/// when `breaks` (a tab becomes a space), else every line break and tab becomes a space.
pub fn without_controls(text: &str, breaks: bool) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' if breaks => Some('\n'),
            '\r' if breaks => None,
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() || is_bidi_control(c) || c == '\u{FEFF}' => None,
            c => Some(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidirectional_overrides_are_removed() {
        let hostile = "Tides\u{1}\u{1b}[31m red\u{202e}txet\u{0}\u{85}\u{7f}";
        assert_eq!(without_controls(hostile, false), "Tides[31m redtxet");
        assert_eq!(without_controls("a\r\nb\tc", true), "a\nb c");
        assert_eq!(without_controls("a\r\nb\tc", false), "a  b c");
        // Scripts that need joiners keep them.
        assert_eq!(without_controls("क्‍ष 👩‍🏫", false), "क्‍ष 👩‍🏫");
    }
}
