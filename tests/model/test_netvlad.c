/* test_netvlad.c: NetVLADModelLF (nodes/model/netvlad.c); its layers are
 * tested in test_vlad.c.
 * - The whole model's d(label loss + L2)/dparams against 5-point differences
 *   of the total loss (the closer of steps 3e-2 and 1.5e-2) for every option that changes the graph
 * (LightVLAD, relu with and without batch norm, linear hidden layer, context and label gating on and off,
 * remove_diag, one VLAD, sequence sampling), each loss.
 * - The model's eval forward (sample_all) against an independent forward in
 *   double written here from REFERENCE.md 2.7.
 * - Tensor table (TF names, shapes, initializers, L2), the winner's parameter
 *   count without allocating, FLOPs, the configuration's JSON round trip,
 *   errors, batch-norm decay, sample_all determinism, and a short Adam run
 *   that must halve the loss. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "model_ref.h"
#include "model/adam.h"
#include "model/checkpoint.h"
#include "model/model.h"

#define GRAD_TOL 1e-2 /* as test_models.c: a whole model in float */
#define H1 3e-2       /* the stencil's step: float noise in the loss (~1e-7) sets its floor */

static uint64_t rng = 4242;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53;
}
static double nrand(void) {
  return sqrt(-2 * log(1 - urand())) * cos(6.283185307179586 * urand());
}
static float frand(float lo, float hi) {
  return (float)(lo + (hi - lo) * urand());
}
static float *falloc(size_t n) {
  return calloc(n ? n : 1, sizeof(float));
}

/* ---- the model: configurations and inputs ---------------------------------------------------------- */

/* C 7, D 12 split 8 + 4, F 6, S 4, K 4 (audio 2), H 5, M 2; moe_l2 0.05 so that the L2 term weighs in. */
static yt_model_config small_cfg(int loss) {
  yt_model_config c = {0};
  snprintf(c.model, sizeof c.model, "NetVLADModelLF");
  yt_model_config_defaults(&c);
  c.num_classes = 7, c.feature_dim = 12, c.netvlad_video_dim = 8, c.max_frames = 6, c.label_loss = loss;
  c.iterations = 4, c.netvlad_cluster_size = 4, c.netvlad_hidden_size = 5, c.moe_num_mixtures = 2;
  c.moe_l2 = 0.05f, c.l2_penalty = 0.05f;
  c.seed = 42;
  return c;
}

typedef struct {
  int B, F, D, C;
  float *x, *y;
  int32_t *nf;
} batch;

/* frames N(0,1) past num_frames zero (video 3 has none when full = 0); labels hard and soft */
static batch make_batch(const yt_model_config *c, int B, int full) {
  batch b = {.B = B, .F = c->max_frames, .D = c->feature_dim, .C = c->num_classes};
  b.x = falloc((size_t)B * b.F * b.D), b.y = falloc((size_t)B * b.C), b.nf = calloc(B, sizeof *b.nf);
  for (int i = 0; i < B; i++) {
    b.nf[i] = full ? b.F : i == 3 ? 0 : 1 + i % b.F;
    for (int t = 0; t < b.nf[i]; t++)
      for (int d = 0; d < b.D; d++) b.x[((size_t)i * b.F + t) * b.D + d] = (float)nrand();
    for (int k = 0; k < b.C; k++) {
      double u = urand();
      b.y[(size_t)i * b.C + k] = u < 0.3 ? 1.0f : u < 0.8 ? 0.0f : (float)urand();
    }
  }
  return b;
}
static void free_batch(batch *b) {
  free(b->x), free(b->y), free(b->nf);
}



static double total_loss(yt_model *m, const batch *b, float *probs) {
  yt_err err;
  yt_model_set_sampling_seed(m, 9);
  if (yt_model_forward(m, b->x, b->nf, b->B, 1, probs, &err) < 0) return NAN;
  return ref_loss(m, probs, b->y, b->B) + ref_l2(m);
}

static double numeric(yt_model *m, const batch *b, float *probs, float *v, double h) {
  float save = *v;
  double l[4], s[4] = {h, -h, 2 * h, -2 * h};
  for (int i = 0; i < 4; i++) {
    *v = (float)(save + s[i]);
    l[i] = total_loss(m, b, probs);
  }
  *v = save;
  return (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h);
}

static float *tensor_p(yt_model *m, const char *name) {
  int i = yt_model_find_tensor(m, name);
  return i < 0 ? NULL : yt_model_params(m) + yt_model_tensor(m, i)->offset;
}

/* relu6 has kinks at 0 and 6: put every hidden pre-activation well inside
 * (0, 6) or below 0 (columns alternate). */
static void steer_relu6(yt_model *m) {
  int H = yt_model_cfg(m)->netvlad_hidden_size;
  float *beta = tensor_p(m, "tower/hidden1_bn/beta"), *gamma = tensor_p(m, "tower/hidden1_bn/gamma");
  float *bias = tensor_p(m, "tower/hidden1_biases"), *w = tensor_p(m, "tower/hidden1_weights");
  for (int k = 0; k < H; k++) {
    float sign = k % 2 ? -1.0f : 1.0f;
    if (beta) beta[k] = 3.0f * sign, gamma[k] = 0.4f + 0.05f * (k % 3); /* 3 +- 1.2 beside |xhat| < 2.3 */
    if (bias) bias[k] = 2.5f * sign + 0.5f;                             /* 3 or -2 beside |vlad W1| < 1 */
  }
  if (bias) {
    const yt_tensor_info *t = yt_model_tensor(m, yt_model_find_tensor(m, "tower/hidden1_weights"));
    for (size_t k = 0; k < t->numel; k++) w[k] *= 0.2f;
  }
}

static const char *loss_names[] = {"CE", "Hinge", "Softmax"};

