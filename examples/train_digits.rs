//! Trains an MLP (64-128-10, ReLU, AdamW) on the 8x8 digits data set
//! (`examples/data/digits.csv.gz`, 1797 images), with a fixed split and
//! seed, printing loss and accuracy per epoch with a progress bar; then
//! saves a checkpoint (model and optimizer), reloads it into a fresh model
//! and checks that the test accuracy is unchanged.
//!
//! ```sh
//! cargo run --release --example train_digits            # 20 epochs
//! cargo run --release --example train_digits -- --epochs 5 --out /tmp/digits.safetensors
//! ```

use flate2::read::GzDecoder;
use frankentorch::autograd::checkpoint;
use frankentorch::autograd::nn::functional::{Reduction, cross_entropy};
use frankentorch::autograd::nn::{Linear, Module, ReLU, Sequential};
use frankentorch::autograd::optim::{AdamW, Optimizer};
use frankentorch::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The data set: pixels scaled to [0, 1], labels 0..9.
pub struct Digits {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Reads the gzipped CSV (64 pixels and a label per row).
pub fn load_digits(path: &Path) -> std::result::Result<Digits, String> {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let v: Vec<f32> = line
            .split(',')
            .map(|s| s.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        if v.len() != 65 {
            return Err(format!("line {}: {} values, expected 65", i + 1, v.len()));
        }
        x.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as i64);
    }
    Ok(Digits { x, y })
}

pub fn data_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv.gz")
}

/// The rows `idx` as a batch.
pub fn batch(d: &Digits, idx: &[usize]) -> Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(idx.len() * 64);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend_from_slice(&d.x[i * 64..(i + 1) * 64]);
        y.push(d.y[i]);
    }
    Ok((
        Tensor::from_slice(&x, &[idx.len(), 64])?,
        Tensor::from_slice(&y, &[idx.len()])?,
    ))
}

/// The MLP, PyTorch's `Sequential(Linear(64, 128), ReLU(), Linear(128, 10))`.
pub fn mlp(g: &mut Generator) -> Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(64, 128, true, g)?)
        .push(ReLU)
        .push(Linear::new(128, 10, true, g)?))
}

/// Share of `idx` the model classifies right.
pub fn accuracy(model: &dyn Module, d: &Digits, idx: &[usize]) -> Result<f64> {
    let (x, y) = batch(d, idx)?;
    let pred = no_grad(|| model.forward(&x))?.argmax(Some(1), false)?;
    let right = pred
        .eq(&y)?
        .to_vec::<bool>()?
        .iter()
        .filter(|&&b| b)
        .count();
    Ok(right as f64 / idx.len() as f64)
}

pub struct Config {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub checkpoint: PathBuf,
    pub quiet: bool,
}

pub struct Report {
    pub test_accuracy: f64,
    pub reloaded_accuracy: f64,
    pub final_loss: f64,
}

fn bar(done: usize, total: usize) -> String {
    let w = 30;
    let filled = done * w / total.max(1);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(w - filled))
}

