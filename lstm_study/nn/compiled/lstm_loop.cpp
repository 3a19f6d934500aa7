// The recurrent layers' time loop in compiled code: for the LSTM the same arithmetic as
// lstm_study/nn/fused.py, without Python between the steps; the same loop runs the LSTM's
// variants, the plain RNN and the GRU (enum Kind below), each cell's elementwise passes its own.
// What follows describes the LSTM; the other cells differ only in those passes (the GRU also
// keeps the gradient of its recurrent product apart from its input projection's: r scales one).
//
// One direction of one layer, input projection included. Forward: one product for the input
// projection of a chunk of steps (about 4 MB of rows: all steps of a small layer); then per
// step one product h_{t-1} W_hh^T and ONE pass over the (batch, 4 hidden) gate block that adds
// the projection, applies the four nonlinearities and updates c and h. Backward: per step one
// pass that forms the four gate gradients and one product for dh_{t-1}. The weights' gradients
// are sums over all steps: a small layer adds each step's share while it is in cache, a larger
// one computes them after the loop as ONE product over all steps (dW_hh and dW_ih together),
// and dx as another.
//
// A small layer's step products (W_hh up to 256 KB) run in small_gemm below, with the batch's
// rows split over threads. The others go to ATen: its oneDNN matmul (mkldnn::_linear_pointwise,
// the library behind torch.nn.LSTM on the CPU) with W_hh reordered once into oneDNN's blocked
// layout, when the caller asks for it (float32 and a torch built with oneDNN); otherwise
// at::mm, which calls the BLAS torch was built with (MKL on x86).
//
// Layout: torch's, (seq_len, batch, 4 hidden), gates i, f, g, o in blocks of `hidden`
// columns. States live in buffers with one slot more than steps: the forward direction
// reads slot t and writes t + 1 (slot 0 holds h_0), the reverse direction reads t + 1
// and writes t (slot T holds h_0), as in fused.py.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

// exp(x) for floats as 2^n * p(r), r = x - n log 2 in [-log2 / 2, log2 / 2], p a degree-6
// polynomial (Cephes' expf, relative error about 2e-7). Only arithmetic and bit moves, so
// the compiler turns a loop of it into vector instructions; std::exp would stay scalar.
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // n = round(x / log 2): adding and subtracting 1.5 * 2^23 rounds to the nearest integer
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// In double precision (gradcheck) the library's exp: exact enough for finite differences.
inline float exp_of(float x) { return exp_approx(x); }
inline double exp_of(double x) { return std::exp(x); }

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + exp_of(-x));
}

// tanh(x) = 2 sigmoid(2x) - 1: one exp, and the same vectorisable code as the sigmoid.
template <typename T>
inline T tanh_of(T x) {
  return T(2) * sigmoid(T(2) * x) - T(1);
}

// The cells the loop runs, numbered as lstm_study/nn/compiled/__init__.py's CELLS: the LSTM and
// the variants of Greff et al. (2017), the plain RNN with tanh or ReLU, and the GRU (reset
// gate after the recurrent product, as torch). Each is a template argument, so that the
// elementwise passes below are compiled, and vectorised, once per cell without a branch inside.
enum Kind : int {
  kStandard = 0, kNoForget, kNoInput, kNoOutput, kNoOutputActivation, kCoupled, kPeephole,
  kRnnTanh, kRnnRelu, kGru,
};

// Where an LSTM cell keeps each gate's block among its `blocks` blocks of `hidden` columns
// (-1: the cell has no such gate), in torch's order i, f, g, o with the removed ones left out.
template <int K>
struct Cell {
  static constexpr bool lstm = K <= kPeephole;
  static constexpr bool three = K == kNoForget || K == kNoInput || K == kCoupled;
  static constexpr int blocks = K == kRnnTanh || K == kRnnRelu ? 1
                                : three || K == kNoOutput || K == kGru ? 3
                                                                       : 4;
  static constexpr int i = K == kNoInput ? -1 : 0;
  static constexpr int f = K == kNoForget || K == kCoupled ? -1 : K == kNoInput ? 0 : 1;
  static constexpr int g = three ? 1 : 2;
  static constexpr int o = K == kNoOutput ? -1 : three ? 2 : 3;
};

int64_t cell_blocks(int64_t kind) {
  static constexpr int blocks[] = {4, 3, 3, 3, 4, 3, 4, 1, 1, 3};
  TORCH_CHECK(kind >= 0 && kind <= kGru, "unknown cell kind ", kind);
  return blocks[kind];
}

// Run f(std::integral_constant<int, K>) for the cell `kind`.
template <typename F>
void with_cell(int64_t kind, const F& f) {
  switch (kind) {
    case kStandard: return f(std::integral_constant<int, kStandard>{});
    case kNoForget: return f(std::integral_constant<int, kNoForget>{});
    case kNoInput: return f(std::integral_constant<int, kNoInput>{});
    case kNoOutput: return f(std::integral_constant<int, kNoOutput>{});
    case kNoOutputActivation: return f(std::integral_constant<int, kNoOutputActivation>{});
    case kCoupled: return f(std::integral_constant<int, kCoupled>{});
    case kPeephole: return f(std::integral_constant<int, kPeephole>{});
    case kRnnTanh: return f(std::integral_constant<int, kRnnTanh>{});
    case kRnnRelu: return f(std::integral_constant<int, kRnnRelu>{});
    case kGru: return f(std::integral_constant<int, kGru>{});
    default: TORCH_CHECK(false, "unknown cell kind ", kind);
  }
}

