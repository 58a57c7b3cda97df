/* One pass over a float64 truth T and k gradients G (gradlab/core/compare_pass.py).
 *
 * For T: Σ T² and max |T|. For each G, with d = G − T (G widened exactly, one
 * rounding): Σ d², Σ d·T and max |d|; for the last G, where asked, max |d| of each
 * run of `seg` entries. A NaN is left out of every maximum: the caller finds it from
 * the sums, which a NaN makes NaN (and nothing else does).
 *
 * The sums are in the pass's order, the same on any machine and thread count:
 *   rows of ROW entries, the last padded with zeros; in a row, partial i (0…511)
 *   adds the entries i + 512j, j = 0…15, in turn from +0.0; the 512 partials are
 *   added by halving (the second half added to the first, entry by entry, until one
 *   is left); the rows' sums are added in turn from +0.0.
 * Every operation is one IEEE-754 double operation (build with -ffp-contract=off: no
 * fused multiply-add), and vectors of W doubles only hold partials side by side, so
 * W = 2, 4 or 8 gives the same bits. Zeros add +0.0 (a sum from +0.0 is never −0.0)
 * and never raise a maximum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ROW 8192
#define PARTIALS 512                  /* each adds ROW / PARTIALS = 16 entries */
#define RUN 128                       /* the runs whose maxima the caller may ask for */

/* VMAX(a, b): a where a > b, else b (so a NaN in a gives b), per double: x86's max
 * instruction, else (or with -DGRADLAB_GENERIC) a select. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GRADLAB_GENERIC)
#include <immintrin.h>
#if defined(__AVX512F__)
#define W 8
static inline __m512d vmax_(__m512d a, __m512d b) { return _mm512_max_pd(a, b); }
#define VMAX(a, b) ((vd)vmax_((__m512d)(a), (__m512d)(b)))
#elif defined(__AVX__)
#define W 4
#define VMAX(a, b) ((vd)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
#else
#define W 2
#define VMAX(a, b) ((vd)_mm_max_pd((__m128d)(a), (__m128d)(b)))
#endif
#else
#define W 2
#define VMAX_GENERIC
#define VMAX(a, b) vmax_generic((a), (b))
#endif
#define PV (PARTIALS / W)

typedef double vd __attribute__((vector_size(W * 8)));
typedef int64_t vl __attribute__((vector_size(W * 8)));
typedef float vf __attribute__((vector_size(W * 4)));
typedef uint32_t vu __attribute__((vector_size(W * 4)));
typedef uint16_t vh __attribute__((vector_size(W * 2)));

enum { KIND_F64 = 0, KIND_F32 = 1, KIND_BF16 = 2 };

#ifdef VMAX_GENERIC
static inline vd vmax_generic(vd a, vd b)
{
    vl m = a > b;
    return (vd)(((vl)a & m) | ((vl)b & ~m));
}
#endif

static inline vd load_f64(const void *p) { vd v; memcpy(&v, p, sizeof v); return v; }

static inline vd load_f32(const void *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, vd);
}

/* bfloat16 is float32's upper half: shift it into place, then widen exactly. */
static inline vd load_bf16(const void *p)
{
    vh h;
    memcpy(&h, p, sizeof h);
    vu u = __builtin_convertvector(h, vu) << 16;
    vf f;
    memcpy(&f, &u, sizeof f);
    return __builtin_convertvector(f, vd);
}

static inline vd vabs(vd a) { return (vd)((vl)a & ((vl){0} + INT64_MAX)); }

