//! GeoPackage (`application/geopackage+sqlite3`): the answer as one feature table that GDAL,
//! QGIS and ArcGIS open as they are, with a spatial index.
//!
//! A GeoPackage is an SQLite database laid out as OGC 12-128r18 (version 1.2) says:
//! - `gpkg_spatial_ref_sys` with WGS 84 (EPSG:4326) and the two undefined systems;
//! - `gpkg_contents` naming the table, with the answer's extent;
//! - `gpkg_geometry_columns` with the geometry type (a layer of polygons and multipolygons
//!   is declared `MULTIPOLYGON`, its polygons written as multipolygons of one);
//! - the feature table: `fid`, `geom`, the feature's `id`, then one column per property met,
//!   typed as the collection declares its queryables (INTEGER, REAL, BOOLEAN, DATE,
//!   DATETIME) when every value fits, otherwise TEXT; arrays and objects as JSON text. A
//!   property that is not declared is INTEGER, REAL or BOOLEAN when all its values are, TEXT
//!   otherwise;
//! - geometries as GeoPackage binary: the `GP` header with the SRS id and the envelope,
//!   then little-endian ISO WKB;
//! - the R-tree index (`rtree_<table>_geom`, the `gpkg_rtree_index` extension and the
//!   triggers that keep it in step with edits), filled as the rows are written.
//!
//! The file is written on disk, never in memory: a million features cost SQLite's page cache
//! and one feature at a time.

use super::feature::{
    column_names, json_text, Feature, Features, GeometryType, Kind, Kinds, ReadError, Scan,
};
use crate::catalog::config::{Queryable, QueryableType};
use geo::BoundingRect;
use rusqlite::types::Value;
use rusqlite::Connection;
use std::path::Path;

/// The media type of a GeoPackage answer.
pub const MEDIA_TYPE: &str = "application/geopackage+sqlite3";

/// The name of the geometry column.
pub const GEOMETRY_COLUMN: &str = "geom";

/// WGS 84 longitude/latitude: GeoPackage geometries are always x = longitude, y = latitude.
const SRS_ID: i32 = 4326;

const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// `GPKG` as a big-endian integer: the `application_id` that marks a GeoPackage.
const APPLICATION_ID: i32 = 0x4750_4B47;
/// Version 1.2.0.
const USER_VERSION: i32 = 10200;

/// The file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GpkgError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the GeoPackage could not be written")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the temporary file for the GeoPackage could not be made or read")]
    TempFile(#[source] std::io::Error),
    #[error("feature {id}: its geometry could not be written as WKB")]
    Wkb {
        id: String,
        #[source]
        source: wkb::error::WkbError,
    },
}

/// What a GeoPackage's table is called and says of itself.
#[derive(Debug, Clone, Copy)]
pub struct TableInfo<'a> {
    /// The table name (the collection's id).
    pub name: &'a str,
    pub title: &'a str,
    pub description: &'a str,
}

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Boolean,
    Date,
    DateTime,
    /// Text; arrays and objects as JSON.
    Text,
}

impl ColumnType {
    fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Date => "DATE",
            ColumnType::DateTime => "DATETIME",
            ColumnType::Text => "TEXT",
        }
    }

    /// The type of a property's column: the declared type when every value fits it (a date
    /// column holds only days, or only date-times), TEXT when not; for a property not
    /// declared, the type its values all share among INTEGER, REAL and BOOLEAN, else TEXT.
    ///
    /// ```
    /// use kat::format::gpkg::ColumnType;
    /// use kat::format::feature::{Kind, Kinds};
    /// use kat::catalog::config::QueryableType;
    /// let mut months = Kinds::default();
    /// months.insert(Kind::Text); // "2024-10" is not a GeoPackage DATE
    /// assert_eq!(ColumnType::for_values(Some((QueryableType::Date, false)), months), ColumnType::Text);
    /// let mut tolls = Kinds::default();
    /// tolls.insert(Kind::Integer);
    /// tolls.insert(Kind::Null);
    /// assert_eq!(ColumnType::for_values(Some((QueryableType::Integer, false)), tolls), ColumnType::Integer);
    /// assert_eq!(ColumnType::for_values(None, tolls), ColumnType::Integer);
    /// ```
    pub fn for_values(declared: Option<(QueryableType, bool)>, kinds: Kinds) -> ColumnType {
        use ColumnType as C;
        use Kind as K;
        let fits = |t: C| -> Option<C> {
            let ok = match t {
                C::Integer => kinds.all_in(&[K::Integer]),
                C::Real => kinds.all_in(&[K::Integer, K::Real]),
                C::Boolean => kinds.all_in(&[K::Boolean]),
                C::Date => kinds.all_in(&[K::Day]),
                C::DateTime => kinds.all_in(&[K::DateTime]),
                C::Text => true,
            };
            ok.then_some(t)
        };
        match declared {
            Some((_, true)) | Some((QueryableType::String(_), false)) => Some(C::Text),
            Some((QueryableType::Integer, _)) => fits(C::Integer),
            Some((QueryableType::Number, _)) => fits(C::Real),
            Some((QueryableType::Boolean, _)) => fits(C::Boolean),
            Some((QueryableType::Date, _)) => fits(C::Date).or_else(|| fits(C::DateTime)),
            None => fits(C::Integer)
                .or_else(|| fits(C::Real))
                .or_else(|| fits(C::Boolean)),
        }
        .unwrap_or(C::Text)
    }
}

