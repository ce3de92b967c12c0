//! The input record of `shared/TAXONOMY.md`, validated field by field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Lang;
use crate::taxonomy::Indicator;

/// The longest ad text (or translation) accepted, in bytes. Print ads are ~300 bytes and job-portal
/// ads a few KB; anything longer is a pasted page or an attack, and is rejected.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// An English (or other) translation supplied with the ad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    /// Language of the translation.
    pub lang: Lang,
    /// The translated text.
    pub text: String,
}

/// One advertisement as submitted: text, optional translation, metadata, and for training data
/// the analyst's label.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdRecord {
    /// The submitter's id for the ad.
    pub id: String,
    /// The declared language of `text`, if any.
    pub lang: Option<Lang>,
    /// The ad text as printed.
    pub text: String,
    /// A translation, if the submitter supplied one.
    pub translation: Option<Translation>,
    /// 1 = suspicious, 0 = benign (training and evaluation only).
    pub label: Option<u8>,
    /// Indicator tags (training and evaluation only).
    pub indicators: Vec<Indicator>,
    /// Field office that canvassed the ad.
    pub office: Option<String>,
    /// Newspaper, flyer or board it was found in.
    pub publication: Option<String>,
    /// Date of publication, as given.
    pub published: Option<String>,
    /// Section of the publication.
    pub section: Option<String>,
    /// Who submitted it.
    pub submitted_by: Option<String>,
    /// Free-text notes from the field.
    pub notes: Option<String>,
    /// Fields adscreen does not know, kept as they came.
    pub extra: Map<String, Value>,
}

/// A field that failed validation, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The offending field (`text`, `lang`, …).
    pub field: String,
    /// What is wrong with it and how to fix it.
    pub reason: String,
}

impl FieldError {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

impl AdRecord {
    /// The SHA-256 of text and translation: what makes two records the same ad (the store keeps
    /// an ad once; an analyst's label on it overrides the corpus's in training).
    pub fn content_key(&self) -> String {
        let translation = self.translation.as_ref().map_or("", |t| t.text.as_str());
        crate::model::bundle::sha256_hex(format!("{}\u{0}{}", self.text, translation).as_bytes())
    }

    /// Builds a record from a JSON object, checking every field. `fallback_id` names records that
    /// carry no `id`.
    pub fn from_json(mut obj: Map<String, Value>, fallback_id: &str) -> Result<Self, FieldError> {
        let id = match obj.remove("id") {
            None | Some(Value::Null) => fallback_id.to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(FieldError::new("id", "must be a non-empty string")),
        };
        let text = ad_text(obj.remove("text"), "text")?;
        let lang = match obj.remove("lang") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.parse().map_err(|e| FieldError::new("lang", e))?),
            Some(_) => {
                return Err(FieldError::new(
                    "lang",
                    "must be a string: es, en, zh or ru",
                ))
            }
        };
        let translation = translation(obj.remove("translation"))?;
        let label = label(obj.remove("label"))?;
        let indicators = indicators(obj.remove("indicators"))?;
        Ok(AdRecord {
            id,
            lang,
            text,
            translation,
            label,
            indicators,
            office: metadata(&mut obj, "office"),
            publication: metadata(&mut obj, "publication"),
            published: metadata(&mut obj, "published"),
            section: metadata(&mut obj, "section"),
            submitted_by: metadata(&mut obj, "submitted_by"),
            notes: metadata(&mut obj, "notes"),
            extra: obj,
        })
    }
}

