/* lstm.c: LstmModel (REFERENCE.md 2.5): lstm_layers stacked BasicLSTMCells of
 * lstm_cells units (forget_bias 1.0) over the L2-normalized frames with
 * sequence_length = num_frames (a video's state freezes after its last
 * frame); the final h of the last layer -> MoE head (moe.c).
 *
 *   tower/rnn/multi_rnn_cell/cell_N/basic_lstm_cell/kernel [in+H, 4H]
 *     (rows [x; h], columns [i, j, f, o]; Glorot-uniform, no L2)
 *   tower/rnn/multi_rnn_cell/cell_N/basic_lstm_cell/bias [4H] (zeros)
 *
 * Layout: time-major, step t of a layer is rows [t B, (t+1) B). A layer first
 * computes x W_x + b for all its steps in one product, then per step h W_h
 * and the pointwise cell. Only T = max(num_frames) steps run: later frames
 * change no video's state. Backward through time is exact: per step the cell
 * backward and dh_prev += dpre W_h^T; then one product each for dW_h, for
 * dW_x and db, and for the lower layer's d h.
 *
 * Here only bookkeeping: the math is layers.h and lstm_cell.h. */
#include "model/lstm_cell.h"
#include "model/model_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  int L, D, H, F, maxB;
  /* tensor indices per layer */
  int kernel[YT_MODEL_MAX_TENSORS], bias[YT_MODEL_MAX_TENSORS];
  int T;          /* steps run by the last forward */
  float *xt;      /* (F, max_batch, D): normalized frames, time-major, 0 past num_frames */
  float *act;     /* L x (F, max_batch, 4H): x W_x + b, then the cell's activations */
  float *cs, *hs; /* L x (F+1, max_batch, H): slot 0 the zero state, slot t+1 after step t */
  float *hw;      /* (max_batch, 4H): h_prev W_h of one step */
  float *dpre;    /* (F, max_batch, 4H): d gate pre-activations of one layer */
  float *dh;      /* (F, max_batch, H): d h of each step of one layer */
  float *dc[2];   /* (max_batch, H): d c of the step and of the one before it */
  yt_moe_head head;
} lstm_state;

static float *falloc(yt_model *m, size_t n, yt_err *err) {
  return yt_model_alloc(m, n * sizeof(float), err);
}

static int build(yt_model *m, yt_err *err) {
  const yt_model_config *c = &m->cfg;
  lstm_state *s = m->state = yt_model_alloc_host(m, sizeof *s, err);
  if (!s) return YT_ENOMEM;
  s->L = c->lstm_layers;
  s->D = c->feature_dim;
  s->H = c->lstm_cells;
  s->F = c->max_frames;
  s->maxB = m->max_batch;
  char name[96];
  for (int l = 0; l < s->L; l++) {
    int in = l ? s->H : s->D, kshape[2] = {in + s->H, 4 * s->H}, bshape[1] = {4 * s->H};
    snprintf(name, sizeof name, "rnn/multi_rnn_cell/cell_%d/basic_lstm_cell/kernel", l);
    s->kernel[l] = yt_model_add_tensor(m, name, 2, kshape, 1, 0, YT_INIT_GLOROT, 0, err);
    if (s->kernel[l] < 0) return s->kernel[l];
    snprintf(name, sizeof name, "rnn/multi_rnn_cell/cell_%d/basic_lstm_cell/bias", l);
    s->bias[l] = yt_model_add_tensor(m, name, 1, bshape, 1, 0, YT_INIT_ZEROS, 0, err);
    if (s->bias[l] < 0) return s->bias[l];
  }
  int rc = yt_moe_head_build(&s->head, m, s->H, err);
  if (rc < 0) return rc;

  size_t B = (size_t)m->max_batch, F = s->F, L = s->L, D = s->D, H = s->H;
  if (!(s->xt = falloc(m, F * B * D, err))) return YT_ENOMEM;
  if (!(s->act = falloc(m, L * F * B * 4 * H, err))) return YT_ENOMEM;
  if (!(s->cs = falloc(m, L * (F + 1) * B * H, err)) || !(s->hs = falloc(m, L * (F + 1) * B * H, err)))
    return YT_ENOMEM;
  if (!(s->hw = falloc(m, B * 4 * H, err)) || !(s->dpre = falloc(m, F * B * 4 * H, err))) return YT_ENOMEM;
  if (!(s->dh = falloc(m, F * B * H, err))) return YT_ENOMEM;
  if (!(s->dc[0] = falloc(m, B * H, err)) || !(s->dc[1] = falloc(m, B * H, err))) return YT_ENOMEM;
  return YT_OK;
}

/* Layer l's buffers; within them a step's rows are B wide (the batch of the
 * forward), so their stride here is max_batch's. */
static float *layer_act(const lstm_state *s, int l) {
  return s->act + (size_t)l * s->F * s->maxB * 4 * s->H;
}
static float *layer_c(const lstm_state *s, int l) {
  return s->cs + (size_t)l * (s->F + 1) * s->maxB * s->H;
}
static float *layer_h(const lstm_state *s, int l) {
  return s->hs + (size_t)l * (s->F + 1) * s->maxB * s->H;
}

static void zero(yt_model *m, float *p, size_t n) { m->be->zero(p, n * sizeof *p); }

