//! Readers for the three input formats: JSON Lines, CSV with a header, and plain text with ads
//! separated by blank lines.
//!
//! A reader never stops at a bad record: it yields a [`Rejection`] naming the file, the line and
//! the field, and goes on, so that one typo in a batch of a thousand ads loses one ad.

use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;

use serde_json::{Map, Value};

use super::record::{AdRecord, FieldError};

/// The longest input line read, in bytes; longer lines are skipped without being held in memory.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    /// Comma-separated with a header row (`.csv`).
    Csv,
    /// Plain text, ads separated by blank lines (`.txt` and anything else).
    Text,
}

impl Format {
    /// The format a file's extension implies.
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
            Some("csv") => Format::Csv,
            _ => Format::Text,
        }
    }
}

/// A record and the line it starts on.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// 1-based line of the input where the record starts.
    pub line: usize,
    /// The validated record.
    pub record: AdRecord,
}

/// A record that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The input's name (a path, or `<stdin>`).
    pub source: String,
    /// 1-based line where the record starts.
    pub line: usize,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong, and what to do about it.
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// What a reader yields for each record.
pub type ReadResult = Result<SourcedRecord, Rejection>;

/// Opens a reader of `format` over `input`; `source` names the input in rejections and in ids
/// made up for records without one.
pub fn records<'a>(
    input: Box<dyn BufRead + Send + 'a>,
    format: Format,
    source: &str,
) -> Box<dyn Iterator<Item = ReadResult> + Send + 'a> {
    let namer = Namer::new(source);
    match format {
        Format::Jsonl => Box::new(JsonlReader {
            lines: Lines::new(input),
            namer,
        }),
        Format::Csv => Box::new(CsvReader::new(input, namer)),
        Format::Text => Box::new(TextReader {
            lines: Lines::new(input),
            namer,
        }),
    }
}

/// Names rejections and made-up ids after the input.
#[derive(Clone)]
struct Namer {
    source: String,
    stem: String,
}

impl Namer {
    fn new(source: &str) -> Self {
        let stem = Path::new(source)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("stdin")
            .to_string();
        Namer {
            source: source.to_string(),
            stem,
        }
    }

    fn reject(&self, line: usize, field: Option<&str>, reason: impl Into<String>) -> Rejection {
        Rejection {
            source: self.source.clone(),
            line,
            field: field.map(String::from),
            reason: reason.into(),
        }
    }

    fn field_error(&self, line: usize, e: FieldError) -> Rejection {
        self.reject(line, Some(&e.field), e.reason)
    }

    /// Validates one JSON object into a record, with the id `<stem>:<line>` if it has none.
    fn build(&self, line: usize, obj: Map<String, Value>) -> ReadResult {
        AdRecord::from_json(obj, &format!("{}:{line}", self.stem))
            .map(|record| SourcedRecord { line, record })
            .map_err(|e| self.field_error(line, e))
    }
}

/// Lines of at most [`MAX_LINE_BYTES`], checked for UTF-8, numbered from 1.
struct Lines<'a> {
    input: Box<dyn BufRead + Send + 'a>,
    number: usize,
    buf: Vec<u8>,
}