// One forward step's elementwise work, for one batch row: x is the row's input projection and
// hw its h_{t-1} W_hh^T (blocks x hidden each); a receives the gates after their nonlinearity
// (for the RNN: h_t). h_prev, h_new, c_prev, c_new and `extra` are `hidden` wide. `extra` keeps
// what the backward needs besides the gates: the LSTM's tanh(c_t) (c_t itself without the output
// activation), the GRU's W_hn h_{t-1} + b_hn. `cw` is the cell's own weight: the peepholes
// (3 x hidden: p_i, p_f, p_o) or the GRU's b_hn.
//
//   LSTM  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)   (a removed gate is 1; coupled: f = 1 - i;
//         peephole: i, f read p * c_{t-1}, o reads p_o * c_t)
//   RNN   h_t = tanh(a) or max(a, 0)
//   GRU   r, z = sigmoid(.), n = tanh(x_n + r (W_hn h_{t-1} + b_hn)), h_t = n + z (h_{t-1} - n)
template <int K, typename T>
inline void forward_row(const T* __restrict x, const T* __restrict hw, T* __restrict a,
                        const T* __restrict h_prev, T* __restrict h_new,
                        const T* __restrict c_prev, T* __restrict c_new,
                        T* __restrict extra, const T* __restrict cw, int64_t hidden) {
  using C = Cell<K>;
  if constexpr (K == kRnnTanh || K == kRnnRelu) {
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T s = x[j] + hw[j];
      const T h = K == kRnnTanh ? tanh_of(s) : (s > T(0) ? s : T(0));
      a[j] = h;
      h_new[j] = h;
    }
  } else if constexpr (K == kGru) {
    const int64_t h2 = 2 * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T r = sigmoid(x[j] + hw[j]);
      const T z = sigmoid(x[hidden + j] + hw[hidden + j]);
      const T hn = hw[h2 + j] + cw[j];
      const T n = tanh_of(x[h2 + j] + r * hn);
      a[j] = r;
      a[hidden + j] = z;
      a[h2 + j] = n;
      extra[j] = hn;
      h_new[j] = n + z * (h_prev[j] - n);
    }
  } else {
    constexpr bool peep = K == kPeephole;
    const int64_t oi = C::i * hidden, of = C::f * hidden;
    const int64_t og = C::g * hidden, oo = C::o * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T cp = c_prev[j];
      T i = T(1), f = T(1), o = T(1);
      if constexpr (C::i >= 0) {
        i = sigmoid(x[oi + j] + hw[oi + j] + (peep ? cw[j] * cp : T(0)));
      }
      if constexpr (C::f >= 0) {
        f = sigmoid(x[of + j] + hw[of + j] + (peep ? cw[hidden + j] * cp : T(0)));
      } else if constexpr (K == kCoupled) {
        f = T(1) - i;
      }
      const T g = tanh_of(x[og + j] + hw[og + j]);
      const T c = f * cp + i * g;
      if constexpr (C::o >= 0) {
        o = sigmoid(x[oo + j] + hw[oo + j] + (peep ? cw[2 * hidden + j] * c : T(0)));
      }
      const T act = K == kNoOutputActivation ? c : tanh_of(c);
      if constexpr (C::i >= 0) a[oi + j] = i;
      if constexpr (C::f >= 0) a[of + j] = f;
      a[og + j] = g;
      if constexpr (C::o >= 0) a[oo + j] = o;
      c_new[j] = c;
      extra[j] = act;
      h_new[j] = o * act;
    }
  }
}

// One backward step's elementwise work, for one batch row. dh arrives from step t + 1 (through
// W_hh) and d_out from the output at t. The LSTM carries dc in place (dc_t -> dc_{t-1}); the
// GRU writes there the part of dh_{t-1} that bypasses W_hh (dh_t z_t), which the caller adds
// to the product. d_x receives the gradient of the step's input projection, d_h that of its
// h_{t-1} W_hh^T: the same for every cell but the GRU, whose n block differs by the factor r.
//
//   LSTM  dc += dh o act'(c) (+ da_o p_o),  da_i = dc g i (1 - i),  da_f = dc c_{t-1} f (1 - f),
//         da_g = dc i (1 - g^2),  da_o = dh act(c) o (1 - o),  dc_{t-1} = dc f (+ peepholes);
//         coupled: da_i = dc (g - c_{t-1}) i (1 - i)
//   RNN   da = dh tanh'(a) or dh [a > 0]
//   GRU   da_n = dh (1 - z)(1 - n^2),  da_z = dh (h_{t-1} - n) z (1 - z),
//         da_r = da_n hn r (1 - r),  d(hw_n) = da_n r
template <int K, typename T>
inline void backward_row(const T* __restrict gates, const T* __restrict h_prev,
                         const T* __restrict c_prev, const T* __restrict extra,
                         const T* __restrict dh, const T* __restrict d_out, T* __restrict dc,
                         T* __restrict d_x, T* __restrict d_h, const T* __restrict cw,
                         int64_t hidden) {
  using C = Cell<K>;
  if constexpr (K == kRnnTanh || K == kRnnRelu) {
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T h = gates[j], h_grad = dh[j] + d_out[j];
      d_x[j] = K == kRnnTanh ? h_grad * (T(1) - h * h) : (h > T(0) ? h_grad : T(0));
    }
  } else if constexpr (K == kGru) {
    const int64_t h2 = 2 * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T r = gates[j], z = gates[hidden + j], n = gates[h2 + j];
      const T h_grad = dh[j] + d_out[j];
      const T da_n = h_grad * (T(1) - z) * (T(1) - n * n);
      const T da_z = h_grad * (h_prev[j] - n) * z * (T(1) - z);
      const T da_r = da_n * extra[j] * r * (T(1) - r);
      d_x[j] = da_r;
      d_x[hidden + j] = da_z;
      d_x[h2 + j] = da_n;
      d_h[j] = da_r;
      d_h[hidden + j] = da_z;
      d_h[h2 + j] = da_n * r;
      dc[j] = h_grad * z;
    }
  } else {
    constexpr bool peep = K == kPeephole;
    const int64_t oi = C::i * hidden, of = C::f * hidden, og = C::g * hidden, oo = C::o * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T cp = c_prev[j], act = extra[j], g = gates[og + j];
      const T i = C::i >= 0 ? gates[oi + j] : T(1);
      const T f = C::f >= 0 ? gates[of + j] : (K == kCoupled ? T(1) - i : T(1));
      const T o = C::o >= 0 ? gates[oo + j] : T(1);
      const T h_grad = dh[j] + d_out[j];
      T c_grad = dc[j] + h_grad * o * (K == kNoOutputActivation ? T(1) : T(1) - act * act);
      if constexpr (C::o >= 0) {
        const T da_o = h_grad * act * o * (T(1) - o);
        d_x[oo + j] = da_o;
        if constexpr (peep) c_grad += da_o * cw[2 * hidden + j];
      }
      T dc_prev = c_grad * f;
      if constexpr (C::i >= 0) {
        const T di = K == kCoupled ? c_grad * (g - cp) : c_grad * g;
        const T da_i = di * i * (T(1) - i);
        d_x[oi + j] = da_i;
        if constexpr (peep) dc_prev += da_i * cw[j];
      }
      if constexpr (C::f >= 0) {
        const T da_f = c_grad * cp * f * (T(1) - f);
        d_x[of + j] = da_f;
        if constexpr (peep) dc_prev += da_f * cw[hidden + j];
      }
      d_x[og + j] = c_grad * i * (T(1) - g * g);
      dc[j] = dc_prev;
    }
  }
}

