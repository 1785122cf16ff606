/* md5 of many inputs at once: eight in the lanes of AVX2 registers, one at a time otherwise.
 *
 * MD5 is sequential within one input, but a server receiving many files can hash several
 * side by side: with AVX2 eight 32-bit lanes advance together, one block of each input per
 * round trip through the 64 steps, for several times the throughput of one md5 on a core.
 * Where the CPU also has AVX-512VL, the same eight lanes take each step's rotation and
 * boolean function in one instruction each instead of three (~1.4x on an AMD EPYC).
 * update_many() takes (Md5, [buffer, ...]) pairs and hashes every pair's buffers in order,
 * keeping up to eight inputs in the lanes; it releases the GIL while it works.
 * ENGINE names the code chosen for this CPU ("avx512vl", "avx2" or "portable"); the
 * environment variable CAIRN_MD5_ENGINE set to "avx2" or "portable" caps it at that (to
 * compare them, and so the tests check each on one machine).
 * Written from RFC 1321; checked against hashlib by tests/test_md5.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MD5X_HAVE_AVX2_CODE 1
#endif

#define LANES 8
#define BLOCK 64

typedef struct {
    PyObject_HEAD
    uint32_t h[4];
    uint64_t length; /* bytes hashed so far, the buffered ones included */
    uint8_t buf[BLOCK];
    Py_ssize_t buflen;
    int busy; /* set while a call without the GIL uses this state */
} Md5Object;

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The rotation of step i (RFC 1321, section 3.4), as a literal: the vector shift
 * instructions want an immediate. */
enum {
    S_0 = 7, S_1 = 12, S_2 = 17, S_3 = 22, S_4 = 7, S_5 = 12, S_6 = 17, S_7 = 22,
    S_8 = 7, S_9 = 12, S_10 = 17, S_11 = 22, S_12 = 7, S_13 = 12, S_14 = 17, S_15 = 22,
    S_16 = 5, S_17 = 9, S_18 = 14, S_19 = 20, S_20 = 5, S_21 = 9, S_22 = 14, S_23 = 20,
    S_24 = 5, S_25 = 9, S_26 = 14, S_27 = 20, S_28 = 5, S_29 = 9, S_30 = 14, S_31 = 20,
    S_32 = 4, S_33 = 11, S_34 = 16, S_35 = 23, S_36 = 4, S_37 = 11, S_38 = 16, S_39 = 23,
    S_40 = 4, S_41 = 11, S_42 = 16, S_43 = 23, S_44 = 4, S_45 = 11, S_46 = 16, S_47 = 23,
    S_48 = 6, S_49 = 10, S_50 = 15, S_51 = 21, S_52 = 6, S_53 = 10, S_54 = 15, S_55 = 21,
    S_56 = 6, S_57 = 10, S_58 = 15, S_59 = 21, S_60 = 6, S_61 = 10, S_62 = 15, S_63 = 21,
};

/* Which message word each step adds. */
static const int W[64] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12,
    5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2,
    0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9,
};