/* Every trainable parameter against 5-point differences at steps H1 and H1/2. */
static void grad_check(const char *label, yt_model_config cfg, int B) {
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &cfg, B, &err) < 0) {
    CHECK(0, "%s: %s", label, err.msg);
    return;
  }
  if (cfg.netvlad_relu) steer_relu6(m);
  batch b = make_batch(&cfg, B, 0);
  float *probs = falloc((size_t)B * cfg.num_classes);
  size_t P = yt_model_num_params(m);
  float *analytic = falloc(P), *w = yt_model_params(m);
  double want = total_loss(m, &b, probs);
  float label_loss = 0, reg_loss = 0;
  CHECK(yt_model_backward(m, b.y, &label_loss, &reg_loss, &err) == 0, "%s backward: %s", label, err.msg);
  CHECK(fabs(label_loss + reg_loss - want) < 1e-5 * fmax(1, fabs(want)),
        "%s: backward says loss %.7f + %.7f, test %.7f", label, label_loss, reg_loss, want);
  CHECK(reg_loss > 0, "%s: no L2 term", label);
  memcpy(analytic, yt_model_grads(m), P * sizeof *analytic);
  double amax = 0, worst = 0;
  for (size_t k = 0; k < P; k++) amax = fmax(amax, fabs(analytic[k]));
  const char *worst_name = "";
  size_t checked = 0;
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    if (!t->trainable) continue;
    double tmax = 0;
    for (size_t k = 0; k < t->numel; k++) tmax = fmax(tmax, fabs(analytic[t->offset + k]));
    CHECK(tmax > 0, "%s: %s gets no gradient", label, t->name);
    for (size_t k = 0; k < t->numel; k++) {
      double n1 = numeric(m, &b, probs, &w[t->offset + k], H1);
      double n2 = numeric(m, &b, probs, &w[t->offset + k], H1 / 2), a = analytic[t->offset + k];
      double den = fmax(fmax(fabs(a), fabs(n1)), 1e-2 * amax);
      /* the closer of the two estimates: float noise weighs on the smaller
       * step, truncation on the larger (the model has no kinks: relu6 is
       * steered clear of them, the hinge never reaches its own) */
      double e = fmin(fabs(a - n1), fabs(a - n2)) / den;
      checked++;
      if (e > worst) worst = e, worst_name = t->name;
    }
  }
  printf("  %-46s %4zu params, max rel err %.2e (%s)\n", label, checked, worst, worst_name);
  CHECK(worst < GRAD_TOL, "%s: max relative gradient error %.3e in %s", label, worst, worst_name);
  free(analytic), free(probs), free_batch(&b);
  yt_model_free(m);
}

static void test_gradients(void) {
  char label[96];
  for (int loss = 0; loss < 3; loss++) {
    snprintf(label, sizeof label, "winner (gating, prob gating, linear) %s", loss_names[loss]);
    grad_check(label, small_cfg(loss), 6);
  }
  struct {
    const char *what;
    int bn, relu, gating, pgating, light, rmdiag, one, seq, loss, nointra;
  } v[] = {
      {"relu6 + hidden1_bn", 1, 1, 1, 1, 0, 0, 0, 0, YT_LOSS_HINGE, 0},
      {"relu6 without batch norm (biases)", 0, 1, 1, 1, 0, 0, 0, 0, YT_LOSS_CE, 0},
      {"no batch norm, linear", 0, 0, 1, 1, 0, 0, 0, 0, YT_LOSS_SOFTMAX, 0},
      {"no gating, no prob gating", 1, 0, 0, 0, 0, 0, 0, 0, YT_LOSS_CE, 0},
      {"gating only", 1, 1, 1, 0, 0, 0, 0, 0, YT_LOSS_CE, 0},
      {"prob gating only", 1, 0, 0, 1, 0, 0, 0, 0, YT_LOSS_HINGE, 0},
      {"lightvlad", 1, 0, 1, 1, 1, 0, 0, 0, YT_LOSS_CE, 0},
      {"lightvlad, no batch norm, relu6", 0, 1, 0, 1, 1, 0, 0, 0, YT_LOSS_SOFTMAX, 0},
      {"gating_remove_diag", 1, 0, 1, 1, 0, 1, 0, 0, YT_LOSS_CE, 0},
      {"gating_remove_diag, no batch norm", 0, 0, 1, 1, 0, 1, 0, 0, YT_LOSS_CE, 0},
      {"one VLAD (video_dim = feature_dim)", 1, 0, 1, 1, 0, 0, 1, 0, YT_LOSS_CE, 0},
      {"one VLAD, no batch norm", 0, 1, 1, 0, 0, 0, 1, 0, YT_LOSS_CE, 0},
      {"random sequence sampling", 1, 1, 1, 1, 0, 0, 0, 1, YT_LOSS_CE, 0},
      {"no intra-normalization", 1, 0, 1, 1, 0, 0, 0, 0, YT_LOSS_CE, 1},
      {"no intra-normalization, lightvlad, no bn", 0, 1, 1, 1, 1, 0, 0, 0, YT_LOSS_HINGE, 1},
      {"no intra-normalization, one VLAD", 1, 0, 0, 1, 0, 0, 1, 0, YT_LOSS_SOFTMAX, 1},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    yt_model_config c = small_cfg(v[i].loss);
    c.netvlad_add_batch_norm = v[i].bn, c.netvlad_relu = v[i].relu, c.gating = v[i].gating;
    c.moe_prob_gating = v[i].pgating, c.lightvlad = v[i].light, c.gating_remove_diag = v[i].rmdiag;
    if (v[i].one) c.netvlad_video_dim = c.feature_dim;
    if (v[i].seq) c.sample_random_frames = 0;
    c.netvlad_intra_norm = !v[i].nointra;
    snprintf(label, sizeof label, "%s %s", v[i].what, loss_names[v[i].loss]);
    grad_check(label, c, 6);
  }
}

/* ---- an independent forward (eval, sample_all, full videos) ------------------------------------------ */

static const float *tp(yt_model *m, const char *fmt, const char *part) {
  char name[128];
  snprintf(name, sizeof name, fmt, part);
  const float *p = tensor_p(m, name);
  CHECK(p != NULL, "no tensor %s", name);
  return p;
}

