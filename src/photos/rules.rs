//! The one evidence rule every photo path uses: the capture time resolved from EXIF (or the
//! tenant's zone), the time window around the upload, and the PON's geofence (polygon first,
//! else centre and radius), giving a verdict with its reasons.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::exif::{Exif, ExifOutcome};
use super::geo::{self, Polygon};

/// How far from the upload a capture time may be.
#[derive(Clone, Copy, Debug)]
pub struct TimeWindow {
    pub max_age: Duration,
    pub max_future: Duration,
}

/// A PON's geofence as the rule sees it.
#[derive(Clone, Debug)]
pub enum Fence {
    Polygons(Vec<Polygon>),
    Circle { lat: f64, lng: f64, radius_m: f64 },
    Missing,
}

/// What the photo says about itself once EXIF is read and the time resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub taken_at: Option<DateTime<Utc>>,
    pub taken_offset: Option<String>,
    pub time_source: Option<String>,
    pub gps: Option<(f64, f64)>,
    /// `exif_missing` or `exif_corrupt: ...` when the EXIF block was absent or unreadable.
    pub exif_problem: Option<String>,
}

/// The outcome, stored on the photo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub exif_ok: bool,
    pub within_geofence: bool,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn valid(&self) -> bool {
        self.exif_ok && self.within_geofence
    }

    pub fn label(&self) -> &'static str {
        if self.valid() { "valid" } else { "invalid" }
    }
}

/// A camera-local time at the EXIF offset, else in `zone` (never silently UTC).
fn resolve_time(taken: NaiveDateTime, offset: Option<FixedOffset>, zone: Tz) -> Reading {
    let (instant, offset, source) = match offset {
        Some(offset) => (
            offset
                .from_local_datetime(&taken)
                .single()
                .map(|t| t.to_utc()),
            Some(offset),
            "exif_offset".to_string(),
        ),
        None => {
            let local = zone.from_local_datetime(&taken).earliest();
            (
                local.map(|t| t.to_utc()),
                local.map(|t| t.offset().fix()),
                format!("tenant_zone:{}", zone.name()),
            )
        }
    };
    Reading {
        taken_at: instant,
        taken_offset: offset.map(|o| o.to_string()),
        time_source: Some(source),
        ..Reading::default()
    }
}

/// What an EXIF read gives the rule; `zone` is the tenant's.
pub fn reading(outcome: &ExifOutcome, zone: Tz) -> Reading {
    match outcome {
        ExifOutcome::Missing => Reading {
            exif_problem: Some("exif_missing".into()),
            ..Reading::default()
        },
        ExifOutcome::Corrupt(why) => Reading {
            exif_problem: Some(format!("exif_corrupt: {why}")),
            ..Reading::default()
        },
        ExifOutcome::Found(Exif { taken, offset, gps }) => {
            let mut reading = taken
                .map(|taken| resolve_time(taken, *offset, zone))
                .unwrap_or_default();
            reading.gps = *gps;
            reading
        }
    }
}