/// The geometry type the table declares, and whether single polygons (lines, points) are
/// written as multi-geometries of one to match it.
fn table_geometry_type(scan: &Scan) -> (&'static str, bool) {
    use GeometryType as G;
    let t = scan.geometry_types;
    let pairs = [
        (G::Point, G::MultiPoint, "POINT", "MULTIPOINT"),
        (
            G::LineString,
            G::MultiLineString,
            "LINESTRING",
            "MULTILINESTRING",
        ),
        (G::Polygon, G::MultiPolygon, "POLYGON", "MULTIPOLYGON"),
    ];
    for (single, multi, single_name, multi_name) in pairs {
        if t.only(single) {
            return (single_name, false);
        }
        if t.only(multi) {
            return (multi_name, false);
        }
        let mut both = super::feature::GeometryTypes::default();
        both.insert(single);
        both.insert(multi);
        if t == both {
            return (multi_name, true);
        }
    }
    if t.only(G::GeometryCollection) {
        return ("GEOMETRYCOLLECTION", false);
    }
    ("GEOMETRY", false)
}

/// A geometry as a GeoPackage binary blob: header, envelope `[minx, maxx, miny, maxy]`,
/// little-endian WKB.
///
/// ```
/// let blob = kat::format::gpkg::geometry_blob(&geo::Geometry::Point(geo::point!(x: -72.3, y: 18.5))).unwrap();
/// assert_eq!(&blob[..4], b"GP\x00\x03"); // version 0; xy envelope, little-endian
/// assert_eq!(i32::from_le_bytes(blob[4..8].try_into().unwrap()), 4326);
/// assert_eq!(blob.len(), 8 + 32 + 21);
/// ```
pub fn geometry_blob(g: &geo::Geometry<f64>) -> Result<Vec<u8>, wkb::error::WkbError> {
    let envelope = g.bounding_rect();
    let mut out = Vec::with_capacity(8 + 32 + wkb::writer::geometry_wkb_size(g));
    out.extend_from_slice(b"GP");
    out.push(0);
    // Bit 0: little-endian; bits 1-3: 1 for an xy envelope, 0 for none; bit 4: empty.
    out.push(match envelope {
        Some(_) => 0b0000_0011,
        None => 0b0001_0001,
    });
    out.extend_from_slice(&SRS_ID.to_le_bytes());
    if let Some(r) = envelope {
        for v in [r.min().x, r.max().x, r.min().y, r.max().y] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    wkb::writer::write_geometry(
        &mut out,
        g,
        &wkb::writer::WriteOptions {
            endianness: wkb::Endianness::LittleEndian,
        },
    )?;
    Ok(out)
}

/// `"name"`, an SQL identifier whatever it holds.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One property column.
struct Column {
    property: String,
    name: String,
    kind: ColumnType,
}

/// Writes the answer as a new GeoPackage at `path` (an empty or absent file), and returns
/// how many features it holds. `declared` types the columns of the properties it names.
pub fn write(
    path: &Path,
    table: TableInfo,
    features: &mut Features,
    declared: &[Queryable],
) -> Result<usize, GpkgError> {
    let scan = Scan::run(features)?;
    let names = column_names(
        scan.properties.keys().map(String::as_str),
        &["fid", GEOMETRY_COLUMN, "id"],
    );
    let columns: Vec<Column> = scan
        .properties
        .iter()
        .zip(names)
        .map(|((property, kinds), name)| {
            let declared = declared
                .iter()
                .find(|q| q.property == *property)
                .map(|q| (q.kind, q.array));
            Column {
                property: property.clone(),
                name,
                kind: ColumnType::for_values(declared, *kinds),
            }
        })
        .collect();
    let (geometry_type, promote) = table_geometry_type(&scan);

    let mut db = Connection::open(path)?;
    // A file written once, start to end, and thrown away if anything fails: no journal.
    db.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID};
         PRAGMA user_version = {USER_VERSION};
         PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA cache_size = -16384;"
    ))?;
    let tx = db.transaction()?;
    create_metadata(&tx)?;
    let t = quoted(table.name);
    let rtree = quoted(&format!("rtree_{}_{GEOMETRY_COLUMN}", table.name));
    let mut ddl = format!(
        "CREATE TABLE {t} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {GEOMETRY_COLUMN} {geometry_type}, id TEXT"
    );
    for c in &columns {
        ddl.push_str(&format!(", {} {}", quoted(&c.name), c.kind.sql()));
    }
    ddl.push(')');
    tx.execute_batch(&ddl)?;
    tx.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
         VALUES (?1, 'features', ?2, ?3, ?4)",
        rusqlite::params![table.name, table.title, table.description, SRS_ID],
    )?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, ?2, ?3, ?4, 0, 0)",
        rusqlite::params![table.name, GEOMETRY_COLUMN, geometry_type, SRS_ID],
    )?;
    tx.execute_batch(&format!(
        "CREATE VIRTUAL TABLE {rtree} USING rtree(id, minx, maxx, miny, maxy)"
    ))?;
    tx.execute(
        "INSERT INTO gpkg_extensions VALUES (?1, ?2, 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        rusqlite::params![table.name, GEOMETRY_COLUMN],
    )?;
    // [min_x, min_y, max_x, max_y] of the rows written.
    let mut extent: Option<[f64; 4]> = None;
    {
        let placeholders: String = (0..columns.len() + 3)
            .map(|i| format!("?{}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO {t} VALUES ({placeholders})"))?;
        let mut index = tx.prepare(&format!("INSERT INTO {rtree} VALUES (?1, ?2, ?3, ?4, ?5)"))?;
        let mut row: Vec<Value> = Vec::with_capacity(columns.len() + 3);
        for i in 0..features.len() {
            let fid = i as i64 + 1;
            let f = features.read(i)?;
            row.clear();
            row.push(Value::Integer(fid));
            let geometry = f.geometry()?.map(|g| if promote { to_multi(g) } else { g });
            let envelope = geometry.as_ref().and_then(|g| g.bounding_rect());
            row.push(match &geometry {
                Some(g) => Value::Blob(geometry_blob(g).map_err(|source| GpkgError::Wkb {
                    id: f.id_text().into_owned(),
                    source,
                })?),
                None => Value::Null,
            });
            row.push(Value::Text(f.id_text().into_owned()));
            for c in &columns {
                row.push(cell(&f, c));
            }
            insert.execute(rusqlite::params_from_iter(row.iter()))?;
            if let Some(r) = envelope {
                let b = [r.min().x, r.min().y, r.max().x, r.max().y];
                extent = Some(match extent {
                    None => b,
                    Some(e) => [
                        e[0].min(b[0]),
                        e[1].min(b[1]),
                        e[2].max(b[2]),
                        e[3].max(b[3]),
                    ],
                });
                index.execute(rusqlite::params![
                    fid,
                    r.min().x,
                    r.max().x,
                    r.min().y,
                    r.max().y
                ])?;
            }
        }
    }
    if let Some([min_x, min_y, max_x, max_y]) = extent {
        tx.execute(
            "UPDATE gpkg_contents SET min_x = ?1, min_y = ?2, max_x = ?3, max_y = ?4 WHERE table_name = ?5",
            rusqlite::params![min_x, min_y, max_x, max_y, table.name],
        )?;
    }
    tx.execute_batch(&rtree_triggers(table.name))?;
    tx.commit()?;
    db.close().map_err(|(_, e)| e)?;
    Ok(scan.features)
}

