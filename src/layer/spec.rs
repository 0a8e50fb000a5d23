//! The collections Kat serves: where each one lives in the data directory, which of its
//! properties are required, dated and queryable.

/// How a queryable compares a user's value with a feature's property (both folded by
/// [`crate::text::fold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The whole value, e.g. `department=Ouest`.
    Exact,
    /// A substring of the value, or of any element of an array, e.g. `actor=gran grif`.
    Contains,
}

/// A property that `/items` can filter on with `name=value`.
#[derive(Debug)]
pub struct Queryable {
    pub name: &'static str,
    pub property: &'static str,
    pub kind: MatchKind,
    pub description: &'static str,
}

/// A collection's static definition.
#[derive(Debug)]
pub struct CollectionSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Path below the data directory.
    pub file: &'static str,
    /// The property that dates a feature (a day `YYYY-MM-DD`, a month `YYYY-MM` or a date-time).
    pub time_property: Option<&'static str>,
    /// Properties that every feature must carry, not null.
    pub required: &'static [&'static str],
    pub queryables: &'static [Queryable],
    /// A layer whose rows may lack a place (an unresolved incident) allows null geometry.
    pub allow_null_geometry: bool,
}

const fn exact(name: &'static str, description: &'static str) -> Queryable {
    Queryable {
        name,
        property: name,
        kind: MatchKind::Exact,
        description,
    }
}

pub static COLLECTIONS: &[CollectionSpec] = &[
    CollectionSpec {
        id: "incidents",
        title: "Documented incidents",
        description: "Violent incidents in Haiti, 2023-2025, each compiled from public news pages \
                      and placed as precisely as its sources allow (geo_precision 1 locality, \
                      2 communal section, 3 commune, 4 department). Coverage is uneven: Ouest \
                      and Artibonite dominate the sources.",
        file: "incidents.geojson",
        time_property: Some("event_date"),
        required: &["event_date", "event_type"],
        queryables: &[
            exact(
                "department",
                "Department (French COD-AB name, e.g. Ouest); case and accents are ignored",
            ),
            exact(
                "commune",
                "Commune (COD-AB name, e.g. Saint-Marc); case and accents are ignored",
            ),
            exact(
                "event_type",
                "Event type, e.g. massacre, kidnapping, armed_clash",
            ),
            Queryable {
                name: "actor",
                property: "actors",
                kind: MatchKind::Contains,
                description: "Part of an actor's name, case-insensitive, e.g. gran grif",
            },
        ],
        allow_null_geometry: true,
    },
    CollectionSpec {
        id: "gang_areas",
        title: "Armed-group areas",
        description: "Areas that armed groups control, contest or influence, as press reports \
                      state at a point in time. Each area is the union of the communal sections \
                      or communes its localities lie in: the border is approximate (see basis).",
        file: "gang_areas.geojson",
        time_property: Some("as_of"),
        required: &["group", "status", "source_url"],
        queryables: &[
            Queryable {
                name: "group",
                property: "group",
                kind: MatchKind::Contains,
                description: "Part of the armed group's name, case-insensitive",
            },
            exact("status", "controlled, contested or influence"),
            exact("department", "Department (French COD-AB name)"),
        ],
        allow_null_geometry: true,
    },
    CollectionSpec {
        id: "departments",
        title: "Departments",
        description: "Haiti's 10 departments (OCHA COD-AB, CNIGS, 2018), full resolution.",
        file: "admin/departments.geojson",
        time_property: None,
        required: &["name", "pcode"],
        queryables: &[
            exact("name", "Department name, e.g. Artibonite"),
            exact("pcode", "P-code, e.g. HT05"),
        ],
        allow_null_geometry: false,
    },
    CollectionSpec {
        id: "communes",
        title: "Communes",
        description: "Haiti's 140 communes (OCHA COD-AB, CNIGS, 2018), full resolution.",
        file: "admin/communes.geojson",
        time_property: None,
        required: &["name", "pcode", "department"],
        queryables: &[
            exact("name", "Commune name, e.g. Saint-Marc"),
            exact("pcode", "P-code, e.g. HT0511"),
            exact("department", "Department name"),
        ],
        allow_null_geometry: false,
    },
    CollectionSpec {
        id: "sections",
        title: "Communal sections",
        description: "Haiti's 570 communal sections (OCHA COD-AB, CNIGS, 2018), full resolution.",
        file: "admin/sections.geojson",
        time_property: None,
        required: &["name", "pcode", "commune", "department"],
        queryables: &[
            exact("name", "Section name, e.g. 5e Section Bocozelle"),
            exact("pcode", "P-code, e.g. HT0511-05"),
            exact("commune", "Commune name"),
            exact("department", "Department name"),
        ],
        allow_null_geometry: false,
    },
];

/// The collection with this id.
pub fn find(id: &str) -> Option<&'static CollectionSpec> {
    COLLECTIONS.iter().find(|c| c.id == id)
}

/// Haiti's extent with a margin for its coast and islands: a feature outside it is a data error
/// (most often swapped latitude and longitude).
pub const HAITI_EXTENT: [f64; 4] = [-74.7, 17.8, -71.4, 20.3];
