//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item-item
//! weight matrix `B` that reconstructs each user's row of the user × film matrix `X` from the
//! user's other films, in closed form:
//!
//! ```text
//! P = (XᵀX + λI)⁻¹,   B[i][j] = −P[i][j] / P[j][j]  (i ≠ j),   B[j][j] = 0
//! ```
//!
//! A film then scores Σ over the user's rated films `i` of (their weight) × `B[i][film]`. Unlike
//! cosine neighbours, the weights are fitted jointly: a film that merely goes with everything
//! (a blockbuster) gets no credit twice, and a pair explained by a third film is discounted.
//!
//! The inverse is dense, so the films are limited to the most-rated ones (`max_items`, each with
//! at least `min_raters` ratings): a packed (triangular) Cholesky factorisation in `f64`, blocked
//! by rows so each pass over the matrix serves a block of rows — `n³/2` multiply-adds in all.

use std::collections::HashMap;

/// Parameters of the EASE fit.
#[derive(Debug, Clone, Copy)]
pub struct EaseParams {
    /// L2 penalty λ added to the diagonal of `XᵀX`, as a multiple of the mean of that diagonal
    /// (with binary rows: of how many users rated a film), so that it means the same for a
    /// community of twenty and one of a million. Steck's λ = 200–500 on MovieLens-100k is
    /// about 3–6 here.
    pub lambda: f64,
    /// Films with fewer ratings are left out.
    pub min_raters: usize,
    /// At most this many films (the most rated) take part.
    pub max_items: usize,
}

/// A fitted EASE model: the films (dense numbering) and `P = (XᵀX + λI)⁻¹`, packed lower
/// triangular (row `i` holds columns `0..=i`).
#[derive(Debug)]
pub struct Ease {
    pub items: Vec<i64>,
    /// The λ used: [`EaseParams::lambda`] × the mean of `diag(XᵀX)`.
    pub lambda: f64,
    p: Vec<f64>,
}

/// Start of row `i` of a packed lower triangular matrix.
#[inline]
fn lo(i: usize) -> usize {
    i * (i + 1) / 2
}

/// Dot product with independent accumulators, so that it vectorises.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f64; 8];
    let chunks = n / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for k in chunks..n {
        s += a[k] * b[k];
    }
    s
}

/// Rows handled together in each pass.
const BLOCK: usize = 32;

/// Inverts a symmetric positive definite matrix given packed lower triangular; `None` if it is
/// not positive definite.
pub fn spd_inverse(a: &mut [f64], n: usize) -> Option<()> {
    // Row offsets of packed upper triangular storage (row i holds columns i..n).
    let uo: Vec<usize> = (0..=n)
        .scan(0usize, |s, i| {
            let v = *s;
            *s += n - i.min(n);
            Some(v)
        })
        .collect();
    // 1. Cholesky A = L Lᵀ in place (Crout, by rows): L[i][j] = (A[i][j] − L[i][..j]·L[j][..j]) / L[j][j].
    for i0 in (0..n).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(n);
        for j in 0..i1 {
            if j >= i0 {
                let row = &a[lo(j)..lo(j) + j + 1];
                let d = row[j] - dot(&row[..j], &row[..j]);
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                a[lo(j) + j] = d.sqrt();
            }
            let (head, tail) = a.split_at_mut(lo(j + 1).max(lo(i0)));
            let lj = &head[lo(j)..lo(j) + j + 1];
            let ljj = lj[j];
            for i in (j + 1).max(i0)..i1 {
                let start = lo(i) - head.len();
                let li = &mut tail[start..start + i + 1];
                li[j] = (li[j] - dot(&li[..j], &lj[..j])) / ljj;
            }
        }
    }
    // 2. U = Lᵀ, packed upper.
    let mut u = vec![0f64; n * (n + 1) / 2];
    for i in 0..n {
        for j in 0..=i {
            u[uo[j] + (i - j)] = a[lo(i) + j];
        }
    }
    // 3. Z = L⁻¹ (lower), over A's storage: from Z L = I, for j from i down to 0,
    //    Z[i][j] = (δij − Z[i][j+1..=i]·U[j][j+1..=i]) / U[j][j]. Rows are independent.
    for i0 in (0..n).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(n);
        for j in (0..i1).rev() {
            let uj = &u[uo[j]..uo[j + 1]];
            for i in j.max(i0)..i1 {
                let zi = &mut a[lo(i)..lo(i) + i + 1];
                let s = if i == j {
                    1.0
                } else {
                    -dot(&zi[j + 1..=i], &uj[1..=i - j])
                };
                zi[j] = s / uj[0];
            }
        }
    }
    // 4. ZT = Zᵀ (upper) over U's storage.
    for i in 0..n {
        for j in 0..=i {
            u[uo[j] + (i - j)] = a[lo(i) + j];
        }
    }
    // 5. P = ZᵀZ: P[a][b] = Σ_{i ≥ a} Z[i][a] Z[i][b] = ZT[a][a..]·ZT[b][a..] (a ≥ b).
    for i0 in (0..n).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(n);
        for b in 0..i1 {
            let zb = &u[uo[b]..uo[b + 1]];
            for r in b.max(i0)..i1 {
                let za = &u[uo[r]..uo[r + 1]];
                a[lo(r) + b] = dot(za, &zb[r - b..]);
            }
        }
    }
    Some(())
}