/// Writes the answer as a GeoPackage in a temporary file, and returns that file open for
/// reading, with its length. The file has no name any more: it goes away when closed.
pub fn write_temporary(
    table: TableInfo,
    features: &mut Features,
    declared: &[Queryable],
) -> Result<(std::fs::File, u64), GpkgError> {
    let temp = tempfile::Builder::new()
        .prefix("kat-")
        .suffix(".gpkg")
        .tempfile()
        .map_err(GpkgError::TempFile)?;
    write(temp.path(), table, features, declared)?;
    let file = temp.reopen().map_err(GpkgError::TempFile)?;
    let len = file.metadata().map_err(GpkgError::TempFile)?.len();
    drop(temp);
    Ok((file, len))
}

/// A file read in pieces, for a response body.
pub struct FileChunks {
    file: Option<std::fs::File>,
}

impl FileChunks {
    /// A piece's size: a read from the page cache this large costs microseconds.
    const PIECE: usize = 256 * 1024;

    pub fn new(file: std::fs::File) -> Self {
        FileChunks { file: Some(file) }
    }
}

impl Iterator for FileChunks {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::Read;
        let file = self.file.as_mut()?;
        let mut buf = vec![0; Self::PIECE];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.file = None;
                    return Some(Err(e));
                }
            }
        }
        if filled == 0 {
            self.file = None;
            return None;
        }
        buf.truncate(filled);
        Some(Ok(bytes::Bytes::from(buf)))
    }
}

