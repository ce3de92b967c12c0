//! Exports of one network or cluster for analysts' graph tools: JSON (the full view) and GraphML
//! (Gephi, yEd, Cytoscape, NetworkX): ads and the contacts that tie them are nodes; an ad is joined
//! to each tying contact it prints, and near-duplicate ads are joined to each other.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::view::GroupView;

/// Attributes declared in the GraphML header: (id, applies to, name, type).
const KEYS: &[(&str, &str, &str, &str)] = &[
    ("kind", "node", "kind", "string"),
    ("label", "node", "label", "string"),
    ("score", "node", "score", "double"),
    ("lang", "node", "lang", "string"),
    ("office", "node", "office", "string"),
    ("publication", "node", "publication", "string"),
    ("seen", "node", "seen", "string"),
    ("relation", "edge", "relation", "string"),
    ("similarity", "edge", "similarity", "double"),
];

/// The group as GraphML. Contacts that link nothing (stop-listed, common) are left out, as they
/// are left out of the links.
pub fn graphml(g: &GroupView) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
    );
    for (id, on, name, ty) in KEYS {
        let _ = writeln!(
            out,
            "  <key id=\"{id}\" for=\"{on}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
        );
    }
    let _ = writeln!(
        out,
        "  <graph id=\"{}-{}\" edgedefault=\"undirected\">",
        g.kind.column(),
        g.id
    );
    for ad in &g.ads {
        let attrs = [
            ("kind", Some("ad".to_string())),
            ("label", Some(ad.ext_id.clone())),
            ("score", Some(ad.score.to_string())),
            ("lang", ad.lang.clone()),
            ("office", ad.office.clone()),
            ("publication", ad.publication.clone()),
            ("seen", Some(ad.seen.clone())),
        ];
        node(&mut out, &format!("ad{}", ad.id), &attrs);
    }
    let ties: Vec<_> = g.contacts.iter().filter(|c| c.ties()).collect();
    for (n, c) in ties.iter().enumerate() {
        let attrs = [
            ("kind", Some("contact".to_string())),
            ("label", Some(c.contact.clone())),
        ];
        node(&mut out, &format!("c{n}"), &attrs);
    }
    for (n, c) in ties.iter().enumerate() {
        for ad in &c.ads {
            let _ = writeln!(
                out,
                "    <edge source=\"ad{ad}\" target=\"c{n}\"><data key=\"relation\">prints</data></edge>"
            );
        }
    }
    for t in &g.template_links {
        let _ = writeln!(
            out,
            "    <edge source=\"ad{}\" target=\"ad{}\"><data key=\"relation\">template</data><data key=\"similarity\">{}</data></edge>",
            t.ad, t.other, t.similarity
        );
    }
    out.push_str("  </graph>\n</graphml>\n");
    out
}

/// One `<node>` with the attributes that have a value.
fn node(out: &mut String, id: &str, attrs: &[(&str, Option<String>)]) {
    let _ = write!(out, "    <node id=\"{id}\">");
    for (key, value) in attrs {
        if let Some(v) = value {
            let _ = write!(out, "<data key=\"{key}\">{}</data>", escape(v.as_str()));
        }
    }
    out.push_str("</node>\n");
}
