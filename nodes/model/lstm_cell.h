/* lstm_cell.h: the layers of LstmModel (REFERENCE.md 2.5) on the CPU: the
 * frame reordering to time-major rows, and the pointwise BasicLSTMCell step
 * (forget_bias 1.0) over a batch with a per-video sequence length. The
 * products (x W_x for all frames at once, h W_h per step) are layers.h's
 * yt_matmul_*. Not here: the model (lstm.c).
 *
 * Conventions as layers.h: outputs first, then inputs and weights, then
 * dimensions; row major; a backward ACCUMULATES (+=) into every gradient it is
 * given, NULL = not computed. Letters: B batch, F frames (max_frames), T
 * steps run (T <= F), D input dim, H cells; G = 4H gate columns [i, j, f, o]
 * (the column order of TF's kernel [D+H, 4H]).
 *
 * Sequence length: video b runs at step t iff t < num_frames[b]; otherwise
 * its state is frozen (c and h keep their last values), as dynamic_rnn with
 * sequence_length. */
#ifndef YT_LSTM_CELL_H
#define YT_LSTM_CELL_H

#include <stdint.h>

/* forget_bias of BasicLSTMCell, added to f before its sigmoid */
#define YT_LSTM_FORGET_BIAS 1.0f

/* out[t,b] = x[b,t] for t < num_frames[b], 0 past it (so that whatever lies
 * in the padding, even NaN, cannot reach the products), for t < T.
 * No backward: it reads the model's input, which takes no gradient.
 * x (B,F,D)  num_frames (B)  out (T,B,D) */
void yt_time_major_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int T, int D);

/* One step t of the cell. For a running video b:
 *   [i, j, f, o] = xw + hw (the gate pre-activations)
 *   act = [sigmoid(i), tanh(j), sigmoid(f + 1), sigmoid(o)]   (saved for backward)
 *   c = c_prev sigmoid(f + 1) + sigmoid(i) tanh(j),  h = tanh(c) sigmoid(o)
 * For a frozen one: c = c_prev, h = h_prev, act = 0. act may be xw (in place).
 * xw, hw, act (B,4H)  c_prev, h_prev, c, h (B,H)  num_frames (B) */
void yt_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                          const float *c_prev, const float *h_prev, const int32_t *num_frames, int t, int B,
                          int H);

/* The step's backward, given dc, dh (B,H): d loss / d c and d loss / d h of
 * this step's outputs (everything later included). Running rows, with
 * [si, tj, sf, so] = act:
 *   dc_tot = dc + dh so (1 - tanh(c)^2)
 *   dpre += [dc_tot tj si (1-si), dc_tot si (1-tj^2), dc_tot c_prev sf (1-sf),
 *            dh tanh(c) so (1-so)]
 *   dc_prev += dc_tot sf
 * (the part of dh_prev through h_prev W_h is dpre W_h^T: yt_matmul_backward).
 * Frozen rows: dc_prev += dc, dh_prev += dh, dpre unchanged.
 * act, c, c_prev: the forward's (act, its output c, its input c_prev).
 * dpre, act (B,4H)  dc, dh, c, c_prev, dc_prev, dh_prev (B,H)  num_frames (B) */
void yt_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc, const float *dh,
                           const float *act, const float *c, const float *c_prev, const int32_t *num_frames,
                           int t, int B, int H);

#endif