// A step's product for a small layer, C (m x n) = A (m x k) B (k x n), float32, B and C
// row-major, A at a[r * a_row + p * a_col] (row-major, or transposed: a_row = 1): the recurrent
// weight of a small layer (64 units: 64 x 256 floats, 64 KB) stays in the core's cache from
// step to step, and a library call's fixed cost is then a good part of the step. So each block
// of R rows and NB columns keeps its R x NB sums in vector registers (4 x 64 floats: 16
// AVX-512 registers; kCols below) while it runs once along k. The sums start from `init`
// (rows init_ld apart) where it is given: C itself to add to C, a bias row with init_ld = 0.
template <int R, int NB>
inline void gemm_block(const float* __restrict a, int64_t a_row, int64_t a_col,
                       const float* __restrict b, int64_t ldb, float* c, int64_t ldc, int64_t k,
                       const float* init, int64_t init_ld) {
  float acc[R][NB];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NB; ++j) acc[r][j] = init ? init[r * init_ld + j] : 0.0f;
  for (int64_t p = 0; p < k; ++p) {
    const float* row = b + p * ldb;
    for (int r = 0; r < R; ++r) {
      const float scale = a[r * a_row + p * a_col];
#pragma omp simd
      for (int j = 0; j < NB; ++j) acc[r][j] += scale * row[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NB; ++j) c[r * ldc + j] = acc[r][j];
}

#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
// The 4 x 64 block written out for AVX-512. From the loop above, GCC 12 folds each load of B's
// row into each of the four multiply-adds that use it: 16 loads of 64 bytes and 4 broadcasts
// per 16 multiply-adds. On one Zen 5 core (AMD EPYC, family 26) that block ran at about 110
// GFLOPS in the step's product, this one at about 260 (280 with registers alone). Here B's row
// is loaded once into four registers; the empty asm statement says they hold values the
// compiler may not reload.
template <>
inline void gemm_block<4, 64>(const float* __restrict a, int64_t a_row, int64_t a_col,
                              const float* __restrict b, int64_t ldb, float* c, int64_t ldc,
                              int64_t k, const float* init, int64_t init_ld) {
  __m512 acc[4][4];
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q)
      acc[r][q] = init ? _mm512_loadu_ps(init + r * init_ld + 16 * q) : _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* row = b + p * ldb;
    __m512 b0 = _mm512_loadu_ps(row), b1 = _mm512_loadu_ps(row + 16);
    __m512 b2 = _mm512_loadu_ps(row + 32), b3 = _mm512_loadu_ps(row + 48);
    asm("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3));
    for (int r = 0; r < 4; ++r) {
      const __m512 scale = _mm512_set1_ps(a[r * a_row + p * a_col]);
      acc[r][0] = _mm512_fmadd_ps(scale, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(scale, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(scale, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(scale, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q) _mm512_storeu_ps(c + r * ldc + 16 * q, acc[r][q]);
}
#endif

// Columns per block: 4 x 64 sums fill 16 of AVX-512's 32 vector registers; with 16 registers
// (AVX2 and older) 4 x 64 would spill, and 4 x 16 sums take 8 of them with AVX2 (16 with SSE's
// 4-float registers).
#if defined(__AVX512F__)
constexpr int kCols = 64;
#else
constexpr int kCols = 16;
#endif

// Each panel of kCols columns of B in the outer loop and the blocks of rows inside it, so that
// every block of rows runs over the same panel while it is in cache (16 KB in the forward step
// of a 64-unit layer: in the first-level cache).
template <int NB>
void gemm_panel(const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
                float* c, int64_t ldc, int64_t m, int64_t k, const float* init, int64_t init_ld) {
  const auto start = [&](int64_t i) { return init ? init + i * init_ld : nullptr; };
  int64_t i = 0;
  for (; i + 4 <= m; i += 4)
    gemm_block<4, NB>(a + i * a_row, a_row, a_col, b, ldb, c + i * ldc, ldc, k, start(i),
                      init_ld);
  for (; i < m; ++i)
    gemm_block<1, NB>(a + i * a_row, a_row, a_col, b, ldb, c + i * ldc, ldc, k, start(i),
                      init_ld);
}

void small_gemm(const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
                float* c, int64_t ldc, int64_t m, int64_t n, int64_t k,
                const float* init = nullptr, int64_t init_ld = 0) {
  const auto panel = [&](int64_t j) { return init ? init + j : nullptr; };
  int64_t j = 0;
  for (; j + kCols <= n; j += kCols)
    gemm_panel<kCols>(a, a_row, a_col, b + j, ldb, c + j, ldc, m, k, panel(j), init_ld);
  for (; j + 16 <= n; j += 16)
    gemm_panel<16>(a, a_row, a_col, b + j, ldb, c + j, ldc, m, k, panel(j), init_ld);
  for (; j < n; ++j)
    gemm_panel<1>(a, a_row, a_col, b + j, ldb, c + j, ldc, m, k, panel(j), init_ld);
}

// C (m x n) = A (m x k) B (k x n), all row-major and contiguous
void small_gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) {
  small_gemm(a, k, 1, b, n, c, n, m, n, k);
}

// (use_small_gemm never picks it for float64, whose steps go to the library)
void small_gemm(const double*, const double*, double*, int64_t, int64_t, int64_t) {
  TORCH_CHECK(false, "small_gemm takes float32 only");
}
void small_gemm(const double*, int64_t, int64_t, const double*, int64_t, double*, int64_t,
                int64_t, int64_t, int64_t, const double* = nullptr, int64_t = 0) {
  TORCH_CHECK(false, "small_gemm takes float32 only");
}

// The recurrent weight at most this size (bytes) goes to small_gemm: it fits a core's L2 cache.
constexpr int64_t kSmallWeight = 256 * 1024;

bool use_small_gemm(const at::Tensor& x, int64_t width, int64_t hidden, bool allowed) {
  return allowed && x.scalar_type() == at::kFloat &&
         width * hidden * static_cast<int64_t>(sizeof(float)) <= kSmallWeight;
}

// Split a step's rows over threads only when it has more than this many elements to compute.
constexpr int64_t kGrain = 16384;

int64_t row_grain(int64_t hidden) { return std::max<int64_t>(1, kGrain / (4 * hidden)); }

// x w^T for x (m, k) and w (n, k): oneDNN through ATen when `onednn`, else at::mm. `w` may
// be a weight reordered by mkldnn::_reorder_linear_weight (oneDNN only).
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, bool onednn) {
  if (onednn) {
    static const c10::OperatorHandle op =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
    torch::jit::Stack stack{x, w, bias.defined() ? c10::IValue(bias) : c10::IValue(),
                            c10::IValue(std::string("none")),
                            c10::IValue(c10::List<std::optional<at::Scalar>>()),
                            c10::IValue()};
    op.callBoxed(&stack);
    return stack[0].toTensor();
  }
  return bias.defined() ? at::addmm(bias, x, w.t()) : at::mm(x, w.t());
}

// w reordered once into oneDNN's blocked layout for products with `rows`-row inputs.
at::Tensor packed(const at::Tensor& w, int64_t rows, bool onednn) {
  if (!onednn) return w;
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_reorder_linear_weight", "");
  torch::jit::Stack stack{w.contiguous(), c10::IValue(rows)};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

// A copy of the matrix m (rows x cols) whose rows lie cols + 16 floats apart: with rows a
// multiple of 1 KB apart (256 floats), a panel's rows fall into few of the first-level cache's
// sets and evict each other; 64 bytes more per row spreads them (a third faster at 64 units).
at::Tensor padded_rows(const at::Tensor& m) {
  const int64_t rows = m.size(0), cols = m.size(1);
  return at::empty({rows, cols + 16}, m.options()).narrow(1, 0, cols).copy_(m);
}

// Blocks of the batch's rows that run through the whole time loop each on its own thread: one
// per thread, at least kRows rows each; 1 (no split) without `split`. A batch's rows never mix
// (row b's state depends on row b's input only), so the blocks need no synchronisation between
// steps, where splitting each step's products costs two hand-overs per step.
constexpr int64_t kRows = 16;

int64_t row_blocks(int64_t batch, bool split) {
  return split ? std::clamp<int64_t>(batch / kRows, 1, at::get_num_threads()) : 1;
}

// Run loop(block, begin, end) for each of `blocks` equal blocks of the batch's rows, in parallel.
// The partition depends on the batch and the number of blocks only, not on which thread runs
// which block, so per-block partial sums can be added in block order, the same every time.
template <typename Loop>
void run_rows(int64_t batch, int64_t blocks, const Loop& loop) {
  const auto rows_of = [&](int64_t block) { return block * batch / blocks; };
  if (blocks <= 1) {
    loop(0, 0, batch);
    return;
  }
  at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t block = first; block < last; ++block)
      loop(block, rows_of(block), rows_of(block + 1));
  });
}

// The loop's buffers are recycled between calls. A fresh buffer comes from the operating system
// in pages it has to fault in and zero on first touch: 13 to 21 ms for the 52 MB of gates at
// 64 x 100 x 512 units on the machine this was written on. malloc keeps and reuses freed memory
// below its threshold, but not reliably: in some processes (one in two, on that machine) every
// call of the predictor-sized forward pass faulted in all its 10 MB again, 2600 faults, 5 ms
// instead of 1. A recycled buffer costs nothing. The pool keeps at most kPoolBytes of free
// buffers; smaller ones than kPoolMin go to at::empty.
constexpr int64_t kPoolMin = 256 << 10;
constexpr int64_t kPoolBytes = 512 << 20;

// A buffer of the pool: `data` lies `base` plus an offset that differs from buffer to buffer (a
// multiple of 64 bytes below 4 KB). Buffers that all began on a page boundary would put the
// same element of every buffer at the same offset in its page, where the core confuses loads
// from one with stores to another (4K aliasing): with page-aligned buffers the predictor-sized
// forward pass took 1.2 ms instead of 0.9.
struct Block {
  int64_t bytes;
  void* base;
  void* data;
};

class BufferPool {
 public:
  Block take(int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->bytes == bytes) {
          const Block block = *it;
          held_ -= bytes;
          free_.erase(it);
          return block;
        }
      }
      colour_ = (colour_ + 23) % 64;  // 23 and 64 share no factor: 64 offsets in turn
    }
    const int64_t offset = 64 * colour_;
    void* base = std::aligned_alloc(4096, (bytes + offset + 4095) / 4096 * 4096);
    TORCH_CHECK(base != nullptr, "out of memory allocating ", bytes, " bytes");
    return {bytes, base, static_cast<char*>(base) + offset};
  }

  void give(const Block& block) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(block);
    held_ += block.bytes;
    while (held_ > kPoolBytes) {  // the oldest free buffer goes back to the system
      held_ -= free_.front().bytes;
      std::free(free_.front().base);
      free_.erase(free_.begin());
    }
  }

 private:
  std::mutex mutex_;
  std::vector<Block> free_;
  int64_t held_ = 0;
  int64_t colour_ = 0;
};

