//! 3x3, stride-1 convolutions on NCHW f32 slices with the ReLU that follows them fused in:
//! forward, and the backward pass giving the input, weight and bias gradients in one sweep.
//!
//! Each image is one im2col matrix and one matrix product. burn-flex (0.21) computes the forward
//! pass the same way but converts layouts around it, and has no backward kernels of its own: the
//! generic ones run a transposed convolution for the input gradient and a convolution with the
//! batch as channels for the weight gradient, which dominated the CIFAR step (README,
//! Performance).
//!
//! Images are processed in fixed chunks of [`CHUNK`], so the weight and bias sums are added in
//! the same order whatever the number of threads: results do not depend on `--threads`.

use rayon::prelude::*;

use super::gemm::{matmul, View};

/// Images per parallel task in the backward pass (fixed, so that sums do not depend on threads).
pub const CHUNK: usize = 8;

/// The shape of a 3x3, stride-1 convolution with `pad` zeros on each side (0: valid, 1: same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv3x3 {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

/// The gradients of a convolution's input, weight and bias.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGrads {
    /// Input gradient, NCHW (absent when not asked for).
    pub dx: Option<Vec<f32>>,
    /// Weight gradient, `[cout, cin, 3, 3]`.
    pub dw: Vec<f32>,
    /// Bias gradient, `[cout]`.
    pub db: Vec<f32>,
}

impl Conv3x3 {
    /// Output height.
    pub fn oh(&self) -> usize {
        self.h + 2 * self.pad - 2
    }

    /// Output width.
    pub fn ow(&self) -> usize {
        self.w + 2 * self.pad - 2
    }

    fn k(&self) -> usize {
        self.cin * 9
    }

    fn p(&self) -> usize {
        self.oh() * self.ow()
    }

    /// Values per input image.
    pub fn in_len(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// Values per output image.
    pub fn out_len(&self) -> usize {
        self.cout * self.p()
    }

    fn check(&self, n: usize, x: &[f32], weight: &[f32]) {
        assert!(
            self.h + 2 * self.pad >= 3 && self.w + 2 * self.pad >= 3,
            "image smaller than the kernel"
        );
        assert_eq!(x.len(), n * self.in_len(), "input has the wrong size");
        assert_eq!(
            weight.len(),
            self.cout * self.k(),
            "weight has the wrong size"
        );
    }

    /// The input pixel under output column `o` of kernel tap `t` (0..3), if inside the image.
    fn source(o: usize, t: usize, pad: usize, len: usize) -> Option<usize> {
        (o + t).checked_sub(pad).filter(|&i| i < len)
    }

    /// The range of output columns whose tap `t` falls inside a row of `len` pixels.
    fn inside(&self, t: usize, len: usize, out: usize) -> std::ops::Range<usize> {
        let lo = self.pad.saturating_sub(t);
        let hi = (len + self.pad).saturating_sub(t).min(out);
        lo..hi.max(lo)
    }

    /// One image as a `[cin*9, oh*ow]` matrix: row `(ci, kh, kw)` holds the pixel each output
    /// position sees through that tap (0 in the padding).
    fn im2col(&self, x: &[f32], col: &mut [f32]) {
        let (oh, ow, p) = (self.oh(), self.ow(), self.p());
        for ci in 0..self.cin {
            let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for kh in 0..3 {
                for kw in 0..3 {
                    let row = &mut col[((ci * 3 + kh) * 3 + kw) * p..][..p];
                    let cols = self.inside(kw, self.w, ow);
                    for r in 0..oh {
                        let out = &mut row[r * ow..(r + 1) * ow];
                        match Self::source(r, kh, self.pad, self.h) {
                            Some(ih) if !cols.is_empty() => {
                                let start = cols.start + kw - self.pad;
                                out[..cols.start].fill(0.0);
                                out[cols.clone()]
                                    .copy_from_slice(&plane[ih * self.w + start..][..cols.len()]);
                                out[cols.end..].fill(0.0);
                            }
                            _ => out.fill(0.0),
                        }
                    }
                }
            }
        }
    }

    /// The convolution that carries an output gradient back to the input: from the output's
    /// `cout` channels to the input's `cin`, padded so that it returns the input's size.
    fn transposed(&self) -> Self {
        assert!(self.pad <= 2, "padding wider than the kernel");
        Self {
            cin: self.cout,
            cout: self.cin,
            h: self.oh(),
            w: self.ow(),
            pad: 2 - self.pad,
        }
    }

    /// `weight[co, ci, kh, kw]` as `[ci, co, 2 - kh, 2 - kw]`: the kernels of [`Self::transposed`].
    fn flipped(&self, weight: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; weight.len()];
        for co in 0..self.cout {
            for ci in 0..self.cin {
                for t in 0..9 {
                    out[(ci * self.cout + co) * 9 + 8 - t] = weight[(co * self.cin + ci) * 9 + t];
                }
            }
        }
        out
    }

