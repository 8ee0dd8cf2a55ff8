//! Every op, its schema name, and its CPU kernel: the static table that
//! binds the schema file (`dispatch/ops.schema`) to kernels.

use crate::cpu::{self, Fold};
use crate::frame::Kernel;
use ft_kernels::{BinaryOp, UnaryOp};

macro_rules! ops {
    ($($var:ident = $name:literal => $kernel:expr;)*) => {
        /// An op: one `- func:` entry of the schema file.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $($var,)*
        }

        impl Op {
            /// Every op, in schema order.
            pub const ALL: &'static [Op] = &[$(Op::$var,)*];
            pub const COUNT: usize = Op::ALL.len();

            /// The schema name: `add.Tensor`, `relu`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$var => $name,)*
                }
            }
        }

        /// The CPU (dense) kernel of every op.
        pub(crate) const CPU_KERNELS: &[(Op, Kernel)] = &[$((Op::$var, $kernel),)*];
    };
}

ops! {
    AddTensor = "add.Tensor" => cpu::add_tensor;
    AddScalar = "add.Scalar" => cpu::add_scalar;
    AddInplace = "add_.Tensor" => cpu::add_inplace;
    AddOut = "add.out" => cpu::add_out;
    SubTensor = "sub.Tensor" => cpu::sub_tensor;
    SubScalar = "sub.Scalar" => cpu::sub_scalar;
    SubInplace = "sub_.Tensor" => cpu::sub_inplace;
    SubOut = "sub.out" => cpu::sub_out;
    MulTensor = "mul.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Mul);
    MulScalar = "mul.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Mul);
    MulInplace = "mul_.Tensor" => |f, o| cpu::bin_inplace(f, o, BinaryOp::Mul);
    MulOut = "mul.out" => |f, o| cpu::bin_out(f, o, BinaryOp::Mul);
    DivTensor = "div.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Div);
    DivScalar = "div.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Div);
    DivInplace = "div_.Tensor" => |f, o| cpu::bin_inplace(f, o, BinaryOp::Div);
    DivOut = "div.out" => |f, o| cpu::bin_out(f, o, BinaryOp::Div);
    RemainderTensor = "remainder.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Remainder);
    RemainderScalar = "remainder.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Remainder);
    RemainderInplace = "remainder_.Tensor" => |f, o| cpu::bin_inplace(f, o, BinaryOp::Remainder);
    RemainderOut = "remainder.Tensor_out" => |f, o| cpu::bin_out(f, o, BinaryOp::Remainder);
    PowTensor = "pow.Tensor_Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Pow);
    PowScalar = "pow.Tensor_Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Pow);
    PowInplace = "pow_.Tensor" => |f, o| cpu::bin_inplace(f, o, BinaryOp::Pow);
    PowOut = "pow.Tensor_Tensor_out" => |f, o| cpu::bin_out(f, o, BinaryOp::Pow);
    Maximum = "maximum" => |f, o| cpu::bin(f, o, BinaryOp::Maximum);
    MaximumOut = "maximum.out" => |f, o| cpu::bin_out(f, o, BinaryOp::Maximum);
    Minimum = "minimum" => |f, o| cpu::bin(f, o, BinaryOp::Minimum);
    MinimumOut = "minimum.out" => |f, o| cpu::bin_out(f, o, BinaryOp::Minimum);
    EqTensor = "eq.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Eq);
    EqScalar = "eq.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Eq);
    NeTensor = "ne.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Ne);
    NeScalar = "ne.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Ne);
    LtTensor = "lt.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Lt);
    LtScalar = "lt.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Lt);
    LeTensor = "le.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Le);
    LeScalar = "le.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Le);
    GtTensor = "gt.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Gt);
    GtScalar = "gt.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Gt);
    GeTensor = "ge.Tensor" => |f, o| cpu::bin(f, o, BinaryOp::Ge);
    GeScalar = "ge.Scalar" => |f, o| cpu::bin_scalar(f, o, BinaryOp::Ge);
    LogicalAnd = "logical_and" => |f, o| cpu::bin(f, o, BinaryOp::LogicalAnd);
    LogicalOr = "logical_or" => |f, o| cpu::bin(f, o, BinaryOp::LogicalOr);
    LogicalXor = "logical_xor" => |f, o| cpu::bin(f, o, BinaryOp::LogicalXor);
    Where = "where.self" => cpu::where_self;
    Neg = "neg" => |f, o| cpu::un(f, o, UnaryOp::Neg);
    NegInplace = "neg_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Neg);
    NegOut = "neg.out" => |f, o| cpu::un_out(f, o, UnaryOp::Neg);
    Abs = "abs" => |f, o| cpu::un(f, o, UnaryOp::Abs);
    AbsInplace = "abs_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Abs);
    AbsOut = "abs.out" => |f, o| cpu::un_out(f, o, UnaryOp::Abs);
    Sign = "sign" => |f, o| cpu::un(f, o, UnaryOp::Sign);
    SignInplace = "sign_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Sign);
    SignOut = "sign.out" => |f, o| cpu::un_out(f, o, UnaryOp::Sign);
    Exp = "exp" => |f, o| cpu::un(f, o, UnaryOp::Exp);
    ExpInplace = "exp_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Exp);
    ExpOut = "exp.out" => |f, o| cpu::un_out(f, o, UnaryOp::Exp);
    Expm1 = "expm1" => |f, o| cpu::un(f, o, UnaryOp::Expm1);
    Expm1Inplace = "expm1_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Expm1);
    Expm1Out = "expm1.out" => |f, o| cpu::un_out(f, o, UnaryOp::Expm1);
    Log = "log" => |f, o| cpu::un(f, o, UnaryOp::Log);
    LogInplace = "log_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Log);
    LogOut = "log.out" => |f, o| cpu::un_out(f, o, UnaryOp::Log);
    Log1p = "log1p" => |f, o| cpu::un(f, o, UnaryOp::Log1p);
    Log1pInplace = "log1p_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Log1p);
    Log1pOut = "log1p.out" => |f, o| cpu::un_out(f, o, UnaryOp::Log1p);
    Sqrt = "sqrt" => |f, o| cpu::un(f, o, UnaryOp::Sqrt);
    SqrtInplace = "sqrt_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Sqrt);
    SqrtOut = "sqrt.out" => |f, o| cpu::un_out(f, o, UnaryOp::Sqrt);
    Rsqrt = "rsqrt" => |f, o| cpu::un(f, o, UnaryOp::Rsqrt);
    RsqrtInplace = "rsqrt_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Rsqrt);
    RsqrtOut = "rsqrt.out" => |f, o| cpu::un_out(f, o, UnaryOp::Rsqrt);
    Reciprocal = "reciprocal" => |f, o| cpu::un(f, o, UnaryOp::Reciprocal);
    ReciprocalInplace = "reciprocal_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Reciprocal);
    ReciprocalOut = "reciprocal.out" => |f, o| cpu::un_out(f, o, UnaryOp::Reciprocal);
    Sin = "sin" => |f, o| cpu::un(f, o, UnaryOp::Sin);
    SinInplace = "sin_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Sin);
    SinOut = "sin.out" => |f, o| cpu::un_out(f, o, UnaryOp::Sin);
    Cos = "cos" => |f, o| cpu::un(f, o, UnaryOp::Cos);
    CosInplace = "cos_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Cos);
    CosOut = "cos.out" => |f, o| cpu::un_out(f, o, UnaryOp::Cos);
    Tanh = "tanh" => |f, o| cpu::un(f, o, UnaryOp::Tanh);
    TanhInplace = "tanh_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Tanh);
    TanhOut = "tanh.out" => |f, o| cpu::un_out(f, o, UnaryOp::Tanh);
    Sigmoid = "sigmoid" => |f, o| cpu::un(f, o, UnaryOp::Sigmoid);
    SigmoidInplace = "sigmoid_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Sigmoid);
    SigmoidOut = "sigmoid.out" => |f, o| cpu::un_out(f, o, UnaryOp::Sigmoid);
    Relu = "relu" => |f, o| cpu::un(f, o, UnaryOp::Relu);
    ReluInplace = "relu_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Relu);
    ReluOut = "relu.out" => |f, o| cpu::un_out(f, o, UnaryOp::Relu);
    Silu = "silu" => |f, o| cpu::un(f, o, UnaryOp::Silu);
    SiluInplace = "silu_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Silu);
    SiluOut = "silu.out" => |f, o| cpu::un_out(f, o, UnaryOp::Silu);
    Erf = "erf" => |f, o| cpu::un(f, o, UnaryOp::Erf);
    ErfInplace = "erf_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Erf);
    ErfOut = "erf.out" => |f, o| cpu::un_out(f, o, UnaryOp::Erf);
    Floor = "floor" => |f, o| cpu::un(f, o, UnaryOp::Floor);
    FloorInplace = "floor_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Floor);
    FloorOut = "floor.out" => |f, o| cpu::un_out(f, o, UnaryOp::Floor);
    Ceil = "ceil" => |f, o| cpu::un(f, o, UnaryOp::Ceil);
    CeilInplace = "ceil_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Ceil);
    CeilOut = "ceil.out" => |f, o| cpu::un_out(f, o, UnaryOp::Ceil);
    Round = "round" => |f, o| cpu::un(f, o, UnaryOp::Round);
    RoundInplace = "round_" => |f, o| cpu::un_inplace(f, o, UnaryOp::Round);
    RoundOut = "round.out" => |f, o| cpu::un_out(f, o, UnaryOp::Round);
    Gelu = "gelu" => cpu::gelu;
    GeluInplace = "gelu_" => cpu::gelu_inplace;
    GeluOut = "gelu.out" => cpu::gelu_out;
    Clamp = "clamp" => cpu::clamp;
    ClampInplace = "clamp_" => cpu::clamp_inplace;
    ClampOut = "clamp.out" => cpu::clamp_out;
    ToDtype = "to.dtype" => cpu::to_dtype;
    CopyInplace = "copy_" => cpu::copy_inplace;
    Sum = "sum" => |f, o| cpu::fold_all(f, o, Fold::Sum);
    SumDim = "sum.dim_IntList" => |f, o| cpu::fold_dims(f, o, Fold::Sum);
    Mean = "mean" => |f, o| cpu::fold_all(f, o, Fold::Mean);
    MeanDim = "mean.dim" => |f, o| cpu::fold_dims(f, o, Fold::Mean);
    Prod = "prod" => |f, o| cpu::fold_all(f, o, Fold::Prod);
    ProdDim = "prod.dim_int" => cpu::prod_dim;
    Max = "max" => |f, o| cpu::extreme(f, o, true);
    MaxDim = "max.dim" => |f, o| cpu::extreme_dim(f, o, true);
    Min = "min" => |f, o| cpu::extreme(f, o, false);
    MinDim = "min.dim" => |f, o| cpu::extreme_dim(f, o, false);
    Argmax = "argmax" => |f, o| cpu::arg(f, o, true);
    Argmin = "argmin" => |f, o| cpu::arg(f, o, false);
    Var = "var.correction" => |f, o| cpu::moments(f, o, false);
    Std = "std.correction" => |f, o| cpu::moments(f, o, true);
    Logsumexp = "logsumexp" => cpu::logsumexp;
    Norm = "norm.Scalar" => cpu::norm;
    NormDim = "norm.ScalarOpt_dim" => cpu::norm_dim;
    Any = "any" => |f, o| cpu::any_all(f, o, false, false);
    AnyDims = "any.dims" => |f, o| cpu::any_all(f, o, false, true);
    All = "all" => |f, o| cpu::any_all(f, o, true, false);
    AllDims = "all.dims" => |f, o| cpu::any_all(f, o, true, true);
    Softmax = "softmax.int" => |f, o| cpu::softmax(f, o, false);
    LogSoftmax = "log_softmax.int" => |f, o| cpu::softmax(f, o, true);
    Mm = "mm" => |f, o| cpu::product(f, o, ft_kernels::mm);
    MmOut = "mm.out" => |f, o| cpu::product_out(f, o, ft_kernels::mm_out);
    Bmm = "bmm" => |f, o| cpu::product(f, o, ft_kernels::bmm);
    BmmOut = "bmm.out" => |f, o| cpu::product_out(f, o, ft_kernels::bmm_out);
    Matmul = "matmul" => |f, o| cpu::product(f, o, ft_kernels::matmul);
    MatmulOut = "matmul.out" => |f, o| cpu::product_out(f, o, ft_kernels::matmul_out);
    Addmm = "addmm" => cpu::addmm;
    AddmmInplace = "addmm_" => cpu::addmm_inplace;
    AddmmOut = "addmm.out" => cpu::addmm_out;
    Linear = "linear" => cpu::linear;
    Dot = "dot" => |f, o| cpu::product(f, o, ft_kernels::dot);
    Mv = "mv" => |f, o| cpu::product(f, o, ft_kernels::mv);
    View = "view" => |f, o| cpu::view_op(f, o, |x, f| x.view(f.dims(1)?.unwrap_or(&[])));
    Reshape = "reshape" => |f, o| cpu::view_op(f, o, |x, f| x.reshape(f.dims(1)?.unwrap_or(&[])));
    T = "t" => |f, o| cpu::view_op(f, o, |x, _| x.t());
    Transpose = "transpose.int" => |f, o| cpu::view_op(f, o, |x, f| x.transpose(f.int(1)? as isize, f.int(2)? as isize));
    Permute = "permute" => |f, o| cpu::view_op(f, o, |x, f| x.permute(f.dims(1)?.unwrap_or(&[])));
    Narrow = "narrow" => |f, o| cpu::view_op(f, o, |x, f| x.narrow(f.int(1)? as isize, f.int(2)? as isize, f.int(3)? as isize));
    Select = "select.int" => |f, o| cpu::view_op(f, o, |x, f| x.select(f.int(1)? as isize, f.int(2)? as isize));
    Expand = "expand" => |f, o| cpu::view_op(f, o, |x, f| x.expand(f.dims(1)?.unwrap_or(&[])));
    Squeeze = "squeeze" => |f, o| cpu::view_op(f, o, |x, _| Ok(x.squeeze()));
    SqueezeDim = "squeeze.dim" => |f, o| cpu::view_op(f, o, |x, f| x.squeeze_dim(f.int(1)? as isize));
    Unsqueeze = "unsqueeze" => |f, o| cpu::view_op(f, o, |x, f| x.unsqueeze(f.int(1)? as isize));
    Flatten = "flatten.using_ints" => |f, o| cpu::view_op(f, o, |x, f| x.flatten(f.int(1)? as isize, f.int(2)? as isize));
    Contiguous = "contiguous" => |f, o| cpu::view_op(f, o, |x, _| x.contiguous());
}