BufferPool& pool() {
  static BufferPool* instance = new BufferPool();  // never destroyed: tensors may outlive it
  return *instance;
}

// An uninitialised tensor, from the pool when it is large.
at::Tensor workspace(at::IntArrayRef sizes, const at::TensorOptions& options) {
  int64_t bytes = static_cast<int64_t>(c10::elementSize(options.dtype().toScalarType()));
  for (const int64_t size : sizes) bytes *= size;
  if (bytes < kPoolMin) return at::empty(sizes, options);
  const Block block = pool().take(bytes);
  return at::from_blob(
      block.data, sizes, [block](void*) { pool().give(block); }, options);
}

// dst[j * ld + i] = src[i * cols + j]: a (rows, cols) block transposed, in 16 x 16 tiles
// (a cache line of floats each way), the columns split over threads.
template <typename T>
void transpose_into(const T* src, int64_t rows, int64_t cols, T* dst, int64_t ld) {
  constexpr int64_t kTile = 16;
  at::parallel_for(0, cols, kTile, [&](int64_t col_begin, int64_t col_end) {
    for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
      const int64_t i1 = std::min(i0 + kTile, rows);
      for (int64_t j0 = col_begin; j0 < col_end; j0 += kTile) {
        const int64_t j1 = std::min(j0 + kTile, col_end);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = i0; i < i1; ++i) dst[j * ld + i] = src[i * cols + j];
      }
    }
  });
}

