/* synth.c: the synthetic corpus generator (model in docs/generator.md).
 *
 * Shapes: D = 1152 (rgb 1024 + audio 128), K classes, T topics.
 *   protos [K + T, D]: rows 0..K-1 class prototypes, K.. confuser topics
 *   frame  x = protos[source] + noise_std * N(0, I), clipped to [-2, 2],
 *          quantized q = round_half_even((x + 2) * 63.75) as the extractor does */
#include "synth.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.pb-c.h"
#include "yt8m.h"

enum { D = YT_SYNTH_DIM, TOPIC_CLASSES = 3, VIDEO_TOPICS = 4 };

/* ---- random numbers: xoshiro256** seeded by splitmix64 ---- */
typedef struct { uint64_t s[4]; } rng;
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static void rng_seed(rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rng_next(rng *r) {
  uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
  return out;
}
static inline double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static int rng_int(rng *r, int n) { return (int)(rng_unif(r) * n); }

/* N(0,1) by table: 65536 quantiles, indexed by 16 random bits. */
static float normal_table[65536];
static double inv_normal(double p) { /* Acklam's rational approximation, |rel err| < 1.2e-9 */
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p < 0.02425) {
    double q = sqrt(-2 * log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -inv_normal(1 - p);
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

struct yt_synth {
  yt_synth_params p;
  float *protos;     /* [K + T, D] */
  float *half_norm2; /* [K + T]: |proto|^2 / 2, for likelihood scores */
  double *cdf;       /* [K] class prior CDF */
  int *topic_classes; /* [T, 3] */
  float *scratch;    /* oracle: [max_frames, D] and [max_frames, K+T] */
  int *src;          /* [max_frames]: the source (class or K + topic) of each frame */
};

void yt_synth_defaults(yt_synth_params *p) {
  *p = (yt_synth_params){.classes = YT_NUM_CLASSES, .seed = 1, .topics = 256, .min_frames = 60,
                         .max_frames = 300, .proto_std = 0.15, .noise_std = 0.8, .signal_lo = 0.05,
                         .signal_hi = 0.3, .zipf = 0.8, .labels_mean = 3.0, .confuser = 0.5};
}

const yt_synth_params *yt_synth_get_params(const yt_synth *g) { return &g->p; }

static int sample_class(const yt_synth *g, rng *r) {
  double u = rng_unif(r) * g->cdf[g->p.classes - 1];
  int lo = 0, hi = g->p.classes - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (g->cdf[mid] > u) hi = mid; else lo = mid + 1;
  }
  return lo;
}

double yt_synth_class_rate(const yt_synth *g, int c) {
  double pc = (g->cdf[c] - (c ? g->cdf[c - 1] : 0)) / g->cdf[g->p.classes - 1];
  double r = g->p.labels_mean * pc; /* ~ expected labels of class c per video */
  return r > 1 ? 1 : r;
}

int yt_synth_new(yt_synth **out, const yt_synth_params *p, yt_err *err) {
  *out = NULL;
  if (p->classes < 1 || p->classes > 1000000) return yt_fail(err, YT_EUSAGE, "classes must be in [1, 1000000], got %d", p->classes);
  if (p->min_frames < 1 || p->max_frames < p->min_frames || p->max_frames > 100000)
    return yt_fail(err, YT_EUSAGE, "frames per video must satisfy 1 <= min (%d) <= max (%d) <= 100000", p->min_frames, p->max_frames);
  if (p->confuser < 0 || p->confuser > 1) return yt_fail(err, YT_EUSAGE, "confuser weight must be in [0, 1], got %g", p->confuser);
  if (p->signal_lo < 0 || p->signal_hi > 1 || p->signal_lo > p->signal_hi)
    return yt_fail(err, YT_EUSAGE, "signal fractions must satisfy 0 <= lo <= hi <= 1, got %g,%g", p->signal_lo, p->signal_hi);
  if (!(p->noise_std >= 0 && p->noise_std <= 100)) return yt_fail(err, YT_EUSAGE, "noise std must be in [0, 100], got %g", p->noise_std);
  if (p->topics < 1) return yt_fail(err, YT_EUSAGE, "topics must be >= 1");
  yt_synth *g = calloc(1, sizeof *g);
  if (!g) return yt_fail(err, YT_ENOMEM, "out of memory");
  g->p = *p;
  int K = p->classes, T = p->topics;
  g->protos = malloc(sizeof(float) * (size_t)(K + T) * D);
  g->half_norm2 = malloc(sizeof(float) * (size_t)(K + T));
  g->cdf = malloc(sizeof(double) * (size_t)K);
  g->topic_classes = malloc(sizeof(int) * (size_t)T * TOPIC_CLASSES);
  g->scratch = malloc(sizeof(float) * (size_t)p->max_frames * (size_t)(D + K + T));
  g->src = malloc(sizeof(int) * (size_t)p->max_frames);
  if (!g->protos || !g->half_norm2 || !g->cdf || !g->topic_classes || !g->scratch || !g->src) {
    yt_synth_free(g);
    return yt_fail(err, YT_ENOMEM, "out of memory for %d classes", K);
  }
  for (int i = 0; i < 65536; i++) normal_table[i] = (float)inv_normal((i + 0.5) / 65536.0);
  double acc = 0;
  for (int c = 0; c < K; c++) g->cdf[c] = acc += pow(c + 1.0, -p->zipf);
  rng r;
  rng_seed(&r, p->seed ^ 0x5eed0f70de15ull);
  for (size_t i = 0; i < (size_t)K * D; i++) g->protos[i] = (float)(p->proto_std * normal_table[rng_next(&r) & 0xffff]);
  /* A confuser topic mixes three classes (drawn by the prior, so frequent
   * classes are confused most) with a private direction: its frames look like
   * none of the three, but their mean looks like all of them. */
  for (int t = 0; t < T; t++) {
    float *row = g->protos + (size_t)(K + t) * D;
    const double own = sqrt(1 - p->confuser * p->confuser); /* keeps |topic| ~ |prototype| */
    for (int d = 0; d < D; d++) row[d] = (float)(own * p->proto_std * normal_table[rng_next(&r) & 0xffff]);
    for (int j = 0; j < TOPIC_CLASSES; j++) {
      int c = sample_class(g, &r);
      g->topic_classes[t * TOPIC_CLASSES + j] = c;
      const float *pc = g->protos + (size_t)c * D;
      for (int d = 0; d < D; d++) row[d] += (float)(p->confuser / sqrt(TOPIC_CLASSES)) * pc[d];
    }
  }
  for (int j = 0; j < K + T; j++) {
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)g->protos[(size_t)j * D + d] * g->protos[(size_t)j * D + d];
    g->half_norm2[j] = (float)(s / 2);
  }
  *out = g;
  return YT_OK;
}

void yt_synth_free(yt_synth *g) {
  if (!g) return;
  free(g->protos);
  free(g->half_norm2);
  free(g->cdf);
  free(g->topic_classes);
  free(g->scratch);
  free(g->src);
  free(g);
}

void yt_synth_video_free(yt_synth_video *v) {
  free(v->frames);
  memset(v, 0, sizeof *v);
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* 4-character ids like the real ones ("02aa", "nXSc"): a bijection of the
 * index within 62^4 (offset per split), so ids are unique for < 14.7 M videos
 * per split; a fifth character is added past that. */
static void make_id(char *out, const char *split, uint64_t index) {
  static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const uint64_t space = 62ull * 62 * 62 * 62;
  uint64_t x = ((index % space) + fnv1a(split) % space) % space;
  x = (x * 7919ull * 4001ull + 12345) % space; /* odd and coprime with 31: a bijection */
  int n = 0;
  for (int i = 0; i < 4; i++) { out[n++] = digits[x % 62]; x /= 62; }
  for (uint64_t hi = index / space; hi; hi /= 62) out[n++] = digits[hi % 62];
  out[n] = 0;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int yt_synth_video_make(yt_synth *g, const char *split, uint64_t index, yt_synth_video *v, yt_err *err) {
  const yt_synth_params *p = &g->p;
  rng r;
  rng_seed(&r, p->seed * 0x9e3779b97f4a7c15ull ^ fnv1a(split) ^ (index * 0xd1b54a32d192ed03ull));
  make_id(v->id, split, index);

  /* labels: 1 + Poisson(labels_mean - 1), distinct, by the long-tailed prior */
  int k = 1;
  for (double lim = exp(-(p->labels_mean - 1)), prod = rng_unif(&r); prod > lim; prod *= rng_unif(&r)) k++;
  if (k > p->classes) k = p->classes;
  if (k > YT_SYNTH_MAX_LABELS) k = YT_SYNTH_MAX_LABELS;
  v->n_labels = 0;
  for (int tries = 0; v->n_labels < k && tries < 1000; tries++) {
    int c = sample_class(g, &r), dup = 0;
    for (int j = 0; j < v->n_labels; j++) dup |= v->labels[j] == c;
    if (!dup) v->labels[v->n_labels++] = c;
  }
  k = v->n_labels;

  int n = p->min_frames + rng_int(&r, p->max_frames - p->min_frames + 1);
  v->n_frames = n;
  size_t need = (size_t)n * D;
  if (need > v->cap) {
    uint8_t *f = realloc(v->frames, need);
    if (!f) return yt_fail(err, YT_ENOMEM, "out of memory for %d frames", n);
    v->frames = f;
    v->cap = need;
  }

  /* source of each frame: a label for m signal frames at random positions
   * (each label at least once), else a topic from the video's own mix */
  int *src = g->src;
  double s = p->signal_lo + (p->signal_hi - p->signal_lo) * rng_unif(&r);
  int m = (int)lround(s * n);
  if (m < k) m = k;
  if (m > n) m = n;
  int topics[VIDEO_TOPICS];
  double w[VIDEO_TOPICS], wsum = 0;
  for (int j = 0; j < VIDEO_TOPICS; j++) {
    topics[j] = rng_int(&r, p->topics);
    wsum += w[j] = -log(1 - rng_unif(&r)); /* Dirichlet(1,..,1) by normalized exponentials */
  }
  for (int t = 0; t < n; t++) {
    double u = rng_unif(&r) * wsum;
    int j = 0;
    while (j < VIDEO_TOPICS - 1 && u >= w[j]) u -= w[j++];
    src[t] = p->classes + topics[j];
  }
  for (int j = 0; j < m; j++) src[j] = v->labels[j % k];
  for (int t = n - 1; t > 0; t--) { /* Fisher-Yates: signal frames anywhere */
    int u = rng_int(&r, t + 1);
    int tmp = src[t]; src[t] = src[u]; src[u] = tmp;
  }

  const float *dq = yt_dequantize_table();
  double acc[D] = {0};
  const float ns = (float)p->noise_std;
  for (int t = 0; t < n; t++) {
    const float *mu = g->protos + (size_t)src[t] * D;
    uint8_t *q = v->frames + (size_t)t * D;
    for (int d = 0; d < D; d += 4) {
      uint64_t bits = rng_next(&r);
      for (int e = 0; e < 4; e++) {
        float x = mu[d + e] + ns * normal_table[(bits >> (16 * e)) & 0xffff];
        x = x < -2.0f ? -2.0f : x > 2.0f ? 2.0f : x;
        long qi = lrintf((x + 2.0f) * 63.75f); /* round half to even */
        q[d + e] = (uint8_t)(qi > 255 ? 255 : qi);
        acc[d + e] += dq[q[d + e]];
      }
    }
  }
  for (int d = 0; d < D; d++) v->mean[d] = (float)(acc[d] / n);
  qsort(v->labels, (size_t)k, sizeof v->labels[0], cmp_int);
  return YT_OK;
}

/* ---- encoding through protobuf-c ---- */

int yt_synth_encode(const yt_synth_video *v, bool frame_level, bool with_labels, uint8_t **buf, size_t *len,
                    yt_err *err) {
  *buf = NULL;
  Tensorflow__BytesList id_list = TENSORFLOW__BYTES_LIST__INIT;
  ProtobufCBinaryData id_val = {strlen(v->id), (uint8_t *)v->id};
  id_list.n_value = 1;
  id_list.value = &id_val;
  Tensorflow__Feature id_f = TENSORFLOW__FEATURE__INIT;
  id_f.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
  id_f.bytes_list = &id_list;

  int64_t labels[YT_SYNTH_MAX_LABELS];
  for (int i = 0; i < v->n_labels; i++) labels[i] = v->labels[i];
  Tensorflow__Int64List lab_list = TENSORFLOW__INT64_LIST__INIT;
  lab_list.n_value = (size_t)v->n_labels;
  lab_list.value = labels;
  Tensorflow__Feature lab_f = TENSORFLOW__FEATURE__INIT;
  lab_f.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
  lab_f.int64_list = &lab_list;

  Tensorflow__FloatList rgb_list = TENSORFLOW__FLOAT_LIST__INIT, aud_list = TENSORFLOW__FLOAT_LIST__INIT;
  rgb_list.n_value = 1024;
  rgb_list.value = (float *)v->mean;
  aud_list.n_value = 128;
  aud_list.value = (float *)v->mean + 1024;
  Tensorflow__Feature rgb_f = TENSORFLOW__FEATURE__INIT, aud_f = TENSORFLOW__FEATURE__INIT;
  rgb_f.kind_case = aud_f.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST;
  rgb_f.float_list = &rgb_list;
  aud_f.float_list = &aud_list;

  /* key order as the real shards: id, labels, mean_rgb, mean_audio */
  Tensorflow__FeatureEntry e[4] = {TENSORFLOW__FEATURE_ENTRY__INIT, TENSORFLOW__FEATURE_ENTRY__INIT,
                                   TENSORFLOW__FEATURE_ENTRY__INIT, TENSORFLOW__FEATURE_ENTRY__INIT};
  Tensorflow__FeatureEntry *ep[4];
  size_t ne = 0;
  e[ne].key = "id"; e[ne].value = &id_f; ne++;
  if (with_labels) { e[ne].key = "labels"; e[ne].value = &lab_f; ne++; }
  e[ne].key = "mean_rgb"; e[ne].value = &rgb_f; ne++;
  e[ne].key = "mean_audio"; e[ne].value = &aud_f; ne++;
  for (size_t i = 0; i < ne; i++) ep[i] = &e[i];
  Tensorflow__Features ctx = TENSORFLOW__FEATURES__INIT;
  ctx.n_feature = ne;
  ctx.feature = ep;

  if (!frame_level) {
    Tensorflow__Example ex = TENSORFLOW__EXAMPLE__INIT;
    ex.features = &ctx;
    *len = tensorflow__example__get_packed_size(&ex);
    if (!(*buf = malloc(*len))) return yt_fail(err, YT_ENOMEM, "out of memory");
    tensorflow__example__pack(&ex, *buf);
    return YT_OK;
  }

  /* frame level: per frame one Feature holding one bytes value */
  size_t n = (size_t)v->n_frames;
  void *mem = malloc(n * 2 * (sizeof(Tensorflow__Feature) + sizeof(Tensorflow__BytesList) +
                              sizeof(ProtobufCBinaryData) + sizeof(Tensorflow__Feature *)) + 1);
  if (!mem) return yt_fail(err, YT_ENOMEM, "out of memory");
  Tensorflow__Feature *fs = mem;
  Tensorflow__BytesList *bl = (Tensorflow__BytesList *)(fs + 2 * n);
  ProtobufCBinaryData *bv = (ProtobufCBinaryData *)(bl + 2 * n);
  Tensorflow__Feature **fp = (Tensorflow__Feature **)(bv + 2 * n);
  for (size_t j = 0; j < 2 * n; j++) {
    size_t t = j % n, audio = j / n;
    bv[j] = (ProtobufCBinaryData){audio ? 128 : 1024, v->frames + t * D + (audio ? 1024 : 0)};
    bl[j] = (Tensorflow__BytesList)TENSORFLOW__BYTES_LIST__INIT;
    bl[j].n_value = 1;
    bl[j].value = &bv[j];
    fs[j] = (Tensorflow__Feature)TENSORFLOW__FEATURE__INIT;
    fs[j].kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
    fs[j].bytes_list = &bl[j];
    fp[j] = &fs[j];
  }
  Tensorflow__FeatureList lists[2] = {TENSORFLOW__FEATURE_LIST__INIT, TENSORFLOW__FEATURE_LIST__INIT};
  lists[0].n_feature = lists[1].n_feature = n;
  lists[0].feature = fp;
  lists[1].feature = fp + n;
  Tensorflow__FeatureListEntry le[2] = {TENSORFLOW__FEATURE_LIST_ENTRY__INIT, TENSORFLOW__FEATURE_LIST_ENTRY__INIT};
  le[0].key = "rgb"; le[0].value = &lists[0];
  le[1].key = "audio"; le[1].value = &lists[1];
  Tensorflow__FeatureListEntry *lep[2] = {&le[0], &le[1]};
  Tensorflow__FeatureLists fl = TENSORFLOW__FEATURE_LISTS__INIT;
  fl.n_feature_list = 2;
  fl.feature_list = lep;
  Tensorflow__SequenceExample se = TENSORFLOW__SEQUENCE_EXAMPLE__INIT;
  se.context = &ctx;
  se.feature_lists = &fl;
  *len = tensorflow__sequence_example__get_packed_size(&se);
  *buf = malloc(*len);
  if (*buf) tensorflow__sequence_example__pack(&se, *buf);
  free(mem);
  return *buf ? YT_OK : yt_fail(err, YT_ENOMEM, "out of memory");
}

/* ---- oracle ---- */

int yt_synth_oracle(yt_synth *g, const yt_synth_video *v, float *frame_scores, float *mean_scores, yt_err *err) {
  (void)err;
  const int K = g->p.classes, J = K + g->p.topics, n = v->n_frames;
  float *x = g->scratch;               /* [n, D] dequantized frames */
  float *ll = x + (size_t)n * D;       /* [n, J] log-likelihood up to a constant */
  const float *dq = yt_dequantize_table();
  for (size_t i = 0; i < (size_t)n * D; i++) x[i] = dq[v->frames[i]];
  /* ll = x . protos^T - |proto|^2/2  (isotropic Gaussian noise) */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, J, D, 1.0f, x, D, g->protos, D, 0.0f, ll, J);
  memset(frame_scores, 0, sizeof(float) * (size_t)K);
  for (int t = 0; t < n; t++) {
    const float *row = ll + (size_t)t * J;
    int best = 0;
    float bv = row[0] - g->half_norm2[0];
    for (int j = 1; j < J; j++) {
      float s = row[j] - g->half_norm2[j];
      if (s > bv) { bv = s; best = j; }
    }
    if (best < K) frame_scores[best] += 1.0f / n;
  }
  /* a tiny prior term orders classes no frame matched */
  for (int c = 0; c < K; c++) frame_scores[c] += (float)(1e-6 * yt_synth_class_rate(g, c));
  /* mean pooling with known prototypes: the mean frame projected on each
   * class direction, the best a linear read-out of the mean can know */
  cblas_sgemv(CblasRowMajor, CblasNoTrans, K, D, 1.0f, g->protos, D, v->mean, 1, 0.0f, mean_scores, 1);
  for (int c = 0; c < K; c++) mean_scores[c] /= sqrtf(2 * g->half_norm2[c]);
  return YT_OK;
}
