//! CloudFormation's dynamic references (`{{resolve:ssm:…}}`) look like Tera expressions: they are
//! wrapped in `{% raw %}` before Tera sees the template, keeping every line where it is.

/// CloudFormation dynamic references, `{{resolve:<service>:<key>}}` (AWS's docs: "Get values stored in
/// other services using dynamic references"); AWS writes them without spaces.
const DYNAMIC_REFERENCE: &str = "{{resolve:";

/// Wraps each CloudFormation dynamic reference of a template source in `{% raw %}…{% endraw %}`,
/// so that Tera passes it through. References already inside a raw block or a comment are left
/// alone, and so is text inside a Tera tag (`{{ "{{resolve:…}}" }}` is the author's own escape).
/// The text's lines do not move, so errors still point at the right line.
pub fn protect_dynamic_references(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains(DYNAMIC_REFERENCE) {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 64);
    let mut rest = source;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (taken, wrapped) = if rest.starts_with(DYNAMIC_REFERENCE) {
            match rest.find("}}") {
                Some(end) => (end + 2, true),
                None => (rest.len(), false),
            }
        } else if rest.starts_with("{#") {
            (rest.find("#}").map_or(rest.len(), |e| e + 2), false)
        } else if rest.starts_with("{{") || rest.starts_with("{%") {
            let len = tera_tag_len(rest);
            if is_raw_open(&rest[..len]) {
                // Everything up to the matching `{% endraw %}` is the author's literal text.
                let end = find_endraw(&rest[len..]).map_or(rest.len(), |e| len + e);
                (end, false)
            } else {
                (len, false)
            }
        } else {
            (1, false)
        };
        if wrapped {
            out.push_str("{% raw %}");
            out.push_str(&rest[..taken]);
            out.push_str("{% endraw %}");
        } else {
            out.push_str(&rest[..taken]);
        }
        rest = &rest[taken..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The length of the Tera tag `text` opens with (`{{ … }}` or `{% … %}`), quoted strings skipped;
/// the rest of the text when it is not closed (Tera reports that).
fn tera_tag_len(text: &str) -> usize {
    let close = if text.starts_with("{{") { "}}" } else { "%}" };
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices().skip(2) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if text[i..].starts_with(close) => return i + 2,
            None => {}
        }
    }
    text.len()
}

/// `{% raw %}`, with Tera's whitespace control (`{%- raw -%}`).
fn is_raw_open(tag: &str) -> bool {
    tag.starts_with("{%")
        && tag.trim_start_matches("{%").trim_end_matches("%}").trim_matches('-').trim() == "raw"
}

/// Where the `{% endraw %}` tag (whitespace control allowed) that ends a raw block ends.
fn find_endraw(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("{%") {
        let start = from + at;
        let len = tera_tag_len(&text[start..]);
        if text[start..start + len]
            .trim_start_matches("{%")
            .trim_end_matches("%}")
            .trim_matches('-')
            .trim()
            == "endraw"
        {
            return Some(start + len);
        }
        from = start + 2;
    }
    None
}