// out[j] = sum of row j of a (rows, cols) block, summed in double: the bias gradient's sums run
// over every step's rows (6400 terms of both signs at 64 x 100), whose float32 sum loses digits.
template <typename T>
void row_sums(const T* src, int64_t rows, int64_t cols, T* out) {
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const T* row = src + j * cols;
      double sum = 0.0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < cols; ++i) sum += static_cast<double>(row[i]);
      out[j] = static_cast<T>(sum);
    }
  });
}

// acc[j] += sum over the rows of column j of a (rows, width) block, in double.
template <typename T>
void add_columns(const T* src, int64_t rows, int64_t width, double* __restrict acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = src + r * width;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) acc[j] += static_cast<double>(row[j]);
  }
}

// Steps per input-projection chunk: about 4 MB of projected rows, which stay in cache until
// their steps read them (one product for the whole sequence writes 52 MB at 64 x 100 x 512
// units, and a fresh buffer that size is slow to touch); a small layer's sequence is one chunk.
constexpr int64_t kChunkBytes = 4 << 20;

int64_t chunk_steps(int64_t steps, int64_t batch, int64_t width, int64_t item) {
  return std::clamp<int64_t>(kChunkBytes / std::max<int64_t>(1, batch * width * item), 1,
                             std::max<int64_t>(1, steps));
}

// x W_ih^T + b for the rows of x (rows, inputs): for a small layer (float32) the small kernel,
// its sums started from the bias, on one thread (about 50 us for 3840 rows of 5 inputs on the
// machine this was written on); otherwise the library.
at::Tensor project(const at::Tensor& x_rows, const at::Tensor& w_ih, const at::Tensor& w_ih_t,
                   const at::Tensor& b, bool small, bool onednn) {
  if (!small) return linear(x_rows, w_ih, b, onednn);
  const int64_t rows = x_rows.size(0), inputs = x_rows.size(1), width = w_ih.size(0);
  at::Tensor out = workspace({rows, width}, x_rows.options());
  const float* x = x_rows.const_data_ptr<float>();
  const float* w = w_ih_t.const_data_ptr<float>();
  const float* bias = b.defined() ? b.const_data_ptr<float>() : nullptr;
  float* y = out.data_ptr<float>();
  small_gemm(x, inputs, 1, w, w_ih_t.stride(0), y, width, rows, width, inputs, bias, 0);
  return out;
}

// The cell's own weight: the peepholes (3, hidden), the GRU's b_hn (hidden), or none.
at::Tensor cell_weight(const std::optional<at::Tensor>& cell_w, int64_t kind, int64_t hidden) {
  if (kind == kPeephole || kind == kGru) {
    TORCH_CHECK(cell_w.has_value(), "this cell needs its own weight (peepholes or b_hn)");
    const auto shape = kind == kGru ? std::vector<int64_t>{hidden} : std::vector<int64_t>{3, hidden};
    TORCH_CHECK(cell_w->sizes() == at::IntArrayRef(shape), "the cell's weight must be ", shape);
    return cell_w->contiguous();
  }
  return at::Tensor();
}

void check(const at::Tensor& x, const at::Tensor& weight_ih, const at::Tensor& weight_hh,
           const at::Tensor& h0, const at::Tensor& c0, int64_t kind) {
  TORCH_CHECK(x.dim() == 3, "input must be (seq_len, batch, input_size)");
  const int64_t batch = x.size(1), hidden = weight_hh.size(1), width = cell_blocks(kind) * hidden;
  TORCH_CHECK(weight_hh.sizes() == at::IntArrayRef({width, hidden}),
              "weight_hh must be (blocks * hidden, hidden)");
  TORCH_CHECK(weight_ih.sizes() == at::IntArrayRef({width, x.size(2)}),
              "weight_ih must be (blocks * hidden, input_size)");
  TORCH_CHECK(h0.sizes() == at::IntArrayRef({batch, hidden}) && c0.sizes() == h0.sizes(),
              "h0 and c0 must be (batch, hidden)");
  TORCH_CHECK(x.device().is_cpu(), "the compiled recurrent loop runs on the CPU");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "the compiled recurrent loop takes float32 or float64");
}

