//! 2x2, stride-2 max pooling on NCHW f32 planes (odd last rows and columns dropped, as burn's
//! `MaxPool2d` without padding does): forward with the winner of each window kept as one byte,
//! and the backward scatter. burn-flex pools through its general 3-D kernel with an i64 index per
//! output, about a tenth of the CIFAR step before this.

use rayon::prelude::*;

/// Planes per parallel task (a plane is one channel of one image).
const PLANES: usize = 16;

/// `(pooled, winners)` of `planes` planes of `h x w`: each output is the largest of its window,
/// the first in row-major order on ties (as burn picks); `winners` holds its offset `2*dy + dx`.
pub fn max_pool2x2(x: &[f32], planes: usize, h: usize, w: usize) -> (Vec<f32>, Vec<u8>) {
    assert_eq!(x.len(), planes * h * w, "input has the wrong size");
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![0.0f32; planes * oh * ow];
    let mut arg = vec![0u8; planes * oh * ow];
    if y.is_empty() {
        return (y, arg);
    }
    y.par_chunks_mut(PLANES * oh * ow)
        .zip(arg.par_chunks_mut(PLANES * oh * ow))
        .zip(x.par_chunks(PLANES * h * w))
        .for_each(|((y, arg), x)| {
            for ((y, arg), x) in y
                .chunks_mut(oh * ow)
                .zip(arg.chunks_mut(oh * ow))
                .zip(x.chunks(h * w))
            {
                for r in 0..oh {
                    let (top, bottom) = (&x[2 * r * w..], &x[(2 * r + 1) * w..]);
                    for c in 0..ow {
                        let window = [top[2 * c], top[2 * c + 1], bottom[2 * c], bottom[2 * c + 1]];
                        let (mut best, mut at) = (window[0], 0u8);
                        for (k, &v) in window.iter().enumerate().skip(1) {
                            if v > best {
                                (best, at) = (v, k as u8);
                            }
                        }
                        y[r * ow + c] = best;
                        arg[r * ow + c] = at;
                    }
                }
            }
        });
    (y, arg)
}

/// The input gradient of [`max_pool2x2`]: each output's gradient goes to its window's winner.
pub fn max_pool2x2_backward(dy: &[f32], arg: &[u8], planes: usize, h: usize, w: usize) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(
        dy.len(),
        planes * oh * ow,
        "output gradient has the wrong size"
    );
    assert_eq!(arg.len(), dy.len(), "winners have the wrong size");
    let mut dx = vec![0.0f32; planes * h * w];
    if dy.is_empty() {
        return dx;
    }
    dx.par_chunks_mut(PLANES * h * w)
        .zip(dy.par_chunks(PLANES * oh * ow))
        .zip(arg.par_chunks(PLANES * oh * ow))
        .for_each(|((dx, dy), arg)| {
            for ((dx, dy), arg) in dx
                .chunks_mut(h * w)
                .zip(dy.chunks(oh * ow))
                .zip(arg.chunks(oh * ow))
            {
                for r in 0..oh {
                    for c in 0..ow {
                        let k = arg[r * ow + c] as usize;
                        dx[(2 * r + k / 2) * w + 2 * c + k % 2] = dy[r * ow + c];
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_by_hand_with_first_max_on_ties_and_odd_edges_dropped() {
        // One 3x5 plane: windows (0..2, 0..2) and (0..2, 2..4); row 2 and column 4 are dropped.
        #[rustfmt::skip]
        let x = [
            1.0, 4.0, 7.0, 7.0, 99.0,
            3.0, 2.0, 7.0, 0.0, 99.0,
            99.0, 99.0, 99.0, 99.0, 99.0,
        ];
        let (y, arg) = max_pool2x2(&x, 1, 3, 5);
        assert_eq!(y, [4.0, 7.0]);
        assert_eq!(arg, [1, 0]);
        let dx = max_pool2x2_backward(&[10.0, 20.0], &arg, 1, 3, 5);
        #[rustfmt::skip]
        let want = [
            0.0, 10.0, 20.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(dx, want);
    }

    #[test]
    fn many_planes_pool_each_plane_on_its_own() {
        // 37 planes of 4x4 (more than one parallel chunk): plane p holds p + position / 100.
        let x: Vec<f32> = (0..37 * 16)
            .map(|i| (i / 16) as f32 + (i % 16) as f32 / 100.0)
            .collect();
        let (y, arg) = max_pool2x2(&x, 37, 4, 4);
        for p in 0..37 {
            // The bottom-right of each window is its largest.
            let want = [5.0, 7.0, 13.0, 15.0].map(|k: f32| p as f32 + k / 100.0);
            assert_eq!(&y[p * 4..p * 4 + 4], &want);
        }
        assert!(arg.iter().all(|&a| a == 3));
    }
}
