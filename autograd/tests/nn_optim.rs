//! nn and optim against PyTorch (fixture `fixtures/nn_optim.json`, made by
//! `conformance/oracle/nn_optim.py`): optimizer trajectories, cross-entropy
//! values and gradients, layer norm, mse, load_state_dict's message; and
//! the module rules that need no reference.

use ft_autograd::AutogradExt;
use ft_autograd::nn::functional::{Reduction, cross_entropy, mse_loss};
use ft_autograd::nn::{Dropout, Embedding, LayerNorm, Linear, Module, ReLU, Sequential};
use ft_autograd::optim::{Adam, AdamW, Optimizer, Sgd};
use ft_core::{DType, Generator};
use ft_dispatch::Tensor;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/nn_optim.json")).unwrap()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: ours {g}, PyTorch {w}"
        );
    }
}

type MakeOpt = dyn Fn(Vec<Tensor>) -> Box<dyn Optimizer>;

fn trajectory(make: impl Fn(Vec<Tensor>) -> Box<dyn Optimizer>) -> Vec<f64> {
    let p = Tensor::from_slice(&[0.5f32, -1.5, 2.0], &[3])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let c = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let mut opt = make(vec![p.clone()]);
    let mut out = Vec::new();
    for _ in 0..5 {
        opt.zero_grad();
        p.mul(&p)
            .unwrap()
            .mul(&c)
            .unwrap()
            .sum()
            .unwrap()
            .backward()
            .unwrap();
        opt.step().unwrap();
        out.extend(p.to_vec_f64().unwrap());
    }
    out
}

#[test]
fn optimizers_follow_pytorchs_trajectories() {
    let f = fixture();
    let cases: Vec<(&str, Box<MakeOpt>)> = vec![
        ("sgd", Box::new(|p| Box::new(Sgd::new(p, 0.1)))),
        (
            "sgd_momentum",
            Box::new(|p| Box::new(Sgd::new(p, 0.1).momentum(0.9))),
        ),
        (
            "sgd_dampening_wd",
            Box::new(|p| {
                Box::new(
                    Sgd::new(p, 0.05)
                        .momentum(0.8)
                        .dampening(0.3)
                        .weight_decay(0.1),
                )
            }),
        ),
        (
            "sgd_nesterov",
            Box::new(|p| {
                Box::new(
                    Sgd::new(p, 0.05)
                        .momentum(0.9)
                        .nesterov(true)
                        .weight_decay(0.01),
                )
            }),
        ),
        ("adam", Box::new(|p| Box::new(Adam::new(p, 0.1)))),
        (
            "adam_wd",
            Box::new(|p| {
                Box::new(
                    Adam::new(p, 0.05)
                        .betas(0.8, 0.99)
                        .eps(1e-6)
                        .weight_decay(0.1),
                )
            }),
        ),
        ("adamw", Box::new(|p| Box::new(AdamW::new(p, 0.1)))),
        (
            "adamw_wd",
            Box::new(|p| Box::new(AdamW::new(p, 0.05).weight_decay(0.5))),
        ),
    ];
    for (name, make) in cases {
        close(&trajectory(make), &flat(&f["optim"][name]), 2e-6, name);
    }
}

#[test]
fn optimizer_state_round_trips_through_its_state_dict() {
    let p = Tensor::from_slice(&[0.5f32, -1.5], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let q = p
        .detach()
        .contiguous()
        .unwrap()
        .mul_scalar(1.0)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut a = AdamW::new(vec![p.clone()], 0.1);
    let mut b = AdamW::new(vec![q.clone()], 0.1);
    let step = |opt: &mut AdamW, t: &Tensor| {
        opt.zero_grad();
        t.mul(t).unwrap().sum().unwrap().backward().unwrap();
        opt.step().unwrap();
    };
    step(&mut a, &p);
    step(&mut a, &p);
    step(&mut b, &q);
    step(&mut b, &q);
    // A third optimizer restored from a's state continues exactly as a.
    let r = p
        .detach()
        .contiguous()
        .unwrap()
        .mul_scalar(1.0)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut c = AdamW::new(vec![r.clone()], 0.1);
    c.load_state_dict(&a.state_dict()).unwrap();
    step(&mut a, &p);
    step(&mut c, &r);
    assert_eq!(p.to_vec::<f32>().unwrap(), r.to_vec::<f32>().unwrap());
    let names: Vec<String> = a.state_dict().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"state.0.exp_avg_sq".to_string()),
        "{names:?}"
    );
}