// Returns output (T, B, H), h_n, c_n, and for the backward: the gates (T, B, blocks H) after
// their nonlinearities, the h and c buffers (T + 1, B, H) and `extra` (T, B, H): see forward_row.
// An RNN or GRU passes any (batch, hidden) c0 and ignores the c_n it gets back.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
layer_forward(const at::Tensor& x_in, const at::Tensor& weight_ih, const at::Tensor& weight_hh,
              const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& cell_w,
              const at::Tensor& h0, const at::Tensor& c0, int64_t kind, bool reverse, bool onednn,
              bool small_kernel, bool split) {
  check(x_in, weight_ih, weight_hh, h0, c0, kind);
  const at::Tensor x = x_in.contiguous();
  const int64_t steps = x.size(0), batch = x.size(1), inputs = x.size(2);
  const int64_t hidden = weight_hh.size(1), width = cell_blocks(kind) * hidden;
  const at::Tensor cw = cell_weight(cell_w, kind, hidden);
  // the input projection x_t W_ih^T + b has no time dependency: one product per chunk of steps
  const int64_t chunk = chunk_steps(steps, batch, width, x.element_size());
  const at::Tensor w_ih = weight_ih.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  // a small layer's products go to small_gemm with W_ih^T and W_hh^T as their right-hand sides
  // ((inputs or hidden) x 4 hidden); a larger one's to the library, W_hh reordered once for oneDNN
  const bool small = use_small_gemm(x, width, hidden, small_kernel);
  const at::Tensor w_ih_t = small ? padded_rows(weight_ih.t()) : at::Tensor();
  const at::Tensor w_hh = small ? padded_rows(weight_hh.t()) : packed(weight_hh, batch, onednn);
  at::Tensor gates = workspace({steps, batch, width}, x.options());
  at::Tensor hs = workspace({steps + 1, batch, hidden}, x.options());
  at::Tensor cs = workspace({steps + 1, batch, hidden}, x.options());
  at::Tensor extra = workspace({steps, batch, hidden}, x.options());
  const int64_t first = reverse ? steps : 0, read = reverse ? 1 : 0, write = reverse ? 0 : 1;
  hs[first].copy_(h0);
  cs[first].copy_(c0);
  with_cell(kind, [&](auto cell) {
  constexpr int K = decltype(cell)::value;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_forward", [&] {
    scalar_t* gate = gates.data_ptr<scalar_t>();
    scalar_t* h_buf = hs.data_ptr<scalar_t>();
    scalar_t* c_buf = cs.data_ptr<scalar_t>();
    scalar_t* extra_buf = extra.data_ptr<scalar_t>();
    const scalar_t* cw_ptr = cw.defined() ? cw.const_data_ptr<scalar_t>() : nullptr;
    for (int64_t n0 = 0; n0 < steps; n0 += chunk) {
      const int64_t len = std::min(chunk, steps - n0);
      const int64_t t0 = reverse ? steps - n0 - len : n0;  // the chunk's first time index
      const at::Tensor projected =
          project(x.narrow(0, t0, len).view({len * batch, inputs}), w_ih, w_ih_t, b, small,
                  onednn);
      const scalar_t* proj = projected.const_data_ptr<scalar_t>();
      // The time loop over this chunk for rows [begin, end) of the batch, on raw pointers: a
      // step creates no tensor but the product's input view and its result.
      const auto loop = [&](int64_t, int64_t begin, int64_t end) {
        const int64_t rows = end - begin;
        // h_{t-1} W_hh^T of this block's rows, for the small kernel: a tensor, so 64-byte aligned
        // (a std::vector is aligned to 16 bytes only, and its rows could straddle cache lines)
        at::Tensor scratch = at::empty({small ? rows * width : 0}, x.options());
        scalar_t* scratch_ptr = scratch.data_ptr<scalar_t>();
        for (int64_t n = n0; n < n0 + len; ++n) {
          const int64_t t = reverse ? steps - 1 - n : n;
          // first row of this block in step t, in its previous state and in its new state
          const int64_t here = t * batch + begin;
          const int64_t prev = (t + read) * batch + begin, next = (t + write) * batch + begin;
          const scalar_t* x_proj = proj + ((t - t0) * batch + begin) * width;
          at::Tensor hw;  // h_{t-1} W_hh^T: every gate block in one product
          const scalar_t* hw_ptr = scratch_ptr;
          if (small) {
            small_gemm(h_buf + prev * hidden, hidden, 1, w_hh.const_data_ptr<scalar_t>(),
                       w_hh.stride(0), scratch_ptr, width, rows, width, hidden);
          } else {
            const at::Tensor h_prev =
                at::from_blob(h_buf + prev * hidden, {rows, hidden}, x.options());
            hw = linear(h_prev, w_hh, at::Tensor(), onednn);
            hw_ptr = hw.const_data_ptr<scalar_t>();
          }
          at::parallel_for(0, rows, row_grain(hidden), [&](int64_t first, int64_t last) {
            for (int64_t r = first; r < last; ++r) {
              const int64_t h = r * hidden;
              forward_row<K>(x_proj + r * width, hw_ptr + r * width, gate + (here + r) * width,
                             h_buf + prev * hidden + h, h_buf + next * hidden + h,
                             c_buf + prev * hidden + h, c_buf + next * hidden + h,
                             extra_buf + here * hidden + h, cw_ptr, hidden);
            }
          });
        }
      };
      // no library call inside the threads' loops
      run_rows(batch, row_blocks(batch, split && small), loop);
    }
  });
  });
  // copies, so that a caller changing them in place cannot change what the backward reads
  at::Tensor output = workspace({steps, batch, hidden}, x.options());
  output.copy_(reverse ? hs.narrow(0, 0, steps) : hs.narrow(0, 1, steps));
  at::Tensor h_n = hs[reverse ? 0 : steps].clone();
  at::Tensor c_n = cs[reverse ? 0 : steps].clone();
  return {output, h_n, c_n, gates, hs, cs, extra};
}