/* slim.batch_norm at inference, in place over rows of n columns */
static void ref_bn(yt_model *m, const char *scope, double *x, int rows, int n) {
  const float *beta = tp(m, "tower/%s/beta", scope), *gamma = tp(m, "tower/%s/gamma", scope);
  const float *mm = tp(m, "tower/%s/moving_mean", scope), *mv = tp(m, "tower/%s/moving_variance", scope);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < n; j++)
      x[(size_t)r * n + j] = gamma[j] * (x[(size_t)r * n + j] - mm[j]) / sqrt(mv[j] + 0.001) + beta[j];
}

static double sigm(double v) {
  return 1 / (1 + exp(-v));
}
static double relu6(double v) {
  return v < 0 ? 0 : v > 6 ? 6 : v;
}

/* probs (B,C) of REFERENCE.md 2.7 for full videos with iterations = F and sample_all (slot t = frame t) */
static void ref_forward(yt_model *m, const batch *bt, double *probs) {
  const yt_model_config *c = yt_model_cfg(m);
  int B = bt->B, S = c->iterations, D = c->feature_dim, Kv = c->netvlad_cluster_size,
      H = c->netvlad_hidden_size;
  int C = c->num_classes, M = c->moe_num_mixtures, V = c->netvlad_video_dim, nparts = V < D ? 2 : 1;
  int bn = c->netvlad_add_batch_norm, relu = c->netvlad_relu;
  int Pv = V * Kv, P = Pv + (nparts > 1 ? (D - V) * (Kv / 2) : 0);
  double *x = calloc((size_t)S * D, sizeof *x), *vlad = calloc(P, sizeof *vlad), *h = calloc(H, sizeof *h);
  double *g = calloc(H, sizeof *g), *p = calloc(C, sizeof *p), *pz = calloc(C, sizeof *pz);
  for (int b = 0; b < B; b++) {
    /* frames: L2-normalized rows of 1152, then input_bn */
    for (int t = 0; t < S; t++) {
      const float *r = bt->x + ((size_t)b * bt->F + t) * D;
      double ss = 0;
      for (int d = 0; d < D; d++) ss += (double)r[d] * r[d];
      for (int d = 0; d < D; d++) x[(size_t)t * D + d] = r[d] / sqrt(fmax(ss, 1e-12));
    }
    if (bn) { /* all rows of this video at once: inference statistics are per column */
      ref_bn(m, "input_bn", x, S, D);
    }
    for (int q = 0; q < nparts; q++) {
      const char *scope = q ? "audio_VLAD" : "video_VLAD";
      int off = q ? V : 0, Dq = q ? D - V : V, K = q ? Kv / 2 : Kv, voff = q ? Pv : 0;
      const float *w = tp(m, "tower/%s/cluster_weights", scope);
      const float *cc = c->lightvlad ? NULL : tp(m, "tower/%s/cluster_weights2", scope);
      double *a = calloc((size_t)S * K, sizeof *a), *vv = calloc((size_t)Dq * K, sizeof *vv);
      for (int t = 0; t < S; t++)
        for (int k = 0; k < K; k++) {
          double z = 0;
          for (int d = 0; d < Dq; d++) z += x[(size_t)t * D + off + d] * w[d * K + k];
          if (!bn) z += tp(m, "tower/%s/cluster_biases", scope)[k];
          a[(size_t)t * K + k] = z;
        }
      if (bn) {
        char sc[64];
        snprintf(sc, sizeof sc, "%s/cluster_bn", scope);
        ref_bn(m, sc, a, S, K);
      }
      for (int t = 0; t < S; t++) { /* softmax over K */
        double mx = -1e300, s = 0;
        for (int k = 0; k < K; k++) mx = fmax(mx, a[(size_t)t * K + k]);
        for (int k = 0; k < K; k++) s += a[(size_t)t * K + k] = exp(a[(size_t)t * K + k] - mx);
        for (int k = 0; k < K; k++) a[(size_t)t * K + k] /= s;
      }
      for (int d = 0; d < Dq; d++)
        for (int k = 0; k < K; k++) {
          double v = 0, asum = 0;
          for (int t = 0; t < S; t++)
            v += a[(size_t)t * K + k] * x[(size_t)t * D + off + d], asum += a[(size_t)t * K + k];
          vv[d * K + k] = v - (cc ? asum * cc[d * K + k] : 0);
        }
      for (int k = 0; k < K && c->netvlad_intra_norm; k++) { /* intra-normalization over d */
        double ss = 0;
        for (int d = 0; d < Dq; d++) ss += vv[d * K + k] * vv[d * K + k];
        for (int d = 0; d < Dq; d++) vv[d * K + k] /= sqrt(fmax(ss, 1e-12));
      }
      double ss = 0; /* flatten d*K + k, global L2 */
      for (int i = 0; i < Dq * K; i++) ss += vv[i] * vv[i];
      for (int i = 0; i < Dq * K; i++) vlad[voff + i] = vv[i] / sqrt(fmax(ss, 1e-12));
      free(a), free(vv);
    }
    /* hidden layer */
    const float *w1 = tp(m, "tower/%s", "hidden1_weights");
    for (int j = 0; j < H; j++) {
      double s = 0;
      for (int i = 0; i < P; i++) s += vlad[i] * w1[(size_t)i * H + j];
      h[j] = s + (bn && relu ? 0 : tp(m, "tower/%s", "hidden1_biases")[j]);
    }
    if (bn && relu) ref_bn(m, "hidden1_bn", h, 1, H);
    if (relu)
      for (int j = 0; j < H; j++) h[j] = relu6(h[j]);
    if (c->gating) {
      const float *wg = tp(m, "tower/%s", "gating_weights_2");
      for (int j = 0; j < H; j++) {
        double s = 0;
        for (int i = 0; i < H; i++)
          if (i != j || !c->gating_remove_diag) s += h[i] * wg[i * H + j];
        g[j] = s + (bn ? 0 : tp(m, "tower/%s", "gating_biases")[j]);
      }
      if (bn) ref_bn(m, "gating_bn", g, 1, H);
      for (int j = 0; j < H; j++) h[j] *= sigm(g[j]);
    }
    /* MoE */
    const float *wga = tp(m, "tower/%s", "gates/weights"), *we = tp(m, "tower/%s", "experts/weights");
    const float *be = tp(m, "tower/%s", "experts/biases");
    for (int k = 0; k < C; k++) {
      double gl[16], mx = -1e300, s = 0, out = 0;
      for (int j = 0; j <= M; j++) {
        gl[j] = 0;
        for (int i = 0; i < H; i++) gl[j] += h[i] * wga[(size_t)i * C * (M + 1) + k * (M + 1) + j];
        mx = fmax(mx, gl[j]);
      }
      for (int j = 0; j <= M; j++) s += gl[j] = exp(gl[j] - mx);
      for (int j = 0; j < M; j++) {
        double e = be[k * M + j];
        for (int i = 0; i < H; i++) e += h[i] * we[(size_t)i * C * M + k * M + j];
        out += gl[j] / s * sigm(e);
      }
      p[k] = out;
    }
    if (c->moe_prob_gating) {
      const float *wp = tp(m, "tower/%s", "gating_prob_weights");
      for (int j = 0; j < C; j++) {
        double s = 0;
        for (int i = 0; i < C; i++)
          if (i != j || !c->gating_remove_diag) s += p[i] * wp[i * C + j];
        pz[j] = s;
      }
      ref_bn(m, "gating_prob_bn", pz, 1, C);
      for (int j = 0; j < C; j++) p[j] *= sigm(pz[j]);
    }
    for (int k = 0; k < C; k++) probs[(size_t)b * C + k] = p[k];
  }
  free(x), free(vlad), free(h), free(g), free(p), free(pz);
}

