//! Geofence geometry in plain Rust (the same on SQLite and PostgreSQL): haversine distance,
//! point-in-polygon with the boundary counted as inside, and GeoJSON polygon validation.

use serde_json::Value;

/// Mean earth radius used by the old service's haversine, in metres.
const EARTH_RADIUS_M: f64 = 6_371_000.0;
/// Tolerance for "on the boundary", in degrees (about a centimetre).
const EDGE_EPSILON: f64 = 1e-9;

/// A position as GeoJSON orders it: longitude, latitude.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub lng: f64,
    pub lat: f64,
}

/// One polygon: an outer ring and its holes, each closed (first position == last).
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub rings: Vec<Vec<Position>>,
}

/// Great-circle distance between two points, in metres.
pub fn haversine_m(a_lat: f64, a_lng: f64, b_lat: f64, b_lng: f64) -> f64 {
    let (phi1, phi2) = (a_lat.to_radians(), b_lat.to_radians());
    let d_phi = (b_lat - a_lat).to_radians();
    let d_lambda = (b_lng - a_lng).to_radians();
    let h = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Whether `point` lies on the segment `a`–`b`.
fn on_segment(point: Position, a: Position, b: Position) -> bool {
    let cross = (b.lng - a.lng) * (point.lat - a.lat) - (b.lat - a.lat) * (point.lng - a.lng);
    if cross.abs() > EDGE_EPSILON {
        return false;
    }
    point.lng >= a.lng.min(b.lng) - EDGE_EPSILON
        && point.lng <= a.lng.max(b.lng) + EDGE_EPSILON
        && point.lat >= a.lat.min(b.lat) - EDGE_EPSILON
        && point.lat <= a.lat.max(b.lat) + EDGE_EPSILON
}

/// Where `point` is relative to a closed ring.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    Inside,
    Boundary,
    Outside,
}

fn locate(point: Position, ring: &[Position]) -> Place {
    let mut inside = false;
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        if on_segment(point, a, b) {
            return Place::Boundary;
        }
        // Ray casting towards +longitude.
        if (a.lat > point.lat) != (b.lat > point.lat) {
            let crossing = a.lng + (point.lat - a.lat) / (b.lat - a.lat) * (b.lng - a.lng);
            if point.lng < crossing {
                inside = !inside;
            }
        }
    }
    if inside {
        Place::Inside
    } else {
        Place::Outside
    }
}

impl Polygon {
    /// Inside the outer ring (or on it) and not strictly inside a hole.
    pub fn contains(&self, point: Position) -> bool {
        let Some((outer, holes)) = self.rings.split_first() else {
            return false;
        };
        if locate(point, outer) == Place::Outside {
            return false;
        }
        holes
            .iter()
            .all(|hole| locate(point, hole) != Place::Inside)
    }
}

/// Whether any of the polygons contains the point.
pub fn any_contains(polygons: &[Polygon], lat: f64, lng: f64) -> bool {
    polygons
        .iter()
        .any(|polygon| polygon.contains(Position { lng, lat }))
}

/// A GeoJSON `Polygon` or `MultiPolygon` as polygons, or what is wrong with it (the path of
/// the bad member inside `geometry`).
pub fn parse_geojson(geometry: &Value) -> Result<Vec<Polygon>, String> {
    let kind = geometry.get("type").and_then(Value::as_str);
    let coordinates = geometry
        .get("coordinates")
        .ok_or_else(|| "coordinates: is required".to_string())?;
    match kind {
        Some("Polygon") => Ok(vec![polygon(coordinates, "coordinates")?]),
        Some("MultiPolygon") => {
            let items = coordinates
                .as_array()
                .filter(|items| !items.is_empty())
                .ok_or_else(|| "coordinates: must be a non-empty array of polygons".to_string())?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| polygon(item, &format!("coordinates[{i}]")))
                .collect()
        }
        _ => Err("type: geometry must be Polygon or MultiPolygon".into()),
    }
}

