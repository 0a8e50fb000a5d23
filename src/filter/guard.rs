//! Checks on a filter's raw text before any parser sees it.
//!
//! The CQL2 parser descends recursively: a filter nested a few thousand levels deep, or a chain
//! of a few thousand right-associative comparisons, would exhaust a worker's stack. Counting
//! brackets and operators in one linear pass outside string literals bounds that recursion
//! before it starts.

use super::FilterError;

/// The deepest nesting of brackets (parentheses in text, arrays and objects in JSON).
pub const MAX_DEPTH: usize = 24;
/// The most operators (comparison, logical, arithmetic symbols and keywords) in a filter.
pub const MAX_OPERATORS: usize = 200;

/// Checks a cql2-text filter's nesting and operator count, and rewrites `\'` inside a string
/// literal to the `''` that CQL2 1.0 defines, so that both spellings of an embedded quote work.
///
/// ```
/// use kat::filter::guard::prepare_text;
/// assert_eq!(prepare_text(r"name = 'L\'Estère'").unwrap(), "name = 'L''Estère'");
/// assert!(prepare_text(&"(".repeat(100)).is_err());
/// ```
pub fn prepare_text(text: &str) -> Result<String, FilterError> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut chars = text.char_indices().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, operators: &mut usize| {
        if !word.is_empty() {
            let w = word.to_ascii_lowercase();
            if matches!(
                w.as_str(),
                "and" | "or" | "not" | "like" | "in" | "between" | "is" | "div"
            ) {
                *operators += 1;
            }
            word.clear();
        }
    };
    while let Some((at, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == '.' || c == ':' {
            word.push(c);
            out.push(c);
            continue;
        }
        flush(&mut word, &mut operators);
        match c {
            '\'' => {
                out.push('\'');
                // A string literal: `''` and `\'` are a quote inside it.
                loop {
                    match chars.next() {
                        None => {
                            return Err(FilterError::Syntax {
                                at,
                                problem: "a string opened here is never closed: end it with '"
                                    .into(),
                            })
                        }
                        Some((_, '\\')) if chars.peek().map(|(_, c)| *c) == Some('\'') => {
                            chars.next();
                            out.push_str("''");
                        }
                        Some((_, '\'')) => {
                            if chars.peek().map(|(_, c)| *c) == Some('\'') {
                                chars.next();
                                out.push_str("''");
                            } else {
                                out.push('\'');
                                break;
                            }
                        }
                        Some((_, c)) => out.push(c),
                    }
                }
            }
            '"' => {
                out.push('"');
                loop {
                    match chars.next() {
                        None => {
                            return Err(FilterError::Syntax {
                                at,
                                problem:
                                    "a quoted name opened here is never closed: end it with \""
                                        .into(),
                            })
                        }
                        Some((_, '"')) => {
                            out.push('"');
                            if chars.peek().map(|(_, c)| *c) == Some('"') {
                                chars.next();
                                out.push('"');
                            } else {
                                break;
                            }
                        }
                        Some((_, c)) => out.push(c),
                    }
                }
            }
            '(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(FilterError::TooDeep { at });
                }
                out.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                out.push(c);
            }
            '=' | '<' | '>' | '!' | '*' | '/' | '%' | '^' => {
                operators += 1;
                out.push(c);
            }
            '+' | '-' => {
                // A sign before a digit is part of a number (a coordinate), not an operator.
                if !chars.peek().is_some_and(|(_, n)| n.is_ascii_digit()) {
                    operators += 1;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        if operators > MAX_OPERATORS {
            return Err(FilterError::TooManyTerms { at });
        }
    }
    flush(&mut word, &mut operators);
    if operators > MAX_OPERATORS {
        return Err(FilterError::TooManyTerms { at: text.len() });
    }
    Ok(out)
}

/// Checks a cql2-json filter's nesting and size before it is deserialized.
pub fn check_json(text: &str) -> Result<(), FilterError> {
    let mut depth = 0usize;
    let mut objects = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(FilterError::TooDeep { at });
                }
                if b == b'{' {
                    objects += 1;
                    if objects > MAX_OPERATORS {
                        return Err(FilterError::TooManyTerms { at });
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_and_backslashed_quotes_both_stay_inside_the_string() {
        assert_eq!(prepare_text("a = 'it''s'").unwrap(), "a = 'it''s'");
        assert_eq!(prepare_text(r"a = 'it\'s'").unwrap(), "a = 'it''s'");
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let s = format!("a = '{}'", "(".repeat(500));
        assert!(prepare_text(&s).is_ok());
    }

    #[test]
    fn long_chains_of_operators_are_refused() {
        let s = "a=".repeat(MAX_OPERATORS + 1) + "1";
        assert!(matches!(
            prepare_text(&s),
            Err(FilterError::TooManyTerms { .. })
        ));
        let s = "NOT ".repeat(MAX_OPERATORS + 1) + "a = 1";
        assert!(prepare_text(&s).is_err());
    }

    #[test]
    fn negative_coordinates_are_not_operators() {
        let ring: Vec<String> = (0..300).map(|i| format!("-72.{i} 18.5")).collect();
        let s = format!("S_INTERSECTS(geometry, LINESTRING({}))", ring.join(","));
        assert!(prepare_text(&s).is_ok());
    }

    #[test]
    fn deep_json_is_refused() {
        let s = "[".repeat(MAX_DEPTH + 1);
        assert!(matches!(check_json(&s), Err(FilterError::TooDeep { .. })));
        assert!(check_json(
            r#"{"op":"=","args":[{"property":"a"},"[[[[[[[[[[[[[[[[[[[[[[[[[[["]}"#
        )
        .is_ok());
    }
}