/* batch-norm parameters and moving statistics away from 1 and 0, so that the comparison sees them */
static void randomize_bn(yt_model *m) {
  float *w = yt_model_params(m);
  for (int i = 0; i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    const char *leaf = strrchr(t->name, '/') + 1;
    for (size_t k = 0; k < t->numel; k++) {
      float *v = &w[t->offset + k];
      if (!strcmp(leaf, "gamma") || !strcmp(leaf, "moving_variance")) *v = frand(0.5f, 1.5f);
      if (!strcmp(leaf, "beta") || !strcmp(leaf, "moving_mean")) *v = frand(-0.3f, 0.3f);
    }
  }
}

static void test_reference_forward(void) {
  struct {
    const char *what;
    int bn, relu, gating, pgating, light, rmdiag, one, nointra;
  } v[] = {
      {"winner", 1, 0, 1, 1, 0, 0, 0, 0},
      {"winner, no intra-normalization", 1, 0, 1, 1, 0, 0, 0, 1},
      {"one VLAD, lightvlad, no intra-norm", 0, 1, 1, 0, 1, 0, 1, 1},
      {"relu6 + hidden1_bn", 1, 1, 1, 1, 0, 0, 0, 0},
      {"no batch norm, relu6", 0, 1, 1, 1, 0, 0, 0, 0},
      {"lightvlad, no gatings", 1, 0, 0, 0, 1, 0, 0, 0},
      {"remove_diag", 1, 0, 1, 1, 0, 1, 0, 0},
      {"one VLAD, no batch norm", 0, 0, 1, 0, 0, 1, 1, 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    yt_model_config c = small_cfg(YT_LOSS_CE);
    c.netvlad_add_batch_norm = v[i].bn, c.netvlad_relu = v[i].relu, c.gating = v[i].gating;
    c.moe_prob_gating = v[i].pgating, c.lightvlad = v[i].light, c.gating_remove_diag = v[i].rmdiag;
    if (v[i].one) c.netvlad_video_dim = c.feature_dim;
    c.netvlad_intra_norm = !v[i].nointra;
    c.iterations = c.max_frames, c.sample_all = 1, c.netvlad_cluster_size = 6; /* audio 3 */
    const int B = 5;
    yt_model *m;
    yt_err err;
    if (yt_model_new(&m, &c, B, &err) < 0) {
      CHECK(0, "%s: %s", v[i].what, err.msg);
      continue;
    }
    randomize_bn(m);
    batch b = make_batch(&c, B, 1);
    for (size_t k = 0; k < (size_t)B * b.F * b.D; k++) b.x[k] *= 3; /* not normalized */
    float *probs = falloc((size_t)B * c.num_classes);
    double *want = calloc((size_t)B * c.num_classes, sizeof *want);
    CHECK(yt_model_forward(m, b.x, b.nf, B, 0, probs, &err) == 0, "%s", err.msg);
    ref_forward(m, &b, want);
    double worst = 0;
    for (int k = 0; k < B * c.num_classes; k++) worst = fmax(worst, fabs(probs[k] - want[k]));
    printf("  %-36s max |model - reference| %.2e\n", v[i].what, worst);
    CHECK(worst < 2e-6, "%s: eval forward differs from the reference by %g", v[i].what, worst);
    free(probs), free(want), free_batch(&b);
    yt_model_free(m);
  }
}

/* ---- tensor table, parameter count, FLOPs -------------------------------------------------------------- */

typedef struct {
  const char *name;
  int ndim, s[3];
} want_tensor;

static void test_table(void) {
  const int C = 3862, K = 16, H = 32, S = 300;
  yt_model_config c = {.model = "NetVLADModelLF"};
  yt_model_config_defaults(&c);
  CHECK(c.frame_features == 1 && c.netvlad_cluster_size == 256 && c.netvlad_hidden_size == 1024 &&
            c.iterations == 300 && !c.netvlad_relu && c.gating && c.moe_prob_gating && !c.lightvlad &&
            c.netvlad_intra_norm &&
            c.netvlad_add_batch_norm && c.moe_l2 == 1e-6f && c.netvlad_video_dim == 1024 &&
            c.feature_dim == 1152 && c.moe_num_mixtures == 2,
        "NetVLADModelLF defaults are the 2018 winner's");
  c.netvlad_cluster_size = K, c.netvlad_hidden_size = H;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &c, 2, &err) < 0) {
    CHECK(0, "%s", err.msg);
    return;
  }
  int P = 1024 * K + 128 * (K / 2);
  want_tensor want[] = {
      {"tower/input_bn/beta", 1, {1152}},
      {"tower/input_bn/gamma", 1, {1152}},
      {"tower/input_bn/moving_mean", 1, {1152}},
      {"tower/input_bn/moving_variance", 1, {1152}},
      {"tower/video_VLAD/cluster_weights", 2, {1024, K}},
      {"tower/video_VLAD/cluster_bn/beta", 1, {K}},
      {"tower/video_VLAD/cluster_bn/gamma", 1, {K}},
      {"tower/video_VLAD/cluster_bn/moving_mean", 1, {K}},
      {"tower/video_VLAD/cluster_bn/moving_variance", 1, {K}},
      {"tower/video_VLAD/cluster_weights2", 3, {1, 1024, K}},
      {"tower/audio_VLAD/cluster_weights", 2, {128, K / 2}},
      {"tower/audio_VLAD/cluster_bn/beta", 1, {K / 2}},
      {"tower/audio_VLAD/cluster_bn/gamma", 1, {K / 2}},
      {"tower/audio_VLAD/cluster_bn/moving_mean", 1, {K / 2}},
      {"tower/audio_VLAD/cluster_bn/moving_variance", 1, {K / 2}},
      {"tower/audio_VLAD/cluster_weights2", 3, {1, 128, K / 2}},
      {"tower/hidden1_weights", 2, {P, H}},
      {"tower/hidden1_biases", 1, {H}},
      {"tower/gating_weights_2", 2, {H, H}},
      {"tower/gating_bn/beta", 1, {H}},
      {"tower/gating_bn/gamma", 1, {H}},
      {"tower/gating_bn/moving_mean", 1, {H}},
      {"tower/gating_bn/moving_variance", 1, {H}},
      {"tower/gates/weights", 2, {H, C * 3}},
      {"tower/experts/weights", 2, {H, C * 2}},
      {"tower/experts/biases", 1, {C * 2}},
      {"tower/gating_prob_weights", 2, {C, C}},
      {"tower/gating_prob_bn/beta", 1, {C}},
      {"tower/gating_prob_bn/gamma", 1, {C}},
      {"tower/gating_prob_bn/moving_mean", 1, {C}},
      {"tower/gating_prob_bn/moving_variance", 1, {C}},
  };
  int n = sizeof want / sizeof want[0];
  CHECK(yt_model_num_tensors(m) == n, "%d tensors, want %d", yt_model_num_tensors(m), n);
  size_t off = 0, trainable = 0;
  const float *w = yt_model_params(m);
  for (int i = 0; i < n && i < yt_model_num_tensors(m); i++) {
    const yt_tensor_info *t = yt_model_tensor(m, i);
    const int *sh = want[i].s;
    int same = !strcmp(t->name, want[i].name) && t->ndim == want[i].ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == sh[d];
    CHECK(same, "tensor %d is %s [%d, %d, %d] (ndim %d), want %s [%d, %d, %d]", i, t->name, t->shape[0],
          t->shape[1], t->shape[2], t->ndim, want[i].name, sh[0], sh[1], sh[2]);
    CHECK(t->offset == off, "%s at offset %zu, want %zu", t->name, t->offset, off);
    const char *leaf = strrchr(t->name, '/') + 1;
    int moving = !strncmp(leaf, "moving_", 7);
    CHECK(t->trainable == !moving, "%s trainable %d", t->name, t->trainable);
    int l2 = !strcmp(t->name, "tower/gates/weights") || !strcmp(t->name, "tower/experts/weights");
    CHECK(t->l2 == (l2 ? 1e-6f : 0.0f), "%s has L2 %g", t->name, t->l2);
    off += t->numel;
    if (t->trainable) trainable += t->numel;
    /* initializers */
    double s = 0, s2 = 0, amax = 0;
    for (size_t k = 0; k < t->numel; k++) {
      double x = w[t->offset + k];
      s += x, s2 += x * x, amax = fmax(amax, fabs(x));
    }
    double mean = s / t->numel, sd = sqrt(s2 / t->numel - mean * mean);
    if (!strcmp(leaf, "gamma") || !strcmp(leaf, "moving_variance"))
      CHECK(s == (double)t->numel && sd == 0, "%s not all ones", t->name);
    else if (!strcmp(leaf, "beta") || !strcmp(leaf, "moving_mean") || !strcmp(leaf, "biases"))
      CHECK(amax == 0, "%s not all zeros", t->name);
    else if (!strcmp(leaf, "weights") && (strstr(t->name, "gates/") || strstr(t->name, "experts/"))) {
      double a = sqrt(6.0 / (t->shape[0] + t->shape[1]));
      CHECK(amax <= a * (1 + 1e-6) && fabs(sd - a / sqrt(3)) < 0.01 * a, "%s Glorot U(-%g, %g): sd %g",
            t->name, a, a, sd);
    } else {
      double want_sd = strstr(t->name, "audio_VLAD")          ? 1 / sqrt(128.0)
                       : strstr(t->name, "video_VLAD")        ? 1 / sqrt(1024.0)
                       : !strcmp(leaf, "hidden1_weights")     ? 1 / sqrt((double)K) /* the cluster size */
                       : !strcmp(leaf, "hidden1_biases")      ? 0.01
                       : !strcmp(leaf, "gating_weights_2")    ? 1 / sqrt((double)H)
                       : !strcmp(leaf, "gating_prob_weights") ? 1 / sqrt((double)C)
                                                              : -1;
      double tol = 5 / sqrt(2.0 * t->numel);
      CHECK(want_sd > 0 && fabs(sd - want_sd) < tol * want_sd &&
                fabs(mean) < 5 * want_sd / sqrt((double)t->numel),
            "%s N(0, %g): mean %g sd %g", t->name, want_sd, mean, sd);
    }
  }
  CHECK(yt_model_num_params(m) == off, "%zu parameters, table sums to %zu", yt_model_num_params(m), off);
  size_t ctr = 0, ctot = 0;
  CHECK(yt_model_count_params(&c, &ctr, &ctot, &err) == 0 && ctr == trainable && ctot == off,
        "count_params %zu / %zu, the model %zu / %zu", ctr, ctot, trainable, off);
  double moe = 2.0 * H * (C * 3.0 + C * 2.0);
  double fwd =
      2 * (2.0 * S * 1024 * K + 2.0 * S * 128 * (K / 2)) + 2.0 * P * H + 2.0 * H * H + 2.0 * C * C + moe;
  double f = yt_model_flops(m, 0), ft = yt_model_flops(m, 1);
  CHECK(fabs(f - fwd) < 1e-9 * fwd, "forward FLOPs %.6g, want %.6g", f, fwd);
  CHECK(ft >= 2 * f && ft <= 3 * f, "training FLOPs %.4g not 2..3x forward %.4g", ft, f);
  printf("  K %d H %d: %d tensors, %zu floats, %.3g GFLOP/example forward, %.3g training\n", K, H, n,
         yt_model_num_params(m), f / 1e9, ft / 1e9);
  yt_model_free(m);

  /* what the options add and remove (small configuration) */
  struct {
    const char *what;
    int bn, relu, gating, pgating, light, one;
    const char *has[4], *hasnt[4];
  } o[] = {
      {"relu6 + bn",
       1,
       1,
       1,
       1,
       0,
       0,
       {"tower/hidden1_bn/gamma", "tower/input_bn/beta"},
       {"tower/hidden1_biases"}},
      {"no bn",
       0,
       1,
       1,
       1,
       0,
       0,
       {"tower/hidden1_biases", "tower/video_VLAD/cluster_biases", "tower/audio_VLAD/cluster_biases",
        "tower/gating_biases"},
       {"tower/input_bn/beta", "tower/video_VLAD/cluster_bn/beta", "tower/gating_bn/beta",
        "tower/hidden1_bn/beta"}},
      {"no bn keeps gating_prob_bn",
       0,
       0,
       0,
       1,
       0,
       0,
       {"tower/gating_prob_bn/beta"},
       {"tower/gating_weights_2"}},
      {"lightvlad",
       1,
       0,
       0,
       0,
       1,
       0,
       {"tower/audio_VLAD/cluster_weights"},
       {"tower/video_VLAD/cluster_weights2", "tower/audio_VLAD/cluster_weights2",
        "tower/gating_prob_weights"}},
      {"one VLAD",
       1,
       0,
       1,
       1,
       0,
       1,
       {"tower/video_VLAD/cluster_weights2"},
       {"tower/audio_VLAD/cluster_weights"}},
  };
  for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
    yt_model_config s = small_cfg(YT_LOSS_CE);
    s.netvlad_add_batch_norm = o[i].bn, s.netvlad_relu = o[i].relu, s.gating = o[i].gating;
    s.moe_prob_gating = o[i].pgating, s.lightvlad = o[i].light;
    if (o[i].one) s.netvlad_video_dim = s.feature_dim;
    if (yt_model_new(&m, &s, 2, &err) < 0) {
      CHECK(0, "%s: %s", o[i].what, err.msg);
      continue;
    }
    for (int k = 0; k < 4 && o[i].has[k]; k++)
      CHECK(yt_model_find_tensor(m, o[i].has[k]) >= 0, "%s: no %s", o[i].what, o[i].has[k]);
    for (int k = 0; k < 4 && o[i].hasnt[k]; k++)
      CHECK(yt_model_find_tensor(m, o[i].hasnt[k]) < 0, "%s: has %s", o[i].what, o[i].hasnt[k]);
    size_t tr = 0, tot = 0, real_tr = 0;
    for (int k = 0; k < yt_model_num_tensors(m); k++)
      if (yt_model_tensor(m, k)->trainable) real_tr += yt_model_tensor(m, k)->numel;
    CHECK(yt_model_count_params(&s, &tr, &tot, &err) == 0 && tr == real_tr && tot == yt_model_num_params(m),
          "%s: count_params %zu / %zu, model %zu / %zu", o[i].what, tr, tot, real_tr, yt_model_num_params(m));
    yt_model_free(m);
  }
}