/* The PARTIALS partials added by halving. */
static double halving(double *x)
{
    for (int w = PARTIALS / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            x[i] += x[i + w];
    return x[0];
}

static inline double vec_max(vd v, double r)
{
    double l[W];
    memcpy(l, &v, sizeof l);
    for (int i = 0; i < W; i++)
        r = l[i] > r ? l[i] : r;
    return r;
}

/* A full row of T: out[0] += its Σ T², out[1] = max(out[1], its max |T|). */
static void truth_row(const double *t, double *out, vd *sq)
{
    vd top = {0};
    memset(sq, 0, PV * sizeof(vd));
    for (int j = 0; j < ROW; j += PARTIALS)
        for (int i = 0; i < PV; i++) {
            vd v = load_f64(t + j + i * W);
            sq[i] += v * v;
            top = VMAX(vabs(v), top);
        }
    out[0] += halving((double *)sq);
    out[1] = vec_max(top, out[1]);
}

static const int SIZES[] = {8, 4, 2};

static inline __attribute__((always_inline)) vd load(const char *p, const int kind)
{
    return kind == KIND_F64 ? load_f64(p) : kind == KIND_F32 ? load_f32(p) : load_bf16(p);
}

/* A full row of one gradient of kind `kind`: out[0] += Σ d², out[1] += Σ d·T,
 * out[2] = max(out[2], max |d|); runs[r] = max |d| over the row's r-th RUN; and where
 * `truth` (the first gradient), T's own: truth[0] += Σ T², truth[1] = max(…, max |T|).
 * The partials are taken BLOCK vectors at a time, each block held in registers over the
 * row's 16 slices. `kind` and `truth` are constants where it is called (always_inline). */
#define BLOCK 8
static inline __attribute__((always_inline)) void
grad_row(const double *t, const char *g, double *out, double *runs, vd *sq, vd *dot,
         vd *tsq, double *truth, const int kind)
{
    const int size = SIZES[kind];
    double hi = out[2];
    vd ttop = {0};
    for (int r = 0; r < ROW / RUN; r++)
        runs[r] = 0.0;
    for (int b = 0; b < PV; b += BLOCK) {
        vd s[BLOCK] = {{0}}, p[BLOCK] = {{0}}, ts[BLOCK] = {{0}};
        for (int j = 0; j < ROW; j += PARTIALS) {
            vd top = {0};
            for (int i = 0; i < BLOCK; i++) {
                int at = j + (b + i) * W;
                vd tv = load_f64(t + at);
                vd d = load(g + at * size, kind) - tv;
                s[i] += d * d;
                p[i] += d * tv;
                top = VMAX(vabs(d), top);
                if (truth) {
                    ts[i] += tv * tv;
                    ttop = VMAX(vabs(tv), ttop);
                }
            }
            int r = (j + b * W) / RUN;
            runs[r] = vec_max(top, runs[r]);
        }
        memcpy(sq + b, s, sizeof s);
        memcpy(dot + b, p, sizeof p);
        if (truth)
            memcpy(tsq + b, ts, sizeof ts);
    }
    for (int r = 0; r < ROW / RUN; r++)
        hi = runs[r] > hi ? runs[r] : hi;
    out[0] += halving((double *)sq);
    out[1] += halving((double *)dot);
    out[2] = hi;
    if (truth) {
        truth[0] += halving((double *)tsq);
        truth[1] = vec_max(ttop, truth[1]);
    }
}

static void row_f64(const double *t, const char *g, double *out, double *runs, vd *sq,
                    vd *dot) { grad_row(t, g, out, runs, sq, dot, 0, 0, KIND_F64); }
static void row_f32(const double *t, const char *g, double *out, double *runs, vd *sq,
                    vd *dot) { grad_row(t, g, out, runs, sq, dot, 0, 0, KIND_F32); }
static void row_bf16(const double *t, const char *g, double *out, double *runs, vd *sq,
                     vd *dot) { grad_row(t, g, out, runs, sq, dot, 0, 0, KIND_BF16); }
static void first_f64(const double *t, const char *g, double *out, double *runs, vd *sq,
                      vd *dot, vd *tsq, double *truth)
{ grad_row(t, g, out, runs, sq, dot, tsq, truth, KIND_F64); }
static void first_f32(const double *t, const char *g, double *out, double *runs, vd *sq,
                      vd *dot, vd *tsq, double *truth)
{ grad_row(t, g, out, runs, sq, dot, tsq, truth, KIND_F32); }
static void first_bf16(const double *t, const char *g, double *out, double *runs, vd *sq,
                       vd *dot, vd *tsq, double *truth)
{ grad_row(t, g, out, runs, sq, dot, tsq, truth, KIND_BF16); }

/* T (n float64 entries) and k gradients g[j] of kind[j]. truth_out = {Σ T², max |T|};
 * out[3j..3j+2] = {Σ d², Σ d·T, max |d|} of gradient j; runmax (or NULL): the last
 * gradient's max |d| of each run of seg entries (seg divides ROW, a multiple of RUN),
 * ceil(n / seg) of them. Returns 0, -1 for an unknown kind or seg, -2 out of memory. */
int gradlab_compare_pass(int64_t n, const double *t, int32_t k, const void *const *g,
                         const int32_t *kind, int64_t seg, double *runmax,
                         double *truth_out, double *out)
{
    if (runmax && (seg <= 0 || ROW % seg || seg % RUN))
        return -1;
    for (int32_t j = 0; j < k; j++)
        if (kind[j] < KIND_F64 || kind[j] > KIND_BF16)
            return -1;
    /* the last row, padded with zeros; the partials of one row */
    double *tpad = calloc(ROW, sizeof(double)), *gpad = calloc(ROW, sizeof(double));
    vd sq[PV], dot[PV], tsq[PV];
    double runs[ROW / RUN];
    if (!tpad || !gpad) {
        free(tpad), free(gpad);
        return -2;
    }
    truth_out[0] = truth_out[1] = 0.0;
    for (int32_t j = 0; j < 3 * k; j++)
        out[j] = 0.0;
    for (int64_t row = 0; row < n; row += ROW) {
        int64_t m = n - row < ROW ? n - row : ROW;
        const double *tr = t + row;
        if (m < ROW) {
            memcpy(tpad, tr, (size_t)m * sizeof(double));
            tr = tpad;
        }
        if (!k)
            truth_row(tr, truth_out, sq);
        for (int32_t j = 0; j < k; j++) {
            const char *gr = (const char *)g[j] + row * SIZES[kind[j]];
            if (m < ROW) {
                memset(gpad, 0, ROW * sizeof(double));
                memcpy(gpad, gr, (size_t)m * SIZES[kind[j]]);
                gr = (const char *)gpad;
            }
            if (j == 0 && kind[j] == KIND_F64)
                first_f64(tr, gr, out, runs, sq, dot, tsq, truth_out);
            else if (j == 0 && kind[j] == KIND_F32)
                first_f32(tr, gr, out, runs, sq, dot, tsq, truth_out);
            else if (j == 0)
                first_bf16(tr, gr, out, runs, sq, dot, tsq, truth_out);
            else if (kind[j] == KIND_F64)
                row_f64(tr, gr, out + 3 * j, runs, sq, dot);
            else if (kind[j] == KIND_F32)
                row_f32(tr, gr, out + 3 * j, runs, sq, dot);
            else
                row_bf16(tr, gr, out + 3 * j, runs, sq, dot);
            if (runmax && j == k - 1)
                for (int64_t r = 0; r * seg < m; r++) {
                    double top = 0.0;
                    for (int64_t b = r * seg / RUN; b < (r + 1) * seg / RUN; b++)
                        top = runs[b] > top ? runs[b] : top;
                    runmax[row / seg + r] = top;
                }
        }
    }
    free(tpad), free(gpad);
    return 0;
}

/* The Taylor test's L = Σ w·f and its rounding scale Σ |w·f| over n float64 entries of
 * w and f, each product rounded once, in the pass's order (the same rows, partials and
 * halving as the sums above): out = {Σ w·f, Σ |w·f|}. Returns 0, -2 out of memory. */
int gradlab_pair_sums(int64_t n, const double *w, const double *f, double *out)
{
    double *wpad = calloc(ROW, sizeof(double)), *fpad = calloc(ROW, sizeof(double));
    vd s[PV], a[PV];
    if (!wpad || !fpad) {
        free(wpad), free(fpad);
        return -2;
    }
    out[0] = out[1] = 0.0;
    for (int64_t row = 0; row < n; row += ROW) {
        int64_t m = n - row < ROW ? n - row : ROW;
        const double *wr = w + row, *fr = f + row;
        if (m < ROW) {
            memcpy(wpad, wr, (size_t)m * sizeof(double));
            memcpy(fpad, fr, (size_t)m * sizeof(double));
            wr = wpad, fr = fpad;
        }
        for (int b = 0; b < PV; b += BLOCK) {
            vd sb[BLOCK] = {{0}}, ab[BLOCK] = {{0}};
            for (int j = 0; j < ROW; j += PARTIALS)
                for (int i = 0; i < BLOCK; i++) {
                    int at = j + (b + i) * W;
                    vd p = load_f64(wr + at) * load_f64(fr + at);
                    sb[i] += p;
                    ab[i] += vabs(p);
                }
            memcpy(s + b, sb, sizeof sb);
            memcpy(a + b, ab, sizeof ab);
        }
        out[0] += halving((double *)s);
        out[1] += halving((double *)a);
    }
    free(wpad), free(fpad);
    return 0;
}

/* The vector width this build holds its partials in (2, 4 or 8 doubles). */
int gradlab_compare_pass_width(void) { return W; }