    /// `relu(conv(x) + bias)` (or without the ReLU) for `n` NCHW images; weight `[cout,cin,3,3]`.
    pub fn forward(
        &self,
        n: usize,
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        relu: bool,
    ) -> Vec<f32> {
        self.check(n, x, weight);
        assert_eq!(bias.len(), self.cout, "bias has the wrong size");
        let (k, p) = (self.k(), self.p());
        let mut y = vec![0.0f32; n * self.out_len()];
        if n == 0 {
            return y;
        }
        y.par_chunks_mut(self.out_len())
            .zip(x.par_chunks(self.in_len()))
            .for_each_init(
                || vec![0.0f32; k * p],
                |col, (yi, xi)| {
                    self.im2col(xi, col);
                    for (row, &b) in yi.chunks_mut(p).zip(bias) {
                        row.fill(b);
                    }
                    matmul(
                        yi,
                        true,
                        View::rows(weight, self.cout, k),
                        View::rows(col, k, p),
                    );
                    if relu {
                        yi.iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                },
            );
        y
    }

    /// Gradients of the loss for `n` images given the output gradient `dy`; `y` is the forward
    /// output when the ReLU was fused in (the gradient passes where `y > 0`), else `None`.
    pub fn backward(
        &self,
        n: usize,
        x: &[f32],
        weight: &[f32],
        y: Option<&[f32]>,
        dy: &[f32],
        need_dx: bool,
    ) -> ConvGrads {
        self.check(n, x, weight);
        let (k, p, out_len, in_len) = (self.k(), self.p(), self.out_len(), self.in_len());
        assert_eq!(dy.len(), n * out_len, "output gradient has the wrong size");
        if let Some(y) = y {
            assert_eq!(y.len(), n * out_len, "output has the wrong size");
        }
        // The input gradient is the "full" convolution of the output gradient with the kernels
        // flipped and their channel axes swapped: one more im2col and a product whose inner
        // dimension is cout*9, where the scatter form (weightᵀ·g, then col2im) had only cout.
        let tr = self.transposed();
        let flipped = if need_dx {
            self.flipped(weight)
        } else {
            Vec::new()
        };
        // One chunk of images: its weight and bias sums, and its input gradients written to dx.
        let work = |c: usize, mut dx: Option<&mut [f32]>| {
            let mut col = vec![0.0f32; k * p];
            let mut gcol = vec![0.0f32; if dx.is_some() { tr.k() * tr.p() } else { 0 }];
            let mut g = vec![0.0f32; out_len];
            let mut dw = vec![0.0f32; self.cout * k];
            let mut db = vec![0.0f32; self.cout];
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let dyi = &dy[i * out_len..(i + 1) * out_len];
                match y {
                    Some(y) => relu_mask(&mut g, dyi, &y[i * out_len..(i + 1) * out_len]),
                    None => g.copy_from_slice(dyi),
                }
                for (b, row) in db.iter_mut().zip(g.chunks(p)) {
                    *b += lane_sum(row);
                }
                self.im2col(&x[i * in_len..(i + 1) * in_len], &mut col);
                matmul(
                    &mut dw,
                    true,
                    View::rows(&g, self.cout, p),
                    View::rows(&col, k, p).t(),
                );
                if let Some(dx) = dx.as_deref_mut() {
                    tr.im2col(&g, &mut gcol);
                    let j = i - c * CHUNK;
                    matmul(
                        &mut dx[j * in_len..(j + 1) * in_len],
                        false,
                        View::rows(&flipped, self.cin, tr.k()),
                        View::rows(&gcol, tr.k(), tr.p()),
                    );
                }
            }
            (dw, db)
        };
        let chunks = n.div_ceil(CHUNK);
        let (partials, dx): (Vec<(Vec<f32>, Vec<f32>)>, _) = if need_dx {
            let mut dx = vec![0.0f32; n * in_len];
            let partials = dx
                .par_chunks_mut(CHUNK * in_len)
                .enumerate()
                .map(|(c, d)| work(c, Some(d)))
                .collect();
            (partials, Some(dx))
        } else {
            let partials = (0..chunks).into_par_iter().map(|c| work(c, None)).collect();
            (partials, None)
        };
        let mut dw = vec![0.0f32; self.cout * k];
        let mut db = vec![0.0f32; self.cout];
        // In chunk order, so that the sums do not depend on how rayon split the work.
        for (pw, pb) in &partials {
            dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        ConvGrads { dx, dw, db }
    }
}

/// `g = dy` where the ReLU's output `y` is positive, else 0. A bit mask rather than a branch:
/// the branch form compiled to scalar code that mispredicted on the ReLU's random pattern (a
/// tenth of the CIFAR step in `perf`); the mask vectorises and gives the same bits.
fn relu_mask(g: &mut [f32], dy: &[f32], y: &[f32]) {
    for ((g, &d), &y) in g.iter_mut().zip(dy).zip(y) {
        let keep = ((y > 0.0) as u32).wrapping_neg();
        *g = f32::from_bits(d.to_bits() & keep);
    }
}

/// The sum of `x` in 16 interleaved partial sums, added in a fixed order (vectorises, and
/// rounds the same way on every run).
fn lane_sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution in f64: the definition, for checking the kernels.
    fn direct(s: &Conv3x3, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let (oh, ow) = (s.oh(), s.ow());
        let mut y = vec![0.0f64; n * s.cout * oh * ow];
        for i in 0..n {
            for co in 0..s.cout {
                for r in 0..oh {
                    for c in 0..ow {
                        let mut acc = b[co] as f64;
                        for ci in 0..s.cin {
                            for kh in 0..3 {
                                for kw in 0..3 {
                                    let (ih, iw) = (r + kh, c + kw);
                                    if ih < s.pad || iw < s.pad {
                                        continue;
                                    }
                                    let (ih, iw) = (ih - s.pad, iw - s.pad);
                                    if ih >= s.h || iw >= s.w {
                                        continue;
                                    }
                                    acc += x[((i * s.cin + ci) * s.h + ih) * s.w + iw] as f64
                                        * w[((co * s.cin + ci) * 3 + kh) * 3 + kw] as f64;
                                }
                            }
                        }
                        y[((i * s.cout + co) * oh + r) * ow + c] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    const SHAPES: [Conv3x3; 4] = [
        Conv3x3 {
            cin: 3,
            cout: 4,
            h: 7,
            w: 5,
            pad: 1,
        },
        Conv3x3 {
            cin: 2,
            cout: 3,
            h: 6,
            w: 8,
            pad: 0,
        },
        Conv3x3 {
            cin: 1,
            cout: 2,
            h: 3,
            w: 3,
            pad: 0,
        },
        Conv3x3 {
            cin: 2,
            cout: 1,
            h: 1,
            w: 2,
            pad: 1,
        },
    ];

    #[test]
    fn forward_is_the_direct_convolution() {
        for s in SHAPES {
            let n = 3;
            let (x, w, b) = (
                values(n * s.in_len(), 1),
                values(s.cout * s.cin * 9, 2),
                values(s.cout, 3),
            );
            let want = direct(&s, n, &x, &w, &b);
            let lin = s.forward(n, &x, &w, &b, false);
            let relu = s.forward(n, &x, &w, &b, true);
            for ((l, r), d) in lin.iter().zip(&relu).zip(&want) {
                assert!((*l as f64 - d).abs() < 1e-5, "{s:?}: {l} vs {d}");
                assert_eq!(*r, l.max(0.0));
            }
        }
    }

    /// The gradients of `sum(dy * relu?(conv(x)))`, by differentiating the direct form in f64.
    fn direct_grads(
        s: &Conv3x3,
        n: usize,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        dy: &[f32],
        relu: bool,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let y = direct(s, n, x, w, b);
        let g: Vec<f64> = dy
            .iter()
            .zip(&y)
            .map(|(&d, &o)| if !relu || o > 0.0 { d as f64 } else { 0.0 })
            .collect();
        let (oh, ow) = (s.oh(), s.ow());
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        let mut db = vec![0.0; s.cout];
        for i in 0..n {
            for co in 0..s.cout {
                for r in 0..oh {
                    for c in 0..ow {
                        let gv = g[((i * s.cout + co) * oh + r) * ow + c];
                        db[co] += gv;
                        for ci in 0..s.cin {
                            for kh in 0..3 {
                                for kw in 0..3 {
                                    let (ih, iw) = (r + kh, c + kw);
                                    if ih < s.pad
                                        || iw < s.pad
                                        || ih - s.pad >= s.h
                                        || iw - s.pad >= s.w
                                    {
                                        continue;
                                    }
                                    let xi =
                                        ((i * s.cin + ci) * s.h + ih - s.pad) * s.w + iw - s.pad;
                                    let wi = ((co * s.cin + ci) * 3 + kh) * 3 + kw;
                                    dx[xi] += gv * w[wi] as f64;
                                    dw[wi] += gv * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx, dw, db)
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn backward_is_the_gradient_of_the_direct_convolution() {
        // 19 images: two full chunks and a partial one.
        for s in SHAPES {
            for relu in [false, true] {
                let n = 19;
                let x = values(n * s.in_len(), 4);
                let (w, b) = (values(s.cout * s.cin * 9, 5), values(s.cout, 6));
                let dy = values(n * s.out_len(), 7);
                let y = s.forward(n, &x, &w, &b, relu);
                let got = s.backward(n, &x, &w, relu.then_some(&y[..]), &dy, true);
                let (dx, dw, db) = direct_grads(&s, n, &x, &w, &b, &dy, relu);
                close(got.dx.as_ref().unwrap(), &dx, "dx");
                close(&got.dw, &dw, "dw");
                close(&got.db, &db, "db");
                let no_dx = s.backward(n, &x, &w, relu.then_some(&y[..]), &dy, false);
                assert!(no_dx.dx.is_none());
                assert_eq!((no_dx.dw, no_dx.db), (got.dw, got.db));
            }
        }
    }

    #[test]
    fn relu_mask_passes_the_gradient_where_the_output_is_positive_bit_for_bit() {
        let y = [
            1.0,
            0.0,
            -0.0,
            -2.0,
            f32::NAN,
            1e-30,
            f32::INFINITY,
            3.0,
            -1e-30,
        ];
        let dy = [
            -0.5,
            7.0,
            1.0,
            f32::NAN,
            2.0,
            f32::INFINITY,
            -0.0,
            -3.25,
            4.0,
        ];
        let mut g = [9.0f32; 9];
        relu_mask(&mut g, &dy, &y);
        let want = [-0.5, 0.0, 0.0, 0.0, 0.0, f32::INFINITY, -0.0, -3.25, 0.0];
        for (got, want) in g.iter().zip(want) {
            assert_eq!(got.to_bits(), f32::to_bits(want), "{got} vs {want}");
        }
    }

    #[test]
    fn lane_sum_adds_every_element_once() {
        for len in [0, 1, 15, 16, 17, 33, 1000] {
            let x: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 2.5).collect();
            let want: f64 = x.iter().map(|&v| v as f64).sum();
            assert_eq!(lane_sum(&x) as f64, want, "length {len}");
        }
    }

    #[test]
    fn gradients_do_not_depend_on_the_number_of_threads() {
        let s = SHAPES[0];
        let n = 37;
        let x = values(n * s.in_len(), 8);
        let (w, dy) = (values(s.cout * s.cin * 9, 9), values(n * s.out_len(), 10));
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| s.backward(n, &x, &w, None, &dy, true))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(4));
    }
}
