//! A bounds-checked, single-threaded matrix product on slices (the `gemm` crate that burn-flex
//! uses itself): the kernels parallelise over images, so each product runs on one thread.

/// A read-only matrix view: `data[r * rs + c * cs]` for `r < rows`, `c < cols`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view past its slice");
        }
    }
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`; `dst` is row-major `a.rows x b.cols`.
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, a: View, b: View) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(dst.len(), m * n, "destination has the wrong size");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: every index the product touches was checked against its slice above (the last
    // element of each view is in bounds and strides are non-negative), and dst is exclusive.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View, b: View) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
            }
        }
        out
    }

    #[test]
    fn products_with_transposed_views_match_f64() {
        let a: Vec<f32> = (0..35).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let b: Vec<f32> = (0..35).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0).collect();
        // a: 5x7, b as 7x5 and as the transpose of a 5x7.
        for (av, bv) in [
            (View::rows(&a, 5, 7), View::rows(&b, 7, 5)),
            (View::rows(&a, 5, 7), View::rows(&b, 5, 7).t()),
            (View::rows(&a, 7, 5).t(), View::rows(&b, 7, 5)),
        ] {
            let want = naive(av, bv);
            let mut got = vec![0.0f32; 25];
            matmul(&mut got, false, av, bv);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "{g} vs {w}");
            }
            // Accumulating adds the same product once more.
            matmul(&mut got, true, av, bv);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - 2.0 * w).abs() < 2e-5, "{g} vs 2x{w}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "past its slice")]
    fn a_view_larger_than_its_slice_is_refused() {
        let a = [1.0f32; 6];
        let mut d = [0.0f32; 9];
        matmul(&mut d, false, View::rows(&a, 3, 3), View::rows(&a, 3, 3));
    }
}
