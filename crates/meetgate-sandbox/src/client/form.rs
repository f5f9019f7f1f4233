//! Just enough HTML reading to submit the sandbox's own forms the way a browser would.

/// A `<form>` with its fields as a browser would submit them (hidden and text inputs) and its
/// submit buttons.
#[derive(Debug, Default)]
pub struct Form {
    pub action: Option<String>,
    pub fields: Vec<(String, String)>,
    pub buttons: Vec<(String, String)>,
}

/// Decodes the entities minijinja and browsers use in attribute values.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse::<u32>().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Attributes of one tag's text (`<input type="hidden" name="a" value="b">`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else { break };
        attrs.push((name, unescape(&after[..close])));
        rest = &after[close + 1..];
    }
    attrs
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Tags named `name` in `html`, as the text between `<name` and `>`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(end) = after.find('>') else { break };
        found.push(&after[..end]);
        rest = &after[end..];
    }
    found
}

/// The first `method="post"` form of a page.
pub fn first_post_form(html: &str) -> Option<Form> {
    let start = html.find("<form")?;
    let body = &html[start..];
    let end = body.find("</form>").unwrap_or(body.len());
    let body = &body[..end];
    let form_tag = tags(body, "form").into_iter().next()?;
    let form_attrs = attributes(form_tag);
    if !attr(&form_attrs, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
        return None;
    }
    let mut form = Form {
        action: attr(&form_attrs, "action").map(str::to_owned),
        ..Form::default()
    };
    for tag in tags(body, "input") {
        let a = attributes(tag);
        let Some(name) = attr(&a, "name") else {
            continue;
        };
        let kind = attr(&a, "type").unwrap_or("text").to_ascii_lowercase();
        if kind == "submit" {
            form.buttons.push((
                name.to_owned(),
                attr(&a, "value").unwrap_or_default().to_owned(),
            ));
        } else {
            form.fields.push((
                name.to_owned(),
                attr(&a, "value").unwrap_or_default().to_owned(),
            ));
        }
    }
    for tag in tags(body, "button") {
        let a = attributes(tag);
        if let (Some(name), Some(value)) = (attr(&a, "name"), attr(&a, "value")) {
            form.buttons.push((name.to_owned(), value.to_owned()));
        }
    }
    Some(form)
}

/// The text of the element with `id="error"`, if the page shows one.
pub fn error_text(html: &str) -> Option<String> {
    let i = html.find("id=\"error\"")?;
    let after = &html[i..];
    let start = after.find('>')? + 1;
    let end = after[start..].find('<')? + start;
    Some(unescape(after[start..end].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_consent_form() {
        let html = r#"<p class="error" id="error">Incorrect &amp; wrong</p>
        <form method="post" action="http:&#x2f;&#x2f;x&#x2f;oauth&#x2f;authorize" id="consent">
          <input type="hidden" name="txn" value="a&quot;b">
          <input type="email" id="email" name="email" value="">
          <input type="password" id="password" name="password">
          <button type="submit" name="decision" value="allow" id="allow">Allow</button>
          <button type="submit" name="decision" value="deny">Decline</button>
        </form>"#;
        let f = first_post_form(html).expect("form");
        assert_eq!(f.action.as_deref(), Some("http://x/oauth/authorize"));
        assert_eq!(f.fields[0], ("txn".to_owned(), "a\"b".to_owned()));
        assert_eq!(f.fields.len(), 3);
        assert_eq!(f.buttons.len(), 2);
        assert_eq!(error_text(html).as_deref(), Some("Incorrect & wrong"));
    }
}
