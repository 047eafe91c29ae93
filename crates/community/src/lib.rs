//! The community model: what everyone's ratings say about films, and nothing about any one
//! person. The relay builds it ([`Model::build`]) from every account's ratings and serves it a
//! page at a time ([`Model::to_wire`], [`pages`]); a client stores it and recommends from it offline
//! ([`Model::from_wire`]). The same build serves a community imported from a CSV file on one
//! machine, so an evaluation measures exactly what a client receives.
//!
//! Per film: how many people rated it and their mean, and its [`NEIGHBORS`] strongest EASE
//! weights ([`ease`]) to other films, each quantized to 8 bits against the film's largest one.
//! Only films rated by at least [`MIN_RATERS`] people are in it, so no film's figures are one
//! person's rating.

pub mod ease;
pub mod ratings_file;

use std::collections::HashMap;
use std::hash::Hash;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use movietalk_protocol::relay::ModelFilm;

use ease::{Ease, EaseParams};

/// Weights kept per film (those of largest magnitude).
pub const NEIGHBORS: usize = 100;

/// Films rated by fewer people are left out of the model altogether.
pub const MIN_RATERS: u32 = 3;

/// The EASE fit, chosen on the MovieLens validation protocol (`docs/recommendations.md`):
/// λ = 4 × the mean number of raters of a film (2× and 8× within noise; a fixed λ would drown a
/// small community); the 3,000 most-rated films at most, which bounds the dense inverse
/// (`n³/2` multiply-adds, two `n²/2` triangles of `f64` in memory: 72 MB at 3,000).
pub const EASE: EaseParams = EaseParams {
    lambda: 4.0,
    min_raters: MIN_RATERS as usize,
    max_items: 3000,
};

/// Films per page of the wire form (about 1 MB of JSON).
pub const FILMS_PER_PAGE: usize = 2000;

/// One film of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Film<K> {
    pub key: K,
    pub raters: u32,
    /// Mean stars, rounded to a hundredth.
    pub mean: f32,
    /// The largest |weight| of `near`; a quantized weight `q` is `q / 127 × scale`.
    pub scale: f32,
    /// (place of the other film in [`Model::films`], quantized weight), strongest first.
    pub near: Vec<(u32, i8)>,
}

impl<K> Film<K> {
    /// The neighbours with their weights: how much having rated this film speaks for each.
    pub fn weights(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        let unit = self.scale / 127.0;
        self.near
            .iter()
            .map(move |(j, q)| (*j, f32::from(*q) * unit))
    }
}

/// The whole model; films in key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model<K> {
    pub films: Vec<Film<K>>,
}

/// Why a received model was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("film {key:?}: its neighbours are not base64 of 4-byte entries")]
    Encoding { key: String },
    #[error("film {key:?}: a neighbour's place {place} is past the model's {films} films")]
    Place {
        key: String,
        place: u32,
        films: usize,
    },
    #[error("film {key:?}: raters {raters}, mean {mean} or scale {scale} out of range")]
    Figures {
        key: String,
        raters: u32,
        mean: f32,
        scale: f32,
    },
}

