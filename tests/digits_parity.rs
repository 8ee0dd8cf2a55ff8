//! Parity with PyTorch: the digits MLP from the initial weights PyTorch drew
//! (a safetensors file PyTorch wrote), trained with AdamW on the same 20
//! batches, gives PyTorch's loss at every step to a relative 1e-4. The
//! reference is made by `conformance/oracle/digits_parity.py` and
//! committed, so this test needs no PyTorch.

#[allow(dead_code)]
#[path = "../examples/train_digits.rs"]
mod train_digits;

use frankentorch::autograd::checkpoint;
use frankentorch::autograd::nn::Module;
use frankentorch::autograd::nn::functional::{Reduction, cross_entropy};
use frankentorch::autograd::optim::{AdamW, Optimizer};
use frankentorch::prelude::*;
use std::path::Path;

#[test]
fn losses_match_pytorch_for_twenty_adamw_steps() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits_parity");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("losses.json")).unwrap()).unwrap();
    let want: Vec<f64> = reference["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let batch = reference["batch"].as_u64().unwrap() as usize;
    assert_eq!(want.len(), 20);

    let d = train_digits::load_digits(&train_digits::data_path()).unwrap();
    let model = train_digits::mlp(&mut Generator::new(123)).unwrap();
    let init = checkpoint::load(dir.join("init.safetensors")).unwrap();
    model.load_state_dict(&init, true).unwrap();
    let mut opt = AdamW::new(model.parameters(), reference["lr"].as_f64().unwrap())
        .weight_decay(reference["weight_decay"].as_f64().unwrap());
    let mut worst = 0.0f64;
    for (step, &w) in want.iter().enumerate() {
        let rows: Vec<usize> = (step * batch..(step + 1) * batch).collect();
        let (x, y) = train_digits::batch(&d, &rows).unwrap();
        opt.zero_grad();
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y, Reduction::Mean, 0.0).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        let got = loss.to_vec_f64().unwrap()[0];
        let rel = (got - w).abs() / w.abs();
        worst = worst.max(rel);
        assert!(
            rel <= 1e-4,
            "step {}: ours {got}, PyTorch {w} (relative {rel:e})",
            step + 1
        );
    }
    eprintln!("largest relative difference over 20 steps: {worst:e}");
}
