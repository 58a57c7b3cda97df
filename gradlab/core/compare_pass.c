/* One pass over a float64 truth T and k gradients G (gradlab/core/compare_pass.py).
 *
 * For T: Σ T² and max |T|. For each G, with d = G − T (G widened exactly, one
 * rounding): Σ d², Σ d·T and max |d|; for the last G, where asked, max |d| of each
 * run of `seg` entries. A NaN is left out of every maximum: the caller finds it
 * from the sums, which a NaN makes NaN (and nothing else does).
 *
 * The sums are in lane order, the same on any machine and thread count:
 *   rows of ROW entries; in a row, lane l (0..7) adds the row's entries l, l + 8, …
 *   in turn, from +0.0; the row's sum is ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
 *   the rows' sums are added in turn, from +0.0.
 * Every operation is one IEEE-754 double operation (compile with -ffp-contract=off:
 * no fused multiply-add), and vectors of W doubles only hold lanes side by side, so
 * W = 2, 4 or 8 gives the same bits. A row's last entries are padded with zeros,
 * which add +0.0 (a sum from +0.0 is never −0.0) and never raise a maximum.
 */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

#define ROW 8192
#define LANES 8

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
#define V (LANES / W)

typedef double vd __attribute__((vector_size(W * 8)));
typedef int64_t vl __attribute__((vector_size(W * 8)));
typedef float vf __attribute__((vector_size(W * 4)));
typedef uint32_t vu __attribute__((vector_size(W * 4)));
typedef uint16_t vh __attribute__((vector_size(W * 2)));

enum { KIND_F64 = 0, KIND_F32 = 1, KIND_BF16 = 2 };

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

/* ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) */
static inline double lanes_sum(const vd *s)
{
    double l[LANES];
    memcpy(l, s, sizeof l);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

static inline double lanes_max(const vd *s, double r)
{
    double l[LANES];
    memcpy(l, s, sizeof l);
    for (int i = 0; i < LANES; i++)
        r = l[i] > r ? l[i] : r;
    return r;
}

/* A row of T: out[0] += its Σ T², out[1] = max(out[1], its max |T|). */
static void truth_row(const double *t, int64_t m, double *out)
{
    vd s[V] = {{0}}, top[V] = {{0}};
    int64_t i = 0;
    double pad[LANES];
    for (;;) {
        const double *at = t + i;
        if (i + LANES > m) {
            if (i >= m)
                break;
            memset(pad, 0, sizeof pad);
            memcpy(pad, t + i, (size_t)(m - i) * sizeof(double));
            at = pad;
        }
        for (int h = 0; h < V; h++) {
            vd v = load_f64(at + h * W);
            s[h] += v * v;
            top[h] = VMAX(vabs(v), top[h]);
        }
        i += LANES;
    }
    out[0] += lanes_sum(s);
    out[1] = lanes_max(top, out[1]);
}

/* A row of one gradient of SIZE-byte entries: out[0] += Σ d², out[1] += Σ d·T,
 * out[2] = max(out[2], max |d|); runmax[r] = max |d| over the row's r-th run of seg. */
#define GRAD_ROW(NAME, SIZE, LOAD)                                                     \
    static void NAME(const double *t, const char *g, int64_t m, int64_t seg,          \
                     double *out, double *runmax)                                      \
    {                                                                                  \
        vd s[V] = {{0}}, p[V] = {{0}}, hi[V] = {{0}};                                  \
        char gpad[LANES * SIZE];                                                       \
        double tpad[LANES];                                                            \
        for (int64_t start = 0; start < m; start += seg) {                             \
            int64_t end = start + seg < m ? start + seg : m;                           \
            vd top[V] = {{0}};                                                         \
            for (int64_t i = start; i < end; i += LANES) {                             \
                const char *gi = g + i * SIZE;                                         \
                const double *ti = t + i;                                              \
                if (i + LANES > end) {                                                 \
                    memset(gpad, 0, sizeof gpad);                                      \
                    memset(tpad, 0, sizeof tpad);                                      \
                    memcpy(gpad, gi, (size_t)(end - i) * SIZE);                        \
                    memcpy(tpad, ti, (size_t)(end - i) * sizeof(double));              \
                    gi = gpad;                                                         \
                    ti = tpad;                                                         \
                }                                                                      \
                for (int h = 0; h < V; h++) {                                          \
                    vd tv = load_f64(ti + h * W);                                      \
                    vd d = LOAD(gi + h * W * SIZE) - tv;                               \
                    s[h] += d * d;                                                     \
                    p[h] += d * tv;                                                    \
                    top[h] = VMAX(vabs(d), top[h]);                                    \
                }                                                                      \
            }                                                                          \
            for (int h = 0; h < V; h++)                                                \
                hi[h] = VMAX(top[h], hi[h]);                                           \
            if (runmax)                                                                \
                runmax[start / seg] = lanes_max(top, 0.0);                             \
        }                                                                              \
        out[0] += lanes_sum(s);                                                        \
        out[1] += lanes_sum(p);                                                        \
        out[2] = lanes_max(hi, out[2]);                                                \
    }

GRAD_ROW(row_f64, 8, load_f64)
GRAD_ROW(row_f32, 4, load_f32)
GRAD_ROW(row_bf16, 2, load_bf16)

/* T (n float64 entries) and k gradients g[j] of kind[j]. truth_out = {Σ T², max |T|};
 * out[3j..3j+2] = {Σ d², Σ d·T, max |d|} of gradient j; runmax (or NULL): the last
 * gradient's max |d| of each run of seg entries (seg divides ROW, a multiple of LANES),
 * ceil(n / seg) of them. Returns 0, or -1 for an unknown kind or seg. */
int gradlab_compare_pass(int64_t n, const double *t, int32_t k, const void *const *g,
                         const int32_t *kind, int64_t seg, double *runmax,
                         double *truth_out, double *out)
{
    if (runmax && (seg <= 0 || ROW % seg || seg % LANES))
        return -1;
    for (int32_t j = 0; j < k; j++)
        if (kind[j] < KIND_F64 || kind[j] > KIND_BF16)
            return -1;
    truth_out[0] = truth_out[1] = 0.0;
    for (int32_t j = 0; j < 3 * k; j++)
        out[j] = 0.0;
    for (int64_t row = 0; row < n; row += ROW) {
        int64_t m = n - row < ROW ? n - row : ROW;
        truth_row(t + row, m, truth_out);
        for (int32_t j = 0; j < k; j++) {
            double *rm = (runmax && j == k - 1) ? runmax + row / seg : 0;
            int64_t s = rm ? seg : ROW;
            const char *gj = (const char *)g[j];
            if (kind[j] == KIND_F64)
                row_f64(t + row, gj + row * 8, m, s, out + 3 * j, rm);
            else if (kind[j] == KIND_F32)
                row_f32(t + row, gj + row * 4, m, s, out + 3 * j, rm);
            else
                row_bf16(t + row, gj + row * 2, m, s, out + 3 * j, rm);
        }
    }
    return 0;
}

/* The vector width this build holds its lanes in (2, 4 or 8 doubles). */
int gradlab_compare_pass_width(void) { return W; }
