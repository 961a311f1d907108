//! Rotated tasks: the angle of each task ([`Angles`]) and the rotation of u8 images about their
//! centre ([`Rotation`]), counter-clockwise as the image is seen (row 0 at the top), with
//! bilinear interpolation and zero fill outside the source image.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The generator stream random angles are drawn from: their own, so that drawing them changes
/// no other number of the run.
const ANGLE_STREAM: u64 = 0xA261_E50F_7A5C_5EED;

/// Most tasks a list of angles may give.
pub const MAX_ANGLES: usize = 1000;

/// How the tasks of a rotated benchmark get their angles.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Angles {
    /// Task t of T rotates by t·180°/T: evenly spread over [0°, 180°), task 1 unrotated.
    #[default]
    Evenly,
    /// Each task's angle drawn uniformly from [0°, 180°) with the run's seed.
    Random,
    /// These angles in degrees, one task each.
    Given(Vec<f64>),
}

impl Angles {
    /// Whether this is the default (left out of stored configs).
    pub fn is_evenly(&self) -> bool {
        *self == Self::Evenly
    }

    /// Tasks of the full protocol: `default` unless a list gives one angle per task.
    pub fn tasks(&self, default: usize) -> usize {
        match self {
            Self::Given(v) => v.len(),
            _ => default,
        }
    }

    /// The angle of each of `tasks` tasks, in degrees.
    pub fn resolve(&self, tasks: usize, seed: u64) -> Vec<f64> {
        match self {
            Self::Evenly => (0..tasks)
                .map(|t| t as f64 * 180.0 / tasks as f64)
                .collect(),
            Self::Random => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ANGLE_STREAM);
                (0..tasks).map(|_| rng.gen_range(0.0..180.0)).collect()
            }
            Self::Given(v) => v.clone(),
        }
    }

    /// A list that is empty, too long or holds a value that is not a finite angle in
    /// [-360°, 360°], as the message for `angles`.
    pub fn check(&self) -> Result<(), String> {
        let Self::Given(v) = self else { return Ok(()) };
        if v.is_empty() || v.len() > MAX_ANGLES {
            return Err(format!(
                "angles lists {} angles: give between 1 and {MAX_ANGLES}, one per task",
                v.len()
            ));
        }
        match v.iter().find(|a| !(a.is_finite() && a.abs() <= 360.0)) {
            Some(a) => Err(format!(
                "angles: {a} is not an angle in degrees between -360 and 360"
            )),
            None => Ok(()),
        }
    }
}

/// An angle as task names show it: whole degrees plain, others to one decimal.
pub fn degrees(a: f64) -> String {
    if a == a.round() {
        format!("{a:.0}°")
    } else {
        format!("{a:.1}°")
    }
}

impl fmt::Display for Angles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Evenly => f.write_str("evenly"),
            Self::Random => f.write_str("random"),
            Self::Given(v) => {
                let s: Vec<String> = v.iter().map(f64::to_string).collect();
                f.write_str(&s.join(","))
            }
        }
    }
}

impl std::str::FromStr for Angles {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "evenly" => Ok(Self::Evenly),
            "random" => Ok(Self::Random),
            list => list
                .split(',')
                .map(|a| a.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Given)
                .map_err(|_| {
                    format!(
                        "'{s}' is not a list of angles: give degrees as 0,45,90, evenly or random"
                    )
                }),
        }
    }
}

/// Stored as `"evenly"`, `"random"` or a list of degrees.
impl Serialize for Angles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Given(v) => v.serialize(s),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

