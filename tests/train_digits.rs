//! The digits example, shortened: 5 epochs reach 95% test accuracy, and
//! the checkpoint reloads to the same accuracy.

#[allow(dead_code)]
#[path = "../examples/train_digits.rs"]
mod train_digits;

#[test]
fn a_short_digits_run_learns_and_its_checkpoint_reloads() {
    let cfg = train_digits::Config {
        epochs: 5,
        batch: 32,
        lr: 3e-3,
        seed: 0,
        checkpoint: std::env::temp_dir()
            .join(format!("ft-digits-test-{}.safetensors", std::process::id())),
        quiet: true,
    };
    let r = train_digits::run(&cfg).unwrap();
    std::fs::remove_file(&cfg.checkpoint).unwrap();
    assert!(r.test_accuracy >= 0.95, "test accuracy {}", r.test_accuracy);
    assert_eq!(r.reloaded_accuracy, r.test_accuracy);
    assert!(r.final_loss < 0.3, "loss {}", r.final_loss);
}