static void test_param_count(void) {
  /* the 2018 winner: K 256, H 1024, C 3862, D 1024 + 128, gating, prob gating, no relu (REFERENCE.md 2.7) */
  yt_model_config c = {.model = "NetVLADModelLF"};
  yt_model_config_defaults(&c);
  size_t trainable = 0, total = 0;
  yt_err err;
  CHECK(yt_model_count_params(&c, &trainable, &total, &err) == 0, "count_params: %s", err.msg);
  printf("  the winner's NetVLADModelLF: %zu trainable + %zu moving statistics = %.3f GB of float32\n",
         trainable, total - trainable, total * 4e-9);
  CHECK(trainable == 321528380, "winner NetVLADModelLF: %zu trainable parameters, want 321,528,380",
        trainable);
  CHECK(total - trainable == 12844, "winner NetVLADModelLF: %zu moving statistics, want 12,844",
        total - trainable);
  /* every model type: the count matches a built model's */
  const char *models[] = {"LogisticModel", "MoeModel", "FrameLevelLogisticModel", "DbofModel"};
  for (int i = 0; i < 4; i++) {
    yt_model_config s = {0};
    snprintf(s.model, sizeof s.model, "%s", models[i]);
    yt_model_config_defaults(&s);
    s.feature_dim = 12, s.num_classes = 7, s.dbof_cluster_size = 6, s.dbof_hidden_size = 4, s.iterations = 3;
    yt_model *m;
    size_t tr = 0, tot = 0, real_tr = 0;
    CHECK(yt_model_new(&m, &s, 3, &err) == 0, "%s: %s", models[i], err.msg);
    for (int k = 0; k < yt_model_num_tensors(m); k++)
      if (yt_model_tensor(m, k)->trainable) real_tr += yt_model_tensor(m, k)->numel;
    CHECK(yt_model_count_params(&s, &tr, NULL, &err) == 0 && yt_model_count_params(&s, NULL, &tot, &err) == 0,
          "%s count: %s", models[i], err.msg);
    CHECK(tr == real_tr && tot == yt_model_num_params(m), "%s: count_params %zu / %zu, model %zu / %zu",
          models[i], tr, tot, real_tr, yt_model_num_params(m));
    yt_model_free(m);
  }
  c.netvlad_video_dim = 2000;
  CHECK(yt_model_count_params(&c, &trainable, &total, &err) == YT_EUSAGE,
        "count_params checks the configuration");
}