fn polygon(value: &Value, path: &str) -> Result<Polygon, String> {
    let rings = value
        .as_array()
        .filter(|rings| !rings.is_empty())
        .ok_or_else(|| format!("{path}: must be a non-empty array of linear rings"))?;
    let rings = rings
        .iter()
        .enumerate()
        .map(|(i, ring)| linear_ring(ring, &format!("{path}[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Polygon { rings })
}

fn linear_ring(value: &Value, path: &str) -> Result<Vec<Position>, String> {
    let positions = value
        .as_array()
        .ok_or_else(|| format!("{path}: must be an array of positions"))?;
    if positions.len() < 4 {
        return Err(format!("{path}: a linear ring needs at least 4 positions"));
    }
    let ring = positions
        .iter()
        .enumerate()
        .map(|(i, position)| parse_position(position, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if ring.first() != ring.last() {
        return Err(format!(
            "{path}: a linear ring must be closed (last position equal to the first)"
        ));
    }
    Ok(ring)
}

fn parse_position(value: &Value, path: &str) -> Result<Position, String> {
    let numbers = value
        .as_array()
        .filter(|numbers| (2..=3).contains(&numbers.len()))
        .ok_or_else(|| format!("{path}: a position is [longitude, latitude]"))?;
    let number = |i: usize| numbers[i].as_f64().filter(|n| n.is_finite());
    let (Some(lng), Some(lat)) = (number(0), number(1)) else {
        return Err(format!("{path}: longitude and latitude must be numbers"));
    };
    if !(-180.0..=180.0).contains(&lng) {
        return Err(format!("{path}: longitude {lng} is outside -180..180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("{path}: latitude {lat} is outside -90..90"));
    }
    Ok(Position { lng, lat })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn square() -> Vec<Polygon> {
        parse_geojson(&json!({
            "type": "Polygon",
            "coordinates": [
                [[24.0, -28.6], [24.01, -28.6], [24.01, -28.59], [24.0, -28.59], [24.0, -28.6]],
                [[24.004, -28.596], [24.006, -28.596], [24.006, -28.594], [24.004, -28.594], [24.004, -28.596]]
            ]
        }))
        .unwrap()
    }

    #[test]
    fn haversine_matches_known_distances() {
        assert!(haversine_m(-26.2, 28.04, -26.2, 28.04) < 1e-6);
        // One degree of latitude is about 111.19 km on this sphere.
        let degree = haversine_m(0.0, 0.0, 1.0, 0.0);
        assert!((degree - 111_194.9).abs() < 1.0, "{degree}");
        // Johannesburg to Cape Town, about 1 263 km.
        let far = haversine_m(-26.2041, 28.0473, -33.9249, 18.4241);
        assert!((far - 1_263_000.0).abs() < 5_000.0, "{far}");
    }

    #[test]
    fn the_boundary_and_vertices_are_inside_holes_are_outside() {
        let fence = square();
        assert!(any_contains(&fence, -28.595, 24.001), "inside");
        assert!(any_contains(&fence, -28.6, 24.005), "on an edge");
        assert!(any_contains(&fence, -28.59, 24.01), "on a vertex");
        assert!(!any_contains(&fence, -28.58, 24.005), "north of it");
        assert!(!any_contains(&fence, -28.595, 24.011), "east of it");
        assert!(!any_contains(&fence, -28.595, 24.005), "inside the hole");
        assert!(any_contains(&fence, -28.596, 24.005), "on the hole's edge");
    }

    #[test]
    fn multipolygons_contain_points_of_any_member() {
        let fence = parse_geojson(&json!({
            "type": "MultiPolygon",
            "coordinates": [
                [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
                [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 11.0], [10.0, 10.0]]]
            ]
        }))
        .unwrap();
        assert!(any_contains(&fence, 10.5, 10.5));
        assert!(any_contains(&fence, 0.2, 0.5));
        assert!(
            !any_contains(&fence, 0.8, 0.2),
            "above the triangle's diagonal"
        );
    }

    #[test]
    fn bad_geometries_name_the_member() {
        let err = |value: Value| parse_geojson(&value).unwrap_err();
        assert_eq!(
            err(json!({"type": "Point", "coordinates": [1, 2]})),
            "type: geometry must be Polygon or MultiPolygon"
        );
        assert!(
            err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}))
                .contains("at least 4 positions")
        );
        assert!(
            err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}))
                .contains("closed")
        );
        assert_eq!(
            err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 95], [1, 1], [0, 0]]]})),
            "coordinates[0][1]: latitude 95 is outside -90..90"
        );
        assert!(
            err(json!({"type": "MultiPolygon", "coordinates": []})).starts_with("coordinates:")
        );
        assert!(err(json!({"type": "Polygon"})).starts_with("coordinates: is required"));
    }
}