impl<K: Hash + Eq + Clone + Ord> Model<K> {
    /// Builds the model from (rater, film, stars) triples, one per rater and film (a later
    /// triple of the same pair replaces an earlier one). Who rated what feeds EASE (binary rows:
    /// on MovieLens they beat star values clearly); the stars feed the per-film means.
    pub fn build<U: Hash + Eq>(ratings: impl IntoIterator<Item = (U, K, f32)>) -> Model<K> {
        let mut films: HashMap<K, u32> = HashMap::new();
        let mut keys: Vec<K> = Vec::new();
        let mut users: HashMap<U, HashMap<u32, f32>> = HashMap::new();
        for (user, key, stars) in ratings {
            let id = *films.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                keys.len() as u32 - 1
            });
            users.entry(user).or_default().insert(id, stars);
        }
        let mut raters = vec![0u32; keys.len()];
        let mut sums = vec![0f64; keys.len()];
        let rows: Vec<Vec<(i64, f32)>> = users
            .into_values()
            .map(|films| {
                films
                    .into_iter()
                    .map(|(f, stars)| {
                        raters[f as usize] += 1;
                        sums[f as usize] += f64::from(stars);
                        (i64::from(f), 1.0)
                    })
                    .collect()
            })
            .collect();
        // The films in the model, in key order; `place[id]` is a film's place in it.
        let mut kept: Vec<u32> = (0..keys.len() as u32)
            .filter(|f| raters[*f as usize] >= MIN_RATERS)
            .collect();
        kept.sort_by(|a, b| keys[*a as usize].cmp(&keys[*b as usize]));
        let mut place = vec![u32::MAX; keys.len()];
        for (p, f) in kept.iter().enumerate() {
            place[*f as usize] = p as u32;
        }
        let fit = Ease::fit(&rows, &EASE);
        drop(rows);
        let mut near: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        if let Some(fit) = &fit {
            for (i, f) in fit.items.iter().enumerate() {
                let row = fit
                    .row(i, NEIGHBORS)
                    .into_iter()
                    .map(|(g, w)| (place[g as usize], w))
                    .collect();
                near.insert(*f as u32, row);
            }
        }
        let films = kept
            .iter()
            .map(|f| {
                let i = *f as usize;
                let mean = (sums[i] / f64::from(raters[i])) as f32;
                let (scale, near) = quantize(near.remove(f).unwrap_or_default());
                Film {
                    key: keys[i].clone(),
                    raters: raters[i],
                    mean: (mean * 100.0).round() / 100.0,
                    scale,
                    near,
                }
            })
            .collect();
        Model { films }
    }

    /// The same model keyed by `f(key)`, leaving out the films it gives `None` (a client's
    /// catalog lacks them) and every neighbour weight to them.
    pub fn map_keys<L>(&self, mut f: impl FnMut(&K) -> Option<L>) -> Model<L> {
        let new: Vec<Option<L>> = self.films.iter().map(|film| f(&film.key)).collect();
        let mut place = vec![u32::MAX; new.len()];
        let mut next = 0u32;
        for (i, k) in new.iter().enumerate() {
            if k.is_some() {
                place[i] = next;
                next += 1;
            }
        }
        let films = self
            .films
            .iter()
            .zip(new)
            .filter_map(|(film, key)| {
                Some(Film {
                    key: key?,
                    raters: film.raters,
                    mean: film.mean,
                    scale: film.scale,
                    near: film
                        .near
                        .iter()
                        .filter(|(j, _)| place[*j as usize] != u32::MAX)
                        .map(|(j, q)| (place[*j as usize], *q))
                        .collect(),
                })
            })
            .collect();
        Model { films }
    }
}

/// Weights as 8-bit steps of the largest |weight|, strongest first; zeros left out.
fn quantize(mut row: Vec<(u32, f32)>) -> (f32, Vec<(u32, i8)>) {
    row.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    let scale = row.first().map_or(0.0, |(_, w)| w.abs());
    if scale == 0.0 {
        return (0.0, Vec::new());
    }
    let near = row
        .into_iter()
        .map(|(j, w)| (j, (w / scale * 127.0).round() as i8))
        .filter(|(_, q)| *q != 0)
        .collect();
    (scale, near)
}

impl Model<String> {
    /// The wire form: every film, in order ([`pages`] cuts it into pages).
    pub fn to_wire(&self) -> Vec<ModelFilm> {
        self.films
            .iter()
            .map(|f| {
                let mut bytes = Vec::with_capacity(f.near.len() * 4);
                for (j, q) in &f.near {
                    bytes.extend_from_slice(&j.to_le_bytes()[..3]);
                    bytes.push(*q as u8);
                }
                ModelFilm {
                    key: f.key.clone(),
                    raters: f.raters,
                    mean: f.mean,
                    scale: f.scale,
                    near: BASE64.encode(bytes),
                }
            })
            .collect()
    }

