//! The collections Kat serves, as `kat.toml` declares them.
//!
//! A collection names its file below the data directory, the property that dates its
//! features, the properties every feature must carry, and its queryables: the properties that
//! `/items` filters on, each with a type. Nothing about a collection is written into Kat
//! itself: a layer of one's own is a block in this file.
//!
//! ```
//! use kat::catalog::config::{Config, QueryableType};
//! let toml = r#"
//! [[collection]]
//! id = "checkpoints"
//! title = "Checkpoints"
//! file = "checkpoints.geojson"
//! [collection.queryables.status]
//! type = "string"
//! [collection.queryables.capacity]
//! type = "integer"
//! "#;
//! let config = Config::parse(toml, "kat.toml".as_ref()).unwrap();
//! let checkpoints = &config.collections[0];
//! assert_eq!(checkpoints.queryables[1].name, "capacity");
//! assert_eq!(checkpoints.queryables[1].kind, QueryableType::Integer);
//! ```

use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// How a string queryable compares a user's value with a feature's property (both folded by
/// [`crate::text::fold`], so that case and accents are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// The whole value, e.g. `department=Ouest`.
    Exact,
    /// A substring of the value, or of any element of an array, e.g. `actor=gran grif`.
    Contains,
}

/// What a queryable's values are. Values are read once, at load, into a typed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryableType {
    /// Text (or, with `array = true`, an array of texts), compared as [`MatchKind`] says.
    String(MatchKind),
    /// A whole number, e.g. `fatalities`.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A day `YYYY-MM-DD`, a month `YYYY-MM` or an RFC 3339 date-time, read as the interval it
    /// covers.
    Date,
}

impl QueryableType {
    /// The name `kat.toml` and JSON Schema use for the type.
    pub fn name(self) -> &'static str {
        match self {
            QueryableType::String(_) => "string",
            QueryableType::Integer => "integer",
            QueryableType::Number => "number",
            QueryableType::Boolean => "boolean",
            QueryableType::Date => "date",
        }
    }

    /// Whether values are numbers (summed by aggregates, compared numerically).
    pub fn is_numeric(self) -> bool {
        matches!(self, QueryableType::Integer | QueryableType::Number)
    }
}

/// A property that `/items` can filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct Queryable {
    /// The name users write: `status` in `?status=open` and in a CQL2 filter.
    pub name: String,
    /// The feature property it reads; the name unless the file says otherwise.
    pub property: String,
    pub kind: QueryableType,
    /// Whether the property holds an array of values (of `kind`), e.g. `actors`.
    pub array: bool,
    pub description: String,
}

/// One collection, as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSpec {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Path below the data directory.
    pub file: String,
    /// The property that dates a feature (a day `YYYY-MM-DD`, a month `YYYY-MM` or a date-time).
    pub time_property: Option<String>,
    /// Properties that every feature must carry, not null.
    pub required: Vec<String>,
    pub queryables: Vec<Queryable>,
    /// Whether features may lack a geometry (an incident whose place is unknown).
    pub allow_null_geometry: bool,
    /// A lighter copy of the layer for the web map (simplified shared borders), below the
    /// data directory: served at `/simplified/{id}.geojson`.
    pub simplified: Option<String>,
    /// Whether the collection takes writes (with a database behind it).
    pub editable: bool,
    /// The PostgreSQL table (in schema `kat`) that holds the collection when Kat serves with
    /// `--database`; `kat db import` fills it from `file`. Without a database, `file` serves.
    pub table: Option<String>,
    /// Where the collection's block starts in the config, for messages.
    pub line: usize,
}

impl CollectionSpec {
    /// The queryable named `name`, with its position (the position of its column).
    pub fn queryable(&self, name: &str) -> Option<(usize, &Queryable)> {
        self.queryables
            .iter()
            .enumerate()
            .find(|(_, q)| q.name == name)
    }
}

/// Every collection of a `kat.toml`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub collections: Vec<Arc<CollectionSpec>>,
}

/// Why a config was refused. Each names the file, the line and the key.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ConfigError {
    #[error("{file}: cannot read the file: {problem}")]
    Read { file: String, problem: String },
    /// The TOML does not parse, or a key or a value is not one Kat knows (the parser's message
    /// names the line, the column and the key).
    #[error("{file}: {problem}")]
    Syntax { file: String, problem: String },
    #[error("{file}, line {line}: {key}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        problem: String,
    },
}

/// The name of the config in a data directory.
pub const FILE_NAME: &str = "kat.toml";

/// Haiti's extent with a margin for its coast and islands: a feature outside it is a data error
/// (most often swapped latitude and longitude).
pub const HAITI_EXTENT: [f64; 4] = [-74.7, 17.8, -71.4, 20.3];