#[test]
fn cross_entropy_matches_pytorch_values_and_gradients() {
    let f = &fixture()["cross_entropy"];
    let logits: Vec<f32> = flat(&f["logits"]).iter().map(|&v| v as f32).collect();
    let target: Vec<i64> = flat(&f["target"]).iter().map(|&v| v as i64).collect();
    let t = Tensor::from_slice(&target, &[4]).unwrap();
    for case in f["cases"].as_array().unwrap() {
        let reduction = match case["reduction"].as_str().unwrap() {
            "none" => Reduction::None,
            "mean" => Reduction::Mean,
            _ => Reduction::Sum,
        };
        let ls = case["label_smoothing"].as_f64().unwrap();
        let x = Tensor::from_slice(&logits, &[4, 5])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let loss = cross_entropy(&x, &t, reduction, ls).unwrap();
        let what = format!("{reduction:?} ls={ls}");
        close(
            &loss.to_vec_f64().unwrap(),
            &flat(&case["value"]),
            1e-6,
            &what,
        );
        loss.sum().unwrap().backward().unwrap();
        close(
            &x.grad().unwrap().to_vec_f64().unwrap(),
            &flat(&case["grad"]),
            1e-6,
            &what,
        );
    }
    let bad = Tensor::from_slice(&[0i64, 5, 1, 1], &[4]).unwrap();
    let x = Tensor::from_slice(&logits, &[4, 5]).unwrap();
    let e = cross_entropy(&x, &bad, Reduction::Mean, 0.0).unwrap_err();
    assert_eq!(e.message(), "Target 5 is out of bounds.");
}

#[test]
fn layer_norm_and_mse_match_pytorch() {
    let f = fixture();
    let l = &f["layer_norm"];
    let x: Vec<f32> = flat(&l["x"]).iter().map(|&v| v as f32).collect();
    let w: Vec<f32> = flat(&l["w"]).iter().map(|&v| v as f32).collect();
    let ln = LayerNorm::new(&[4], 1e-5).unwrap();
    let xt = Tensor::from_slice(&x, &[2, 3, 4])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let out = ln.forward(&xt).unwrap();
    close(
        &out.to_vec_f64().unwrap(),
        &flat(&l["out"]),
        1e-5,
        "layer_norm out",
    );
    out.mul(&Tensor::from_slice(&w, &[2, 3, 4]).unwrap())
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    close(
        &xt.grad().unwrap().to_vec_f64().unwrap(),
        &flat(&l["grad"]),
        1e-4,
        "layer_norm grad",
    );
    close(
        &ln.weight.grad().unwrap().to_vec_f64().unwrap(),
        &flat(&l["grad_weight"]),
        1e-5,
        "weight grad",
    );
    close(
        &ln.bias.grad().unwrap().to_vec_f64().unwrap(),
        &flat(&l["grad_bias"]),
        1e-5,
        "bias grad",
    );
    let m = &f["mse"];
    let a: Vec<f32> = flat(&m["a"]).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = flat(&m["b"]).iter().map(|&v| v as f32).collect();
    let (a, b) = (
        Tensor::from_slice(&a, &[3, 2]).unwrap(),
        Tensor::from_slice(&b, &[3, 2]).unwrap(),
    );
    close(
        &mse_loss(&a, &b, Reduction::Mean)
            .unwrap()
            .to_vec_f64()
            .unwrap(),
        &[m["mean"].as_f64().unwrap()],
        1e-6,
        "mse",
    );
    close(
        &mse_loss(&a, &b, Reduction::Sum)
            .unwrap()
            .to_vec_f64()
            .unwrap(),
        &[m["sum"].as_f64().unwrap()],
        1e-6,
        "mse sum",
    );
}