/// A property's value as its column stores it.
fn cell(f: &Feature, c: &Column) -> Value {
    let Some(raw) = f
        .properties
        .as_ref()
        .and_then(|p| p.get(c.property.as_str()))
    else {
        return Value::Null;
    };
    let kind = super::feature::kind_of(raw);
    if kind == Kind::Null {
        return Value::Null;
    }
    let text = || match kind {
        Kind::Array | Kind::Object => json_text(raw).into_owned(),
        _ => super::feature::cell_text(raw).into_owned(),
    };
    match c.kind {
        ColumnType::Integer => raw
            .get()
            .parse()
            .map_or_else(|_| Value::Text(text()), Value::Integer),
        ColumnType::Real => raw
            .get()
            .parse()
            .map_or_else(|_| Value::Text(text()), Value::Real),
        ColumnType::Boolean => Value::Integer(i64::from(raw.get() == "true")),
        ColumnType::Date | ColumnType::DateTime | ColumnType::Text => Value::Text(text()),
    }
}

/// The geometry as the multi-geometry of one that holds it.
fn to_multi(g: geo::Geometry<f64>) -> geo::Geometry<f64> {
    match g {
        geo::Geometry::Point(p) => geo::MultiPoint(vec![p]).into(),
        geo::Geometry::LineString(l) => geo::MultiLineString(vec![l]).into(),
        geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]).into(),
        other => other,
    }
}

fn create_metadata(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL,
            srs_id INTEGER PRIMARY KEY,
            organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL,
            definition TEXT NOT NULL,
            description TEXT);
         CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY,
            data_type TEXT NOT NULL,
            identifier TEXT UNIQUE,
            description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
            srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL,
            column_name TEXT NOT NULL,
            geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL,
            z TINYINT NOT NULL,
            m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT uk_gc_table_name UNIQUE (table_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
         CREATE TABLE gpkg_extensions (
            table_name TEXT,
            column_name TEXT,
            extension_name TEXT NOT NULL,
            definition TEXT NOT NULL,
            scope TEXT NOT NULL,
            CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));",
    )?;
    db.execute(
        "INSERT INTO gpkg_spatial_ref_sys VALUES
            ('WGS 84 geodetic', 4326, 'EPSG', 4326, ?1, 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid'),
            ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
            ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system')",
        [WGS84_WKT],
    )?;
    Ok(())
}

/// The triggers of the `gpkg_rtree_index` extension (GeoPackage 1.2, annex F.3), which keep
/// the index in step when a client edits the table. They call the `ST_*` functions that
/// GeoPackage readers (GDAL, QGIS) provide; SQLite checks those only when a trigger fires.
fn rtree_triggers(table: &str) -> String {
    let t = quoted(table);
    let r = quoted(&format!("rtree_{table}_{GEOMETRY_COLUMN}"));
    let name = |suffix: &str| quoted(&format!("rtree_{table}_{GEOMETRY_COLUMN}_{suffix}"));
    let c = GEOMETRY_COLUMN;
    let values =
        format!("NEW.fid, ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c})");
    format!(
        "CREATE TRIGGER {insert} AFTER INSERT ON {t}
           WHEN (NEW.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c}))
         BEGIN INSERT OR REPLACE INTO {r} VALUES ({values}); END;
         CREATE TRIGGER {update1} AFTER UPDATE OF {c} ON {t}
           WHEN OLD.fid = NEW.fid AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))
         BEGIN INSERT OR REPLACE INTO {r} VALUES ({values}); END;
         CREATE TRIGGER {update2} AFTER UPDATE OF {c} ON {t}
           WHEN OLD.fid = NEW.fid AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c}))
         BEGIN DELETE FROM {r} WHERE id = OLD.fid; END;
         CREATE TRIGGER {update3} AFTER UPDATE ON {t}
           WHEN OLD.fid != NEW.fid AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))
         BEGIN DELETE FROM {r} WHERE id = OLD.fid; INSERT OR REPLACE INTO {r} VALUES ({values}); END;
         CREATE TRIGGER {update4} AFTER UPDATE ON {t}
           WHEN OLD.fid != NEW.fid AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c}))
         BEGIN DELETE FROM {r} WHERE id IN (OLD.fid, NEW.fid); END;
         CREATE TRIGGER {delete} AFTER DELETE ON {t}
           WHEN OLD.{c} NOT NULL
         BEGIN DELETE FROM {r} WHERE id = OLD.fid; END;",
        insert = name("insert"),
        update1 = name("update1"),
        update2 = name("update2"),
        update3 = name("update3"),
        update4 = name("update4"),
        delete = name("delete"),
    )
}
