//! Name search: normalization, typo tolerance, context and refusal of unknown places.

use std::path::Path;
use std::sync::OnceLock;

use kat::geocode::{Gazetteer, GeocodeStatus, Kind};

fn g() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| Gazetteer::load(Path::new("data")).expect("gazetteer loads"))
}

fn top(q: &str) -> kat::geocode::Candidate {
    g().search(q, 1)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no match for {q:?}"))
}

#[test]
fn ponsonde_matches_pont_sonde() {
    let c = top("Ponsonde");
    assert_eq!(c.section_pcode.as_deref(), Some("HT0531-05"));
    assert_eq!(c.commune.as_deref(), Some("Saint-Marc"));
}

#[test]
fn pont_sonde_without_accent_or_hyphen_matches() {
    for q in ["Pont Sonde", "pont sonde", "PONT-SONDE", "Pont-Sondé"] {
        assert_eq!(top(q).section_pcode.as_deref(), Some("HT0531-05"), "{q}");
    }
}

#[test]
fn one_typo_in_a_long_name_still_matches() {
    let c = top("Pont-Sondee");
    assert_eq!(c.commune.as_deref(), Some("Saint-Marc"));
    assert!(c.score < 1.0, "a typo must cost something");
    assert_eq!(top("Mirebalai").commune.as_deref(), Some("Mirebalais"));
    assert_eq!(top("Kenscof").commune.as_deref(), Some("Kenscoff"));
}

#[test]
fn latibonit_is_the_artibonite_department() {
    let c = top("Latibonit");
    assert_eq!(c.kind, Kind::Department);
    assert_eq!(c.department, "Artibonite");
    assert_eq!(c.precision, 4);
}

#[test]
fn okap_is_cap_haitien() {
    let c = top("Okap");
    assert_eq!(c.commune.as_deref(), Some("Cap-Haïtien"));
    assert_eq!(c.department, "Nord");
}

#[test]
fn st_marc_is_saint_marc() {
    let c = top("St Marc");
    assert_eq!(c.commune.as_deref(), Some("Saint-Marc"));
    assert_eq!(c.kind, Kind::Commune);
}

#[test]
fn seguin_alone_is_the_plateau_in_sud_est() {
    assert_eq!(top("Seguin").department, "Sud-Est");
}

#[test]
fn seguin_beside_pont_sonde_is_the_segur_area_in_artibonite() {
    let c = top("Seguin, Pont-Sonde");
    assert_eq!(c.department, "Artibonite");
    assert!(c.basis.contains("Ségur"), "{}", c.basis);
}

#[test]
fn places_in_one_commune_resolve_to_that_commune() {
    let c = top("Thomassin 32, 38 and 40");
    assert_eq!(c.commune.as_deref(), Some("Pétion-Ville"));
    let c = top("Pétion-Ville; Laboule; Thomassin");
    assert_eq!(c.commune.as_deref(), Some("Pétion-Ville"));
    assert_eq!(c.precision, 3);
}

#[test]
fn places_in_one_section_resolve_to_that_section() {
    let c = top("Liancourt (commissariat; Moreau-Drouet)");
    assert_eq!(c.section_pcode.as_deref(), Some("HT0532-01"));
    assert_eq!(c.precision, 2);
}

#[test]
fn places_in_several_communes_resolve_to_their_department() {
    let c = top("Savien; Pont-Sondé");
    assert_eq!(c.kind, Kind::Department);
    assert_eq!(c.department, "Artibonite");
    assert_eq!(c.commune, None);
}

#[test]
fn numbered_sections_of_a_commune_are_read() {
    let c = top("1re et 2e sections communales de Petite-Rivière de l'Artibonite");
    assert_eq!(c.commune_pcode.as_deref(), Some("HT0542"));
    assert_eq!(c.precision, 3);
    let c = top("2e section de Petite Rivière de l'Artibonite");
    assert_eq!(c.section_pcode.as_deref(), Some("HT0542-02"));
}

#[test]
fn unknown_places_and_punctuation_give_nothing() {
    assert!(g().search("Zzyzx Qwerty", 5).is_empty());
    assert!(g().search(";;, ()", 5).is_empty());
    assert!(g().search("", 5).is_empty());
    assert!(g().search("Ponsonde", 0).is_empty());
}

#[test]
fn short_names_need_an_exact_spelling() {
    // "Pacot" is known; a four-letter spelling one edit away is not guessed.
    assert!(g().search("Pcot", 1).is_empty());
    assert!(g().search("Sidd", 1).is_empty());
}

#[test]
fn crossroads_named_carrefour_are_not_the_commune() {
    assert!(g().search("Carrefour ODN", 1).is_empty());
    assert_eq!(top("Carrefour").commune.as_deref(), Some("Carrefour"));
}

#[test]
fn department_words_inside_a_longer_name_do_not_match() {
    let c = top("Kenscoff centre-ville");
    assert_eq!(c.department, "Ouest");
}