/// At most this many queryables per collection (each is a column in memory).
pub const MAX_QUERYABLES: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    collection: Vec<Spanned<CollectionShape>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionShape {
    id: Spanned<String>,
    title: Option<String>,
    #[serde(default)]
    description: String,
    file: Spanned<String>,
    time_property: Option<Spanned<String>>,
    #[serde(default)]
    required: Vec<Spanned<String>>,
    #[serde(default)]
    allow_null_geometry: bool,
    simplified: Option<Spanned<String>>,
    #[serde(default)]
    editable: bool,
    table: Option<Spanned<String>>,
    #[serde(default)]
    queryables: IndexMap<String, Spanned<QueryableShape>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum TypeName {
    String,
    Integer,
    Number,
    Boolean,
    Date,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryableShape {
    #[serde(rename = "type")]
    kind: TypeName,
    property: Option<String>,
    #[serde(rename = "match")]
    match_kind: Option<Spanned<MatchKind>>,
    #[serde(default)]
    array: bool,
    #[serde(default)]
    description: String,
}

impl Config {
    /// Reads and checks `path`. Files are named relative to `data_dir` in messages.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.display().to_string(),
            problem: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks the text of a config read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let shape: FileShape = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.clone(),
            problem: e.to_string().trim_end().replace('\n', " "),
        })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |at: usize, key: &str, problem: String| ConfigError::Invalid {
            file: file.clone(),
            line: line_of(at),
            key: key.to_string(),
            problem,
        };
        let mut collections: Vec<Arc<CollectionSpec>> = Vec::new();
        for block in shape.collection {
            let line = line_of(block.span().start);
            let c = block.into_inner();
            let id = c.id.get_ref().clone();
            let key = |k: &str| format!("collection \"{id}\": {k}");
            if !valid_id(&id) {
                return Err(invalid(
                    c.id.span().start,
                    "id",
                    format!("\"{id}\" must be 1 to 64 letters, digits, '_' or '-'"),
                ));
            }
            if collections.iter().any(|o| o.id == id) {
                return Err(invalid(
                    c.id.span().start,
                    "id",
                    format!("\"{id}\" is declared twice; each collection needs its own id"),
                ));
            }
            check_relative(c.file.get_ref())
                .map_err(|p| invalid(c.file.span().start, &key("file"), p.to_string()))?;
            if let Some(s) = &c.simplified {
                check_relative(s.get_ref())
                    .map_err(|p| invalid(s.span().start, &key("simplified"), p.to_string()))?;
            }
            if let Some(t) = &c.table {
                if !valid_table(t.get_ref()) {
                    return Err(invalid(
                        t.span().start,
                        &key("table"),
                        format!(
                            "\"{}\" must be 1 to 63 lower-case letters, digits or '_', \
                             starting with a letter",
                            t.get_ref()
                        ),
                    ));
                }
                if let Some(other) = collections
                    .iter()
                    .find(|o| o.table.as_deref() == Some(t.get_ref().as_str()))
                {
                    return Err(invalid(
                        t.span().start,
                        &key("table"),
                        format!(
                            "\"{}\" already holds collection \"{}\"; each collection needs \
                             its own table",
                            t.get_ref(),
                            other.id
                        ),
                    ));
                }
            }
            if c.editable && c.table.is_none() {
                return Err(invalid(
                    block_start(&c),
                    &key("editable"),
                    "an editable collection needs a \"table\" to write to".into(),
                ));
            }
            if c.queryables.len() > MAX_QUERYABLES {
                return Err(invalid(
                    block_start(&c),
                    &key("queryables"),
                    format!(
                        "at most {MAX_QUERYABLES} queryables, found {}",
                        c.queryables.len()
                    ),
                ));
            }
            let mut queryables = Vec::with_capacity(c.queryables.len());
            for (name, q) in c.queryables {
                let at = q.span().start;
                let q = q.into_inner();
                let qkey = key(&format!("queryables.{name}"));
                if !valid_id(&name) || RESERVED.contains(&name.as_str()) {
                    return Err(invalid(
                        at,
                        &qkey,
                        format!(
                            "\"{name}\" cannot be a queryable name: use letters, digits, '_' or \
                             '-', and none of {}",
                            RESERVED.join(", ")
                        ),
                    ));
                }
                let kind = match (q.kind, &q.match_kind) {
                    (TypeName::String, m) => {
                        QueryableType::String(m.as_ref().map_or(MatchKind::Exact, |m| *m.get_ref()))
                    }
                    (other, Some(m)) => {
                        return Err(invalid(
                            m.span().start,
                            &format!("{qkey}.match"),
                            format!(
                                "\"match\" applies to string queryables, not to {}",
                                type_name(other)
                            ),
                        ))
                    }
                    (TypeName::Integer, None) => QueryableType::Integer,
                    (TypeName::Number, None) => QueryableType::Number,
                    (TypeName::Boolean, None) => QueryableType::Boolean,
                    (TypeName::Date, None) => QueryableType::Date,
                };
                if q.array && !matches!(kind, QueryableType::String(_)) {
                    return Err(invalid(
                        at,
                        &format!("{qkey}.array"),
                        "only string queryables can be arrays".into(),
                    ));
                }
                queryables.push(Queryable {
                    property: q.property.unwrap_or_else(|| name.clone()),
                    name,
                    kind,
                    array: q.array,
                    description: q.description,
                });
            }
            collections.push(Arc::new(CollectionSpec {
                title: c.title.unwrap_or_else(|| id.clone()),
                id,
                description: c.description,
                file: c.file.into_inner(),
                time_property: c.time_property.map(Spanned::into_inner),
                required: c.required.into_iter().map(Spanned::into_inner).collect(),
                queryables,
                allow_null_geometry: c.allow_null_geometry,
                simplified: c.simplified.map(Spanned::into_inner),
                editable: c.editable,
                table: c.table.map(Spanned::into_inner),
                line,
            }));
        }
        if collections.is_empty() {
            return Err(invalid(
                0,
                "collection",
                "declares no collection: add a [[collection]] block".into(),
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            collections,
        })
    }

    /// The config for a data directory: `explicit` when given, else `data_dir/kat.toml`.
    pub fn locate(data_dir: &Path, explicit: Option<&Path>) -> PathBuf {
        explicit.map_or_else(|| data_dir.join(FILE_NAME), Path::to_path_buf)
    }

    /// Checks that every file the config names exists below `data_dir` (but the files of
    /// collections served from their table, when `tables` is set).
    pub fn check_files(&self, data_dir: &Path, tables: bool) -> Result<(), ConfigError> {
        for c in &self.collections {
            let served_from_file = !(tables && c.table.is_some());
            for (key, f) in served_from_file
                .then_some(("file", &c.file))
                .into_iter()
                .chain(c.simplified.as_ref().map(|s| ("simplified", s)))
            {
                if !data_dir.join(f).is_file() {
                    return Err(ConfigError::Invalid {
                        file: self.path.display().to_string(),
                        line: c.line,
                        key: format!("collection \"{}\": {key}", c.id),
                        problem: format!("\"{f}\" is not a file in the data directory"),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn collection(&self, id: &str) -> Option<&Arc<CollectionSpec>> {
        self.collections.iter().find(|c| c.id == id)
    }
}

/// A name PostgreSQL takes unquoted: Kat's SQL quotes it anyway, but a plain name is what
/// other clients (psql, QGIS, tipg) can type.
fn valid_table(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Names that `/items` already gives a meaning to.
const RESERVED: &[&str] = &[
    "bbox",
    "datetime",
    "limit",
    "offset",
    "f",
    "near",
    "within",
    "near_feature",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "skipGeometry",
    "crs",
    "bbox-crs",
];

fn type_name(t: TypeName) -> &'static str {
    match t {
        TypeName::String => "string",
        TypeName::Integer => "integer",
        TypeName::Number => "number",
        TypeName::Boolean => "boolean",
        TypeName::Date => "date",
    }
}

fn block_start(c: &CollectionShape) -> usize {
    c.id.span().start
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A path that leaves the data directory.
#[derive(Debug, thiserror::Error)]
#[error("\"{0}\" must be a relative path below the data directory, without '..'")]
struct OutsideDataDir(String);

/// A path that stays below the data directory.
fn check_relative(p: &str) -> Result<(), OutsideDataDir> {
    let path = Path::new(p);
    let escapes = path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if p.is_empty() || escapes {
        return Err(OutsideDataDir(p.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("data/kat.toml"))
    }

    const ONE: &str = "[[collection]]\nid = \"a\"\nfile = \"a.geojson\"\n";

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let e = parse(&format!("{ONE}colour = \"red\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data/kat.toml"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn an_unknown_type_is_refused_naming_it() {
        let e = parse(&format!(
            "{ONE}[collection.queryables.n]\ntype = \"float\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5") && e.contains("float"), "{e}");
    }

    #[test]
    fn a_duplicate_id_is_refused_at_its_line() {
        let e = parse(&format!("{ONE}{ONE}")).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("declared twice"), "{e}");
    }

    #[test]
    fn match_on_a_number_is_refused() {
        let e = parse(&format!(
            "{ONE}[collection.queryables.n]\ntype = \"integer\"\nmatch = \"exact\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("queryables.n.match") && e.contains("line 6"),
            "{e}"
        );
    }

    #[test]
    fn a_path_outside_the_data_directory_is_refused() {
        let e = parse("[[collection]]\nid = \"a\"\nfile = \"../etc/passwd\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("file"), "{e}");
    }

    #[test]
    fn property_defaults_to_the_queryable_name_and_order_is_kept() {
        let c = parse(&format!(
            "{ONE}[collection.queryables.zeta]\ntype = \"string\"\n\
             [collection.queryables.actor]\ntype = \"string\"\nmatch = \"contains\"\nproperty = \"actors\"\n"
        ))
        .unwrap();
        let q = &c.collections[0].queryables;
        assert_eq!(q[0].name, "zeta");
        assert_eq!(q[0].property, "zeta");
        assert_eq!(q[1].property, "actors");
        assert_eq!(q[1].kind, QueryableType::String(MatchKind::Contains));
    }

    #[test]
    fn the_bundled_config_declares_the_five_layers() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kat.toml");
        let c = Config::load(&path).unwrap();
        let ids: Vec<&str> = c.collections.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "incidents",
                "gang_areas",
                "departments",
                "communes",
                "sections"
            ]
        );
        c.check_files(path.parent().unwrap(), false).unwrap();
    }
}
