/* table.c: the CUDA backend's table (backend.h), in C for its designated
 * initializers; yt_cuda_open (backend.cu) sets .device and hands it out. */
#include "backend/cuda/cuda_backend.h"

extern yt_backend yt_cuda_table; /* common.cuh declares it for backend.cu */

yt_backend yt_cuda_table = {
    .name = "cuda",
    .device = -1,
    .alloc = yt_cuda_alloc,
    .free = yt_cuda_free,
    .alloc_host = yt_cuda_alloc_host,
    .free_host = yt_cuda_free_host,
    .upload = yt_cuda_upload,
    .download = yt_cuda_download,
    .zero = yt_cuda_zero,
    .copy = yt_cuda_copy,
    .check = yt_cuda_check,
    .matmul_forward = yt_cuda_matmul_forward,
    .matmul_backward = yt_cuda_matmul_backward,
    .sigmoid_forward = yt_cuda_sigmoid_forward,
    .sigmoid_backward = yt_cuda_sigmoid_backward,
    .relu6_forward = yt_cuda_relu6_forward,
    .relu6_backward = yt_cuda_relu6_backward,
    .softmax_forward = yt_cuda_softmax_forward,
    .softmax_backward = yt_cuda_softmax_backward,
    .batchnorm_forward = yt_cuda_batchnorm_forward,
    .batchnorm_backward = yt_cuda_batchnorm_backward,
    .l2norm_forward = yt_cuda_l2norm_forward,
    .l2norm_backward = yt_cuda_l2norm_backward,
    .meanpool_forward = yt_cuda_meanpool_forward,
    .meanpool_backward = yt_cuda_meanpool_backward,
    .maxpool_forward = yt_cuda_maxpool_forward,
    .maxpool_backward = yt_cuda_maxpool_backward,
    .moe_combine_forward = yt_cuda_moe_combine_forward,
    .moe_combine_backward = yt_cuda_moe_combine_backward,
    .loss_forward = yt_cuda_loss_forward,
    .loss_backward = yt_cuda_loss_backward,
    .sumsq = yt_cuda_sumsq,
    .axpy = yt_cuda_axpy,
    .adam_update = yt_cuda_adam_update,
    .gather_rows = yt_cuda_gather_rows,
    .dequantize_frames = yt_cuda_dequantize_frames,
};