impl Ease {
    /// Fits EASE to users' rows: each user's (film, value) pairs, the value being what `X`
    /// holds (1 for "rated", or a taste weight).
    pub fn fit(users: &[Vec<(i64, f32)>], params: &EaseParams) -> Option<Ease> {
        let mut raters: HashMap<i64, usize> = HashMap::new();
        for u in users {
            for (f, _) in u {
                *raters.entry(*f).or_default() += 1;
            }
        }
        let mut items: Vec<(i64, usize)> = raters
            .into_iter()
            .filter(|(_, n)| *n >= params.min_raters.max(1))
            .collect();
        items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        items.truncate(params.max_items);
        let items: Vec<i64> = items.into_iter().map(|i| i.0).collect();
        let n = items.len();
        if n == 0 {
            return None;
        }
        let index: HashMap<i64, usize> = items.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        // G = XᵀX + λI, packed lower.
        let mut g = vec![0f64; n * (n + 1) / 2];
        for u in users {
            let row: Vec<(usize, f64)> = u
                .iter()
                .filter_map(|(f, x)| Some((*index.get(f)?, *x as f64)))
                .collect();
            for (a, x) in &row {
                for (b, y) in &row {
                    if b <= a {
                        g[lo(*a) + b] += x * y;
                    }
                }
            }
        }
        let mean = (0..n).map(|i| g[lo(i) + i]).sum::<f64>() / n as f64;
        let lambda = params.lambda * mean.max(1.0);
        for i in 0..n {
            g[lo(i) + i] += lambda;
        }
        spd_inverse(&mut g, n)?;
        Some(Ease {
            items,
            lambda,
            p: g,
        })
    }

    fn p(&self, i: usize, j: usize) -> f64 {
        if j <= i {
            self.p[lo(i) + j]
        } else {
            self.p[lo(j) + i]
        }
    }

    /// `B[i][j]` by dense film numbers.
    pub fn b(&self, i: usize, j: usize) -> f64 {
        if i == j {
            0.0
        } else {
            -self.p(i, j) / self.p(j, j)
        }
    }

    /// Row `i` of `B` (how much having film `i` speaks for each film), keeping the `k` entries
    /// of largest magnitude (all when `k` is 0), as (film id, weight).
    pub fn row(&self, i: usize, k: usize) -> Vec<(i64, f32)> {
        let n = self.items.len();
        let mut out: Vec<(i64, f32)> = (0..n)
            .filter(|j| *j != i)
            .map(|j| (self.items[j], self.b(i, j) as f32))
            .filter(|(_, w)| *w != 0.0)
            .collect();
        if k > 0 && out.len() > k {
            out.select_nth_unstable_by(k, |a, b| b.1.abs().total_cmp(&a.1.abs()));
            out.truncate(k);
            out.shrink_to_fit();
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_small_spd_matrix() {
        // Random SPD: M Mᵀ + n I.
        let n = 70;
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let m: Vec<Vec<f64>> = (0..n).map(|_| (0..n).map(|_| rnd()).collect()).collect();
        let full = |i: usize, j: usize| -> f64 {
            (0..n).map(|k| m[i][k] * m[j][k]).sum::<f64>() + if i == j { n as f64 } else { 0.0 }
        };
        let mut a = vec![0f64; n * (n + 1) / 2];
        for i in 0..n {
            for j in 0..=i {
                a[lo(i) + j] = full(i, j);
            }
        }
        spd_inverse(&mut a, n).unwrap();
        let inv = |i: usize, j: usize| if j <= i { a[lo(i) + j] } else { a[lo(j) + i] };
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| full(i, k) * inv(k, j)).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-9, "({i},{j}) = {s}");
            }
        }
    }

    #[test]
    fn films_watched_together_reconstruct_each_other() {
        // Films 1 and 2 always together; film 3 alone.
        let mut users = Vec::new();
        for _ in 0..20 {
            users.push(vec![(1, 1.0), (2, 1.0)]);
            users.push(vec![(3, 1.0)]);
        }
        let e = Ease::fit(
            &users,
            &EaseParams {
                lambda: 0.25,
                min_raters: 1,
                max_items: 10,
            },
        )
        .unwrap();
        let i = |f: i64| e.items.iter().position(|x| *x == f).unwrap();
        assert!(e.b(i(1), i(2)) > 0.5);
        assert!(e.b(i(1), i(3)).abs() < 1e-9);
        assert_eq!(e.row(i(1), 1), vec![(2, e.b(i(1), i(2)) as f32)]);
    }
}