/// Metadata values are kept as strings; numbers (a year, an issue number) are accepted.
fn metadata(obj: &mut Map<String, Value>, key: &str) -> Option<String> {
    match obj.remove(key)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// A present, non-blank text within the size limit.
fn ad_text(v: Option<Value>, field: &str) -> Result<String, FieldError> {
    let text = match v {
        None | Some(Value::Null) => {
            return Err(FieldError::new(field, "missing: every ad needs its text"))
        }
        Some(Value::String(s)) => s,
        Some(_) => return Err(FieldError::new(field, "must be a string")),
    };
    if text.trim().is_empty() {
        return Err(FieldError::new(field, "empty or whitespace only"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(FieldError::new(
            field,
            format!(
                "{} bytes, over the limit of {MAX_TEXT_BYTES}: split the document into its ads",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// `translation` is an object `{lang, text}`; a bare string is taken as English.
fn translation(v: Option<Value>) -> Result<Option<Translation>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(s @ Value::String(_)) => Ok(Some(Translation {
            lang: Lang::En,
            text: ad_text(Some(s), "translation")?,
        })),
        Some(Value::Object(mut o)) => {
            let lang = match o.remove("lang") {
                None | Some(Value::Null) => Lang::En,
                Some(Value::String(s)) => s
                    .parse()
                    .map_err(|e| FieldError::new("translation.lang", e))?,
                Some(_) => return Err(FieldError::new("translation.lang", "must be a string")),
            };
            let text = ad_text(o.remove("text"), "translation.text")?;
            Ok(Some(Translation { lang, text }))
        }
        Some(_) => Err(FieldError::new(
            "translation",
            "must be an object {\"lang\", \"text\"} or a string",
        )),
    }
}

/// `label` is 0/1 (also accepted: "benign"/"suspicious", booleans).
fn label(v: Option<Value>) -> Result<Option<u8>, FieldError> {
    let label = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Bool(b)) => b as u8,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(x @ (0 | 1)) => x as u8,
            _ => return Err(FieldError::new("label", format!("{n} is not 0 or 1"))),
        },
        Some(Value::String(s)) => match s.trim() {
            "" => return Ok(None),
            "1" | "suspicious" => 1,
            "0" | "benign" => 0,
            other => {
                return Err(FieldError::new(
                    "label",
                    format!("{other:?} is not 0/1, suspicious/benign"),
                ))
            }
        },
        Some(_) => return Err(FieldError::new("label", "must be 0 or 1")),
    };
    Ok(Some(label))
}

/// `indicators` is a list of tag ids (or, from CSV, one string separated by `,` `;` or `|`).
fn indicators(v: Option<Value>) -> Result<Vec<Indicator>, FieldError> {
    let ids: Vec<String> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s
            .split([',', ';', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(FieldError::new("indicators", "must be a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(FieldError::new(
                "indicators",
                "must be a list of indicator ids",
            ))
        }
    };
    let mut tags: Vec<Indicator> = ids
        .iter()
        .map(|s| s.parse().map_err(|e| FieldError::new("indicators", e)))
        .collect::<Result<_, _>>()?;
    tags.sort();
    tags.dedup();
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<AdRecord, FieldError> {
        AdRecord::from_json(v.as_object().unwrap().clone(), "f:1")
    }

    #[test]
    fn keeps_unknown_fields_and_metadata() {
        let r = parse(json!({"id": "a", "text": "hola", "lang": "es", "office": "Lima", "foo": 3}))
            .unwrap();
        assert_eq!(r.office.as_deref(), Some("Lima"));
        assert_eq!(r.extra["foo"], json!(3));
        assert_eq!(r.lang, Some(Lang::Es));
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            (json!({"text": "  "}), "text"),
            (json!({"text": "x", "lang": "fr"}), "lang"),
            (json!({"text": "x", "label": 2}), "label"),
            (json!({"text": "x", "indicators": ["pay"]}), "indicators"),
            (
                json!({"text": "x", "translation": {"text": ""}}),
                "translation.text",
            ),
            (json!({"lang": "es"}), "text"),
        ];
        for (v, field) in cases {
            assert_eq!(parse(v.clone()).unwrap_err().field, field, "{v}");
        }
    }

    #[test]
    fn rejects_oversized_text() {
        let err = parse(json!({"text": "a".repeat(MAX_TEXT_BYTES + 1)})).unwrap_err();
        assert!(err.reason.contains("over the limit"));
    }
}