// x (B,F,D)  num_frames (B)  probs (B,C)
static void forward(yt_model *m, const float *x, const int32_t *num_frames, int B, int training) {
  (void)training;
  lstm_state *s = m->state;
  int D = s->D, H = s->H, G = 4 * H, T = 0;
  for (int b = 0; b < B; b++) T = num_frames[b] > T ? num_frames[b] : T;
  s->T = T;
  size_t BH = (size_t)B * H, BG = (size_t)B * G;
  m->be->time_major_forward(s->xt, x, m->nf, B, s->F, T, D); // xt (T,B,D)
  m->be->l2norm_forward(s->xt, s->xt, T * B, D);                  /* zero rows stay zero */
  for (int l = 0; l < s->L; l++) {
    // in (T,B,D or H): the frames or the layer below's h after each step
    const float *in = l ? layer_h(s, l - 1) + BH : s->xt;
    int nin = l ? H : D;
    float *act = layer_act(s, l), *cs = layer_c(s, l), *hs = layer_h(s, l);
    const float *wx = yt_model_p(m, s->kernel[l]), *wh = wx + (size_t)nin * G;
    zero(m, cs, BH), zero(m, hs, BH); /* the zero state (slot 0 may hold another batch size's rows) */
    // in (T*B,nin)  W_x (nin,4H)  bias (4H)  act (T*B,4H)
    m->be->matmul_forward(act, in, wx, yt_model_p(m, s->bias[l]), T * B, nin, G);
    for (int t = 0; t < T; t++) {
      // h_prev (B,H)  W_h (H,4H)  hw (B,4H)
      m->be->matmul_forward(s->hw, hs + t * BH, wh, NULL, B, H, G);
      m->be->lstm_cell_forward(cs + (t + 1) * BH, hs + (t + 1) * BH, act + t * BG, act + t * BG, s->hw,
                           cs + t * BH, hs + t * BH, m->nf, t, B, H);
    }
  }
  // final h (B,H) -> probs (B,C)
  yt_moe_head_forward(&s->head, m, m->probs, layer_h(s, s->L - 1) + (size_t)T * BH, B);
}

static void backward(yt_model *m, const float *dprobs, int B) {
  lstm_state *s = m->state;
  int D = s->D, H = s->H, G = 4 * H, T = s->T;
  size_t BH = (size_t)B * H, BG = (size_t)B * G;
  const float *last = layer_h(s, s->L - 1) + (size_t)T * BH;
  if (T == 0) { /* no video has a frame: the head saw the zero state */
    yt_moe_head_backward(&s->head, m, NULL, dprobs, last, B);
    return;
  }
  zero(m, s->dh, (size_t)T * BH); // dh (T,B,H): only the last step's h feeds the head
  yt_moe_head_backward(&s->head, m, s->dh + (size_t)(T - 1) * BH, dprobs, last, B);
  for (int l = s->L - 1; l >= 0; l--) {
    int nin = l ? H : D;
    const float *in = l ? layer_h(s, l - 1) + BH : s->xt;
    const float *act = layer_act(s, l), *cs = layer_c(s, l), *hs = layer_h(s, l);
    const float *wx = yt_model_p(m, s->kernel[l]), *wh = wx + (size_t)nin * G;
    float *dwx = yt_model_g(m, s->kernel[l]), *dwh = dwx + (size_t)nin * G;
    zero(m, s->dpre, (size_t)T * BG);
    zero(m, s->dc[0], BH);
    int cur = 0; /* dc[cur]: d c of step t */
    for (int t = T - 1; t >= 0; t--) {
      float *dc_prev = t ? s->dc[cur ^ 1] : NULL, *dh_prev = t ? s->dh + (t - 1) * BH : NULL;
      if (dc_prev) zero(m, dc_prev, BH);
      m->be->lstm_cell_backward(s->dpre + t * BG, dc_prev, dh_prev, s->dc[cur], s->dh + t * BH, act + t * BG,
                            cs + (t + 1) * BH, cs + t * BH, m->nf, t, B, H);
      // dpre_t (B,4H)  W_h (H,4H)  dh_prev (B,H) +=
      if (dh_prev) m->be->matmul_backward(dh_prev, NULL, NULL, s->dpre + t * BG, hs + t * BH, wh, B, H, G);
      cur ^= 1;
    }
    // h_prev of every step (T*B,H)  dW_h (H,4H) +=
    m->be->matmul_backward(NULL, dwh, NULL, s->dpre, hs, wh, T * B, H, G);
    // in (T*B,nin)  dW_x (nin,4H)  dbias (4H) +=; d in (T*B,H) -> the layer below's dh
    if (l) zero(m, s->dh, (size_t)T * BH);
    m->be->matmul_backward(l ? s->dh : NULL, dwx, yt_model_g(m, s->bias[l]), s->dpre, in, wx, T * B, nin, G);
  }
}

/* Counted over all F = max_frames steps (a batch runs only up to its longest
 * video, so short videos do less work than this says). */
static double flops(const yt_model *m, int training) {
  const lstm_state *s = m->state;
  double f = 0, H = s->H, G = 4.0 * s->H, F = s->F;
  for (int l = 0; l < s->L; l++) {
    double nin = l ? s->H : s->D;
    f += 2.0 * (nin + H) * G * F; /* x W_x and h W_h */
    if (training)
      f += 2.0 * (nin + H) * G * F + 2.0 * H * G * F + (l ? 2.0 * nin * G * F : 0); /* dW, dh, d in */
  }
  return f + yt_moe_head_flops(&s->head, training, 1);
}

const yt_model_type yt_model_lstm = {"LstmModel", 1, build, forward, backward, flops};