/// A line that could not be taken as text.
enum BadLine {
    TooLong(usize),
    NotUtf8(usize),
    Io(io::Error),
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadLine::TooLong(n) => write!(
                f,
                "line is {n} bytes, over the limit of {MAX_LINE_BYTES}; skipped"
            ),
            BadLine::NotUtf8(at) => write!(
                f,
                "invalid UTF-8 at byte {at} of the line: save the file as UTF-8"
            ),
            BadLine::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl<'a> Lines<'a> {
    fn new(input: Box<dyn BufRead + Send + 'a>) -> Self {
        Lines {
            input,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// The next line without its line ending, or `None` at the end of input.
    fn next_line(&mut self) -> Option<(usize, Result<&str, BadLine>)> {
        self.buf.clear();
        let total = match read_bounded(&mut self.input, &mut self.buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => {
                self.number += 1;
                return Some((self.number, Err(BadLine::Io(e))));
            }
        };
        self.number += 1;
        if total > MAX_LINE_BYTES {
            return Some((self.number, Err(BadLine::TooLong(total))));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        let line = std::str::from_utf8(&self.buf).map_err(|e| BadLine::NotUtf8(e.valid_up_to()));
        Some((self.number, line))
    }
}

/// Reads one line into `buf`, keeping at most `MAX_LINE_BYTES + 1` bytes of it; returns the line's
/// full length so that an overlong line is reported with its size and then skipped.
fn read_bounded(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..used.min(room)]);
        input.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// JSON Lines: one object per line; blank lines are skipped.
struct JsonlReader<'a> {
    lines: Lines<'a>,
    namer: Namer,
}

impl Iterator for JsonlReader<'_> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        loop {
            let (n, line) = self.lines.next_line()?;
            let line = match line {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => l,
                Err(e) => return Some(Err(self.namer.reject(n, None, e.to_string()))),
            };
            return Some(match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(obj)) => self.namer.build(n, obj),
                Ok(_) => Err(self.namer.reject(
                    n,
                    None,
                    "not a JSON object: each line must be {\"text\": …}",
                )),
                Err(e) => Err(self.namer.reject(n, None, format!("malformed JSON: {e}"))),
            });
        }
    }
}

/// Plain text: each run of non-blank lines is one ad.
struct TextReader<'a> {
    lines: Lines<'a>,
    namer: Namer,
}

impl Iterator for TextReader<'_> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        let mut text = String::new();
        let mut start = 0;
        let mut bad: Option<Rejection> = None;
        while let Some((n, line)) = self.lines.next_line() {
            match line {
                Ok(l) if l.trim().is_empty() => {
                    if start > 0 {
                        break;
                    }
                    continue;
                }
                Ok(l) => {
                    text.push_str(l);
                    text.push('\n');
                }
                Err(e) if bad.is_none() => bad = Some(self.namer.reject(n, None, e.to_string())),
                Err(_) => {}
            }
            if start == 0 {
                start = n;
            }
        }
        if start == 0 {
            return None;
        }
        if let Some(rejection) = bad {
            return Some(Err(rejection));
        }
        let mut obj = Map::new();
        obj.insert("text".into(), Value::String(text.trim_end().to_string()));
        Some(self.namer.build(start, obj))
    }
}

/// CSV with a header row. Columns are matched to record fields by name (case-insensitive, with a
/// few common aliases); `translation` with an optional `translation_lang`; other columns are kept
/// as extra fields.
struct CsvReader<'a> {
    rows: csv::ByteRecordsIntoIter<Box<dyn BufRead + Send + 'a>>,
    header: Result<Vec<String>, String>,
    namer: Namer,
    failed_header: bool,
}

impl<'a> CsvReader<'a> {
    fn new(input: Box<dyn BufRead + Send + 'a>, namer: Namer) -> Self {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let header = match reader.byte_headers() {
            Ok(h) => h
                .iter()
                .map(|f| std::str::from_utf8(f).map(column_field).map_err(|_| "header is not UTF-8".to_string()))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|cols| {
                    if cols.iter().any(|c| c == "text") {
                        Ok(cols)
                    } else {
                        Err("the header has no `text` column (or ad, ad_text, body, texto): add one".into())
                    }
                }),
            Err(e) => Err(format!("cannot read the header: {e}")),
        };
        CsvReader {
            rows: reader.into_byte_records(),
            header,
            namer,
            failed_header: false,
        }
    }

    fn row(&self, header: &[String], row: csv::ByteRecord) -> ReadResult {
        let line = row.position().map_or(0, |p| p.line() as usize);
        if row.len() != header.len() {
            let reason = format!(
                "{} columns where the header has {}",
                row.len(),
                header.len()
            );
            return Err(self.namer.reject(line, None, reason));
        }
        let mut obj = Map::new();
        let mut translation = Map::new();
        for (name, field) in header.iter().zip(row.iter()) {
            let value = std::str::from_utf8(field).map_err(|e| {
                self.namer.reject(
                    line,
                    Some(name),
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            })?;
            match name.as_str() {
                "translation" => translation.insert("text".into(), value.into()),
                "translation_lang" => translation.insert("lang".into(), value.into()),
                _ if value.is_empty() => None,
                _ => obj.insert(name.clone(), value.into()),
            };
        }
        if translation
            .get("text")
            .is_some_and(|t| t.as_str() != Some(""))
        {
            obj.insert("translation".into(), Value::Object(translation));
        }
        self.namer.build(line, obj)
    }
}

