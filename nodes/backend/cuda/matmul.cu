/* matmul.cu: the fully connected layer on cuBLAS (layers.h's yt_matmul_*).
 * cuBLAS is column major: a row-major (R,C) matrix is the column-major (C,R)
 * transpose, so out = x w (row major) is out^T = w^T x^T (column major) and
 * each product below is the transposed one. Bias broadcast and the bias
 * gradient's column sums (in double, as the CPU) are kernels. */
#include "backend/cuda/common.cuh"

// bias (K)  out (N,K): every row = bias
__global__ static void k_bias_rows(float *out, const float *bias, int N, int K) {
  FOR_EACH(i, (size_t)N * K) out[i] = bias[i % K];
}

// dout (N,K)  dbias (K): dbias += column sums of dout, summed in double
__global__ static void k_colsum_add(float *dbias, const float *dout, int N, int K) {
  int k = blockIdx.x * COLS + threadIdx.x;
  double acc = 0;
  if (k < K)
    for (int n = threadIdx.y; n < N; n += ROWS) acc += dout[(size_t)n * K + k];
  acc = col_sum(acc);
  if (k < K && threadIdx.y == 0) dbias[k] += (float)acc;
}

// x (N,D)  w (D,K)  bias (K)  out (N,K)
extern "C" void yt_cuda_matmul_forward(float *out, const float *x, const float *w, const float *bias, int N,
                                       int D, int K) {
  if (N <= 0 || K <= 0) return;
  if (bias) LAUNCH(k_bias_rows, blocks_for((size_t)N * K), THREADS, out, bias, N, K);
  if (D <= 0) {
    if (!bias) CU(cudaMemsetAsync(out, 0, (size_t)N * K * sizeof *out, yt_cuda_stream()));
    return;
  }
  const float one = 1.0f, beta = bias ? 1.0f : 0.0f;
  /* out^T (K,N) = w^T (K,D) x^T (D,N) */
  BLAS("sgemm matmul_forward", N, K, D,
       cublasSgemm(yt_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_N, K, N, D, &one, w, K, x, D, &beta, out, K));
}

// dout (N,K)  x (N,D)  w (D,K)  dx (N,D)  dw (D,K)  dbias (K)
extern "C" void yt_cuda_matmul_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x,
                                        const float *w, int N, int D, int K) {
  if (N <= 0 || K <= 0) return;
  const float one = 1.0f;
  /* dx += dout w^T:  dx^T (D,N) += w (D,K) dout^T (K,N); w is stored as w^T (K,D) */
  if (dx && D > 0)
    BLAS("sgemm matmul_backward dx", N, D, K,
         cublasSgemm(yt_cuda_blas(), CUBLAS_OP_T, CUBLAS_OP_N, D, N, K, &one, w, K, dout, K, &one, dx, D));
  /* dw += x^T dout:  dw^T (K,D) += dout^T (K,N) x (N,D); x is stored as x^T (D,N) */
  if (dw && D > 0)
    BLAS("sgemm matmul_backward dw", D, K, N,
         cublasSgemm(yt_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_T, K, D, N, &one, dout, K, x, D, &one, dw, K));
  if (dbias) LAUNCH(k_colsum_add, (K + COLS - 1) / COLS, dim3(COLS, ROWS), dbias, dout, N, K);
}
