//! The canonical workloads (WORKLOADS.md, suite v1), by id. A workload whose
//! op does not exist yet has no body; adding it is one `body` entry here.

/// What a workload's throughput is reported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// Bytes read + written once, per second.
    GBps,
    /// 2*M*N*K per second.
    GFlops,
    StepsPerSec,
    NsPerOp,
    UsPerChain,
}

impl Figure {
    pub fn unit(self) -> &'static str {
        match self {
            Figure::GBps => "GB/s",
            Figure::GFlops => "GFLOP/s",
            Figure::StepsPerSec => "steps/s",
            Figure::NsPerOp => "ns/op",
            Figure::UsPerChain => "µs/chain",
        }
    }
}

/// One workload of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub id: &'static str,
    pub op: &'static str,
    pub shapes: &'static str,
    pub figure: Figure,
    /// The issue that adds the op, while the op is missing.
    pub needs: Option<&'static str>,
}

macro_rules! w {
    ($id:literal, $op:literal, $shapes:literal, $fig:ident, $needs:expr) => {
        Workload {
            id: $id,
            op: $op,
            shapes: $shapes,
            figure: Figure::$fig,
            needs: $needs,
        }
    };
}

const KERNELS: Option<&str> = Some("kernels (#3)");
const GEMM: Option<&str> = Some("GEMM (#6)");
const DISPATCH: Option<&str> = Some("dispatch (#4)");
const AUTOGRAD: Option<&str> = Some("autograd (#7)");
const NN: Option<&str> = Some("nn/optim (#8)");

/// Every id of WORKLOADS.md, in its order.
pub const SUITE: &[Workload] = &[
    w!(
        "add_f32_256k",
        "a + b",
        "[262144] + [262144]",
        GBps,
        KERNELS
    ),
    w!(
        "add_f32_16m",
        "a + b",
        "[16777216] + [16777216]",
        GBps,
        KERNELS
    ),
    w!(
        "add_f32_bcast",
        "a + b",
        "[4096, 4096] + [4096]",
        GBps,
        KERNELS
    ),
    w!(
        "add_f32_transposed",
        "a.t() + b",
        "[4096, 4096]ᵀ + [4096, 4096]",
        GBps,
        KERNELS
    ),
    w!("exp_f32_4m", "exp(a)", "[4194304]", GBps, KERNELS),
    w!("tanh_f32_4m", "tanh(a)", "[4194304]", GBps, KERNELS),
    w!("gelu_f32_4m", "gelu(a) (erf)", "[4194304]", GBps, KERNELS),
    w!("sum_f32_16m", "a.sum()", "[16777216]", GBps, KERNELS),
    w!(
        "sum_dim1_f32",
        "a.sum(dim=1)",
        "[4096, 4096]",
        GBps,
        KERNELS
    ),
    w!(
        "sum_dim0_f32",
        "a.sum(dim=0)",
        "[4096, 4096]",
        GBps,
        KERNELS
    ),
    w!(
        "softmax_f32",
        "softmax(a, -1)",
        "[4096, 1024]",
        GBps,
        KERNELS
    ),
    w!(
        "matmul_f32_64",
        "a @ b",
        "[64, 64] @ [64, 64]",
        GFlops,
        GEMM
    ),
    w!(
        "matmul_f32_256",
        "a @ b",
        "[256, 256] @ [256, 256]",
        GFlops,
        GEMM
    ),
    w!(
        "matmul_f32_1024",
        "a @ b",
        "[1024, 1024] @ [1024, 1024]",
        GFlops,
        GEMM
    ),
    w!(
        "matmul_f32_2048",
        "a @ b",
        "[2048, 2048] @ [2048, 2048]",
        GFlops,
        GEMM
    ),
    w!(
        "linear_f32_mlp",
        "x @ w",
        "[256, 784] @ [784, 512]",
        GFlops,
        GEMM
    ),
    w!(
        "bmm_f32",
        "a @ b (batched)",
        "[64, 128, 128] @ [64, 128, 128]",
        GFlops,
        GEMM
    ),
    w!(
        "matmul_bf16_1024",
        "a @ b (bf16)",
        "[1024, 1024] @ [1024, 1024]",
        GFlops,
        GEMM
    ),
    w!(
        "mlp_train_step",
        "fwd + CE + bwd + SGD",
        "MLP 784-512-512-10, batch 256",
        StepsPerSec,
        NN
    ),
    w!(
        "small_add_latency",
        "a + b, one call",
        "[16] + [16]",
        NsPerOp,
        DISPATCH
    ),
    w!(
        "autograd_chain_latency",
        "100 x (x*1.0001+0.001), backward",
        "[16]",
        UsPerChain,
        AUTOGRAD
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids here are exactly the ids of WORKLOADS.md, in its order.
    #[test]
    fn suite_matches_workloads_md() {
        let md = include_str!("../WORKLOADS.md");
        let ids: Vec<&str> = md
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let ours: Vec<&str> = SUITE.iter().map(|w| w.id).collect();
        assert_eq!(ids, ours);
    }
}