/// Trains, evaluates, saves, reloads, re-evaluates.
pub fn run(cfg: &Config) -> std::result::Result<Report, String> {
    let e = |e: Error| e.to_string();
    let d = load_digits(&data_path())?;
    // The fixed split: a seeded shuffle, 80% to train.
    let mut g = Generator::new(cfg.seed);
    let mut order: Vec<usize> = (0..d.len()).collect();
    for i in (1..order.len()).rev() {
        let j = (g.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let n_train = d.len() * 4 / 5;
    let (train, test) = order.split_at(n_train);
    let model = mlp(&mut g).map_err(e)?;
    let mut opt = AdamW::new(model.parameters(), cfg.lr);
    let mut final_loss = f64::NAN;
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        let mut idx = train.to_vec();
        for i in (1..idx.len()).rev() {
            let j = (g.next_u64() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        let steps = idx.len().div_ceil(cfg.batch);
        let mut sum = 0.0;
        for (s, rows) in idx.chunks(cfg.batch).enumerate() {
            let (x, y) = batch(&d, rows).map_err(e)?;
            opt.zero_grad();
            let loss = cross_entropy(&model.forward(&x).map_err(e)?, &y, Reduction::Mean, 0.0)
                .map_err(e)?;
            loss.backward().map_err(e)?;
            opt.step().map_err(e)?;
            sum += loss.to_vec_f64().map_err(e)?[0];
            if !cfg.quiet && (s % 5 == 0 || s + 1 == steps) {
                eprint!("\repoch {epoch:>3} {} {}/{steps}", bar(s + 1, steps), s + 1);
                let _ = std::io::stderr().flush();
            }
        }
        final_loss = sum / steps as f64;
        if !cfg.quiet {
            let train_acc = accuracy(&model, &d, train).map_err(e)?;
            let test_acc = accuracy(&model, &d, test).map_err(e)?;
            eprint!("\r");
            println!(
                "epoch {epoch:>3}  loss {final_loss:.4}  train acc {:.2}%  test acc {:.2}%  ({:.0} ms)",
                100.0 * train_acc,
                100.0 * test_acc,
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    let test_accuracy = accuracy(&model, &d, test).map_err(e)?;
    // Checkpoint: model and optimizer state in one file.
    let mut state = model.state_dict();
    state.extend(
        opt.state_dict()
            .into_iter()
            .map(|(k, v)| (format!("optimizer.{k}"), v)),
    );
    checkpoint::save(&cfg.checkpoint, &state).map_err(e)?;
    let loaded = checkpoint::load_verified(&cfg.checkpoint).map_err(e)?;
    let fresh = mlp(&mut Generator::new(cfg.seed ^ 0xdead)).map_err(e)?;
    let model_state: Vec<(String, Tensor)> = loaded
        .iter()
        .filter(|(k, _)| !k.starts_with("optimizer."))
        .cloned()
        .collect();
    fresh.load_state_dict(&model_state, true).map_err(e)?;
    let mut opt2 = AdamW::new(fresh.parameters(), cfg.lr);
    let opt_state: Vec<(String, Tensor)> = loaded
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("optimizer.")
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect();
    opt2.load_state_dict(&opt_state).map_err(e)?;
    let reloaded_accuracy = accuracy(&fresh, &d, test).map_err(e)?;
    if !cfg.quiet {
        println!(
            "saved {} ({} tensors); reloaded model: test acc {:.2}% (before saving {:.2}%)",
            cfg.checkpoint.display(),
            loaded.len(),
            100.0 * reloaded_accuracy,
            100.0 * test_accuracy
        );
    }
    Ok(Report {
        test_accuracy,
        reloaded_accuracy,
        final_loss,
    })
}

#[allow(dead_code)]
fn main() -> std::result::Result<(), String> {
    let mut cfg = Config {
        epochs: 20,
        batch: 32,
        lr: 3e-3,
        seed: 0,
        checkpoint: std::env::temp_dir().join("frankentorch-digits.safetensors"),
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--epochs" => cfg.epochs = val()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--lr" => cfg.lr = val()?.parse().map_err(|e| format!("--lr: {e}"))?,
            "--seed" => cfg.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => cfg.checkpoint = PathBuf::from(val()?),
            other => {
                return Err(format!(
                    "unknown argument {other} (--epochs N, --lr X, --seed S, --out FILE)"
                ));
            }
        }
    }
    let start = Instant::now();
    let r = run(&cfg)?;
    println!(
        "done in {:.2} s: test accuracy {:.2}%",
        start.elapsed().as_secs_f64(),
        100.0 * r.test_accuracy
    );
    if r.reloaded_accuracy != r.test_accuracy {
        return Err("the reloaded model's accuracy differs".into());
    }
    Ok(())
}
