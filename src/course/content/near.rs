//! Items of one list that say the same thing, which small models write often ("Bee hive
//! care" beside "How can bee hive care be optimized?").

use super::tokens::words;

/// Whether two items of one list say the same thing: one holds the other word for word
/// ("Coral reefs" in "Coral reefs today"), or they differ only by a label before a colon
/// ("The Empire's Early Life: What was its history?" beside "What was its history?").
pub fn near_duplicate(a: &str, b: &str) -> bool {
    let core = |t: &str| match t.split_once(':') {
        Some((label, rest)) if words(label).len() <= 5 && words(rest).len() >= 2 => words(rest),
        _ => words(t),
    };
    // The same words after labels of any length ("Identify the Roman state: X" beside
    // "Understand the Roman state: X").
    let after = |t: &str| t.split_once(':').map(|(_, rest)| words(rest));
    if let (Some(x), Some(y)) = (after(a), after(b)) {
        if x.len() >= 3 && x == y {
            return true;
        }
    }
    // Whole items and their parts after a label, each against each.
    let (wa, wb, ca, cb) = (words(a), words(b), core(a), core(b));
    let pairs = [(&wa, &wb), (&ca, &cb), (&ca, &wb), (&wa, &cb)];
    pairs.iter().any(|(x, y)| {
        let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
        !short.is_empty()
            && (short.len() >= 2 || short.len() * 2 >= long.len())
            && long.windows(short.len()).any(|w| w == short.as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicate_items_are_found() {
        assert!(near_duplicate(
            "The Ottoman Empire's Early Life: What is the Ottoman Empire's history? How did it start",
            "What is the Ottoman Empire's history? How did it start"
        ));
        assert!(near_duplicate("Coral reefs", "Coral reefs and their fish"));
        assert!(near_duplicate("Light", "Light pollution"));
        assert!(near_duplicate(
            "Basics of Marine Biology: Exploring the evolution of marine organisms",
            "Exploring the evolution of marine organisms: The role of evolution in the sea"
        ));
        assert!(near_duplicate(
            "Activity 1: Build a timeline",
            "Activity 2: build a timeline"
        ));
        // Seen on the default model (10 topics not known before): labels of any length.
        assert!(near_duplicate(
            "Identify the Roman state and its government: Roman state is the government of the Roman Republic and its policies",
            "Understand the Roman state and its government: Roman state is the government of the Roman Republic and its policies."
        ));
        assert!(near_duplicate(
            "How can bee hive care be optimized for better pollination?",
            "Bee hive care"
        ));
        assert!(!near_duplicate(
            "Observe a hive for a week: keep a log",
            "Visit a local farm and interview a farmer: keep notes"
        ));
        for (a, b) in [
            ("Rhythm", "Rhythm and meter in songs"),
            ("Coral reefs", "Kelp forests"),
            ("Tides and currents", "Currents and tides"),
        ] {
            assert!(!near_duplicate(a, b), "{a} / {b}");
        }
    }
}