    /// The model from its wire form (every page, in order), checked: a neighbour outside the
    /// model or figures out of range refuse the whole model.
    pub fn from_wire(films: Vec<ModelFilm>) -> Result<Model<String>, DecodeError> {
        let n = films.len();
        let mut out = Vec::with_capacity(n);
        for f in films {
            let bytes = BASE64
                .decode(f.near.as_bytes())
                .ok()
                .filter(|b| b.len() % 4 == 0)
                .ok_or_else(|| DecodeError::Encoding { key: f.key.clone() })?;
            let figures_ok = f.raters >= 1
                && (0.5..=5.0).contains(&f.mean)
                && f.scale.is_finite()
                && f.scale >= 0.0;
            if !figures_ok {
                return Err(DecodeError::Figures {
                    key: f.key,
                    raters: f.raters,
                    mean: f.mean,
                    scale: f.scale,
                });
            }
            let mut near = Vec::with_capacity(bytes.len() / 4);
            for e in bytes.chunks_exact(4) {
                let place = u32::from_le_bytes([e[0], e[1], e[2], 0]);
                if place as usize >= n {
                    return Err(DecodeError::Place {
                        key: f.key,
                        place,
                        films: n,
                    });
                }
                near.push((place, e[3] as i8));
            }
            out.push(Film {
                key: f.key,
                raters: f.raters,
                mean: f.mean,
                scale: f.scale,
                near,
            });
        }
        Ok(Model { films: out })
    }
}

/// The wire form cut into pages of `per_page` films: at least one page, maybe empty.
pub fn pages(films: &[ModelFilm], per_page: usize) -> Vec<Vec<ModelFilm>> {
    if films.is_empty() {
        return vec![Vec::new()];
    }
    films.chunks(per_page.max(1)).map(<[_]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 people: a third like westerns, a third noir, a third both; one person rated the
    /// obscure film.
    fn ratings() -> Vec<(u32, String, f32)> {
        let mut out = Vec::new();
        for u in 0..30u32 {
            let (west, noir) = match u % 3 {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            if west {
                out.push((u, "high-noon-1952".into(), 4.0));
                out.push((u, "rio-bravo-1959".into(), 5.0));
            }
            if noir {
                out.push((u, "double-indemnity-1944".into(), 4.5));
                out.push((u, "laura-1944".into(), 3.0));
            }
        }
        out.push((0, "obscure-1950".into(), 1.0));
        out
    }

    #[test]
    fn films_rated_together_are_neighbours_and_no_one_rating_is_published() {
        let model = Model::build(ratings());
        let keys: Vec<&str> = model.films.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "double-indemnity-1944",
                "high-noon-1952",
                "laura-1944",
                "rio-bravo-1959"
            ],
            "in key order, without the film one person rated"
        );
        let high_noon = &model.films[1];
        assert_eq!((high_noon.raters, high_noon.mean), (20, 4.0));
        let best = high_noon.weights().next().unwrap();
        assert_eq!(model.films[best.0 as usize].key, "rio-bravo-1959");
        assert!(best.1 > 0.0 && (best.1 - high_noon.scale).abs() < 1e-6);
        // A later rating of the same film by the same person replaces the earlier one.
        let mut again = ratings();
        again.push((1, "laura-1944".into(), 5.0));
        let laura = &Model::build(again).films[2];
        assert_eq!((laura.raters, laura.mean), (20, 3.1));
    }

    #[test]
    fn the_wire_form_round_trips_and_bad_pages_are_refused() {
        let model = Model::build(ratings());
        let films = model.to_wire();
        assert_eq!(pages(&films, FILMS_PER_PAGE).len(), 1);
        assert_eq!(pages(&films, 3).concat(), films);
        assert_eq!(Model::from_wire(films.clone()).unwrap(), model);

        let mut past = films.clone();
        past.truncate(2);
        assert!(matches!(
            Model::from_wire(past),
            Err(DecodeError::Place { .. })
        ));
        let mut garbled = films.clone();
        garbled[0].near = "abc".into();
        assert!(matches!(
            Model::from_wire(garbled),
            Err(DecodeError::Encoding { .. })
        ));
        let mut silly = films;
        silly[0].mean = 9.0;
        assert!(matches!(
            Model::from_wire(silly),
            Err(DecodeError::Figures { .. })
        ));
        assert_eq!(
            pages(&Model::<String>::default().to_wire(), FILMS_PER_PAGE),
            vec![Vec::new()]
        );
    }

    #[test]
    fn mapping_keys_drops_films_and_their_weights() {
        let model = Model::build(ratings());
        let mapped = model.map_keys(|k| (k != "rio-bravo-1959").then_some(k.len()));
        assert_eq!(mapped.films.len(), 3);
        for f in &mapped.films {
            assert!(f.near.iter().all(|(j, _)| (*j as usize) < 3));
        }
        // High Noon's strongest neighbour was Rio Bravo; it is gone, the rest kept.
        let high_noon = &mapped.films[1];
        assert_eq!(high_noon.near.len(), model.films[1].near.len() - 1);
    }
}