impl Op {
    /// The op of a schema name.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// A dense index for tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Ops whose outputs are never differentiable (bool or integer
    /// results): with a tensor that requires grad they skip the autograd
    /// key and run the backend kernel, as PyTorch's fallthrough does.
    pub const fn autograd_fallthrough(self) -> bool {
        matches!(
            self,
            Op::EqTensor
                | Op::EqScalar
                | Op::NeTensor
                | Op::NeScalar
                | Op::LtTensor
                | Op::LtScalar
                | Op::LeTensor
                | Op::LeScalar
                | Op::GtTensor
                | Op::GtScalar
                | Op::GeTensor
                | Op::GeScalar
                | Op::LogicalAnd
                | Op::LogicalOr
                | Op::LogicalXor
                | Op::Argmax
                | Op::Argmin
                | Op::Any
                | Op::AnyDims
                | Op::All
                | Op::AllDims
        )
    }

    /// Elementwise ops: their new output has the broadcast shape of their
    /// tensor arguments (what Hardened mode checks before allocating).
    pub const fn is_elementwise(self) -> bool {
        !matches!(
            self,
            Op::Sum
                | Op::SumDim
                | Op::Mean
                | Op::MeanDim
                | Op::Prod
                | Op::ProdDim
                | Op::Max
                | Op::MaxDim
                | Op::Min
                | Op::MinDim
                | Op::Argmax
                | Op::Argmin
                | Op::Var
                | Op::Std
                | Op::Logsumexp
                | Op::Norm
                | Op::NormDim
                | Op::Any
                | Op::AnyDims
                | Op::All
                | Op::AllDims
                | Op::Softmax
                | Op::LogSoftmax
        ) && !self.is_view()
    }

    /// Ops whose result shares the input's storage (PyTorch's `Tensor(a)`
    /// returns; `reshape` and `contiguous` copy only when they must).
    pub const fn is_view(self) -> bool {
        matches!(
            self,
            Op::View
                | Op::Reshape
                | Op::T
                | Op::Transpose
                | Op::Permute
                | Op::Narrow
                | Op::Select
                | Op::Expand
                | Op::Squeeze
                | Op::SqueezeDim
                | Op::Unsqueeze
                | Op::Flatten
                | Op::Contiguous
        )
    }
}
