//! Incident rows, from Kat's incidents.csv or an ACLED export, as Point features.

use serde::Serialize;

use super::table::{Row, Table};
use super::write::{Feature, Geometry};
use super::{ImportError, ImportSummary};
use crate::geocode::{Gazetteer, GeocodeStatus, Placement, UnitRef};

/// The properties of an incident feature, in the published order.
#[derive(Debug, Serialize)]
struct IncidentProps<'a> {
    event_date: &'a str,
    event_type: &'a str,
    actors: Vec<&'a str>,
    fatalities: Option<i64>,
    injured: Option<i64>,
    kidnapped: Option<i64>,
    location_as_reported: &'a str,
    section: Option<String>,
    commune: Option<String>,
    department: Option<String>,
    section_pcode: Option<String>,
    commune_pcode: Option<String>,
    department_pcode: Option<String>,
    summary: Option<&'a str>,
    source_url: Option<&'a str>,
    source_name: Option<&'a str>,
    corroborating_urls: Vec<&'a str>,
    confidence: Option<&'a str>,
    notes: Option<&'a str>,
    geo_precision: Option<u8>,
    geocode_status: &'static str,
    geocode_basis: Option<String>,
}

/// Rows of Kat's incidents.csv.
pub(crate) fn project_rows(
    g: &Gazetteer,
    table: &Table,
    summary: &mut ImportSummary,
) -> Result<Vec<String>, ImportError> {
    table.require(&[
        "id",
        "event_date",
        "event_type",
        "location_as_reported",
        "commune",
        "department",
    ])?;
    let mut lines = Vec::new();
    for row in table.rows() {
        let id = row.get("id");
        if id.is_empty() {
            return Err(row.bad("id", id, "every incident needs an id"));
        }
        let location = row.get("location_as_reported");
        let placement = g.place_row(location, row.opt("commune"), row.opt("department"));
        check(g, id, &placement, row.opt("department"), summary);
        let props = IncidentProps {
            event_date: row.get("event_date"),
            event_type: row.get("event_type"),
            actors: split_list(row.get("actors"), &[';']),
            fatalities: row.int("fatalities")?,
            injured: row.int("injured")?,
            kidnapped: row.int("kidnapped")?,
            location_as_reported: location,
            summary: row.opt("summary"),
            source_url: row.opt("source_url"),
            source_name: row.opt("source_title_or_outlet"),
            corroborating_urls: split_list(row.get("corroborating_urls"), &[';', ' ', '\t', '\n']),
            confidence: row.opt("confidence"),
            notes: row.opt("notes"),
            ..placed_props(&placement, &row)
        };
        lines.push(feature_line(id, &placement, props));
    }
    Ok(lines)
}

/// Rows of an ACLED export. Rows with coordinates keep them; the others are placed by name.
pub(crate) fn acled_rows(
    g: &Gazetteer,
    table: &Table,
    summary: &mut ImportSummary,
) -> Result<Vec<String>, ImportError> {
    table.require(&[
        "event_id_cnty",
        "event_date",
        "event_type",
        "location",
        "latitude",
        "longitude",
        "admin1",
        "admin2",
    ])?;
    let mut lines = Vec::new();
    for row in table.rows() {
        let id = row.get("event_id_cnty");
        if id.is_empty() {
            return Err(row.bad("event_id_cnty", id, "every ACLED event needs an id"));
        }
        let location = row.get("location");
        let placement = match (row.float("longitude")?, row.float("latitude")?) {
            (Some(lon), Some(lat)) => acled_point(g, &row, id, lon, lat, summary)?,
            _ => {
                let p = g.place_row(location, row.opt("admin2"), row.opt("admin1"));
                check(g, id, &p, row.opt("admin1"), summary);
                p
            }
        };
        let actors = [row.get("actor1"), row.get("actor2")]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let props = IncidentProps {
            event_date: row.get("event_date"),
            event_type: row.get("event_type"),
            actors,
            fatalities: row.int("fatalities")?,
            injured: None,
            kidnapped: None,
            location_as_reported: location,
            summary: row.opt("notes"),
            source_url: None,
            source_name: row.opt("source"),
            corroborating_urls: Vec::new(),
            confidence: None,
            notes: None,
            ..placed_props(&placement, &row)
        };
        lines.push(feature_line(id, &placement, props));
    }
    Ok(lines)
}

