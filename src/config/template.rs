//! `{name}` templates over a cell's variables.
//!
//! `{{` and `}}` stand for literal braces, so shell snippets such as `${HOME}` must be
//! written `${{HOME}}`; a `$` directly before `{` is also left alone, so `${HOME}` works too.

use std::collections::BTreeMap;

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// `{name}` names no variable at all.
    Unknown { name: String, offset: usize },
    /// `{name}` is a known variable that this cell does not define (e.g. `{cuda}` in a cpu cell).
    Missing { name: String, offset: usize },
    /// An unclosed `{` or a stray `}`.
    Syntax {
        offset: usize,
        message: &'static str,
    },
}

/// Where template variables come from.
pub(crate) trait Vars {
    /// `None`: no such variable. `Some(None)`: a known variable this cell does not define.
    fn lookup(&self, name: &str) -> Option<Option<&str>>;
}

impl Vars for BTreeMap<String, Option<String>> {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        self.get(name).map(Option::as_deref)
    }
}

/// Expand `template`; `offset`s in errors are byte offsets into `template`.
pub(crate) fn expand(template: &str, vars: &impl Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                out.push('{');
                i += 2;
            }
            // Shell parameter expansion, `${VAR}`: not ours.
            b'{' if i > 0 && bytes[i - 1] == b'$' => {
                let end = template[i..].find('}').ok_or(TemplateError::Syntax {
                    offset: i,
                    message: "unclosed `${`",
                })?;
                out.push_str(&template[i..=i + end]);
                i += end + 1;
            }
            b'{' => {
                let end = template[i + 1..].find('}').ok_or(TemplateError::Syntax {
                    offset: i,
                    message: "unclosed `{` (write `{{` for a literal brace)",
                })?;
                let name = template[i + 1..i + 1 + end].trim();
                match vars.lookup(name) {
                    Some(Some(value)) => out.push_str(value),
                    Some(None) => {
                        return Err(TemplateError::Missing {
                            name: name.to_string(),
                            offset: i,
                        });
                    }
                    None => {
                        return Err(TemplateError::Unknown {
                            name: name.to_string(),
                            offset: i,
                        });
                    }
                }
                i += end + 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                out.push('}');
                i += 2;
            }
            b'}' => {
                return Err(TemplateError::Syntax {
                    offset: i,
                    message: "stray `}` (write `}}` for a literal brace)",
                });
            }
            _ => {
                // Copy the run up to the next brace in one go (braces are ASCII, so this
                // never splits a UTF-8 sequence).
                let next = bytes[i..]
                    .iter()
                    .position(|&b| b == b'{' || b == b'}')
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&template[i..next]);
                i = next;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, Option<String>> {
        let mut v = BTreeMap::new();
        v.insert("torch".into(), Some("2.4.0".into()));
        v.insert("cuda".into(), None);
        v
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(
            expand("img:{torch}-{{x}}-${HOME}-é", &vars()).unwrap(),
            "img:2.4.0-{x}-${HOME}-é"
        );
    }

    #[test]
    fn reports_missing_unknown_and_syntax() {
        assert_eq!(
            expand("a{cuda}", &vars()),
            Err(TemplateError::Missing {
                name: "cuda".into(),
                offset: 1
            })
        );
        assert_eq!(
            expand("{tourch}", &vars()),
            Err(TemplateError::Unknown {
                name: "tourch".into(),
                offset: 0
            })
        );
        assert!(matches!(
            expand("{torch", &vars()),
            Err(TemplateError::Syntax { offset: 0, .. })
        ));
        assert!(matches!(
            expand("a}", &vars()),
            Err(TemplateError::Syntax { offset: 1, .. })
        ));
    }
}