/// Judges a reading against the window around `uploaded_at` and the fence.
pub fn judge(
    reading: &Reading,
    fence: &Fence,
    uploaded_at: DateTime<Utc>,
    window: TimeWindow,
) -> Verdict {
    let mut reasons = Vec::new();
    if let Some(problem) = &reading.exif_problem {
        reasons.push(problem.clone());
    }
    let exif_ok = match reading.taken_at {
        None => {
            reasons.push("time_missing: no DateTimeOriginal".into());
            false
        }
        Some(taken) if taken < uploaded_at - window.max_age => {
            reasons.push(format!(
                "time_too_old: taken {} is more than {} minutes before the upload",
                taken.to_rfc3339(),
                window.max_age.num_minutes()
            ));
            false
        }
        Some(taken) if taken > uploaded_at + window.max_future => {
            reasons.push(format!(
                "time_in_future: taken {} is more than {} minutes after the upload",
                taken.to_rfc3339(),
                window.max_future.num_minutes()
            ));
            false
        }
        Some(_) => true,
    };
    let within_geofence = match (reading.gps, fence) {
        (_, Fence::Missing) => {
            reasons.push("geofence_missing: the PON has no geofence".into());
            false
        }
        (None, _) => {
            reasons.push("gps_missing: no GPS position".into());
            false
        }
        (Some((lat, lng)), Fence::Polygons(polygons)) => {
            let inside = geo::any_contains(polygons, lat, lng);
            if !inside {
                reasons.push(format!(
                    "outside_geofence: {lat},{lng} is outside the PON's polygon"
                ));
            }
            inside
        }
        (
            Some((lat, lng)),
            Fence::Circle {
                lat: c_lat,
                lng: c_lng,
                radius_m,
            },
        ) => {
            let distance = geo::haversine_m(lat, lng, *c_lat, *c_lng);
            let inside = distance <= *radius_m;
            if !inside {
                reasons.push(format!(
                    "outside_geofence: {distance:.0} m from the PON's centre, radius {radius_m:.0} m"
                ));
            }
            inside
        }
    };
    Verdict {
        exif_ok,
        within_geofence,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: TimeWindow = TimeWindow {
        max_age: Duration::hours(24),
        max_future: Duration::minutes(5),
    };

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn found(taken: &str, offset: Option<&str>, gps: Option<(f64, f64)>) -> ExifOutcome {
        ExifOutcome::Found(Exif {
            taken: Some(NaiveDateTime::parse_from_str(taken, "%Y-%m-%d %H:%M:%S").unwrap()),
            offset: offset.map(|o| o.parse().unwrap()),
            gps,
        })
    }

    const CIRCLE: Fence = Fence::Circle {
        lat: -26.2,
        lng: 28.04,
        radius_m: 250.0,
    };

    #[test]
    fn local_times_use_the_exif_offset_else_the_tenant_zone() {
        let zone: Tz = "Africa/Johannesburg".parse().unwrap();
        let with_offset = reading(&found("2026-11-27 10:00:00", Some("+01:00"), None), zone);
        assert_eq!(with_offset.taken_at, Some(at("2026-11-27T09:00:00Z")));
        assert_eq!(with_offset.time_source.as_deref(), Some("exif_offset"));
        let zoned = reading(&found("2026-11-27 10:00:00", None, None), zone);
        assert_eq!(
            zoned.taken_at,
            Some(at("2026-11-27T08:00:00Z")),
            "SAST is UTC+2"
        );
        assert_eq!(zoned.taken_offset.as_deref(), Some("+02:00"));
        assert_eq!(
            zoned.time_source.as_deref(),
            Some("tenant_zone:Africa/Johannesburg")
        );
    }

    #[test]
    fn the_window_refuses_old_and_future_times() {
        let zone = chrono_tz::UTC;
        let upload = at("2026-11-27T12:00:00Z");
        let gps = Some((-26.2, 28.04));
        let judge_at = |taken: &str| {
            judge(
                &reading(&found(taken, Some("+00:00"), gps), zone),
                &CIRCLE,
                upload,
                WINDOW,
            )
        };
        assert!(judge_at("2026-11-26 12:00:00").valid(), "exactly 24 h old");
        assert!(
            judge_at("2026-11-27 12:05:00").valid(),
            "exactly 5 min ahead"
        );
        let old = judge_at("2026-11-26 11:59:59");
        assert!(!old.exif_ok && old.within_geofence);
        assert!(
            old.reasons[0].starts_with("time_too_old"),
            "{:?}",
            old.reasons
        );
        let future = judge_at("2026-11-27 12:05:01");
        assert!(future.reasons[0].starts_with("time_in_future"));
    }

    #[test]
    fn the_fence_is_the_polygon_first_else_the_circle() {
        let upload = at("2026-11-27T12:00:00Z");
        let near = reading(
            &found(
                "2026-11-27 11:00:00",
                Some("+00:00"),
                Some((-26.2005, 28.04)),
            ),
            chrono_tz::UTC,
        );
        assert!(
            judge(&near, &CIRCLE, upload, WINDOW).valid(),
            "about 55 m away"
        );
        let far = Reading {
            gps: Some((-26.21, 28.04)),
            ..near.clone()
        };
        let verdict = judge(&far, &CIRCLE, upload, WINDOW);
        assert!(verdict.exif_ok && !verdict.within_geofence);
        assert!(verdict.reasons[0].starts_with("outside_geofence"));
        let polygon = Fence::Polygons(
            geo::parse_geojson(&serde_json::json!({"type": "Polygon", "coordinates": [[
                [28.0, -26.3], [28.1, -26.3], [28.1, -26.2], [28.0, -26.2], [28.0, -26.3]
            ]]}))
            .unwrap(),
        );
        assert!(
            judge(&far, &polygon, upload, WINDOW).valid(),
            "inside the polygon"
        );
        let missing = judge(&far, &Fence::Missing, upload, WINDOW);
        assert!(missing.reasons[0].starts_with("geofence_missing"));
        let no_gps = Reading { gps: None, ..near };
        assert!(judge(&no_gps, &CIRCLE, upload, WINDOW).reasons[0].starts_with("gps_missing"));
    }

    #[test]
    fn missing_and_corrupt_exif_are_reasons() {
        let upload = at("2026-11-27T12:00:00Z");
        let verdict = judge(
            &reading(&ExifOutcome::Missing, chrono_tz::UTC),
            &CIRCLE,
            upload,
            WINDOW,
        );
        assert_eq!(verdict.reasons[0], "exif_missing");
        assert!(!verdict.valid());
        let verdict = judge(
            &reading(&ExifOutcome::Corrupt("bad".into()), chrono_tz::UTC),
            &CIRCLE,
            upload,
            WINDOW,
        );
        assert_eq!(verdict.reasons[0], "exif_corrupt: bad");
    }
}