// Returns dx (T, B, input_size), dW_ih, dW_hh, d_bias (empty without a bias), the gradient of
// the cell's own weight (empty without one), dh_0, dc_0.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
layer_backward(const at::Tensor& d_output_in, const at::Tensor& d_h_n, const at::Tensor& d_c_n,
               const at::Tensor& x_in, const at::Tensor& weight_ih, const at::Tensor& weight_hh,
               const std::optional<at::Tensor>& cell_w, const at::Tensor& gates,
               const at::Tensor& hs, const at::Tensor& cs, const at::Tensor& extra, int64_t kind,
               bool has_bias, bool reverse, bool onednn, bool small_kernel, bool split) {
  const at::Tensor d_output = d_output_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = weight_hh.size(1);
  const int64_t inputs = x.size(2), width = cell_blocks(kind) * hidden;
  const at::Tensor cw = cell_weight(cell_w, kind, hidden);
  // dh_{t-1} = da_t W_hh: small_gemm with W_hh as its (blocks hidden, hidden) right-hand side,
  // or the library with W_hh^T as the (hidden, blocks hidden) weight of a linear map
  const bool small = use_small_gemm(x, width, hidden, small_kernel);
  const at::Tensor w_hh_t = small ? weight_hh.contiguous()
                                  : packed(weight_hh.t().contiguous(), batch, onednn);
  // the gradients of the steps' input projections; the GRU's of h_{t-1} W_hh^T differ (d_hw)
  const bool gru = kind == kGru;
  at::Tensor d_gates = workspace(gates.sizes(), gates.options());
  at::Tensor d_hw = gru ? workspace(gates.sizes(), gates.options()) : d_gates;
  at::Tensor dh = d_h_n.contiguous().clone();
  at::Tensor dc = d_c_n.contiguous().clone();
  const int64_t read = reverse ? 1 : 0;  // slot of step t's previous state
  const int64_t n_rows = steps * batch;
  const at::Tensor rows = d_gates.view({n_rows, width});
  const at::Tensor h_prev =
      (reverse ? hs.narrow(0, 1, steps) : hs.narrow(0, 0, steps)).reshape({n_rows, hidden});
  const at::Tensor x_rows = x.view({n_rows, inputs});
  at::Tensor d_weight_hh, d_weight_ih, dx, d_bias;
  with_cell(kind, [&](auto cell) {
  constexpr int K = decltype(cell)::value;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "layer_backward", [&] {
    const scalar_t* gate = gates.const_data_ptr<scalar_t>();
    const scalar_t* h_buf = hs.const_data_ptr<scalar_t>();
    const scalar_t* c_buf = cs.const_data_ptr<scalar_t>();
    const scalar_t* extra_buf = extra.const_data_ptr<scalar_t>();
    const scalar_t* cw_ptr = cw.defined() ? cw.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* d_hw_buf = d_hw.data_ptr<scalar_t>();
    const scalar_t* x_buf = x.const_data_ptr<scalar_t>();
    const scalar_t* d_out_buf = d_output.const_data_ptr<scalar_t>();
    scalar_t* d_gate = d_gates.data_ptr<scalar_t>();
    scalar_t* dc_buf = dc.data_ptr<scalar_t>();
    // A small layer sums the weights' and the bias's gradients step by step, while da_t is in
    // cache: dW_hh += da_t^T h_{t-1} and dW_ih^T += x_t^T da_t (5 inputs: the orientation with
    // the gates' columns in the vector registers), one partial sum per block of rows, added in
    // block order after the loop.
    const int64_t part = small ? (hidden + inputs) * width : 0;
    const int64_t blocks = row_blocks(batch, split && small);
    const int64_t slots = small ? blocks : 0;
    at::Tensor parts_tensor = at::zeros({slots * part}, x.options());  // 64-byte aligned
    scalar_t* parts = parts_tensor.data_ptr<scalar_t>();
    std::vector<double> bias_parts(has_bias ? slots * width : 0, 0.0);
    const auto loop = [&](int64_t slot, int64_t begin, int64_t end) {
      const int64_t rows = end - begin;
      at::Tensor dh_rows = dh.narrow(0, begin, rows).clone();  // replaced at every step
      scalar_t* dc_ptr = dc_buf + begin * hidden;
      for (int64_t n = 0; n < steps; ++n) {
        const int64_t t = reverse ? n : steps - 1 - n;  // back through time
        const int64_t here = t * batch + begin, prev = (t + read) * batch + begin;
        const scalar_t* dh_ptr = dh_rows.const_data_ptr<scalar_t>();
        at::parallel_for(0, rows, row_grain(hidden), [&](int64_t first, int64_t last) {
          for (int64_t b = first; b < last; ++b) {
            const int64_t g = (here + b) * width, h = b * hidden;
            backward_row<K>(gate + g, h_buf + prev * hidden + h, c_buf + prev * hidden + h,
                            extra_buf + here * hidden + h, dh_ptr + h,
                            d_out_buf + here * hidden + h, dc_ptr + h, d_gate + g,
                            d_hw_buf + g, cw_ptr, hidden);
          }
        });
        const scalar_t* d_a = d_gate + here * width;
        const scalar_t* d_ah = d_hw_buf + here * width;
        // the GRU's dh_t z_t, which bypasses W_hh, waits in dc: the product's sums start from it
        const scalar_t* bypass = gru ? dc_ptr : nullptr;
        if (small) {  // dh_{t-1} = da_t W_hh, written over dh_t (already read)
          small_gemm(d_ah, width, 1, w_hh_t.const_data_ptr<scalar_t>(), hidden,
                     dh_rows.data_ptr<scalar_t>(), hidden, rows, hidden, width, bypass, hidden);
          scalar_t* sums = parts + slot * part;
          small_gemm(d_ah, 1, width, h_buf + prev * hidden, hidden, sums, hidden, width, hidden,
                     rows, sums, hidden);
          scalar_t* sums_ih = sums + hidden * width;
          small_gemm(x_buf + here * inputs, 1, inputs, d_a, width, sums_ih, width, inputs, width,
                     rows, sums_ih, width);
          if (has_bias) add_columns(d_a, rows, width, bias_parts.data() + slot * width);
        } else {
          dh_rows = linear(at::from_blob(const_cast<scalar_t*>(d_ah), {rows, width},
                                         gates.options()),
                           w_hh_t, at::Tensor(), onednn);
          if (gru) dh_rows.add_(at::from_blob(dc_ptr, {rows, hidden}, gates.options()));
        }
      }
      dh.narrow(0, begin, rows).copy_(dh_rows);
    };
    run_rows(batch, blocks, loop);
    if (small) {
      at::Tensor sums = at::zeros({part}, x.options());
      scalar_t* total = sums.data_ptr<scalar_t>();
      for (int64_t k = 0; k < slots; ++k)
        for (int64_t i = 0; i < part; ++i) total[i] += parts[k * part + i];
      d_weight_hh = sums.narrow(0, 0, width * hidden).view({width, hidden});
      d_weight_ih = sums.narrow(0, width * hidden, inputs * width).view({inputs, width}).t();
      d_weight_ih = d_weight_ih.contiguous();
      if (has_bias) {
        d_bias = at::empty({width}, x.options());
        scalar_t* out = d_bias.data_ptr<scalar_t>();
        for (int64_t j = 0; j < width; ++j) {
          double sum = 0.0;
          for (int64_t k = 0; k < slots; ++k) sum += bias_parts[k * width + j];
          out[j] = static_cast<scalar_t>(sum);
        }
      }
    }
  });
  });
  // After the loop: dx = da W_ih for all steps in one product; for a larger layer also
  // dW_hh = sum_t da_t^T h_{t-1}, dW_ih = sum_t da_t^T x_t and the bias gradient, a sum over rows.
  if (small) {
    dx = at::mm(rows, weight_ih.t().contiguous().t());  // the orientation MKL runs fastest
  } else {
    // A library's product wants its inputs with the summed index (the steps' rows) last:
    // da^T and [h_{t-1}, x_t]^T, transposed here in tiles (a strided view would be copied by
    // ATen, slowly, once per product); dW_hh and dW_ih are then ONE product (two for the GRU,
    // whose recurrent product has gradients of its own).
    at::Tensor d_gates_t = workspace({width, n_rows}, rows.options());
    at::Tensor d_hw_t = gru ? workspace({width, n_rows}, rows.options()) : d_gates_t;
    at::Tensor inputs_t = workspace({hidden + inputs, n_rows}, rows.options());
    AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "layer_backward_sums", [&] {
      scalar_t* inputs_t_ptr = inputs_t.data_ptr<scalar_t>();
      transpose_into(rows.const_data_ptr<scalar_t>(), n_rows, width,
                     d_gates_t.data_ptr<scalar_t>(), n_rows);
      if (gru)
        transpose_into(d_hw.const_data_ptr<scalar_t>(), n_rows, width,
                       d_hw_t.data_ptr<scalar_t>(), n_rows);
      transpose_into(h_prev.const_data_ptr<scalar_t>(), n_rows, hidden, inputs_t_ptr, n_rows);
      transpose_into(x_rows.const_data_ptr<scalar_t>(), n_rows, inputs,
                     inputs_t_ptr + hidden * n_rows, n_rows);
      if (has_bias) {
        d_bias = at::empty({width}, rows.options());
        row_sums(d_gates_t.const_data_ptr<scalar_t>(), width, n_rows, d_bias.data_ptr<scalar_t>());
      }
    });
    if (gru) {
      d_weight_hh = linear(d_hw_t, inputs_t.narrow(0, 0, hidden), at::Tensor(), onednn);
      d_weight_ih = linear(d_gates_t, inputs_t.narrow(0, hidden, inputs), at::Tensor(), onednn);
    } else {
      const at::Tensor d_weights = linear(d_gates_t, inputs_t, at::Tensor(), onednn);
      d_weight_hh = d_weights.narrow(1, 0, hidden).contiguous();
      d_weight_ih = d_weights.narrow(1, hidden, inputs).contiguous();
    }
    dx = linear(rows, weight_ih.t().contiguous(), at::Tensor(), onednn);
  }
  dx = dx.view({steps, batch, inputs});
  if (!has_bias) d_bias = at::empty({0}, rows.options());
  // The cell's own weight, summed over every step's rows (in double, as the bias): a peephole
  // p_i or p_f scales c_{t-1} in its gate, p_o scales c_t; the GRU's b_hn adds to h_{t-1} W_hn^T.
  at::Tensor d_cell_w = at::empty({0}, rows.options());
  if (kind == kPeephole) {
    const auto states = [&](bool previous) {
      return cs.narrow(0, previous == reverse ? 1 : 0, steps).reshape({n_rows, hidden});
    };
    const auto sum = [&](int64_t block, const at::Tensor& c) {
      return (rows.narrow(1, block * hidden, hidden) * c).sum({0}, false, at::kDouble);
    };
    d_cell_w = at::stack({sum(0, states(true)), sum(1, states(true)), sum(3, states(false))})
                   .to(rows.scalar_type());
  } else if (gru) {
    d_cell_w = d_hw.view({n_rows, width})
                   .narrow(1, 2 * hidden, hidden)
                   .sum({0}, false, at::kDouble)
                   .to(rows.scalar_type());
  }
  return {dx, d_weight_ih, d_weight_hh, d_bias, d_cell_w, dh, dc};
}

}  // namespace

TORCH_LIBRARY(lstm_study, m) {
  m.def(
      "layer_forward(Tensor x, Tensor weight_ih, Tensor weight_hh, Tensor? bias, Tensor? cell_w,"
      " Tensor h0, Tensor c0, int kind, bool reverse, bool onednn, bool small_kernel, bool split)"
      " -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "layer_backward(Tensor d_output, Tensor d_h_n, Tensor d_c_n, Tensor x, Tensor weight_ih,"
      " Tensor weight_hh, Tensor? cell_w, Tensor gates, Tensor hs, Tensor cs, Tensor extra,"
      " int kind, bool has_bias, bool reverse, bool onednn, bool small_kernel, bool split)"
      " -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(lstm_study, CPU, m) {
  m.impl("layer_forward", &layer_forward);
  m.impl("layer_backward", &layer_backward);
}
