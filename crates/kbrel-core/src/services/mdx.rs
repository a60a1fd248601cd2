//! MDX documents, understood without rendering: the body parsed by markdown-rs with its MDX
//! constructs (ESM `import`/`export`, JSX elements, `{expressions}`), which gives the lint its
//! syntax errors (unbalanced or mismatched components, with a line) and the components a
//! document uses and imports; and a plain-markdown form for consumers that cannot run MDX
//! ([`to_markdown`]), each component rendered as configured.
//!
//! Pure: text in, data out.

use std::collections::{BTreeMap, BTreeSet};

use markdown::mdast::{AttributeContent, AttributeValue, Node};
use markdown::{Constructs, ParseOptions};

/// How [`to_markdown`] renders a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Render {
    /// Its children, each line quoted with `> ` (`Note`, `Warning`, …).
    Blockquote,
    /// Each child element a section headed by its `label`, `title` or `value` (`Tabs` of
    /// `Tab`s, `Steps` of `Step`s); other children as they are.
    Sections,
    /// Its children, the element itself left out (any component not configured).
    Children,
    /// Nothing.
    Drop,
}

/// The renderings built in; `[bundle.mdx_components]`-style maps add to and override them.
pub const BUILT_IN: [(&str, Render); 13] = [
    ("Admonition", Render::Blockquote),
    ("Callout", Render::Blockquote),
    ("Caution", Render::Blockquote),
    ("Check", Render::Blockquote),
    ("Danger", Render::Blockquote),
    ("Info", Render::Blockquote),
    ("Note", Render::Blockquote),
    ("Tip", Render::Blockquote),
    ("Warning", Render::Blockquote),
    ("Tabs", Render::Sections),
    ("CodeGroup", Render::Sections),
    ("Steps", Render::Sections),
    ("AccordionGroup", Render::Sections),
];

/// One component used by a document: its name as written (`Tabs`, `Foo.Bar`) and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub name: String,
    pub line: usize,
}

/// What the lint needs to know of an MDX body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Names the file's ESM binds (`import Tabs from …`, `import { A, B as C } from …`,
    /// `export const X = …`).
    pub bound: BTreeSet<String>,
    /// Components (capitalised or dotted JSX names) in document order.
    pub components: Vec<Use>,
}

/// A syntax error: the 1-based line of the file and markdown-rs's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

fn options() -> ParseOptions {
    ParseOptions {
        // ESM is taken as written up to the next blank line (no JavaScript parser: kbrel
        // neither runs nor bundles it, and reads only the names it binds).
        mdx_esm_parse: Some(Box::new(|_: &str| markdown::MdxSignal::Ok)),
        constructs: Constructs {
            gfm_autolink_literal: true,
            gfm_footnote_definition: true,
            gfm_label_start_footnote: true,
            gfm_strikethrough: true,
            gfm_table: true,
            gfm_task_list_item: true,
            ..Constructs::mdx()
        },
        ..ParseOptions::mdx()
    }
}

/// Parse an MDX body whose first line is line `first_line` of its file.
fn parse(body: &str, first_line: usize) -> Result<Node, SyntaxError> {
    markdown::to_mdast(body, &options()).map_err(|m| {
        let line = match m.place.as_deref() {
            Some(markdown::message::Place::Point(p)) => p.line,
            Some(markdown::message::Place::Position(p)) => p.start.line,
            None => 1,
        };
        let mut message = file_places(&m.reason, first_line);
        // The line itself, so the message says what is wrong without opening the file.
        if let Some(text) = body.lines().nth(line.saturating_sub(1)).map(str::trim)
            && !text.is_empty()
        {
            let text: String = text.chars().take(80).collect();
            message.push_str(&format!(": `{text}`"));
        }
        SyntaxError {
            line: first_line + line.saturating_sub(1),
            message,
        }
    })
}

