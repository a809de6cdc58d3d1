//! vc-sm-cma's debugfs state file (`/sys/kernel/debug/vcsm-cma/state`, written by
//! drivers/vc-sm-cma/debugfs.rs), parsed once for `vcsm-tool status` and the guest tests.
//!
//! The parser is deliberately tolerant, so that its users keep working while the format grows:
//! a line is an optional leading word followed by `key=value` pairs; a word without `=` after
//! a pair continues that pair's value (names may contain spaces); lines that fit no pattern are
//! kept verbatim.

/// The state file's path.
pub const STATE_FILE: &str = "/sys/kernel/debug/vcsm-cma/state";

/// `key=value` pairs in file order.
pub type Pairs = Vec<(String, String)>;

/// The parsed state file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The `buffer ...` lines.
    pub buffers: Vec<Pairs>,
    /// Every other line of pairs, with its leading word (`""` for a line of pairs only).
    pub groups: Vec<(String, Pairs)>,
    /// Lines that are not pairs, verbatim (trimmed).
    pub unparsed: Vec<String>,
}

/// The value of `key` in `pairs` (the first one).
pub fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A `key=value` token: the key is an identifier (letters, digits, `_`, not starting with a
/// digit).
fn split_pair(token: &str) -> Option<(&str, &str)> {
    let (key, value) = token.split_once('=')?;
    let mut chars = key.chars();
    let first = chars.next()?;
    let ident =
        (first.is_ascii_alphabetic() || first == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then_some((key, value))
}

/// Pairs from whitespace-separated tokens; `None` unless the first token is a pair.
fn parse_pairs(tokens: &[&str]) -> Option<Pairs> {
    let mut pairs: Pairs = Vec::new();
    for token in tokens {
        match split_pair(token) {
            Some((k, v)) => pairs.push((k.to_owned(), v.to_owned())),
            None => {
                let (_, value) = pairs.last_mut()?;
                value.push(' ');
                value.push_str(token);
            }
        }
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// Parse the text of the state file. Never fails: what it cannot read ends up in
/// [`State::unparsed`].
pub fn parse(text: &str) -> State {
    let mut state = State::default();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if split_pair(tokens[0]).is_some() {
            if let Some(pairs) = parse_pairs(&tokens) {
                state.groups.push((String::new(), pairs));
                continue;
            }
        } else if let Some(pairs) = parse_pairs(&tokens[1..]) {
            if tokens[0] == "buffer" {
                state.buffers.push(pairs);
            } else {
                state.groups.push((tokens[0].to_owned(), pairs));
            }
            continue;
        }
        state.unparsed.push(line.to_owned());
    }
    state
}

impl State {
    /// The pairs of every line but the `buffer` lines and those whose leading word is in
    /// `skip`, in file order (a later line's key repeats an earlier one's).
    pub fn pairs_except<'a>(&'a self, skip: &'a [&str]) -> impl Iterator<Item = (String, String)> + 'a {
        self.groups
            .iter()
            .filter(move |(w, _)| !skip.contains(&w.as_str()))
            .flat_map(|(_, p)| p.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_pairs() {
        let s = parse(
            "buffer id=1 name=a b size=4096\nbuffers=1 bytes=4096\nfirmware present=yes model=Pi 3 B\npin tgid=7 pin_bytes=4096\nnot pairs here\n",
        );
        assert_eq!(s.buffers.len(), 1);
        assert_eq!(get(&s.buffers[0], "name"), Some("a b"));
        assert_eq!(s.groups[1].0, "firmware");
        assert_eq!(get(&s.groups[1].1, "model"), Some("Pi 3 B"));
        assert_eq!(s.unparsed, ["not pairs here"]);
        let keys: Vec<String> = s.pairs_except(&["pin"]).map(|(k, _)| k).collect();
        assert_eq!(keys, ["buffers", "bytes", "present", "model"]);
        assert_eq!(s.pairs_except(&[]).count(), 6);
    }

    #[test]
    fn pair_rules() {
        assert_eq!(split_pair("a=b"), Some(("a", "b")));
        assert_eq!(split_pair("name=a=b"), Some(("name", "a=b")));
        assert_eq!(split_pair("_x1="), Some(("_x1", "")));
        assert_eq!(split_pair("=b"), None);
        assert_eq!(split_pair("1a=b"), None);
        assert_eq!(split_pair("a-b=c"), None);
        assert_eq!(split_pair("plain"), None);
        // A value continues until the next pair.
        let p = parse_pairs(&["name=a", "b", "c", "size=1"]).unwrap();
        assert_eq!(p, [("name".to_owned(), "a b c".to_owned()), ("size".to_owned(), "1".to_owned())]);
        assert_eq!(parse_pairs(&["word", "a=1"]), None);
        assert_eq!(parse_pairs(&[]), None);
    }
}