/// The record field a CSV column name stands for.
fn column_field(name: &str) -> String {
    let name = name
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-'], "_");
    match name.as_str() {
        "ad" | "ad_text" | "body" | "texto" | "text_original" => "text".into(),
        "language" | "idioma" => "lang".into(),
        "translation_text" | "english" | "traduccion" | "traducción" => "translation".into(),
        "tags" => "indicators".into(),
        _ => name,
    }
}

impl Iterator for CsvReader<'_> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        let header = match &self.header {
            Ok(h) => h.clone(),
            Err(e) if !self.failed_header => {
                self.failed_header = true;
                return Some(Err(self.namer.reject(1, None, e.clone())));
            }
            Err(_) => return None,
        };
        match self.rows.next()? {
            Ok(row) => Some(self.row(&header, row)),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                Some(Err(self.namer.reject(
                    line,
                    None,
                    format!("malformed CSV: {e}"),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &'static [u8], format: Format) -> Vec<ReadResult> {
        records(Box::new(input), format, "ads.x").collect()
    }

    #[test]
    fn jsonl_rejects_bad_lines_and_keeps_good_ones() {
        let input = b"{\"id\":\"a\",\"text\":\"uno\"}\n{bad\n\n\xff\xfe\n{\"text\":\"dos\",\"lang\":\"fr\"}\n{\"text\":\"tres\"}\n";
        let out = read(input, Format::Jsonl);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0].as_ref().unwrap().record.id, "a");
        let errs: Vec<_> = out.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(
            errs.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert!(errs[0].reason.contains("malformed JSON"));
        assert!(errs[1].reason.contains("UTF-8"));
        assert_eq!(errs[2].field.as_deref(), Some("lang"));
        assert_eq!(out[4].as_ref().unwrap().record.id, "ads:6");
    }

    #[test]
    fn skips_overlong_lines_without_losing_the_next() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\n{\"text\":\"ok\"}\n");
        let out: Vec<_> = records(Box::new(&input[..]), Format::Jsonl, "big.jsonl").collect();
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("over the limit"));
        assert_eq!(out[1].as_ref().unwrap().record.text, "ok");
    }

    #[test]
    fn text_splits_on_blank_lines() {
        let out = read(
            b"\n\nSe busca chofer\nTel 555\n\n\n\nNanny wanted\n",
            Format::Text,
        );
        let ads: Vec<_> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(ads.len(), 2);
        assert_eq!(ads[0].record.text, "Se busca chofer\nTel 555");
        assert_eq!((ads[0].line, ads[1].line), (3, 8));
    }

    #[test]
    fn csv_maps_columns_and_rejects_short_rows() {
        let input = b"ID,Language,Ad Text,translation,office\n1,es,\"Se busca, urgente\",Wanted urgently,Lima\n2,es\n3,en,Cook needed,,\n";
        let out = read(input, Format::Csv);
        let first = &out[0].as_ref().unwrap().record;
        assert_eq!(first.text, "Se busca, urgente");
        assert_eq!(first.translation.as_ref().unwrap().text, "Wanted urgently");
        assert_eq!(first.office.as_deref(), Some("Lima"));
        let bad = out[1].as_ref().unwrap_err();
        assert_eq!(bad.line, 3);
        assert!(bad.reason.contains("columns"));
        assert!(out[2].as_ref().unwrap().record.translation.is_none());
    }

    #[test]
    fn csv_without_text_column_says_so() {
        let out = read(b"id,body2\n1,x\n", Format::Csv);
        assert_eq!(out.len(), 1);
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("no `text` column"));
    }
}