/// markdown-rs names places in its messages as `(line:column)` of the body: say them as lines
/// of the file (`(3:3)` in a body starting on line 5 → `(line 7)`).
fn file_places(reason: &str, first_line: usize) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let place = after.find(')').and_then(|close| {
            let (l, c) = after[..close].split_once(':')?;
            let line: usize = l.parse().ok()?;
            c.parse::<usize>().ok()?;
            Some((line, close))
        });
        match place {
            Some((line, close)) => {
                out.push_str(&format!("(line {})", first_line + line.saturating_sub(1)));
                rest = &after[close + 1..];
            }
            None => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a JSX name is a component (MDX's rule: capitalised, or a member expression);
/// lowercase names are HTML elements.
pub fn is_component(name: &str) -> bool {
    name.contains('.') || name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Parse an MDX body (the text after the front matter; `first_line` is the line it starts on
/// in the file) into the names it binds and the components it uses.
pub fn analyse(body: &str, first_line: usize) -> Result<Analysis, SyntaxError> {
    let tree = parse(body, first_line)?;
    let mut out = Analysis::default();
    visit(&tree, &mut |node| match node {
        Node::MdxjsEsm(esm) => out.bound.extend(esm_bindings(&esm.value)),
        Node::MdxJsxFlowElement(e) => {
            push_use(&mut out, e.name.as_deref(), e.position.as_ref(), first_line)
        }
        Node::MdxJsxTextElement(e) => {
            push_use(&mut out, e.name.as_deref(), e.position.as_ref(), first_line)
        }
        _ => {}
    });
    Ok(out)
}

fn push_use(
    out: &mut Analysis,
    name: Option<&str>,
    pos: Option<&markdown::unist::Position>,
    first_line: usize,
) {
    if let Some(name) = name.filter(|n| is_component(n)) {
        out.components.push(Use {
            name: name.to_string(),
            line: first_line + pos.map_or(1, |p| p.start.line) - 1,
        });
    }
}

fn visit<'a>(node: &'a Node, f: &mut impl FnMut(&'a Node)) {
    f(node);
    if let Some(children) = node.children() {
        for c in children {
            visit(c, f);
        }
    }
}

/// The names an ESM block binds: default, named (`as` renames), namespace imports, and
/// `export const|let|var|function|class Name`. A small reading of the statement forms MDX
/// files use, not a JavaScript parser: anything else binds nothing.
pub fn esm_bindings(esm: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |s: &str| -> Option<String> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
        ok.then(|| s.to_string())
    };
    // One statement per `import`/`export` line and the lines that continue it.
    let mut stmts: Vec<String> = Vec::new();
    for line in esm.lines() {
        let t = line.trim_start();
        if t.starts_with("import ") || t.starts_with("import{") || t.starts_with("export ") {
            stmts.push(t.to_string());
        } else if let Some(last) = stmts.last_mut() {
            last.push(' ');
            last.push_str(t);
        }
    }
    for stmt in &stmts {
        let stmt = stmt.trim().trim_end_matches(';');
        if let Some(rest) = stmt.strip_prefix("export ") {
            let rest = rest.trim_start();
            for kw in ["const ", "let ", "var ", "function ", "class "] {
                if let Some(r) = rest.strip_prefix(kw) {
                    let name: String = r
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                        .collect();
                    out.extend(ident(&name));
                }
            }
            continue;
        }
        let stmt = stmt.trim_start_matches("import").trim();
        let Some((clause, _)) = stmt.rsplit_once(" from ") else {
            continue;
        };
        let mut clause = clause.trim();
        if let Some(open) = clause.find('{') {
            let close = clause[open..].find('}').map_or(clause.len(), |c| open + c);
            for part in clause[open + 1..close].split(',') {
                let name = part.rsplit(" as ").next().unwrap_or(part);
                out.extend(ident(name));
            }
            clause = &clause[..open];
        }
        for part in clause.split(',') {
            let part = part.trim();
            if let Some(ns) = part.strip_prefix("* as ") {
                out.extend(ident(ns));
            } else {
                out.extend(ident(part));
            }
        }
    }
    out
}

/// The plain-markdown form of an MDX body: ESM and `{expressions}` left out, every component
/// rendered as `renders` (over [`BUILT_IN`]) says, anything not named by its children;
/// markdown between components kept as written. Lowercase (HTML) elements are kept.
pub fn to_markdown(body: &str, renders: &BTreeMap<String, Render>) -> Result<String, SyntaxError> {
    let tree = parse(body, 1)?;
    let mut map: BTreeMap<&str, Render> = BUILT_IN.into_iter().collect();
    for (k, v) in renders {
        map.insert(k, *v);
    }
    let r = Renderer { src: body, map };
    let Some(children) = tree.children() else {
        return Ok(body.to_string());
    };
    let mut depth = 1;
    let text = r.range(0, body.len(), children, &mut depth);
    // Removed ESM leaves runs of blank lines behind: at most one blank line in a row, none
    // at the start, one newline at the end.
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if line.trim().is_empty() && !in_fence {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end_matches(' '));
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

struct Renderer<'s> {
    src: &'s str,
    map: BTreeMap<&'s str, Render>,
}

fn span(node: &Node) -> Option<(usize, usize)> {
    node.position().map(|p| (p.start.offset, p.end.offset))
}

impl Renderer<'_> {
    /// `src[start..end]` with `nodes` (the children covering it, in order) rendered.
    fn range(&self, start: usize, end: usize, nodes: &[Node], depth: &mut u8) -> String {
        let mut out = String::new();
        let mut at = start;
        for node in nodes {
            let Some((s, e)) = span(node) else { continue };
            if s < at || e > end {
                continue;
            }
            out.push_str(&self.src[at..s]);
            out.push_str(&self.node(node, depth));
            at = e;
        }
        out.push_str(&self.src[at..end]);
        out
    }

    fn node(&self, node: &Node, depth: &mut u8) -> String {
        let (s, e) = span(node).unwrap_or((0, 0));
        match node {
            Node::MdxjsEsm(_) | Node::MdxFlowExpression(_) | Node::MdxTextExpression(_) => {
                String::new()
            }
            // A component alone on its paragraph's line(s) (`<Warning>Text.</Warning>`) is
            // rendered as a block.
            Node::Paragraph(p)
                if p.children.len() == 1
                    && matches!(&p.children[0], Node::MdxJsxTextElement(el)
                        if el.name.as_deref().is_some_and(is_component)) =>
            {
                let Node::MdxJsxTextElement(el) = &p.children[0] else {
                    unreachable!("matched above")
                };
                self.element(
                    el.name.as_deref(),
                    &el.attributes,
                    &el.children,
                    s,
                    e,
                    depth,
                )
            }
            Node::Heading(h) => {
                *depth = h.depth;
                self.range(s, e, &h.children, depth)
            }
            Node::MdxJsxFlowElement(el) => self.element(
                el.name.as_deref(),
                &el.attributes,
                &el.children,
                s,
                e,
                depth,
            ),
            Node::MdxJsxTextElement(el) => {
                let name = el.name.as_deref().unwrap_or("");
                if !is_component(name) && !name.is_empty() {
                    return self.src[s..e].to_string();
                }
                match self.map.get(name).copied().unwrap_or(Render::Children) {
                    Render::Drop => String::new(),
                    _ => self.inner(&el.children, depth).trim().to_string(),
                }
            }
            other => match other.children() {
                Some(children) if !children.is_empty() => self.range(s, e, children, depth),
                _ => self.src[s..e].to_string(),
            },
        }
    }

    /// The children of an element, rendered and de-indented by the first child's column.
    fn inner(&self, children: &[Node], depth: &mut u8) -> String {
        let (Some(first), Some(last)) = (
            children.first().and_then(|c| c.position()),
            children.last().and_then(span),
        ) else {
            return String::new();
        };
        // From the start of the first child's line when only spaces precede it there, then
        // every line de-indented by the indentation all its non-blank lines share.
        let line_start = self.src[..first.start.offset]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let start = if self.src[line_start..first.start.offset]
            .bytes()
            .all(|b| b == b' ')
        {
            line_start
        } else {
            first.start.offset
        };
        let text = self.range(start, last.1, children, depth);
        let indent = text
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches(' ').len())
            .min()
            .unwrap_or(0);
        text.split('\n')
            .map(|l| &l[(l.len() - l.trim_start_matches(' ').len()).min(indent)..])
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn element(
        &self,
        name: Option<&str>,
        attrs: &[AttributeContent],
        children: &[Node],
        s: usize,
        e: usize,
        depth: &mut u8,
    ) -> String {
        let name = name.unwrap_or("");
        if !is_component(name) && !name.is_empty() {
            return self.src[s..e].to_string();
        }
        let render = self.map.get(name).copied().unwrap_or(Render::Children);
        match render {
            Render::Drop => String::new(),
            Render::Children => self.inner(children, depth),
            Render::Blockquote => {
                let mut body = self.inner(children, depth);
                if let Some(title) = label(attrs) {
                    body = format!("**{title}**\n\n{body}");
                } else if !BUILT_IN.iter().any(|(n, _)| *n == name) || name == "Callout" {
                    // Keep what kind of callout it was when the name says more than "note".
                } else if name != "Note" {
                    body = format!("**{name}:** {body}");
                }
                body.lines()
                    .map(|l| {
                        if l.is_empty() {
                            ">".to_string()
                        } else {
                            format!("> {l}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Render::Sections => {
                let level = (*depth + 1).min(6);
                let hashes = "#".repeat(level as usize);
                let mut parts: Vec<String> = Vec::new();
                for child in children {
                    match child {
                        Node::MdxJsxFlowElement(tab) => {
                            let mut inner_depth = level;
                            let text = self.inner(&tab.children, &mut inner_depth);
                            match label(&tab.attributes) {
                                Some(l) => parts.push(format!("{hashes} {l}\n\n{text}")),
                                None => parts.push(text),
                            }
                        }
                        other => parts.push(self.node(other, depth)),
                    }
                }
                parts.join("\n\n")
            }
        }
    }
}

/// The section or callout heading of an element: its `label`, `title` or `value` literal.
fn label(attrs: &[AttributeContent]) -> Option<String> {
    for want in ["label", "title", "value"] {
        for a in attrs {
            if let AttributeContent::Property(p) = a
                && p.name == want
                && let Some(AttributeValue::Literal(v)) = &p.value
                && !v.trim().is_empty()
            {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esm_bindings_read_the_import_forms() {
        let esm = "import Tabs from '@theme/Tabs';\nimport TabItem from \"@theme/TabItem\"\nimport { Note, Warning as W } from './c'\nimport * as Icons from 'icons'\nimport {\n  Card,\n  CardGroup\n} from 'x'\nexport const meta = { a: 1 }\nexport function Foo() {}";
        let mut got = esm_bindings(esm);
        got.sort();
        assert_eq!(
            got,
            [
                "Card",
                "CardGroup",
                "Foo",
                "Icons",
                "Note",
                "TabItem",
                "Tabs",
                "W",
                "meta"
            ]
        );
    }

    #[test]
    fn analyse_reports_components_with_file_lines() {
        let body = "import Tabs from '@theme/Tabs'\n\n# Title\n\n<Tabs>\n  <TabItem value=\"a\">\n\n  Text with <Badge /> inline.\n\n  </TabItem>\n</Tabs>\n\n<div>html</div>\n";
        let a = analyse(body, 5).unwrap();
        assert!(a.bound.contains("Tabs"));
        let uses: Vec<(&str, usize)> = a
            .components
            .iter()
            .map(|u| (u.name.as_str(), u.line))
            .collect();
        assert_eq!(uses, [("Tabs", 9), ("TabItem", 10), ("Badge", 12)]);
    }

    #[test]
    fn unbalanced_components_are_syntax_errors_on_their_line() {
        let e = analyse("# T\n\n<Tabs>\n  <Tab label=\"a\">\n\n  x\n\n</Tabs>\n", 4).unwrap_err();
        assert_eq!(e.line, 11, "{e:?}");
        assert!(e.message.contains("`<Tab>` (line 7)"), "{e:?}");
        let e = analyse("text\n\n</Note>\n", 1).unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
        let e = analyse("<Note>\n\nnever closed\n", 1).unwrap_err();
        assert!(e.message.contains("Note"), "{e:?}");
    }

    #[test]
    fn docusaurus_tabs_and_admonition_render_as_markdown() {
        let body = r#"import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';

## Install

<Tabs>
  <TabItem value="npm" label="npm">

  ```bash
  npm install @acme/sdk
  ```

  </TabItem>
  <TabItem value="yarn" label="Yarn">

  ```bash
  yarn add @acme/sdk
  ```

  </TabItem>
</Tabs>

<Note>
Restart the server after **installing**.
</Note>

Done {/* a comment */}.
"#;
        let md = to_markdown(body, &BTreeMap::new()).unwrap();
        insta::assert_snapshot!(md, @r"
        ## Install

        ### npm

        ```bash
        npm install @acme/sdk
        ```

        ### Yarn

        ```bash
        yarn add @acme/sdk
        ```

        > Restart the server after **installing**.

        Done .
        ");
    }

    #[test]
    fn mintlify_callouts_steps_and_unknown_components() {
        let body = r#"# Quickstart

<Steps>
  <Step title="Create a key">
    Open **Settings** and copy the key.
  </Step>
  <Step title="Call the API">
    Use <Tooltip tip="an API key">the key</Tooltip> in the header.
  </Step>
</Steps>

<Warning>Keys are secret.</Warning>

<Frame>
  <img src="/images/a.png" alt="A" />
</Frame>

<Hidden />
"#;
        let mut map = BTreeMap::new();
        map.insert("Hidden".to_string(), Render::Drop);
        let md = to_markdown(body, &map).unwrap();
        insta::assert_snapshot!(md, @r#"
        # Quickstart

        ## Create a key

        Open **Settings** and copy the key.

        ## Call the API

        Use the key in the header.

        > **Warning:** Keys are secret.

        <img src="/images/a.png" alt="A" />
        "#);
    }
}