#[test]
fn load_state_dict_reports_like_pytorch_and_writes_nothing_on_error() {
    let want = fixture()["load_state_dict_error"]
        .as_str()
        .unwrap()
        .to_string();
    let mut g = Generator::new(0);
    let model = Sequential::new().push(Linear::new(3, 2, true, &mut g).unwrap());
    let before = model.parameters()[0].to_vec::<f32>().unwrap();
    let sd = vec![
        (
            "0.weight".to_string(),
            Tensor::zeros(&[2, 4], DType::F32).unwrap(),
        ),
        (
            "extra".to_string(),
            Tensor::zeros(&[1], DType::F32).unwrap(),
        ),
    ];
    let e = model.load_state_dict(&sd, true).unwrap_err();
    assert_eq!(e.message(), want);
    assert_eq!(model.parameters()[0].to_vec::<f32>().unwrap(), before);
    // Not strict: missing and unexpected keys are fine, matching ones load.
    let sd = vec![(
        "0.bias".to_string(),
        Tensor::ones(&[2], DType::F32).unwrap(),
    )];
    model.load_state_dict(&sd, false).unwrap();
    assert_eq!(
        model.parameters()[1].to_vec::<f32>().unwrap(),
        vec![1.0, 1.0]
    );
}

#[test]
fn linear_init_is_pytorchs_bound_and_seeded() {
    let a = Linear::new(100, 20, true, &mut Generator::new(7)).unwrap();
    let b = Linear::new(100, 20, true, &mut Generator::new(7)).unwrap();
    let w = a.weight.to_vec::<f32>().unwrap();
    assert_eq!(w, b.weight.to_vec::<f32>().unwrap());
    assert!(w.iter().all(|v| v.abs() <= 0.1));
    assert!(w.iter().any(|v| v.abs() > 0.09), "spans the bound");
    assert!(a.weight.requires_grad() && a.weight.is_leaf());
}

#[test]
fn dropout_is_seeded_scaled_and_off_in_eval() {
    let x = Tensor::ones(&[1000], DType::F32).unwrap();
    let mut d = Dropout::new(0.25, 3).unwrap();
    let y = d.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let kept = y.iter().filter(|&&v| v != 0.0).count();
    assert!((700..800).contains(&kept), "{kept}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let again = Dropout::new(0.25, 3)
        .unwrap()
        .forward(&x)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(y, again);
    d.eval();
    assert_eq!(
        d.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0; 1000]
    );
    assert!(Dropout::new(1.5, 0).is_err());
}

#[test]
fn embedding_looks_up_rows_and_scatters_gradients() {
    let e = Embedding::new(5, 3, &mut Generator::new(1)).unwrap();
    let idx = Tensor::from_slice(&[4i64, 0, 4], &[3]).unwrap();
    let y = e.forward(&idx).unwrap();
    assert_eq!(y.shape(), &[3, 3]);
    let w = e.weight.to_vec::<f32>().unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap()[..3], w[12..15]);
    y.sum().unwrap().backward().unwrap();
    let g = e.weight.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(
        g,
        vec![
            1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0
        ]
    );
    let bad = Tensor::from_slice(&[5i64], &[1]).unwrap();
    assert_eq!(
        e.forward(&bad).unwrap_err().message(),
        "index out of range in self"
    );
}

#[test]
fn sequential_names_trains_and_zeroes_its_parameters() {
    let mut g = Generator::new(2);
    let mut m = Sequential::new()
        .push(Linear::new(4, 3, true, &mut g).unwrap())
        .push(ReLU)
        .push(Dropout::new(0.5, 1).unwrap())
        .push(Linear::new(3, 1, false, &mut g).unwrap());
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight"]);
    m.eval();
    let x = Tensor::ones(&[2, 4], DType::F32).unwrap();
    let a = m.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(
        a,
        m.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        "eval is deterministic"
    );
    m.forward(&x).unwrap().sum().unwrap().backward().unwrap();
    assert!(m.parameters().iter().all(|p| p.grad().is_some()));
    m.zero_grad();
    assert!(m.parameters().iter().all(|p| p.grad().is_none()));
}
