//! Stray fragments glued to words: what sampling pushed off a repeated phrase writes.

use super::tokens::is_number;

/// Small words a model never writes with a digit stuck to them.
const GLUE_WORDS: [&str; 24] = [
    "a", "an", "and", "are", "as", "at", "by", "for", "from", "in", "is", "its", "of", "on", "or",
    "that", "the", "their", "this", "to", "was", "were", "with", "which",
];

/// A stray fragment glued to a word, if `text` has one: a digit stuck to a small word
/// ("and2") or to a long word ("Laboratory20"), a digit after a comma with no space
/// ("balance,2"), digits hyphened onto a word ("real-5-0"), or a word cut after a hyphen at
/// the end ("the light-h"). Sampling pushed off a repeated phrase writes these.
pub fn glued(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        let bare = token.trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
        let letters = bare.trim_end_matches(|c: char| c.is_ascii_digit());
        let has_digits = letters.len() < bare.len();
        if has_digits && GLUE_WORDS.contains(&letters) {
            return Some(bare.to_string());
        }
        // "Laboratory20": digits stuck to a long word (names such as "Python3" or
        // "Windows10" are shorter).
        let lower_after_first = letters.chars().skip(1).all(|c| c.is_lowercase());
        let long_word = letters.chars().count() >= 8 && letters.chars().all(char::is_alphabetic);
        if has_digits && long_word && lower_after_first {
            return Some(bare.to_string());
        }
        // "balance,2": a letter, a comma, then only digits.
        if let Some((word, tail)) = bare.rsplit_once(',') {
            let after_letter = word.chars().last().is_some_and(char::is_alphabetic);
            if after_letter && is_number(tail) {
                return Some(bare.to_string());
            }
        }
        // "real-5-0": a lowercase word with two or more groups of digits hyphened on.
        let mut parts = bare.split('-');
        let head = parts.next().unwrap_or("");
        let tail: Vec<&str> = parts.collect();
        if head.chars().count() >= 3
            && head.chars().all(|c| c.is_lowercase())
            && tail.len() >= 2
            && tail.iter().all(|p| is_number(p))
        {
            return Some(bare.to_string());
        }
        // "light-h" ending the text: one letter after a hyphen.
        if i + 1 == tokens.len() {
            if let Some((word, tail)) = bare.rsplit_once('-') {
                let cut = tail.chars().count() == 1
                    && tail.chars().all(|c| c.is_lowercase())
                    && word.chars().count() >= 3
                    && word.chars().all(char::is_alphabetic);
                if cut {
                    return Some(bare.to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_glued_to_words_are_found() {
        for bad in [
            "including the production,2",
            "the production and2 of NADPH",
            "nutrient balance,2 in soils",
            "how plants use the light-h",
            "Name the5 main stages",
            "with practical exercises and real-5-0.",
            "Laboratory20",
        ] {
            assert!(glued(bad).is_some(), "{bad}");
        }
        for good in [
            "Carbon dioxide (CO2) and water",
            "Use Python 3 and HTML5",
            "Convert 1,000 grams, then 2,500",
            "Web3 and MP3 files",
            "An e-mail to a co-op",
            "Plan A-B testing",
            "Items 1, 2 and 3",
            "COVID-19 and covid-19 in 2020-2021",
            "Students aged 11-14 in grades 6-8",
            "Python3, Windows10 and Office365",
        ] {
            assert_eq!(glued(good), None, "{good}");
        }
    }
}