/* ---- behaviour --------------------------------------------------------------------------------------------
 */

static int same(const float *a, const float *b, size_t n, float tol) {
  for (size_t i = 0; i < n; i++)
    if (fabsf(a[i] - b[i]) > tol) return 0;
  return 1;
}

static void test_behaviour(void) {
  yt_err err;
  yt_model *m;
  const int B = 4;
  yt_model_config c = small_cfg(YT_LOSS_CE);
  size_t np = (size_t)B * c.num_classes;
  float *p1 = falloc(np), *p2 = falloc(np);

  /* L2-normalized input: scaling frames changes nothing */
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  batch b = make_batch(&c, B, 0);
  size_t nx = (size_t)B * c.max_frames * c.feature_dim;
  float *x2 = falloc(nx);
  for (size_t k = 0; k < nx; k++) x2[k] = b.x[k] * (float)(1 + (k / c.feature_dim) % 3);
  yt_model_set_sampling_seed(m, 5);
  CHECK(yt_model_forward(m, b.x, b.nf, B, 0, p1, &err) == 0, "%s", err.msg);
  yt_model_set_sampling_seed(m, 5);
  CHECK(yt_model_forward(m, x2, b.nf, B, 0, p2, &err) == 0, "%s", err.msg);
  CHECK(same(p1, p2, np, 1e-6f), "scaling input rows changes the output (no L2 normalization?)");
  int ok = 1;
  for (size_t k = 0; k < np; k++) ok &= p1[k] >= 0 && p1[k] <= 1;
  CHECK(ok, "eval probabilities outside [0, 1]");
  CHECK(yt_model_backward(m, b.y, NULL, NULL, &err) == YT_EINVAL, "backward after an eval forward");
  CHECK(yt_model_forward(m, b.x, NULL, B, 1, p1, &err) == YT_EINVAL, "missing num_frames");
  free(x2);
  yt_model_free(m);

  /* every batch norm follows batch_norm_decay: moving means move in training with decay 0.5, never with 1 */
  for (int pass = 0; pass < 2; pass++) {
    yt_model_config d = small_cfg(YT_LOSS_CE);
    d.netvlad_relu = 1; /* hidden1_bn too */
    d.batch_norm_decay = pass ? 1.0f : 0.5f;
    CHECK(yt_model_new(&m, &d, B, &err) == 0, "%s", err.msg);
    yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
    int nbn = 0, moved_eval = 0, moved = 0;
    const float *w = yt_model_params(m);
    for (int i = 0; i < yt_model_num_tensors(m); i++)
      if (strstr(yt_model_tensor(m, i)->name, "moving_mean"))
        moved_eval += w[yt_model_tensor(m, i)->offset] != 0;
    yt_model_forward(m, b.x, b.nf, B, 1, p1, &err);
    for (int i = 0; i < yt_model_num_tensors(m); i++)
      if (strstr(yt_model_tensor(m, i)->name, "moving_mean")) {
        const yt_tensor_info *t = yt_model_tensor(m, i);
        int any = 0;
        for (size_t k = 0; k < t->numel; k++) any |= w[t->offset + k] != 0;
        nbn++, moved += any;
      }
    CHECK(nbn == 6, "6 batch norms (input, 2 cluster, hidden1, gating, gating_prob), got %d", nbn);
    CHECK(moved_eval == 0, "an eval forward moved a moving mean");
    CHECK(moved == (pass ? 0 : nbn), "decay %g: %d of %d moving means moved", d.batch_norm_decay, moved, nbn);
    yt_model_free(m);
  }
  free_batch(&b);

  /* sampling: eval without sample_all is random; with sample_all and iterations = F deterministic on full
   * videos */
  c.iterations = c.max_frames;
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  b = make_batch(&c, B, 1);
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 0, p2, &err);
  CHECK(!same(p1, p2, np, 0), "eval without sample_all should sample at random");
  yt_model_free(m);
  c.sample_all = 1;
  CHECK(yt_model_new(&m, &c, B, &err) == 0, "%s", err.msg);
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 0, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 0, p2, &err);
  CHECK(same(p1, p2, np, 0), "eval with sample_all and full videos should be deterministic");
  yt_model_forward(m, b.x, b.nf, B, 0, p2, &err);
  CHECK(same(p1, p2, np, 0), "eval with sample_all: the same twice");
  yt_model_set_sampling_seed(m, 1);
  yt_model_forward(m, b.x, b.nf, B, 1, p1, &err);
  yt_model_set_sampling_seed(m, 2);
  yt_model_forward(m, b.x, b.nf, B, 1, p2, &err);
  CHECK(!same(p1, p2, np, 0), "training samples at random even with sample_all");
  yt_model_free(m);
  free_batch(&b);

  /* configuration errors */
  c = small_cfg(YT_LOSS_CE);
  c.netvlad_video_dim = 13;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE && m == NULL, "video_dim past feature_dim");
  CHECK_CONTAINS(err.msg, "netvlad_video_dim");
  c = small_cfg(YT_LOSS_CE);
  c.netvlad_cluster_size = 1;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "cluster size 1 with an audio VLAD");
  CHECK_CONTAINS(err.msg, "the audio VLAD gets half");
  c.netvlad_video_dim = c.feature_dim;
  CHECK(yt_model_new(&m, &c, 1, &err) == 0, "cluster size 1 with one VLAD: %s", err.msg);
  yt_model_free(m);
  c = small_cfg(YT_LOSS_CE);
  c.frame_features = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "NetVLADModelLF on video-level input");
  CHECK_CONTAINS(err.msg, "frame_features = 1");
  c = small_cfg(YT_LOSS_CE);
  c.netvlad_hidden_size = 0;
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "hidden size 0");
  CHECK_CONTAINS(err.msg, "netvlad_hidden_size");
  snprintf(c.model, sizeof c.model, "NetVladModelLF");
  CHECK(yt_model_new(&m, &c, 1, &err) == YT_EUSAGE, "misspelt model");
  CHECK_CONTAINS(err.msg, "did you mean 'NetVLADModelLF'");

  /* the configuration round-trips through the checkpoint's JSON */
  c = small_cfg(YT_LOSS_HINGE);
  c.netvlad_cluster_size = 10, c.netvlad_hidden_size = 9, c.netvlad_video_dim = 7,
  c.netvlad_add_batch_norm = 0;
  c.netvlad_relu = 1, c.gating = 0, c.moe_prob_gating = 1, c.lightvlad = 1, c.gating_remove_diag = 1;
  c.netvlad_intra_norm = 0;
  c.iterations = 17, c.sample_random_frames = 0, c.moe_l2 = 1e-6f, c.batch_norm_decay = 0.99f, c.seed = 123;
  char *json = yt_model_config_json(&c);
  yt_model_config r;
  CHECK(yt_model_config_parse(json, &r, &err) == 0, "parse: %s", err.msg);
  CHECK(!strcmp(r.model, c.model) && r.netvlad_cluster_size == 10 && r.netvlad_hidden_size == 9 &&
            r.netvlad_video_dim == 7 && r.netvlad_add_batch_norm == 0 && r.netvlad_relu == 1 &&
            r.gating == 0 && r.moe_prob_gating == 1 && r.lightvlad == 1 && r.gating_remove_diag == 1 &&
            r.netvlad_intra_norm == 0 &&
            r.iterations == 17 && r.sample_random_frames == 0 && r.moe_l2 == 1e-6f &&
            r.batch_norm_decay == 0.99f && r.seed == 123 && r.feature_dim == 12 && r.num_classes == 7 &&
            r.label_loss == YT_LOSS_HINGE,
        "NetVLAD configuration JSON round trip: %s", json);
  free(json);
  free(p1), free(p2);
}