/// An ACLED row that has coordinates: the point stays, its units come from reverse lookup
/// (only as finely as ACLED's geo_precision allows) and are checked against admin1/admin2.
fn acled_point(
    g: &Gazetteer,
    row: &Row<'_>,
    id: &str,
    lon: f64,
    lat: f64,
    summary: &mut ImportSummary,
) -> Result<Placement, ImportError> {
    let precision = match row.opt("geo_precision") {
        None => 3,
        Some("1") => 1,
        Some("2") => 2,
        Some("3") => 3,
        Some(v) => return Err(row.bad("geo_precision", v, "ACLED geo_precision is 1, 2 or 3")),
    };
    let hit = g.reverse(lon, lat);
    let stated_dept = row.opt("admin1").and_then(|d| g.admin_unit(d, None, true));
    let stated_commune = row
        .opt("admin2")
        .and_then(|c| g.admin_unit(c, stated_dept, false));
    let units = g.units();
    let inside = |stated: Option<UnitRef>| match (stated, &hit) {
        (None, _) => true,
        (Some(s), Some(h)) => units
            .by_pcode
            .get(&h.section_pcode)
            .is_some_and(|&u| units.within(u, s)),
        (Some(_), None) => false,
    };
    let mut status = GeocodeStatus::Matched;
    if !inside(stated_dept) {
        summary.outside_stated_department += 1;
        status = GeocodeStatus::Conflict;
        summary.warnings.push(format!(
            "{id}: point ({lon}, {lat}) lies in {}, not in admin1 {:?}",
            hit.as_ref()
                .map_or("no department (sea or abroad)", |h| h.department.as_str()),
            row.get("admin1")
        ));
    } else if !inside(stated_commune) {
        status = GeocodeStatus::Conflict;
        summary.warnings.push(format!(
            "{id}: point ({lon}, {lat}) lies in {}, not in admin2 {:?}",
            hit.as_ref().map_or("no commune", |h| h.commune.as_str()),
            row.get("admin2")
        ));
    }
    let fine = |p: u8, v: Option<&String>| v.filter(|_| precision <= p).cloned();
    Ok(Placement {
        point: Some([lon, lat]),
        geo_precision: Some(precision),
        geocode_status: status,
        geocode_basis: Some(format!("coordinates (ACLED geo_precision {precision})")),
        section: fine(2, hit.as_ref().map(|h| &h.section)),
        section_pcode: fine(2, hit.as_ref().map(|h| &h.section_pcode)),
        commune: fine(3, hit.as_ref().map(|h| &h.commune)),
        commune_pcode: fine(3, hit.as_ref().map(|h| &h.commune_pcode)),
        department: hit.as_ref().map(|h| h.department.clone()),
        department_pcode: hit.as_ref().map(|h| h.department_pcode.clone()),
    })
    .inspect(|p| summary.count(id, p.geo_precision, p.geocode_status))
}

/// Counts a name-placed row and notes conflicts and points outside the stated department.
fn check(
    g: &Gazetteer,
    id: &str,
    p: &Placement,
    department: Option<&str>,
    summary: &mut ImportSummary,
) {
    summary.count(id, p.geo_precision, p.geocode_status);
    if p.geocode_status == GeocodeStatus::Conflict {
        summary.warnings.push(format!(
            "{id}: {:?} names a place outside the stated unit; placed at {}",
            p.geocode_basis.as_deref().unwrap_or(""),
            p.commune
                .as_deref()
                .or(p.department.as_deref())
                .unwrap_or("?")
        ));
    }
    let (Some(point), Some(stated)) = (
        p.point,
        department.and_then(|d| g.admin_unit(d, None, true)),
    ) else {
        return;
    };
    let in_stated = g
        .reverse(point[0], point[1])
        .is_some_and(|h| h.department_pcode == g.units().pcode(stated));
    if !in_stated {
        summary.outside_stated_department += 1;
        summary.warnings.push(format!(
            "{id}: point {point:?} lies outside the stated department {:?}",
            department.unwrap_or("")
        ));
    }
}

/// The placement part of the properties; the row's own columns fill the rest.
fn placed_props<'a>(p: &Placement, row: &Row<'a>) -> IncidentProps<'a> {
    let unresolved = p.geocode_status == GeocodeStatus::Unresolved;
    IncidentProps {
        event_date: "",
        event_type: "",
        actors: Vec::new(),
        fatalities: None,
        injured: None,
        kidnapped: None,
        location_as_reported: "",
        section: p.section.clone(),
        // An unresolved row still says which commune and department its source gives.
        commune: p.commune.clone().or_else(|| {
            unresolved
                .then(|| row.opt("commune").map(str::to_string))
                .flatten()
        }),
        department: p.department.clone().or_else(|| {
            unresolved
                .then(|| row.opt("department").map(str::to_string))
                .flatten()
        }),
        section_pcode: p.section_pcode.clone(),
        commune_pcode: p.commune_pcode.clone(),
        department_pcode: p.department_pcode.clone(),
        summary: None,
        source_url: None,
        source_name: None,
        corroborating_urls: Vec::new(),
        confidence: None,
        notes: None,
        geo_precision: p.geo_precision,
        geocode_status: p.geocode_status.as_str(),
        geocode_basis: p.geocode_basis.clone(),
    }
}

fn feature_line(id: &str, p: &Placement, props: IncidentProps<'_>) -> String {
    Feature::new(id.to_string(), p.point.map(Geometry::point), props).to_line()
}

/// Splits a list cell on any of the separators, trimming and dropping empty items.
fn split_list<'a>(cell: &'a str, separators: &[char]) -> Vec<&'a str> {
    cell.split(|c| separators.contains(&c))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_split_on_semicolons_and_trim() {
        assert_eq!(
            split_list("Gran Grif;  PNH ;MSS (Kenya)", &[';']),
            vec!["Gran Grif", "PNH", "MSS (Kenya)"]
        );
    }

    #[test]
    fn urls_split_on_semicolons_or_whitespace() {
        assert_eq!(
            split_list("https://a.ht/x; https://b.ht/y https://c.ht", &[';', ' ']),
            vec!["https://a.ht/x", "https://b.ht/y", "https://c.ht"]
        );
        assert!(split_list("", &[';']).is_empty());
    }
}
