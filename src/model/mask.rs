//! Additive output masks: which output units compete for an example (the task scenario's heads).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// A `[1, outputs]` additive mask: 0 on `active` units, a large negative number elsewhere.
///
/// Masked units get exactly zero softmax weight, hence zero gradient, as with the official
/// code's −1e32 fill; a finite value keeps 0·mask products free of NaN.
pub fn output_mask<B: Backend>(
    outputs: usize,
    active: Option<&[usize]>,
    device: &B::Device,
) -> Option<Tensor<B, 2>> {
    let active = active?;
    let mut m = vec![-1e30f32; outputs];
    for &k in active {
        m[k] = 0.0;
    }
    Some(Tensor::from_data(TensorData::new(m, [1, outputs]), device))
}

/// An `[n, outputs]` additive mask with a different set of active outputs per row.
pub fn row_masks<B: Backend>(
    outputs: usize,
    rows: &[Option<Vec<usize>>],
    device: &B::Device,
) -> Option<Tensor<B, 2>> {
    if rows.iter().all(Option::is_none) {
        return None;
    }
    let mut m = vec![0.0f32; rows.len() * outputs];
    for (r, active) in rows.iter().enumerate() {
        if let Some(active) = active {
            let row = &mut m[r * outputs..(r + 1) * outputs];
            row.fill(-1e30);
            for &k in active {
                row[k] = 0.0;
            }
        }
    }
    Some(Tensor::from_data(
        TensorData::new(m, [rows.len(), outputs]),
        device,
    ))
}
