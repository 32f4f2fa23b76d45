//! Model-name globs: `*` (any run of characters, also empty) and `?` (exactly one character),
//! ASCII case-insensitive. Also a containment test used to find shadowed rules.
//!
//! Owns: glob semantics for routes, backend `models` and price patterns. Must not: allocate on
//! the matching path.

/// `true` when `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position after the last `*` seen, and the text position it is currently absorbing up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    pi += 1;
                    star = Some((pi, ti));
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti += utf8_len(t[ti]);
                    continue;
                }
                c if c.eq_ignore_ascii_case(&t[ti]) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                let next = st + utf8_len(t[st]);
                star = Some((sp, next));
                pi = sp;
                ti = next;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1, // continuation byte: never a start position here, advance safely
    }
}

/// `true` when `pattern` contains a wildcard.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
    Many,
}

fn tokens(p: &str) -> Vec<Tok> {
    p.chars()
        .map(|c| match c {
            '*' => Tok::Many,
            '?' => Tok::One,
            c => Tok::Lit(c.to_ascii_lowercase()),
        })
        .collect()
}

/// `true` when every name matched by `specific` is also matched by `general` (so a rule with
/// `specific` placed after one with `general` can never fire). Sound, not complete: it may miss
/// exotic equivalences such as `?*` vs `*?`, never reports a false cover.
pub fn covers(general: &str, specific: &str) -> bool {
    let g = tokens(general);
    let s = tokens(specific);
    let (m, n) = (g.len(), s.len());
    // dp[i][j]: g[i..] covers s[j..]; computed backwards.
    let mut dp = vec![vec![false; n + 1]; m + 1];
    dp[m][n] = true;
    for i in (0..m).rev() {
        for j in (0..=n).rev() {
            dp[i][j] = match g[i] {
                Tok::Many => dp[i + 1][j] || (j < n && dp[i][j + 1]),
                Tok::One => j < n && matches!(s[j], Tok::Lit(_) | Tok::One) && dp[i + 1][j + 1],
                Tok::Lit(c) => j < n && s[j] == Tok::Lit(c) && dp[i + 1][j + 1],
            };
        }
    }
    dp[0][0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward char-vector matcher `matches` must agree with.
    fn glob_reference(pattern: &str, text: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_reference(pattern in "[ab\u{e9}\u{6f22}*?-]{0,8}", text in "[ab\u{e9}\u{6f22}-]{0,10}") {
            proptest::prop_assert_eq!(matches(&pattern, &text), glob_reference(&pattern, &text));
        }
    }

    #[test]
    fn price_patterns() {
        assert!(matches("claude-*", "claude-sonnet-4-5"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("a*b*c", "abcbc"));
        assert!(!matches("a*b*c", "abx"));
        assert!(matches("gpt-?o", "gpt-4o"));
        assert!(!matches("gpt-?o", "gpt-40o"));
        // `?` is one character, not one byte; literals may be multi-byte.
        assert!(matches("t?kyo", "tōkyo"));
        assert!(!matches("t??kyo", "tōkyo"));
        assert!(matches("*ō*", "tōkyō"));
        assert!(matches("é*✓", "é ünï ✓"));
        assert!(!matches("é*✓", "é ünï"));
        assert!(matches("**", "x"));
        assert!(!matches("", "x"));
        assert!(matches("o3", "o3"));
        assert!(!matches("o3", "o3-mini"));
        assert!(matches("**x", "x"));
    }

    #[test]
    fn matching() {
        let yes = [
            ("*", ""),
            ("*", "anything"),
            ("claude-*", "claude-sonnet-4-5"),
            ("claude-*", "Claude-Opus"),
            ("gpt-4?", "gpt-4o"),
            ("o1*", "o1"),
            ("o1*", "o1-preview"),
            ("*llama*", "meta-llama/llama-3.1-70b"),
            ("a*b*c", "aXbYc"),
            ("a*b*c", "abbbc"),
            ("??", "éx"),
            ("é*", "école"),
            ("qwen-*:*", "qwen-2:7b"),
        ];
        for (p, t) in yes {
            assert!(matches(p, t), "{p} should match {t}");
        }
        let no = [
            ("claude-*", "claude"),
            ("gpt-4?", "gpt-4"),
            ("gpt-4?", "gpt-4oo"),
            ("o1*", "xo1"),
            ("a*b*c", "acb"),
            ("", "x"),
            ("?", ""),
            ("???", "éx"),
        ];
        for (p, t) in no {
            assert!(!matches(p, t), "{p} should not match {t}");
        }
        assert!(matches("", ""));
    }

    #[test]
    fn containment() {
        assert!(covers("*", "claude-*"));
        assert!(covers("claude-*", "claude-sonnet-*"));
        assert!(covers("claude-*", "claude-sonnet-4-5"));
        assert!(covers("CLAUDE-*", "claude-x"));
        assert!(covers("gpt-?", "gpt-?"));
        assert!(covers("gpt-*", "gpt-?"));
        assert!(covers("*a*", "a*"));
        assert!(!covers("claude-sonnet-*", "claude-*"));
        assert!(!covers("gpt-?", "gpt-*"));
        assert!(!covers("a*", "*a"));
        assert!(!covers("x", "*"));
        assert!(covers("x", "x"));
    }

    #[test]
    fn covers_agrees_with_matches_on_samples() {
        // If `covers(g, s)`, every sample matched by `s` is matched by `g`.
        let pats = [
            "*", "a*", "*a", "a?", "?a*", "ab", "a*b", "*a*", "??", "a**",
        ];
        let samples = ["", "a", "b", "ab", "ba", "aa", "abb", "aab", "bab", "abab"];
        for g in pats {
            for s in pats {
                if covers(g, s) {
                    for t in samples {
                        if matches(s, t) {
                            assert!(matches(g, t), "covers({g},{s}) but {t}");
                        }
                    }
                }
            }
        }
    }
}