/* ---- training
 * ------------------------------------------------------------------------------------------------ */

/* Labels are the signs of a fixed random projection of a per-video vector v;
 * frames are v plus noise. Adam for 300 steps of 32 from 256 videos must
 * bring the training loss of the last 20 steps under half of the first 5's. */
static void test_training(void) {
  const int N = 256, B = 32, steps = 300;
  yt_model_config cfg = small_cfg(YT_LOSS_CE);
  cfg.feature_dim = 16, cfg.netvlad_video_dim = 12, cfg.num_classes = 6, cfg.max_frames = 8,
  cfg.iterations = 6;
  cfg.netvlad_cluster_size = 8, cfg.netvlad_hidden_size = 16, cfg.moe_l2 = 1e-6f,
  cfg.batch_norm_decay = 0.99f;
  yt_model *m;
  yt_err err;
  if (yt_model_new(&m, &cfg, B, &err) < 0) {
    CHECK(0, "%s", err.msg);
    return;
  }
  int D = cfg.feature_dim, C = cfg.num_classes, F = cfg.max_frames;
  float *wt = falloc((size_t)D * C), *x = falloc((size_t)N * F * D), *y = falloc((size_t)N * C),
        *v = falloc(D);
  int32_t *nf = calloc(N, sizeof *nf);
  for (size_t i = 0; i < (size_t)D * C; i++) wt[i] = (float)nrand();
  for (int i = 0; i < N; i++) {
    for (int d = 0; d < D; d++) v[d] = (float)nrand();
    nf[i] = 2 + i % (F - 1);
    for (int t = 0; t < nf[i]; t++)
      for (int d = 0; d < D; d++) x[((size_t)i * F + t) * D + d] = v[d] + 0.3f * (float)nrand();
    for (int k = 0; k < C; k++) {
      double s = 0;
      for (int d = 0; d < D; d++) s += v[d] * wt[d * C + k];
      y[(size_t)i * C + k] = s > 0 ? 1.0f : 0.0f;
    }
  }
  yt_adam a;
  CHECK(yt_adam_init(&a, yt_model_num_params(m), &err) == 0, "adam");
  double first = 0, last = 0;
  for (int s = 0; s < steps; s++) {
    int off = (s * B) % N;
    float loss, reg;
    int rc = yt_model_forward(m, x + (size_t)off * F * D, nf + off, B, 1, NULL, &err);
    rc = rc ? rc : yt_model_backward(m, y + (size_t)off * C, &loss, &reg, &err);
    if (rc) {
      CHECK(0, "step %d: %s", s, err.msg);
      break;
    }
    if (s < 5) first += loss / 5;
    if (s >= steps - 20) last += loss / 20;
    yt_adam_step(&a, m, 0.01f, 1.0f);
  }
  printf("  NetVLADModelLF (winner options) training loss %.3f -> %.3f\n", first, last);
  CHECK(last < 0.5 * first, "training loss %.4f -> %.4f, not halved", first, last);
  float *p = falloc((size_t)B * C);
  CHECK(yt_model_forward(m, x, nf, B, 0, p, &err) == 0, "eval forward");
  int ok = 1;
  for (int i = 0; i < B * C; i++) ok &= p[i] >= 0 && p[i] <= 1;
  CHECK(ok, "eval probabilities outside [0, 1]");
  free(p), free(wt), free(x), free(y), free(v), free(nf);
  yt_adam_free(&a);
  yt_model_free(m);
}

int main(void) {
  if (getenv("NV_SEED"))
    rng = strtoull(getenv("NV_SEED"), NULL, 10); /* other random data, for robustness runs */
  printf("model gradient checks (threshold %.0e), C 7 D 12 (8 + 4) F 6 S 4 K 4 H 5 M 2, L2 0.05:\n",
         GRAD_TOL);
  test_gradients();
  printf("eval forward against the reference (sample_all, K 6):\n");
  test_reference_forward();
  printf("tensor table and parameter counts:\n");
  test_table();
  test_param_count();
  test_behaviour();
  printf("training:\n");
  test_training();
  return check_report("test_netvlad");
}