/// Read from a list of degrees or a string: `"evenly"`, `"random"` or `"0,45,90"` (as the flag).
impl<'de> Deserialize<'de> for Angles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<f64>),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "want a list of degrees such as [0, 45, 90], \"evenly\" or \"random\"",
            )
        })? {
            Raw::List(v) => Ok(Self::Given(v)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// One source pixel's share of an output pixel.
#[derive(Debug, Clone, Copy)]
struct Tap {
    /// Index of the source pixel within a channel plane.
    at: u32,
    /// Its bilinear weight.
    weight: f32,
}

/// A rotation of `rows` x `cols` images, worked out once (which source pixels, with which
/// weights, make each output pixel) and then applied to every image of a task.
#[derive(Debug, Clone)]
pub struct Rotation {
    rows: usize,
    cols: usize,
    /// Per output pixel, up to four taps; pixels whose source lies outside stay 0.
    taps: Vec<Vec<Tap>>,
}

/// sin and cos of an angle in degrees, exact at multiples of 90° (where f64's trigonometry
/// leaves 6e-17 instead of 0, which would smear a quarter turn over two pixels).
fn sin_cos(degrees: f64) -> (f64, f64) {
    let quarter = degrees / 90.0;
    if quarter == quarter.round() {
        return match (quarter.round() as i64).rem_euclid(4) {
            0 => (0.0, 1.0),
            1 => (1.0, 0.0),
            2 => (0.0, -1.0),
            _ => (-1.0, 0.0),
        };
    }
    degrees.to_radians().sin_cos()
}

impl Rotation {
    /// The rotation of `rows` x `cols` images by `degrees` counter-clockwise about the centre
    /// ((rows−1)/2, (cols−1)/2).
    pub fn new(rows: usize, cols: usize, degrees: f64) -> Self {
        let (sin, cos) = sin_cos(degrees);
        let (cy, cx) = ((rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0);
        // Coordinates this close to a pixel centre are that centre: rounding in the sums
        // must not move an exact pixel onto its neighbour.
        let snap = |v: f64| {
            if (v - v.round()).abs() < 1e-9 {
                v.round()
            } else {
                v
            }
        };
        let mut taps = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                // With y pointing up, an output point p comes from the source point R(−θ)·p.
                let (x, y) = (c as f64 - cx, cy - r as f64);
                let xs = cos * x + sin * y;
                let ys = -sin * x + cos * y;
                let (sr, sc) = (snap(cy - ys), snap(cx + xs));
                let (r0, c0) = (sr.floor(), sc.floor());
                let (fr, fc) = (sr - r0, sc - c0);
                let mut here = Vec::with_capacity(4);
                for (dr, wr) in [(0.0, 1.0 - fr), (1.0, fr)] {
                    for (dc, wc) in [(0.0, 1.0 - fc), (1.0, fc)] {
                        let (rr, cc) = (r0 + dr, c0 + dc);
                        let w = wr * wc;
                        let inside = rr >= 0.0 && cc >= 0.0 && rr < rows as f64 && cc < cols as f64;
                        if w > 0.0 && inside {
                            here.push(Tap {
                                at: (rr as usize * cols + cc as usize) as u32,
                                weight: w as f32,
                            });
                        }
                    }
                }
                taps.push(here);
            }
        }
        Rotation { rows, cols, taps }
    }

    /// Rotates one image of `channels` planes of `rows` x `cols` pixels (channel-major, as
    /// CIFAR stores them), appending the result to `out`.
    pub fn apply(&self, image: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + image.len(), 0);
        self.apply_into(image, &mut out[start..]);
    }

    /// As [`Rotation::apply`], into `out`, which has the image's length.
    pub fn apply_into(&self, image: &[u8], out: &mut [u8]) {
        let plane = self.rows * self.cols;
        for (src, dst) in image.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
            for (o, taps) in dst.iter_mut().zip(&self.taps) {
                let v: f32 = taps
                    .iter()
                    .map(|t| t.weight * src[t.at as usize] as f32)
                    .sum();
                *o = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotate(image: &[u8], rows: usize, cols: usize, degrees: f64) -> Vec<u8> {
        let mut out = Vec::new();
        Rotation::new(rows, cols, degrees).apply(image, &mut out);
        out
    }

    /// A 5x5 image of distinct values, so that any misplaced pixel shows.
    fn ramp(n: usize) -> Vec<u8> {
        (0..n * n).map(|v| (v * 7 % 251) as u8 + 1).collect()
    }

    #[test]
    fn zero_degrees_is_the_identity() {
        let img = ramp(5);
        assert_eq!(rotate(&img, 5, 5, 0.0), img);
        let rect: Vec<u8> = (1..=12).collect();
        assert_eq!(rotate(&rect, 3, 4, 0.0), rect);
        assert_eq!(rotate(&rect, 3, 4, 360.0), rect);
    }

    #[test]
    fn a_quarter_turn_is_transpose_then_flip_counter_clockwise() {
        for n in [4, 5] {
            let img = ramp(n);
            let got = rotate(&img, n, n, 90.0);
            // Counter-clockwise: the top row becomes the left column, read bottom-up, so that
            // out[r][c] = in[c][n−1−r] (the transpose with its rows flipped).
            let mut want = vec![0; n * n];
            for r in 0..n {
                for c in 0..n {
                    want[r * n + c] = img[c * n + (n - 1 - r)];
                }
            }
            assert_eq!(got, want, "{n}x{n}");
            // The top-right corner goes to the top-left.
            assert_eq!(got[0], img[n - 1]);
            // Four quarter turns, and two, come back exactly.
            let half = rotate(&got, n, n, 90.0);
            let rev: Vec<u8> = img.iter().rev().copied().collect();
            assert_eq!(half, rev);
            assert_eq!(rotate(&rotate(&half, n, n, 90.0), n, n, 90.0), img);
            assert_eq!(rotate(&img, n, n, -270.0), got);
        }
    }

    #[test]
    fn forty_five_degrees_interpolates_bilinearly_with_zero_fill() {
        // 3x3, centre (1,1). Output pixel (0,1): x = 0, y = 1; source x = sin45, y = cos45, so
        // source row 1 − 0.7071 = 0.2929, column 1 + 0.7071 = 1.7071: between pixels (0,1),
        // (0,2), (1,1), (1,2).
        let img = [0, 10, 20, 30, 40, 50, 60, 70, 80];
        let got = rotate(&img, 3, 3, 45.0);
        let (fr, fc) = (1.0 - 0.5f64.sqrt(), 0.5f64.sqrt());
        let v = (1.0 - fr) * (1.0 - fc) * 10.0
            + (1.0 - fr) * fc * 20.0
            + fr * (1.0 - fc) * 40.0
            + fr * fc * 50.0;
        // By hand: 0.2071·10 + 0.5·20 + 0.0858·40 + 0.2071·50 = 2.071 + 10 + 3.431 + 10.355.
        assert!((v - 25.858).abs() < 1e-3, "{v}");
        assert_eq!(got[1], 26);
        // The centre stays; the corner (0,0) comes from (−0.414, 1): half outside, so the
        // zero fill weighs in: 0.586·10 = 5.86 → 6.
        assert_eq!(got[4], 40);
        assert_eq!(got[0], 6);
    }

    #[test]
    fn every_channel_plane_turns_alike() {
        let r: Vec<u8> = (1..=4).collect();
        let g: Vec<u8> = (11..=14).collect();
        let img: Vec<u8> = r.iter().chain(&g).copied().collect();
        let got = rotate(&img, 2, 2, 90.0);
        let mut want = rotate(&r, 2, 2, 90.0);
        want.extend(rotate(&g, 2, 2, 90.0));
        assert_eq!(got, want);
        assert_eq!(&got[..4], &[2, 4, 1, 3]);
    }

    #[test]
    fn angles_spread_evenly_or_come_from_the_seed() {
        assert_eq!(
            Angles::Evenly.resolve(10, 0),
            (0..10).map(|t| 18.0 * t as f64).collect::<Vec<_>>()
        );
        assert_eq!(Angles::Evenly.resolve(4, 0), vec![0.0, 45.0, 90.0, 135.0]);
        let a = Angles::Random.resolve(10, 5);
        assert_eq!(a, Angles::Random.resolve(10, 5));
        assert_ne!(a, Angles::Random.resolve(10, 6));
        assert!(a.iter().all(|x| (0.0..180.0).contains(x)));
        let given = Angles::Given(vec![0.0, 30.0]);
        assert_eq!(
            (given.tasks(10), given.resolve(10, 0)),
            (2, vec![0.0, 30.0])
        );
        assert_eq!(Angles::Random.tasks(10), 10);
    }

    #[test]
    fn angle_settings_parse_check_and_store() {
        assert_eq!("evenly".parse::<Angles>().unwrap(), Angles::Evenly);
        assert_eq!(
            "0, 22.5,-45".parse::<Angles>().unwrap(),
            Angles::Given(vec![0.0, 22.5, -45.0])
        );
        assert!("0,x"
            .parse::<Angles>()
            .unwrap_err()
            .contains("'0,x' is not a list of angles"));
        assert_eq!(
            Angles::Given(vec![0.0, 400.0]).check().unwrap_err(),
            "angles: 400 is not an angle in degrees between -360 and 360"
        );
        assert!(Angles::Given(vec![]).check().is_err());
        let json = serde_json::to_string(&Angles::Given(vec![0.0, 22.5])).unwrap();
        assert_eq!(json, "[0.0,22.5]");
        assert_eq!(
            serde_json::from_str::<Angles>(&json).unwrap(),
            Angles::Given(vec![0.0, 22.5])
        );
        assert_eq!(
            serde_json::from_str::<Angles>("\"random\"").unwrap(),
            Angles::Random
        );
        assert_eq!(
            (degrees(18.0), degrees(25.714)),
            ("18°".into(), "25.7°".into())
        );
    }
}