static inline uint32_t rotl(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define STEP1(F, a, b, c, d, i) a = b + rotl(a + F(b, c, d) + K[i] + x[W[i]], S_##i)
#define F1(b, c, d) (d ^ (b & (c ^ d)))
#define G1(b, c, d) (c ^ (d & (b ^ c)))
#define H1(b, c, d) (b ^ c ^ d)
#define I1(b, c, d) (c ^ (b | ~d))
/* Four steps of one round, with STEP1 (one input) or STEP (eight lanes). */
#define ROUND4(STEP, F, i0, i1, i2, i3) \
    STEP(F, a, b, c, d, i0);            \
    STEP(F, d, a, b, c, i1);            \
    STEP(F, c, d, a, b, i2);            \
    STEP(F, b, c, d, a, i3)
/* The 64 steps of one block: four rounds of 16, with the round functions F, G, H, I. */
#define STEPS64(STEP, F, G, H, I)                                                             \
    ROUND4(STEP, F, 0, 1, 2, 3); ROUND4(STEP, F, 4, 5, 6, 7);                                 \
    ROUND4(STEP, F, 8, 9, 10, 11); ROUND4(STEP, F, 12, 13, 14, 15);                           \
    ROUND4(STEP, G, 16, 17, 18, 19); ROUND4(STEP, G, 20, 21, 22, 23);                         \
    ROUND4(STEP, G, 24, 25, 26, 27); ROUND4(STEP, G, 28, 29, 30, 31);                         \
    ROUND4(STEP, H, 32, 33, 34, 35); ROUND4(STEP, H, 36, 37, 38, 39);                         \
    ROUND4(STEP, H, 40, 41, 42, 43); ROUND4(STEP, H, 44, 45, 46, 47);                         \
    ROUND4(STEP, I, 48, 49, 50, 51); ROUND4(STEP, I, 52, 53, 54, 55);                         \
    ROUND4(STEP, I, 56, 57, 58, 59); ROUND4(STEP, I, 60, 61, 62, 63)

/* One input, n blocks. */
static void compress1(uint32_t h[4], const uint8_t *p, size_t n) {
    for (; n; n--, p += BLOCK) {
        uint32_t x[16];
        for (int j = 0; j < 16; j++) x[j] = load_le32(p + 4 * j);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        STEPS64(STEP1, F1, G1, H1, I1);
        h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    }
}

#ifdef MD5X_HAVE_AVX2_CODE
#define V __m256i
#define ROTL8(x, s) _mm256_or_si256(_mm256_slli_epi32((x), (s)), _mm256_srli_epi32((x), 32 - (s)))

/* Words 0-7 of eight rows, transposed: out[j] holds word j of every row. */
__attribute__((target("avx2"))) static inline void transpose8(const V r[8], V out[8]) {
    V t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    V t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    V t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    V t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    V u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    V u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    V u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    V u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* One step, in each lane: a = b + rotl(a + F(b, c, d) + K[i] + x[W[i]], S_i). */
#define STEP_WITH(ROTL, F, a, b, c, d, i)                                                  \
    do {                                                                                   \
        V f_ = F(b, c, d);                                                                 \
        V s_ = _mm256_add_epi32(_mm256_add_epi32(a, f_),                                   \
                                _mm256_add_epi32(_mm256_set1_epi32((int)K[i]), x[W[i]]));  \
        a = _mm256_add_epi32(b, ROTL(s_, S_##i));                                          \
    } while (0)
#define STEP(F, a, b, c, d, i) STEP_WITH(ROTL8, F, a, b, c, d, i)
#define FF(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define GG(b, c, d) _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
#define HH(b, c, d) _mm256_xor_si256(_mm256_xor_si256(b, c), d)
#define II(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)))

/* AVX-512VL: the rotation is one instruction, and each function one ternary-logic
 * instruction, whose immediate is the function's truth table over b = 0xF0, c = 0xCC,
 * d = 0xAA (F: (b & c) | (~b & d) = 0xCA; G: (b & d) | (c & ~d) = 0xE4; H: 0x96;
 * I: c ^ (b | ~d) = 0x39). */
#define STEP_VL(F, a, b, c, d, i) STEP_WITH(_mm256_rol_epi32, F, a, b, c, d, i)
#define FF_VL(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0xCA)
#define GG_VL(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0xE4)
#define HH_VL(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x96)
#define II_VL(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x39)

/* Eight inputs, n blocks each: lane l reads p[l], advancing by step[l] bytes per block
 * (0 for an idle lane, which hashes the same block again, its result thrown away).
 * Defined once per instruction set: its 64 steps are STEPS. */
#define DEFINE_COMPRESS8(NAME, TARGET, STEPS)                                              \
    __attribute__((target(TARGET))) static void NAME(                                      \
        uint32_t h[LANES][4], const uint8_t *p[LANES], const size_t step[LANES], size_t n) { \
        const V ones = _mm256_set1_epi32(-1);                                              \
        (void)ones; /* only the AVX2 steps use it */                                       \
        V a = _mm256_setr_epi32((int)h[0][0], (int)h[1][0], (int)h[2][0], (int)h[3][0],    \
                                (int)h[4][0], (int)h[5][0], (int)h[6][0], (int)h[7][0]);   \
        V b = _mm256_setr_epi32((int)h[0][1], (int)h[1][1], (int)h[2][1], (int)h[3][1],    \
                                (int)h[4][1], (int)h[5][1], (int)h[6][1], (int)h[7][1]);   \
        V c = _mm256_setr_epi32((int)h[0][2], (int)h[1][2], (int)h[2][2], (int)h[3][2],    \
                                (int)h[4][2], (int)h[5][2], (int)h[6][2], (int)h[7][2]);   \
        V d = _mm256_setr_epi32((int)h[0][3], (int)h[1][3], (int)h[2][3], (int)h[3][3],    \
                                (int)h[4][3], (int)h[5][3], (int)h[6][3], (int)h[7][3]);   \
        const uint8_t *q[LANES];                                                           \
        for (int l = 0; l < LANES; l++) q[l] = p[l];                                       \
        for (; n; n--) {                                                                   \
            V rows[8], x[16];                                                              \
            for (int l = 0; l < LANES; l++) rows[l] = _mm256_loadu_si256((const V *)q[l]); \
            transpose8(rows, x);                                                           \
            for (int l = 0; l < LANES; l++)                                                \
                rows[l] = _mm256_loadu_si256((const V *)(q[l] + 32));                      \
            transpose8(rows, x + 8);                                                       \
            for (int l = 0; l < LANES; l++) q[l] += step[l];                               \
            V a0 = a, b0 = b, c0 = c, d0 = d;                                              \
            STEPS;                                                                         \
            a = _mm256_add_epi32(a, a0);                                                   \
            b = _mm256_add_epi32(b, b0);                                                   \
            c = _mm256_add_epi32(c, c0);                                                   \
            d = _mm256_add_epi32(d, d0);                                                   \
        }                                                                                  \
        uint32_t out[4][LANES];                                                            \
        _mm256_storeu_si256((V *)out[0], a);                                               \
        _mm256_storeu_si256((V *)out[1], b);                                               \
        _mm256_storeu_si256((V *)out[2], c);                                               \
        _mm256_storeu_si256((V *)out[3], d);                                               \
        for (int l = 0; l < LANES; l++)                                                    \
            for (int w = 0; w < 4; w++) h[l][w] = out[w][l];                               \
    }

DEFINE_COMPRESS8(compress8_avx2, "avx2", STEPS64(STEP, FF, GG, HH, II))
DEFINE_COMPRESS8(compress8_avx512vl, "avx2,avx512f,avx512vl",
                 STEPS64(STEP_VL, FF_VL, GG_VL, HH_VL, II_VL))
#endif

static int have_avx2 = 0;
static int have_avx512vl = 0;

/* Input in progress: one state, its buffers, where it is in them. */
typedef struct {
    Md5Object *m;
    Py_buffer *bufs;
    Py_ssize_t nbufs;
    Py_ssize_t at;  /* buffer */
    Py_ssize_t off; /* byte in it */
    uint8_t block[BLOCK]; /* a block put together from the state's leftover and new bytes */
} Job;

/* The next run of whole blocks of a job (n >= 1); 0 once its bytes are used up, the
 * remainder (under a block) left in the state's buffer. */
static int next_run(Job *j, const uint8_t **p, size_t *n) {
    Md5Object *m = j->m;
    while (j->at < j->nbufs) {
        const uint8_t *data = (const uint8_t *)j->bufs[j->at].buf;
        size_t rem = (size_t)(j->bufs[j->at].len - j->off);
        if (rem == 0) {
            j->at++;
            j->off = 0;
            continue;
        }
        if (m->buflen > 0 || rem < BLOCK) {
            size_t take = (size_t)(BLOCK - m->buflen);
            if (take > rem) take = rem;
            memcpy(m->buf + m->buflen, data + j->off, take);
            m->buflen += (Py_ssize_t)take;
            j->off += (Py_ssize_t)take;
            m->length += take;
            if (m->buflen == BLOCK) {
                memcpy(j->block, m->buf, BLOCK);
                m->buflen = 0;
                *p = j->block;
                *n = 1;
                return 1;
            }
            continue;
        }
        size_t blocks = rem / BLOCK;
        *p = data + j->off;
        *n = blocks;
        j->off += (Py_ssize_t)(blocks * BLOCK);
        m->length += blocks * BLOCK;
        return 1;
    }
    return 0;
}

/* Hash every job's bytes: up to eight jobs side by side in the lanes. */
static void run_jobs(Job *jobs, Py_ssize_t njobs) {
    Py_ssize_t queued = 0;
#ifdef MD5X_HAVE_AVX2_CODE
    if (have_avx2 && njobs > 1) {
        static const uint8_t idle[BLOCK];
        Job *lane[LANES] = {0};
        const uint8_t *p[LANES];
        size_t left[LANES], step[LANES];
        uint32_t h[LANES][4];
        for (;;) {
            int active = 0;
            for (int l = 0; l < LANES; l++) {
                while (lane[l] == NULL && queued < njobs) {
                    Job *j = &jobs[queued++];
                    if (next_run(j, &p[l], &left[l])) {
                        lane[l] = j;
                        memcpy(h[l], j->m->h, sizeof h[l]);
                    }
                }
                active += lane[l] != NULL;
            }
            if (active < 2) break; /* one input left (or none): hashed on its own below */
            size_t n = SIZE_MAX;
            for (int l = 0; l < LANES; l++) {
                if (lane[l] == NULL) {
                    p[l] = idle;
                    step[l] = 0;
                } else {
                    step[l] = BLOCK;
                    if (left[l] < n) n = left[l];
                }
            }
            if (have_avx512vl)
                compress8_avx512vl(h, p, step, n);
            else
                compress8_avx2(h, p, step, n);
            for (int l = 0; l < LANES; l++) {
                if (lane[l] == NULL) continue;
                p[l] += n * BLOCK;
                left[l] -= n;
                if (left[l] == 0 && !next_run(lane[l], &p[l], &left[l])) {
                    memcpy(lane[l]->m->h, h[l], sizeof h[l]);
                    lane[l] = NULL;
                }
            }
        }
        for (int l = 0; l < LANES; l++) {
            if (lane[l] == NULL) continue;
            memcpy(lane[l]->m->h, h[l], sizeof h[l]);
            compress1(lane[l]->m->h, p[l], left[l]);
            const uint8_t *q;
            size_t n;
            while (next_run(lane[l], &q, &n)) compress1(lane[l]->m->h, q, n);
        }
    }
#endif
    for (; queued < njobs; queued++) {
        const uint8_t *q;
        size_t n;
        while (next_run(&jobs[queued], &q, &n)) compress1(jobs[queued].m->h, q, n);
    }
}

/* ---- the Md5 type ----------------------------------------------------------------------- */

static PyTypeObject Md5Type;

static void md5_reset(Md5Object *m) {
    m->h[0] = 0x67452301;
    m->h[1] = 0xefcdab89;
    m->h[2] = 0x98badcfe;
    m->h[3] = 0x10325476;
    m->length = 0;
    m->buflen = 0;
    m->busy = 0;
}

static PyObject *Md5_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":Md5", kwlist)) return NULL;
    Md5Object *m = (Md5Object *)type->tp_alloc(type, 0);
    if (m != NULL) md5_reset(m);
    return (PyObject *)m;
}

/* busy is only read and written with the GIL held. */
static int refuse_busy(const Md5Object *m) {
    if (m->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this md5 is being updated by another call (or named twice in one)");
        return -1;
    }
    return 0;
}

static int claim(Md5Object *m) {
    if (refuse_busy(m) < 0) return -1;
    m->busy = 1;
    return 0;
}

static PyObject *Md5_update(Md5Object *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (claim(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Job job = {.m = self, .bufs = &view, .nbufs = 1, .at = 0, .off = 0};
    if (view.len >= 8192) {
        Py_BEGIN_ALLOW_THREADS run_jobs(&job, 1);
        Py_END_ALLOW_THREADS
    } else {
        run_jobs(&job, 1);
    }
    self->busy = 0;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static void md5_final(const Md5Object *m, uint8_t out[16]) {
    uint32_t h[4];
    uint8_t tail[2 * BLOCK];
    memcpy(h, m->h, sizeof h);
    size_t n = (size_t)m->buflen;
    memcpy(tail, m->buf, n);
    tail[n++] = 0x80;
    size_t total = n <= BLOCK - 8 ? BLOCK : 2 * BLOCK;
    memset(tail + n, 0, total - n);
    uint64_t bits = m->length * 8;
    for (int i = 0; i < 8; i++) tail[total - 8 + i] = (uint8_t)(bits >> (8 * i));
    compress1(h, tail, total / BLOCK);
    for (int w = 0; w < 4; w++)
        for (int i = 0; i < 4; i++) out[4 * w + i] = (uint8_t)(h[w] >> (8 * i));
}

static PyObject *Md5_digest(Md5Object *self, PyObject *Py_UNUSED(ignored)) {
    uint8_t out[16];
    if (refuse_busy(self) < 0) return NULL; /* its words are being changed without the GIL */
    md5_final(self, out);
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

static PyObject *Md5_hexdigest(Md5Object *self, PyObject *Py_UNUSED(ignored)) {
    static const char hex[] = "0123456789abcdef";
    uint8_t out[16];
    char text[32];
    if (refuse_busy(self) < 0) return NULL;
    md5_final(self, out);
    for (int i = 0; i < 16; i++) {
        text[2 * i] = hex[out[i] >> 4];
        text[2 * i + 1] = hex[out[i] & 15];
    }
    return PyUnicode_FromStringAndSize(text, 32);
}

static PyMethodDef Md5_methods[] = {
    {"update", (PyCFunction)Md5_update, METH_O, "Hash more bytes."},
    {"digest", (PyCFunction)Md5_digest, METH_NOARGS, "The md5 of the bytes so far (16 bytes)."},
    {"hexdigest", (PyCFunction)Md5_hexdigest, METH_NOARGS, "The md5 so far, in hex."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Md5Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cairn._md5x.Md5",
    .tp_basicsize = sizeof(Md5Object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An md5 in progress that update_many() can advance side by side with others.",
    .tp_new = Md5_new,
    .tp_methods = Md5_methods,
};

/* ---- update_many ------------------------------------------------------------------------ */

static void release_all(Job *jobs, Py_ssize_t njobs) {
    for (Py_ssize_t i = 0; i < njobs; i++) {
        for (Py_ssize_t b = 0; b < jobs[i].nbufs; b++) PyBuffer_Release(&jobs[i].bufs[b]);
        PyMem_Free(jobs[i].bufs);
        jobs[i].m->busy = 0;
        Py_DECREF(jobs[i].m);
    }
    PyMem_Free(jobs);
}

/* Everything is taken from private tuples, and every state and buffer is held, before the
 * GIL is released: code run meanwhile (another thread, a generator) cannot pull them away. */
static PyObject *update_many(PyObject *Py_UNUSED(module), PyObject *arg) {
    PyObject *pairs = PySequence_Tuple(arg);
    if (pairs == NULL) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(pairs);
    Job *jobs = PyMem_Calloc(count ? (size_t)count : 1, sizeof(Job));
    if (jobs == NULL) {
        Py_DECREF(pairs);
        return PyErr_NoMemory();
    }
    Py_ssize_t ready = 0;
    for (; ready < count; ready++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, ready);
        PyObject *state, *buffers;
        if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "O!O", &Md5Type, &state, &buffers)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "update_many() takes (Md5, buffers) tuples");
            goto fail;
        }
        PyObject *seq = PySequence_Tuple(buffers);
        if (seq == NULL) goto fail;
        Py_ssize_t n = PyTuple_GET_SIZE(seq);
        Py_buffer *views = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_buffer));
        if (views == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            goto fail;
        }
        Py_ssize_t got = 0;
        for (; got < n; got++)
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(seq, got), &views[got], PyBUF_SIMPLE) < 0)
                break;
        Py_DECREF(seq);
        if (got < n || claim((Md5Object *)state) < 0) {
            for (Py_ssize_t b = 0; b < got; b++) PyBuffer_Release(&views[b]);
            PyMem_Free(views);
            goto fail;
        }
        Py_INCREF(state);
        jobs[ready] = (Job){.m = (Md5Object *)state, .bufs = views, .nbufs = n};
    }
    Py_BEGIN_ALLOW_THREADS run_jobs(jobs, count);
    Py_END_ALLOW_THREADS release_all(jobs, count);
    Py_DECREF(pairs);
    Py_RETURN_NONE;
fail:
    release_all(jobs, ready);
    Py_DECREF(pairs);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"update_many", update_many, METH_O,
     "Hash each (Md5, [buffer, ...]) pair's buffers, in order, into its Md5; many side by side."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef md5x_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cairn._md5x",
    .m_doc = "md5 of many inputs at once (eight side by side with AVX2 or AVX-512VL).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__md5x(void) {
#ifdef MD5X_HAVE_AVX2_CODE
    __builtin_cpu_init();
    const char *cap = getenv("CAIRN_MD5_ENGINE");
    int portable = cap != NULL && strcmp(cap, "portable") == 0;
    int avx2_only = cap != NULL && strcmp(cap, "avx2") == 0;
    have_avx2 = !portable && __builtin_cpu_supports("avx2");
    have_avx512vl = have_avx2 && !avx2_only && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512vl");
#endif
    const char *engine = have_avx512vl ? "avx512vl" : have_avx2 ? "avx2" : "portable";
    PyObject *m = PyModule_Create(&md5x_module);
    if (m == NULL) return NULL;
    if (PyModule_AddType(m, &Md5Type) < 0 ||
        PyModule_AddIntConstant(m, "LANES", have_avx2 ? LANES : 1) < 0 ||
        PyModule_AddStringConstant(m, "ENGINE", engine) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