#[test]
fn candidates_render_as_geojson_features() {
    let f = top("Pont-Sondé").to_feature();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert_eq!(f["properties"]["section_pcode"], "HT0531-05");
    assert_eq!(f["properties"]["precision"], 2);
}

#[test]
fn results_are_best_first_and_within_the_limit() {
    let all = g().search("Arcahaie", 5);
    // At least two, or the order below checks nothing.
    assert!(all.len() >= 2 && all.len() <= 5, "{} candidates", all.len());
    assert_eq!(all[0].department, "Ouest");
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn row_naming_a_place_in_another_commune_is_a_conflict_at_the_stated_commune() {
    let p = g().place_row("Pont-Sondé", Some("Gonaïves"), Some("Artibonite"));
    assert_eq!(p.geocode_status, GeocodeStatus::Conflict);
    assert_eq!(p.commune.as_deref(), Some("Gonaïves"));
    assert_eq!(p.geo_precision, Some(3));
    assert_eq!(p.geocode_basis.as_deref(), Some("Pont-Sondé"));
}

#[test]
fn row_with_an_unknown_place_falls_back_to_its_commune_then_department() {
    let p = g().place_row("Rue Inconnue", Some("Jacmel"), Some("Sud-Est"));
    assert_eq!(p.geocode_status, GeocodeStatus::Matched);
    assert_eq!(p.geo_precision, Some(3));
    assert_eq!(p.geocode_basis.as_deref(), Some("commune: Jacmel"));
    let p = g().place_row("Rue Inconnue", None, Some("Sud-Est"));
    assert_eq!(p.geo_precision, Some(4));
    assert_eq!(p.geocode_basis.as_deref(), Some("department: Sud-Est"));
    let p = g().place_row("Rue Inconnue", None, None);
    assert_eq!(p.geocode_status, GeocodeStatus::Unresolved);
    assert_eq!(p.point, None);
}

#[test]
fn post_2018_commune_follows_the_alias_rule() {
    let p = g().place_row("Liancourt", Some("Liancourt"), Some("Artibonite"));
    assert_eq!(p.geocode_status, GeocodeStatus::Matched);
    assert_eq!(p.section_pcode.as_deref(), Some("HT0532-01"));
    assert_eq!(p.commune.as_deref(), Some("Verrettes"));
}

#[test]
fn a_place_beside_an_unknown_one_is_kept_at_commune_level() {
    let p = g().place_row(
        "Vertières; Belair; Carrefour ODN",
        Some("Cap-Haïtien"),
        Some("Nord"),
    );
    assert_eq!(p.geo_precision, Some(3));
    assert_eq!(p.commune.as_deref(), Some("Cap-Haïtien"));
}

#[test]
fn a_name_several_units_share_is_placed_by_the_commune_beside_it() {
    let c = top("Sarazin, Mirebalais");
    assert_eq!(c.commune.as_deref(), Some("Mirebalais"));
}

/// Every normalized name of the alias table's rows for a place, read from the file itself.
fn alias_names_in_section(pcode: &str) -> Vec<String> {
    let text = std::fs::read_to_string("data/gazetteer/aliases.csv").expect("aliases.csv");
    text.lines()
        .skip(1)
        .filter(|l| l.split(',').nth(5) == Some(pcode))
        .map(|l| kat::geocode::normalize(l.split(',').next().unwrap_or("")))
        .collect()
}

#[test]
fn suggestions_complete_an_unfinished_name() {
    for typed in ["Pont-So", "pont so", "Ponso", "PONT"] {
        let s = g().suggest(typed, 5);
        assert!(
            s.iter()
                .any(|c| c.section_pcode.as_deref() == Some("HT0531-05")),
            "{typed}: {:?}",
            s.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        // Each suggestion's name begins with what was typed, or has a word that does.
        let t = kat::geocode::compact(&kat::geocode::normalize(typed));
        for c in &s {
            let n = kat::geocode::normalize(&c.name);
            assert!(
                kat::geocode::compact(&n).starts_with(&t)
                    || n.split(' ').any(|w| w.starts_with(&t)),
                "{typed} → {}",
                c.name
            );
        }
    }
    // The Pont-Sondé names in the file are all one place: offered once.
    assert!(alias_names_in_section("HT0531-05").len() >= 4);
    let s = g().suggest("Pont-So", 5);
    let here = s
        .iter()
        .filter(|c| c.section_pcode.as_deref() == Some("HT0531-05"))
        .count();
    assert_eq!(
        here,
        1,
        "{:?}",
        s.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
}

#[test]
fn suggestions_start_with_the_full_matches() {
    for q in ["Ponsonde", "Okap", "Latibonit", "Kenscof"] {
        let s = g().suggest(q, 5);
        assert_eq!(s[0].name, top(q).name, "{q}");
        assert_eq!(s[0].point, top(q).point, "{q}");
    }
}

#[test]
fn two_letters_complete_nothing() {
    assert!(g().suggest("Po", 5).is_empty());
    assert!(g().suggest("zzzq", 5).is_empty());
}
