//! `google.api.http` path templates: parsing (`/v1/pons/{pon.id}`, `{name=shelves/*}`,
//! `**`, `:verb`) and matching request paths against them.

/// One segment of a template after variables are flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    Single,
    /// `**`: the rest of the path (only last).
    Rest,
}

#[derive(Clone, Debug)]
struct Variable {
    /// Field path in the request message, e.g. `["pon", "id"]`.
    field_path: Vec<String>,
    /// Range of `segments` the variable covers.
    start: usize,
    end: usize,
}

#[derive(Clone, Debug)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

/// A variable's value captured by a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub field_path: Vec<String>,
    pub value: String,
}

impl PathTemplate {
    pub fn parse(source: &str) -> Result<Self, String> {
        let body = source
            .strip_prefix('/')
            .ok_or_else(|| format!("template `{source}` must start with /"))?;
        // A verb follows the last `:` outside braces.
        let (body, verb) = split_verb(body);
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let close = inner
                    .find('}')
                    .ok_or_else(|| format!("template `{source}` has an unclosed variable"))?;
                let (name, pattern) = match inner[..close].split_once('=') {
                    Some((name, pattern)) => (name, pattern),
                    None => (&inner[..close], "*"),
                };
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_segment(part, source)?);
                }
                variables.push(Variable {
                    field_path: name.split('.').map(str::to_string).collect(),
                    start,
                    end: segments.len(),
                });
                rest = &inner[close + 1..];
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                segments.push(parse_segment(&rest[..end], source)?);
                rest = &rest[end..];
            }
            rest = rest.strip_prefix('/').unwrap_or(rest);
        }
        if segments
            .iter()
            .rev()
            .skip(1)
            .any(|segment| *segment == Segment::Rest)
        {
            return Err(format!(
                "template `{source}`: `**` must be the last segment"
            ));
        }
        Ok(PathTemplate {
            source: source.to_string(),
            segments,
            variables,
            verb: verb.map(str::to_string),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The field paths bound by this template.
    pub fn field_paths(&self) -> impl Iterator<Item = &[String]> {
        self.variables
            .iter()
            .map(|variable| variable.field_path.as_slice())
    }

    /// The template in OpenAPI form, each variable named by [`parameter_name`]: `/v1/pons/{pon.id}`
    /// becomes `/v1/pons/{id}`, the same path as `/v1/pons/{id}` (OpenAPI forbids sibling templates
    /// that differ only in their names). A match still binds the variable's whole field path.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut index = 0;
        while index < self.segments.len() {
            out.push('/');
            if let Some(variable) = self
                .variables
                .iter()
                .find(|variable| variable.start == index)
            {
                out.push_str(&format!("{{{}}}", parameter_name(&variable.field_path)));
                index = variable.end;
            } else {
                match &self.segments[index] {
                    Segment::Literal(text) => out.push_str(text),
                    Segment::Single => out.push('*'),
                    Segment::Rest => out.push_str("**"),
                }
                index += 1;
            }
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// The variable bindings when `path` (already without query string) matches.
    pub fn matches(&self, path: &str) -> Option<Vec<Binding>> {
        let body = path.strip_prefix('/')?;
        let body = match &self.verb {
            Some(verb) => body.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => body,
        };
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        // Where each template segment's match starts in `parts`.
        let mut starts = Vec::with_capacity(self.segments.len() + 1);
        let mut position = 0;
        for segment in &self.segments {
            starts.push(position);
            match segment {
                Segment::Literal(text) => {
                    if parts.get(position) != Some(&text.as_str()) {
                        return None;
                    }
                    position += 1;
                }
                Segment::Single => {
                    if parts.get(position).is_none_or(|part| part.is_empty()) {
                        return None;
                    }
                    position += 1;
                }
                Segment::Rest => position = parts.len(),
            }
        }
        starts.push(position);
        if position != parts.len() {
            return None;
        }
        self.variables
            .iter()
            .map(|variable| {
                let raw = parts[starts[variable.start]..starts[variable.end]].join("/");
                let value = percent_decode(&raw)?;
                Some(Binding {
                    field_path: variable.field_path.clone(),
                    value,
                })
            })
            .collect()
    }
}

/// The name a path variable has in the OpenAPI document: the last part of its field path.
pub fn parameter_name(field_path: &[String]) -> &str {
    field_path.last().map_or("", String::as_str)
}

fn split_verb(body: &str) -> (&str, Option<&str>) {
    let last_close = body.rfind('}').map_or(0, |index| index + 1);
    match body[last_close..].rfind(':') {
        Some(offset) => {
            let colon = last_close + offset;
            (&body[..colon], Some(&body[colon + 1..]))
        }
        None => (body, None),
    }
}

fn parse_segment(part: &str, source: &str) -> Result<Segment, String> {
    match part {
        "" => Err(format!("template `{source}` has an empty segment")),
        "*" => Ok(Segment::Single),
        "**" => Ok(Segment::Rest),
        literal if literal.contains(['{', '}', '=']) => {
            Err(format!("template `{source}` has a bad segment `{literal}`"))
        }
        literal => Ok(Segment::Literal(literal.to_string())),
    }
}

/// Decodes `%XX` escapes; None when the result is not UTF-8 or an escape is broken.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template)
            .unwrap()
            .matches(path)
            .map(|bindings| {
                bindings
                    .into_iter()
                    .map(|binding| (binding.field_path.join("."), binding.value))
                    .collect()
            })
    }

    #[test]
    fn literal_and_single_variables() {
        assert_eq!(bind("/v1/pons", "/v1/pons"), Some(vec![]));
        assert_eq!(bind("/v1/pons", "/v1/pons/x"), None);
        assert_eq!(
            bind("/v1/pons/{id}", "/v1/pons/abc"),
            Some(vec![("id".into(), "abc".into())])
        );
        assert_eq!(bind("/v1/pons/{id}", "/v1/pons/"), None);
        assert_eq!(
            bind("/v1/pons/{pon.id}", "/v1/pons/a%20b"),
            Some(vec![("pon.id".into(), "a b".into())])
        );
    }

    #[test]
    fn multi_segment_variables_rest_and_verbs() {
        assert_eq!(
            bind("/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books/2"),
            Some(vec![("name".into(), "shelves/1/books/2".into())])
        );
        assert_eq!(
            bind("/v1/files/{path=**}", "/v1/files/a/b/c"),
            Some(vec![("path".into(), "a/b/c".into())])
        );
        assert_eq!(
            bind("/v1/tasks/{id}:complete", "/v1/tasks/7:complete"),
            Some(vec![("id".into(), "7".into())])
        );
        assert_eq!(bind("/v1/tasks/{id}:complete", "/v1/tasks/7"), None);
    }

    #[test]
    fn bad_templates_are_rejected() {
        assert!(PathTemplate::parse("v1/pons").is_err());
        assert!(PathTemplate::parse("/v1/{id").is_err());
        assert!(PathTemplate::parse("/v1/**/x").is_err());
        assert!(PathTemplate::parse("/v1//x").is_err());
    }

    #[test]
    fn openapi_form() {
        let template = PathTemplate::parse("/v1/pons/{pon.id}").unwrap();
        assert_eq!(template.openapi_path(), "/v1/pons/{id}");
        let verb = PathTemplate::parse("/v1/users/{user.id}:setActive").unwrap();
        assert_eq!(verb.openapi_path(), "/v1/users/{id}:setActive");
        assert_eq!(
            template.field_paths().next().unwrap(),
            ["pon".to_string(), "id".to_string()]
        );
    }

    #[test]
    fn broken_escapes_do_not_match() {
        assert_eq!(bind("/v1/pons/{id}", "/v1/pons/%zz"), None);
    }

    mod properties {
        //! Arbitrary paths never panic the matcher, and a path rendered from a template with
        //! arbitrary values matches back to those values.
        use proptest::prelude::*;

        use super::*;

        const TEMPLATES: &[&str] = &[
            "/v1/pons/{id}",
            "/v1/pons/{pon.id}",
            "/v1/users/{id}:setActive",
            "/v1/pons/{pon_id}/geofence/polygon",
            "/v1/{name=shelves/*/books/*}",
            "/v1/files/{path=**}",
            "/v1/{a.b}/x/{c}",
        ];

        /// Every byte but the unreserved ones as `%XX`.
        fn encode(value: &str) -> String {
            value
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        char::from(byte).to_string()
                    }
                    _ => format!("%{byte:02X}"),
                })
                .collect()
        }

        /// The path of `template` with its `*` and `**` segments taken from `values` (`**` takes
        /// two), and the bindings a match should give.
        fn render(template: &PathTemplate, values: &[String]) -> (String, Vec<Binding>) {
            let mut values = values.iter();
            let mut next = || values.next().expect("enough values").clone();
            let pieces: Vec<(String, String)> = template
                .segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(text) => (text.clone(), text.clone()),
                    Segment::Single => {
                        let value = next();
                        (encode(&value), value)
                    }
                    Segment::Rest => {
                        let (first, second) = (next(), next());
                        (
                            format!("{}/{}", encode(&first), encode(&second)),
                            format!("{first}/{second}"),
                        )
                    }
                })
                .collect();
            let mut path: String = pieces.iter().map(|(raw, _)| format!("/{raw}")).collect();
            if let Some(verb) = &template.verb {
                path.push(':');
                path.push_str(verb);
            }
            let bindings = template
                .variables
                .iter()
                .map(|variable| Binding {
                    field_path: variable.field_path.clone(),
                    value: pieces[variable.start..variable.end]
                        .iter()
                        .map(|(_, value)| value.as_str())
                        .collect::<Vec<_>>()
                        .join("/"),
                })
                .collect();
            (path, bindings)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_paths_never_panic(path in "\\PC{0,64}", raw in "[/%:a-z0-9{}*=.]{0,32}") {
                for source in TEMPLATES {
                    let template = PathTemplate::parse(source).unwrap();
                    let _ = template.matches(&path);
                    let _ = template.matches(&raw);
                }
                let _ = PathTemplate::parse(&raw).map(|template| template.matches(&path));
                let _ = percent_decode(&raw);
            }

            #[test]
            fn rendered_paths_match_back(
                source in prop::sample::select(TEMPLATES),
                values in prop::collection::vec("\\PC{1,12}", 6),
            ) {
                let template = PathTemplate::parse(source).unwrap();
                let (path, expected) = render(&template, &values);
                prop_assert_eq!(template.matches(&path), Some(expected), "path {}", path);
            }
        }
    }
}
